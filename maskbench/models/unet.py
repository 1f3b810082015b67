"""The U-Nets of Liu et al. 2018 (appendix, Table 2): ``PConvUNet`` and its baseline ``ConvUNet``.

Both networks have the same layers::

    encoder  kernel  channels  stride  BatchNorm  activation
    1        7×7     64        2       -          ReLU
    2        5×5     128       2       Y          ReLU
    3        5×5     256       2       Y          ReLU
    4–8      3×3     512       2       Y          ReLU
    decoder (each: nearest upsampling ×2, concatenation with the skip, then the layer)
    9–12     3×3     512       1       Y          LeakyReLU(0.2)   skips: encoder 7, 6, 5, 4
    13       3×3     256       1       Y          LeakyReLU(0.2)   skip: encoder 3
    14       3×3     128       1       Y          LeakyReLU(0.2)   skip: encoder 2
    15       3×3     64        1       Y          LeakyReLU(0.2)   skip: encoder 1
    16       3×3     3         1       -          -                skip: the input image

``PConvUNet`` uses :class:`~maskbench.models.partialconv.PartialConv2d` everywhere; its
skip links concatenate feature maps *and* their masks, and its last layer sees the input
image with its mask, so the output cannot depend on the values inside the hole.
``ConvUNet`` uses ordinary zero-padded convolutions on the image whose holes are filled
with a placeholder (Fig. 2 (e, f) of the paper): 127.5 gray or the ImageNet mean colour.

Conventions shared by both
--------------------------
* ``forward(image, valid_mask)``: ``image`` (B, 3, H, W) float RGB in [0, 1]; ``valid_mask``
  (B, 1, H, W) or (B, 3, H, W), 1 = valid, 0 = hole (the paper's ``M``; bool accepted).
  Returns the raw prediction ``I_out`` (B, 3, H, W) in the [0, 1] scale (not clamped, not
  composited).
* Inside, images are normalised with the ImageNet mean and standard deviation (as NVIDIA's
  training code does) and the output is mapped back; this is a fixed affine change of
  variables, not a learned part.
* Sides that are not multiples of 256 (eight stride-2 layers) are zero-padded, evenly on
  both sides, with the padding marked as hole, and the output is cropped back.
* Layers followed by BatchNorm have no bias (BatchNorm's shift replaces it); the first and
  last layers have one.
* ``width`` (default 1, the paper's network) multiplies every channel count but the
  output's, for quick experiments and tests; checkpoints record it.
* Both work under :func:`torch.autocast` (bf16) and with ``channels_last`` memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn
from torch.nn import functional

from maskbench.models.partialconv import SCALINGS, PartialConv2d, Scaling

#: Encoder kernel sizes, output channels (all stride 2), Table 2.
ENCODER_KERNELS: tuple[int, ...] = (7, 5, 5, 3, 3, 3, 3, 3)
ENCODER_CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 512, 512, 512, 512)
#: Decoder output channels (3×3 kernels, stride 1, after nearest upsampling ×2), Table 2.
DECODER_CHANNELS: tuple[int, ...] = (512, 512, 512, 512, 256, 128, 64, 3)
#: Negative slope of the decoder's LeakyReLU.
DECODER_SLOPE: float = 0.2
#: Input sides are padded to a multiple of this (2 ** number of stride-2 layers).
SIZE_MULTIPLE: int = 2 ** len(ENCODER_KERNELS)
#: ImageNet statistics (RGB, [0, 1] scale) used to normalise the input and as a placeholder.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

Architecture = Literal["pconv", "conv"]
HoleFill = Literal["gray", "imagenet_mean"]
HOLE_FILLS: tuple[str, ...] = ("gray", "imagenet_mean")
_PLACEHOLDERS: dict[str, tuple[float, float, float]] = {
    "gray": (127.5 / 255, 127.5 / 255, 127.5 / 255),
    "imagenet_mean": IMAGENET_MEAN,
}


class Block(nn.Module):
    """One row of Table 2: convolution, then optional BatchNorm, then optional activation.

    Parameters
    ----------
    conv : torch.nn.Conv2d
        The layer's convolution: an ordinary one, or a :class:`PartialConv2d` (then the block
        carries a mask).
    batch_norm : bool
        Follow the convolution with a :class:`torch.nn.BatchNorm2d` of its output channels.
    activation : torch.nn.Module
        Applied last: ReLU (encoder), LeakyReLU(0.2) (decoder) or :class:`torch.nn.Identity`.

    Attributes
    ----------
    conv : nn.Conv2d or PartialConv2d
        The convolution.
    norm : nn.BatchNorm2d or nn.Identity
        The BatchNorm, or identity without one.
    activation : nn.ReLU, nn.LeakyReLU or nn.Identity
        The activation.
    """

    def __init__(self, conv: nn.Conv2d, *, batch_norm: bool, activation: nn.Module) -> None:
        super().__init__()
        self.conv = conv
        self.norm: nn.Module = nn.BatchNorm2d(conv.out_channels) if batch_norm else nn.Identity()
        self.activation = activation

    def forward(
        self, features: torch.Tensor, valid_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Convolution, BatchNorm and activation of ``features`` (and the mask update).

        Parameters
        ----------
        features : torch.Tensor
            (B, C_in, H, W) floating point input.
        valid_mask : torch.Tensor or None
            (B, C_in, H, W) or (B, 1, H, W) mask of 0 and 1, 1 = valid, for a partial
            convolution; ignored (None) for an ordinary one.

        Returns
        -------
        features : torch.Tensor
            (B, C_out, H', W') output of the block.
        updated_mask : torch.Tensor or None
            (B, 1, H', W') float mask of the partial convolution (:func:`~maskbench.models.partialconv.partial_conv2d`);
            ``valid_mask`` unchanged (None) for an ordinary convolution.
        """
        if isinstance(self.conv, PartialConv2d):
            features, valid_mask = self.conv(features, valid_mask)
        else:
            features = self.conv(features)
        return self.activation(self.norm(features)), valid_mask


