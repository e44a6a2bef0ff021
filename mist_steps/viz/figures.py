"""Matplotlib figures for the report and the explanation steps: headless, saved atomically.

:func:`pyplot` imports matplotlib with the non-interactive Agg backend (no display needed);
:func:`save_figure` writes a figure as PNG atomically and closes it; :func:`shade_runs` shades
the runs of anomalous frames of a 0/1 ground truth on an axis.
"""

from __future__ import annotations

import os

import numpy as np

from mist_steps.formats.atomic import atomic_path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 90) -> None:
    """Write ``fig`` to ``path`` as PNG (atomically) and close it."""
    plt = pyplot()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)


def shade_runs(ax, labels: np.ndarray, unit: float = 1.0, *, colour: str = "tab:red",
               label: str = "ground-truth anomaly") -> None:
    """Shade every run of 1s of the per-frame ``labels`` on ``ax``; x = frame * ``unit``
    (e.g. 1 / fps for seconds). The first span carries the legend ``label``."""
    flags = np.concatenate([[0], np.asarray(labels).astype(np.int8) != 0, [0]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(flags))
    for k, (start, end) in enumerate(zip(edges[::2], edges[1::2])):
        ax.axvspan(start * unit, end * unit, color=colour, alpha=0.15,
                   label=label if k == 0 else None)
