"""``maskbench generate`` and ``maskbench import-masks``: fill a mask store without videos."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from maskbench.chunked_append import AppendSummary
from maskbench.cli.common import config_option, overwrite_option, reports_user_errors, seed_option, workers_option
from maskbench.importing import ImportConfig, PolarityWarning, import_masks
from maskbench.procedural import GenerateConfig, generate_masks

append_option = click.option(
    "--append", is_flag=True, default=None, help="Add to an existing store instead of refusing. [config]"
)


def _report(summary: AppendSummary) -> None:
    skipped = f", {summary.skipped} already there from an interrupted run" if summary.skipped else ""
    click.echo(f"wrote {summary.added} masks{skipped}; {summary.store} now holds {summary.total} masks")


@click.command("generate")
@click.option(
    "--kind",
    type=click.Choice(["strokes", "blobs", "mixed"]),
    default=None,
    help="strokes (DeepFill v2 / LaMa thin, medium, thick brushes), blobs, or mixed. [config]",
)
@click.option("-n", "--count", type=click.IntRange(min=1), default=None, help="Number of masks. [config]")
@click.option(
    "--size",
    type=(click.IntRange(min=16), click.IntRange(min=16)),
    default=None,
    metavar="H W",
    help="Mask height and width, px. [config: 512 512]",
)
@click.option("--out", "store", required=True, type=click.Path(path_type=Path), help="Mask store to write.")
@seed_option
@workers_option
@append_option
@overwrite_option
@config_option
@reports_user_errors
def generate_command(
    kind: str | None,
    count: int | None,
    size: tuple[int, int] | None,
    store: Path,
    seed: int | None,
    workers: int | None,
    append: bool | None,
    overwrite: bool,
    config_file: Path | None,
) -> None:
    """Procedural free-form masks (brush strokes, blobs, or both) into a mask store.

    Each mask is drawn from its own seeded generator, so the store is the same for any
    --workers. Rerunning an interrupted command resumes after the last finished shard.

    \b
    Example:
      maskbench generate --kind mixed -n 5000 --out raw.store --seed 0

    \f

    Parameters
    ----------
    kind : {"strokes", "blobs", "mixed"} or None
        ``--kind``; None keeps ``kind`` of the configuration.
    count : int or None
        ``-n/--count``, ≥ 1; None keeps ``count`` of the configuration.
    size : (int, int) or None
        ``--size H W``, px, each ≥ 16; None keeps ``size`` of the configuration.
    store : Path
        ``--out``: the mask store to write (:func:`maskbench.procedural.generate_masks`).
    seed : int or None
        ``--seed``, ≥ 0; None keeps ``seed`` of the configuration.
    workers : int or None
        ``--workers``, ≥ 0; None keeps ``workers`` of the configuration.
    append : bool or None
        ``--append``: add to a store of another run; None keeps ``append`` of the configuration.
    overwrite : bool
        ``--overwrite``: replace an existing store.
    config_file : Path or None
        ``--config``: a TOML file whose keys replace those of ``configs/generate.toml``.
    """
    config = GenerateConfig.load(
        config_file, kind=kind, count=count, size=size, seed=seed, workers=workers, append=append
    )
    _report(generate_masks(store, config=config, overwrite=overwrite))


@click.command("import-masks")
@click.argument("src_dir", type=click.Path(path_type=Path))
@click.option("--out", "store", required=True, type=click.Path(path_type=Path), help="Mask store to write.")
@click.option(
    "--invert",
    is_flag=True,
    default=None,
    help="Black (0) marks holes, e.g. NVIDIA's training masks (white = valid). [config]",
)
@click.option(
    "--threshold",
    type=click.IntRange(0, 254),
    default=None,
    help="Binarize gray or JPEG masks: pixels > T are white. Without it, non-binary files are rejected. [config]",
)
@workers_option
@append_option
@overwrite_option
@config_option
@reports_user_errors
def import_masks_command(
    src_dir: Path,
    store: Path,
    invert: bool | None,
    threshold: int | None,
    workers: int | None,
    append: bool | None,
    overwrite: bool,
    config_file: Path | None,
) -> None:
    """Import a folder of PNG/JPG masks (white, 255 = hole) into a mask store.

    Each file's path relative to SRC_DIR is kept as its provenance. A warning is printed
    when most pixels of most masks are holes (the polarity looks inverted).

    \b
    Example:
      maskbench import-masks nvidia_train_masks/ --invert --out raw.store

    \f

    Parameters
    ----------
    src_dir : Path
        ``SRC_DIR``: the folder of mask images (:func:`maskbench.importing.import_masks`).
    store : Path
        ``--out``: the mask store to write, resume or add to.
    invert : bool or None
        ``--invert``: black (0) = hole; None keeps ``invert`` of the configuration.
    threshold : int or None
        ``--threshold``, 0 … 254: binarize at this level; None keeps ``threshold`` of the
        configuration.
    workers : int or None
        ``--workers``, ≥ 0; None keeps ``workers`` of the configuration.
    append : bool or None
        ``--append``: add to a store of another run; None keeps ``append`` of the configuration.
    overwrite : bool
        ``--overwrite``: replace an existing store.
    config_file : Path or None
        ``--config``: a TOML file whose keys replace those of ``configs/import.toml``.
    """
    config = ImportConfig.load(config_file, invert=invert, threshold=threshold, workers=workers, append=append)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PolarityWarning)
        summary = import_masks(src_dir, store, config=config, overwrite=overwrite)
    if summary.polarity_warning:
        click.echo(f"Warning: {summary.polarity_warning}", err=True)
    _report(summary)


COMMANDS = [generate_command, import_masks_command]
