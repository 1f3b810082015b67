"""``maskbench inspect``: counts per bin, a ratio histogram, examples and shape statistics.

Works on a mask store, a split made by ``build-testset``, or a folder of NVIDIA's released
test masks (whose files are verified against their numbers). The shape statistics are the
ones measured on NVIDIA's release (:mod:`maskbench.fidelity`), so a split can be
compared with it bin by bin:

* ``components`` — connected hole regions (8-connectivity), median;
* ``largest_share`` — the largest region's share of the hole area, median;
* ``perimeter_per_area`` — hole boundary pixels (Canny on the mask) per hole pixel, median;
* ``half_width`` — mean L2 distance transform over the hole pixels, px, median;
* ``at_margin`` — share of masks whose nearest hole pixel is exactly ``margin`` px from
  the edge (the mark of a cleared border band);
* ``touching`` — share of masks with a hole pixel on the image edge;
* ``band_cut`` — share of masks cut straight along the margin line
  (:func:`maskbench.bins.is_band_cut`).

Beside the table, :mod:`maskbench.fidelity` puts NVIDIA's medians, the ratio of every cell
and the count of bins within ×1.5 (``fidelity.md``, ``fidelity.png``), and for a split made
by ``build-testset`` the share of masks that the most-used raw mask went into.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import pandas as pd

from maskbench.bins import (
    BIN_LABELS,
    BORDER_CLASSES,
    N_RATIO_BINS,
    RATIO_EDGES,
    hole_ratio,
    is_band_cut,
    min_border_distance,
    ratio_bin,
)
from maskbench.config import load_config
from maskbench.errors import ConfigError, InputError
from maskbench.files import atomic_path, read_mask, refuse_existing, write_image, write_text_atomic
from maskbench.parallel import map_ordered
from maskbench.rng import item_rng
from maskbench.store import MaskStore, is_store
from maskbench.fidelity import (
    FIDELITY_FACTOR,
    FIDELITY_STATISTICS,
    SourceReuse,
    bins_within,
    compare_with_reference,
    fidelity_markdown,
    source_reuse,
)
from maskbench.testset import FOREIGN_THRESHOLD, TestSet, load_testset_config, read_manifest, read_testset

InspectKind = Literal["store", "maskbench", "nvidia"]
#: Columns of the per-bin shape statistics table, in order.
STATS_COLUMNS: tuple[str, ...] = (
    "bin", "class", "masks", "measured", "ratio", "components", "largest_share",
    "perimeter_per_area", "half_width", "at_margin", "touching", "band_cut",
)  # fmt: skip


@dataclass(frozen=True)
class InspectConfig:
    """Settings of ``maskbench inspect``; defaults in ``configs/inspect.toml``."""

    stats_per_bin: int
    examples: int
    histogram_bins: int
    seed: int
    workers: int

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values out of range."""
        if self.stats_per_bin < 0 or self.examples < 0 or self.seed < 0 or self.workers < 0:
            raise ConfigError("stats_per_bin, examples, seed and workers must be >= 0")
        if self.histogram_bins < 1:
            raise ConfigError(f"histogram_bins must be >= 1, got {self.histogram_bins}")


@dataclass(frozen=True)
class ShapeStats:
    """Shape statistics of one mask (definitions in the module docstring)."""

    hole_ratio: float
    components: int
    largest_share: float
    perimeter_per_area: float
    half_width: float
    min_border_dist: int
    band_cut: bool


