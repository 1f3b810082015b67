"""PatchMatch completion: texture recovery, exact valid pixels, determinism, borders, big holes."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from maskbench.errors import InputError
from maskbench.models.patchmatch import inpaint_patchmatch

PERIOD = 16


def tiled_photo(size: int) -> np.ndarray:
    """A real-photo tile (astronaut's suit and badge) repeated with period ``PERIOD`` px, float32 RGB."""
    tile = data.astronaut()[350 : 350 + PERIOD, 180 : 180 + PERIOD].astype(np.float32) / 255.0
    reps = -(-size // PERIOD)
    return np.ascontiguousarray(np.tile(tile, (reps, reps, 1))[:size, :size])


def grating(size: int) -> np.ndarray:
    """A diagonal sinusoidal colour grating of period ``PERIOD`` px along x and y, float32 in [0, 1]."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    phase = 2 * np.pi * (xx + yy) / PERIOD
    channels = [0.5 + 0.4 * np.sin(phase + shift) for shift in (0.0, 2.0, 4.0)]
    return np.stack(channels, axis=-1).astype(np.float32)


def blob_hole(size: int, ratio: float, seed: int) -> np.ndarray:
    """Random discs until ``ratio`` of the image is hole."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    hole = np.zeros((size, size), dtype=bool)
    while hole.mean() < ratio:
        cy, cx, radius = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(size / 16, size / 6)
        hole |= (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
    return hole


def hole_error(truth: np.ndarray, result: np.ndarray, hole: np.ndarray) -> float:
    return float(np.abs(result - truth)[hole].mean())


def mean_fill_error(truth: np.ndarray, hole: np.ndarray) -> float:
    """Error of filling the hole with the mean colour of the known pixels."""
    fill = np.broadcast_to(truth[~hole].mean(axis=0), truth.shape)
    return hole_error(truth, fill, hole)


def with_garbage(image: np.ndarray, hole: np.ndarray, seed: int = 1) -> np.ndarray:
    """``image`` with random values inside the hole (the inpainter must not read them)."""
    garbage = np.random.default_rng(seed).random(image.shape, dtype=np.float32)
    return np.where(hole[..., None], garbage, image).astype(np.float32)


@pytest.mark.parametrize("texture", [tiled_photo, grating], ids=["tiled-photo", "grating"])
def test_reproduces_periodic_texture_in_central_hole(texture) -> None:
    truth = texture(96)
    hole = np.zeros((96, 96), dtype=bool)
    hole[36:62, 30:58] = True
    result = inpaint_patchmatch(with_garbage(truth, hole), hole)
    error = hole_error(truth, result, hole)
    assert error < 0.005
    assert error < 0.05 * mean_fill_error(truth, hole)


def test_never_changes_valid_pixels_and_ignores_hole_values() -> None:
    truth = tiled_photo(80)
    hole = blob_hole(80, 0.25, seed=3)
    first = inpaint_patchmatch(with_garbage(truth, hole, seed=1), hole)
    second = inpaint_patchmatch(with_garbage(truth, hole, seed=2), hole)
    assert first.dtype == np.float32 and first.shape == truth.shape
    np.testing.assert_array_equal(first[~hole], truth[~hole])
    np.testing.assert_array_equal(first, second)
    assert first.min() >= 0.0 and first.max() <= 1.0


def test_same_seed_gives_identical_bytes_and_seed_matters() -> None:
    image = data.astronaut()[100:196, 150:246].astype(np.float32) / 255.0
    hole = blob_hole(96, 0.3, seed=5)
    first = inpaint_patchmatch(image, hole, seed=7)
    again = inpaint_patchmatch(image.copy(), hole.copy(), seed=7)
    other = inpaint_patchmatch(image, hole, seed=8)
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != other.tobytes()


@pytest.mark.parametrize("side", ["top", "left-bottom corner"])
def test_hole_touching_the_border(side: str) -> None:
    truth = tiled_photo(96)
    hole = np.zeros((96, 96), dtype=bool)
    if side == "top":
        hole[:20, 30:60] = True
    else:
        hole[70:, :24] = True
    result = inpaint_patchmatch(with_garbage(truth, hole), hole)
    np.testing.assert_array_equal(result[~hole], truth[~hole])
    error = hole_error(truth, result, hole)
    assert error < 0.005
    assert error < 0.05 * mean_fill_error(truth, hole)


def test_sixty_percent_hole() -> None:
    truth = tiled_photo(128)
    hole = blob_hole(128, 0.6, seed=11)
    assert 0.6 <= hole.mean() < 0.7
    result = inpaint_patchmatch(with_garbage(truth, hole), hole)
    np.testing.assert_array_equal(result[~hole], truth[~hole])
    assert np.isfinite(result).all()
    assert hole_error(truth, result, hole) < 0.25 * mean_fill_error(truth, hole)


def test_without_hole_returns_the_image() -> None:
    image = grating(32)
    result = inpaint_patchmatch(image, np.zeros((32, 32), dtype=bool))
    np.testing.assert_array_equal(result, image)
    assert result is not image


@pytest.mark.parametrize(
    ("image", "hole", "options", "message"),
    [
        (
            np.zeros((32, 32, 3)),
            np.zeros((32, 32), bool),
            {},
            "expected a float32 RGB image of shape (H, W, 3), got float64 (32, 32, 3)",
        ),
        (
            np.zeros((32, 32), np.float32),
            np.zeros((32, 32), bool),
            {},
            "expected a float32 RGB image of shape (H, W, 3), got float32 (32, 32)",
        ),
        (
            np.zeros((32, 32, 3), np.float32),
            np.zeros((32, 31), bool),
            {},
            "expected a bool hole of shape (32, 32) (True = missing), got bool (32, 31)",
        ),
        (
            np.zeros((32, 32, 3), np.float32),
            np.zeros((32, 32), np.uint8),
            {},
            "expected a bool hole of shape (32, 32) (True = missing), got uint8 (32, 32)",
        ),
        (
            np.full((32, 32, 3), 255, np.float32),
            np.ones((32, 32), bool),
            {},
            "expected image values in [0, 1], got values in [255, 255]",
        ),
        (
            np.zeros((32, 32, 3), np.float32),
            np.ones((32, 32), bool),
            {"patch_size": 6},
            "expected an odd integer patch_size >= 3, got 6",
        ),
        (
            np.zeros((32, 32, 3), np.float32),
            np.ones((32, 32), bool),
            {"seed": -1},
            "expected a non-negative integer seed, got -1",
        ),
        (
            np.zeros((32, 32, 3), np.float32),
            np.ones((32, 32), bool),
            {"em_iterations": 0},
            "expected an integer em_iterations >= 1, got 0",
        ),
        (
            np.zeros((32, 32, 3), np.float32),
            np.ones((32, 32), bool),
            {"vote_quantile": 0.0},
            "expected vote_quantile in (0, 1], got 0.0",
        ),
        (
            np.zeros((32, 32, 3), np.float32),
            np.ones((32, 32), bool),
            {},
            "the hole leaves no fully known 7x7 patch to copy from; use a smaller hole or patch_size",
        ),
    ],
)
def test_bad_input_raises_input_error(image, hole, options, message) -> None:
    with pytest.raises(InputError) as caught:
        inpaint_patchmatch(image, hole, **options)
    assert str(caught.value) == message


def test_odd_non_square_image_and_non_contiguous_inputs() -> None:
    truth = tiled_photo(128)[:75, :101]  # odd sides: the pyramid pads and crops back
    hole = np.zeros((101, 75), dtype=bool).T  # a transposed (non-contiguous) view
    hole[30:50, 40:70] = True
    result = inpaint_patchmatch(with_garbage(truth, hole), hole)
    assert result.shape == (75, 101, 3)
    np.testing.assert_array_equal(result[~hole], truth[~hole])
    assert hole_error(truth, result, hole) < 0.005
