"""The one definition of bins: ratio edges, the border rule and NVIDIA's numbering."""

from __future__ import annotations

import numpy as np
import pytest

from maskbench import bins
from maskbench.bins import (
    BIN_LABELS,
    border_class,
    border_distance_map,
    min_border_distance,
    ratio_bin,
    ratio_bin_of_count,
)
from maskbench.testset_config import TestsetConfig


def _hole_with(count: int, shape: tuple[int, int] = (10, 10)) -> np.ndarray:
    hole = np.zeros(shape, dtype=bool)
    hole.flat[:count] = True
    return hole


@pytest.mark.parametrize(
    ("hole_pixels", "expected"),
    [(1, None), (2, 0), (10, 0), (11, 1), (20, 1), (21, 2), (50, 4), (51, 5), (60, 5), (61, None), (0, None)],
)
def test_ratio_bins_are_left_open_right_closed(hole_pixels, expected):
    # on a 10x10 mask: 1 pixel = exactly 0.01 (rejected), 10 pixels = exactly 0.1 (bin 0)
    assert ratio_bin(_hole_with(hole_pixels)) == expected
    assert ratio_bin_of_count(hole_pixels, 100) == expected


def test_exact_edges_on_a_512_mask_use_exact_fractions():
    total = 512 * 512  # 0.1 * total is not an integer: the edge must be decided exactly
    assert ratio_bin_of_count(26214, total) == 0  # 0.099998... ≤ 0.1
    assert ratio_bin_of_count(26215, total) == 1  # 0.100002... > 0.1
    assert ratio_bin_of_count(2621, total) is None  # 0.009998 ≤ 0.01
    assert ratio_bin_of_count(2622, total) == 0
    assert BIN_LABELS[0] == "(0.01,0.1]" and BIN_LABELS[5] == "(0.5,0.6]"


def test_default_margin_is_50_px():
    assert TestsetConfig.load().border_margin == 50


@pytest.mark.parametrize(
    ("row", "col", "expected"),
    [
        (49, 256, "B"),
        (50, 256, "N"),
        (256, 49, "B"),
        (256, 50, "N"),
        (462, 256, "B"),
        (461, 256, "N"),
        (256, 461, "N"),
        (256, 462, "B"),
    ],
)
def test_border_rule_hole_pixel_at_49_makes_b_and_50_keeps_n(row, col, expected):
    hole = np.zeros((512, 512), dtype=bool)
    hole[200:300, 200:300] = True  # a central hole far from the edge
    hole[row, col] = True
    assert min_border_distance(hole) == min(row, col, 511 - row, 511 - col)
    assert border_class(hole, margin=50) == expected


def test_border_distance_map_matches_the_definition():
    distance = border_distance_map((7, 9))
    rows, cols = np.mgrid[0:7, 0:9]
    assert np.array_equal(distance, np.minimum.reduce([rows, cols, 6 - rows, 8 - cols]))


def test_nvidia_numbering_and_its_inverse():
    assert bins.testset_index(0, "N", 0, per_bin=1000) == 0
    assert bins.testset_index(0, "B", 0, per_bin=1000) == 1000
    assert bins.testset_index(5, "B", 999, per_bin=1000) == 11999
    assert bins.testset_index(2, "B", 1, per_bin=3) == 16  # 2·P·k + P·b + j
    for index in range(36):
        k, border, j = bins.testset_position(index, per_bin=3)
        assert bins.testset_index(k, border, j, per_bin=3) == index
    with pytest.raises(ValueError):
        bins.testset_position(36, per_bin=3)
