"""The catalogue: the one registry of algorithms, workloads, conditions and metric directions.

Every list of names the project uses is here, read by the Makefile (``python -m
bench_core.catalogue --list NAME``, one name a word), the demo, the benchmarks, the runners
and the scorer:

* Algorithms: the hand-crafted optimizers, VeLO and its variants, and ``velo_time`` (VeLO
  told its budget); each is a folder ``submissions/<name>/``.

* Embedded workloads (``*_mini``) run on the local runner; each stands in for one official
  AlgoPerf workload of the study (``local_runner.workloads`` maps each name to its class).
* Official workloads are AlgoPerf's (``submission_runner.py`` knows them): the eight base
  workloads, their variants (``criteo1tb_layernorm``..., and the test-sized
  ``criteo1tb_test``), each mapped to its base, and the development workloads; they need the
  ``algoperf`` package. Per-workload tables elsewhere (batch sizes, budgets, VeLO prompts)
  are looked up by :func:`lookup_names`: a variant's own entry, else its base's.
* Metric direction: loss-like metrics are minimised, ssim/accuracy/mAP/bleu maximised;
  a workload's default target metric follows its family (longest name prefix).
* The two conditions of the protocol: ``time`` (budget in seconds of submission time) and
  ``step`` (budget in steps). A step-control run has a step budget (``max_global_steps``)
  and the time budget :data:`NO_TIME_LIMIT_SEC`, i.e. none; any run with a real time budget
  is time control (a step cap given with it does not change that).
"""

from __future__ import annotations

import argparse
import sys

from bench_core.cli import run_main
from bench_core.errors import BenchError

#: The hand-crafted optimizers of the study (the sweep's default algorithms).
HAND_CRAFTED_ALGORITHMS = ('adam', 'nadam', 'nadamw', 'heavy_ball', 'nesterov')
#: VeLO and its short-horizon variant (they need the VeLO checkpoint).
VELO_ALGORITHMS = ('velo', 'velo_short')
#: VeLO given its budget (time control: the workload's; step control: ``step_budget``).
BUDGET_AWARE_ALGORITHMS = ('velo_time',)
#: Every algorithm of ``submissions/``.
ALGORITHMS = (*HAND_CRAFTED_ALGORITHMS, *VELO_ALGORITHMS, *BUDGET_AWARE_ALGORITHMS)

CONDITIONS = ('time', 'step')

#: Time budget of a step-control run: about 31 years, i.e. no limit.
NO_TIME_LIMIT_SEC = 10**9

#: The embedded workloads of the local runner.
EMBEDDED_WORKLOADS = ('criteo1tb_mini', 'fastmri_mini', 'imagenet_resnet_mini', 'ogbg_mini')

#: The official workloads of the study and the embedded stand-in of each.
OFFICIAL_TO_EMBEDDED = {
  'criteo1tb': 'criteo1tb_mini',
  'fastmri': 'fastmri_mini',
  'imagenet_resnet': 'imagenet_resnet_mini',
  'ogbg': 'ogbg_mini',
}

#: The official workloads the study runs (those with an embedded stand-in).
STUDY_WORKLOADS = tuple(OFFICIAL_TO_EMBEDDED)

#: AlgoPerf's eight base workloads (``algoperf/workloads/workloads.py``, ``BASE_WORKLOADS``, at
#: 2c90454f): an AlgoPerf score is over these.
BASE_WORKLOADS = (
  'criteo1tb',
  'fastmri',
  'imagenet_resnet',
  'imagenet_vit',
  'librispeech_conformer',
  'librispeech_deepspeech',
  'ogbg',
  'wmt',
)

