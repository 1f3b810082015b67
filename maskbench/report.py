"""Table 1, plots and sample grids from one or more score folders (shards or runs of other models).

:func:`write_report` merges the per-pair caches of score folders that share one pairing (same
test set, images, seed, limit and reuse; any shards) and writes:

``pairs.csv``
    one row per pair and model: pair id, mask, image, bin, border, hole ratio, ℓ1, PSNR, SSIM;
``table1.csv`` / ``table1.md``
    Liu et al.'s Table 1 layout: rows ``l1(NAME)(%)``, ``PSNR(NAME)``, ``SSIM(NAME)``,
    ``IScore(NAME)`` per model, columns the six hole-ratio bins × N/B; then ``IS(NAME)``,
    ``IS(GT)`` and ``FID(NAME)`` (the numbers behind IScore);
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
from maskbench.score import GROUND_TRUTH, MASKED_INPUT, METRIC_COLUMNS, ResultCache, bin_means, pairs_of_run, read_run

#: Table-1 rows per model: (metric column, row label pattern, decimals in the Markdown table).
TABLE_ROWS: tuple[tuple[str, str, int], ...] = (
    ("l1", "l1({})(%)", 2),
    ("psnr", "PSNR({})", 2),
    ("ssim", "SSIM({})", 3),
    ("iscore", "IScore({})", 3),
)
#: Rows after the paper's block: the numbers behind IScore.
INCEPTION_ROWS: tuple[tuple[str, str, int], ...] = (("is", "IS({})", 3), ("fid", "FID({})", 2))
#: Written in the cells of Inception rows when the run skipped the Inception network.
SKIPPED = "n/a (--no-inception)"
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


def _inception_by_bin(pairs: pd.DataFrame, features: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[tuple[int, str], tuple[float, np.ndarray | None]]:
    """(bin, border) → (IS of the pairs in order of position, pool features); NaN IS when any is missing."""
    result = {}
    for (ratio_bin, border), group in pairs.sort_values("position").groupby(["ratio_bin", "border"], sort=False):
        ids = list(group["pair"])
        if not ids or any(pair_id not in features for pair_id in ids):
            result[(int(ratio_bin), str(border))] = (math.nan, None)
            continue
        logits = np.stack([features[pair_id][0] for pair_id in ids])
        pool = np.stack([features[pair_id][1] for pair_id in ids])
        result[(int(ratio_bin), str(border))] = (inception_score_of_logits(logits)[0], pool)
    return result


def _cell(ratio_bin: int, border: str) -> str:
    return f"{BIN_LABELS[ratio_bin]} {border}"


def build_table(
    per_pair: pd.DataFrame,
    inception: dict[str, dict[tuple[int, str], float]] | None,
    models: Sequence[str],
) -> pd.DataFrame:
    """Table 1 as a DataFrame: index the row labels, columns :data:`COLUMNS`.

    Parameters
    ----------
    per_pair : DataFrame
        ``pairs.csv`` rows (columns ``model``, ``ratio_bin``, ``border``, ``l1``, ``psnr``, ``ssim``).
    inception : dict or None
        ``{"is": {label: {(bin, border): IS}}, "is_gt": {(bin, border): IS}, "fid": {...}}``;
        None when the Inception network was skipped (those cells hold :data:`SKIPPED`).
    models : sequence of str
        Model labels in row order.
    """
    means = bin_means(per_pair) if len(per_pair) else pd.DataFrame()
    rows: dict[str, dict[str, Any]] = {}

    def value(metric: str, model: str, ratio_bin: int, border: str) -> Any:
        if metric in METRIC_COLUMNS:
            key = (model, ratio_bin, border)
            return float(means.loc[key, metric]) if key in means.index else math.nan
        if inception is None:
            return SKIPPED
        if metric == "iscore":
            return inception["is_gt"].get((ratio_bin, border), math.nan) - inception["is"][model].get((ratio_bin, border), math.nan)
        return inception[metric][model].get((ratio_bin, border), math.nan)

    for metric, pattern, _ in TABLE_ROWS + INCEPTION_ROWS:
        for model in models:
            rows[pattern.format(model)] = {
                _cell(k, b): value(metric, model, k, b) for k in range(N_RATIO_BINS) for b in BORDER_CLASSES
            }
        if metric == "is":
            rows["IS(GT)"] = {
                _cell(k, b): SKIPPED if inception is None else inception["is_gt"].get((k, b), math.nan)
                for k in range(N_RATIO_BINS) for b in BORDER_CLASSES
            }  # fmt: skip
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(COLUMNS))


def _decimals(label: str) -> int:
    for _, pattern, decimals in TABLE_ROWS + INCEPTION_ROWS:
        if label.startswith(pattern.split("{")[0]):
            return decimals
    return 3


def table_markdown(table: pd.DataFrame, *, models: Sequence[str], counts: pd.Series, inception: bool) -> str:
    """Table 1 in Markdown: the paper's block, then the Inception details, then notes."""

    def format_cell(label: str, cell: Any) -> str:
        if isinstance(cell, str):
            return "n/a"
        return "–" if not math.isfinite(cell) and not math.isinf(cell) else f"{cell:.{_decimals(label)}f}"

    header = "| | " + " | ".join(COLUMNS) + " |\n|---|" + "---:|" * len(COLUMNS) + "\n"
    blocks = []
    paper_rows = len(TABLE_ROWS) * len(models)
    for start, stop in ((0, paper_rows), (paper_rows, len(table))):
        lines = [f"| {label} | " + " | ".join(format_cell(label, cell) for cell in row) + " |" for label, row in
                 zip(table.index[start:stop], table.to_numpy()[start:stop])]  # fmt: skip
        blocks.append(header + "\n".join(lines) + "\n")
    notes = [
        "Columns: hole-to-image area ratio bins; N = no hole pixel within 50 px of the border, B = border.",
        f"Pairs per cell: {_count_text(counts)}. ℓ1, PSNR, SSIM: means over the pairs of a cell, on the "
        "composite (output with the known pixels of the ground truth) vs the ground truth, 512×512 RGB in [0, 1].",
    ]
    if inception:
        notes.append(
            "IScore is our reading of the paper's column: IS(ground truth) − IS(outputs) on the same images "
            "(lower is better). It is not claimed to reproduce the paper's numbers. IS: torch-fidelity's "
            "2015-12-05 Inception, 10 splits; – where a cell has fewer than 10 pairs. FID: outputs vs ground truth of the cell."
        )
    else:
        notes.append("IScore, IS and FID were not computed (--no-inception).")
    return (
        "## Table 1\n\n" + blocks[0] + "\n### Inception Score and FID behind IScore\n\n" + blocks[1] + "\n"
        + "\n".join(f"- {note}" for note in notes) + "\n"
    )  # fmt: skip


