"""Mask stores: round trip with provenance, and an interrupted append leaves the store as it was."""

from __future__ import annotations

import numpy as np
import pytest

import maskbench.files
from maskbench.errors import InputError, OutputExistsError
from maskbench.store import MaskStore, is_store


def _holes(rng: np.random.Generator) -> list[np.ndarray]:
    return [
        rng.random((13, 29)) < 0.3,
        rng.random((64, 64)) < 0.7,
        np.zeros((5, 3), dtype=bool),
        np.ones((8, 8), dtype=bool),
    ]


def test_round_trip_keeps_masks_sizes_and_provenance(tmp_path):
    rng = np.random.default_rng(0)
    holes = _holes(rng)
    store = MaskStore.create(tmp_path / "s")
    assert store.append(holes[:2], sources=["a.png", "b.mp4"], frames=[0, 17], extras=[{}, {"flow": "dis"}]) == range(
        0, 2
    )
    assert store.append(holes[2:], sources=["c", "d"], frames=[1, 2], group="second") == range(2, 4)
    reopened = MaskStore.open(tmp_path / "s")
    assert len(reopened) == 4 and is_store(tmp_path / "s")
    for index, hole in enumerate(holes):
        assert reopened[index].dtype == np.bool_
        assert np.array_equal(reopened[index], hole)
    assert [np.array_equal(a, b) for a, b in zip(reopened, holes, strict=True)] == [True] * 4
    record = reopened.record(1)
    assert (record.source, record.frame, record.height, record.width, record.extra) == (
        "b.mp4",
        17,
        64,
        64,
        {"flow": "dis"},
    )
    assert record.hole_ratio == pytest.approx(holes[1].mean())
    np.testing.assert_allclose(reopened.hole_ratios(), [h.mean() for h in holes])
    assert reopened.shapes().tolist() == [list(h.shape) for h in holes]
    assert reopened.groups() == {"second"}
    assert list(reopened.records()["source"]) == ["a.png", "b.mp4", "c", "d"]


def test_an_empty_group_is_recorded_without_changing_indices(tmp_path):
    holes = _holes(np.random.default_rng(2))
    store = MaskStore.create(tmp_path / "s")
    store.append(holes[:1], sources=["a"], frames=[0], group="first")
    assert store.append([], sources=[], frames=[]) == range(1, 1)
    assert len(list((tmp_path / "s" / "shards").iterdir())) == 1  # no group: nothing written
    assert store.append([], sources=[], frames=[], group="maskless.mp4") == range(1, 1)
    store.append(holes[1:3], sources=["b", "c"], frames=[1, 2], group="third")
    reopened = MaskStore.open(tmp_path / "s")
    assert len(reopened) == 3 and reopened.groups() == {"first", "maskless.mp4", "third"}
    for index, hole in enumerate(holes[:3]):
        assert np.array_equal(reopened[index], hole)
    assert list(reopened.records()["source"]) == ["a", "b", "c"]
    assert reopened.shapes().tolist() == [list(h.shape) for h in holes[:3]]


def test_interrupted_append_leaves_the_store_unchanged(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    store = MaskStore.create(tmp_path / "s")
    store.append(_holes(rng), sources=list("abcd"), frames=[0, 1, 2, 3])
    before = store.fingerprint()
    files_before = sorted(p.name for p in (tmp_path / "s").rglob("*"))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("simulated crash after the shard was written")

    # the new shard is complete in its temporary file; the crash hits the final rename
    monkeypatch.setattr(maskbench.files.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.append(_holes(rng), sources=list("efgh"), frames=[4, 5, 6, 7])
    monkeypatch.undo()
    reopened = MaskStore.open(tmp_path / "s")
    assert len(reopened) == 4
    assert reopened.fingerprint() == before
    assert sorted(p.name for p in (tmp_path / "s").rglob("*")) == files_before  # no stray temp file
    assert reopened.append([np.ones((2, 2), dtype=bool)], sources=["z"], frames=[0]) == range(4, 5)


def test_store_errors_say_what_to_do(tmp_path):
    with pytest.raises(InputError, match=r"is not a mask store .*maskbench generate"):
        MaskStore.open(tmp_path / "missing")
    MaskStore.create(tmp_path / "s")
    with pytest.raises(OutputExistsError, match="already exists; pass --overwrite"):
        MaskStore.create(tmp_path / "s")
    with pytest.raises(InputError, match="2-D bool"):
        MaskStore.open(tmp_path / "s").append([np.zeros((3, 3), dtype=np.uint8)], sources=["x"], frames=[0])
