"""The steered sampler: one 512×512 split mask per slot (ratio bin k, border class b, position j).

Per slot and attempt a, every random choice comes from ``item_rng(seed, k, b, j, a)`` only
(so any number of workers gives the same bytes):

1. draw a target hole ratio uniformly in bin k, a number of sources n (``combine_sources``)
   and a share s of the target (``combine_fill``);
2. combine: add sources (:mod:`maskbench.source_pool`), each drawn near s·target/n hole
   pixels (``source_ratio_factor``) and rotated, cropped and flipped on its own
   (:func:`maskbench.augment.random_window`), until their union holds s·target pixels
   (NVIDIA's masks are mixtures of several streaks and regions, and a store of small masks
   can reach the high bins this way);
3. steer (:mod:`maskbench.steering`): one signed distance map gives every dilation/erosion
   of the window; take the one whose hole count is nearest the target (within
   ``max_dilation``/``max_erosion``);
4. accept when the result is in bin k and of class b, else try again (attempt a + 1).

N masks need every hole pixel ≥ ``border_margin`` px from the edge. Method ``"natural"``
drops the holes that touch each source's frame (they were cut by it), rotates and flips the
rest, scales and places it in the interior instead of cropping, and dilates only as far as
the margin allows (``natural_max_dilation``), so outlines stay natural; after
``natural_tries[k]`` failed attempts the slot falls back to ``"clear-band"``, which clears
the border band as NVIDIA did (straight cut edges; ``cut_edges`` in the manifest).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from maskbench.augment import random_window
from maskbench.bins import (
    BIN_LABELS,
    BORDER_CLASSES,
    MASK_SIZE,
    RATIO_EDGES,
    BorderClass,
    border_distance_map,
    is_band_cut,
    min_border_distance,
    ratio_bin,
    testset_index,
)
from maskbench.files import write_mask
from maskbench.manifest import ManifestRow
from maskbench.rng import item_rng
from maskbench.source_pool import SourcePool, pick_source, source_hole, source_pool, uncut_holes
from maskbench.steering import count_range, level_limits, steer, window_levels
from maskbench.testset_config import TestsetConfig
from maskbench.transforms import flip, resize, rotate

#: How one attempt makes its mask: the N strategies, or ``"border"`` for B masks.
Method = Literal["natural", "clear-band", "border"]
#: A slot (ratio bin k, border class index b, position j in the bin).
Slot = tuple[int, int, int]

_BORDER_DISTANCE = border_distance_map((MASK_SIZE, MASK_SIZE))


@dataclass(frozen=True)
class SlotContext:
    """What a worker needs to fill slots; small, so it pickles cheaply.

    Attributes
    ----------
    store_path : str
        Absolute path of the mask store.
    fingerprint : str
        The store's fingerprint (key of the per-process caches).
    config : TestsetConfig
        The build's settings.
    masks_dir : str
        Folder the PNGs are written to.
    """

    store_path: str
    fingerprint: str
    config: TestsetConfig
    masks_dir: str


class FilledSlot(NamedTuple):
    """What :func:`fill_slot` did for one slot.

    Attributes
    ----------
    slot : (int, int, int)
        The slot (k, b, j).
    row : ManifestRow or None
        Its manifest row; None when no attempt gave a mask.
    tries : int
        Attempts made, 1 … ``max_tries``.
    """

    slot: Slot
    row: ManifestRow | None
    tries: int


class _Part(NamedTuple):
    holes: np.ndarray  # (512, 512) bool: one augmented source on the canvas
    parameters: dict[str, float]  # its augmentation (ManifestRow's angle … flip_vertical)
    placement_scale: float


class _Accepted(NamedTuple):
    hole: np.ndarray  # (512, 512) bool: the mask
    method: Method
    min_border_dist: int
    used: list[int]  # store indices of its sources
    first: _Part  # the first source's part: its augmentation goes into the manifest
    target: int  # hole pixels aimed at
    threshold: int  # steering level chosen


@functools.lru_cache(maxsize=4)
def _interior(margin: int) -> np.ndarray:
    """(512, 512) bool: the pixels at least ``margin`` px from the edge (read-only)."""
    interior = margin <= _BORDER_DISTANCE
    interior.flags.writeable = False
    return interior


def _natural_holes(
    uncut: np.ndarray, rng: np.random.Generator, config: TestsetConfig
) -> tuple[np.ndarray, dict[str, float]]:
    """Uncut holes of a source, randomly rotated and flipped (no crop), and the parameters drawn.

    ``uncut`` is what :func:`maskbench.source_pool.uncut_holes` returns.
    """
    angle = float(rng.uniform(*config.rotation_degrees))
    flip_horizontal = bool(rng.random() < config.flip_horizontal)
    flip_vertical = bool(rng.random() < config.flip_vertical)
    holes = flip(rotate(uncut, angle), horizontal=flip_horizontal, vertical=flip_vertical)
    no_crop = {"crop_scale": math.nan, "crop_top": math.nan, "crop_left": math.nan, "crop_side": math.nan}
    parameters = {
        "angle": angle,
        **no_crop,
        "flip_horizontal": float(flip_horizontal),
        "flip_vertical": float(flip_vertical),
    }
    return holes, parameters


def _place_inside(
    holes: np.ndarray, rng: np.random.Generator, target: float, config: TestsetConfig
) -> tuple[np.ndarray, float]:
    """Scale holes (their bounding box) towards ``target`` hole pixels and place them inside.

    A random padding p (≤ ``natural_max_dilation``, ≤ an eighth of the interior, so that
    the parts of a combination spread over it) is left on every side for the dilation that
    follows. Returns the 512×512 canvas and the scale.
    """
    margin = config.border_margin
    rows, cols = np.flatnonzero(holes.any(axis=1)), np.flatnonzero(holes.any(axis=0))
    patch = holes[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    interior = MASK_SIZE - 2 * margin
    pad = rng.uniform(0.0, min(config.natural_max_dilation, interior / 8))
    room = interior - 2 * pad
    scale = math.sqrt(target / np.count_nonzero(patch))
    # scale each side by at most `scale`, stretching the shorter one up to 1.5x more so that
    # elongated hole groups can fill the square interior too
    scale_y = min(scale * (1.5 if patch.shape[0] < patch.shape[1] else 1.0), room / patch.shape[0])
    scale_x = min(scale * (1.5 if patch.shape[1] < patch.shape[0] else 1.0), room / patch.shape[1])
    scale_y, scale_x = min(scale_y, 1.5 * scale_x), min(scale_x, 1.5 * scale_y)
    height, width = (
        min(max(1, round(factor * side)), int(room))
        for factor, side in zip((scale_y, scale_x), patch.shape, strict=True)
    )
    scale = math.sqrt(scale_y * scale_x)
    scaled = resize(patch, (height, width))
    top = margin + round(pad) + int(rng.integers(0, int(room) - height + 1))
    left = margin + round(pad) + int(rng.integers(0, int(room) - width + 1))
    canvas = np.zeros((MASK_SIZE, MASK_SIZE), dtype=bool)
    canvas[top : top + height, left : left + width] = scaled
    return canvas, scale


def _part(
    context: SlotContext, source: int, rng: np.random.Generator, part_target: float, method: Method
) -> _Part | None:
    """One augmented source on the 512×512 canvas.

    Natural N parts are the source's uncut holes scaled towards ``part_target`` hole pixels
    and placed in the interior; the others are a random window of the source. None when a
    natural source has no uncut hole.
    """
    config = context.config
    if method != "natural":
        hole = source_hole(context.store_path, context.fingerprint, source)
        window, parameters = random_window(hole, rng, config, size=MASK_SIZE)
        return _Part(window, parameters, 1.0)
    uncut = uncut_holes(context.store_path, context.fingerprint, source)
    if uncut is None:
        return None
    holes, parameters = _natural_holes(uncut, rng, config)
    canvas, placement_scale = _place_inside(holes, rng, part_target, config)
    return _Part(canvas, parameters, placement_scale)


def _combine(
    context: SlotContext, pool: SourcePool, rng: np.random.Generator, target: int, method: Method
) -> tuple[np.ndarray, list[int], _Part] | None:
    """The union of several augmented sources holding about a drawn share of ``target``.

    Draws the number of sources n in ``combine_sources`` and the share s in
    ``combine_fill`` (``natural_sources`` and ``natural_fill`` for natural N masks), picks
    each source near s·target / n hole pixels and adds augmented sources until the union
    (its interior for clear-band) holds s·target pixels or the largest number of sources was
    added (overlaps can leave n sources short of it). Returns (union, store indices, first
    part), or None when no part had a hole.
    """
    config = context.config
    sources_range = config.natural_sources if method == "natural" else config.combine_sources
    fill_range = config.natural_fill if method == "natural" else config.combine_fill
    count = int(rng.integers(sources_range[0], sources_range[1] + 1))
    wanted = float(rng.uniform(*fill_range)) * target
    part_target = wanted / count
    union = np.zeros((MASK_SIZE, MASK_SIZE), dtype=bool)
    used: list[int] = []
    first: _Part | None = None
    counted = _interior(config.border_margin) if method == "clear-band" else None
    for _ in range(sources_range[1]):
        source = pick_source(
            pool, part_target / (MASK_SIZE * MASK_SIZE), config.source_ratio_factor, config.min_source_candidates, rng
        )
        part = _part(context, source, rng, part_target, method)
        if part is None:
            continue
        union |= part.holes
        used.append(source)
        if first is None:
            first = part
        if np.count_nonzero(union if counted is None else union & counted) >= wanted:
            break
    return None if first is None else (union, used, first)


def _attempt(
    context: SlotContext, ratio_bin_index: int, border: BorderClass, rng: np.random.Generator, method: Method
) -> _Accepted | None:
    """One try at a mask for a slot: the accepted mask, or None."""
    config = context.config
    margin = config.border_margin
    low, high = count_range(ratio_bin_index)
    target_ratio = float(rng.uniform(float(RATIO_EDGES[ratio_bin_index]), float(RATIO_EDGES[ratio_bin_index + 1])))
    target = min(max(round(target_ratio * MASK_SIZE * MASK_SIZE), low), high)
    combined = _combine(context, source_pool(context.store_path, context.fingerprint), rng, target, method)
    if combined is None:
        return None
    window, used, first = combined
    interior = _interior(margin)
    if method == "clear-band":
        window = window & interior
    if not window.any():
        return None
    levels = window_levels(window, erode=np.count_nonzero(window) > target, steer_distance=config.steer_distance)
    lowest, highest = level_limits(config.max_erosion, config.max_dilation)
    if method == "natural":
        highest = min(math.floor(config.natural_max_dilation**2), int(levels[~interior].min()) - 1)  # out of the band
    counted = levels[interior] if method == "clear-band" else levels.ravel()
    threshold = steer(counted, lowest, highest, target, low, high)
    if threshold is None:
        return None
    grown = levels <= threshold
    hole = grown & interior if method == "clear-band" else grown
    distance = min_border_distance(hole)
    if (distance >= margin) != (border == "N") or ratio_bin(hole) != ratio_bin_index:
        return None
    return _Accepted(hole, method, distance, used, first, target, threshold)


def _method(config: TestsetConfig, ratio_bin_index: int, border: BorderClass, attempt: int) -> Method:
    """How attempt ``attempt`` of a slot makes its mask."""
    if border == "B":
        return "border"
    if config.strategy == "natural" and attempt < config.natural_tries[ratio_bin_index]:
        return "natural"
    return "clear-band"


def _manifest_row(context: SlotContext, slot: Slot, accepted: _Accepted, tries: int) -> ManifestRow:
    """The manifest row of a slot's accepted mask."""
    ratio_bin_index, border_index, position = slot
    border = BORDER_CLASSES[border_index]
    index = testset_index(ratio_bin_index, border, position, per_bin=context.config.per_bin)
    pool = source_pool(context.store_path, context.fingerprint)
    hole_pixels = int(np.count_nonzero(accepted.hole))
    first_source = accepted.used[0]
    return ManifestRow(
        index=index,
        file=f"masks/{index:05d}.png",
        ratio_bin=ratio_bin_index,
        bin_label=BIN_LABELS[ratio_bin_index],
        border=border,
        hole_ratio=hole_pixels / (MASK_SIZE * MASK_SIZE),
        hole_pixels=hole_pixels,
        min_border_dist=accepted.min_border_dist,
        source=first_source,
        sources=";".join(str(source) for source in accepted.used),
        source_file=pool.files[first_source],
        source_frame=pool.frames[first_source],
        strategy=accepted.method,
        cut_edges=is_band_cut(accepted.hole, margin=context.config.border_margin),
        target_ratio=accepted.target / (MASK_SIZE * MASK_SIZE),
        tries=tries,
        **accepted.first.parameters,
        placement_scale=accepted.first.placement_scale,
        dilation=math.copysign(math.sqrt(abs(accepted.threshold)), accepted.threshold),
    )


def fill_slot(context: SlotContext, slot: Slot) -> FilledSlot:
    """Fill one slot: try up to ``max_tries`` times, write the accepted mask's PNG.

    Parameters
    ----------
    context : SlotContext
        The store, settings and output folder.
    slot : (int, int, int)
        (ratio bin k 0 … 5, border class index b 0 = N / 1 = B, position j 0 … per_bin − 1).

    Returns
    -------
    FilledSlot
        The slot, its manifest row (None when no attempt gave a mask) and the attempts made.
        The PNG is ``masks_dir/NNNNN.png``, named by the row's ``index``.
    """
    ratio_bin_index, border_index, position = slot
    border = BORDER_CLASSES[border_index]
    config = context.config
    for attempt in range(config.max_tries):
        rng = item_rng(config.seed, ratio_bin_index, border_index, position, attempt)
        accepted = _attempt(context, ratio_bin_index, border, rng, _method(config, ratio_bin_index, border, attempt))
        if accepted is not None:
            row = _manifest_row(context, slot, accepted, attempt + 1)
            write_mask(Path(context.masks_dir) / Path(row.file).name, accepted.hole)
            return FilledSlot(slot, row, attempt + 1)
    return FilledSlot(slot, None, config.max_tries)
