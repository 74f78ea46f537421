"""Rule sets: the scoring settings that go together, chosen by one switch (``--rules``).

- ``study`` (default): the study's protocol: targets derived from the runs (``derived``),
  a study's time is its earliest over its trials (``earliest``), evaluations past the budget
  reach nothing (``drop``).
- ``algoperf``: AlgoPerf's scoring code (``scoring/performance_profile.py`` at commit
  2c90454f): each workload's own ``validation_target_value`` (``algoperf``), AlgoPerf's
  multi-trial rule (``algoperf``: the trial whose evaluation index reaches the target first),
  and every logged evaluation counts (``keep``). On AlgoPerf's logs it gives AlgoPerf's
  times to target exactly.

A setting given on its own (``--targets``, ``--trial_rule``, ``--past_budget``) overrides the
set's; the report says which set was used, where it differs from the other set, and what
was overridden.
"""

from __future__ import annotations

import dataclasses

from bench_core.errors import BenchError

#: name -> {setting: value}; the settings are score_experiment's keyword names.
RULE_SETS = {
  'study': {'target_source': 'derived', 'trial_rule': 'earliest', 'past_budget': 'drop'},
  'algoperf': {'target_source': 'algoperf', 'trial_rule': 'algoperf', 'past_budget': 'keep'},
}
#: setting -> the command-line flag that overrides it.
FLAGS = {'target_source': '--targets', 'trial_rule': '--trial_rule', 'past_budget': '--past_budget'}
DESCRIPTIONS = {
  'study': "the study's protocol",
  'algoperf': "AlgoPerf's scoring code (scoring/performance_profile.py)",
}


@dataclasses.dataclass(frozen=True)
class Rules:
  """The settings in force: the set they came from and those overridden one by one."""

  name: str
  target_source: str
  trial_rule: str
  past_budget: str
  overridden: tuple[str, ...] = ()

  def settings(self) -> dict:
    return {key: getattr(self, key) for key in FLAGS}

  def describe(self) -> str:
    """One sentence for the report: the set, where it differs from the other, overrides."""
    other = next(n for n in RULE_SETS if n != self.name)
    differs = [
      f'{FLAGS[k]} {v} (`{other}`: {RULE_SETS[other][k]})'
      for k, v in RULE_SETS[self.name].items()
      if RULE_SETS[other][k] != v
    ]
    text = f'`{self.name}`, {DESCRIPTIONS[self.name]}; differs from `{other}` in ' + ', '.join(
      differs
    )
    if self.overridden:
      changes = [f'{FLAGS[k]} {getattr(self, k)}' for k in self.overridden]
      text += '; overridden here: ' + ', '.join(changes)
    return text


def resolve(name: str, **given) -> Rules:
  """The rules of set `name`, with each setting of `given` that is not None in its place.

  Raises BenchError for an unknown set.
  """
  if name not in RULE_SETS:
    raise BenchError(f'--rules must be one of {", ".join(RULE_SETS)}, got {name!r}')
  unknown = set(given) - set(FLAGS)
  if unknown:
    raise ValueError(f'unknown rule settings {sorted(unknown)}')
  chosen = dict(RULE_SETS[name])
  overridden = []
  for key, value in given.items():
    if value is not None and value != chosen[key]:
      chosen[key] = value
      overridden.append(key)
  return Rules(name, **chosen, overridden=tuple(overridden))
