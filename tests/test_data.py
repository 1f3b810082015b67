"""Training datasets: seeded per item, independent of worker count and order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skimage.data
import torch
from torch.utils.data import DataLoader

from maskbench.augment import AugmentConfig
from maskbench.data import EpochSampler, TrainingImages, TrainingMasks, TrainingPairs, upscale_to_side
from maskbench.errors import InputError
from maskbench.files import read_image, write_image
from maskbench.store import MaskStore

AUGMENT = AugmentConfig(
    dilation_radius=(0, 2),
    rotation_degrees=(-180.0, 180.0),
    crop_scale=(0.5, 1.0),
    frame_inset=0.04,
    flip_horizontal=0.5,
    flip_vertical=0.5,
)


@pytest.fixture(scope="module")
def data_folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("data")
    (root / "images").mkdir()
    write_image(root / "images" / "coffee.png", (skimage.data.coffee()[::4, ::4] / 255).astype(np.float32))  # 100×150
    write_image(root / "images" / "small.png", (skimage.data.chelsea()[::10, ::10] / 255).astype(np.float32))  # 30×46
    holes = []
    for offset in range(4):
        hole = np.zeros((80, 96), bool)
        hole[10 + offset * 5 : 40 + offset * 5, 20:60] = True
        holes.append(hole)
    MaskStore.create(root / "masks").append(holes, sources=["synthetic"] * 4, frames=list(range(4)))
    return root / "images", root / "masks"


def test_masks_depend_only_on_seed_epoch_and_index(data_folders) -> None:
    _, store = data_folders
    masks = TrainingMasks(store, augment=AUGMENT, seed=3, size=48)
    first = masks.mask(0, 5)
    assert first.shape == (1, 48, 48) and first.dtype == torch.bool and first.any() and not first.all()
    assert torch.equal(TrainingMasks(store, augment=AUGMENT, seed=3, size=48).mask(0, 5), first)
    others = [masks.mask(epoch, index) for epoch, index in [(0, 6), (1, 5), (0, 7)]]
    assert not all(torch.equal(other, first) for other in others)
    assert not torch.equal(TrainingMasks(store, augment=AUGMENT, seed=4, size=48).mask(0, 5), first)


def test_image_crops_are_windows_of_the_image(data_folders) -> None:
    images_folder, _ = data_folders
    with pytest.raises(
        InputError, match=r"1 of 2 images are smaller than 64 px on their shorter side: small\.png \(46x30\)"
    ):
        TrainingImages(images_folder, seed=0, size=64)
    images = TrainingImages(images_folder, seed=0, size=64, upscale=True)
    assert [path.name for path in images.paths] == ["coffee.png", "small.png"]
    source = read_image(images.paths[0])
    crop = images[(2, 0)].permute(1, 2, 0).numpy()
    matches = [
        (top, left)
        for top in range(source.shape[0] - 63)
        for left in range(source.shape[1] - 63)
        if np.array_equal(source[top : top + 64, left : left + 64], crop)
    ]
    assert len(matches) == 1
    small = images[(0, 1)]
    assert small.shape == (3, 64, 64) and small.dtype == torch.float32 and small.min() >= 0 and small.max() <= 1


def test_upscaling_keeps_the_aspect_and_reaches_the_side() -> None:
    image = np.random.default_rng(0).random((30, 46, 3), dtype=np.float32)
    assert upscale_to_side(image, 64).shape == (64, 99, 3)
    assert upscale_to_side(image, 20) is image


def test_sampler_shuffles_each_epoch_and_resumes_mid_sequence() -> None:
    keys = list(EpochSampler(5, seed=1, first=0, stop=15))
    for epoch in range(3):
        assert sorted(index for e, index in keys if e == epoch) == list(range(5))
    assert [index for _, index in keys[:5]] != [index for _, index in keys[5:10]]
    assert list(EpochSampler(5, seed=1, first=7, stop=15)) == keys[7:]


def test_batches_do_not_depend_on_the_number_of_workers(data_folders) -> None:
    images, store = data_folders
    pairs = TrainingPairs(
        TrainingImages(images, seed=0, size=30), TrainingMasks(store, augment=AUGMENT, seed=0, size=30)
    )

    def batches(workers: int) -> list[dict[str, torch.Tensor]]:
        sampler = EpochSampler(len(pairs), seed=0, first=0, stop=6)
        return list(DataLoader(pairs, batch_size=2, sampler=sampler, num_workers=workers))

    serial, parallel = batches(0), batches(2)
    assert len(serial) == 3
    for one, other in zip(serial, parallel, strict=True):
        assert torch.equal(one["image"], other["image"]) and torch.equal(one["valid_mask"], other["valid_mask"])
    item = pairs[(0, 1)]
    assert torch.equal(item["valid_mask"], (~pairs.masks.mask(0, 1)).float())


def test_empty_inputs_are_explained(tmp_path: Path) -> None:
    (tmp_path / "none").mkdir()
    with pytest.raises(InputError, match=r"no image files .* found under"):
        TrainingImages(tmp_path / "none", seed=0, size=8)
    MaskStore.create(tmp_path / "empty.store")
    with pytest.raises(InputError, match=r"mask store .*empty\.store is empty"):
        TrainingMasks(tmp_path / "empty.store", augment=AUGMENT, seed=0, size=8)


@pytest.fixture(scope="module")
def corner_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw masks whose only hole is a small corner block: most random crops miss it."""
    holes = []
    for offset in range(8):
        hole = np.zeros((200, 200), bool)
        hole[4 + offset : 64 + offset, 4:64] = True
        holes.append(hole)
    path = tmp_path_factory.mktemp("corner") / "corner.store"
    MaskStore.create(path).append(holes, sources=["synthetic"] * 8, frames=list(range(8)))
    return path


