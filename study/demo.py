"""``make demo``: the study on the embedded CPU workloads, then the report.

Runs every available algorithm (the five hand-crafted ones; ``velo`` and
``velo_short`` too when a VeLO checkpoint is configured) on the embedded
workloads, for several studies (seeds), under time and step control, then scores
each condition (``scoring_ext.scoring``, the settings of ``python -m scoring_ext.report``'s
defaults), writes its report, and prints the headline tables from the scores.
Trials run one per core (at most two, the reference machine's cores), each
confined to a core of its own (``study.cores``): a time-control result measures
the machine, so two time-control trials never share a core, and nothing else of
the demo runs while they do. ``--jobs`` (time control) and ``--step_jobs`` (step
control, whose results do not depend on time) change that; on a machine that
also runs other work, ``--jobs 1``. Resumable: rerunning skips finished trials.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import velo
from bench_core import arguments, catalogue, layout
from bench_core.cli import run_main
from bench_core.errors import BenchError
from scoring_ext.render import audit, outputs
from scoring_ext.scoring import ScoringConfig, ScoringResult, score_experiment
from study import cores, sweep


def available_algorithms(out=print) -> list:
  """The hand-crafted algorithms, plus the VeLO variants when a checkpoint is configured."""
  try:
    velo.resolve_checkpoint()
  except FileNotFoundError as e:
    out(f'demo: skipping {", ".join(catalogue.VELO_ALGORITHMS)}: {e}')
    return list(catalogue.HAND_CRAFTED_ALGORITHMS)
  return [*catalogue.HAND_CRAFTED_ALGORITHMS, *catalogue.VELO_ALGORITHMS]


def report(experiment_dir: Path, condition: str, out: Path) -> ScoringResult:
  """Score one condition's tree with the report's default settings, write the report into
  ``out`` and print what ``python -m scoring_ext.report`` prints."""
  result = score_experiment(str(experiment_dir), ScoringConfig(condition))
  files = outputs.write_report(result, str(out))
  print(f'wrote {len(files)} files to {out}')
  for line in audit.console_lines(result.trials, result.issues, result.stopped_early):
    print(line)
  return result


#: The results page that ``make demo-readme`` rewrites, and the markers of its generated block.
RESULTS_PAGE = Path('docs') / 'demo_results.md'
BLOCK_START = '<!-- demo-results:start -->'
BLOCK_END = '<!-- demo-results:end -->'
#: The report's sections (:func:`scoring_ext.render.outputs.sections` stems) on the page.
RESULT_SECTIONS = ('scores', 'quality')


def headline(result: ScoringResult) -> str:
  """The scores table (with its note), then the audit's summary line."""
  (scores,) = [s for s in outputs.sections(result) if s.stem == 'scores']
  return f'{scores.body()}\n\n{outputs.audit_line(result)}'


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


def update_page(page: Path, results: dict, header: str) -> None:
  """Replace the demo-results block of the Markdown file ``page`` with the score and quality
  tables of each condition's :class:`ScoringResult` (``results``: condition -> result) and
  its validation performance profile (drawn into ``<page folder>/results/``, linked relative
  to the page)."""
  text = check_page(page)
  figures = page.parent / 'results'
  figures.mkdir(parents=True, exist_ok=True)
  lines = [BLOCK_START, header, '']
  for condition, result in results.items():
    for section in outputs.sections(result):
      if section.stem in RESULT_SECTIONS:
        lines += [f'#### {condition} control: {section.title}', '', section.body(), '']
    if 'validation' in result.profiles:
      figure = figures / f'demo_profile_{condition}_validation.png'
      image = outputs.profile_images(result, 'validation', formats=('png',))['png']
      layout.atomic_write_bytes(figure, image)
      lines += [
        f'![{condition} control, validation targets]({figure.relative_to(page.parent)})',
        '',
      ]
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
  default_jobs = cores.default_jobs(cores.usable_cores())
  parser.add_argument(
    '--jobs',
    type=arguments.count(1),
    default=default_jobs,
    help='time-control trials run at once, each on cores of its own (>= 1; default: one per '
    f'core, at most 2: {default_jobs} here; 1 on a machine that also runs other work)',
  )
  parser.add_argument(
    '--step_jobs',
    type=arguments.count(1),
    default=default_jobs,
    help=f'step-control trials run at once (>= 1; default: as --jobs, {default_jobs} here)',
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
  results = {}
  for condition in args.conditions:
    out = reports / condition
    results[condition] = report(exp / condition, condition, out)  # BenchError: exit 2
    print(f'\n## {condition} control: AlgoPerf scores (report: {out / "report.md"})\n')
    print(headline(results[condition]))
  if args.page:
    page = Path(args.page).resolve()
    header = (
      f'Produced by `make demo` on {time.strftime("%Y-%m-%d")}: '
      f'{", ".join(algorithms)} on {", ".join(args.workloads)}, {args.studies} studies, '
      f'derived targets. Regenerate with `make demo-readme`; do not edit by hand.'
    )
    update_page(page, results, header)
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
