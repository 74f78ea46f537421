"""The study's reference targets (docs/protocol.md, "Reference targets of the study").

Keyed by condition ('time', 'step'), split ('train', 'validation') and
workload. Metrics: criteo1tb cross-entropy loss, fastmri SSIM,
imagenet_resnet accuracy, ogbg mean average precision.
"""

from __future__ import annotations

_WORKLOADS = ('criteo1tb', 'fastmri', 'imagenet_resnet', 'ogbg')

# condition -> split -> values in the order of _WORKLOADS
_TABLE = {
  'time': {
    'train': (0.12215, 0.74543, 0.98709, 0.75946),
    'validation': (0.12367, 0.72671, 0.71012, 0.27867),
  },
  'step': {
    'train': (0.1225, 0.74535, 0.98147, 0.76547),
    'validation': (0.12408, 0.72659, 0.70600, 0.27849),
  },
}


def paper_targets() -> dict[str, dict[str, dict[str, float]]]:
  """A fresh copy of the table: {condition: {split: {workload: target}}}."""
  return {
    condition: {split: dict(zip(_WORKLOADS, values)) for split, values in by_split.items()}
    for condition, by_split in _TABLE.items()
  }


def paper_workloads() -> tuple[str, ...]:
  return _WORKLOADS


def paper_target(condition: str, split: str, workload: str) -> float | None:
  """Target of the official `workload`, or None (embedded stand-ins have none of their own:
  ``targets.paper_targets`` maps them only when asked to)."""
  return paper_targets().get(condition, {}).get(split, {}).get(workload)
