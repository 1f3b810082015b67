"""Inpainting models behind one interface: :func:`load_inpainter` (see :mod:`.registry`).

Bundled: the partial-convolution U-Net of Liu et al. 2018 (:class:`PConvUNet`), the same
U-Net with ordinary convolutions (:class:`ConvUNet`), PatchMatch, and OpenCV's Telea and
Navier–Stokes fills.
"""

from maskbench.models.partialconv import PartialConv2d, partial_conv2d
from maskbench.models.registry import CpuInpainter, Inpainter, TorchInpainter, load_inpainter
from maskbench.models.unet import ConvUNet, PConvUNet, build_unet

__all__ = [
    "ConvUNet",
    "CpuInpainter",
    "Inpainter",
    "PConvUNet",
    "PartialConv2d",
    "TorchInpainter",
    "build_unet",
    "load_inpainter",
    "partial_conv2d",
]
