"""The published Table 1 of Liu et al. 2018 (PConv), carried with its source, for ``report --paper``.

Source: G. Liu, F. A. Reda, K. J. Shih, T.-C. Wang, A. Tao, B. Catanzaro, "Image Inpainting for
Irregular Holes Using Partial Convolutions", ECCV 2018, Table 1 (arXiv:1804.07723). Methods: PM
(PatchMatch, Barnes et al. 2009), GL (Iizuka et al. 2017), GnIpt (Yu et al. 2018, "GntIpt" in the
text), Conv (the PConv network with ordinary convolutions) and PConv. Columns: the six
hole-to-image ratio bins × N (no hole pixel within 50 px of the border) / B (border).

What the numbers are, as the paper says (section 4.3):

* ℓ1 error (%), PSNR and SSIM were measured **on Places2**, on 12,000 images with the released
  test masks. Their SSIM is drawn beside our ``ssim_paper`` (our reading of the literature's SSIM,
  :mod:`maskbench.ssim_maps`), never beside the standard ``ssim``: Wang et al.'s SSIM of the same
  fills is 0.03–0.23 higher, a matter of convention, not of quality.
* IScore was measured **on ImageNet** and is not defined in the paper (lower is better, so it is
  not a plain Inception Score). maskbench's IScore is our reading of that column (IS of the ground
  truth − IS of the outputs): the published IScore rows are shown apart and are not comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

from maskbench.bins import BIN_LABELS, BORDER_CLASSES

#: Citation printed with every published row.
PAPER_CITATION: str = "Liu et al. 2018, Table 1"
#: The methods of the published table, in its row order.
PAPER_METHODS: tuple[str, ...] = ("PM", "GL", "GnIpt", "Conv", "PConv")

#: metric → method → 12 values in the order (0.01,0.1] N, (0.01,0.1] B, (0.1,0.2] N, …, (0.5,0.6] B.
PUBLISHED_TABLE1: dict[str, dict[str, tuple[float, ...]]] = {
    "l1": {
        "PM": (0.45, 0.42, 1.25, 1.16, 2.28, 2.07, 3.52, 3.17, 4.77, 4.27, 6.98, 6.34),
        "GL": (1.39, 1.53, 3.01, 3.22, 4.51, 5.00, 6.05, 6.77, 7.34, 8.20, 8.60, 9.78),
        "GnIpt": (0.78, 0.88, 1.98, 2.09, 3.34, 3.72, 4.98, 5.50, 6.51, 7.13, 8.33, 9.19),
        "Conv": (0.52, 0.50, 1.26, 1.17, 2.20, 2.01, 3.37, 3.03, 4.58, 4.10, 6.66, 6.01),
        "PConv": (0.49, 0.47, 1.18, 1.09, 2.07, 1.88, 3.19, 2.84, 4.37, 3.85, 6.45, 5.72),
    },
    "psnr": {
        "PM": (32.97, 33.68, 26.87, 27.51, 23.70, 24.35, 21.27, 22.05, 19.70, 20.58, 17.60, 18.22),
        "GL": (30.17, 29.74, 23.87, 23.83, 20.92, 20.73, 18.80, 18.61, 17.60, 17.38, 16.90, 16.37),
        "GnIpt": (29.07, 28.38, 23.20, 22.86, 20.58, 19.86, 18.53, 17.85, 17.31, 16.68, 16.24, 15.52),
        "Conv": (33.21, 33.79, 27.30, 27.89, 24.23, 24.90, 21.79, 22.60, 20.20, 21.13, 18.24, 18.94),
        "PConv": (33.75, 34.34, 27.71, 28.32, 24.54, 25.25, 22.01, 22.89, 20.34, 21.38, 18.21, 19.04),
    },
    "ssim": {
        "PM": (0.946, 0.947, 0.861, 0.865, 0.763, 0.768, 0.666, 0.675, 0.568, 0.579, 0.459, 0.472),
        "GL": (0.929, 0.923, 0.831, 0.829, 0.732, 0.721, 0.638, 0.627, 0.543, 0.533, 0.446, 0.440),
        "GnIpt": (0.940, 0.938, 0.855, 0.855, 0.760, 0.758, 0.666, 0.666, 0.569, 0.570, 0.465, 0.470),
        "Conv": (0.943, 0.943, 0.862, 0.865, 0.769, 0.772, 0.674, 0.682, 0.576, 0.587, 0.463, 0.478),
        "PConv": (0.946, 0.945, 0.867, 0.870, 0.775, 0.779, 0.681, 0.689, 0.583, 0.595, 0.468, 0.484),
    },
    "iscore": {
        "PM": (0.090, 0.058, 0.307, 0.204, 0.766, 0.465, 1.551, 0.921, 2.724, 1.422, 4.075, 2.226),
        "GL": (0.183, 0.112, 0.619, 0.464, 1.607, 1.046, 2.774, 1.941, 3.920, 2.825, 4.877, 3.362),
        "GnIpt": (0.127, 0.088, 0.396, 0.307, 0.978, 0.621, 1.757, 1.126, 2.759, 1.801, 3.967, 2.525),
        "Conv": (0.068, 0.041, 0.228, 0.149, 0.603, 0.366, 1.264, 0.731, 2.368, 1.189, 4.162, 2.224),
        "PConv": (0.051, 0.032, 0.163, 0.109, 0.446, 0.270, 0.954, 0.565, 1.881, 0.838, 3.603, 1.588),
    },
}


@dataclass(frozen=True)
class PublishedMetric:
    """How a published metric sits beside ours.

    Attributes
    ----------
    metric : str
        Key of :data:`PUBLISHED_TABLE1`.
    compare_with : str
        Our column that it is drawn against (``ssim_paper`` for the paper's SSIM), or ``""`` for
        none (IScore: shown apart).
    dataset : str
        Where the paper measured it.
    label : str
        Row label pattern, ``{}`` = the method.
    """

    metric: str
    compare_with: str
    dataset: str
    label: str


#: The published metrics: ℓ1, PSNR, SSIM on Places2 beside our columns; IScore on ImageNet apart.
PUBLISHED_METRICS: tuple[PublishedMetric, ...] = (
    PublishedMetric("l1", "l1", "Places2", "l1({})(%) [published, Places2]"),
    PublishedMetric("psnr", "psnr", "Places2", "PSNR({}) [published, Places2]"),
    PublishedMetric("ssim", "ssim_paper", "Places2", "SSIM({}) [published, Places2; compare with SSIM_paper]"),
    PublishedMetric("iscore", "", "ImageNet", "IScore({}) [published, ImageNet; not comparable]"),
)


def published_cells(metric: str, method: str) -> dict[str, float]:
    """One published row as ``{"(0.01,0.1] N": value, …}`` (the column names of our Table 1).

    Parameters
    ----------
    metric : {"l1", "psnr", "ssim", "iscore"}
        Key of :data:`PUBLISHED_TABLE1`.
    method : {"PM", "GL", "GnIpt", "Conv", "PConv"}
        One of :data:`PAPER_METHODS`.

    Returns
    -------
    dict
        Column → published value, the 12 columns in our order (ℓ1 in %, PSNR in dB).
    """
    columns = [f"{label} {border}" for label in BIN_LABELS for border in BORDER_CLASSES]
    return dict(zip(columns, PUBLISHED_TABLE1[metric][method], strict=True))


def published_rows(compare_with: str) -> dict[str, dict[str, float]]:
    """Row label → cells of every published row drawn against our column ``compare_with``.

    Parameters
    ----------
    compare_with : str
        One of our metric columns (``"l1"``, ``"psnr"``, ``"ssim_paper"``, ...), or ``""`` for the
        published rows that have no counterpart of ours.

    Returns
    -------
    dict
        Row label (e.g. ``"PSNR(PConv) [published, Places2]"``) → :func:`published_cells`, one
        entry per method in :data:`PAPER_METHODS` order; empty when no published metric is drawn
        against ``compare_with``.
    """
    return {
        published.label.format(method): published_cells(published.metric, method)
        for published in PUBLISHED_METRICS
        if published.compare_with == compare_with
        for method in PAPER_METHODS
    }


def published_apart() -> dict[str, dict[str, float]]:
    """Row label → cells of the published rows that have no counterpart of ours (IScore on ImageNet).

    Returns
    -------
    dict
        ``published_rows("")``: the five ``IScore(METHOD) [published, ImageNet; not comparable]``
        rows.
    """
    return published_rows("")
