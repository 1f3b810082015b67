"""Benchmark of the bundled baselines: PatchMatch, Telea, Navier–Stokes, and U-Net throughput.

In one run, on the same real photographs and the same irregular masks:

* seconds per image and ℓ1 (%), PSNR (dB), SSIM of the composite for our PatchMatch
  (:func:`maskbench.models.patchmatch.inpaint_patchmatch`), OpenCV's Telea and Navier–Stokes
  (:mod:`maskbench.models.classical`), and the peers PyPatchMatch (PyPI ``pypatchmatch``, C++)
  and ``patchmatch-cython`` (PyPI, Cython) at the same patch size (7×7; PyPatchMatch's
  ``patch_size=3`` is a radius). Peers that are not installed are reported as such.
* forward images/s of the untrained (He-initialised) ``PConvUNet`` and ``ConvUNet`` at
  512×512 on the CPU, and on CUDA when present (bf16 autocast, channels-last).

Images: ``../shared/samples/images/*.jpg`` and scikit-image photographs, resized (shorter
side 512) and centre-cropped to 512×512, 8-bit values. Masks: procedural strokes and blobs
of :mod:`maskbench.procedural` (``configs/generate.toml``, seed 0), united per image until
the hole ratio is within ±0.015 of each target ratio (0.05, 0.25, 0.5). Metrics on the
composite against the ground truth, whole image: ℓ1 = mean absolute error × 100, PSNR with
data range 1, SSIM = ``skimage.metrics.structural_similarity(gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1)``. Every method runs
one image at a time in this process (PatchMatch kernels are compiled before timing).

Usage: ``python bench/baselines.py [--images N] [--unet-repeats R]``; prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from maskbench.compositing import composite
from maskbench.images import center_crop, load_evaluation_image, quantize_8bit, resize_shorter_side
from maskbench.models.classical import inpaint_ns, inpaint_telea
from maskbench.models.patchmatch import inpaint_patchmatch
from maskbench.models.unet import ConvUNet, PConvUNet, he_initialize
from maskbench.procedural import GenerateConfig, generate_mask

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "images"
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")  # bundled; others need a download
TARGET_RATIOS = (0.05, 0.25, 0.5)
RATIO_TOLERANCE = 0.015
PATCH_SIZE = 7
SIZE = 512

Fill = Callable[[np.ndarray, np.ndarray], np.ndarray]
OURS = ("PatchMatch (ours)", "Telea (OpenCV)", "Navier-Stokes (OpenCV)")


def photographs(count: int) -> list[tuple[str, np.ndarray]]:
    """Up to ``count`` ground truths: the sample JPEGs first, then scikit-image photos."""
    photos = [(path.stem, load_evaluation_image(path)) for path in sorted(SAMPLES.glob("*.jpg"))[:count]]
    for name in SKIMAGE_PHOTOS[: max(0, count - len(photos))]:
        image = getattr(data, name)()[..., :3].astype(np.float32) / 255.0
        photos.append((name, quantize_8bit(np.ascontiguousarray(center_crop(resize_shorter_side(image))))))
    return photos


def mask_near(target: float, start: int) -> np.ndarray:
    """Procedural masks from index ``start`` on, united while the ratio stays below target + tolerance."""
    config = GenerateConfig.load(size=[SIZE, SIZE], seed=0)
    hole = np.zeros((SIZE, SIZE), dtype=bool)
    index = start
    while hole.mean() < target - RATIO_TOLERANCE:
        candidate = hole | generate_mask(index, config)[0]
        if candidate.mean() <= target + RATIO_TOLERANCE:
            hole = candidate
        index += 1
    return hole


def pypatchmatch_fill() -> Fill | None:
    """PyPatchMatch (C++) with 7×7 patches (its ``patch_size`` is the radius), or None."""
    try:
        import patchmatch
    except ImportError:
        return None
    if not patchmatch.patchmatch_available:
        return None
    patchmatch.set_random_seed(0)

    def fill(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        image_u8 = np.rint(image * 255).astype(np.uint8)
        result = patchmatch.inpaint(image_u8, hole.astype(np.uint8) * 255, patch_size=PATCH_SIZE // 2)
        return composite(image, result.astype(np.float32) / 255, hole)

    return fill


def patchmatch_cython_fill() -> Fill | None:
    """patchmatch-cython's pyramid inpainting with 7×7 patches (its defaults otherwise), or None."""
    try:
        from patchmatch_cython import inpaint_pyramid
    except ImportError:
        return None

    def fill(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        image_u8 = np.rint(image * 255).astype(np.uint8)
        result = inpaint_pyramid(image_u8, hole, patch_size=PATCH_SIZE, seed=0)
        return composite(image, result.astype(np.float32) / 255, hole)

    return fill


def methods() -> tuple[dict[str, Fill], list[str]]:
    """The fills to compare, and the peers that are not installed."""
    fills: dict[str, Fill | None] = {
        OURS[0]: lambda image, hole: inpaint_patchmatch(image, hole, patch_size=PATCH_SIZE),
        "PyPatchMatch (C++)": pypatchmatch_fill(),
        "patchmatch-cython": patchmatch_cython_fill(),
        OURS[1]: inpaint_telea,
        OURS[2]: inpaint_ns,
    }
    missing = [name for name, fill in fills.items() if fill is None]
    return {name: fill for name, fill in fills.items() if fill is not None}, missing


def scores(truth: np.ndarray, result: np.ndarray) -> tuple[float, float, float]:
    """ℓ1 (%), PSNR (dB), SSIM of a composite against the ground truth."""
    l1 = float(np.abs(result - truth).mean()) * 100
    psnr = float(peak_signal_noise_ratio(truth, result, data_range=1))
    ssim = float(
        structural_similarity(
            truth, result, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1
        )
    )
    return l1, psnr, ssim


def run_fills(photos: list[tuple[str, np.ndarray]], fills: dict[str, Fill]) -> dict[tuple[str, float], np.ndarray]:
    """Rows (seconds, ratio, ℓ1, PSNR, SSIM) per image for every (method, target ratio)."""
    rows: dict[tuple[str, float], list[tuple[float, ...]]] = {}
    for image_index, (name, truth) in enumerate(photos):
        for target in TARGET_RATIOS:
            hole = mask_near(target, start=1000 * image_index + int(target * 100))
            masked = np.where(hole[..., None], np.float32(0), truth).astype(np.float32)
            for method, fill in fills.items():
                start = time.perf_counter()
                try:
                    result = fill(masked, hole)
                except Exception as error:  # a peer's failure is a result; ours re-raises below
                    if method in OURS:
                        raise
                    print(f"  {method} failed on {name} @ {hole.mean():.3f}: {error}", file=sys.stderr)
                    rows.setdefault((method, target), []).append((np.nan,) * 5)
                    continue
                seconds = time.perf_counter() - start
                if not np.array_equal(result[~hole], truth[~hole]):
                    raise RuntimeError(f"{method} changed valid pixels of {name}")
                rows.setdefault((method, target), []).append((seconds, float(hole.mean()), *scores(truth, result)))
            print(f"  {name} @ {hole.mean():.3f} done", file=sys.stderr, flush=True)
    return {key: np.array(value) for key, value in rows.items()}


def fill_table(rows: dict[tuple[str, float], np.ndarray], fills: dict[str, Fill]) -> list[str]:
    """Means per method and target ratio; a peer's failures are counted and left out of its means."""
    lines = [
        "| hole ratio | method | s / image | ℓ1 (%) | PSNR (dB) | SSIM | failed |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for target in TARGET_RATIOS:
        ratio = np.nanmean(rows[(OURS[0], target)][:, 1])
        for method in fills:
            table = rows[(method, target)]
            failed = int(np.isnan(table[:, 0]).sum())
            seconds, _, l1, psnr, ssim = np.nanmean(table, axis=0) if failed < len(table) else (np.nan,) * 5
            lines.append(
                f"| {ratio:.3f} | {method} | {seconds:.3f} | {l1:.2f} | {psnr:.2f} | {ssim:.4f} "
                f"| {failed} / {len(table)} |"
            )
    return lines


def ratio_table(rows: dict[tuple[str, float], np.ndarray], peer: str) -> list[str]:
    """Ours against a peer on the images where the peer succeeded."""
    lines = [
        f"| hole ratio | time ours / {peer} | ΔPSNR ours − {peer} (dB) | ΔSSIM ours − {peer} "
        "| ΔPSNR per image min / max |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for target in TARGET_RATIOS:
        theirs = rows[(peer, target)]
        succeeded = ~np.isnan(theirs[:, 0])
        if not succeeded.any():
            continue
        a, b = rows[(OURS[0], target)][succeeded], theirs[succeeded]
        per_image = a[:, 3] - b[:, 3]
        lines.append(
            f"| {a[:, 1].mean():.3f} | {a[:, 0].mean() / b[:, 0].mean():.2f} | {per_image.mean():+.2f} | "
            f"{(a[:, 4] - b[:, 4]).mean():+.4f} | {per_image.min():+.2f} / {per_image.max():+.2f} |"
        )
    return lines


def unet_throughput(device: torch.device, repeats: int, batch: int, fast: bool) -> list[tuple[str, float]]:
    """Forward images/s of untrained PConvUNet and ConvUNet on 512×512 batches."""
    results = []
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(batch, 3, SIZE, SIZE, generator=generator)
    valid = (torch.rand(batch, 1, SIZE, SIZE, generator=generator) > 0.25).float()
    for name, network in (("PConv", PConvUNet()), ("Conv", ConvUNet())):
        he_initialize(network, generator=torch.Generator().manual_seed(0))
        network = network.eval().to(device)
        inputs = [image.to(device), valid.to(device)]
        if fast:
            network = network.to(memory_format=torch.channels_last)
            inputs = [tensor.contiguous(memory_format=torch.channels_last) for tensor in inputs]
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
            network(*inputs)  # warm-up
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            for _ in range(repeats):
                network(*inputs)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        results.append((name, repeats * batch / (time.perf_counter() - start)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=7, help="number of photographs (default 7: all)")
    parser.add_argument("--unet-repeats", type=int, default=3, help="timed CPU forward passes per U-Net")
    args = parser.parse_args()

    photos = photographs(args.images)
    fills, missing = methods()
    warm_hole = np.zeros((64, 64), dtype=bool)
    warm_hole[20:40, 20:40] = True
    inpaint_patchmatch(photos[0][1][:64, :64].copy(), warm_hole)  # compile / load the numba kernels
    rows = run_fills(photos, fills)

    print(f"# Baselines benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n")
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); shared with other jobs (load average at the end: "
        f"{os.getloadavg()[0]:.1f}), so timings are noisy and slower than on an idle machine.\n"
    )
    print(
        f"Images ({len(photos)}, 512×512): {', '.join(name for name, _ in photos)}. "
        f"Masks: procedural strokes/blobs, one per image and target ratio {TARGET_RATIOS}. Patch 7×7.\n"
    )
    if missing:
        print(f"Not installed (skipped): {', '.join(missing)}.\n")
    print("\n".join(fill_table(rows, fills)) + "\n")
    for peer in ("PyPatchMatch (C++)", "patchmatch-cython"):
        if peer in fills:
            print("\n".join(ratio_table(rows, peer)) + "\n")

    print("| network | device | precision | batch | images / s |")
    print("| --- | --- | --- | ---: | ---: |")
    for name, speed in unet_throughput(torch.device("cpu"), args.unet_repeats, 1, fast=False):
        print(f"| {name} | CPU | float32 | 1 | {speed:.2f} |")
    if torch.cuda.is_available():
        for name, speed in unet_throughput(torch.device("cuda"), 20, 16, fast=True):
            print(f"| {name} | {torch.cuda.get_device_name()} | bf16 autocast, channels-last | 16 | {speed:.1f} |")
    else:
        print("| PConv, Conv | CUDA | bf16 autocast, channels-last | 16 | not measured: no GPU here |")


if __name__ == "__main__":
    main()
