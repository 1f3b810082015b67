"""Mask and image file I/O: polarity, binariness, atomic writes, colour order."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from maskbench.errors import InputError, OutputExistsError
from maskbench.files import (
    atomic_path,
    list_images,
    read_image,
    read_mask,
    refuse_existing,
    write_image,
    write_mask,
)


def test_mask_round_trip_keeps_polarity_and_bytes(tmp_path):
    hole = np.zeros((40, 60), dtype=bool)
    hole[10:20, 5:50] = True
    write_mask(tmp_path / "a.png", hole)
    write_mask(tmp_path / "b.png", hole)
    on_disk = cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED)
    assert on_disk.dtype == np.uint8 and on_disk.ndim == 2
    assert set(np.unique(on_disk)) == {0, 255}
    assert (on_disk[hole] == 255).all()
    np.testing.assert_array_equal(read_mask(tmp_path / "a.png"), hole)
    np.testing.assert_array_equal(read_mask(tmp_path / "a.png", invert=True), ~hole)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_non_binary_mask_is_refused_unless_thresholded(tmp_path):
    gray = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))
    cv2.imwrite(str(tmp_path / "soft.png"), gray)
    with pytest.raises(InputError, match=r"not a binary mask.*--threshold"):
        read_mask(tmp_path / "soft.png")
    hole = read_mask(tmp_path / "soft.png", threshold=127)
    np.testing.assert_array_equal(hole, gray > 127)


def test_unreadable_and_missing_files_raise_input_error(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot decode"):
        read_image(tmp_path / "broken.png")
    with pytest.raises(InputError, match="file not found"):
        read_mask(tmp_path / "missing.png")


def test_image_round_trip_is_rgb_float(tmp_path):
    photo = data.astronaut()[:64, :80]
    write_image(tmp_path / "p.png", photo.astype(np.float32) / 255)
    loaded = read_image(tmp_path / "p.png")
    assert loaded.dtype == np.float32 and loaded.shape == (64, 80, 3)
    np.testing.assert_array_equal(np.round(loaded * 255).astype(np.uint8), photo)
    assert loaded[..., 0].mean() != pytest.approx(loaded[..., 2].mean(), abs=1e-3)


def test_gray_and_rgba_images_become_rgb(tmp_path):
    gray = data.camera()[:32, :32]
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    rgba = np.dstack([data.coffee()[:32, :32, ::-1], np.full((32, 32), 255, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    loaded_gray = read_image(tmp_path / "g.png")
    assert loaded_gray.shape == (32, 32, 3)
    np.testing.assert_array_equal(loaded_gray[..., 0], loaded_gray[..., 2])
    np.testing.assert_allclose(read_image(tmp_path / "a.png") * 255, data.coffee()[:32, :32], atol=0.5)


def test_atomic_path_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temp:
        temp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_refuse_existing_names_the_flag(tmp_path):
    refuse_existing(tmp_path / "none", overwrite=False)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        refuse_existing(tmp_path, overwrite=False)
    refuse_existing(tmp_path, overwrite=True)


def test_list_images_is_sorted_and_recursive(tmp_path):
    for name in ("b.png", "a.jpg", "sub/c.png", "notes.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == ["a.jpg", "b.png", "sub/c.png"]
