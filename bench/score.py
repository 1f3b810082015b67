"""Benchmark of ``maskbench score``: pairs/s end to end, and the cost of the metrics alone.

End to end means what the command does per pair: read the mask, read and prepare the image
(resize, crop, 8-bit), inpaint, composite, ℓ1/PSNR/SSIM, and append the results to the cache;
plus, once per run, the table and the plots. It calls :func:`maskbench.score.score` with the
shipped ``configs/score.toml`` and ``inception=False`` (the Inception weights cannot be
downloaded here), changing only the model, ``workers`` and ``device``.

Inputs: the photos of ``../shared/samples/images`` and of scikit-image (JPEG files of
various sizes, re-used as needed) and a synthetic NVIDIA-numbered split of square holes
(one per bin and class per ``--per-bin``; Telea's cost grows with the hole area, so this
covers the six ratio bins evenly).

Metrics alone: :func:`maskbench.metrics.pair_statistics` on batches of 512×512 pairs (a
photo against a noisy copy), median of ``--repeats`` runs, per pair; on the CPU with the
default torch threads and with one thread (wall and CPU time), and on CUDA when present.

Usage: ``python bench/score.py [--out .handoff/bench-score.md] [--per-bin 2] [--pconv-per-bin 1]
[--metrics-only]`` (``--metrics-only`` prints the metrics table and writes nothing).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage import data

from maskbench.bins import testset_position
from maskbench.files import write_mask
from maskbench.metrics import pair_statistics
from maskbench.score import ScoreConfig, score

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "images"


def make_inputs(root: Path, per_bin: int) -> tuple[Path, Path]:
    """A numbered split of square holes and a folder of JPEG photos."""
    masks = root / "masks"
    for index in range(12 * per_bin):
        ratio_bin, border, position = testset_position(index, per_bin=per_bin)
        side = round(np.sqrt(0.05 + 0.1 * ratio_bin + 0.04 * position / max(per_bin, 1)) * 512)
        hole = np.zeros((512, 512), bool)
        top = (512 - side) // 2 if border == "N" else 0
        hole[top : top + side, top : top + side] = True
        write_mask(masks / f"{index:05d}.png", hole)
    images = root / "images"
    images.mkdir()
    for name in ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry"):
        cv2.imwrite(str(images / f"{name}.jpg"), cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2BGR))
    for path in sorted(SAMPLES.glob("*.jpg")):
        (images / path.name).write_bytes(path.read_bytes())
    return masks, images


def time_score(
    model: str, masks: Path, images: Path, out: Path, *, limit: int, workers: int, device: str
) -> tuple[int, float]:
    """(pairs, seconds) of one fresh ``score`` run."""
    start = time.perf_counter()
    config = ScoreConfig.load(
        device=device,
        workers=workers,
        limit_per_bin=limit,
        reuse_images=True,
        inception=False,
        upscale_small_images=True,
    )
    run = score([model], images, masks, out, config=config)
    return run.pairs, time.perf_counter() - start


def time_metrics(device: str, *, batch: int, repeats: int, cpu_time: bool = False) -> float:
    """Median ms per 512×512 pair of :func:`pair_statistics` on ``device`` (wall, or this process's CPU time)."""
    truth = data.astronaut().astype(np.float32) / 255
    noisy = np.clip(truth + np.random.default_rng(0).normal(0, 0.05, truth.shape), 0, 1).astype(np.float32)
    target = torch.from_numpy(truth).permute(2, 0, 1)[None].repeat(batch, 1, 1, 1).to(device)
    output = torch.from_numpy(noisy).permute(2, 0, 1)[None].repeat(batch, 1, 1, 1).to(device)
    pair_statistics(output, target)
    clock = time.process_time if cpu_time else time.perf_counter
    times = []
    for _ in range(repeats):
        if device != "cpu":
            torch.cuda.synchronize()
        start = clock()
        pair_statistics(output, target)
        if device != "cpu":
            torch.cuda.synchronize()
        times.append((clock() - start) / batch * 1000)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".handoff/bench-score.md"))
    parser.add_argument("--per-bin", type=int, default=2, help="pairs per bin and class for telea")
    parser.add_argument("--pconv-per-bin", type=int, default=1, help="pairs per bin and class for pconv:random")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--metrics-only", action="store_true", help="time the metrics alone; print, write nothing")
    arguments = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    load = os.getloadavg()[0]
    lines = [
        "# Benchmark: maskbench score",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
        + (f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"),
        f"- load average when starting: {load:.1f} (the cores are shared with other jobs: figures are noisy, "
        "and slower than on an idle machine)",
        "",
        "## Metrics alone (ℓ1 + PSNR + SSIM of one 512×512 RGB pair, batches of 8)",
        "",
        "| device | clock | ms per pair | goal |",
        "|---|---|---:|---:|",
    ]
    threads = torch.get_num_threads()
    for device in devices:
        goal = "< 50" if device == "cpu" else "< 10"
        wall = time_metrics(device, batch=8, repeats=arguments.repeats)
        lines.append(f"| {device} | wall, {threads} threads | {wall:.1f} | {goal} |")
    torch.set_num_threads(1)
    single_wall = time_metrics("cpu", batch=8, repeats=arguments.repeats)
    single_cpu = time_metrics("cpu", batch=8, repeats=arguments.repeats, cpu_time=True)
    torch.set_num_threads(threads)
    lines.append(f"| cpu | wall, 1 thread | {single_wall:.1f} | < 50 |")
    lines.append(f"| cpu | CPU time, 1 thread (least sensitive to other jobs) | {single_cpu:.1f} | |")
    if not torch.cuda.is_available():
        lines.append("\nNo GPU was lent to this run, so there is no CUDA row.")
    if arguments.metrics_only:
        print("\n".join(lines))
        return
    lines += [
        "",
        "## Whole pipeline (load, inpaint, metrics, write; `--no-inception`)",
        "",
        "| model | device | workers | pairs | seconds | pairs/s | ms/pair |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        masks, images = make_inputs(root, max(arguments.per_bin, arguments.pconv_per_bin))
        runs = [("telea", arguments.per_bin, 0, "cpu"), ("telea", arguments.per_bin, 2, "cpu")]
        runs += [("pconv:random", arguments.pconv_per_bin, 0, device) for device in devices]
        for number, (model, limit, workers, device) in enumerate(runs):
            pairs, seconds = time_score(
                model, masks, images, root / f"out{number}", limit=limit, workers=workers, device=device
            )
            lines.append(
                f"| {model} | {device} | {workers} | {pairs} | {seconds:.1f} | {pairs / seconds:.2f} "
                f"| {1000 * seconds / pairs:.0f} |"
            )
    lines += [
        "",
        "Telea and the metrics run on the CPU in any case except the metrics of a CUDA run; "
        "`pconv:random` is the untrained PConv U-Net (speed only).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
