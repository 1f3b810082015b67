"""Checks of the arrays users hand to maskbench: one home, one exception type per mistake.

A hole is a bool array, True = missing pixel. An image is float32 RGB in [0, 1]: one numpy
image (H, W, 3) with a (H, W) hole, or a torch batch (B, 3, H, W) with a (B, 1, H, W) hole.
Every check raises :class:`maskbench.errors.InputError` with a one-line message.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from maskbench.errors import InputError


def check_hole(hole: Any) -> None:
    """Raise :class:`InputError` unless ``hole`` is a 2-D bool numpy array.

    Parameters
    ----------
    hole : ndarray
        Expected bool, shape (H, W); True = missing pixel.

    Raises
    ------
    InputError
        For any other type, dtype or number of dimensions.
    """
    if not isinstance(hole, np.ndarray) or hole.dtype != np.bool_ or hole.ndim != 2:
        raise InputError(f"expected a 2-D bool hole array (True = missing), got {_describe(hole)}")


def _describe(value: Any) -> str:
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return f"{value.dtype} {tuple(value.shape)}"
    return type(value).__name__


def check_image_and_hole(image: Any, hole: Any) -> None:
    """Raise :class:`InputError` unless ``image`` and ``hole`` are one valid numpy pair.

    Parameters
    ----------
    image : ndarray
        Expected float32, shape (H, W, 3), non-empty, values in [0, 1] (no NaN).
    hole : ndarray
        Expected bool, shape (H, W); True = missing pixel.

    Raises
    ------
    InputError
        A wrong type, dtype or shape of either, an empty image, or image values outside [0, 1]
        (NaN included).
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.float32 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected a float32 RGB image of shape (H, W, 3), got {_describe(image)}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"expected a non-empty image, got shape {image.shape}")
    if not isinstance(hole, np.ndarray) or hole.dtype != np.bool_ or hole.shape != image.shape[:2]:
        raise InputError(f"expected a bool hole of shape {image.shape[:2]} (True = missing), got {_describe(hole)}")
    low, high = float(np.min(image)), float(np.max(image))
    if not (low >= 0.0 and high <= 1.0):
        raise InputError(f"expected image values in [0, 1], got values in [{low:g}, {high:g}]")


def check_image_and_hole_batch(image: Any, hole: Any) -> None:
    """Raise :class:`InputError` unless ``image`` and ``hole`` are one valid torch batch.

    Parameters
    ----------
    image : torch.Tensor
        Expected float32, shape (B, 3, H, W).
    hole : torch.Tensor
        Expected bool, shape (B, 1, H, W), on the image's device.

    Raises
    ------
    InputError
        A wrong type, dtype or shape of either, or a hole on another device than the image.
    """
    if not isinstance(image, torch.Tensor) or image.dtype != torch.float32 or image.ndim != 4 or image.shape[1] != 3:
        raise InputError(f"expected a float32 image of shape (B, 3, H, W), got {_describe(image)}")
    expected = (image.shape[0], 1, *image.shape[2:])
    if not isinstance(hole, torch.Tensor) or hole.dtype != torch.bool or tuple(hole.shape) != expected:
        raise InputError(f"expected a bool torch hole of shape {expected}, got {_describe(hole)}")
    if hole.device != image.device:
        raise InputError(f"image is on {image.device} but hole is on {hole.device}; put both on one device")
