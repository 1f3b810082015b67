"""Benchmark of the `flow` package: accuracy and speed of flows and occlusion masks.

Frame pairs with exact ground truth are composed from real photographs (the sample
images in ../shared/samples/images and scikit-image's colour photographs): a background
and an irregular cut-out of another photograph, each with its own random affine motion
(:func:`flow.synthetic.random_composite_pair`), in two motion ranges (``--motions``):
``small`` (background ≤ 6 px, cut-out 4–20 px) and ``large``, like real footage at working
size 512 (background ≤ 12 px, cut-out 12–40 px); the pixel ranges do not change with
``--size``. For every flow method the script reports, per range, on the same pairs in one run:

* mean end-point error (px) over the forward and the backward flow of every pair;
* occlusion F1 of every occlusion method against the true occlusion, pooled over the
  pixels of all pairs and both directions (occlusion of frame 0 and disocclusion of
  frame 1, i.e. the masks ``maskbench extract`` makes);
* milliseconds per forward + backward pair on the CPU, the methods taking turns on each
  pair so that they share the same load (and, when CUDA is present, our
  TV-L1 batched on the GPU with its throughput in pairs per second and its agreement with
  the CPU flows and masks of the same pairs).

``tvl1-4warps`` is our TV-L1 with the settings before issue 9 (4 warps on every level), for
the gain of the current defaults in the same run. ``--threads-under-load`` instead times
TV-L1 on a quiet machine and beside one busy process, with torch's default threads (one per
core) and with :func:`flow.threads.free_cores` threads.

Usage: ``python bench/optical_flow.py [--pairs N] [--size 512] [--seed 0] [--threads 1]
[--motions small,large] [--skip skimage-tvl1] [--threads-under-load]``.
It prints Markdown tables.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import skimage.data
import skimage.io
import torch
from skimage.color import rgb2gray
from skimage.registration import optical_flow_tvl1

import flow
from flow.synthetic import FlowPair, random_composite_pair
from flow.threads import free_cores, usable_cores

SAMPLE_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "images"
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
REFERENCE = ("dis", "range")  # the baseline of the F1 goal: DIS-medium flow + range map
#: Motion ranges, pixels: largest background shift, range of the cut-out's shift.
MOTIONS = {
    "small": {"background_shift": 6.0, "foreground_shift": (4.0, 20.0)},
    "large": {"background_shift": 12.0, "foreground_shift": (12.0, 40.0)},
}
#: Our TV-L1 rows: the defaults, and the settings before issue 9 (4 warps on every level).
TVL1_OPTIONS = {"tvl1": {}, "tvl1-4warps": {"warps": 4, "finest_warps": 4}}


@dataclass
class Scores:
    """Running sums for one flow method over all pairs (and its flows, for CPU/GPU agreement)."""

    seconds: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    counts: dict[str, np.ndarray] = field(default_factory=dict)  # method → (tp, fp, fn)
    flows: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def add_masks(self, method: str, predicted: np.ndarray, truth: np.ndarray) -> None:
        counts = np.array([(predicted & truth).sum(), (predicted & ~truth).sum(), (~predicted & truth).sum()])
        self.counts[method] = self.counts.get(method, 0) + counts

    def f1(self, method: str) -> float:
        tp, fp, fn = self.counts[method]
        return float(2 * tp / max(2 * tp + fp + fn, 1))


def load_photos() -> list[np.ndarray]:
    """The real photographs the composites are made of (uint8 RGB)."""
    photos = [skimage.io.imread(path)[..., :3] for path in sorted(SAMPLE_IMAGES.glob("*.jpg"))]
    return photos + [getattr(skimage.data, name)() for name in SKIMAGE_PHOTOS]


def make_pairs(count: int, size: int, seed: int, motion: str = "small") -> list[FlowPair]:
    """``count`` composites of one motion range, pair i drawn from the generator of (seed, i)."""
    photos = load_photos()
    pairs = []
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        background, foreground = rng.choice(len(photos), size=2, replace=False)
        pair = random_composite_pair(photos[background], photos[foreground], rng, size=(size, size), **MOTIONS[motion])
        pairs.append(pair)
    return pairs


def skimage_flow(frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
    """scikit-image's TV-L1 (default parameters) on grey frames, as (H, W, 2) x then y."""
    rows, cols = optical_flow_tvl1(rgb2gray(frame0), rgb2gray(frame1))
    return np.stack((cols, rows), axis=-1).astype(np.float32)


