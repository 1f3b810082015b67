"""Shared pytest set-up: GPU tests skip cleanly where CUDA is absent."""

from __future__ import annotations

import os

import pytest
import torch


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA; none is available on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True, scope="session")
def _private_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never write into the user's cache folder (maskbench.verify_cache)."""
    os.environ["MASKBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("maskbench-cache"))


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never use the network: weights that are not on disk are never downloaded."""
    monkeypatch.setenv("MASKBENCH_OFFLINE", "1")
