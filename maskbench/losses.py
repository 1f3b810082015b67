"""The training loss of Liu et al. 2018, eq. (3)–(7): pixel, perceptual, style and TV terms.

``I_out`` is the network's raw prediction, ``I_gt`` the ground truth, ``M`` the validity mask
(1 = valid) and ``I_comp = M ⊙ I_gt + (1 − M) ⊙ I_out`` the composite. With Ψ_n the VGG-16
activations at pool1, pool2 and pool3:

* ``L_valid = ‖M ⊙ (I_out − I_gt)‖₁``, ``L_hole = ‖(1 − M) ⊙ (I_out − I_gt)‖₁``;
* ``L_perceptual = Σ_n ‖Ψ_n(I_out) − Ψ_n(I_gt)‖₁ + Σ_n ‖Ψ_n(I_comp) − Ψ_n(I_gt)‖₁`` (3);
* ``L_style_out = Σ_n ‖K_n (Ψ_nᵀΨ_n(I_out) − Ψ_nᵀΨ_n(I_gt))‖₁``, likewise ``L_style_comp``
  (4, 5), with the C_n×C_n Gram matrix normalised by ``K_n = 1 / (C_n H_n W_n)``;
* ``L_tv``: ℓ1 differences of horizontally and vertically adjacent pixels of ``I_comp``
  where both pixels lie in P, the hole dilated by one pixel (3×3 square) (6);
* ``L_total = 1·L_valid + 6·L_hole + 0.05·L_perceptual + 120·(L_style_out + L_style_comp)
  + 0.1·L_tv`` (7); the weights are ``loss_weight_*`` in ``configs/train.toml``.

Every ``‖·‖₁`` is the *mean* absolute value over the elements of its tensor (batch,
channels, pixels), as in NVIDIA's training code, so the paper's weights apply unchanged
at any image size. For L_tv the means run over all horizontal (resp. vertical) neighbour
pairs of the batch, pairs outside P counting as zero.

The feature extractor is any module mapping (B, 3, H, W) images in [0, 1] to a list of
feature maps; :class:`VGG16Features` is the paper's, tests inject a small random one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torchvision
from torch import nn
from torch.nn import functional

from maskbench.errors import InputError
from maskbench.weights import WeightsFile, locate_weights

#: torchvision's ImageNet VGG-16 weights (``VGG16_Weights.IMAGENET1K_V1``, vgg16-397923af.pth).
VGG16_WEIGHTS = WeightsFile(
    description="torchvision's ImageNet VGG-16",
    url=torchvision.models.VGG16_Weights.IMAGENET1K_V1.url,
    option="vgg16_weights in the training config",
)
#: Index after the last layer of each slice of ``torchvision.models.vgg16().features``: pool1, pool2, pool3.
_VGG16_POOL_ENDS = (5, 10, 17)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

TERMS: tuple[str, ...] = ("valid", "hole", "perceptual", "style_out", "style_comp", "tv")


@dataclass(frozen=True)
class LossWeights:
    """Weights of eq. (7); defaults (1, 6, 0.05, 120, 0.1) in ``configs/train.toml``.

    ``style`` multiplies both ``style_out`` and ``style_comp``.
    """

    valid: float
    hole: float
    perceptual: float
    style: float
    tv: float


class VGG16Features(nn.Module):
    """Frozen ImageNet VGG-16 activations at pool1, pool2 and pool3 (section 3.3).

    Parameters
    ----------
    weights_path : path-like, optional
        torchvision's ``vgg16-397923af.pth``; ``None``: the torch hub cache, where it is
        downloaded (with a progress bar) when missing, as torchvision's weights enum does
        (:func:`maskbench.weights.locate_weights`).

    Raises
    ------
    MissingWeightsError
        The file is not there and cannot be downloaded (offline, or ``MASKBENCH_OFFLINE=1``):
        the message names the file, its URL and the folder to put it in.
    InputError
        The file is not a VGG-16 state dict torchvision can load.

    Notes
    -----
    Input images are (B, 3, H, W) in [0, 1]; they are normalised with the ImageNet mean and
    standard deviation, as the weights expect. The parameters never require gradients;
    gradients flow to the input.
    """

    def __init__(self, weights_path: str | os.PathLike | None = None) -> None:
        super().__init__()
        path = locate_weights(VGG16_WEIGHTS, weights_path)
        network = torchvision.models.vgg16(weights=None)
        try:
            network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as error:
            raise InputError(f"{path} is not torchvision's VGG-16 weights: {str(error).splitlines()[0]}") from None
        starts = (0, *_VGG16_POOL_ENDS[:-1])
        self.slices = nn.ModuleList(
            network.features[start:end] for start, end in zip(starts, _VGG16_POOL_ENDS, strict=True)
        )
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGG16Features:
        """Stays in eval mode: the extractor is fixed.

        Parameters
        ----------
        mode : bool
            Ignored (``module.train()`` on the whole network reaches here).

        Returns
        -------
        VGG16Features
            The extractor itself, still in eval mode.
        """
        return super().train(False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """pool1, pool2, pool3 activations of (B, 3, H, W) images in [0, 1].

        Parameters
        ----------
        image : torch.Tensor
            (B, 3, H, W) float RGB in [0, 1].

        Returns
        -------
        list of torch.Tensor
            (B, 64, H/2, W/2), (B, 128, H/4, W/4) and (B, 256, H/8, W/8) (sizes rounded
            down), in the dtype of ``image``.
        """
        features, outputs = (image - self.mean) / self.std, []
        for layer in self.slices:
            features = layer(features)
            outputs.append(features)
        return outputs


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Normalised Gram matrix ``ΨᵀΨ / (C·H·W)`` of (B, C, H, W) features → (B, C, C), float32.

    Parameters
    ----------
    features : torch.Tensor
        (B, C, H, W) feature maps, any float dtype (computed in float32).

    Returns
    -------
    torch.Tensor
        (B, C, C) float32: the channel inner products divided by ``K_n⁻¹ = C·H·W``.
    """
    batch, channels, height, width = features.shape
    flat = features.float().reshape(batch, channels, height * width)
    return flat @ flat.transpose(1, 2) / (channels * height * width)


