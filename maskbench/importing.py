"""Import a folder of mask images into a mask store, and resumable chunked appends.

``maskbench import-masks SRC_DIR --out STORE`` reads every PNG/JPG/... under ``SRC_DIR``
as a mask (white, 255 = hole, by default; ``--invert`` for masks that draw valid pixels
white, such as NVIDIA's training masks), rejects non-binary images unless ``--threshold T``
binarizes them, and records each file's relative path as its provenance.

:func:`append_in_chunks` is the resumable writer shared with ``maskbench generate``: masks
go into the store in shards whose group names record the run and the items they hold, so a
rerun after an interruption skips the finished shards.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maskbench.config import load_config
from maskbench.errors import ConfigError, InputError, OutputExistsError
from maskbench.files import list_images, read_mask
from maskbench.parallel import map_ordered
from maskbench.store import MaskStore, is_store

Chunk = tuple[list[np.ndarray], list[str], list[int], list[dict[str, Any]]]


class PolarityWarning(UserWarning):
    """Most imported pixels are holes: the masks may use the opposite polarity."""


@dataclass(frozen=True)
class ImportConfig:
    """Settings of ``maskbench import-masks``; defaults in ``configs/import.toml``."""

    chunk_size: int
    workers: int
    recursive: bool
    polarity_ratio: float

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values out of range."""
        if self.chunk_size < 1 or self.workers < 0:
            raise ConfigError("chunk_size must be >= 1 and workers >= 0")
        if not 0 < self.polarity_ratio < 1:
            raise ConfigError(f"polarity_ratio must be in (0, 1), got {self.polarity_ratio}")


@dataclass(frozen=True)
class AppendSummary:
    """What a chunked append added to a store.

    Attributes
    ----------
    store : Path
    added : int
        Masks written by this run.
    skipped : int
        Masks found already written by an interrupted earlier run.
    total : int
        Masks in the store now.
    polarity_warning : str or None
        Set by :func:`import_masks` when the masks look inverted.
    """

    store: Path
    added: int
    skipped: int
    total: int
    polarity_warning: str | None = None


def _group_name(run: str, indices: range) -> str:
    return f"{run} items {indices.start}-{indices.stop - 1}"


def open_output_store(path: Path, *, run: str, overwrite: bool, append: bool) -> MaskStore | None:
    """The store a chunked run adds to, or None when it is created (or replaced) at the first write.

    Nothing is created or deleted here, so a run that fails before its first shard leaves
    no path behind (and an ``overwrite`` leaves the old store). An existing store is resumed
    when every shard in it was written by this same ``run`` or it is empty; otherwise it
    needs ``overwrite`` (replace) or ``append`` (add).
    """
    if path.exists() and not is_store(path) and (not path.is_dir() or any(path.iterdir())):
        raise OutputExistsError(f"{path} exists and is not a mask store; choose another --out")
    if not is_store(path) or overwrite:
        return None
    store = MaskStore.open(path)
    resumable = all(group.startswith(f"{run} items ") for group in store.groups())
    if not (append or resumable):
        raise OutputExistsError(
            f"mask store {path} already exists; pass --overwrite to replace it or --append to add to it"
        )
    return store


def append_in_chunks(
    path: Path,
    *,
    run: str,
    count: int,
    chunk_size: int,
    make_chunk: Callable[[range], Chunk],
    workers: int,
    overwrite: bool,
    append: bool,
    desc: str,
) -> AppendSummary:
    """Append items 0 … count−1 to a store, ``chunk_size`` per shard, resumably.

    Parameters
    ----------
    path : Path
        The store.
    run : str
        Names the run (command and settings that decide the masks); stored in the shards'
        group names so that a rerun skips the shards already written.
    count, chunk_size : int
        Items in all, items per shard.
    make_chunk : callable
        Picklable ``range -> (holes, sources, frames, extras)``.
    workers : int
        Worker processes for ``make_chunk``; shards are appended in order.
    overwrite, append : bool
        See :func:`open_output_store`.
    desc : str
        Progress bar label.
    """
    store = open_output_store(path, run=run, overwrite=overwrite, append=append)
    done = store.groups() if store is not None else set()
    chunks = [range(start, min(start + chunk_size, count)) for start in range(0, count, chunk_size)]
    todo = [chunk for chunk in chunks if _group_name(run, chunk) not in done]
    added = 0
    results = map_ordered(make_chunk, todo, workers=workers, desc=desc, unit="shard", chunksize=1)
    for number, (holes, sources, frames, extras) in enumerate(results):
        if store is None:
            store = MaskStore.create(path, overwrite=overwrite)
        store.append(holes, sources=sources, frames=frames, extras=extras, group=_group_name(run, todo[number]))
        added += len(holes)
    total = len(store) if store is not None else 0
    return AppendSummary(store=path, added=added, skipped=count - sum(map(len, todo)), total=total)


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
    """A warning text when most masks are mostly holes (the polarity looks inverted), else None."""
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
    src_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    invert: bool = False,
    threshold: int | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    append: bool = False,
    config_file: str | os.PathLike | None = None,
) -> AppendSummary:
    """Import every mask image under ``src_dir`` into the store ``out``.

    Parameters
    ----------
    src_dir : path-like
        Folder of PNG/JPG/... masks (searched recursively unless ``recursive = false``).
    out : path-like
        The mask store to create, resume, or add to.
    invert : bool
        False: white (255) = hole. True: black = hole.
    threshold : int, optional
        Binarize gray images at this level (pixels > T are white); without it a non-binary
        image raises :class:`InputError` naming the file.
    workers : int, optional
        Override ``configs/import.toml``.
    overwrite, append : bool
        Replace an existing store, or add to it.
    config_file : path-like, optional
        TOML file with keys of ``configs/import.toml`` to replace.

    Returns
    -------
    AppendSummary
        With ``polarity_warning`` set (and a :class:`PolarityWarning` issued) when more than
        half of the masks are mostly holes.
    """
    config = load_config("import", ImportConfig, user_file=config_file, overrides={"workers": workers})
    if threshold is not None and not 0 <= threshold < 255:
        raise InputError(f"--threshold must be in 0..254, got {threshold}")
    root = Path(src_dir)
    files = tuple(list_images(root, recursive=config.recursive))
    if not files:
        raise InputError(f"no mask images (.png, .jpg, ...) in {root}")
    run = f"import {root.resolve()} invert={invert} threshold={threshold}"
    summary = append_in_chunks(
        Path(out), run=run, count=len(files), chunk_size=config.chunk_size,
        make_chunk=_ImportChunk(root, files, invert, threshold), workers=config.workers,
        overwrite=overwrite, append=append, desc="import-masks",
    )  # fmt: skip
    store = MaskStore.open(out)
    records = store.records()
    imported = records[records["group"].str.startswith(f"{run} items ")]
    message = polarity_message(imported["hole_ratio"].to_numpy(), limit=config.polarity_ratio)
    if message:
        warnings.warn(message, PolarityWarning, stacklevel=2)
    return AppendSummary(summary.store, summary.added, summary.skipped, summary.total, polarity_warning=message)
