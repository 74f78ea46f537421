"""AlgoPerf plumbing shared by every submission; a submission only states its optimizer.

``Submission(make_optimizer, defaults)`` provides the AlgoPerf functions:
``init_optimizer_state`` builds the optax transformation and the jitted train step
(parameters, model state and optimizer state donated; a submission may compile its
optimizer update in a jit of its own, with XLA options; compiled once per trial, on the
devices as :mod:`submissions._placement` lays them out); ``update_params`` runs it:
loss = ``summed / n_valid_examples`` of ``workload.loss_fn``, batch-norm statistics
updated in train mode, the mean loss passed to the transformation as ``loss=``
(learned optimizers need it; hand-crafted ones ignore it). ``prepare_for_eval``
returns its inputs unchanged, ``data_selection`` takes the next batch.

The optimizer state handed to the runner is the pair ``(optax_state, train_step)``,
the layout AlgoPerf's JAX checkpointing expects.
"""

from __future__ import annotations

import collections
import json
import math
import numbers
import os
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from algoperf_compat import spec
from bench_core import catalogue
from bench_core.errors import BenchError
from submissions import _placement

#: Global batch sizes. Official workloads: AlgoPerf's target-setting algorithms at 2c90454f
#: (``algorithms/target_setting_algorithms/get_batch_size.py``), which name the eight base
#: workloads and three variants of their own; every other variant takes its base's (as
#: ``submission_runner.py`` does when ``get_batch_size`` refuses a variant).
#: ``criteo1tb_test`` takes ``criteo1tb``'s: set ``$VELO_BENCH_BATCH_SIZES`` to fit a small
#: machine.
BATCH_SIZES = {
  'criteo1tb': 262_144,
  'fastmri': 32,
  'imagenet_resnet': 1024,
  'imagenet_resnet_silu': 512,
  'imagenet_resnet_gelu': 512,
  'imagenet_vit': 1024,
  'imagenet_vit_glu': 512,
  'librispeech_conformer': 256,
  'librispeech_deepspeech': 256,
  'ogbg': 512,
  'wmt': 128,
  # AlgoPerf's development workloads: cifar as in AlgoPerf's development algorithms
  # (algorithms/development_algorithms/cifar); mnist is this project's choice, small enough for
  # the official runner's tests on CPU (AlgoPerf's development algorithms use 1024).
  'cifar': 128,
  'mnist': 16,
  # The embedded workloads (local runner): sized for a full trial on two CPU cores.
  'criteo1tb_mini': 256,
  'fastmri_mini': 16,
  'imagenet_resnet_mini': 64,
  'ogbg_mini': 32,
}

#: Hyperparameters the shared train step understands besides an optimizer's own.
RUNNER_HYPERPARAMETERS = ('dropout_rate', 'label_smoothing')


#: Environment variable with a JSON object ``{workload: batch size}`` that overrides
#: ``BATCH_SIZES`` (e.g. to fit ``criteo1tb_test`` into a small machine's memory).
BATCH_SIZES_ENV = 'VELO_BENCH_BATCH_SIZES'


def batch_size_overrides(environ: Mapping[str, str]) -> Dict[str, int]:
  """The ``{workload: batch size}`` object of ``environ[BATCH_SIZES_ENV]`` ({} without it);
  a :class:`BenchError` naming the variable for anything but such an object."""
  text = environ.get(BATCH_SIZES_ENV) or '{}'
  try:
    overrides = json.loads(text)
  except json.JSONDecodeError as e:
    raise BenchError(f'${BATCH_SIZES_ENV}: not JSON ({e}): {text!r}') from None
  if not isinstance(overrides, dict) or not all(
    isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in overrides.values()
  ):
    raise BenchError(f'${BATCH_SIZES_ENV} must be a JSON object of positive integers, got {text!r}')
  return overrides


#: The machine's overrides, read once when the submission is imported: the AlgoPerf
#: functions read nothing from the environment.
BATCH_SIZE_OVERRIDES = batch_size_overrides(os.environ)


def get_batch_size(workload_name: str) -> int:
  """The global batch size of ``workload_name``: the first entry found, over the names of
  ``catalogue.lookup_names`` (the name, then a variant's base), in
  :data:`BATCH_SIZE_OVERRIDES` and then in :data:`BATCH_SIZES`. ValueError for a name found
  in neither."""
  for table in (BATCH_SIZE_OVERRIDES, BATCH_SIZES):
    for name in catalogue.lookup_names(workload_name):
      if table.get(name):
        return int(table[name])
  raise ValueError(f'no batch size for workload {workload_name!r}')


class HyperparameterError(BenchError):
  """A hyperparameter that is missing, unknown, not a number or outside its range."""


