"""Metrics: ℓ1, PSNR and SSIM against independent implementations; IS and FID on constructed data."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.linalg
import torch
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from maskbench import ssim_maps
from maskbench.compositing import composite
from maskbench.errors import InputError
from maskbench.metrics import (
    frechet_distance,
    inception_score,
    inception_score_of_logits,
    pair_statistics,
    ssim_map_valid,
)

SSIM_SETTINGS = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1)


def _photo(name: str) -> np.ndarray:
    return (getattr(data, name)()[:256, :320] / 255.0).astype(np.float32)


def _distortions(image: np.ndarray) -> list[np.ndarray]:
    """Realistic degradations: noise, blur, JPEG, and a smooth fill of a hole (an inpainting)."""
    rng = np.random.default_rng(0)
    noisy = np.clip(image + rng.normal(0, 0.04, image.shape), 0, 1).astype(np.float32)
    blurred = cv2.GaussianBlur(image, (7, 7), 2.0)
    _, encoded = cv2.imencode(".jpg", np.round(image * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 30])
    jpeg = (cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED) / 255.0).astype(np.float32)
    hole = np.zeros(image.shape[:2], bool)
    hole[60:180, 90:250] = True
    filled = cv2.inpaint(np.round(image * 255).astype(np.uint8), hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    inpainted = np.where(hole[..., None], filled / 255.0, image).astype(np.float32)
    return [noisy, blurred, jpeg, inpainted]


def _tensor(*images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


CASES = [(name, index) for name in ("astronaut", "chelsea") for index in range(4)]


@pytest.mark.parametrize(("name", "index"), CASES)
def test_metrics_equal_independent_implementations(name: str, index: int) -> None:
    truth = _photo(name)
    output = _distortions(truth)[index]
    statistics = pair_statistics(_tensor(output), _tensor(truth))
    expected_l1 = 100.0 * np.mean(np.abs(output.astype(np.float64) - truth.astype(np.float64)))
    assert statistics.l1[0] == pytest.approx(expected_l1, abs=1e-6)
    psnr = peak_signal_noise_ratio(truth.astype(np.float64), output.astype(np.float64), data_range=1)
    assert abs(statistics.psnr[0] - psnr) < 1e-4
    ssim = structural_similarity(truth.astype(np.float64), output.astype(np.float64), **SSIM_SETTINGS)
    assert abs(statistics.ssim[0] - ssim) < 1e-7


def test_a_batch_gives_each_image_its_own_values() -> None:
    truths = [_photo(name) for name in ("astronaut", "coffee", "chelsea")]
    outputs = [_distortions(truth)[k] for k, truth in enumerate(truths)]
    batch = pair_statistics(_tensor(*outputs), _tensor(*truths))
    for k in range(3):
        single = pair_statistics(_tensor(outputs[k]), _tensor(truths[k]))
        np.testing.assert_allclose(batch.ssim[k], single.ssim[0], atol=1e-9)
        np.testing.assert_allclose(batch.l1[k], single.l1[0], atol=1e-12)
    assert len({round(value, 6) for value in batch.ssim}) == 3


def test_ssim_map_equals_scikit_images_map_inside_the_border() -> None:
    truth = _photo("coffee")
    output = _distortions(truth)[1]
    _, expected = structural_similarity(truth.astype(np.float64), output.astype(np.float64), full=True, **SSIM_SETTINGS)
    ssim = ssim_map_valid(_tensor(output), _tensor(truth))[0].permute(1, 2, 0).numpy()
    assert ssim.shape == (256 - 10, 320 - 10, 3)
    np.testing.assert_allclose(ssim, expected[5:-5, 5:-5], rtol=0, atol=1e-6)
    assert abs(ssim.mean(dtype=np.float64) - expected[5:-5, 5:-5].mean()) < 1e-8


@pytest.mark.parametrize("rows", [48, 7, 512])
def test_chunks_of_planes_and_strips_of_rows_give_the_values_of_one_whole_plane(monkeypatch, rows: int) -> None:
    """The GPU's chunking (several planes per step, a shorter last chunk) and the CPU's strips."""
    truths = [_photo(name) for name in ("astronaut", "coffee", "chelsea")]
    outputs = [_distortions(truth)[k] for k, truth in enumerate(truths)]
    monkeypatch.setitem(ssim_maps.PLANES_PER_CHUNK, "cpu", 1)
    monkeypatch.setattr(ssim_maps, "ROWS_PER_STRIP_CPU", 512)
    whole = pair_statistics(_tensor(*outputs), _tensor(*truths))
    monkeypatch.setitem(ssim_maps.PLANES_PER_CHUNK, "cpu", 4)  # 9 planes: chunks of 4, 4 and 1
    monkeypatch.setattr(ssim_maps, "ROWS_PER_STRIP_CPU", rows)  # 7: strips inside the 5-px border
    pieces = pair_statistics(_tensor(*outputs), _tensor(*truths))
    np.testing.assert_allclose(pieces.ssim, whole.ssim, rtol=0, atol=1e-12)
    np.testing.assert_allclose(pieces.ssim_paper, whole.ssim_paper, rtol=0, atol=1e-12)
    np.testing.assert_allclose(pieces.psnr, whole.psnr, rtol=0, atol=1e-9)
    np.testing.assert_allclose(pieces.l1, whole.l1, rtol=0, atol=1e-12)


def test_the_torch_thread_count_is_restored() -> None:
    """The CPU path runs its plane-by-plane steps with one thread and then restores the count."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        pair_statistics(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_identical_images_give_ssim_one_and_infinite_psnr() -> None:
    truth = _tensor(_photo("rocket"))
    statistics = pair_statistics(truth, truth.clone())
    assert statistics.l1[0] == 0.0
    assert statistics.psnr[0] == np.inf
    assert statistics.ssim[0] == pytest.approx(1.0, abs=1e-6)


