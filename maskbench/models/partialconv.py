"""Partial convolution with automatic mask update (Liu et al. 2018, section 3.1).

A partial convolution looks only at the valid pixels of each sliding window and
renormalises for how many there were (eq. (1)); its updated mask marks every output
location whose window held at least one valid input (eq. (2)). Zero padding outside the
image counts as hole ("partial convolution as padding"), so border outputs are never
pulled towards the padding value.

Scaling
-------
Eq. (1) of the paper writes the renormalisation as ``1 / sum(M)``. NVIDIA's released layer
(``PartialConv2d`` of github.com/NVIDIA/partialconv, which trained the published models)
multiplies by ``sum(1) / sum(M)`` instead, where ``sum(1) = C_in · k_h · k_w`` is the size
of the window. The two differ by the constant ``sum(1)``, i.e. only in the scale of the
learned weights ``W``; but with the window-size factor a fully valid window gives exactly an
ordinary convolution, which keeps He initialisation meaningful. ``scaling="window"`` (the
default) is NVIDIA's; ``scaling="sum"`` is eq. (1) as printed.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional

Scaling = Literal["window", "sum"]
SCALINGS: tuple[str, ...] = ("window", "sum")


def partial_conv2d(
    features: torch.Tensor,
    valid_mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    stride: int = 1,
    padding: int = 0,
    scaling: Scaling = "window",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Partial convolution, eq. (1), and its mask update, eq. (2).

    Parameters
    ----------
    features : torch.Tensor
        (B, C_in, H, W) floating point input ``X``.
    valid_mask : torch.Tensor
        (B, C_in, H, W) or (B, 1, H, W) mask ``M``, 1 = valid, 0 = hole; a single channel
        stands for the same mask on every input channel. Values must be 0 or 1.
    weight : torch.Tensor
        (C_out, C_in, k_h, k_w) convolution weights ``W``.
    bias : torch.Tensor, optional
        (C_out,) bias ``b``.
    stride, padding : int
        As for :func:`torch.nn.functional.conv2d`. Padding is zeros in both ``X`` and ``M``,
        so padded pixels are holes.
    scaling : {"window", "sum"}
        ``"window"``: multiply by ``sum(1) / sum(M)`` (NVIDIA's released layer, default);
        ``"sum"``: multiply by ``1 / sum(M)`` (eq. (1) as printed). See the module notes.

    Returns
    -------
    output : torch.Tensor
        (B, C_out, H', W'): ``W^T (X ⊙ M) · scale + b`` where the window holds a valid
        input, 0 elsewhere.
    updated_mask : torch.Tensor
        (B, 1, H', W') float mask of eq. (2), 1 where ``sum(M) > 0``. It is the same for
        every output channel, so it is returned once and broadcasts.

    Notes
    -----
    ``sum(M)`` counts valid entries over the whole ``C_in × k_h × k_w`` window. It is
    computed in float32 even under :func:`torch.autocast` so that counts stay exact.
    """
    in_channels, kernel_h, kernel_w = weight.shape[1:]
    if features.shape[1] != in_channels:
        raise ValueError(f"expected {in_channels} input channels, got features of shape {tuple(features.shape)}")
    if valid_mask.shape[1] not in (1, in_channels) or valid_mask.shape[2:] != features.shape[2:]:
        raise ValueError(
            f"expected a mask of shape (B, 1 or {in_channels}, {features.shape[2]}, {features.shape[3]}), "
            f"got {tuple(valid_mask.shape)}"
        )
    raw = functional.conv2d(features * valid_mask.to(features.dtype), weight, None, stride=stride, padding=padding)
    valid_count = _window_valid_count(valid_mask, in_channels, (kernel_h, kernel_w), stride=stride, padding=padding)
    updated_mask = (valid_count > 0).to(valid_count.dtype)
    numerator = float(in_channels * kernel_h * kernel_w) if scaling == "window" else 1.0
    ratio = numerator / valid_count.clamp(min=1.0) * updated_mask
    output = raw * ratio.to(raw.dtype)
    if bias is not None:
        output = output + bias.view(1, -1, 1, 1).to(output.dtype) * updated_mask.to(output.dtype)
    return output, updated_mask


def _window_valid_count(
    valid_mask: torch.Tensor,
    in_channels: int,
    kernel_size: tuple[int, int],
    *,
    stride: int,
    padding: int,
) -> torch.Tensor:
    """(B, 1, H', W') float32 number of valid entries in each C_in × k_h × k_w window."""
    with torch.autocast(valid_mask.device.type, enabled=False):
        mask = valid_mask.float()
        per_pixel = mask.sum(dim=1, keepdim=True) if mask.shape[1] > 1 else mask * in_channels
        ones = torch.ones((1, 1, *kernel_size), dtype=torch.float32, device=mask.device)
        return functional.conv2d(per_pixel, ones, stride=stride, padding=padding)


class PartialConv2d(nn.Conv2d):
    """A :class:`torch.nn.Conv2d` whose ``forward(features, valid_mask)`` is a partial convolution.

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
        As for :class:`torch.nn.Conv2d` (square kernels).
    stride : int
        Stride.
    padding : int
        Zero padding; padded pixels count as holes.
    bias : bool
        Whether the layer has a bias ``b``.
    scaling : {"window", "sum"}
        Renormalisation of eq. (1); see :func:`partial_conv2d`.

    Examples
    --------
    >>> layer = PartialConv2d(3, 8, 3, padding=1)
    >>> out, mask = layer(torch.rand(1, 3, 16, 16), torch.ones(1, 1, 16, 16))
    >>> out.shape, mask.shape
    (torch.Size([1, 8, 16, 16]), torch.Size([1, 1, 16, 16]))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        scaling: Scaling = "window",
    ) -> None:
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)
        self.scaling: Scaling = scaling

    def forward(  # type: ignore[override]  # nn.Conv2d.forward takes one tensor; this layer takes two
        self, features: torch.Tensor, valid_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Partial convolution of ``features`` with this layer's weights, and the updated mask.

        Parameters
        ----------
        features : torch.Tensor
            (B, C_in, H, W) floating point input ``X``.
        valid_mask : torch.Tensor
            (B, C_in, H, W) or (B, 1, H, W) mask ``M`` of 0 and 1, 1 = valid.

        Returns
        -------
        output : torch.Tensor
            (B, C_out, H', W'), 0 where the window held no valid input.
        updated_mask : torch.Tensor
            (B, 1, H', W') float, 1 where the window held a valid input; see
            :func:`partial_conv2d`.
        """
        return partial_conv2d(
            features,
            valid_mask,
            self.weight,
            self.bias,
            stride=self.stride[0],
            padding=self.padding[0],  # type: ignore[arg-type]  # Conv2d types padding str | tuple; ours is an int tuple
            scaling=self.scaling,
        )

    def extra_repr(self) -> str:
        """The module's line in ``repr``: :class:`torch.nn.Conv2d`'s settings and ``scaling``.

        Returns
        -------
        str
            E.g. ``"3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), scaling='window'"``.
        """
        return f"{super().extra_repr()}, scaling={self.scaling!r}"
