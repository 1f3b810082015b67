"""``maskbench score`` / ``report``: pairing, resume, shards, NVIDIA folders, the command line.

The inpainters here are ``test_score:mean_fill`` (a ``package.module:callable`` spec naming a
function of this module: it fills the hole with the mean colour of the valid pixels and counts
its calls) and, once, OpenCV's ``telea``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from skimage import data

import maskbench.score as score_module
from maskbench.bins import BIN_LABELS
from maskbench.bins import testset_position as position_of_index
from maskbench.cli import main
from maskbench.errors import ConfigError, InputError, MissingWeightsError, OutputExistsError
from maskbench.files import read_image, write_image, write_mask
from maskbench.images import scan_images
from maskbench.inception import INCEPTION_WEIGHTS, InceptionWeights
from maskbench.pairing import make_pairs, pair_position, select_masks
from maskbench.parallel import Shard
from maskbench.report import write_report
from maskbench.results import bin_means
from maskbench.score import ScoreConfig, score
from maskbench.splits import read_testset

SPEC = "test_score:mean_fill"
CALLS = {"count": 0, "fail_after": None}
FAST = dict(
    workers=0, inception=False, batch_size=4, chunk_pairs=2, upscale_small_images=True
)  # small photos, enlarged


def mean_fill(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The mean colour of the valid pixels in the hole; raises after ``CALLS['fail_after']`` calls."""
    if CALLS["fail_after"] is not None and CALLS["count"] >= CALLS["fail_after"]:
        raise KeyboardInterrupt("simulated interruption")
    CALLS["count"] += 1
    return np.where(hole[..., None], image[~hole].mean(axis=0), image).astype(np.float32)


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.update(count=0, fail_after=None)


def make_nvidia_folder(folder: Path, per_bin: int) -> Path:
    """Numbered 512x512 masks as NVIDIA's release: square holes of the bin's ratio, centred (N) or in a corner (B)."""
    for index in range(12 * per_bin):
        ratio_bin, border, position = position_of_index(index, per_bin=per_bin)
        side = round(np.sqrt(0.05 + 0.1 * ratio_bin + 0.01 * position) * 512)
        hole = np.zeros((512, 512), bool)
        top = (512 - side) // 2 if border == "N" else 0
        hole[top : top + side, top : top + side] = True
        write_mask(folder / f"{index:05d}.png", hole)
    return folder


