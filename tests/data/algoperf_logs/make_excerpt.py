"""Rebuild the excerpts in this folder from AlgoPerf's published baseline logs.

  python tests/data/algoperf_logs/make_excerpt.py LOGS_DIR

LOGS_DIR is ``algorithms/baselines/logs`` of a checkout of mlcommons/algorithmic-efficiency
(commit 2c90454f). The logs are data; what is kept of each is listed in ``EXCERPTS`` and
README.md. Only lines are dropped, never edited, except that a run's ``Metrics:`` line is
written back with the kept evaluations only (Python's repr, which reproduces the original
text of each kept entry; checked below).
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (ruleset, study, workload) -> (tuning runs kept, evaluation indices kept)
EXCERPTS = {
  ('external_tuning', 'study_0', 'criteo1tb'): ((1, 2), (0, 2, 4, 5, 6)),
  ('external_tuning', 'study_1', 'criteo1tb'): ((1, 2), (0, 2, 4, 5, 6)),
  ('external_tuning', 'study_2', 'criteo1tb'): ((1, 2), (0, 2, 4, 5, 6)),
  ('external_tuning', 'study_0', 'ogbg'): ((1, 5), (0, 12, 24, 36, 48, 60, 72, 76)),
  ('external_tuning', 'study_1', 'ogbg'): ((1, 5), (0, 12, 24, 36, 48, 60, 72, 76)),
  ('external_tuning', 'study_2', 'ogbg'): ((1, 5), (0, 12, 24, 36, 48, 60, 72, 76)),
  ('external_tuning', 'study_0', 'fastmri'): ((1,), ()),  # published without a log
  ('self_tuning', 'study_0', 'fastmri'): ((1,), (0, 6, 12, 18, 24)),
  ('self_tuning', 'study_3', 'librispeech_deepspeech'): ((1,), (0, 20, 40, 60, 82)),
}
CONTEXT = (
  'Using RNG seed',
  '--- Tuning run',
  'Creating tuning directory',
  'Starting training loop',
  'Tuning trial',
  'Hyperparameters:',
  'Timing:',
)
RUN = re.compile(r'--- Tuning run (\d+)/\d+ ---')
EVAL = re.compile(r'Time since start: ')
METRICS = re.compile(r'^(.* Metrics: )(\{.*\})\s*$')
META_KEYS = ('rng_seed', 'gpu_model_name', 'gpu_count')
FLAG_KEYS = (
  'submission_path',
  'workload',
  'framework',
  'tuning_ruleset',
  'num_tuning_trials',
  'experiment_name',
  'max_global_steps',
  'rng_seed',
)


def excerpt_log(lines, runs, indices) -> list[str]:
  run, seen, out = 1, {}, []
  for number, line in enumerate(lines):
    match = RUN.search(line)
    if match:
      run = int(match[1])
    if number == 0 and line.startswith('python'):
      out.append(line)
    elif run not in runs:
      continue
    elif EVAL.search(line):
      k = seen.get(run, 0)
      seen[run] = k + 1
      if k in indices:
        out.append(line)
    elif METRICS.match(line):
      head, text = METRICS.match(line).groups()
      data = ast.literal_eval(text)
      assert repr(data) == text, 'the Metrics line would not be reproduced exactly'
      data['eval_results'] = [e for i, e in enumerate(data['eval_results']) if i in indices]
      out.append(head + repr(data) + '\n')
    elif 'submission_runner.py' in line and any(c in line for c in CONTEXT):
      out.append(line)
  return out


def main(logs_dir: str) -> None:
  for (ruleset, study, workload), (runs, indices) in EXCERPTS.items():
    source = Path(logs_dir) / ruleset / 'baseline' / study / f'{workload}_jax'
    target = HERE / ruleset / 'baseline' / study / f'{workload}_jax'
    for log in sorted(source.glob('*.log')):
      lines = log.read_text(errors='replace').splitlines(keepends=True)
      target.mkdir(parents=True, exist_ok=True)
      (target / log.name).write_text(''.join(excerpt_log(lines, runs, indices)))
    for run in runs:
      trial = source / f'trial_{run}'
      (target / trial.name).mkdir(parents=True, exist_ok=True)
      meta = json.loads((trial / 'meta_data_0.json').read_text())
      meta = {k: v for k, v in meta.items() if k.startswith('workload.') or k in META_KEYS}
      flags = json.loads((trial / 'flags_0.json').read_text())
      flags = {k: flags[k] for k in FLAG_KEYS if k in flags}
      files = {'meta_data_0.json': meta, 'flags_0.json': flags}
      if (trial / 'hparams.json').exists():  # self-tuning trials have none
        files['hparams.json'] = json.loads((trial / 'hparams.json').read_text())
      for name, data in files.items():
        (target / trial.name / name).write_text(json.dumps(data, indent=2) + '\n')


if __name__ == '__main__':
  main(sys.argv[1])
