"""Benchmark: build the full 12,000-mask split, steered sampler vs plain rejection sampling.

Usage::

    python bench/testset.py [--per-bin 1000] [--store-size 2000] [--workers 2]
                            [--rejection-per-bin 100] [--rejection-cap 200] [--work DIR]

1. generates a store of ``--store-size`` procedural masks (``maskbench generate``, mixed);
2. builds the split with :func:`maskbench.testset.build_testset` (the steered sampler,
   default configuration) and reports wall time, CPU time, masks/s and tries per accepted
   mask per bin;
3. in the same run, fills ``--rejection-per-bin`` slots per bin by plain rejection sampling:
   draw a source uniformly, apply :func:`maskbench.augment.random_augment` with the same
   configured ranges, keep the mask when its bin and class are the slot's; at most
   ``--rejection-cap`` tries per slot. Reports tries per accepted mask and the starved bins.

Prints a Markdown report on stdout.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import tempfile
import time
from pathlib import Path

from maskbench.augment import AugmentConfig, random_augment
from maskbench.bins import BIN_LABELS, BORDER_CLASSES, N_RATIO_BINS, border_class, ratio_bin
from maskbench.parallel import map_ordered
from maskbench.procedural import GenerateConfig, generate_masks
from maskbench.rng import item_rng
from maskbench.store import MaskStore
from maskbench.testset import build_testset
from maskbench.testset_config import TestsetConfig

_STORE: dict[str, MaskStore] = {}


def _rejection_slot(
    store_path: str, cap: int, seed: int, slot: tuple[int, int, int]
) -> tuple[tuple[int, int, int], int, bool]:
    """Plain rejection sampling for one slot: (slot, tries, filled)."""
    if store_path not in _STORE:
        _STORE[store_path] = MaskStore.open(store_path)
    store = _STORE[store_path]
    augment, margin = AugmentConfig.load(), TestsetConfig.load().border_margin
    k, b, j = slot
    for attempt in range(cap):
        rng = item_rng(seed, k, b, j, attempt)
        hole, _ = random_augment(store[int(rng.integers(0, len(store)))], rng, augment)
        if ratio_bin(hole) == k and border_class(hole, margin=margin) == BORDER_CLASSES[b]:
            return slot, attempt + 1, True
    return slot, cap, False


def _probe_build(store_path: Path, out: Path, per_bin: int) -> float:
    """CPU seconds per mask of a single-process build (run inside a pool worker)."""
    start = time.process_time()
    build_testset(store_path, out, config=TestsetConfig.load(per_bin=per_bin, seed=0, workers=1), overwrite=True)
    return (time.process_time() - start) / (12 * per_bin)


def cpu_probe(store_path: Path, out: Path, per_bin: int, workers: int, total: int) -> str:
    """CPU time per mask of a single-process build, extrapolated to ``total`` masks on ``workers`` idle cores.

    Contention on a shared machine inflates CPU time far less than wall time. The build runs
    inside one pool worker of :func:`maskbench.parallel.map_ordered`, so it has the workers'
    settings (one OpenCV thread, the heap tuning).
    """
    probe = functools.partial(_probe_build, store_path, out)
    (per_mask,) = map_ordered(probe, [per_bin], workers=2, desc="cpu probe", unit="build")
    return (
        f"CPU probe: a single-process build of {12 * per_bin} masks in a pool worker took "
        f"{1000 * per_mask:.1f} ms CPU per mask (sampling, PNG writing, manifest and preview "
        f"included), i.e. about {per_mask * total / workers:.0f} s for {total} masks on {workers} "
        f"otherwise idle cores (load average now {os.getloadavg()[0]:.1f})."
    )


def run(args: argparse.Namespace) -> str:
    work = Path(args.work)
    store_path = work / "bench.store"
    lines = [
        f"Machine: {platform.node()}, {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"load average at start {os.getloadavg()[0]:.1f} (shared with other jobs: timings are noisy). "
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Workers: {args.workers}.",
        "",
    ]
    start = time.perf_counter()
    generate_masks(
        store_path,
        config=GenerateConfig.load(kind="mixed", count=args.store_size, seed=0, workers=args.workers),
        overwrite=True,
    )
    lines.append(
        f"Store: {args.store_size} procedural masks (mixed, 512x512) generated in {time.perf_counter() - start:.1f} s."
    )
    start = time.perf_counter()
    summary = build_testset(
        store_path,
        work / "split",
        config=TestsetConfig.load(per_bin=args.per_bin, seed=0, workers=args.workers),
        overwrite=True,
    )
    wall = time.perf_counter() - start
    total = 12 * args.per_bin
    lines += [
        "",
        f"## Steered sampler (build-testset, per_bin {args.per_bin}, {total} masks, {args.workers} workers)",
        "",
        f"Wall time {wall:.1f} s ({total / wall:.0f} masks/s), load average at the end "
        f"{os.getloadavg()[0]:.1f}. Every bin full.",
        "",
        summary.table(),
    ]
    if args.cpu_probe_per_bin:
        lines += ["", cpu_probe(store_path, work / "probe", args.cpu_probe_per_bin, args.workers, total)]
    slots = [(k, b, j) for j in range(args.rejection_per_bin) for k in range(N_RATIO_BINS) for b in range(2)]
    start = time.perf_counter()
    worker = functools.partial(_rejection_slot, str(store_path), args.rejection_cap, 0)
    results = list(map_ordered(worker, slots, workers=args.workers, desc="rejection", unit="slot", chunksize=4))
    wall = time.perf_counter() - start
    lines += [
        "",
        f"## Plain rejection sampling ({args.rejection_per_bin} slots per bin, "
        f"at most {args.rejection_cap} tries each)",
        "",
        f"Wall time {wall:.1f} s for {len(slots)} slots ({args.workers} workers). "
        "tries/filled = all tries of the bin (starved slots included) / masks filled.",
        "",
        "| bin | class | filled | tries/filled mask | starved slots |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for k in range(N_RATIO_BINS):
        for b, border in enumerate(BORDER_CLASSES):
            mine = [(tries, filled) for (kk, bb, _), tries, filled in results if (kk, bb) == (k, b)]
            filled = sum(f for _, f in mine)
            tries = sum(t for t, _ in mine)
            per = f"{tries / filled:.1f}" if filled else "∞"
            lines.append(f"| {BIN_LABELS[k]} | {border} | {filled} | {per} | {len(mine) - filled} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-bin", type=int, default=1000)
    parser.add_argument("--store-size", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rejection-per-bin", type=int, default=100)
    parser.add_argument("--rejection-cap", type=int, default=200)
    parser.add_argument("--cpu-probe-per-bin", type=int, default=100, help="0 skips the single-process CPU probe.")
    parser.add_argument("--work", default=None, help="Working folder (default: a temporary one).")
    args = parser.parse_args()
    if args.work is None:
        with tempfile.TemporaryDirectory() as work:
            args.work = work
            print(run(args))
    else:
        print(run(args))


if __name__ == "__main__":
    main()
