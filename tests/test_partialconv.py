"""Partial convolution: eq. (1) and eq. (2) against an independent per-window evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maskbench.models.partialconv import PartialConv2d, partial_conv2d


def per_window_reference(
    features: np.ndarray,
    valid_mask: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    *,
    stride: int,
    padding: int,
    scaling: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Eq. (1) and (2) written out window by window with explicit loops (float64)."""
    batch, _, height, width = features.shape
    out_channels, _, kernel, _ = weight.shape
    padded_x = np.pad(features, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    padded_m = np.pad(
        np.broadcast_to(valid_mask, features.shape), ((0, 0), (0, 0), (padding, padding), (padding, padding))
    )
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    output = np.zeros((batch, out_channels, out_h, out_w))
    updated = np.zeros((batch, 1, out_h, out_w))
    for b in range(batch):
        for i in range(out_h):
            for j in range(out_w):
                window_x = padded_x[b, :, i * stride : i * stride + kernel, j * stride : j * stride + kernel]
                window_m = padded_m[b, :, i * stride : i * stride + kernel, j * stride : j * stride + kernel]
                valid = window_m.sum()
                if valid == 0:
                    continue
                scale = window_m.size / valid if scaling == "window" else 1.0 / valid
                for o in range(out_channels):
                    output[b, o, i, j] = (weight[o] * window_x * window_m).sum() * scale + bias[o]
                updated[b, 0, i, j] = 1.0
    return output, updated


@pytest.mark.parametrize("scaling", ["window", "sum"])
@pytest.mark.parametrize(("kernel", "stride", "padding", "mask_channels"), [(3, 1, 1, 3), (5, 2, 2, 1), (7, 2, 3, 3)])
def test_partial_conv_equals_per_window_eq1(
    scaling: str, kernel: int, stride: int, padding: int, mask_channels: int
) -> None:
    generator = torch.Generator().manual_seed(kernel * 10 + stride)
    features = torch.randn(2, 3, 13, 11, generator=generator)
    valid_mask = (torch.rand(2, mask_channels, 13, 11, generator=generator) > 0.6).float()
    valid_mask[0, :, :8, :8] = 0  # a hole larger than a window: some outputs see nothing valid
    # a parametrized str, where PartialConv2d's scaling is typed as the Literal of its two names
    layer = PartialConv2d(3, 4, kernel, stride=stride, padding=padding, scaling=scaling)  # type: ignore[arg-type]
    with torch.no_grad():
        layer.bias.copy_(torch.randn(4, generator=generator))
        output, updated = layer(features, valid_mask)
    expected, expected_mask = per_window_reference(
        features.double().numpy(),
        valid_mask.double().numpy(),
        layer.weight.detach().double().numpy(),
        layer.bias.detach().double().numpy(),
        stride=stride,
        padding=padding,
        scaling=scaling,
    )
    assert (expected_mask == 0).any() and (expected_mask == 1).any()
    np.testing.assert_allclose(output.numpy(), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(updated.numpy(), expected_mask)


def test_scalings_differ_by_the_window_size() -> None:
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(1, 2, 9, 9, generator=generator)
    valid_mask = (torch.rand(1, 2, 9, 9, generator=generator) > 0.5).float()
    weight = torch.randn(3, 2, 3, 3, generator=generator)
    window, _ = partial_conv2d(features, valid_mask, weight, padding=1, scaling="window")
    per_sum, _ = partial_conv2d(features, valid_mask, weight, padding=1, scaling="sum")
    torch.testing.assert_close(window, per_sum * (2 * 3 * 3))


def test_mask_update_is_eq2_and_padding_is_hole() -> None:
    valid_mask = torch.zeros(1, 1, 7, 7)
    valid_mask[0, 0, 3, 3] = 1.0
    _, updated = partial_conv2d(torch.ones(1, 1, 7, 7), valid_mask, torch.ones(1, 1, 3, 3), padding=1)
    expected = torch.zeros(1, 1, 7, 7)
    expected[0, 0, 2:5, 2:5] = 1.0
    torch.testing.assert_close(updated, expected)
    # An all-valid image: the corner window holds 4 of 9 pixels (padding is hole), so with
    # window scaling a constant image convolved with ones stays exactly 9 everywhere.
    output, _ = partial_conv2d(torch.ones(1, 1, 7, 7), torch.ones(1, 1, 7, 7), torch.ones(1, 1, 3, 3), padding=1)
    torch.testing.assert_close(output, torch.full((1, 1, 7, 7), 9.0))


def test_output_ignores_values_in_the_hole() -> None:
    generator = torch.Generator().manual_seed(2)
    features = torch.randn(1, 4, 10, 10, generator=generator)
    valid_mask = (torch.rand(1, 4, 10, 10, generator=generator) > 0.5).float()
    changed = torch.where(valid_mask > 0, features, torch.randn(1, 4, 10, 10, generator=generator) * 100)
    layer = PartialConv2d(4, 2, 3, padding=1)
    torch.testing.assert_close(layer(features, valid_mask)[0], layer(changed, valid_mask)[0], rtol=0, atol=0)


def test_wrong_mask_shape_is_explained() -> None:
    layer = PartialConv2d(4, 2, 3, padding=1)
    with pytest.raises(ValueError, match=r"expected a mask of shape \(B, 1 or 4, 5, 5\), got \(1, 2, 5, 5\)"):
        layer(torch.zeros(1, 4, 5, 5), torch.ones(1, 2, 5, 5))
