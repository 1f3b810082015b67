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

import numpy as np
import pandas as pd

from maskbench.errors import InputError, OutputExistsError
from maskbench.files import atomic_path, write_text_atomic
from maskbench.metrics import frechet_distance, inception_score_of_logits
from maskbench.report_plots import plot_metrics, plot_samples
from maskbench.results import (
    GROUND_TRUTH,
    META_FILE,
    METRIC_COLUMNS,
    ResultCache,
    pairs_of_run,
    read_run,
    result_folder,
)
from maskbench.table1 import IS_ABSENT, build_table, table_for_csv, table_markdown


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote.

    Attributes
    ----------
    out_dir : Path
        The folder holding ``pairs.csv``, ``table1.csv``, ``table1.md`` and the plots.
    models : tuple of str
        The model labels, in row order (a name, with its folder key when two models share it).
    pairs : int
        Pairs of the merged pair lists.
    table : DataFrame
        Table 1 as :func:`maskbench.table1.build_table` gives it.
    inception : bool
        Whether every folder had Inception features (IScore, IS and FID rows).
    """

    out_dir: Path
    models: tuple[str, ...]
    pairs: int
    table: pd.DataFrame
    inception: bool


def _check_same_pairing(runs: Sequence[dict[str, Any]], dirs: Sequence[Path]) -> None:
    first = runs[0]["pairing"]
    for run, folder in zip(runs[1:], dirs[1:], strict=True):
        if run["pairing"] != first:
            differing = sorted(key for key in first if run["pairing"].get(key) != first[key])
            raise InputError(
                f"{folder} pairs other masks and images than {dirs[0]} (differs in {', '.join(differing)}); "
                "only runs of one split, image folder and seed can be merged"
            )


def _models(runs: Sequence[dict[str, Any]], dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """Union of the runs' models in order of appearance; one key must mean one set of weights."""
    models: dict[str, dict[str, Any]] = {}
    for run, folder in zip(runs, dirs, strict=True):
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


def _merged_cache(
    dirs: Sequence[Path], key: str, *, features: bool
) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Rows and features of one pseudo-model (``key``) over all folders (the first folder holding a pair wins)."""
    frames, found = [], {}
    for folder in dirs:
        cache = ResultCache(result_folder(folder, key), features=features)
        frames.append(cache.table())
        if features:
            for pair_id, value in cache.features_of().items():
                found.setdefault(pair_id, value)
    return pd.concat(frames, ignore_index=True).drop_duplicates("pair"), found


def _inception_by_bin(
    pairs: pd.DataFrame, features: dict[str, tuple[np.ndarray, np.ndarray]]
) -> dict[tuple[int, str], tuple[float | str, np.ndarray | None]]:
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


def _model_pairs(
    dirs: Sequence[Path], pairs: pd.DataFrame, model: dict[str, Any], *, features: bool
) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """A model's rows of ``pairs.csv`` (column ``model`` = its spec; NaN: a metric not stored) and its features."""
    rows, found = _merged_cache(dirs, model["key"], features=features)
    merged = pairs.merge(rows.reindex(columns=["pair", *METRIC_COLUMNS]), on="pair", how="inner")
    merged.insert(1, "model", model["spec"])
    return merged, found


def _inception_tables(
    pairs: pd.DataFrame,
    truth_features: dict[str, tuple[np.ndarray, np.ndarray]],
    model_features: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
) -> dict[str, Any]:
    """IS and FID of every model (by label) and IS of the ground truth, per cell.

    The result is a :data:`maskbench.table1.InceptionTables`.
    """
    truth = _inception_by_bin(pairs, truth_features)
    tables: dict[str, Any] = {"is": {}, "fid": {}}
    for label, features in model_features.items():
        scores = _inception_by_bin(pairs, features)
        tables["is"][label] = {cell: value[0] for cell, value in scores.items()}
        tables["fid"][label] = {
            cell: frechet_distance(value[1], truth[cell][1])
            if value[1] is not None and truth[cell][1] is not None
            else math.nan
            for cell, value in scores.items()
        }
    return {**tables, "is_gt": {cell: value[0] for cell, value in truth.items()}}


def _write_pairs_csv(file: Path, per_pair: pd.DataFrame) -> None:
    """``pairs.csv``: one row per pair and model (named by its spec)."""
    columns = ["pair", "model", "mask", "image", "ratio_bin", "bin", "border", "hole_ratio", *METRIC_COLUMNS]
    with atomic_path(file) as temp:
        (per_pair[columns] if len(per_pair) else pd.DataFrame(columns=columns)).to_csv(temp, index=False)


def _write_sources_meta(
    out_dir: Path, dirs: Sequence[Path], models: list[dict[str, Any]], *, pairs: int, inception: bool
) -> None:
    """``meta.json`` of a merged report: its source folders, models, pairs and their runs' ``meta.json``."""
    sources = [json.loads((folder / META_FILE).read_text("utf-8")) for folder in dirs if (folder / META_FILE).is_file()]
    meta = {
        "sources": [str(folder.resolve()) for folder in dirs],
        "models": models,
        "pairs": pairs,
        "inception": inception,
        "runs": sources,
    }
    write_text_atomic(out_dir / META_FILE, json.dumps(meta, indent=2) + "\n")


def _merged_pairs(dirs: Sequence[Path]) -> pd.DataFrame:
    """The pair lists of all folders, each pair once, in order of position."""
    pairs = pd.concat([pairs_of_run(folder) for folder in dirs], ignore_index=True).drop_duplicates("pair")
    return pairs.sort_values("position", ignore_index=True)


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

    Returns
    -------
    Report
        Where the report is, its model labels, its pair count, Table 1 and whether it has the
        Inception rows.

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
    pairs = _merged_pairs(dirs)
    models = _models(runs, dirs)
    labels = [model["label"] for model in models]
    merged = {model["label"]: _model_pairs(dirs, pairs, model, features=inception) for model in models}
    per_pair = (
        pd.concat([rows for rows, _ in merged.values()], ignore_index=True) if models else pd.DataFrame()
    )  # models by spec
    labelled = (
        per_pair.assign(model=per_pair["model"].map({model["spec"]: model["label"] for model in models}))
        if models
        else per_pair
    )
    inception_tables = None
    if inception:
        _, truth_features = _merged_cache(dirs, GROUND_TRUTH, features=True)
        inception_tables = _inception_tables(
            pairs, truth_features, {label: found for label, (_, found) in merged.items()}
        )
    table = build_table(labelled, inception_tables, labels, paper=paper)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_pairs_csv(out_dir / "pairs.csv", per_pair)
    with atomic_path(out_dir / "table1.csv") as temp:
        table_for_csv(table).to_csv(temp, index=False)
    counts = per_pair.groupby(["model", "ratio_bin", "border"]).size() if len(per_pair) else pd.Series([0])
    write_text_atomic(out_dir / "table1.md", table_markdown(table, models=labels, counts=counts, inception=inception))
    plot_metrics(out_dir / "metrics.png", labelled, table, labels, inception=inception, paper=paper)
    plot_samples(out_dir / "samples.png", dirs, pairs, models)
    if not own_folder:
        _write_sources_meta(out_dir, dirs, models, pairs=len(pairs), inception=inception)
    return Report(out_dir, tuple(labels), len(pairs), table, inception)
