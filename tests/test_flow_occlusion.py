"""Occlusion tests of the `flow` package on hand-made flows whose answer is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import flow
from flow.occlusions import _occlusion, binary_median, motion_boundary
from flow.warp import splat_weights

HEIGHT, WIDTH = 24, 32


def constant(dx: float, dy: float) -> np.ndarray:
    """(H, W, 2) flow equal to (dx, dy) everywhere."""
    field = np.empty((HEIGHT, WIDTH, 2), dtype=np.float32)
    field[..., 0] = dx
    field[..., 1] = dy
    return field


def leaving_frame(dx: int, dy: int) -> np.ndarray:
    """Pixels whose target x + (dx, dy) lies outside the frame (dx, dy ≥ 0)."""
    leaving = np.zeros((HEIGHT, WIDTH), dtype=bool)
    if dx:
        leaving[:, WIDTH - dx :] = True
    if dy:
        leaving[HEIGHT - dy :, :] = True
    return leaving


@pytest.mark.parametrize("method", flow.OCCLUSION_METHODS)
def test_zero_motion_occludes_nothing(method: str) -> None:
    still = constant(0.0, 0.0)
    assert not flow.occlusion(still, still, method=method).any()


# The 3 × 3 median rounds the inner corner of an L-shaped strip: a straight strip for those.
TRANSLATIONS = [(method, (3, 0)) for method in flow.OCCLUSION_METHODS] + [
    (method, (2, 1)) for method in flow.OCCLUSION_METHODS if not method.endswith("+median")
]


@pytest.mark.parametrize(("method", "shift"), TRANSLATIONS)
def test_consistent_translation_occludes_exactly_the_pixels_that_leave(method: str, shift: tuple[int, int]) -> None:
    dx, dy = shift
    occluded = flow.occlusion(constant(dx, dy), constant(-dx, -dy), method=method)
    np.testing.assert_array_equal(occluded, leaving_frame(dx, dy))


def test_disocclusion_is_the_reversed_pair() -> None:
    disoccluded = flow.occlusion(constant(-2.0, -1.0), constant(2.0, 1.0), method="fb")
    expected = np.zeros((HEIGHT, WIDTH), dtype=bool)
    expected[:, :2] = True
    expected[:1, :] = True
    np.testing.assert_array_equal(disoccluded, expected)


def test_inconsistent_flows_are_occluded() -> None:
    assert flow.occlusion(constant(0.0, 0.0), constant(3.0, 0.0), method="fb").all()


@pytest.mark.parametrize(
    ("mismatch", "occluded"),
    [
        # w = 20, ŵ = −20 + d: occluded iff d² ≥ 0.01 (20² + (20 − d)²) + 0.5, i.e. d ≥ 2.735
        (2.0, False),  # 4 < 7.74 (the unsquared test, d ≥ 0.01 (|w| + |ŵ|) + 0.5 = 0.88, would say occluded)
        (2.7, False),  # 7.29 < 7.49
        (2.8, True),  # 7.84 ≥ 7.46
        (4.0, True),
    ],
)
def test_forward_backward_test_uses_squared_norms(mismatch: float, occluded: bool) -> None:
    result = flow.occlusion(constant(20.0, 0.0), constant(-20.0 + mismatch, 0.0), method="fb")
    inside = ~leaving_frame(20, 0)
    assert result[inside].all() == occluded
    assert result[inside].any() == occluded


def test_absolute_threshold_of_the_forward_backward_test() -> None:
    # w = 0, ŵ = a: occluded iff a² ≥ 0.01 a² + 0.5, i.e. |a| ≥ 0.7107
    assert not flow.occlusion(constant(0.0, 0.0), constant(0.71, 0.0), method="fb").any()
    assert flow.occlusion(constant(0.0, 0.0), constant(0.0, 0.72), method="fb").all()


def test_motion_boundary_marks_a_step_in_the_flow() -> None:
    step = constant(0.0, 0.0)
    step[:, 16:, 0] = 1.0  # |∇u|² = 0.25 next to the step, > 0.01 + 0.002
    boundary = motion_boundary(torch.from_numpy(step).permute(2, 0, 1).unsqueeze(0))[0].numpy()
    expected = np.zeros((HEIGHT, WIDTH), dtype=bool)
    expected[:, 15:17] = True
    np.testing.assert_array_equal(boundary, expected)


def test_fb_with_motion_adds_motion_boundaries() -> None:
    forward = constant(0.0, 0.0)
    forward[:, 16:28, 0] = 0.5  # a band moving right; the backward flow undoes it within the FB test
    backward = -forward
    assert not flow.occlusion(forward, backward, method="fb").any()
    expected = np.zeros((HEIGHT, WIDTH), dtype=bool)
    expected[:, [15, 16, 27, 28]] = True  # |∇u|² = 0.0625 there, > 0.01 |w|² + 0.002
    np.testing.assert_array_equal(flow.occlusion(forward, backward, method="fb+motion"), expected)


def test_splatting_conserves_weight_and_drops_what_leaves() -> None:
    shift = torch.from_numpy(constant(0.5, 0.25)).permute(2, 0, 1).unsqueeze(0)
    received = splat_weights(shift)[0]
    # Every pixel's weight lands inside except the last column's and row's share.
    lost = HEIGHT * 0.5 + WIDTH * 0.25 - 0.5 * 0.25
    assert received.sum().item() == pytest.approx(HEIGHT * WIDTH - lost, abs=1e-3)
    assert received[0, 0].item() == pytest.approx(0.5 * 0.75)
    assert received[5, 5].item() == pytest.approx(1.0)


def test_range_map_of_a_fold_marks_the_covered_pixels() -> None:
    # Frame t+1's right half comes from columns shifted by 4: pixels 12..15 of frame t get nothing.
    backward = constant(0.0, 0.0)
    backward[:, 12:, 0] = 4.0
    occluded = flow.occlusion(-backward, backward, method="range")
    expected = np.zeros((HEIGHT, WIDTH), dtype=bool)
    expected[:, 12:16] = True
    np.testing.assert_array_equal(occluded, expected)


def test_median_variant_removes_speckle_and_fills_gaps() -> None:
    # A 6-px-wide strip of frame t is covered (range map), plus one stray splat hole at (3, 3)
    # and a one-pixel bridge across the strip at row 10.
    backward = constant(0.0, 0.0)
    backward[:, 12:, 0] = 6.0
    backward[10, 11, 0] = 5.0  # this pixel of frame t+1 lands on (10, 16): a bridge
    backward[3, 3, 0] = 1.0  # this pixel leaves (3, 3) empty: speckle
    raw = flow.occlusion(-backward, backward, method="range")
    assert raw[3, 3] and not raw[10, 16]
    cleaned = flow.occlusion(-backward, backward, method="range+median")
    expected = np.zeros((HEIGHT, WIDTH), dtype=bool)
    expected[:, 12:18] = True
    np.testing.assert_array_equal(cleaned, expected)


def test_batch_matches_single_pairs() -> None:
    rng = np.random.default_rng(3)
    forward = rng.normal(0, 2, (2, 2, HEIGHT, WIDTH)).astype(np.float32)
    backward = rng.normal(0, 2, (2, 2, HEIGHT, WIDTH)).astype(np.float32)
    for method in flow.OCCLUSION_METHODS:
        batch = flow.occlusion_batch(torch.from_numpy(forward), torch.from_numpy(backward), method=method)
        for index in range(2):
            pair = forward[index].transpose(1, 2, 0), backward[index].transpose(1, 2, 0)
            single = flow.occlusion(*pair, method=method)
            np.testing.assert_array_equal(batch[index].numpy(), single)


def test_occlusion_rejects_bad_input() -> None:
    expected = r"forward and backward must have the same shape, got \(24, 32, 2\) and \(24, 30, 2\)"
    with pytest.raises(ValueError, match=expected):
        flow.occlusion(constant(0, 0), constant(0, 0)[:, :30])
    with pytest.raises(ValueError, match=r"forward must have shape \(H, W, 2\)"):
        flow.occlusion(constant(0, 0)[..., :1], constant(0, 0))
    with pytest.raises(ValueError, match="unknown occlusion method 'median'"):
        flow.occlusion(constant(0, 0), constant(0, 0), method="median")
    with pytest.raises(TypeError, match=r"forward must be a torch.Tensor"):
        flow.occlusion_batch(constant(0, 0), constant(0, 0))


def test_splatting_equals_a_pixel_by_pixel_loop() -> None:
    """The vectorised splat against a plain loop over pixels and corners, on random flows.

    The flows put points far outside the frame, within one pixel of every edge and on
    integer positions.
    """
    rng = np.random.default_rng(3)
    flows = rng.normal(0.0, 6.0, (2, 2, 9, 11)).astype(np.float32)
    flows[0, :, 0, :] = np.round(flows[0, :, 0, :])  # exact integer targets
    flows[1, 0, 2, :] = -np.arange(11) - 0.5  # half a pixel left of the frame
    received = np.zeros((2, 9, 11))
    for b, y, x in np.ndindex(2, 9, 11):
        target_x, target_y = x + flows[b, 0, y, x], y + flows[b, 1, y, x]
        left, top = int(np.floor(target_x)), int(np.floor(target_y))
        for col, row in ((left, top), (left + 1, top), (left, top + 1), (left + 1, top + 1)):
            if 0 <= col < 11 and 0 <= row < 9:
                received[b, row, col] += (1 - abs(target_x - col)) * (1 - abs(target_y - row))
    np.testing.assert_allclose(splat_weights(torch.from_numpy(flows)).numpy(), received, atol=1e-5)


def test_pair_by_pair_cpu_batches_equal_one_pass() -> None:
    """A CPU batch taken pair by pair gives the masks of one pass over the whole batch.

    On the CPU a batch is taken pair by pair (for the caches); the masks must be those of
    one pass, in order.
    """
    rng = np.random.default_rng(8)
    forward = torch.from_numpy(rng.normal(0.0, 1.0, (3, 2, 20, 24)).astype(np.float32))
    backward = torch.from_numpy(rng.normal(0.0, 1.0, (3, 2, 20, 24)).astype(np.float32))
    for method in flow.OCCLUSION_METHODS:
        one_pass = _occlusion(forward, backward, method, flow.occlusions.DEFAULT_RANGE_THRESHOLD)
        assert torch.equal(flow.occlusion_batch(forward, backward, method=method), one_pass), method
        assert one_pass.any() and (method == "fb+motion" or not one_pass.all()), method  # random flows: not trivial


def test_binary_median_is_a_majority_of_nine() -> None:
    mask = torch.from_numpy(np.random.default_rng(2).random((2, 9, 13)) < 0.5)
    padded = torch.nn.functional.pad(mask.float().unsqueeze(1), (1, 1, 1, 1), mode="replicate")[:, 0]
    counts = padded.unfold(1, 3, 1).unfold(2, 3, 1).sum(dim=(-1, -2))
    assert torch.equal(binary_median(mask), counts >= 5)
