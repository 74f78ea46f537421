"""Search spaces in AlgoPerf's two JSON forms."""

import json

import pytest

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
