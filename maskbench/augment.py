"""Random dilation, rotation, crop and flips of hole masks (Liu et al. 2018, section 4.1).

The paper builds both its training masks and its test split from raw masks by "random
dilation, rotation and cropping". This module holds one seeded random composition of the
deterministic primitives of :mod:`maskbench.transforms`:

1. :func:`~maskbench.transforms.rotate` by any angle about the centre, nearest-neighbour,
   on a canvas grown so that no corner of the mask is lost;
2. :func:`~maskbench.transforms.crop_resize`: a square window of the rotated canvas,
   resized to ``size`` × ``size`` (the window side is ``crop_scale`` × the shorter side of
   the *unrotated* mask, so the scale means the same at every angle);
3. flips, left-right and up-down;
4. :func:`~maskbench.transforms.dilate` by a radius in output pixels with a circular
   (elliptical, equal axes) kernel: a pixel becomes a hole when it lies within Euclidean
   distance ``radius`` of a hole pixel.

The ranges live in ``configs/testset.toml`` (:class:`AugmentConfig`); every random choice of
:func:`random_augment` draws from the generator it is given, so a generator made by
:func:`maskbench.rng.item_rng` makes the result depend only on (seed, item).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from maskbench.bins import MASK_SIZE
from maskbench.checks import check_hole
from maskbench.config import Config
from maskbench.errors import ConfigError
from maskbench.transforms import dilate, flip, resize, rotate_window, rotated_shape


@dataclass(frozen=True)
class AugmentConfig(Config):
    """Ranges of the random augmentation; defaults in ``configs/testset.toml``.

    ``AugmentConfig.load(file, **overrides)`` reads only these keys of that file (and of a
    user's file, whose other ``build-testset`` keys are accepted and left out).

    Attributes
    ----------
    dilation_radius : (int, int)
        Inclusive range of the dilation radius, px at the output size; 0 = no dilation.
    rotation_degrees : (float, float)
        Range of the rotation angle, degrees, counter-clockwise as displayed.
    crop_scale : (float, float)
        Range of the crop window side as a share of the shorter side of the source mask,
        in (0, 1]; 1 with no rotation takes the whole (square) mask. At an oblique angle
        the side is capped so that the rotated window fits inside the source's frame.
    frame_inset : float
        The crop window keeps at least this share of the source's shorter side, in
        [0, 0.25), away from the source's frame, so that neither the frame's straight edges
        nor thin bands along them (camera pans) appear inside an augmented mask.
    flip_horizontal, flip_vertical : float
        Probabilities of a left-right and of an up-down flip, in [0, 1].
    """

    dilation_radius: tuple[int, int]
    rotation_degrees: tuple[float, float]
    crop_scale: tuple[float, float]
    frame_inset: float
    flip_horizontal: float
    flip_vertical: float

    defaults: ClassVar[str] = "testset"
    part_of_file: ClassVar[bool] = True

    def validate(self) -> None:
        """Raise :class:`ConfigError` when a range is empty or out of bounds.

        Raises
        ------
        ConfigError
            A range with low > high, a radius < 0, a crop scale outside (0, 1], a
            ``frame_inset`` outside [0, 0.25) or a flip probability outside [0, 1].
        """
        low, high = self.dilation_radius
        if not 0 <= low <= high:
            raise ConfigError(
                f"dilation_radius must be [low, high] with 0 <= low <= high, got {list(self.dilation_radius)}"
            )
        low, high = self.rotation_degrees
        if not low <= high:
            raise ConfigError(
                f"rotation_degrees must be [low, high] with low <= high, got {list(self.rotation_degrees)}"
            )
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise ConfigError(f"crop_scale must be [low, high] with 0 < low <= high <= 1, got {list(self.crop_scale)}")
        if not 0 <= self.frame_inset < 0.25:
            raise ConfigError(f"frame_inset must be in [0, 0.25), got {self.frame_inset}")
        for name in ("flip_horizontal", "flip_vertical"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} is a probability in [0, 1], got {getattr(self, name)}")


# -- random composition --------------------------------------------------------------------


def largest_inside_side(shape: tuple[int, int], angle: float, inset: float) -> int:
    """Side of the largest square window of the rotated canvas that fits inside the frame.

    The window lies in ``rotate(hole, angle)``'s canvas and inside the rotated frame of an
    H×W mask, at least ``inset`` px from it.

    Parameters
    ----------
    shape : (int, int)
        (H, W) of the unrotated mask.
    angle : float
        Degrees, as :func:`~maskbench.transforms.rotate`.
    inset : float
        Distance kept from the frame, px of the mask, ≥ 0.

    Returns
    -------
    int
        ≥ 1 (a one-pixel window when even that does not fit the inset).
    """
    spread = abs(math.cos(math.radians(angle))) + abs(math.sin(math.radians(angle)))
    slack = 0.0 if spread < 1 + 1e-9 else 1.0  # an oblique window's rounding, px
    room = min(shape) - 1 - 2 * inset - slack
    return max(1, math.floor(room / spread + 1e-9) + 1)


def window_inside_frame(
    shape: tuple[int, int], angle: float, side: int, inset: float, rng: np.random.Generator
) -> tuple[int, int]:
    """(top, left) of a random square window of the rotated canvas that maps back inside the frame.

    Every pixel of the ``side``-px window, rotated back, lies inside the H×W frame, at least
    ``inset`` px from its edges. The window's centre is drawn uniformly in the mask's own
    coordinates (two uniform draws), over the positions where the window clears the inset.

    Parameters
    ----------
    shape : (int, int)
        (H, W) of the unrotated mask.
    angle : float
        Degrees, as :func:`~maskbench.transforms.rotate`.
    side : int
        Window side, px of the rotated canvas, 1 … :func:`largest_inside_side` (a larger
        window is centred).
    inset : float
        Distance kept from the frame, px of the mask, ≥ 0.
    rng : numpy.random.Generator
        Source of the two uniform draws.

    Returns
    -------
    (int, int)
        (top, left) of the window in the canvas of :func:`rotated_shape`; the window lies
        inside that canvas.
    """
    height, width = shape
    radians = math.radians(angle)
    spread = abs(math.cos(radians)) + abs(math.sin(radians))
    reach = (side - 1) / 2 * spread + 0.5 + inset  # from the centre to the frame, px
    column = float(rng.uniform(min(reach, (width - 1) / 2), max(width - 1 - reach, (width - 1) / 2)))
    row = float(rng.uniform(min(reach, (height - 1) / 2), max(height - 1 - reach, (height - 1) / 2)))
    new_height, new_width = rotated_shape(shape, angle)
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, 1.0)
    matrix[0, 2] += (new_width - width) / 2
    matrix[1, 2] += (new_height - height) / 2
    centre_x, centre_y = matrix @ np.array([column, row, 1.0])
    top = min(max(round(centre_y - (side - 1) / 2), 0), new_height - side)
    left = min(max(round(centre_x - (side - 1) / 2), 0), new_width - side)
    return int(top), int(left)


def random_window(
    hole: np.ndarray, rng: np.random.Generator, config: AugmentConfig, *, size: int = MASK_SIZE
) -> tuple[np.ndarray, dict[str, float]]:
    """Random rotation, crop and flips of a mask, without dilation.

    The steps of :func:`random_augment` before its dilation; the test-set builder steers
    the dilation itself. The crop window lies inside the source's rotated frame, at least
    ``frame_inset`` × its shorter side from it (:func:`window_inside_frame`), so the
    frame's straight edges and the corners of the rotation never show inside the window.

    Parameters
    ----------
    hole : (H, W) bool ndarray
        A raw mask of any size, True = hole.
    rng : numpy.random.Generator
        Source of every random choice (use :func:`maskbench.rng.item_rng` per item).
    config : AugmentConfig
        Ranges of the random parameters; ``dilation_radius`` is not used.
    size : int
        Output side, px.

    Returns
    -------
    hole : (size, size) bool ndarray
        The rotated, cropped, resized and flipped mask.
    parameters : dict of str to float
        As :func:`random_augment`, without ``dilation_radius``.

    Raises
    ------
    InputError
        ``hole`` is not a 2-D bool array.
    """
    check_hole(hole)
    angle = float(rng.uniform(*config.rotation_degrees))
    crop_scale = float(rng.uniform(*config.crop_scale))
    inset = config.frame_inset * min(hole.shape)
    side = max(1, min(round(crop_scale * min(hole.shape)), largest_inside_side(hole.shape, angle, inset)))
    top, left = window_inside_frame(hole.shape, angle, side, inset, rng)
    flip_horizontal = bool(rng.random() < config.flip_horizontal)
    flip_vertical = bool(rng.random() < config.flip_vertical)
    window = resize(rotate_window(hole, angle, top, left, side), (size, size))
    window = flip(window, horizontal=flip_horizontal, vertical=flip_vertical)
    parameters = {
        "angle": angle,
        "crop_scale": crop_scale,
        "crop_top": float(top),
        "crop_left": float(left),
        "crop_side": float(side),
        "flip_horizontal": float(flip_horizontal),
        "flip_vertical": float(flip_vertical),
    }
    return window, parameters


def random_augment(
    hole: np.ndarray, rng: np.random.Generator, config: AugmentConfig, *, size: int = MASK_SIZE
) -> tuple[np.ndarray, dict[str, float]]:
    """Randomly rotate, crop, flip and dilate a mask into a ``size`` × ``size`` training mask.

    Parameters
    ----------
    hole : (H, W) bool ndarray
        A raw mask of any size, True = hole.
    rng : numpy.random.Generator
        Source of every random choice (use :func:`maskbench.rng.item_rng` per item).
    config : AugmentConfig
        Ranges of the random parameters.
    size : int
        Output side, px.

    Returns
    -------
    hole : (size, size) bool ndarray
        The augmented mask.
    parameters : dict of str to float
        The values drawn: ``angle`` (degrees), ``crop_scale``, ``crop_top``, ``crop_left``,
        ``crop_side`` (window in the rotated canvas, px), ``flip_horizontal``,
        ``flip_vertical`` (0 or 1) and ``dilation_radius`` (px at the output size).

    Raises
    ------
    InputError
        ``hole`` is not a 2-D bool array.

    Notes
    -----
    The order is rotate → crop and resize → flip → dilate, so the dilation radius is in
    output pixels whatever the size of the source mask.
    """
    window, parameters = random_window(hole, rng, config, size=size)
    radius = int(rng.integers(config.dilation_radius[0], config.dilation_radius[1] + 1))
    parameters["dilation_radius"] = float(radius)
    return (dilate(window, radius) if radius > 0 else window), parameters
