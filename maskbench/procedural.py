"""Procedural free-form hole masks: brush strokes, blobs, outlines, and their mixture.

For users without videos (and for tests and the demo), ``maskbench generate`` fills a mask
store with procedural masks:

* ``strokes`` — random brush strokes: the free-form algorithm of DeepFill v2 (Yu et al.
  2019, Algorithm 1: a chain of vertices at alternating turn angles, lines of one random
  width with round joints) and the irregular-mask presets ``thin``, ``medium`` and
  ``thick`` of LaMa (Suvorov et al. 2022, ``configs/data_gen/random_*_512.yaml``: polylines
  of random turn, length and width, and in ``medium``/``thick`` some boxes);
* ``blobs`` — smooth random blobs (a circle whose radius is perturbed by a few random
  harmonics), sometimes with small square blocks;
* ``mixed`` — strokes with blobs added, or thin outlines of blobs (like dilated occlusion
  boundaries), in proportions set in ``configs/generate.toml``.

Every mask draws only from ``item_rng(seed, index)``, so the store is the same for any
number of workers. Lengths of the presets are defined for a reference size (256 px for
DeepFill v2, 512 px for LaMa) and scale with the shorter side of the mask.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar, Literal

import cv2
import numpy as np

from maskbench.chunked_append import AppendSummary, Chunk, append_in_chunks
from maskbench.config import Config
from maskbench.errors import ConfigError
from maskbench.rng import item_rng

GeneratorKind = Literal["strokes", "blobs", "mixed"]
StrokePresetName = Literal["deepfill", "thin", "medium", "thick"]


@dataclass(frozen=True)
class PolylinePreset:
    """LaMa-style irregular strokes (``make_random_irregular_mask``), lengths at ``reference`` px.

    Attributes
    ----------
    times : (int, int)
        Range of the number of polylines.
    max_width, max_len : int
        Largest extra brush width and segment length, px (width = 5 + U[0, max_width)).
    max_angle : float
        Largest turn between segments, radians.
    box_proba : float
        Chance of adding ``box_times`` boxes of side ``box_size`` px.
    """

    times: tuple[int, int]
    max_width: int
    max_len: int
    max_angle: float
    box_proba: float = 0.0
    box_times: tuple[int, int] = (1, 1)
    box_size: tuple[int, int] = (30, 30)
    reference: int = 512


#: LaMa's evaluation presets for 512 px images (configs/data_gen/random_{thin,medium,thick}_512.yaml).
LAMA_PRESETS: dict[str, PolylinePreset] = {
    "thin": PolylinePreset(times=(4, 70), max_width=20, max_len=100, max_angle=4.0),
    "medium": PolylinePreset(
        times=(4, 10), max_width=100, max_len=200, max_angle=4.0, box_proba=0.3, box_times=(1, 5), box_size=(30, 150)
    ),
    "thick": PolylinePreset(
        times=(1, 5), max_width=250, max_len=450, max_angle=4.0, box_proba=0.3, box_times=(1, 4), box_size=(30, 300)
    ),
}


@dataclass(frozen=True)
class GenerateConfig(Config):
    """Settings of ``maskbench generate``; defaults and their meaning in ``configs/generate.toml``.

    Attributes
    ----------
    kind : {"strokes", "blobs", "mixed"}
        The generator.
    count : int
        Number of masks, >= 0.
    size : (int, int)
        Mask height and width, px, each >= 16.
    seed, workers : int
        Global seed and worker processes (0 or 1: none), >= 0.
    stroke_presets : tuple of {"deepfill", "thin", "medium", "thick"}
        Presets drawn uniformly for each stroke mask (a repeated one weighs more).
    blob_count : (int, int)
        Blobs per mask [low, high], 1 <= low <= high.
    blob_radius : (float, float)
        Mean blob radius range, px at 512 px, 0 < low <= high.
    square_proba, mixed_blob_proba, mixed_outline_proba : float
        Probabilities in [0, 1] (see ``configs/generate.toml``).
    chunk_size : int
        Masks per store shard, >= 1.
    append : bool
        Add to an existing store of another run instead of refusing.
    """

    defaults: ClassVar[str] = "generate"

    kind: GeneratorKind
    count: int
    size: tuple[int, int]
    seed: int
    workers: int
    stroke_presets: tuple[StrokePresetName, ...]
    blob_count: tuple[int, int]
    blob_radius: tuple[float, float]
    square_proba: float
    mixed_blob_proba: float
    mixed_outline_proba: float
    chunk_size: int
    append: bool

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values out of range.

        Raises
        ------
        ConfigError
            Naming the first setting out of range and its allowed range.
        """
        if self.count < 0:
            raise ConfigError(f"count must be >= 0, got {self.count}")
        if min(self.size) < 16:
            raise ConfigError(f"size must be at least 16x16 px, got {list(self.size)}")
        if self.seed < 0 or self.workers < 0:
            raise ConfigError("seed and workers must be >= 0")
        if not self.stroke_presets:
            raise ConfigError("stroke_presets must name at least one of deepfill, thin, medium, thick")
        if not 1 <= self.blob_count[0] <= self.blob_count[1]:
            raise ConfigError(f"blob_count must be [low, high] with 1 <= low <= high, got {list(self.blob_count)}")
        if not 0 < self.blob_radius[0] <= self.blob_radius[1]:
            raise ConfigError(f"blob_radius must be [low, high] with 0 < low <= high, got {list(self.blob_radius)}")
        for name in ("square_proba", "mixed_blob_proba", "mixed_outline_proba"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} is a probability in [0, 1], got {getattr(self, name)}")
        if self.chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {self.chunk_size}")


