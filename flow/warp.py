"""Moving images along flows: bilinear sampling (backward warping) and bilinear splatting.

Both work on batches of flows (B, 2, H, W) in pixels, channel 0 = x (right), 1 = y (down),
on any device.
"""

from __future__ import annotations

import torch
from torch.nn import functional


def pixel_grid(height: int, width: int, *, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Pixel coordinates (1, 2, H, W): channel 0 = column x, channel 1 = row y.

    Parameters
    ----------
    height, width : int
        H and W, ≥ 1.
    device : torch.device
        Where the grid is made.
    dtype : torch.dtype
        Its floating dtype, e.g. that of the flows it is added to.

    Returns
    -------
    torch.Tensor
        (1, 2, H, W): ``grid[0, 0, y, x] = x`` and ``grid[0, 1, y, x] = y``.
    """
    rows = torch.arange(height, device=device, dtype=dtype)
    cols = torch.arange(width, device=device, dtype=dtype)
    grid_y, grid_x = torch.meshgrid(rows, cols, indexing="ij")
    return torch.stack((grid_x, grid_y)).unsqueeze(0)


def targets(flow: torch.Tensor) -> torch.Tensor:
    """Where each pixel lands, x + w(x), as (B, 2, H, W) pixel coordinates.

    Parameters
    ----------
    flow : torch.Tensor
        (B, 2, H, W) float flows w in pixels, x then y.

    Returns
    -------
    torch.Tensor
        (B, 2, H, W) of the flow's dtype and device: x then y coordinates, unbounded
        (points may lie outside the frame).
    """
    height, width = flow.shape[-2:]
    return flow + pixel_grid(height, width, device=flow.device, dtype=flow.dtype)


def inside_frame(points: torch.Tensor) -> torch.Tensor:
    """Which points lie in the frame, [0, W-1] × [0, H-1] (borders included).

    Parameters
    ----------
    points : torch.Tensor
        (B, 2, H, W) pixel coordinates, x then y, e.g. from :func:`targets`.

    Returns
    -------
    torch.Tensor
        (B, H, W) bool, True = inside.
    """
    height, width = points.shape[-2:]
    return (points[:, 0] >= 0) & (points[:, 0] <= width - 1) & (points[:, 1] >= 0) & (points[:, 1] <= height - 1)


def sample(image: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``image`` (B, C, H, W) at ``points`` (B, 2, H', W') pixel coordinates.

    Points outside the image take the value of the nearest border pixel.

    Parameters
    ----------
    image : torch.Tensor
        (B, C, H, W) float images.
    points : torch.Tensor
        (B, 2, H', W') float pixel coordinates in ``image``, x then y, on its device.

    Returns
    -------
    torch.Tensor
        (B, C, H', W') of the image's dtype.
    """
    height, width = image.shape[-2:]
    # Python-float scales: no host-to-device copy, so a GPU never waits here.
    normalized_x = points[:, 0] * (2.0 / max(width - 1, 1)) - 1.0
    normalized_y = points[:, 1] * (2.0 / max(height - 1, 1)) - 1.0
    normalized = torch.stack((normalized_x, normalized_y), dim=-1)
    return functional.grid_sample(
        image, normalized.to(image.dtype), mode="bilinear", padding_mode="border", align_corners=True
    )


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: ``image`` sampled at x + flow(x), bilinearly.

    Parameters
    ----------
    image : torch.Tensor
        (B, C, H, W) float images (typically frame t+1).
    flow : torch.Tensor
        (B, 2, H, W) float flows in pixels, x then y (typically from frame t to t+1).

    Returns
    -------
    torch.Tensor
        (B, C, H, W): the image moved onto the flow's pixel grid; points outside it take the
        nearest border pixel (:func:`sample`).
    """
    return sample(image, targets(flow))


def splat_weights(flow: torch.Tensor) -> torch.Tensor:
    """How much weight each pixel receives when every pixel is pushed along ``flow``.

    Every pixel x carries weight 1 to x + flow(x) and spreads it bilinearly over the four
    pixels around that point (weight that falls outside the frame is dropped).

    Parameters
    ----------
    flow : torch.Tensor
        (B, 2, H, W) float flows in pixels.

    Returns
    -------
    torch.Tensor
        (B, H, W) float received weights, ≥ 0; their sum is at most H·W per image.
    """
    batch, _, height, width = flow.shape
    # Splat into a frame padded by one pixel all round, so that every corner of a point
    # within a pixel of the frame lands somewhere without a bounds test, then crop: weight
    # falling outside the frame lands in the padding. One scatter per corner, in a fixed
    # order, so the sums do not depend on the number of threads.
    padded_width = width + 2
    points = targets(flow)
    corner = torch.floor(points)
    frac_x, frac_y = (points - corner).unbind(1)
    left, top = corner.unbind(1)
    inside = (left >= -1) & (left <= width - 1) & (top >= -1) & (top <= height - 1)
    pixels = height * width
    index = torch.where(inside, (top + 1) * padded_width + (left + 1), 0).to(torch.int64).view(batch, pixels)
    frac_x = torch.where(inside, frac_x, 0.0)
    weight_x = torch.where(inside, 1.0 - frac_x, 0.0)
    weight_y = 1.0 - frac_y
    received = torch.zeros((batch, (height + 2) * padded_width), device=flow.device, dtype=flow.dtype)
    corners = ((0, weight_x, weight_y), (1, frac_x, weight_y), (padded_width, weight_x, frac_y))
    for offset, along_x, along_y in (*corners, (padded_width + 1, frac_x, frac_y)):
        received.scatter_add_(1, index + offset, (along_x * along_y).view(batch, pixels))
    return received.view(batch, height + 2, padded_width)[:, 1:-1, 1:-1]
