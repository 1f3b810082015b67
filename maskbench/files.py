"""File input and output: atomic writes, mask PNGs and RGB images.

The polarity of masks on disk is decided here and nowhere else: a mask PNG is 8-bit, single
channel, 255 = hole (NVIDIA's release draws holes white). In memory a mask is a bool array
``hole`` (True = missing). Images are float32 RGB in [0, 1]; OpenCV's BGR order never leaves
this module.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from maskbench.errors import InputError, OutputExistsError
from maskbench.interrupts import finish_before_interrupt

#: Pixel value of a hole in a mask file.
HOLE_VALUE: int = 255
#: File suffixes read as images or masks.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A reader never sees a half-written file: either the old file (or none) or the new one.
    The temporary file keeps the suffix of ``path`` so that writers that pick the format
    from the suffix (OpenCV, matplotlib) work. A Ctrl-C during the write is held until the
    file is in place (:func:`maskbench.interrupts.finish_before_interrupt`).

    Parameters
    ----------
    path : path-like
        The file to write; its folder is created if missing.

    Yields
    ------
    Path
        A new empty file ``.STEM.XXXX.tmpSUFFIX`` in the folder of ``path``, to write to; it
        is removed when the block raises.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with finish_before_interrupt():
        handle, temp_name = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
        )
        os.close(handle)
        temp = Path(temp_name)
        try:
            yield temp
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a UTF-8 text file atomically.

    Parameters
    ----------
    path : path-like
        The file; its folder is created if missing.
    text : str
        The whole content, written as it is (no newline added).
    """
    with atomic_path(path) as temp:
        temp.write_text(text, encoding="utf-8")


def refuse_existing(path: str | os.PathLike, *, overwrite: bool, what: str = "output") -> None:
    """Raise :class:`OutputExistsError` when ``path`` exists and ``overwrite`` is False.

    Parameters
    ----------
    path : path-like
        An output file or folder.
    overwrite : bool
        Whether an existing ``path`` may be replaced (``--overwrite``).
    what : str
        What ``path`` is, for the message (e.g. ``"mask store"``).

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.
    """
    if Path(path).exists() and not overwrite:
        raise OutputExistsError(f"{what} {path} already exists; pass --overwrite to replace it")


def _read_raw(path: Path, flags: int) -> np.ndarray:
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise InputError(f"cannot decode {path} as an image (corrupt or unsupported format)")
    return image


def read_mask(path: str | os.PathLike, *, invert: bool = False, threshold: int | None = None) -> np.ndarray:
    """Read a mask file as a ``hole`` array.

    Parameters
    ----------
    path : path-like
        8-bit PNG/JPEG/... image; colour images are converted to gray.
    invert : bool
        False: white (255) = hole, maskbench's and NVIDIA's test-set convention.
        True: black (0) = hole, as in NVIDIA's training masks (white = valid).
    threshold : int or None
        None: the file must be binary (only 0 and 255), else :class:`InputError`.
        An int t: pixels > t are white, the rest black (for lossy JPEG masks).

    Returns
    -------
    (H, W) bool ndarray
        True = hole.

    Raises
    ------
    InputError
        A missing or undecodable file, or (without ``threshold``) one that is not binary.
    """
    path = Path(path)
    gray = _read_raw(path, cv2.IMREAD_GRAYSCALE)
    if threshold is None:
        values = np.unique(gray)
        if not np.isin(values, (0, HOLE_VALUE)).all():
            raise InputError(
                f"{path} is not a binary mask (it has {values.size} gray levels, e.g. "
                f"{values[len(values) // 2]}); pass --threshold T to binarize it"
            )
        white = gray == HOLE_VALUE
    else:
        white = gray > threshold
    return ~white if invert else white


