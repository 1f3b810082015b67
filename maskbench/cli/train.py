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
    """
    options = {
        "arch": arch, "finetune": finetune, "resume": resume, "stop_step": stop_step, "device": device,
        "batch_size": batch_size, "image_size": image_size, "workers": workers, "seed": seed,
    }  # fmt: skip
    config = TrainConfig.load(config_file, **options)
    if config.continues_run:  # an existing run keeps the settings it recorded
        config = TrainConfig.load_run(run, config_file, **options)
    result = train(run, images, masks, config=config, overwrite=overwrite)
    click.echo(f"{result.phase} phase at step {result.step}; checkpoint {result.checkpoint}")
    click.echo(
        f"weights for scoring {weights_path(result.checkpoint)}; log {run / 'log.csv'}, sample grids {run / 'samples'}"
    )


COMMANDS = [train_command]
