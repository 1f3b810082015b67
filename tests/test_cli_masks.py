"""`maskbench generate` and `maskbench import-masks` through click's CliRunner."""

from __future__ import annotations

import cv2
import numpy as np
from click.testing import CliRunner
from skimage import data

from maskbench.cli import main
from maskbench.files import write_mask
from maskbench.store import MaskStore


def test_generate_writes_a_store_and_resumes_or_refuses(tmp_path):
    runner = CliRunner()
    args = [
        "generate",
        "--kind",
        "strokes",
        "-n",
        "6",
        "--size",
        "64",
        "96",
        "--out",
        str(tmp_path / "s"),
        "--workers",
        "1",
        "--seed",
        "2",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "wrote 6 masks" in result.output
    store = MaskStore.open(tmp_path / "s")
    assert len(store) == 6 and store[0].shape == (64, 96)
    rerun = runner.invoke(main, args)  # the same run again: everything is already there
    assert rerun.exit_code == 0 and "wrote 0 masks, 6 already there" in rerun.output
    other = runner.invoke(main, [*args[:-1], "3"])  # another seed into the same store
    assert other.exit_code == 2
    assert "Error: mask store" in other.output and "pass --overwrite to replace it or --append" in other.output
    appended = runner.invoke(main, [*args[:-1], "3", "--append"])
    assert appended.exit_code == 0 and len(MaskStore.open(tmp_path / "s")) == 12


def test_generate_rejects_an_unknown_config_key(tmp_path):
    user = tmp_path / "bad.toml"
    user.write_text("colour = 3\n")
    result = CliRunner().invoke(main, ["generate", "--out", str(tmp_path / "s"), "--config", str(user)])
    assert result.exit_code == 2
    assert "unknown key 'colour'" in result.output
    assert not (tmp_path / "s").exists()


def test_import_masks_messages(tmp_path):
    runner = CliRunner()
    folder = tmp_path / "in"
    write_mask(folder / "a.png", data.camera()[:50, :50] < 100)
    write_mask(folder / "b.png", np.ones((20, 20), dtype=bool))
    write_mask(folder / "c.png", np.ones((20, 30), dtype=bool))
    result = runner.invoke(main, ["import-masks", str(folder), "--out", str(tmp_path / "s"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "Warning: 2 of 3 imported masks have more than 50% hole pixels" in result.stderr
    assert "wrote 3 masks" in result.stdout
    inverted = runner.invoke(
        main, ["import-masks", str(folder), "--invert", "--out", str(tmp_path / "t"), "--workers", "1"]
    )
    assert inverted.exit_code == 0 and "Warning" not in inverted.stderr
    assert np.array_equal(MaskStore.open(tmp_path / "t")[1], np.zeros((20, 20), dtype=bool))
    (folder / "gray.png").write_bytes(b"")
    cv2.imwrite(str(folder / "gray.png"), data.camera()[:20, :20])
    bad = runner.invoke(main, ["import-masks", str(folder), "--out", str(tmp_path / "u"), "--workers", "1"])
    assert bad.exit_code == 2
    assert "gray.png is not a binary mask" in bad.output and "--threshold" in bad.output
    missing = runner.invoke(main, ["import-masks", str(tmp_path / "nowhere"), "--out", str(tmp_path / "v")])
    assert missing.exit_code == 2 and "not a folder" in missing.output
