"""Measurements of test-mask files, cached in the user's cache folder so a split is verified once.

Verifying a split re-reads every mask (12,000 PNGs take minutes). :func:`measure_mask_files`
measures each file once — size, hole pixels, nearest hole pixel to the edge, and the same for
the inverted mask (to tell an inverted folder) — and keeps the numbers in
``CACHE/verify/KEY.json``. KEY is a SHA-256 of the files' absolute paths, byte sizes and
modification times (nanoseconds) and of the reading options, so any change to a file, a
renamed, added or removed file, or other options measure again. The cache lives in the user's
cache folder because a dataset folder may be read-only:

1. ``$MASKBENCH_CACHE_DIR`` when set;
2. else ``$XDG_CACHE_HOME/maskbench``;
3. else ``~/.cache/maskbench``.

A cache that cannot be written (read-only home) is skipped silently: the masks are measured
every time, as without a cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from maskbench.bins import min_border_distance
from maskbench.files import read_mask, write_text_atomic
from maskbench.progress import progress

#: Environment variable naming maskbench's cache folder.
CACHE_ENV = "MASKBENCH_CACHE_DIR"
#: Version of the cached measurements; bump it when :class:`MaskMeasure` changes.
_CACHE_VERSION = 1


@dataclass(frozen=True)
class MaskMeasure:
    """What verifying a test mask needs to know about its file.

    Attributes
    ----------
    height, width : int
        Mask size, px.
    hole_pixels : int
        Pixels that are holes.
    min_border_dist : int
        Border distance of the hole pixel nearest to the edge
        (:func:`maskbench.bins.min_border_distance`).
    inverted_min_border_dist : int
        The same for the inverted mask (valid pixels taken as holes).
    """

    height: int
    width: int
    hole_pixels: int
    min_border_dist: int
    inverted_min_border_dist: int

    @property
    def pixels(self) -> int:
        """All pixels of the mask.

        Returns
        -------
        int
            ``height · width``.
        """
        return self.height * self.width


def user_cache_dir() -> Path:
    """Maskbench's folder in the user's cache (see the module docstring for the order).

    Returns
    -------
    Path
        ``$MASKBENCH_CACHE_DIR`` when set and not empty, else ``$XDG_CACHE_HOME/maskbench``,
        else ``~/.cache/maskbench`` (``~`` expanded); the folder may not exist yet.
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "maskbench"


def measure_mask(path: Path, *, invert: bool, threshold: int | None) -> MaskMeasure:
    """Read one mask file and measure it.

    Parameters
    ----------
    path : Path
        The mask file.
    invert : bool
        Read black (0) as hole, as :func:`maskbench.files.read_mask`.
    threshold : int or None
        Gray level above which a pixel is white; None: the file must be binary (0 and 255).

    Returns
    -------
    MaskMeasure

    Raises
    ------
    InputError
        The file cannot be read as a mask (missing, unreadable or, with ``threshold=None``,
        not binary).
    """
    hole = read_mask(path, invert=invert, threshold=threshold)
    return MaskMeasure(
        height=hole.shape[0],
        width=hole.shape[1],
        hole_pixels=int(np.count_nonzero(hole)),
        min_border_dist=min_border_distance(hole),
        inverted_min_border_dist=min_border_distance(~hole),
    )


def _files_key(files: Sequence[Path], *, invert: bool, threshold: int | None) -> str:
    digest = hashlib.sha256(f"v{_CACHE_VERSION} invert={invert} threshold={threshold}\n".encode())
    for path in files:
        status = path.stat()
        digest.update(f"{path.resolve()}\t{status.st_size}\t{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _read_cached(file: Path, count: int) -> list[MaskMeasure] | None:
    try:
        rows = json.loads(file.read_text("utf-8"))
        measures = [MaskMeasure(**row) for row in rows]
    except (OSError, ValueError, TypeError):
        return None
    return measures if len(measures) == count else None


def _write_cached(file: Path, measures: Sequence[MaskMeasure]) -> None:
    try:
        write_text_atomic(file, json.dumps([asdict(measure) for measure in measures]))
    except OSError:
        return


def measure_mask_files(
    files: Sequence[Path], *, invert: bool = False, threshold: int | None = None
) -> list[MaskMeasure]:
    """Measure mask files, or read the measurements of an unchanged set of files from the cache.

    Parameters
    ----------
    files : sequence of Path
        Mask files, in the order the measurements are returned.
    invert : bool
        Read black (0) as hole, as :func:`maskbench.files.read_mask`.
    threshold : int or None
        Gray level above which a pixel is white; None: the files must be binary (0 and 255).

    Returns
    -------
    list of MaskMeasure
        One per file.

    Raises
    ------
    InputError
        A file that cannot be read as a mask.
    """
    cache_file = user_cache_dir() / "verify" / f"{_files_key(files, invert=invert, threshold=threshold)}.json"
    cached = _read_cached(cache_file, len(files)) if cache_file.is_file() else None
    if cached is not None:
        return cached
    measures = [
        measure_mask(path, invert=invert, threshold=threshold)
        for path in progress(files, total=len(files), desc="verify masks", unit="mask")
    ]
    _write_cached(cache_file, measures)
    return measures
