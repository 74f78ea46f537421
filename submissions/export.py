"""``python -m submissions.export``: submissions as self-contained AlgoPerf submission folders.

    python -m submissions.export --out DIR [--opt NAME ...] [--workload W]
        [--condition time|step] [--step_budgets steps.json] [--allow_placeholder_prompts]
        [--overwrite]

For each chosen submission ``<name>`` (default: every ``submissions/<name>/submission.py``)
it writes ``DIR/<name>/``, the layout of a folder of AlgoPerf's submissions repository
(``submissions/external_tuning/<name>/``, see docs/export.md)::

    __init__.py  submission.py     the repository's files
    submissions/ velo/ ...         every project module they import, at its repository path
    tuning_search_space.json       the search space ``study.locate`` picks for the workload
                                   and condition (VeLO: its prompt; velo_time under step
                                   control: the step budget as ``step_budget``)
    requirements.txt               the third-party packages the folder imports, as tested
    submission_info.yml            the fields of the submissions repository's PR template
    README.md                      the ``submission_runner.py`` command, VeLO's weights

The code is generated from the repository's files, never kept twice: each project import
(``from velo.checkpoint import X``, ``import velo``) becomes the relative import of the
copied module (``from ..velo.checkpoint import X``, ``from . import velo``), so the folder is
a Python package that needs nothing of this project installed and cannot collide with an
installed ``velo`` or ``submissions``. AlgoPerf imports ``--submission_path`` as the module
named by the path (``a/b/submission.py`` -> ``a.b.submission``), relative to a directory on
``sys.path``: the folder works wherever that holds (see its README). The same tree gives the
same bytes: no time stamps, no absolute paths, files in sorted order.

A tool beside the submissions: the submissions never import it, and it is never exported.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from bench_core import catalogue, layout
from bench_core.cli import run_main
from bench_core.errors import BenchError
from study import budgets, locate

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = REPO / 'submissions'

#: The AlgoPerf commit the exported folders are tested against (``make test-official``).
ALGOPERF_COMMIT = '2c90454f'

#: Third-party imports an exported folder may make -> its ``requirements.txt`` line: the
#: versions ``make test-official`` runs the folders with. jax, flax, optax and absl-py are
#: AlgoPerf 2c90454f's own pins (its rules forbid other versions of them); numpy is what its
#: ``numpy>=2.0.2`` resolved to there. That test fails when the environment drifts from them.
TESTED_REQUIREMENTS = {
  'absl': 'absl-py==2.1.0',
  'flax': 'flax==0.10.7',
  'jax': 'jax==0.7.0',
  'numpy': 'numpy==2.1.3',
  'optax': 'optax==0.2.2',
}

#: Top-level modules that AlgoPerf itself provides to every submission.
ALGOPERF_MODULES = frozenset({'algoperf'})

#: The environment variable an exported VeLO submission reads once, in init_optimizer_state.
VELO_CHECKPOINT_ENV = 'VELO_CHECKPOINT'


class ExportError(BenchError):
  """A submission that cannot be exported: the message names the file and the import."""


class NeedsWorkload(ExportError):
  """The submission's search space depends on the workload, and none was given."""


def project_packages(repo: Path = REPO) -> frozenset:
  """The repository's top-level packages (folders with an ``__init__.py``)."""
  return frozenset(p.parent.name for p in repo.glob('*/__init__.py'))


def known_submissions() -> List[str]:
  return locate.known_algorithms()


# ---- the modules a submission needs ----------------------------------------------------------


def module_file(module: str, repo: Path = REPO) -> Optional[Path]:
  """The repository file of a dotted module name (module or package), or None."""
  base = repo.joinpath(*module.split('.'))
  for candidate in (base.with_suffix('.py'), base / '__init__.py'):
    if candidate.is_file():
      return candidate
  return None


