"""Cost of ``fastmri_mini``'s evaluations in ``make demo``: the current evaluation (batches of
32 images, a 64-image ``eval_train``) against the previous one (one batch of 256 images per
split, a 256-image ``eval_train``), timed side by side in the same run:

- one evaluation (``eval_model``: the three splits, SSIM included), interleaved;
- one whole step-control trial of nadamw (400 steps, an evaluation every 8 steps: 51), the
  demo's most evaluation-bound trial, alternately with each evaluation, on the local runner;
- a training step of that trial (for the ratio of evaluation to training time).

Prints medians and the ratios new / old; on a loaded machine the absolute times are inflated,
the ratios less so. Validation and test (the targets') metrics are compared too: the same
images, so only floating-point differences of the batch size.

  python benchmarks/demo_eval_bench.py [--repeats 7] [--trials 2]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT]

import jax  # noqa: E402

from local_runner import workloads  # noqa: E402
from local_runner.runner import RunConfig, run  # noqa: E402
from local_runner.workloads import fastmri_mini  # noqa: E402
from timing import interleaved_median_seconds  # noqa: E402

OLD_EVAL_TRAIN_SIZE = 256
OLD_EVAL_BATCH_SIZE = 256
STEPS, EVAL_EVERY = 400, 8  # the demo's step control: step_hint, 2 % of it


class PreviousEvalFastmri(fastmri_mini.FastmriMiniWorkload):
  """fastmri_mini as it evaluated before: a 256-image eval_train, one batch per split."""

  eval_batch_size = OLD_EVAL_BATCH_SIZE

  def _make_splits(self):
    splits = dict(fastmri_mini.generate_phantoms(self.data_seed))
    splits['eval_train'] = {k: v[:OLD_EVAL_TRAIN_SIZE] for k, v in splits['train'].items()}
    return splits


def eval_costs(repeats: int):
  new, old = fastmri_mini.FastmriMiniWorkload(), PreviousEvalFastmri()
  params, state = new.init_model_fn(jax.random.PRNGKey(0))
  rng = jax.random.PRNGKey(1)
  calls = [
    lambda: new.eval_model(new.eval_batch_size, params, state, rng),
    lambda: old.eval_model(old.eval_batch_size, params, state, rng),
  ]
  new_sec, old_sec = interleaved_median_seconds(calls, repeats=repeats)
  a, b = calls[0](), calls[1]()
  largest = max(abs(a[k] - b[k]) for k in a if k.startswith(('validation/', 'test/')))
  return new_sec, old_sec, largest


def one_trial(workload: str, root: str) -> dict:
  config = RunConfig(
    workload=workload,
    submission_path=os.path.join(ROOT, 'submissions', 'nadamw', 'submission.py'),
    tuning_search_space=os.path.join(ROOT, 'tuning_search_spaces', 'nadamw.json'),
    experiment_dir=root,
    experiment_name=f'{workload}_{time.monotonic_ns()}',
    rng_seed=1,
    max_global_steps=STEPS,
    eval_every_steps=EVAL_EVERY,
    max_allowed_runtime_sec=10**9,
    stop_on_targets=False,
  )
  start = time.perf_counter()
  [summary] = run(config, progress=lambda m: None)
  summary['wall_sec'] = time.perf_counter() - start
  return summary


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--repeats', type=int, default=7)
  p.add_argument('--trials', type=int, default=2)
  args = p.parse_args()
  print(f'jax {jax.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}')
  new_sec, old_sec, largest = eval_costs(args.repeats)
  print(
    f'one evaluation: {new_sec:.3f} s now, {old_sec:.3f} s before, ratio {new_sec / old_sec:.2f}'
    f' (validation/test metrics differ by at most {largest:.1e})'
  )
  workloads.register('fastmri_previous_eval', '__main__', 'PreviousEvalFastmri')
  walls = {'fastmri_mini': [], 'fastmri_previous_eval': []}
  evals = {'fastmri_mini': [], 'fastmri_previous_eval': []}
  with tempfile.TemporaryDirectory() as root:
    for _ in range(args.trials):
      for workload in walls:
        summary = one_trial(workload, root)
        walls[workload].append(summary['wall_sec'])
        evals[workload].append(summary['num_evals'])
  new_wall = statistics.median(walls['fastmri_mini'])
  old_wall = statistics.median(walls['fastmri_previous_eval'])
  print(
    f'step-control nadamw trial ({STEPS} steps, {evals["fastmri_mini"][0]} evaluations): '
    f'{new_wall:.1f} s now, {old_wall:.1f} s before, ratio {new_wall / old_wall:.2f}'
  )
  train_sec = (new_wall - evals['fastmri_mini'][0] * new_sec) / STEPS
  print(
    f'per trial, evaluations take about {evals["fastmri_mini"][0] * new_sec:.0f} s now, '
    f'{evals["fastmri_mini"][0] * old_sec:.0f} s before; the rest (set-up, '
    f'{STEPS} steps) about {new_wall - evals["fastmri_mini"][0] * new_sec:.0f} s '
    f'({train_sec * 1000:.0f} ms per step including set-up)'
  )


if __name__ == '__main__':
  main()
