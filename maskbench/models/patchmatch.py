"""PatchMatch image completion: multi-scale expectation–maximisation with PatchMatch search.

The hole is filled by the completion scheme of Wexler et al. [1]_ with the nearest-neighbour
fields found by PatchMatch [2]_, the algorithm behind Photoshop's Content-Aware Fill and the
PatchMatch baseline of Liu et al. 2018.

Algorithm
---------
1. **Pyramid.** The image and hole are halved (2×2 block means over *known* pixels only; a
   coarse pixel is known when any of its four children is) while the shorter side stays
   at least ``min_size``. Levels are visited coarse to fine. A level is completed by EM
   only when it has enough fully known patches (at least ``min_sources``, and a fraction of
   known patch centres at least ``min_source_fraction`` times that of full resolution);
   coarser levels, where a few left-over patches would be copied everywhere, only carry a
   smooth estimate down: OpenCV's Telea fill at the coarsest level with a hole, then the
   bilinear upsampling of the level below it.
2. **Targets and sources.** A *target* is every patch centre within ``patch_size // 2`` px
   of a hole pixel (every patch that overlaps the hole); target patches may hang over the
   image border, where only their in-image pixels are compared. A *source* is a patch lying
   entirely inside the image and entirely outside the hole of that level.
3. **E-step (PatchMatch).** For every target the nearest source patch (sum of squared RGB
   differences over the whole patch, known and current hole estimate alike) is searched by
   ``patchmatch_iterations`` sweeps of propagation (from the left and upper neighbour, or
   right and lower on odd sweeps) and random search (candidates drawn uniformly in windows
   around the best match that halve from the image size down to one pixel).
4. **M-step (voting).** Every hole pixel becomes the weighted mean of the colours that the
   source patches of all targets covering it put there. A target's weight is
   ``exp(-d / (2 σ²))`` with ``d`` its mean squared difference per pixel and channel and
   ``σ²`` the ``vote_quantile`` quantile of ``d`` over all targets (Wexler et al.'s
   similarity weight), so badly matched patches count less. The default quantile 1 (the
   largest ``d``) keeps every weight within [e^-1/2, 1]: a mild preference that averages
   more and scored higher PSNR in our trials than sharper weights (quantile 0.75).
5. **Coarse to fine.** After ``em_iterations`` E/M rounds the level's fill is upsampled
   (bilinear) into the next finer hole, and its field is upsampled (offsets doubled;
   matches that land on an invalid source are redrawn at random) as the start of the next
   level's search. The first completed level starts from a random field.

Pixels outside the hole are never written: the result's valid pixels are the input's,
bit for bit. All random draws come from numba's generator seeded from ``(seed, level,
round)``, so a seed gives the same bytes on every run and machine with the same numba.

References
----------
.. [1] Y. Wexler, E. Shechtman, M. Irani, "Space-Time Completion of Video", IEEE TPAMI
       29(3), 2007.
.. [2] C. Barnes, E. Shechtman, A. Finkelstein, D. B. Goldman, "PatchMatch: A Randomized
       Correspondence Algorithm for Structural Image Editing", ACM SIGGRAPH 2009.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numba import njit

from maskbench.checks import check_image_and_hole
from maskbench.compositing import composite
from maskbench.errors import InputError
from maskbench.models.classical import inpaint_telea

__all__ = ["inpaint_patchmatch"]


@dataclass(frozen=True)
class _Level:
    """One pyramid level: ``image`` float32 (h, w, 3) with hole pixels 0, ``hole`` bool (h, w)."""

    image: np.ndarray
    hole: np.ndarray


@dataclass
class _Field:
    """A nearest-neighbour field: source centre (``source_y``, ``source_x``, int64 (h, w)) and SSD of every target."""

    source_y: np.ndarray
    source_x: np.ndarray
    distance: np.ndarray


# --------------------------------------------------------------------------- numba kernels


@njit(cache=True, inline="always")
def _patch_ssd(
    image: np.ndarray, target_y: int, target_x: int, source_y: int, source_x: int, radius: int, limit: float
) -> float:
    """Sum of squared differences of the in-image part of a target patch and a source patch.

    Stops early (returning a value above ``limit``) once the partial sum exceeds ``limit``.
    The source patch must lie inside the image.
    """
    height, width = image.shape[0], image.shape[1]
    total = 0.0
    for dy in range(-radius, radius + 1):
        y = target_y + dy
        if y < 0 or y >= height:
            continue
        for dx in range(-radius, radius + 1):
            x = target_x + dx
            if x < 0 or x >= width:
                continue
            for channel in range(image.shape[2]):
                diff = image[y, x, channel] - image[source_y + dy, source_x + dx, channel]
                total += diff * diff
        if total > limit:
            return total
    return total


@njit(cache=True)
def _random_field(
    image: np.ndarray,
    targets: np.ndarray,
    sources: np.ndarray,
    radius: int,
    field_y: np.ndarray,
    field_x: np.ndarray,
    field_d: np.ndarray,
    seed: int,
) -> None:
    """Give every target a uniformly drawn source centre (flat index into ``sources``)."""
    np.random.seed(seed)
    width = image.shape[1]
    for k in range(targets.shape[0]):
        ty, tx = targets[k] // width, targets[k] % width
        flat = sources[np.random.randint(0, sources.shape[0])]
        sy, sx = flat // width, flat % width
        field_y[ty, tx] = sy
        field_x[ty, tx] = sx
        field_d[ty, tx] = _patch_ssd(image, ty, tx, sy, sx, radius, np.inf)


@njit(cache=True)
def _upsampled_field(
    image: np.ndarray,
    targets: np.ndarray,
    sources: np.ndarray,
    source_ok: np.ndarray,
    coarse_y: np.ndarray,
    coarse_x: np.ndarray,
    coarse_target: np.ndarray,
    radius: int,
    field_y: np.ndarray,
    field_x: np.ndarray,
    field_d: np.ndarray,
    seed: int,
) -> None:
    """Start a field from the coarser level's: offsets doubled, invalid sources redrawn."""
    np.random.seed(seed)
    height, width = image.shape[0], image.shape[1]
    coarse_h, coarse_w = coarse_y.shape[0], coarse_y.shape[1]
    for k in range(targets.shape[0]):
        ty, tx = targets[k] // width, targets[k] % width
        cy, cx = min(ty // 2, coarse_h - 1), min(tx // 2, coarse_w - 1)
        sy, sx = -1, -1
        if coarse_target[cy, cx]:
            sy = min(max(2 * coarse_y[cy, cx] + ty - 2 * cy, radius), height - 1 - radius)
            sx = min(max(2 * coarse_x[cy, cx] + tx - 2 * cx, radius), width - 1 - radius)
        if sy < 0 or not source_ok[sy, sx]:
            flat = sources[np.random.randint(0, sources.shape[0])]
            sy, sx = flat // width, flat % width
        field_y[ty, tx] = sy
        field_x[ty, tx] = sx
        field_d[ty, tx] = _patch_ssd(image, ty, tx, sy, sx, radius, np.inf)


@njit(cache=True, inline="always")
def _try_candidate(
    image: np.ndarray,
    ty: int,
    tx: int,
    sy: int,
    sx: int,
    radius: int,
    field_y: np.ndarray,
    field_x: np.ndarray,
    field_d: np.ndarray,
) -> None:
    """Replace the target's match by source (sy, sx) when that patch is closer."""
    best = field_d[ty, tx]
    distance = _patch_ssd(image, ty, tx, sy, sx, radius, best)
    if distance < best:
        field_y[ty, tx] = sy
        field_x[ty, tx] = sx
        field_d[ty, tx] = distance


@njit(cache=True)
def _patchmatch(
    image: np.ndarray,
    targets: np.ndarray,
    is_target: np.ndarray,
    source_ok: np.ndarray,
    radius: int,
    iterations: int,
    field_y: np.ndarray,
    field_x: np.ndarray,
    field_d: np.ndarray,
    seed: int,
) -> None:
    """PatchMatch sweeps (propagation + random search) over the targets, in place on the field."""
    np.random.seed(seed)
    height, width = image.shape[0], image.shape[1]
    for k in range(targets.shape[0]):  # the image changed since the field was found
        ty, tx = targets[k] // width, targets[k] % width
        field_d[ty, tx] = _patch_ssd(image, ty, tx, field_y[ty, tx], field_x[ty, tx], radius, np.inf)
    count = targets.shape[0]
    for sweep in range(iterations):
        step = 1 if sweep % 2 == 0 else -1
        for i in range(count):
            k = i if step == 1 else count - 1 - i
            ty, tx = targets[k] // width, targets[k] % width
            # propagation from the neighbour already visited in this sweep, left/right then up/down
            nx = tx - step
            if 0 <= nx < width and is_target[ty, nx]:
                sy, sx = field_y[ty, nx], field_x[ty, nx] + step
                if radius <= sx < width - radius and source_ok[sy, sx]:
                    _try_candidate(image, ty, tx, sy, sx, radius, field_y, field_x, field_d)
            ny = ty - step
            if 0 <= ny < height and is_target[ny, tx]:
                sy, sx = field_y[ny, tx] + step, field_x[ny, tx]
                if radius <= sy < height - radius and source_ok[sy, sx]:
                    _try_candidate(image, ty, tx, sy, sx, radius, field_y, field_x, field_d)
            # random search in halving windows around the current best match
            window = max(height, width)
            while window >= 1:
                by, bx = field_y[ty, tx], field_x[ty, tx]
                y0, y1 = max(by - window, radius), min(by + window, height - 1 - radius)
                x0, x1 = max(bx - window, radius), min(bx + window, width - 1 - radius)
                sy = np.random.randint(y0, y1 + 1)
                sx = np.random.randint(x0, x1 + 1)
                if source_ok[sy, sx]:
                    _try_candidate(image, ty, tx, sy, sx, radius, field_y, field_x, field_d)
                window //= 2


@njit(cache=True)
def _vote(
    image: np.ndarray,
    hole: np.ndarray,
    targets: np.ndarray,
    radius: int,
    field_y: np.ndarray,
    field_x: np.ndarray,
    field_d: np.ndarray,
    sigma2: float,
) -> None:
    """Set every hole pixel to the similarity-weighted mean of the source pixels voting for it."""
    height, width = image.shape[0], image.shape[1]
    total = np.zeros((height, width, 3), dtype=np.float64)
    weight_sum = np.zeros((height, width), dtype=np.float64)
    for k in range(targets.shape[0]):
        ty, tx = targets[k] // width, targets[k] % width
        sy, sx = field_y[ty, tx], field_x[ty, tx]
        rows = min(ty + radius, height - 1) - max(ty - radius, 0) + 1
        cols = min(tx + radius, width - 1) - max(tx - radius, 0) + 1
        weight = np.exp(-field_d[ty, tx] / (3.0 * rows * cols) / (2.0 * sigma2))
        for dy in range(-radius, radius + 1):
            y = ty + dy
            if y < 0 or y >= height:
                continue
            for dx in range(-radius, radius + 1):
                x = tx + dx
                if x < 0 or x >= width or not hole[y, x]:
                    continue
                weight_sum[y, x] += weight
                for channel in range(3):
                    total[y, x, channel] += weight * image[sy + dy, sx + dx, channel]
    for y in range(height):
        for x in range(width):
            if hole[y, x] and weight_sum[y, x] > 0.0:
                for channel in range(3):
                    image[y, x, channel] = total[y, x, channel] / weight_sum[y, x]


@njit(cache=True)
def _mean_distances(targets: np.ndarray, width: int, height: int, radius: int, field_d: np.ndarray) -> np.ndarray:
    """Mean squared difference per compared pixel and channel of every target's match."""
    means = np.empty(targets.shape[0], dtype=np.float64)
    for k in range(targets.shape[0]):
        ty, tx = targets[k] // width, targets[k] % width
        rows = min(ty + radius, height - 1) - max(ty - radius, 0) + 1
        cols = min(tx + radius, width - 1) - max(tx - radius, 0) + 1
        means[k] = field_d[ty, tx] / (3.0 * rows * cols)
    return means


# --------------------------------------------------------------------------- python driver


def _halve(level: _Level) -> _Level:
    """2×2 block means over known pixels; a coarse pixel is known when any child is known."""
    height, width = level.hole.shape
    pad = ((0, height % 2), (0, width % 2))
    known = np.pad((~level.hole).astype(np.float32), pad, mode="edge")
    values = np.pad(np.where(level.hole[..., None], 0.0, level.image), (*pad, (0, 0)), mode="edge")
    h2, w2 = known.shape[0] // 2, known.shape[1] // 2
    known_sum = known.reshape(h2, 2, w2, 2).sum(axis=(1, 3))
    value_sum = (values * known[..., None]).reshape(h2, 2, w2, 2, 3).sum(axis=(1, 3))
    image = (value_sum / np.maximum(known_sum, 1.0)[..., None]).astype(np.float32)
    return _Level(image=image, hole=known_sum == 0)


def _pyramid(image: np.ndarray, hole: np.ndarray, min_size: int) -> list[_Level]:
    """Levels from fine (index 0, the input) to coarse; shorter side never below ``min_size``."""
    levels = [_Level(image=np.where(hole[..., None], np.float32(0.0), image), hole=np.ascontiguousarray(hole))]
    while min(levels[-1].hole.shape) // 2 >= min_size:
        levels.append(_halve(levels[-1]))
    return levels


def _square(size: int) -> np.ndarray:
    return np.ones((size, size), dtype=np.uint8)


def _source_mask(hole: np.ndarray, patch_size: int) -> np.ndarray:
    """Centres of patches lying entirely inside the image and outside the hole."""
    valid = (~hole).astype(np.uint8)
    return cv2.erode(valid, _square(patch_size), borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)


def _target_mask(hole: np.ndarray, patch_size: int) -> np.ndarray:
    """Centres of patches overlapping the hole."""
    return cv2.dilate(hole.astype(np.uint8), _square(patch_size), borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(
        bool
    )


def _upsample(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear ×2 upsampling of a coarse level cropped to the finer ``shape``."""
    coarse_h, coarse_w = image.shape[:2]
    larger = cv2.resize(image, (2 * coarse_w, 2 * coarse_h), interpolation=cv2.INTER_LINEAR)
    return larger[: shape[0], : shape[1]]


def _round_seed(seed: int, level: int, round_index: int) -> int:
    """A 32-bit seed for one kernel call, derived from the user's seed, the level and the round."""
    return int(np.random.SeedSequence([seed, level, round_index]).generate_state(1)[0])


def _check_options(
    patch_size: int, seed: int, counts: dict[str, int], min_size: int, fractions: dict[str, float]
) -> None:
    def _is_int(value: object) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    if not _is_int(patch_size) or patch_size < 3 or patch_size % 2 == 0:
        raise InputError(f"expected an odd integer patch_size >= 3, got {patch_size!r}")
    if not _is_int(seed) or seed < 0:
        raise InputError(f"expected a non-negative integer seed, got {seed!r}")
    for name, value in counts.items():
        if not _is_int(value) or value < 1:
            raise InputError(f"expected an integer {name} >= 1, got {value!r}")
    if not _is_int(min_size) or min_size < patch_size:
        raise InputError(f"expected an integer min_size >= patch_size ({patch_size}), got {min_size!r}")
    for name, fraction in fractions.items():
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction <= 1.0:
            raise InputError(f"expected {name} in (0, 1], got {fraction!r}")


def _start_estimate(level: _Level, coarser: np.ndarray | None) -> np.ndarray:
    """The level's image with the hole filled from the coarser estimate, or by Telea at the start."""
    work = level.image.copy()
    if level.hole.any():
        if coarser is None:
            start = inpaint_telea(np.clip(level.image, 0.0, 1.0), level.hole)
        else:
            start = _upsample(coarser, level.hole.shape)
        work[level.hole] = start[level.hole]
    return work


def _complete_level(
    work: np.ndarray,
    level: _Level,
    coarser: tuple[_Field, np.ndarray] | None,
    *,
    patch_size: int,
    seeds: list[int],
    patchmatch_iterations: int,
    vote_quantile: float,
) -> tuple[_Field, np.ndarray]:
    """EM completion of one level in place on ``work``; returns its field and target mask.

    ``seeds`` holds one seed for the field's start and one per EM round.
    """
    radius = patch_size // 2
    source_ok = _source_mask(level.hole, patch_size)
    is_target = _target_mask(level.hole, patch_size)
    targets = np.flatnonzero(is_target).astype(np.int64)
    sources = np.flatnonzero(source_ok).astype(np.int64)
    field = _Field(
        source_y=np.zeros(level.hole.shape, dtype=np.int64),
        source_x=np.zeros(level.hole.shape, dtype=np.int64),
        distance=np.zeros(level.hole.shape, dtype=np.float64),
    )
    if coarser is None:
        _random_field(work, targets, sources, radius, field.source_y, field.source_x, field.distance, seeds[0])
    else:
        coarse_field, coarse_target = coarser
        _upsampled_field(
            work,
            targets,
            sources,
            source_ok,
            coarse_field.source_y,
            coarse_field.source_x,
            coarse_target,
            radius,
            field.source_y,
            field.source_x,
            field.distance,
            seeds[0],
        )
    for round_seed in seeds[1:]:
        _patchmatch(
            work,
            targets,
            is_target,
            source_ok,
            radius,
            patchmatch_iterations,
            field.source_y,
            field.source_x,
            field.distance,
            round_seed,
        )
        means = _mean_distances(targets, work.shape[1], work.shape[0], radius, field.distance)
        sigma2 = max(float(np.quantile(means, vote_quantile)), 1e-8)
        _vote(work, level.hole, targets, radius, field.source_y, field.source_x, field.distance, sigma2)
    return field, is_target


def inpaint_patchmatch(
    image: np.ndarray,
    hole: np.ndarray,
    *,
    patch_size: int = 7,
    seed: int = 0,
    em_iterations: int = 3,
    patchmatch_iterations: int = 2,
    min_size: int = 16,
    min_sources: int = 64,
    min_source_fraction: float = 0.5,
    vote_quantile: float = 1.0,
) -> np.ndarray:
    """Fill the hole by multi-scale PatchMatch completion (Wexler et al. 2007, Barnes et al. 2009).

    Parameters
    ----------
    image : numpy.ndarray
        float32 RGB, shape (H, W, 3), values in [0, 1]. Values inside the hole are ignored.
    hole : numpy.ndarray
        bool, shape (H, W); True = missing. It may touch the border and cover most of the
        image, as long as some ``patch_size`` × ``patch_size`` patch is fully known.
    patch_size : int, optional
        Side of the square patches, px (odd). 7 matches PyPatchMatch's ``patch_size=3`` (a radius).
    seed : int, optional
        Seed of the random search (>= 0). The same seed gives byte-identical output.
    em_iterations : int, optional
        Expectation–maximisation rounds (PatchMatch search, then vote) per pyramid level.
    patchmatch_iterations : int, optional
        PatchMatch sweeps (propagation + random search) per EM round.
    min_size : int, optional
        The pyramid is halved while the shorter side stays >= this, px (>= ``patch_size``).
    min_sources : int, optional
        A level is completed by EM only when it has at least this many fully known patches
        (or as many as full resolution has, if fewer) ...
    min_source_fraction : float, optional
        ... and when its fraction of fully known patch centres is at least this times the
        fraction at full resolution. Coarser levels only pass their smooth estimate down:
        with few sources a coarse level would copy whatever few patches are left.
    vote_quantile : float, optional
        Quantile of the targets' patch distances used as σ² of the vote weights
        ``exp(-d / (2 σ²))``; larger values weigh the patches more evenly (1: every
        weight in [e^-1/2, 1]), smaller ones favour the best matches (sharper, noisier).

    Returns
    -------
    numpy.ndarray
        float32 (H, W, 3) in [0, 1]; pixels outside the hole equal ``image`` exactly.

    Raises
    ------
    maskbench.errors.InputError
        For a wrong shape, dtype or value range, bad options, or a hole that leaves no fully
        known patch at full resolution.

    Notes
    -----
    Runs on the CPU in numba-compiled loops on one thread (run images in parallel worker
    processes for throughput). The first call in a fresh environment compiles the kernels
    (several seconds); numba caches them on disk next to this module afterwards.
    """
    check_image_and_hole(image, hole)
    _check_options(
        patch_size,
        seed,
        {"em_iterations": em_iterations, "patchmatch_iterations": patchmatch_iterations, "min_sources": min_sources},
        min_size,
        {"min_source_fraction": min_source_fraction, "vote_quantile": vote_quantile},
    )
    if not hole.any():
        return image.copy()
    full_sources = _source_mask(hole, patch_size)
    if not full_sources.any():
        raise InputError(
            f"the hole leaves no fully known {patch_size}x{patch_size} patch to copy from; "
            "use a smaller hole or patch_size"
        )
    needed_sources = min(min_sources, int(full_sources.sum()))
    needed_fraction = min_source_fraction * float(full_sources.mean())
    levels = _pyramid(image, hole, min_size)
    estimate: np.ndarray | None = None
    coarser: tuple[_Field, np.ndarray] | None = None
    for index in range(len(levels) - 1, -1, -1):  # coarse to fine; index 0 always has the sources
        level = levels[index]
        estimate = _start_estimate(level, estimate)
        source_ok = _source_mask(level.hole, patch_size)
        if not level.hole.any() or source_ok.sum() < needed_sources or source_ok.mean() < needed_fraction:
            coarser = None
            continue
        seeds = [_round_seed(seed, index, round_index) for round_index in range(em_iterations + 1)]
        coarser = _complete_level(
            estimate,
            level,
            coarser,
            patch_size=patch_size,
            seeds=seeds,
            patchmatch_iterations=patchmatch_iterations,
            vote_quantile=vote_quantile,
        )
    return composite(np.clip(estimate, 0.0, 1.0), image, hole)
