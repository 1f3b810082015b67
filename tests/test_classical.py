"""OpenCV's Telea and Navier–Stokes fills: exact valid pixels, smooth gradients, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from maskbench.errors import InputError
from maskbench.models.classical import inpaint_ns, inpaint_telea

FILLS = [inpaint_telea, inpaint_ns]


def square_hole(size: int, start: int, stop: int) -> np.ndarray:
    hole = np.zeros((size, size), dtype=bool)
    hole[start:stop, start:stop] = True
    return hole


@pytest.mark.parametrize("fill", FILLS)
def test_valid_pixels_exact_despite_uint8_round_trip(fill) -> None:
    # values off the 1/255 grid: a uint8 round trip of the whole image would change them
    image = (data.chelsea()[:64, :64].astype(np.float32) + 0.37) / 256.0
    hole = square_hole(64, 20, 40)
    garbage = np.where(hole[..., None], np.float32(1.0), image).astype(np.float32)
    result = fill(garbage, hole)
    assert result.dtype == np.float32 and result.shape == image.shape
    np.testing.assert_array_equal(result[~hole], image[~hole])
    # the hole takes the 8-bit fill: every value is on the 1/255 grid
    np.testing.assert_allclose(result[hole] * 255.0, np.rint(result[hole] * 255.0), atol=1e-3)


@pytest.mark.parametrize("fill", FILLS)
def test_fills_smooth_gradient_nearly_exactly(fill) -> None:
    yy, xx = np.mgrid[:64, :64].astype(np.float32)
    image = np.stack([xx / 63, yy / 63, (xx + yy) / 126], axis=-1).astype(np.float32)
    hole = square_hole(64, 10, 18)  # off centre: a constant fill is far off
    result = fill(np.where(hole[..., None], np.float32(0.0), image).astype(np.float32), hole)
    error = np.abs(result - image)[hole]
    mean_fill = np.abs(image[~hole].mean(axis=0) - image)[hole]
    assert error.mean() < 0.02 and error.max() < 0.05
    assert error.mean() < 0.1 * mean_fill.mean()


@pytest.mark.parametrize("fill", FILLS)
def test_no_hole_returns_copy(fill) -> None:
    image = data.coffee()[:16, :16].astype(np.float32) / 255.0
    result = fill(image, np.zeros((16, 16), dtype=bool))
    np.testing.assert_array_equal(result, image)
    assert result is not image


@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize(
    ("image", "hole", "options", "message"),
    [
        (
            np.zeros((8, 8, 3), np.uint8),
            np.zeros((8, 8), bool),
            {},
            "expected a float32 RGB image of shape (H, W, 3), got uint8 (8, 8, 3)",
        ),
        (
            np.zeros((8, 8, 3), np.float32),
            np.zeros((8, 8)),
            {},
            "expected a bool hole of shape (8, 8) (True = missing), got float64 (8, 8)",
        ),
        (
            np.full((8, 8, 3), np.nan, np.float32),
            np.zeros((8, 8), bool),
            {},
            "expected image values in [0, 1], got values in [nan, nan]",
        ),
        (
            np.zeros((8, 8, 3), np.float32),
            np.ones((8, 8), bool),
            {},
            "the hole covers the whole image; there is nothing to fill it from",
        ),
        (
            np.zeros((8, 8, 3), np.float32),
            square_hole(8, 2, 4),
            {"radius": 0},
            "expected an integer radius >= 1 px, got 0",
        ),
    ],
)
def test_bad_input_raises_input_error(fill, image, hole, options, message) -> None:
    with pytest.raises(InputError) as caught:
        fill(image, hole, **options)
    assert str(caught.value) == message
