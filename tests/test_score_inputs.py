"""``maskbench score`` as a new user meets it: own models, inverted folders, tiny images, 256 px, Ctrl-C, the table.

The masks are an NVIDIA-style numbered folder (one mask per bin and class); the photos are
512×512 crops of scikit-image's; the model is ``mymodels:mean_fill`` from a file written into
the test's working folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from skimage import data

from maskbench.bins import BIN_LABELS
from maskbench.bins import testset_position as position_of_index
from maskbench.cli import main
from maskbench.errors import InputError
from maskbench.files import read_image, read_mask, write_image, write_mask
from maskbench.images import resize_hole
from maskbench.splits import MismatchWarning, read_testset

MODELS_FILE = '''
import os
import signal

import numpy as np

CALLS = {"count": 0, "interrupt_at": 0}


def mean_fill(image, hole):
    """The mean colour of the valid pixels in the hole.

    Ctrl-C at call $INTERRUPT_AT_CALL (counted from when it was set).
    """
    interrupt_at = int(os.environ.get("INTERRUPT_AT_CALL", "0"))
    if interrupt_at != CALLS["interrupt_at"]:
        CALLS.update(count=0, interrupt_at=interrupt_at)
    CALLS["count"] += 1
    if CALLS["count"] == interrupt_at:
        os.kill(os.getpid(), signal.SIGINT)
    return np.where(hole[..., None], image[~hole].mean(axis=0), image).astype(np.float32)
'''


def make_masks(folder: Path, *, invert: bool = False, wrong: int = 0) -> Path:
    """12 numbered 512×512 masks (one per bin and class), white = hole; ``wrong`` of them in the wrong bin."""
    for index in range(12):
        ratio_bin, border, _ = position_of_index(index, per_bin=1)
        side = round(np.sqrt(0.05 + 0.1 * ((ratio_bin + 2) % 6 if index < wrong else ratio_bin)) * 512)
        hole = np.zeros((512, 512), bool)
        top = (512 - side) // 2 if border == "N" else 0
        hole[top : top + side, top : top + side] = True
        write_mask(folder / f"{index:05d}.png", ~hole if invert else hole)
    return folder


def make_images(folder: Path) -> Path:
    photos = [data.astronaut(), data.coffee()[:, :512], data.chelsea()[:, :300], data.rocket()[:, :427]]
    for number in range(12):
        photo = np.ascontiguousarray(photos[number % 4][:: 1 if number < 4 else -1] / np.float32(255.0))
        write_image(folder / f"img{number:02d}.png", photo)
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("inputs")
    return make_masks(root / "masks"), make_images(root / "images")


@pytest.fixture()
def in_models_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working folder holds ``mymodels.py``, as a user's project folder would."""
    (tmp_path / "mymodels.py").write_text(MODELS_FILE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INTERRUPT_AT_CALL", raising=False)
    return tmp_path


def run_score(images: Path, masks: Path, out: Path, *extra: str, model: str = "mymodels:mean_fill") -> Result:
    arguments = ["score", "--model", model, "--images", str(images), "--testset", str(masks), "--out", str(out)]
    arguments += ["--device", "cpu", "--workers", "0", "--no-inception", *extra]
    return CliRunner().invoke(main, arguments)


def test_own_models_from_the_working_folder_and_from_a_file(inputs, in_models_folder: Path) -> None:
    masks, images = inputs
    from_folder = run_score(images, masks, in_models_folder / "a", "--size", "64")
    assert from_folder.exit_code == 0, from_folder.output
    (in_models_folder / "sub").mkdir()
    (in_models_folder / "sub" / "other.py").write_text(MODELS_FILE)
    from_file = run_score(images, masks, in_models_folder / "b", "--size", "64", model="sub/other.py:mean_fill")
    assert from_file.exit_code == 0, from_file.output
    first = pd.read_csv(in_models_folder / "a" / "pairs.csv")
    second = pd.read_csv(in_models_folder / "b" / "pairs.csv")
    assert set(first["model"]) == {"mymodels:mean_fill"} and set(second["model"]) == {"sub/other.py:mean_fill"}
    np.testing.assert_array_equal(first["l1"], second["l1"])
    missing = run_score(images, masks, in_models_folder / "c", model="nomodels:mean_fill")
    assert missing.exit_code == 2 and "current folder" in missing.output and "path/to/file.py:NAME" in missing.output


def test_an_unknown_model_is_the_first_error(tmp_path: Path) -> None:
    result = run_score(tmp_path / "no-images", tmp_path / "no-masks", tmp_path / "out", model="telae")
    assert result.exit_code == 2
    assert "unknown inpainter spec 'telae'; did you mean 'telea'?" in result.output and "images" not in result.output
    assert not (tmp_path / "out").exists()


def test_an_inverted_folder_is_refused_with_the_hint_and_scored_with_invert(inputs, in_models_folder: Path) -> None:
    masks, images = inputs
    inverted = make_masks(in_models_folder / "inverted", invert=True)
    refused = run_score(images, inverted, in_models_folder / "r")
    assert refused.exit_code == 2 and not (in_models_folder / "r").exists()
    assert "12 of 12 masks" in refused.output and "pass --invert" in refused.output
    assert run_score(images, inverted, in_models_folder / "i", "--invert", "--size", "64").exit_code == 0
    assert run_score(images, masks, in_models_folder / "p", "--size", "64").exit_code == 0
    with_invert = pd.read_csv(in_models_folder / "i" / "pairs.csv")
    plain = pd.read_csv(in_models_folder / "p" / "pairs.csv")
    np.testing.assert_array_equal(with_invert["l1"], plain["l1"])


def test_a_few_mismatches_are_scored_with_a_one_line_warning(inputs, in_models_folder: Path) -> None:
    _, images = inputs
    masks = make_masks(in_models_folder / "two-wrong", wrong=2)
    result = run_score(images, masks, in_models_folder / "out", "--size", "64")
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if line.startswith("Warning:")]
    assert len(warning) == 1 and "2 of 12 masks" in warning[0]
    assert "UserWarning" not in result.output
    with pytest.warns(MismatchWarning):
        assert len(read_testset(masks).mismatches) == 2
    with pytest.raises(InputError, match=r"4 of 12 masks .* \(more than 20%\): this is not a split numbered as NVIDIA"):
        read_testset(make_masks(in_models_folder / "four-wrong", wrong=4))


