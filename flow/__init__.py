"""Dense optical flow and occlusion masks in PyTorch (GPU when present) and OpenCV.

Standalone: depends on numpy, torch and OpenCV only (never on ``maskbench``). Typical use::

    import flow

    forward = flow.estimate(frame0, frame1)           # (H, W, 2) float32, x then y
    backward = flow.estimate(frame1, frame0)
    occluded = flow.occlusion(forward, backward)      # (H, W) bool, pixels of frame0
    disoccluded = flow.occlusion(backward, forward)   # (H, W) bool, pixels of frame1

:func:`estimate_batch` and :func:`occlusion_batch` do the same for batches of torch
tensors on any device; :func:`estimate_both_ways` gives the forward and backward flows of many
pairs the cheapest way per method; :mod:`flow.synthetic` makes frame pairs with exact ground
truth; :mod:`flow.threads` picks CPU thread counts that do not contend with other jobs.
"""

from flow.device import resolve_device
from flow.estimation import FLOW_METHODS, FlowMethod, estimate, estimate_batch, estimate_both_ways
from flow.occlusions import (
    DEFAULT_OCCLUSION_METHOD,
    OCCLUSION_METHODS,
    OcclusionMethod,
    occlusion,
    occlusion_batch,
)

__all__ = [
    "DEFAULT_OCCLUSION_METHOD",
    "FLOW_METHODS",
    "OCCLUSION_METHODS",
    "FlowMethod",
    "OcclusionMethod",
    "estimate",
    "estimate_batch",
    "estimate_both_ways",
    "occlusion",
    "occlusion_batch",
    "resolve_device",
]
