"""The plots of a report: ``metrics.png`` (each metric against the hole ratio) and ``samples.png``.

Drawn with matplotlib's object-oriented API (:class:`matplotlib.figure.Figure`): no pyplot, no
backend to select, nothing global changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from maskbench.bins import BORDER_CLASSES, N_RATIO_BINS
from maskbench.files import atomic_path, read_image
from maskbench.paper import PAPER_CITATION, published_apart, published_rows
from maskbench.results import GROUND_TRUTH, MASKED_INPUT, samples_folder
from maskbench.table1 import TABLE_ROWS, cell_label, count_text

#: Panel titles of ``metrics.png`` by metric.
PANEL_TITLES: dict[str, str] = {
    "l1": "ℓ1 error (%) ↓",
    "psnr": "PSNR (dB) ↑",
    "ssim": "SSIM (Wang et al.) ↑",
    "ssim_paper": "SSIM_paper (literature's) ↑",
    "iscore": "IScore = IS(GT) − IS(output) ↓",
}


def _number(cell: Any) -> float:
    """A table cell as a number to plot; NaN for the n/a strings."""
    return float(cell) if isinstance(cell, (int, float, np.floating)) else math.nan


#: Markers of our models in ``metrics.png``, one per model (published rows: grey crosses).
MODEL_MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "*", "h")
#: Horizontal shift between the models' points in ``metrics.png`` (hole ratio units), so none hides another.
MODEL_SHIFT = 0.004


def _confidence_halfwidths(per_pair: pd.DataFrame, metric: str) -> dict[str, dict[str, float]]:
    """Model → cell → half-width of the 95 % confidence interval of the cell's mean, 1.96·s/√n.

    s is the sample standard deviation of the finite per-pair values (NaN when n < 2); metrics
    without per-pair values (IScore) give ``{}``.
    """
    if metric not in per_pair.columns or not len(per_pair):
        return {}
    finite = per_pair[np.isfinite(per_pair[metric].astype(float))]
    grouped = finite.groupby(["model", "ratio_bin", "border"])[metric]
    halfwidths: dict[str, dict[str, float]] = {}
    for (model, ratio_bin, border), value in (1.96 * grouped.std(ddof=1) / np.sqrt(grouped.count())).items():
        halfwidths.setdefault(str(model), {})[cell_label(int(ratio_bin), str(border))] = float(value)
    return halfwidths


def _plot_rows(
    axis: Axes,
    x: dict[str, float],
    rows: dict[str, dict[str, Any]],
    *,
    published: bool,
    colors: list[str],
    bands: dict[str, dict[str, float]] | None = None,
) -> None:
    """One line per row and border class; published rows grey with crosses.

    Our rows are coloured, with one marker and a small x shift per model, and the 95 %
    confidence band of ``bands``.
    """
    for number, (label, cells) in enumerate(rows.items()):
        shift = 0.0 if published else MODEL_SHIFT * (number - (len(rows) - 1) / 2)
        for border, style in zip(BORDER_CLASSES, ("-", "--"), strict=True):
            columns = [cell_label(k, border) for k in range(N_RATIO_BINS)]
            values = np.array([_number(cells[column]) for column in columns])
            positions = [x[column] + shift for column in columns]
            color = str(0.15 + 0.6 * number / max(len(rows) - 1, 1)) if published else colors[number % len(colors)]
            axis.plot(
                positions,
                values,
                style,
                marker="x" if published else MODEL_MARKERS[number % len(MODEL_MARKERS)],
                markersize=3 if published else 4,
                linewidth=0.8 if published else 1.2,
                color=color,
                label=f"{label.split(' [')[0]} {border}",
            )
            halfwidths = np.array([(bands or {}).get(label, {}).get(column, math.nan) for column in columns])
            if np.isfinite(halfwidths).any():
                axis.fill_between(
                    positions, values - halfwidths, values + halfwidths, color=color, alpha=0.15, linewidth=0
                )


def _hole_ratios(per_pair: pd.DataFrame) -> dict[str, float]:
    """Cell → mean hole ratio of its pairs (the bin's middle when it has none): the x of each point."""
    ratios = per_pair.groupby(["ratio_bin", "border"])["hole_ratio"].mean() if len(per_pair) else pd.Series(dtype=float)
    return {
        cell_label(k, b): float(ratios.get((k, b), (k + 1) / 10 - 0.05))
        for k in range(N_RATIO_BINS)
        for b in BORDER_CLASSES
    }


def _save(figure: Figure, file: Path, *, dpi: int) -> None:
    """Write a figure as PNG, atomically."""
    with atomic_path(file) as temp:
        figure.savefig(temp, dpi=dpi)


def plot_metrics(
    file: Path,
    per_pair: pd.DataFrame,
    table: pd.DataFrame,
    models: Sequence[str],
    *,
    inception: bool,
    paper: bool = False,
) -> None:
    """``metrics.png``: each metric against the mean hole ratio of its bin; N solid, B dashed.

    Every model has its own colour and marker and is shifted a little along x, so none hides
    another; a band shows the 95 % confidence interval of each cell's mean, and the title gives
    the pairs per cell. With ``paper``, the published rows of Liu et al. 2018 are drawn in grey
    (crosses) in the panel of the column they compare with (their SSIM in the SSIM_paper panel),
    at our cells' hole ratios, and their IScore (ImageNet) gets a panel of its own.

    Parameters
    ----------
    file : Path
        The PNG to write (atomically).
    per_pair : DataFrame
        One row per pair and model: columns ``model`` (the labels in ``models``), ``ratio_bin``,
        ``border``, ``hole_ratio`` and the metric columns.
    table : DataFrame
        Table 1 (:func:`maskbench.table1.build_table`) of the same models.
    models : sequence of str
        Model labels, one line each.
    inception : bool
        Draw the IScore panel.
    paper : bool
        Draw the published rows too.
    """
    panels = [(metric, pattern) for metric, pattern, _ in TABLE_ROWS if inception or metric != "iscore"]
    x = _hole_ratios(per_pair)
    apart = published_apart() if paper else {}
    figure = Figure(figsize=(4.2 * (len(panels) + bool(apart)), 3.6))
    axes = figure.subplots(1, len(panels) + bool(apart), squeeze=False)[0]
    colors = rcParams["axes.prop_cycle"].by_key()["color"]
    # strict=False: with ``apart`` there is one axis more than panels, drawn below
    for axis, (metric, pattern) in zip(axes, panels, strict=False):
        ours = {model: table.loc[pattern.format(model)].to_dict() for model in models}
        _plot_rows(axis, x, ours, published=False, colors=colors, bands=_confidence_halfwidths(per_pair, metric))
        if paper:
            _plot_rows(axis, x, published_rows(metric), published=True, colors=colors)
        axis.set_title(PANEL_TITLES[metric])
    if apart:
        _plot_rows(axes[-1], x, apart, published=True, colors=colors)
        axes[-1].set_title(f"published IScore (ImageNet), {PAPER_CITATION}\nnot comparable with ours", fontsize=9)
    for axis in axes:
        axis.set_xlabel("hole ratio")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize="x-small", ncol=2 if paper else 1)
    counts = per_pair.groupby(["model", "ratio_bin", "border"]).size() if len(per_pair) else pd.Series([0])
    figure.suptitle(
        f"pairs per cell (n): {count_text(counts)}; bands: 95 % confidence interval of the mean, "
        "1.96·s/√n; N solid, B dashed",
        fontsize=9,
    )
    figure.tight_layout()
    _save(figure, file, dpi=120)


