"""The fixed test split: 6 hole-ratio bins × {N, B} × ``per_bin`` masks of 512×512.

:func:`build_testset` samples the split from a mask store (Liu et al. 2018, section 4.1:
raw masks plus random dilation, rotation and cropping); :func:`read_testset` reads a split
made by it, or a folder of NVIDIA's released test masks, for scoring.

Layout of a split folder ``DIR``::

    DIR/masks/00000.png …   8-bit PNG, 255 = hole, numbered as NVIDIA's release:
                            index = 2·P·k + P·b + j (see :func:`maskbench.bins.testset_index`)
    DIR/manifest.csv        one row per mask (columns in :data:`MANIFEST_COLUMNS`)
    DIR/meta.json           seed, configuration, maskbench version, source store fingerprint and flow methods
    DIR/preview.png         a grid of examples per (bin, class)

Sampling, per slot (k, b, j) and attempt a, from ``item_rng(seed, k, b, j, a)`` only (so any
number of workers gives the same bytes):

1. draw a target hole ratio uniformly in bin k, a number of sources n (``combine_sources``)
   and a share s of the target (``combine_fill``);
2. combine: add sources, each drawn near s·target/n hole pixels (``source_ratio_factor``)
   and rotated, cropped and flipped on its own (:func:`maskbench.augment.random_window`),
   until their union holds s·target pixels (NVIDIA's masks are mixtures of several streaks
   and regions, and a store of small masks can reach the high bins this way);
3. steer: one signed distance map gives every dilation/erosion of the window; take the one
   whose hole count is nearest the target (within ``max_dilation``/``max_erosion``);
4. accept when the result is in bin k and of class b, else try again (attempt a + 1).

N masks need every hole pixel ≥ ``border_margin`` px from the edge. Strategy
``"natural"`` drops the holes that touch each source's frame (they were cut by it), rotates
and flips the rest, scales and places it in the interior instead of cropping, and dilates only as far
as the margin allows (``natural_max_dilation``), so outlines stay natural; after
``natural_tries[k]`` failed attempts it falls back to ``"clear-band"``, which clears the
border band as NVIDIA did (straight cut edges; ``cut_edges`` in the manifest).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import cv2
import numpy as np

from maskbench import __version__
from maskbench.augment import (
    MASK_SIZE,
    AugmentConfig,
    flip,
    random_window,
    resize,
    rotate,
)
from maskbench.bins import (
    BIN_LABELS,
    BORDER_CLASSES,
    N_RATIO_BINS,
    RATIO_EDGES,
    BorderClass,
    border_distance_map,
    is_band_cut,
    min_border_distance,
    ratio_bin,
    ratio_bin_of_count,
    testset_index,
    testset_position,
)
from maskbench.config import config_as_dict, load_config
from maskbench.errors import ConfigError, InputError, InsufficientMasksError, MaskbenchWarning, OutputExistsError
from maskbench.fidelity import SourceReuse, source_reuse
from maskbench.files import read_mask, write_image, write_mask, write_text_atomic
from maskbench.flow_choice import store_method_tags
from maskbench.parallel import map_ordered
from maskbench.provenance import difference_note
from maskbench.rng import item_rng
from maskbench.store import MaskStore, is_store
from maskbench.verify_cache import MaskMeasure, measure_mask_files

Strategy = Literal["natural", "clear-band"]
STRATEGIES: tuple[str, ...] = ("natural", "clear-band")
SteerDistance = Literal["exact", "chamfer"]

#: Columns of ``manifest.csv``, in order.
MANIFEST_COLUMNS: tuple[str, ...] = (
    "index", "file", "ratio_bin", "bin_label", "border", "hole_ratio", "hole_pixels",
    "min_border_dist", "source", "sources", "source_file", "source_frame", "strategy", "cut_edges",
    "target_ratio", "tries", "angle", "crop_scale", "crop_top", "crop_left", "crop_side",
    "flip_horizontal", "flip_vertical", "placement_scale", "dilation",
)  # fmt: skip
TESTSET_FORMAT = "maskbench-testset"
_NUMBERED_PNG = re.compile(r"^(\d+)\.png$", re.IGNORECASE)
#: Gray level above which a pixel of a foreign (NVIDIA) mask file is a hole.
FOREIGN_THRESHOLD = 127
#: Share of an NVIDIA-style folder's masks that may differ from the bin or class of their
#: number; above it the folder is refused (inverted polarity, or not numbered as a split).
MAX_MISMATCH_SHARE = 0.2


class MismatchWarning(MaskbenchWarning):
    """Some masks of a numbered folder do not match the bin or class of their number."""


# -- configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class TestsetConfig(AugmentConfig):
    """Settings of ``build-testset``; defaults in ``configs/testset.toml`` (see comments there).

    Inherits the augmentation ranges of :class:`~maskbench.augment.AugmentConfig`.
    """

    border_margin: int
    per_bin: int
    seed: int
    workers: int
    strategy: Strategy
    natural_tries: tuple[int, int, int, int, int, int]
    natural_max_dilation: float
    max_dilation: float
    max_erosion: float
    source_ratio_factor: tuple[float, float]
    min_source_candidates: int
    combine_sources: tuple[int, int]
    combine_fill: tuple[float, float]
    natural_sources: tuple[int, int]
    natural_fill: tuple[float, float]
    steer_distance: SteerDistance
    max_tries: int
    max_failed_slots: int
    preview_columns: int

    part_of_file: ClassVar[bool] = False
    __test__ = False  # not a pytest test class

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values out of range."""
        super().validate()
        if not 0 <= self.border_margin < MASK_SIZE // 2:
            raise ConfigError(f"border_margin must be in 0..{MASK_SIZE // 2 - 1} px, got {self.border_margin}")
        for name in ("per_bin", "max_tries", "max_failed_slots", "min_source_candidates"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("seed", "workers", "preview_columns"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if min(self.natural_tries) < 0:
            raise ConfigError(f"natural_tries must be six counts >= 0, got {list(self.natural_tries)}")
        if min(self.max_dilation, self.natural_max_dilation, self.max_erosion) < 0:
            raise ConfigError("max_dilation, natural_max_dilation and max_erosion must be >= 0 px")
        low, high = self.source_ratio_factor
        if not 0 <= low <= high:
            raise ConfigError(f"source_ratio_factor must be [low, high] with 0 <= low <= high, got {[low, high]}")
        for name in ("combine_sources", "natural_sources"):
            low, high = getattr(self, name)
            if not 1 <= low <= high:
                raise ConfigError(f"{name} must be [low, high] with 1 <= low <= high, got {[low, high]}")
        if self.steer_distance not in _DISTANCE_MASKS:
            raise ConfigError(f"steer_distance must be one of {sorted(_DISTANCE_MASKS)}, got {self.steer_distance!r}")
        for name in ("combine_fill", "natural_fill"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ConfigError(f"{name} must be [low, high] with 0 < low <= high, got {[low, high]}")


def load_testset_config(
    user_file: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None
) -> TestsetConfig:
    """``configs/testset.toml``, then a user's TOML file, then overrides (``None`` ignored)."""
    return load_config("testset", TestsetConfig, user_file=user_file, overrides=overrides)


# -- reading a split -------------------------------------------------------------------------


@dataclass(frozen=True)
class TestMask:
    """One mask of a test split.

    Attributes
    ----------
    file : Path
        Absolute path of the PNG.
    name : str
        File name, e.g. ``"00042.png"``.
    index : int
        File number (NVIDIA's numbering).
    ratio_bin : int
        Hole-ratio bin 0 … 5 that the split assigns to the mask.
    bin_label : str
        The bin as printed, e.g. ``"(0.01,0.1]"``.
    border : {"N", "B"}
        Border class that the split assigns to the mask.
    hole_ratio : float
        Measured hole ratio; NaN for an NVIDIA folder read with ``verify=False``.
    invert : bool
        The file draws valid pixels white (read with ``invert``; see :func:`read_testset`).
    """

    __test__ = False

    file: Path
    name: str
    index: int
    ratio_bin: int
    bin_label: str
    border: BorderClass
    hole_ratio: float
    invert: bool = False

    @classmethod
    def numbered(cls, file: Path, index: int, *, per_bin: int, hole_ratio: float, invert: bool = False) -> TestMask:
        """The mask at ``file`` whose bin and border class follow from its number ``index``."""
        ratio_bin_index, border, _ = testset_position(index, per_bin=per_bin)
        return cls(
            file=file,
            name=file.name,
            index=index,
            ratio_bin=ratio_bin_index,
            bin_label=BIN_LABELS[ratio_bin_index],
            border=border,
            hole_ratio=hole_ratio,
            invert=invert,
        )

    def read_hole(self) -> np.ndarray:
        """The mask as a (H, W) bool ``hole`` array (gray files thresholded at :data:`FOREIGN_THRESHOLD`)."""
        return read_mask(self.file, invert=self.invert, threshold=FOREIGN_THRESHOLD)


@dataclass(frozen=True)
class Mismatch:
    """A mask of an NVIDIA folder whose measured bin or class differs from its number."""

    index: int
    expected_bin: int
    expected_border: BorderClass
    hole_ratio: float
    measured_bin: int | None
    min_border_dist: int


@dataclass(frozen=True)
class TestSet:
    """A test split: masks in file-number order.

    Attributes
    ----------
    root : Path
        The folder read (absolute).
    kind : {"maskbench", "nvidia"}
        Made by :func:`build_testset` (has ``manifest.csv``) or a folder of numbered PNGs
        such as NVIDIA's release.
    per_bin : int
        Masks per (ratio bin, border class).
    masks : tuple of TestMask
        ``12 · per_bin`` masks, ``masks[i].index == i``.
    margin : int
        Border margin used for the classes, px.
    mismatches : tuple of Mismatch
        NVIDIA folders only, with ``verify=True``: masks whose measured bin or class differs
        from the one their number gives (they keep the numbered bin; see :func:`read_testset`).
    invert : bool
        The files were read inverted (white = valid).
    """

    __test__ = False

    root: Path
    kind: Literal["maskbench", "nvidia"]
    per_bin: int
    masks: tuple[TestMask, ...]
    margin: int
    mismatches: tuple[Mismatch, ...] = ()
    invert: bool = False

    def __len__(self) -> int:
        return len(self.masks)

    def __iter__(self) -> Iterator[TestMask]:
        return iter(self.masks)

    def in_bin(self, ratio_bin_index: int, border: BorderClass) -> tuple[TestMask, ...]:
        """The masks of one (ratio bin, border class), in file order."""
        return tuple(m for m in self.masks if m.ratio_bin == ratio_bin_index and m.border == border)


def is_testset(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a split made by :func:`build_testset` (has manifest and meta)."""
    return (Path(path) / "manifest.csv").is_file() and (Path(path) / "meta.json").is_file()


def read_testset(
    path: str | os.PathLike,
    *,
    margin: int | None = None,
    verify: bool = True,
    invert: bool = False,
    mismatch_limit: float | None = MAX_MISMATCH_SHARE,
) -> TestSet:
    """Read a test split made by ``build-testset`` or a folder of NVIDIA's test masks.

    Parameters
    ----------
    path : path-like
        A folder with ``manifest.csv`` (made by :func:`build_testset`), or a folder of
        ``12·P`` numbered PNGs ``00000.png`` … (NVIDIA's release: P = 1000); a folder holding
        such PNGs in a ``masks/`` subfolder is accepted too.
    margin : int, optional
        Border margin, px; default: the split's own (``meta.json``) or ``border_margin`` of
        ``configs/testset.toml``.
    verify : bool
        Measure every file (once: the measurements of an unchanged folder are cached in the
        user's cache folder, see :mod:`maskbench.verify_cache`). For a maskbench split, any
        difference from the manifest (size, hole pixels, bin, class) raises
        :class:`InputError`. For an NVIDIA folder, a file must be a 512×512 mask; a few masks
        whose measured bin or class differs from their number are listed in
        :attr:`TestSet.mismatches` and summarised in a :class:`MismatchWarning`, not rejected:
        NVIDIA's own release has masks at the very edge of their bins, and the numbered bin is
        what published tables report.
    invert : bool
        NVIDIA-style folders only: the files draw valid pixels white (black = hole).
    mismatch_limit : float or None
        NVIDIA-style folders: refuse the folder when more than this share of its masks do
        not match their number (default :data:`MAX_MISMATCH_SHARE`, 20 %) — the folder is
        not numbered as a split, or its polarity is inverted (the message says when
        ``invert`` would match). None: never refuse (``maskbench inspect``).

    Returns
    -------
    TestSet

    Raises
    ------
    InputError
        Missing folder, no manifest and no numbered PNGs, numbering gaps, unreadable or
        wrongly sized files, (maskbench splits) a mask that does not match its manifest, or
        (NVIDIA-style folders) too many masks that do not match their number.
    ConfigError
        ``invert`` for a split made by ``build-testset`` (its files are white = hole).
    """
    root = Path(path).resolve()
    if not root.is_dir():
        raise InputError(f"test set folder not found: {path}")
    if (root / "manifest.csv").is_file():
        if invert:
            raise ConfigError(f"{root} is a split made by 'maskbench build-testset' (white = hole); drop --invert")
        return _read_maskbench(root, margin=margin, verify=verify)
    return _read_numbered(root, margin=margin, verify=verify, invert=invert, mismatch_limit=mismatch_limit)


def _read_manifest_rows(root: Path) -> list[dict[str, str]]:
    with open(root / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"index", "file", "ratio_bin", "border", "hole_ratio", "hole_pixels"} - set(rows[0] if rows else {})
    if not rows or missing:
        raise InputError(f"{root / 'manifest.csv'} is empty or lacks the columns {sorted(missing)}; rebuild the split")
    return rows


def _read_maskbench(root: Path, *, margin: int | None, verify: bool) -> TestSet:
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        raise InputError(f"{root} has a manifest.csv but no meta.json; rebuild it with 'maskbench build-testset'")
    meta = json.loads(meta_path.read_text("utf-8"))
    per_bin = int(meta["per_bin"])
    margin = int(meta["config"]["border_margin"]) if margin is None else margin
    rows = _read_manifest_rows(root)
    if len(rows) != 2 * N_RATIO_BINS * per_bin:
        raise InputError(f"{root / 'manifest.csv'} lists {len(rows)} masks, expected {2 * N_RATIO_BINS * per_bin}")
    masks = []
    sorted_rows = sorted(rows, key=lambda r: int(r["index"]))
    for position, row in enumerate(sorted_rows):
        index = int(row["index"])
        ratio_bin_index, border, _ = testset_position(index, per_bin=per_bin)
        if index != position or ratio_bin_index != int(row["ratio_bin"]) or border != row["border"]:
            raise InputError(f"{root / 'manifest.csv'}: row of mask {index} breaks the numbering; rebuild the split")
        masks.append(TestMask.numbered(root / row["file"], index, per_bin=per_bin, hole_ratio=float(row["hole_ratio"])))
    if verify:
        for mask, row, measure in zip(masks, sorted_rows, measure_mask_files([mask.file for mask in masks])):
            _verify_manifest_row(mask.file, row, measure, margin=margin)
    return TestSet(root=root, kind="maskbench", per_bin=per_bin, masks=tuple(masks), margin=margin)


def _verify_manifest_row(file: Path, row: dict[str, str], measure: MaskMeasure, *, margin: int) -> None:
    problem = None
    measured_bin = ratio_bin_of_count(measure.hole_pixels, measure.pixels)
    measured_class = "N" if measure.min_border_dist >= margin else "B"
    if (measure.height, measure.width) != (MASK_SIZE, MASK_SIZE):
        problem = f"is {measure.height}x{measure.width}, expected {MASK_SIZE}x{MASK_SIZE}"
    elif measure.hole_pixels != int(row["hole_pixels"]):
        problem = f"has {measure.hole_pixels} hole pixels, the manifest says {row['hole_pixels']}"
    elif measured_bin != int(row["ratio_bin"]):
        problem = f"has hole ratio {measure.hole_pixels / measure.pixels:.4f}, outside its bin {BIN_LABELS[int(row['ratio_bin'])]}"
    elif measured_class != row["border"]:
        problem = f"is class {measured_class} at margin {margin} px, the manifest says {row['border']}"
    if problem:
        raise InputError(f"{file} {problem}; the split was modified — rebuild it with 'maskbench build-testset'")


def _numbered_files(root: Path) -> tuple[Path, dict[int, Path]]:
    for folder in (root, root / "masks"):
        numbered = {}
        if folder.is_dir():
            for file in folder.iterdir():
                match = _NUMBERED_PNG.match(file.name)
                if match and file.is_file():
                    numbered[int(match.group(1))] = file
        if numbered:
            return folder, numbered
    raise InputError(
        f"{root} is neither a split made by 'maskbench build-testset' (no manifest.csv) "
        "nor a folder of numbered test masks (00000.png, 00001.png, ...)"
    )


def _read_numbered(root: Path, *, margin: int | None, verify: bool, invert: bool, mismatch_limit: float | None) -> TestSet:
    folder, numbered = _numbered_files(root)
    count = max(numbered) + 1
    gaps = sorted(set(range(count)) - set(numbered))
    if gaps:
        raise InputError(f"{folder}: mask number {gaps[0]} is missing ({len(gaps)} gaps in 0..{count - 1})")
    if count % (2 * N_RATIO_BINS):
        raise InputError(f"{folder} holds {count} numbered masks; a split needs a multiple of {2 * N_RATIO_BINS}")
    per_bin = count // (2 * N_RATIO_BINS)
    margin = load_testset_config().border_margin if margin is None else margin
    files = [numbered[index].resolve() for index in range(count)]
    if not verify:
        masks = [TestMask.numbered(file, index, per_bin=per_bin, hole_ratio=math.nan, invert=invert) for index, file in enumerate(files)]
        return TestSet(root=folder, kind="nvidia", per_bin=per_bin, masks=tuple(masks), margin=margin, invert=invert)
    measures = measure_mask_files(files, invert=invert, threshold=FOREIGN_THRESHOLD)
    for file, measure in zip(files, measures):
        if (measure.height, measure.width) != (MASK_SIZE, MASK_SIZE):
            raise InputError(f"{file} is {measure.height}x{measure.width}; test masks are {MASK_SIZE}x{MASK_SIZE}")
    mismatches = _mismatches(measures, per_bin=per_bin, margin=margin, inverted=False)
    if mismatch_limit is not None and len(mismatches) > mismatch_limit * count:
        inverted = _mismatches(measures, per_bin=per_bin, margin=margin, inverted=True)
        _refuse_mismatched(folder, len(mismatches), count, mismatch_limit, inverts=len(inverted) <= mismatch_limit * count, invert=invert)
    if mismatches:
        warnings.warn(
            f"{len(mismatches)} of {count} masks in {folder} do not match the bin or class of their "
            f"number (e.g. {mismatches[0].index:05d}.png: ratio {mismatches[0].hole_ratio:.4f}, "
            f"nearest hole {mismatches[0].min_border_dist} px from the edge); they are kept in "
            "their numbered bin — see TestSet.mismatches or 'maskbench inspect'",
            MismatchWarning,
            stacklevel=3,
        )
    masks = [
        TestMask.numbered(file, index, per_bin=per_bin, hole_ratio=measure.hole_pixels / measure.pixels, invert=invert)
        for index, (file, measure) in enumerate(zip(files, measures))
    ]
    return TestSet(
        root=folder, kind="nvidia", per_bin=per_bin, masks=tuple(masks), margin=margin, mismatches=tuple(mismatches), invert=invert
    )


def _mismatches(measures: list[MaskMeasure], *, per_bin: int, margin: int, inverted: bool) -> list[Mismatch]:
    """The masks whose measured bin or class differs from their number (``inverted``: of the inverted masks)."""
    found = []
    for index, measure in enumerate(measures):
        ratio_bin_index, border, _ = testset_position(index, per_bin=per_bin)
        hole_pixels = measure.pixels - measure.hole_pixels if inverted else measure.hole_pixels
        distance = measure.inverted_min_border_dist if inverted else measure.min_border_dist
        measured_bin = ratio_bin_of_count(hole_pixels, measure.pixels)
        if measured_bin != ratio_bin_index or (distance >= margin) != (border == "N"):
            found.append(Mismatch(index, ratio_bin_index, border, hole_pixels / measure.pixels, measured_bin, distance))
    return found


def _refuse_mismatched(folder: Path, mismatched: int, count: int, limit: float, *, inverts: bool, invert: bool) -> None:
    """Raise :class:`InputError` for a folder where most masks do not match their number."""
    hint = (
        f"they match when read {'without' if invert else 'with'} --invert ({'white = hole' if invert else 'black = hole, as NVIDIA training masks'}); "
        f"pass {'no --invert' if invert else '--invert'}"
        if inverts
        else "this is not a split numbered as NVIDIA's; look at it with 'maskbench inspect'"
    )
    raise InputError(
        f"{mismatched} of {count} masks in {folder} do not match the bin or class of their number "
        f"(more than {limit:.0%}): {hint}"
    )


# -- building a split ----------------------------------------------------------------------


@dataclass(frozen=True)
class BinStats:
    """Fill statistics of one (ratio bin, border class)."""

    ratio_bin: int
    border: BorderClass
    filled: int
    tries: int
    cut_edges: int
    failed: int

    @property
    def tries_per_mask(self) -> float:
        """Attempts per accepted mask (NaN when none was accepted)."""
        return self.tries / self.filled if self.filled else math.nan


@dataclass(frozen=True)
class BuildSummary:
    """What :func:`build_testset` made.

    Attributes
    ----------
    out_dir : Path
        The split folder.
    per_bin : int
    bins : tuple of BinStats
        Twelve entries, in file order (bin 0 N, bin 0 B, bin 1 N, ...).
    reused : int
        Masks taken over from an interrupted earlier run.
    note : str or None
        One line when the split replaced (``--overwrite``) or the build restarted one made by
        another maskbench version or with another configuration.
    reuse : SourceReuse or None
        The raw mask that went into the most split masks.
    """

    out_dir: Path
    per_bin: int
    bins: tuple[BinStats, ...]
    reused: int
    note: str | None = None
    reuse: SourceReuse | None = None

    def table(self) -> str:
        """Per-bin fill statistics as a Markdown table."""
        lines = ["| bin | class | masks | tries/mask | cut edges |", "| --- | --- | ---: | ---: | ---: |"]
        for stats in self.bins:
            share = stats.cut_edges / stats.filled if stats.filled else 0.0
            lines.append(
                f"| {BIN_LABELS[stats.ratio_bin]} | {stats.border} | {stats.filled} | "
                f"{stats.tries_per_mask:.2f} | {share:.0%} |"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class _Context:
    """What a worker needs to fill slots; small, so it pickles cheaply."""

    store_path: str
    config: TestsetConfig
    seed: int
    per_bin: int
    strategy: Strategy
    masks_dir: str
    fingerprint: str


@dataclass(frozen=True)
class _Sources:
    store: MaskStore
    order: np.ndarray  # store indices of masks with holes, by increasing hole ratio
    ratios: np.ndarray  # their hole ratios, increasing
    files: tuple[str, ...]  # provenance of every stored mask, by store index
    frames: tuple[int, ...]


@functools.lru_cache(maxsize=2)
def _sources(store_path: str, fingerprint: str) -> _Sources:
    """The store and its masks sorted by hole ratio, opened once per worker process.

    ``fingerprint`` is part of the cache key so that a store replaced at the same path is
    opened afresh.
    """
    store = MaskStore.open(store_path)
    ratios = store.hole_ratios()
    order = np.flatnonzero(ratios > 0)
    order = order[np.argsort(ratios[order], kind="stable")]
    records = store.records()
    return _Sources(
        store=store,
        order=order,
        ratios=ratios[order],
        files=tuple(records["source"]),
        frames=tuple(int(frame) for frame in records["frame"]),
    )


# Decoded sources are cached per worker, bit-packed (H·W/8 bytes each: 64 MiB for 2,048
# masks of 512×512), because a mask combines several sources and a store read costs more
# than the unpacking.
_SOURCE_CACHE_SIZE = 2048


@functools.lru_cache(maxsize=_SOURCE_CACHE_SIZE)
def _packed_source(store_path: str, fingerprint: str, index: int) -> tuple[np.ndarray, tuple[int, int]]:
    hole = _sources(store_path, fingerprint).store[index]
    return np.packbits(hole), hole.shape


@functools.lru_cache(maxsize=_SOURCE_CACHE_SIZE)
def _packed_uncut(store_path: str, fingerprint: str, index: int) -> tuple[np.ndarray, tuple[int, int]] | None:
    uncut = _drop_cut_holes(_source_hole(store_path, fingerprint, index))
    if not uncut.any():
        return None
    rows, cols = np.flatnonzero(uncut.any(axis=1)), np.flatnonzero(uncut.any(axis=0))
    patch = uncut[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return np.packbits(patch), patch.shape


def _unpack(packed: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.unpackbits(packed, count=shape[0] * shape[1]).reshape(shape).view(bool)


def _source_hole(store_path: str, fingerprint: str, index: int) -> np.ndarray:
    """Stored mask ``index`` as an (H, W) bool hole array (cached)."""
    return _unpack(*_packed_source(store_path, fingerprint, index))


def _uncut_holes(store_path: str, fingerprint: str, index: int) -> np.ndarray | None:
    """The holes of stored mask ``index`` that do not touch its frame, cut to their bounding
    box (cached); None when every hole touches the frame (was cut by it)."""
    packed = _packed_uncut(store_path, fingerprint, index)
    return None if packed is None else _unpack(*packed)


def _count_range(ratio_bin_index: int) -> tuple[int, int]:
    """Smallest and largest hole-pixel count of a 512×512 mask in a ratio bin."""
    total = MASK_SIZE * MASK_SIZE
    low = math.floor(RATIO_EDGES[ratio_bin_index] * total) + 1
    high = math.floor(RATIO_EDGES[ratio_bin_index + 1] * total)
    return low, high


def _pick_source(
    sources: _Sources, target: float, factor: tuple[float, float], least: int, rng: np.random.Generator
) -> int:
    """A random store index whose hole ratio is in ``factor`` × ``target``.

    When no mask is, one of the tenth of the masks nearest in ratio (so that a store of
    small masks still offers its largest ones for a large target); when fewer than ``least``
    are, one of the ``least`` masks nearest in ratio (so that the few largest masks of a store
    do not go into a large share of the split).
    """
    begin = int(np.searchsorted(sources.ratios, factor[0] * target, side="left"))
    end = int(np.searchsorted(sources.ratios, factor[1] * target, side="right"))
    nearest = max(1, len(sources.order) // 10) if end <= begin else min(least, len(sources.order))
    if end - begin < nearest:
        begin = min(max(0, (begin + end - nearest) // 2), len(sources.order) - nearest)
        end = begin + nearest
    return int(sources.order[rng.integers(begin, end)])


def _squared_levels(distance: np.ndarray) -> np.ndarray:
    """Signed squared distances as int32, rounded (exact for the Euclidean transform, whose
    squared distances are integers; chamfer distances whose squares round alike share a level).

    Monotone in the distance; |levels| ≤ 2·512², well inside int32.
    """
    squared = distance * np.abs(distance)
    squared += np.where(squared >= 0, np.float32(0.5), np.float32(-0.5))
    return squared.astype(np.int32)


#: OpenCV distance-transform masks of ``steer_distance``: exact Euclidean, or the 5×5
#: chamfer approximation (about 4× faster, distances within a few % of the Euclidean ones).
_DISTANCE_MASKS = {"exact": cv2.DIST_MASK_PRECISE, "chamfer": cv2.DIST_MASK_5}


def _distance_outside(hole: np.ndarray, steer_distance: SteerDistance) -> np.ndarray:
    """(512, 512) float32: distance of every pixel to the nearest hole pixel (0 on holes)."""
    return cv2.distanceTransform((~hole).view(np.uint8), cv2.DIST_L2, _DISTANCE_MASKS[steer_distance])


def _window_levels(window: np.ndarray, *, erode: bool, steer_distance: SteerDistance) -> np.ndarray:
    """Signed squared distances of a window (see :func:`_squared_levels`); without ``erode``
    hole pixels get 0.

    Dilation alone needs only the distance outside the holes (0 on them), which halves the
    work: then ``levels <= t`` is the window dilated by √t for every t ≥ 0. ``window`` has at
    least one hole pixel (and, with ``erode``, at least one valid pixel).
    """
    outside = _distance_outside(window, steer_distance)
    if erode:
        inside = _distance_outside(~window, steer_distance)
        return _squared_levels(np.where(window, -inside, outside))
    squared = np.square(outside)
    squared += np.float32(0.5)
    return squared.astype(np.int32)


def _steer(levels: np.ndarray, lowest: int, highest: int, target: int, low: int, high: int) -> int | None:
    """Threshold t in [lowest, highest] whose count of ``levels <= t`` is nearest ``target``.

    Parameters
    ----------
    levels : 1-D int32 ndarray
        Signed squared distances of the pixels that count (see :func:`_squared_levels`).
    lowest, highest : int
        Range of thresholds allowed (largest erosion, largest dilation).
    target, low, high : int
        Wanted hole-pixel count and the range the count must fall in.

    Returns
    -------
    int or None
        The threshold, or None when no allowed threshold gives a count in [low, high].
    """
    if highest < lowest:
        return None
    clipped = np.clip(levels, lowest, highest + 1)
    clipped -= lowest  # in place: a fresh 1 MiB temporary here made this step 4x slower
    counts = np.cumsum(np.bincount(clipped, minlength=highest - lowest + 2))[:-1]
    thresholds = np.flatnonzero(np.diff(counts, prepend=-1))  # count changes there (and at `lowest`)
    reachable = counts[thresholds]
    fitting = np.flatnonzero((reachable >= low) & (reachable <= high))
    if fitting.size == 0:
        return None
    choice = fitting[np.argmin(np.abs(reachable[fitting] - target))]
    return int(thresholds[choice]) + lowest


def _level_limits(config: TestsetConfig) -> tuple[int, int]:
    """Smallest and largest signed squared threshold: erosion / dilation limits."""
    return -math.floor(config.max_erosion**2) - 1, math.floor(config.max_dilation**2)


def _drop_cut_holes(window: np.ndarray) -> np.ndarray:
    """Remove the hole components (8-connected) that touch the window's edge."""
    count, labels = cv2.connectedComponents(window.astype(np.uint8), connectivity=8)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    keep = np.ones(count, dtype=bool)
    keep[edge_labels] = False
    keep[0] = False
    return keep[labels]


def _natural_holes(
    uncut: np.ndarray, rng: np.random.Generator, config: TestsetConfig
) -> tuple[np.ndarray, dict[str, float]]:
    """Uncut holes of a source (see :func:`_uncut_holes`), randomly rotated and flipped (no crop)."""
    angle = float(rng.uniform(*config.rotation_degrees))
    flip_horizontal = bool(rng.random() < config.flip_horizontal)
    flip_vertical = bool(rng.random() < config.flip_vertical)
    holes = flip(rotate(uncut, angle), horizontal=flip_horizontal, vertical=flip_vertical)
    no_crop = {"crop_scale": math.nan, "crop_top": math.nan, "crop_left": math.nan, "crop_side": math.nan}
    parameters = {"angle": angle, **no_crop, "flip_horizontal": float(flip_horizontal), "flip_vertical": float(flip_vertical)}
    return holes, parameters


def _place_inside(
    holes: np.ndarray, rng: np.random.Generator, target: float, margin: int, config: TestsetConfig
) -> tuple[np.ndarray, float]:
    """Scale holes (their bounding box) towards ``target`` hole pixels and place them inside.

    A random padding p (≤ ``natural_max_dilation``, ≤ an eighth of the interior, so that
    the parts of a combination spread over it) is left on every side for the dilation that
    follows. Returns the 512×512 canvas and the scale.
    """
    rows, cols = np.flatnonzero(holes.any(axis=1)), np.flatnonzero(holes.any(axis=0))
    patch = holes[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    interior = MASK_SIZE - 2 * margin
    pad = rng.uniform(0.0, min(config.natural_max_dilation, interior / 8))
    room = interior - 2 * pad
    scale = math.sqrt(target / np.count_nonzero(patch))
    # scale each side by at most `scale`, stretching the shorter one up to 1.5x more so that
    # elongated hole groups can fill the square interior too
    scale_y = min(scale * (1.5 if patch.shape[0] < patch.shape[1] else 1.0), room / patch.shape[0])
    scale_x = min(scale * (1.5 if patch.shape[1] < patch.shape[0] else 1.0), room / patch.shape[1])
    scale_y, scale_x = min(scale_y, 1.5 * scale_x), min(scale_x, 1.5 * scale_y)
    height, width = (min(max(1, round(factor * side)), int(room)) for factor, side in zip((scale_y, scale_x), patch.shape))
    scale = math.sqrt(scale_y * scale_x)
    scaled = resize(patch, (height, width))
    top = margin + round(pad) + int(rng.integers(0, int(room) - height + 1))
    left = margin + round(pad) + int(rng.integers(0, int(room) - width + 1))
    canvas = np.zeros((MASK_SIZE, MASK_SIZE), dtype=bool)
    canvas[top : top + height, left : left + width] = scaled
    return canvas, scale


_BORDER_DISTANCE = border_distance_map((MASK_SIZE, MASK_SIZE))


@functools.lru_cache(maxsize=4)
def _interior(margin: int) -> np.ndarray:
    """(512, 512) bool: the pixels at least ``margin`` px from the edge (read-only)."""
    interior = _BORDER_DISTANCE >= margin
    interior.flags.writeable = False
    return interior


def _part(
    context: _Context, source: int, rng: np.random.Generator, part_target: float, method: str
) -> tuple[np.ndarray, dict[str, float], float] | None:
    """One augmented source on the 512×512 canvas: (holes, augmentation parameters, placement scale).

    Natural N parts are the source's uncut holes scaled towards ``part_target`` hole pixels
    and placed in the interior; the others are a random window of the source. None when a
    natural source has no uncut hole.
    """
    config = context.config
    if method != "natural":
        hole = _source_hole(context.store_path, context.fingerprint, source)
        window, parameters = random_window(hole, rng, config, size=MASK_SIZE)
        return window, parameters, 1.0
    uncut = _uncut_holes(context.store_path, context.fingerprint, source)
    if uncut is None:
        return None
    holes, parameters = _natural_holes(uncut, rng, config)
    canvas, placement_scale = _place_inside(holes, rng, part_target, config.border_margin, config)
    return canvas, parameters, placement_scale


def _combine(
    context: _Context, sources: _Sources, rng: np.random.Generator, target: int, method: str
) -> tuple[np.ndarray, list[int], dict[str, float], float] | None:
    """The union of several augmented sources holding about a drawn share of ``target``.

    Draws the number of sources n in ``combine_sources`` and the share s in
    ``combine_fill`` (``natural_sources`` and ``natural_fill`` for natural N masks), picks each source near s·target / n hole pixels and adds augmented
    sources until the union (its interior for clear-band) holds s·target pixels or the
    largest number of sources was added (overlaps can leave n sources short of it).
    Returns (union, store indices, parameters and placement scale of the first part), or
    None when no part had a hole.
    """
    config, margin = context.config, context.config.border_margin
    sources_range = config.natural_sources if method == "natural" else config.combine_sources
    fill_range = config.natural_fill if method == "natural" else config.combine_fill
    count = int(rng.integers(sources_range[0], sources_range[1] + 1))
    wanted = float(rng.uniform(*fill_range)) * target
    part_target = wanted / count
    union = np.zeros((MASK_SIZE, MASK_SIZE), dtype=bool)
    used: list[int] = []
    first: tuple[dict[str, float], float] | None = None
    counted = _interior(margin) if method == "clear-band" else None
    for _ in range(sources_range[1]):
        source = _pick_source(
            sources, part_target / (MASK_SIZE * MASK_SIZE), config.source_ratio_factor, config.min_source_candidates, rng
        )
        part = _part(context, source, rng, part_target, method)
        if part is None:
            continue
        holes, parameters, placement_scale = part
        union |= holes
        used.append(source)
        if first is None:
            first = (parameters, placement_scale)
        if np.count_nonzero(union if counted is None else union & counted) >= wanted:
            break
    if first is None:
        return None
    return union, used, *first


def _attempt(
    context: _Context, ratio_bin_index: int, border: BorderClass, rng: np.random.Generator, method: Strategy | Literal["border"]
) -> dict[str, Any] | None:
    """One try at a mask for a slot: the mask and its manifest fields, or None."""
    config = context.config
    margin = config.border_margin
    low, high = _count_range(ratio_bin_index)
    target_ratio = float(rng.uniform(float(RATIO_EDGES[ratio_bin_index]), float(RATIO_EDGES[ratio_bin_index + 1])))
    target = min(max(round(target_ratio * MASK_SIZE * MASK_SIZE), low), high)
    sources = _sources(context.store_path, context.fingerprint)
    combined = _combine(context, sources, rng, target, method)
    if combined is None:
        return None
    window, used, parameters, placement_scale = combined
    interior = _interior(margin)
    if method == "clear-band":
        window = window & interior
    if not window.any():
        return None
    levels = _window_levels(window, erode=np.count_nonzero(window) > target, steer_distance=config.steer_distance)
    lowest, highest = _level_limits(config)
    if method == "natural":
        highest = min(math.floor(config.natural_max_dilation**2), int(levels[~interior].min()) - 1)  # out of the band
    counted = levels[interior] if method == "clear-band" else levels.ravel()
    threshold = _steer(counted, lowest, highest, target, low, high)
    if threshold is None:
        return None
    grown = levels <= threshold
    hole = grown & interior if method == "clear-band" else grown
    distance = min_border_distance(hole)
    if (distance >= margin) != (border == "N") or ratio_bin(hole) != ratio_bin_index:
        return None
    return {
        "hole": hole,
        "hole_pixels": int(np.count_nonzero(hole)),
        "min_border_dist": distance,
        "source": used[0],
        "sources": ";".join(str(index) for index in used),
        "source_file": sources.files[used[0]],
        "source_frame": sources.frames[used[0]],
        "strategy": "border" if border == "B" else method,
        "cut_edges": is_band_cut(hole, margin=margin),
        "target_ratio": target / (MASK_SIZE * MASK_SIZE),
        "placement_scale": placement_scale,
        "dilation": math.copysign(math.sqrt(abs(threshold)), threshold),
        **parameters,
    }


def _fill_slot(context: _Context, slot: tuple[int, int, int]) -> tuple[tuple[int, int, int], dict[str, Any] | None, int]:
    """Fill one slot (k, b, j): write its PNG and return (slot, manifest row or None, tries)."""
    ratio_bin_index, border_index, position = slot
    border = BORDER_CLASSES[border_index]
    config = context.config
    for attempt in range(config.max_tries):
        rng = item_rng(context.seed, ratio_bin_index, border_index, position, attempt)
        if border == "B":
            method = "border"
        elif context.strategy == "natural" and attempt < config.natural_tries[ratio_bin_index]:
            method = "natural"
        else:
            method = "clear-band"
        found = _attempt(context, ratio_bin_index, border, rng, method)
        if found is not None:
            break
    else:
        return slot, None, config.max_tries
    index = testset_index(ratio_bin_index, border, position, per_bin=context.per_bin)
    name = f"{index:05d}.png"
    write_mask(Path(context.masks_dir) / name, found.pop("hole"))
    row = {
        "index": index,
        "file": f"masks/{name}",
        "ratio_bin": ratio_bin_index,
        "bin_label": BIN_LABELS[ratio_bin_index],
        "border": border,
        "hole_ratio": found["hole_pixels"] / (MASK_SIZE * MASK_SIZE),
        "tries": attempt + 1,
        **found,
    }
    return slot, {column: row[column] for column in MANIFEST_COLUMNS}, attempt + 1


def _staging_dir(out_dir: Path) -> Path:
    return out_dir.with_name(f".{out_dir.name}.partial")


def _build_settings(context: _Context) -> dict[str, Any]:
    return {
        "format": TESTSET_FORMAT,
        "maskbench_version": __version__,
        "seed": context.seed,
        "per_bin": context.per_bin,
        "strategy": context.strategy,
        "size": MASK_SIZE,
        # the worker count changes nothing in the split: leave it out so that it does not
        # change meta.json nor stop a resume
        "config": {key: value for key, value in config_as_dict(context.config).items() if key != "workers"},
        "store": {
            "path": str(Path(context.store_path).resolve()),
            "fingerprint": context.fingerprint,
            # flow+occlusion method of the extracted videos ([] for generated or imported masks)
            "methods": sorted(store_method_tags(MaskStore.open(context.store_path))),
        },
    }


def _prepare_staging(staging: Path, settings: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Reuse an interrupted build with the same settings (its finished rows), else start afresh."""
    settings_file = staging / "build.json"
    if staging.exists():
        same = settings_file.is_file() and json.loads(settings_file.read_text("utf-8")) == settings
        if not same:
            shutil.rmtree(staging)
    (staging / "masks").mkdir(parents=True, exist_ok=True)
    if not settings_file.is_file():
        write_text_atomic(settings_file, json.dumps(settings, indent=2) + "\n")
    done: dict[int, dict[str, Any]] = {}
    rows_file = staging / "rows.jsonl"
    if rows_file.is_file():
        for line in rows_file.read_text("utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by the interruption
                continue
            if (staging / row["file"]).is_file():
                done[int(row["index"])] = row
    return done


def _slots(per_bin: int) -> list[tuple[int, int, int]]:
    """Every (k, b, j), position-major so that a starving bin shows up early."""
    return [(k, b, j) for j in range(per_bin) for k in range(N_RATIO_BINS) for b in range(len(BORDER_CLASSES))]


def _insufficient_message(
    store_path: Path, per_bin: int, tried: dict[tuple[int, int], int], failed: dict[tuple[int, int], int], config: TestsetConfig
) -> str:
    parts = []
    for (k, b), failures in sorted(failed.items()):
        estimate = math.ceil(failures / tried[(k, b)] * per_bin)
        parts.append(f"{BIN_LABELS[k]} {BORDER_CLASSES[b]}: {failures} of {tried[(k, b)]} slots tried (≈{estimate} of {per_bin} missing)")
    return (
        f"the store {store_path} cannot fill every bin — no mask found in {config.max_tries} tries for "
        + "; ".join(parts)
        + f". Add more or larger masks to the store, raise max_dilation (now {config.max_dilation:g}), "
        f"combine_sources (now {list(config.combine_sources)}) or max_tries (now {config.max_tries}) "
        "in a --config file, or lower --per-bin"
    )


def _fill_slots(
    context: _Context, staging: Path, done: dict[int, dict[str, Any]]
) -> tuple[dict[int, dict[str, Any]], dict[tuple[int, int], int], dict[tuple[int, int], int], dict[tuple[int, int], int]]:
    """Fill every slot not in ``done``, appending each finished row to ``rows.jsonl``.

    Stops early once ``max_failed_slots`` slots found no mask (the split cannot be completed
    with these settings, whatever the rest does).

    Returns
    -------
    rows, tries, tried, failed
        Manifest rows by index (``done`` included); per (k, b): attempts, slots processed by
        this run, slots that found no mask.
    """
    config = context.config
    rows = dict(done)
    tries = {(k, b): 0 for k in range(N_RATIO_BINS) for b in range(len(BORDER_CLASSES))}
    tried, failed = dict.fromkeys(tries, 0), {}
    for row in done.values():
        tries[(int(row["ratio_bin"]), BORDER_CLASSES.index(row["border"]))] += int(row["tries"])
    todo = [
        (k, b, j)
        for k, b, j in _slots(config.per_bin)
        if testset_index(k, BORDER_CLASSES[b], j, per_bin=config.per_bin) not in done
    ]
    results = map_ordered(
        functools.partial(_fill_slot, context), todo, workers=config.workers, desc="build-testset", unit="mask", chunksize=8
    )
    with open(staging / "rows.jsonl", "a", encoding="utf-8") as rows_file:
        try:
            for (k, b, _), row, slot_tries in results:
                tries[(k, b)] += slot_tries
                tried[(k, b)] += 1
                if row is None:
                    failed[(k, b)] = failed.get((k, b), 0) + 1
                    if sum(failed.values()) >= config.max_failed_slots:
                        break
                    continue
                rows[int(row["index"])] = row
                rows_file.write(json.dumps(row) + "\n")
                rows_file.flush()
        finally:
            results.close()  # stops the worker pool when leaving early
    return rows, tries, tried, failed


def build_testset(
    store_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    per_bin: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    strategy: Strategy | None = None,
    overwrite: bool = False,
    config_file: str | os.PathLike | None = None,
) -> BuildSummary:
    """Build the binned test split from a mask store.

    Parameters
    ----------
    store_path : path-like
        A mask store (:class:`~maskbench.store.MaskStore`) with masks of any size.
    out_dir : path-like
        The split folder to create (layout in the module docstring).
    per_bin, seed, workers, strategy : optional
        Override ``configs/testset.toml`` (``None``: the configured value).
    overwrite : bool
        Replace an existing split at ``out_dir``.
    config_file : path-like, optional
        TOML file with keys of ``configs/testset.toml`` to replace.

    Returns
    -------
    BuildSummary
        Per-bin fill statistics.

    Raises
    ------
    OutputExistsError
        ``out_dir`` exists and ``overwrite`` is False.
    InsufficientMasksError
        The store cannot fill some bin (the message names the bins and what to change).

    Notes
    -----
    The split is built in a hidden sibling folder ``.NAME.partial`` and renamed to
    ``out_dir`` only when complete. A rerun after an interruption with the same store and
    settings reuses the masks already finished there; the result is byte-identical to an
    uninterrupted build, for any number of workers.
    """
    config = load_testset_config(config_file, {"per_bin": per_bin, "seed": seed, "workers": workers, "strategy": strategy})
    out_dir, store_path = Path(out_dir), Path(store_path)
    if out_dir.exists():
        if not overwrite:
            raise OutputExistsError(f"test set {out_dir} already exists; pass --overwrite to replace it")
        if not is_testset(out_dir) and any(out_dir.iterdir()):
            raise OutputExistsError(f"{out_dir} exists and is not a test set; refusing to replace it")
    if not is_store(store_path):
        raise InputError(
            f"{store_path} is not a mask store (no store.json); make one with 'maskbench generate' "
            "or 'maskbench import-masks'"
        )
    store = MaskStore.open(store_path)
    if not (store.hole_ratios() > 0).any():
        raise InsufficientMasksError(f"the store {store_path} holds no mask with a hole; add masks to it first")
    staging = _staging_dir(out_dir)
    context = _Context(
        store_path=str(store_path.resolve()),
        config=config,
        seed=config.seed,
        per_bin=config.per_bin,
        strategy=config.strategy,
        masks_dir=str(staging / "masks"),
        fingerprint=store.fingerprint(),
    )
    settings = _build_settings(context)
    note = _rebuild_note(out_dir, staging, settings)
    done = _prepare_staging(staging, settings)
    rows, tries, tried, failed = _fill_slots(context, staging, done)
    if failed:
        raise InsufficientMasksError(_insufficient_message(store_path, config.per_bin, tried, failed, config))
    _finish(staging, rows, settings, config)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(staging, out_dir)
    summary = _summary(out_dir, config.per_bin, rows, tries, reused=len(done))
    reuse = source_reuse(str(rows[index]["sources"]) for index in sorted(rows))
    return dataclasses.replace(summary, note=note, reuse=reuse)


def _settings_provenance(settings: dict[str, Any]) -> dict[str, Any]:
    """The version and configuration of build settings (or a meta.json) as a provenance record."""
    return {"maskbench": settings.get("maskbench_version"), "config": settings.get("config", {})}


def _rebuild_note(out_dir: Path, staging: Path, settings: dict[str, Any]) -> str | None:
    """A line when this build replaces a split, or restarts an interrupted build, that another
    maskbench version or configuration made (:func:`maskbench.provenance.difference_note`)."""
    earlier = [folder / name for folder, name in ((out_dir, "meta.json"), (staging, "build.json"))]
    records = [_settings_provenance(json.loads(file.read_text("utf-8"))) for file in earlier if file.is_file()]
    return difference_note(f"the split {out_dir}", records, _settings_provenance(settings))


def _finish(staging: Path, rows: dict[int, dict[str, Any]], settings: dict[str, Any], config: TestsetConfig) -> None:
    """Write manifest, meta and preview into the staging folder; drop the resume files."""
    with open(staging / "manifest.tmp", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for index in sorted(rows):
            writer.writerow({key: _csv_value(rows[index][key]) for key in MANIFEST_COLUMNS})
    os.replace(staging / "manifest.tmp", staging / "manifest.csv")
    meta = {key: value for key, value in settings.items()}
    write_text_atomic(staging / "meta.json", json.dumps(meta, indent=2) + "\n")
    write_image(staging / "preview.png", _preview(staging, rows, columns=config.preview_columns, per_bin=config.per_bin))
    (staging / "rows.jsonl").unlink(missing_ok=True)
    (staging / "build.json").unlink(missing_ok=True)


def _preview(root: Path, rows: dict[int, dict[str, Any]], *, columns: int, per_bin: int) -> np.ndarray:
    """Grid of the first ``columns`` masks of every (bin, class)."""
    from maskbench.inspection import example_grid  # inspection reads splits: import here, not at the top

    columns = max(1, min(columns, per_bin))
    examples = {
        (k, border): [read_mask(root / rows[testset_index(k, border, j, per_bin=per_bin)]["file"]) for j in range(columns)]
        for k in range(N_RATIO_BINS)
        for border in BORDER_CLASSES
    }
    return example_grid(examples, columns=columns)


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return repr(value)
    return value


def _summary(out_dir: Path, per_bin: int, rows: dict[int, dict[str, Any]], tries: dict[tuple[int, int], int], *, reused: int) -> BuildSummary:
    stats = []
    for k in range(N_RATIO_BINS):
        for b, border in enumerate(BORDER_CLASSES):
            bin_rows = [row for row in rows.values() if int(row["ratio_bin"]) == k and row["border"] == border]
            stats.append(
                BinStats(
                    ratio_bin=k,
                    border=border,
                    filled=len(bin_rows),
                    tries=tries[(k, b)],
                    cut_edges=sum(bool(row["cut_edges"]) for row in bin_rows),
                    failed=per_bin - len(bin_rows),
                )
            )
    return BuildSummary(out_dir=out_dir, per_bin=per_bin, bins=tuple(stats), reused=reused)


def read_manifest(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a split's ``manifest.csv`` as dicts of strings, in file order."""
    return sorted(_read_manifest_rows(Path(path)), key=lambda row: int(row["index"]))


__all__ = [
    "MANIFEST_COLUMNS",
    "STRATEGIES",
    "BinStats",
    "BuildSummary",
    "Mismatch",
    "TestMask",
    "TestSet",
    "TestsetConfig",
    "build_testset",
    "is_testset",
    "load_testset_config",
    "read_manifest",
    "read_testset",
]
