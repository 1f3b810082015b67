"""Augmenter: deterministic primitives with known results, and the seeded random composition."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest
from skimage import data

from maskbench.augment import AugmentConfig, largest_inside_side, random_augment, random_window
from maskbench.errors import ConfigError
from maskbench.rng import item_rng
from maskbench.transforms import crop_resize, dilate, erode, rotate, rotate_window, rotated_shape, signed_distance

IDENTITY = AugmentConfig(
    dilation_radius=(0, 0),
    rotation_degrees=(0.0, 0.0),
    crop_scale=(1.0, 1.0),
    frame_inset=0.0,
    flip_horizontal=0.0,
    flip_vertical=0.0,
)


@pytest.fixture(scope="module")
def photo_hole() -> np.ndarray:
    """A 512×512 mask with natural outlines: the dark parts of the camera man photo."""
    return data.camera() < 60


def test_no_rotation_no_dilation_full_crop_is_the_identity(photo_hole):
    hole, parameters = random_augment(photo_hole, item_rng(0, 1), IDENTITY, size=512)
    assert np.array_equal(hole, photo_hole)
    assert parameters["angle"] == 0.0 and parameters["dilation_radius"] == 0.0
    assert (parameters["crop_top"], parameters["crop_left"], parameters["crop_side"]) == (0.0, 0.0, 512.0)
    assert np.array_equal(rotate(photo_hole, 0.0), photo_hole)
    assert np.array_equal(crop_resize(photo_hole, 0, 0, 512, size=512), photo_hole)


@pytest.mark.parametrize(
    ("angle", "top", "left", "side"),
    [(0.0, 10, 20, 300), (90.0, 0, 50, 200), (33.0, 40, 90, 350), (-141.0, 100, 7, 256)],
)
def test_rotate_window_is_the_window_of_the_whole_rotation(photo_hole, angle, top, left, side):
    wide = photo_hole[:400, :]
    whole = rotate(wide, angle)[top : top + side, left : left + side]
    window = rotate_window(wide, angle, top, left, side)
    assert window.shape == (side, side)
    differ = np.count_nonzero(window != whole)
    assert differ == 0 if angle % 90 == 0 else differ <= side * side // 10_000  # halfway ties only
    with pytest.raises(ValueError, match="does not fit"):
        rotate_window(wide, angle, top, left, 2000)


def test_rotation_by_right_angles_is_exact(photo_hole):
    wide = photo_hole[:300, :]
    assert np.array_equal(rotate(wide, 90), np.rot90(wide))
    assert np.array_equal(rotate(wide, 180), np.rot90(wide, 2))
    assert np.array_equal(rotate(wide, -90), np.rot90(wide, -1))


@pytest.mark.parametrize("angle", [17.0, 45.0, 133.0, -71.5])
def test_rotation_keeps_every_corner(angle):
    height, width = 301, 200
    hole = np.zeros((height, width), dtype=bool)
    for top, left in ((0, 0), (0, width - 6), (height - 6, 0), (height - 6, width - 6)):
        hole[top : top + 6, left : left + 6] = True  # a 6x6 block in each corner
    rotated = rotate(hole, angle)
    assert rotated.shape == rotated_shape((height, width), angle)
    count, _ = cv2.connectedComponents(rotated.astype(np.uint8), connectivity=8)
    assert count - 1 == 4  # no corner block was cut off
    assert abs(int(rotated.sum()) - 4 * 36) <= 4 * 8  # nearest neighbour moves a few pixels, no more
    full = rotate(np.ones((height, width), dtype=bool), angle)
    assert abs(int(full.sum()) - height * width) < 0.01 * height * width  # area kept: nothing lost


def test_dilation_never_shrinks_and_matches_the_disk_formula(photo_hole):
    for radius in (0, 0.5, 1, 2.5, 7):
        dilated = dilate(photo_hole, radius)
        assert not (photo_hole & ~dilated).any()
        assert dilated.sum() >= photo_hole.sum()
    point = np.zeros((41, 41), dtype=bool)
    point[20, 20] = True
    offsets = np.arange(-20, 21)
    for radius in (1, 3, 5.5, 10):
        disk = (offsets[:, None] ** 2 + offsets[None, :] ** 2) <= radius**2
        assert np.array_equal(dilate(point, radius), disk)
    assert np.array_equal(dilate(photo_hole, 0), photo_hole)


def test_erosion_and_signed_distance_agree_with_dilation(photo_hole):
    distance = signed_distance(photo_hole)
    assert np.array_equal(distance <= 3, dilate(photo_hole, 3))
    assert np.array_equal(distance < -2, erode(photo_hole, 2))
    assert not (erode(photo_hole, 2) & ~photo_hole).any()
    assert (distance[photo_hole] <= -1).all() and (distance[~photo_hole] >= 1).all()


def test_random_augment_is_seeded_and_within_the_ranges(photo_hole):
    config = AugmentConfig.load()
    first, params = random_augment(photo_hole[:400, :], item_rng(3, 7), config, size=256)
    again, params_again = random_augment(photo_hole[:400, :], item_rng(3, 7), config, size=256)
    other, _ = random_augment(photo_hole[:400, :], item_rng(3, 8), config, size=256)
    assert first.shape == (256, 256) and first.dtype == np.bool_
    assert np.array_equal(first, again) and params == params_again
    assert not np.array_equal(first, other)
    assert config.rotation_degrees[0] <= params["angle"] <= config.rotation_degrees[1]
    assert config.crop_scale[0] <= params["crop_scale"] <= config.crop_scale[1]
    assert config.dilation_radius[0] <= params["dilation_radius"] <= config.dilation_radius[1]
    inset = config.frame_inset * 400
    assert params["crop_side"] == min(
        round(params["crop_scale"] * 400), largest_inside_side((400, 512), params["angle"], inset)
    )


def test_windows_never_show_the_source_frame():
    # a frame-edge band (as a camera pan leaves) and the rotation's empty corners are both
    # straight edges: no window may contain any of the band or reach past the frame
    band = np.zeros((300, 420), bool)
    band[:10], band[-10:], band[:, :10], band[:, -10:] = True, True, True, True
    config = AugmentConfig.load()
    for seed in range(60):
        window, params = random_window(band, item_rng(11, seed), config, size=128)
        assert not window.any(), params
        assert params["crop_side"] <= largest_inside_side(band.shape, params["angle"], config.frame_inset * 300)


def test_largest_inside_side_is_the_whole_mask_when_upright():
    assert largest_inside_side((300, 420), 0.0, 0.0) == 300
    assert largest_inside_side((300, 420), 90.0, 0.0) == 300
    assert largest_inside_side((300, 420), 45.0, 0.0) == math.floor(298 / math.sqrt(2)) + 1


def test_flip_parameters_are_applied(photo_hole):
    flip_lr = dataclasses.replace(IDENTITY, flip_horizontal=1.0)
    hole, params = random_augment(photo_hole, item_rng(0), flip_lr)
    assert params["flip_horizontal"] == 1.0 and np.array_equal(hole, photo_hole[:, ::-1])


def test_augment_config_errors_name_the_key(tmp_path):
    user = tmp_path / "bad.toml"
    user.write_text("dilation_radus = [0, 3]\n")
    with pytest.raises(ConfigError, match=r"unknown key 'dilation_radus'.*did you mean 'dilation_radius'"):
        AugmentConfig.load(user)
    with pytest.raises(ConfigError, match="crop_scale must be"):
        AugmentConfig.load(crop_scale=(0.5, 1.5))
