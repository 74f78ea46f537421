"""NAdam (AlgoPerf formulation), warmup + cosine over 75 % of ``step_hint``, no weight decay."""

from submissions import _common
from submissions.optimizers import nadamw

DEFAULTS = {
  'learning_rate': 1e-2,
  'beta1': 0.9,
  'beta2': 0.999,
  'warmup_fraction': 0.05,
  'schedule_fraction': 0.75,
  'min_learning_rate': 1e-4,
}


def make_optimizer(hp, workload):
  schedule = _common.warmup_cosine_schedule(
    workload.step_hint,
    hp.learning_rate,
    warmup_fraction=hp.warmup_fraction,
    schedule_fraction=hp.schedule_fraction,
    min_learning_rate=hp.min_learning_rate,
  )
  return nadamw(schedule, b1=hp.beta1, b2=hp.beta2, eps=1e-8, weight_decay=0.0)


(get_batch_size, init_optimizer_state, update_params, prepare_for_eval, data_selection) = (
  _common.Submission('nadam', make_optimizer, DEFAULTS).functions()
)
