"""What an ``extract`` run did, as a dataclass with a printable text."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from maskbench.bins import BIN_LABELS, RATIO_EDGES, ratio_bin_of_count
from maskbench.parallel import Shard
from maskbench.video_masks import VideoMasks


@dataclass
class ExtractSummary:
    """Outcome of :func:`maskbench.extract.extract_videos`, printable with :meth:`to_text`.

    Attributes
    ----------
    store : Path
        The mask store written to.
    shard : Shard
        (K, N) of ``shard = "K/N"``.
    found : int
        Videos in the collection (all shards).
    flow : str
        Flow method and occlusion test of the run (:func:`maskbench.flow_choice.method_tag`),
        with how ``method = "auto"`` resolved, e.g. ``"dis+range+median (--method auto on cpu)"``.
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
    """

    store: Path
    shard: Shard
    found: int
    flow: str = ""
    results: list[VideoMasks] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    hole_counts: list[tuple[int, int]] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def read(self) -> list[VideoMasks]:
        """Videos that could be read.

        Returns
        -------
        list of VideoMasks
            The results without an ``error``, in run order.
        """
        return [result for result in self.results if result.error is None]

    @property
    def usable(self) -> list[VideoMasks]:
        """Videos that could be read and were not skipped as unrelated frames.

        Returns
        -------
        list of VideoMasks
            The results without ``error`` or ``unrelated``, in run order.
        """
        return [result for result in self.read if result.unrelated is None]

    @property
    def unreadable(self) -> list[VideoMasks]:
        """Videos skipped because they could not be read.

        Returns
        -------
        list of VideoMasks
            The results with an ``error``, in run order.
        """
        return [result for result in self.results if result.error is not None]

    @property
    def frames(self) -> int:
        """Frames read from the readable videos.

        Returns
        -------
        int
            Sum of ``frames_read`` over :attr:`read`.
        """
        return sum(result.frames_read for result in self.read)

    @property
    def pairs(self) -> int:
        """Frame pairs processed of the readable videos.

        Returns
        -------
        int
            Sum of ``pairs`` over :attr:`read`, the skipped pairs included.
        """
        return sum(result.pairs for result in self.read)

    @property
    def masks_kept(self) -> int:
        """Masks stored by this run.

        Returns
        -------
        int
            Length of ``hole_counts``.
        """
        return len(self.hole_counts)

    def ratio_histogram(self) -> list[tuple[str, int]]:
        """Hole ratios of the kept masks, binned.

        Returns
        -------
        list of (str, int)
            (label, count): below the first bin, the six bins of the test split, above the last.
        """
        low, high = f"<={float(RATIO_EDGES[0]):g}", f">{float(RATIO_EDGES[-1]):g}"
        counts: Counter[str] = Counter()
        for hole_pixels, total in self.hole_counts:
            k = ratio_bin_of_count(hole_pixels, total)
            below = Fraction(hole_pixels, total) <= RATIO_EDGES[0]
            counts[BIN_LABELS[k] if k is not None else (low if below else high)] += 1
        return [(label, counts[label]) for label in (low, *BIN_LABELS, high)]

    def to_text(self) -> str:
        """Multi-line human summary: counts, skipped videos with reasons, notes, histogram.

        Returns
        -------
        str
            Lines without a final line end: the counts of videos, frames, pairs and masks, the
            notes, a line per unreadable video and per video with a note or a short read, and
            a text histogram of the kept masks' hole ratios.
        """
        lines = self._count_lines() + self.notes
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

    def _count_lines(self) -> list[str]:
        """The lines of :meth:`to_text` with the counts of videos, frames, pairs and masks."""
        index, count = self.shard
        kinds = Counter(kind for result in self.read for kind in result.mask_kinds)
        dropped = sum((result.dropped for result in self.read), Counter())
        skipped_pairs = sum((result.skipped_pairs for result in self.read), Counter())
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        shard_text = f" (shard {index}/{count} of {self.found})" if count > 1 else ""
        return [
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
