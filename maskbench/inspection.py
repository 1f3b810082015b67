"""``maskbench inspect``: counts per bin, a ratio histogram, examples and shape statistics.

Works on a mask store, a split made by ``build-testset``, or a folder of NVIDIA's released
test masks (whose files are verified against their numbers). The shape statistics
(:mod:`maskbench.shapes`) are the ones measured on NVIDIA's release, so a split can be
compared with it bin by bin: beside the table, :mod:`maskbench.fidelity` puts NVIDIA's
medians, the ratio of every cell and the count of bins within ×1.5 (``fidelity.md``,
``fidelity.png``), and for a split made by ``build-testset`` the share of masks that the
most-used raw mask went into.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from maskbench.bins import BORDER_CLASSES, N_RATIO_BINS, hole_ratio, min_border_distance, ratio_bin
from maskbench.config import Config
from maskbench.errors import ConfigError, InputError
from maskbench.fidelity import SourceReuse, compare_with_reference, fidelity_markdown, source_reuse
from maskbench.figures import fidelity_figure, ratio_histogram, save_figure
from maskbench.files import read_mask, refuse_existing, write_image, write_text_atomic
from maskbench.manifest import read_manifest
from maskbench.parallel import map_ordered
from maskbench.rendering import example_grid
from maskbench.rng import item_rng
from maskbench.shapes import ShapeStats, shape_stats, stats_markdown, summarize_shapes
from maskbench.splits import FOREIGN_THRESHOLD, read_testset
from maskbench.store import MaskStore, is_store
from maskbench.testset_config import TestsetConfig

InspectKind = Literal["store", "maskbench", "nvidia"]
#: A (ratio bin 0 … 5, border class) pair.
BinKey = tuple[int, str]
#: Every (bin, class), in file order.
_BIN_KEYS: tuple[BinKey, ...] = tuple((k, b) for k in range(N_RATIO_BINS) for b in BORDER_CLASSES)


@dataclass(frozen=True)
class InspectConfig(Config):
    """Settings of ``maskbench inspect``; defaults in ``configs/inspect.toml``.

    Attributes
    ----------
    stats_per_bin : int
        Masks per (bin, class) whose shapes are measured (a seeded sample), ≥ 0; 0 = all.
    examples : int
        Examples per (bin, class) in ``examples.png``, ≥ 0.
    histogram_bins : int
        Bars of the hole-ratio histogram, ≥ 1.
    seed : int
        Seed of the sample, ≥ 0.
    workers : int
        Worker processes, ≥ 0 (0 or 1: none).
    margin : int or "auto"
        Border margin, px, ≥ 0; ``"auto"``: the split's own, else ``border_margin`` of
        ``configs/testset.toml``.
    """

    stats_per_bin: int
    examples: int
    histogram_bins: int
    seed: int
    workers: int
    margin: int | Literal["auto"]

    defaults: ClassVar[str] = "inspect"

    def validate(self) -> None:
        """Check the ranges (the types are checked on loading).

        Raises
        ------
        ConfigError
            For a value out of range.
        """
        if self.stats_per_bin < 0 or self.examples < 0 or self.seed < 0 or self.workers < 0:
            raise ConfigError("stats_per_bin, examples, seed and workers must be >= 0")
        if self.histogram_bins < 1:
            raise ConfigError(f"histogram_bins must be >= 1, got {self.histogram_bins}")
        if self.margin != "auto" and self.margin < 0:
            raise ConfigError(f'margin must be >= 0 px or "auto", got {self.margin}')


@dataclass(frozen=True)
class InspectReport:
    """What :func:`inspect_path` found and wrote.

    Attributes
    ----------
    path : Path
        What was inspected.
    kind : {"store", "maskbench", "nvidia"}
        A mask store, a split made by ``build-testset``, or a folder of numbered masks.
    total : int
        Masks in it.
    outside_bins : int
        Masks whose hole ratio lies in no bin (stores only; a split has none).
    mismatches : int
        NVIDIA folders: masks whose measured bin or class differs from their number.
    table : pandas.DataFrame
        Per-(bin, class) counts and shape statistics (:data:`maskbench.shapes.STATS_COLUMNS`).
    out_dir : Path
        Folder with ``histogram.png``, ``examples.png``, ``shape_stats.csv``, ``summary.md``,
        ``fidelity.md`` and ``fidelity.png``.
    reuse : SourceReuse or None
        Splits made by ``build-testset``: the raw mask that went into the most split masks.
    """

    path: Path
    kind: InspectKind
    total: int
    outside_bins: int
    mismatches: int
    table: pd.DataFrame
    out_dir: Path
    reuse: SourceReuse | None = None

    @property
    def comparison(self) -> pd.DataFrame:
        """The statistics beside NVIDIA's medians.

        Returns
        -------
        pandas.DataFrame
            :func:`maskbench.fidelity.compare_with_reference` of :attr:`table`: 12 rows in file
            order, with the ratio of every cell and the bool ``within`` column.
        """
        return compare_with_reference(self.table)

    def text(self) -> str:
        """A Markdown summary: what it is, counts, the statistics, and NVIDIA's beside them.

        Returns
        -------
        str
            Paragraphs separated by blank lines.
        """
        head = f"{self.path}: {self.kind} with {self.total} masks"
        if self.kind == "store":
            head += f" ({self.outside_bins} outside every ratio bin)"
        if self.kind == "nvidia":
            head += f"; {self.mismatches} masks measure differently from their number"
        parts = [
            head,
            stats_markdown(self.table),
            "Beside NVIDIA's released test masks:",
            fidelity_markdown(self.comparison),
        ]
        if self.reuse is not None:
            parts.append(self.reuse.text())
        return "\n\n".join(parts)


_STORES: dict[str, MaskStore] = {}


def _open_store(path: str) -> MaskStore:
    """The store at ``path``, opened once per process."""
    if path not in _STORES:
        _STORES[path] = MaskStore.open(path)
    return _STORES[path]


@dataclass(frozen=True)
class _MaskReader:
    """Picklable: read one mask (store index or file) and measure it."""

    store_path: str | None
    threshold: int | None
    margin: int

    def read(self, item: int | str) -> np.ndarray:
        """The hole array of a store index or a mask file.

        Parameters
        ----------
        item : int or str
            A store index (when reading a store) or the path of a mask file.

        Returns
        -------
        (H, W) bool ndarray
            True = hole.
        """
        if self.store_path is not None:
            return _open_store(self.store_path)[int(item)]
        return read_mask(item, threshold=self.threshold)

    def __call__(self, item: int | str) -> ShapeStats:
        return shape_stats(self.read(item), margin=self.margin)


@dataclass(frozen=True)
class _Found:
    """What was found at the inspected path: its masks grouped per (bin, class)."""

    kind: InspectKind
    total: int
    outside_bins: int
    mismatches: int
    groups: dict[BinKey, list[Any]]  # store indices or mask files, per (bin, class)
    ratios: list[float]
    reader: _MaskReader


def _find_in_store(path: Path, margin: int | None) -> _Found:
    """Every mask of a store in a bin, by (bin, class), and all hole ratios."""
    margin = TestsetConfig.load().border_margin if margin is None else margin
    store = _open_store(str(path.resolve()))
    groups: dict[BinKey, list[Any]] = {}
    ratios = []
    for index in range(len(store)):
        hole = store[index]
        ratios.append(hole_ratio(hole))
        k = ratio_bin(hole)
        if k is not None:
            border = "N" if min_border_distance(hole) >= margin else "B"
            groups.setdefault((k, border), []).append(index)
    outside = len(store) - sum(map(len, groups.values()))
    return _Found("store", len(store), outside, 0, groups, ratios, _MaskReader(str(path.resolve()), None, margin))


def _find_in_split(path: Path, margin: int | None) -> _Found:
    """The masks of a split or a numbered folder, by their (bin, class)."""
    with warnings.catch_warnings():  # the mismatches go into the report instead
        warnings.simplefilter("ignore", UserWarning)
        testset = read_testset(path, margin=margin, mismatch_limit=None)
    groups: dict[BinKey, list[Any]] = {}
    for mask in testset.masks:
        groups.setdefault((mask.ratio_bin, mask.border), []).append(str(mask.file))
    threshold = FOREIGN_THRESHOLD if testset.kind == "nvidia" else None
    ratios = [mask.hole_ratio for mask in testset.masks]
    reader = _MaskReader(None, threshold, testset.margin)
    return _Found(testset.kind, len(testset), 0, len(testset.mismatches), groups, ratios, reader)


def _sample(items: list[Any], count: int, rng: np.random.Generator) -> list[Any]:
    """``count`` of the items, at random, in their order (all of them for 0 or fewer items)."""
    if count == 0 or len(items) <= count:
        return items
    chosen = np.sort(rng.choice(len(items), size=count, replace=False))
    return [items[i] for i in chosen]


def _shape_table(found: _Found, config: InspectConfig) -> pd.DataFrame:
    """Measure a seeded sample of every (bin, class) and summarise it."""
    rng = item_rng(config.seed)
    sampled = {key: _sample(found.groups.get(key, []), config.stats_per_bin, rng) for key in _BIN_KEYS}
    flat = [item for key in _BIN_KEYS for item in sampled[key]]
    measured = iter(
        list(map_ordered(found.reader, flat, workers=config.workers, desc="inspect", unit="mask", chunksize=16))
    )
    stats_groups = {key: [next(measured) for _ in sampled[key]] for key in _BIN_KEYS}
    counts = {key: len(items) for key, items in found.groups.items()}
    return summarize_shapes(stats_groups, counts, margin=found.reader.margin)


def inspect_path(
    path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    config: InspectConfig | None = None,
    overwrite: bool = False,
) -> InspectReport:
    """Inspect a mask store, a split, or a folder of NVIDIA's test masks.

    Parameters
    ----------
    path : path-like
        What to inspect (the kind is recognised from its files).
    out : path-like, optional
        Folder for the outputs; default ``PATH.inspect`` beside ``path``.
    config : InspectConfig, optional
        The settings; default ``InspectConfig.load()`` (``configs/inspect.toml``).
    overwrite : bool
        Replace an existing output folder.

    Returns
    -------
    InspectReport

    Raises
    ------
    InputError
        Nothing at ``path``, or not a store, a split or a folder of numbered masks.
    OutputExistsError
        The output folder exists and ``overwrite`` is False.
    """
    config = InspectConfig.load() if config is None else config
    path = Path(path)
    if not path.exists():
        raise InputError(f"nothing to inspect at {path}: give a mask store, a test split or a folder of numbered masks")
    out_dir = Path(out) if out is not None else path.parent / f"{path.name}.inspect"
    refuse_existing(out_dir, overwrite=overwrite, what="inspection folder")
    margin = None if config.margin == "auto" else config.margin
    found = _find_in_store(path, margin) if is_store(path) else _find_in_split(path, margin)
    table = _shape_table(found, config)
    reuse = source_reuse(row.sources for row in read_manifest(path)) if found.kind == "maskbench" else None
    report = InspectReport(path, found.kind, found.total, found.outside_bins, found.mismatches, table, out_dir, reuse)
    _write_outputs(report, found, config)
    return report


def _write_outputs(report: InspectReport, found: _Found, config: InspectConfig) -> None:
    """Tables, summary and figures into the report's output folder."""
    out_dir, name = report.out_dir, f"{report.path.name} ({report.kind})"
    out_dir.mkdir(parents=True, exist_ok=True)
    report.table.to_csv(out_dir / "shape_stats.csv", index=False)
    write_text_atomic(out_dir / "summary.md", report.text() + "\n")
    write_text_atomic(out_dir / "fidelity.md", fidelity_markdown(report.comparison) + "\n")
    save_figure(
        fidelity_figure(report.comparison, title=f"{name} beside NVIDIA's test masks"), out_dir / "fidelity.png"
    )
    ratios = np.asarray(found.ratios, dtype=float)
    save_figure(ratio_histogram(ratios, bins=config.histogram_bins, title=name), out_dir / "histogram.png")
    examples = {
        key: [found.reader.read(item) for item in found.groups.get(key, [])[: config.examples]] for key in _BIN_KEYS
    }
    write_image(out_dir / "examples.png", example_grid(examples, columns=max(1, config.examples)))
