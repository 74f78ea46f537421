"""bench_core.file_formats: every kind round-trips, refuses the other kinds by name, and names a
malformed field; files of older versions (no kind field) still load; the budgets the transfer
writes reach the report."""

import json
import re

import pandas as pd
import pytest
from scoring_helpers import generate_tree

from bench_core import cli, file_formats
from bench_core.errors import BenchError
from bench_core.file_formats import (
  ConditionBudgets,
  Diverged,
  HardwareEntry,
  Measured,
  Measurement,
  ReferenceBudget,
  StepBudget,
  TimeBudget,
  TrialComplete,
)
from hardware_transfer import files, transfer
from scoring_ext import report
from study import budgets as study_budgets

# One value of every kind, written by its dump and read back by its load.
SAMPLES = {
  file_formats.TIME_BUDGETS: (
    file_formats.dump_time_budgets,
    file_formats.load_time_budgets,
    {'ogbg_mini': TimeBudget(14, 0.7, 0.0098, 0.014, 1), 'criteo1tb': TimeBudget(3600.5)},
  ),
  file_formats.STEP_BUDGETS: (
    file_formats.dump_step_budgets,
    file_formats.load_step_budgets,
    {'ogbg': StepBudget(80_000, 'the study'), 'wmt': StepBudget(133_000)},
  ),
  file_formats.CONDITION_BUDGETS: (
    file_formats.dump_condition_budgets,
    file_formats.load_condition_budgets,
    ConditionBudgets({'ogbg': TimeBudget(60)}, {'ogbg': StepBudget(8)}),
  ),
  file_formats.REFERENCE_BUDGETS: (
    file_formats.dump_reference_budgets,
    file_formats.load_reference_budgets,
    {
      'ogbg': ReferenceBudget('nesterov', Measurement(80_000, 18477), source='v0.5'),
      'ogbg_mini': ReferenceBudget('nesterov', Measurement(1431, 20.0), measured_on='2 cores'),
    },
  ),
  file_formats.MEASUREMENTS: (
    file_formats.dump_measurements,
    file_formats.load_measurements,
    {'ogbg': Measured(Measurement(4000, 460.0), 2)},
  ),
  file_formats.VELO_PROBES: (
    file_formats.dump_velo_probes,
    file_formats.load_velo_probes,
    {'ogbg': [Measurement(100, 75.0), Measurement(120, 88.5)]},
  ),
  file_formats.ACTUAL_STEPS: (
    file_formats.dump_actual_steps,
    file_formats.load_actual_steps,
    {'ogbg': 79_123},
  ),
  file_formats.HARDWARE: (
    file_formats.dump_hardware,
    file_formats.load_hardware,
    {'ogbg': HardwareEntry(0.12, 0.2)},
  ),
  file_formats.TRIAL_COMPLETE: (
    file_formats.dump_trial_complete,
    file_formats.load_trial_complete,
    TrialComplete(
      'local',
      num_evals=3,
      global_step=40,
      score=12.5,
      is_time_remaining=False,
      stop_reason='time budget spent',
      condition='time',
      max_allowed_runtime_sec=20.0,
    ),
  ),
  file_formats.DIVERGED: (
    file_formats.dump_diverged,
    file_formats.load_diverged,
    Diverged(7, 'loss nan'),
  ),
}

#: Kinds one loader accepts besides its own: the transfer's time budgets are a hardware file.
ALSO_ACCEPTED = {file_formats.HARDWARE: {file_formats.TIME_BUDGETS}}


def written(tmp_path, kind):
  dump, _, value = SAMPLES[kind]
  path = tmp_path / f'{kind}.json'
  dump(path, value)
  return path


@pytest.mark.parametrize('kind', sorted(SAMPLES))
def test_round_trip_writes_the_kind(tmp_path, kind):
  _, load, value = SAMPLES[kind]
  path = written(tmp_path, kind)
  assert json.loads(path.read_text())['kind'] == kind
  assert load(path) == value


