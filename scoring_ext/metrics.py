"""Which columns hold a metric, and the value that reaches no target (directions:
``bench_core.catalogue``)."""

from bench_core.catalogue import is_minimized

SPLITS = ('train', 'validation')


def metric_column(split: str, metric: str) -> str:
  """Column of eval_measurements.csv holding `metric` on `split`, e.g. 'train/ssim'."""
  return f'{split}/{metric}'


def worst_value(metric: str) -> float:
  """The value that reaches no target: +inf for minimised, -inf for maximised metrics."""
  return float('inf') if is_minimized(metric) else float('-inf')
