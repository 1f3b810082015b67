"""Masks that look like NVIDIA's: band cuts, the reference comparison, straight edges, reuse."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd
import pytest

from maskbench.bins import BIN_LABELS, is_band_cut, longest_run
from maskbench.fidelity import (
    FIDELITY_STATISTICS,
    bins_within,
    compare_with_reference,
    nvidia_reference,
    source_reuse,
)
from maskbench.files import read_mask, write_mask
from maskbench.inspection import InspectConfig, inspect_path
from maskbench.manifest import read_manifest
from maskbench.shapes import shape_stats
from maskbench.store import MaskStore
from maskbench.testset import build_testset
from maskbench.testset_config import TestsetConfig


def test_longest_run():
    assert longest_run(np.array([0, 1, 1, 0, 1, 1, 1, 0], bool)) == 3
    assert longest_run(np.zeros(5, bool)) == 0 and longest_run(np.ones(5, bool)) == 5


def test_band_cut_definition_on_hand_built_masks():
    hole = np.zeros((512, 512), bool)
    hole[50:200, 100:132] = True  # 32 px straight run on row 50
    assert is_band_cut(hole, margin=50)
    hole[50, 100] = False  # now 31 px on row 50
    assert not is_band_cut(hole, margin=50)
    column = np.zeros((512, 512), bool)
    column[300:340, 400:462] = True  # reaches column 461 = 512 - 51 with a 40 px run
    assert is_band_cut(column, margin=50)
    disk = np.zeros((512, 512), bool)
    cv2.circle(disk.view(np.uint8), (256, 256), 205, 1, -1)  # a round hole tangent to the 50 px lines
    assert disk.any() and not is_band_cut(disk, margin=50)
    assert not is_band_cut(np.zeros((512, 512), bool), margin=50)


def _independent_stats(hole: np.ndarray) -> tuple[int, float, float]:
    """Components, perimeter/area and half-width, computed here from their definitions."""
    count, _ = cv2.connectedComponents(hole.astype(np.uint8), connectivity=8)
    edges = cv2.Canny(hole.astype(np.uint8) * 255, 100, 200)
    inside = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return count - 1, np.count_nonzero(edges) / hole.sum(), float(inside[hole].mean())


def _squares(count: int, side: int) -> np.ndarray:
    """``count`` separate squares of ``side`` px in the interior of a 512×512 mask."""
    hole = np.zeros((512, 512), bool)
    for k in range(count):
        top, left = 60 + (k // 6) * (side + 8), 60 + (k % 6) * (side + 8)
        hole[top : top + side, left : left + side] = True
    return hole


def test_inspect_fidelity_table_equals_an_independent_computation(tmp_path):
    # a numbered folder of P = 1 mask per bin: index 2k = N masks (interior squares), 2k+1 = B
    masks = tmp_path / "masks"
    masks.mkdir()
    expected = {}
    for k, (count, side) in enumerate(((6, 60), (6, 90), (2, 190), (4, 160), (4, 180), (4, 195))):
        n_mask = _squares(count, side)
        b_mask = n_mask.copy()
        b_mask[:, :3] = True  # touch the left edge
        for index, hole in ((2 * k, n_mask), (2 * k + 1, b_mask)):
            write_mask(masks / f"{index:05d}.png", hole)
            expected[(BIN_LABELS[k], "NB"[index % 2])] = _independent_stats(hole)
    report = inspect_path(masks, tmp_path / "out", config=InspectConfig.load(workers=1))
    comparison = report.comparison.set_index(["bin", "class"])
    reference = nvidia_reference().set_index(["bin", "class"])
    within = 0
    for key, (components, perimeter, half_width) in expected.items():
        ours = dict(zip(FIDELITY_STATISTICS, (components, perimeter, half_width), strict=True))
        ratios = []
        for statistic, value in ours.items():
            assert comparison.at[key, statistic] == pytest.approx(value)
            ratio = value / reference.at[key, statistic]
            assert comparison.at[key, f"{statistic}_ratio"] == pytest.approx(ratio)
            ratios.append(ratio)
        within += all(1 / 1.5 <= ratio <= 1.5 for ratio in ratios)
    assert bins_within(report.comparison) == within
    assert f"{within} of 12 bins within ×1.5" in report.text()
    assert (tmp_path / "out" / "fidelity.png").stat().st_size > 0
    assert f"{within} of 12 bins" in (tmp_path / "out" / "fidelity.md").read_text()


def test_compare_marks_missing_bins_as_not_within():
    table = nvidia_reference().drop(columns=["ratio"]).copy()
    table.loc[0, "components"] = math.nan
    comparison = compare_with_reference(table)
    assert bins_within(comparison) == 11 and not comparison.loc[0, "within"]


def test_source_reuse_counts_each_source_once_per_mask():
    reuse = source_reuse(["1;2;2", "2;3", "4"])
    assert (reuse.source, reuse.masks, reuse.total, reuse.distinct) == ("2", 2, 3, 4)
    assert reuse.share == pytest.approx(2 / 3)


def _frame_touching_source(rng: np.random.Generator) -> np.ndarray:
    """A 300×400 raw mask as real footage gives them.

    A band along part of the frame (a camera pan), round holes cut by the frame (objects
    leaving it), and round holes inside.
    """
    hole = np.zeros((300, 400), np.uint8)
    side = int(rng.integers(0, 4))
    width = int(rng.integers(3, 9))
    band = [
        (slice(0, width), slice(None)),
        (slice(-width, None), slice(None)),
        (slice(None), slice(0, width)),
        (slice(None), slice(-width, None)),
    ]
    hole[band[side]] = 1
    for _ in range(2):  # cut by the frame
        centre = (int(rng.choice([0, 399])), int(rng.integers(0, 300)))
        cv2.circle(hole, centre, int(rng.integers(15, 40)), 1, -1)
    for _ in range(int(rng.integers(1, 4))):  # inside
        centre = (int(rng.integers(60, 340)), int(rng.integers(60, 240)))
        cv2.circle(hole, centre, int(rng.integers(6, 30)), 1, -1)
    return hole.astype(bool)


def longest_straight_edge(hole: np.ndarray, *, lines: tuple[int, ...] = (), tolerance: float = 1.5) -> float:
    """Length (px) of the longest straight piece of the hole outlines, at any angle.

    Leaves out the outline pixels on the image edge and on the rows and columns ``lines`` (a
    band cut): the longest edge of the outline pieces between them, simplified within
    ``tolerance`` px (Douglas–Peucker).
    """
    contours, _ = cv2.findContours(hole.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    left_out = np.array([0, hole.shape[0] - 1, *lines])
    longest = 0.0
    for contour in contours:
        points = contour[:, 0, :]
        inner = ~np.isin(points, left_out).any(axis=1)
        if inner.all():  # a closed outline: start it anywhere
            pieces = [np.vstack([points, points[:1]])]
        else:  # open pieces between the pixels on the image edge
            start = int(np.argmin(inner))  # an edge pixel: no piece wraps around it
            rolled, rolled_inner = np.roll(points, -start, axis=0), np.roll(inner, -start)
            bounds = np.flatnonzero(np.diff(np.concatenate(([0], rolled_inner.view(np.int8), [0]))))
            pieces = [rolled[begin:end] for begin, end in zip(bounds[::2], bounds[1::2], strict=True)]
        for piece in pieces:
            if len(piece) < 2:
                continue
            polygon = cv2.approxPolyDP(piece.reshape(-1, 1, 2), tolerance, closed=False)[:, 0, :].astype(float)
            steps = np.hypot(*np.diff(polygon, axis=0).T)
            longest = max(longest, float(steps.max(initial=0.0)))
    return longest


#: Longest straight piece a curved outline may show: a circular arc of radius R deviates from
#: its chord c by c²/(8R), so within 1.5 px the chord is at most √(12·R). Our sources' round
#: holes (radius ≤ 40 px) reach a curvature radius of about 460 px at most in a split mask:
#: natural N parts are scaled up to ~4× and stretched up to 1.5× along one axis (which
#: multiplies the largest curvature radius by 1.5² at most), then dilated by ≤ 96 px. That
#: gives 74 px; a frame edge, a band along it or a rotation's corner that leaked into a
#: window runs across a good part of the 512 px mask.
STRAIGHT_EDGE_BOUND = 80.0


@pytest.fixture(scope="module")
def frame_split(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("frame")
    store = MaskStore.create(folder / "raw.store")
    rng = np.random.default_rng(4)
    holes = [_frame_touching_source(rng) for _ in range(60)]
    store.append(holes, sources=[f"s{k}" for k in range(60)], frames=list(range(60)))
    build_testset(folder / "raw.store", folder / "split", config=TestsetConfig.load(per_bin=3, seed=2, workers=1))
    return folder / "split"


def test_split_masks_show_no_straight_frame_edges(frame_split):
    for row in read_manifest(frame_split):
        hole = read_mask(frame_split / row.file)
        # the clear-band strategy's band cut is the one, reported, exception
        band = (50, 511 - 50) if row.strategy == "clear-band" else ()
        assert longest_straight_edge(hole, lines=band) <= STRAIGHT_EDGE_BOUND, row.file


def test_manifest_cut_edges_agrees_with_the_definition(frame_split):
    rows = [row.csv_fields() for row in read_manifest(frame_split)]
    for row in rows:
        assert (row["cut_edges"] == "1") == is_band_cut(read_mask(frame_split / row["file"]), margin=50)
    shares = (
        pd.DataFrame(rows)
        .assign(cut=lambda frame: frame["cut_edges"] == "1")
        .groupby(["ratio_bin", "border"])["cut"]
        .mean()
    )
    assert all(shares[(str(k), "N")] <= 0.34 for k in range(5))  # natural outlines below 0.5


def test_shape_stats_report_band_cut():
    hole = np.zeros((512, 512), bool)
    hole[50:300, 50:300] = True
    assert shape_stats(hole, margin=50).band_cut and not shape_stats(hole, margin=40).band_cut


def test_inspect_band_cut_shares_equal_the_definition(tmp_path):
    # P = 2 masks per bin: in every ratio bin k, N masks 2k·2 and 2k·2+1; cut k of them by the band
    masks = tmp_path / "masks"
    masks.mkdir()
    expected = {}
    for k, side in enumerate((100, 150, 200, 250, 300, 330)):
        cut = np.zeros((512, 512), bool)
        cut[50 : 50 + side, 50 : 50 + side] = True  # starts on the 50 px lines: band-cut
        inside = np.zeros((512, 512), bool)
        inside[60 : 60 + side, 60 : 60 + side] = True
        border = np.zeros((512, 512), bool)
        border[0:side, 0:side] = True  # a B mask crossing row 50 with a long run
        for position, hole in enumerate((cut, inside)):
            write_mask(masks / f"{4 * k + position:05d}.png", hole)
        for position in range(2):
            write_mask(masks / f"{4 * k + 2 + position:05d}.png", border)
        expected[(BIN_LABELS[k], "N")] = np.mean([is_band_cut(cut, margin=50), is_band_cut(inside, margin=50)])
        expected[(BIN_LABELS[k], "B")] = float(is_band_cut(border, margin=50))
    table = inspect_path(masks, tmp_path / "out", config=InspectConfig.load(workers=1)).table.set_index(
        ["bin", "class"]
    )
    assert {key: table.at[key, "band_cut"] for key in expected} == pytest.approx(expected)
    assert all(expected[(label, "N")] == 0.5 for label in BIN_LABELS)