def test_the_dataloader_idiom_gives_no_empty_mask_and_set_epoch_is_reproducible(corner_store: Path) -> None:
    from maskbench.augment import random_augment
    from maskbench.rng import item_rng

    augment = AugmentConfig(
        dilation_radius=(0, 0),
        rotation_degrees=(0.0, 0.0),
        crop_scale=(0.3, 0.5),
        frame_inset=0.0,
        flip_horizontal=0.0,
        flip_vertical=0.0,
    )
    masks = TrainingMasks(corner_store, size=32, seed=0, augment=augment)
    first_draws = [
        random_augment(masks.store[int(rng.integers(8))], rng, augment, size=32)[0]
        for rng in (item_rng(0, 0, index, 0) for index in range(8))
    ]
    assert sum(not hole.any() for hole in first_draws) >= 2  # the store is hard: plain crops are often empty

    def epoch_batches(dataset: TrainingMasks, epoch: int, workers: int) -> torch.Tensor:
        dataset.set_epoch(epoch)
        generator = torch.Generator().manual_seed(epoch)
        loader = DataLoader(dataset, batch_size=4, shuffle=True, num_workers=workers, generator=generator)
        return torch.cat(list(loader))

    epoch0 = epoch_batches(masks, 0, workers=0)
    assert epoch0.shape == (8, 1, 32, 32) and epoch0.dtype == torch.bool
    assert all(hole.any() and not hole.all() for hole in epoch0)
    epoch1 = epoch_batches(masks, 1, workers=2)
    assert not torch.equal(epoch0, epoch1)
    again = TrainingMasks(corner_store, size=32, seed=0, augment=augment)
    assert torch.equal(epoch_batches(again, 1, workers=0), epoch1)  # the seed reproduces an epoch, any workers
    assert torch.equal(again[3], again.mask(1, 3))


def test_a_distributed_sampler_splits_the_masks(corner_store: Path) -> None:
    from torch.utils.data.distributed import DistributedSampler

    masks = TrainingMasks(corner_store, size=16)
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(masks, num_replicas=2, rank=rank, shuffle=True, seed=0)
        sampler.set_epoch(1)
        masks.set_epoch(1)
        seen.extend(sampler)
        assert torch.cat(list(DataLoader(masks, batch_size=2, sampler=sampler))).shape == (4, 1, 16, 16)
    assert sorted(seen) == list(range(8))


def test_the_documented_training_loop_runs(corner_store: Path) -> None:
    guide = (Path(__file__).resolve().parents[1] / "docs" / "train.md").read_text("utf-8")
    blocks = [block.split("```")[0] for block in guide.split("```python\n")[1:]]
    example = next(block for block in blocks if "TrainingMasks(" in block and "set_epoch" in block)
    assert len(example.strip().splitlines()) <= 8
    namespace: dict[str, Any] = {}
    exec(example.replace('"raw.store"', repr(str(corner_store))), namespace)
    hole, valid_mask = namespace["hole"], namespace["valid_mask"]
    assert hole.dtype == torch.bool and hole.shape[1:] == (1, 256, 256)
    assert torch.equal(valid_mask, (~hole).float())
    assert all(one.any() and not one.all() for one in hole)
