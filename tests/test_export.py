"""``python -m submissions.export``: the folders it writes are the repository's code, whole
(every import resolvable in the folder, its requirements, the standard library or AlgoPerf),
and the same tree gives the same bytes. Running them under AlgoPerf's own runner, in an
environment without this project, is tests/test_official_runner.py's (make test-official)."""

import ast
import json
import re
import subprocess
import sys

import pytest
from conftest import REPO

from bench_core import cli
from submissions import export

#: requirements.txt distribution -> the module it provides, where the names differ.
IMPORT_NAME = {'absl-py': 'absl'}
PROJECT_PACKAGES = ('algoperf_compat', 'bench_core', 'submissions', 'velo', 'study')


@pytest.fixture(scope='module')
def step_budgets(tmp_path_factory):
  path = tmp_path_factory.mktemp('budgets') / 'steps.json'
  path.write_text(json.dumps({'mnist': 120}))
  return str(path)


def export_all(out, step_budgets):
  argv = ['--out', str(out), '--workload', 'mnist', '--condition', 'step']
  assert cli.run_main(export.main, [*argv, '--step_budgets', step_budgets]) == 0
  return sorted(p for p in out.iterdir() if p.is_dir())


@pytest.fixture(scope='module')
def exported(tmp_path_factory, step_budgets):
  return export_all(tmp_path_factory.mktemp('export'), step_budgets)


def files_of(folder):
  return {
    p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob('*') if p.is_file()
  }


def test_every_submission_is_exported_with_the_conventional_files(exported):
  assert [f.name for f in exported] == export.known_submissions()
  for folder in exported:
    names = set(files_of(folder))
    assert {
      '__init__.py',
      'submission.py',
      'tuning_search_space.json',
      'requirements.txt',
      'submission_info.yml',
      'README.md',
    } <= names
    assert f'--submission_path=submissions/external_tuning/{folder.name}/submission.py' in (
      (folder / 'README.md').read_text()
    )
  velo_time = json.loads((exported[-1] / 'tuning_search_space.json').read_text())
  assert exported[-1].name == 'velo_time' and velo_time['step_budget'] == {'feasible_points': [120]}
  velo = next(f for f in exported if f.name == 'velo')
  prompt = REPO / 'tuning_search_spaces' / 'step' / 'velo' / 'mnist.json'
  assert json.loads((velo / 'tuning_search_space.json').read_text()) == json.loads(
    prompt.read_text()
  )
  assert 'VELO_CHECKPOINT' in (velo / 'README.md').read_text()


def test_the_same_tree_exports_the_same_bytes(exported, tmp_path, step_budgets):
  again = export_all(tmp_path / 'again', step_budgets)
  assert [f.name for f in again] == [f.name for f in exported]
  for first, second in zip(exported, again):
    assert files_of(first) == files_of(second), first.name


def requirement_modules(folder):
  names = set()
  for line in (folder / 'requirements.txt').read_text().splitlines():
    line = line.split('#')[0].strip()
    if line:
      name = re.split(r'[=<>~!;\[ ]', line)[0]
      names.add(IMPORT_NAME.get(name, name))
  return names


def resolves_in_folder(folder, path, node) -> bool:
  """Does the relative import ``node`` of ``path`` name a module of ``folder``?"""
  package = path.parent
  for _ in range(node.level - 1):
    package = package.parent
  if not package.is_relative_to(folder):
    return False
  targets = [node.module] if node.module else [a.name for a in node.names]
  for target in targets:
    base = package.joinpath(*target.split('.'))
    if not (base.with_suffix('.py').is_file() or (base / '__init__.py').is_file()):
      return False
  return True


def test_every_exported_import_is_in_the_folder_its_requirements_the_stdlib_or_algoperf(exported):
  for folder in exported:
    allowed = requirement_modules(folder) | {'algoperf', '__future__'}
    assert 'jax' in allowed and 'optax' in allowed
    for path in sorted(folder.rglob('*.py')):
      for node in ast.walk(ast.parse(path.read_text(), str(path))):
        where = f'{path.relative_to(folder.parent)}:{getattr(node, "lineno", 0)}'
        if isinstance(node, ast.ImportFrom) and node.level:
          assert resolves_in_folder(folder, path, node), where
          continue
        if isinstance(node, ast.ImportFrom):
          modules = [node.module]
        elif isinstance(node, ast.Import):
          modules = [a.name for a in node.names]
        else:
          continue
        for module in modules:
          top = module.split('.')[0]
          assert top in sys.stdlib_module_names or top in allowed, f'{where}: {module}'


def absolute_again(text, relative, name):
  """``text`` of the exported file ``relative`` with its relative imports made absolute, as
  the repository writes them (the folder's root is ``submissions/<name>``)."""
  package = list(relative.parent.parts)

  def absolute(match):
    level, module, names = len(match['dots']), match['module'], match['names']
    parts = package[: len(package) - (level - 1)] + (module.split('.') if module else [])
    if parts and parts[0] in PROJECT_PACKAGES:
      return f'{match["indent"]}from {".".join(parts)} import {names}'
    if not parts and names in PROJECT_PACKAGES:  # `import velo` became `from . import velo`
      return f'{match["indent"]}import {names}'
    return f'{match["indent"]}from {".".join(["submissions", name, *parts])} import {names}'

  pattern = r'(?m)^(?P<indent>[ \t]*)from (?P<dots>\.+)(?P<module>[\w.]*) import (?P<names>.*)$'
  return re.sub(pattern, absolute, text)


