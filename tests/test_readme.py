"""The commands of README.md and docs/*.md work as written, and the README's own optimizer runs.

Every fenced ``bash`` block is split into commands (backslash continuations joined, comments
dropped, ``VAR=value`` prefixes set aside) and each command is checked by its kind:

* ``make TARGET VAR=...``: every variable is one the Makefile reads, ``make -n`` accepts the
  line, and every project entry point in the recipe it expands to knows the flags it is given;
* ``python -m MODULE ...`` / ``python benchmarks/x.py ...`` (project entry points): ``--help``
  exits cleanly and names every flag the command uses;
* ``python .../submission_runner.py ...``: every flag is one AlgoPerf's runner defines (read
  from the AlgoPerf source of ``make test-official``; skipped, with the reason, without one);
* commands that act on the user's machine (``cd``, ``cp``, ``pip install``, ``sbatch``,
  activating an environment) are recognised, not run.

A command of any other kind fails, so that a new kind of command gets a check. The README's
Python and JSON blocks (the "own optimizer") run to the target of ``imagenet_resnet_mini``.
The slow test runs the cheap commands for real, in README order, in a copy of the
repository whose ``.venv`` is this one, as a user does after ``make install`` and
``. .venv/bin/activate``.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import List, NamedTuple

import pytest
from conftest import REPO

from local_runner.runner import RunConfig, run
from scoring_ext.render import display, tables
from scoring_ext.scoring import ScoringConfig, score_experiment
from scoring_helpers import generate_tree
from study import demo
from study.budgets import NO_TIME_LIMIT_SEC

#: The pages whose commands are checked: the README and the docs pages moved out of it.
PAGES = [
  REPO / 'README.md',
  *(
    REPO / 'docs' / f'{name}.md'
    for name in ('hardware_transfer', 'official_runner', 'report', 'running', 'slurm', 'study')
  ),
]
PROJECT_PACKAGES = (
  'local_runner',
  'study',
  'scoring_ext',
  'hardware_transfer',
  'velo',
  'submissions',
  'bench_core',
)
#: Commands that need the user's machine, files or cluster: recognised, never run here.
USER_MACHINE = {'cd', 'cp', 'pip', 'sbatch', 'scancel', 'export', 'git', 'source', '.'}
#: make targets whose implementation comes from another branch: (file, issue); until that
#: file is in the tree, the command is skipped with the reason.
PENDING_TARGETS = {'export': ('submissions/export.py', 'issue 20, point 1')}


class Command(NamedTuple):
  page: str
  line: int
  env: tuple
  argv: tuple
  source: str  # the whole logical line as written (continuations joined)

  @property
  def label(self) -> str:
    return f'{self.page}:{self.line}: {shlex.join(self.argv)}'


class Block(NamedTuple):
  page: Path
  line: int
  language: str
  text: str
  saved_as: str | None  # the path the text before the block says to save it as


FENCE = re.compile(r'^```(\w*)\s*$')
SAVE_AS = re.compile(r'`([\w./-]+\.(?:py|json))`:\s*$')


def blocks(page: Path) -> List[Block]:
  """The fenced blocks of a Markdown page, with the file a ``... `path`:`` line before
  names."""
  lines = page.read_text(encoding='utf-8').splitlines()
  found, i = [], 0
  while i < len(lines):
    opening = FENCE.match(lines[i])
    if not opening:
      i += 1
      continue
    end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith('```'))
    before = next((s for s in reversed(lines[max(0, i - 3) : i]) if s.strip()), '')
    saved = SAVE_AS.search(before)
    found.append(
      Block(
        page,
        i + 2,
        opening.group(1),
        '\n'.join(lines[i + 1 : end]) + '\n',
        saved.group(1) if saved else None,
      )
    )
    i = end + 1
  return found


def commands(block: Block) -> List[Command]:
  """The shell commands of a ``bash`` block: continuations joined, comments dropped, ``a && b``
  as two commands."""
  out, pending, start = [], '', None
  for offset, text in enumerate(block.text.splitlines()):
    start = block.line + offset if start is None else start
    if text.rstrip().endswith('\\'):
      pending += text.rstrip()[:-1] + ' '
      continue
    source = pending + text
    lexer = shlex.shlex(source, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    pending, first, start = '', start, None
    words = []
    for word in [*lexer, '&&']:
      if word != '&&':
        words.append(word)
        continue
      env = []
      while words and re.match(r'^[A-Za-z_]\w*=', words[0]):
        env.append(words.pop(0))
      if words:
        out.append(Command(block.page.name, first, tuple(env), tuple(words), source))
      words = []
  return out


def shell_commands(pages=PAGES) -> List[Command]:
  return [
    c for page in pages for b in blocks(page) if b.language in ('bash', 'sh') for c in commands(b)
  ]


def is_python(word: str) -> bool:
  return re.fullmatch(r'python[0-9.]*', os.path.basename(word)) is not None


def flags_used(argv) -> List[str]:
  """The ``--name`` flags of ``argv`` before a lone ``--`` (after it: another program's)."""
  names = []
  for word in argv:
    if word == '--':
      break
    if word.startswith('--'):
      names.append(word[2:].split('=', 1)[0])
  return names


def flag_known(name: str, help_text: str) -> bool:
  """Whether a help text (argparse's or absl's) lists ``--name`` (absl: ``--[no]name``, and
  ``--noname`` for a boolean ``name``)."""

  def listed(n):
    return re.search(rf'(?<![\w-])--(\[no\])?{re.escape(n)}(?![\w-])', help_text) is not None

  return listed(name) or (name.startswith('no') and listed(name[2:]))


@functools.lru_cache(maxsize=None)
def entry_point_help(target: tuple) -> str:
  """``--help`` of a project entry point (``('-m', module)`` or ``(script,)``), which must
  exit cleanly: status 0, or absl's status 1 after its usage (absl's own convention, which
  AlgoPerf's runner shares)."""
  done = subprocess.run(
    [sys.executable, *target, '--help'], cwd=REPO, capture_output=True, text=True, timeout=300
  )
  text = done.stdout + done.stderr
  absl_usage = done.returncode == 1 and 'Try --helpfull' in text
  assert done.returncode == 0 or absl_usage, f'{target} --help exited {done.returncode}:\n{text}'
  assert 'Traceback' not in text, text
  return text


def project_entry_point(argv) -> tuple | None:
  """``('-m', module)`` or ``(script,)`` when ``argv`` runs a project entry point."""
  if len(argv) >= 3 and argv[1] == '-m' and argv[2].split('.')[0] in PROJECT_PACKAGES:
    return ('-m', argv[2])
  if len(argv) >= 2 and argv[1].startswith('benchmarks/') and argv[1].endswith('.py'):
    return (argv[1],)
  return None


def check_project_flags(argv, where: str) -> None:
  target = project_entry_point(argv)
  assert target is not None, f'{where}: not a project entry point: {shlex.join(argv)}'
  help_text = entry_point_help(target)
  unknown = [f for f in flags_used(argv[len(target) + 1 :]) if not flag_known(f, help_text)]
  assert not unknown, f'{where}: {" ".join(target)} does not know --{", --".join(unknown)}'
  if target == ('-m', 'study.launch') and '--' in argv:  # then the runner's flags
    runner_help = entry_point_help(('-m', 'local_runner'))
    runner_flags = argv[argv.index('--') + 1 :]
    unknown = [f for f in flags_used(runner_flags) if not flag_known(f, runner_help)]
    assert not unknown, f'{where}: the runners do not know --{", --".join(unknown)}'


@functools.lru_cache(maxsize=None)
def algoperf_runner_flags() -> frozenset:
  """The flags AlgoPerf's ``submission_runner.py`` defines, read from the source that
  ``make test-official`` uses (``ALGOPERF_SRC``, a checkout or source archive)."""
  src = os.environ.get('ALGOPERF_SRC') or next(
    iter(sorted((REPO.parent / 'shared' / 'algoperf').glob('algorithmic-efficiency-*.tar.gz'))),
    None,
  )
  if not src or not Path(src).exists():
    pytest.skip('no AlgoPerf source (ALGOPERF_SRC) to read submission_runner.py flags from')
  src = Path(src)
  if src.is_dir():
    text = (src / 'submission_runner.py').read_text(encoding='utf-8')
  else:
    with tarfile.open(src) as archive:
      member = next(m for m in archive.getmembers() if m.name.endswith('/submission_runner.py'))
      text = archive.extractfile(member).read().decode('utf-8')
  return frozenset(re.findall(r"flags\.DEFINE_\w+\(\s*'(\w+)'", text))


def makefile_variables() -> set:
  """The variables the Makefile reads, and those its scripts read from the environment (make
  exports the variables of its command line)."""
  text = (REPO / 'Makefile').read_text(encoding='utf-8')
  names = set(re.findall(r'\$\((\w+)\)', text)) | set(re.findall(r'^(\w+)\s*\?=', text, re.M))
  for script in re.findall(r'\btools/[\w.]+\.sh\b', text):
    names |= set(re.findall(r'\$\{(\w+)', (REPO / script).read_text(encoding='utf-8')))
  return names


def make_target(argv) -> str:
  return next((w for w in argv[1:] if '=' not in w and not w.startswith('-')), '')


def pending(command: Command) -> str | None:
  """Why a make target is not in this tree yet, or None."""
  target = make_target(command.argv) if command.argv[0] == 'make' else None
  if target in PENDING_TARGETS and not (REPO / PENDING_TARGETS[target][0]).exists():
    path, issue = PENDING_TARGETS[target]
    return f'make {target} comes with {path} ({issue}), not in this tree yet'
  return None


def check_make(command: Command) -> None:
  if pending(command):
    pytest.skip(pending(command))
  known = makefile_variables()
  unknown = [w.split('=')[0] for w in command.argv[1:] if '=' in w]
  unknown = [v for v in unknown if v not in known]
  assert not unknown, f'{command.label}: the Makefile reads no {", ".join(unknown)}'
  dry = subprocess.run(
    ['make', '-n', *command.argv[1:]], cwd=REPO, capture_output=True, text=True, timeout=60
  )
  assert dry.returncode == 0, f'{command.label}: make -n says\n{dry.stdout}{dry.stderr}'
  for line in dry.stdout.replace('\\\n', ' ').splitlines():
    try:
      words = shlex.split(line)
    except ValueError:
      continue  # a shell construct of a recipe (test-official's if ... fi)
    if words and is_python(words[0]) and project_entry_point(words):
      check_project_flags(words, f'{command.label} (recipe: {line.strip()})')


#: Shell operators the checks do not follow (``&&`` splits a line into two commands).
OPERATORS = {'|', '||', ';', '&', '>', '>>', '<', '(', ')'}


def check(command: Command) -> None:
  argv = command.argv
  operators = sorted(OPERATORS.intersection(argv))
  assert not operators, f'{command.label}: shell operator {operators} (a placeholder such as a|b?)'
  if argv[0] == 'make':
    check_make(command)
  elif is_python(argv[0]) and len(argv) > 1 and argv[1].endswith('submission_runner.py'):
    known = algoperf_runner_flags()
    unknown = [f for f in flags_used(argv[2:]) if f not in known]
    assert not unknown, f'{command.label}: submission_runner.py defines no --{unknown}'
  elif is_python(argv[0]):
    check_project_flags(argv, command.label)
  else:
    assert argv[0] in USER_MACHINE, (
      f'{command.label}: the README test has no check for {argv[0]!r}; add one to '
      f'tests/test_readme.py'
    )


ALL_COMMANDS = shell_commands()


def test_the_pages_have_commands_and_the_readme_the_ones_a_user_starts_with():
  readme = [c.argv for c in ALL_COMMANDS if c.page == 'README.md']
  assert ('make', 'install') in readme and ('.', '.venv/bin/activate') in readme
  assert any(is_python(a[0]) and a[1].endswith('submission_runner.py') for a in readme)
  assert any(a[:2] == ('make', 'submit') for a in readme)


@pytest.mark.parametrize('command', ALL_COMMANDS, ids=lambda c: f'{c.page}:{c.line}')
def test_command_works_as_written(command):
  check(command)


def test_every_bash_block_is_valid_shell():
  for page in PAGES:
    for block in blocks(page):
      if block.language in ('bash', 'sh'):
        done = subprocess.run(['bash', '-n'], input=block.text, capture_output=True, text=True)
        assert done.returncode == 0, f'{page.name}:{block.line}: {done.stderr}'


def test_a_command_of_an_unknown_kind_or_flag_fails():
  """The checks can fail: an unknown program, flag, make variable or target."""
  bad = [
    ('rm', '-rf', 'x'),
    ('python', '-m', 'scoring_ext.report', '--no_such_flag', '1'),
    ('make', 'submit', 'NO_SUCH_VARIABLE=1'),
    ('make', 'no-such-target'),
    ('python', '-m', 'scoring_ext.report', '--condition', 'time', '|', 'step'),
  ]
  for argv in bad:
    with pytest.raises(AssertionError):
      check(Command('bad.md', 1, (), argv, shlex.join(argv)))


def test_flag_matching_reads_argparse_and_absl_help():
  assert flag_known('data_dir', '  --data_dir DATA_DIR  the data')
  assert not flag_known('data', '  --data_dir DATA_DIR  the data')
  assert flag_known('overwrite', '  --[no]overwrite: replace')
  assert flag_known('nooverwrite', '  --[no]overwrite: replace')
  assert flags_used(['--a=1', '--b', '2', '--', '--c']) == ['a', 'b']


def readme_files() -> dict:
  """``{path: text}`` of the README blocks it says to save (the own optimizer)."""
  return {b.saved_as: b.text for b in blocks(REPO / 'README.md') if b.saved_as}


def test_the_readme_optimizer_is_formatted_and_reaches_the_target(tmp_path):
  files = readme_files()
  [submission] = [p for p in files if p.endswith('submission.py')]
  [space] = [p for p in files if p.endswith('.json')]
  name = Path(submission).parent.name
  assert space == f'tuning_search_spaces/{name}.json'
  for path, text in files.items():
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(text, encoding='utf-8')
  lint = subprocess.run(
    [
      sys.executable,
      '-m',
      'ruff',
      'format',
      '--check',
      '--config',
      str(REPO / 'pyproject.toml'),
      str(tmp_path / submission),
    ],
    capture_output=True,
    text=True,
  )
  assert lint.returncode == 0, lint.stdout + lint.stderr
  # Step control, as the hand-crafted submissions' test: 800 steps (step_hint) evaluated every
  # 16, so that the outcome does not depend on the machine.
  [summary] = run(
    RunConfig(
      workload='imagenet_resnet_mini',
      submission_path=str(tmp_path / submission),
      tuning_search_space=str(tmp_path / space),
      experiment_dir=str(tmp_path / 'exp'),
      rng_seed=1,
      max_global_steps=800,
      eval_every_steps=16,
      max_allowed_runtime_sec=NO_TIME_LIMIT_SEC,
    ),
    progress=lambda m: None,
  )
  assert summary['validation_goal_reached'] and not summary['diverged']
  assert summary['global_step'] < 800


def runs_for_real(command: Command, clone: Path) -> bool:
  """What the slow test runs for real: the cheap commands (trials of embedded workloads on
  their own budget, exports, help), and reports of experiment folders those wrote."""
  argv = command.argv
  values = dict(w.split('=', 1) for w in argv if '=' in w and not w.startswith('-'))
  if argv[0] == 'make':
    target = make_target(argv)
    if target == 'submit':
      return values.get('WORKLOAD', '').endswith('_mini') and not {'BUDGETS', 'DATA_DIR'} & set(
        values
      )
    if target == 'report':
      return (clone / values.get('EXP', 'experiments') / values.get('CONTROL', 'time')).is_dir()
    return target == 'export'
  if is_python(argv[0]) and argv[1:3] == ('-m', 'local_runner'):
    return any(w.startswith('--workload=') and w.endswith('_mini') for w in argv)
  if is_python(argv[0]) and argv[1:3] == ('-m', 'scoring_ext.report'):
    return '--help' in argv or (
      '--experiment_dir' in argv and (clone / argv[argv.index('--experiment_dir') + 1]).is_dir()
    )
  return argv[0] in ('.', 'source') and argv[1:] == ('.venv/bin/activate',)


def repository_copy(dest: Path) -> Path:
  """The tracked and untracked-but-not-ignored files of the repository, with this ``.venv``."""
  listed = subprocess.run(
    ['git', 'ls-files', '-co', '--exclude-standard'],
    cwd=REPO,
    capture_output=True,
    text=True,
    check=True,
  ).stdout.splitlines()
  for name in listed:
    source = REPO / name
    if source.is_file():
      (dest / name).parent.mkdir(parents=True, exist_ok=True)
      shutil.copy2(source, dest / name)
  (dest / '.venv').symlink_to(REPO / '.venv')
  # make compares its install stamp with pyproject.toml: this .venv counts as installed
  older = (REPO / '.venv' / '.installed').stat().st_mtime_ns - 10**9
  os.utime(dest / 'pyproject.toml', ns=(older, older))
  return dest


@pytest.mark.slow
def test_the_readme_cheap_commands_run_as_written(tmp_path):
  if not (REPO / '.venv' / '.installed').is_file():
    pytest.skip('no installed .venv in the repository (make install)')
  if not shutil.which('git') or not (REPO / '.git').exists():
    pytest.skip('not a git checkout: cannot list the files of a fresh clone')
  clone = repository_copy(tmp_path / 'clone')
  env = {
    **os.environ,
    'VIRTUAL_ENV': str(clone / '.venv'),
    'PATH': f'{clone / ".venv" / "bin"}{os.pathsep}{os.environ["PATH"]}',
    'HOME': str(tmp_path / 'home'),  # what the commands write under $HOME stays here
  }
  (tmp_path / 'home').mkdir()
  env.pop('PYTHONPATH', None)
  saved = readme_files()
  ran = []
  for block in blocks(REPO / 'README.md'):
    if block.saved_as:  # the user saves the own optimizer's files
      (clone / block.saved_as).parent.mkdir(parents=True, exist_ok=True)
      (clone / block.saved_as).write_text(saved[block.saved_as], encoding='utf-8')
    if block.language != 'bash':
      continue
    lines = {}  # logical line as written -> its commands (a && b: both)
    for command in commands(block):
      lines.setdefault(command.source, []).append(command)
    for source, parts in lines.items():
      if not all(runs_for_real(c, clone) and not pending(c) for c in parts):
        continue
      if parts[0].argv[0] in ('.', 'source'):
        assert (clone / parts[0].argv[1]).is_file(), parts[0].label
        continue
      done = subprocess.run(
        ['bash', '-c', source], cwd=clone, env=env, capture_output=True, text=True, timeout=900
      )
      assert done.returncode == 0, f'{parts[0].label}\n{done.stdout[-3000:]}{done.stderr[-3000:]}'
      ran += [c.argv for c in parts]
  assert any(a[:2] == ('make', 'submit') for a in ran) and any(
    'scoring_ext.report' in a for a in ran
  )
  assert list((clone / 'reports' / 'time').glob('report.md'))


def test_make_demo_readme_rewrites_the_results_page(tmp_path):
  page = tmp_path / 'docs' / 'demo_results.md'
  page.parent.mkdir()
  page.write_text(f'intro\n{demo.BLOCK_START}\nold\n{demo.BLOCK_END}\noutro\n')
  tree = tmp_path / 'experiment'
  generate_tree(tree, n_algorithms=2, workloads=['ogbg_mini'], n_studies=2, n_evals=20)
  results = {
    condition: score_experiment(str(tree), ScoringConfig(condition))
    for condition in ('time', 'step')
  }
  demo.update_page(page, results, 'header')
  text = page.read_text()
  assert text.startswith(f'intro\n{demo.BLOCK_START}\nheader\n') and text.endswith(
    f'{demo.BLOCK_END}\noutro\n'
  )
  # the tables come from the results, as the report shows them; the other sections do not
  scores = tables.to_markdown(display.scores_wide(results['time'])).rstrip()
  assert '#### time control: Scores B\n\nmax_tau = 4; 1 = fastest' in text
  assert scores in text and '| algorithm | B (train) | B (validation) |' in scores
  assert '#### step control: Quality at the end of the budget' in text
  assert 'Targets' not in text and 'Median time to' not in text
  assert '](results/demo_profile_step_validation.png)' in text
  assert (page.parent / 'results' / 'demo_profile_step_validation.png').read_bytes()[:4] == (
    b'\x89PNG'
  )
  headline = demo.headline(results['step'])
  assert headline.startswith('max_tau = 4') and '\n\naudit: 4 trial directories, 4 scored' in (
    headline
  )
  project_page = (REPO / demo.RESULTS_PAGE).read_text()
  assert project_page.count(demo.BLOCK_START) == project_page.count(demo.BLOCK_END) == 1
  for figure in re.findall(r'\]\((results/[\w.]+\.png)\)', project_page):
    assert (REPO / demo.RESULTS_PAGE).parent.joinpath(figure).is_file(), figure
  recipe = (REPO / 'Makefile').read_text().split('\ndemo-readme:', 1)[1].split('\n\n', 1)[0]
  assert f'--page {demo.RESULTS_PAGE}' in recipe.replace('\\\n', ' ').replace('\t', ' ')
