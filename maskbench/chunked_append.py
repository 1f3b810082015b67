"""Resumable appends to a mask store, shard by shard: the writer of ``generate`` and ``import-masks``.

Masks go into the store in shards of ``chunk_size`` items whose group names record the run
(the command and the settings that decide the masks) and the items they hold, so a rerun of
the same command after an interruption skips the finished shards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maskbench.errors import OutputExistsError
from maskbench.parallel import map_ordered
from maskbench.store import MaskStore, is_store

#: One shard's masks: (holes, sources, frames, extras), one entry per mask.
Chunk = tuple[list[np.ndarray], list[str], list[int], list[dict[str, Any]]]


@dataclass(frozen=True)
class AppendSummary:
    """What a chunked append added to a store.

    Attributes
    ----------
    store : Path
        The mask store written.
    added : int
        Masks written by this run, >= 0.
    skipped : int
        Masks found already written by an interrupted earlier run, >= 0.
    total : int
        Masks in the store now, >= 0.
    polarity_warning : str or None
        Set by :func:`maskbench.importing.import_masks` when the masks look inverted.
    """

    store: Path
    added: int
    skipped: int
    total: int
    polarity_warning: str | None = None


def _shard_group(run: str, indices: range) -> str:
    """``"RUN items FIRST-LAST"``: the group name of the shard of ``run`` holding ``indices``."""
    return f"{run} items {indices.start}-{indices.stop - 1}"


def open_output_store(path: Path, *, run: str, overwrite: bool, append: bool) -> MaskStore | None:
    """The store a chunked run adds to, or None when it is created (or replaced) at the first write.

    Nothing is created or deleted here, so a run that fails before its first shard leaves
    no path behind (and an ``overwrite`` leaves the old store). An existing store is resumed
    when every shard in it was written by this same ``run`` or it is empty; otherwise it
    needs ``overwrite`` (replace) or ``append`` (add).

    Parameters
    ----------
    path : Path
        The store.
    run : str
        Names the run; its shards' group names start with ``"RUN items "``.
    overwrite, append : bool
        Replace an existing store at the first write, or add to it.

    Returns
    -------
    MaskStore or None
        The existing store to add to, or None.

    Raises
    ------
    OutputExistsError
        ``path`` is something else than a mask store, or a store of another run and neither
        ``overwrite`` nor ``append`` is set.
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
        Items in all (>= 0), items per shard (>= 1).
    make_chunk : callable
        Picklable ``range -> (holes, sources, frames, extras)``.
    workers : int
        Worker processes for ``make_chunk`` (0 or 1: none); shards are appended in order.
    overwrite, append : bool
        See :func:`open_output_store`.
    desc : str
        Progress bar label.

    Returns
    -------
    AppendSummary
        Without ``polarity_warning``.

    Raises
    ------
    OutputExistsError
        See :func:`open_output_store`.
    """
    store = open_output_store(path, run=run, overwrite=overwrite, append=append)
    done = store.groups() if store is not None else set()
    chunks = [range(start, min(start + chunk_size, count)) for start in range(0, count, chunk_size)]
    todo = [chunk for chunk in chunks if _shard_group(run, chunk) not in done]
    added = 0
    results = map_ordered(make_chunk, todo, workers=workers, desc=desc, unit="shard", chunksize=1)
    for number, (holes, sources, frames, extras) in enumerate(results):
        if store is None:
            store = MaskStore.create(path, overwrite=overwrite)
        store.append(holes, sources=sources, frames=frames, extras=extras, group=_shard_group(run, todo[number]))
        added += len(holes)
    total = len(store) if store is not None else 0
    return AppendSummary(store=path, added=added, skipped=count - sum(map(len, todo)), total=total)
