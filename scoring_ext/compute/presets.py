"""The study's reference targets (docs/protocol.md, "Reference targets of the study").

Keyed by condition ('time', 'step'), split ('train', 'validation') and
workload. Metrics: criteo1tb cross-entropy loss, fastmri SSIM,
imagenet_resnet accuracy, ogbg mean average precision.
"""

from __future__ import annotations

# condition -> split -> workload -> target (the paper's table, keyed by the study's workloads,
# bench_core.catalogue.STUDY_WORKLOADS)
_TABLE = {
  'time': {
    'train': {
      'criteo1tb': 0.12215,
      'fastmri': 0.74543,
      'imagenet_resnet': 0.98709,
      'ogbg': 0.75946,
    },
    'validation': {
      'criteo1tb': 0.12367,
      'fastmri': 0.72671,
      'imagenet_resnet': 0.71012,
      'ogbg': 0.27867,
    },
  },
  'step': {
    'train': {'criteo1tb': 0.1225, 'fastmri': 0.74535, 'imagenet_resnet': 0.98147, 'ogbg': 0.76547},
    'validation': {
      'criteo1tb': 0.12408,
      'fastmri': 0.72659,
      'imagenet_resnet': 0.70600,
      'ogbg': 0.27849,
    },
  },
}


def paper_targets() -> dict[str, dict[str, dict[str, float]]]:
  """A fresh copy of the table: {condition: {split: {workload: target}}}."""
  return {
    condition: {split: dict(values) for split, values in by_split.items()}
    for condition, by_split in _TABLE.items()
  }


def paper_workloads() -> tuple[str, ...]:
  return tuple(_TABLE['time']['train'])


def paper_target(condition: str, split: str, workload: str) -> float | None:
  """Target of the official `workload`, or None (embedded stand-ins have none of their own:
  ``targets.paper_targets`` maps them only when asked to)."""
  return paper_targets().get(condition, {}).get(split, {}).get(workload)
