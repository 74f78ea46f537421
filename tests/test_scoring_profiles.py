"""Ratios, profiles and score B: hand-computed values, AlgoPerf's formula,
hypothesis properties, the `python -m scoring_ext.score_times` command, and the profile plot."""

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from matplotlib.figure import Figure

from bench_core import cli
from scoring_ext import score_times as profile_cli
from scoring_ext.compute import profiles
from scoring_ext.render import plots

INF = np.inf


def reference_algoperf_scores(times: np.ndarray, max_tau: float) -> np.ndarray:
  """Independent re-statement of AlgoPerf's rule with pandas, any number of workloads."""
  df = pd.DataFrame(times)
  best = df.min(axis=0)
  df = df.mask(df.gt(max_tau * best, axis=1), INF)
  df = df.div(df.min(axis=0), axis=1)
  taus = np.linspace(1, max_tau, 100)
  rho = np.stack([(df <= tau).sum(axis=1).to_numpy() / df.shape[1] for tau in taus], axis=1)
  area = ((rho[:, 1:] + rho[:, :-1]) / 2 * np.diff(taus)).sum(axis=1)
  return area / (max_tau - 1)


def test_ratios_to_fastest_with_cutoff_and_unsolved_workload():
  times = [[1.0, 10.0, INF], [2.0, 50.0, INF], [5.0, 10.0, INF]]
  np.testing.assert_array_equal(
    profiles.performance_ratios(times, 4.0), [[1.0, 1.0, INF], [2.0, INF, INF], [INF, 1.0, INF]]
  )


def test_zero_time_counts_as_tied_best():
  np.testing.assert_array_equal(
    profiles.performance_ratios([[0.0], [0.0], [1.0]], 4.0), [[1.0], [1.0], [INF]]
  )


def test_profile_counts_fraction_of_workloads():
  rho = profiles.performance_profile([[1.0, 2.5, INF]], [1.0, 2.0, 3.0])
  np.testing.assert_allclose(rho, [[1 / 3, 1 / 3, 2 / 3]])


@pytest.mark.parametrize(
  'times, expected',
  [
    # grid tau_k = 1 + 3k/99; ratio 2.5 is first reached at k = 50:
    # (49 * 0.5 + 0.75 + 49 * 1) * (3/99) / 3 = 74.25 / 99 = 0.75
    ([[1.0, 2.5], [2.5, 1.0]], [0.75, 0.75]),
    ([[1.0, 1.0], [1.0, 1.0]], [1.0, 1.0]),  # ties
    ([[1.0], [4.5]], [1.0, 0.0]),  # above max_tau
    ([[1.0], [4.0]], [1.0, 0.5 / 99]),  # exactly max_tau: last point only
    ([[1.0, INF], [2.5, INF]], [0.5, 24.75 / 99]),  # a workload nobody solves
    ([[INF, INF], [INF, INF]], [0.0, 0.0]),
  ],
)
def test_hand_computed_scores(times, expected):
  np.testing.assert_allclose(profiles.scores_from_times(times, 4.0), expected, atol=1e-12)


def test_scores_broadcast_over_leading_dimensions():
  times = np.array([[[1.0, 2.5], [2.5, 1.0]], [[1.0, 1.0], [2.0, 9.0]]])
  got = profiles.scores_from_times(times, 4.0)
  assert got.shape == (2, 2)
  np.testing.assert_allclose(got[0], [0.75, 0.75])


times_arrays = hnp.arrays(
  float,
  st.tuples(st.integers(1, 6), st.integers(1, 9)),
  elements=st.one_of(st.floats(0.5, 1e4), st.just(INF)),
)


@settings(max_examples=60, deadline=None)
@given(times_arrays, st.sampled_from([2.0, 3.0, 4.0, 7.5]))
def test_matches_algoperf_formula(times, max_tau):
  np.testing.assert_allclose(
    profiles.scores_from_times(times, max_tau),
    reference_algoperf_scores(times, max_tau),
    atol=1e-12,
  )


