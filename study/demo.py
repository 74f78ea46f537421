"""``make demo``: the study on the embedded CPU workloads, then the report.

Runs every available algorithm (the five hand-crafted ones; ``velo`` and
``velo_short`` too when a VeLO checkpoint is configured) on the embedded
workloads, for several studies (seeds), under time and step control, then
``scoring_ext.report`` for each condition, and prints the headline tables.
Time-control trials run ``--jobs`` at a time (default 1: a time-control result
measures the machine, so concurrent trials would slow each other down and skew
it); step-control trials, whose results do not depend on time, run
``--step_jobs`` at a time (default 2, one per core of the reference machine).
Resumable: rerunning skips finished trials.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import velo
from bench_core import arguments, catalogue, layout
from bench_core.cli import run_main
from bench_core.errors import BenchError
from study import sweep


def available_algorithms(out=print) -> list:
  """The hand-crafted algorithms, plus the VeLO variants when a checkpoint is configured."""
  try:
    velo.resolve_checkpoint()
  except FileNotFoundError as e:
    out(f'demo: skipping {", ".join(catalogue.VELO_ALGORITHMS)}: {e}')
    return list(catalogue.HAND_CRAFTED_ALGORITHMS)
  return [*catalogue.HAND_CRAFTED_ALGORITHMS, *catalogue.VELO_ALGORITHMS]


def headline(report_dir: Path) -> str:
  """The scores table (``## Scores B`` section) of a report, then its audit summary line
  (trials missing, stopped early, damaged), or a note that it is missing."""
  report = report_dir / 'report.md'
  if not report.is_file():
    return f'(no {report})'
  text = report.read_text(encoding='utf-8')
  sections = report_sections(text, ('Scores B',))
  table = sections[0][1] if sections else f'(no scores table in {report})'
  audit_lines = [line[2:] for line in text.splitlines() if line.startswith('- audit: ')]
  return table + ''.join(f'\n\n{line}' for line in audit_lines)


#: The results page that ``make demo-readme`` rewrites, and the markers of its generated block.
RESULTS_PAGE = Path('docs') / 'demo_results.md'
BLOCK_START = '<!-- demo-results:start -->'
BLOCK_END = '<!-- demo-results:end -->'
RESULT_SECTIONS = ('Scores B', 'Quality at the end of the budget')


def report_sections(report_md: str, titles=RESULT_SECTIONS) -> list:
  """The ``## <title>...`` sections of a report.md whose title starts with one of ``titles``."""
  sections = []
  for chunk in report_md.split('\n## ')[1:]:
    title, _, body = chunk.partition('\n')
    if title.startswith(titles):
      sections.append((title, body.strip()))
  return sections


def check_page(page: Path) -> str:
  """The text of ``page``, a writable Markdown file with a demo-results block, whose
  ``results/`` folder (the figures) can be written: checked before the demo runs, so that a
  wrong ``--page`` is not found only after the trials."""
  if not page.is_file():
    raise BenchError(f'--page {page}: no such file')
  arguments.check_writable(page, '--page')
  arguments.check_writable(page.parent / 'results', '--page (its figures)', 'folder')
  text = page.read_text(encoding='utf-8')
  if BLOCK_START not in text or BLOCK_END not in text:
    raise BenchError(f'--page {page} has no {BLOCK_START} ... {BLOCK_END} block to replace')
  return text


def update_page(page: Path, reports: Path, conditions, header: str) -> None:
  """Replace the demo-results block of the Markdown file ``page`` with the reports' score and
  quality tables and the validation performance profiles (copied to ``<page folder>/results/``,
  linked relative to the page)."""
  text = check_page(page)
  figures = page.parent / 'results'
  figures.mkdir(parents=True, exist_ok=True)
  lines = [BLOCK_START, header, '']
  for condition in conditions:
    report = (reports / condition / 'report.md').read_text(encoding='utf-8')
    for title, body in report_sections(report):
      lines += [f'#### {condition} control: {title}', '', body, '']
    figure = figures / f'demo_profile_{condition}_validation.png'
    shutil.copyfile(reports / condition / 'performance_profile_validation.png', figure)
    lines += [f'![{condition} control, validation targets]({figure.relative_to(page.parent)})', '']
  lines.append(BLOCK_END)
  before, rest = text.split(BLOCK_START, 1)
  after = rest.split(BLOCK_END, 1)[1]
  layout.atomic_write_text(page, before + '\n'.join(lines) + after)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
    prog='python -m study.demo',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument(
    '--algorithms',
    nargs='+',
    default=None,
    help='run only these algorithms (default: every available one)',
  )
  parser.add_argument(
    '--workloads',
    nargs='+',
    default=list(catalogue.EMBEDDED_WORKLOADS),
    help='embedded workloads to run (default: all four)',
  )
  parser.add_argument(
    '--studies', type=arguments.count(1), default=3, help='studies (seeds) per trial (>= 1)'
  )
  parser.add_argument('--conditions', nargs='+', default=list(catalogue.CONDITIONS))
  parser.add_argument('--experiment_dir', default='experiments/demo')
  parser.add_argument('--report_dir', default='reports/demo')
  parser.add_argument(
    '--jobs', type=arguments.count(1), default=1, help='time-control trials run at once (>= 1)'
  )
  parser.add_argument(
    '--step_jobs', type=arguments.count(1), default=2, help='step-control trials run at once (>= 1)'
  )
  parser.add_argument(
    '--page',
    default=None,
    help=f'rewrite the demo-results block of this Markdown file (make demo-readme: {RESULTS_PAGE})',
  )
  args = parser.parse_args(argv)
  exp, reports = Path(args.experiment_dir).resolve(), Path(args.report_dir).resolve()
  arguments.check_writable(exp, '--experiment_dir', kind='folder')
  arguments.check_writable(reports, '--report_dir', kind='folder')
  if args.page:
    check_page(Path(args.page).resolve())
  algorithms = available_algorithms()
  if args.algorithms:
    unknown = [a for a in args.algorithms if a not in algorithms]
    if unknown:
      raise BenchError(
        f'--algorithms: {", ".join(unknown)} not available here; available: {", ".join(algorithms)}'
      )
    algorithms = list(args.algorithms)
  plans = {
    condition: sweep.plan(algorithms, args.workloads, args.studies, [condition], 0, exp)
    for condition in args.conditions
  }
  for trials in plans.values():
    sweep.check_plan(trials)
  failed = []
  with sweep.sweep_lock(exp):
    for condition, trials in plans.items():
      sweep.write_manifest(exp / condition, trials, {**vars(args), 'algorithms': algorithms})
      jobs = args.jobs if condition == 'time' else args.step_jobs
      failed += sweep.run_sweep(trials, jobs=jobs, out=lambda m: print(m, flush=True))
  for condition in args.conditions:
    out = reports / condition
    code = subprocess.call(
      [
        sys.executable,
        '-m',
        'scoring_ext.report',
        '--experiment_dir',
        str(exp / condition),
        '--condition',
        condition,
        '--out',
        str(out),
      ]
    )
    if code != 0:
      print(f'demo: the {condition} report failed (exit code {code})', file=sys.stderr)
      return code
    print(f'\n## {condition} control: AlgoPerf scores (report: {out / "report.md"})\n')
    print(headline(out))
  if args.page:
    page = Path(args.page).resolve()
    header = (
      f'Produced by `make demo` on {time.strftime("%Y-%m-%d")}: '
      f'{", ".join(algorithms)} on {", ".join(args.workloads)}, {args.studies} studies, '
      f'derived targets. Regenerate with `make demo-readme`; do not edit by hand.'
    )
    update_page(page, reports, args.conditions, header)
    print(f'demo: updated {page}')
  if failed:
    print(
      f'\ndemo: {len(failed)} trial(s) failed: ' + ', '.join(t.label for t in failed),
      file=sys.stderr,
    )
    return 1
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
