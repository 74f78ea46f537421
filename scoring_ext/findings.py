"""What the layers hand each other besides frames: the findings of the audit and the status
of a trial.

The reader (:mod:`scoring_ext.read.logs`) gives every trial directory a ``status``; the
arithmetic (:mod:`scoring_ext.compute`) scores the trials whose status is in
:data:`SCORED_STATUSES`; the renderers (:mod:`scoring_ext.render`) list the rest. Each layer
records what it finds but does not stop the scoring as an :class:`Issue`.
"""

from __future__ import annotations

import dataclasses

#: The status of a trial that ran and logged no evaluation: a miss.
MISS_STATUS = 'no_evals'
#: Statuses of the trials that are scored (with evaluations, or as a miss).
SCORED_STATUSES = ('ok', MISS_STATUS)
#: Statuses of the trials left out as damaged.
DAMAGE_STATUSES = (
  'bad_clock',
  'contradicts_record',
  'bad_csv',
  'bad_columns',
  'no_metric',
  'empty',
)
#: Levels of an :class:`Issue`, most serious first.
LEVELS = ('error', 'warning', 'note')


@dataclasses.dataclass(frozen=True)
class Issue:
  """One finding of the audit.

  level: 'error', 'warning' (printed on the console and counted) or 'note' (audit.md only);
  where: the file, trial folder, workload or 'all trials' it is about;
  message: a sentence that says what was found and what the scoring did about it.
  """

  level: str
  where: str
  message: str
