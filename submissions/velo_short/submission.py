"""VeLO with the study's short prompt: its search space holds 75 % of ``velo``'s ``total_steps``."""

from submissions import _velo

(get_batch_size, init_optimizer_state, update_params, prepare_for_eval, data_selection) = (
  _velo.prompted_submission('velo_short', self_tuning_fraction=0.75).functions()
)
