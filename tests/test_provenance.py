"""Stores and splits record what made them; a run with other settings says so in one line."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from maskbench import __version__
from maskbench.cli import main
from maskbench.extract import extract_videos
from maskbench.extract_config import ExtractConfig
from maskbench.procedural import GenerateConfig, generate_masks
from maskbench.provenance import difference_note, differences, provenance
from maskbench.store import MaskStore
from maskbench.synthetic import write_demo_video
from maskbench.testset import build_testset
from maskbench.testset_config import TestsetConfig


def test_differences_name_the_version_and_the_keys():
    old = {"maskbench": "0.0.1", "config": {"a": 1, "b": 2, "workers": 4}}
    new = {"maskbench": __version__, "config": {"a": 1, "b": 3, "c": 0, "workers": 1}}
    assert differences(old, new) == ["maskbench", "b", "c"]
    assert differences(new, new) == []
    note = difference_note("the store s", [old], new)
    assert note.startswith("note: the store s was made by maskbench 0.0.1 with other settings (maskbench, b, c)")
    assert difference_note("x", [new, new], new) is None


def _config(**changes: object) -> ExtractConfig:
    overrides = {"method": "dis", "working_size": 96, "batch_size": 4, "min_component_area": 12, "fill_gap_area": 16}
    return ExtractConfig.load(**{**overrides, **changes})


def test_a_store_records_version_and_configuration_and_notes_a_change(tmp_path):
    write_demo_video(tmp_path / "videos" / "a.mp4", frames=6, size=(96, 128), seed=1)
    summary = extract_videos(tmp_path / "videos", tmp_path / "s.store", config=_config(), show_progress=False)
    assert summary.notes == []
    recorded = MaskStore.open(tmp_path / "s.store").provenances()
    (record,) = recorded.values()
    assert record == provenance(_config())
    assert record["maskbench"] == __version__ and record["config"]["close_radius"] == _config().close_radius
    assert "workers" not in record["config"]
    write_demo_video(tmp_path / "videos" / "b.mp4", frames=6, size=(96, 128), seed=2)
    summary = extract_videos(
        tmp_path / "videos", tmp_path / "s.store", config=_config(close_radius=1, workers=2), show_progress=False
    )
    assert summary.notes == [
        f"note: the store {tmp_path / 's.store'} was made by maskbench {__version__} with other settings "
        f"(close_radius); this run uses maskbench {__version__} and the current settings"
    ]
    assert summary.notes[0] in summary.to_text()


def test_rebuilding_a_split_with_other_settings_says_so(tmp_path):
    generate_masks(
        tmp_path / "raw.store", config=GenerateConfig.load(kind="mixed", count=80, size=(256, 256), seed=3, workers=1)
    )
    first = build_testset(
        tmp_path / "raw.store", tmp_path / "split", config=TestsetConfig.load(per_bin=1, seed=1, workers=1)
    )
    assert first.note is None
    meta = json.loads((tmp_path / "split" / "meta.json").read_text())
    assert meta["maskbench_version"] == __version__ and meta["config"]["combine_sources"] == [2, 5]
    same = build_testset(
        tmp_path / "raw.store",
        tmp_path / "split",
        config=TestsetConfig.load(per_bin=1, seed=1, workers=2),
        overwrite=True,
    )
    assert same.note is None  # the worker count changes nothing
    (tmp_path / "c.toml").write_text("combine_sources = [1, 2]\n")
    result = CliRunner().invoke(
        main,
        [
            "build-testset",
            "--masks",
            str(tmp_path / "raw.store"),
            "--out",
            str(tmp_path / "split"),
            "--per-bin",
            "1",
            "--seed",
            "1",
            "--workers",
            "1",
            "--overwrite",
            "--config",
            str(tmp_path / "c.toml"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        f"note: the split {tmp_path / 'split'} was made by maskbench {__version__} "
        "with other settings (combine_sources)" in result.output
    )
    assert np.isfinite(json.loads((tmp_path / "split" / "meta.json").read_text())["seed"])