def composite(output: torch.Tensor, target: torch.Tensor, valid_mask: torch.Tensor) -> torch.Tensor:
    """``I_comp``: ``target`` where ``valid_mask`` is 1, ``output`` in the hole.

    Parameters
    ----------
    output : torch.Tensor
        (B, C, H, W) float, the network's prediction ``I_out``.
    target : torch.Tensor
        (B, C, H, W) float, the ground truth ``I_gt``.
    valid_mask : torch.Tensor
        (B, 1 or C, H, W) float, 1 = valid, 0 = hole.

    Returns
    -------
    torch.Tensor
        (B, C, H, W): ``M ⊙ I_gt + (1 − M) ⊙ I_out``.
    """
    return valid_mask * target + (1 - valid_mask) * output


def pixel_losses(
    output: torch.Tensor, target: torch.Tensor, valid_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L_valid, L_hole)``: mean ℓ1 error on valid and on hole pixels (zeros elsewhere).

    Parameters
    ----------
    output : torch.Tensor
        (B, C, H, W) float, ``I_out``.
    target : torch.Tensor
        (B, C, H, W) float, ``I_gt``.
    valid_mask : torch.Tensor
        (B, 1 or C, H, W) float, 1 = valid, 0 = hole.

    Returns
    -------
    L_valid, L_hole : torch.Tensor
        Scalars: the means over all elements of ``M ⊙ |I_out − I_gt|`` and of
        ``(1 − M) ⊙ |I_out − I_gt|``.
    """
    error = (output - target).abs()
    return (valid_mask * error).mean(), ((1 - valid_mask) * error).mean()


def perceptual_loss(features: list[torch.Tensor], target_features: list[torch.Tensor]) -> torch.Tensor:
    """One sum of eq. (3): ``Σ_n mean |Ψ_n(I) − Ψ_n(I_gt)|``.

    Parameters
    ----------
    features : list of torch.Tensor
        Ψ_n(I), one (B, C_n, H_n, W_n) map per layer n.
    target_features : list of torch.Tensor
        Ψ_n(I_gt), the same layers and shapes.

    Returns
    -------
    torch.Tensor
        Scalar float32: the sum over the layers of the mean absolute difference.
    """
    # why the type ignore: sum() is typed Tensor | int (0 for no terms); there is a term per layer
    return sum((a.float() - b.float()).abs().mean() for a, b in zip(features, target_features, strict=True))  # type: ignore[return-value]


def style_loss(features: list[torch.Tensor], target_features: list[torch.Tensor]) -> torch.Tensor:
    """Eq. (4)/(5): ``Σ_n mean |G_n(I) − G_n(I_gt)|`` with normalised Gram matrices.

    Parameters
    ----------
    features : list of torch.Tensor
        Ψ_n(I), one (B, C_n, H_n, W_n) map per layer n.
    target_features : list of torch.Tensor
        Ψ_n(I_gt), the same layers and shapes.

    Returns
    -------
    torch.Tensor
        Scalar float32: the sum over the layers of the mean absolute difference of the
        (B, C_n, C_n) Gram matrices (:func:`gram_matrix`).
    """
    # why the type ignore: sum() is typed Tensor | int (0 for no terms); there is a term per layer
    return sum((gram_matrix(a) - gram_matrix(b)).abs().mean() for a, b in zip(features, target_features, strict=True))  # type: ignore[return-value]


def total_variation_loss(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Eq. (6): ℓ1 of neighbour differences of ``image`` inside the 1-pixel dilation of ``hole``.

    Parameters
    ----------
    image : torch.Tensor
        (B, C, H, W), normally ``I_comp``.
    hole : torch.Tensor
        (B, 1 or C, H, W) float, 1 = hole (``1 − M``).

    Returns
    -------
    torch.Tensor
        Scalar: mean over horizontal pairs plus mean over vertical pairs, pairs with a
        pixel outside the dilated hole counting zero.
    """
    region = functional.max_pool2d(hole.float(), kernel_size=3, stride=1, padding=1)
    horizontal = region[..., :, 1:] * region[..., :, :-1]
    vertical = region[..., 1:, :] * region[..., :-1, :]
    image = image.float()
    horizontal_diff = (image[..., :, 1:] - image[..., :, :-1]).abs() * horizontal
    vertical_diff = (image[..., 1:, :] - image[..., :-1, :]).abs() * vertical
    return horizontal_diff.mean() + vertical_diff.mean()