class Interval(NamedTuple):
  """The real numbers from ``low`` to ``high``; each end included if its flag says so."""

  low: float
  high: float = math.inf
  low_closed: bool = True
  high_closed: bool = False

  def __contains__(self, x) -> bool:
    above = x >= self.low if self.low_closed else x > self.low
    below = x <= self.high if self.high_closed else x < self.high
    return above and below

  def __str__(self) -> str:
    return (
      f'{"[" if self.low_closed else "("}{self.low:g}, {self.high:g}'
      f'{"]" if self.high_closed else ")"}'
    )


#: The valid values of every hyperparameter the shared code and the hand-crafted submissions
#: read; a search space giving one of these names anything else is refused.
HYPERPARAMETER_RANGES = {
  'learning_rate': Interval(0.0),
  'min_learning_rate': Interval(0.0),
  'weight_decay': Interval(0.0),
  'beta1': Interval(0.0, 1.0),
  'beta2': Interval(0.0, 1.0),
  'momentum': Interval(0.0, 1.0),
  'warmup_fraction': Interval(0.0, 1.0, high_closed=True),
  'schedule_fraction': Interval(0.0, 1.0, low_closed=False, high_closed=True),
  'dropout_rate': Interval(0.0, 1.0),
  'label_smoothing': Interval(0.0, 1.0),
}


def _is_number(value) -> bool:
  return (
    isinstance(value, numbers.Real)
    and not isinstance(value, (bool, np.bool_))
    and math.isfinite(value)
  )


def check_hyperparameters(values: Mapping[str, Any], owner: str) -> None:
  """Every value whose name is in :data:`HYPERPARAMETER_RANGES` must be a finite number in
  its range (``None`` stands for "the workload's default" for the runner hyperparameters);
  ``min_learning_rate`` must not exceed ``learning_rate``. Errors name ``owner`` and the field."""
  for name, value in values.items():
    interval = HYPERPARAMETER_RANGES.get(name)
    if interval is None or (value is None and name in RUNNER_HYPERPARAMETERS):
      continue
    if not _is_number(value):
      raise HyperparameterError(
        f'{owner}: hyperparameter {name!r} must be a finite number, got '
        f'{value!r} ({type(value).__name__})'
      )
    if value not in interval:
      raise HyperparameterError(
        f'{owner}: hyperparameter {name!r} must be in {interval}, got {value!r}'
      )
  low, high = values.get('min_learning_rate'), values.get('learning_rate')
  if low is not None and high is not None and low > high:
    raise HyperparameterError(
      f'{owner}: hyperparameter min_learning_rate ({low!r}) exceeds learning_rate ({high!r}); '
      f'the schedule would rise towards min_learning_rate instead of decaying to it'
    )


def resolve_hyperparameters(
  hyperparameters,
  defaults: Mapping[str, Any],
  submission: str,
  optional: Mapping[str, Any] | None = None,
):
  """The namedtuple of hyperparameters to use.

  ``None`` (self-tuning ruleset) gives ``defaults`` and ``optional``. Otherwise
  every key of ``defaults`` must be present, keys of ``optional`` take their
  default when absent, and no other key outside ``RUNNER_HYPERPARAMETERS`` is
  allowed; errors name the missing/unknown keys. Values are then checked by
  :func:`check_hyperparameters`.
  """
  optional = dict(optional or {})
  if hyperparameters is None:
    values = {**optional, **defaults}
  else:
    given = dict(
      hyperparameters._asdict() if hasattr(hyperparameters, '_asdict') else hyperparameters
    )
    values = {**optional, **given}
    missing = sorted(set(defaults) - set(values))
    unknown = sorted(set(values) - set(defaults) - set(optional) - set(RUNNER_HYPERPARAMETERS))
    if missing or unknown:
      parts = []
      if missing:
        parts.append(f'missing {missing}')
      if unknown:
        parts.append(f'unknown {unknown}')
      raise HyperparameterError(
        f'{submission}: hyperparameters from the tuning search space: {"; ".join(parts)} '
        f'(expected {sorted(defaults)}, optionally '
        f'{sorted(optional) + list(RUNNER_HYPERPARAMETERS)})'
      )
  check_hyperparameters(values, submission)
  return collections.namedtuple('Hyperparameters', sorted(values))(**values)


