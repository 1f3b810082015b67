"""Training datasets: seeded per item, independent of worker count and order."""

from __future__ import annotations

from pathlib import Path

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

AUGMENT = AugmentConfig(dilation_radius=(0, 2), rotation_degrees=(-180.0, 180.0), crop_scale=(0.5, 1.0), flip_horizontal=0.5, flip_vertical=0.5)


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
    first = masks[(0, 5)]
    assert first.shape == (1, 48, 48) and first.dtype == torch.bool and first.any() and not first.all()
    assert torch.equal(TrainingMasks(store, augment=AUGMENT, seed=3, size=48)[(0, 5)], first)
    others = [masks[(epoch, index)] for epoch, index in [(0, 6), (1, 5), (0, 7)]]
    assert not all(torch.equal(other, first) for other in others)
    assert not torch.equal(TrainingMasks(store, augment=AUGMENT, seed=4, size=48)[(0, 5)], first)


def test_image_crops_are_windows_of_the_image(data_folders) -> None:
    images_folder, _ = data_folders
    images = TrainingImages(images_folder, seed=0, size=64)
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
    assert small.shape == (3, 64, 64) and small.dtype == torch.float32 and 0 <= small.min() and small.max() <= 1


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
    pairs = TrainingPairs(TrainingImages(images, seed=0, size=32), TrainingMasks(store, augment=AUGMENT, seed=0, size=32))

    def batches(workers: int) -> list[dict[str, torch.Tensor]]:
        sampler = EpochSampler(len(pairs), seed=0, first=0, stop=6)
        return list(DataLoader(pairs, batch_size=2, sampler=sampler, num_workers=workers))

    serial, parallel = batches(0), batches(2)
    assert len(serial) == 3
    for one, other in zip(serial, parallel):
        assert torch.equal(one["image"], other["image"]) and torch.equal(one["valid_mask"], other["valid_mask"])
    item = pairs[(0, 1)]
    assert torch.equal(item["valid_mask"], (~pairs.masks[(0, 1)]).float())


def test_empty_inputs_are_explained(tmp_path: Path) -> None:
    (tmp_path / "none").mkdir()
    with pytest.raises(InputError, match=r"no image files .* found under"):
        TrainingImages(tmp_path / "none", seed=0, size=8)
    MaskStore.create(tmp_path / "empty.store")
    with pytest.raises(InputError, match=r"mask store .*empty\.store is empty"):
        TrainingMasks(tmp_path / "empty.store", augment=AUGMENT, seed=0, size=8)
