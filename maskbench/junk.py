"""Frame pairs whose flow cannot be trusted: shot cuts, fades and flashes.

Occlusion masks are only as good as the optical flow between the two frames of a pair, and
the flow assumes that the second frame shows the same scene, lit the same way, a moment
later. Three things in ordinary footage break that assumption and would put junk into a
mask store (whole-frame blotches, or masks of a brightness change instead of a motion):

* a **cut** (or two unrelated frames): the scene changes. The flow then finds no
  correspondence for much of the frame (:func:`occluded_share`), or the frames' luminance
  histograms move apart (:func:`histogram_distance`), which a motion within one shot
  hardly does;
* a **fade or flash**: the whole frame gets brighter or darker, so brightness constancy, the
  basis of every flow method here, fails everywhere at once (:func:`brightness_change`;
  the histograms move too).

The checks run in this order: a large occluded share is a cut. Else, when the appearance
changed (a large brightness change or histogram distance), the structure tells a fade or
flash from a cut: the correlation of the two luminance images (:func:`structure_correlation`)
stays near 1 under any change of brightness and contrast, and near 0 between two shots. The
thresholds (``configs/extract.toml``) come from 567 pairs of six real clips (live action and
animation, static and moving cameras; BENCHMARKS.md): consecutive frames of one shot stayed
below an occluded share of 0.29, a brightness change of 6 % and a histogram distance of 0.085
(their correlation fell to 0.53 in fast motion); the three cuts measured occluded shares of 0.57–0.64,
histogram distances of 0.18–0.72 and correlations of −0.22–0.08, and a fade-in from black a
brightness change of 100 %.

A video (or frame folder) in which most pairs are cuts is not a video but a collection of
unrelated images; :func:`unrelated_reason` says so, and extraction skips it as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

SkipReason = Literal["cut", "fade/flash"]
#: Skip reasons of a pair.
SKIP_REASONS: tuple[SkipReason, ...] = ("cut", "fade/flash")
#: Luminance histogram bins of :func:`histogram_distance`.
HISTOGRAM_BINS: int = 32
#: Mean luminance below which frames count as black: the relative change of
#: :func:`brightness_change` is taken against at least this level.
_BLACK_LEVEL: float = 0.02
#: Luminance standard deviation below which a frame counts as uniform (black, white).
_UNIFORM_DEVIATION: float = 0.01


@dataclass(frozen=True)
class PairCheck:
    """Thresholds of the pair check (keys of ``configs/extract.toml``).

    Attributes
    ----------
    max_brightness_change : float
        A pair whose mean luminance changes by more than this share is a fade or flash.
    max_occluded_share : float
        A pair whose occlusion test marks more than this share of the pixels (mean of the
        two directions) is a cut.
    max_histogram_distance : float
        A pair whose luminance histograms differ by more than this (total variation, in
        [0, 1]) is a cut.
    min_structure_correlation : float
        A pair whose appearance changed is a fade or flash when its luminance correlation is
        at least this, else a cut.
    max_cut_share : float
        A video more than this share of whose pairs are cuts is skipped as a whole
        (unrelated frames).
    """

    max_brightness_change: float
    max_occluded_share: float
    max_histogram_distance: float
    min_structure_correlation: float
    max_cut_share: float


def luminance(frame: np.ndarray) -> np.ndarray:
    """Luminance (Rec. 601 weights) of an RGB frame.

    Parameters
    ----------
    frame : (H, W, 3) float32 ndarray
        RGB in [0, 1]; other float dtypes are converted.

    Returns
    -------
    (H, W) float32 ndarray
        Luminance in [0, 1].
    """
    return cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.float32), cv2.COLOR_RGB2GRAY)


def brightness_change(first: np.ndarray, second: np.ndarray) -> float:
    """Relative change of mean luminance between two frames.

    Parameters
    ----------
    first, second : (H, W, 3) float32 ndarray
        RGB frames in [0, 1].

    Returns
    -------
    float
        ``|μ₂ − μ₁| / max(μ₁, μ₂, 0.02)``, in [0, 1]: 0 for equally bright frames, 1 for a
        cut from black.
    """
    mean_first, mean_second = float(luminance(first).mean()), float(luminance(second).mean())
    return abs(mean_second - mean_first) / max(mean_first, mean_second, _BLACK_LEVEL)


def histogram_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Total-variation distance between the luminance histograms of two frames.

    Parameters
    ----------
    first, second : (H, W, 3) float32 ndarray
        RGB frames in [0, 1].

    Returns
    -------
    float
        ``½ Σ |p − q|`` over :data:`HISTOGRAM_BINS` bins, in [0, 1]: 0 for equal histograms,
        1 for disjoint ones.
    """
    histograms = []
    for frame in (first, second):
        counts, _ = np.histogram(luminance(frame), bins=HISTOGRAM_BINS, range=(0.0, 1.0))
        histograms.append(counts / max(counts.sum(), 1))
    return 0.5 * float(np.abs(histograms[0] - histograms[1]).sum())


