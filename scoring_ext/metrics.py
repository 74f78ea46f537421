"""Direction of a metric (minimised or maximised) and which columns hold it."""

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

SPLITS = ('train', 'validation')


def metric_direction(metric: str) -> str:
  """'min' for loss-like metrics, 'max' for ssim/accuracy/mAP/bleu...

  Accepts a bare name ('ssim') or a column name ('validation/ssim').
  Raises ValueError for a metric not in the table.
  """
  name = metric.split('/', 1)[-1]
  try:
    return _DIRECTION_BY_METRIC[name]
  except KeyError:
    known = ', '.join(sorted(_DIRECTION_BY_METRIC))
    raise ValueError(
        f'unknown metric {metric!r}: cannot tell whether it is minimised or '
        f'maximised (known: {known})') from None


def is_minimized(metric: str) -> bool:
  return metric_direction(metric) == MINIMIZE


def metric_column(split: str, metric: str) -> str:
  """Column of eval_measurements.csv holding `metric` on `split`, e.g. 'train/ssim'."""
  return f'{split}/{metric}'


def worst_value(metric: str) -> float:
  """The value that reaches no target: +inf for minimised, -inf for maximised metrics."""
  return float('inf') if is_minimized(metric) else float('-inf')


# Fallback when a trial has no meta_data_0.json: the target metric of a workload
# family, matched by the longest prefix of the workload name.
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


def default_target_metric(workload: str) -> str | None:
  """Target metric of a workload family by name prefix, or None if unknown."""
  matches = [f for f in _METRIC_BY_WORKLOAD_FAMILY if workload.startswith(f)]
  if not matches:
    return None
  return _METRIC_BY_WORKLOAD_FAMILY[max(matches, key=len)]
