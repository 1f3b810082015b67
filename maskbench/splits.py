"""Reading a test split for scoring: ours (``manifest.csv``) or a folder of NVIDIA's numbered masks.

A split made by ``build-testset`` (:mod:`maskbench.testset`) is a folder ``DIR``::

    DIR/masks/00000.png …   8-bit PNG, 255 = hole, numbered as NVIDIA's release:
                            index = 2·P·k + P·b + j (see :func:`maskbench.bins.testset_index`)
    DIR/manifest.csv        one row per mask (:class:`maskbench.manifest.ManifestRow`)
    DIR/meta.json           seed, configuration, maskbench version, source store fingerprint and flow methods
    DIR/preview.png         a grid of examples per (bin, class)

:func:`read_testset` reads it, and checks every file against its manifest row; it reads a
folder of ``12·P`` numbered PNGs (NVIDIA's release) too, whose bin and class follow from
the file number alone.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from maskbench.bins import BIN_LABELS, MASK_SIZE, N_RATIO_BINS, BorderClass, ratio_bin_of_count, testset_position
from maskbench.errors import ConfigError, InputError, MaskbenchWarning
from maskbench.files import read_mask
from maskbench.manifest import ListedMask, read_listed_masks
from maskbench.testset_config import TestsetConfig
from maskbench.verify_cache import MaskMeasure, measure_mask_files

_NUMBERED_PNG = re.compile(r"^(\d+)\.png$", re.IGNORECASE)
#: Gray level above which a pixel of a foreign (NVIDIA) mask file is a hole.
FOREIGN_THRESHOLD = 127
#: Share of an NVIDIA-style folder's masks that may differ from the bin or class of their
#: number; above it the folder is refused (inverted polarity, or not numbered as a split).
MAX_MISMATCH_SHARE = 0.2


class MismatchWarning(MaskbenchWarning):
    """Some masks of a numbered folder do not match the bin or class of their number."""


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
        """The mask at ``file`` whose bin and border class follow from its number ``index``.

        Parameters
        ----------
        file : Path
            Absolute path of the PNG.
        index : int
            Its number, 0 … 12·``per_bin`` − 1.
        per_bin : int
            Masks per (ratio bin, border class) of the split.
        hole_ratio : float
            Measured hole ratio (NaN: not measured).
        invert : bool
            The file draws valid pixels white.

        Returns
        -------
        TestMask
        """
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
        """Read the mask file.

        Returns
        -------
        (H, W) bool ndarray
            True = hole (gray files thresholded at :data:`FOREIGN_THRESHOLD`).
        """
        return read_mask(self.file, invert=self.invert, threshold=FOREIGN_THRESHOLD)


@dataclass(frozen=True)
class Mismatch:
    """A mask of an NVIDIA folder whose measured bin or class differs from its number.

    Attributes
    ----------
    index : int
        File number.
    expected_bin : int
        Ratio bin 0 … 5 that the number gives.
    expected_border : {"N", "B"}
        Border class that the number gives.
    hole_ratio : float
        Measured hole ratio, in [0, 1].
    measured_bin : int or None
        Measured ratio bin (None: in no bin).
    min_border_dist : int
        Distance of the hole pixel nearest to the edge, px.
    """

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
        Made by :func:`maskbench.testset.build_testset` (has ``manifest.csv``) or a folder of numbered PNGs
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
        """The masks of one (ratio bin, border class).

        Parameters
        ----------
        ratio_bin_index : int
            Ratio bin, 0 … 5.
        border : {"N", "B"}
            Border class.

        Returns
        -------
        tuple of TestMask
            In file order.
        """
        return tuple(m for m in self.masks if m.ratio_bin == ratio_bin_index and m.border == border)


def is_testset(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a split made by ``build-testset`` (has ``manifest.csv`` and ``meta.json``).

    Parameters
    ----------
    path : path-like
        Any path.

    Returns
    -------
    bool
    """
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
        A folder with ``manifest.csv`` (made by :func:`maskbench.testset.build_testset`), or a folder of
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


def _read_maskbench(root: Path, *, margin: int | None, verify: bool) -> TestSet:
    """A split made by ``build-testset``: its manifest, checked against the numbering and (``verify``) the files."""
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        raise InputError(f"{root} has a manifest.csv but no meta.json; rebuild it with 'maskbench build-testset'")
    meta = json.loads(meta_path.read_text("utf-8"))
    per_bin = int(meta["per_bin"])
    margin = int(meta["config"]["border_margin"]) if margin is None else margin
    rows = read_listed_masks(root)
    if len(rows) != 2 * N_RATIO_BINS * per_bin:
        raise InputError(f"{root / 'manifest.csv'} lists {len(rows)} masks, expected {2 * N_RATIO_BINS * per_bin}")
    masks = []
    for position, row in enumerate(rows):
        ratio_bin_index, border, _ = testset_position(row.index, per_bin=per_bin)
        if row.index != position or ratio_bin_index != row.ratio_bin or border != row.border:
            raise InputError(
                f"{root / 'manifest.csv'}: row of mask {row.index} breaks the numbering; rebuild the split"
            )
        masks.append(TestMask.numbered(root / row.file, row.index, per_bin=per_bin, hole_ratio=row.hole_ratio))
    if verify:
        for mask, row, measure in zip(masks, rows, measure_mask_files([mask.file for mask in masks]), strict=True):
            _verify_manifest_row(mask.file, row, measure, margin=margin)
    return TestSet(root=root, kind="maskbench", per_bin=per_bin, masks=tuple(masks), margin=margin)


