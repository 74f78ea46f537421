"""Other experiment trees scored next to this one (``--reference``): AlgoPerf's published
baseline logs, last year's own study, a colleague's runs.

Each reference tree is read like the main one (CSV or text logs). Its algorithms join every
table and profile as ``<label>/<algorithm>``, where the label is the tree's folder name, or
LABEL in ``--reference LABEL=DIR``. Only the main tree's workloads are scored (a reference's
other workloads are left out, with a note), under the main tree's budgets.

Reference times were measured on other hardware. Under the time condition they are
rescaled to this hardware with a hardware file: the budgets file written by
``python -m hardware_transfer.transfer`` (``make transfer``), or any JSON object of that
shape, per workload::

    {"criteo1tb": {"local_time_per_step": 0.61, "reference_time_per_step": 0.74, ...}, ...}

``factor = local_time_per_step / reference_time_per_step`` and every evaluation time of the
reference on that workload is multiplied by it (other fields are ignored; a variant without
an entry of its own takes its base workload's). A factor outside
``bench_core.arguments.PLAUSIBLE_FACTOR`` (1/1000 to 1000) is refused, naming the
file and the workload, before any log is read. Without a
hardware file, the time condition refuses references unless ``--allow_mixed_hardware`` is
given (their times are then used as measured). Under the step condition nothing is rescaled:
a step count does not depend on the hardware.
"""

from __future__ import annotations

import os

import pandas as pd

from bench_core import catalogue, file_formats
from bench_core.errors import BenchError
from scoring_ext.findings import Issue
from scoring_ext.read import logs
from scoring_ext.read.logs import Experiment

REFERENCE_COLUMNS = ['reference', 'algorithm', 'workload', 'trials', 'factor', 'times']


def parse_reference(spec: str) -> tuple[str, str]:
  """``LABEL=DIR`` or ``DIR`` -> (label, directory); the label defaults to DIR's name."""
  label, sep, path = spec.partition('=')
  if not sep:
    label, path = '', spec
  label = label or os.path.basename(os.path.normpath(path))
  if not label or '/' in label:
    raise BenchError(f'--reference {spec!r}: expected DIR or LABEL=DIR, LABEL without "/"')
  return label, path


def read_hardware_file(path: str) -> dict[str, float]:
  """workload -> factor (local_time_per_step / reference_time_per_step) of a hardware file."""
  return {w: entry.factor for w, entry in file_formats.load_hardware(path).items()}


def _hardware_per_reference(specs, hardware_files, condition, allow_mixed) -> list:
  """The hardware file of each reference (None: times as measured); BenchError when the
  time condition would mix hardware without either a file or --allow_mixed_hardware."""
  hardware_files = list(hardware_files or [])
  if hardware_files and len(hardware_files) not in (1, len(specs)):
    raise BenchError(
      f'--reference_hardware: give one file (used for every reference) or one '
      f'per reference, in order ({len(specs)} reference(s)); got '
      f'{len(hardware_files)} files'
    )
  if condition == 'time' and not hardware_files and not allow_mixed:
    raise BenchError(
      '--reference under the time condition: the reference times were measured on other '
      'hardware; give --reference_hardware FILE (a budgets file of hardware_transfer, with '
      'local_time_per_step and reference_time_per_step per workload) to rescale them, or '
      '--allow_mixed_hardware to compare times as measured'
    )
  if not hardware_files or condition == 'step':
    return [None] * len(specs)
  return hardware_files * len(specs) if len(hardware_files) == 1 else hardware_files


def _relabel(experiment: Experiment, label: str, offset: int) -> Experiment:
  trials = experiment.trials.copy()
  evals = experiment.evals.copy()
  for frame in (trials, evals):
    frame['algorithm'] = label + '/' + frame['algorithm']
    frame['trial_id'] += offset
  return Experiment(trials, evals, experiment.issues)


def load_references(
  specs, hardware_files, workloads, condition: str, allow_mixed: bool, first_trial_id: int
) -> tuple[list[Experiment], pd.DataFrame, list[Issue]]:
  """Each reference tree, relabelled and rescaled, restricted to `workloads`; a table of what
  was done to each, and audit notes.

  The table has one row per (reference tree, algorithm, workload), columns
  :data:`REFERENCE_COLUMNS`: ``reference`` (str: the tree's folder), ``algorithm`` (str:
  ``<label>/<algorithm>``), ``workload`` (str), ``trials`` (int: trial folders found),
  ``factor`` (float: the hardware factor its times were multiplied by; NaN when not
  rescaled), ``times`` (str: what was done, in words).

  Trial ids continue from `first_trial_id`. Raises BenchError for a bad spec, a missing
  hardware file entry, a reference without any of `workloads`, or mixed hardware (above).
  """
  hardware = _hardware_per_reference(specs, hardware_files, condition, allow_mixed)
  parsed = [parse_reference(s) for s in specs]
  labels = [label for label, _ in parsed]
  if len(set(labels)) != len(labels):
    raise BenchError(
      f'--reference: two references share a label ({", ".join(labels)}); name them with LABEL=DIR'
    )
  experiments, rows, issues = [], [], []
  offset = first_trial_id
  for (label, path), hardware_file in zip(parsed, hardware):
    found = logs.discover_trial_dirs(path)
    others = sorted(set(found['workload']) - set(workloads))
    found = found[found['workload'].isin(list(workloads))].reset_index(drop=True)
    if found.empty:
      raise BenchError(
        f'--reference {path}: none of its workloads '
        f'({", ".join(others)}) is in the experiment ({", ".join(workloads)})'
      )
    if others:
      issues.append(
        Issue(
          'note', path, f'reference workloads not in the experiment, left out: {", ".join(others)}'
        )
      )
    experiment = _relabel(logs.load_trials(found, path), label, offset)
    offset += len(experiment.trials)
    factors = read_hardware_file(hardware_file) if hardware_file else {}
    for workload in sorted(set(experiment.trials['workload'])):
      # A variant without an entry of its own is rescaled by its base workload's factor.
      name = next((n for n in catalogue.lookup_names(workload) if n in factors), None)
      if hardware_file and name is None:
        raise BenchError(
          f'{hardware_file}: no entry for workload {workload!r} of reference '
          f'{path} (the file has: {", ".join(sorted(factors))})'
        )
      factor = factors.get(name, 1.0)
      rows_of = experiment.evals['workload'] == workload
      experiment.evals.loc[rows_of, 'time'] *= factor
      if condition == 'step':
        how = 'steps: not rescaled (hardware independent)'
      elif hardware_file:
        how = f'time x {factor:.4g} ({os.path.basename(hardware_file)})'
      else:
        how = 'time as measured (--allow_mixed_hardware)'
      of_workload = experiment.trials[experiment.trials['workload'] == workload]
      for algorithm, group in of_workload.groupby('algorithm', sort=True):
        rows.append(
          {
            'reference': path,
            'algorithm': algorithm,
            'workload': workload,
            'trials': len(group),
            'factor': factor if hardware_file else float('nan'),
            'times': how,
          }
        )
    experiments.append(experiment)
    issues += list(experiment.issues)
  return experiments, pd.DataFrame(rows, columns=REFERENCE_COLUMNS), issues


def combine(main: Experiment, references: list[Experiment]) -> Experiment:
  """One experiment holding the main tree's trials and every reference's."""
  if not references:
    return main
  parts = [main] + references
  trials = pd.concat([e.trials for e in parts], ignore_index=True, sort=False)
  evals = pd.concat([e.evals for e in parts], ignore_index=True, sort=False)
  return Experiment(trials, evals, main.issues)
