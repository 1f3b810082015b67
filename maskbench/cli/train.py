"""``maskbench train``: train the PConv or Conv U-Net (paper sections 3.3 and 4.2)."""

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
from maskbench.train import train
from maskbench.train_config import TrainConfig
from maskbench.training_run import weights_path


@click.command("train")
@click.option(
    "--arch",
    type=click.Choice(["pconv", "conv"]),
    default=None,
    help="Network of a new run: partial-convolution or plain-convolution U-Net.",
)
@click.option(
    "--images",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of training images (random crops). Recorded in the run.",
)
@click.option(
    "--masks",
    type=click.Path(path_type=Path),
    default=None,
    help="Mask store of raw masks, augmented on the fly. Recorded in the run.",
)
@click.option(
    "--out",
    "run",
    required=True,
    type=click.Path(path_type=Path),
    help="Run folder: checkpoints/, log.csv, samples/, run.json.",
)
@click.option(
    "--finetune",
    is_flag=True,
    default=None,
    help="Fine-tuning phase on an existing run: lr 5e-5, encoder BatchNorm frozen. [config]",
)
@click.option(
    "--resume", is_flag=True, default=None, help="Continue an existing run from its newest checkpoint. [config]"
)
@click.option(
    "--steps",
    "stop_step",
    type=click.IntRange(min=1),
    default=None,
    help="Stop at this total step. [config: stop_step; default steps, fine-tuning: its start + finetune_steps]",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Images per step. [config]")
@click.option(
    "--size",
    "image_size",
    type=click.IntRange(min=8),
    default=None,
    help="Side of the crops and masks, px. [config: image_size]",
)
@device_option
@workers_option
@seed_option
@overwrite_option
@config_option
@reports_user_errors
def train_command(
    arch: str | None,
    images: Path | None,
    masks: Path | None,
    run: Path,
    finetune: bool | None,
    resume: bool | None,
    stop_step: int | None,
    batch_size: int | None,
    image_size: int | None,
    device: str | None,
    workers: int | None,
    seed: int | None,
    overwrite: bool,
    config_file: Path | None,
) -> None:
    """Train a U-Net with the loss of eq. (7) on image crops and augmented masks.

    \b
    A new run:        maskbench train --arch pconv --images photos/ --masks raw.store --out runs/pconv
    After Ctrl-C:     maskbench train --out runs/pconv --resume
    Fine-tuning:      maskbench train --out runs/pconv --finetune
    Then score with:  maskbench score --model runs/pconv/checkpoints/step-NNNNNNNN-finetune.weights.pt ...

    --resume and --finetune continue with the settings recorded in RUN/run.json (size, batch,
    config, ...); options that would change them are refused. Needs torchvision's VGG-16
    ImageNet weights (vgg16-397923af.pth) for the loss.

    \f

    Parameters
    ----------
    arch : {"pconv", "conv"} or None
        ``--arch``: the network of a new run; None for a run that continues (its own).
    images : Path or None
        ``--images``: folder of training images; None for a run that continues (the recorded
        one) (:func:`maskbench.train.train`).
    masks : Path or None
        ``--masks``: mask store of raw masks; None for a run that continues (the recorded one).
    run : Path
        ``--out``: the run folder.
    finetune : bool or None
        ``--finetune``: the fine-tuning phase of an existing run; None keeps ``finetune`` of
        the configuration.
    resume : bool or None
        ``--resume``: continue an existing run; None keeps ``resume`` of the configuration.
    stop_step : int or None
        ``--steps``: total step to stop at, ≥ 1; None keeps ``stop_step`` of the configuration.
    batch_size : int or None
        ``--batch-size``: images per step over all ranks, ≥ 1; None keeps ``batch_size`` of the
        configuration (or of the run).
    image_size : int or None
        ``--size``: side of the crops and masks, px, ≥ 8; None keeps ``image_size`` of the
        configuration (or of the run).
    device : str or None
        ``--device``: ``"auto"``, ``"cpu"``, ``"cuda:1"``, ...; None keeps ``device`` of the
        configuration.
    workers : int or None
        ``--workers``: data-loader workers, ≥ 0; None keeps ``workers`` of the configuration.
    seed : int or None
        ``--seed``, ≥ 0; None keeps ``seed`` of the configuration (or of the run).
    overwrite : bool
        ``--overwrite``: replace an existing run folder when starting a new run.
    config_file : Path or None
        ``--config``: a TOML file whose keys replace those of ``configs/train.toml`` (or the
        run's changeable keys).
    """
    options = {
        "arch": arch,
        "finetune": finetune,
        "resume": resume,
        "stop_step": stop_step,
        "device": device,
        "batch_size": batch_size,
        "image_size": image_size,
        "workers": workers,
        "seed": seed,
    }
    config = TrainConfig.load(config_file, **options)
    if config.continues_run:  # an existing run keeps the settings it recorded
        config = TrainConfig.load_run(run, config_file, **options)
    result = train(run, images, masks, config=config, overwrite=overwrite)
    click.echo(f"{result.phase} phase at step {result.step}; checkpoint {result.checkpoint}")
    click.echo(
        f"weights for scoring {weights_path(result.checkpoint)}; log {run / 'log.csv'}, sample grids {run / 'samples'}"
    )


COMMANDS = [train_command]