def cpu_flows(method: str) -> Callable[[FlowPair], tuple[np.ndarray, np.ndarray]]:
    """A function giving (forward, backward) flows of a pair on the CPU."""
    if method == "skimage-tvl1":
        return lambda pair: (skimage_flow(pair.frame0, pair.frame1), skimage_flow(pair.frame1, pair.frame0))
    if method not in TVL1_OPTIONS:
        return lambda pair: (
            flow.estimate(pair.frame0, pair.frame1, method=method),
            flow.estimate(pair.frame1, pair.frame0, method=method),
        )

    def tvl1_pair(pair: FlowPair) -> tuple[np.ndarray, np.ndarray]:
        first = torch.from_numpy(np.stack((pair.frame0, pair.frame1))).permute(0, 3, 1, 2)
        flows = flow.estimate_batch(first, first.flip(0), method="tvl1", device="cpu", **TVL1_OPTIONS[method])
        forward, backward = flows.permute(0, 2, 3, 1).numpy()
        return forward, backward

    return tvl1_pair


def score(scores: Scores, pair: FlowPair, forward: np.ndarray, backward: np.ndarray) -> None:
    """Add one pair's end-point errors and occlusion counts to ``scores``."""
    for estimated, truth in ((forward, pair.forward), (backward, pair.backward)):
        scores.errors.append(float(np.sqrt(((estimated - truth) ** 2).sum(axis=-1)).mean()))
    for method in flow.OCCLUSION_METHODS:
        scores.add_masks(method, flow.occlusion(forward, backward, method=method), pair.occluded)
        scores.add_masks(method, flow.occlusion(backward, forward, method=method), pair.disoccluded)


def run_cpu(methods: list[str], pairs: list[FlowPair]) -> dict[str, Scores]:
    """Flows of every pair with every method on the CPU, timed per pair.

    The methods take turns on each pair, so that every method runs under the same load
    on a shared machine.
    """
    computes = {method: cpu_flows(method) for method in methods}
    for compute in computes.values():
        compute(pairs[0])  # warm-up: compilation, caches
    results = {method: Scores() for method in methods}
    for pair in pairs:
        for method, compute in computes.items():
            start = time.perf_counter()
            forward, backward = compute(pair)
            results[method].seconds.append(time.perf_counter() - start)
            score(results[method], pair, forward, backward)
            if method == "tvl1":
                results[method].flows.append((forward, backward))
        print(".", end="", flush=True)
    return results


def run_gpu(pairs: list[FlowPair], batch_pairs: int) -> tuple[Scores, float]:
    """Our TV-L1 on CUDA, forward and backward of ``batch_pairs`` pairs per call.

    Returns the scores and the throughput in forward+backward pairs per second.
    """
    device = torch.device("cuda")
    first = torch.from_numpy(np.stack([pair.frame0 for pair in pairs])).permute(0, 3, 1, 2)
    second = torch.from_numpy(np.stack([pair.frame1 for pair in pairs])).permute(0, 3, 1, 2)
    first = first.to(device)
    second = second.to(device)
    flow.estimate_batch(first[:1], second[:1], device=device)  # warm-up: compilation
    scores = Scores()
    torch.cuda.synchronize()
    start = time.perf_counter()
    flows = []
    for begin in range(0, len(pairs), batch_pairs):
        frames0 = torch.cat((first[begin : begin + batch_pairs], second[begin : begin + batch_pairs]))
        frames1 = torch.cat((second[begin : begin + batch_pairs], first[begin : begin + batch_pairs]))
        flows.append(flow.estimate_batch(frames0, frames1, device=device))
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    scores.seconds = [elapsed / len(pairs)] * len(pairs)
    for begin, batch in zip(range(0, len(pairs), batch_pairs), flows, strict=True):
        half = batch.shape[0] // 2
        for offset in range(half):
            forward = batch[offset].permute(1, 2, 0).cpu().numpy()
            backward = batch[half + offset].permute(1, 2, 0).cpu().numpy()
            score(scores, pairs[begin + offset], forward, backward)
            scores.flows.append((forward, backward))
    return scores, len(pairs) / elapsed


