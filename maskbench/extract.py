"""Occlusion masks from videos: flow, forward-backward occlusion, clean-up, filtering.

This is how Liu et al. (2018, section 3.2) made their irregular holes: the regions of a frame
that have no correspondence in the next frame (occlusions) and those of the next frame that
have none in this one (disocclusions), found with optical flow and a forward-backward check
(Sundaram, Brox and Keutzer 2010) on consecutive video frames.

For every video of a collection (:func:`maskbench.video.find_videos`) :func:`extract_videos`

1. reads consecutive frame pairs (t, t+1) for t = 0, S, 2S, ... at the working size
   (shorter side ``working_size`` pixels);
2. computes the forward and backward flows of a batch of pairs in one call of
   :func:`flow.estimate_batch` and, from them, the occlusion mask of frame t and the
   disocclusion mask of frame t+1 (:func:`flow.occlusion_batch`);
3. skips the pairs whose flow cannot be trusted — cuts, fades, flashes — counting them by
   reason (:func:`maskbench.junk.pair_skip_reason`), and a whole video most of whose pairs
   are cuts (unrelated frames);
4. cleans every raw mask (:func:`clean_hole`): thin gaps closed, small enclosed gaps filled,
   small components and speckle removed, optionally dilated; a hole that reaches the frame
   edge keeps reaching it;
5. drops masks that are (nearly) empty or (nearly) full, and near-duplicates of the
   previous kept mask of the same kind in the same video (:class:`MaskFilter`);
6. appends the kept masks of the video to a :class:`~maskbench.store.MaskStore` in ONE
   append (one atomic shard) whose group is the video's key (:func:`video_key`), with the
   maskbench version and the run's configuration (:func:`maskbench.provenance.provenance`).

Because each video is one atomic shard named by its key, a rerun skips finished videos and
an interrupted run loses at most the videos in progress, never duplicating one. Processes
writing one store at once take turns under the store's lock (:meth:`MaskStore.exclusive`):
a video that another process stored while this one extracted it is not stored again.
Under ``torchrun`` the ranks share the videos and rank 0 writes them in the order of a
one-process run (:func:`maskbench.distributed.gather_in_order`), so the store is the same.
:func:`merge_stores` joins the stores of a sharded run (``--shard K/N``).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

import flow
from flow.device import resolve_device
from flow.threads import cpu_threads, free_cores
from maskbench.bins import BIN_LABELS, RATIO_EDGES, ratio_bin_of_count
from maskbench.distributed import Ranks, gather_in_order, join_job, on_main, rank_device
from maskbench.errors import ConfigError, InputError, MaskbenchWarning, OutputExistsError
from maskbench.flow_choice import (
    AUTO_METHOD,
    check_merge_methods,
    check_one_method,
    method_tag,
    resolve_flow_method,
    slow_cpu_notice,
    video_group,
)
from maskbench.junk import PairCheck, pair_skip_reason, unrelated_reason
from maskbench.provenance import difference_note, provenance
from maskbench.store import MaskStore, is_store
from maskbench.video import FramePair, PairReader, VideoSource, find_videos, frame_count

MaskKind = Literal["occlusion", "disocclusion"]
#: Flow methods computed with torch (batched in the main process, on ``device``); the
#: others are OpenCV CPU methods that run on the CPU in per-video worker processes.
TORCH_FLOW_METHODS: frozenset[str] = frozenset({"tvl1"})
#: Mean absolute difference (RGB in [0, 1]) below which two frames count as identical,
#: for the "static video" note: about a quarter of one 8-bit grey level.
STATIC_DIFFERENCE: float = 1.0 / 1024.0


@dataclass(frozen=True)
class ExtractConfig:
    """Settings of ``maskbench extract``; defaults in ``configs/extract.toml``.

    Attributes
    ----------
    working_size : int
        Frames are resized so that their shorter side has this many pixels.
    method : str
        Flow method: ``"auto"`` (TV-L1 on CUDA, else ``cpu_method``;
        :func:`maskbench.flow_choice.resolve_flow_method`) or one of :data:`flow.FLOW_METHODS`.
    cpu_method : str
        The flow method ``"auto"`` means on a machine without CUDA, one of :data:`flow.FLOW_METHODS`.
    occlusion : str
        Occlusion method, one of :data:`flow.OCCLUSION_METHODS`, or ``"default"`` for
        :data:`flow.DEFAULT_OCCLUSION_METHOD`.
    stride : int
        Take the pair (t, t+1) for every ``stride``-th t.
    batch_size : int
        Frame pairs per flow call (each gives a forward and a backward flow).
    workers : int
        Worker processes, one video each, for the OpenCV flow methods (0 or 1: none).
    threads : int
        CPU threads of torch and OpenCV in this process; 0 = the cores not busy when the
        run starts (:func:`flow.threads.free_cores`), so that a machine shared with other
        jobs does not slow TV-L1 down by thread contention.
    close_radius : int
        Radius (px) of the disk of the morphological closing that joins thin gaps.
    open_radius : int
        Radius (px) of the disk of the opening that then removes speckle and hairlines.
    fill_gap_area : int
        Enclosed non-hole regions up to this area (px) become hole.
    min_component_area : int
        Hole components (8-connected) smaller than this (px) are removed as speckle.
    dilate_radius : int
        Radius (px) of a final dilation of the hole (0: none).
    max_brightness_change, max_occluded_share, max_histogram_distance : float
    min_structure_correlation, max_cut_share : float
        Thresholds of the check that skips frame pairs whose flow cannot be trusted (cuts,
        fades, flashes) and videos of unrelated frames (:class:`maskbench.junk.PairCheck`).
    min_hole_ratio, max_hole_ratio : float
        Cleaned masks with a hole ratio outside [min, max] are dropped (empty / near-full).
    duplicate_iou : float
        A mask whose IoU with the previous kept mask of its kind exceeds this is dropped.
    """

    working_size: int
    method: str
    cpu_method: str
    occlusion: str
    stride: int
    batch_size: int
    workers: int
    threads: int
    close_radius: int
    open_radius: int
    fill_gap_area: int
    min_component_area: int
    dilate_radius: int
    max_brightness_change: float
    max_occluded_share: float
    max_histogram_distance: float
    min_structure_correlation: float
    max_cut_share: float
    min_hole_ratio: float
    max_hole_ratio: float
    duplicate_iou: float

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values out of range."""
        if self.method not in (AUTO_METHOD, *flow.FLOW_METHODS):
            choices = ", ".join((AUTO_METHOD, *flow.FLOW_METHODS))
            raise ConfigError(f"method must be one of {choices}, got {self.method!r}")
        if self.cpu_method not in flow.FLOW_METHODS:
            raise ConfigError(f"cpu_method must be one of {', '.join(flow.FLOW_METHODS)}, got {self.cpu_method!r}")
        if self.occlusion != "default" and self.occlusion not in flow.OCCLUSION_METHODS:
            choices = ", ".join(("default", *flow.OCCLUSION_METHODS))
            raise ConfigError(f"occlusion must be one of {choices}, got {self.occlusion!r}")
        for name in ("working_size", "stride", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.working_size < 32:
            raise ConfigError(f"working_size must be at least 32 pixels, got {self.working_size}")
        for name in ("workers", "threads", "close_radius", "open_radius", "fill_gap_area", "min_component_area", "dilate_radius"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if not 0.0 <= self.min_hole_ratio < self.max_hole_ratio <= 1.0:
            raise ConfigError(
                "need 0 <= min_hole_ratio < max_hole_ratio <= 1, got "
                f"{self.min_hole_ratio} and {self.max_hole_ratio}"
            )
        for name in (
            "max_brightness_change", "max_occluded_share", "max_histogram_distance", "min_structure_correlation", "max_cut_share"
        ):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if not 0.0 < self.duplicate_iou <= 1.0:
            raise ConfigError(f"duplicate_iou must be in (0, 1], got {self.duplicate_iou}")

    @property
    def occlusion_method(self) -> str:
        """The occlusion method actually used (``"default"`` resolved)."""
        return flow.DEFAULT_OCCLUSION_METHOD if self.occlusion == "default" else self.occlusion

    def clean(self, raw: np.ndarray) -> np.ndarray:
        """A raw (H, W) bool mask cleaned with this configuration's sizes (:func:`clean_hole`)."""
        return clean_hole(
            raw,
            close_radius=self.close_radius,
            open_radius=self.open_radius,
            fill_gap_area=self.fill_gap_area,
            min_component_area=self.min_component_area,
            dilate_radius=self.dilate_radius,
        )

    @property
    def pair_check(self) -> PairCheck:
        """The thresholds of the untrustworthy-pair check."""
        return PairCheck(
            max_brightness_change=self.max_brightness_change,
            max_occluded_share=self.max_occluded_share,
            max_histogram_distance=self.max_histogram_distance,
            min_structure_correlation=self.min_structure_correlation,
            max_cut_share=self.max_cut_share,
        )

    @property
    def runs_on_torch(self) -> bool:
        """Whether the flow method is a torch one (batched on ``device`` in this process)."""
        return self.method in TORCH_FLOW_METHODS


# -- clean-up and filtering -------------------------------------------------------------


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _small_components(binary: np.ndarray, max_area: int) -> np.ndarray:
    """Pixels of the 8-connected components of ``binary`` with fewer than ``max_area`` pixels."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < max_area
    small[0] = False  # label 0 is the complement
    return small[labels] if count > 1 else np.zeros(binary.shape, bool)


def _enclosed_gaps(hole: np.ndarray, max_area: int) -> np.ndarray:
    """Non-hole regions smaller than ``max_area`` pixels that do not touch the image edge."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~hole).astype(np.uint8), connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < max_area
    small[0] = False  # label 0 is the hole itself
    edge_labels = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    small[edge_labels] = False
    return small[labels] if count > 1 else np.zeros(hole.shape, bool)


def clean_hole(
    hole: np.ndarray,
    *,
    close_radius: int,
    open_radius: int,
    fill_gap_area: int,
    min_component_area: int,
    dilate_radius: int = 0,
) -> np.ndarray:
    """Clean a raw occlusion mask: close thin gaps, remove speckle and hairlines, fill small
    gaps, remove small components, dilate (in this order).

    Parameters
    ----------
    hole : (H, W) bool ndarray
        Raw mask, True = hole (occluded pixel).
    close_radius : int
        Morphological closing with a disk of this radius (px) joins fragments of one
        occlusion boundary separated by gaps up to about ``2 * close_radius`` px, and merges
        dense speckle into solid regions. 0: none.
    open_radius : int
        Morphological opening with a disk of this radius (px) then removes what is thinner
        than about ``2 * open_radius + 1`` px: isolated speckle and the one-pixel lines
        that flow estimates leave along image rows and columns. 0: none.
    fill_gap_area : int
        Non-hole regions enclosed by hole (8-connected components of the complement that do
        not touch the image edge) smaller than this many pixels become hole. 0: none.
    min_component_area : int
        Hole components (8-connected) smaller than this many pixels are removed: isolated
        speckle from flow noise. 0: none.
    dilate_radius : int
        Final dilation with a disk of this radius (px). 0: none.

    Returns
    -------
    (H, W) bool ndarray
        The cleaned hole.

    Notes
    -----
    The closing and the opening use OpenCV's neutral border (pixels outside the frame take
    part in neither the dilation nor the erosion), so a hole that reaches the frame edge
    still reaches it after the clean-up (an object leaving the frame is a true
    disocclusion), and no hole grows along the edge by itself.
    """
    cleaned = hole.astype(np.uint8)
    if close_radius > 0:
        cleaned = cv2.morphologyEx(cleaned, cv2.MORPH_CLOSE, _disk(close_radius))
    if open_radius > 0:
        cleaned = cv2.morphologyEx(cleaned, cv2.MORPH_OPEN, _disk(open_radius))
    cleaned = cleaned.astype(bool)
    if fill_gap_area > 0:
        cleaned = cleaned | _enclosed_gaps(cleaned, fill_gap_area)
    if min_component_area > 0:
        cleaned = cleaned & ~_small_components(cleaned, min_component_area)
    if dilate_radius > 0:
        cleaned = cv2.dilate(cleaned.astype(np.uint8), _disk(dilate_radius)).astype(bool)
    return cleaned


def hole_iou(first: np.ndarray, second: np.ndarray) -> float:
    """Intersection over union of two (H, W) bool holes; 1.0 when both are empty."""
    union = np.count_nonzero(first | second)
    return np.count_nonzero(first & second) / union if union else 1.0


DropReason = Literal["empty", "near-full", "duplicate"]


class MaskFilter:
    """Decides which cleaned masks of one video to keep.

    A mask is dropped as ``"empty"`` when its hole ratio is below ``min_hole_ratio``, as
    ``"near-full"`` when above ``max_hole_ratio`` (a failed flow, e.g. at a scene cut), and
    as ``"duplicate"`` when its IoU with the previous *kept* mask of the same kind exceeds
    ``duplicate_iou`` (a slowly changing scene gives nearly the same mask for many frames).
    """

    def __init__(self, *, min_hole_ratio: float, max_hole_ratio: float, duplicate_iou: float) -> None:
        self.min_hole_ratio = min_hole_ratio
        self.max_hole_ratio = max_hole_ratio
        self.duplicate_iou = duplicate_iou
        self._last_kept: dict[str, np.ndarray] = {}
        self.dropped: Counter[str] = Counter()

    def drop_reason(self, hole: np.ndarray, *, kind: str) -> DropReason | None:
        """Why ``hole`` is dropped, or None to keep it (then it becomes the last kept mask)."""
        ratio = np.count_nonzero(hole) / hole.size
        reason: DropReason | None = None
        if ratio < self.min_hole_ratio:
            reason = "empty"
        elif ratio > self.max_hole_ratio:
            reason = "near-full"
        elif kind in self._last_kept and hole_iou(hole, self._last_kept[kind]) > self.duplicate_iou:
            reason = "duplicate"
        if reason is None:
            self._last_kept[kind] = hole
        else:
            self.dropped[reason] += 1
        return reason


# -- one video ---------------------------------------------------------------------------


class PackedHoles(Sequence[np.ndarray]):
    """Bool holes kept bit-packed (1 bit per pixel) to save memory; indexing unpacks one."""

    def __init__(self) -> None:
        self._packed: list[tuple[np.ndarray, tuple[int, int]]] = []

    def add(self, hole: np.ndarray) -> None:
        """Pack and keep an (H, W) bool ``hole``."""
        self._packed.append((np.packbits(hole.ravel()), hole.shape))

    def hole_pixels(self) -> list[tuple[int, int]]:
        """(hole pixels, all pixels) of every hole, without unpacking."""
        return [(int(np.unpackbits(bits).sum()), shape[0] * shape[1]) for bits, shape in self._packed]

    def __len__(self) -> int:
        return len(self._packed)

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        bits, (height, width) = self._packed[index]
        return np.unpackbits(bits, count=height * width).reshape(height, width).astype(bool)


@dataclass
class VideoMasks:
    """What extraction made of one video.

    Attributes
    ----------
    name : str
        The video's name (path relative to the collection folder).
    frames_read, pairs : int
        Frames decoded (or skipped over) and frame pairs processed.
    announced : int
        Frames the container header announces (0: unknown).
    holes : PackedHoles
        Kept masks, in order (emptied once they are stored).
    mask_frames : list of int
        Frame each kept mask belongs to: t for an occlusion, t+1 for a disocclusion.
    mask_kinds : list of str
        ``"occlusion"`` or ``"disocclusion"`` per kept mask.
    dropped : Counter
        Dropped masks by reason (``empty``, ``near-full``, ``duplicate``).
    skipped_pairs : Counter
        Frame pairs skipped because their flow cannot be trusted, by reason (``cut``,
        ``fade/flash``; :func:`maskbench.junk.pair_skip_reason`).
    unrelated : str or None
        Why the whole video was skipped as unrelated frames (then nothing of it is kept).
    largest_difference : float
        Largest mean absolute difference between the two frames of a pair.
    error : str or None
        Why the video could not be read (then nothing of it is kept).
    """

    name: str
    frames_read: int = 0
    pairs: int = 0
    announced: int = 0
    holes: PackedHoles = field(default_factory=PackedHoles)
    mask_frames: list[int] = field(default_factory=list)
    mask_kinds: list[str] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    skipped_pairs: Counter[str] = field(default_factory=Counter)
    unrelated: str | None = None
    largest_difference: float = 0.0
    error: str | None = None

    @property
    def note(self) -> str | None:
        """Why a readable video gave no masks, or None when it gave some (or was unreadable)."""
        if self.error is not None or self.mask_frames:
            return None
        if self.unrelated is not None:
            return f"skipped: {self.unrelated}"
        if self.frames_read == 1:
            return "a single frame: no pairs, no masks"
        if self.largest_difference < STATIC_DIFFERENCE:
            return "static: consecutive frames do not differ, no masks"
        counts = ", ".join(f"{count} {reason}" for reason, count in sorted(self.dropped.items()))
        return f"no mask survived the filters ({counts})"

    @property
    def short_read(self) -> str | None:
        """A warning when fewer frames could be decoded than the file announces."""
        if self.error is None and 0 < self.frames_read < self.announced:
            return f"decoded {self.frames_read} of the {self.announced} frames its header announces (truncated?)"
        return None


def raw_masks(
    pairs: Sequence[FramePair], *, method: str, occlusion: str, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Occlusion masks of the first frames and disocclusion masks of the second frames.

    The forward flows (t → t+1) and backward flows (t+1 → t) of all pairs come from one
    call of :func:`flow.estimate_both_ways`.

    Returns
    -------
    occluded, disoccluded : (B, H, W) bool ndarray
        Pixels of frame t with no correspondence in t+1, and of t+1 with none in t.
    """
    forward, backward = flow.estimate_both_ways(
        [pair.first for pair in pairs], [pair.second for pair in pairs], method=method, device=device
    )
    occluded = flow.occlusion_batch(forward, backward, method=occlusion)
    disoccluded = flow.occlusion_batch(backward, forward, method=occlusion)
    return occluded.cpu().numpy(), disoccluded.cpu().numpy()


def _batches(pairs: Iterator[FramePair], size: int) -> Iterator[list[FramePair]]:
    batch: list[FramePair] = []
    for pair in pairs:
        batch.append(pair)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _keep_pair_masks(
    result: VideoMasks,
    keep: MaskFilter,
    pair: FramePair,
    occluded: np.ndarray,
    disoccluded: np.ndarray,
    config: ExtractConfig,
) -> None:
    """Clean the two raw masks of a pair and add those the filter keeps to ``result``; a pair
    whose flow cannot be trusted is counted in ``result.skipped_pairs`` instead."""
    result.largest_difference = max(result.largest_difference, float(np.abs(pair.first - pair.second).mean()))
    reason = pair_skip_reason(pair.first, pair.second, occluded, disoccluded, config.pair_check)
    if reason is not None:
        result.skipped_pairs[reason] += 1
        return
    for kind, raw, frame in (("occlusion", occluded, pair.index), ("disocclusion", disoccluded, pair.index + 1)):
        hole = config.clean(raw)
        if keep.drop_reason(hole, kind=kind) is None:
            result.holes.add(hole)
            result.mask_frames.append(frame)
            result.mask_kinds.append(kind)


def extract_video(
    video: VideoSource,
    config: ExtractConfig,
    *,
    device: torch.device,
    on_frames: Callable[[int], None] | None = None,
) -> VideoMasks:
    """Cleaned, filtered occlusion and disocclusion masks of one video.

    Parameters
    ----------
    video : VideoSource
    config : ExtractConfig
    device : torch.device
        Where the flow and occlusion tensors live.
    on_frames : callable, optional
        Called with the number of frames newly read, after each batch (progress).

    Returns
    -------
    VideoMasks
        With ``error`` set (and nothing kept) when the video cannot be decoded.
    """
    result = VideoMasks(video.name, announced=frame_count(video))
    reader = PairReader(video, short_side=config.working_size, stride=config.stride)
    keep = MaskFilter(
        min_hole_ratio=config.min_hole_ratio, max_hole_ratio=config.max_hole_ratio, duplicate_iou=config.duplicate_iou
    )
    reported = 0
    try:
        for batch in _batches(reader.pairs(), config.batch_size):
            occluded, disoccluded = raw_masks(
                batch, method=config.method, occlusion=config.occlusion_method, device=device
            )
            for pair, occluded_t, disoccluded_t in zip(batch, occluded, disoccluded):
                _keep_pair_masks(result, keep, pair, occluded_t, disoccluded_t, config)
            result.pairs += len(batch)
            if on_frames is not None:
                on_frames(reader.frames_read - reported)
                reported = reader.frames_read
    except InputError as error:
        return VideoMasks(video.name, frames_read=reader.frames_read, announced=result.announced, error=str(error))
    if on_frames is not None:
        on_frames(reader.frames_read - reported)
    result.frames_read = reader.frames_read
    result.dropped = keep.dropped
    if result.frames_read == 0:
        result.error = "no frame could be decoded (empty or corrupt file)"
    result.unrelated = unrelated_reason(result.skipped_pairs["cut"], result.pairs, config.pair_check)
    if result.unrelated is not None:
        result.holes, result.mask_frames, result.mask_kinds = PackedHoles(), [], []
    return result


def _extract_in_worker(task: tuple[VideoSource, ExtractConfig]) -> VideoMasks:
    """Worker-process entry: one video, on the CPU, one thread (the workers are the parallelism)."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    video, config = task
    return extract_video(video, config, device=torch.device("cpu"))


# -- a collection --------------------------------------------------------------------------


def video_key(video: VideoSource, config: ExtractConfig) -> str:
    """Group name of a video's shard: its name plus the flow and occlusion methods.

    ``config.method`` must be resolved (not ``"auto"``). The same video extracted with
    another method is another group (stores refuse such a mix unless allowed:
    :func:`maskbench.flow_choice.check_one_method`); the clean-up settings are not part of
    the key (use a new store to change them).
    """
    return video_group(video.name, method_tag(config.method, config.occlusion_method))


def select_shard(videos: Sequence[VideoSource], shard: tuple[int, int]) -> list[VideoSource]:
    """The videos of shard K of N: those at sorted positions i with i mod N = K - 1.

    ``videos`` are sorted by name first, so every shard of a collection sees the same order
    and the N shards partition the collection, each within one video of the same size.
    """
    index, count = shard
    ordered = sorted(videos, key=lambda video: video.name)
    return [video for position, video in enumerate(ordered) if position % count == index - 1]


@dataclass
class ExtractSummary:
    """Outcome of :func:`extract_videos`, printable with :meth:`to_text`.

    Attributes
    ----------
    store : Path
        The mask store written to.
    shard : (int, int)
        (K, N) of ``--shard K/N``.
    found : int
        Videos in the collection (all shards).
    results : list of VideoMasks
        One per video processed in this run, in order (masks released after storing).
    already_done : list of str
        Videos skipped because the store already holds them.
    hole_counts : list of (int, int)
        (hole pixels, all pixels) of every mask kept in this run.
    seconds : float
        Wall-clock time of the run.
    notes : list of str
        One-line notes, e.g. that the store's earlier videos were extracted with another
        maskbench version or configuration (:func:`maskbench.provenance.difference_note`).
    flow : str
        Flow method and occlusion test of the run (:func:`maskbench.flow_choice.method_tag`),
        with how ``--method auto`` resolved, e.g. ``"dis+range+median (--method auto on cpu)"``.
    """

    store: Path
    shard: tuple[int, int]
    found: int
    flow: str = ""
    results: list[VideoMasks] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    hole_counts: list[tuple[int, int]] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def read(self) -> list[VideoMasks]:
        """Videos that could be read."""
        return [result for result in self.results if result.error is None]

    @property
    def usable(self) -> list[VideoMasks]:
        """Videos that could be read and were not skipped as unrelated frames."""
        return [result for result in self.read if result.unrelated is None]

    @property
    def unreadable(self) -> list[VideoMasks]:
        """Videos skipped because they could not be read."""
        return [result for result in self.results if result.error is not None]

    @property
    def frames(self) -> int:
        return sum(result.frames_read for result in self.read)

    @property
    def pairs(self) -> int:
        return sum(result.pairs for result in self.read)

    @property
    def masks_kept(self) -> int:
        return len(self.hole_counts)

    def ratio_histogram(self) -> list[tuple[str, int]]:
        """(label, count) of the kept masks: below the first bin, the six bins, above the last."""
        low, high = f"<={float(RATIO_EDGES[0]):g}", f">{float(RATIO_EDGES[-1]):g}"
        counts = Counter()
        for hole_pixels, total in self.hole_counts:
            k = ratio_bin_of_count(hole_pixels, total)
            below = Fraction(hole_pixels, total) <= RATIO_EDGES[0]
            counts[BIN_LABELS[k] if k is not None else (low if below else high)] += 1
        return [(label, counts[label]) for label in (low, *BIN_LABELS, high)]

    def to_text(self) -> str:
        """Multi-line human summary: counts, skipped videos with reasons, notes, histogram."""
        index, count = self.shard
        kinds = Counter(kind for result in self.read for kind in result.mask_kinds)
        dropped = sum((result.dropped for result in self.read), Counter())
        skipped_pairs = sum((result.skipped_pairs for result in self.read), Counter())
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        shard_text = f" (shard {index}/{count} of {self.found})" if count > 1 else ""
        lines = [
            f"flow: {self.flow}",
            f"videos: {len(self.results) + len(self.already_done)}{shard_text}; read {len(self.read)}, "
            f"skipped {len(self.unreadable)} unreadable, {len(self.read) - len(self.usable)} of unrelated frames, "
            f"{len(self.already_done)} already in the store",
            f"frames: {self.frames} in {self.seconds:.1f} s ({rate:.1f} frames/s); pairs: {self.pairs}, "
            f"skipped as untrustworthy: {skipped_pairs['cut']} cuts, {skipped_pairs['fade/flash']} fades/flashes",
            f"masks kept: {self.masks_kept} ({kinds['occlusion']} occlusion, {kinds['disocclusion']} disocclusion); "
            f"dropped: {dropped['empty']} empty, {dropped['near-full']} near-full, "
            f"{dropped['duplicate']} near-duplicates",
        ]
        lines += self.notes
        lines += [f"  skipped {result.name}: {result.error}" for result in self.unreadable]
        lines += [f"  {result.name}: {result.note}" for result in self.read if result.note]
        lines += [f"  {result.name}: {result.short_read}" for result in self.read if result.short_read]
        if self.hole_counts:
            histogram = self.ratio_histogram()
            widest = max(n for _, n in histogram)
            lines.append("hole ratio of the kept masks:")
            for label, n in histogram:
                lines.append(f"  {label:>11} {n:7d} {'#' * round(40 * n / widest)}")
        return "\n".join(lines)


def resolve_method(config: ExtractConfig, device: str | torch.device | None) -> tuple[ExtractConfig, torch.device]:
    """``config`` with ``method = "auto"`` resolved for ``device``, and the torch device to use.

    The device is resolved (and a missing CUDA device refused) only where it matters: for
    ``"auto"`` and the torch methods; the OpenCV methods always get the CPU.
    """
    try:
        resolved = resolve_device(device) if config.method == AUTO_METHOD or config.runs_on_torch else None
    except (ValueError, RuntimeError) as error:
        raise ConfigError(f"--device: {error}") from None
    if resolved is not None:
        method = resolve_flow_method(config.method, cpu_method=config.cpu_method, device=resolved)
        config = dataclasses.replace(config, method=method)
    return config, resolved if config.runs_on_torch and resolved is not None else torch.device("cpu")


def _open_store(path: Path, *, overwrite: bool) -> MaskStore:
    if path.exists() and not is_store(path) and not overwrite:
        raise OutputExistsError(f"{path} exists and is not a mask store; choose another --out")
    return MaskStore.create(path, overwrite=True) if overwrite else MaskStore.open_or_create(path)


def _results_in_order(
    videos: Sequence[VideoSource], config: ExtractConfig, device: torch.device, bar: tqdm
) -> Iterator[VideoMasks]:
    """Extract each video, in order: in this process, or one worker process per video."""
    if config.runs_on_torch or config.workers <= 1:
        for video in videos:
            bar.set_postfix_str(video.name, refresh=False)
            yield extract_video(video, config, device=device, on_frames=bar.update)
        return
    context = multiprocessing.get_context("forkserver")
    with context.Pool(processes=config.workers) as pool:
        for result in pool.imap(_extract_in_worker, [(video, config) for video in videos], chunksize=1):
            bar.update(result.frames_read)
            yield result


def _results_of_ranks(
    videos: Sequence[VideoSource], config: ExtractConfig, device: torch.device, bar: tqdm, ranks: Ranks
) -> Iterator[VideoMasks]:
    """:func:`_results_in_order` over all ranks of a torchrun job: each extracts its share, rank 0 gets all."""
    pooled = not config.runs_on_torch and config.workers > 1
    return gather_in_order(
        videos, lambda share: _results_in_order(share, config, device, bar), ranks=ranks, per_rank=config.workers if pooled else 1
    )


def _store_result(
    output: MaskStore, video: VideoSource, result: VideoMasks, config: ExtractConfig, run_provenance: dict, summary: ExtractSummary
) -> None:
    """Append a video's masks as one shard, unless another process stored the video meanwhile (under the store's lock)."""
    key = video_key(video, config)
    with output.exclusive():
        if key in output.groups():
            summary.already_done.append(video.name)
            return
        if len(result.holes) or result.error is None:  # a readable video without masks is done too
            output.append(
                result.holes,
                sources=[video.name] * len(result.holes),
                frames=result.mask_frames,
                extras=[{"method": config.method, "occlusion": config.occlusion_method, "kind": kind} for kind in result.mask_kinds],
                group=key,
                provenance=run_provenance,
            )
            summary.hole_counts += result.holes.hole_pixels()
    result.holes = PackedHoles()
    summary.results.append(result)


def extract_videos(
    videos: str | os.PathLike,
    store: str | os.PathLike,
    *,
    config: ExtractConfig,
    device: str | torch.device | None = None,
    shard: tuple[int, int] = (1, 1),
    overwrite: bool = False,
    allow_mixed_methods: bool = False,
    show_progress: bool = True,
) -> ExtractSummary:
    """Extract occlusion masks from every video of a folder into a mask store.

    Parameters
    ----------
    videos : path-like
        Folder of video files and/or folders of numbered frames
        (:func:`maskbench.video.find_videos`).
    store : path-like
        Mask store to append to (created when missing). Videos already in it (same
        :func:`video_key`) are skipped, so a rerun resumes an interrupted run.
    config : ExtractConfig
        With ``method = "auto"`` the flow method depends on ``device``: TV-L1 on CUDA, else
        ``config.cpu_method``; the resolved method is recorded in the store and the summary.
        TV-L1 on a CPU warns once (:class:`MaskbenchWarning`) with the expected time.
    device : str, torch.device or None
        Device of the torch flow methods (None or ``"auto"``: CUDA when present). The OpenCV
        methods always run on the CPU, so their masks never depend on the device or on
        ``config.workers``.
    shard : (int, int)
        (K, N): process only the K-th of N interleaved parts of the collection
        (:func:`select_shard`).
    overwrite : bool
        Start from an empty store instead of resuming.
    allow_mixed_methods : bool
        Allow appending to a store that holds videos extracted with another flow method or
        occlusion test (refused by default: :class:`~maskbench.errors.MixedMethodsError`).
    show_progress : bool
        Show a progress bar (frames/s) on stderr (rank 0 only, under torchrun).

    Returns
    -------
    ExtractSummary
        Under torchrun, rank 0's covers every video; the other ranks' are empty.

    Raises
    ------
    InputError
        When the folder has no videos, or when videos were tried and none could be read.
    MixedMethodsError
        When the store holds another method's masks and ``allow_mixed_methods`` is False.
    """
    started = time.perf_counter()
    folder = Path(videos)
    requested = config.method
    config, torch_device = resolve_method(config, device)
    ranks = join_job()
    torch_device = rank_device(torch_device, ranks)
    found = find_videos(folder)
    if not found:
        raise InputError(f"no videos in {folder}: expected video files (.mp4, .avi, ...) or folders of frames")
    output = on_main(lambda: _open_store(Path(store), overwrite=overwrite), ranks)
    tag = method_tag(config.method, config.occlusion_method)
    how = f" (--method {requested} on {torch_device.type})" if requested == AUTO_METHOD else ""
    check_one_method(output, tag, allow_mixed=allow_mixed_methods, what=f"this run{how}")
    done = output.groups()
    mine = select_shard(found, shard)
    todo = [video for video in mine if video_key(video, config) not in done]
    summary = ExtractSummary(Path(store), shard, len(found), flow=f"{tag}{how}")
    summary.already_done = [video.name for video in mine if video_key(video, config) in done]
    run_provenance = provenance(config)
    note = difference_note(f"the store {store}", output.provenances().values(), run_provenance)
    summary.notes += [note] if note is not None and todo else []
    total = sum(frame_count(video) for video in todo)
    threads = config.threads or free_cores()
    if config.method == "tvl1" and torch_device.type == "cpu" and todo:
        notice = slow_cpu_notice(
            frames=total, working_size=config.working_size, threads=threads, cpu_method=config.cpu_method
        )
        warnings.warn(notice, MaskbenchWarning, stacklevel=2)
    with (
        cpu_threads(threads),
        tqdm(total=total, desc="extract", unit="frame", disable=not (show_progress and ranks.main), dynamic_ncols=True) as bar,
    ):
        results = _results_of_ranks(todo, config, torch_device, bar, ranks)
        for position, (video, result) in enumerate(zip(todo, results)):
            if position % ranks.size:  # extracted by another rank (rank 0 shows all the work)
                bar.update(result.frames_read)
            _store_result(output, video, result, config, run_provenance, summary)
            if result.frames_read != result.announced:  # headers can be wrong: fix the bar's total
                bar.total += result.frames_read - result.announced
                bar.refresh()
    summary.seconds = time.perf_counter() - started
    if todo and ranks.main and not summary.usable and not summary.already_done:
        failed = [(result.name, result.error or result.unrelated) for result in summary.results]
        reasons = "; ".join(f"{name}: {why}" for name, why in failed[:3])
        more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
        what = "could be read" if not summary.read else "could be read or gave usable frame pairs"
        raise InputError(f"none of the {len(todo)} videos {what}: {reasons}{more}")
    return summary


# -- merging shards ------------------------------------------------------------------------


@dataclass
class MergeSummary:
    """Outcome of :func:`merge_stores`.

    Attributes
    ----------
    store : Path
    groups_copied : int
    masks_copied : int
    duplicates : list of (str, Path)
        Groups skipped because the output already held them, and the store they came from.
    ungrouped : int
        Masks copied that belong to no group (not from ``extract``): a second merge would
        copy them again.
    """

    store: Path
    groups_copied: int = 0
    masks_copied: int = 0
    duplicates: list[tuple[str, Path]] = field(default_factory=list)
    ungrouped: int = 0

    def to_text(self) -> str:
        lines = [f"merged {self.masks_copied} masks of {self.groups_copied} groups into {self.store}"]
        if self.duplicates:
            lines.append(f"skipped {len(self.duplicates)} groups already in the output:")
            lines += [f"  {group} (from {source})" for group, source in self.duplicates]
        if self.ungrouped:
            lines.append(f"copied {self.ungrouped} masks without a group; merging them again would duplicate them")
        return "\n".join(lines)


def _copy_masks(source: MaskStore, indices: Sequence[int], target: MaskStore, group: str) -> None:
    records = [source.record(index) for index in indices]
    holes = PackedHoles()
    for index in indices:
        holes.add(source[index])
    target.append(
        holes,
        sources=[record.source for record in records],
        frames=[record.frame for record in records],
        extras=[record.extra for record in records],
        group=group,
    )


def merge_stores(
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    allow_mixed_methods: bool = False,
    show_progress: bool = True,
) -> MergeSummary:
    """Join mask stores (e.g. the shards of ``extract --shard K/N``) into one.

    Masks are copied group by group (one atomic append each, provenance kept), in the order
    the sources are given; a group the output already holds is skipped and listed, so a
    merge can be rerun after an interruption, or to add new shards.

    Parameters
    ----------
    sources : sequence of path-like
        Mask stores to read.
    out : path-like
        Output store; created when missing, appended to when it exists.
    overwrite : bool
        Empty the output store first.
    allow_mixed_methods : bool
        Allow sources (and output) holding videos extracted with different flow methods or
        occlusion tests; refused by default (:class:`~maskbench.errors.MixedMethodsError`).
    """
    target_path = Path(out)
    opened = [MaskStore.open(path) for path in sources]
    for path in sources:
        if target_path.exists() and Path(path).resolve() == target_path.resolve():
            raise InputError(f"the output store {out} is also a source; choose another --out")
    target = _open_store(target_path, overwrite=overwrite)
    check_merge_methods([*opened, target], allow_mixed=allow_mixed_methods)
    summary = MergeSummary(target_path)
    present = target.groups()
    for path, source in zip(sources, opened):
        records = source.records()
        # groups of masks, then those of videos that gave none (recorded by empty shards)
        groups = list(dict.fromkeys([*records["group"], *sorted(source.groups())]))
        for group in tqdm(groups, desc=f"merge {Path(path).name}", unit="group", disable=not show_progress):
            if group and group in present:
                summary.duplicates.append((group, Path(path)))
                continue
            indices = records.index[records["group"] == group].tolist()
            _copy_masks(source, [int(records["index"][i]) for i in indices], target, group)
            present.add(group)
            summary.masks_copied += len(indices)
            summary.groups_copied += bool(group)
            summary.ungrouped += 0 if group else len(indices)
    return summary