def _sample_image(dirs: Sequence[Path], kind: str, pair_id: str) -> Path | None:
    """The sample PNG of a pseudo-model (``kind``) and pair in the first folder holding it."""
    for folder in dirs:
        path = samples_folder(folder) / kind / f"{pair_id}.png"
        if path.is_file():
            return path
    return None


def plot_samples(
    file: Path, dirs: Sequence[Path], pairs: pd.DataFrame, models: Sequence[dict[str, Any]], *, thumb: int = 160
) -> bool:
    """``samples.png``: masked input, each model's composite and the ground truth per sample pair.

    Parameters
    ----------
    file : Path
        The PNG to write (atomically).
    dirs : sequence of Path
        Score folders whose ``cache/samples`` hold the images.
    pairs : DataFrame
        The pair list (:func:`maskbench.results.pairs_of_run`); a row per pair that has sample images.
    models : sequence of dict
        ``run.json`` model entries with a ``label``: one column each.
    thumb : int
        Side of each thumbnail, px.

    Returns
    -------
    bool
        False (and nothing written) when no sample images were saved.
    """
    rows = [row for row in pairs.sort_values("position").itertuples() if _sample_image(dirs, GROUND_TRUTH, row.pair)]
    if not rows:
        return False
    columns = (
        [(MASKED_INPUT, "input")]
        + [(model["key"], model["label"]) for model in models]
        + [(GROUND_TRUTH, "ground truth")]
    )
    figure = Figure(figsize=(1.7 * len(columns), 1.7 * len(rows)))
    axes = figure.subplots(len(rows), len(columns), squeeze=False)
    for row_axes, row in zip(axes, rows, strict=True):
        for axis, (kind, title) in zip(row_axes, columns, strict=True):
            path = _sample_image(dirs, kind, row.pair)
            if path is not None:
                axis.imshow(cv2.resize(read_image(path), (thumb, thumb), interpolation=cv2.INTER_AREA))
            axis.set_xticks([])
            axis.set_yticks([])
            if row is rows[0]:
                axis.set_title(title, fontsize=8)
        row_axes[0].set_ylabel(f"{row.pair}\n{row.bin} {row.border}", fontsize=7)
    figure.tight_layout()
    _save(figure, file, dpi=100)
    return True