@pytest.mark.parametrize(
  'given, expected',
  [
    (g, e)
    for g in sorted(SAMPLES)
    for e in sorted(SAMPLES)
    if g != e and g not in ALSO_ACCEPTED.get(e, ())
  ],
)
def test_a_file_of_another_kind_is_refused_by_name(tmp_path, given, expected):
  path = written(tmp_path, given)
  load = SAMPLES[expected][1]
  with pytest.raises(BenchError) as e:
    load(path)
  message = str(e.value)
  assert message.startswith(f'{path}: this is a {file_formats.KINDS[given]}')
  assert f'expected a {file_formats.KINDS[expected]}' in message


@pytest.mark.parametrize(
  'given, expected',
  [
    # older files, without the kind field: recognised by their shape
    ({'ogbg': {'steps': 80_000, 'source': 'x'}}, file_formats.TIME_BUDGETS),
    ({'ogbg': {'max_allowed_runtime_sec': 14, 'factor': 0.7}}, file_formats.STEP_BUDGETS),
    ({'ogbg': {'algorithm': 'nesterov', 'steps': 1, 'runtime_sec': 2}}, file_formats.TIME_BUDGETS),
    ({'ogbg': {'steps': 1, 'runtime_sec': 2, 'num_gpus': 1}}, file_formats.VELO_PROBES),
    ({'ogbg': [{'steps': 1, 'runtime_sec': 2}]}, file_formats.MEASUREMENTS),
    ({'time': {'ogbg': 5}}, file_formats.TIME_BUDGETS),
    ({'runner': 'local', 'num_evals': 2}, file_formats.STEP_BUDGETS),
    ({'ogbg': 5}, file_formats.REFERENCE_BUDGETS),
  ],
)
def test_an_older_file_of_another_kind_is_refused_or_named(tmp_path, given, expected):
  path = tmp_path / 'old.json'
  path.write_text(json.dumps(given))
  with pytest.raises(BenchError, match=re.escape(str(path))) as e:
    SAMPLES[expected][1](path)
  # bare numbers are the older form of several kinds: a field error, not a kind error
  kind_error = f'expected a {file_formats.KINDS[expected]}' in str(e.value)
  assert kind_error or 'field' in str(e.value)


@pytest.mark.parametrize(
  'kind, data, field',
  [
    (file_formats.TIME_BUDGETS, {'ogbg': {'max_allowed_runtime_sec': 'soon'}}, 'ogbg.max_'),
    (file_formats.TIME_BUDGETS, {'ogbg': 1e30}, 'ogbg'),
    (file_formats.STEP_BUDGETS, {'ogbg': {'steps': 2.5}}, 'ogbg.steps'),
    (file_formats.CONDITION_BUDGETS, {'time': {'ogbg': -1}, 'step': {}}, 'time.ogbg'),
    (
      file_formats.REFERENCE_BUDGETS,
      {'ogbg': {'algorithm': '', 'steps': 1, 'runtime_sec': 1}},
      'ogbg.algorithm',
    ),
    (
      file_formats.MEASUREMENTS,
      {'ogbg': {'steps': 1, 'runtime_sec': 1, 'num_gpus': 0}},
      'ogbg.num_gpus',
    ),
    (file_formats.VELO_PROBES, {'ogbg': [{'steps': 1, 'runtime_sec': 0}]}, 'ogbg[0].runtime_sec'),
    (file_formats.ACTUAL_STEPS, {'ogbg': 'many'}, 'ogbg'),
    (
      file_formats.HARDWARE,
      {'ogbg': {'local_time_per_step': 1, 'reference_time_per_step': None}},
      'ogbg.reference_time_per_step',
    ),
    (file_formats.TRIAL_COMPLETE, {'runner': 'local', 'num_evals': 'three'}, 'num_evals'),
    (file_formats.TRIAL_COMPLETE, {'runner': 'local', 'condition': 'wall'}, 'condition'),
    (file_formats.DIVERGED, {'global_step': -1, 'reason': 'nan'}, 'global_step'),
  ],
)
def test_a_malformed_field_is_named(tmp_path, kind, data, field):
  path = tmp_path / 'bad.json'
  path.write_text(json.dumps({'kind': kind, **data}))
  with pytest.raises(
    BenchError, match=f'{re.escape(str(path))}: field {re.escape(repr(field))[:-1]}'
  ):
    SAMPLES[kind][1](path)