def make_images(folder: Path, count: int) -> Path:
    """Small photos (enlarged to 512 by the pipeline), mirrored variants of skimage's."""
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    for number in range(count):
        photo = photos[number % 4][::4, ::4] / np.float32(255.0)
        if (number // 4) % 2:
            photo = photo[:, ::-1]
        if number // 8:
            photo = photo[::-1]
        write_image(folder / f"img{number:02d}.png", np.ascontiguousarray(photo))
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("inputs")
    masks = make_nvidia_folder(root / "masks", per_bin=1)
    images = make_images(root / "images", 12)
    return masks, images


@pytest.fixture(scope="module")
def one_run(inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    masks, images = inputs
    out = tmp_path_factory.mktemp("runs") / "whole"
    score([SPEC], images, masks, out, config=ScoreConfig.load(device="cpu", **FAST))
    return out


def test_an_nvidia_style_folder_is_read_with_the_bins_of_its_numbers(tmp_path: Path) -> None:
    folder = make_nvidia_folder(tmp_path / "masks", per_bin=2)
    testset = read_testset(folder)
    assert testset.kind == "nvidia" and testset.per_bin == 2 and not testset.mismatches
    assert [(m.ratio_bin, m.border) for m in testset.masks[:6]] == [
        (0, "N"),
        (0, "N"),
        (0, "B"),
        (0, "B"),
        (1, "N"),
        (1, "N"),
    ]
    assert testset.masks[23].bin_label == BIN_LABELS[5] and testset.masks[23].border == "B"
    kept = select_masks(testset, limit_per_bin=1)
    assert [m.index for m in kept] == list(range(0, 24, 2))


def test_pairing_is_a_seeded_permutation_without_replacement(inputs: tuple[Path, Path]) -> None:
    masks, images = inputs
    testset, folder = read_testset(masks), scan_images(images)
    pairs = make_pairs(testset.masks, folder, seed=0, reuse_images=False)
    assert sorted(pair.image_name for pair in pairs) == [f"img{n:02d}.png" for n in range(12)]
    assert [p.image for p in pairs] == [p.image for p in make_pairs(testset.masks, folder, seed=0, reuse_images=False)]
    assert [p.image for p in pairs] != [p.image for p in make_pairs(testset.masks, folder, seed=1, reuse_images=False)]
    assert [p.pair_id for p in pairs] == [f"{k:05d}" for k in range(12)]


def test_fewer_images_than_masks_says_how_many_are_missing(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    masks, _ = inputs
    few = scan_images(make_images(tmp_path / "few", 5))
    with pytest.raises(
        InputError, match=r"12 masks need 12 images but .* has 5 readable \(7 missing\).*--reuse-images"
    ):
        make_pairs(read_testset(masks).masks, few, seed=0, reuse_images=False)
    reused = make_pairs(read_testset(masks).masks, few, seed=0, reuse_images=True)
    first_round = [pair.image_name for pair in reused[:5]]
    assert sorted(first_round) == sorted(path.name for path in few.files)


def test_shards_partition_the_pairs_and_take_every_bin(inputs: tuple[Path, Path]) -> None:
    masks, images = inputs
    pairs = make_pairs(read_testset(masks).masks, scan_images(images), seed=0, reuse_images=False)
    shards = [Shard(k, 3).select(pairs, position=pair_position) for k in (1, 2, 3)]
    assert sorted(p.pair_id for shard in shards for p in shard) == [p.pair_id for p in pairs]
    assert all(len(shard) == 4 for shard in shards)
    assert Shard.parse("2/3") == (2, 3)
    with pytest.raises(ConfigError, match="1 <= K <= N"):
        Shard.parse("0/3")


def test_per_bin_means_are_sums_over_hand_built_pairs() -> None:
    pairs = pd.DataFrame(
        {
            "model": ["A", "A", "A", "B"],
            "ratio_bin": [0, 0, 1, 0],
            "border": ["N", "N", "N", "N"],
            "l1": [1.0, 3.0, 5.0, 7.0],
            "psnr": [20.0, 30.0, 40.0, 50.0],
            "ssim": [0.5, 0.7, 0.9, 0.1],
            "ssim_paper": [0.4, 0.6, float("nan"), 0.05],  # pair 3 from a run before ssim_paper
        }
    )
    means = bin_means(pairs)
    assert means.loc[("A", 0, "N"), "ssim_paper"] == pytest.approx(0.5)
    assert np.isnan(means.loc[("A", 1, "N"), "ssim_paper"])  # not a mean over part of the cell
    assert means.loc[("A", 0, "N"), "count"] == 2
    assert means.loc[("A", 0, "N"), "l1"] == 2.0
    assert means.loc[("A", 0, "N"), "psnr"] == 25.0
    assert means.loc[("A", 0, "N"), "ssim"] == pytest.approx(0.6)
    assert means.loc[("A", 1, "N"), "l1"] == 5.0 and means.loc[("B", 0, "N"), "ssim"] == 0.1


def test_a_run_writes_pairs_table_and_plots(one_run: Path) -> None:
    for name in ("pairs.csv", "table1.csv", "table1.md", "metrics.png", "samples.png", "meta.json"):
        assert (one_run / name).is_file(), name
    pairs = pd.read_csv(one_run / "pairs.csv", dtype={"pair": str})
    assert len(pairs) == 12 and set(pairs["model"]) == {SPEC}
    assert list(pairs["bin"]) == [BIN_LABELS[k // 2] for k in range(12)]
    assert list(pairs["border"]) == ["N", "B"] * 6
    table = pd.read_csv(one_run / "table1.csv", index_col="metric")
    assert list(table.index) == ["l1(mean_fill)(%)", "PSNR(mean_fill)", "SSIM(mean_fill)", "SSIM_paper(mean_fill)"]
    first = pairs.iloc[0]
    assert float(table.loc["l1(mean_fill)(%)", f"{BIN_LABELS[0]} N"]) == pytest.approx(first["l1"], rel=1e-12)
    assert "IScore(mean_fill)" not in table.index and "IS(GT)" not in table.index  # --no-inception: no such rows
    for row in pairs.itertuples():  # one pair per cell: the cell is that pair's value
        assert float(table.loc["SSIM(mean_fill)", f"{row.bin} {row.border}"]) == row.ssim


def test_an_interrupted_run_resumes_without_recomputing(
    inputs: tuple[Path, Path], one_run: Path, tmp_path: Path
) -> None:
    masks, images = inputs
    out = tmp_path / "resumed"
    CALLS["fail_after"] = 5
    with pytest.raises(KeyboardInterrupt):
        score([SPEC], images, masks, out, config=ScoreConfig.load(device="cpu", **FAST))
    assert CALLS["count"] == 5  # chunks of 2: pairs 0-3 are saved, the fifth is lost
    CALLS.update(count=0, fail_after=None)
    run = score([SPEC], images, masks, out, config=ScoreConfig.load(device="cpu", **FAST))
    assert CALLS["count"] == 8 and run.computed == {SPEC: 8}
    assert (out / "pairs.csv").read_bytes() == (one_run / "pairs.csv").read_bytes()
    assert (out / "table1.csv").read_bytes() == (one_run / "table1.csv").read_bytes()


def test_a_finished_run_is_kept_and_can_be_extended(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    masks, images = inputs
    out = tmp_path / "run"
    paths = (images, masks, out)
    options = dict(device="cpu", shard="1/4", **FAST)
    score([SPEC], *paths, config=ScoreConfig.load(**options))
    with pytest.raises(OutputExistsError, match=r"already holds the finished results.*--overwrite"):
        score([SPEC], *paths, config=ScoreConfig.load(**options))
    with pytest.raises(OutputExistsError, match=r"other settings \(pairing"):
        score([SPEC], *paths, config=ScoreConfig.load(**{**options, "seed": 3}))
    CALLS["count"] = 0
    run = score([SPEC, "telea"], *paths, config=ScoreConfig.load(**options))
    assert CALLS["count"] == 0 and run.computed == {SPEC: 0, "telea": 3}
    assert set(pd.read_csv(out / "pairs.csv")["model"]) == {SPEC, "telea"}
    score([SPEC], *paths, config=ScoreConfig.load(**options), overwrite=True)
    assert CALLS["count"] == 3


def test_shards_merged_by_report_equal_one_run(inputs: tuple[Path, Path], one_run: Path, tmp_path: Path) -> None:
    masks, images = inputs
    shards = [tmp_path / "shard1", tmp_path / "shard2"]
    for number, out in enumerate(shards, start=1):
        score([SPEC], images, masks, out, config=ScoreConfig.load(device="cpu", shard=f"{number}/2", **FAST))
    write_report(shards, tmp_path / "merged")
    for name in ("pairs.csv", "table1.csv", "table1.md"):
        assert (tmp_path / "merged" / name).read_bytes() == (one_run / name).read_bytes(), name
    with pytest.raises(OutputExistsError, match="already holds a report"):
        write_report(shards, tmp_path / "merged")


def test_runs_of_other_pairings_are_not_merged(inputs: tuple[Path, Path], one_run: Path, tmp_path: Path) -> None:
    masks, images = inputs
    other = tmp_path / "seed1"
    score([SPEC], images, masks, other, config=ScoreConfig.load(device="cpu", shard="1/4", seed=1, **FAST))
    with pytest.raises(InputError, match="pairs other masks and images"):
        write_report([one_run, other], tmp_path / "merged")


def test_workers_do_not_change_the_numbers(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    masks, images = inputs
    common = dict(device="cpu", shard="2/4", inception=False, chunk_pairs=2, upscale_small_images=True)
    score(["telea"], images, masks, tmp_path / "w0", config=ScoreConfig.load(workers=0, batch_size=1, **common))
    score(["telea"], images, masks, tmp_path / "w2", config=ScoreConfig.load(workers=2, batch_size=3, **common))
    assert (tmp_path / "w0" / "pairs.csv").read_bytes() == (tmp_path / "w2" / "pairs.csv").read_bytes()


def test_missing_inception_weights_stop_the_run_before_any_work(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    masks, images = inputs
    with pytest.raises(MissingWeightsError, match=rf"(--no-inception|{INCEPTION_WEIGHTS.file_name})"):
        score(
            [SPEC],
            images,
            masks,
            tmp_path / "out",
            config=ScoreConfig.load(workers=0, inception_weights=str(tmp_path / "absent.pth")),
        )
    assert not (tmp_path / "out").exists() and CALLS["count"] == 0


def test_save_images_writes_truth_input_and_outputs(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    masks, images = inputs
    out = tmp_path / "saved"
    score([SPEC], images, masks, out, config=ScoreConfig.load(device="cpu", shard="1/6", save_images=True, **FAST))
    pairs = pd.read_csv(out / "pairs.csv", dtype={"pair": str})
    for pair in pairs["pair"]:
        truth = read_image(out / "images" / "gt" / f"{pair}.png")
        output = read_image(out / "images" / "test_score_mean_fill" / f"{pair}.png")
        masked = read_image(out / "images" / "input" / f"{pair}.png")
        hole = (masked == 1.0).all(axis=2) & (output != truth).any(axis=2)
        assert hole.any()
        np.testing.assert_array_equal(output[~hole], truth[~hole])


def test_command_line_score_and_report(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    masks, images = inputs
    runner = CliRunner()
    arguments = ["score", "--model", SPEC, "--images", str(images), "--testset", str(masks), "--device", "cpu"]
    arguments += ["--workers", "0", "--no-inception", "--shard", "1/6", "--upscale-small-images"]
    result = runner.invoke(main, [*arguments, "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "scored 2 pairs" in result.output and (tmp_path / "cli" / "table1.md").is_file()
    again = runner.invoke(main, [*arguments, "--out", str(tmp_path / "cli")])
    assert again.exit_code == 2 and "Error:" in again.output and "--overwrite" in again.output
    few = make_images(tmp_path / "few", 3)
    short = runner.invoke(main, [*arguments[:4], str(few), *arguments[5:], "--out", str(tmp_path / "short")])
    assert short.exit_code == 2 and "(9 missing)" in short.output
    merged = runner.invoke(main, ["report", str(tmp_path / "cli"), "--out", str(tmp_path / "rep")])
    assert merged.exit_code == 0, merged.output
    assert (tmp_path / "rep" / "table1.csv").read_bytes() == (tmp_path / "cli" / "table1.csv").read_bytes()


class _ColourFeatures:
    """Stand-in for the Inception network (whose weights tests cannot download): mean colours."""

    def __init__(self, *, weights: object, device: object) -> None:
        pass

    def __call__(self, images):
        means = images.mean(dim=(2, 3)).double().numpy()
        logits = np.zeros((len(means), 1008), np.float32)
        logits[:, :3] = 10 * means
        return logits, np.repeat(means, 683, axis=1)[:, :2048].astype(np.float32)


def test_inception_features_are_cached_per_pair_for_models_and_truth(
    inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        score_module, "resolve_inception", lambda weights: InceptionWeights(tmp_path / "weights.pth", True, "test")
    )
    monkeypatch.setattr(score_module, "InceptionFeatures", _ColourFeatures)
    masks, images = inputs
    out = tmp_path / "with_is"
    score([SPEC], images, masks, out, config=ScoreConfig.load(device="cpu", shard="1/4", **{**FAST, "inception": True}))
    for folder in (out / "cache" / "gt", out / "cache" / "models" / "test_score_mean_fill"):
        stored = [np.load(path) for path in sorted(folder.glob("part-*.npz"))]
        assert sum(len(part["pair"]) for part in stored) == 3
        assert stored[0]["logits"].shape[1] == 1008 and stored[0]["pool"].shape[1] == 2048
    table = pd.read_csv(out / "table1.csv", index_col="metric")
    assert "IS(GT)" in table.index and "IScore(mean_fill)" in table.index
    assert "IScore is our reading" in (out / "table1.md").read_text()


def test_report_paper_adds_the_published_rows_and_an_old_run_shows_ssim_paper_unavailable(
    one_run: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old_run"
    shutil.copytree(one_run, old)
    for part in (old / "cache" / "models").glob("*/part-*.csv"):  # as a run made before ssim_paper existed
        pd.read_csv(part, dtype={"pair": str}).drop(columns="ssim_paper").to_csv(part, index=False)
    result = CliRunner().invoke(main, ["report", str(old), "--out", str(tmp_path / "rep"), "--paper"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "rep" / "table1.csv", index_col="metric")
    assert table.loc["SSIM(PM) [published, Places2; compare with SSIM_paper]"].astype(float).tolist()[:2] == [
        0.946,
        0.947,
    ]
    assert (table.loc["SSIM_paper(mean_fill)"].dropna() == "n/a (not in this run's results)").all()
    assert "--overwrite to compute it" in (tmp_path / "rep" / "table1.md").read_text()
    fresh = pd.read_csv(one_run / "pairs.csv")
    assert fresh["ssim_paper"].notna().all() and (fresh["ssim_paper"] < fresh["ssim"]).all()
