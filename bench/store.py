"""Benchmark: mask store layout, packed HDF5 shards (maskbench) vs one HDF5 dataset per mask.

Usage::

    python bench/store.py [--count 2000] [--shard 500]

Writes the same ``--count`` procedural 512x512 masks both ways, then reads them all back in
a random order; reports write and read throughput (masks/s) and bytes on disk. Prints a
Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from maskbench.procedural import GenerateConfig, generate_mask
from maskbench.store import MaskStore


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _write_per_dataset(path: Path, holes: list[np.ndarray]) -> None:
    with h5py.File(path, "w") as handle:
        for index, hole in enumerate(holes):
            handle.create_dataset(f"{index:07d}", data=hole.astype(np.uint8), chunks=hole.shape, compression="gzip")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--shard", type=int, default=500, help="Masks per shard append.")
    args = parser.parse_args()
    config = GenerateConfig.load(count=args.count)
    holes = [generate_mask(i, config)[0] for i in range(args.count)]
    order = np.random.default_rng(0).permutation(args.count)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        start = time.perf_counter()
        store = MaskStore.create(work / "packed.store")
        for begin in range(0, args.count, args.shard):
            chunk = holes[begin : begin + args.shard]
            store.append(chunk, sources=["bench"] * len(chunk), frames=list(range(begin, begin + len(chunk))))
        write = time.perf_counter() - start
        store = MaskStore.open(work / "packed.store")
        start = time.perf_counter()
        assert all(np.array_equal(store[int(i)], holes[i]) for i in order)
        read = time.perf_counter() - start
        rows.append(("packed shards (maskbench)", write, read, _size(work / "packed.store")))

        start = time.perf_counter()
        _write_per_dataset(work / "per_mask.h5", holes)
        write = time.perf_counter() - start
        start = time.perf_counter()
        with h5py.File(work / "per_mask.h5", "r") as handle:
            assert all(np.array_equal(handle[f"{i:07d}"][:].astype(bool), holes[i]) for i in order)
        read = time.perf_counter() - start
        rows.append(("one dataset per mask (uint8, gzip)", write, read, _size(work / "per_mask.h5")))
    print(
        f"{args.count} procedural 512x512 masks (mixed), {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
        "reads in random order, each mask compared with the original.\n"
    )
    print("| layout | write masks/s | read masks/s | MiB on disk | bytes/mask |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, write, read, size in rows:
        print(
            f"| {name} | {args.count / write:.0f} | {args.count / read:.0f} | "
            f"{size / 2**20:.1f} | {size / args.count:.0f} |"
        )


if __name__ == "__main__":
    main()
