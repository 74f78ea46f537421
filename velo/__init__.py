"""VeLO learned optimizer in plain JAX, with checkpoint loading and download."""

from velo.accumulation import every_k_calls
from velo.checkpoint import (
  VeloCheckpointError,
  VeloCheckpointMissing,
  default_cache_path,
  load_theta,
  resolve_checkpoint,
  theta_from_bytes,
  validate_theta,
)
from velo.compile_options import compiler_options
from velo.optimizer import ControllerOutputs, VeloState, controller_outputs, velo, velo_update

__all__ = [
  'ControllerOutputs',
  'VeloCheckpointError',
  'VeloCheckpointMissing',
  'VeloState',
  'compiler_options',
  'controller_outputs',
  'default_cache_path',
  'every_k_calls',
  'load_theta',
  'resolve_checkpoint',
  'theta_from_bytes',
  'validate_theta',
  'velo',
  'velo_update',
]
