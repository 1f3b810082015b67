"""Mask stores: raw masks of any size in HDF5 shards, with per-mask provenance.

Layout
------
A store is a folder::

    STORE/
      store.json            format name and version
      shards/000000.h5      masks appended together, written once, never modified
      shards/000001.h5
      ...

Each shard holds its masks bit-packed (:func:`maskbench.packing.pack_hole`) in
one chunked, gzip-compressed 1-D dataset, with ``offsets`` into it, the mask ``shapes``,
their ``hole_pixels`` and the provenance columns ``source`` (file the mask came from),
``frame`` (frame or index in that file) and ``extra`` (a JSON object per mask, e.g. the flow
method). A shard may carry a ``group`` name (e.g. the video it was extracted from) so that
resumable commands can tell what is already done.

Why shards: an append writes a whole new shard to a temporary file and renames it into
place, so an interrupted append leaves the store exactly as it was; nothing ever rewrites
existing data. ``bench/store.py`` compares this layout with one HDF5 dataset per mask.

Global mask indices run over the shards in name order.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from maskbench.errors import InputError, OutputExistsError
from maskbench.files import atomic_path
from maskbench.locking import file_lock
from maskbench.packing import pack_hole, unpack_hole

FORMAT_NAME = "maskbench-mask-store"
FORMAT_VERSION = 1
_SHARD_DIGITS = 6
_CHUNK_BYTES = 1 << 16
#: Lock file of a store's writers (:meth:`MaskStore.exclusive`).
LOCK_NAME = "store.lock"


@dataclass(frozen=True)
class MaskRecord:
    """Provenance of one stored mask.

    Attributes
    ----------
    index : int
        Global index in the store.
    source : str
        File (video, image, generator) the mask came from.
    frame : int
        Frame number or item index within ``source``.
    height, width : int
        Mask size in pixels.
    hole_ratio : float
        Hole pixels / all pixels.
    extra : dict
        Any further provenance (flow method, generator kind, ...).
    """

    index: int
    source: str
    frame: int
    height: int
    width: int
    hole_ratio: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Shard:
    path: Path
    start: int
    offsets: np.ndarray
    shapes: np.ndarray
    hole_pixels: np.ndarray
    group: str
    provenance: str

    @property
    def count(self) -> int:
        """Masks in the shard.

        Returns
        -------
        int
            Rows of ``shapes``, ≥ 0 (0 for an empty shard that records a group).
        """
        return len(self.shapes)


def is_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a maskbench mask store folder.

    Parameters
    ----------
    path : path-like
        Any path; it need not exist.

    Returns
    -------
    bool
        True when ``path/store.json`` is a file (its content is checked by :meth:`MaskStore.open`).
    """
    return (Path(path) / "store.json").is_file()


