"""Import a folder of mask images into a mask store (``maskbench import-masks``).

``maskbench import-masks SRC_DIR --out STORE`` reads every PNG/JPG/... under ``SRC_DIR``
as a mask (white, 255 = hole, by default; ``--invert`` for masks that draw valid pixels
white, such as NVIDIA's training masks), rejects non-binary images unless ``--threshold T``
binarizes them, and records each file's relative path as its provenance. The masks are
written by the resumable shard writer :func:`maskbench.chunked_append.append_in_chunks`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from maskbench.chunked_append import AppendSummary, Chunk, append_in_chunks
from maskbench.config import Config
from maskbench.errors import ConfigError, InputError
from maskbench.files import list_images, read_mask
from maskbench.store import MaskStore


class PolarityWarning(UserWarning):
    """Most imported pixels are holes: the masks may use the opposite polarity."""


@dataclass(frozen=True)
class ImportConfig(Config):
    """Settings of ``maskbench import-masks``; defaults and their meaning in ``configs/import.toml``.

    Attributes
    ----------
    chunk_size : int
        Masks per store shard, >= 1.
    workers : int
        Worker processes, >= 0 (0 or 1: none).
    recursive : bool
        Look for images in subfolders too.
    polarity_ratio : float
        In (0, 1): warn when more than half of the masks have a larger hole ratio.
    invert : bool
        False: white (255) = hole. True: black = hole.
    threshold : int
        In 0..254: binarize gray images at this level (pixels > threshold are white);
        -1: none, a non-binary image is refused.
    append : bool
        Add to an existing store of another run instead of refusing.
    """

    defaults: ClassVar[str] = "import"

    chunk_size: int
    workers: int
    recursive: bool
    polarity_ratio: float
    invert: bool
    threshold: int
    append: bool

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values out of range.

        Raises
        ------
        ConfigError
            Naming the first setting out of range and its allowed range.
        """
        if self.chunk_size < 1 or self.workers < 0:
            raise ConfigError("chunk_size must be >= 1 and workers >= 0")
        if not 0 < self.polarity_ratio < 1:
            raise ConfigError(f"polarity_ratio must be in (0, 1), got {self.polarity_ratio}")
        if not -1 <= self.threshold < 255:
            raise ConfigError(f"threshold must be in 0..254 (or -1: none), got {self.threshold}")

    @property
    def binarize_level(self) -> int | None:
        """The level of ``--threshold`` (0..254), or None when non-binary images are refused.

        Returns
        -------
        int or None
            ``threshold`` when it is >= 0; None for -1.
        """
        return self.threshold if self.threshold >= 0 else None


@dataclass(frozen=True)
class _ImportChunk:
    """Picklable reader of ``files[indices]`` for worker processes."""

    root: Path
    files: tuple[Path, ...]
    invert: bool
    threshold: int | None

    def __call__(self, indices: range) -> Chunk:
        holes = [read_mask(self.files[i], invert=self.invert, threshold=self.threshold) for i in indices]
        sources = [self.files[i].relative_to(self.root).as_posix() for i in indices]
        return holes, sources, [0] * len(holes), [{"invert": self.invert, "threshold": self.threshold} for _ in holes]


def polarity_message(ratios: Sequence[float], *, limit: float) -> str | None:
    """A warning text when most masks are mostly holes (the polarity looks inverted), else None.

    Parameters
    ----------
    ratios : sequence of float
        Hole ratio of every imported mask, each in [0, 1].
    limit : float
        A mask whose ratio exceeds this is mostly holes; in (0, 1).

    Returns
    -------
    str or None
        The warning, when more than half of the masks are mostly holes.
    """
    ratios = np.asarray(ratios, dtype=float)
    mostly_holes = int(np.count_nonzero(ratios > limit))
    if ratios.size == 0 or mostly_holes * 2 <= ratios.size:
        return None
    return (
        f"{mostly_holes} of {ratios.size} imported masks have more than {limit:.0%} hole pixels: "
        "the polarity looks inverted; if white marks valid pixels in these masks (as in NVIDIA's "
        "training masks), import them again with --invert --overwrite"
    )


def import_masks(
    src_dir: str | os.PathLike, out: str | os.PathLike, *, config: ImportConfig | None = None, overwrite: bool = False
) -> AppendSummary:
    """Import every mask image under ``src_dir`` into the store ``out``.

    Parameters
    ----------
    src_dir : path-like
        Folder of PNG/JPG/... masks (searched recursively unless ``recursive = false``).
    out : path-like
        The mask store to create, resume, or add to (``config.append``).
    config : ImportConfig, optional
        Settings; default ``ImportConfig.load()`` (``configs/import.toml``).
    overwrite : bool
        Replace an existing store.

    Returns
    -------
    AppendSummary
        With ``polarity_warning`` set (and a :class:`PolarityWarning` issued) when more than
        half of the masks are mostly holes.

    Raises
    ------
    InputError
        ``src_dir`` is not a folder or holds no image; a non-binary image without a threshold.
    OutputExistsError
        ``out`` is a store of another run and neither ``overwrite`` nor ``config.append`` is set.
    """
    config = config if config is not None else ImportConfig.load()
    root = Path(src_dir)
    files = tuple(list_images(root, recursive=config.recursive))
    if not files:
        raise InputError(f"no mask images (.png, .jpg, ...) in {root}")
    threshold = config.binarize_level
    run = f"import {root.resolve()} invert={config.invert} threshold={threshold}"
    summary = append_in_chunks(
        Path(out),
        run=run,
        count=len(files),
        chunk_size=config.chunk_size,
        make_chunk=_ImportChunk(root, files, config.invert, threshold),
        workers=config.workers,
        overwrite=overwrite,
        append=config.append,
        desc="import-masks",
    )
    records = MaskStore.open(out).records()
    imported = records[records["group"].str.startswith(f"{run} items ")]
    message = polarity_message(imported["hole_ratio"].to_numpy(), limit=config.polarity_ratio)
    if message:
        warnings.warn(message, PolarityWarning, stacklevel=2)
    return AppendSummary(summary.store, summary.added, summary.skipped, summary.total, polarity_warning=message)
