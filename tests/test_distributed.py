"""Cluster plumbing without a launcher: torchrun's variables, batch slices, SLURM arrays, store locks.

The README's ``sbatch --array`` scripts are run here command by command with the SLURM
variables set by hand (there is no scheduler); tests/test_torchrun.py runs real torchrun jobs.
"""

from __future__ import annotations

import multiprocessing
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_score import make_images, make_nvidia_folder

from maskbench.cli import main
from maskbench.data import EpochSampler
from maskbench.distributed import (
    Ranks,
    RankSlice,
    collective_timeout,
    gather_in_order,
    launched_ranks,
    rank_batch_size,
)
from maskbench.errors import ConfigError
from maskbench.extract import extract_videos
from maskbench.extract_config import ExtractConfig
from maskbench.locking import file_lock
from maskbench.parallel import Shard
from maskbench.slurm import slurm_array_shard
from maskbench.store import MaskStore
from maskbench.synthetic import write_demo_video

EXTRACT_TOML = (
    'method = "dis"\nworking_size = 96\nbatch_size = 4\nmin_component_area = 12\nfill_gap_area = 16\nworkers = 0\n'
)
SCORE_OPTIONS = [
    "--model",
    "telea",
    "--device",
    "cpu",
    "--no-inception",
    "--workers",
    "0",
    "--batch-size",
    "4",
    "--size",
    "64",
    "--upscale-small-images",
]


def slurm(task: int, first: int, count: int, step: int | None = None) -> dict[str, str]:
    """The variables sbatch sets in one task of ``--array=FIRST-LAST[:STEP]``."""
    variables = {
        "SLURM_ARRAY_TASK_ID": str(task),
        "SLURM_ARRAY_TASK_MIN": str(first),
        "SLURM_ARRAY_TASK_COUNT": str(count),
        "SLURM_ARRAY_TASK_MAX": str(first + (count - 1) * (step or 1)),
    }
    if step is not None:
        variables["SLURM_ARRAY_TASK_STEP"] = str(step)
    return variables


# -- torchrun's variables and the global batch ------------------------------------------------


def test_ranks_come_from_torchrun_variables_and_bad_ones_are_explained() -> None:
    assert launched_ranks({}) == Ranks(0, 1, 0)
    assert launched_ranks({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Ranks(3, 4, 1)
    with pytest.raises(ConfigError, match="RANK < WORLD_SIZE"):
        launched_ranks({"RANK": "4", "WORLD_SIZE": "4", "LOCAL_RANK": "0"})
    with pytest.raises(ConfigError, match="must be integers"):
        launched_ranks({"RANK": "x", "WORLD_SIZE": "2"})
    assert Ranks(1, 3).share(list(range(8))) == [1, 4, 7]
    assert collective_timeout({}) == timedelta(minutes=30)
    assert collective_timeout({"MASKBENCH_DIST_TIMEOUT": "90"}) == timedelta(seconds=90)
    with pytest.raises(ConfigError, match="MASKBENCH_DIST_TIMEOUT"):
        collective_timeout({"MASKBENCH_DIST_TIMEOUT": "0"})


def test_the_ranks_batches_of_a_step_are_the_one_process_batch() -> None:
    base = EpochSampler(5, seed=3, first=6 * 3, stop=6 * 7)  # resumed at step 3, global batch 6, 4 steps
    one = list(base)
    slices = [list(RankSlice(base, global_batch=6, ranks=Ranks(rank, 3))) for rank in range(3)]
    assert [len(RankSlice(base, global_batch=6, ranks=Ranks(rank, 3))) for rank in range(3)] == [8, 8, 8]
    for step in range(4):
        rebuilt = [key for rank in range(3) for key in slices[rank][2 * step : 2 * step + 2]]
        assert rebuilt == one[6 * step : 6 * step + 6]
    assert slices[0][:2] != slices[1][:2]  # every rank sees other samples
    assert list(RankSlice(base, global_batch=6, ranks=Ranks())) == one
    with pytest.raises(ConfigError, match="multiple of 4"):
        rank_batch_size(6, Ranks(0, 4))


def test_gather_in_order_with_one_process_is_the_plain_map() -> None:
    assert list(gather_in_order([1, 2, 3], lambda items: [item * 10 for item in items], ranks=Ranks())) == [10, 20, 30]


# -- SLURM job arrays -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (slurm(0, 0, 8), (1, 8)),
        (slurm(8, 1, 8), (8, 8)),
        (slurm(104, 100, 8, step=2), (3, 8)),
        (slurm(5, 5, 1), (1, 1)),
    ],
)
def test_shard_auto_reads_the_array_task(
    variables: dict[str, str], expected: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert slurm_array_shard(variables) == expected
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert Shard.parse("auto") == expected


def test_shard_auto_outside_an_array_or_in_an_irregular_one_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"SLURM_ARRAY_TASK_ID.*--shard K/N"):
        slurm_array_shard({})
    irregular = {
        "SLURM_ARRAY_TASK_ID": "6",
        "SLURM_ARRAY_TASK_MIN": "1",
        "SLURM_ARRAY_TASK_COUNT": "3",
        "SLURM_ARRAY_TASK_MAX": "6",
    }
    with pytest.raises(ConfigError, match="evenly spaced"):  # --array=1,5,6
        slurm_array_shard(irregular)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cluster")
    for name, seed in (("a.mp4", 1), ("b.avi", 2), ("c.mp4", 3)):
        write_demo_video(root / "videos" / name, frames=6, size=(96, 128), seed=seed)
    (root / "extract.toml").write_text(EXTRACT_TOML)
    return {
        "root": root,
        "videos": root / "videos",
        "config": root / "extract.toml",
        "images": make_images(root / "images", 12),
        "testset": make_nvidia_folder(root / "testset", per_bin=1),
    }