def agreement(cpu: Scores, gpu: Scores) -> str:
    """CPU/GPU agreement of our TV-L1 on the same pairs: flows and default occlusion masks."""
    differences, masks_differ = [], []
    for (cpu_forward, cpu_backward), (gpu_forward, gpu_backward) in zip(cpu.flows, gpu.flows, strict=True):
        for first, second in ((cpu_forward, gpu_forward), (cpu_backward, gpu_backward)):
            differences.append(np.sqrt(((first - second) ** 2).sum(axis=-1)))
        cpu_mask = flow.occlusion(cpu_forward, cpu_backward)
        masks_differ.append(float((cpu_mask != flow.occlusion(gpu_forward, gpu_backward)).mean()))
    pooled = np.concatenate([difference.ravel() for difference in differences])
    return (
        f"CPU/GPU agreement of TV-L1 flows: mean {pooled.mean():.4f} px, 99th percentile "
        f"{np.percentile(pooled, 99):.4f} px, largest {pooled.max():.3f} px; default occlusion masks differ in "
        f"{100 * np.mean(masks_differ):.3f} % of the pixels"
    )


def throughput(size: int, batch_pairs: int, repeats: int = 3) -> float:
    """GPU forward+backward pairs per second of our TV-L1 on random frames (size × size)."""
    gpu = torch.device("cuda")
    frames = torch.rand((2 * batch_pairs, 3, size, size), device=gpu)
    flow.estimate_batch(frames, frames.roll(batch_pairs, 0), device=gpu)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        flow.estimate_batch(frames, frames.roll(batch_pairs, 0), device=gpu)
    torch.cuda.synchronize()
    return repeats * batch_pairs / (time.perf_counter() - start)