def test_unknown_kind_and_empty_files_are_refused(tmp_path):
  path = tmp_path / 'x.json'
  path.write_text(json.dumps({'kind': 'budgetz', 'ogbg': 5}))
  with pytest.raises(
    BenchError, match="field 'kind' is 'budgetz', not a known kind; expected a time"
  ):
    file_formats.load_time_budgets(path)
  path.write_text(json.dumps({'kind': 'step_budgets'}))
  with pytest.raises(BenchError, match='no workloads in the step budgets file'):
    file_formats.load_step_budgets(path)


def test_files_of_older_versions_still_load(tmp_path):
  """The layouts written before the kind field: the transfer's objects, bare numbers, the
  scorer's two sections, records without a condition."""
  old = {
    'budgets.json': {'ogbg_mini': {'max_allowed_runtime_sec': 14, 'factor': 0.7, 'num_gpus': 1}},
    'flat.json': {'ogbg_mini': 60},
    'both.json': {'time': {'ogbg_mini': 60}, 'step': {'ogbg_mini': 8}},
    'steps.json': {'ogbg_mini': 8},
    'record.json': {'runner': 'official', 'num_evals': 2, 'global_step': 9, 'score': 3.5},
    'diverged.json': {'global_step': 7, 'reason': 'nan'},
    'probes.json': {'ogbg': {'steps': 10, 'runtime_sec': 2.0}},
  }
  for name, data in old.items():
    (tmp_path / name).write_text(json.dumps(data))
  assert file_formats.load_time_budgets(tmp_path / 'budgets.json') == {
    'ogbg_mini': TimeBudget(14, 0.7, num_gpus=1)
  }
  assert file_formats.load_time_budgets(tmp_path / 'flat.json') == {'ogbg_mini': TimeBudget(60)}
  assert file_formats.load_step_budgets(tmp_path / 'steps.json') == {'ogbg_mini': StepBudget(8)}
  assert file_formats.load_actual_steps(tmp_path / 'steps.json') == {'ogbg_mini': 8}
  for name, condition, expected in [
    ('budgets.json', 'time', 14.0),
    ('flat.json', 'time', 60.0),
    ('flat.json', 'step', 60.0),
    ('both.json', 'time', 60.0),
    ('both.json', 'step', 8.0),
  ]:
    got = file_formats.load_budgets_of_condition(tmp_path / name, condition)
    assert got == {'ogbg_mini': expected}, (name, condition)
  record = file_formats.load_trial_complete(tmp_path / 'record.json')
  assert (record.runner, record.num_evals, record.condition) == ('official', 2, None)
  assert file_formats.load_diverged(tmp_path / 'diverged.json') == Diverged(7, 'nan')
  assert file_formats.load_velo_probes(tmp_path / 'probes.json') == {'ogbg': [Measurement(10, 2.0)]}


def test_the_built_in_tables_carry_their_kind_and_load_without_it(tmp_path):
  for path, load in [
    (files.BUILTIN_REFERENCE, file_formats.load_reference_budgets),
    (files.BUILTIN_STEP_BUDGETS, file_formats.load_step_budgets),
  ]:
    data = json.loads(path.read_text())
    assert data['kind'] in file_formats.KINDS
    older = tmp_path / path.name
    older.write_text(json.dumps({k: v for k, v in data.items() if k != 'kind'}))
    assert load(older) == load(path)
  with pytest.raises(BenchError, match='expected a time budgets file'):
    file_formats.load_time_budgets(files.BUILTIN_STEP_BUDGETS)


# ---- the budgets the transfer writes, in every reader ---------------------------------------