def warmup_cosine_schedule(
  step_hint: int,
  learning_rate: float,
  *,
  warmup_fraction: float,
  schedule_fraction: float,
  min_learning_rate: float,
) -> optax.Schedule:
  """LR over steps (count 0 is the first update).

  With ``S = int(schedule_fraction * step_hint)`` and ``W = int(warmup_fraction * S)``:
  linear from 0 to ``learning_rate`` over the first W steps, cosine from
  ``learning_rate`` down to ``min_learning_rate`` over the next ``S - W`` steps,
  then constant at ``min_learning_rate``. Requires ``0 <= min_learning_rate <=
  learning_rate``, ``warmup_fraction`` in [0, 1], ``schedule_fraction`` in (0, 1] and a
  positive integer ``step_hint`` (:class:`HyperparameterError` otherwise).
  """
  if isinstance(step_hint, bool) or not isinstance(step_hint, numbers.Integral) or step_hint <= 0:
    raise HyperparameterError(
      f'warmup_cosine_schedule: step_hint must be a positive integer, got {step_hint!r}'
    )
  check_hyperparameters(
    {
      'learning_rate': learning_rate,
      'min_learning_rate': min_learning_rate,
      'warmup_fraction': warmup_fraction,
      'schedule_fraction': schedule_fraction,
    },
    'warmup_cosine_schedule',
  )
  total = max(int(schedule_fraction * step_hint), 1)
  warmup = int(warmup_fraction * total)
  alpha = min_learning_rate / learning_rate if learning_rate > 0 else 0.0
  cosine = optax.cosine_decay_schedule(
    learning_rate, decay_steps=max(total - warmup, 1), alpha=alpha
  )
  if warmup == 0:
    return cosine
  return optax.join_schedules([optax.linear_schedule(0.0, learning_rate, warmup), cosine], [warmup])


ExtraArgsFn = Callable[[Any, Any, int, Optional[Mapping[str, Any]]], Dict[str, float]]


def _make_train_step(
  workload, tx: optax.GradientTransformationExtraArgs, hp, update_options=None, placed=True
):
  """The train step ``(params, model_state, opt_state, batch, rng, extra_args) ->
  (params, model_state, opt_state, loss)``, its buffers donated, compiled once per trial
  (``placed=False``: the jit itself, inputs not placed first, for ``.lower`` in a benchmark
  of one jit).

  One jit with XLA's defaults; with ``update_options`` (non-empty ``compiler_options``),
  two: the loss and gradient with XLA's defaults (compiled as for every optimizer), then
  the optimizer update under the options. The jits state AlgoPerf's shardings (see
  :mod:`submissions._placement`): everything replicated but the batch, which keeps the
  placement :func:`~submissions._placement.place_batch` gives it; the inputs are put there
  before each call and the model state keeps its first layout, so no call compiles again.
  """
  model_kwargs = {}
  if getattr(hp, 'dropout_rate', None) is not None:
    model_kwargs['dropout_rate'] = hp.dropout_rate
  label_smoothing = getattr(hp, 'label_smoothing', 0.0) or 0.0

  def loss_and_grads(params, model_state, batch, rng):
    def mean_loss(p):
      logits, new_model_state = workload.model_fn(
        p,
        batch,
        model_state,
        spec.ForwardPassMode.TRAIN,
        rng,
        update_batch_norm=True,
        **model_kwargs,
      )
      losses = workload.loss_fn(
        label_batch=batch['targets'],
        logits_batch=logits,
        mask_batch=batch.get('weights'),
        label_smoothing=label_smoothing,
      )
      return losses['summed'] / losses['n_valid_examples'], new_model_state

    (loss, new_model_state), grads = jax.value_and_grad(mean_loss, has_aux=True)(params)
    return loss, _placement.keep_model_state_layout(model_state, new_model_state), grads

  def optimizer_update(params, opt_state, grads, loss, extra_args):
    updates, new_opt_state = tx.update(grads, opt_state, params, loss=loss, **extra_args)
    return optax.apply_updates(params, updates), new_opt_state

  everywhere = _placement.replicated()
  # The batch's sharding (None) is the one its placement gives it.
  if not update_options:
    step = jax.jit(
      _chain(loss_and_grads, optimizer_update),
      donate_argnums=(0, 1, 2),
      in_shardings=(everywhere, everywhere, everywhere, None, everywhere, everywhere),
      out_shardings=everywhere,
    )
  else:
    step = _chain(
      jax.jit(
        loss_and_grads,
        donate_argnums=(1,),
        in_shardings=(everywhere, everywhere, None, everywhere),
        out_shardings=everywhere,
      ),
      jax.jit(
        optimizer_update,
        donate_argnums=(0, 1),
        compiler_options=update_options,
        in_shardings=everywhere,
        out_shardings=everywhere,
      ),
    )
  return _placed(step) if placed else step


def _chain(loss_and_grads, update):
  """The train step: ``loss_and_grads``, then ``update`` with the gradient and the loss."""

  def train_step(params, model_state, opt_state, batch, rng, extra_args):
    loss, new_model_state, grads = loss_and_grads(params, model_state, batch, rng)
    params, opt_state = update(params, opt_state, grads, loss, extra_args)
    return params, new_model_state, opt_state, loss

  return train_step


