"""Performance-profile plot on a given matplotlib Axes (rliable style).

Tied algorithms have identical step curves; so that none hides another, each algorithm gets
its own (line style, marker) pair, and its markers sit at its own offset along the tau grid.
The legend carries each algorithm's score B when given.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

LINE_STYLES = ('-', '--', ':', '-.')
MARKERS = ('o', 's', '^', 'D', 'v', 'P', 'X', '*', '<', '>')


def line_styles(n: int) -> list[tuple[str, str]]:
  """(line style, marker) of each of n algorithms: pairs differ for up to 20 algorithms."""
  return [(LINE_STYLES[i % len(LINE_STYLES)], MARKERS[i % len(MARKERS)]) for i in range(n)]


def legend_label(label: str, score: float | None) -> str:
  return str(label) if score is None else f'{label} (B = {score:.3f})'


def plot_performance_profile(
  ax,
  taus,
  rho,
  labels,
  title: str | None = None,
  xlabel: str = r'ratio to the fastest $\tau$',
  scores=None,
):
  """Step plot of rho[a, :] against taus, one line per label; returns ax."""
  rho = np.asarray(rho, dtype=float)
  n = len(rho)
  every = max(1, len(taus) // 8)
  scores = [None] * n if scores is None else list(scores)
  for i, (label, curve, (style, marker), score) in enumerate(
    zip(labels, rho, line_styles(n), scores)
  ):
    ax.step(
      taus,
      curve,
      where='post',
      label=legend_label(label, score),
      linewidth=1.5,
      linestyle=style,
      marker=marker,
      markersize=5,
      alpha=0.85,
      markevery=(int(i * every / max(n, 1)) % every, every),
    )
  ax.set_xlim(float(taus[0]), float(taus[-1]))
  ax.set_ylim(-0.02, 1.02)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(r'fraction of workloads $\rho(\tau)$')
  if title:
    ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(loc='lower right', fontsize='small')
  return ax


def render_profile_figure(
  taus, rho, labels, title: str, formats=('png', 'pdf'), scores=None
) -> dict:
  """The profile as {format: bytes}, drawn on a standalone Figure (no display, no pyplot)."""
  figure = Figure(figsize=(6, 4), dpi=120)
  plot_performance_profile(figure.add_subplot(1, 1, 1), taus, rho, labels, title, scores=scores)
  figure.tight_layout()
  images = {}
  for fmt in formats:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt)
    images[fmt] = buffer.getvalue()
  return images