# -- drawing -------------------------------------------------------------------------------


def _draw_polyline(canvas: np.ndarray, points: list[tuple[float, float]], width: int) -> None:
    """Thick line segments with round joints (filled circles at the vertices)."""
    radius = max(1, width // 2)
    as_int = [(round(x), round(y)) for x, y in points]
    for start, end in pairwise(as_int):
        cv2.line(canvas, start, end, 1, thickness=max(1, width), lineType=cv2.LINE_8)
    for point in as_int:
        cv2.circle(canvas, point, radius, 1, thickness=-1, lineType=cv2.LINE_8)


def deepfill_strokes(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Free-form brush strokes as DeepFill v2 (Yu et al. 2019), lengths scaled from 256 px.

    1–3 strokes of 4–12 vertices; turns alternate around 2π/5 ± 2π/15; segment lengths
    ~ N(r, r/2) clipped to [0, 2r] with r = diagonal/8; widths 12–40 px at 256 px.

    Parameters
    ----------
    shape : (int, int)
        Mask height and width, px.
    rng : numpy.random.Generator
        The mask's random generator; the only source of randomness.

    Returns
    -------
    (H, W) bool ndarray
        True = hole.
    """
    height, width = shape
    scale = min(shape) / 256
    canvas = np.zeros(shape, dtype=np.uint8)
    average_radius = math.hypot(height, width) / 8
    for _ in range(int(rng.integers(1, 4))):
        vertices = int(rng.integers(4, 13))
        brush = round(rng.uniform(12, 40) * scale)
        mean_angle, angle_range = 2 * math.pi / 5, 2 * math.pi / 15
        points = [(float(rng.uniform(0, width)), float(rng.uniform(0, height)))]
        for i in range(vertices):
            angle = rng.uniform(mean_angle - angle_range, mean_angle + angle_range)
            angle = 2 * math.pi - angle if i % 2 == 0 else angle
            length = float(np.clip(rng.normal(average_radius, average_radius / 2), 0, 2 * average_radius))
            x, y = points[-1]
            points.append(
                (
                    float(np.clip(x + length * math.cos(angle), 0, width - 1)),
                    float(np.clip(y + length * math.sin(angle), 0, height - 1)),
                )
            )
        _draw_polyline(canvas, points, brush)
    if rng.random() < 0.5:
        canvas = canvas[:, ::-1]
    if rng.random() < 0.5:
        canvas = canvas[::-1, :]
    return np.ascontiguousarray(canvas).astype(bool)


def polyline_strokes(shape: tuple[int, int], rng: np.random.Generator, preset: PolylinePreset) -> np.ndarray:
    """LaMa-style irregular strokes (and boxes) for one :class:`PolylinePreset`.

    Parameters
    ----------
    shape : (int, int)
        Mask height and width, px.
    rng : numpy.random.Generator
        The mask's random generator; the only source of randomness.
    preset : PolylinePreset
        Stroke counts, widths, lengths and boxes, defined at ``preset.reference`` px and
        scaled with the shorter side of ``shape``.

    Returns
    -------
    (H, W) bool ndarray
        True = hole.
    """
    height, width = shape
    scale = min(shape) / preset.reference
    canvas = np.zeros(shape, dtype=np.uint8)
    for _ in range(int(rng.integers(preset.times[0], preset.times[1] + 1))):
        points = [(float(rng.integers(0, width)), float(rng.integers(0, height)))]
        for segment in range(1 + int(rng.integers(0, 5))):
            angle = 0.01 + rng.uniform(0, preset.max_angle)
            angle = 2 * math.pi - angle if segment % 2 == 0 else angle
            length = (10 + rng.uniform(0, preset.max_len)) * scale
            brush = max(1, round((5 + rng.integers(0, preset.max_width)) * scale))
            x, y = points[-1]
            end = (
                float(np.clip(x + length * math.sin(angle), 0, width - 1)),
                float(np.clip(y + length * math.cos(angle), 0, height - 1)),
            )
            _draw_polyline(canvas, [points[-1], end], brush)
            points.append(end)
    if rng.random() < preset.box_proba:
        for _ in range(int(rng.integers(preset.box_times[0], preset.box_times[1] + 1))):
            box_h, box_w = (max(1, round(rng.uniform(*preset.box_size) * scale)) for _ in range(2))
            top, left = int(rng.integers(0, max(1, height - box_h))), int(rng.integers(0, max(1, width - box_w)))
            canvas[top : top + box_h, left : left + box_w] = 1
    return canvas.astype(bool)


def _blob_polygon(centre: tuple[float, float], radius: float, rng: np.random.Generator) -> np.ndarray:
    """Closed outline of a smooth random blob: a circle with 2–5 random harmonics."""
    angles = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    profile = np.ones_like(angles)
    for harmonic in range(2, 6):
        profile += rng.uniform(0, 0.35 / harmonic * 2) * np.cos(harmonic * angles + rng.uniform(0, 2 * np.pi))
    profile = np.clip(profile, 0.3, None)
    stretch = rng.uniform(0.5, 1.0)
    tilt = rng.uniform(0, np.pi)
    x = radius * profile * np.cos(angles)
    y = radius * profile * np.sin(angles) * stretch
    rotated_x = x * math.cos(tilt) - y * math.sin(tilt) + centre[0]
    rotated_y = x * math.sin(tilt) + y * math.cos(tilt) + centre[1]
    return np.round(np.stack([rotated_x, rotated_y], axis=1)).astype(np.int32)


def blobs(
    shape: tuple[int, int], rng: np.random.Generator, config: GenerateConfig, *, outline: bool = False
) -> np.ndarray:
    """Smooth random blobs (or their thin outlines), sometimes with small square blocks.

    Parameters
    ----------
    shape : (int, int)
        Mask height and width, px.
    rng : numpy.random.Generator
        The mask's random generator; the only source of randomness.
    config : GenerateConfig
        ``blob_count``, ``blob_radius`` (px at 512 px, scaled with the shorter side of
        ``shape``) and ``square_proba``.
    outline : bool
        Draw each blob's outline, 2–9 px thick at 512 px (open or closed at random), instead
        of filling it.

    Returns
    -------
    (H, W) bool ndarray
        True = hole.
    """
    height, width = shape
    scale = min(shape) / 512
    canvas = np.zeros(shape, dtype=np.uint8)
    for _ in range(int(rng.integers(config.blob_count[0], config.blob_count[1] + 1))):
        radius = rng.uniform(*config.blob_radius) * scale
        centre = (rng.uniform(0, width), rng.uniform(0, height))
        polygon = _blob_polygon(centre, radius, rng)
        if outline:
            thickness = max(1, round(rng.uniform(2, 9) * scale))
            cv2.polylines(canvas, [polygon], isClosed=bool(rng.random() < 0.5), color=1, thickness=thickness)
        else:
            cv2.fillPoly(canvas, [polygon], 1)
    if rng.random() < config.square_proba:
        for _ in range(int(rng.integers(1, 6))):
            side = max(2, round(rng.uniform(6, 30) * scale))
            top, left = int(rng.integers(0, height - side)), int(rng.integers(0, width - side))
            canvas[top : top + side, left : left + side] = 1
    return canvas.astype(bool)


def strokes(shape: tuple[int, int], rng: np.random.Generator, config: GenerateConfig) -> tuple[np.ndarray, str]:
    """Brush strokes of a preset drawn from ``config.stroke_presets``: (hole, preset name).

    Parameters
    ----------
    shape : (int, int)
        Mask height and width, px.
    rng : numpy.random.Generator
        The mask's random generator; the only source of randomness.
    config : GenerateConfig
        ``stroke_presets``, drawn uniformly.

    Returns
    -------
    hole : (H, W) bool ndarray
        True = hole.
    preset : {"deepfill", "thin", "medium", "thick"}
        The preset drawn.
    """
    preset = str(config.stroke_presets[int(rng.integers(0, len(config.stroke_presets)))])
    if preset == "deepfill":
        return deepfill_strokes(shape, rng), preset
    return polyline_strokes(shape, rng, LAMA_PRESETS[preset]), preset


def generate_mask(index: int, config: GenerateConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """The procedural mask number ``index`` of a run, from ``item_rng(config.seed, index)``.

    Parameters
    ----------
    index : int
        Mask number in the run, >= 0.
    config : GenerateConfig
        The run's settings (``kind``, ``size``, ``seed`` and the generators' ranges).

    Returns
    -------
    hole : (H, W) bool ndarray
        H, W = ``config.size``.
    provenance : dict
        ``kind`` and the stroke ``preset`` or ``"blobs"``/``"outlines"`` drawn.
    """
    rng = item_rng(config.seed, index)
    shape = (int(config.size[0]), int(config.size[1]))
    kind = config.kind
    if kind == "mixed":
        kind = "outlines" if rng.random() < config.mixed_outline_proba else "strokes"
    if kind == "blobs":
        return blobs(shape, rng, config), {"kind": "blobs", "preset": "blobs"}
    if kind == "outlines":
        return blobs(shape, rng, config, outline=True), {"kind": "mixed", "preset": "outlines"}
    hole, preset = strokes(shape, rng, config)
    if config.kind == "mixed" and rng.random() < config.mixed_blob_proba:
        hole |= blobs(shape, rng, config)
        preset += "+blobs"
    return hole, {"kind": config.kind, "preset": preset}


def _generate_chunk(config: GenerateConfig, indices: range) -> Chunk:
    holes, extras = [], []
    for index in indices:
        hole, extra = generate_mask(index, config)
        holes.append(hole)
        extras.append({**extra, "seed": config.seed})
    return holes, [f"generate:{config.kind}"] * len(indices), list(indices), extras


def generate_masks(
    out: str | os.PathLike, *, config: GenerateConfig | None = None, overwrite: bool = False
) -> AppendSummary:
    """Fill a mask store with procedural masks.

    Parameters
    ----------
    out : path-like
        The mask store to create (or to add to, with ``config.append``).
    config : GenerateConfig, optional
        Settings; default ``GenerateConfig.load()`` (``configs/generate.toml``).
    overwrite : bool
        Replace an existing store.

    Returns
    -------
    AppendSummary

    Raises
    ------
    OutputExistsError
        ``out`` is a store of another run and neither ``overwrite`` nor ``config.append`` is set.

    Notes
    -----
    Masks are appended in shards of ``chunk_size``; rerunning the same command after an
    interruption skips the shards already written (their group names record the run).
    """
    config = config if config is not None else GenerateConfig.load()
    run = f"generate kind={config.kind} seed={config.seed} size={config.size[0]}x{config.size[1]}"
    return append_in_chunks(
        Path(out),
        run=run,
        count=config.count,
        chunk_size=config.chunk_size,
        make_chunk=_ChunkMaker(config),
        workers=config.workers,
        overwrite=overwrite,
        append=config.append,
        desc="generate",
    )


@dataclass(frozen=True)
class _ChunkMaker:
    """Picklable ``range -> (holes, sources, frames, extras)`` for worker processes."""

    config: GenerateConfig

    def __call__(self, indices: range) -> Chunk:
        return _generate_chunk(self.config, indices)
