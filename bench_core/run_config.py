"""How a trial's run configuration reaches the runners; the configuration itself, its file
and its schema are :class:`bench_core.file_formats.TrialConfig` (``load_run_config``,
``dump_run_config``), with every other file format.

The study layer (``study.trial.TrialSpec.run_config``) resolves a trial into a
``TrialConfig`` (the budget of its condition, the evaluation rule, the paths, the seed,
the data location, the search space and its hyperparameter overrides) and writes it as JSON
beside the run folder (:func:`bench_core.layout.run_config_file`; the run folder itself is
removed by a rerun). Whichever runner runs the trial reads that file: the local runner
(``python -m local_runner --run_config=FILE``) and the official ``submission_runner``, whose
flags ``study.runner_flags`` builds from it. The file also documents the run.

Budget, one mechanism for both runners: :func:`budgeted` returns a subclass of the workload
class that reports the configured ``max_allowed_runtime_sec`` (None: the workload's own) and
``eval_period_time_sec``; the local runner instantiates it, the official path hands it to
``submission_runner`` in place of the class AlgoPerf imports.

Evaluation rule: ``eval_every_steps`` None is AlgoPerf's time rule (after step 1, then every
``eval_period_time_sec`` of wall time); a number evaluates every that many steps (the local
runner under step control).
"""

from __future__ import annotations

from typing import Optional


def budgeted(
  workload_class: type,
  max_allowed_runtime_sec: Optional[float] = None,
  eval_period_time_sec: Optional[float] = None,
) -> type:
  """``workload_class``, or a subclass of it reporting the given budget and evaluation
  period (None: the class's own)."""
  attributes = {}
  if max_allowed_runtime_sec is not None:
    attributes['max_allowed_runtime_sec'] = property(lambda self: max_allowed_runtime_sec)
  if eval_period_time_sec is not None:
    attributes['eval_period_time_sec'] = property(lambda self: eval_period_time_sec)
  if not attributes:
    return workload_class
  attributes.update(__module__=workload_class.__module__, __doc__=workload_class.__doc__)
  return type(workload_class.__name__, (workload_class,), attributes)