def test_composite_keeps_valid_pixels_exactly() -> None:
    rng = np.random.default_rng(1)
    truth = torch.from_numpy(rng.random((2, 3, 40, 50), dtype=np.float32))
    output = torch.from_numpy(rng.random((2, 3, 40, 50), dtype=np.float32))
    hole = torch.from_numpy(rng.random((2, 1, 40, 50)) < 0.3)
    result = composite(output, truth, hole)
    valid = (~hole).expand_as(truth)
    assert torch.equal(result[valid], truth[valid])
    assert torch.equal(result[~valid], output[~valid])


def test_mismatched_shapes_are_refused_with_both_shapes() -> None:
    with pytest.raises(InputError, match=r"output has shape \(1, 3, 32, 32\) but target has \(1, 3, 32, 33\)"):
        pair_statistics(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 33))
    with pytest.raises(InputError, match="smaller than SSIM's 11-px window"):
        pair_statistics(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_inception_score_of_uniform_predictions_is_one() -> None:
    probabilities = np.full((50, 1008), 1 / 1008)
    mean, std = inception_score(probabilities)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("classes", [1, 2, 5, 7])
def test_inception_score_of_equally_used_one_hot_classes_is_their_number(classes: int) -> None:
    count = classes * 10 * 3  # each of the 10 splits holds every class equally often
    probabilities = np.zeros((count, 1008))
    probabilities[np.arange(count), np.arange(count) % classes] = 1.0
    mean, std = inception_score(probabilities)
    assert mean == pytest.approx(classes, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_needs_one_image_per_split() -> None:
    assert np.isnan(inception_score(np.full((9, 4), 0.25))[0])


def test_inception_score_of_logits_matches_torch_fidelity() -> None:
    metric_isc = pytest.importorskip("torch_fidelity.metric_isc")
    logits = np.random.default_rng(2).normal(0, 3, (120, 1008)).astype(np.float32)
    expected = metric_isc.isc_features_to_metric(torch.from_numpy(logits), splits=10, shuffle=False)
    mean, std = inception_score_of_logits(logits)
    assert mean == pytest.approx(expected["inception_score_mean"], rel=1e-10)
    assert std == pytest.approx(expected["inception_score_std"], rel=1e-8)


def test_frechet_distance_equals_the_closed_form_with_matrix_square_roots() -> None:
    rng = np.random.default_rng(3)
    mixing = rng.normal(size=(6, 6))
    features_a = rng.normal(size=(400, 6)) @ mixing + 1.0
    features_b = rng.normal(size=(300, 6)) @ (mixing * 0.7) - 0.5
    mean_a, mean_b = features_a.mean(0), features_b.mean(0)
    cov_a, cov_b = np.cov(features_a, rowvar=False), np.cov(features_b, rowvar=False)
    root_a = scipy.linalg.sqrtm(cov_a).real
    cross = scipy.linalg.sqrtm(root_a @ cov_b @ root_a).real
    expected = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * cross)
    assert frechet_distance(features_a, features_b) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(features_a, features_a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_with_fewer_images_than_dimensions_equals_the_closed_form() -> None:
    """N, M < D (a bin of pairs against 2048-d features): the singular-value route gives the same number."""
    rng = np.random.default_rng(4)
    features_a = rng.normal(size=(20, 50)) + 0.3
    features_b = rng.normal(size=(30, 50)) * 1.5
    cov_a, cov_b = np.cov(features_a, rowvar=False), np.cov(features_b, rowvar=False)
    root_a = scipy.linalg.sqrtm(cov_a).real
    cross = scipy.linalg.sqrtm(root_a @ cov_b @ root_a).real
    expected = np.sum((features_a.mean(0) - features_b.mean(0)) ** 2) + np.trace(cov_a + cov_b - 2 * cross)
    assert frechet_distance(features_a, features_b) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(features_a, features_a.copy()) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_gpu_give_the_same_metrics() -> None:
    truths = [_photo(name) for name in ("astronaut", "coffee")]
    outputs = [_distortions(truth)[3] for truth in truths]
    on_cpu = pair_statistics(_tensor(*outputs), _tensor(*truths))
    on_gpu = pair_statistics(_tensor(*outputs).to(torch.device("cuda")), _tensor(*truths).to(torch.device("cuda")))
    np.testing.assert_allclose(on_gpu.ssim, on_cpu.ssim, atol=1e-6)
    np.testing.assert_allclose(on_gpu.psnr, on_cpu.psnr, atol=1e-6)
    np.testing.assert_allclose(on_gpu.l1, on_cpu.l1, atol=1e-8)
