"""The one definition of hole ratio, border distance and the test-split bins.

Everything in maskbench that bins a mask calls this module; nothing else re-states the
edges, the labels or the border rule.

The definitions (Liu et al. 2018, section 4.1):

* hole ratio = hole pixels / all pixels of the mask;
* six ratio bins, left-open and right-closed: (0.01,0.1], (0.1,0.2], ..., (0.5,0.6];
  a ratio outside all of them (≤ 0.01 or > 0.6) belongs to no bin;
* border distance of pixel (r, c) in an H×W mask = min(r, c, H−1−r, W−1−c);
* a mask is ``"N"`` (no border) when every hole pixel has border distance ≥ ``margin``
  (50 px in the paper, ``border_margin`` in ``configs/testset.toml``), else ``"B"``.

The test split holds ``per_bin`` masks for each (ratio bin, border class); its files are
numbered as NVIDIA's release: ``index = 2·P·k + P·b + j`` with P = per_bin, k the ratio bin,
b = 0 for N and 1 for B, and j = 0 … P−1.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise
from typing import Literal

import numpy as np

from maskbench.checks import check_hole

BorderClass = Literal["N", "B"]

#: Side of the masks of the test split and of training masks, px.
MASK_SIZE: int = 512
#: Ratio bin edges as exact fractions: bin k is the half-open interval (EDGES[k], EDGES[k+1]].
RATIO_EDGES: tuple[Fraction, ...] = tuple(Fraction(e, 100) for e in (1, 10, 20, 30, 40, 50, 60))
#: Number of ratio bins.
N_RATIO_BINS: int = len(RATIO_EDGES) - 1
#: Labels of the ratio bins as the paper prints them, e.g. ``"(0.01,0.1]"``.
BIN_LABELS: tuple[str, ...] = tuple(f"({float(lo):g},{float(hi):g}]" for lo, hi in pairwise(RATIO_EDGES))
#: Border classes in file-numbering order (b = 0 for N, b = 1 for B).
BORDER_CLASSES: tuple[BorderClass, BorderClass] = ("N", "B")


def hole_ratio(hole: np.ndarray) -> float:
    """Share of hole pixels in a mask.

    Parameters
    ----------
    hole : (H, W) bool ndarray
        True where the pixel is missing.

    Returns
    -------
    float
        Hole pixels / (H·W), in [0, 1].

    Raises
    ------
    InputError
        ``hole`` is not a 2-D bool array.
    """
    check_hole(hole)
    return int(np.count_nonzero(hole)) / hole.size


def ratio_bin_of_count(hole_pixels: int, total_pixels: int) -> int | None:
    """Ratio bin of a mask from its pixel counts, decided exactly (no float rounding).

    Parameters
    ----------
    hole_pixels, total_pixels : int
        Number of hole pixels and of all pixels.

    Returns
    -------
    int or None
        k in 0 … 5 with EDGES[k] < hole_pixels/total_pixels ≤ EDGES[k+1], or None when the
        ratio lies in no bin (≤ 0.01 or > 0.6).
    """
    ratio = Fraction(int(hole_pixels), int(total_pixels))
    for k in range(N_RATIO_BINS):
        if RATIO_EDGES[k] < ratio <= RATIO_EDGES[k + 1]:
            return k
    return None


def ratio_bin(hole: np.ndarray) -> int | None:
    """Ratio bin (0 … 5) of a mask, or None when its hole ratio lies in no bin.

    Parameters
    ----------
    hole : (H, W) bool ndarray
        True where the pixel is missing.

    Returns
    -------
    int or None
        k in 0 … 5 as :func:`ratio_bin_of_count` decides it from the pixel counts, or None
        when the hole ratio is ≤ 0.01 or > 0.6.

    Raises
    ------
    InputError
        ``hole`` is not a 2-D bool array.
    """
    check_hole(hole)
    return ratio_bin_of_count(int(np.count_nonzero(hole)), hole.size)


def border_distance_map(shape: tuple[int, int]) -> np.ndarray:
    """Border distance min(r, c, H−1−r, W−1−c) of every pixel of an H×W grid.

    Parameters
    ----------
    shape : (int, int)
        (H, W) of the grid, px.

    Returns
    -------
    (H, W) int64 ndarray
        Distances in px, 0 on the outermost rows and columns.
    """
    height, width = shape
    rows = np.arange(height)
    cols = np.arange(width)
    row_dist = np.minimum(rows, height - 1 - rows)[:, None]
    col_dist = np.minimum(cols, width - 1 - cols)[None, :]
    return np.minimum(row_dist, col_dist)


def min_border_distance(hole: np.ndarray) -> int:
    """Smallest border distance over the hole pixels of a mask.

    Parameters
    ----------
    hole : (H, W) bool ndarray
        True where the pixel is missing.

    Returns
    -------
    int
        Distance in pixels of the hole pixel nearest to the image edge (0 when a hole
        touches the edge); for a mask without holes, the largest distance any pixel can
        have, ``(min(H, W) − 1) // 2``.

    Raises
    ------
    InputError
        ``hole`` is not a 2-D bool array.
    """
    check_hole(hole)
    rows = np.flatnonzero(hole.any(axis=1))
    cols = np.flatnonzero(hole.any(axis=0))
    height, width = hole.shape
    if rows.size == 0:
        return (min(height, width) - 1) // 2
    return int(min(rows[0], cols[0], height - 1 - rows[-1], width - 1 - cols[-1]))


def border_class(hole: np.ndarray, *, margin: int) -> BorderClass:
    """``"N"`` when every hole pixel is at least ``margin`` px from the border, else ``"B"``.

    Parameters
    ----------
    hole : (H, W) bool ndarray
        True where the pixel is missing.
    margin : int
        Border margin, px (50 for the paper's split).

    Returns
    -------
    {"N", "B"}
        ``"N"`` when :func:`min_border_distance` ≥ ``margin`` (also for a mask without
        holes whose grid is large enough), else ``"B"``.

    Raises
    ------
    InputError
        ``hole`` is not a 2-D bool array.
    """
    return "N" if min_border_distance(hole) >= margin else "B"


#: Hole pixels in one straight run on the margin line that make a mask band-cut.
BAND_CUT_RUN: int = 32


def longest_run(line: np.ndarray) -> int:
    """Length of the longest run of consecutive True values of a 1-D bool array.

    Parameters
    ----------
    line : (N,) bool array-like
        One row or column of a mask; other dtypes are cast to bool.

    Returns
    -------
    int
        0 … N; 0 when no value is True.
    """
    padded = np.concatenate(([False], np.asarray(line, bool), [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return int((edges[1::2] - edges[::2]).max()) if edges.size else 0


def is_band_cut(hole: np.ndarray, *, margin: int, run: int = BAND_CUT_RUN) -> bool:
    """Whether a mask was cut straight along the border band, as NVIDIA's N masks were.

    A mask is *band-cut* when at least ``run`` hole pixels lie in one straight run on a
    margin line: row or column ``margin`` or ``size − 1 − margin``. Clearing the band of an
    N mask leaves exactly such runs wherever a hole crossed it; a natural outline touches
    the line at a few pixels at most.

    Parameters
    ----------
    hole : (H, W) bool ndarray
    margin : int
        Border margin, px (50 for the paper's split).
    run : int
        Shortest straight run that counts, px.

    Returns
    -------
    bool

    Raises
    ------
    InputError
        ``hole`` is not a 2-D bool array.
    """
    check_hole(hole)
    height, width = hole.shape
    lines = (hole[margin], hole[height - 1 - margin], hole[:, margin], hole[:, width - 1 - margin])
    return any(longest_run(line) >= run for line in lines)


def testset_index(ratio_bin_index: int, border: BorderClass, position: int, *, per_bin: int) -> int:
    """File index of a test mask in NVIDIA's numbering, ``2·P·k + P·b + j``.

    Parameters
    ----------
    ratio_bin_index : int
        Ratio bin k, 0 … 5.
    border : {"N", "B"}
        Border class; b = 0 for N and 1 for B.
    position : int
        Position j of the mask in its (bin, border) cell, 0 … P − 1.
    per_bin : int
        P, masks per (ratio bin, border class), ≥ 1.

    Returns
    -------
    int
        The index, 0 … 12·P − 1; the mask's file is ``masks/{index:05d}.png``.

    Raises
    ------
    ValueError
        ``position`` is outside 0 … P − 1.
    """
    if not 0 <= position < per_bin:
        raise ValueError(f"position must be in 0..{per_bin - 1}, got {position}")
    return 2 * per_bin * ratio_bin_index + per_bin * BORDER_CLASSES.index(border) + position


def testset_position(index: int, *, per_bin: int) -> tuple[int, BorderClass, int]:
    """Inverse of :func:`testset_index`: (ratio bin k, border class, position j).

    Parameters
    ----------
    index : int
        File index, 0 … 12·P − 1.
    per_bin : int
        P, masks per (ratio bin, border class), ≥ 1.

    Returns
    -------
    ratio_bin_index : int
        Ratio bin k, 0 … 5.
    border : {"N", "B"}
        Border class.
    position : int
        Position j in the (bin, border) cell, 0 … P − 1.

    Raises
    ------
    ValueError
        ``index`` is beyond the 12·P masks of the split.
    """
    ratio_bin_index, rest = divmod(index, 2 * per_bin)
    border_index, position = divmod(rest, per_bin)
    if not 0 <= ratio_bin_index < N_RATIO_BINS:
        raise ValueError(f"index {index} is beyond a split of {2 * N_RATIO_BINS * per_bin} masks")
    return ratio_bin_index, BORDER_CLASSES[border_index], position
