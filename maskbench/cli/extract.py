"""``maskbench extract`` and ``maskbench merge-stores``: occlusion masks from videos."""

from __future__ import annotations

from pathlib import Path

import click

import flow
from maskbench.cli.common import (
    config_option,
    device_option,
    overwrite_option,
    reports_user_errors,
    workers_option,
)
from maskbench.distributed import quiet_rank
from maskbench.extract import extract_videos
from maskbench.extract_config import ExtractConfig
from maskbench.flow_choice import AUTO_METHOD
from maskbench.merging import merge_stores


@click.command("extract")
@click.option(
    "--videos",
    "videos_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder of video files (.mp4 .avi .mov .mkv .webm ...) and/or folders of numbered frames.",
)
@click.option(
    "--out",
    "store",
    required=True,
    type=click.Path(path_type=Path),
    help="Mask store to write (resumed when it exists).",
)
@click.option(
    "--method",
    type=click.Choice((AUTO_METHOD, *flow.FLOW_METHODS)),
    default=None,
    help="Optical flow: auto = tvl1 on CUDA, else the config's cpu_method; tvl1 is PyTorch "
    "(on --device), the others OpenCV on the CPU. Pin one to get the same masks on every machine. [config]",
)
@click.option(
    "--occlusion",
    type=click.Choice(("default", *flow.OCCLUSION_METHODS)),
    default=None,
    help=f"Occlusion test; default = {flow.DEFAULT_OCCLUSION_METHOD}. [config]",
)
@device_option
@click.option(
    "--stride", type=click.IntRange(min=1), default=None, help="Take the pair (t, t+1) for every S-th frame t. [config]"
)
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Frame pairs per flow call. [config]")
@click.option(
    "--working-size", type=click.IntRange(min=32), default=None, help="Shorter side of the frames, pixels. [config]"
)
@workers_option
@click.option(
    "--threads",
    type=click.IntRange(min=0),
    default=None,
    help="CPU threads of torch and OpenCV; 0 = the cores not busy at the start. [config]",
)
@click.option(
    "--allow-mixed-methods",
    is_flag=True,
    default=False,
    help="Append to a store that holds masks of another flow method or occlusion test. [config]",
)
@click.option(
    "--shard",
    default=None,
    help="Process only part K (from 1) of N of the videos, K/N (1/1: all); auto: this task's place "
    "in a SLURM job array. [config]",
)
@overwrite_option
@config_option
@reports_user_errors
def extract_command(
    videos_dir: Path,
    store: Path,
    method: str | None,
    occlusion: str | None,
    device: str | None,
    stride: int | None,
    batch_size: int | None,
    working_size: int | None,
    workers: int | None,
    threads: int | None,
    allow_mixed_methods: bool,
    shard: str | None,
    overwrite: bool,
    config_file: Path | None,
) -> None:
    """Occlusion and disocclusion masks of consecutive video frames, into a mask store.

    Each video is appended to the store in one atomic step, so a rerun skips the videos
    already done and an interrupted run loses at most the videos in progress.

    The default --method auto depends on the device (TV-L1 on a GPU, DIS on a CPU); the
    store records the method and refuses to mix two unless --allow-mixed-methods.

    \f

    Parameters
    ----------
    videos_dir : Path
        ``--videos``: the collection (:func:`maskbench.extract.extract_videos`).
    store : Path
        ``--out``: the mask store to write or resume.
    method : str or None
        ``--method``: ``"auto"`` or one of :data:`flow.FLOW_METHODS`; None keeps ``method``
        of the configuration.
    occlusion : str or None
        ``--occlusion``: ``"default"`` or one of :data:`flow.OCCLUSION_METHODS`; None keeps
        ``occlusion`` of the configuration.
    device : str or None
        ``--device``: ``"auto"``, ``"cpu"``, ``"cuda:1"``, ...; None keeps ``device`` of the
        configuration.
    stride : int or None
        ``--stride``, ≥ 1; None keeps ``stride`` of the configuration.
    batch_size : int or None
        ``--batch-size``, ≥ 1; None keeps ``batch_size`` of the configuration.
    working_size : int or None
        ``--working-size``, pixels, ≥ 32; None keeps ``working_size`` of the configuration.
    workers : int or None
        ``--workers``, ≥ 0; None keeps ``workers`` of the configuration.
    threads : int or None
        ``--threads``, ≥ 0 (0 = the free cores); None keeps ``threads`` of the configuration.
    allow_mixed_methods : bool
        ``--allow-mixed-methods``: True turns it on; False keeps the configuration's value.
    shard : str or None
        ``--shard``: ``"K/N"`` or ``"auto"``; None keeps ``shard`` of the configuration.
    overwrite : bool
        ``--overwrite``: start from an empty store instead of resuming.
    config_file : Path or None
        ``--config``: a TOML file whose keys replace those of ``configs/extract.toml``.
    """
    config = ExtractConfig.load(
        config_file,
        method=method,
        occlusion=occlusion,
        device=device,
        stride=stride,
        batch_size=batch_size,
        working_size=working_size,
        workers=workers,
        threads=threads,
        shard=shard,
        allow_mixed_methods=allow_mixed_methods or None,  # the flag only ever turns it on
    )
    summary = extract_videos(videos_dir, store, config=config, overwrite=overwrite)
    if not quiet_rank():  # under torchrun, rank 0 reports for all
        click.echo(summary.to_text())
        click.echo(f"masks written to {store}")


@click.command("merge-stores")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "store",
    required=True,
    type=click.Path(path_type=Path),
    help="Mask store to merge into (created when missing).",
)
@overwrite_option
@click.option(
    "--allow-mixed-methods",
    is_flag=True,
    default=False,
    help="Merge stores whose masks come from different flow methods or occlusion tests.",
)
@reports_user_errors
def merge_stores_command(sources: tuple[Path, ...], store: Path, overwrite: bool, allow_mixed_methods: bool) -> None:
    """Join mask stores (e.g. the shards of 'extract --shard K/N') into one.

    Groups (videos) that the output already holds are skipped and listed, so the merge can
    be rerun to add shards that finished later.

    \f

    Parameters
    ----------
    sources : tuple of Path
        ``SOURCES``: the mask stores to read, in order (:func:`maskbench.merging.merge_stores`).
    store : Path
        ``--out``: the store to merge into.
    overwrite : bool
        ``--overwrite``: empty the output store first.
    allow_mixed_methods : bool
        ``--allow-mixed-methods``: allow stores of different flow methods or occlusion tests.
    """
    summary = merge_stores(sources, store, overwrite=overwrite, allow_mixed_methods=allow_mixed_methods)
    click.echo(summary.to_text())


COMMANDS = [extract_command, merge_stores_command]
