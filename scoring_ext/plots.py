"""Performance-profile plot on a given matplotlib Axes (rliable style)."""

from __future__ import annotations

import numpy as np


def plot_performance_profile(ax, taus, rho, labels, title: str | None = None,
                             xlabel: str = r'ratio to the fastest $\tau$'):
  """Step plot of rho[a, :] against taus, one line per label; returns ax."""
  rho = np.asarray(rho, dtype=float)
  for label, curve in zip(labels, rho):
    ax.step(taus, curve, where='post', label=str(label), linewidth=1.5)
  ax.set_xlim(float(taus[0]), float(taus[-1]))
  ax.set_ylim(-0.02, 1.02)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(r'fraction of workloads $\rho(\tau)$')
  if title:
    ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(loc='lower right', fontsize='small')
  return ax


def render_profile_figure(taus, rho, labels, title: str, formats=('png', 'pdf')) -> dict:
  """The profile as {format: bytes}, drawn with the Agg backend (no display)."""
  import io

  import matplotlib
  matplotlib.use('Agg', force=False)
  from matplotlib.figure import Figure

  figure = Figure(figsize=(6, 4), dpi=120)
  plot_performance_profile(figure.add_subplot(1, 1, 1), taus, rho, labels, title)
  figure.tight_layout()
  images = {}
  for fmt in formats:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt)
    images[fmt] = buffer.getvalue()
  return images
