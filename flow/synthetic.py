"""Frame pairs with exact ground-truth flow and occlusion, made from real photographs.

Two kinds of pairs, both built by *sampling* photographs (never by pushing pixels), so the
true flows are known in closed form:

* :func:`composite_pair` — a background photograph and an irregular cut-out of a second
  photograph, each moving with its own affine motion (translation, rotation, zoom about
  the frame centre). The true forward and backward flows, the occlusion (pixels of frame
  0 that the moved foreground covers in frame 1, or that leave the frame) and the
  disocclusion follow exactly from the two motions and the cut-out's shape.
  :func:`random_composite_pair` draws the motions and the shape from a generator.
* :func:`deformed_pair` — one photograph under a smooth non-rigid deformation: frame 1
  samples the photograph at y + b(y) for a smooth field b, so b is the exact backward
  flow; the forward flow is its inverse, solved to 1e-4 px by fixed-point iteration.

Photographs are (H, W, 3) RGB arrays (uint8 or float in [0, 1]) passed in by the caller
(e.g. ``skimage.data.astronaut()``); they are resized when smaller than the frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from flow._checks import frame_as_float

_ALPHA_SOFTNESS = 0.7  # σ (px) of the blur that antialiases the cut-out's edge
_INVERSE_TOLERANCE = 1e-4  # px, fixed-point accuracy of the inverse of a smooth field
_INVERSE_MAX_STEPS = 200


@dataclass(frozen=True)
class FlowPair:
    """Two frames with their exact flows and occlusions.

    Attributes
    ----------
    frame0, frame1 : np.ndarray
        (H, W, 3) float32 RGB in [0, 1].
    forward : np.ndarray
        (H, W, 2) float32 true flow from frame 0 to frame 1 (pixels, x then y).
    backward : np.ndarray
        (H, W, 2) float32 true flow from frame 1 to frame 0.
    occluded : np.ndarray
        (H, W) bool: pixels of frame 0 whose scene point is hidden in frame 1 or leaves it.
    disoccluded : np.ndarray
        (H, W) bool: pixels of frame 1 whose scene point is hidden in frame 0 or was
        outside it (the occlusion of the reversed pair).
    """

    frame0: np.ndarray
    frame1: np.ndarray
    forward: np.ndarray
    backward: np.ndarray
    occluded: np.ndarray
    disoccluded: np.ndarray

    def reversed(self) -> FlowPair:
        """The same pair played backwards (frame 1 → frame 0).

        Returns
        -------
        FlowPair
            Frames, flows, and occlusion and disocclusion swapped; the arrays are shared, not
            copied.
        """
        return FlowPair(self.frame1, self.frame0, self.backward, self.forward, self.disoccluded, self.occluded)


def affine_motion(
    size: tuple[int, int],
    *,
    shift: tuple[float, float] = (0.0, 0.0),
    rotation: float = 0.0,
    zoom: float = 1.0,
) -> np.ndarray:
    """A 3 × 3 affine map of frame coordinates: a turn and zoom about the centre, then a shift.

    A scene point at (x, y) in frame 0 is at ``matrix @ (x, y, 1)`` in frame 1.

    Parameters
    ----------
    size : (int, int)
        (H, W) of the frame; its centre is ((W − 1) / 2, (H − 1) / 2).
    shift : (float, float)
        Translation (dx, dy) in pixels, applied after the turn and zoom.
    rotation : float
        Turn about the frame centre, degrees (positive turns +x towards +y, i.e. clockwise
        on screen, where y points down).
    zoom : float
        Scale about the frame centre, > 0 (1 = none).

    Returns
    -------
    np.ndarray
        (3, 3) float64; the last row is (0, 0, 1).
    """
    height, width = size
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    angle = np.deg2rad(rotation)
    linear = zoom * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = centre - linear @ centre + np.asarray(shift, dtype=float)
    return matrix


def blob_shape(
    size: tuple[int, int],
    rng: np.random.Generator,
    *,
    centre: tuple[float, float],
    radius: float,
    roughness: float = 0.25,
) -> np.ndarray:
    """An irregular smooth blob: a circle whose radius varies with a few random harmonics.

    Parameters
    ----------
    size : (int, int)
        (H, W) of the mask.
    rng : np.random.Generator
        Source of the harmonics' amplitudes and phases.
    centre : (float, float)
        (x, y) of the blob's centre in pixels.
    radius : float
        Mean radius in pixels.
    roughness : float
        Relative amplitude of each harmonic (2nd to 6th), at most.

    Returns
    -------
    np.ndarray
        (H, W) bool, True inside the blob.
    """
    angles = np.linspace(0.0, 2.0 * np.pi, 720, endpoint=False)
    profile = np.ones_like(angles)
    for harmonic in range(2, 7):
        amplitude = rng.uniform(0.0, roughness) / harmonic**0.5
        profile += amplitude * np.cos(harmonic * angles + rng.uniform(0.0, 2.0 * np.pi))
    radii = radius * np.clip(profile, 0.3, None)
    subpixel = 16  # fillPoly's fixed-point precision, 4 bits
    points = np.stack((centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)), axis=1)
    mask = np.zeros(size, dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(points * subpixel).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def composite_pair(
    background: np.ndarray,
    foreground: np.ndarray,
    shape: np.ndarray,
    *,
    background_motion: np.ndarray,
    foreground_motion: np.ndarray,
    background_offset: tuple[int, int] = (0, 0),
    foreground_offset: tuple[int, int] = (0, 0),
) -> FlowPair:
    """A background photo and a cut-out of a foreground photo, each with its own motion.

    Parameters
    ----------
    background, foreground : np.ndarray
        (h, w, 3) RGB photographs, uint8 or float in [0, 1]. Frame pixel (x, y) of frame 0
        shows the photograph's pixel (x + offset_x, y + offset_y); a photograph smaller
        than the frame plus its offset is enlarged.
    shape : np.ndarray
        (H, W) bool, the cut-out's extent in frame 0; it sets the frame size.
    background_motion, foreground_motion : np.ndarray
        3 × 3 affine maps of frame coordinates from frame 0 to frame 1
        (:func:`affine_motion`).
    background_offset, foreground_offset : (int, int)
        (x, y) of frame 0's top-left corner in each photograph.

    Returns
    -------
    FlowPair
        The frames, the exact flows and the exact occlusion and disocclusion. A pixel
        belongs to the foreground where the cut-out's antialiased alpha is ≥ 0.5.

    Raises
    ------
    ValueError
        When ``shape`` is not 2-D, or a photograph is not (h, w, 3).
    TypeError
        When a photograph is not a uint8 or floating numpy array.
    """
    if shape.ndim != 2:
        raise ValueError(f"shape must be an (H, W) mask, got shape {shape.shape}")
    size = shape.shape
    identity = np.eye(3)
    alpha0 = cv2.GaussianBlur(shape.astype(np.float32), (0, 0), _ALPHA_SOFTNESS)
    alpha1 = _render(alpha0, foreground_motion, size)
    frames = []
    for motion_b, motion_f, alpha in ((identity, identity, alpha0), (background_motion, foreground_motion, alpha1)):
        back = _render_photo(background, motion_b, size, background_offset)
        front = _render_photo(foreground, motion_f, size, foreground_offset)
        frames.append((alpha[..., None] * front + (1.0 - alpha[..., None]) * back).astype(np.float32))
    in_front0 = alpha0 >= 0.5
    in_front1 = alpha1 >= 0.5
    forward_b = _affine_flow(background_motion, size)
    forward = np.where(in_front0[..., None], _affine_flow(foreground_motion, size), forward_b)
    backward_b = _affine_flow(np.linalg.inv(background_motion), size)
    backward_f = _affine_flow(np.linalg.inv(foreground_motion), size)
    backward = np.where(in_front1[..., None], backward_f, backward_b)
    # A background point of frame 0 is hidden when the moved cut-out covers its new place;
    # a background point of frame 1 was hidden when the cut-out covered its old place.
    covered_after = _render(alpha1, background_motion, size, inverse_of=True) >= 0.5
    covered_before = _render(alpha0, np.linalg.inv(background_motion), size, inverse_of=True) >= 0.5
    occluded = (~in_front0 & covered_after) | _leaves_frame(forward)
    disoccluded = (~in_front1 & covered_before) | _leaves_frame(backward)
    flows = forward.astype(np.float32), backward.astype(np.float32)
    return FlowPair(frames[0], frames[1], *flows, occluded, disoccluded)


def random_composite_pair(
    background: np.ndarray,
    foreground: np.ndarray,
    rng: np.random.Generator,
    *,
    size: tuple[int, int] = (512, 512),
    background_shift: float = 6.0,
    foreground_shift: tuple[float, float] = (4.0, 20.0),
    max_rotation: float = 5.0,
    max_zoom: float = 0.05,
    radius: tuple[float, float] = (0.15, 0.3),
) -> FlowPair:
    """:func:`composite_pair` with motions, cut-out and crops drawn from ``rng``.

    Parameters
    ----------
    background, foreground : np.ndarray
        (h, w, 3) RGB photographs, uint8 or float in [0, 1].
    rng : np.random.Generator
        Every random choice is drawn from it.
    size : (int, int)
        (H, W) of the frames.
    background_shift : float
        Largest background (camera) translation, pixels.
    foreground_shift : (float, float)
        Range of the foreground's translation length, pixels (direction uniform).
    max_rotation : float
        Largest rotation, degrees (the background turns at most a third of it).
    max_zoom : float
        Largest relative scale change (the background's at most a third of it).
    radius : (float, float)
        Range of the cut-out's mean radius as a share of the shorter frame side.

    Returns
    -------
    FlowPair
        As :func:`composite_pair` returns it, frames of shape (H, W, 3).
    """
    height, width = size
    background_motion = affine_motion(
        size,
        shift=tuple(rng.uniform(-background_shift, background_shift, 2)),
        rotation=rng.uniform(-max_rotation, max_rotation) / 3,
        zoom=1.0 + rng.uniform(-max_zoom, max_zoom) / 3,
    )
    length = rng.uniform(*foreground_shift)
    direction = rng.uniform(0.0, 2.0 * np.pi)
    foreground_motion = affine_motion(
        size,
        shift=(length * np.cos(direction), length * np.sin(direction)),
        rotation=rng.uniform(-max_rotation, max_rotation),
        zoom=1.0 + rng.uniform(-max_zoom, max_zoom),
    )
    side = min(height, width)
    centre = (rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height)
    shape = blob_shape(size, rng, centre=centre, radius=rng.uniform(*radius) * side)
    return composite_pair(
        background,
        foreground,
        shape,
        background_motion=background_motion,
        foreground_motion=foreground_motion,
        background_offset=_random_offset(background, size, rng),
        foreground_offset=_random_offset(foreground, size, rng),
    )


def deformed_pair(
    image: np.ndarray,
    backward: np.ndarray,
    *,
    offset: tuple[int, int] = (0, 0),
) -> FlowPair:
    """One photograph under a smooth deformation whose backward flow is ``backward``.

    Frame 0 shows the photograph at (x, y) + offset; frame 1 at y + backward(y) + offset.
    The forward flow is the inverse map, w(x) = −backward(x + w(x)), solved by fixed-point
    iteration (it converges when ``backward``'s Jacobian has norm < 1).

    Parameters
    ----------
    image : np.ndarray
        (h, w, 3) RGB photograph, uint8 or float in [0, 1].
    backward : np.ndarray
        (H, W, 2) smooth flow from frame 1 to frame 0; it sets the frame size.
    offset : (int, int)
        (x, y) of frame 0's top-left corner in the photograph.

    Returns
    -------
    FlowPair
        The frames (H, W, 3) and the exact flows; ``occluded`` and ``disoccluded`` are the
        pixels whose flow leaves the frame (a smooth deformation hides nothing else).
    """
    size = backward.shape[:2]
    backward = backward.astype(np.float32)
    grid = _pixel_grid(size)
    photo = _fit_photo(frame_as_float(image, "image"), size, offset)
    shift = np.asarray(offset, dtype=np.float32)
    frame0 = _sample(photo, grid + shift)
    frame1 = _sample(photo, grid + backward + shift)
    forward = -backward.copy()
    for _ in range(_INVERSE_MAX_STEPS):
        updated = -_sample(backward, grid + forward, border=cv2.BORDER_REPLICATE)
        change = np.abs(updated - forward).max()
        forward = updated
        if change < _INVERSE_TOLERANCE:
            break
    return FlowPair(frame0, frame1, forward, backward, _leaves_frame(forward), _leaves_frame(backward))


def smooth_field(
    size: tuple[int, int],
    rng: np.random.Generator,
    *,
    amplitude: float,
    wavelength: float,
) -> np.ndarray:
    """A smooth random flow field (H, W, 2): a sum of four random plane waves per component.

    Each component's largest value is about ``amplitude`` px and its wavelengths are
    ``wavelength`` px or longer, so its gradient is at most about 2π·amplitude/wavelength.

    Parameters
    ----------
    size : (int, int)
        (H, W) of the field.
    rng : np.random.Generator
        Source of the waves' directions, wavelengths and phases.
    amplitude : float
        Sum of the four waves' amplitudes per component, pixels: no value exceeds it.
    wavelength : float
        Shortest wavelength, pixels; each wave's is drawn in [1, 2] × ``wavelength``.

    Returns
    -------
    np.ndarray
        (H, W, 2) float32 displacements in pixels, x then y; usable as the ``backward`` of
        :func:`deformed_pair`.
    """
    grid = _pixel_grid(size).astype(np.float64)
    field = np.zeros((*size, 2))
    for channel in range(2):
        for _ in range(4):
            direction = rng.uniform(0.0, 2.0 * np.pi)
            frequency = 2.0 * np.pi / (wavelength * rng.uniform(1.0, 2.0))
            phase = rng.uniform(0.0, 2.0 * np.pi)
            projection = grid[..., 0] * np.cos(direction) + grid[..., 1] * np.sin(direction)
            field[..., channel] += amplitude / 4 * np.sin(frequency * projection + phase)
    return field.astype(np.float32)


def _render_photo(photo: np.ndarray, motion: np.ndarray, size: tuple[int, int], offset: tuple[int, int]) -> np.ndarray:
    """Frame showing ``photo`` (frame 0 at ``offset``) moved by ``motion``."""
    fitted = _fit_photo(frame_as_float(photo, "photo"), size, offset)
    source_of = np.linalg.inv(motion)
    source_of[:2, 2] += offset  # frame-1 pixel → frame-0 pixel → photo pixel
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(fitted, source_of[:2], (size[1], size[0]), flags=flags, borderMode=cv2.BORDER_REFLECT)


def _render(layer: np.ndarray, motion: np.ndarray, size: tuple[int, int], *, inverse_of: bool = False) -> np.ndarray:
    """``layer`` moved by ``motion`` (``inverse_of``: sampled at motion(x) instead), zeros outside."""
    source_of = motion if inverse_of else np.linalg.inv(motion)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(layer, source_of[:2], (size[1], size[0]), flags=flags, borderMode=cv2.BORDER_CONSTANT)


def _affine_flow(motion: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Flow (H, W, 2) of an affine motion: motion(x) − x."""
    grid = _pixel_grid(size).astype(np.float64)
    moved = grid @ motion[:2, :2].T + motion[:2, 2]
    return moved - grid


def _leaves_frame(flow: np.ndarray) -> np.ndarray:
    """(H, W) bool: x + flow(x) outside [0, W−1] × [0, H−1]."""
    height, width = flow.shape[:2]
    moved = _pixel_grid((height, width)) + flow
    return (moved[..., 0] < 0) | (moved[..., 0] > width - 1) | (moved[..., 1] < 0) | (moved[..., 1] > height - 1)


def _pixel_grid(size: tuple[int, int]) -> np.ndarray:
    """(H, W, 2) float32 pixel coordinates, x then y."""
    rows, cols = np.mgrid[0 : size[0], 0 : size[1]]
    return np.stack((cols, rows), axis=-1).astype(np.float32)


def _sample(image: np.ndarray, points: np.ndarray, *, border: int = cv2.BORDER_REFLECT) -> np.ndarray:
    """Bilinear samples of ``image`` at ``points`` (H, W, 2), x then y."""
    return cv2.remap(image, points[..., 0], points[..., 1], cv2.INTER_LINEAR, borderMode=border)


def _fit_photo(photo: np.ndarray, size: tuple[int, int], offset: tuple[int, int]) -> np.ndarray:
    """``photo`` enlarged (aspect kept) when it does not cover the frame at ``offset``."""
    need_height = size[0] + offset[1]
    need_width = size[1] + offset[0]
    scale = max(need_height / photo.shape[0], need_width / photo.shape[1])
    if scale <= 1.0:
        return photo
    new_size = (int(np.ceil(photo.shape[1] * scale)), int(np.ceil(photo.shape[0] * scale)))
    return cv2.resize(photo, new_size, interpolation=cv2.INTER_CUBIC).clip(0.0, 1.0)


def _random_offset(photo: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> tuple[int, int]:
    """A random frame position inside ``photo`` (0 where the photo is not larger)."""
    spare_x = max(0, photo.shape[1] - size[1])
    spare_y = max(0, photo.shape[0] - size[0])
    return int(rng.integers(0, spare_x + 1)), int(rng.integers(0, spare_y + 1))
