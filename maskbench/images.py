"""Evaluation images: any photo → the 512×512 RGB ground truth that scoring compares against.

Every image of a ``--images`` folder (JPEG, PNG, …, nested or not) is prepared the same way:

1. read as float32 RGB in [0, 1] (:func:`maskbench.files.read_image`: gray is repeated into
   three channels, an alpha channel is dropped, 16-bit is scaled by 1/65535);
2. resized so that its shorter side is 512 px, keeping the aspect ratio; with OpenCV's
   ``INTER_AREA`` when it shrinks (averages the source pixels, no aliasing) and
   ``INTER_CUBIC`` when it grows (smooth; its overshoot is clipped back to [0, 1]);
3. centre-cropped to 512×512 (the extra columns or rows are split evenly, the odd one going
   to the right or bottom);
4. rounded to 8 bits (``round(255·x) / 255``), so that the ground truth held in memory is
   exactly the PNG that ``--save-images`` writes, and metrics can be recomputed from files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from maskbench.errors import InputError
from maskbench.files import list_images, read_image

#: Side of the evaluation images and of the test masks, px.
EVALUATION_SIZE: int = 512


def resize_shorter_side(image: np.ndarray, size: int = EVALUATION_SIZE) -> np.ndarray:
    """Resize so that the shorter side is ``size`` px, keeping the aspect ratio.

    Parameters
    ----------
    image : (H, W, 3) float32 ndarray
        RGB in [0, 1].
    size : int
        Target length of the shorter side.

    Returns
    -------
    (H', W', 3) float32 ndarray
        min(H', W') == size, the longer side rounded to the nearest pixel (at least ``size``);
        values in [0, 1]. Returned unchanged when the shorter side is already ``size``.
    """
    height, width = image.shape[:2]
    shorter = min(height, width)
    if shorter == size:
        return image
    scale = size / shorter
    new_height = size if height == shorter else max(size, round(height * scale))
    new_width = size if width == shorter else max(size, round(width * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image, (new_width, new_height), interpolation=interpolation)
    return np.clip(resized, 0.0, 1.0, out=resized)


def center_crop(image: np.ndarray, size: int = EVALUATION_SIZE) -> np.ndarray:
    """The central ``size``×``size`` window of an image at least that large (top-left offsets floored).

    Parameters
    ----------
    image : (H, W, ...) ndarray
        Any array with H, W ≥ ``size`` (e.g. float32 RGB (H, W, 3)).
    size : int
        Side of the window, px.

    Returns
    -------
    (size, size, ...) ndarray
        A view of ``image``; the extra rows and columns are split evenly, the odd one going to
        the bottom and right.

    Raises
    ------
    InputError
        When H or W is below ``size``.
    """
    height, width = image.shape[:2]
    if height < size or width < size:
        raise InputError(f"cannot crop {size}x{size} from an image of {width}x{height}")
    top = (height - size) // 2
    left = (width - size) // 2
    return image[top : top + size, left : left + size]


def quantize_8bit(image: np.ndarray) -> np.ndarray:
    """``round(255·x) / 255`` as float32: the values an 8-bit PNG of the image holds.

    Parameters
    ----------
    image : ndarray
        Float values in [0, 1], any shape.

    Returns
    -------
    ndarray
        float32, same shape; every value a multiple of 1/255 in [0, 1].
    """
    return (np.round(image * 255.0) / 255.0).astype(np.float32)


def load_evaluation_image(path: str | os.PathLike, size: int = EVALUATION_SIZE) -> np.ndarray:
    """Read an image and prepare it as a ground truth: resize, centre-crop, 8-bit values.

    Parameters
    ----------
    path : path-like
        An image file OpenCV can read (JPEG, PNG, …; gray, RGB or RGBA, 8 or 16 bits).
    size : int
        Side of the ground truth, px (the shorter side is resized to it, then the centre
        cropped).

    Returns
    -------
    (size, size, 3) float32 ndarray
        RGB in [0, 1], every value a multiple of 1/255.

    Raises
    ------
    InputError
        When the file is missing or cannot be decoded.
    """
    image = read_image(path)
    return quantize_8bit(np.ascontiguousarray(center_crop(resize_shorter_side(image, size), size)))


def to_torch_batch(arrays: Sequence[np.ndarray], device: str | torch.device) -> torch.Tensor:
    """Stack numpy images (H, W, C) or masks (H, W) into one torch batch in channels-first order.

    Parameters
    ----------
    arrays : sequence of ndarray
        At least one; all (H, W, C) images or all (H, W) masks of one shape and dtype
        (e.g. float32 RGB in [0, 1], or bool holes).
    device : str or torch.device
        Where the batch goes.

    Returns
    -------
    torch.Tensor
        (B, C, H, W) for images, (B, 1, H, W) for masks; same dtype and values. Images keep the
        stacked arrays' memory (channels last: a permuted view); ``.contiguous()`` gives
        channels-first memory where a caller needs it.
    """
    stacked = torch.from_numpy(np.stack(arrays))
    batch = stacked[:, None] if stacked.ndim == 3 else stacked.permute(0, 3, 1, 2)
    return batch.to(device)


def resize_hole(hole: np.ndarray, size: int) -> np.ndarray:
    """Shrink a square test mask to ``size``×``size``: area average, then threshold at one half.

    Parameters
    ----------
    hole : (S, S) bool ndarray
        True = hole; S ≥ ``size`` (test masks are 512×512).
    size : int
        Output side, px.

    Returns
    -------
    (size, size) bool ndarray
        A pixel is a hole when at least half of the area it covers in ``hole`` is hole
        (OpenCV ``INTER_AREA`` of the 0/1 mask, ``≥ 0.5``). ``hole`` itself when S == size.

    Raises
    ------
    InputError
        When the mask is smaller than ``size`` on a side.
    """
    if hole.shape[0] == size:
        return hole
    if min(hole.shape) < size:
        raise InputError(f"cannot shrink a {hole.shape[1]}x{hole.shape[0]} mask to {size}x{size}")
    area = cv2.resize(hole.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return area >= 0.5


@dataclass(frozen=True)
class ImageFolder:
    """The readable images of a folder and the files that are not.

    Attributes
    ----------
    root : Path
        The folder (absolute).
    files : tuple of Path
        Readable image files, sorted by relative path.
    unreadable : tuple of Path
        Files with an image suffix that OpenCV cannot read (not an image, unknown format).
    """

    root: Path
    files: tuple[Path, ...]
    unreadable: tuple[Path, ...]

    def relative(self, path: Path) -> str:
        """``path`` relative to :attr:`root`, with forward slashes.

        Parameters
        ----------
        path : Path
            A file under :attr:`root` (absolute, as :attr:`files` holds them).

        Returns
        -------
        str
            E.g. ``"places/a/0001.jpg"``: the name ``pairs.csv`` and ``meta.json`` record.
        """
        return path.relative_to(self.root).as_posix()


def scan_images(folder: str | os.PathLike) -> ImageFolder:
    """List the images of a folder (recursively) and check that OpenCV can read each one.

    The check reads file signatures only (``cv2.haveImageReader``); a file that passes it but
    is truncated raises :class:`InputError` when it is loaded.

    Parameters
    ----------
    folder : path-like
        The ``--images`` folder; its files with an image suffix are listed recursively.

    Returns
    -------
    ImageFolder
        The folder (absolute), its readable images and the files that are not, each sorted.

    Raises
    ------
    InputError
        When the folder does not exist or holds no readable image.
    """
    root = Path(folder).resolve()
    candidates = list_images(root)
    can_read = {path: cv2.haveImageReader(str(path)) for path in candidates}
    readable = tuple(path for path in candidates if can_read[path])
    unreadable = tuple(path for path in candidates if not can_read[path])
    if not readable:
        raise InputError(f"no readable images (JPEG, PNG, ...) in {folder}; point --images at a folder of photos")
    return ImageFolder(root=root, files=readable, unreadable=unreadable)


def image_shape(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) of an image file, read from its header (Pillow) without decoding the pixels.

    Formats Pillow does not know are decoded with OpenCV instead.

    Parameters
    ----------
    path : path-like
        An image file.

    Returns
    -------
    tuple of int
        (height, width), px.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
        return height, width
    except (UnidentifiedImageError, OSError):
        return read_image(path).shape[:2]


def refuse_small_images(files: Sequence[Path], side: int, *, root: Path, hint: str) -> None:
    """Raise :class:`InputError` listing the images whose shorter side is below ``side`` px.

    Parameters
    ----------
    files : sequence of Path
        Image files to check (headers only).
    side : int
        Smallest allowed shorter side, px.
    root : Path
        Folder the files are named relative to in the message.
    hint : str
        What the user can do instead, appended to the message.

    Raises
    ------
    InputError
        When any image is too small: the count and the first five, with their sizes.
    """
    small = [(path, image_shape(path)) for path in files]
    small = [(path, shape) for path, shape in small if min(shape) < side]
    if small:
        listed = ", ".join(
            f"{Path(os.path.relpath(path, root)).as_posix()} ({shape[1]}x{shape[0]})" for path, shape in small[:5]
        )
        more = f" and {len(small) - 5} more" if len(small) > 5 else ""
        raise InputError(
            f"{len(small)} of {len(files)} images are smaller than {side} px on their shorter side: "
            f"{listed}{more}; {hint}"
        )
