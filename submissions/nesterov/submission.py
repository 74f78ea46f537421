"""SGD with Nesterov momentum, constant LR: ``m = g + mu m``, ``p -= lr (g + mu m)`` (``optax.sgd``)."""

import optax

from submissions import _common

DEFAULTS = {'learning_rate': 5e-2, 'momentum': 0.9}


def make_optimizer(hp, workload):
  del workload
  return optax.sgd(hp.learning_rate, momentum=hp.momentum, nesterov=True)


(get_batch_size, init_optimizer_state, update_params, prepare_for_eval, data_selection) = (
  _common.Submission('nesterov', make_optimizer, DEFAULTS).functions()
)
