"""Benchmark: PatchMatch and Telea per bin — ℓ1, PSNR, ``ssim``, ``ssim_paper`` — beside the paper's PM row.

Inputs: the bundled photos (``../shared/samples/images`` and scikit-image's colour photographs,
re-used as needed) and a split of procedural masks (``maskbench.procedural``, ``mixed``) grown
by dilation into each of the 12 (ratio bin, border class) cells, ``--per-bin`` masks per cell, in
NVIDIA's numbering. Scoring is :func:`maskbench.score.score` with ``inception=False``.

Prints (and with ``--out`` writes) a Markdown table per model and the RMSE of each SSIM
convention against Liu et al.'s PM SSIM row, and the cost of the metrics: the new
``pair_statistics`` (float64, both SSIMs) against the float32 one of ``git HEAD`` when given with
``--old-metrics FILE`` (a copy of the old ``maskbench/metrics.py``), timed alternately in one process.

Usage: ``python bench/paper_row.py [--per-bin 2] [--out .handoff/paper-row.md] [--old-metrics /tmp/old_metrics.py]``
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from skimage import data

from maskbench.bins import BIN_LABELS, BORDER_CLASSES, border_class, ratio_bin, testset_position
from maskbench.files import write_image, write_mask
from maskbench.metrics import pair_statistics
from maskbench.paper import PUBLISHED_TABLE1
from maskbench.procedural import GenerateConfig, generate_mask
from maskbench.score import ScoreConfig, score

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "images"
PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "cat",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "colorwheel",
)
MARGIN = 50


def grown_mask(target_bin: int, border: str, seed: int) -> np.ndarray | None:
    """A procedural mask dilated until its ratio enters ``target_bin``.

    None when it overshoots the bin or has the wrong border class.
    """
    config = GenerateConfig.load(seed=seed)
    hole, _ = generate_mask(0, config)
    interior = np.zeros_like(hole)
    interior[MARGIN:-MARGIN, MARGIN:-MARGIN] = True
    if border == "N":
        hole &= interior
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    for _ in range(200):
        found = ratio_bin(hole)
        if found == target_bin:
            return hole if border_class(hole, margin=MARGIN) == border else None
        if (found is not None and found > target_bin) or hole.all():
            return None
        hole = cv2.dilate(hole.astype(np.uint8), kernel).astype(bool)
        if border == "N":
            hole &= interior
    return None


def make_split(root: Path, per_bin: int) -> Path:
    masks = root / "masks"
    seed = 0
    for index in range(12 * per_bin):
        target_bin, border, _ = testset_position(index, per_bin=per_bin)
        hole = None
        while hole is None:
            seed += 1
            hole = grown_mask(target_bin, border, seed)
        write_mask(masks / f"{index:05d}.png", hole)
    return masks


def make_images(root: Path) -> Path:
    images = root / "images"
    images.mkdir(parents=True)
    for path in sorted(SAMPLES.glob("*.jpg")) if SAMPLES.is_dir() else []:
        (images / path.name).write_bytes(path.read_bytes())
    for name in PHOTOS:
        photo = getattr(data, name)()
        if photo.ndim == 3 and min(photo.shape[:2]) >= 256:
            write_image(
                images / f"{name}.png", cv2.resize(photo[..., :3], (512, 512), interpolation=cv2.INTER_AREA) / 255.0
            )
    return images


def per_bin_table(pairs: pd.DataFrame, model: str) -> pd.DataFrame:
    rows = pairs[pairs["model"] == model].groupby(["ratio_bin", "border"])[["l1", "psnr", "ssim", "ssim_paper"]].mean()
    return rows


def report(pairs: pd.DataFrame, models: list[str]) -> str:
    paper = {metric: PUBLISHED_TABLE1[metric]["PM"] for metric in ("l1", "psnr", "ssim")}
    lines = []
    for model in models:
        table = per_bin_table(pairs, model)
        lines += [
            f"\n**{model}** (ours) vs PM (Liu et al. 2018, Table 1, Places2)\n",
            "| cell | ℓ1 % | PM ℓ1 | PSNR | PM PSNR | ssim | ssim_paper | PM SSIM |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        errors = {"ssim": [], "ssim_paper": []}
        for k, label in enumerate(BIN_LABELS):
            for b, border in enumerate(BORDER_CLASSES):
                if (k, border) not in table.index:
                    continue
                row, column = table.loc[(k, border)], 2 * k + b
                for name in errors:
                    errors[name].append(row[name] - paper["ssim"][column])
                lines.append(
                    f"| {label} {border} | {row.l1:.2f} | {paper['l1'][column]:.2f} | {row.psnr:.2f} "
                    f"| {paper['psnr'][column]:.2f} | {row.ssim:.3f} | {row.ssim_paper:.3f} "
                    f"| {paper['ssim'][column]:.3f} |"
                )
        rmse = {name: float(np.sqrt(np.mean(np.square(values)))) for name, values in errors.items()}
        lines.append(f"\nRMSE against the PM SSIM row: ssim {rmse['ssim']:.3f}, ssim_paper {rmse['ssim_paper']:.3f}")
    return "\n".join(lines)


def metric_cost(old_metrics: Path | None, repeats: int = 5) -> str:
    """Ms per 512×512 pair of pair_statistics (batch 8), new vs old, alternately, one thread."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(8, 3, 512, 512, generator=generator)
    output = (target + 0.05 * torch.randn(8, 3, 512, 512, generator=generator)).clamp(0, 1)
    functions = {"new (float64, ssim + ssim_paper)": pair_statistics}
    if old_metrics is not None:
        spec = importlib.util.spec_from_file_location("old_metrics", old_metrics)
        module = importlib.util.module_from_spec(spec)
        sys.modules["old_metrics"] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        functions["old (float32, ssim only)"] = module.pair_statistics
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function(output, target)
            times[name].append((time.perf_counter() - start) / 8 * 1000)
    medians = {name: float(np.median(values)) for name, values in times.items()}
    lines = [f"| {name} | {value:.1f} |" for name, value in medians.items()]
    ratio = ""
    if len(medians) == 2:
        new, old = medians.values()
        ratio = f"\nnew / old = {new / old:.2f}"
    return "| pair_statistics | ms / pair |\n|---|---:|\n" + "\n".join(lines) + ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-bin", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--old-metrics", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        masks, images = make_split(root, arguments.per_bin), make_images(root)
        start = time.perf_counter()
        config = ScoreConfig.load(
            device="cpu", inception=False, reuse_images=True, upscale_small_images=True, workers=arguments.workers
        )
        score(["telea", "patchmatch"], images, masks, root / "out", config=config)
        seconds = time.perf_counter() - start
        pairs = pd.read_csv(root / "out" / "pairs.csv")
    models = list(dict.fromkeys(pairs["model"]))
    header = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}; {len(pairs) // len(models)} pairs per model, score took {seconds:.0f} s"
    )
    text = header + "\n" + report(pairs, models)
    print(text, flush=True)
    text += "\n\n" + metric_cost(arguments.old_metrics)
    print(text.rsplit("\n\n", 1)[1])
    if arguments.out:
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        arguments.out.write_text(text + "\n", "utf-8")


if __name__ == "__main__":
    main()