@settings(max_examples=60, deadline=None)
@given(times_arrays)
def test_score_is_in_unit_interval(times):
  scores = profiles.scores_from_times(times, 4.0)
  assert np.all((scores >= 0) & (scores <= 1))


@settings(max_examples=60, deadline=None)
@given(times_arrays, st.floats(0.1, 0.99))
def test_fastest_everywhere_scores_one(times, factor):
  fastest = np.where(np.isfinite(times.min(axis=0)), times.min(axis=0) * factor, 1.0)
  scores = profiles.scores_from_times(np.vstack([times, fastest]), 4.0)
  assert scores[-1] == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(times_arrays, st.floats(1.0, 10.0))
def test_adding_a_slower_algorithm_leaves_other_scores(times, factor):
  slower = times.min(axis=0) * factor + 1.0
  before = profiles.scores_from_times(times, 4.0)
  after = profiles.scores_from_times(np.vstack([times, slower]), 4.0)
  np.testing.assert_allclose(after[:-1], before, atol=1e-12)


def test_a_new_best_changes_others_scores():
  before = profiles.scores_from_times([[2.0, 2.0]], 4.0)
  after = profiles.scores_from_times([[2.0, 2.0], [1.0, 1.0]], 4.0)
  assert before[0] == 1.0 and after[0] < 1.0


def run_profile_cli(argv):
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = cli.run_main(profile_cli.main, argv)
  return code, out.getvalue(), err.getvalue()


def test_profile_cli_prints_scores(tmp_path):
  path = tmp_path / 'ttt.csv'
  path.write_text('algorithm,w1,w2,w3\na,1,2.5,inf\nb,2.5,1,inf\nc,inf,inf,inf\n')
  code, out, _ = run_profile_cli(['--time_to_target', str(path)])
  assert code == 0
  got = pd.read_csv(io.StringIO(out))
  assert list(got.columns) == ['algorithm', 'score']
  # each of a, b: 1/3 for tau < 2.5 and 2/3 after (k >= 50): (49/3 + 0.5 + 49*2/3) / 99
  expected = (49 / 3 + 0.5 + 98 / 3) / 99
  np.testing.assert_allclose(got['score'], [expected, expected, 0.0])


@pytest.mark.parametrize(
  'content, message',
  [
    ('name,w1\na,1\n', 'no column "algorithm"'),
    ('algorithm,w1\na,fast\n', "w1 of a is 'fast'"),
    ('algorithm\na\n', 'at least one workload'),
  ],
)
def test_profile_cli_bad_input(tmp_path, content, message):
  path = tmp_path / 'ttt.csv'
  path.write_text(content)
  code, out, err = run_profile_cli(['--time_to_target', str(path)])
  assert code == 2 and out == ''
  assert message in err and 'Traceback' not in err


def test_profile_cli_missing_file(tmp_path):
  code, _, err = run_profile_cli(['--time_to_target', str(tmp_path / 'nope.csv')])
  assert code == 2 and 'nope.csv' in err


def test_tied_algorithms_stay_visible_and_legend_carries_b():
  figure = Figure()
  ax = figure.add_subplot(1, 1, 1)
  taus = profiles.tau_grid(4.0)
  rho = np.ones((3, len(taus)))  # three algorithms tied everywhere
  plots.plot_performance_profile(
    ax, taus, rho, ['velo', 'velo_short', 'adam'], scores=[1.0, 1.0, 0.25]
  )
  lines = ax.get_lines()
  assert len({(line.get_linestyle(), line.get_marker()) for line in lines}) == 3
  assert len({str(line.get_markevery()) for line in lines}) == 3  # markers not on top
  labels = [t.get_text() for t in ax.get_legend().get_texts()]
  assert labels == ['velo (B = 1.000)', 'velo_short (B = 1.000)', 'adam (B = 0.250)']
  assert len(set(plots.line_styles(20))) == 20
