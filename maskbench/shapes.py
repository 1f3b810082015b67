"""Shape statistics of hole masks, one mask at a time and per (ratio bin, border class).

The statistics are the ones measured on NVIDIA's release (:mod:`maskbench.fidelity`), so a
split can be compared with it bin by bin:

* ``components`` — connected hole regions (8-connectivity), median;
* ``largest_share`` — the largest region's share of the hole area, median;
* ``perimeter_per_area`` — hole boundary pixels (Canny on the mask) per hole pixel, median;
* ``half_width`` — mean L2 distance transform over the hole pixels, px, median;
* ``at_margin`` — share of masks whose nearest hole pixel is exactly ``margin`` px from
  the edge (the mark of a cleared border band);
* ``touching`` — share of masks with a hole pixel on the image edge;
* ``band_cut`` — share of masks cut straight along the margin line
  (:func:`maskbench.bins.is_band_cut`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pandas as pd

from maskbench.bins import BIN_LABELS, BORDER_CLASSES, N_RATIO_BINS, hole_ratio, is_band_cut, min_border_distance

#: Columns of the per-bin shape statistics table, in order.
STATS_COLUMNS: tuple[str, ...] = (
    "bin",
    "class",
    "masks",
    "measured",
    "ratio",
    "components",
    "largest_share",
    "perimeter_per_area",
    "half_width",
    "at_margin",
    "touching",
    "band_cut",
)


@dataclass(frozen=True)
class ShapeStats:
    """Shape statistics of one mask (definitions in the module docstring).

    Attributes
    ----------
    hole_ratio : float
        Hole pixels / all pixels, in [0, 1].
    components : int
        Connected hole regions (8-connectivity), ≥ 0.
    largest_share : float
        Largest region's share of the hole area, in (0, 1]; NaN without holes.
    perimeter_per_area : float
        Canny edge pixels per hole pixel; NaN without holes.
    half_width : float
        Mean distance of the hole pixels to the nearest valid pixel, px; NaN without holes.
    min_border_dist : int
        Distance of the hole pixel nearest to the edge, px.
    band_cut : bool
        Cut straight along the margin line.
    """

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
        True = hole.
    margin : int
        Border margin, px, of the band-cut test.

    Returns
    -------
    ShapeStats
        For a mask without holes: 0 components and NaN shares/widths.

    Raises
    ------
    InputError
        ``hole`` is not a 2-D bool array.
    """
    hole_pixels = int(np.count_nonzero(hole))
    distance = min_border_distance(hole)
    if hole_pixels == 0:
        return ShapeStats(0.0, 0, float("nan"), float("nan"), float("nan"), distance, False)
    image = hole.astype(np.uint8) * np.uint8(255)
    count, _, stats, _ = cv2.connectedComponentsWithStats(image, connectivity=8)
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


def summarize_shapes(
    groups: dict[tuple[int, str], list[ShapeStats]], counts: dict[tuple[int, str], int], *, margin: int
) -> pd.DataFrame:
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
            row: dict[str, Any] = {
                "bin": BIN_LABELS[k],
                "class": border,
                "masks": counts.get((k, border), 0),
                "measured": len(stats),
            }
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
    """The shape-statistics table formatted as NVIDIA's reference table.

    Parameters
    ----------
    table : pandas.DataFrame
        As :func:`summarize_shapes` returns.

    Returns
    -------
    str
        A Markdown table, one line per (bin, class); dashes for a bin without measured masks.
    """
    lines = [
        "| bin | class | masks | ratio | components | largest share | perimeter/area | half-width px "
        "| at margin | touching | band-cut |",
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
