"""Short synthetic videos with known moving objects, made from scikit-image's photographs.

The demo and the tests need videos whose occlusions are known. :func:`render_demo_clip`
composes one: a background photograph seen through a slowly panning camera, and a few
foreground objects, each an irregular smooth blob cut out of another photograph, that
move along their own straight paths while turning slightly. It returns the rendered frames
and, per frame, which object covers each pixel, so a test can check that occlusion masks
fall on the objects' boundaries. :func:`write_demo_video` writes the frames through
OpenCV's ``VideoWriter`` (a real, lossy codec round trip), :func:`write_frames_folder` as
numbered PNG frames, and :func:`write_corrupt_video` a file no decoder can open.

Everything is drawn from :func:`maskbench.rng.item_rng`, so a seed gives the same clip on
every machine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from maskbench.errors import InputError
from maskbench.files import write_image
from maskbench.rng import item_rng

#: scikit-image colour photographs used as backgrounds and object textures.
PHOTOS: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")
#: Codec (FourCC) used for each video file suffix.
FOURCC_BY_SUFFIX: dict[str, str] = {".mp4": "mp4v", ".avi": "MJPG"}

_PAN_MAX = 1.0  # camera pan speed, px/frame, at most
_TURN_MAX = 0.6  # object turning speed, degrees/frame, at most
_RADIUS_RANGE = (0.12, 0.22)  # object radius as a share of the shorter frame side
_HARMONICS = range(2, 6)  # shape harmonics of the blob outline
_HARMONIC_AMPLITUDE = (0.05, 0.2)  # range of each harmonic's relative amplitude
_MIN_RELATIVE_RADIUS = 0.35  # the outline never comes closer to the centre than this


@dataclass(frozen=True)
class SyntheticClip:
    """A rendered clip with the ground truth of its layers.

    Attributes
    ----------
    frames : (T, H, W, 3) uint8 ndarray
        RGB frames as rendered (before any codec).
    labels : (T, H, W) uint8 ndarray
        Per pixel, 0 for the background or k ≥ 1 for the k-th object (the topmost object
        covering the pixel by more than half).
    """

    frames: np.ndarray
    labels: np.ndarray


def _photo(name: str) -> np.ndarray:
    image = getattr(skimage.data, name)()
    return image[:, :, :3] if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)


def _blob_outline(rng: np.random.Generator, radius: float, center: float) -> np.ndarray:
    """Polygon (N, 2) float32 of a smooth star-shaped blob: r(θ) = R·max(1 + Σ a_k cos(kθ + φ_k), r_min)."""
    angles = np.linspace(0.0, 2.0 * np.pi, 180, endpoint=False)
    relative = np.ones_like(angles)
    for harmonic in _HARMONICS:
        amplitude = rng.uniform(*_HARMONIC_AMPLITUDE)
        relative += amplitude * np.cos(harmonic * angles + rng.uniform(0.0, 2.0 * np.pi))
    relative = np.maximum(relative, _MIN_RELATIVE_RADIUS)
    points = np.stack([center + radius * relative * np.cos(angles), center + radius * relative * np.sin(angles)], 1)
    return points.astype(np.float32)


@dataclass(frozen=True)
class _Layer:
    texture: np.ndarray  # (S, S, 3) float32, the object's own canvas
    alpha: np.ndarray  # (S, S) float32 in {0, 1}
    start: np.ndarray  # (2,) x, y of the canvas centre in frame 0
    velocity: np.ndarray  # (2,) px/frame
    turn: float  # degrees/frame


def _make_layer(rng: np.random.Generator, photo: np.ndarray, height: int, width: int, frames: int) -> _Layer:
    radius = rng.uniform(*_RADIUS_RANGE) * min(height, width)
    side = int(np.ceil(2.0 * radius * (1.0 + _HARMONIC_AMPLITUDE[1] * len(_HARMONICS)))) + 4
    scale = max(side / photo.shape[0], side / photo.shape[1], 1.0)
    if scale > 1.0:
        photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    top = rng.integers(0, photo.shape[0] - side + 1)
    left = rng.integers(0, photo.shape[1] - side + 1)
    texture = photo[top : top + side, left : left + side].astype(np.float32) / 255.0
    alpha = np.zeros((side, side), np.uint8)
    outline = _blob_outline(rng, radius, (side - 1) / 2.0)
    cv2.fillPoly(alpha, [np.round(outline * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    low, high = np.array([0.2 * width, 0.2 * height]), np.array([0.8 * width, 0.8 * height])
    start, end = rng.uniform(low, high), rng.uniform(low, high)
    velocity = (end - start) / max(frames - 1, 1)
    return _Layer(texture, alpha.astype(np.float32), start, velocity, rng.uniform(-_TURN_MAX, _TURN_MAX))


def _place(layer: _Layer, t: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The layer's texture (H, W, 3) and coverage (H, W) in frame ``t``."""
    side = layer.alpha.shape[0]
    centre = (side - 1) / 2.0
    matrix = cv2.getRotationMatrix2D((centre, centre), layer.turn * t, 1.0)
    matrix[:, 2] += layer.start + layer.velocity * t - centre
    texture = cv2.warpAffine(layer.texture, matrix, (width, height), flags=cv2.INTER_LINEAR)
    coverage = cv2.warpAffine(layer.alpha, matrix, (width, height), flags=cv2.INTER_LINEAR)
    return texture, coverage


