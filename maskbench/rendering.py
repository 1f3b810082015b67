"""Pictures of masks: a grid of thumbnails per (ratio bin, border class).

``build-testset`` draws one as a split's ``preview.png`` (:func:`split_preview`) and
``inspect`` one as ``examples.png`` (:func:`example_grid`). Pure numpy and OpenCV: no
plotting library.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from maskbench.bins import BIN_LABELS, BORDER_CLASSES, N_RATIO_BINS, testset_index
from maskbench.files import read_mask
from maskbench.manifest import ManifestRow

#: Gray level of the gaps between thumbnails.
_GAP_GRAY = 96


def example_grid(examples: dict[tuple[int, str], list[np.ndarray]], *, columns: int, thumb: int = 64) -> np.ndarray:
    """One row per (bin, class) of up to ``columns`` masks (any size, squashed to thumbnails).

    Parameters
    ----------
    examples : dict
        (ratio bin 0 … 5, border class ``"N"``/``"B"``) → (H, W) bool hole arrays; missing
        keys give empty rows, masks beyond ``columns`` are left out.
    columns : int
        Thumbnails per row, ≥ 1.
    thumb : int
        Side of a thumbnail, px.

    Returns
    -------
    (H, W, 3) uint8 ndarray
        White holes on black, gray gaps, labels at the left; H = 12·(thumb + 4) + 4,
        W = 150 + columns·(thumb + 4) + 4.
    """
    gap, label_width = 4, 150
    height = 2 * N_RATIO_BINS * (thumb + gap) + gap
    width = label_width + columns * (thumb + gap) + gap
    grid = np.full((height, width, 3), _GAP_GRAY, dtype=np.uint8)
    for row, (k, border) in enumerate((k, b) for k in range(N_RATIO_BINS) for b in BORDER_CLASSES):
        top = gap + row * (thumb + gap)
        cv2.putText(
            grid,
            f"{BIN_LABELS[k]} {border}",
            (6, top + thumb // 2 + 5),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
        for column, hole in enumerate(examples.get((k, border), [])[:columns]):
            small = cv2.resize(hole.astype(np.float32), (thumb, thumb), interpolation=cv2.INTER_AREA)
            left = label_width + gap + column * (thumb + gap)
            grid[top : top + thumb, left : left + thumb] = np.round(small * 255).astype(np.uint8)[:, :, None]
    return grid


def split_preview(root: Path, rows: Mapping[int, ManifestRow], *, columns: int, per_bin: int) -> np.ndarray:
    """Grid of the first ``columns`` masks of every (bin, class) of a split.

    Parameters
    ----------
    root : Path
        The split folder (the rows' ``file`` is relative to it).
    rows : mapping of int to ManifestRow
        Every row of the split, by index.
    columns : int
        Masks per (bin, class) to show; clipped to 1 … ``per_bin``.
    per_bin : int
        Masks per (bin, class) of the split.

    Returns
    -------
    (H, W, 3) uint8 ndarray
        As :func:`example_grid`.
    """
    columns = max(1, min(columns, per_bin))
    examples = {
        (k, border): [read_mask(root / rows[testset_index(k, border, j, per_bin=per_bin)].file) for j in range(columns)]
        for k in range(N_RATIO_BINS)
        for border in BORDER_CLASSES
    }
    return example_grid(examples, columns=columns)
