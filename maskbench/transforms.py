"""Deterministic transforms of a hole mask: distance, dilation, erosion, rotation, crop, flip.

Each function takes an (H, W) bool hole (True = missing pixel) and returns a new one with a
known result; :mod:`maskbench.augment` draws their parameters at random.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from maskbench.bins import MASK_SIZE
from maskbench.checks import check_hole


def distance_to_hole(hole: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest hole pixel (0 on holes).

    Parameters
    ----------
    hole : (H, W) bool ndarray

    Returns
    -------
    (H, W) float32 ndarray
        Exact Euclidean distances in px; ``inf`` everywhere when there is no hole.

    Raises
    ------
    InputError
        ``hole`` is not a 2-D bool array.
    """
    check_hole(hole)
    if not hole.any():
        return np.full(hole.shape, np.inf, dtype=np.float32)
    return cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def signed_distance(hole: np.ndarray) -> np.ndarray:
    """Signed distance to the hole outline: > 0 outside the holes, < 0 inside.

    One distance map gives every dilation and erosion with a circular kernel:
    ``signed_distance(hole) <= r`` is ``dilate(hole, r)`` and ``signed_distance(hole) < -r``
    is ``erode(hole, r)`` (r ≥ 0).

    Parameters
    ----------
    hole : (H, W) bool ndarray
        True = hole pixel.

    Returns
    -------
    (H, W) float32 ndarray
        Outside a hole: distance to the nearest hole pixel (≥ 1). Inside: minus the
        distance to the nearest valid pixel (≤ −1).
    """
    outside = distance_to_hole(hole)
    inside = distance_to_hole(~hole)
    return np.where(hole, -inside, outside).astype(np.float32)


def dilate(hole: np.ndarray, radius: float) -> np.ndarray:
    """Dilate holes with a circular kernel of the given radius.

    Parameters
    ----------
    hole : (H, W) bool ndarray
    radius : float
        ≥ 0, px. A pixel becomes a hole when its Euclidean distance to a hole pixel is at
        most ``radius``; 0 returns a copy.

    Returns
    -------
    (H, W) bool ndarray
        A superset of ``hole``.

    Raises
    ------
    ValueError
        ``radius`` < 0.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return distance_to_hole(hole) <= radius


def erode(hole: np.ndarray, radius: float) -> np.ndarray:
    """Erode holes with a circular kernel: the complement of dilating the valid pixels.

    Parameters
    ----------
    hole : (H, W) bool ndarray
    radius : float
        ≥ 0, px. A hole pixel stays a hole only when every pixel within Euclidean distance
        ``radius`` of it is a hole; 0 returns a copy.

    Returns
    -------
    (H, W) bool ndarray
        A subset of ``hole``.

    Raises
    ------
    ValueError
        ``radius`` < 0.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return ~dilate(~hole, radius)


def rotated_shape(shape: tuple[int, int], angle: float) -> tuple[int, int]:
    """(height, width) of the smallest canvas that holds an H×W grid rotated by ``angle`` degrees.

    Parameters
    ----------
    shape : (int, int)
        (H, W) of the unrotated grid, px.
    angle : float
        Degrees, as :func:`rotate`.

    Returns
    -------
    (int, int)
        (H', W') of the canvas, px; (H, W) at multiples of 180°, (W, H) at odd multiples of 90°.
    """
    height, width = shape
    radians = math.radians(angle)
    cos, sin = abs(math.cos(radians)), abs(math.sin(radians))
    # pixel centres span (n - 1); the rotated span plus one pixel, rounded up past float noise
    new_width = math.ceil((width - 1) * cos + (height - 1) * sin + 1 - 1e-6)
    new_height = math.ceil((width - 1) * sin + (height - 1) * cos + 1 - 1e-6)
    return new_height, new_width


