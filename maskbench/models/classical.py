"""Classical diffusion fills: OpenCV's Telea and Navier–Stokes inpainting.

Cheap baselines beside the learned models and PatchMatch: Telea's fast-marching method [1]_
and Bertalmio et al.'s Navier–Stokes method [2]_. Both call :func:`cv2.inpaint`,
which works on 8-bit images only: the image is rounded to uint8 (``round(255 · x)``),
filled, and converted back to float32 in [0, 1]. Only hole pixels take the fill, so pixels
outside the hole are the input's exactly (no uint8 quantisation there); inside the hole the
fill carries the 1/255 quantisation of OpenCV's 8-bit arithmetic.

References
----------
.. [1] A. Telea, "An Image Inpainting Technique Based on the Fast Marching Method",
       Journal of Graphics Tools 9(1), 2004.
.. [2] M. Bertalmio, A. L. Bertozzi, G. Sapiro, "Navier-Stokes, Fluid Dynamics, and Image
       and Video Inpainting", CVPR 2001.
"""

from __future__ import annotations

import cv2
import numpy as np

from maskbench.checks import check_image_and_hole
from maskbench.compositing import composite
from maskbench.errors import InputError

__all__ = ["inpaint_ns", "inpaint_telea"]


def _cv2_fill(image: np.ndarray, hole: np.ndarray, radius: int, method: int) -> np.ndarray:
    check_image_and_hole(image, hole)
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 1:
        raise InputError(f"expected an integer radius >= 1 px, got {radius!r}")
    if not hole.any():
        return image.copy()
    if hole.all():
        raise InputError("the hole covers the whole image; there is nothing to fill it from")
    image_u8 = np.rint(image * 255.0).astype(np.uint8)
    filled_u8 = cv2.inpaint(image_u8, hole.astype(np.uint8), float(radius), method)
    return composite(filled_u8.astype(np.float32) / np.float32(255.0), image, hole)


def inpaint_telea(image: np.ndarray, hole: np.ndarray, *, radius: int = 3) -> np.ndarray:
    """Fill the hole by Telea's fast-marching method (OpenCV ``INPAINT_TELEA``).

    Parameters
    ----------
    image : numpy.ndarray
        float32 RGB, shape (H, W, 3), values in [0, 1].
    hole : numpy.ndarray
        bool, shape (H, W); True = missing.
    radius : int, optional
        Neighbourhood radius (px) whose known pixels each filled pixel is averaged from.

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3) in [0, 1]; pixels outside the hole equal ``image`` exactly, hole
        pixels are OpenCV's 8-bit fill divided by 255.

    Raises
    ------
    maskbench.errors.InputError
        For a wrong shape, dtype or value range, a radius below 1, or a hole covering everything.
    """
    return _cv2_fill(image, hole, radius, cv2.INPAINT_TELEA)


def inpaint_ns(image: np.ndarray, hole: np.ndarray, *, radius: int = 3) -> np.ndarray:
    """Fill the hole by Bertalmio et al.'s Navier–Stokes method (OpenCV ``INPAINT_NS``).

    Parameters
    ----------
    image : numpy.ndarray
        float32 RGB, shape (H, W, 3), values in [0, 1].
    hole : numpy.ndarray
        bool, shape (H, W); True = missing.
    radius : int, optional
        Neighbourhood radius (px) of the diffusion.

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3) in [0, 1]; pixels outside the hole equal ``image`` exactly, hole
        pixels are OpenCV's 8-bit fill divided by 255.

    Raises
    ------
    maskbench.errors.InputError
        For a wrong shape, dtype or value range, a radius below 1, or a hole covering everything.
    """
    return _cv2_fill(image, hole, radius, cv2.INPAINT_NS)
