"""Torch datasets for training: freshly augmented masks, random image crops, and their pairs.

Every item draws its random choices from :func:`maskbench.rng.item_rng` of ``(seed, epoch,
index, ...)``, so an item is the same whichever worker process loads it, in whatever order:
training with 0 or 8 data-loader workers sees the same batches, and a resumed run sees the
batches it would have seen.

* :class:`TrainingMasks` is a map-style dataset of integer indices for the usual idiom
  (``DataLoader(masks, shuffle=True)``, any sampler, ``set_epoch(epoch)`` each epoch as with
  ``DistributedSampler``); :meth:`TrainingMasks.mask` gives any (epoch, index) directly.
* :class:`TrainingPairs` (image crop + mask), used by ``maskbench train``, is addressed by
  keys ``(epoch, index)`` that :class:`EpochSampler` makes from a step number, so a resumed
  run continues mid-epoch.

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
from maskbench.images import refuse_small_images
from maskbench.rng import item_rng
from maskbench.store import MaskStore

Key = tuple[int, int]
#: Extra item key that separates the crop generator of an item from its mask generator.
_IMAGE_STREAM = 1
#: Draws per training mask before giving up on a store whose augmented masks are all empty or full.
MAX_MASK_DRAWS = 100


class TrainingMasks(Dataset):
    """Augmented training masks made on the fly from a mask store (Liu et al. 2018, section 4.1).

    Parameters
    ----------
    store : MaskStore or path-like
        Raw masks of any size.
    size : int
        Side of the output masks, px.
    seed : int
        Global seed.
    augment : AugmentConfig, optional
        Ranges of the random rotation, crop, flips and dilation; None: the shipped ranges
        (:meth:`AugmentConfig.load() <maskbench.augment.AugmentConfig>`, ``configs/testset.toml``).

    Raises
    ------
    InputError
        The store holds no masks.

    Notes
    -----
    ``dataset[index]`` is a (1, size, size) bool tensor, True = hole, made from
    ``item_rng(seed, epoch, index, draw)``: a raw mask ``store[rng.integers(len(store))]``
    (every item samples the whole store; ``len(dataset) == len(store)``, the natural epoch
    length), randomly augmented. A draw whose mask has no hole or no valid pixel (a crop
    beside the holes) is drawn again (``draw`` + 1), so no item is empty or full.

    :meth:`set_epoch` chooses the epoch, as ``DistributedSampler.set_epoch`` does: call it
    before iterating a ``DataLoader`` each epoch to get fresh masks that the seed reproduces.
    Workers receive the epoch when the loader's iterator starts (do not combine with
    ``persistent_workers=True``).

    Examples
    --------
    >>> masks = TrainingMasks("raw.store", size=256, seed=0)                      # doctest: +SKIP
    >>> loader = DataLoader(masks, batch_size=8, shuffle=True, num_workers=2)      # doctest: +SKIP
    >>> for epoch in range(10):                                                    # doctest: +SKIP
    ...     masks.set_epoch(epoch)
    ...     for hole in loader:  # (8, 1, 256, 256) bool, True = hole
    ...         valid_mask = (~hole).float()  # the paper's M
    """

    def __init__(
        self,
        store: MaskStore | str | os.PathLike,
        *,
        size: int = 512,
        seed: int = 0,
        augment: AugmentConfig | None = None,
    ) -> None:
        self.store = store if isinstance(store, MaskStore) else MaskStore.open(store)
        if len(self.store) == 0:
            raise InputError(
                f"mask store {self.store.path} is empty; add masks with 'maskbench extract' or 'maskbench generate'"
            )
        self.augment = augment if augment is not None else AugmentConfig.load()
        self.seed = seed
        self.size = size
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.store)

    def set_epoch(self, epoch: int) -> None:
        """Use the masks of ``epoch`` from now on (``dataset[i]`` is ``mask(epoch, i)``).

        Parameters
        ----------
        epoch : int
            Epoch number, ≥ 0; part of every item's seed.
        """
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.mask(self.epoch, int(index))

    def mask(self, epoch: int, index: int) -> torch.Tensor:
        """Training mask ``index`` of ``epoch``: (1, size, size) bool tensor, True = hole.

        Parameters
        ----------
        epoch : int
            Epoch number, ≥ 0.
        index : int
            Item number, 0 … ``len(self) − 1`` (any integer ≥ 0 works: the raw mask is drawn
            at random, not taken at ``index``).

        Returns
        -------
        torch.Tensor
            (1, size, size) bool, True = hole, with at least one hole and one valid pixel.

        Raises
        ------
        InputError
            When :data:`MAX_MASK_DRAWS` draws all gave an empty or full mask (the store's masks
            are empty or full).
        """
        for draw in range(MAX_MASK_DRAWS):
            rng = item_rng(self.seed, epoch, index, draw)
            raw = self.store[int(rng.integers(len(self.store)))]
            hole, _ = random_augment(raw, rng, self.augment, size=self.size)
            if hole.any() and not hole.all():
                return torch.from_numpy(np.ascontiguousarray(hole))[None]
        raise InputError(
            f"{MAX_MASK_DRAWS} augmented masks from {self.store.path} were all empty or all hole; "
            "check the store with 'maskbench inspect'"
        )


class TrainingImages(Dataset):
    """Random ``size``×``size`` crops of the images of a folder.

    Parameters
    ----------
    folder : path-like
        Searched recursively for image files (:func:`maskbench.files.list_images`).
    seed : int
        Global seed.
    size : int
        Crop side, px.
    upscale : bool
        False: images whose shorter side is below ``size`` raise :class:`InputError` (listing
        them). True: such an image is first resized up (bicubic, aspect kept) so that its
        shorter side is ``size``.

    Raises
    ------
    InputError
        No image files under ``folder``, or (without ``upscale``) images smaller than ``size``.

    Notes
    -----
    ``dataset[(epoch, index)]`` is image ``index`` (sorted by path), cropped at a position
    drawn from ``item_rng(seed, epoch, index, 1)``: a (3, size, size) float32 tensor in [0, 1].
    """

    def __init__(self, folder: str | os.PathLike, *, seed: int, size: int, upscale: bool = False) -> None:
        self.paths: list[Path] = list_images(folder)
        if not self.paths:
            raise InputError(f"no image files (.png, .jpg, ...) found under {folder}")
        if not upscale:
            hint = (
                "use larger images, a smaller --size, "
                "or set upscale_small_images = true in a --config file to enlarge them"
            )
            refuse_small_images(self.paths, size, root=Path(folder), hint=hint)
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
    """Resize an (H, W, 3) image up (bicubic, clipped to [0, 1]) so that min(H, W) ≥ ``side``; larger ones unchanged.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W, 3) float32 RGB in [0, 1].
    side : int
        Smallest allowed shorter side, px.

    Returns
    -------
    numpy.ndarray
        ``image`` itself when min(H, W) ≥ ``side``; else (H', W', 3) float32 in [0, 1],
        aspect ratio kept (each side rounded up), min(H', W') = ``side``.
    """
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

    Parameters
    ----------
    images : TrainingImages
        The image crops, S px square.
    masks : TrainingMasks
        The masks, of the same side S.

    Raises
    ------
    ValueError
        The crops and masks differ in size.
    """

    def __init__(self, images: TrainingImages, masks: TrainingMasks) -> None:
        if images.size != masks.size:
            raise ValueError(f"image crops of {images.size} px and masks of {masks.size} px do not match")
        self.images = images
        self.masks = masks

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: Key) -> dict[str, torch.Tensor]:
        return {"image": self.images[key], "valid_mask": (~self.masks.mask(*key)).float()}


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
            # why the type ignore: mypy sees ``permutation`` as possibly None; the first pass sets it
            yield epoch, int(permutation[place])  # type: ignore[index]
