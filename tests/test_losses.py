"""Loss terms of eq. (3)–(7) on hand-made tensors, against formulas written out here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from maskbench.errors import MissingWeightsError
from maskbench.losses import (
    VGG16_WEIGHTS,
    InpaintingLoss,
    LossWeights,
    VGG16Features,
    gram_matrix,
    total_variation_loss,
)

PAPER_WEIGHTS = LossWeights(valid=1.0, hole=6.0, perceptual=0.05, style=120.0, tv=0.1)


class RawAndPooled(nn.Module):
    """A fixed 'feature extractor': the image itself and its 2×2 average pool."""

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        return [image, nn.functional.avg_pool2d(image, 2)]


def gram_by_loops(features: np.ndarray) -> np.ndarray:
    channels, height, width = features.shape
    gram = np.zeros((channels, channels))
    for a in range(channels):
        for b in range(channels):
            gram[a, b] = sum(features[a, i, j] * features[b, i, j] for i in range(height) for j in range(width))
    return gram / (channels * height * width)


def test_gram_matrix_of_a_hand_made_tensor() -> None:
    features = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, -1.0]]])[None]
    # channel 0 · channel 0 = 1+4+9+16 = 30; 0·1 = 0+2+0-4 = -2; 1·1 = 2; normalised by 2·2·2.
    expected = torch.tensor([[[30.0, -2.0], [-2.0, 2.0]]]) / 8
    torch.testing.assert_close(gram_matrix(features), expected)


def test_style_and_perceptual_terms_equal_the_formulas() -> None:
    generator = torch.Generator().manual_seed(0)
    output, target = torch.rand(2, 3, 6, 6, generator=generator), torch.rand(2, 3, 6, 6, generator=generator)
    valid_mask = torch.ones(2, 1, 6, 6)
    valid_mask[:, :, 1:4, 2:5] = 0
    terms = InpaintingLoss(RawAndPooled(), weights=PAPER_WEIGHTS)(output, target, valid_mask)
    out, gt, mask = output.double().numpy(), target.double().numpy(), valid_mask.double().numpy()
    comp = mask * gt + (1 - mask) * out

    def pool(x: np.ndarray) -> np.ndarray:  # 2×2 mean pooling of the (2, 3, 6, 6) arrays
        return x.reshape(2, 3, 3, 2, 3, 2).mean(axis=(3, 5))

    style = {"out": 0.0, "comp": 0.0}
    perceptual = 0.0
    for name, image in (("out", out), ("comp", comp)):
        for level in (lambda x: x, pool):
            a, b = level(image), level(gt)
            perceptual += np.abs(a - b).mean()
            grams = [np.abs(gram_by_loops(a[k]) - gram_by_loops(b[k])) for k in range(2)]
            style[name] += np.mean(grams)
    assert terms["style_out"].item() == pytest.approx(style["out"], rel=1e-5)
    assert terms["style_comp"].item() == pytest.approx(style["comp"], rel=1e-5)
    assert terms["perceptual"].item() == pytest.approx(perceptual, rel=1e-5)
    assert terms["valid"].item() == pytest.approx(np.abs(mask * (out - gt)).mean(), rel=1e-6)
    assert terms["hole"].item() == pytest.approx(np.abs((1 - mask) * (out - gt)).mean(), rel=1e-6)
    total = (
        terms["valid"]
        + 6 * terms["hole"]
        + 0.05 * terms["perceptual"]
        + 120 * (terms["style_out"] + terms["style_comp"])
        + 0.1 * terms["tv"]
    )
    torch.testing.assert_close(terms["total"], total)


def test_total_variation_counts_pairs_inside_the_dilated_hole_only() -> None:
    image = torch.zeros(1, 1, 5, 6)
    image[0, 0] = torch.arange(30, dtype=torch.float32).reshape(5, 6) ** 2
    hole = torch.zeros(1, 1, 5, 6)
    hole[0, 0, 2, 3] = 1  # dilated: rows 1–3, columns 2–4
    expected_h = sum(abs(image[0, 0, r, c + 1] - image[0, 0, r, c]) for r in (1, 2, 3) for c in (2, 3)) / (5 * 5)
    expected_v = sum(abs(image[0, 0, r + 1, c] - image[0, 0, r, c]) for r in (1, 2) for c in (2, 3, 4)) / (4 * 6)
    assert total_variation_loss(image, hole).item() == pytest.approx(float(expected_h + expected_v), rel=1e-6)


def test_perfect_prediction_zeroes_every_comparison_and_gradients_reach_the_output() -> None:
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    valid_mask = torch.ones(1, 3, 8, 8)
    valid_mask[..., 2:6, 2:6] = 0
    loss = InpaintingLoss(RawAndPooled(), weights=PAPER_WEIGHTS)
    terms = loss(target.clone(), target, valid_mask)
    for name in ("valid", "hole", "perceptual", "style_out", "style_comp"):
        assert terms[name].item() == pytest.approx(0.0, abs=1e-7)
    assert terms["tv"].item() > 0  # a smoothness penalty, not a comparison with the target
    output = (target + 0.1).requires_grad_(True)
    loss(output, target, valid_mask)["total"].backward()
    assert output.grad is not None and output.grad[..., 2:6, 2:6].abs().sum() > 0


def test_vgg16_is_torchvisions_file_and_its_offline_error_says_where(tmp_path, monkeypatch) -> None:
    assert VGG16_WEIGHTS.url == torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
    assert VGG16_WEIGHTS.file_name == "vgg16-397923af.pth" and VGG16_WEIGHTS.sha256_prefix == "397923af"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    with pytest.raises(
        MissingWeightsError,
        match=rf"vgg16-397923af\.pth are not in {folder} .*download {VGG16_WEIGHTS.url} into {folder}",
    ):
        VGG16Features()
