"""The AlgoPerf spec: ``algoperf.spec`` when importable, else the same names defined here.

Names provided either way: ``LossType``, ``ForwardPassMode``, ``ParameterType``,
``TrainingCompleteError``, ``ShapeTuple``, ``Workload`` and the type aliases
(``Tensor``, ``ParameterContainer``, ``ParameterTypeTree``, ``RandomState``,
``OptimizerState``, ``Hyperparameters``, ``ModelAuxiliaryState``, ``UpdateReturn``).
The enum members and their values match algoperf v0.6.
"""

from __future__ import annotations

import enum
from typing import Any, Dict, Tuple

try:  # pragma: no cover - depends on the environment
  from algoperf.spec import *  # noqa: F401,F403
  from algoperf.spec import (  # noqa: F401
    ForwardPassMode,
    LossType,
    ParameterType,
    ShapeTuple,
    TrainingCompleteError,
    Workload,
  )

  HAVE_ALGOPERF = True
except ImportError:
  HAVE_ALGOPERF = False

  class LossType(enum.Enum):
    SOFTMAX_CROSS_ENTROPY = 0
    SIGMOID_CROSS_ENTROPY = 1
    MEAN_SQUARED_ERROR = 2
    CTC_LOSS = 3
    MEAN_ABSOLUTE_ERROR = 4

  class ForwardPassMode(enum.Enum):
    TRAIN = 0
    EVAL = 1

  class ParameterType(enum.Enum):
    WEIGHT = 0
    BIAS = 1
    CONV_WEIGHT = 2
    BATCH_NORM_SCALE = 3
    BATCH_NORM_BIAS = 4
    LAYER_NORM_SCALE = 5
    LAYER_NORM_BIAS = 6
    EMBEDDING = 7
    ATTENTION_Q = 8
    ATTENTION_K = 9
    ATTENTION_V = 10
    ATTENTION_OUT = 11
    ATTENTION_QKV = 12
    ATTENTION_KV = 13
    ATTENTION_BIAS = 14

  class TrainingCompleteError(Exception):
    """Raised by ``update_params`` to end training early."""

  class ShapeTuple:
    """A parameter's shape, as ``workload.param_shapes`` leaves hold it."""

    def __init__(self, shape_tuple):
      self.shape_tuple = tuple(shape_tuple)

    def __repr__(self):
      return f'ShapeTuple({self.shape_tuple})'

    def __eq__(self, other):
      return isinstance(other, ShapeTuple) and self.shape_tuple == other.shape_tuple

    def __hash__(self):
      return hash(self.shape_tuple)

  class Workload:
    """Base of workloads when algoperf is absent: the attributes the runner and submissions use.

    Subclasses set ``_param_shapes`` and ``_param_types`` in ``init_model_fn``.
    """

    def __init__(self, *args, **kwargs) -> None:
      del args, kwargs
      self._param_shapes = None
      self._param_types = None
      self.metrics_logger = None

    @property
    def param_shapes(self):
      if self._param_shapes is None:
        raise ValueError('call workload.init_model_fn() before workload.param_shapes')
      return self._param_shapes

    @property
    def model_params_types(self):
      if self._param_types is None:
        raise ValueError('call workload.init_model_fn() before workload.model_params_types')
      return self._param_types

    def attach_metrics_logger(self, metrics_logger) -> None:
      self.metrics_logger = metrics_logger

  Tensor = Any
  ParameterContainer = Any
  ParameterTypeTree = Any
  ParameterShapeTree = Any
  RandomState = Any
  OptimizerState = Any
  Hyperparameters = Any
  ModelAuxiliaryState = Any
  Timing = int
  Steps = int
  UpdateReturn = Tuple[Any, Any, Any]
  Shape = Any
  ParameterKey = str
  EvalResults = Dict[str, float]
