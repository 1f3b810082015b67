"""The masks of one video: flow, forward-backward occlusion, pair check, clean-up, filters.

For the consecutive frame pairs (t, t+1), t = 0, S, 2S, ... of a video (read at the working
size by :class:`maskbench.video.PairReader`), :func:`extract_video`

1. computes the forward and backward flows of a batch of pairs in one call and, from them,
   the occlusion mask of frame t and the disocclusion mask of frame t+1 (:func:`raw_masks`);
2. skips the pairs whose flow cannot be trusted — cuts, fades, flashes — counting them by
   reason (:func:`maskbench.junk.pair_skip_reason`), and the whole video when most of its
   pairs are cuts (unrelated frames);
3. cleans every raw mask (:func:`maskbench.cleanup.clean_hole`) and keeps those that
   :class:`maskbench.cleanup.MaskFilter` lets through, bit-packed, in a :class:`VideoMasks`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

import flow
from maskbench.cleanup import MaskFilter
from maskbench.errors import InputError
from maskbench.extract_config import ExtractConfig
from maskbench.junk import pair_skip_reason, unrelated_reason
from maskbench.packing import PackedHoles
from maskbench.parallel import batches
from maskbench.video import FramePair, PairReader, VideoSource, frame_count

#: Mean absolute difference (RGB in [0, 1]) below which two frames count as identical,
#: for the "static video" note: about a quarter of one 8-bit grey level.
STATIC_DIFFERENCE: float = 1.0 / 1024.0


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
        Kept masks, (H, W) bool at the working size, in order (emptied once they are stored).
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
        Largest mean absolute difference between the two frames of a pair, in [0, 1].
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
        """Why a readable video gave no masks, or None when it gave some (or was unreadable).

        Returns
        -------
        str or None
            One line, e.g. ``"static: consecutive frames do not differ, no masks"``.
        """
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
        """A warning when fewer frames could be decoded than the file announces.

        Returns
        -------
        str or None
            One line, e.g. ``"decoded 90 of the 120 frames its header announces (truncated?)"``;
            None when all announced frames were read, nothing was, the count is unknown, or the
            video is unreadable.
        """
        if self.error is None and 0 < self.frames_read < self.announced:
            return f"decoded {self.frames_read} of the {self.announced} frames its header announces (truncated?)"
        return None


def raw_masks(
    pairs: Sequence[FramePair], *, method: str, occlusion: str, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Occlusion masks of the first frames and disocclusion masks of the second frames.

    The forward flows (t → t+1) and backward flows (t+1 → t) of all pairs come from one
    call of :func:`flow.estimate_both_ways`.

    Parameters
    ----------
    pairs : sequence of FramePair
        B pairs of (H, W, 3) float32 RGB frames in [0, 1], all of one size.
    method : str
        Flow method, one of :data:`flow.FLOW_METHODS` (resolved, not ``"auto"``).
    occlusion : str
        Occlusion test, one of :data:`flow.OCCLUSION_METHODS`.
    device : torch.device
        Where the flow and occlusion tensors live.

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


def _keep_pair_masks(
    result: VideoMasks,
    keep: MaskFilter,
    pair: FramePair,
    occluded: np.ndarray,
    disoccluded: np.ndarray,
    config: ExtractConfig,
) -> None:
    """Clean the two raw masks of a pair and add those the filter keeps to ``result``.

    A pair whose flow cannot be trusted is counted in ``result.skipped_pairs`` instead.
    """
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
        With ``method`` resolved (not ``"auto"``).
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
        for batch in batches(reader.pairs(), config.batch_size):
            occluded, disoccluded = raw_masks(
                batch, method=config.method, occlusion=config.occlusion_method, device=device
            )
            for pair, occluded_t, disoccluded_t in zip(batch, occluded, disoccluded, strict=True):
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
