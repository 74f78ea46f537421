"""The scoring API: one experiment tree and a :class:`ScoringConfig` in, a
:class:`ScoringResult` out (no files written; :mod:`scoring_ext.render` writes them).

settings checked (before any file is read) -> load (+ reference trees) -> the trials'
recorded condition checked -> budgets -> targets -> time to target (per trial, per study
under the multi-trial rule, median; a trial without evaluations is a miss) ->
ratios/profiles/score B -> quality at the budget -> prompt sensitivity -> (bootstrap
intervals).

The targets, the multi-trial rule and the handling of evaluations past the budget come from
a rule set (:mod:`scoring_ext.compute.rules`, ``rules='study'`` or ``'algoperf'``); each can be
overridden on its own.

    config = ScoringConfig('time', n_bootstrap=2000)
    result = score_experiment('experiments/time', config)
    result.scores        # one row per (algorithm, split): score B and its interval
"""

from __future__ import annotations

import dataclasses
import types
from typing import Mapping

import numpy as np
import pandas as pd

from bench_core import catalogue
from bench_core.errors import BenchError
from scoring_ext import budgets as budgets_lib
from scoring_ext.compute import bootstrap, profiles, prompt, quality
from scoring_ext.compute import rules as rules_lib
from scoring_ext.compute import targets as targets_lib
from scoring_ext.compute import time_to_target as ttt
from scoring_ext.findings import Issue
from scoring_ext.read import logs, references

TARGET_SOURCES = ('derived', 'paper', 'algoperf')
SCORE_COLUMNS = ['algorithm', 'split', 'score']


def _names(values) -> tuple[str, ...] | None:
  return None if values is None else tuple(values)


@dataclasses.dataclass(frozen=True)
class ScoringConfig:
  """How to score an experiment tree: the settings of ``python -m scoring_ext.report``.

  condition: 'time' (the clock is accumulated_submission_time, the budget
    workload.max_allowed_runtime_sec) or 'step' (global_step, max_global_steps).
  rules: the rule set, 'study' or 'algoperf' (:mod:`scoring_ext.compute.rules`).
  target_source, trial_rule, past_budget: override one setting of the rule set when not
    None ('derived' | 'paper' | 'algoperf'; 'earliest' | 'algoperf'; 'drop' | 'keep').
  budget_fraction: with derived targets, the point of the budget, 0 < f <= 1, at which each
    trial's metric is taken.
  max_tau: largest ratio to the fastest in the profiles (> 1); B is the area under rho
    over [1, max_tau] divided by max_tau - 1.
  algorithms, workloads: score only these (folder names); None: all found.
  budgets_override: workload -> budget (seconds or steps) replacing the logged one.
  n_bootstrap: replicates over studies for 95% intervals (0: none; at most
    :data:`scoring_ext.compute.bootstrap.MAX_REPLICATES`); seed: of their generator.
  reference_dirs: other trees (``[LABEL=]DIR``) scored as extra algorithms
    (:mod:`scoring_ext.read.references`); reference_hardware: hardware files rescaling their
    times; allow_mixed_hardware: compare their times as measured instead.
  paper_stand_ins: with paper targets, give each embedded stand-in its official workload's.
  allow_other_condition: score trials that recorded the other condition (a warning) instead
    of refusing them.

  Every setting but the condition is given by name. Sequences are stored as tuples and the budgets as a read-only mapping, so a config is a
  value: it can be kept, compared and reused.
  """

  condition: str
  _: dataclasses.KW_ONLY
  rules: str = 'study'
  target_source: str | None = None
  trial_rule: str | None = None
  past_budget: str | None = None
  budget_fraction: float = 0.75
  max_tau: float = 4.0
  algorithms: tuple[str, ...] | None = None
  workloads: tuple[str, ...] | None = None
  budgets_override: Mapping[str, float] | None = None
  n_bootstrap: int = 0
  seed: int = 0
  reference_dirs: tuple[str, ...] = ()
  reference_hardware: tuple[str, ...] = ()
  allow_mixed_hardware: bool = False
  paper_stand_ins: bool = False
  allow_other_condition: bool = False

  def __post_init__(self):
    fields = {
      'algorithms': _names(self.algorithms),
      'workloads': _names(self.workloads),
      'reference_dirs': tuple(self.reference_dirs),
      'reference_hardware': tuple(self.reference_hardware),
      'budgets_override': (
        None
        if self.budgets_override is None
        else types.MappingProxyType(dict(self.budgets_override))
      ),
    }
    for name, value in fields.items():
      object.__setattr__(self, name, value)

  def rules_in_force(self) -> rules_lib.Rules:
    """The rule set with this config's overrides (BenchError for an unknown set)."""
    return rules_lib.resolve(
      self.rules,
      target_source=self.target_source,
      trial_rule=self.trial_rule,
      past_budget=self.past_budget,
    )


