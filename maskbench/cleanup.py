"""Clean-up and filtering of raw occlusion masks, one mask at a time.

A raw mask from the forward-backward check (:func:`flow.occlusion_batch`) is speckled and
broken along object boundaries. :func:`clean_hole` turns it into solid holes (morphology with
OpenCV); :class:`MaskFilter` then drops the masks of one video that are (nearly) empty,
(nearly) full, or near-duplicates of the previous kept mask of their kind (:func:`hole_iou`).
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

import cv2
import numpy as np

#: Why :class:`MaskFilter` drops a mask.
DropReason = Literal["empty", "near-full", "duplicate"]


def _disk(radius: int) -> np.ndarray:
    """(2r+1, 2r+1) uint8 elliptic structuring element of OpenCV."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _small_components(binary: np.ndarray, max_area: int) -> np.ndarray:
    """Pixels of the 8-connected components of ``binary`` with fewer than ``max_area`` pixels."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < max_area
    small[0] = False  # label 0 is the complement
    return small[labels] if count > 1 else np.zeros(binary.shape, bool)


def _enclosed_gaps(hole: np.ndarray, max_area: int) -> np.ndarray:
    """Non-hole regions smaller than ``max_area`` pixels that do not touch the image edge."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~hole).astype(np.uint8), connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < max_area
    small[0] = False  # label 0 is the hole itself
    edge_labels = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    small[edge_labels] = False
    return small[labels] if count > 1 else np.zeros(hole.shape, bool)


def clean_hole(
    hole: np.ndarray,
    *,
    close_radius: int,
    open_radius: int,
    fill_gap_area: int,
    min_component_area: int,
    dilate_radius: int = 0,
) -> np.ndarray:
    """Clean a raw occlusion mask: close, open, fill small gaps, drop small components, dilate.

    In this order: closing joins fragments and fills thin gaps, opening removes speckle and
    hairlines, then small enclosed gaps are filled, small components removed, and the
    result dilated.

    Parameters
    ----------
    hole : (H, W) bool ndarray
        Raw mask, True = hole (occluded pixel).
    close_radius : int
        Morphological closing with a disk of this radius (px) joins fragments of one
        occlusion boundary separated by gaps up to about ``2 * close_radius`` px, and merges
        dense speckle into solid regions. 0: none.
    open_radius : int
        Morphological opening with a disk of this radius (px) then removes what is thinner
        than about ``2 * open_radius + 1`` px: isolated speckle and the one-pixel lines
        that flow estimates leave along image rows and columns. 0: none.
    fill_gap_area : int
        Non-hole regions enclosed by hole (8-connected components of the complement that do
        not touch the image edge) smaller than this many pixels become hole. 0: none.
    min_component_area : int
        Hole components (8-connected) smaller than this many pixels are removed: isolated
        speckle from flow noise. 0: none.
    dilate_radius : int
        Final dilation with a disk of this radius (px). 0: none.

    Returns
    -------
    (H, W) bool ndarray
        The cleaned hole.

    Notes
    -----
    The closing and the opening use OpenCV's neutral border (pixels outside the frame take
    part in neither the dilation nor the erosion), so a hole that reaches the frame edge
    still reaches it after the clean-up (an object leaving the frame is a true
    disocclusion), and no hole grows along the edge by itself.
    """
    cleaned = hole.astype(np.uint8)
    if close_radius > 0:
        cleaned = cv2.morphologyEx(cleaned, cv2.MORPH_CLOSE, _disk(close_radius))
    if open_radius > 0:
        cleaned = cv2.morphologyEx(cleaned, cv2.MORPH_OPEN, _disk(open_radius))
    cleaned = cleaned.astype(bool)
    if fill_gap_area > 0:
        cleaned = cleaned | _enclosed_gaps(cleaned, fill_gap_area)
    if min_component_area > 0:
        cleaned = cleaned & ~_small_components(cleaned, min_component_area)
    if dilate_radius > 0:
        cleaned = cv2.dilate(cleaned.astype(np.uint8), _disk(dilate_radius)).astype(bool)
    return cleaned


def hole_iou(first: np.ndarray, second: np.ndarray) -> float:
    """Intersection over union of two holes.

    Parameters
    ----------
    first, second : (H, W) bool ndarray
        Holes of the same shape, True = hole.

    Returns
    -------
    float
        In [0, 1]; 1.0 when both are empty.
    """
    union = np.count_nonzero(first | second)
    return np.count_nonzero(first & second) / union if union else 1.0


class MaskFilter:
    """Decides which cleaned masks of one video to keep.

    A mask is dropped as ``"empty"`` when its hole ratio is below ``min_hole_ratio``, as
    ``"near-full"`` when above ``max_hole_ratio`` (a failed flow, e.g. at a scene cut), and
    as ``"duplicate"`` when its IoU with the previous *kept* mask of the same kind exceeds
    ``duplicate_iou`` (a slowly changing scene gives nearly the same mask for many frames).

    Parameters
    ----------
    min_hole_ratio, max_hole_ratio : float
        Kept hole ratios lie in [min, max], 0 <= min < max <= 1.
    duplicate_iou : float
        In (0, 1]: the IoU above which a mask counts as a near-duplicate.

    Attributes
    ----------
    dropped : Counter
        Dropped masks so far, by :data:`DropReason`.
    """

    def __init__(self, *, min_hole_ratio: float, max_hole_ratio: float, duplicate_iou: float) -> None:
        self.min_hole_ratio = min_hole_ratio
        self.max_hole_ratio = max_hole_ratio
        self.duplicate_iou = duplicate_iou
        self._last_kept: dict[str, np.ndarray] = {}
        self.dropped: Counter[str] = Counter()

    def drop_reason(self, hole: np.ndarray, *, kind: str) -> DropReason | None:
        """Why ``hole`` is dropped, or None to keep it (then it becomes the last kept mask).

        Parameters
        ----------
        hole : (H, W) bool ndarray
            A cleaned mask, True = hole.
        kind : str
            Its kind (``"occlusion"`` or ``"disocclusion"``); duplicates are looked for
            among the masks of the same kind only.

        Returns
        -------
        DropReason or None
        """
        ratio = np.count_nonzero(hole) / hole.size
        reason: DropReason | None = None
        if ratio < self.min_hole_ratio:
            reason = "empty"
        elif ratio > self.max_hole_ratio:
            reason = "near-full"
        elif kind in self._last_kept and hole_iou(hole, self._last_kept[kind]) > self.duplicate_iou:
            reason = "duplicate"
        if reason is None:
            self._last_kept[kind] = hole
        else:
            self.dropped[reason] += 1
        return reason
