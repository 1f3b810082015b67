"""``ssim_paper``: the literature's SSIM (pytorch-ssim on ×255 images) against its definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage import data
from torch.nn import functional

from maskbench.metrics import pair_statistics, ssim_map_literature
from maskbench.ssim_maps import gaussian_kernel1d


def _pytorch_ssim_on_255(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """pytorch-ssim's ``_ssim`` transcribed from its source, float64, on images ×255, per image.

    gaussian(11, 1.5) taps, 11×11 window = outer product, conv2d with padding 5 and groups = C,
    C1 = 0.01**2, C2 = 0.03**2, ``ssim_map.mean(1).mean(1).mean(1)`` (size_average=False).
    """
    img1, img2 = output.double() * 255, target.double() * 255
    channel = img1.shape[1]
    gauss = torch.tensor([math.exp(-((x - 11 // 2) ** 2) / float(2 * 1.5**2)) for x in range(11)], dtype=torch.float64)
    gauss = gauss / gauss.sum()
    window = (gauss[:, None] @ gauss[None, :]).expand(channel, 1, 11, 11).contiguous()
    mu1 = functional.conv2d(img1, window, padding=11 // 2, groups=channel)
    mu2 = functional.conv2d(img2, window, padding=11 // 2, groups=channel)
    mu1_sq, mu2_sq, mu1_mu2 = mu1.pow(2), mu2.pow(2), mu1 * mu2
    sigma1_sq = functional.conv2d(img1 * img1, window, padding=11 // 2, groups=channel) - mu1_sq
    sigma2_sq = functional.conv2d(img2 * img2, window, padding=11 // 2, groups=channel) - mu2_sq
    sigma12 = functional.conv2d(img1 * img2, window, padding=11 // 2, groups=channel) - mu1_mu2
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
    return ssim_map.mean(1).mean(1).mean(1)


def _photos() -> tuple[torch.Tensor, torch.Tensor]:
    """Two photos and degraded copies (noise, a smooth fill of a hole), (2, 3, 96, 128) float32."""
    rng = np.random.default_rng(3)
    truths = np.stack([getattr(data, name)()[100:196, 100:228] / 255.0 for name in ("astronaut", "coffee")])
    outputs = np.clip(truths + rng.normal(0, 0.05, truths.shape), 0, 1)
    outputs[:, 30:70, 40:100] = truths[:, 30:70, 40:100].mean(axis=(1, 2), keepdims=True)

    def as_tensor(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(images.astype(np.float32)).permute(0, 3, 1, 2).contiguous()

    return as_tensor(outputs), as_tensor(truths)


def test_ssim_paper_equals_pytorch_ssims_formula_on_255_images() -> None:
    output, target = _photos()
    expected = _pytorch_ssim_on_255(output, target)
    np.testing.assert_allclose(pair_statistics(output, target).ssim_paper, expected.numpy(), rtol=0, atol=1e-9)
    statistics = pair_statistics(output, target)
    assert np.all(statistics.ssim_paper < statistics.ssim - 0.01)  # the near-zero constants lower it


def test_the_window_is_pytorch_ssims() -> None:
    taps = [math.exp(-((x - 5) ** 2) / (2 * 1.5**2)) for x in range(11)]
    np.testing.assert_allclose(gaussian_kernel1d().numpy(), np.array(taps) / sum(taps), rtol=0, atol=1e-16)


def test_identical_images_give_one_everywhere_even_black() -> None:
    output, _ = _photos()
    images = torch.cat([output, torch.zeros(1, 3, 96, 128)])
    assert torch.equal(ssim_map_literature(images, images.clone()), torch.ones(3, 3, 96, 128, dtype=torch.float64))


def test_constant_images_give_the_value_derived_by_hand() -> None:
    """X ≡ a, y ≡ b.

    With zero padding the window covers a weight W(p) ≤ 1 of the image at p, so μx = 255aW,
    σx² = 255²a²W(1 − W), σxy = 255²abW(1 − W), and SSIM(p) follows; inside, W = 1:
    (2·255²ab + C1) / (255²(a² + b²) + C1).
    """
    a, b, height, width = 0.2, 0.7, 24, 30
    output, target = torch.full((1, 3, height, width), a), torch.full((1, 3, height, width), b)
    taps = gaussian_kernel1d().numpy()

    def covered(size: int) -> np.ndarray:  # Σ of the taps that fall inside [0, size) for each position
        return np.array([sum(taps[k] for k in range(11) if 0 <= p + k - 5 < size) for p in range(size)])

    weight = covered(height)[:, None] * covered(width)[None, :]
    a255, b255, c1, c2 = 255 * np.float64(np.float32(a)), 255 * np.float64(np.float32(b)), 0.01**2, 0.03**2
    spread = weight * (1 - weight)
    expected = ((2 * a255 * b255 * weight**2 + c1) * (2 * a255 * b255 * spread + c2)) / (
        ((a255**2 + b255**2) * weight**2 + c1) * ((a255**2 + b255**2) * spread + c2)
    )
    result = ssim_map_literature(output, target)[0, 0].numpy()
    np.testing.assert_allclose(result, expected, rtol=1e-9, atol=0)
    inside = (2 * a255 * b255 + c1) / (a255**2 + b255**2 + c1)
    # flat windows: σ² is float64 rounding (~1e-11) against C2 = 9e-4, hence 1e-8 and not 1e-12
    assert result[12, 15] == pytest.approx(inside, rel=1e-8)
    np.testing.assert_allclose(pair_statistics(output, target).ssim_paper, [expected.mean()], rtol=1e-9)
    # Wang's SSIM of the same pair: only windows inside the image, constants of range 1
    wang = (2 * np.float32(a) * np.float32(b) + 1e-4) / (np.float32(a) ** 2 + np.float32(b) ** 2 + 1e-4)
    assert pair_statistics(output, target).ssim[0] == pytest.approx(wang, rel=1e-9)
