"""Holes bit-packed, 1 bit a pixel: the mask store's format and a compact list of holes.

A hole (H, W) bool array is packed in row-major order, 8 pixels a byte (``numpy.packbits``);
the store writes these bytes, and :class:`PackedHoles` keeps many holes in memory at an
eighth of their size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pack_hole(hole: np.ndarray) -> np.ndarray:
    """A hole's pixels bit-packed in row-major order, the store's format (8 pixels a byte).

    Parameters
    ----------
    hole : (H, W) bool ndarray
        True = missing pixel.

    Returns
    -------
    (ceil(H·W / 8),) uint8 ndarray
    """
    return np.packbits(hole.ravel())


def unpack_hole(packed: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The inverse of :func:`pack_hole`.

    Parameters
    ----------
    packed : (ceil(H·W / 8),) uint8 ndarray
        Bits of :func:`pack_hole`.
    shape : (int, int)
        (H, W) of the hole.

    Returns
    -------
    (H, W) bool ndarray
    """
    height, width = (int(side) for side in shape)
    return np.unpackbits(packed, count=height * width).reshape(height, width).view(bool)


class PackedHoles(Sequence[np.ndarray]):
    """Holes kept bit-packed (:func:`pack_hole`, 1 bit a pixel) to save memory; indexing unpacks one.

    A sequence of (H, W) bool holes of any sizes, for :meth:`MaskStore.append`.
    """

    def __init__(self) -> None:
        self._packed: list[tuple[np.ndarray, tuple[int, int]]] = []

    def add(self, hole: np.ndarray) -> None:
        """Pack and keep a hole.

        Parameters
        ----------
        hole : (H, W) bool ndarray
            True = hole.
        """
        self._packed.append((pack_hole(hole), hole.shape))

    def hole_pixels(self) -> list[tuple[int, int]]:
        """(hole pixels, all pixels) of every hole, in order.

        Returns
        -------
        list of (int, int)
        """
        return [(int(np.count_nonzero(unpack_hole(bits, shape))), shape[0] * shape[1]) for bits, shape in self._packed]

    def __len__(self) -> int:
        return len(self._packed)

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]  # ints only; Sequence's takes slices
        """The hole at ``index`` as an (H, W) bool ndarray."""
        return unpack_hole(*self._packed[index])
