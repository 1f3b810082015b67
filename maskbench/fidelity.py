"""How closely a split's masks look like NVIDIA's: reference medians and the ×1.5 test.

NVIDIA released the 12,000 irregular test masks of Liu et al. (2018) but not how they were
made. Their shape statistics, measured on all 12,000 files with
:func:`maskbench.shapes.shape_stats` (medians over the 1,000 masks of each bin), are
shipped here as :func:`nvidia_reference`: they are measurements, not the masks (which are
CC BY-NC-SA 4.0 and never shipped).

A bin (ratio bin × border class) of our split is *within* the reference when each of its
:data:`FIDELITY_STATISTICS` — components, perimeter/area and half-width, the figures that
say how many pieces a mask has and how thick they are — lies within a factor
:data:`FIDELITY_FACTOR` (1.5) of NVIDIA's median, i.e. ``1/1.5 ≤ ours / NVIDIA ≤ 1.5``.
:func:`compare_with_reference` gives the ratio of every cell and :func:`bins_within` the
count out of 12.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from maskbench.bins import BIN_LABELS, BORDER_CLASSES

#: Statistics compared with the reference, in table order.
FIDELITY_STATISTICS: tuple[str, ...] = ("components", "perimeter_per_area", "half_width")
#: Largest factor between our median and NVIDIA's for a cell to count as within.
FIDELITY_FACTOR: float = 1.5

#: Columns of the table :func:`nvidia_reference` returns.
REFERENCE_COLUMNS: tuple[str, ...] = (
    "bin",
    "class",
    "ratio",
    "components",
    "largest_share",
    "perimeter_per_area",
    "half_width",
    "at_margin",
    "touching",
)

#: Per (bin, class), in file order: median hole ratio, components, largest share,
#: perimeter/area and half-width (px), then the shares of masks whose nearest hole pixel is
#: exactly 50 px from the edge (a cleared border band) and of masks touching the edge.
#: Measured on NVIDIA's released test masks.
_REFERENCE_VALUES: tuple[tuple[float, ...], ...] = (
    (0.059, 7, 0.58, 0.122, 5.2, 0.96, 0.00),
    (0.061, 8, 0.55, 0.122, 5.0, 0.00, 0.98),
    (0.142, 9, 0.64, 0.088, 7.3, 1.00, 0.00),
    (0.146, 12, 0.54, 0.093, 6.7, 0.00, 0.99),
    (0.241, 8, 0.77, 0.064, 9.7, 1.00, 0.00),
    (0.246, 11, 0.63, 0.071, 8.8, 0.00, 1.00),
    (0.335, 5, 0.91, 0.047, 12.8, 1.00, 0.00),
    (0.343, 9, 0.72, 0.054, 11.1, 0.00, 1.00),
    (0.428, 3, 0.97, 0.038, 15.4, 1.00, 0.00),
    (0.440, 7, 0.83, 0.044, 13.3, 0.00, 1.00),
    (0.533, 1, 1.00, 0.021, 28.4, 1.00, 0.00),
    (0.546, 4, 0.91, 0.025, 22.8, 0.00, 1.00),
)


def nvidia_reference() -> pd.DataFrame:
    """NVIDIA's per-bin medians as a table.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`REFERENCE_COLUMNS`, 12 rows in file order ((0.01,0.1] N, then B, …).
    """
    labels = [(label, border) for label in BIN_LABELS for border in BORDER_CLASSES]
    rows = [(label, border, *values) for (label, border), values in zip(labels, _REFERENCE_VALUES, strict=True)]
    return pd.DataFrame(rows, columns=list(REFERENCE_COLUMNS))


def _ratio(ours: float, theirs: float) -> float:
    """Ours / theirs, NaN when ours is missing or theirs is 0."""
    if ours is None or theirs == 0 or (isinstance(ours, float) and math.isnan(ours)):
        return math.nan
    return float(ours) / float(theirs)


def compare_with_reference(table: pd.DataFrame) -> pd.DataFrame:
    """Our medians beside NVIDIA's, the ratio of every cell, and whether each bin is within.

    Parameters
    ----------
    table : pandas.DataFrame
        Per-(bin, class) statistics with columns ``bin``, ``class`` and
        :data:`FIDELITY_STATISTICS` (as :func:`maskbench.shapes.summarize_shapes` makes;
        a bin with no measured mask has NaN there).

    Returns
    -------
    pandas.DataFrame
        One row per (bin, class) in file order with, for every statistic S, the columns
        ``S`` (ours), ``S_nvidia`` and ``S_ratio`` (ours / NVIDIA), then ``within`` (bool:
        every ratio in [1/1.5, 1.5]; False for a bin without masks).
    """
    reference = nvidia_reference().set_index(["bin", "class"])
    ours = table.set_index(["bin", "class"])
    rows = []
    for key in reference.index:
        row: dict[str, object] = {"bin": key[0], "class": key[1]}
        within = True
        for statistic in FIDELITY_STATISTICS:
            value = ours.at[key, statistic] if key in ours.index else math.nan
            theirs = float(reference.at[key, statistic])
            ratio = _ratio(value, theirs)
            row.update({statistic: value, f"{statistic}_nvidia": theirs, f"{statistic}_ratio": ratio})
            within = within and not math.isnan(ratio) and 1 / FIDELITY_FACTOR <= ratio <= FIDELITY_FACTOR
        row["within"] = within
        rows.append(row)
    return pd.DataFrame(rows)


def bins_within(comparison: pd.DataFrame) -> int:
    """How many of the 12 bins of :func:`compare_with_reference`'s table are within ×1.5.

    Parameters
    ----------
    comparison : pandas.DataFrame
        As returned by :func:`compare_with_reference` (its bool ``within`` column is counted).

    Returns
    -------
    int
        0 … 12.
    """
    return int(comparison["within"].sum())


def fidelity_markdown(comparison: pd.DataFrame) -> str:
    """The comparison as a Markdown table (ours / NVIDIA = ratio per cell) and the count line.

    Parameters
    ----------
    comparison : pandas.DataFrame
        As returned by :func:`compare_with_reference`.

    Returns
    -------
    str
        The table, then ``"K of 12 bins within ×1.5 of NVIDIA's medians ..."``.
    """
    lines = [
        "| bin | class | components (ours / NVIDIA) | perimeter/area | half-width px | within ×1.5 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    formats = {"components": "{:g}", "perimeter_per_area": "{:.3f}", "half_width": "{:.1f}"}
    for row in comparison.to_dict("records"):
        cells = []
        for statistic in FIDELITY_STATISTICS:
            value, ratio = row[statistic], row[f"{statistic}_ratio"]
            ours = (
                "–" if math.isnan(ratio) and (value is None or math.isnan(value)) else formats[statistic].format(value)
            )
            shown_ratio = "–" if math.isnan(ratio) else f"×{ratio:.2f}"
            cells.append(f"{ours} / {formats[statistic].format(row[f'{statistic}_nvidia'])} ({shown_ratio})")
        lines.append(f"| {row['bin']} | {row['class']} | {' | '.join(cells)} | {'yes' if row['within'] else 'no'} |")
    count = bins_within(comparison)
    lines.append("")
    lines.append(
        f"{count} of {len(comparison)} bins within ×{FIDELITY_FACTOR:g} of NVIDIA's medians "
        "(components, perimeter/area and half-width)"
    )
    return "\n".join(lines)


@dataclass(frozen=True)
class SourceReuse:
    """How often the most-used raw mask went into a split.

    Attributes
    ----------
    source : str
        Its store index.
    masks : int
        Split masks it went into.
    total : int
        Masks of the split.
    distinct : int
        Distinct raw masks the split used.
    """

    source: str
    masks: int
    total: int
    distinct: int

    @property
    def share(self) -> float:
        """Share of the split's masks that the most-used raw mask went into.

        Returns
        -------
        float
            ``masks / total``, in [0, 1]; 0.0 for an empty split.
        """
        return self.masks / self.total if self.total else 0.0

    def text(self) -> str:
        """The reuse as one line of a build or inspect report.

        Returns
        -------
        str
            E.g. ``"most-used raw mask: store index 17, in 1.2% of the masks (24 of 2000); ..."``.
        """
        return (
            f"most-used raw mask: store index {self.source}, in {self.share:.1%} of the masks "
            f"({self.masks} of {self.total}); {self.distinct} distinct raw masks used"
        )


def source_reuse(sources: Iterable[str]) -> SourceReuse:
    """The raw mask that went into the most split masks.

    Parameters
    ----------
    sources : iterable of str
        Per split mask, its sources as the manifest's ``sources`` column holds them: store
        indices joined by ``";"``. A source used twice in one mask counts once.

    Returns
    -------
    SourceReuse
    """
    counts: Counter[str] = Counter()
    total = 0
    for row in sources:
        total += 1
        counts.update(set(str(row).split(";")))
    source, masks = counts.most_common(1)[0] if counts else ("", 0)
    return SourceReuse(source=source, masks=masks, total=total, distinct=len(counts))