#: Every other name of ``submission_runner.py`` built on a base workload -> that base: the
#: variants (same data, a changed model), and ``criteo1tb_test`` (the DLRM with a 65,536-row
#: vocabulary instead of 4,194,304, for tests). AlgoPerf resolves the base of a name the same
#: way (``workloads.get_base_workload_name``).
VARIANTS = {
  'criteo1tb_test': 'criteo1tb',
  'criteo1tb_layernorm': 'criteo1tb',
  'criteo1tb_embed_init': 'criteo1tb',
  'criteo1tb_resnet': 'criteo1tb',
  'fastmri_model_size': 'fastmri',
  'fastmri_tanh': 'fastmri',
  'fastmri_layernorm': 'fastmri',
  'imagenet_resnet_silu': 'imagenet_resnet',
  'imagenet_resnet_gelu': 'imagenet_resnet',
  'imagenet_resnet_large_bn_init': 'imagenet_resnet',
  'imagenet_vit_glu': 'imagenet_vit',
  'imagenet_vit_post_ln': 'imagenet_vit',
  'imagenet_vit_map': 'imagenet_vit',
  'librispeech_conformer_attention_temperature': 'librispeech_conformer',
  'librispeech_conformer_layernorm': 'librispeech_conformer',
  'librispeech_conformer_gelu': 'librispeech_conformer',
  'librispeech_deepspeech_tanh': 'librispeech_deepspeech',
  'librispeech_deepspeech_no_resnet': 'librispeech_deepspeech',
  'librispeech_deepspeech_norm_and_spec_aug': 'librispeech_deepspeech',
  'ogbg_gelu': 'ogbg',
  'ogbg_silu': 'ogbg',
  'ogbg_model_size': 'ogbg',
  'wmt_post_ln': 'wmt',
  'wmt_attention_temp': 'wmt',
  'wmt_glu_tanh': 'wmt',
}

#: AlgoPerf's development workloads (not scored).
DEVELOPMENT_WORKLOADS = ('cifar', 'mnist')

#: Every workload name of AlgoPerf's ``submission_runner.py`` (v0.6 line, 2c90454f).
OFFICIAL_WORKLOADS = frozenset((*BASE_WORKLOADS, *VARIANTS, *DEVELOPMENT_WORKLOADS))

MINIMIZE = 'min'
MAXIMIZE = 'max'

_DIRECTION_BY_METRIC = {
  'loss': MINIMIZE,
  'ctc_loss': MINIMIZE,
  'l1_loss': MINIMIZE,
  'error_rate': MINIMIZE,
  'wer': MINIMIZE,
  'cer': MINIMIZE,
  'ppl': MINIMIZE,
  'ssim': MAXIMIZE,
  'psnr': MAXIMIZE,
  'accuracy': MAXIMIZE,
  'mean_average_precision': MAXIMIZE,
  'average_precision': MAXIMIZE,
  'bleu': MAXIMIZE,
  'auc': MAXIMIZE,
}

#: The target metric of a workload family (matched by the longest prefix of the name).
_METRIC_BY_WORKLOAD_FAMILY = {
  'criteo1tb': 'loss',
  'fastmri': 'ssim',
  'imagenet_resnet': 'accuracy',
  'imagenet_vit': 'accuracy',
  'ogbg': 'mean_average_precision',
  'wmt': 'bleu',
  'librispeech_conformer': 'wer',
  'librispeech_deepspeech': 'wer',
  'mnist': 'accuracy',
  'cifar': 'accuracy',
}


def check_condition(condition: str, where: str = '--condition') -> str:
  if condition not in CONDITIONS:
    raise BenchError(f'unknown condition {condition!r} ({where}); expected time or step')
  return condition


def condition_of_run(max_global_steps, max_allowed_runtime_sec) -> str | None:
  """The condition a run's budgets make it (see the module docstring); None when its time
  budget is unknown."""
  try:
    runtime = float(max_allowed_runtime_sec)
  except (TypeError, ValueError):
    return None
  if runtime != runtime:
    return None
  if runtime >= NO_TIME_LIMIT_SEC and max_global_steps is not None:
    return 'step'
  return 'time'


def is_embedded(workload: str) -> bool:
  """True for the local runner's embedded workloads."""
  return workload in EMBEDDED_WORKLOADS


