"""The score folder: what :func:`maskbench.score.score` writes and :func:`maskbench.report.write_report` reads.

Layout of a score folder ``OUT``::

    OUT/run.json                     what the pairs are (RUN_FORMAT) and the models scored
    OUT/meta.json                    versions, settings, device and inputs of the run
    OUT/cache/pairs.csv              the pairs of the run (its shard): mask, image, bin
    OUT/cache/gt/part-NNNNN.*        the ground truth's Inception features (a ResultCache)
    OUT/cache/models/KEY/part-*.*    a model's per-pair metrics and features (a ResultCache)
    OUT/cache/samples/KEY/ID.png     sample images shown in samples.png
    OUT/images/KEY/ID.png            every pair's images (``save_images``)

KEY is :func:`model_key` of the model's spec, or :data:`GROUND_TRUTH` / :data:`MASKED_INPUT`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maskbench.bins import BIN_LABELS
from maskbench.errors import InputError
from maskbench.files import atomic_path, write_text_atomic
from maskbench.locking import file_lock
from maskbench.pairing import Pair

#: Format name of ``run.json``.
RUN_FORMAT = "maskbench-score"
#: File names of the run record and of the run's metadata.
RUN_FILE = "run.json"
META_FILE = "meta.json"
#: Columns of a cached part file of a model: ℓ1 (%), PSNR, Wang et al.'s SSIM and our reading of
#: the literature's SSIM (:mod:`maskbench.ssim_maps`; absent from runs made before it existed).
METRIC_COLUMNS: tuple[str, ...] = ("l1", "psnr", "ssim", "ssim_paper")
#: Lock file of a cache folder's writers.
LOCK_NAME = ".lock"
#: Pseudo-model name of the ground truth in caches and sample images.
GROUND_TRUTH = "gt"
#: Name of the masked inputs in sample images.
MASKED_INPUT = "input"


def model_key(spec: str) -> str:
    """Folder name of a model's cache and images: the spec with unsafe characters replaced.

    Parameters
    ----------
    spec : str
        An inpainter spec (:func:`maskbench.models.load_inpainter`).

    Returns
    -------
    str
        At most 80 characters of ``[A-Za-z0-9._-]``; ``"model"`` when nothing is left.
    """
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", spec.strip()).strip("._") or "model"
    return key[-80:]


@dataclass(frozen=True)
class ModelInfo:
    """What identifies a scored model in ``run.json``: spec, name, cache key, kind and weights hash.

    Attributes
    ----------
    spec : str
        The spec it was loaded from.
    name : str
        Short name for tables.
    key : str
        :func:`model_key` of the spec: its folder name.
    kind : {"torch", "cpu"}
        How it runs (:class:`maskbench.models.Inpainter`).
    checkpoint_sha256 : str or None
        SHA-256 of its weights file, None when there is none.
    """

    spec: str
    name: str
    key: str
    kind: str
    checkpoint_sha256: str | None

    def as_dict(self) -> dict[str, Any]:
        """The entry of ``run.json``'s ``models`` list.

        Returns
        -------
        dict
            Keys in this order: ``spec``, ``name``, ``key``, ``kind``, ``checkpoint_sha256``.
        """
        return {
            "spec": self.spec,
            "name": self.name,
            "key": self.key,
            "kind": self.kind,
            "checkpoint_sha256": self.checkpoint_sha256,
        }


def result_folder(out_dir: Path, key: str) -> Path:
    """The cache folder of a pseudo-model: ``cache/gt`` for :data:`GROUND_TRUTH`, else ``cache/models/KEY``.

    Parameters
    ----------
    out_dir : Path
        A score folder.
    key : str
        :data:`GROUND_TRUTH` or a model's :func:`model_key`.

    Returns
    -------
    Path
        ``out_dir / "cache" / "gt"`` or ``out_dir / "cache" / "models" / key`` (it may not exist yet).
    """
    return out_dir / "cache" / GROUND_TRUTH if key == GROUND_TRUTH else out_dir / "cache" / "models" / key


def samples_folder(out_dir: Path) -> Path:
    """``cache/samples``: the sample images that ``samples.png`` shows.

    Parameters
    ----------
    out_dir : Path
        A score folder.

    Returns
    -------
    Path
        ``out_dir / "cache" / "samples"``, holding one folder per pseudo-model key with a PNG per
        sample pair (it may not exist yet).
    """
    return out_dir / "cache" / "samples"


class ResultCache:
    """The per-pair results of one pseudo-model folder (a model, or the ground truth).

    Each part is ``part-NNNNN.csv`` (column ``pair`` and, for models, :data:`METRIC_COLUMNS`)
    and, when Inception features are kept, ``part-NNNNN.npz`` (``pair``, ``logits`` (n, 1008)
    float32, or (n, 0) with pool-only weights, and ``pool`` (n, 2048) float32). The CSV is
    written last: a part without its CSV is not done.

    Parameters
    ----------
    folder : Path
        The pseudo-model's folder (:func:`result_folder`).
    features : bool
        Parts hold Inception features: a part counts only when its ``.npz`` is there too.
    """

    def __init__(self, folder: Path, *, features: bool) -> None:
        self.folder = folder
        self.features = features

    def parts(self) -> list[Path]:
        """The finished parts' CSV files, in order.

        Returns
        -------
        list of Path
            ``part-NNNNN.csv`` files sorted by number; with ``features``, only those whose
            ``.npz`` exists too. Empty when the folder does not exist.
        """
        if not self.folder.is_dir():
            return []
        return sorted(
            path for path in self.folder.glob("part-*.csv") if not self.features or path.with_suffix(".npz").is_file()
        )

    def done(self) -> set[str]:
        """Ids of the pairs whose results are cached.

        Returns
        -------
        set of str
            The ``pair`` values of every finished part (empty when there is none).
        """
        return set(self.table()["pair"]) if self.parts() else set()

    def table(self) -> pd.DataFrame:
        """All cached rows, the first occurrence of a pair kept.

        Returns
        -------
        DataFrame
            The parts' rows in part order: column ``pair`` (str) and, for a model,
            :data:`METRIC_COLUMNS`; an empty frame with column ``pair`` when nothing is cached.
        """
        frames = [pd.read_csv(path, dtype={"pair": str}) for path in self.parts()]
        if not frames:
            return pd.DataFrame({"pair": pd.Series(dtype=str)})
        return pd.concat(frames, ignore_index=True).drop_duplicates("pair")

    def features_of(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The cached Inception features by pair.

        Returns
        -------
        dict
            Pair id → (logits (1008,) float32, or (0,) with pool-only weights; pool features
            (2048,) float32); the first occurrence of a pair kept.
        """
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for path in self.parts():
            with np.load(path.with_suffix(".npz")) as data:
                for pair_id, logits, pool in zip(data["pair"], data["logits"], data["pool"], strict=True):
                    found.setdefault(str(pair_id), (logits, pool))
        return found

    def write(self, rows: pd.DataFrame, logits: np.ndarray | None, pool: np.ndarray | None) -> None:
        """Add one part atomically (features first, then the CSV that marks it done).

        Parameters
        ----------
        rows : DataFrame
            Column ``pair`` and, for a model, :data:`METRIC_COLUMNS`; one row per pair.
        logits, pool : (n, K) and (n, 2048) float32 ndarray, or None
            The rows' Inception features; None when the cache keeps none.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        with file_lock(self.folder / LOCK_NAME):  # processes writing one cache (torchrun ranks) take turns
            numbers = [
                int(path.stem.split("-")[1])
                for path in self.folder.glob("part-*.*")
                if path.stem.split("-")[1].isdigit()
            ]
            self._write_files(self.folder / f"part-{max(numbers, default=-1) + 1:05d}", rows, logits, pool)

    def _write_files(self, stem: Path, rows: pd.DataFrame, logits: np.ndarray | None, pool: np.ndarray | None) -> None:
        """Write ``STEM.npz`` (with features) and then ``STEM.csv``, each atomically."""
        if self.features:
            with atomic_path(stem.with_suffix(".npz")) as temp, open(temp, "wb") as handle:
                np.savez(handle, pair=np.asarray(rows["pair"], dtype=str), logits=logits, pool=pool)
        with atomic_path(stem.with_suffix(".csv")) as temp:
            rows.to_csv(temp, index=False)


def read_run(out_dir: Path) -> dict[str, Any]:
    """``run.json`` of a score folder.

    Parameters
    ----------
    out_dir : Path
        A score folder.

    Returns
    -------
    dict
        Keys ``format``, ``pairing``, ``shard``, ``inception``, ``save_images``, ``testset``,
        ``images`` and ``models`` (a list of :meth:`ModelInfo.as_dict`).

    Raises
    ------
    InputError
        When the folder has no ``run.json``.
    """
    path = out_dir / RUN_FILE
    if not path.is_file():
        raise InputError(
            f"{out_dir} is not a maskbench score folder (no run.json); give the --out of 'maskbench score'"
        )
    return json.loads(path.read_text("utf-8"))


def write_run(out_dir: Path, record: dict[str, Any]) -> None:
    """Write ``run.json`` atomically (indented JSON and a final newline).

    Parameters
    ----------
    out_dir : Path
        The score folder (it must exist).
    record : dict
        As :func:`read_run` returns it.
    """
    write_text_atomic(out_dir / RUN_FILE, json.dumps(record, indent=2) + "\n")


def write_pair_list(out_dir: Path, pairs: Sequence[Pair]) -> None:
    """``cache/pairs.csv``: the pairs of this run (its shard), with mask, image and bin.

    Parameters
    ----------
    out_dir : Path
        The score folder.
    pairs : sequence of Pair
        The run's pairs, in order of position.
    """
    table = pd.DataFrame(
        {
            "pair": [pair.pair_id for pair in pairs],
            "position": [pair.position for pair in pairs],
            "mask": [pair.mask.name for pair in pairs],
            "image": [pair.image_name for pair in pairs],
            "ratio_bin": [pair.mask.ratio_bin for pair in pairs],
            "bin": [BIN_LABELS[pair.mask.ratio_bin] for pair in pairs],
            "border": [pair.mask.border for pair in pairs],
            "hole_ratio": [pair.mask.hole_ratio for pair in pairs],
        }
    )
    with atomic_path(out_dir / "cache" / "pairs.csv") as temp:
        table.to_csv(temp, index=False)


def pairs_of_run(out_dir: Path) -> pd.DataFrame:
    """The pair list of a run.

    Parameters
    ----------
    out_dir : Path
        A score folder.

    Returns
    -------
    DataFrame
        ``cache/pairs.csv``: columns ``pair`` (str), ``position``, ``mask``, ``image``,
        ``ratio_bin`` (0–5), ``bin``, ``border`` (N or B) and ``hole_ratio`` (0–1).
    """
    return pd.read_csv(out_dir / "cache" / "pairs.csv", dtype={"pair": str})


def bin_means(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per-bin means of :data:`METRIC_COLUMNS` from per-pair rows, as sums of saved statistics.

    Parameters
    ----------
    pairs : DataFrame
        Columns ``model``, ``ratio_bin``, ``border`` and :data:`METRIC_COLUMNS` (one row per
        pair and model); NaN where a value was not stored (``ssim_paper`` of older runs).

    Returns
    -------
    DataFrame
        Index (model, ratio_bin, border); columns ``count`` and the means, NaN for a metric that
        some pair of the cell lacks (a mean over part of a cell would not be that cell's).
    """
    keys = ["model", "ratio_bin", "border"]
    grouped = pairs.groupby(keys, sort=False)[list(METRIC_COLUMNS)]
    incomplete = pairs[list(METRIC_COLUMNS)].isna().groupby([pairs[key] for key in keys], sort=False).any()
    sums = grouped.sum().mask(incomplete)
    counts = grouped.size().rename("count")
    means = sums.div(counts, axis=0)
    return pd.concat([counts, means], axis=1)
