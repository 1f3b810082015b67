"""Occlusion masks from a forward and a backward flow.

A pixel of frame t is *occluded* when its scene point has no correspondence in frame t+1:
it is covered by something else or leaves the frame. Disocclusion (pixels of frame t+1
with no correspondence in frame t) is the same test on the reversed pair,
``occlusion(backward, forward)``.

Methods (w = forward flow at x, ŵ = backward flow sampled bilinearly at x + w(x),
all norms squared, as in Sundaram, Brox & Keutzer 2010):

``"fb"``
    forward-backward test: occluded where ``|w + ŵ|² ≥ 0.01 (|w|² + |ŵ|²) + 0.5``,
    or where x + w(x) falls outside [0, W−1] × [0, H−1].
``"fb+motion"``
    ``"fb"`` or the motion-boundary test ``|∇u|² + |∇v|² > 0.01 |w|² + 0.002``
    (∇ by central differences, one-sided at the borders; w = (u, v)).
``"range"``
    the range map: every pixel y of frame t+1 is pushed back to y + ŵ(y) in frame t
    (ŵ the backward flow at y) and spreads a weight of 1 bilinearly over the four
    pixels around it; pixels of frame t that receive less than ``range_threshold``
    are occluded.
``"fb|range"``, ``"fb&range"``
    union and intersection of ``"fb"`` and ``"range"``.
``"range+median"``, ``"fb&range+median"``
    the same masks after a 3 × 3 binary median (a pixel is occluded when at least 5 of
    the 9 pixels of its window are; borders replicated), which removes single-pixel
    speckle and fills one-pixel gaps in the thin occluded strips.

Some public code applies these tests with unsquared norms (``|w + ŵ| ≥ 0.01(|w| + |ŵ|) + 0.5``);
that is a different, much stricter test for large motions, and it is not what we compute.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import torch

from flow._checks import check_flow_array, check_flow_batch, check_same_shape
from flow.warp import inside_frame, sample, splat_weights, targets

OcclusionMethod = Literal["fb", "fb+motion", "range", "fb|range", "fb&range", "range+median", "fb&range+median"]
#: Every occlusion method (see the module docstring for the formulas).
OCCLUSION_METHODS: tuple[str, ...] = get_args(OcclusionMethod)
#: The method with the best occlusion F1 in ``bench/optical_flow.py`` with our TV-L1 (BENCHMARKS.md).
DEFAULT_OCCLUSION_METHOD: OcclusionMethod = "range+median"
#: Received weight below which the range map calls a pixel occluded.
DEFAULT_RANGE_THRESHOLD = 0.5

_FB_RELATIVE = 0.01
_FB_ABSOLUTE = 0.5
_MOTION_RELATIVE = 0.01
_MOTION_ABSOLUTE = 0.002


def occlusion(
    forward: np.ndarray,
    backward: np.ndarray,
    *,
    method: OcclusionMethod = DEFAULT_OCCLUSION_METHOD,
    range_threshold: float = DEFAULT_RANGE_THRESHOLD,
) -> np.ndarray:
    """Pixels of frame t with no correspondence in frame t+1.

    Parameters
    ----------
    forward : np.ndarray
        (H, W, 2) float flow from frame t to frame t+1, pixels, x then y.
    backward : np.ndarray
        (H, W, 2) float flow from frame t+1 to frame t.
    method : {"fb", "fb+motion", "range", "fb|range", "fb&range", "range+median", "fb&range+median"}
        The test; formulas in the module docstring.
    range_threshold : float
        Received weight under which the range map marks a pixel occluded.

    Returns
    -------
    np.ndarray
        (H, W) bool, True = occluded.

    Raises
    ------
    TypeError, ValueError
        For flows of the wrong type or shape, or an unknown method.
    """
    check_flow_array(forward, "forward")
    check_flow_array(backward, "backward")
    check_same_shape(forward, backward, "forward and backward")
    forward_batch = torch.from_numpy(np.asarray(forward, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)
    backward_batch = torch.from_numpy(np.asarray(backward, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)
    occluded = occlusion_batch(forward_batch, backward_batch, method=method, range_threshold=range_threshold)
    return occluded[0].numpy()


def occlusion_batch(
    forward: torch.Tensor,
    backward: torch.Tensor,
    *,
    method: OcclusionMethod = DEFAULT_OCCLUSION_METHOD,
    range_threshold: float = DEFAULT_RANGE_THRESHOLD,
) -> torch.Tensor:
    """:func:`occlusion` for (B, 2, H, W) float flow tensors on any device → (B, H, W) bool.

    On the CPU the pairs are taken one at a time: the intermediate images of one pair stay
    in the CPU's caches, which made a batch of eight 683 × 512 pairs about 1.7× faster than
    one pass over it; on a GPU the batch is one pass. The masks are the same either way.

    Parameters
    ----------
    forward : torch.Tensor
        (B, 2, H, W) float flows from frame t to frame t+1, pixels, x then y.
    backward : torch.Tensor
        (B, 2, H, W) float flows from frame t+1 to frame t, on the same device.
    method : {"fb", "fb+motion", "range", "fb|range", "fb&range", "range+median", "fb&range+median"}
        The test; formulas in the module docstring.
    range_threshold : float
        Received weight under which the range map marks a pixel occluded.

    Returns
    -------
    torch.Tensor
        (B, H, W) bool, True = occluded, on the flows' device.

    Raises
    ------
    TypeError, ValueError
        For flows of the wrong type or shape, or an unknown method.
    """
    check_flow_batch(forward, "forward")
    check_flow_batch(backward, "backward")
    check_same_shape(forward, backward, "forward and backward")
    if method not in OCCLUSION_METHODS:
        raise ValueError(f"unknown occlusion method {method!r}; expected one of {', '.join(OCCLUSION_METHODS)}")
    if forward.device.type == "cpu" and forward.shape[0] > 1:
        pairs = zip(forward.split(1), backward.split(1), strict=True)
        return torch.cat([_occlusion(ahead, back, method, range_threshold) for ahead, back in pairs])
    return _occlusion(forward, backward, method, range_threshold)


def _occlusion(forward: torch.Tensor, backward: torch.Tensor, method: str, range_threshold: float) -> torch.Tensor:
    """:func:`occlusion_batch` of valid inputs in one pass."""
    forward = forward.float()
    backward = backward.float()
    if method.endswith("+median"):
        return binary_median(_occlusion(forward, backward, method.removesuffix("+median"), range_threshold))
    if method == "range":
        return range_occlusion(backward, threshold=range_threshold)
    inconsistent = forward_backward_occlusion(forward, backward)
    if method == "fb":
        return inconsistent
    if method == "fb+motion":
        return inconsistent | motion_boundary(forward)
    ranged = range_occlusion(backward, threshold=range_threshold)
    return inconsistent | ranged if method == "fb|range" else inconsistent & ranged


def forward_backward_occlusion(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """Sundaram et al.'s forward-backward test plus out-of-frame targets, (B, H, W) bool.

    Occluded where ``|w + ŵ|² ≥ 0.01 (|w|² + |ŵ|²) + 0.5`` with ŵ = backward(x + w(x))
    (bilinear), or where x + w(x) lies outside the frame.

    Parameters
    ----------
    forward : torch.Tensor
        (B, 2, H, W) float32 flows from frame t to frame t+1, pixels, x then y.
    backward : torch.Tensor
        (B, 2, H, W) float32 flows from frame t+1 to frame t, on the same device.

    Returns
    -------
    torch.Tensor
        (B, H, W) bool, True = occluded (pixels of frame t).
    """
    points = targets(forward)
    returned = sample(backward, points)
    round_trip = ((forward + returned) ** 2).sum(dim=1)
    magnitudes = (forward**2).sum(dim=1) + (returned**2).sum(dim=1)
    return (round_trip >= _FB_RELATIVE * magnitudes + _FB_ABSOLUTE) | ~inside_frame(points)


def motion_boundary(forward: torch.Tensor) -> torch.Tensor:
    """Sundaram et al.'s motion-boundary test ``|∇u|² + |∇v|² > 0.01 |w|² + 0.002``, (B, H, W) bool.

    ∇ is taken by central differences, one-sided at the borders (:func:`torch.gradient`).

    Parameters
    ----------
    forward : torch.Tensor
        (B, 2, H, W) float flows w = (u, v) from frame t to frame t+1, pixels.

    Returns
    -------
    torch.Tensor
        (B, H, W) bool, True = on a motion boundary.
    """
    grad_y, grad_x = torch.gradient(forward, dim=(-2, -1))
    variation = (grad_x**2 + grad_y**2).sum(dim=1)
    return variation > _MOTION_RELATIVE * (forward**2).sum(dim=1) + _MOTION_ABSOLUTE


def binary_median(mask: torch.Tensor) -> torch.Tensor:
    """3 × 3 majority vote of a (B, H, W) bool mask (replicated borders), (B, H, W) bool.

    A pixel is set when at least 5 of the 9 pixels of its window are: separable window sums
    of small integers (several times faster on a CPU than a float box filter).

    Parameters
    ----------
    mask : torch.Tensor
        (B, H, W) bool, on any device.

    Returns
    -------
    torch.Tensor
        (B, H, W) bool, on the mask's device.
    """
    votes = mask.to(torch.uint8)
    padded = torch.cat((votes[:, :1], votes, votes[:, -1:]), dim=1)  # replicated borders, any device
    padded = torch.cat((padded[..., :1], padded, padded[..., -1:]), dim=2)
    rows = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    return (rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]) >= 5


def range_occlusion(backward: torch.Tensor, *, threshold: float = DEFAULT_RANGE_THRESHOLD) -> torch.Tensor:
    """Range-map occlusion: pixels of frame t receiving < ``threshold`` when frame t+1 is splatted back.

    Parameters
    ----------
    backward : torch.Tensor
        (B, 2, H, W) float flows from frame t+1 to frame t, pixels, x then y.
    threshold : float
        Received weight under which a pixel is occluded; every pixel of frame t+1 spreads a
        weight of 1, so a pixel hit once receives about 1.

    Returns
    -------
    torch.Tensor
        (B, H, W) bool, True = occluded (pixels of frame t).
    """
    return splat_weights(backward) < threshold