@dataclasses.dataclass(frozen=True)
class Profile:
  """The performance profile of one target split (:mod:`scoring_ext.compute.profiles`).

  taus: float array of shape (n_taus,), the grid 1 .. max_tau.
  rho: float array of shape (n_algorithms, n_taus); rho[a, k] is the fraction of
    ``workloads`` on which algorithm a is within taus[k] of the fastest.
  algorithms: the n_algorithms names, in the row order of rho.
  workloads: the workloads that have a target of this split.
  """

  split: str
  taus: np.ndarray
  rho: np.ndarray
  algorithms: tuple[str, ...]
  workloads: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ScoringResult:
  """Everything the report shows. Each frame's columns are documented where it is built:

  experiment_dir: the tree scored; config: the settings asked for; rules: the rule set in
    force (its target source, multi-trial rule and past-budget handling, overrides).
  trials: one row per trial directory, main tree and references
    (:func:`scoring_ext.read.logs.load_trials`).
  issues: the audit's findings, in the order found (:class:`scoring_ext.findings.Issue`).
  budgets: float Series indexed by workload, named 'budget': seconds under time, steps under
    step (:func:`scoring_ext.budgets.workload_budgets`).
  targets: one row per (workload, split) (:data:`scoring_ext.compute.targets.TARGET_COLUMNS`).
  target_medians: with derived targets, one row per (workload, split, algorithm): the median
    behind the target (:func:`scoring_ext.compute.targets.derive_targets`); empty otherwise.
  per_trial: one row per scored trial and target split
    (:func:`scoring_ext.compute.time_to_target.trial_times_to_target`).
  per_study_detail: one row per study and split, with the trial the multi-trial rule chose
    (:func:`scoring_ext.compute.time_to_target.study_times_to_target`); per_study: its
    columns algorithm, workload, split, study, time_to_target.
  medians: one row per (algorithm, workload, split): the median over studies
    (:func:`scoring_ext.compute.time_to_target.median_times_to_target`).
  scores: one row per (algorithm, split) (:func:`score_table`).
  profiles: split -> :class:`Profile`, in the order of the target splits.
  quality: one row per (algorithm, workload, quantity)
    (:func:`scoring_ext.compute.quality.summarize_quality`), with ci_low, ci_high when
    bootstrapped.
  prompt: with both VeLO prompts, one row per (workload, split)
    (:func:`scoring_ext.compute.prompt.prompt_sensitivity`); else None.
  algorithms, workloads: the names scored, sorted (references as ``<label>/<algorithm>``).
  references: one row per reference (tree, algorithm, workload)
    (:data:`scoring_ext.read.references.REFERENCE_COLUMNS`); None without references.
  short_of_step_budget: under step, the trials that stopped before the step budget
    (:func:`scoring_ext.budgets.stopped_before_step_budget`); None under time.
  stopped_early: the trials that stopped before the end of their budget, either condition
    (:data:`scoring_ext.budgets.STOPPED_EARLY_COLUMNS`).
  """

  experiment_dir: str
  config: ScoringConfig
  rules: rules_lib.Rules
  trials: pd.DataFrame
  issues: tuple[Issue, ...]
  budgets: pd.Series
  targets: pd.DataFrame
  target_medians: pd.DataFrame
  per_trial: pd.DataFrame
  per_study_detail: pd.DataFrame
  per_study: pd.DataFrame
  medians: pd.DataFrame
  scores: pd.DataFrame
  profiles: dict[str, Profile]
  quality: pd.DataFrame
  prompt: pd.DataFrame | None
  algorithms: tuple[str, ...]
  workloads: tuple[str, ...]
  references: pd.DataFrame | None
  short_of_step_budget: pd.DataFrame | None
  stopped_early: pd.DataFrame

  @property
  def condition(self) -> str:
    return self.config.condition

  @property
  def max_tau(self) -> float:
    return self.config.max_tau

  @property
  def budget_fraction(self) -> float:
    return self.config.budget_fraction

  @property
  def target_source(self) -> str:
    return self.rules.target_source

  @property
  def trial_rule(self) -> str:
    return self.rules.trial_rule

  @property
  def past_budget(self) -> str:
    return self.rules.past_budget