def test_a_folder_is_verified_once_until_a_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import maskbench.verify_cache as verify_cache

    monkeypatch.setenv("MASKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    masks = make_masks(tmp_path / "masks")
    os.chmod(masks, 0o555)  # a read-only dataset folder: the cache goes to the user's cache folder
    reads = []
    measure = verify_cache.measure_mask
    monkeypatch.setattr(
        verify_cache, "measure_mask", lambda path, **options: reads.append(path) or measure(path, **options)
    )
    first = read_testset(masks)
    assert len(reads) == 12 and list((tmp_path / "cache" / "verify").glob("*.json"))
    assert read_testset(masks) == first and len(reads) == 12  # the second read measures nothing
    os.chmod(masks, 0o755)
    write_mask(masks / "00003.png", read_mask(masks / "00003.png"))  # same content, new modification time
    os.utime(masks / "00003.png", ns=(1, 1))
    read_testset(masks)
    assert len(reads) == 24


def test_tiny_images_are_refused_and_listed(inputs, in_models_folder: Path) -> None:
    masks, _ = inputs
    few = in_models_folder / "few"
    for number in range(12):
        write_image(few / f"p{number:02d}.png", np.full((600, 700, 3), 0.5, np.float32))
    write_image(few / "p05.png", np.full((10, 12, 3), 0.5, np.float32))
    refused = run_score(few, masks, in_models_folder / "out")
    assert refused.exit_code == 2 and not (in_models_folder / "out").exists()
    assert "1 of 12 images are smaller than 512 px on their shorter side: p05.png (12x10)" in refused.output
    assert "--upscale-small-images" in refused.output
    assert run_score(few, masks, in_models_folder / "out", "--upscale-small-images").exit_code == 0


def test_scoring_at_256_shrinks_each_mask_and_keeps_its_bin(inputs, in_models_folder: Path) -> None:
    masks, images = inputs
    result = run_score(images, masks, in_models_folder / "out", "--size", "256", "--save-images")
    assert result.exit_code == 0, result.output
    pairs = pd.read_csv(in_models_folder / "out" / "pairs.csv", dtype={"pair": str})
    assert list(pairs["bin"]) == [BIN_LABELS[index // 2] for index in range(12)]  # the bins of the 512 px masks
    for pair in pairs.itertuples():
        shown = read_image(in_models_folder / "out" / "images" / "input" / f"{pair.pair}.png")
        truth = read_image(in_models_folder / "out" / "images" / "gt" / f"{pair.pair}.png")
        hole = resize_hole(read_mask(masks / f"{pair.pair}.png"), 256)
        assert shown.shape == truth.shape == (256, 256, 3)
        assert (shown[hole] == 1).all() and np.array_equal(shown[~hole], truth[~hole])
    area = resize_hole(np.kron(np.array([[1, 0], [1, 1]], bool), np.eye(2, dtype=bool)), 2)
    assert area.tolist() == [[True, False], [True, True]]  # area average ≥ 1/2: a hole


def test_ctrl_c_keeps_the_finished_batches_and_says_how_to_continue(
    inputs, in_models_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    masks, images = inputs
    monkeypatch.setenv("INTERRUPT_AT_CALL", "7")  # in the fourth batch of two
    out = in_models_folder / "out"
    interrupted = run_score(images, masks, out, "--size", "64", "--batch-size", "2")
    assert interrupted.exit_code == 130, interrupted.output
    line = [line for line in interrupted.output.splitlines() if line.startswith("Interrupted:")]
    assert len(line) == 1 and "mymodels:mean_fill 6/12" in line[0]
    assert f"continue with: maskbench score --model mymodels:mean_fill --images {images}" in line[0]
    cached = pd.concat(pd.read_csv(path) for path in (out / "cache" / "models").glob("*/part-*.csv"))
    assert len(cached) == 6  # three finished batches kept, the one in progress lost
    monkeypatch.setenv("INTERRUPT_AT_CALL", "0")
    resumed = run_score(images, masks, out, "--size", "64", "--batch-size", "2")
    assert resumed.exit_code == 0 and "newly computed: mymodels:mean_fill: 6" in resumed.output


def test_the_printed_table_is_table1_md_without_inception_rows(inputs, in_models_folder: Path) -> None:
    masks, images = inputs
    result = run_score(images, masks, in_models_folder / "out", "--size", "64")
    assert result.exit_code == 0, result.output
    table = (in_models_folder / "out" / "table1.md").read_text()
    assert table in result.output
    assert "IScore(" not in table and "IS(" not in table and "FID(" not in table and "n/a" not in table
    assert "IScore, IS and FID were not computed (--no-inception)" in table
    csv_rows = pd.read_csv(in_models_folder / "out" / "table1.csv")["metric"]
    assert not csv_rows.str.contains("IScore|IS\\(|FID").any()