def rotate(hole: np.ndarray, angle: float) -> np.ndarray:
    """Rotate a mask about its centre by ``angle`` degrees, nearest-neighbour, keeping corners.

    Parameters
    ----------
    hole : (H, W) bool ndarray
    angle : float
        Degrees, counter-clockwise as displayed (``rotate(hole, 90)`` equals
        ``np.rot90(hole)``).

    Returns
    -------
    (H', W') bool ndarray
        The canvas grows to :func:`rotated_shape` so that every pixel of the input lands on
        it; the new corners are valid (False).

    Raises
    ------
    InputError
        ``hole`` is not a 2-D bool array.
    """
    check_hole(hole)
    height, width = hole.shape
    new_height, new_width = rotated_shape(hole.shape, angle)
    if angle % 360 == 0:
        return hole.copy()
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, 1.0)
    matrix[0, 2] += (new_width - width) / 2
    matrix[1, 2] += (new_height - height) / 2
    rotated = cv2.warpAffine(
        hole.astype(np.uint8),
        matrix,
        (new_width, new_height),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return rotated.astype(bool)


def rotate_window(hole: np.ndarray, angle: float, top: int, left: int, side: int) -> np.ndarray:
    """The square window ``rotate(hole, angle)[top:top+side, left:left+side]``, computed alone.

    Samples only the window's pixels, which is several times faster than rotating the whole
    mask when the window is smaller than the rotated canvas. The sampling positions are
    those of :func:`rotate`; a pixel whose source position lies exactly halfway between two
    pixels may round the other way (about one pixel in 10⁵), otherwise the two agree.

    Parameters
    ----------
    hole : (H, W) bool ndarray
    angle : float
        Degrees, as :func:`rotate`.
    top, left, side : int
        Window in the rotated canvas (:func:`rotated_shape`); it must lie inside it.

    Returns
    -------
    (side, side) bool ndarray

    Raises
    ------
    InputError
        ``hole`` is not a 2-D bool array.
    ValueError
        The window does not lie inside the rotated canvas.
    """
    check_hole(hole)
    height, width = hole.shape
    new_height, new_width = rotated_shape(hole.shape, angle)
    if not (side >= 1 and 0 <= top <= new_height - side and 0 <= left <= new_width - side):
        raise ValueError(f"window (top={top}, left={left}, side={side}) does not fit a {new_height}x{new_width} canvas")
    if angle % 360 == 0:
        return hole[top : top + side, left : left + side].copy()
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, 1.0)
    matrix[0, 2] += (new_width - width) / 2 - left
    matrix[1, 2] += (new_height - height) / 2 - top
    window = cv2.warpAffine(
        hole.astype(np.uint8),
        matrix,
        (side, side),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return window.astype(bool)


def resize(hole: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a mask: nearest-neighbour when enlarging, area coverage ≥ ½ when shrinking.

    Parameters
    ----------
    hole : (H, W) bool ndarray
    shape : (int, int)
        (height, width) of the output, px. A pixel of a shrunk mask is a hole when at least
        half of the area it covers is.

    Returns
    -------
    (shape[0], shape[1]) bool ndarray
        The input itself (copied) when the size does not change.

    Raises
    ------
    InputError
        ``hole`` is not a 2-D bool array.
    """
    check_hole(hole)
    if hole.shape == tuple(shape):
        return hole.copy()
    dsize = (int(shape[1]), int(shape[0]))
    if shape[0] >= hole.shape[0] and shape[1] >= hole.shape[1]:
        return cv2.resize(hole.astype(np.uint8), dsize, interpolation=cv2.INTER_NEAREST).astype(bool)
    coverage = cv2.resize(hole.astype(np.float32), dsize, interpolation=cv2.INTER_AREA)
    return coverage >= 0.5


def crop_resize(hole: np.ndarray, top: int, left: int, side: int, *, size: int = MASK_SIZE) -> np.ndarray:
    """Cut the square window ``hole[top:top+side, left:left+side]`` and resize it to ``size`` × ``size``.

    Parameters
    ----------
    hole : (H, W) bool ndarray
    top, left : int
        Upper-left corner of the window; the window must lie inside the mask.
    side : int
        Window side, px, 1 … min(H, W).
    size : int
        Output side, px.

    Returns
    -------
    (size, size) bool ndarray

    Raises
    ------
    InputError
        ``hole`` is not a 2-D bool array.
    ValueError
        The window does not lie inside the mask.
    """
    check_hole(hole)
    height, width = hole.shape
    if not (side >= 1 and 0 <= top <= height - side and 0 <= left <= width - side):
        raise ValueError(f"window (top={top}, left={left}, side={side}) does not fit a {height}x{width} mask")
    return resize(hole[top : top + side, left : left + side], (size, size))


def flip(hole: np.ndarray, *, horizontal: bool, vertical: bool) -> np.ndarray:
    """Mirror left-right and/or up-down (a copy).

    Parameters
    ----------
    hole : (H, W) bool ndarray
    horizontal : bool
        Mirror left-right (reverse the columns).
    vertical : bool
        Mirror up-down (reverse the rows).

    Returns
    -------
    (H, W) bool ndarray
        A new C-contiguous array, also when neither flip is asked for.
    """
    if horizontal:
        hole = hole[:, ::-1]
    if vertical:
        hole = hole[::-1, :]
    return np.ascontiguousarray(hole)