class InpaintingLoss(nn.Module):
    """Eq. (7) with any feature extractor.

    Parameters
    ----------
    feature_extractor : nn.Module
        Maps (B, 3, H, W) images in [0, 1] to a list of feature maps (e.g.
        :class:`VGG16Features`).
    weights : LossWeights
        Weights of the terms.

    Notes
    -----
    ``loss(output, target, valid_mask)`` returns every term of :data:`TERMS` (unweighted)
    and ``"total"`` (the weighted sum); see :meth:`forward`.
    """

    def __init__(self, feature_extractor: nn.Module, *, weights: LossWeights) -> None:
        super().__init__()
        self.feature_extractor = feature_extractor
        self.weights = weights

    def forward(self, output: torch.Tensor, target: torch.Tensor, valid_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss terms of a batch and their weighted sum.

        Parameters
        ----------
        output : torch.Tensor
            (B, 3, H, W) float, ``I_out``, the network's prediction (gradients flow back to it).
        target : torch.Tensor
            (B, 3, H, W) float in [0, 1], ``I_gt``.
        valid_mask : torch.Tensor
            (B, 1 or 3, H, W), 1 = valid, 0 = hole (any dtype; converted to that of ``output``).

        Returns
        -------
        dict of str to torch.Tensor
            Scalar float32 tensors: every term of :data:`TERMS` (unweighted) and ``"total"``,
            eq. (7).
        """
        output, target = output.float(), target.float()
        valid_mask = valid_mask.to(output.dtype)
        comp = composite(output, target, valid_mask)
        terms: dict[str, torch.Tensor] = {}
        terms["valid"], terms["hole"] = pixel_losses(output, target, valid_mask)
        batch = output.shape[0]
        all_features = self.feature_extractor(torch.cat([output, comp, target.detach()]))
        out_features = [f[:batch] for f in all_features]
        comp_features = [f[batch : 2 * batch] for f in all_features]
        target_features = [f[2 * batch :].detach() for f in all_features]
        terms["perceptual"] = perceptual_loss(out_features, target_features) + perceptual_loss(
            comp_features, target_features
        )
        terms["style_out"] = style_loss(out_features, target_features)
        terms["style_comp"] = style_loss(comp_features, target_features)
        terms["tv"] = total_variation_loss(comp, 1 - valid_mask[:, :1])
        weights = self.weights
        terms["total"] = (
            weights.valid * terms["valid"]
            + weights.hole * terms["hole"]
            + weights.perceptual * terms["perceptual"]
            + weights.style * (terms["style_out"] + terms["style_comp"])
            + weights.tv * terms["tv"]
        )
        return terms
