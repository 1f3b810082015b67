"""Pairing test masks with images for scoring (Liu et al. 2018, section 4.1).

The selected masks (all, or the first ``limit_per_bin`` of each bin and class, in file order)
are numbered q = 0, 1, … in file order. Pair q takes image ``perm_c[q mod n]`` with
c = q div n, n the number of readable images and ``perm_c = item_rng(seed, c).permutation(n)``:
a seeded permutation, without replacement. More masks than images is an error unless
``reuse_images`` (then c > 0 draws a fresh permutation). A pair's id is its mask's number,
e.g. ``"00042"``. ``--shard K/N`` takes the pairs with q ≡ K − 1 (mod N).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maskbench.bins import testset_position
from maskbench.errors import InputError
from maskbench.images import ImageFolder
from maskbench.rng import item_rng
from maskbench.splits import TestMask, TestSet


@dataclass(frozen=True)
class Pair:
    """One (mask, image) pair of the evaluation.

    Attributes
    ----------
    pair_id : str
        The mask's number, zero-padded (``"00042"``); names the pair's files.
    position : int
        q, the pair's rank among the selected masks (drives pairing and sharding).
    mask : TestMask
        The mask and its bin.
    image : Path
        The image file (absolute).
    image_name : str
        The image relative to the images folder.
    """

    pair_id: str
    position: int
    mask: TestMask
    image: Path
    image_name: str


def select_masks(testset: TestSet, *, limit_per_bin: int) -> list[TestMask]:
    """All masks, or the first ``limit_per_bin`` of each (bin, class); in file order.

    Parameters
    ----------
    testset : TestSet
        The split (:func:`maskbench.splits.read_testset`).
    limit_per_bin : int
        Masks kept per (ratio bin, border class); 0, or ``testset.per_bin`` or more: all.

    Returns
    -------
    list of TestMask
        The selected masks in file order: the first ``limit_per_bin`` of each of the 12 cells.
    """
    if limit_per_bin <= 0 or limit_per_bin >= testset.per_bin:
        return list(testset.masks)
    return [mask for mask in testset.masks if testset_position(mask.index, per_bin=testset.per_bin)[2] < limit_per_bin]


def make_pairs(masks: Sequence[TestMask], images: ImageFolder, *, seed: int, reuse_images: bool) -> list[Pair]:
    """Assign images to masks by a seeded permutation (see the module docstring).

    Parameters
    ----------
    masks : sequence of TestMask
        The selected masks (:func:`select_masks`), in file order; their rank is the position q.
    images : ImageFolder
        The readable images (:func:`maskbench.images.scan_images`), in sorted order.
    seed : int
        Seed of the permutations (0 or more): the same seed and inputs give the same pairs.
    reuse_images : bool
        Allow more masks than images: the masks beyond each multiple of the image count take a
        fresh permutation.

    Returns
    -------
    list of Pair
        One pair per mask, in the order of ``masks`` (position 0, 1, …); a pair's id is its
        mask's number.

    Raises
    ------
    InputError
        Fewer images than masks and ``reuse_images`` is False.
    """
    count = len(images.files)
    if count < len(masks) and not reuse_images:
        raise InputError(
            f"{len(masks)} masks need {len(masks)} images but {images.root} has {count} readable "
            f"({len(masks) - count} missing); add images, use --limit-per-bin, or pass --reuse-images"
        )
    permutations: dict[int, np.ndarray] = {}
    pairs = []
    for position, mask in enumerate(masks):
        cycle, offset = divmod(position, count)
        if cycle not in permutations:
            permutations[cycle] = item_rng(seed, cycle).permutation(count)
        image = images.files[int(permutations[cycle][offset])]
        pairs.append(Pair(f"{mask.index:05d}", position, mask, image, images.relative(image)))
    return pairs


def pair_position(_number: int, pair: Pair) -> int:
    """The position q of a pair, by which :meth:`maskbench.parallel.Shard.select` shards pairs.

    ``shard.select(pairs, position=pair_position)`` keeps the pairs with q ≡ K − 1 (mod N), so
    every bin is in every shard.

    Parameters
    ----------
    _number : int
        The pair's index in the list being sharded (unused: the pair knows its position).
    pair : Pair
        A pair of :func:`make_pairs`.

    Returns
    -------
    int
        ``pair.position``, 0 or more.
    """
    return pair.position


def sample_pair_ids(pairs: Sequence[Pair], *, per_bin: int) -> set[str]:
    """The first ``per_bin`` pairs of each (bin, class): those shown in ``samples.png``.

    Parameters
    ----------
    pairs : sequence of Pair
        All pairs of the split, in order of position (every shard's, so that all shards agree).
    per_bin : int
        Pairs taken per (ratio bin, border class), 0 or more.

    Returns
    -------
    set of str
        The chosen pairs' ids.
    """
    taken: dict[tuple[int, str], int] = {}
    chosen = set()
    for pair in pairs:
        key = (pair.mask.ratio_bin, pair.mask.border)
        if taken.get(key, 0) < per_bin:
            taken[key] = taken.get(key, 0) + 1
            chosen.add(pair.pair_id)
    return chosen


def _digest(items: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(item.encode("utf-8") + b"\n")
    return digest.hexdigest()


def pairing_key(pairs: Sequence[Pair], testset: TestSet, *, seed: int) -> dict[str, Any]:
    """What makes two runs' pairs the same: a hash of (pair id, bin, class, image name) and the seed.

    Parameters
    ----------
    pairs : sequence of Pair
        All pairs of the split (every shard's), in order of position.
    testset : TestSet
        The split they come from.
    seed : int
        The seed that paired them.

    Returns
    -------
    dict
        ``seed``, ``testset_kind``, ``testset_per_bin``, ``testset_invert``, ``pairs`` (count) and
        ``pairs_sha256`` (hex SHA-256 of one ``"id,bin,class,image"`` line per pair): what
        ``run.json`` records under ``pairing``.
    """
    return {
        "seed": seed,
        "testset_kind": testset.kind,
        "testset_per_bin": testset.per_bin,
        "testset_invert": testset.invert,
        "pairs": len(pairs),
        "pairs_sha256": _digest(f"{p.pair_id},{p.mask.ratio_bin},{p.mask.border},{p.image_name}" for p in pairs),
    }
