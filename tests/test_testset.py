"""build-testset and read_testset: bins re-measured, byte-identical rebuilds, resume, errors."""

from __future__ import annotations

import csv
import json
import shutil

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import maskbench.testset
from maskbench import bins
from maskbench.cli import main
from maskbench.errors import ConfigError, InputError, InsufficientMasksError, OutputExistsError
from maskbench.files import read_mask, write_mask
from maskbench.manifest import MANIFEST_COLUMNS, read_manifest
from maskbench.procedural import GenerateConfig, generate_masks
from maskbench.splits import read_testset
from maskbench.store import MaskStore
from maskbench.testset import build_testset
from maskbench.testset_config import TestsetConfig

PER_BIN = 2


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "raw.store"
    generate_masks(path, config=GenerateConfig.load(kind="mixed", count=160, size=(320, 320), seed=5, workers=1))
    return path


@pytest.fixture(scope="module")
def split(store_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("split") / "split"
    summary = build_testset(store_path, out, config=TestsetConfig.load(per_bin=PER_BIN, seed=11, workers=1))
    return out, summary


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_mask_matches_its_manifest_row_and_bin(split):
    out, summary = split
    rows = [row.csv_fields() for row in read_manifest(out)]
    assert list(rows[0]) == list(MANIFEST_COLUMNS)
    assert len(rows) == 12 * PER_BIN == len(list((out / "masks").glob("*.png")))
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"{i:05d}.png" for i in range(12 * PER_BIN)]
    for row in rows:
        hole = read_mask(out / row["file"])
        k, border, _ = bins.testset_position(int(row["index"]), per_bin=PER_BIN)
        assert hole.shape == (512, 512)
        assert bins.ratio_bin(hole) == k == int(row["ratio_bin"])
        assert bins.border_class(hole, margin=50) == border == row["border"]
        assert row["bin_label"] == bins.BIN_LABELS[k]
        assert float(row["hole_ratio"]) == hole.mean()
        assert int(row["min_border_dist"]) == bins.min_border_distance(hole)
        assert 0 <= int(row["source"]) < 160
    assert all(stats.filled == PER_BIN and stats.tries >= PER_BIN for stats in summary.bins)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seed"] == 11 and meta["per_bin"] == PER_BIN and meta["config"]["border_margin"] == 50
    assert meta["store"]["fingerprint"] == MaskStore.open(meta["store"]["path"]).fingerprint()
    assert (out / "preview.png").stat().st_size > 0
    assert not any(p.name.startswith(".") for p in out.parent.iterdir())  # no staging folder left


def test_rebuild_with_two_workers_is_byte_identical(split, store_path, tmp_path):
    out, _ = split
    build_testset(store_path, tmp_path / "again", config=TestsetConfig.load(per_bin=PER_BIN, seed=11, workers=2))
    assert _files(tmp_path / "again") == _files(out)


def test_interrupted_build_resumes_and_gives_the_same_bytes(split, store_path, tmp_path, monkeypatch):
    out, _ = split
    target = tmp_path / "resumed"

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("simulated interruption before the split was complete")

    monkeypatch.setattr(maskbench.testset, "_finish", crash)
    with pytest.raises(KeyboardInterrupt):
        build_testset(store_path, target, config=TestsetConfig.load(per_bin=PER_BIN, seed=11, workers=1))
    monkeypatch.undo()
    assert not target.exists()  # nothing that looks complete
    summary = build_testset(store_path, target, config=TestsetConfig.load(per_bin=PER_BIN, seed=11, workers=1))
    assert summary.reused == 12 * PER_BIN
    assert _files(target) == _files(out)


def test_read_testset_of_a_built_split(split):
    out, _ = split
    testset = read_testset(out)
    assert testset.kind == "maskbench" and testset.per_bin == PER_BIN and len(testset) == 12 * PER_BIN
    for index, mask in enumerate(testset.masks):
        assert mask.index == index and mask.name == f"{index:05d}.png" and mask.file.is_absolute()
        k, border, _ = bins.testset_position(index, per_bin=PER_BIN)
        assert (mask.ratio_bin, mask.border, mask.bin_label) == (k, border, bins.BIN_LABELS[k])
    assert len(testset.in_bin(3, "B")) == PER_BIN