def test_exported_code_is_the_repository_code_with_relative_imports(exported):
  """Made absolute again, each exported module is its repository file, byte for byte."""
  for folder in exported:
    for path in sorted(folder.rglob('*.py')):
      relative = path.relative_to(folder)
      in_repo = (
        REPO / relative
        if relative.parts[0] in PROJECT_PACKAGES
        else REPO / 'submissions' / folder.name / relative
      )
      assert absolute_again(path.read_text(), relative, folder.name) == in_repo.read_text(), path


#: A process in which nothing of the repository can be imported (an import that would load a
#: file under it, outside the interpreter's own environment, fails), whatever is installed.
BLOCK_REPOSITORY = """
import importlib.abc, sys
REPO = {repo!r}

def in_repository(path):
  return path.startswith(REPO + '/') and not path.startswith(sys.prefix + '/')

class BlockRepository(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path, target=None):
    for finder in sys.meta_path:
      if finder is self or not hasattr(finder, 'find_spec'):
        continue
      spec = finder.find_spec(name, path, target)
      if spec is not None:
        if in_repository(spec.origin or ''):
          raise ImportError(f'{{name}} would come from the repository: {{spec.origin}}')
        return spec
    return None

sys.meta_path.insert(0, BlockRepository())
sys.path = [p for p in sys.path if p != REPO and not in_repository(p + '/')]
"""


def test_the_folder_imports_with_the_repository_unreachable(exported):
  """In a process that cannot import anything of the repository, each exported submission
  imports and answers get_batch_size."""
  names = [f.name for f in exported]
  code = BLOCK_REPOSITORY.format(repo=str(REPO)) + (
    f'sys.path.insert(0, {str(exported[0].parent)!r})\n'
    f'for name in {names!r}:\n'
    "  module = importlib.import_module(name + '.submission')\n"
    "  assert module.get_batch_size('mnist') > 0, name\n"
    "print('ok')\n"
  )
  proc = subprocess.run(
    [sys.executable, '-c', 'import importlib\n' + code],
    capture_output=True,
    text=True,
    timeout=300,
    cwd='/',
  )
  assert proc.returncode == 0 and proc.stdout.strip() == 'ok', proc.stderr[-3000:]


def test_the_blocking_is_real():
  code = BLOCK_REPOSITORY.format(repo=str(REPO)) + 'import velo\n'
  proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd='/')
  assert proc.returncode != 0 and 'would come from the repository' in proc.stderr


@pytest.mark.parametrize(
  'source, depth, expected',
  [
    ('import velo\n', 0, 'from . import velo\n'),
    ('import velo as v\n', 1, 'from .. import velo as v\n'),
    ('import os, velo\n', 0, 'import os\nfrom . import velo\n'),
    ('from velo.checkpoint import (\n  a,\n)\n', 1, 'from ..velo.checkpoint import (\n  a,\n)\n'),
    ('from submissions.adam import helpers\n', 0, 'from . import helpers\n'),
    ('from submissions import _common\n', 0, 'from .submissions import _common\n'),
    ('from jax import numpy\n', 0, 'from jax import numpy\n'),
    ('def f():\n  import velo\n', 2, 'def f():\n  from ... import velo\n'),
  ],
)
def test_rewrite_imports(source, depth, expected):
  packages = frozenset({'velo', 'submissions'})
  assert export.rewrite_imports(source, 'x.py', depth, 'adam', packages) == expected


def test_a_dotted_plain_import_is_refused_saying_how_to_write_it():
  with pytest.raises(export.ExportError, match='write `from velo import checkpoint`'):
    export.rewrite_imports('import velo.checkpoint\n', 'x.py', 0, 'adam', frozenset({'velo'}))


def test_bad_requests_fail_naming_what_to_give(tmp_path, capsys):
  out = ['--out', str(tmp_path)]
  assert cli.run_main(export.main, [*out, '--opt', 'velo']) == cli.INPUT_ERROR_EXIT
  assert 'give --workload' in capsys.readouterr().err
  assert cli.run_main(export.main, [*out, '--workload', 'ogbg_mini']) == cli.INPUT_ERROR_EXIT
  assert 'cannot run it' in capsys.readouterr().err
  assert cli.run_main(export.main, [*out, '--opt', 'adam']) == 0
  assert cli.run_main(export.main, [*out, '--opt', 'adam']) == cli.INPUT_ERROR_EXIT
  assert '--overwrite' in capsys.readouterr().err
  assert cli.run_main(export.main, [*out, '--opt', 'adam', '--overwrite']) == 0
  assert cli.run_main(export.main, [*out, '--opt', 'nosuch']) == cli.INPUT_ERROR_EXIT
  assert 'known: adam' in capsys.readouterr().err