def structure_correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Pearson correlation of the two frames' luminance images.

    Parameters
    ----------
    first, second : (H, W, 3) float32 ndarray
        RGB frames in [0, 1], of one size.

    Returns
    -------
    float
        In [−1, 1]: 1 when one frame is the other with its brightness and contrast changed;
        1 as well when either frame is uniform (black or white: a fade or flash), since
        nothing then speaks of another scene.
    """
    first_luminance = luminance(first).ravel().astype(np.float64)
    second_luminance = luminance(second).ravel().astype(np.float64)
    first_luminance -= first_luminance.mean()
    second_luminance -= second_luminance.mean()
    first_norm, second_norm = np.linalg.norm(first_luminance), np.linalg.norm(second_luminance)
    uniform = _UNIFORM_DEVIATION * np.sqrt(first_luminance.size)
    if first_norm < uniform or second_norm < uniform:
        return 1.0
    return float(np.dot(first_luminance, second_luminance) / (first_norm * second_norm))


def occluded_share(occluded: np.ndarray, disoccluded: np.ndarray) -> float:
    """Mean share of pixels marked by the occlusion test in the two directions.

    Parameters
    ----------
    occluded, disoccluded : (H, W) bool ndarray
        Raw (uncleaned) occlusion mask of the first frame and disocclusion mask of the second.

    Returns
    -------
    float
        In [0, 1]: the mean of the two masks' shares of True pixels.
    """
    return 0.5 * (
        float(np.count_nonzero(occluded)) / occluded.size + float(np.count_nonzero(disoccluded)) / disoccluded.size
    )


def pair_skip_reason(
    first: np.ndarray, second: np.ndarray, occluded: np.ndarray, disoccluded: np.ndarray, check: PairCheck
) -> SkipReason | None:
    """Why a frame pair's flow cannot be trusted, or None when it can.

    Parameters
    ----------
    first, second : (H, W, 3) float32 ndarray
        The frames, RGB in [0, 1].
    occluded, disoccluded : (H, W) bool ndarray
        Their raw occlusion and disocclusion masks.
    check : PairCheck
        Thresholds.

    Returns
    -------
    {"fade/flash", "cut"} or None
    """
    if occluded_share(occluded, disoccluded) > check.max_occluded_share:
        return "cut"
    changed = (
        brightness_change(first, second) > check.max_brightness_change
        or histogram_distance(first, second) > check.max_histogram_distance
    )
    if not changed:
        return None
    return "fade/flash" if structure_correlation(first, second) >= check.min_structure_correlation else "cut"


def unrelated_reason(cuts: int, pairs: int, check: PairCheck) -> str | None:
    """Why a whole video is skipped as unrelated frames, or None.

    Parameters
    ----------
    cuts, pairs : int
        Pairs found to be cuts, and pairs read.
    check : PairCheck

    Returns
    -------
    str or None
        E.g. ``"frames mostly unrelated: 13 of 13 pairs look like cuts"``.
    """
    if pairs == 0 or cuts <= check.max_cut_share * pairs:
        return None
    return f"frames mostly unrelated: {cuts} of {pairs} pairs look like cuts"
