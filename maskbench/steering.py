"""Steering a 512×512 window towards a target hole count by dilation or erosion.

One signed distance map gives every dilation and erosion of a window with a circular kernel:
with *levels* = signed squared distances to the hole outline (> 0 outside the holes, < 0
inside), ``levels <= t`` is the window dilated by √t (t ≥ 0) or eroded by √−t (t < 0).
:func:`steer` picks the threshold t whose hole count is nearest a target within a ratio
bin. Squared distances are integers for the exact Euclidean transform, so levels are int32
and counting them is one ``bincount``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from maskbench.bins import MASK_SIZE, RATIO_EDGES
from maskbench.testset_config import SteerDistance

#: OpenCV distance-transform masks of ``steer_distance``: exact Euclidean, or the 5×5
#: chamfer approximation (about 4× faster, distances within a few % of the Euclidean ones).
_DISTANCE_MASKS = {"exact": cv2.DIST_MASK_PRECISE, "chamfer": cv2.DIST_MASK_5}


def count_range(ratio_bin_index: int) -> tuple[int, int]:
    """Smallest and largest hole-pixel count of a 512×512 mask in a ratio bin.

    Parameters
    ----------
    ratio_bin_index : int
        Ratio bin, 0 … 5.

    Returns
    -------
    (int, int)
        Inclusive range of hole-pixel counts, within 1 … 512².
    """
    total = MASK_SIZE * MASK_SIZE
    low = math.floor(RATIO_EDGES[ratio_bin_index] * total) + 1
    high = math.floor(RATIO_EDGES[ratio_bin_index + 1] * total)
    return low, high


def _squared_levels(distance: np.ndarray) -> np.ndarray:
    """Signed squared distances as int32, rounded.

    Exact for the Euclidean transform, whose squared distances are integers; chamfer
    distances whose squares round alike share a level. Monotone in the distance;
    ``|levels|`` ≤ 2·512², well inside int32.
    """
    squared = distance * np.abs(distance)
    squared += np.where(squared >= 0, np.float32(0.5), np.float32(-0.5))
    return squared.astype(np.int32)


def _distance_outside(hole: np.ndarray, steer_distance: SteerDistance) -> np.ndarray:
    """(512, 512) float32: distance of every pixel to the nearest hole pixel (0 on holes)."""
    return cv2.distanceTransform((~hole).view(np.uint8), cv2.DIST_L2, _DISTANCE_MASKS[steer_distance])


def window_levels(window: np.ndarray, *, erode: bool, steer_distance: SteerDistance) -> np.ndarray:
    """Signed squared distances of every pixel of a window to its hole outline.

    Dilation alone needs only the distance outside the holes (0 on them), which halves the
    work: then ``levels <= t`` is the window dilated by √t for every t ≥ 0.

    Parameters
    ----------
    window : (H, W) bool ndarray
        At least one hole pixel (and, with ``erode``, at least one valid pixel).
    erode : bool
        Also measure inside the holes (negative levels); without it hole pixels get 0.
    steer_distance : {"exact", "chamfer"}
        Distance transform to use.

    Returns
    -------
    (H, W) int32 ndarray
        Rounded signed squared distances, px².
    """
    outside = _distance_outside(window, steer_distance)
    if erode:
        inside = _distance_outside(~window, steer_distance)
        return _squared_levels(np.where(window, -inside, outside))
    squared = np.square(outside)
    squared += np.float32(0.5)
    return squared.astype(np.int32)


def steer(levels: np.ndarray, lowest: int, highest: int, target: int, low: int, high: int) -> int | None:
    """Threshold t in [lowest, highest] whose count of ``levels <= t`` is nearest ``target``.

    Parameters
    ----------
    levels : 1-D int32 ndarray
        Signed squared distances of the pixels that count (see :func:`window_levels`).
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


def level_limits(max_erosion: float, max_dilation: float) -> tuple[int, int]:
    """Smallest and largest threshold of :func:`steer` for the largest erosion and dilation.

    Parameters
    ----------
    max_erosion, max_dilation : float
        Radii, px, ≥ 0.

    Returns
    -------
    (int, int)
        (lowest, highest) signed squared thresholds; lowest < 0 ≤ highest.
    """
    return -math.floor(max_erosion**2) - 1, math.floor(max_dilation**2)
