"""Writers for tables: CSV, Markdown, LaTeX (booktabs), and atomic file writes."""

from __future__ import annotations

import math
import numbers
import os
import shutil
import tempfile

import pandas as pd


def format_cell(value, missing: str = '-', inf: str = 'inf') -> str:
  """Numbers with 6 significant digits; NaN/None as `missing`; +-inf as `inf`."""
  if value is None:
    return missing
  if isinstance(value, bool):
    return str(value)
  if isinstance(value, numbers.Integral):
    return str(int(value))
  if isinstance(value, numbers.Real):
    if math.isnan(value):
      return missing
    if math.isinf(value):
      return inf if value > 0 else f'-{inf}'
    return f'{value:.6g}'
  text = str(value)
  return missing if text in ('', 'nan', '<NA>') else text


def _cells(frame: pd.DataFrame, missing: str, inf: str) -> list[list[str]]:
  return [
    [format_cell(v, missing, inf) for v in row] for row in frame.itertuples(index=False, name=None)
  ]


def to_markdown(frame: pd.DataFrame, missing: str = '-', inf: str = 'inf') -> str:
  """A GitHub-flavoured Markdown table (no index)."""
  header = [str(c) for c in frame.columns]
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '|'.join('---' for _ in header) + '|']
  lines += ['| ' + ' | '.join(row) + ' |' for row in _cells(frame, missing, inf)]
  return '\n'.join(lines) + '\n'


_LATEX_SPECIAL = {
  '\\': r'\textbackslash{}',
  '&': r'\&',
  '%': r'\%',
  '$': r'\$',
  '#': r'\#',
  '_': r'\_',
  '{': r'\{',
  '}': r'\}',
  '~': r'\textasciitilde{}',
  '^': r'\textasciicircum{}',
}


def latex_escape(text: str) -> str:
  return ''.join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(
  frame: pd.DataFrame, caption: str | None = None, missing: str = '--', inf: str = r'$\infty$'
) -> str:
  """A booktabs table (\\toprule/\\midrule/\\bottomrule); needs \\usepackage{booktabs}."""

  def cell(text: str) -> str:
    return text if text in (inf, f'-{inf}', missing) else latex_escape(text)

  align = ''.join('r' if pd.api.types.is_numeric_dtype(frame[c]) else 'l' for c in frame.columns)
  lines = []
  if caption:
    lines += [r'\begin{table}[ht]', r'\centering', rf'\caption{{{latex_escape(caption)}}}']
  lines += [
    rf'\begin{{tabular}}{{{align}}}',
    r'\toprule',
    ' & '.join(latex_escape(str(c)) for c in frame.columns) + r' \\',
    r'\midrule',
  ]
  lines += [' & '.join(cell(c) for c in row) + r' \\' for row in _cells(frame, missing, inf)]
  lines += [r'\bottomrule', r'\end{tabular}']
  if caption:
    lines.append(r'\end{table}')
  return '\n'.join(lines) + '\n'


def to_csv(frame: pd.DataFrame) -> str:
  """CSV without index; infinities as 'inf', NaN as empty."""
  return frame.to_csv(index=False)


def write_atomic(path: str, data: bytes | str) -> None:
  """Write to a temporary file next to `path`, then os.replace it into place."""
  if isinstance(data, str):
    data = data.encode('utf-8')
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(path) + '.')
  try:
    with os.fdopen(fd, 'wb') as f:
      f.write(data)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def write_all_atomic(out_dir: str, files: dict[str, bytes | str]) -> list[str]:
  """Write every file of `files` (name -> content) into out_dir.

  The contents are built before this is called, so an error while building
  leaves out_dir untouched. All files are first written into a staging
  directory next to out_dir, then each is moved into place with os.replace,
  so a failed write leaves no partial file. Returns the written paths.
  """
  out_dir = os.path.abspath(out_dir)
  parent = os.path.dirname(out_dir)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(dir=parent, prefix='.' + os.path.basename(out_dir) + '.staging.')
  try:
    for name, data in files.items():
      with open(os.path.join(staging, name), 'wb') as f:
        f.write(data.encode('utf-8') if isinstance(data, str) else data)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name in files:
      path = os.path.join(out_dir, name)
      os.replace(os.path.join(staging, name), path)
      paths.append(path)
    return paths
  finally:
    shutil.rmtree(staging, ignore_errors=True)
