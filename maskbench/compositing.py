"""The composite ``I_comp``: the method's fill inside the hole, the input everywhere else.

Every inpainter returns, and every metric scores, the composite: the method's fill inside the
hole and the input image, bit for bit, everywhere else. Images are float32 RGB in [0, 1],
either one numpy image (H, W, 3) with a (H, W) bool hole, or a torch batch (B, 3, H, W)
with a (B, 1, H, W) bool hole; True = missing pixel.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def composite(fill: ArrayT, image: ArrayT, hole: ArrayT) -> ArrayT:
    """``fill`` inside the hole, ``image`` elsewhere (bit for bit).

    Parameters
    ----------
    fill, image : (H, W, 3) float32 ndarray or (B, 3, H, W) float torch.Tensor
        The method's output and the input (or ground truth).
    hole : (H, W) bool ndarray or (B, 1, H, W) bool torch.Tensor
        True = missing pixel.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Same type and shape as ``image``. A numpy result keeps ``image``'s dtype; a torch result
        has the promoted dtype of ``fill`` and ``image`` (``image``'s when the two match).
    """
    if isinstance(image, torch.Tensor):
        return torch.where(hole, fill, image)
    return np.where(hole[..., None], fill, image).astype(image.dtype, copy=False)
