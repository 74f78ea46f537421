"""VeLO prompted with ``total_steps`` (100 % of the steps feasible in the budget)."""

from submissions import _velo

(get_batch_size, init_optimizer_state, update_params, prepare_for_eval, data_selection) = (
  _velo.prompted_submission('velo', self_tuning_fraction=1.0).functions()
)