def mask_to_uint8(hole: np.ndarray) -> np.ndarray:
    """(H, W) bool hole array → (H, W) uint8 image with 255 = hole, 0 = valid.

    Parameters
    ----------
    hole : (H, W) bool ndarray
        True = hole.

    Returns
    -------
    (H, W) uint8 ndarray
        255 where ``hole``, 0 elsewhere.
    """
    return hole.astype(np.uint8) * np.uint8(HOLE_VALUE)


_PNG_MASK_SETTINGS = [
    cv2.IMWRITE_PNG_COMPRESSION, 1,
    cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
    cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE,
]  # fmt: skip  # a PNG flag and its value per line


def write_mask(path: str | os.PathLike, hole: np.ndarray) -> None:
    """Write a ``hole`` array as an 8-bit single-channel PNG (255 = hole), atomically.

    The PNG is written with fixed compression settings so that the same mask always gives
    the same bytes: no row filter and zlib run-length encoding at level 1, which for binary
    masks is about 6× faster to write than zlib's default and gives smaller files.

    Parameters
    ----------
    path : path-like
        The PNG file; its folder is created if missing.
    hole : (H, W) bool ndarray
        True = hole.

    Raises
    ------
    TypeError
        ``hole`` is not a 2-D bool array.
    InputError
        OpenCV cannot write the file.
    """
    if hole.dtype != np.bool_ or hole.ndim != 2:
        raise TypeError(f"expected a 2-D bool hole array, got {hole.dtype} {hole.shape}")
    with atomic_path(path) as temp:
        ok = cv2.imwrite(str(temp), mask_to_uint8(hole), _PNG_MASK_SETTINGS)
        if not ok:
            raise InputError(f"cannot write mask {path}")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as float32 RGB in [0, 1].

    Gray images are repeated into three channels, an alpha channel is dropped, 16-bit
    images are scaled by 1/65535.

    Parameters
    ----------
    path : path-like
        An 8- or 16-bit image file OpenCV can decode (PNG, JPEG, TIFF, ...).

    Returns
    -------
    (H, W, 3) float32 ndarray
        RGB in [0, 1].

    Raises
    ------
    InputError
        The file is missing or cannot be decoded.
    """
    raw = _read_raw(Path(path), cv2.IMREAD_UNCHANGED)
    scale = 65535.0 if raw.dtype == np.uint16 else 255.0
    if raw.ndim == 2:
        rgb = np.repeat(raw[:, :, None], 3, axis=2)
    elif raw.shape[2] == 4:
        rgb = cv2.cvtColor(raw, cv2.COLOR_BGRA2RGB)
    else:
        rgb = cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)
    return rgb.astype(np.float32) / np.float32(scale)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] → uint8 by rounding (values are clipped to [0, 1] first).

    Parameters
    ----------
    image : ndarray
        Float values of any shape, nominally in [0, 1].

    Returns
    -------
    ndarray
        uint8, same shape: ``round(255 · clip(image, 0, 1))``.
    """
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a float32 RGB image in [0, 1] (H×W×3) or a uint8 RGB image, atomically.

    Parameters
    ----------
    path : path-like
        The file; OpenCV picks the format from its suffix (``.png``, ``.jpg``, ...); its
        folder is created if missing.
    image : (H, W, 3) ndarray
        RGB, uint8, or float in [0, 1] (clipped, then rounded to uint8).

    Raises
    ------
    InputError
        OpenCV cannot write the file.
    """
    pixels = image if image.dtype == np.uint8 else to_uint8(image)
    with atomic_path(path) as temp:
        if not cv2.imwrite(str(temp), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)):
            raise InputError(f"cannot write image {path}")


def list_images(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` (by suffix), sorted by their relative path.

    Parameters
    ----------
    folder : path-like
        The folder to search.
    recursive : bool
        Search its subfolders too.

    Returns
    -------
    list of Path
        Files whose suffix (any case) is one of :data:`IMAGE_SUFFIXES`, sorted by their path
        relative to ``folder`` (``/`` separators).

    Raises
    ------
    InputError
        ``folder`` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    pattern = "**/*" if recursive else "*"
    return sorted(
        (p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