def test_the_array_scripts_with_slurm_variables_set_by_hand_equal_one_process(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    """README: score and extract array tasks (``--array=5-7``), then ``maskbench report`` / ``merge-stores``."""
    runner = CliRunner()
    for task in (5, 6, 7):
        environment = slurm(task, 5, 3)
        shard = tmp_path / f"scores-{task}"
        result = runner.invoke(
            main,
            [
                "score",
                *SCORE_OPTIONS,
                "--images",
                str(inputs["images"]),
                "--testset",
                str(inputs["testset"]),
                "--out",
                str(shard),
                "--shard",
                "auto",
            ],
            env=environment,
        )
        assert result.exit_code == 0, result.output
        assert len(pd.read_csv(shard / "pairs.csv")) == 4
        result = runner.invoke(
            main,
            [
                "extract",
                "--videos",
                str(inputs["videos"]),
                "--out",
                str(tmp_path / f"masks-{task}.store"),
                "--config",
                str(inputs["config"]),
                "--shard",
                "auto",
            ],
            env=environment,
        )
        assert result.exit_code == 0, result.output
    shards = [str(tmp_path / f"scores-{task}") for task in (5, 6, 7)]
    assert runner.invoke(main, ["report", *shards, "--out", str(tmp_path / "scores")]).exit_code == 0
    stores = [str(tmp_path / f"masks-{task}.store") for task in (5, 6, 7)]
    assert runner.invoke(main, ["merge-stores", *stores, "--out", str(tmp_path / "masks.store")]).exit_code == 0

    whole = runner.invoke(
        main,
        [
            "score",
            *SCORE_OPTIONS,
            "--images",
            str(inputs["images"]),
            "--testset",
            str(inputs["testset"]),
            "--out",
            str(tmp_path / "whole"),
        ],
    )
    assert whole.exit_code == 0, whole.output
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "scores" / "table1.csv"), pd.read_csv(tmp_path / "whole" / "table1.csv")
    )
    merged, one = MaskStore.open(tmp_path / "masks.store"), tmp_path / "one.store"
    extract_videos(inputs["videos"], one, config=ExtractConfig.load(inputs["config"]), show_progress=False)
    assert (
        sorted(merged.groups()) == sorted(MaskStore.open(one).groups()) and len(merged) == len(MaskStore.open(one)) > 0
    )


# -- two writers of one store ---------------------------------------------------------------------


def _extract_into(arguments: tuple[Path, Path, Path]) -> int:
    videos, store, config_file = arguments
    extract_videos(videos, store, config=ExtractConfig.load(config_file), show_progress=False)
    return 0


def test_two_extract_processes_on_one_store_do_not_duplicate(inputs: dict[str, Path], tmp_path: Path) -> None:
    store = tmp_path / "shared.store"
    MaskStore.create(store)
    with multiprocessing.get_context("spawn").Pool(2) as pool:  # both start on the same videos at once
        pool.map(_extract_into, [(inputs["videos"], store, inputs["config"])] * 2)
    shared = MaskStore.open(store)
    one = tmp_path / "one.store"
    _extract_into((inputs["videos"], one, inputs["config"]))
    records = shared.records()
    assert sorted(shared.groups()) == sorted(MaskStore.open(one).groups())
    assert len(shared) == len(MaskStore.open(one)) > 0  # each video's masks once
    assert not records.duplicated(["group", "frame", "extra"]).any()
    assert [path.name for path in sorted((store / "shards").glob("*.h5"))] == [f"{n:06d}.h5" for n in range(3)]


def _append_many(arguments: tuple[Path, int]) -> None:
    store, writer = arguments
    opened = MaskStore.open(store)
    for number in range(10):
        opened.append([np.eye(4, dtype=bool)], sources=[f"writer-{writer}"], frames=[number])


def test_concurrent_appends_never_take_the_same_shard(tmp_path: Path) -> None:
    store = tmp_path / "masks.store"
    MaskStore.create(store)
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        pool.map(_append_many, [(store, writer) for writer in range(3)])
    records = MaskStore.open(store).records()
    assert len(records) == 30 and sorted(records.groupby("source").size()) == [10, 10, 10]


def test_the_lock_is_reentrant_and_excludes_another_process(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with file_lock(lock), file_lock(lock):  # re-entrant in one process
        context = multiprocessing.get_context("spawn")
        probe = context.Process(target=_try_lock, args=(lock,))
        probe.start()
        probe.join(timeout=60)
        assert probe.exitcode == 11  # the other process found it locked
    probe = context.Process(target=_try_lock, args=(lock,))
    probe.start()
    probe.join(timeout=60)
    assert probe.exitcode == 0


def _try_lock(path: Path) -> None:
    import fcntl
    import os

    with open(path, "ab") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os._exit(11)
    os._exit(0)