def shape_stats(hole: np.ndarray, *, margin: int = 50) -> ShapeStats:
    """Measure one mask.

    Parameters
    ----------
    hole : (H, W) bool ndarray
    margin : int
        Border margin, px, of the band-cut test.

    Returns
    -------
    ShapeStats
        For a mask without holes: 0 components and NaN shares/widths.
    """
    hole_pixels = int(np.count_nonzero(hole))
    distance = min_border_distance(hole)
    if hole_pixels == 0:
        return ShapeStats(0.0, 0, float("nan"), float("nan"), float("nan"), distance, False)
    image = hole.astype(np.uint8) * np.uint8(255)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(image, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    edges = cv2.Canny(image, 100, 200)
    inside = cv2.distanceTransform(image, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return ShapeStats(
        hole_ratio=hole_ratio(hole),
        components=int(count - 1),
        largest_share=float(areas.max() / hole_pixels),
        perimeter_per_area=float(np.count_nonzero(edges) / hole_pixels),
        half_width=float(inside[hole].mean()),
        min_border_dist=distance,
        band_cut=is_band_cut(hole, margin=margin),
    )


def summarize_shapes(groups: dict[tuple[int, str], list[ShapeStats]], counts: dict[tuple[int, str], int], *, margin: int) -> pd.DataFrame:
    """Per (bin, class): medians of the shape statistics and the two border shares.

    Parameters
    ----------
    groups : dict
        (ratio bin, class) → statistics of the measured masks.
    counts : dict
        (ratio bin, class) → masks in that bin (measured or not).
    margin : int
        Border margin, px, for ``at_margin``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`STATS_COLUMNS`, one row per (bin, class) in file order.
    """
    rows = []
    for k in range(N_RATIO_BINS):
        for border in BORDER_CLASSES:
            stats = groups.get((k, border), [])
            frame = pd.DataFrame([s.__dict__ for s in stats])
            row: dict[str, Any] = {"bin": BIN_LABELS[k], "class": border, "masks": counts.get((k, border), 0), "measured": len(stats)}
            if stats:
                row.update(
                    ratio=frame["hole_ratio"].median(),
                    components=frame["components"].median(),
                    largest_share=frame["largest_share"].median(),
                    perimeter_per_area=frame["perimeter_per_area"].median(),
                    half_width=frame["half_width"].median(),
                    at_margin=float((frame["min_border_dist"] == margin).mean()),
                    touching=float((frame["min_border_dist"] == 0).mean()),
                    band_cut=float(frame["band_cut"].mean()),
                )
            rows.append(row)
    return pd.DataFrame(rows, columns=list(STATS_COLUMNS))


def stats_markdown(table: pd.DataFrame) -> str:
    """The shape-statistics table formatted as NVIDIA's reference table."""
    lines = [
        "| bin | class | masks | ratio | components | largest share | perimeter/area | half-width px | at margin | touching | band-cut |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in table.to_dict("records"):
        if row["measured"] == 0:
            lines.append(f"| {row['bin']} | {row['class']} | {row['masks']} | – | – | – | – | – | – | – | – |")
            continue
        lines.append(
            f"| {row['bin']} | {row['class']} | {row['masks']} | {row['ratio']:.3f} | {row['components']:g} | "
            f"{row['largest_share']:.2f} | {row['perimeter_per_area']:.3f} | {row['half_width']:.1f} | "
            f"{row['at_margin']:.0%} | {row['touching']:.0%} | {row['band_cut']:.0%} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class InspectReport:
    """What :func:`inspect_path` found and wrote.

    Attributes
    ----------
    path : Path
        What was inspected.
    kind : {"store", "maskbench", "nvidia"}
    total : int
        Masks in it.
    outside_bins : int
        Masks whose hole ratio lies in no bin (stores only; a split has none).
    mismatches : int
        NVIDIA folders: masks whose measured bin or class differs from their number.
    table : pandas.DataFrame
        Per-(bin, class) counts and shape statistics (:data:`STATS_COLUMNS`).
    out_dir : Path
        Folder with ``histogram.png``, ``examples.png``, ``shape_stats.csv``, ``summary.md``,
        ``fidelity.md`` and ``fidelity.png``.
    reuse : SourceReuse or None
        Splits made by ``build-testset``: the raw mask that went into the most split masks.
    """

    path: Path
    kind: InspectKind
    total: int
    outside_bins: int
    mismatches: int
    table: pd.DataFrame
    out_dir: Path
    reuse: SourceReuse | None = None

    @property
    def comparison(self) -> pd.DataFrame:
        """The statistics beside NVIDIA's medians (:func:`maskbench.fidelity.compare_with_reference`)."""
        return compare_with_reference(self.table)

    def text(self) -> str:
        """A Markdown summary: what it is, counts, the statistics, and NVIDIA's beside them."""
        head = f"{self.path}: {self.kind} with {self.total} masks"
        if self.kind == "store":
            head += f" ({self.outside_bins} outside every ratio bin)"
        if self.kind == "nvidia":
            head += f"; {self.mismatches} masks measure differently from their number"
        parts = [head, stats_markdown(self.table), "Beside NVIDIA's released test masks:", fidelity_markdown(self.comparison)]
        if self.reuse is not None:
            parts.append(self.reuse.text())
        return "\n\n".join(parts)


@dataclass(frozen=True)
class _Measure:
    """Picklable: read one mask (store index or file) and measure it."""

    store_path: str | None
    threshold: int | None
    margin: int

    def __call__(self, item: int | str) -> ShapeStats:
        if self.store_path is not None:
            return shape_stats(_open_store(self.store_path)[int(item)], margin=self.margin)
        return shape_stats(read_mask(item, threshold=self.threshold), margin=self.margin)


_STORES: dict[str, MaskStore] = {}


def _open_store(path: str) -> MaskStore:
    if path not in _STORES:
        _STORES[path] = MaskStore.open(path)
    return _STORES[path]


def _sample(items: list[Any], count: int, rng: np.random.Generator) -> list[Any]:
    if count == 0 or len(items) <= count:
        return items
    chosen = np.sort(rng.choice(len(items), size=count, replace=False))
    return [items[i] for i in chosen]


def _store_groups(store: MaskStore, margin: int) -> tuple[dict[tuple[int, str], list[int]], list[float]]:
    """Store indices per (bin, class) of every mask in a bin, and all hole ratios."""
    groups: dict[tuple[int, str], list[int]] = {}
    ratios = []
    for index in range(len(store)):
        hole = store[index]
        ratios.append(hole_ratio(hole))
        k = ratio_bin(hole)
        if k is not None:
            border = "N" if min_border_distance(hole) >= margin else "B"
            groups.setdefault((k, border), []).append(index)
    return groups, ratios


def _testset_groups(testset: TestSet) -> dict[tuple[int, str], list[str]]:
    groups: dict[tuple[int, str], list[str]] = {}
    for mask in testset.masks:
        groups.setdefault((mask.ratio_bin, mask.border), []).append(str(mask.file))
    return groups


def inspect_path(
    path: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    margin: int | None = None,
    overwrite: bool = False,
    workers: int | None = None,
    stats_per_bin: int | None = None,
    config_file: str | os.PathLike | None = None,
) -> InspectReport:
    """Inspect a mask store, a split, or a folder of NVIDIA's test masks.

    Parameters
    ----------
    path : path-like
        What to inspect (the kind is recognised from its files).
    out : path-like, optional
        Folder for the outputs; default ``PATH.inspect`` beside ``path``.
    margin : int, optional
        Border margin, px; default: the split's own or ``border_margin`` of
        ``configs/testset.toml``.
    overwrite : bool
        Replace an existing output folder.
    workers, stats_per_bin : int, optional
        Override ``configs/inspect.toml``.
    config_file : path-like, optional
        TOML file with keys of ``configs/inspect.toml`` to replace.

    Returns
    -------
    InspectReport
    """
    config = load_config("inspect", InspectConfig, user_file=config_file, overrides={"workers": workers, "stats_per_bin": stats_per_bin})
    path = Path(path)
    if not path.exists():
        raise InputError(f"nothing to inspect at {path}: give a mask store, a test split or a folder of numbered masks")
    out_dir = Path(out) if out is not None else path.parent / f"{path.name}.inspect"
    refuse_existing(out_dir, overwrite=overwrite, what="inspection folder")
    rng = item_rng(config.seed)
    outside, mismatches = 0, 0
    if is_store(path):
        margin = load_testset_config().border_margin if margin is None else margin
        store = MaskStore.open(path)
        groups, ratios = _store_groups(store, margin)
        kind: InspectKind = "store"
        total = len(store)
        outside = total - sum(map(len, groups.values()))
        measure = _Measure(str(path.resolve()), None, margin)
        example_loader = lambda item: store[int(item)]  # noqa: E731
    else:
        with warnings.catch_warnings():  # the mismatches go into the report instead
            warnings.simplefilter("ignore", UserWarning)
            testset = read_testset(path, margin=margin, mismatch_limit=None)
        margin = testset.margin
        groups = _testset_groups(testset)
        kind = testset.kind
        total = len(testset)
        mismatches = len(testset.mismatches)
        threshold = FOREIGN_THRESHOLD if kind == "nvidia" else None
        measure = _Measure(None, threshold, margin)
        ratios = [m.hole_ratio for m in testset.masks]
        example_loader = lambda item: read_mask(item, threshold=threshold)  # noqa: E731
    counts = {key: len(items) for key, items in groups.items()}
    keys = [(k, b) for k in range(N_RATIO_BINS) for b in BORDER_CLASSES]
    sampled = {key: _sample(groups.get(key, []), config.stats_per_bin, rng) for key in keys}
    flat = [item for key in keys for item in sampled[key]]
    measured = list(map_ordered(measure, flat, workers=config.workers, desc="inspect", unit="mask", chunksize=16))
    stats_groups, position = {}, 0
    for key in keys:
        stats_groups[key] = measured[position : position + len(sampled[key])]
        position += len(sampled[key])
    table = summarize_shapes(stats_groups, counts, margin=margin)
    reuse = source_reuse([row["sources"] for row in read_manifest(path)]) if kind == "maskbench" else None
    report = InspectReport(path, kind, total, outside, mismatches, table, out_dir, reuse)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "shape_stats.csv", index=False)
    write_text_atomic(out_dir / "summary.md", report.text() + "\n")
    write_text_atomic(out_dir / "fidelity.md", fidelity_markdown(report.comparison) + "\n")
    plot_fidelity(out_dir / "fidelity.png", report.comparison, title=f"{path.name} ({kind}) beside NVIDIA's test masks")
    _plot_histogram(out_dir / "histogram.png", np.asarray(ratios, dtype=float), bins=config.histogram_bins, title=f"{path.name} ({kind})")
    examples = {key: [example_loader(item) for item in groups.get(key, [])[: config.examples]] for key in keys}
    write_image(out_dir / "examples.png", example_grid(examples, columns=max(1, config.examples)))
    return report


def _plot_histogram(file: Path, ratios: np.ndarray, *, bins: int, title: str) -> None:
    """Histogram of hole ratios with the six bin edges marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(7, 3.5), dpi=110)
    finite = ratios[np.isfinite(ratios)]
    axes.hist(finite, bins=bins, range=(0.0, max(0.7, float(finite.max()) if finite.size else 0.7)), color="#4878a8")
    for edge in RATIO_EDGES:
        axes.axvline(float(edge), color="#c44e52", linewidth=0.8, linestyle="--")
    axes.set_xlabel("hole ratio (dashed: bin edges)")
    axes.set_ylabel("masks")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.5 ticks on small histograms
    axes.set_title(title)
    figure.tight_layout()
    with atomic_path(file) as temp:
        figure.savefig(temp)
    plt.close(figure)


#: Axis titles of the fidelity figure, per statistic.
_STATISTIC_TITLES = {"components": "components", "perimeter_per_area": "perimeter / area", "half_width": "half-width, px"}


def plot_fidelity(file: Path, comparison: pd.DataFrame, *, title: str) -> None:
    """Our medians and NVIDIA's side by side: one panel per statistic, 12 bins each.

    Parameters
    ----------
    file : Path
        PNG to write.
    comparison : pandas.DataFrame
        As :func:`maskbench.fidelity.compare_with_reference` returns; its ``within`` column
        marks the bins whose labels are drawn in black (others in red).
    title : str
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{row['bin']} {row['class']}" for row in comparison.to_dict("records")]
    positions = np.arange(len(labels))
    figure, panels = plt.subplots(1, len(FIDELITY_STATISTICS), figsize=(15, 4.2), dpi=100)
    for axes, statistic in zip(panels, FIDELITY_STATISTICS):
        axes.bar(positions - 0.2, comparison[f"{statistic}_nvidia"], width=0.4, color="#999999", label="NVIDIA (median)")
        axes.bar(positions + 0.2, comparison[statistic].astype(float), width=0.4, color="#4878a8", label="this (median)")
        axes.set_xticks(positions, labels, rotation=60, ha="right", fontsize=7)
        for tick, within in zip(axes.get_xticklabels(), comparison["within"]):
            tick.set_color("black" if within else "#c44e52")
        axes.set_title(_STATISTIC_TITLES[statistic])
    panels[0].legend(fontsize=8)
    count = bins_within(comparison)
    figure.suptitle(f"{title}: {count} of {len(labels)} bins within ×{FIDELITY_FACTOR:g} (red: not)")
    figure.tight_layout()
    with atomic_path(file) as temp:
        figure.savefig(temp)
    plt.close(figure)


def example_grid(examples: dict[tuple[int, str], list[np.ndarray]], *, columns: int, thumb: int = 64) -> np.ndarray:
    """One row per (bin, class) of up to ``columns`` masks (any size, squashed to thumbnails).

    Returns
    -------
    (H, W, 3) uint8 ndarray
        White holes on black, gray gaps, labels at the left.
    """
    gap, label_width = 4, 150
    height = 2 * N_RATIO_BINS * (thumb + gap) + gap
    width = label_width + columns * (thumb + gap) + gap
    grid = np.full((height, width, 3), 96, dtype=np.uint8)
    for row, (k, border) in enumerate((k, b) for k in range(N_RATIO_BINS) for b in BORDER_CLASSES):
        top = gap + row * (thumb + gap)
        cv2.putText(grid, f"{BIN_LABELS[k]} {border}", (6, top + thumb // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        for column, hole in enumerate(examples.get((k, border), [])[:columns]):
            small = cv2.resize(hole.astype(np.float32), (thumb, thumb), interpolation=cv2.INTER_AREA)
            left = label_width + gap + column * (thumb + gap)
            grid[top : top + thumb, left : left + thumb] = np.round(small * 255).astype(np.uint8)[:, :, None]
    return grid
