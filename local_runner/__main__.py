"""``python -m local_runner``: the official ``submission_runner.py`` flags, on embedded
workloads (plus ``--max_allowed_runtime_sec``, ``--stop_on_targets``, ``--eval_every_steps``,
``--eval_period_time_sec``), or a trial's run configuration file (``--run_config``, which
``study.launch`` passes; ``bench_core.run_config``): its fields replace the flags' defaults,
and flags given beside it are added (``--num_tuning_trials=3``, say)."""

from __future__ import annotations

import dataclasses
import sys

from absl import app, flags

from bench_core import file_formats
from bench_core.cli import run_main
from bench_core.errors import BenchError
from local_runner.runner import RunConfig, run

flags.DEFINE_string('framework', 'jax', 'Only "jax" is supported by the local runner.')
flags.DEFINE_string('workload', None, 'Embedded workload name, e.g. imagenet_resnet_mini.')
flags.DEFINE_string('submission_path', None, 'Path to the submission .py file.')
flags.DEFINE_enum('tuning_ruleset', 'external', ['external', 'self'], 'Tuning ruleset.')
flags.DEFINE_string('tuning_search_space', None, 'Search space JSON (external tuning only).')
flags.DEFINE_integer('num_tuning_trials', 1, 'Number of hyperparameter points (trials).')
flags.DEFINE_string('experiment_dir', None, 'Root directory of the logs.')
flags.DEFINE_string('experiment_name', None, 'Sub-directory of experiment_dir.')
flags.DEFINE_string('data_dir', None, 'Ignored: embedded workloads carry their data.')
flags.DEFINE_integer('max_global_steps', None, 'Stop after this many steps.')
flags.DEFINE_integer(
  'rng_seed', None, 'Seed (0 or unset: a random seed, as the official runner).', lower_bound=0
)
flags.DEFINE_boolean('overwrite', False, 'Replace an existing experiment directory.')
flags.DEFINE_boolean(
  'resume_last_run', False, 'Keep completed trials of an existing directory, rerun the others.'
)
flags.DEFINE_integer('hparam_start_index', None, 'First hyperparameter point to run.')
flags.DEFINE_integer('hparam_end_index', None, 'One past the last hyperparameter point to run.')
flags.DEFINE_float(
  'max_allowed_runtime_sec',
  None,
  "Override of the workload's time budget (e.g. a hardware-transferred one).",
)
flags.DEFINE_boolean(
  'stop_on_targets',
  True,
  'Stop once validation and test targets are reached (the official rule); '
  '--nostop_on_targets runs the whole budget.',
)
flags.DEFINE_integer(
  'eval_every_steps',
  None,
  'Evaluate after step 1, every N steps and at the end, instead of every '
  'eval_period_time_sec of wall time (step control; not an official flag).',
)
flags.DEFINE_float(
  'eval_period_time_sec',
  None,
  "Evaluate every this many seconds of wall time instead of the workload's own period.",
)
flags.DEFINE_string(
  'run_config', None, 'A trial run configuration file (study.launch writes and passes it).'
)
flags.DEFINE_boolean(
  'save_checkpoints', False, 'Accepted for compatibility; no checkpoints are kept.'
)
flags.DEFINE_boolean('torch_compile', False, 'Accepted for compatibility; ignored.')

FLAGS = flags.FLAGS

#: Flags a run needs, from the command line or from ``--run_config``.
REQUIRED = ('workload', 'submission_path', 'experiment_dir')


def config_from_flags() -> RunConfig:
  """The run's configuration: ``--run_config``'s fields, then every flag given explicitly."""
  if FLAGS.run_config:
    config = RunConfig.from_trial_config(file_formats.load_run_config(FLAGS.run_config))
  else:
    missing = [name for name in REQUIRED if FLAGS[name].value is None]
    if missing:
      raise BenchError(f'give --run_config, or {", ".join("--" + name for name in missing)}')
    config = RunConfig(
      workload=FLAGS.workload,
      submission_path=FLAGS.submission_path,
      experiment_dir=FLAGS.experiment_dir,
    )
  names = {f.name for f in dataclasses.fields(RunConfig)}
  given = {
    name: FLAGS[name].value
    for name in names
    if name in FLAGS and (FLAGS[name].present or not FLAGS.run_config)
  }
  return dataclasses.replace(config, **given)


def run_from_flags(argv) -> int:
  del argv
  if FLAGS.framework != 'jax':
    raise BenchError(f'the local runner supports --framework=jax only, got {FLAGS.framework!r}')
  run(config_from_flags(), progress=lambda msg: print(msg, flush=True))
  return 0


HELP_FLAGS = ('-h', '-?', '--help', '--helpshort', '--helpfull')


def main(argv) -> int:
  return run_main(run_from_flags, argv)


def entry(argv=None) -> None:
  """``app.run(main)``, except that asking for help prints it on stdout and exits 0 (absl's
  own ``--help`` exits 1, which reads as a failure to scripts and to the user)."""
  argv = list(sys.argv if argv is None else argv)
  if any(a in HELP_FLAGS for a in argv[1:]):
    app.usage(shorthelp='--helpfull' not in argv, writeto_stdout=True, exitcode=0)
  app.run(main, argv)


if __name__ == '__main__':
  entry()
