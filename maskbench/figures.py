"""Figures of ``maskbench inspect``: the hole-ratio histogram and the fidelity panels.

Drawn with matplotlib's object-oriented API (:class:`matplotlib.figure.Figure`), which needs
no backend selection and no pyplot state: a figure is built, saved with
:func:`save_figure` and dropped.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from maskbench.bins import RATIO_EDGES
from maskbench.fidelity import FIDELITY_FACTOR, FIDELITY_STATISTICS, bins_within
from maskbench.files import atomic_path

#: Axis titles of the fidelity figure, per statistic.
_STATISTIC_TITLES = {
    "components": "components",
    "perimeter_per_area": "perimeter / area",
    "half_width": "half-width, px",
}


def save_figure(figure: Figure, file: str | os.PathLike) -> None:
    """Write a figure to an image file atomically (format from the suffix, e.g. ``.png``).

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        The figure to write.
    file : path-like
        The file to write.
    """
    with atomic_path(file) as temp:
        figure.savefig(temp)


def ratio_histogram(ratios: np.ndarray, *, bins: int, title: str) -> Figure:
    """Histogram of hole ratios with the six bin edges marked.

    Parameters
    ----------
    ratios : (N,) float ndarray
        Hole ratios in [0, 1]; NaN values are left out.
    bins : int
        Bars, ≥ 1, over [0, max(0.7, largest ratio)].
    title : str
        Title of the axes.

    Returns
    -------
    matplotlib.figure.Figure
        7 × 3.5 in at 110 dpi; whole-number counts on the y axis.
    """
    figure = Figure(figsize=(7, 3.5), dpi=110)
    axes = figure.subplots()
    finite = ratios[np.isfinite(ratios)]
    axes.hist(finite, bins=bins, range=(0.0, max(0.7, float(finite.max()) if finite.size else 0.7)), color="#4878a8")
    for edge in RATIO_EDGES:
        axes.axvline(float(edge), color="#c44e52", linewidth=0.8, linestyle="--")
    axes.set_xlabel("hole ratio (dashed: bin edges)")
    axes.set_ylabel("masks")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.5 ticks on small histograms
    axes.set_title(title)
    figure.tight_layout()
    return figure


def fidelity_figure(comparison: pd.DataFrame, *, title: str) -> Figure:
    """Our medians and NVIDIA's side by side: one panel per statistic, 12 bins each.

    Parameters
    ----------
    comparison : pandas.DataFrame
        As :func:`maskbench.fidelity.compare_with_reference` returns; its ``within`` column
        marks the bins whose labels are drawn in black (others in red).
    title : str
        Start of the figure's title (the count of bins within ×1.5 follows).

    Returns
    -------
    matplotlib.figure.Figure
        15 × 4.2 in at 100 dpi.
    """
    labels = [f"{row['bin']} {row['class']}" for row in comparison.to_dict("records")]
    positions = np.arange(len(labels))
    figure = Figure(figsize=(15, 4.2), dpi=100)
    panels = figure.subplots(1, len(FIDELITY_STATISTICS))
    for axes, statistic in zip(panels, FIDELITY_STATISTICS, strict=True):
        axes.bar(
            positions - 0.2, comparison[f"{statistic}_nvidia"], width=0.4, color="#999999", label="NVIDIA (median)"
        )
        axes.bar(
            positions + 0.2, comparison[statistic].astype(float), width=0.4, color="#4878a8", label="this (median)"
        )
        axes.set_xticks(positions, labels, rotation=60, ha="right", fontsize=7)
        for tick, within in zip(axes.get_xticklabels(), comparison["within"], strict=True):
            tick.set_color("black" if within else "#c44e52")
        axes.set_title(_STATISTIC_TITLES[statistic])
    panels[0].legend(fontsize=8)
    count = bins_within(comparison)
    figure.suptitle(f"{title}: {count} of {len(labels)} bins within ×{FIDELITY_FACTOR:g} (red: not)")
    figure.tight_layout()
    return figure
