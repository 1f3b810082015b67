"""Settings of ``maskbench build-testset``: the frozen :class:`TestsetConfig` and its checks.

The defaults live in ``configs/testset.toml`` (each key explained there). The sampler
(:mod:`maskbench.sampling`), the builder (:mod:`maskbench.testset`) and the readers of a
split (:mod:`maskbench.splits`, for the default border margin) all read it, so it sits
below them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

from maskbench.augment import AugmentConfig
from maskbench.bins import MASK_SIZE
from maskbench.errors import ConfigError

#: How N masks get their outline (see ``strategy`` in ``configs/testset.toml``).
Strategy = Literal["natural", "clear-band"]
#: The values of :data:`Strategy`, in the order the command line lists them.
STRATEGIES: tuple[str, ...] = get_args(Strategy)
#: Distance map of the steering dilation/erosion: exact Euclidean or OpenCV's 5×5 chamfer.
SteerDistance = Literal["exact", "chamfer"]


@dataclass(frozen=True)
class TestsetConfig(AugmentConfig):
    """Settings of ``build-testset``; defaults in ``configs/testset.toml`` (see comments there).

    Inherits the augmentation ranges of :class:`~maskbench.augment.AugmentConfig`; its fields
    come first, in that order, which is the order of ``config`` in a split's ``meta.json``.

    Attributes
    ----------
    border_margin : int
        N masks keep every hole pixel at least this far from the edge, px, in 0 … 255.
    per_bin : int
        Masks per (ratio bin, border class), ≥ 1.
    seed : int
        Seed of every random choice, ≥ 0.
    workers : int
        Worker processes, ≥ 0 (0 or 1: none); never changes the split.
    strategy : {"natural", "clear-band"}
        How N masks get their outline.
    natural_tries : tuple of 6 int
        Natural attempts per ratio bin before falling back to ``"clear-band"``, ≥ 0.
    natural_max_dilation, max_dilation, max_erosion : float
        Largest steering dilation (natural N masks; others) and erosion, px, ≥ 0.
    source_ratio_factor : (float, float)
        A source's hole ratio is drawn within [low, high] × its share of the target.
    min_source_candidates : int
        Fewest masks a source is drawn among, ≥ 1.
    combine_sources, natural_sources : (int, int)
        Inclusive range of the number of sources per mask, 1 ≤ low ≤ high.
    combine_fill, natural_fill : (float, float)
        Range of the share of the target that the sources' union holds, 0 < low ≤ high.
    steer_distance : {"exact", "chamfer"}
        Distance map of the steering dilation/erosion.
    max_tries : int
        Attempts per slot before the slot counts as unfillable, ≥ 1.
    max_failed_slots : int
        Unfillable slots after which the build stops, ≥ 1.
    preview_columns : int
        Examples per (bin, class) in ``preview.png``, ≥ 0.
    """

    border_margin: int
    per_bin: int
    seed: int
    workers: int
    strategy: Strategy
    natural_tries: tuple[int, int, int, int, int, int]
    natural_max_dilation: float
    max_dilation: float
    max_erosion: float
    source_ratio_factor: tuple[float, float]
    min_source_candidates: int
    combine_sources: tuple[int, int]
    combine_fill: tuple[float, float]
    natural_sources: tuple[int, int]
    natural_fill: tuple[float, float]
    steer_distance: SteerDistance
    max_tries: int
    max_failed_slots: int
    preview_columns: int

    defaults: ClassVar[str] = "testset"
    part_of_file: ClassVar[bool] = False
    __test__ = False  # not a pytest test class

    def validate(self) -> None:
        """Check the ranges (the types and choices are checked on loading).

        Raises
        ------
        ConfigError
            Naming the first key whose value is out of range.
        """
        super().validate()
        if not 0 <= self.border_margin < MASK_SIZE // 2:
            raise ConfigError(f"border_margin must be in 0..{MASK_SIZE // 2 - 1} px, got {self.border_margin}")
        for name in ("per_bin", "max_tries", "max_failed_slots", "min_source_candidates"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("seed", "workers", "preview_columns"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if min(self.natural_tries) < 0:
            raise ConfigError(f"natural_tries must be six counts >= 0, got {list(self.natural_tries)}")
        if min(self.max_dilation, self.natural_max_dilation, self.max_erosion) < 0:
            raise ConfigError("max_dilation, natural_max_dilation and max_erosion must be >= 0 px")
        low, high = self.source_ratio_factor
        if not 0 <= low <= high:
            raise ConfigError(f"source_ratio_factor must be [low, high] with 0 <= low <= high, got {[low, high]}")
        for name in ("combine_sources", "natural_sources"):
            low, high = getattr(self, name)
            if not 1 <= low <= high:
                raise ConfigError(f"{name} must be [low, high] with 1 <= low <= high, got {[low, high]}")
        for name in ("combine_fill", "natural_fill"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ConfigError(f"{name} must be [low, high] with 0 < low <= high, got {[low, high]}")
