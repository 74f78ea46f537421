"""Search spaces in AlgoPerf's two JSON forms."""

import json

import pytest

from local_runner import halton
from local_runner.search_space import SearchSpaceError, hyperparameter_points, load_search_space


def write(tmp_path, obj):
  path = tmp_path / 'space.json'
  path.write_text(json.dumps(obj))
  return path


def test_list_form_gives_the_points_in_order(tmp_path):
  space = load_search_space(write(tmp_path, [{'lr': 1.0}, {'lr': 2.0}]))
  assert [p.lr for p in hyperparameter_points(space, 3)] == [1.0, 2.0, 1.0]


def test_dict_form_single_points_and_ranges(tmp_path):
  space = load_search_space(
    write(
      tmp_path,
      {
        'lr': {'min': 1e-4, 'max': 1e-2, 'scaling': 'log'},
        'b1': {'feasible_points': [0.9]},
        'wd': {'min': 0.0, 'max': 0.5},
      },
    )
  )
  points = hyperparameter_points(space, 20, seed=1)
  assert all(p.b1 == 0.9 for p in points)
  assert all(1e-4 <= p.lr <= 1e-2 and 0 <= p.wd <= 0.5 for p in points)
  assert len({p.lr for p in points}) == 20
  assert [p.lr for p in hyperparameter_points(space, 20, seed=1)] == [p.lr for p in points]


@pytest.mark.parametrize(
  'obj, message',
  [
    ({'lr': 0.1}, "field 'lr' must be an object"),
    ({'lr': {'feasible_points': []}}, "'lr'.feasible_points must be a non-empty list"),
    ({'lr': {'min': 1}}, '\'lr\' needs "feasible_points" or both'),
    ({'lr': {'min': 0, 'max': 1, 'scaling': 'log'}}, 'needs min > 0'),
    ([], 'non-empty list'),
    ('x', 'expected a JSON object or list'),
  ],
)
def test_malformed_spaces_name_the_file_and_field(tmp_path, obj, message):
  path = write(tmp_path, obj)
  with pytest.raises(SearchSpaceError, match=message) as e:
    load_search_space(path)
  assert str(path) in str(e.value)


def test_missing_file(tmp_path):
  with pytest.raises(SearchSpaceError, match='does not exist'):
    load_search_space(tmp_path / 'nope.json')


# ---- the quasirandom (Halton) points of a dict space ------------------------------------------

SPACES = {
  'linear': {'b1': {'min': 0.8, 'max': 0.99, 'scaling': 'linear'}},
  'log': {'learning_rate': {'min': 1e-5, 'max': 1e-1, 'scaling': 'log'}},
  'discrete': {'batch_size': {'feasible_points': [16, 32, 64, 128, 256]}},
  'mixed': {
    'learning_rate': {'min': 2e-4, 'max': 5e-2, 'scaling': 'log'},
    'one_minus_beta1': {'min': 0.02, 'max': 0.2, 'scaling': 'log'},
    'beta2': {'feasible_points': [0.999]},
    'warmup_factor': {'feasible_points': [0.02, 0.05, 0.1]},
    'weight_decay': {'min': 0.0, 'max': 0.5, 'scaling': 'linear'},
  },
}


def as_set(points):
  return {tuple(sorted(p._asdict().items())) for p in points}


@pytest.mark.parametrize('name', sorted(SPACES))
def test_dict_space_points_are_a_fixed_set_in_a_seeded_order(name):
  space = SPACES[name]
  a, b, c = (hyperparameter_points(space, 20, seed=s) for s in (1, 1, 2))
  assert [tuple(p) for p in a] == [tuple(p) for p in b]
  assert as_set(a) == as_set(c)  # the seed orders the points; the set is fixed
  for point in a:
    for key, spec in space.items():
      value = getattr(point, key)
      if 'feasible_points' in spec:
        assert value in spec['feasible_points']
      else:
        assert spec['min'] <= value <= spec['max']


def test_dict_space_sets_are_nested_and_spread():
  """n trials take the first n points of one sequence; 20 log-scaled points cover the range."""
  space = SPACES['log']
  five, twenty = (
    as_set(hyperparameter_points(space, 5, 3)),
    as_set(hyperparameter_points(space, 20)),
  )
  assert five < twenty
  lrs = sorted(p.learning_rate for p in hyperparameter_points(space, 20))
  # a quasirandom set has no large gap: every decade of [1e-5, 1e-1] holds a point
  assert all(any(10**e <= lr < 10 ** (e + 1) for lr in lrs) for e in range(-5, -1))


def test_halton_bases_and_first_values():
  assert halton.bases(1) == [991]
  assert halton.bases(3) == [977, 983, 991]
  assert len(halton.bases(200)) == 200 and halton.bases(200)[-1] < 2000
  values = halton.scrambled_dimension(991, range(1, 400))
  assert all(0 <= v < 1 for v in values) and len(set(values)) == len(values)


@pytest.mark.algoperf
@pytest.mark.parametrize('n', [1, 5, 20])
@pytest.mark.parametrize('name', sorted(SPACES))
def test_dict_space_points_equal_algoperf_halton_as_a_set(name, n):
  """The local runner's points are the set ``algoperf.halton.generate_search`` draws."""
  official = pytest.importorskip(
    'algoperf.halton',
    reason='algoperf is not installed (make install-algoperf; make test-official)',
  )
  theirs = official.generate_search(SPACES[name], n)
  ours = hyperparameter_points(SPACES[name], n, seed=7)
  assert len(ours) == len(theirs) == n
  assert as_set(ours) == as_set(theirs)
