"""Benchmark of ``torchrun``: score and train throughput with 1 and 2 processes, and a paper-scale estimate.

Each configuration is one ``torchrun --standalone --nproc-per-node P`` job of this script in
``--work`` mode. Inside it every rank pins one thread (torch, OpenCV), the ranks meet at a
barrier, and rank 0 times the library call alone (not the start of the job, reported apart):

* ``score``: :func:`maskbench.score.score` of ``telea`` (24 pairs at 512 px) and of
  ``pconv:random`` (the paper's PConv U-Net with random weights, 24 pairs at 256 px),
  ``--no-inception``, each scored twice (half and all of the masks): throughput = the added
  pairs / the added seconds; what remains is the fixed cost of a run (loading, the test-set
  check, the table and plots that rank 0 writes alone), reported apart.
* ``train``: :func:`maskbench.train.train` of the paper's PConv U-Net on 256 px crops,
  global batch 4, 3 steps; the loss's feature network is VGG-16 up to pool3 with random
  weights (the cost of the real one; its ImageNet weights cannot be downloaded here);
  throughput = the median images/s of ``log.csv``'s rows after the first step.

On a machine with CUDA the ranks use one GPU each (``--device auto``). The paper-scale
estimate (12,000 pairs; 1 M steps of the paper's batch of 6 at 512 px, counted as 4× the
pixels of the measured 256 px images) divides the work by the measured one-process rate times N,
once with ideal scaling and once with the measured 2-process efficiency; it is an
extrapolation, not a measurement.

Usage: ``python bench/scale.py [--out .handoff/bench-scale.md] [--images ../shared/samples/images]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
import torchvision
from skimage import data
from torch import nn

from maskbench.bins import testset_position
from maskbench.distributed import join_job, wait_for_all
from maskbench.files import list_images, read_image, write_image, write_mask
from maskbench.score import ScoreConfig, score
from maskbench.store import MaskStore
from maskbench.train import train
from maskbench.train_config import TrainConfig

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "images"
SCORE_RUNS = (("telea", 2, 512), ("pconv:random", 2, 256))  # model, masks per bin and class, size
TRAIN = {
    "model_width": 1.0,
    "image_size": 256,
    "batch_size": 4,
    "workers": 0,
    "log_every": 1,
    "sample_count": 0,
    "checkpoint_every": 1000,
    "upscale_small_images": True,
}
TRAIN_STEPS = 3
PAPER_PAIRS = 12_000
PAPER_STEPS = 1_000_000
PAPER_BATCH = 6


class RandomVGG16Pool3(nn.Module):
    """VGG-16's layers up to pool1, pool2 and pool3 with random weights: the cost of the perceptual loss's network."""

    def __init__(self) -> None:
        super().__init__()
        features = torchvision.models.vgg16(weights=None).features
        self.slices = nn.ModuleList([features[:5], features[5:10], features[10:17]])
        self.requires_grad_(False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for block in self.slices:
            image = block(image)
            outputs.append(image)
        return outputs


def make_inputs(root: Path, images: Path | None) -> dict[str, Path]:
    """A numbered split of square holes per run, photos (at least 512 px after enlarging), a mask store."""
    paths = {"images": root / "images", "store": root / "masks.store"}
    photos = list_images(images) if images is not None and images.is_dir() else []
    pictures = [read_image(path) for path in photos[:12]] or [
        np.asarray(p, np.float32) / 255 for p in (data.astronaut(), data.coffee(), data.chelsea())
    ]
    for number in range(24):
        picture = pictures[number % len(pictures)]
        mirrored = (number // len(pictures)) % 2 == 1
        write_image(
            paths["images"] / f"img{number:02d}.png", np.ascontiguousarray(picture[:, ::-1] if mirrored else picture)
        )
    for model, per_bin, _ in SCORE_RUNS:
        masks = paths[model] = root / f"masks-{model.replace(':', '-')}"
        for index in range(12 * per_bin):
            ratio_bin, border, position = testset_position(index, per_bin=per_bin)
            side = round(np.sqrt(0.05 + 0.1 * ratio_bin + 0.04 * position / per_bin) * 512)
            hole = np.zeros((512, 512), bool)
            top = (512 - side) // 2 if border == "N" else 0
            hole[top : top + side, top : top + side] = True
            write_mask(masks / f"{index:05d}.png", hole)
    rng = np.random.default_rng(0)
    holes = []
    for _ in range(16):
        hole = np.zeros((256, 256), bool)
        for _ in range(3):
            top, left, height, width = rng.integers(0, 160, 2).tolist() + rng.integers(20, 90, 2).tolist()
            hole[top : top + height, left : left + width] = True
        holes.append(hole)
    MaskStore.create(paths["store"]).append(holes, sources=["bench"] * len(holes), frames=list(range(len(holes))))
    return paths


def work(kind: str, root: Path, result: Path) -> None:
    """One rank's part of a job; rank 0 writes the timings to ``result`` (JSON)."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    ranks = join_job()
    paths = {name: root / name for name in os.listdir(root)}
    figures: dict[str, float] = {}
    if kind == "score":
        for model, per_bin, size in SCORE_RUNS:
            seconds = {}
            for limit in (
                per_bin // 2,
                per_bin,
            ):  # the cost of the added pairs is the cost per pair, without the fixed costs
                wait_for_all(ranks)
                started = time.perf_counter()
                config = ScoreConfig.load(
                    device="auto",
                    workers=0,
                    inception=False,
                    batch_size=2,
                    size=size,
                    upscale_small_images=True,
                    reuse_images=True,
                    limit_per_bin=limit,
                )
                score(
                    [model],
                    paths["images"],
                    paths[f"masks-{model.replace(':', '-')}"],
                    result.parent / f"score-{model}-{ranks.size}-{limit}",
                    config=config,
                )
                wait_for_all(ranks)
                seconds[limit] = time.perf_counter() - started
            added_pairs = 12 * (per_bin - per_bin // 2)
            figures[f"{model} pairs/s"] = added_pairs / (seconds[per_bin] - seconds[per_bin // 2])
            figures[f"{model} fixed s"] = seconds[per_bin] - 12 * per_bin / figures[f"{model} pairs/s"]
    else:
        wait_for_all(ranks)
        run = result.parent / f"train-{ranks.size}"
        config = TrainConfig.load(**TRAIN, arch="pconv", stop_step=TRAIN_STEPS, device="auto")
        train(run, paths["images"], paths["masks.store"], config=config, feature_extractor=RandomVGG16Pool3())
        if ranks.main:
            figures["train images/s"] = float(pd.read_csv(run / "log.csv")["images_per_second"].iloc[1:].median())
    if ranks.main:
        result.write_text(json.dumps(figures))


def launch(kind: str, processes: int, root: Path, scratch: Path) -> dict[str, float]:
    """Run ``work(kind)`` under torchrun with ``processes`` ranks; its figures plus the job's wall time."""
    result = scratch / f"{kind}-{processes}.json"
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [
        str(torchrun),
        "--standalone",
        "--nproc-per-node",
        str(processes),
        __file__,
        "--work",
        kind,
        "--root",
        str(root),
        "--result",
        str(result),
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return {**json.loads(result.read_text()), "job seconds": time.perf_counter() - started}


def estimate_rows(name: str, rate: float, efficiency: float, work_items: float) -> list[str]:
    """Markdown rows: hours for ``work_items`` at ``rate`` per process on 1, 8 and 64 processes.

    Each row gives the ideal time and the time at ``efficiency``.
    """
    rows = []
    for count in (1, 8, 64):
        ideal = work_items / (rate * count) / 3600
        measured = ideal / (efficiency if count > 1 else 1.0)
        rows.append(f"| {name} | {count} | {_duration(ideal)} | {_duration(measured)} |")
    return rows


def _duration(hours: float) -> str:
    """``42 min``, ``3.5 h`` or ``3.5 h (1.2 d)``."""
    if hours < 1:
        return f"{hours * 60:.0f} min"
    return f"{hours:,.1f} h" + (f" ({hours / 24:,.1f} d)" if hours >= 24 else "")


def report(figures: dict[int, dict[str, float]], load: float) -> str:
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    device = (
        f"one {cuda} per process"
        if cuda
        else f"CPU, 1 thread per process ({os.cpu_count()} cores on the machine, shared)"
    )
    lines = [
        "# Benchmark: torchrun, 1 and 2 processes (`bench/scale.py`)",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, {device}; "
        f"torch {torch.__version__}",
        f"- load average when starting: {load:.1f} (other jobs share the cores: the figures are noisy)",
        "",
        "| work | 1 process | 2 processes | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for name in figures[1]:
        one, two = figures[1][name], figures[2][name]
        lines.append(f"| {name} | {one:.3g} | {two:.3g} | {f'{two / one:.2f}×' if 'fixed' not in name else ''} |")
    score_rate, score_efficiency = (
        figures[1]["pconv:random pairs/s"],
        figures[2]["pconv:random pairs/s"] / figures[1]["pconv:random pairs/s"] / 2,
    )
    train_rate, train_efficiency = (
        figures[1]["train images/s"],
        figures[2]["train images/s"] / figures[1]["train images/s"] / 2,
    )
    lines += [
        "",
        "### Paper scale: an extrapolation, not a measurement",
        "",
        "Hours = work / (rate of one process as measured above × N), with ideal scaling and with the measured "
        f"2-process efficiency held for every N (score {min(score_efficiency, 1):.2f}, "
        f"train {min(train_efficiency, 1):.2f}). "
        "Score: 12,000 pairs of `pconv:random` at 256 px (the fixed cost above, seconds, left out). "
        "Train: 1 M steps × 6 images at 512 px, counted as 4 × 6 M images "
        "of the measured 256 px ones (a convolution's cost grows with the pixels). On GPUs the rates are those the "
        "script measures there, not these.",
        "",
        "| work | processes | ideal | at the measured efficiency |",
        "|---|---:|---:|---:|",
        *estimate_rows("score 12,000 pairs", score_rate, min(score_efficiency, 1), PAPER_PAIRS),
        *estimate_rows("train 1 M steps", train_rate, min(train_efficiency, 1), PAPER_STEPS * PAPER_BATCH * 4),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="Also write the Markdown report here.")
    parser.add_argument(
        "--images",
        type=Path,
        default=SAMPLES,
        help="Photos to score and train on (default: the shared samples; else scikit-image's).",
    )
    parser.add_argument("--work", choices=("score", "train"), default=None, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.work is not None:
        work(arguments.work, arguments.root, arguments.result)
        return
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        root, scratch = Path(folder) / "inputs", Path(folder) / "runs"
        scratch.mkdir()
        make_inputs(root, arguments.images)
        figures = {processes: {} for processes in (1, 2)}
        for kind in ("score", "train"):
            for processes in (1, 2):
                measured = launch(kind, processes, root, scratch)
                figures[processes].update({name: value for name, value in measured.items() if name != "job seconds"})
                figures[processes][f"{kind} job seconds"] = measured["job seconds"]
    text = report(
        {
            count: {name: value for name, value in found.items() if "job seconds" not in name}
            for count, found in figures.items()
        },
        load,
    )
    text += "\n" + "".join(
        f"- {kind} job, start to end: {figures[1][f'{kind} job seconds']:.0f} s (1 process), "
        f"{figures[2][f'{kind} job seconds']:.0f} s (2)\n"
        for kind in ("score", "train")
    )
    print(text)
    if arguments.out is not None:
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        arguments.out.write_text(text)


if __name__ == "__main__":
    main()