def table(results: dict[str, Scores]) -> str:
    """Markdown table of all methods, with ratios against scikit-image and the reference."""
    methods = flow.OCCLUSION_METHODS
    reference_f1 = results["dis"].f1(REFERENCE[1]) if "dis" in results else float("nan")
    reference_time = np.mean(results["skimage-tvl1"].seconds) if "skimage-tvl1" in results else float("nan")
    dis_time = np.mean(results["dis"].seconds) if "dis" in results else float("nan")
    head = ["flow", "EPE px", "ms / fwd+bwd pair", "time ÷ skimage", "time ÷ DIS"]
    head += [f"F1 {m}".replace("|", "\\|") for m in methods]
    head.append(f"default ({flow.DEFAULT_OCCLUSION_METHOD}) F1 − DIS+range".replace("|", "\\|"))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, scores in results.items():
        seconds = float(np.mean(scores.seconds))
        f1s = [scores.f1(m) for m in methods]
        cells = [name, f"{np.mean(scores.errors):.3f}", f"{1000 * seconds:.0f}", f"{seconds / reference_time:.3f}"]
        cells.append(f"{seconds / dis_time:.1f}")
        cells += [f"{value:.3f}" for value in f1s]
        cells.append(f"{scores.f1(flow.DEFAULT_OCCLUSION_METHOD) - reference_f1:+.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _spin() -> None:
    """A background load: one process keeping one core busy until it is terminated."""
    while True:
        pass


def seconds_per_pair(pair: FlowPair, threads: int, repeats: int) -> float:
    """Median seconds of our TV-L1 (forward + backward, batched) with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    compute = cpu_flows("tvl1")
    compute(pair)  # warm-up: compilation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        compute(pair)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def threads_under_load(size: int, seed: int, repeats: int = 3) -> str:
    """TV-L1 time per pair: quiet, then beside one busy process; slowdowns against the quiet time.

    Beside the busy process TV-L1 runs with one thread per core and with
    :func:`flow.threads.free_cores` threads.
    """
    pair = make_pairs(1, size, seed)[0]
    cores = usable_cores()
    quiet_threads = free_cores()
    quiet = seconds_per_pair(pair, quiet_threads, repeats)
    spinner = multiprocessing.get_context("spawn").Process(target=_spin, daemon=True)
    spinner.start()
    try:
        time.sleep(1.0)
        chosen = free_cores()
        loaded_all = seconds_per_pair(pair, cores, repeats)
        loaded_free = seconds_per_pair(pair, chosen, repeats)
    finally:
        spinner.terminate()
        spinner.join()
    bound = cores / max(cores - 1, 1)
    return "\n".join(
        [
            f"TV-L1 at {size}×{size}, one fwd+bwd pair, median of {repeats}; {cores} usable cores; "
            f"allowed slowdown with one core taken: {bound:.1f}×",
            "",
            "| load | torch threads | s / pair | slowdown vs quiet |",
            "|---|---|---|---|",
            f"| quiet (free_cores() = {quiet_threads}) | {quiet_threads} | {quiet:.2f} | 1.00× |",
            f"| 1 busy process | {cores} (one per core, torch's default) | {loaded_all:.2f} "
            f"| {loaded_all / quiet:.2f}× |",
            f"| 1 busy process | {chosen} (free_cores()) | {loaded_free:.2f} | {loaded_free / quiet:.2f}× |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=8, help="number of composite pairs per motion range")
    parser.add_argument("--size", type=int, default=512, help="frame side, pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--batch-pairs", type=int, default=32, help="pairs per GPU call (x2 flows)")
    parser.add_argument("--motions", default="small,large", help="motion ranges, comma-separated: small, large")
    parser.add_argument("--skip", nargs="*", default=[], help="flow methods to leave out")
    parser.add_argument("--threads-under-load", action="store_true", help="only time TV-L1 threads under a load")
    args = parser.parse_args()
    if args.threads_under_load:
        print(threads_under_load(args.size, args.seed))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    names = ("tvl1", "tvl1-4warps", "dis", "dis-ultrafast", "farneback", "skimage-tvl1")
    methods = [name for name in names if name not in args.skip]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"{args.pairs} pairs of {args.size}×{args.size} per motion range, seed {args.seed}, torch threads "
        f"{torch.get_num_threads()}, {platform.machine()}, {os.cpu_count()} CPUs, {stamp}, load average "
        f"{os.getloadavg()[0]:.1f}; default occlusion: {flow.DEFAULT_OCCLUSION_METHOD}"
    )
    for motion in args.motions.split(","):
        pairs = make_pairs(args.pairs, args.size, args.seed, motion)
        results = run_cpu(methods, pairs)
        extra = []
        if torch.cuda.is_available():
            results["tvl1 (GPU, batched)"], rate = run_gpu(pairs, args.batch_pairs)
            extra.append(f"GPU throughput on the pairs: {rate:.0f} fwd+bwd pairs/s")
            if "tvl1" in results:
                extra.append(agreement(results["tvl1"], results["tvl1 (GPU, batched)"]))
        settings = MOTIONS[motion]
        print(
            f"\n\n### {motion} motions: background ≤ {settings['background_shift']:g} px, cut-out "
            f"{settings['foreground_shift'][0]:g}–{settings['foreground_shift'][1]:g} px "
            f"(load average at the end {os.getloadavg()[0]:.1f})\n"
        )
        print(table(results))
        for line in extra:
            print(f"\n{line}")
    if torch.cuda.is_available():
        rate = throughput(args.size, args.batch_pairs)
        print(f"\nGPU throughput, {args.batch_pairs} random pairs per call: {rate:.0f} fwd+bwd pairs/s")


if __name__ == "__main__":
    main()
