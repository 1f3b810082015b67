"""Torch datasets for training: freshly augmented masks, random image crops, and their pairs.

Every item is addressed by a key ``(epoch, index)`` and draws its random choices from
:func:`maskbench.rng.item_rng` of ``(seed, epoch, index)`` (masks) or ``(seed, epoch, index,
1)`` (image crops), so an item is the same whichever worker process loads it, in whatever
order: training with 0 or 8 data-loader workers sees the same batches, and a resumed run
sees the batches it would have seen. :class:`EpochSampler` turns a step number into keys.

As in section 4.1 of the paper, a training mask is a raw mask drawn at random from a mask
store, then randomly rotated, cropped, flipped and dilated by
:func:`maskbench.augment.random_augment` with the ranges of ``configs/testset.toml``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from maskbench.augment import AugmentConfig, random_augment
from maskbench.errors import InputError
from maskbench.files import list_images, read_image
from maskbench.rng import item_rng
from maskbench.store import MaskStore

Key = tuple[int, int]
#: Extra item key that separates the crop generator of an item from its mask generator.
_IMAGE_STREAM = 1


class TrainingMasks(Dataset):
    """Augmented training masks made on the fly from a mask store.

    Parameters
    ----------
    store : MaskStore or path-like
        Raw masks of any size.
    augment : AugmentConfig
        Ranges of the random rotation, crop, flips and dilation
        (:func:`maskbench.augment.load_augment_config`).
    seed : int
        Global seed.
    size : int
        Side of the output masks, px.

    Notes
    -----
    ``dataset[key]`` with ``key = (epoch, index)`` returns a (1, size, size) bool tensor,
    True = hole. The raw mask is ``store[rng.integers(len(store))]``: every item samples the
    whole store, so ``index`` is only a key and may exceed ``len(store)``; ``len(dataset)``
    is ``len(store)``, the natural epoch length.
    """

    def __init__(self, store: MaskStore | str | os.PathLike, *, augment: AugmentConfig, seed: int, size: int) -> None:
        self.store = store if isinstance(store, MaskStore) else MaskStore.open(store)
        if len(self.store) == 0:
            raise InputError(f"mask store {self.store.path} is empty; add masks with 'maskbench extract' or 'maskbench generate'")
        self.augment = augment
        self.seed = seed
        self.size = size

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, key: Key) -> torch.Tensor:
        epoch, index = key
        rng = item_rng(self.seed, epoch, index)
        raw = self.store[int(rng.integers(len(self.store)))]
        hole, _ = random_augment(raw, rng, self.augment, size=self.size)
        return torch.from_numpy(np.ascontiguousarray(hole))[None]


class TrainingImages(Dataset):
    """Random ``size``×``size`` crops of the images of a folder.

    Parameters
    ----------
    folder : path-like
        Searched recursively for image files (:func:`maskbench.files.list_images`).
    seed : int
        Global seed.
    size : int
        Crop side, px. An image whose shorter side is smaller is first resized up (bicubic,
        aspect kept) so that its shorter side is ``size``.

    Notes
    -----
    ``dataset[(epoch, index)]`` is image ``index`` (sorted by path), cropped at a position
    drawn from ``item_rng(seed, epoch, index, 1)``: a (3, size, size) float32 tensor in [0, 1].
    """

    def __init__(self, folder: str | os.PathLike, *, seed: int, size: int) -> None:
        self.paths: list[Path] = list_images(folder)
        if not self.paths:
            raise InputError(f"no image files (.png, .jpg, ...) found under {folder}")
        self.seed = seed
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: Key) -> torch.Tensor:
        epoch, index = key
        image = upscale_to_side(read_image(self.paths[index]), self.size)
        rng = item_rng(self.seed, epoch, index, _IMAGE_STREAM)
        top = int(rng.integers(image.shape[0] - self.size + 1))
        left = int(rng.integers(image.shape[1] - self.size + 1))
        crop = image[top : top + self.size, left : left + self.size]
        return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)


def upscale_to_side(image: np.ndarray, side: int) -> np.ndarray:
    """Resize an (H, W, 3) image up (bicubic, clipped to [0, 1]) so that min(H, W) ≥ ``side``; larger ones unchanged."""
    shorter = min(image.shape[:2])
    if shorter >= side:
        return image
    scale = side / shorter
    height, width = (max(side, math.ceil(n * scale)) for n in image.shape[:2])
    return np.clip(cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


class TrainingPairs(Dataset):
    """(image crop, augmented mask) pairs: item ``(epoch, index)`` of both datasets.

    ``dataset[key]`` is a dict with ``"image"`` (3, S, S) float32 in [0, 1] and
    ``"valid_mask"`` (1, S, S) float32, 1 = valid (the paper's ``M``). Its length is the
    number of images.
    """

    def __init__(self, images: TrainingImages, masks: TrainingMasks) -> None:
        if images.size != masks.size:
            raise ValueError(f"image crops of {images.size} px and masks of {masks.size} px do not match")
        self.images = images
        self.masks = masks

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: Key) -> dict[str, torch.Tensor]:
        return {"image": self.images[key], "valid_mask": (~self.masks[key]).float()}


class EpochSampler(Sampler[Key]):
    """Keys ``(epoch, index)`` of training items ``first, first + 1, ...`` (epochs of shuffled indices).

    Item ``n`` of the run (``n = step · batch_size + position``) is in epoch
    ``n // length``, at place ``n % length`` of that epoch's permutation, drawn from
    ``item_rng(seed, epoch)``. A run that resumes at step ``s`` passes
    ``first = s · batch_size`` and continues the exact sequence.

    Parameters
    ----------
    length : int
        Items per epoch (number of images).
    seed : int
        Global seed.
    first, stop : int
        Run-wide item numbers to yield, ``first`` ≤ n < ``stop``.
    """

    def __init__(self, length: int, *, seed: int, first: int, stop: int) -> None:
        self.length = length
        self.seed = seed
        self.first = first
        self.stop = stop

    def __len__(self) -> int:
        return max(0, self.stop - self.first)

    def __iter__(self) -> Iterator[Key]:
        permutation, permutation_epoch = None, -1
        for number in range(self.first, self.stop):
            epoch, place = divmod(number, self.length)
            if epoch != permutation_epoch:
                permutation, permutation_epoch = item_rng(self.seed, epoch).permutation(self.length), epoch
            yield epoch, int(permutation[place])  # type: ignore[index]