@pytest.fixture
def transferred(tmp_path):
  """The time budgets `python -m hardware_transfer.transfer` writes: ogbg_mini measured at
  1431 steps in 2500 s against the reference's 1431 steps in 20 s, a budget of 2500 s."""
  measured = tmp_path / 'measured.json'
  file_formats.dump_measurements(measured, {'ogbg_mini': Measured(Measurement(1431, 2500), 1)})
  out = tmp_path / 'budgets.json'
  assert cli.run_main(transfer.main, ['--measured', str(measured), '--out', str(out)]) == 0
  return out


def test_the_transferred_budgets_reach_every_reader(transferred):
  assert study_budgets.time_budget('ogbg_mini', str(transferred)) == 2500
  assert file_formats.load_budgets_of_condition(transferred, 'time') == {'ogbg_mini': 2500.0}
  assert file_formats.load_hardware(transferred)['ogbg_mini'].factor == pytest.approx(125.0)
  with pytest.raises(BenchError, match=f'{re.escape(str(transferred))}: this is a time budgets'):
    study_budgets.step_budget('ogbg_mini', str(transferred))


def test_the_report_uses_the_transferred_budgets_and_refuses_other_kinds(
  transferred, tmp_path, capsys
):
  tree = tmp_path / 'experiment'
  generate_tree(str(tree), n_algorithms=2, workloads=['ogbg_mini'], n_studies=2, n_evals=30)
  argv = ['--experiment_dir', str(tree), '--condition', 'time']
  assert cli.run_main(report.main, argv + ['--out', str(tmp_path / 'logged')]) == 0
  assert (
    cli.run_main(
      report.main, argv + ['--out', str(tmp_path / 'moved'), '--budgets', str(transferred)]
    )
    == 0
  )
  capsys.readouterr()
  logged = (tmp_path / 'logged' / 'audit.md').read_text()
  audit = (tmp_path / 'moved' / 'audit.md').read_text()
  budgets_table = audit.split('## Budgets')[1].split('##')[0]
  assert '2500' in budgets_table and '5000' not in budgets_table
  assert '5000' in logged.split('## Budgets')[1].split('##')[0]
  assert 'time budget 2500 from --budgets; the logs say 5000' in audit
  # the report is scored under them: targets are derived at 0.75 of 2500 s, not of 5000 s
  targets = {
    name: pd.read_csv(tmp_path / name / 'targets.csv').set_index('split')['target']
    for name in ('logged', 'moved')
  }
  assert (targets['moved'] < targets['logged']).all()

  for wrong, condition, expected in [
    (files.BUILTIN_STEP_BUDGETS, 'time', 'a time budgets file'),
    (transferred, 'step', 'a step budgets file'),
    (files.BUILTIN_REFERENCE, 'time', 'a time budgets file'),
  ]:
    argv = ['--experiment_dir', str(tree), '--condition', condition, '--budgets', str(wrong)]
    assert cli.run_main(report.main, argv + ['--out', str(tmp_path / 'no')]) == cli.INPUT_ERROR_EXIT
    err = capsys.readouterr().err
    assert err.startswith(f'error: {wrong}: this is a ') and f'expected {expected}' in err
    assert 'Traceback' not in err
  assert not (tmp_path / 'no').exists()


def test_a_request_is_compared_with_the_fields_the_record_holds(tmp_path):
  """A field recorded as null is compared (the run had no step cap); one an older record
  lacks is not."""
  request = {'max_allowed_runtime_sec': 20, 'max_global_steps': 100}
  file_formats.mark_complete(tmp_path, TrialComplete('local', max_allowed_runtime_sec=20.0))
  assert file_formats.request_mismatches(tmp_path, request, None) == [
    'max_global_steps: ran with None, requested 100'
  ]
  (tmp_path / 'trial_complete.json').write_text(
    json.dumps({'runner': 'local', 'max_allowed_runtime_sec': 30})
  )
  assert file_formats.request_mismatches(tmp_path, request, None) == [
    'max_allowed_runtime_sec: ran with 30, requested 20'
  ]