def _block_specs(
    width: float,
) -> tuple[list[tuple[int, int, int, int, bool, str]], list[tuple[int, int, int, int, bool, str]]]:
    """(in, out, kernel, stride, batch_norm, activation) of every encoder and decoder layer."""
    encoder_channels = [max(1, round(channels * width)) for channels in ENCODER_CHANNELS]
    decoder_channels = [max(1, round(channels * width)) for channels in DECODER_CHANNELS[:-1]] + [3]
    encoder, in_channels = [], 3
    for index, (kernel, out_channels) in enumerate(zip(ENCODER_KERNELS, encoder_channels, strict=True)):
        encoder.append((in_channels, out_channels, kernel, 2, index > 0, "relu"))
        in_channels = out_channels
    skip_channels = (*encoder_channels[-2::-1], 3)
    decoder = []
    for index, (skip, out_channels) in enumerate(zip(skip_channels, decoder_channels, strict=True)):
        last = index == len(decoder_channels) - 1
        decoder.append((in_channels + skip, out_channels, 3, 1, not last, "none" if last else "leaky_relu"))
        in_channels = out_channels
    return encoder, decoder


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "leaky_relu":
        return nn.LeakyReLU(DECODER_SLOPE, inplace=True)
    return nn.Identity()


class _UNet(nn.Module):
    """Shared structure of both U-Nets: ``encoder`` and ``decoder`` lists of :class:`Block`."""

    arch: Architecture

    def __init__(self, make_conv: Callable[[int, int, int, int, bool], nn.Conv2d], *, width: float) -> None:
        if not 0 < width <= 1:
            raise ValueError(f"width must be in (0, 1], got {width}")
        super().__init__()
        self.width = width
        encoder_specs, decoder_specs = _block_specs(width)
        self.encoder = nn.ModuleList(
            Block(make_conv(i, o, k, s, not bn), batch_norm=bn, activation=_activation(a))
            for i, o, k, s, bn, a in encoder_specs
        )
        self.decoder = nn.ModuleList(
            Block(make_conv(i, o, k, s, not bn), batch_norm=bn, activation=_activation(a))
            for i, o, k, s, bn, a in decoder_specs
        )
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.encoder_batchnorm_frozen = False
        he_initialize(self)

    def freeze_encoder_batchnorm(self) -> None:
        """Fine-tuning phase (section 4.2): the encoder's BatchNorm keeps its statistics and parameters.

        Its layers stay in eval mode even under ``model.train()`` and their affine
        parameters stop requiring gradients; the decoder's BatchNorm keeps training.
        """
        self.encoder_batchnorm_frozen = True
        for block in self.encoder:
            for parameter in block.norm.parameters():
                parameter.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> _UNet:
        """Set training (``mode``) or eval mode, keeping a frozen encoder BatchNorm in eval mode.

        Parameters
        ----------
        mode : bool
            True: training mode; False: eval mode (as :meth:`torch.nn.Module.train`).

        Returns
        -------
        _UNet
            The network itself.
        """
        super().train(mode)
        if self.encoder_batchnorm_frozen:
            for block in self.encoder:
                block.norm.eval()
        return self

    def config(self) -> dict[str, str | float]:
        """Constructor keywords that rebuild this network (stored in checkpoints).

        Returns
        -------
        dict
            Keyword → value for the subclass's constructor.
        """
        raise NotImplementedError

    def _prepare(
        self, image: torch.Tensor, valid_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int, int]]:
        """Validate, normalise and pad; return (normalised image, float mask, padding)."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"expected an image of shape (B, 3, H, W), got {tuple(image.shape)}")
        if (
            valid_mask.ndim != 4
            or valid_mask.shape[1] not in (1, 3)
            or valid_mask.shape[2:] != image.shape[2:]
            or valid_mask.shape[0] != image.shape[0]
        ):
            raise ValueError(
                f"expected a valid_mask of shape ({image.shape[0]}, 1 or 3, {image.shape[2]}, {image.shape[3]}), "
                f"got {tuple(valid_mask.shape)}"
            )
        mask = valid_mask.to(image.dtype).expand(-1, 3, -1, -1)
        normalised = (image - self.mean.to(image.dtype)) / self.std.to(image.dtype)
        padding = _padding_to_multiple(image.shape[-2:], SIZE_MULTIPLE)
        if any(padding):
            normalised = functional.pad(normalised, padding)
            mask = functional.pad(mask, padding)
        return normalised, mask, padding

    def _finish(self, output: torch.Tensor, padding: tuple[int, int, int, int]) -> torch.Tensor:
        """Undo the normalisation and the padding."""
        left, right, top, bottom = padding
        height, width = output.shape[-2:]
        output = output[..., top : height - bottom, left : width - right]
        return output * self.std.to(output.dtype) + self.mean.to(output.dtype)


def _padding_to_multiple(size: torch.Size, multiple: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) zero padding that makes both sides multiples of ``multiple``."""
    pad_h, pad_w = (-size[0]) % multiple, (-size[1]) % multiple
    return pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2


