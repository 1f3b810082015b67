"""Procedural masks: seeded per item, the right size, presets that differ as documented."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import maskbench.store
from maskbench.errors import ConfigError
from maskbench.procedural import (
    LAMA_PRESETS,
    GenerateConfig,
    generate_mask,
    generate_masks,
    polyline_strokes,
)
from maskbench.rng import item_rng
from maskbench.store import MaskStore


@pytest.fixture(scope="module")
def config():
    return GenerateConfig.load(size=(96, 128), count=12, workers=1, chunk_size=5)


@pytest.mark.parametrize("kind", ["strokes", "blobs", "mixed"])
def test_each_mask_depends_only_on_seed_and_index(config, kind):
    config = dataclasses.replace(config, kind=kind)
    first, provenance = generate_mask(4, config)
    again, _ = generate_mask(4, config)
    assert first.shape == (96, 128) and first.dtype == np.bool_
    assert np.array_equal(first, again)
    assert first.any() and not first.all()
    assert not np.array_equal(first, generate_mask(5, config)[0])
    assert not np.array_equal(first, generate_mask(4, dataclasses.replace(config, seed=1))[0])
    assert provenance["kind"] in {"strokes", "blobs", "mixed"}


def test_lama_thick_strokes_cover_more_than_thin_ones():
    thin = [polyline_strokes((512, 512), item_rng(0, i), LAMA_PRESETS["thin"]).mean() for i in range(12)]
    thick = [polyline_strokes((512, 512), item_rng(0, i), LAMA_PRESETS["thick"]).mean() for i in range(12)]
    assert np.median(thick) > np.median(thin)


def test_generate_writes_the_same_masks_as_generate_mask(tmp_path, config):
    summary = generate_masks(
        tmp_path / "s", config=GenerateConfig.load(kind="strokes", count=12, size=(96, 128), workers=1, seed=3)
    )
    store = MaskStore.open(tmp_path / "s")
    assert (summary.added, summary.total, len(store)) == (12, 12, 12)
    expected = dataclasses.replace(config, kind="strokes", seed=3, count=12)
    for index in (0, 7, 11):
        assert np.array_equal(store[index], generate_mask(index, expected)[0])
        assert store.record(index).frame == index
        assert store.record(index).source == "generate:strokes"


def test_interrupted_generate_resumes_to_the_same_store(tmp_path, monkeypatch):
    options = {"kind": "blobs", "count": 12, "size": (64, 64), "workers": 1}
    user = tmp_path / "chunks.toml"
    user.write_text("chunk_size = 5\n")
    config = GenerateConfig.load(user, **options)
    generate_masks(tmp_path / "reference", config=config)
    real_append = maskbench.store.MaskStore.append
    calls = []

    def append_then_crash(self, *args, **kwargs):
        if calls:
            raise KeyboardInterrupt("simulated interruption")
        calls.append(1)
        return real_append(self, *args, **kwargs)

    monkeypatch.setattr(maskbench.store.MaskStore, "append", append_then_crash)
    with pytest.raises(KeyboardInterrupt):
        generate_masks(tmp_path / "resumed", config=config)
    monkeypatch.undo()
    assert len(MaskStore.open(tmp_path / "resumed")) == 5
    summary = generate_masks(tmp_path / "resumed", config=config)
    assert (summary.skipped, summary.added, summary.total) == (5, 7, 12)
    reference, resumed = MaskStore.open(tmp_path / "reference"), MaskStore.open(tmp_path / "resumed")
    assert all(np.array_equal(reference[i], resumed[i]) for i in range(12))


def test_generate_config_is_validated():
    with pytest.raises(ConfigError, match="blob_count"):
        GenerateConfig.load(blob_count=(3, 1))
    with pytest.raises(ConfigError, match="key 'kind'"):
        GenerateConfig.load(kind="squares")
