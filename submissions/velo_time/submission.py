"""Prompt-free VeLO: its progress features get the fraction of the budget already used.

In place of ``iteration / num_steps``, VeLO sees
``accumulated_submission_time / max_allowed_runtime_sec`` under time control, or
``global_step / step_budget`` under step control (hyperparameter ``step_budget``, 0 for
time control; see ``submissions._velo``).
``num_steps`` (which still sets the loss-feature time scales) is ``step_hint``
(with the horizon limit of :mod:`submissions._velo`).
"""

from submissions import _common, _velo


def make_optimizer(hp, workload):
  _velo.step_budget(hp)  # a bad value fails at init, not at the first step
  return _velo.make_velo(workload.step_hint, hp.max_training_steps, _velo.scratch_in_state(hp))


def extra_args(workload, hp, global_step, train_state):
  return {'fraction_trained': _velo.fraction_of_budget(hp, workload, global_step, train_state)}


(get_batch_size, init_optimizer_state, update_params, prepare_for_eval, data_selection) = (
  _common.Submission(
    'velo_time',
    make_optimizer,
    defaults={},
    extra_args=extra_args,
    optional_defaults={'step_budget': 0, **_velo.OPTIONAL_DEFAULTS},
    update_compiler_options=_velo.update_compiler_options,
  ).functions()
)
