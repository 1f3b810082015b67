"""``build-testset``: the fixed test split, 6 hole-ratio bins × {N, B} × ``per_bin`` masks of 512×512.

:func:`build_testset` samples the split from a mask store (Liu et al. 2018, section 4.1:
raw masks plus random dilation, rotation and cropping; the sampler is
:mod:`maskbench.sampling`) into the layout that :mod:`maskbench.splits` reads: numbered PNGs,
``manifest.csv`` (:mod:`maskbench.manifest`), ``meta.json`` and ``preview.png``.

The build is resumable. It runs in a hidden sibling folder ``.NAME.partial``: ``build.json``
holds the settings, and every finished mask appends its manifest row to ``rows.jsonl``. A
rerun with the same settings keeps the finished masks; only a complete split is renamed to
``NAME``. The result is byte-identical to an uninterrupted build, for any number of workers.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maskbench.bins import BIN_LABELS, BORDER_CLASSES, MASK_SIZE, N_RATIO_BINS, BorderClass, testset_index
from maskbench.errors import InputError, InsufficientMasksError, OutputExistsError
from maskbench.fidelity import SourceReuse, source_reuse
from maskbench.files import write_image, write_text_atomic
from maskbench.flow_choice import store_method_tags
from maskbench.manifest import ManifestRow, write_manifest
from maskbench.parallel import map_ordered
from maskbench.provenance import difference_note, provenance
from maskbench.rendering import split_preview
from maskbench.sampling import Slot, SlotContext, fill_slot
from maskbench.splits import is_testset
from maskbench.store import MaskStore, is_store
from maskbench.testset_config import TestsetConfig

#: ``format`` of a split's ``meta.json``.
TESTSET_FORMAT = "maskbench-testset"

#: Per (ratio bin, border class index): a count.
BinCounts = dict[tuple[int, int], int]


@dataclass(frozen=True)
class BinStats:
    """Fill statistics of one (ratio bin, border class).

    Attributes
    ----------
    ratio_bin : int
        Ratio bin, 0 … 5.
    border : {"N", "B"}
        Border class.
    filled : int
        Masks made, 0 … ``per_bin``.
    tries : int
        Attempts over all its slots (resumed ones included).
    cut_edges : int
        Masks cut straight along the margin line.
    failed : int
        Slots left empty.
    """

    ratio_bin: int
    border: BorderClass
    filled: int
    tries: int
    cut_edges: int
    failed: int

    @property
    def tries_per_mask(self) -> float:
        """Attempts per accepted mask (NaN when none was accepted).

        Returns
        -------
        float
            ``tries / filled``, ≥ 1 (failed slots' attempts included); NaN when ``filled`` is 0.
        """
        return self.tries / self.filled if self.filled else math.nan


@dataclass(frozen=True)
class BuildSummary:
    """What :func:`build_testset` made.

    Attributes
    ----------
    out_dir : Path
        The split folder.
    per_bin : int
        Masks per (ratio bin, border class).
    bins : tuple of BinStats
        Twelve entries, in file order (bin 0 N, bin 0 B, bin 1 N, ...).
    reused : int
        Masks taken over from an interrupted earlier run.
    note : str or None
        One line when the split replaced (``--overwrite``) or the build restarted one made by
        another maskbench version or with another configuration.
    reuse : SourceReuse or None
        The raw mask that went into the most split masks.
    """

    out_dir: Path
    per_bin: int
    bins: tuple[BinStats, ...]
    reused: int
    note: str | None = None
    reuse: SourceReuse | None = None

    def table(self) -> str:
        """Per-bin fill statistics.

        Returns
        -------
        str
            A Markdown table: bin, class, masks, tries per mask, share with cut edges.
        """
        lines = ["| bin | class | masks | tries/mask | cut edges |", "| --- | --- | ---: | ---: | ---: |"]
        for stats in self.bins:
            share = stats.cut_edges / stats.filled if stats.filled else 0.0
            lines.append(
                f"| {BIN_LABELS[stats.ratio_bin]} | {stats.border} | {stats.filled} | "
                f"{stats.tries_per_mask:.2f} | {share:.0%} |"
            )
        return "\n".join(lines)


def build_testset(
    store_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    config: TestsetConfig | None = None,
    overwrite: bool = False,
) -> BuildSummary:
    """Build the binned test split from a mask store.

    Parameters
    ----------
    store_path : path-like
        A mask store (:class:`~maskbench.store.MaskStore`) with masks of any size.
    out_dir : path-like
        The split folder to create (layout in :mod:`maskbench.splits`).
    config : TestsetConfig, optional
        The settings; default ``TestsetConfig.load()`` (``configs/testset.toml``).
    overwrite : bool
        Replace an existing split at ``out_dir``.

    Returns
    -------
    BuildSummary
        Per-bin fill statistics.

    Raises
    ------
    OutputExistsError
        ``out_dir`` exists and ``overwrite`` is False, or it is not a split.
    InputError
        ``store_path`` is not a mask store.
    InsufficientMasksError
        The store cannot fill some bin (the message names the bins and what to change).

    Notes
    -----
    Resumable: see the module docstring.
    """
    config = TestsetConfig.load() if config is None else config
    out_dir, store_path = Path(out_dir), Path(store_path)
    store = _open_inputs(store_path, out_dir, overwrite=overwrite)
    staging = _staging_dir(out_dir)
    context = SlotContext(
        store_path=str(store_path.resolve()),
        fingerprint=store.fingerprint(),
        config=config,
        masks_dir=str(staging / "masks"),
    )
    settings = _build_settings(context, store)
    note = _rebuild_note(out_dir, staging, settings)
    done = _prepare_staging(staging, settings)
    rows, tries, tried, failed = _fill_slots(context, staging, done)
    if failed:
        raise InsufficientMasksError(_insufficient_message(store_path, tried, failed, config))
    _finish(staging, rows, settings, config)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(staging, out_dir)
    reuse = source_reuse(rows[index].sources for index in sorted(rows))
    return BuildSummary(
        out_dir=out_dir,
        per_bin=config.per_bin,
        bins=_bin_stats(rows, tries, config.per_bin),
        reused=len(done),
        note=note,
        reuse=reuse,
    )


def _open_inputs(store_path: Path, out_dir: Path, *, overwrite: bool) -> MaskStore:
    """Check the output folder and open the store (it must hold a mask with a hole)."""
    if out_dir.exists():
        if not overwrite:
            raise OutputExistsError(f"test set {out_dir} already exists; pass --overwrite to replace it")
        if not is_testset(out_dir) and any(out_dir.iterdir()):
            raise OutputExistsError(f"{out_dir} exists and is not a test set; refusing to replace it")
    if not is_store(store_path):
        raise InputError(
            f"{store_path} is not a mask store (no store.json); make one with 'maskbench generate' "
            "or 'maskbench import-masks'"
        )
    store = MaskStore.open(store_path)
    if not (store.hole_ratios() > 0).any():
        raise InsufficientMasksError(f"the store {store_path} holds no mask with a hole; add masks to it first")
    return store


def _staging_dir(out_dir: Path) -> Path:
    """The hidden sibling folder a build of ``out_dir`` runs in."""
    return out_dir.with_name(f".{out_dir.name}.partial")


def _build_settings(context: SlotContext, store: MaskStore) -> dict[str, Any]:
    """The settings of a build, as ``build.json`` and ``meta.json`` record them."""
    config = context.config
    record = provenance(config)  # the worker count changes nothing in the split: left out
    return {
        "format": TESTSET_FORMAT,
        "maskbench_version": record["maskbench"],
        "seed": config.seed,
        "per_bin": config.per_bin,
        "strategy": config.strategy,
        "size": MASK_SIZE,
        "config": record["config"],
        "store": {
            "path": context.store_path,
            "fingerprint": context.fingerprint,
            # flow+occlusion method of the extracted videos ([] for generated or imported masks)
            "methods": sorted(store_method_tags(store)),
        },
    }


def _prepare_staging(staging: Path, settings: dict[str, Any]) -> dict[int, ManifestRow]:
    """Reuse an interrupted build with the same settings (its finished rows), else start afresh."""
    settings_file = staging / "build.json"
    if staging.exists():
        same = settings_file.is_file() and json.loads(settings_file.read_text("utf-8")) == settings
        if not same:
            shutil.rmtree(staging)
    (staging / "masks").mkdir(parents=True, exist_ok=True)
    if not settings_file.is_file():
        write_text_atomic(settings_file, json.dumps(settings, indent=2) + "\n")
    done: dict[int, ManifestRow] = {}
    rows_file = staging / "rows.jsonl"
    if rows_file.is_file():
        for line in rows_file.read_text("utf-8").splitlines():
            try:
                row = ManifestRow(**json.loads(line))
            except (json.JSONDecodeError, TypeError):  # a line cut by the interruption
                continue
            if (staging / row.file).is_file():
                done[row.index] = row
    return done


def _slots(per_bin: int) -> list[Slot]:
    """Every (k, b, j), position-major so that a starving bin shows up early."""
    return [(k, b, j) for j in range(per_bin) for k in range(N_RATIO_BINS) for b in range(len(BORDER_CLASSES))]


def _insufficient_message(store_path: Path, tried: BinCounts, failed: BinCounts, config: TestsetConfig) -> str:
    """Which bins the store cannot fill, and what to change."""
    parts = []
    for (k, b), failures in sorted(failed.items()):
        estimate = math.ceil(failures / tried[(k, b)] * config.per_bin)
        parts.append(
            f"{BIN_LABELS[k]} {BORDER_CLASSES[b]}: {failures} of {tried[(k, b)]} slots tried "
            f"(≈{estimate} of {config.per_bin} missing)"
        )
    return (
        f"the store {store_path} cannot fill every bin — no mask found in {config.max_tries} tries for "
        + "; ".join(parts)
        + f". Add more or larger masks to the store, raise max_dilation (now {config.max_dilation:g}), "
        f"combine_sources (now {list(config.combine_sources)}) or max_tries (now {config.max_tries}) "
        "in a --config file, or lower --per-bin"
    )


def _fill_slots(
    context: SlotContext, staging: Path, done: dict[int, ManifestRow]
) -> tuple[dict[int, ManifestRow], BinCounts, BinCounts, BinCounts]:
    """Fill every slot not in ``done``, appending each finished row to ``rows.jsonl``.

    Stops early once ``max_failed_slots`` slots found no mask (the split cannot be completed
    with these settings, whatever the rest does).

    Returns
    -------
    rows, tries, tried, failed
        Manifest rows by index (``done`` included); per (k, b): attempts, slots processed by
        this run, slots that found no mask.
    """
    config = context.config
    rows = dict(done)
    tries = {(k, b): 0 for k in range(N_RATIO_BINS) for b in range(len(BORDER_CLASSES))}
    tried, failed = dict.fromkeys(tries, 0), {}
    for row in done.values():
        tries[(row.ratio_bin, BORDER_CLASSES.index(row.border))] += row.tries
    todo = [
        (k, b, j)
        for k, b, j in _slots(config.per_bin)
        if testset_index(k, BORDER_CLASSES[b], j, per_bin=config.per_bin) not in done
    ]
    results = map_ordered(
        functools.partial(fill_slot, context),
        todo,
        workers=config.workers,
        desc="build-testset",
        unit="mask",
        chunksize=8,
    )
    with open(staging / "rows.jsonl", "a", encoding="utf-8") as rows_file:
        try:
            for (k, b, _), row, slot_tries in results:
                tries[(k, b)] += slot_tries
                tried[(k, b)] += 1
                if row is None:
                    failed[(k, b)] = failed.get((k, b), 0) + 1
                    if sum(failed.values()) >= config.max_failed_slots:
                        break
                    continue
                rows[row.index] = row
                rows_file.write(json.dumps(dataclasses.asdict(row)) + "\n")
                rows_file.flush()
        finally:
            results.close()  # stops the worker pool when leaving early
    return rows, tries, tried, failed


def _settings_provenance(settings: dict[str, Any]) -> dict[str, Any]:
    """The version and configuration of build settings (or a meta.json) as a provenance record."""
    return {"maskbench": settings.get("maskbench_version"), "config": settings.get("config", {})}


def _rebuild_note(out_dir: Path, staging: Path, settings: dict[str, Any]) -> str | None:
    """A line when this build replaces or restarts a split made by another version or configuration.

    The earlier split at ``out_dir`` (its ``meta.json``) or interrupted build in ``staging``
    (its ``build.json``) is compared by :func:`maskbench.provenance.difference_note`.
    """
    earlier = [folder / name for folder, name in ((out_dir, "meta.json"), (staging, "build.json"))]
    records = [_settings_provenance(json.loads(file.read_text("utf-8"))) for file in earlier if file.is_file()]
    return difference_note(f"the split {out_dir}", records, _settings_provenance(settings))


def _finish(staging: Path, rows: dict[int, ManifestRow], settings: dict[str, Any], config: TestsetConfig) -> None:
    """Write manifest, meta and preview into the staging folder; drop the resume files."""
    write_manifest(staging / "manifest.csv", (rows[index] for index in sorted(rows)))
    write_text_atomic(staging / "meta.json", json.dumps(settings, indent=2) + "\n")
    write_image(
        staging / "preview.png", split_preview(staging, rows, columns=config.preview_columns, per_bin=config.per_bin)
    )
    (staging / "rows.jsonl").unlink(missing_ok=True)
    (staging / "build.json").unlink(missing_ok=True)


def _bin_stats(rows: dict[int, ManifestRow], tries: BinCounts, per_bin: int) -> tuple[BinStats, ...]:
    """Fill statistics of the twelve (bin, class), in file order."""
    stats = []
    for k in range(N_RATIO_BINS):
        for b, border in enumerate(BORDER_CLASSES):
            bin_rows = [row for row in rows.values() if row.ratio_bin == k and row.border == border]
            stats.append(
                BinStats(
                    ratio_bin=k,
                    border=border,
                    filled=len(bin_rows),
                    tries=tries[(k, b)],
                    cut_edges=sum(row.cut_edges for row in bin_rows),
                    failed=per_bin - len(bin_rows),
                )
            )
    return tuple(stats)
