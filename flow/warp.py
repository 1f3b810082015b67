"""Moving images along flows: bilinear sampling (backward warping) and bilinear splatting.

Both work on batches of flows (B, 2, H, W) in pixels, channel 0 = x (right), 1 = y (down),
on any device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pixel_grid(height: int, width: int, *, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Pixel coordinates (1, 2, H, W): channel 0 = column x, channel 1 = row y."""
    rows = torch.arange(height, device=device, dtype=dtype)
    cols = torch.arange(width, device=device, dtype=dtype)
    grid_y, grid_x = torch.meshgrid(rows, cols, indexing="ij")
    return torch.stack((grid_x, grid_y)).unsqueeze(0)


def targets(flow: torch.Tensor) -> torch.Tensor:
    """Where each pixel lands, x + w(x), as (B, 2, H, W) pixel coordinates."""
    height, width = flow.shape[-2:]
    return flow + pixel_grid(height, width, device=flow.device, dtype=flow.dtype)


def inside_frame(points: torch.Tensor) -> torch.Tensor:
    """(B, H, W) bool: True where a point (B, 2, H, W) lies in [0, W-1] × [0, H-1]."""
    height, width = points.shape[-2:]
    return (points[:, 0] >= 0) & (points[:, 0] <= width - 1) & (points[:, 1] >= 0) & (points[:, 1] <= height - 1)


def sample(image: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``image`` (B, C, H, W) at ``points`` (B, 2, H', W') pixel coordinates.

    Points outside the image take the value of the nearest border pixel.
    """
    height, width = image.shape[-2:]
    # Python-float scales: no host-to-device copy, so a GPU never waits here.
    normalized_x = points[:, 0] * (2.0 / max(width - 1, 1)) - 1.0
    normalized_y = points[:, 1] * (2.0 / max(height - 1, 1)) - 1.0
    normalized = torch.stack((normalized_x, normalized_y), dim=-1)
    return F.grid_sample(image, normalized.to(image.dtype), mode="bilinear", padding_mode="border", align_corners=True)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: ``image`` (B, C, H, W) sampled at x + flow(x); flow (B, 2, H, W)."""
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
    points = targets(flow)
    left = torch.floor(points[:, 0])
    top = torch.floor(points[:, 1])
    frac_x = points[:, 0] - left
    frac_y = points[:, 1] - top
    received = torch.zeros(batch * height * width, device=flow.device, dtype=flow.dtype)
    offsets = torch.arange(batch, device=flow.device).view(batch, 1, 1) * (height * width)
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        col = left + dx
        row = top + dy
        weight = (frac_x if dx else 1.0 - frac_x) * (frac_y if dy else 1.0 - frac_y)
        valid = (col >= 0) & (col <= width - 1) & (row >= 0) & (row <= height - 1)
        index = (row.clamp(0, height - 1) * width + col.clamp(0, width - 1)).long() + offsets
        received.index_add_(0, index.reshape(-1), (weight * valid).reshape(-1))
    return received.view(batch, height, width)