class MaskStore:
    """A folder of HDF5 shards holding masks of any size, read by global index.

    Use :meth:`create` or :meth:`open`; ``len(store)``, ``store[i]`` (a bool hole array),
    iteration, :meth:`record` and :meth:`records` for provenance, :meth:`append` to add.

    Parameters
    ----------
    path : Path
        An existing store folder; :meth:`open` checks it first, so use that (or :meth:`create`)
        rather than this constructor.

    Examples
    --------
    >>> store = MaskStore.create("masks.store")                  # doctest: +SKIP
    >>> store.append([hole], sources=["a.png"], frames=[0])      # doctest: +SKIP
    >>> hole = store[0]                                          # doctest: +SKIP
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._shards: list[_Shard] = []
        self._handles: dict[Path, h5py.File] = {}
        self._handle_pid = os.getpid()
        self.refresh()

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike, *, overwrite: bool = False) -> MaskStore:
        """Create an empty store; an existing store is refused unless ``overwrite``.

        Parameters
        ----------
        path : path-like
            The store folder; parent folders are created.
        overwrite : bool
            Empty an existing store (its shards are deleted) instead of refusing it. An
            existing folder that is not a store is refused unless it is empty.

        Returns
        -------
        MaskStore
            The new, empty store.

        Raises
        ------
        OutputExistsError
            When ``path`` exists and ``overwrite`` is False, or it is a non-empty folder that
            is not a mask store.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise OutputExistsError(f"mask store {path} already exists; pass --overwrite to replace it")
        if path.exists():
            if not is_store(path) and any(path.iterdir()):
                raise OutputExistsError(f"{path} exists and is not a mask store; refusing to replace it")
            for shard in sorted((path / "shards").glob("*.h5")):
                shard.unlink()
        (path / "shards").mkdir(parents=True, exist_ok=True)
        with atomic_path(path / "store.json") as temp:
            temp.write_text(json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION}) + "\n")
        return cls(path)

    @classmethod
    def open(cls, path: str | os.PathLike) -> MaskStore:
        """Open an existing store.

        Parameters
        ----------
        path : path-like
            The store folder.

        Returns
        -------
        MaskStore

        Raises
        ------
        InputError
            When ``path`` is not a mask store, or its ``store.json`` names another format or
            version.
        """
        path = Path(path)
        if not is_store(path):
            raise InputError(
                f"{path} is not a mask store (no store.json); make one with "
                "'maskbench generate', 'maskbench import-masks' or 'maskbench extract'"
            )
        header = json.loads((path / "store.json").read_text("utf-8"))
        if header.get("format") != FORMAT_NAME or header.get("version") != FORMAT_VERSION:
            raise InputError(f"{path}/store.json names an unknown format {header}")
        return cls(path)

    @classmethod
    def open_or_create(cls, path: str | os.PathLike) -> MaskStore:
        """Open ``path`` if it is a store, else create it (for resumable appends).

        Parameters
        ----------
        path : path-like
            The store folder.

        Returns
        -------
        MaskStore

        Raises
        ------
        InputError
            When the store's ``store.json`` names another format or version.
        OutputExistsError
            When ``path`` exists and is not a mask store.
        """
        return cls.open(path) if is_store(path) else cls.create(path)

    @classmethod
    def open_output(cls, path: str | os.PathLike, *, overwrite: bool = False) -> MaskStore:
        """The output store of a resumable command (``extract``, ``merge-stores``).

        Parameters
        ----------
        path : path-like
            The store; created when missing, opened to append to when it exists.
        overwrite : bool
            Start from an empty store instead.

        Returns
        -------
        MaskStore

        Raises
        ------
        OutputExistsError
            When ``path`` exists and is not a mask store (and ``overwrite`` is False).
        """
        path = Path(path)
        if path.exists() and not is_store(path) and not overwrite:
            raise OutputExistsError(f"{path} exists and is not a mask store; choose another --out")
        return cls.create(path, overwrite=True) if overwrite else cls.open_or_create(path)

    def refresh(self) -> None:
        """Re-read the shard list (after another process appended)."""
        self.close()
        shards, start = [], 0
        for shard_path in self._shard_paths():
            with h5py.File(shard_path, "r") as shard_file:
                shard = _Shard(
                    path=shard_path,
                    start=start,
                    offsets=shard_file["offsets"][:],
                    shapes=shard_file["shapes"][:],
                    hole_pixels=shard_file["hole_pixels"][:],
                    group=str(shard_file.attrs.get("group", "")),
                    provenance=str(shard_file.attrs.get("provenance", "")),
                )
            shards.append(shard)
            start += shard.count
        self._shards = shards
        self._starts = np.array([shard.start for shard in shards], dtype=np.int64)

    def _shard_paths(self) -> list[Path]:
        return sorted((self.path / "shards").glob("[0-9]" * _SHARD_DIGITS + ".h5"))

    def close(self) -> None:
        """Close open shard files (they reopen lazily)."""
        for handle in self._handles.values():
            handle.close()
        self._handles = {}

    def __enter__(self) -> MaskStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state

    # -- reading -----------------------------------------------------------------------

    def __len__(self) -> int:
        return int(sum(shard.count for shard in self._shards))

    def _locate(self, index: int) -> tuple[_Shard, int]:
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"mask index {index} out of range for a store of {count} masks")
        index %= count
        shard = self._shards[int(np.searchsorted(self._starts, index, side="right")) - 1]
        return shard, index - shard.start

    def _handle(self, shard: _Shard) -> h5py.File:
        if self._handle_pid != os.getpid():
            self._handles, self._handle_pid = {}, os.getpid()
        if shard.path not in self._handles:
            self._handles[shard.path] = h5py.File(shard.path, "r")
        return self._handles[shard.path]

    def __getitem__(self, index: int) -> np.ndarray:
        """The mask at global ``index`` as an (H, W) bool hole array (negative counts from the end)."""
        shard, local = self._locate(int(index))
        begin, end = shard.offsets[local], shard.offsets[local + 1]
        packed = self._handle(shard)["bits"][begin:end]
        return unpack_hole(packed, shard.shapes[local])

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(len(self)):
            yield self[index]

    def record(self, index: int) -> MaskRecord:
        """Provenance of the mask at global ``index``.

        Parameters
        ----------
        index : int
            Global index, in [−N, N) for a store of N masks (negative counts from the end).

        Returns
        -------
        MaskRecord
            With ``index`` in [0, N).

        Raises
        ------
        IndexError
            When ``index`` is out of range.
        """
        shard, local = self._locate(int(index))
        handle = self._handle(shard)
        height, width = (int(v) for v in shard.shapes[local])
        return MaskRecord(
            index=shard.start + local,
            source=handle["source"][local].decode("utf-8"),
            frame=int(handle["frame"][local]),
            height=height,
            width=width,
            hole_ratio=float(shard.hole_pixels[local]) / (height * width),
            extra=json.loads(handle["extra"][local].decode("utf-8")),
        )

    def records(self) -> pd.DataFrame:
        """Provenance of every mask, one row per global index.

        Returns
        -------
        pandas.DataFrame
            N rows in index order; columns ``index, source, frame, height, width,
            hole_pixels, hole_ratio, group, extra`` (``group`` is ``""`` for masks of
            ungrouped shards, ``extra`` a JSON string). No rows for an empty store.
        """
        frames = []
        for shard in self._shards:
            handle = self._handle(shard)
            frames.append(
                pd.DataFrame(
                    {
                        "index": np.arange(shard.start, shard.start + shard.count),
                        "source": [s.decode("utf-8") for s in handle["source"][:]],
                        "frame": handle["frame"][:],
                        "height": shard.shapes[:, 0],
                        "width": shard.shapes[:, 1],
                        "hole_pixels": shard.hole_pixels,
                        "hole_ratio": shard.hole_pixels / shard.shapes.prod(axis=1),
                        "group": shard.group,
                        "extra": [s.decode("utf-8") for s in handle["extra"][:]],
                    }
                )
            )
        columns = ["index", "source", "frame", "height", "width", "hole_pixels", "hole_ratio", "group", "extra"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def hole_ratios(self) -> np.ndarray:
        """Hole ratio of every mask, without reading the masks.

        Returns
        -------
        (N,) float64 ndarray
            Hole pixels / all pixels, in [0, 1], by global index.
        """
        if not self._shards:
            return np.zeros(0)
        return np.concatenate([s.hole_pixels / s.shapes.prod(axis=1) for s in self._shards])

    def shapes(self) -> np.ndarray:
        """Every mask's size, without reading the masks.

        Returns
        -------
        (N, 2) int64 ndarray
            (height, width) in pixels, by global index.
        """
        if not self._shards:
            return np.zeros((0, 2), dtype=np.int64)
        return np.concatenate([shard.shapes for shard in self._shards]).astype(np.int64)

    def groups(self) -> set[str]:
        """Group names of the shards (e.g. videos already extracted).

        Returns
        -------
        set of str
            The non-empty group names, also those of empty shards (videos that gave no masks).
        """
        return {shard.group for shard in self._shards if shard.group}

    def provenances(self) -> dict[str, dict[str, Any]]:
        """Group → what its shard recorded of how it was made (see :meth:`append`).

        Returns
        -------
        dict of str to dict
            The ``provenance`` of each group's shard, for groups appended with one.
        """
        return {shard.group: json.loads(shard.provenance) for shard in self._shards if shard.group and shard.provenance}

    def fingerprint(self) -> str:
        """SHA-256 of every shard's bytes, in order: identifies the store's content.

        Returns
        -------
        str
            64 hex digits; the shard file names are part of the digest.
        """
        digest = hashlib.sha256()
        for shard in self._shards:
            digest.update(shard.path.name.encode())
            with open(shard.path, "rb") as shard_file:
                for block in iter(lambda: shard_file.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()

    # -- writing -----------------------------------------------------------------------

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[MaskStore]:
        """Keep every other writer of this store out for the ``with`` block, and see their appends.

        Processes appending to one store at once take turns (a file lock,
        :func:`maskbench.locking.file_lock`); a check such as "is this video's group there
        yet?" made inside the block still holds when the append that follows is written.

        Yields
        ------
        MaskStore
            This store, refreshed after the lock was taken.
        """
        with file_lock(self.path / LOCK_NAME):
            self.refresh()
            yield self

    def append(
        self,
        holes: Sequence[np.ndarray],
        *,
        sources: Sequence[str],
        frames: Sequence[int],
        extras: Sequence[dict[str, Any]] | None = None,
        group: str = "",
        provenance: dict[str, Any] | None = None,
    ) -> range:
        """Append masks as one new shard, atomically.

        Parameters
        ----------
        holes : sequence of (H, W) bool ndarray
            Masks, any sizes; True = hole.
        sources, frames : sequences of str and int
            Provenance, one per mask.
        extras : sequence of dict, optional
            Further JSON-serialisable provenance per mask.
        group : str
            Name stored with the shard (e.g. the video) for :meth:`groups`.
        provenance : dict, optional
            How the shard's masks were made (e.g. the maskbench version and the full
            extraction configuration), JSON-serialisable; read back by :meth:`provenances`.

        Returns
        -------
        range
            The global indices given to the new masks. An empty ``holes`` writes nothing,
            unless ``group`` is given: then an empty shard records the group as done (e.g. a
            video that gave no masks, so that a resumed extraction skips it).

        Raises
        ------
        InputError
            When a mask is not a 2-D bool array.
        ValueError
            When ``sources``, ``frames`` or ``extras`` is not as long as ``holes``.
        """
        count = len(holes)
        extras = list(extras) if extras is not None else [{} for _ in range(count)]
        if not (len(sources) == len(frames) == len(extras) == count):
            raise ValueError("holes, sources, frames and extras must have the same length")
        for hole in holes:
            if not isinstance(hole, np.ndarray) or hole.dtype != np.bool_ or hole.ndim != 2:
                raise InputError(f"a stored mask must be a 2-D bool array, got {getattr(hole, 'dtype', type(hole))}")
        if count == 0 and not group:
            return range(len(self), len(self))
        packed = [pack_hole(hole) for hole in holes]
        offsets = np.concatenate([[0], np.cumsum([p.size for p in packed])]).astype(np.int64)
        with self.exclusive():  # the next shard number, and the indices, are this writer's alone
            start = len(self)
            self._write_shard(holes, packed, offsets, sources, frames, extras, group, provenance)
        return range(start, start + count)

    def _write_shard(
        self,
        holes: Sequence[np.ndarray],
        packed: list[np.ndarray],
        offsets: np.ndarray,
        sources: Sequence[str],
        frames: Sequence[int],
        extras: list[dict[str, Any]],
        group: str,
        provenance: dict[str, Any] | None,
    ) -> None:
        """Write the next shard (the caller holds the lock) and re-read the shard list."""
        count = len(holes)
        paths = self._shard_paths()
        number = int(paths[-1].stem) + 1 if paths else 0
        target = self.path / "shards" / f"{number:0{_SHARD_DIGITS}d}.h5"
        with atomic_path(target) as temp, h5py.File(temp, "w") as shard_file:
            bits = np.concatenate(packed) if packed else np.zeros(0, dtype=np.uint8)
            compressed = {"chunks": (min(_CHUNK_BYTES, bits.size),), "compression": "gzip"} if bits.size else {}
            shard_file.create_dataset("bits", data=bits, **compressed)
            shard_file["offsets"] = offsets
            shard_file["shapes"] = np.array([hole.shape for hole in holes], dtype=np.int32).reshape(count, 2)
            shard_file["hole_pixels"] = np.array([np.count_nonzero(h) for h in holes], dtype=np.int64)
            string = h5py.string_dtype("utf-8")
            shard_file.create_dataset("source", data=list(map(str, sources)), dtype=string)
            shard_file["frame"] = np.asarray(frames, dtype=np.int64)
            shard_file.create_dataset("extra", data=[json.dumps(e, sort_keys=True) for e in extras], dtype=string)
            shard_file.attrs["group"] = group
            if provenance is not None:
                shard_file.attrs["provenance"] = json.dumps(provenance, sort_keys=True)
        self.refresh()
