"""``maskbench score`` and ``maskbench report``: Table 1 for any inpainter, with plots."""

from __future__ import annotations

from pathlib import Path

import click

from maskbench.cli.common import (
    config_option,
    device_option,
    overwrite_option,
    reports_user_errors,
    seed_option,
    workers_option,
)
from maskbench.distributed import quiet_rank
from maskbench.report import write_report
from maskbench.score import ScoreConfig, score


@click.command("score")
@click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    help=(
        "Inpainter spec: telea, ns, patchmatch, pconv:PATH, conv:PATH, pconv:random, torchscript:PATH, "
        "module:NAME (a module in the current folder or installed), path/to/file.py:NAME. Repeat for several."
    ),
)
@click.option(
    "--images",
    required=True,
    type=click.Path(path_type=Path),
    help=(
        "Folder of photos (JPEG/PNG, nested or not); each is resized (shorter side --size, 512) and "
        "centre-cropped. Smaller photos are refused (see --upscale-small-images)."
    ),
)
@click.option(
    "--testset",
    required=True,
    type=click.Path(path_type=Path),
    help="Split made by build-testset, or a folder of NVIDIA's test masks 00000.png-11999.png.",
)
@click.option(
    "--invert",
    "invert_masks",
    is_flag=True,
    flag_value=True,
    default=None,
    help="The --testset folder draws valid pixels white (black = hole).",
)
@click.option(
    "--size",
    type=click.IntRange(16, 512),
    default=None,
    help="Score at SIZE x SIZE (e.g. 256): images resized, masks shrunk from 512 keeping their bins. [config: 512]",
)
@click.option(
    "--upscale-small-images",
    is_flag=True,
    flag_value=True,
    default=None,
    help="Enlarge images smaller than --size (bicubic) instead of refusing them.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Result folder: created, or resumed/extended when it holds an unfinished run.",
)
@device_option
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Images per batch on the device. [config]")
@workers_option
@seed_option
@click.option(
    "--limit-per-bin",
    type=click.IntRange(min=0),
    default=None,
    help="Score only the first N masks of each bin and class (0 = all). [config]",
)
@click.option(
    "--reuse-images",
    is_flag=True,
    flag_value=True,
    default=None,
    help="Allow fewer images than masks (images are drawn again).",
)
@click.option(
    "--save-images",
    is_flag=True,
    flag_value=True,
    default=None,
    help="Write images/gt, images/input and images/MODEL PNGs of every pair.",
)
@click.option(
    "--shard",
    default=None,
    metavar="K/N|auto",
    help=(
        "Score only shard K of N (1 <= K <= N) of the pairs; auto: this task's place in a SLURM job array. "
        "Merge shards with 'maskbench report'."
    ),
)
@click.option(
    "--no-inception",
    "no_inception",
    is_flag=True,
    default=False,
    help="Skip the Inception Score and FID (no torch-fidelity weights needed).",
)
@overwrite_option
@config_option
@reports_user_errors
def score_command(
    models: tuple[str, ...],
    images: Path,
    testset: Path,
    invert_masks: bool | None,
    size: int | None,
    upscale_small_images: bool | None,
    out_dir: Path,
    device: str | None,
    batch_size: int | None,
    workers: int | None,
    seed: int | None,
    limit_per_bin: int | None,
    reuse_images: bool | None,
    save_images: bool | None,
    shard: str | None,
    no_inception: bool,
    overwrite: bool,
    config_file: Path | None,
) -> None:
    """Score inpainters on a test split: pairs.csv, Table 1 (CSV + Markdown), metrics.png, samples.png.

    Each mask is paired with an image by a seeded permutation; every model fills every pair
    and l1 (%), PSNR and SSIM are measured on the composite against the ground truth; per bin
    the Inception Score of the outputs and of the ground truth, their difference (IScore) and
    FID. The table is printed at the end (as table1.md). Ctrl-C keeps every finished batch;
    rerunning with the same options resumes an interrupted run; adding a --model extends a
    finished one; --overwrite starts again.

    \b
    Example:
      maskbench score --model telea --model pconv:runs/pconv.pt \\
          --images places2_test/ --testset split/ --out results/ --no-inception

    \f

    Parameters
    ----------
    models : tuple of str
        ``--model``: inpainter specs (:func:`maskbench.models.load_inpainter`), at least one.
    images : Path
        ``--images``: folder of photos, the ground truths.
    testset : Path
        ``--testset``: a split of ``build-testset`` or a folder of NVIDIA's numbered test masks.
    invert_masks : bool or None
        ``--invert``: the test masks draw valid pixels white; None keeps ``invert_masks`` of the
        configuration.
    size : int or None
        ``--size``: side of the scored images, px, 16–512; None keeps ``size`` of the
        configuration.
    upscale_small_images : bool or None
        ``--upscale-small-images``: enlarge images smaller than ``size`` (bicubic); None keeps
        ``upscale_small_images`` of the configuration.
    out_dir : Path
        ``--out``: the result folder, created, resumed or extended (:func:`maskbench.score.score`).
    device : str or None
        ``--device``: ``"auto"``, ``"cpu"``, ``"cuda:1"``, ...; None keeps ``device`` of the
        configuration.
    batch_size : int or None
        ``--batch-size``: pairs per batch on the device, ≥ 1; None keeps ``batch_size`` of the
        configuration.
    workers : int or None
        ``--workers``: worker processes for loading and CPU inpainters, ≥ 0; None keeps
        ``workers`` of the configuration.
    seed : int or None
        ``--seed``: seed of the pairing, ≥ 0; None keeps ``seed`` of the configuration.
    limit_per_bin : int or None
        ``--limit-per-bin``: masks scored per (bin, class), 0 = all; None keeps
        ``limit_per_bin`` of the configuration.
    reuse_images : bool or None
        ``--reuse-images``: allow fewer images than masks; None keeps ``reuse_images`` of the
        configuration.
    save_images : bool or None
        ``--save-images``: write every pair's images; None keeps ``save_images`` of the
        configuration.
    shard : str or None
        ``--shard``: ``"K/N"`` or ``"auto"``; None keeps ``shard`` of the configuration.
    no_inception : bool
        ``--no-inception``: skip the Inception Score and FID (False keeps ``inception`` of the
        configuration).
    overwrite : bool
        ``--overwrite``: delete the results of an existing run in ``out_dir`` and start again.
    config_file : Path or None
        ``--config``: a TOML file whose keys replace those of ``configs/score.toml``.
    """
    config = ScoreConfig.load(
        config_file,
        device=device,
        shard=shard,
        invert_masks=invert_masks,
        batch_size=batch_size,
        workers=workers,
        seed=seed,
        limit_per_bin=limit_per_bin,
        reuse_images=reuse_images,
        save_images=save_images,
        inception=False if no_inception else None,
        size=size,
        upscale_small_images=upscale_small_images,
    )
    run = score(list(models), images, testset, out_dir, config=config, overwrite=overwrite)
    if quiet_rank():  # under torchrun, rank 0 reports for all
        return
    if run.unreadable:
        click.echo(
            f"skipped {len(run.unreadable)} unreadable image(s), e.g. {run.unreadable[0]} (listed in meta.json)",
            err=True,
        )
    click.echo((run.out_dir / "table1.md").read_text("utf-8"))
    done = ", ".join(f"{spec}: {count}" for spec, count in run.computed.items())
    click.echo(f"scored {run.pairs} pairs (newly computed: {done})")
    click.echo(f"wrote pairs.csv, table1.csv, table1.md, metrics.png, samples.png and meta.json to {run.out_dir}")


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Folder for the merged table and plots."
)
@click.option(
    "--paper",
    is_flag=True,
    default=False,
    help="Add the published rows of Liu et al. 2018, Table 1 (PM, GL, GnIpt, Conv, PConv) to the table and plots.",
)
@overwrite_option
@reports_user_errors
def report_command(run_dirs: tuple[Path, ...], out_dir: Path, paper: bool, overwrite: bool) -> None:
    """Merge score folders (shards of one run, or runs of other models) into one Table 1 and plots.

    With --paper the published figures of Liu et al. 2018 come beside ours: l1, PSNR and SSIM
    (Places2; their SSIM beside our SSIM_paper), and their IScore (ImageNet) apart.

    \b
    Example:
      maskbench report shard1/ shard2/ shard3/ --out results/ --paper

    \f

    Parameters
    ----------
    run_dirs : tuple of Path
        The score folders to merge (``--out`` of ``maskbench score``), at least one, of one
        pairing.
    out_dir : Path
        ``--out``: where the merged ``pairs.csv``, Table 1 and plots go; may be one of
        ``run_dirs``.
    paper : bool
        ``--paper``: add the published rows of Liu et al. 2018.
    overwrite : bool
        ``--overwrite``: replace a report in ``out_dir`` (when it is not one of ``run_dirs``).
    """
    report = write_report(list(run_dirs), out_dir, overwrite=overwrite, paper=paper)
    click.echo((report.out_dir / "table1.md").read_text("utf-8"))
    click.echo(f"merged {len(run_dirs)} folder(s): {report.pairs} pairs, models {', '.join(report.models)}")
    click.echo(f"wrote pairs.csv, table1.csv, table1.md, metrics.png, samples.png and meta.json to {report.out_dir}")


COMMANDS = [score_command, report_command]
