"""The settings of ``maskbench extract``: one frozen dataclass, defaults in ``configs/extract.toml``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import flow
from maskbench.cleanup import clean_hole
from maskbench.config import Config
from maskbench.errors import ConfigError
from maskbench.flow_choice import AUTO_METHOD
from maskbench.junk import PairCheck
from maskbench.parallel import Shard

#: Flow methods computed with torch (batched in the main process, on ``device``); the
#: others are OpenCV CPU methods that run on the CPU in per-video worker processes.
TORCH_FLOW_METHODS: frozenset[str] = frozenset({"tvl1"})
#: Keys that must lie in (0, 1]: the thresholds of the untrustworthy-pair check, and the
#: near-duplicate IoU.
_SHARE_KEYS = (
    "max_brightness_change",
    "max_occluded_share",
    "max_histogram_distance",
    "min_structure_correlation",
    "max_cut_share",
    "duplicate_iou",
)
_NON_NEGATIVE_KEYS = (
    "workers",
    "threads",
    "close_radius",
    "open_radius",
    "fill_gap_area",
    "min_component_area",
    "dilate_radius",
)


@dataclass(frozen=True)
class ExtractConfig(Config):
    """Settings of ``maskbench extract``; defaults in ``configs/extract.toml``.

    Load it with ``ExtractConfig.load(file, **overrides)``.

    Attributes
    ----------
    working_size : int
        Frames are resized so that their shorter side has this many pixels (>= 32).
    method : str
        Flow method: ``"auto"`` (TV-L1 on CUDA, else ``cpu_method``;
        :func:`maskbench.flow_choice.resolve_flow_method`) or one of :data:`flow.FLOW_METHODS`.
    cpu_method : str
        The flow method ``"auto"`` means on a machine without CUDA, one of :data:`flow.FLOW_METHODS`.
    occlusion : str
        Occlusion method, one of :data:`flow.OCCLUSION_METHODS`, or ``"default"`` for
        :data:`flow.DEFAULT_OCCLUSION_METHOD`.
    stride : int
        Take the pair (t, t+1) for every ``stride``-th t (>= 1).
    batch_size : int
        Frame pairs per flow call (each gives a forward and a backward flow; >= 1).
    workers : int
        Worker processes, one video each, for the OpenCV flow methods (0 or 1: none).
    threads : int
        CPU threads of torch and OpenCV in this process; 0 = the cores not busy when the
        run starts (:func:`flow.threads.free_cores`), so that a machine shared with other
        jobs does not slow TV-L1 down by thread contention.
    device : str
        Device of the torch flow methods: ``"auto"`` (CUDA when present), ``"cpu"``,
        ``"cuda:1"``, ... The OpenCV methods always run on the CPU.
    shard : str
        ``"K/N"``: process only the K-th of N interleaved parts of the collection
        (:meth:`maskbench.parallel.Shard.select`); ``"1/1"`` is all of it; ``"auto"``: this
        task's place in a SLURM job array.
    allow_mixed_methods : bool
        Allow appending to a store that holds videos extracted with another flow method or
        occlusion test (refused by default: :class:`~maskbench.errors.MixedMethodsError`).
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
        Thresholds in (0, 1] of the check that skips frame pairs whose flow cannot be
        trusted (cuts, fades, flashes) and videos of unrelated frames
        (:class:`maskbench.junk.PairCheck`).
    min_hole_ratio, max_hole_ratio : float
        Cleaned masks with a hole ratio outside [min, max] are dropped (empty / near-full).
    duplicate_iou : float
        A mask whose IoU with the previous kept mask of its kind exceeds this is dropped.

    Notes
    -----
    ``device``, ``shard`` and ``allow_mixed_methods`` say how and where a run goes, never
    what it writes: like ``workers``, ``batch_size`` and ``threads`` they are left out of
    what a store records (:data:`maskbench.provenance.RUN_ONLY_KEYS`).
    """

    defaults: ClassVar[str] = "extract"

    working_size: int
    method: str
    cpu_method: str
    occlusion: str
    stride: int
    batch_size: int
    workers: int
    threads: int
    device: str
    shard: str
    allow_mixed_methods: bool
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
        """Refuse values out of range.

        Raises
        ------
        ConfigError
            Naming the key, the allowed values and the value given.
        """
        self._validate_methods()
        for name in ("working_size", "stride", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.working_size < 32:
            raise ConfigError(f"working_size must be at least 32 pixels, got {self.working_size}")
        for name in _NON_NEGATIVE_KEYS:
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if not 0.0 <= self.min_hole_ratio < self.max_hole_ratio <= 1.0:
            raise ConfigError(
                f"need 0 <= min_hole_ratio < max_hole_ratio <= 1, got {self.min_hole_ratio} and {self.max_hole_ratio}"
            )
        for name in _SHARE_KEYS:
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if self.shard.strip() != "auto":  # "auto" reads the SLURM job array when the run starts
            Shard.parse(self.shard)

    def _validate_methods(self) -> None:
        """Refuse an unknown flow method, CPU method or occlusion test."""
        if self.method not in (AUTO_METHOD, *flow.FLOW_METHODS):
            choices = ", ".join((AUTO_METHOD, *flow.FLOW_METHODS))
            raise ConfigError(f"method must be one of {choices}, got {self.method!r}")
        if self.cpu_method not in flow.FLOW_METHODS:
            raise ConfigError(f"cpu_method must be one of {', '.join(flow.FLOW_METHODS)}, got {self.cpu_method!r}")
        if self.occlusion != "default" and self.occlusion not in flow.OCCLUSION_METHODS:
            choices = ", ".join(("default", *flow.OCCLUSION_METHODS))
            raise ConfigError(f"occlusion must be one of {choices}, got {self.occlusion!r}")

    @property
    def occlusion_method(self) -> str:
        """The occlusion method actually used, with ``"default"`` resolved.

        Returns
        -------
        str
            One of :data:`flow.OCCLUSION_METHODS`: ``occlusion``, or
            :data:`flow.DEFAULT_OCCLUSION_METHOD` for ``"default"``.
        """
        return flow.DEFAULT_OCCLUSION_METHOD if self.occlusion == "default" else self.occlusion

    @property
    def runs_on_torch(self) -> bool:
        """Whether the flow method is a torch one (batched on ``device`` in this process).

        Returns
        -------
        bool
            True for the methods of :data:`TORCH_FLOW_METHODS`; False for the OpenCV methods
            and for an unresolved ``"auto"``.
        """
        return self.method in TORCH_FLOW_METHODS

    @property
    def pair_check(self) -> PairCheck:
        """The thresholds of the untrustworthy-pair check.

        Returns
        -------
        PairCheck
            ``max_brightness_change``, ``max_occluded_share``, ``max_histogram_distance``,
            ``min_structure_correlation`` and ``max_cut_share`` of this configuration.
        """
        return PairCheck(
            max_brightness_change=self.max_brightness_change,
            max_occluded_share=self.max_occluded_share,
            max_histogram_distance=self.max_histogram_distance,
            min_structure_correlation=self.min_structure_correlation,
            max_cut_share=self.max_cut_share,
        )

    def clean(self, raw: np.ndarray) -> np.ndarray:
        """A raw mask cleaned with this configuration's sizes (:func:`maskbench.cleanup.clean_hole`).

        Parameters
        ----------
        raw : (H, W) bool ndarray
            Raw occlusion mask, True = hole.

        Returns
        -------
        (H, W) bool ndarray
        """
        return clean_hole(
            raw,
            close_radius=self.close_radius,
            open_radius=self.open_radius,
            fill_gap_area=self.fill_gap_area,
            min_component_area=self.min_component_area,
            dilate_radius=self.dilate_radius,
        )
