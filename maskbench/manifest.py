r"""``manifest.csv`` of a split: one typed :class:`ManifestRow` per mask, written and read back.

The file has one header line (:data:`MANIFEST_COLUMNS`) and one line per mask in file-number
order, ``\n`` line ends. Integers are written in decimal, flags as ``0``/``1`` and floats as
Python's ``repr`` (shortest text that reads back to the same float, ``nan`` for none), so a
row read back equals the row written.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, get_type_hints

from maskbench.bins import BorderClass
from maskbench.errors import InputError


@dataclass(frozen=True)
class ManifestRow:
    """One mask of a split as ``manifest.csv`` lists it (the fields are its columns, in order).

    Attributes
    ----------
    index : int
        File number, 0 … 12·P − 1 (see :func:`maskbench.bins.testset_index`).
    file : str
        Path of the PNG relative to the split folder, e.g. ``"masks/00042.png"``.
    ratio_bin : int
        Hole-ratio bin, 0 … 5.
    bin_label : str
        The bin as printed, e.g. ``"(0.01,0.1]"``.
    border : {"N", "B"}
        Border class.
    hole_ratio : float
        Hole pixels / 512², in the bin.
    hole_pixels : int
        Hole pixels.
    min_border_dist : int
        Distance of the hole pixel nearest to the edge, px.
    source : int
        Store index of the first source mask.
    sources : str
        Store indices of every source mask, joined by ``";"``.
    source_file, source_frame : str, int
        Provenance of the first source (file and frame it was made from).
    strategy : {"natural", "clear-band", "border"}
        How the mask was made (``"border"`` for B masks).
    cut_edges : bool
        Cut straight along the margin line (:func:`maskbench.bins.is_band_cut`).
    target_ratio : float
        Hole ratio drawn in the bin, that the steering aimed at.
    tries : int
        Attempts the slot took, ≥ 1.
    angle, crop_scale, crop_top, crop_left, crop_side, flip_horizontal, flip_vertical : float
        Augmentation of the first source (:func:`maskbench.augment.random_window`); the crop
        values are NaN for natural masks, which are not cropped; flips are 0.0 or 1.0.
    placement_scale : float
        Scale of a natural mask's holes placed in the interior (1.0 for the others).
    dilation : float
        Steering radius, px: > 0 dilated, < 0 eroded.
    """

    index: int
    file: str
    ratio_bin: int
    bin_label: str
    border: BorderClass
    hole_ratio: float
    hole_pixels: int
    min_border_dist: int
    source: int
    sources: str
    source_file: str
    source_frame: int
    strategy: str
    cut_edges: bool
    target_ratio: float
    tries: int
    angle: float
    crop_scale: float
    crop_top: float
    crop_left: float
    crop_side: float
    flip_horizontal: float
    flip_vertical: float
    placement_scale: float
    dilation: float

    def csv_fields(self) -> dict[str, str]:
        """The row as ``manifest.csv`` writes it.

        Returns
        -------
        dict of str to str
            Column → text, in :data:`MANIFEST_COLUMNS` order.
        """
        return {column: _TO_TEXT[_COLUMN_TYPES[column]](getattr(self, column)) for column in MANIFEST_COLUMNS}

    @classmethod
    def from_csv(cls, fields: dict[str, str]) -> ManifestRow:
        """The row that :meth:`csv_fields` wrote as ``fields``.

        Parameters
        ----------
        fields : dict of str to str
            Column → text, with every column of :data:`MANIFEST_COLUMNS`.

        Returns
        -------
        ManifestRow

        Raises
        ------
        ValueError
            A number that does not parse.
        """
        return cls(**{column: _FROM_TEXT[_COLUMN_TYPES[column]](fields[column]) for column in MANIFEST_COLUMNS})


_TO_TEXT: dict[type, Callable[[Any], str]] = {
    int: lambda value: str(int(value)),
    float: lambda value: repr(float(value)),
    bool: lambda value: str(int(value)),
    str: str,
}
_FROM_TEXT: dict[type, Callable[[str], Any]] = {int: int, float: float, bool: lambda text: text == "1", str: str}
#: Column → the type whose text form it has (``str`` for the text and literal columns).
_COLUMN_TYPES: dict[str, type] = {
    name: hint if hint in _TO_TEXT else str for name, hint in get_type_hints(ManifestRow).items()
}
#: Columns of ``manifest.csv``, in order.
MANIFEST_COLUMNS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(ManifestRow))


def write_manifest(file: str | os.PathLike, rows: Iterable[ManifestRow]) -> None:
    """Write ``manifest.csv``.

    Parameters
    ----------
    file : path-like
        The CSV file to write (not atomically: write it into a staging folder).
    rows : iterable of ManifestRow
        In the order to write, i.e. by increasing ``index``.
    """
    with open(file, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(row.csv_fields() for row in rows)


#: Columns that every version of ``manifest.csv`` has: enough to score a split.
CORE_COLUMNS: tuple[str, ...] = ("index", "file", "ratio_bin", "border", "hole_ratio", "hole_pixels")


class ListedMask(NamedTuple):
    """The :data:`CORE_COLUMNS` of one manifest row: what scoring a split needs.

    Attributes
    ----------
    index : int
        File number, 0 … 12·P − 1.
    file : str
        Path of the PNG relative to the split folder.
    ratio_bin : int
        Hole-ratio bin, 0 … 5.
    border : {"N", "B"}
        Border class.
    hole_ratio : float
        Hole pixels / 512².
    hole_pixels : int
        Hole pixels.
    """

    index: int
    file: str
    ratio_bin: int
    border: str
    hole_ratio: float
    hole_pixels: int


def _read_texts(path: str | os.PathLike, required: Iterable[str]) -> tuple[Path, list[dict[str, str]]]:
    """The file and its rows as dicts of text, refusing a missing file or missing columns."""
    file = Path(path) / "manifest.csv"
    if not file.is_file():
        raise InputError(f"{file} not found; is {path} a split made by 'maskbench build-testset'?")
    with open(file, newline="", encoding="utf-8") as handle:
        texts = list(csv.DictReader(handle))
    missing = set(required) - set(texts[0] if texts else {})
    if not texts or missing:
        raise InputError(f"{file} is empty or lacks the columns {sorted(missing)}; rebuild the split")
    return file, texts


def read_manifest(path: str | os.PathLike) -> list[ManifestRow]:
    """The rows of a split's ``manifest.csv``, by increasing index.

    Parameters
    ----------
    path : path-like
        The split folder.

    Returns
    -------
    list of ManifestRow

    Raises
    ------
    InputError
        The file is missing, empty, lacks columns, or holds a value that does not parse.
    """
    file, texts = _read_texts(path, MANIFEST_COLUMNS)
    try:
        rows = [ManifestRow.from_csv(text) for text in texts]
    except ValueError as error:
        raise InputError(f"{file} holds a value that is not a number ({error}); rebuild the split") from None
    return sorted(rows, key=lambda row: row.index)


def read_listed_masks(path: str | os.PathLike) -> list[ListedMask]:
    """The :data:`CORE_COLUMNS` of a split's ``manifest.csv``, by increasing index.

    Unlike :func:`read_manifest`, this reads the manifests of every maskbench version,
    including those written before some of today's columns existed.

    Parameters
    ----------
    path : path-like
        The split folder.

    Returns
    -------
    list of ListedMask

    Raises
    ------
    InputError
        The file is missing, empty, lacks a core column, or holds a value that does not parse.
    """
    file, texts = _read_texts(path, CORE_COLUMNS)
    try:
        rows = [
            ListedMask(
                int(text["index"]),
                text["file"],
                int(text["ratio_bin"]),
                text["border"],
                float(text["hole_ratio"]),
                int(text["hole_pixels"]),
            )
            for text in texts
        ]
    except ValueError as error:
        raise InputError(f"{file} holds a value that is not a number ({error}); rebuild the split") from None
    return sorted(rows, key=lambda row: row.index)
