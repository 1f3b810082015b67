"""Evaluation images: resize, centre crop, gray/RGBA conversion, unreadable files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from maskbench.errors import InputError
from maskbench.images import center_crop, load_evaluation_image, resize_shorter_side, scan_images


def _float(image: np.ndarray) -> np.ndarray:
    return (image / 255.0).astype(np.float32)


def test_enlarging_uses_cubic_and_keeps_the_aspect_ratio() -> None:
    cat = _float(data.chelsea())  # 300 x 451
    resized = resize_shorter_side(cat)
    assert resized.shape == (512, 770, 3)
    expected = np.clip(cv2.resize(cat, (770, 512), interpolation=cv2.INTER_CUBIC), 0, 1)
    np.testing.assert_array_equal(resized, expected)


def test_shrinking_uses_area_averaging() -> None:
    rocket = _float(data.rocket())  # 427 x 640
    big = cv2.resize(rocket, (1280, 854), interpolation=cv2.INTER_NEAREST)
    resized = resize_shorter_side(big)
    assert resized.shape == (512, 767, 3)
    np.testing.assert_array_equal(resized, cv2.resize(big, (767, 512), interpolation=cv2.INTER_AREA))


def test_portrait_images_get_512_columns() -> None:
    portrait = np.zeros((900, 600, 3), np.float32)
    assert resize_shorter_side(portrait).shape == (768, 512, 3)


def test_center_crop_takes_the_middle() -> None:
    rows, cols = np.meshgrid(np.arange(520), np.arange(530), indexing="ij")
    image = np.stack([rows, cols, rows * 0], axis=-1).astype(np.float32)
    cropped = center_crop(image)
    assert cropped.shape == (512, 512, 3)
    assert cropped[0, 0, 0] == 4 and cropped[0, 0, 1] == 9
    with pytest.raises(InputError, match="cannot crop 512x512 from an image of 500x520"):
        center_crop(np.zeros((520, 500, 3), np.float32))


def test_gray_and_rgba_files_become_512_rgb_in_8_bit_steps(tmp_path) -> None:
    gray = data.camera()[:300, :400]
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    rgba = np.dstack([data.astronaut()[..., ::-1], np.full((512, 512), 128, np.uint8)])
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    from_gray = load_evaluation_image(tmp_path / "gray.png")
    from_rgba = load_evaluation_image(tmp_path / "rgba.png")
    assert from_gray.shape == from_rgba.shape == (512, 512, 3)
    assert from_gray.dtype == np.float32
    np.testing.assert_array_equal(from_gray[..., 0], from_gray[..., 2])
    np.testing.assert_array_equal(np.round(from_gray * 255) / 255, from_gray)
    np.testing.assert_array_equal(from_rgba, data.astronaut() / np.float32(255.0))


def test_scan_reports_unreadable_files_and_finds_nested_ones(tmp_path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "a" / "b" / "deep.jpg"), data.coffee())
    cv2.imwrite(str(tmp_path / "top.png"), data.coffee())
    (tmp_path / "broken.jpg").write_text("not an image")
    folder = scan_images(tmp_path)
    assert [folder.relative(path) for path in folder.files] == ["a/b/deep.jpg", "top.png"]
    assert [path.name for path in folder.unreadable] == ["broken.jpg"]


def test_a_folder_without_images_is_an_error(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="no readable images"):
        scan_images(tmp_path)
