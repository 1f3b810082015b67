"""``maskbench build-testset`` and ``maskbench inspect``: the binned test split and a look at it."""

from __future__ import annotations

from pathlib import Path

import click

from maskbench.cli.common import config_option, overwrite_option, reports_user_errors, seed_option, workers_option
from maskbench.inspection import InspectConfig, inspect_path
from maskbench.testset import build_testset
from maskbench.testset_config import STRATEGIES, TestsetConfig


@click.command("build-testset")
@click.option(
    "--masks",
    "store",
    required=True,
    type=click.Path(path_type=Path),
    help="Mask store to sample from (masks of any size).",
)
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Split folder to create.")
@click.option(
    "--per-bin",
    type=click.IntRange(min=1),
    default=None,
    help="Masks per (ratio bin, border class); 1000 = NVIDIA's layout. [config]",
)
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    default=None,
    help="N masks: natural outlines (default) or clear-band (NVIDIA's cleared 50 px band). [config]",
)
@seed_option
@workers_option
@overwrite_option
@config_option
@reports_user_errors
def build_testset_command(
    store: Path,
    out_dir: Path,
    per_bin: int | None,
    strategy: str | None,
    seed: int | None,
    workers: int | None,
    overwrite: bool,
    config_file: Path | None,
) -> None:
    """Build the fixed test split: 6 hole-ratio bins x {N, B} x PER_BIN masks of 512x512.

    Masks are numbered as NVIDIA's release (index = 2*P*k + P*b + j) in OUT/masks/, with
    OUT/manifest.csv, OUT/meta.json and OUT/preview.png. The same store, seed and
    config give byte-identical files for any --workers. An interrupted build resumes
    when rerun with the same options.

    \b
    Example:
      maskbench build-testset --masks raw.store --out split/ --per-bin 1000 --seed 0

    \f

    Parameters
    ----------
    store : Path
        ``--masks``: the mask store to sample from (:func:`maskbench.testset.build_testset`).
    out_dir : Path
        ``--out``: the split folder to create.
    per_bin : int or None
        ``--per-bin``, ≥ 1; None keeps ``per_bin`` of the configuration.
    strategy : {"natural", "clear-band"} or None
        ``--strategy``; None keeps ``strategy`` of the configuration.
    seed : int or None
        ``--seed``, ≥ 0; None keeps ``seed`` of the configuration.
    workers : int or None
        ``--workers``, ≥ 0; None keeps ``workers`` of the configuration.
    overwrite : bool
        ``--overwrite``: replace an existing split.
    config_file : Path or None
        ``--config``: a TOML file whose keys replace those of ``configs/testset.toml``.
    """
    config = TestsetConfig.load(config_file, per_bin=per_bin, seed=seed, workers=workers, strategy=strategy)
    summary = build_testset(store, out_dir, config=config, overwrite=overwrite)
    click.echo(summary.table())
    if summary.reuse is not None:
        click.echo(summary.reuse.text())
    if summary.note is not None:
        click.echo(summary.note)
    reused = f" ({summary.reused} reused from an interrupted run)" if summary.reused else ""
    click.echo(
        f"wrote {12 * summary.per_bin} masks{reused} to {summary.out_dir}/masks "
        "with manifest.csv, meta.json and preview.png"
    )


@click.command("inspect")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the plots and tables. [default: PATH.inspect beside PATH]",
)
@click.option(
    "--margin", type=click.IntRange(min=0), default=None, help="Border margin, px. [the split's own, else config]"
)
@click.option(
    "--stats-per-bin",
    type=click.IntRange(min=0),
    default=None,
    help="Masks per bin whose shapes are measured (0 = all). [config]",
)
@workers_option
@overwrite_option
@config_option
@reports_user_errors
def inspect_command(
    path: Path,
    out_dir: Path | None,
    margin: int | None,
    stats_per_bin: int | None,
    workers: int | None,
    overwrite: bool,
    config_file: Path | None,
) -> None:
    """Counts per bin, a hole-ratio histogram, examples and shape statistics.

    PATH is a mask store, a split made by build-testset, or a folder of NVIDIA's released
    test masks (00000.png-11999.png; each file is checked against its number). The shape
    statistics are printed beside the medians measured on NVIDIA's released test masks, with
    the ratio of every cell and the count of bins within x1.5 (fidelity.md, fidelity.png).

    \f

    Parameters
    ----------
    path : Path
        ``PATH``: what to inspect (:func:`maskbench.inspection.inspect_path`).
    out_dir : Path or None
        ``--out``: folder for the outputs; None: ``PATH.inspect`` beside ``PATH``.
    margin : int or None
        ``--margin``, px, ≥ 0; None: the split's own, else the configuration's.
    stats_per_bin : int or None
        ``--stats-per-bin``, ≥ 0 (0 = all); None keeps ``stats_per_bin`` of the configuration.
    workers : int or None
        ``--workers``, ≥ 0; None keeps ``workers`` of the configuration.
    overwrite : bool
        ``--overwrite``: replace an existing output folder.
    config_file : Path or None
        ``--config``: a TOML file whose keys replace those of ``configs/inspect.toml``.
    """
    config = InspectConfig.load(config_file, margin=margin, stats_per_bin=stats_per_bin, workers=workers)
    report = inspect_path(path, out_dir, config=config, overwrite=overwrite)
    click.echo(report.text())
    click.echo(
        "histogram.png, examples.png, fidelity.png, shape_stats.csv, fidelity.md and summary.md "
        f"written to {report.out_dir}"
    )


COMMANDS = [build_testset_command, inspect_command]
