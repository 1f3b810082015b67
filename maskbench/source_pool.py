"""The store's raw masks as sources of split masks: chosen by hole ratio, decoded once per process.

A split mask is made of several stored masks (*sources*). :func:`source_pool` lists the masks
with holes by increasing hole ratio, :func:`pick_source` draws one near a wanted ratio, and
:func:`source_hole` / :func:`uncut_holes` give its holes, kept in a per-process cache
bit-packed (:func:`maskbench.packing.pack_hole`, H·W/8 bytes each: 64 MiB for 2,048 masks of
512×512), because a mask combines several sources and a store read costs more than the
unpacking. Every cache is keyed by the store's fingerprint, so a store replaced at the same
path is read afresh.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from maskbench.packing import pack_hole, unpack_hole
from maskbench.store import MaskStore

#: Sources kept decoded (bit-packed) per process.
_SOURCE_CACHE_SIZE = 2048


@dataclass(frozen=True)
class SourcePool:
    """The masks of a store that have holes, by increasing hole ratio, with their provenance.

    Attributes
    ----------
    store : MaskStore
        The open store.
    order : (M,) int64 ndarray
        Store indices of the masks with holes, by increasing hole ratio (stable).
    ratios : (M,) float64 ndarray
        Their hole ratios, increasing, in (0, 1].
    files, frames : tuple of str, tuple of int
        Provenance (source file, frame) of every stored mask, by store index.
    """

    store: MaskStore
    order: np.ndarray
    ratios: np.ndarray
    files: tuple[str, ...]
    frames: tuple[int, ...]


@functools.lru_cache(maxsize=2)
def source_pool(store_path: str, fingerprint: str) -> SourcePool:
    """The store at ``store_path``, opened once per process.

    Parameters
    ----------
    store_path : str
        Absolute path of a mask store.
    fingerprint : str
        Its :meth:`~maskbench.store.MaskStore.fingerprint` (part of the cache key).

    Returns
    -------
    SourcePool
    """
    store = MaskStore.open(store_path)
    ratios = store.hole_ratios()
    order = np.flatnonzero(ratios > 0)
    order = order[np.argsort(ratios[order], kind="stable")]
    records = store.records()
    return SourcePool(
        store=store,
        order=order,
        ratios=ratios[order],
        files=tuple(records["source"]),
        frames=tuple(int(frame) for frame in records["frame"]),
    )


@functools.lru_cache(maxsize=_SOURCE_CACHE_SIZE)
def _packed_source(store_path: str, fingerprint: str, index: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Stored mask ``index``, bit-packed, and its shape."""
    hole = source_pool(store_path, fingerprint).store[index]
    return pack_hole(hole), hole.shape


@functools.lru_cache(maxsize=_SOURCE_CACHE_SIZE)
def _packed_uncut(store_path: str, fingerprint: str, index: int) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The uncut holes of stored mask ``index`` cut to their bounding box, bit-packed, and its shape."""
    uncut = drop_cut_holes(source_hole(store_path, fingerprint, index))
    if not uncut.any():
        return None
    rows, cols = np.flatnonzero(uncut.any(axis=1)), np.flatnonzero(uncut.any(axis=0))
    patch = uncut[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return pack_hole(patch), patch.shape


def source_hole(store_path: str, fingerprint: str, index: int) -> np.ndarray:
    """Stored mask ``index`` (cached).

    Parameters
    ----------
    store_path, fingerprint : str
        As :func:`source_pool`.
    index : int
        Store index.

    Returns
    -------
    (H, W) bool ndarray
        True = hole; a fresh array.
    """
    return unpack_hole(*_packed_source(store_path, fingerprint, index))


def uncut_holes(store_path: str, fingerprint: str, index: int) -> np.ndarray | None:
    """The holes of stored mask ``index`` that do not touch its frame (cached).

    Parameters
    ----------
    store_path, fingerprint : str
        As :func:`source_pool`.
    index : int
        Store index.

    Returns
    -------
    (h, w) bool ndarray or None
        The holes cut to their bounding box; None when every hole touches the frame (was cut
        by it).
    """
    packed = _packed_uncut(store_path, fingerprint, index)
    return None if packed is None else unpack_hole(*packed)


def drop_cut_holes(window: np.ndarray) -> np.ndarray:
    """Remove the hole components (8-connected) that touch the window's edge.

    Parameters
    ----------
    window : (H, W) bool ndarray
        True = hole.

    Returns
    -------
    (H, W) bool ndarray
        The holes that do not touch the edge.
    """
    count, labels = cv2.connectedComponents(window.astype(np.uint8), connectivity=8)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    keep = np.ones(count, dtype=bool)
    keep[edge_labels] = False
    keep[0] = False
    return keep[labels]


def pick_source(
    pool: SourcePool, target: float, factor: tuple[float, float], least: int, rng: np.random.Generator
) -> int:
    """A random store index whose hole ratio is in ``factor`` × ``target``.

    When no mask is, one of the tenth of the masks nearest in ratio (so that a store of
    small masks still offers its largest ones for a large target); when fewer than ``least``
    are, one of the ``least`` masks nearest in ratio (so that the few largest masks of a store
    do not go into a large share of the split).

    Parameters
    ----------
    pool : SourcePool
        The candidates (at least one).
    target : float
        Wanted hole ratio, in (0, 1].
    factor : (float, float)
        The range [low, high] × ``target`` of hole ratios to draw from.
    least : int
        Fewest candidates to draw among, ≥ 1.
    rng : numpy.random.Generator
        Draws one integer.

    Returns
    -------
    int
        A store index.
    """
    begin = int(np.searchsorted(pool.ratios, factor[0] * target, side="left"))
    end = int(np.searchsorted(pool.ratios, factor[1] * target, side="right"))
    nearest = max(1, len(pool.order) // 10) if end <= begin else min(least, len(pool.order))
    if end - begin < nearest:
        begin = min(max(0, (begin + end - nearest) // 2), len(pool.order) - nearest)
        end = begin + nearest
    return int(pool.order[rng.integers(begin, end)])
