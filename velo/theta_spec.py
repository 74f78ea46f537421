"""Expected structure of the VeLO meta-parameters (theta) and of the released file.

The shapes are those of the released checkpoint
``aug12_continue_on_bigger_2xbs_200kstep_bigproblem_v2_5620`` (HyperV2 with
``lstm_hidden_size=512``, ``param_inits=256``): 33 float32 leaves,
2,320,385 values. Paths are the nested-map keys joined by ``/``; note that
``rnn_params/rnn/linear`` is a single key containing a slash (haiku naming).
"""

from __future__ import annotations

import math

LSTM_HIDDEN_SIZE = 512
NUM_MLP_SETS = 256  # size of the bank of per-parameter MLPs ("param_inits")
NUM_LSTM_INPUTS = 30
MLP_HIDDEN_SIZE = 4
MLP_OUTPUTS = 3

# Width of each input group of the per-parameter MLP's first layer (w0__i).
INPUT_GROUP_WIDTHS = (1, 1, 1, 3, 1, 3, 1, 3, 1, 3, 3, 3, 3, 3)
NUM_MLP_INPUTS = sum(INPUT_GROUP_WIDTHS)  # 30 channels


def _expected_shapes() -> dict[str, tuple[int, ...]]:
  h, k = LSTM_HIDDEN_SIZE, NUM_MLP_SETS
  shapes: dict[str, tuple[int, ...]] = {
    'lstm_init_state/hidden': (1, h),
    'lstm_init_state/cell': (1, h),
  }
  for name in ('linear', 'linear_1', 'linear_2'):
    shapes[f'rnn_params/{name}/w'] = (NUM_LSTM_INPUTS, h)
    shapes[f'rnn_params/{name}/b'] = (h,)
  shapes['rnn_params/rnn/linear/w'] = (2 * h, 4 * h)
  shapes['rnn_params/rnn/linear/b'] = (4 * h,)
  shapes['rnn_params/rnn_to_controls/w'] = (h, k)
  shapes['rnn_params/rnn_to_controls/b'] = (k,)
  shapes['rnn_params/step_size/w'] = (h, 1)
  shapes['rnn_params/step_size/b'] = (1,)
  ff = 'ff_mod_stack/~'
  for i, width in enumerate(INPUT_GROUP_WIDTHS):
    shapes[f'{ff}/w0__{i}'] = (k, width, MLP_HIDDEN_SIZE)
  shapes[f'{ff}/b0'] = (k, MLP_HIDDEN_SIZE)
  shapes[f'{ff}/w1'] = (k, MLP_HIDDEN_SIZE, MLP_HIDDEN_SIZE)
  shapes[f'{ff}/b1'] = (k, MLP_HIDDEN_SIZE)
  shapes[f'{ff}/w2'] = (k, MLP_HIDDEN_SIZE, MLP_OUTPUTS)
  shapes[f'{ff}/b2'] = (k, MLP_OUTPUTS)
  return shapes


EXPECTED_THETA_SHAPES: dict[str, tuple[int, ...]] = _expected_shapes()
NUM_THETA_VALUES = sum(math.prod(s) for s in EXPECTED_THETA_SHAPES.values())
assert NUM_THETA_VALUES == 2_320_385, NUM_THETA_VALUES

# The released file (flax msgpack, wrapper record with a ``params`` field).
RELEASE_URL = (
  'https://storage.googleapis.com/gresearch/learned_optimization/pretrained_lopts/'
  'aug12_continue_on_bigger_2xbs_200kstep_bigproblem_v2_5620/params'
)
RELEASE_WRAPPER_BYTES = 9_282_564
# Mirrors redistribute the bare theta map ("theta.state").
RELEASE_BARE_BYTES = 9_282_507
RELEASE_BARE_GIT_BLOB = '2233e53ad4974489183a9863c8e165ab50ae4b63'
