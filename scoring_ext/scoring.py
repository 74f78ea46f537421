"""The whole scoring pipeline on one experiment tree, as data (no files written).

settings checked (before any file is read) -> load (+ reference trees) -> the trials'
recorded condition checked -> budgets -> targets -> time to target (per trial, per study
under the multi-trial rule, median; a trial without evaluations is a miss) ->
ratios/profiles/score B -> quality at the budget -> prompt sensitivity -> (bootstrap
intervals).

The targets, the multi-trial rule and the handling of evaluations past the budget come from
a rule set (:mod:`scoring_ext.rules`, ``rules='study'`` or ``'algoperf'``); each can be
overridden on its own.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from bench_core import catalogue
from bench_core.errors import BenchError
from scoring_ext import audit, bootstrap, logs, profiles, prompt, quality, references
from scoring_ext import rules as rules_lib
from scoring_ext import budgets as budgets_lib
from scoring_ext import targets as targets_lib
from scoring_ext import time_to_target as ttt

TARGET_SOURCES = ('derived', 'paper', 'algoperf')


@dataclasses.dataclass
class ScoringResult:
  experiment_dir: str
  condition: str
  target_source: str
  max_tau: float
  budget_fraction: float
  trials: pd.DataFrame
  issues: list
  budgets: pd.Series
  targets: pd.DataFrame
  target_medians: pd.DataFrame
  per_trial: pd.DataFrame
  per_study: pd.DataFrame
  medians: pd.DataFrame
  scores: pd.DataFrame
  profiles: dict  # split -> (taus, rho, algorithms, workloads)
  quality: pd.DataFrame
  prompt: pd.DataFrame | None
  algorithms: list
  workloads: list
  trial_rule: str = 'earliest'
  past_budget: str = 'drop'
  per_study_detail: pd.DataFrame | None = None  # per_study with the chosen trial, n_trials
  references: pd.DataFrame | None = None  # references.REFERENCE_COLUMNS
  short_of_step_budget: pd.DataFrame | None = None
  stopped_early: pd.DataFrame | None = None  # budgets.STOPPED_EARLY_COLUMNS, either condition
  rules: rules_lib.Rules | None = None


def check_settings(
  condition,
  target_source,
  budget_fraction,
  max_tau,
  n_bootstrap,
  trial_rule='earliest',
  past_budget='drop',
):
  budgets_lib.clock_column(condition)
  if trial_rule not in ttt.TRIAL_RULES:
    raise BenchError(
      f'--trial_rule must be one of {", ".join(ttt.TRIAL_RULES)}, got {trial_rule!r}'
    )
  if past_budget not in ttt.PAST_BUDGET:
    raise BenchError(
      f'--past_budget must be one of {", ".join(ttt.PAST_BUDGET)}, got {past_budget!r}'
    )
  if target_source not in TARGET_SOURCES:
    raise BenchError(f'--targets must be one of {", ".join(TARGET_SOURCES)}, got {target_source!r}')
  if not 0 < budget_fraction <= 1:
    raise BenchError(f'--budget_fraction must be in (0, 1], got {budget_fraction}')
  if not max_tau > 1:
    raise BenchError(f'--max_tau must be > 1, got {max_tau}')
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
    issues = [
      logs.Issue('warning', 'all trials', f'{found}; scored anyway (--allow_other_condition)')
    ]
  else:
    issues = []
  unknown = int((trials['condition'] == '').sum())
  if not unknown:
    return issues
  return issues + [
    logs.Issue(
      'note',
      'all trials' if unknown == len(trials) else f'{unknown} trial(s)',
      'the condition a trial ran under is not recorded (trial_complete.json without '
      f'"condition", an older tree or the official logs); taken to be {condition}',
    )
  ]


def score_table(medians, per_study, split, algorithms, workloads, max_tau, n_bootstrap, rng):
  """Score B per algorithm for one split (+ CI columns when bootstrapping)."""
  times = ttt.times_table(medians, split, algorithms, workloads)
  ratios = profiles.performance_ratios(times.to_numpy(), max_tau)
  taus = profiles.tau_grid(max_tau)
  rho = profiles.performance_profile(ratios, taus)
  table = pd.DataFrame(
    {'algorithm': algorithms, 'split': split, 'score': profiles.score_from_ratios(ratios, max_tau)}
  )
  if n_bootstrap:
    split_studies = per_study[per_study['split'] == split]
    ci = bootstrap.score_intervals(split_studies, algorithms, workloads, max_tau, n_bootstrap, rng)
    table = table.merge(ci, on='algorithm')
  return table, (taus, rho, algorithms, workloads)


def score_experiment(
  experiment_dir: str,
  condition: str,
  target_source: str | None = None,
  budget_fraction: float = 0.75,
  max_tau: float = 4.0,
  algorithms=None,
  workloads=None,
  budgets_override=None,
  n_bootstrap: int = 0,
  seed: int = 0,
  *,
  rules: str = 'study',
  trial_rule: str | None = None,
  past_budget: str | None = None,
  reference_dirs=(),
  reference_hardware=(),
  allow_mixed_hardware: bool = False,
  paper_stand_ins: bool = False,
  allow_other_condition: bool = False,
) -> ScoringResult:
  """Everything the report shows. Raises BenchError on bad input.

  `rules` names the rule set (:mod:`scoring_ext.rules`); `target_source`, `trial_rule` and
  `past_budget` override its settings when not None. `reference_dirs` are other experiment
  trees scored as extra algorithms (:mod:`scoring_ext.references`); the budgets come from
  the main tree. Trials that ran under the other condition are refused unless
  `allow_other_condition`.
  """
  in_force = rules_lib.resolve(
    rules, target_source=target_source, trial_rule=trial_rule, past_budget=past_budget
  )
  target_source, trial_rule, past_budget = (
    in_force.target_source,
    in_force.trial_rule,
    in_force.past_budget,
  )
  check_settings(
    condition, target_source, budget_fraction, max_tau, n_bootstrap, trial_rule, past_budget
  )
  for path in reference_hardware:
    references.read_hardware_file(path)
  experiment = logs.load_experiment(experiment_dir, algorithms, workloads)
  main_trials = experiment.trials
  issues = list(experiment.issues) + audit.completion_issues(main_trials)
  issues += check_conditions(main_trials, condition, allow_other_condition)
  clock = budgets_lib.clock_column(condition)
  budgets, budget_issues = budgets_lib.workload_budgets(main_trials, condition, budgets_override)
  issues += budget_issues
  reference_table = None
  if reference_dirs:
    loaded, reference_table, reference_issues = references.load_references(
      reference_dirs,
      reference_hardware,
      sorted(budgets.index),
      condition,
      allow_mixed_hardware,
      first_trial_id=len(main_trials),
    )
    issues += reference_issues
    for spec, reference in zip(reference_dirs, loaded):
      issues += audit.completion_issues(reference.trials, f'--reference {spec}')
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
  target_medians = pd.DataFrame(columns=['workload', 'split', 'algorithm', 'median_at_point'])
  if target_source == 'derived':
    targets, target_medians, target_issues = targets_lib.derive_targets(
      evals, trials, budgets, clock, budget_fraction, selected=selected
    )
    issues += target_issues
  elif target_source == 'paper':
    targets = targets_lib.paper_targets(trials, condition, stand_ins=paper_stand_ins)
  else:
    targets = targets_lib.algoperf_targets(trials)
    issues.append(
      logs.Issue('note', 'targets', 'AlgoPerf defines validation targets only; no train scores')
    )

  per_trial = ttt.trial_times_to_target(evals, trials, targets, budgets, clock, past_budget)
  per_study_detail = ttt.study_times_to_target(per_trial, trial_rule)
  per_study = per_study_detail[ttt.STUDY_KEYS + ['time_to_target']]
  medians = ttt.median_times_to_target(per_study)

  algorithm_names = sorted(trials['algorithm'].unique())
  workload_names = sorted(wl_metric.index)
  rng = np.random.default_rng(seed)
  score_parts, profile_data = [], {}
  for split in dict.fromkeys(targets['split']):
    split_workloads = sorted(targets.loc[targets['split'] == split, 'workload'])
    table, profile_data[split] = score_table(
      medians, per_study, split, algorithm_names, split_workloads, max_tau, n_bootstrap, rng
    )
    score_parts.append(table)
  scores = pd.concat(score_parts, ignore_index=True)

  finals = quality.final_values(
    evals, trials, budgets, clock, selected, wl_metric, stopped_early=early['trial_id']
  )
  quality_table = quality.summarize_quality(finals)
  if n_bootstrap:
    quality_table = quality_table.merge(
      bootstrap.quality_intervals(finals, n_bootstrap, rng),
      on=['algorithm', 'workload', 'quantity'],
      how='left',
    )
  prompt_table = (
    prompt.prompt_sensitivity(medians) if prompt.has_prompt_pair(algorithm_names) else None
  )
  return ScoringResult(
    experiment_dir=experiment_dir,
    condition=condition,
    target_source=target_source,
    max_tau=max_tau,
    budget_fraction=budget_fraction,
    trials=trials,
    issues=issues,
    budgets=budgets,
    targets=targets,
    target_medians=target_medians,
    per_trial=per_trial,
    per_study=per_study,
    medians=medians,
    scores=scores,
    profiles=profile_data,
    quality=quality_table,
    prompt=prompt_table,
    algorithms=algorithm_names,
    workloads=workload_names,
    trial_rule=trial_rule,
    past_budget=past_budget,
    per_study_detail=per_study_detail,
    references=reference_table,
    short_of_step_budget=short,
    stopped_early=early,
    rules=in_force,
  )