def check_settings(config: ScoringConfig, in_force: rules_lib.Rules) -> None:
  """BenchError naming the flag of the first setting out of range, before any file is read."""
  budgets_lib.clock_column(config.condition)
  if in_force.trial_rule not in ttt.TRIAL_RULES:
    raise BenchError(
      f'--trial_rule must be one of {", ".join(ttt.TRIAL_RULES)}, got {in_force.trial_rule!r}'
    )
  if in_force.past_budget not in ttt.PAST_BUDGET:
    raise BenchError(
      f'--past_budget must be one of {", ".join(ttt.PAST_BUDGET)}, got {in_force.past_budget!r}'
    )
  if in_force.target_source not in TARGET_SOURCES:
    raise BenchError(
      f'--targets must be one of {", ".join(TARGET_SOURCES)}, got {in_force.target_source!r}'
    )
  if not 0 < config.budget_fraction <= 1:
    raise BenchError(f'--budget_fraction must be in (0, 1], got {config.budget_fraction}')
  if not config.max_tau > 1:
    raise BenchError(f'--max_tau must be > 1, got {config.max_tau}')
  n_bootstrap = config.n_bootstrap
  if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)):
    raise BenchError(f'--bootstrap must be a whole number of replicates, got {n_bootstrap!r}')
  if not 0 <= n_bootstrap <= bootstrap.MAX_REPLICATES:
    raise BenchError(
      f'--bootstrap must be between 0 and {bootstrap.MAX_REPLICATES} replicates, got '
      f'{n_bootstrap} (95% intervals are stable from about 2000)'
    )


def check_conditions(trials: pd.DataFrame, condition: str, allow_other: bool = False) -> list:
  """Refuse trials that ran under the other condition (BenchError naming them; with
  `allow_other`, a warning instead); notes on how the condition was known."""
  known = trials[trials['condition'] != '']
  other = known[known['condition'] != condition]
  how = {
    'recorded': 'trial_complete.json field condition',
    'inferred': 'a step budget, no time limit',
  }
  if len(other):
    shown = '; '.join(
      f'{r.path} ({how[r.condition_source]}: {r.condition})' for r in other.head(3).itertuples()
    )
    more = f' and {len(other) - 3} more' if len(other) > 3 else ''
    found = (
      f'--condition {condition}: {len(other)} trial(s) ran under {other["condition"].iloc[0]} '
      f'control: {shown}{more}'
    )
    if not allow_other:
      raise BenchError(
        f"{found}; score each condition's tree with its own --condition (or pass "
        '--allow_other_condition to score it anyway)'
      )
    issues = [Issue('warning', 'all trials', f'{found}; scored anyway (--allow_other_condition)')]
  else:
    issues = []
  unknown = int((trials['condition'] == '').sum())
  if not unknown:
    return issues
  return issues + [
    Issue(
      'note',
      'all trials' if unknown == len(trials) else f'{unknown} trial(s)',
      'the condition a trial ran under is not recorded (trial_complete.json without '
      f'"condition", an older tree or the official logs); taken to be {condition}',
    )
  ]


def score_table(
  medians: pd.DataFrame,
  per_study: pd.DataFrame,
  split: str,
  algorithms,
  workloads,
  max_tau: float,
  n_bootstrap: int,
  rng: np.random.Generator,
) -> tuple[pd.DataFrame, Profile]:
  """Score B of each algorithm on the targets of one split, and the profile behind it.

  The frame has one row per algorithm, in the order of `algorithms`:

  - ``algorithm`` (str), ``split`` (str: 'train' or 'validation');
  - ``score`` (float in [0, 1]): B, the area under the algorithm's profile over
    [1, max_tau] divided by max_tau - 1 (:mod:`scoring_ext.compute.profiles`);
  - with `n_bootstrap` > 0, ``ci_low``, ``ci_high`` (float): the 95% percentile interval of B
    over replicates resampling each (algorithm, workload)'s studies
    (:func:`scoring_ext.compute.bootstrap.score_intervals`).
  """
  algorithms, workloads = tuple(algorithms), tuple(workloads)
  times = ttt.times_table(medians, split, algorithms, workloads)
  ratios = profiles.performance_ratios(times.to_numpy(), max_tau)
  taus = profiles.tau_grid(max_tau)
  rho = profiles.performance_profile(ratios, taus)
  table = pd.DataFrame(
    {
      'algorithm': list(algorithms),
      'split': split,
      'score': profiles.score_from_ratios(ratios, max_tau),
    },
    columns=SCORE_COLUMNS,
  )
  if n_bootstrap:
    split_studies = per_study[per_study['split'] == split]
    ci = bootstrap.score_intervals(split_studies, algorithms, workloads, max_tau, n_bootstrap, rng)
    table = table.merge(ci, on='algorithm')
  return table, Profile(split, taus, rho, algorithms, workloads)


