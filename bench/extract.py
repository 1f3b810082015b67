"""Benchmark of ``maskbench extract``: frames per second end to end, and masks kept.

End to end means what the command does: decode the video, resize to the working size
(shorter side 512), flow for the forward and the backward direction of every pair,
occlusion and disocclusion masks, clean-up, filters, and the append to a fresh mask store.
It calls :func:`maskbench.extract.extract_videos` with the shipped ``configs/extract.toml``,
changing only the flow method (and the device / workers where a row says so).

Inputs: ``../shared/samples/tree.avi`` (320x240 → 683x512; OpenCV decodes 68 of the 444
frames its header announces) and ``carphone_pristine.mp4`` (176x144 → 626x512, 120 frames).
Our TV-L1 on the CPU takes seconds per pair, so by default it runs on the first
``--tvl1-frames`` frames of each video only (copied losslessly into a frame folder, which
is read as a video); every other row reads the whole video file.

The first table is the CPU default (``--method auto`` on a machine without CUDA) on three
inputs — the two clips and a generated 512 × 683 scene (:func:`maskbench.synthetic.write_demo_video`)
— each end to end in a fresh process (for its peak memory), beside OpenCV's DIS-medium flow alone
(forward + backward of every pair, on the decoded working-size frames) in the same run.

Usage: ``python bench/extract.py [--out .handoff/bench-extract.md] [--tvl1-frames 17]
[--methods dis,dis-ultrafast,farneback,tvl1]`` (``--methods ""``: the CPU-default table only).
It prints a Markdown report and writes it to ``--out``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import cv2
import torch

from flow.opencv import grey_flow, grey_uint8
from maskbench.extract import extract_videos
from maskbench.extract_config import ExtractConfig
from maskbench.extract_summary import ExtractSummary
from maskbench.files import to_uint8
from maskbench.synthetic import write_demo_video, write_frames_folder
from maskbench.video import VideoSource, read_frames

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
VIDEOS = ("tree.avi", "carphone_pristine.mp4")


@dataclass
class Row:
    video: str
    method: str
    device: str
    workers: int
    frames: int
    pairs: int
    seconds: float
    kept: int
    summary: ExtractSummary

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds


def _row(video: str, method: str, device: str, workers: int, seconds: float, summary: ExtractSummary) -> Row:
    return Row(video, method, device, workers, summary.frames, summary.pairs, seconds, summary.masks_kept, summary)


def _first_frames(video: Path, count: int, folder: Path) -> Path:
    """The first ``count`` frames of ``video`` at their native size, as a frame folder."""
    frames = []
    for index, frame in read_frames(VideoSource(video, video.name), short_side=_short_side(video)):
        if index >= count:
            break
        frames.append(to_uint8(frame))
    target = folder / f"{video.stem}-first{count}"
    write_frames_folder(target / video.stem, frames)
    return target


def _short_side(video: Path) -> int:
    capture = cv2.VideoCapture(str(video))
    try:
        return int(min(capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    finally:
        capture.release()


def _run(videos_dir: Path, store: Path, *, method: str, device: str, workers: int) -> ExtractSummary:
    config = ExtractConfig.load(method=method, workers=workers, device=device)
    return extract_videos(videos_dir, store, config=config, overwrite=True, show_progress=False)


@dataclass
class DefaultRow:
    """The CPU default end to end on one input, and DIS-medium alone on the same frames."""

    video: str
    method: str
    frames: int
    seconds: float
    dis_seconds: float
    peak_mib: float
    load: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds


def _default_in_child(videos_dir: Path, store: Path, queue: multiprocessing.Queue) -> None:
    """Child process: the shipped defaults on the CPU; puts (flow, frames, seconds, peak MiB)."""
    config = ExtractConfig.load(device="cpu")
    started = time.perf_counter()
    summary = extract_videos(videos_dir, store, config=config, overwrite=True, show_progress=False)
    seconds = time.perf_counter() - started
    queue.put((summary.flow, summary.frames, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def _dis_alone(video: VideoSource, working_size: int) -> float:
    """Seconds of OpenCV DIS-medium, forward + backward of every pair (grey conversion included)."""
    frames = [frame for _, frame in read_frames(video, short_side=working_size)]
    started = time.perf_counter()
    greys = [grey_uint8(frame) for frame in frames]
    for first, second in pairwise(greys):
        grey_flow(first, second, "dis")
        grey_flow(second, first, "dis")
    return time.perf_counter() - started


def cpu_default(inputs: list[Path], temp: Path) -> list[DefaultRow]:
    """The CPU default end to end (a fresh process per input) and DIS alone, per input."""
    working_size = ExtractConfig.load().working_size
    context = multiprocessing.get_context("spawn")
    rows = []
    for path in inputs:
        single = temp / f"default-{path.stem}"
        single.mkdir()
        os.symlink(path, single / path.name)
        queue = context.Queue()
        child = context.Process(target=_default_in_child, args=(single, temp / f"{path.stem}.store", queue))
        child.start()
        method, frames, seconds, peak = queue.get()
        child.join()
        dis_seconds = _dis_alone(VideoSource(path, path.name), working_size)
        rows.append(DefaultRow(path.name, method, frames, seconds, dis_seconds, peak, os.getloadavg()[0]))
        rate = f"{frames / seconds:.2f} frames/s ({seconds / dis_seconds:.2f}× DIS alone)"
        print(f"default {path.name}: {rate}", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(__file__).resolve().parents[1] / ".handoff" / "bench-extract.md"
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--tvl1-frames", type=int, default=17, help="frames per video for TV-L1 on the CPU")
    parser.add_argument("--methods", default="dis,dis-ultrafast,farneback,tvl1")
    args = parser.parse_args()
    methods = [method for method in args.methods.split(",") if method]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as temp:
        temp_path = Path(temp)
        scene = temp_path / "scene.mp4"
        write_demo_video(scene, frames=48, size=(512, 683), objects=4, seed=3)
        defaults = cpu_default([SAMPLES / name for name in VIDEOS] + [scene], temp_path)
        for name in VIDEOS if methods else ():
            single = temp_path / name
            single.mkdir()
            os.symlink(SAMPLES / name, single / name)
            short = _first_frames(SAMPLES / name, args.tvl1_frames, temp_path)
            for method in methods:
                for device in devices if method == "tvl1" else ["cpu"]:
                    folder = short if method == "tvl1" and device == "cpu" else single
                    started = time.perf_counter()
                    summary = _run(folder, temp_path / "m.store", method=method, device=device, workers=0)
                    seconds = time.perf_counter() - started
                    rows.append(_row(name, method, device, 0, seconds, summary))
                    print(f"{name} {method} {device}: {summary.frames / seconds:.2f} frames/s", file=sys.stderr)
        both = temp_path / "both"
        both.mkdir()
        for name in VIDEOS:
            os.symlink(SAMPLES / name, both / name)
        for workers in (0, 2) if "dis" in methods else ():
            started = time.perf_counter()
            summary = _run(both, temp_path / "m.store", method="dis", device="cpu", workers=workers)
            seconds = time.perf_counter() - started
            rows.append(_row("both", "dis", "cpu", workers, seconds, summary))
            print(f"both dis workers={workers}: {summary.frames / seconds:.2f} frames/s", file=sys.stderr)

    report = _default_report(defaults) + ("\n" + _report(rows) if rows else "")
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")


def _default_report(rows: list[DefaultRow]) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        "# `maskbench extract` with the CPU default",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU cores ({cpu}), no CUDA; "
        f"torch {torch.__version__}. Shipped `configs/extract.toml` (`--method auto`, working size 512, "
        "threads = free cores at the start), each input in a fresh process; DIS alone = OpenCV DIS-medium "
        "forward + backward of every pair on the same decoded frames, in the same run.",
        "",
        "| input | flow (resolved) | frames | seconds | frames/s | DIS alone, s | end to end ÷ DIS alone | "
        "peak memory MiB | load average after |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row.video} | {row.method} | {row.frames} | {row.seconds:.1f} | {row.frames_per_second:.2f} | "
            f"{row.dis_seconds:.1f} | {row.seconds / row.dis_seconds:.2f} | {row.peak_mib:.0f} | {row.load:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _report(rows: list[Row]) -> str:
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    lines = [
        "# `maskbench extract` end to end",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU cores ({cpu}), GPU: {gpu}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads; load average at the end "
        f"{os.getloadavg()[0]:.1f} (other jobs share the machine: timings are noisy). "
        "Command: `python bench/extract.py`.",
        "Shipped `configs/extract.toml` (working size 512, stride 1, batch 8, default occlusion test); "
        "a fresh store per row. Timings include decoding, flow both ways, occlusion, clean-up, filters and the "
        "store append.",
        "",
        "| video | frames | method | device | workers | pairs | seconds | frames/s | masks kept | kept/pair |",
        "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row.video} | {row.frames} | {row.method} | {row.device} | {row.workers} | {row.pairs} | "
            f"{row.seconds:.1f} | {row.frames_per_second:.2f} | {row.kept} | {row.kept / max(row.pairs, 1):.2f} |"
        )
    lines += ["", "Hole-ratio histograms of the kept masks (whole-video rows, DIS medium):", ""]
    for row in rows:
        if row.method == "dis" and row.workers == 0 and row.video != "both":
            lines += [f"{row.video}:", "", "```", row.summary.to_text(), "```", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