def test_read_testset_of_a_split_written_before_later_manifest_columns(split, tmp_path):
    """Splits of version 0.1.0 have no ``sources`` column; scoring reads them as before."""
    out, _ = split
    old = tmp_path / "old-split"
    shutil.copytree(out, old)
    with open(old / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns = [column for column in MANIFEST_COLUMNS if column != "sources"]
    with open(old / "manifest.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    testset = read_testset(old)
    assert [mask.index for mask in testset.masks] == [mask.index for mask in read_testset(out).masks]


def test_read_testset_rejects_a_modified_mask(split, tmp_path):
    out, _ = split
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    hole = read_mask(copy / "masks/00000.png")
    write_mask(copy / "masks/00000.png", np.roll(hole, 3, axis=0) | hole)
    with pytest.raises(InputError, match=r"00000\.png has \d+ hole pixels, the manifest says"):
        read_testset(copy)
    assert len(read_testset(copy, verify=False)) == 12 * PER_BIN


def test_numbered_folder_is_read_as_nvidia_and_mismatches_are_counted(split, tmp_path):
    out, _ = split
    flat = tmp_path / "nvidia"
    shutil.copytree(out / "masks", flat)
    testset = read_testset(flat)
    assert (testset.kind, testset.per_bin, len(testset), testset.mismatches) == ("nvidia", PER_BIN, 24, ())
    first, last = flat / "00000.png", flat / f"{24 - 1:05d}.png"
    first_bytes, last_bytes = first.read_bytes(), last.read_bytes()
    first.write_bytes(last_bytes)
    last.write_bytes(first_bytes)  # bin 0 N and bin 5 B swapped
    with pytest.warns(UserWarning, match="2 of 24 masks"):
        swapped = read_testset(flat)
    assert sorted(m.index for m in swapped.mismatches) == [0, 23]
    assert swapped.masks[0].ratio_bin == 0  # the numbered bin is kept
    (flat / "00005.png").unlink()
    with pytest.raises(InputError, match="mask number 5 is missing"):
        read_testset(flat)


def test_existing_output_and_missing_store_give_the_promised_messages(split, store_path, tmp_path):
    out, _ = split
    with pytest.raises(OutputExistsError, match="already exists; pass --overwrite"):
        build_testset(store_path, out, config=TestsetConfig.load(per_bin=PER_BIN, seed=11, workers=1))
    with pytest.raises(InputError, match=r"is not a mask store .*maskbench generate"):
        build_testset(tmp_path / "nowhere", tmp_path / "x", config=TestsetConfig.load(per_bin=1, workers=1))
    for bad, message in [
        ("combine_sources = [0, 2]", r"combine_sources must be \[low, high\] with 1 <= low <= high, got \[0, 2\]"),
        ('steer_distance = "manhattan"', r"'steer_distance' .*got 'manhattan'"),
    ]:
        (tmp_path / "bad.toml").write_text(bad + "\n")
        with pytest.raises(ConfigError, match=message):
            build_testset(store_path, tmp_path / "x", config=TestsetConfig.load(tmp_path / "bad.toml"))
    user = tmp_path / "bad.toml"
    user.write_text("per_bim = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'per_bim'.*did you mean 'per_bin'"):
        build_testset(store_path, tmp_path / "x", config=TestsetConfig.load(user))


def test_a_store_of_only_small_masks_fills_every_bin_by_combining_sources(tmp_path):
    rng = np.random.default_rng(3)
    holes = []
    for _ in range(12):
        hole = np.zeros((320, 320), dtype=np.uint8)
        for _ in range(3):  # a few thin streaks, as small occlusion masks from a short video
            start, end = rng.integers(20, 300, size=2), rng.integers(20, 300, size=2)
            cv2.line(hole, (int(start[0]), int(start[1])), (int(end[0]), int(end[1])), 1, thickness=3)
        holes.append(hole.astype(bool))
    store = MaskStore.create(tmp_path / "small")
    store.append(holes, sources=[f"streak{i}" for i in range(12)], frames=list(range(12)))
    assert store.hole_ratios().max() <= 0.05
    summary = build_testset(
        tmp_path / "small", tmp_path / "split", config=TestsetConfig.load(per_bin=2, seed=4, workers=1)
    )
    assert all(stats.filled == 2 for stats in summary.bins)
    rows = [row.csv_fields() for row in read_manifest(tmp_path / "split")]
    for row in rows:
        hole = read_mask(tmp_path / "split" / row["file"])
        k, border, _ = bins.testset_position(int(row["index"]), per_bin=2)
        assert (bins.ratio_bin(hole), bins.border_class(hole, margin=50)) == (k, border)
        used = [int(index) for index in row["sources"].split(";")]
        assert used[0] == int(row["source"]) and all(0 <= index < 12 for index in used)
    assert max(len(row["sources"].split(";")) for row in rows if row["ratio_bin"] == "5") > 1


def test_a_store_that_cannot_fill_the_large_bins_is_named(tmp_path):
    store = MaskStore.create(tmp_path / "dots")
    dots = []
    for shift in range(6):
        hole = np.zeros((512, 512), dtype=bool)
        hole[250 + shift : 262 + shift, 250:262] = True  # small squares: ratio 0.0005
        dots.append(hole)
    store.append(dots, sources=[f"dot{i}" for i in range(6)], frames=list(range(6)))
    user = tmp_path / "strict.toml"
    user.write_text(
        "max_dilation = 20.0\nmax_tries = 6\nmax_failed_slots = 2\n"
        "natural_tries = [3, 3, 3, 3, 3, 3]\nnatural_max_dilation = 20.0\n"
    )
    with pytest.raises(
        InsufficientMasksError,
        match=r"cannot fill every bin .*\(0\.\d,0\.\d\] [NB]: \d+ of \d+ slots tried.*raise max_dilation \(now 20\)",
    ):
        build_testset(tmp_path / "dots", tmp_path / "split", config=TestsetConfig.load(user, per_bin=3, workers=1))
    assert not (tmp_path / "split").exists()


def test_clear_band_strategy_cuts_n_masks_at_the_margin(store_path, tmp_path):
    build_testset(
        store_path, tmp_path / "band", config=TestsetConfig.load(per_bin=1, seed=2, workers=1, strategy="clear-band")
    )
    rows = [row.csv_fields() for row in read_manifest(tmp_path / "band")]
    n_rows = [row for row in rows if row["border"] == "N"]
    assert {row["strategy"] for row in n_rows} == {"clear-band"}
    assert all(int(row["min_border_dist"]) >= 50 for row in n_rows)
    assert any(row["cut_edges"] == "1" for row in n_rows)
    assert {row["strategy"] for row in rows if row["border"] == "B"} == {"border"}


def test_cli_build_testset_exit_codes_and_files(store_path, tmp_path):
    runner = CliRunner()
    args = [
        "build-testset",
        "--masks",
        str(store_path),
        "--out",
        str(tmp_path / "cli"),
        "--per-bin",
        "1",
        "--workers",
        "1",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "| (0.5,0.6] | B | 1 |" in result.output
    assert len(list((tmp_path / "cli" / "masks").glob("*.png"))) == 12
    with open(tmp_path / "cli" / "manifest.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 12
    again = runner.invoke(main, args)
    assert again.exit_code == 2
    assert "already exists; pass --overwrite" in again.output
    assert runner.invoke(main, [*args, "--overwrite"]).exit_code == 0
    missing = runner.invoke(main, ["build-testset", "--masks", str(tmp_path / "none"), "--out", str(tmp_path / "y")])
    assert missing.exit_code == 2 and "is not a mask store" in missing.output