def score_experiment(experiment_dir: str, config: ScoringConfig) -> ScoringResult:
  """Score the tree at `experiment_dir` under `config`. Raises BenchError on bad input.

  The settings are checked before any file is read. Reference trees
  (``config.reference_dirs``) are scored as extra algorithms under the main tree's budgets.
  Trials that ran under the other condition are refused unless
  ``config.allow_other_condition``.
  """
  in_force = config.rules_in_force()
  check_settings(config, in_force)
  condition = config.condition
  for path in config.reference_hardware:
    references.read_hardware_file(path)
  experiment = logs.load_experiment(experiment_dir, config.algorithms, config.workloads)
  main_trials = experiment.trials
  issues = list(experiment.issues) + logs.completion_issues(main_trials)
  issues += check_conditions(main_trials, condition, config.allow_other_condition)
  clock = budgets_lib.clock_column(condition)
  budgets, budget_issues = budgets_lib.workload_budgets(
    main_trials, condition, config.budgets_override
  )
  issues += budget_issues
  reference_table = None
  if config.reference_dirs:
    loaded, reference_table, reference_issues = references.load_references(
      config.reference_dirs,
      config.reference_hardware,
      sorted(budgets.index),
      condition,
      config.allow_mixed_hardware,
      first_trial_id=len(main_trials),
    )
    issues += reference_issues
    for spec, reference in zip(config.reference_dirs, loaded):
      issues += logs.completion_issues(reference.trials, f'--reference {spec}')
    experiment = references.combine(experiment, loaded)
  trials, evals = experiment.trials, experiment.evals
  short = None
  if condition == 'step':
    short = budgets_lib.stopped_before_step_budget(trials, evals, budgets)
    issues += budgets_lib.step_budget_issues(short)
    early = budgets_lib.as_stopped_early(short)
  else:
    early = budgets_lib.stopped_before_time_budget(trials, evals, budgets)
    issues += budgets_lib.time_budget_issues(early)
  wl_metric = targets_lib.workload_metrics(trials)
  for metric in set(wl_metric):
    try:
      catalogue.metric_direction(metric)
    except ValueError as e:  # a metric name the table does not know
      raise BenchError(f'meta_data_0.json workload.target_metric_name: {e}') from None

  selected = targets_lib.selected_trial_ids(evals, trials, budgets, clock)
  target_medians = pd.DataFrame(columns=targets_lib.TARGET_MEDIAN_COLUMNS)
  if in_force.target_source == 'derived':
    targets, target_medians, target_issues = targets_lib.derive_targets(
      evals, trials, budgets, clock, config.budget_fraction, selected=selected
    )
    issues += target_issues
  elif in_force.target_source == 'paper':
    targets = targets_lib.paper_targets(trials, condition, stand_ins=config.paper_stand_ins)
  else:
    targets = targets_lib.algoperf_targets(trials)
    issues.append(
      Issue('note', 'targets', 'AlgoPerf defines validation targets only; no train scores')
    )

  per_trial = ttt.trial_times_to_target(
    evals, trials, targets, budgets, clock, in_force.past_budget
  )
  per_study_detail = ttt.study_times_to_target(per_trial, in_force.trial_rule)
  per_study = per_study_detail[ttt.STUDY_KEYS + ['time_to_target']]
  medians = ttt.median_times_to_target(per_study)

  algorithm_names = tuple(sorted(trials['algorithm'].unique()))
  workload_names = tuple(sorted(wl_metric.index))
  rng = np.random.default_rng(config.seed)
  score_parts, profile_data = [], {}
  for split in dict.fromkeys(targets['split']):
    split_workloads = sorted(targets.loc[targets['split'] == split, 'workload'])
    table, profile_data[split] = score_table(
      medians,
      per_study,
      split,
      algorithm_names,
      split_workloads,
      config.max_tau,
      config.n_bootstrap,
      rng,
    )
    score_parts.append(table)
  scores = pd.concat(score_parts, ignore_index=True)

  finals = quality.final_values(
    evals, trials, budgets, clock, selected, wl_metric, stopped_early=early['trial_id']
  )
  quality_table = quality.summarize_quality(finals)
  if config.n_bootstrap:
    quality_table = quality_table.merge(
      bootstrap.quality_intervals(finals, config.n_bootstrap, rng),
      on=['algorithm', 'workload', 'quantity'],
      how='left',
    )
  prompt_table = (
    prompt.prompt_sensitivity(medians) if prompt.has_prompt_pair(algorithm_names) else None
  )
  return ScoringResult(
    experiment_dir=experiment_dir,
    config=config,
    rules=in_force,
    trials=trials,
    issues=tuple(issues),
    budgets=budgets,
    targets=targets,
    target_medians=target_medians,
    per_trial=per_trial,
    per_study_detail=per_study_detail,
    per_study=per_study,
    medians=medians,
    scores=scores,
    profiles=profile_data,
    quality=quality_table,
    prompt=prompt_table,
    algorithms=algorithm_names,
    workloads=workload_names,
    references=reference_table,
    short_of_step_budget=short,
    stopped_early=early,
  )
