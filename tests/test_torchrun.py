"""Under ``torchrun --standalone --nproc-per-node 2`` (gloo, CPU): DDP, train, score, extract, failure.

One job (tests/torchrun_job.py) does all the distributed work, because starting one costs most
of its time here; each test checks one part of it against a one-process run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_score import make_images, make_nvidia_folder
from test_train import AUGMENT, TinyFeatures
from torchrun_job import ddp_step_weights

from maskbench.distributed import Ranks
from maskbench.extract import extract_videos
from maskbench.extract_config import ExtractConfig
from maskbench.models.unet import build_unet, he_initialize
from maskbench.score import ScoreConfig, score
from maskbench.store import MaskStore
from maskbench.synthetic import write_demo_video
from maskbench.train import train
from maskbench.train_config import TrainConfig

TORCHRUN = Path(sys.executable).with_name("torchrun")
EXTRACT_TOML = (
    'method = "dis"\nworking_size = 96\nbatch_size = 4\nmin_component_area = 12\nfill_gap_area = 16\nworkers = 0\n'
)
pytestmark = pytest.mark.skipif(not TORCHRUN.is_file(), reason="torchrun is not installed beside this Python")


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, float, dict[str, Path]]:
    """The finished torchrun job (its output, the time it ended) and its inputs and output folder."""
    root = tmp_path_factory.mktemp("torchrun")
    paths = {
        "out": root / "out",
        "images": make_images(root / "images", 12),
        "testset": make_nvidia_folder(root / "testset", per_bin=1),
        "videos": root / "videos",
        "train_masks": root / "train" / "masks",
        "extract_config": root / "extract.toml",
    }
    paths["out"].mkdir()
    for name, seed in (("a.mp4", 1), ("b.avi", 2), ("c.mp4", 3)):
        write_demo_video(paths["videos"] / name, frames=6, size=(96, 128), seed=seed)
    paths["extract_config"].write_text(EXTRACT_TOML)
    holes = [np.pad(np.ones((20, 30), bool), ((10 + 8 * k, 34 - 8 * k), (15, 19))) for k in range(3)]
    MaskStore.create(paths["train_masks"]).append(holes, sources=["synthetic"] * 3, frames=[0, 1, 2])
    arguments = [
        str(paths[name]) for name in ("out", "images", "testset", "videos", "images", "train_masks", "extract_config")
    ]
    environment = {
        **os.environ,
        "MASKBENCH_DIST_TIMEOUT": "600",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        str(TORCHRUN),
        "--standalone",
        "--nproc-per-node",
        "2",
        str(Path(__file__).with_name("torchrun_job.py")),
        *arguments,
    ]
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=400, cwd=root)
    return finished, time.time(), paths


def test_one_ddp_step_on_identical_batches_equals_a_one_process_step(job) -> None:
    out = job[2]["out"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the job's ranks: the same kernels, so the same float sums
    try:
        expected = ddp_step_weights(Ranks())
    finally:
        torch.set_num_threads(threads)
    for rank in (0, 1):
        weights = torch.load(out / f"ddp-rank{rank}.pt")
        assert weights.keys() == expected.keys()
        for name, value in expected.items():
            torch.testing.assert_close(weights[name], value, rtol=1e-5, atol=1e-6, msg=f"rank {rank}: {name}")
    initial = build_unet("pconv", width=0.0625)
    he_initialize(initial, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(
        initial.state_dict()["encoder.0.conv.weight"], expected["encoder.0.conv.weight"]
    )  # it did train


def test_training_writes_once_records_the_world_size_and_resumes_with_one_process(job) -> None:
    out = job[2]["out"]
    run = out / "run"
    record = json.loads((run / "run.json").read_text())
    assert record["world_size"] == 2 and record["step"] == 2 and record["config"]["batch_size"] == 4
    log = pd.read_csv(run / "log.csv")
    assert log["step"].tolist() == [1, 2]  # rank 0 alone wrote the log: no duplicated rows
    assert (run / "checkpoints" / "step-00000002.pt").is_file()
    config = TrainConfig.load_run(run, resume=True, stop_step=3, device="cpu")
    resumed = train(run, config=config, augment=AUGMENT, feature_extractor=TinyFeatures())
    assert resumed.step == 3
    assert json.loads((run / "run.json").read_text())["world_size"] == 1
    assert pd.read_csv(run / "log.csv")["step"].tolist() == [1, 2, 3]


def test_score_under_torchrun_equals_one_process(job, tmp_path: Path) -> None:
    paths = job[2]
    one = tmp_path / "one"
    config = ScoreConfig.load(
        device="cpu", workers=0, inception=False, batch_size=2, size=64, upscale_small_images=True, limit_per_bin=1
    )
    score(["telea"], paths["images"], paths["testset"], one, config=config)
    two = paths["out"] / "score"
    for name in ("pairs.csv", "table1.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(two / name), pd.read_csv(one / name))
    assert len(pd.read_csv(two / "pairs.csv")) == 12


def test_extract_under_torchrun_writes_one_store_equal_to_one_process(job, tmp_path: Path) -> None:
    paths = job[2]
    one = tmp_path / "one.store"
    config = ExtractConfig.load(paths["extract_config"])
    extract_videos(paths["videos"], one, config=config, show_progress=False)
    expected, found = MaskStore.open(one), MaskStore.open(paths["out"] / "masks.store")
    assert len(expected) > 0 and len(found) == len(expected)  # each video once, not once per rank
    columns = ["source", "frame", "group", "extra", "hole_pixels"]
    pd.testing.assert_frame_equal(found.records()[columns], expected.records()[columns])  # same masks, same order
    assert all(np.array_equal(found[index], expected[index]) for index in range(len(expected)))


def test_a_rank_that_fails_ends_the_job_with_its_error(job) -> None:
    finished, ended, paths = job
    out = paths["out"]
    assert (out / "done-rank0").is_file() and (out / "done-rank1").is_file(), finished.stderr[-3000:]
    assert finished.returncode != 0
    assert "Error: " in finished.stdout + finished.stderr and "no-such-folder" in finished.stdout + finished.stderr
    assert not (out / "passed-the-failure-rank0").exists()  # rank 0 was stopped, not let through
    assert ended - (out / "done-rank1").stat().st_mtime < 120  # ended by torchrun, far sooner than the 600 s timeout