def _placed(step):
  """``step`` with its inputs first put where its jits expect them (a no-op once they are)."""

  def train_step(params, model_state, opt_state, batch, rng, extra_args):
    return step(
      *_placement.replicate((params, model_state, opt_state)),
      _placement.place_batch(batch),
      *_placement.replicate((rng, extra_args)),
    )

  return train_step


def fresh_state_init(tx: optax.GradientTransformation):
  """``params -> tx.init(params)`` as one jit, every leaf written once into a buffer of its own,
  replicated on every device. Fresh buffers because an init may alias one array in several
  leaves (or a parameter) and the train step donates the state; inside one XLA program the
  copies that make them distinct are the outputs themselves, not a second copy of the state."""

  def fresh_optimizer_state(params):
    return jax.tree_util.tree_map(jnp.copy, tx.init(params))

  return jax.jit(fresh_optimizer_state, out_shardings=_placement.replicated())


class Submission:
  """The AlgoPerf functions for one optimizer.

  ``make_optimizer(hp, workload)`` returns an optax transformation (extra args
  such as ``loss`` are passed through ``optax.with_extra_args_support``).
  ``extra_args(workload, hp, global_step, train_state)``, if given, returns extra
  scalar keyword arguments for the transformation's ``update`` at each step
  (traced, so changing values do not recompile). ``optional_defaults`` are
  hyperparameters a search space may omit. ``update_compiler_options(hp)``, if given,
  returns XLA ``compiler_options`` for the optimizer update (see :func:`_make_train_step`;
  asked when the optimizer is built, so that the backend is known).
  """

  def __init__(
    self,
    name: str,
    make_optimizer,
    defaults: Mapping[str, Any],
    extra_args: Optional[ExtraArgsFn] = None,
    optional_defaults: Optional[Mapping[str, Any]] = None,
    update_compiler_options: Optional[Callable[[Any], Mapping[str, Any]]] = None,
  ):
    self.name = name
    self.make_optimizer = make_optimizer
    self.defaults = dict(defaults)
    self.optional_defaults = dict(optional_defaults or {})
    self.extra_args = extra_args
    self.update_compiler_options = update_compiler_options

  def hyperparameters(self, hyperparameters):
    return resolve_hyperparameters(
      hyperparameters, self.defaults, self.name, self.optional_defaults
    )

  def init_optimizer_state(self, workload, model_params, model_state, hyperparameters, rng):
    del model_state, rng
    hp = self.hyperparameters(hyperparameters)
    tx = optax.with_extra_args_support(self.make_optimizer(hp, workload))
    opt_state = fresh_state_init(tx)(model_params)
    options = dict(self.update_compiler_options(hp)) if self.update_compiler_options else {}
    return opt_state, _make_train_step(workload, tx, hp, options)

  def update_params(
    self,
    workload,
    current_param_container,
    current_params_types,
    model_state,
    hyperparameters,
    batch,
    loss_type,
    optimizer_state,
    eval_results,
    global_step,
    rng,
    train_state=None,
  ):
    del current_params_types, loss_type, eval_results
    opt_state, train_step = optimizer_state
    extra = {}
    if self.extra_args is not None:
      hp = self.hyperparameters(hyperparameters)
      extra = {
        k: jnp.float32(v)
        for k, v in self.extra_args(workload, hp, global_step, train_state).items()
      }
    params, model_state, opt_state, loss = train_step(
      current_param_container, model_state, opt_state, batch, rng, extra
    )
    logger = getattr(workload, 'metrics_logger', None)
    if logger is not None and global_step % 100 == 0:
      logger.append_scalar_metrics({'loss': float(loss)}, global_step)
    return (opt_state, train_step), params, model_state

  @staticmethod
  def prepare_for_eval(
    workload,
    current_param_container,
    current_params_types,
    model_state,
    hyperparameters,
    loss_type,
    optimizer_state,
    eval_results,
    global_step,
    rng,
  ):
    del workload, current_params_types, hyperparameters, loss_type, eval_results, global_step, rng
    return optimizer_state, current_param_container, model_state

  @staticmethod
  def data_selection(
    workload,
    input_queue,
    optimizer_state,
    current_param_container,
    model_state,
    hyperparameters,
    global_step,
    rng,
  ):
    del workload, optimizer_state, current_param_container, model_state, hyperparameters
    del global_step, rng
    return next(input_queue)

  def functions(self):
    """(get_batch_size, init_optimizer_state, update_params, prepare_for_eval, data_selection)."""
    return (
      get_batch_size,
      self.init_optimizer_state,
      self.update_params,
      self.prepare_for_eval,
      self.data_selection,
    )