def is_official(workload: str) -> bool:
  """True for a workload name of AlgoPerf's ``submission_runner.py``."""
  return workload in OFFICIAL_WORKLOADS


def check_workload(workload: str, where: str = '--workload') -> str:
  """``workload`` if it is embedded or official; otherwise a :class:`BenchError` that lists both."""
  if is_embedded(workload) or is_official(workload):
    return workload
  raise BenchError(
    f'unknown workload {workload!r} ({where}): embedded workloads are '
    f'{", ".join(sorted(EMBEDDED_WORKLOADS))}; the base workloads of AlgoPerf are '
    f'{", ".join(BASE_WORKLOADS)}; their variants are '
    f'{", ".join(VARIANTS)}; development workloads {", ".join(DEVELOPMENT_WORKLOADS)}'
  )


def base_workload(workload: str) -> str:
  """The base workload of a variant; any other name is its own base."""
  return VARIANTS.get(workload, workload)


def lookup_names(workload: str) -> tuple[str, ...]:
  """The keys under which a per-workload table (batch sizes, budgets, prompts) is searched,
  in order: the name itself, then, for a variant, its base. A variant takes its base's entry
  unless the table has one of its own (AlgoPerf's variants keep the base's ``step_hint`` and
  ``max_allowed_runtime_sec``)."""
  base = base_workload(workload)
  return (workload,) if base == workload else (workload, base)


def embedded_stand_in(workload: str) -> str | None:
  """The embedded workload standing in for an official one (variants by family), or None."""
  families = [o for o in OFFICIAL_TO_EMBEDDED if workload.startswith(o)]
  return OFFICIAL_TO_EMBEDDED[max(families, key=len)] if families else None


def official_counterpart(embedded: str) -> str | None:
  """The official workload an embedded one stands in for, or None."""
  for official, mini in OFFICIAL_TO_EMBEDDED.items():
    if mini == embedded:
      return official
  return None


def metric_direction(metric: str) -> str:
  """'min' for loss-like metrics, 'max' for ssim/accuracy/mAP/bleu...

  Accepts a bare name ('ssim') or a column name ('validation/ssim'). Raises ValueError
  for a metric not in the table (the embedded workloads and the scorer both ask here).
  """
  name = metric.split('/', 1)[-1]
  try:
    return _DIRECTION_BY_METRIC[name]
  except KeyError:
    known = ', '.join(sorted(_DIRECTION_BY_METRIC))
    raise ValueError(
      f'unknown metric {metric!r}: cannot tell whether it is minimised or '
      f'maximised (known: {known})'
    ) from None


def is_minimized(metric: str) -> bool:
  return metric_direction(metric) == MINIMIZE


def default_target_metric(workload: str) -> str | None:
  """Target metric of a workload family by name prefix, or None if unknown."""
  matches = [f for f in _METRIC_BY_WORKLOAD_FAMILY if workload.startswith(f)]
  if not matches:
    return None
  return _METRIC_BY_WORKLOAD_FAMILY[max(matches, key=len)]


def lists() -> dict:
  """The registry's lists by the name ``--list`` takes."""
  return {
    'algorithms': ALGORITHMS,
    'hand_crafted': HAND_CRAFTED_ALGORITHMS,
    'velo': VELO_ALGORITHMS,
    'embedded': EMBEDDED_WORKLOADS,
    'study_workloads': STUDY_WORKLOADS,
    'base_workloads': BASE_WORKLOADS,
    'conditions': CONDITIONS,
  }


def main(argv: list[str] | None = None) -> int:
  """``python -m bench_core.catalogue --list NAME``: the names of one list, space-separated."""
  parser = argparse.ArgumentParser(prog='python -m bench_core.catalogue', description=main.__doc__)
  parser.add_argument('--list', required=True, choices=sorted(lists()))
  print(' '.join(lists()[parser.parse_args(argv).list]))
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
