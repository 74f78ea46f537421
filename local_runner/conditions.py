"""The study's two conditions as runner settings: time control and step control.

Step control gives every run the same number of steps (``max_global_steps``) and
no time limit; time control gives every run the workload's wall-clock budget
(possibly a hardware-transferred one) and no step limit.
"""

from __future__ import annotations

#: Step budgets of step control (protocol.md) for the official workloads.
OFFICIAL_STEP_BUDGETS = {'criteo1tb': 7_000, 'fastmri': 36_000, 'imagenet_resnet': 150_000,
                         'ogbg': 80_000}

#: Time budget used under step control: large enough never to bind.
UNLIMITED_TIME_SEC = 10**9

CONDITIONS = ('time', 'step')


def step_budget(workload_name: str) -> int:
  """Step-control budget: the protocol's for official workloads, ``step_hint`` for embedded ones."""
  if workload_name in OFFICIAL_STEP_BUDGETS:
    return OFFICIAL_STEP_BUDGETS[workload_name]
  from local_runner.workloads import get_workload

  return int(get_workload(workload_name).step_hint)


def runner_limits(condition: str, workload_name: str, time_budget_sec: float | None = None) -> dict:
  """``{'max_global_steps', 'max_allowed_runtime_sec'}`` for a condition (None: workload default)."""
  if condition == 'step':
    return {'max_global_steps': step_budget(workload_name),
            'max_allowed_runtime_sec': UNLIMITED_TIME_SEC}
  if condition == 'time':
    return {'max_global_steps': None, 'max_allowed_runtime_sec': time_budget_sec}
  raise ValueError(f'unknown condition {condition!r}; expected one of {CONDITIONS}')