def _verify_manifest_row(file: Path, row: ListedMask, measure: MaskMeasure, *, margin: int) -> None:
    """Raise :class:`InputError` when a mask file measures otherwise than its manifest row."""
    problem = None
    measured_bin = ratio_bin_of_count(measure.hole_pixels, measure.pixels)
    measured_class = "N" if measure.min_border_dist >= margin else "B"
    if (measure.height, measure.width) != (MASK_SIZE, MASK_SIZE):
        problem = f"is {measure.height}x{measure.width}, expected {MASK_SIZE}x{MASK_SIZE}"
    elif measure.hole_pixels != row.hole_pixels:
        problem = f"has {measure.hole_pixels} hole pixels, the manifest says {row.hole_pixels}"
    elif measured_bin != row.ratio_bin:
        problem = (
            f"has hole ratio {measure.hole_pixels / measure.pixels:.4f}, outside its bin {BIN_LABELS[row.ratio_bin]}"
        )
    elif measured_class != row.border:
        problem = f"is class {measured_class} at margin {margin} px, the manifest says {row.border}"
    if problem:
        raise InputError(f"{file} {problem}; the split was modified — rebuild it with 'maskbench build-testset'")


def _numbered_files(root: Path) -> tuple[Path, dict[int, Path]]:
    """The folder (``root`` or ``root/masks``) holding numbered PNGs, and number → file."""
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


def _read_numbered(
    root: Path, *, margin: int | None, verify: bool, invert: bool, mismatch_limit: float | None
) -> TestSet:
    """A folder of numbered PNGs: bin and class from the numbers; (``verify``) mismatches measured."""
    folder, numbered = _numbered_files(root)
    count = max(numbered) + 1
    gaps = sorted(set(range(count)) - set(numbered))
    if gaps:
        raise InputError(f"{folder}: mask number {gaps[0]} is missing ({len(gaps)} gaps in 0..{count - 1})")
    if count % (2 * N_RATIO_BINS):
        raise InputError(f"{folder} holds {count} numbered masks; a split needs a multiple of {2 * N_RATIO_BINS}")
    per_bin = count // (2 * N_RATIO_BINS)
    margin = TestsetConfig.load().border_margin if margin is None else margin
    files = [numbered[index].resolve() for index in range(count)]
    if not verify:
        masks = [
            TestMask.numbered(file, index, per_bin=per_bin, hole_ratio=math.nan, invert=invert)
            for index, file in enumerate(files)
        ]
        return TestSet(root=folder, kind="nvidia", per_bin=per_bin, masks=tuple(masks), margin=margin, invert=invert)
    measures = measure_mask_files(files, invert=invert, threshold=FOREIGN_THRESHOLD)
    for file, measure in zip(files, measures, strict=True):
        if (measure.height, measure.width) != (MASK_SIZE, MASK_SIZE):
            raise InputError(f"{file} is {measure.height}x{measure.width}; test masks are {MASK_SIZE}x{MASK_SIZE}")
    mismatches = _mismatches(measures, per_bin=per_bin, margin=margin, inverted=False)
    if mismatch_limit is not None and len(mismatches) > mismatch_limit * count:
        inverted = _mismatches(measures, per_bin=per_bin, margin=margin, inverted=True)
        _refuse_mismatched(
            folder,
            len(mismatches),
            count,
            mismatch_limit,
            inverts=len(inverted) <= mismatch_limit * count,
            invert=invert,
        )
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
        for index, (file, measure) in enumerate(zip(files, measures, strict=True))
    ]
    return TestSet(
        root=folder,
        kind="nvidia",
        per_bin=per_bin,
        masks=tuple(masks),
        margin=margin,
        mismatches=tuple(mismatches),
        invert=invert,
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
        f"they match when read {'without' if invert else 'with'} --invert "
        f"({'white = hole' if invert else 'black = hole, as NVIDIA training masks'}); "
        f"pass {'no --invert' if invert else '--invert'}"
        if inverts
        else "this is not a split numbered as NVIDIA's; look at it with 'maskbench inspect'"
    )
    raise InputError(
        f"{mismatched} of {count} masks in {folder} do not match the bin or class of their number "
        f"(more than {limit:.0%}): {hint}"
    )