def _count_text(counts: pd.Series) -> str:
    values = sorted(set(int(value) for value in counts))
    return str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]} (cells differ; a run may be unfinished)"


def _format_csv(table: pd.DataFrame) -> pd.DataFrame:
    return table.rename_axis("metric").reset_index()


def plot_metrics(file: Path, per_pair: pd.DataFrame, table: pd.DataFrame, models: Sequence[str], *, inception: bool) -> None:
    """``metrics.png``: each metric against the mean hole ratio of its bin; N solid, B dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(metric, pattern, title) for (metric, pattern, _), title in
              zip(TABLE_ROWS, ("ℓ1 error (%) ↓", "PSNR (dB) ↑", "SSIM ↑", "IScore = IS(GT) − IS(output) ↓"))
              if inception or metric != "iscore"]  # fmt: skip
    ratios = per_pair.groupby(["ratio_bin", "border"])["hole_ratio"].mean() if len(per_pair) else pd.Series(dtype=float)
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, (metric, pattern, title) in zip(axes[0], panels):
        for number, model in enumerate(models):
            for border, style in zip(BORDER_CLASSES, ("-", "--")):
                points = [
                    (float(ratios.get((k, border), (k + 1) / 10 - 0.05)), float(table.loc[pattern.format(model), _cell(k, border)]))
                    for k in range(N_RATIO_BINS)
                ]
                x, y = zip(*points)
                axis.plot(x, y, style, marker="o", markersize=3, color=colors[number % len(colors)],
                          label=f"{model} {border}")  # fmt: skip
        axis.set_title(title)
        axis.set_xlabel("hole ratio")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize="small")
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


def write_report(run_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *, overwrite: bool = False) -> Report:
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
        merged = pairs.merge(rows, on="pair", how="inner")
        merged.insert(1, "model", model["label"])
        frames.append(merged)
        if inception:
            scores = _inception_by_bin(pairs, features)
            results["is"][model["label"]] = {cell: value[0] for cell, value in scores.items()}
            results["fid"][model["label"]] = {
                cell: frechet_distance(value[1], truth[cell][1]) if value[1] is not None and truth[cell][1] is not None else math.nan
                for cell, value in scores.items()
            }
    per_pair = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    inception_tables = {**results, "is_gt": {cell: value[0] for cell, value in truth.items()}} if inception else None
    table = build_table(per_pair, inception_tables, labels)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = ["pair", "model", "mask", "image", "ratio_bin", "bin", "border", "hole_ratio", *METRIC_COLUMNS]
    with atomic_path(out_dir / "pairs.csv") as temp:
        (per_pair[columns] if len(per_pair) else pd.DataFrame(columns=columns)).to_csv(temp, index=False)
    with atomic_path(out_dir / "table1.csv") as temp:
        _format_csv(table).to_csv(temp, index=False)
    counts = per_pair.groupby(["model", "ratio_bin", "border"]).size() if len(per_pair) else pd.Series([0])
    write_text_atomic(out_dir / "table1.md", table_markdown(table, models=labels, counts=counts, inception=inception))
    plot_metrics(out_dir / "metrics.png", per_pair, table, labels, inception=inception)
    plot_samples(out_dir / "samples.png", dirs, pairs, models)
    if not own_folder:
        sources = [json.loads((folder / "meta.json").read_text("utf-8")) for folder in dirs if (folder / "meta.json").is_file()]
        meta = {"sources": [str(folder.resolve()) for folder in dirs], "models": models, "pairs": len(pairs),
                "inception": inception, "runs": sources}  # fmt: skip
        write_text_atomic(out_dir / "meta.json", json.dumps(meta, indent=2) + "\n")
    return Report(out_dir, tuple(labels), len(pairs), table, inception)
