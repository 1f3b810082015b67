"""One entry point for every flow method: single pairs (numpy) and batches (torch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, get_args

import numpy as np
import torch

from flow._checks import check_frame_batch, check_same_shape, frame_as_float
from flow.device import resolve_device
from flow.opencv import grey_flow, grey_uint8, opencv_flow
from flow.tvl1 import tvl1_batch

FlowMethod = Literal["tvl1", "dis", "dis-ultrafast", "farneback"]
#: Every flow method: ours in PyTorch, then OpenCV's CPU fallbacks.
FLOW_METHODS: tuple[str, ...] = get_args(FlowMethod)


def estimate(
    frame0: np.ndarray,
    frame1: np.ndarray,
    *,
    method: FlowMethod = "tvl1",
    device: str | torch.device | None = None,
    **options: Any,
) -> np.ndarray:
    """Forward optical flow from ``frame0`` to ``frame1``.

    Parameters
    ----------
    frame0, frame1 : np.ndarray
        (H, W, 3) RGB frames, uint8 or float in [0, 1], of the same shape.
    method : {"tvl1", "dis", "dis-ultrafast", "farneback"}
        ``"tvl1"``: our TV-L1 in PyTorch (:func:`flow.tvl1.tvl1_batch`; ``options`` go to
        it). The others are OpenCV's CPU methods (:func:`flow.opencv.opencv_flow`), which
        take no options.
    device : str, torch.device or None
        Where TV-L1 runs; ``None`` = CUDA when present, else the CPU. Ignored by OpenCV.
    **options : Any
        Keyword arguments of :func:`flow.tvl1.tvl1_batch` (``levels``, ``warps``, ...), for
        ``"tvl1"`` only.

    Returns
    -------
    np.ndarray
        (H, W, 2) float32 flow in pixels: ``frame0[y, x]`` moves to
        ``(x + flow[y, x, 0], y + flow[y, x, 1])`` in ``frame1``.

    Raises
    ------
    TypeError, ValueError
        For frames of the wrong type or shape, an unknown method, or options given to a
        method that takes none.
    """
    first = frame_as_float(frame0, "frame0")
    second = frame_as_float(frame1, "frame1")
    check_same_shape(first, second, "frame0 and frame1")
    _check_method(method, options)
    if method != "tvl1":
        return opencv_flow(first, second, method)
    frames0 = torch.from_numpy(first).permute(2, 0, 1).unsqueeze(0)
    frames1 = torch.from_numpy(second).permute(2, 0, 1).unsqueeze(0)
    flows = estimate_batch(frames0, frames1, method=method, device=device, **options)
    return np.ascontiguousarray(flows[0].permute(1, 2, 0).cpu().numpy())


def estimate_batch(
    frames0: torch.Tensor,
    frames1: torch.Tensor,
    *,
    method: FlowMethod = "tvl1",
    device: str | torch.device | None = None,
    **options: Any,
) -> torch.Tensor:
    """Forward flows of many pairs at once, ``frames0[i]`` → ``frames1[i]``.

    For ``"tvl1"`` every pair runs in one batched torch computation on ``device``, so pass
    the forward and the backward pairs of many frames concatenated in one batch (e.g.
    ``frames0 = cat(first, second)``, ``frames1 = cat(second, first)``). OpenCV methods
    loop over the pairs on the CPU.

    Parameters
    ----------
    frames0, frames1 : torch.Tensor
        (B, 3, H, W) float RGB in [0, 1], on any device.
    method : {"tvl1", "dis", "dis-ultrafast", "farneback"}
        As in :func:`estimate`.
    device : str, torch.device or None
        Where the flows are computed (TV-L1) and returned; as in :func:`estimate`.
    **options : Any
        As in :func:`estimate`: TV-L1 options only.

    Returns
    -------
    torch.Tensor
        (B, 2, H, W) float32 flows in pixels (x then y), on ``device``.

    Raises
    ------
    TypeError, ValueError
        For tensors of the wrong type or shape, an unknown method, or options given to a
        method that takes none.
    """
    check_frame_batch(frames0, "frames0")
    check_frame_batch(frames1, "frames1")
    check_same_shape(frames0, frames1, "frames0 and frames1")
    _check_method(method, options)
    target = resolve_device(device)
    if method == "tvl1":
        return tvl1_batch(frames0.to(target, torch.float32), frames1.to(target, torch.float32), **options)
    pairs = zip(
        frames0.permute(0, 2, 3, 1).float().cpu().numpy(),
        frames1.permute(0, 2, 3, 1).float().cpu().numpy(),
        strict=True,
    )
    flows = [torch.from_numpy(opencv_flow(first, second, method)) for first, second in pairs]
    if not flows:
        return torch.zeros((0, 2, *frames0.shape[-2:]), dtype=torch.float32, device=target)
    return torch.stack(flows).permute(0, 3, 1, 2).contiguous().to(target)


def estimate_both_ways(
    frames0: Sequence[np.ndarray],
    frames1: Sequence[np.ndarray],
    *,
    method: FlowMethod = "tvl1",
    device: str | torch.device | None = None,
    **options: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward (``frames0[i]`` → ``frames1[i]``) and backward flows of many pairs.

    What occlusion masks need (:func:`flow.occlusion_batch`), computed the cheapest way per
    method: TV-L1 runs all forward and backward pairs in one batched call on ``device``;
    the OpenCV methods make every frame grey once and loop over the pairs on the CPU.
    The flows equal those of :func:`estimate_batch` on the same pairs.

    Parameters
    ----------
    frames0, frames1 : sequences of np.ndarray
        B ≥ 1 frames each, (H, W, 3) RGB (uint8, or float in [0, 1]), all of one shape.
    method : {"tvl1", "dis", "dis-ultrafast", "farneback"}
        As in :func:`estimate`.
    device : str, torch.device or None
        Where the flows are computed (TV-L1) and returned; as in :func:`estimate`.
    **options : Any
        As in :func:`estimate`: TV-L1 options only.

    Returns
    -------
    forward, backward : torch.Tensor
        (B, 2, H, W) float32 flows in pixels (x then y), on ``device``.

    Raises
    ------
    TypeError, ValueError
        For frames of the wrong type or shape, sequences of different or zero length, an
        unknown method, or options given to a method that takes none.
    """
    _check_method(method, options)
    if not frames0 or len(frames0) != len(frames1):
        raise ValueError(f"need the same number (≥ 1) of frames0 and frames1, got {len(frames0)} and {len(frames1)}")
    first = [frame_as_float(frame, "frames0") for frame in frames0]
    second = [frame_as_float(frame, "frames1") for frame in frames1]
    for frame in (*first, *second):
        check_same_shape(frame, first[0], "all frames")
    target = resolve_device(device)
    if method == "tvl1":
        images = torch.from_numpy(np.stack(first + second)).to(target).permute(0, 3, 1, 2).contiguous()
        count = len(first)
        flows = tvl1_batch(images, torch.cat((images[count:], images[:count])), **options)
        return flows[:count], flows[count:]
    greys0 = [grey_uint8(frame) for frame in first]
    greys1 = [grey_uint8(frame) for frame in second]
    forward = [grey_flow(grey0, grey1, method) for grey0, grey1 in zip(greys0, greys1, strict=True)]
    backward = [grey_flow(grey1, grey0, method) for grey0, grey1 in zip(greys0, greys1, strict=True)]
    return _flow_batch(forward, target), _flow_batch(backward, target)


def _flow_batch(flows: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """(H, W, 2) numpy flows → (B, 2, H, W) tensor on ``device``."""
    return torch.from_numpy(np.stack(flows)).to(device).permute(0, 3, 1, 2).contiguous()


def _check_method(method: str, options: dict[str, Any]) -> None:
    if method not in FLOW_METHODS:
        raise ValueError(f"unknown flow method {method!r}; expected one of {', '.join(FLOW_METHODS)}")
    if options and method != "tvl1":
        raise TypeError(f"flow method {method!r} takes no options, got {', '.join(sorted(options))}")
