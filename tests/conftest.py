"""Shared test setup: fixture modules importable, a tiny workload registered on demand."""

import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / 'fixtures'
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(FIXTURES))


@pytest.fixture
def tiny_workload(monkeypatch):
  """Registers ``tiny_mini`` (logistic regression on the digits) and returns its name."""
  from local_runner import workloads

  monkeypatch.setitem(workloads.EMBEDDED_WORKLOADS, 'tiny_mini', 'tiny_workload:TinyWorkload')
  return 'tiny_mini'
