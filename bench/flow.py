"""Benchmark of the `flow` package: accuracy and speed of flows and occlusion masks.

Frame pairs with exact ground truth are composed from real photographs (the sample
images in ../shared/samples/images and scikit-image's colour photographs): a background
and an irregular cut-out of another photograph, each with its own random affine motion
(:func:`flow.synthetic.random_composite_pair`). For every flow method the script reports,
on the same pairs in one run:

* mean end-point error (px) over the forward and the backward flow of every pair;
* occlusion F1 of every occlusion method against the true occlusion, pooled over the
  pixels of all pairs and both directions (occlusion of frame 0 and disocclusion of
  frame 1, i.e. the masks ``maskbench extract`` makes);
* milliseconds per forward + backward pair on the CPU, the methods taking turns on each
  pair so that they share the same load (and, when CUDA is present, our
  TV-L1 batched on the GPU with its throughput in pairs per second).

Usage: ``python bench/flow.py [--pairs N] [--size 512] [--seed 0] [--threads 1]``.
It prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

# Run as `python bench/flow.py`, this file's folder comes first on sys.path and its name
# would hide the `flow` package: drop the folder before importing it.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
import skimage.io  # noqa: E402
import torch  # noqa: E402
from skimage.color import rgb2gray  # noqa: E402
from skimage.registration import optical_flow_tvl1  # noqa: E402

import flow  # noqa: E402
from flow.synthetic import FlowPair, random_composite_pair  # noqa: E402

SAMPLE_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "images"
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
REFERENCE = ("dis", "range")  # the baseline of the F1 goal: DIS-medium flow + range map


@dataclass
class Scores:
    """Running sums for one flow method over all pairs."""

    seconds: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    counts: dict[str, np.ndarray] = field(default_factory=dict)  # method → (tp, fp, fn)

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


def make_pairs(count: int, size: int, seed: int) -> list[FlowPair]:
    """``count`` composites, pair i drawn from the generator of (seed, i)."""
    photos = load_photos()
    pairs = []
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        background, foreground = rng.choice(len(photos), size=2, replace=False)
        pairs.append(random_composite_pair(photos[background], photos[foreground], rng, size=(size, size)))
    return pairs


def skimage_flow(frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
    """scikit-image's TV-L1 (default parameters) on grey frames, as (H, W, 2) x then y."""
    rows, cols = optical_flow_tvl1(rgb2gray(frame0), rgb2gray(frame1))
    return np.stack((cols, rows), axis=-1).astype(np.float32)


def cpu_flows(method: str) -> Callable[[FlowPair], tuple[np.ndarray, np.ndarray]]:
    """A function giving (forward, backward) flows of a pair on the CPU."""
    if method == "skimage-tvl1":
        return lambda pair: (skimage_flow(pair.frame0, pair.frame1), skimage_flow(pair.frame1, pair.frame0))
    if method != "tvl1":
        return lambda pair: (
            flow.estimate(pair.frame0, pair.frame1, method=method),
            flow.estimate(pair.frame1, pair.frame0, method=method),
        )

    def tvl1_pair(pair: FlowPair) -> tuple[np.ndarray, np.ndarray]:
        first = torch.from_numpy(np.stack((pair.frame0, pair.frame1))).permute(0, 3, 1, 2)
        flows = flow.estimate_batch(first, first.flip(0), method="tvl1", device="cpu")
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
    for begin, batch in zip(range(0, len(pairs), batch_pairs), flows):
        half = batch.shape[0] // 2
        for offset in range(half):
            forward = batch[offset].permute(1, 2, 0).cpu().numpy()
            backward = batch[half + offset].permute(1, 2, 0).cpu().numpy()
            score(scores, pairs[begin + offset], forward, backward)
    return scores, len(pairs) / elapsed


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
    head = ["flow", "EPE px", "ms / fwd+bwd pair", "time ÷ skimage"] + [f"F1 {m}".replace("|", "\\|") for m in methods]
    head.append(f"default ({flow.DEFAULT_OCCLUSION_METHOD}) F1 − DIS+range".replace("|", "\\|"))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, scores in results.items():
        seconds = float(np.mean(scores.seconds))
        f1s = [scores.f1(m) for m in methods]
        cells = [name, f"{np.mean(scores.errors):.3f}", f"{1000 * seconds:.0f}", f"{seconds / reference_time:.3f}"]
        cells += [f"{value:.3f}" for value in f1s]
        cells.append(f"{scores.f1(flow.DEFAULT_OCCLUSION_METHOD) - reference_f1:+.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=8, help="number of composite pairs")
    parser.add_argument("--size", type=int, default=512, help="frame side, pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--batch-pairs", type=int, default=32, help="pairs per GPU call (x2 flows)")
    parser.add_argument("--skip", nargs="*", default=[], help="flow methods to leave out")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pairs = make_pairs(args.pairs, args.size, args.seed)
    methods = [name for name in ("tvl1", "dis", "dis-ultrafast", "farneback", "skimage-tvl1") if name not in args.skip]
    results = run_cpu(methods, pairs)
    extra = []
    if torch.cuda.is_available():
        results["tvl1 (GPU, batched)"], rate = run_gpu(pairs, args.batch_pairs)
        extra.append(f"GPU throughput on the pairs: {rate:.0f} fwd+bwd pairs/s")
        rate = throughput(args.size, args.batch_pairs)
        extra.append(f"GPU throughput, {args.batch_pairs} random pairs per call: {rate:.0f} pairs/s")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"\n{len(pairs)} pairs of {args.size}×{args.size}, seed {args.seed}, torch threads {torch.get_num_threads()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, {stamp}; default occlusion: {flow.DEFAULT_OCCLUSION_METHOD}\n"
    )
    print(table(results))
    for line in extra:
        print(f"\n{line}")


if __name__ == "__main__":
    main()