class PConvUNet(_UNet):
    """The partial-convolution U-Net of Liu et al. 2018 (Table 2).

    Parameters
    ----------
    scaling : {"window", "sum"}
        Renormalisation of every partial convolution (see :mod:`maskbench.models.partialconv`);
        ``"window"`` is NVIDIA's released layer.
    width : float
        Multiplier of every channel count but the output's; 1 (default) is the paper's
        network, smaller values give thin networks for quick experiments and tests.

    Notes
    -----
    Because every layer multiplies its input by its mask and the last layer sees the input
    image only through its mask, the output does not depend on the pixel values inside the
    hole (checked by the tests).
    """

    arch: Architecture = "pconv"

    def __init__(self, *, scaling: Scaling = "window", width: float = 1.0) -> None:
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
        self.scaling = scaling
        super().__init__(
            lambda i, o, k, s, bias: PartialConv2d(i, o, k, stride=s, padding=k // 2, bias=bias, scaling=scaling),
            width=width,
        )

    def config(self) -> dict[str, str | float]:
        """Constructor keywords that rebuild this network (stored in checkpoints).

        Returns
        -------
        dict
            ``{"scaling": ..., "width": ...}``.
        """
        return {"scaling": self.scaling, "width": self.width}

    def forward(self, image: torch.Tensor, valid_mask: torch.Tensor) -> torch.Tensor:
        """Predict ``I_out`` from an image and its validity mask.

        Parameters
        ----------
        image : torch.Tensor
            (B, 3, H, W) float RGB in [0, 1]; any H, W (padded to multiples of 256 inside).
        valid_mask : torch.Tensor
            (B, 1, H, W) or (B, 3, H, W), 1 = valid, 0 = hole (bool accepted).

        Returns
        -------
        torch.Tensor
            (B, 3, H, W) raw prediction in the [0, 1] scale, not clamped, not composited.
        """
        features, mask, padding = self._prepare(image, valid_mask)
        features = features * mask
        skips = [(features, mask)]
        for block in self.encoder:
            features, mask = block(features, mask)
            skips.append((features, mask))
        skips.pop()
        for block in self.decoder:
            skip_features, skip_mask = skips.pop()
            features = functional.interpolate(features, scale_factor=2.0, mode="nearest")
            mask = functional.interpolate(mask, scale_factor=2.0, mode="nearest")
            mask = torch.cat(
                [mask.expand(-1, features.shape[1], -1, -1), skip_mask.expand(-1, skip_features.shape[1], -1, -1)],
                dim=1,
            )
            features, mask = block(torch.cat([features, skip_features], dim=1), mask)
        return self._finish(features, padding)


class ConvUNet(_UNet):
    """The same U-Net with ordinary convolutions: the paper's "Conv" baseline.

    Parameters
    ----------
    hole_fill : {"gray", "imagenet_mean"}
        Placeholder written into the hole before the network sees the image: 127.5/255 gray
        or the ImageNet mean colour (Fig. 2 (e), (f) of the paper). The network gets no mask
        channel, as in the paper; only the placeholder marks the hole.
    width : float
        Channel multiplier, as for :class:`PConvUNet`.
    """

    arch: Architecture = "conv"

    def __init__(self, *, hole_fill: HoleFill = "gray", width: float = 1.0) -> None:
        if hole_fill not in HOLE_FILLS:
            raise ValueError(f"hole_fill must be one of {HOLE_FILLS}, got {hole_fill!r}")
        self.hole_fill = hole_fill
        super().__init__(lambda i, o, k, s, bias: nn.Conv2d(i, o, k, stride=s, padding=k // 2, bias=bias), width=width)
        self.register_buffer("placeholder", torch.tensor(_PLACEHOLDERS[hole_fill]).view(1, 3, 1, 1), persistent=False)

    def config(self) -> dict[str, str | float]:
        """Constructor keywords that rebuild this network (stored in checkpoints).

        Returns
        -------
        dict
            ``{"hole_fill": ..., "width": ...}``.
        """
        return {"hole_fill": self.hole_fill, "width": self.width}

    def forward(self, image: torch.Tensor, valid_mask: torch.Tensor) -> torch.Tensor:
        """Predict ``I_out`` from an image and its validity mask.

        Parameters
        ----------
        image : torch.Tensor
            (B, 3, H, W) float RGB in [0, 1]; any H, W (padded to multiples of 256 inside).
        valid_mask : torch.Tensor
            (B, 1, H, W) or (B, 3, H, W), 1 = valid, 0 = hole (bool accepted); hole pixels get
            the placeholder.

        Returns
        -------
        torch.Tensor
            (B, 3, H, W) raw prediction in the [0, 1] scale, not clamped, not composited.
        """
        features, mask, padding = self._prepare(image, valid_mask)
        placeholder = (self.placeholder.to(features.dtype) - self.mean.to(features.dtype)) / self.std.to(features.dtype)
        features = torch.where(mask > 0, features, placeholder)
        skips = [features]
        for block in self.encoder:
            features, _ = block(features)
            skips.append(features)
        skips.pop()
        for block in self.decoder:
            features = functional.interpolate(features, scale_factor=2.0, mode="nearest")
            features, _ = block(torch.cat([features, skips.pop()], dim=1))
        return self._finish(features, padding)


ARCHITECTURES: dict[str, type[_UNet]] = {"pconv": PConvUNet, "conv": ConvUNet}


def build_unet(arch: Architecture, **options: str | float) -> PConvUNet | ConvUNet:
    """A freshly He-initialised ``PConvUNet`` (``arch="pconv"``) or ``ConvUNet`` (``"conv"``).

    Parameters
    ----------
    arch : {"pconv", "conv"}
        The architecture.
    **options : str or float
        Its constructor keywords (``scaling`` / ``hole_fill``, ``width``), as
        :meth:`PConvUNet.config` or :meth:`ConvUNet.config` returns them.

    Returns
    -------
    PConvUNet or ConvUNet
        The network, on the CPU, in training mode.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {tuple(ARCHITECTURES)}, got {arch!r}")
    # the mapping is typed by the common base class, and options are the subclass's own keywords
    return ARCHITECTURES[arch](**options)  # type: ignore[arg-type, return-value]


def he_initialize(model: nn.Module, *, generator: torch.Generator | None = None) -> None:
    """He et al. 2015 initialisation (section 4.2): normal weights, std sqrt(2 / fan_in).

    Convolution weights get :func:`torch.nn.init.kaiming_normal_` (fan-in, ReLU gain),
    biases zero; BatchNorm scale 1 and shift 0. Pass a seeded ``generator`` for
    reproducible weights.

    Parameters
    ----------
    model : torch.nn.Module
        Every :class:`torch.nn.Conv2d` (partial convolutions included) and
        :class:`torch.nn.BatchNorm2d` in it is initialised in place.
    generator : torch.Generator or None
        Source of the random weights; None: torch's global generator.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu", generator=generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