def render_demo_clip(
    *, frames: int = 24, size: tuple[int, int] = (240, 320), objects: int = 3, seed: int = 0
) -> SyntheticClip:
    """Render a clip of textured objects moving over a panning photograph.

    Parameters
    ----------
    frames : int
        Number of frames, ≥ 1.
    size : (int, int)
        (height, width) of the frames, pixels.
    objects : int
        Number of moving foreground objects, 0 to ``len(PHOTOS) - 1``.
    seed : int
        Seed of every random choice (photos, shapes, paths).

    Returns
    -------
    SyntheticClip
        Frames and per-pixel object labels.

    Raises
    ------
    ValueError
        Fewer than 1 frame, frames smaller than 16×16, or ``objects`` out of range.

    Notes
    -----
    Objects move 2–6 px per frame at the default size (each from a random point to another
    over the clip) and overlap each other and the background; the camera pans by at most
    1 px per frame, so the frame edges also see (thin) occlusions.
    """
    height, width = size
    if frames < 1 or height < 16 or width < 16:
        raise ValueError(f"need at least 1 frame of 16x16 pixels, got {frames} frames of {height}x{width}")
    if not 0 <= objects < len(PHOTOS):
        raise ValueError(f"objects must be between 0 and {len(PHOTOS) - 1}, got {objects}")
    rng = item_rng(seed, 0)
    names = [PHOTOS[i] for i in rng.permutation(len(PHOTOS))[: objects + 1]]
    background = _photo(names[0]).astype(np.float32) / 255.0
    pan = rng.uniform(-_PAN_MAX, _PAN_MAX, size=2)
    margin = int(np.ceil(_PAN_MAX * frames)) + 2
    scale = max((height + 2 * margin) / background.shape[0], (width + 2 * margin) / background.shape[1])
    background = cv2.resize(background, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    origin = np.array([(background.shape[1] - width) / 2.0, (background.shape[0] - height) / 2.0])
    layers = [
        _make_layer(item_rng(seed, 1, k), _photo(name), height, width, frames) for k, name in enumerate(names[1:])
    ]

    rendered = np.empty((frames, height, width, 3), np.uint8)
    labels = np.zeros((frames, height, width), np.uint8)
    for t in range(frames):
        shift = np.float32([[1, 0, -(origin[0] + pan[0] * t)], [0, 1, -(origin[1] + pan[1] * t)]])
        image = cv2.warpAffine(background, shift, (width, height), flags=cv2.INTER_LINEAR)
        for k, layer in enumerate(layers, start=1):
            texture, coverage = _place(layer, t, height, width)
            image = image * (1.0 - coverage[:, :, None]) + texture * coverage[:, :, None]
            labels[t][coverage > 0.5] = k
        rendered[t] = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    return SyntheticClip(rendered, labels)


def write_video(path: str | os.PathLike, frames: Sequence[np.ndarray] | np.ndarray, *, fps: float = 12.0) -> None:
    """Write RGB uint8 frames (all one size) as a video file with OpenCV's ``VideoWriter``.

    The codec follows the suffix (:data:`FOURCC_BY_SUFFIX`): MPEG-4 part 2 (``mp4v``) for
    ``.mp4``, Motion JPEG for ``.avi``.

    Parameters
    ----------
    path : path-like
        The video file, ``.mp4`` or ``.avi``; its folder is created.
    frames : sequence of ndarray or (T, H, W, 3) uint8 ndarray
        RGB frames, each (H, W, 3) uint8, at least one.
    fps : float
        Frame rate written in the container, > 0.

    Raises
    ------
    InputError
        Another suffix, or OpenCV cannot open a writer for the file (no such codec).
    """
    path = Path(path)
    fourcc = FOURCC_BY_SUFFIX.get(path.suffix.lower())
    if fourcc is None:
        raise InputError(f"cannot choose a codec for {path.name}; use one of {', '.join(FOURCC_BY_SUFFIX)}")
    height, width = frames[0].shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise InputError(f"OpenCV cannot write {path} with codec {fourcc}")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def write_demo_video(
    path: str | os.PathLike,
    *,
    frames: int = 24,
    size: tuple[int, int] = (240, 320),
    objects: int = 3,
    seed: int = 0,
    fps: float = 12.0,
) -> SyntheticClip:
    """Render a demo clip (:func:`render_demo_clip`) and write it as a video file.

    Parameters
    ----------
    path : path-like
        ``.mp4`` (mp4v codec) or ``.avi`` (MJPG).
    frames : int
        Number of frames, ≥ 1.
    size : (int, int)
        (height, width) of the frames, pixels, each ≥ 16.
    objects : int
        Number of moving foreground objects, 0 to ``len(PHOTOS) - 1``.
    seed : int
        Seed of every random choice (photos, shapes, paths); as for :func:`render_demo_clip`.
    fps : float
        Frame rate written in the container.

    Returns
    -------
    SyntheticClip
        The frames as rendered (before the lossy codec) and their object labels.
    """
    clip = render_demo_clip(frames=frames, size=size, objects=objects, seed=seed)
    write_video(path, clip.frames, fps=fps)
    return clip


def write_frames_folder(folder: str | os.PathLike, frames: Sequence[np.ndarray] | np.ndarray) -> list[Path]:
    """Write RGB frames as ``frame_1.png``, ``frame_2.png``, ... into a folder.

    The numbers have no zero padding, on purpose: readers must order the frames by number,
    not by name.

    Parameters
    ----------
    folder : path-like
        Where to write the frames; created if missing.
    frames : sequence of ndarray or (T, H, W, 3) ndarray
        RGB frames, each (H, W, 3), uint8 (or float in [0, 1], as
        :func:`maskbench.files.write_image` takes them); they may differ in size.

    Returns
    -------
    list of Path
        The files written, in frame order.
    """
    folder = Path(folder)
    paths = [folder / f"frame_{number}.png" for number in range(1, len(frames) + 1)]
    for path, frame in zip(paths, frames, strict=True):
        write_image(path, frame)
    return paths


def write_corrupt_video(path: str | os.PathLike, *, size_bytes: int = 4096, seed: int = 0) -> None:
    """Write a file that looks like an MP4 (an ``ftyp`` box) but holds only random bytes.

    Parameters
    ----------
    path : path-like
        The file to write; its folder is created.
    size_bytes : int
        File size, bytes (at least the 24-byte header).
    seed : int
        Seed of the random bytes.
    """
    header = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    body = item_rng(seed, 0).integers(0, 256, size=max(size_bytes - len(header), 0), dtype=np.uint8).tobytes()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(header + body)