def _module_name(path: Path, repo: Path = REPO) -> str:
  parts = list(path.relative_to(repo).with_suffix('').parts)
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _absolute(node: ast.ImportFrom, path: Path, repo: Path) -> str:
  """The absolute module of a ``from`` import (relative ones resolved against ``path``)."""
  if not node.level:
    return node.module or ''
  package = _module_name(path, repo).split('.')
  if path.name != '__init__.py':
    package = package[:-1]
  base = package[: len(package) - (node.level - 1)]
  return '.'.join(base + ([node.module] if node.module else []))


def imported_modules(path: Path, repo: Path = REPO) -> List[tuple]:
  """``(line, absolute module)`` of every import of ``path``; ``from m import n`` gives ``m``
  and, when ``m.n`` is a module of the repository, ``m.n``."""
  found = []
  for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'), str(path))):
    if isinstance(node, ast.Import):
      found += [(node.lineno, alias.name) for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      module = _absolute(node, path, repo)
      found.append((node.lineno, module))
      for alias in node.names:
        if module and module_file(f'{module}.{alias.name}', repo) is not None:
          found.append((node.lineno, f'{module}.{alias.name}'))
  return found


def needed_files(name: str, repo: Path = REPO) -> List[Path]:
  """``submissions/<name>/{__init__,submission}.py`` and every repository module they import,
  directly or not, with the ``__init__.py`` of each package on the way; sorted."""
  packages = project_packages(repo)
  folder = repo / 'submissions' / name
  todo = [folder / 'submission.py', folder / '__init__.py']
  seen = set()
  while todo:
    path = todo.pop()
    if path in seen or not path.is_file():
      continue
    seen.add(path)
    for _, module in imported_modules(path, repo):
      parts = module.split('.')
      if parts[0] not in packages:
        continue
      for depth in range(1, len(parts) + 1):
        target = module_file('.'.join(parts[:depth]), repo)
        if target is None:
          raise ExportError(f'{path.relative_to(repo)}: imports {module}, which is not in {repo}')
        todo.append(target)
  return sorted(seen)


# ---- rewriting the imports ----------------------------------------------------------------------


def exported_path(path: Path, name: str, repo: Path = REPO) -> Path:
  """Where a repository file goes in the folder: ``submissions/<name>/x`` -> ``x``, any other
  file keeps its repository path."""
  relative = path.relative_to(repo)
  own = Path('submissions', name)
  return relative.relative_to(own) if relative.is_relative_to(own) else relative


def _exported_module(module: str, name: str) -> str:
  own = f'submissions.{name}'
  if module == own:
    return ''
  return module[len(own) + 1 :] if module.startswith(own + '.') else module


def _from_import(module: str, depth: int, name: str) -> str:
  """The relative ``from`` target of project module ``module`` in a file ``depth`` folders
  below the folder's root."""
  return '.' * (depth + 1) + _exported_module(module, name)


_FROM = re.compile(r'^(?P<head>\s*from\s+)(?P<module>[\w.]+)(?P<tail>\s+import\b)')


def rewrite_imports(source: str, where: str, depth: int, name: str, packages: frozenset) -> str:
  """``source`` with each absolute import of a project module made relative (see the module
  docstring); other lines unchanged."""
  lines = source.splitlines(keepends=True)
  edits = []  # (first line index, last line index, replacement lines)
  for node in ast.walk(ast.parse(source, where)):
    if isinstance(node, ast.ImportFrom) and not node.level and node.module:
      if node.module.split('.')[0] not in packages:
        continue
      line = lines[node.lineno - 1]
      match = _FROM.match(line)
      if match is None or match['module'] != node.module:
        raise ExportError(f'{where}:{node.lineno}: cannot rewrite this import: {line.strip()}')
      target = _from_import(node.module, depth, name)
      new = match['head'] + target + match['tail'] + line[match.end() :]
      edits.append((node.lineno - 1, node.lineno - 1, [new]))
    elif isinstance(node, ast.Import):
      if not any(a.name.split('.')[0] in packages for a in node.names):
        continue
      if node.lineno != node.end_lineno:
        raise ExportError(f'{where}:{node.lineno}: split this import over one line per module')
      line = lines[node.lineno - 1]
      indent = line[: len(line) - len(line.lstrip())]
      if line[node.end_col_offset :].strip():
        raise ExportError(f'{where}:{node.lineno}: put this import on a line of its own')
      out = []
      for alias in node.names:
        if alias.name.split('.')[0] not in packages:
          out.append(
            f'{indent}import {alias.name}' + (f' as {alias.asname}' if alias.asname else '')
          )
          continue
        if '.' in alias.name and not alias.asname:
          raise ExportError(
            f'{where}:{node.lineno}: `import {alias.name}` binds {alias.name.split(".")[0]}; '
            f'write `from {alias.name.rsplit(".", 1)[0]} import {alias.name.rsplit(".", 1)[1]}`'
          )
        parent, _, leaf = alias.name.rpartition('.')
        target = _from_import(parent, depth, name) if parent else '.' * (depth + 1)
        asname = f' as {alias.asname}' if alias.asname and alias.asname != leaf else ''
        out.append(f'{indent}from {target} import {leaf}{asname}')
      edits.append((node.lineno - 1, node.lineno - 1, [text + '\n' for text in out]))
  for first, last, replacement in sorted(edits, reverse=True):
    lines[first : last + 1] = replacement
  return ''.join(lines)


def third_party_imports(path: Path, repo: Path = REPO) -> Dict[str, int]:
  """``{top-level module: first line}`` of the imports of ``path`` that are neither the
  standard library, nor AlgoPerf, nor the project."""
  packages = project_packages(repo)
  found: Dict[str, int] = {}
  for line, module in imported_modules(path, repo):
    top = module.split('.')[0]
    if top in sys.stdlib_module_names or top in ALGOPERF_MODULES or top in packages:
      continue
    if top in ('', '__future__'):
      continue
    found.setdefault(top, line)
  return found


# ---- the folder -----------------------------------------------------------------------------------


def search_space(
  name: str,
  workload: Optional[str],
  condition: str,
  step_budgets: Optional[str] = None,
  allow_placeholder: bool = False,
) -> dict:
  """The search space the study would give ``name`` on ``workload`` under ``condition``
  (without a workload: ``tuning_search_spaces/<name>.json``, for the workload-agnostic ones)."""
  if workload is None:
    path = locate.SEARCH_SPACES / f'{name}.json'
    if not path.is_file():
      raise NeedsWorkload(
        f'{name}: its search space depends on the workload (VeLO prompts): give --workload '
        '(make: WORKLOAD=)'
      )
  else:
    path = locate.search_space_file(name, workload, condition, allow_placeholder)
  space = layout.read_json_object(path, 'a tuning search space')
  if condition == 'step':
    if workload is None and budgets.STEP_BUDGET_HYPERPARAMETER in space:
      raise NeedsWorkload(
        f'{name} under step control needs the step budget of a workload: give --workload'
      )
    if workload is not None:
      steps = budgets.step_budget(workload, step_budgets)
      space = budgets.search_space_with_step_budget(space, steps) or space
  return space


def _docstring_summary(path: Path) -> str:
  doc = ast.get_docstring(ast.parse(path.read_text(encoding='utf-8'))) or ''
  return ' '.join(doc.split('\n\n')[0].split())


def requirements_text(name: str, third_party: Dict[str, str]) -> str:
  """``requirements.txt``: one pinned line per third-party package the folder imports."""
  head = [
    f'# The third-party packages the exported `{name}` submission imports, at the versions it',
    f'# was tested with (AlgoPerf {ALGOPERF_COMMIT}, whose own pins jax, flax, optax and',
    '# absl-py are: installing this file into an AlgoPerf environment changes nothing there).',
  ]
  return '\n'.join(head + [TESTED_REQUIREMENTS[m] for m in sorted(third_party)]) + '\n'


def _yaml_string(text: str) -> str:
  return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def submission_info(name: str, description: str) -> str:
  """The fields of the submissions repository's pull-request template (authors to fill in)."""
  fields = [
    ('submission_name', name),
    ('submission_folder', name),
    ('authors', ''),
    ('affiliations', ''),
    ('version', '1.0'),
    ('ruleset', 'external'),
    ('framework', 'JAX'),
    ('description', description),
  ]
  return ''.join(f'{key}: {_yaml_string(value)}\n' for key, value in fields)


def runner_command(name: str, workload: str, condition: str, steps: Optional[int]) -> str:
  """The ``submission_runner.py`` command, run from an AlgoPerf checkout's root with the
  folder at ``submissions/external_tuning/<name>/``."""
  folder = f'submissions/external_tuning/{name}'
  lines = [
    'python3 submission_runner.py --framework=jax',
    f'  --workload={workload}',
    f'  --submission_path={folder}/submission.py',
    f'  --tuning_search_space={folder}/tuning_search_space.json',
    f'  --experiment_dir=$HOME/algoperf_experiments --experiment_name={name}',
    '  --data_dir=$HOME/data',
  ]
  if steps is not None:
    lines.append(f'  --max_global_steps={steps}')
  return ' \\\n'.join(lines)


def readme_text(
  name: str,
  description: str,
  workload: Optional[str],
  condition: str,
  steps: Optional[int],
  uses_velo: bool,
  workload_agnostic: bool,
  files: Sequence[str],
) -> str:
  shown = workload or 'mnist'
  space = (
    'the same for every workload (external-tuning ruleset)'
    if workload_agnostic
    else f'for `{workload}` under {condition} control only'
  )
  parts = [
    f'# `{name}`: an AlgoPerf submission (JAX)\n',
    f'{description}\n',
    f'Exported from velo-bench with `python -m submissions.export`; tested against AlgoPerf '
    f'{ALGOPERF_COMMIT}. `tuning_search_space.json` is {space}.\n',
    '## Run it\n',
    'From the root of an AlgoPerf checkout, with this folder at '
    f"`submissions/external_tuning/{name}/` (the layout of AlgoPerf's submissions "
    'repository):\n',
    '```bash\n'
    f'pip install -r submissions/external_tuning/{name}/requirements.txt\n'
    + runner_command(name, shown, condition, steps)
    + '\n```\n',
    'AlgoPerf imports `--submission_path` as the module its path names (`/` -> `.`), '
    'looked up on `sys.path`, whose first entry is the folder of `submission_runner.py`: the '
    "path must be relative (an absolute one fails with \"the 'package' argument is "
    'required"). To run the folder from anywhere else, put the folder holding it on '
    f'`PYTHONPATH` and pass `--submission_path={name}/submission.py`. The folder is a package '
    'whose modules import each other relatively, so nothing else needs installing.\n',
  ]
  if steps is not None:
    parts.append(
      f'Step control: `--max_global_steps={steps}` is the step budget'
      + (
        ', and `step_budget` in the search space must equal it (the submission reads its '
        'budget from there).\n'
        if name == 'velo_time'
        else '.\n'
      )
    )
  if uses_velo:
    parts += [
      "## VeLO's weights\n",
      f'Read once, in `init_optimizer_state`: the file named by `${VELO_CHECKPOINT_ENV}` '
      '(flax msgpack, the released checkpoint), else the per-user cache '
      '`${XDG_CACHE_HOME:-~/.cache}/velo_bench/velo_theta.msgpack`. Without either, '
      '`init_optimizer_state` stops at once saying so. Get them with velo-bench '
      '(`make velo-weights`), or set the variable:\n',
      f'```bash\nexport {VELO_CHECKPOINT_ENV}=/path/to/velo_theta.msgpack\n```\n',
    ]
  parts += ['## Files\n', ''.join(f'- `{f}`\n' for f in files)]
  return '\n'.join(parts)


def export_one(
  name: str,
  out: Path,
  workload: Optional[str],
  condition: str,
  step_budgets: Optional[str] = None,
  allow_placeholder: bool = False,
  overwrite: bool = False,
  repo: Path = REPO,
) -> Path:
  """Write ``out/<name>/`` (see the module docstring); the folder's path."""
  locate.submission_file(name)  # an unknown name fails listing the known ones
  space = search_space(name, workload, condition, step_budgets, allow_placeholder)
  steps = budgets.step_budget(workload, step_budgets) if condition == 'step' and workload else None
  target = out / name
  if target.exists() and not overwrite:
    raise ExportError(f'{target} exists: pass --overwrite (make: OVERWRITE=1) to replace it')
  packages = project_packages(repo)
  contents: Dict[str, bytes] = {}
  third_party: Dict[str, str] = {}
  for path in needed_files(name, repo):
    relative = exported_path(path, name, repo)
    where = str(path.relative_to(repo))
    for module, line in third_party_imports(path, repo).items():
      if module not in TESTED_REQUIREMENTS:
        raise ExportError(
          f'{where}:{line}: imports {module}, which is neither in the folder, the standard '
          'library nor AlgoPerf, and has no tested version in '
          'submissions.export.TESTED_REQUIREMENTS'
        )
      third_party[module] = where
    source = rewrite_imports(
      path.read_text(encoding='utf-8'), where, len(relative.parts) - 1, name, packages
    )
    contents[relative.as_posix()] = source.encode('utf-8')
  description = _docstring_summary(repo / 'submissions' / name / 'submission.py')
  uses_velo = any(p.startswith('velo/') for p in contents)
  contents['tuning_search_space.json'] = (
    json.dumps(space, indent=2, sort_keys=True) + '\n'
  ).encode()
  contents['requirements.txt'] = requirements_text(name, third_party).encode()
  contents['submission_info.yml'] = submission_info(name, description).encode()
  files = sorted([*contents, 'README.md'])
  generic = locate.SEARCH_SPACES / f'{name}.json'
  agnostic = generic.is_file() and layout.read_json_object(generic) == space
  contents['README.md'] = readme_text(
    name, description, workload, condition, steps, uses_velo, agnostic, files
  ).encode()
  staging = out / f'.{name}.export-tmp'
  if staging.exists():
    shutil.rmtree(staging)
  for relative, data in sorted(contents.items()):
    path = staging / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
  if target.exists():
    shutil.rmtree(target)
  staging.rename(target)
  return target


def parse_args(argv):
  p = argparse.ArgumentParser(
    prog='python -m submissions.export',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument('--out', required=True, help='folder that receives one folder per submission')
  p.add_argument('--opt', nargs='+', default=None, help='submissions (default: all)')
  p.add_argument(
    '--workload',
    default=None,
    help='the workload whose search space is exported (needed by velo, velo_short, and by '
    'velo_time under step control)',
  )
  p.add_argument('--condition', choices=catalogue.CONDITIONS, default='time')
  p.add_argument('--step_budgets', default=None, help='step budgets JSON (step control)')
  p.add_argument('--allow_placeholder_prompts', action='store_true')
  p.add_argument('--overwrite', action='store_true', help='replace existing folders')
  return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
  args = parse_args(argv)
  if args.workload is not None:
    catalogue.check_workload(args.workload)
    if catalogue.is_embedded(args.workload):
      raise ExportError(
        f"--workload {args.workload} is embedded in velo-bench: AlgoPerf's "
        'submission_runner.py cannot run it; give an AlgoPerf workload (e.g. mnist, '
        f'{catalogue.official_counterpart(args.workload) or "criteo1tb"})'
      )
  names = args.opt or known_submissions()
  out = Path(args.out).expanduser()
  out.mkdir(parents=True, exist_ok=True)
  skipped = []
  for name in names:
    try:
      folder = export_one(
        name,
        out,
        args.workload,
        args.condition,
        args.step_budgets,
        args.allow_placeholder_prompts,
        args.overwrite,
      )
    except NeedsWorkload as e:
      if args.opt:
        raise
      skipped.append(f'{name} ({e})')
      continue
    print(f'export: {name} -> {folder}', flush=True)
  for line in skipped:
    print(f'export: skipped {line}', flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
