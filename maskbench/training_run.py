"""The run folder of ``maskbench train``: its layout, checkpoints, record and log.

A run folder holds::

    RUN/run.json                     architecture, model options, data paths, the configuration
                                     (``steps``: the step asked for), step and phase reached
    RUN/checkpoints/step-NNNNNNNN.pt  arch, model options, config, phase, step, model, optimizer
    RUN/checkpoints/step-NNNNNNNN.weights.pt   the same without the optimizer: for scoring
    RUN/checkpoints/step-NNNNNNNN-finetune.pt   the same, fine-tuning phase (and .weights.pt)
    RUN/log.csv                      step, phase, lr, images/s and the mean of every loss term
    RUN/samples/step-NNNNNNNN.png    rows: input with hole (white), output, composite, truth

Checkpoints are written atomically; the newest ``keep_checkpoints`` of each phase are kept,
so the last initial-phase checkpoint survives fine-tuning. The configuration recorded in
``run.json`` and in checkpoints is :meth:`TrainConfig.recorded() <maskbench.train_config.TrainConfig.recorded>`.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from maskbench.errors import InputError, OutputExistsError
from maskbench.files import atomic_path
from maskbench.losses import TERMS
from maskbench.models.checkpoints import CHECKPOINT_FORMAT, read_checkpoint
from maskbench.models.unet import Architecture
from maskbench.run_record import write_run_record
from maskbench.train_config import TrainConfig

Phase = Literal["initial", "finetune"]
#: Version of the checkpoint layout written by :func:`save_checkpoint`.
CHECKPOINT_VERSION = 1
#: Columns of ``RUN/log.csv``.
LOG_COLUMNS: tuple[str, ...] = ("step", "phase", "learning_rate", "images_per_second", *TERMS, "total")
_PHASE_SUFFIX: dict[str, str] = {"initial": "", "finetune": "-finetune"}


@dataclass
class RunState:
    """Where a run stands: what it trains, its phase and step, and the states it continues from.

    Attributes
    ----------
    arch : {"pconv", "conv"}
        The architecture.
    model_options : dict
        Constructor keywords of the U-Net (:meth:`TrainConfig.model_options`).
    phase : {"initial", "finetune"}
        The phase.
    step : int
        Total steps done, >= 0 (advanced by the training loop).
    phase_start : int
        The total step at which the phase began, >= 0.
    model_state, optimizer_state : dict or None
        State dicts to load; None for a new run (and the optimizer of a new phase).
    """

    arch: Architecture
    model_options: dict[str, Any]
    phase: Phase
    step: int
    phase_start: int
    model_state: dict[str, Any] | None
    optimizer_state: dict[str, Any] | None


def checkpoint_path(run: Path, step: int, phase: Phase) -> Path:
    """``RUN/checkpoints/step-NNNNNNNN.pt`` (initial phase) or ``step-NNNNNNNN-finetune.pt``.

    Parameters
    ----------
    run : Path
        The run folder.
    step : int
        Total step, >= 0.
    phase : {"initial", "finetune"}
        The phase.

    Returns
    -------
    Path
    """
    return run / "checkpoints" / f"step-{step:08d}{_PHASE_SUFFIX[phase]}.pt"


def weights_path(checkpoint: Path) -> Path:
    """The weights-only twin of a checkpoint: ``step-NNNNNNNN.weights.pt`` beside ``step-NNNNNNNN.pt``.

    Parameters
    ----------
    checkpoint : Path
        A checkpoint's path.

    Returns
    -------
    Path
    """
    return checkpoint.with_name(f"{checkpoint.stem}.weights.pt")


def sample_path(run: Path, step: int) -> Path:
    """``RUN/samples/step-NNNNNNNN.png``, the sample grid of a total step.

    Parameters
    ----------
    run : Path
        The run folder.
    step : int
        Total step, >= 0.

    Returns
    -------
    Path
        The PNG's path (the file may not exist yet).
    """
    return run / "samples" / f"step-{step:08d}.png"


def phase_checkpoints(run: str | Path, phase: Phase) -> list[Path]:
    """The checkpoints of one phase in a run folder.

    Parameters
    ----------
    run : path-like
        The run folder.
    phase : {"initial", "finetune"}
        The phase.

    Returns
    -------
    list of Path
        Oldest first; without the weights-only twins.
    """
    return sorted((Path(run) / "checkpoints").glob(f"step-{'[0-9]' * 8}{_PHASE_SUFFIX[phase]}.pt"))


def latest_checkpoint(run: str | Path) -> Path | None:
    """The checkpoint of the highest step in a run folder.

    Parameters
    ----------
    run : path-like
        The run folder.

    Returns
    -------
    Path or None
        None when the folder holds no checkpoint.
    """
    paths = phase_checkpoints(run, "initial") + phase_checkpoints(run, "finetune")
    return max(paths, key=lambda path: path.name[5:13]) if paths else None


def read_latest_state(run: Path) -> RunState:
    """The state saved in the newest checkpoint of a run folder.

    Parameters
    ----------
    run : Path
        The run folder.

    Returns
    -------
    RunState
        With the model's and the optimizer's state dicts.

    Raises
    ------
    InputError
        No checkpoint, or a file that is not a maskbench checkpoint.
    """
    found = latest_checkpoint(run)
    if found is None:
        raise InputError(f"{run} has no checkpoint to continue from; start a new run without --resume/--finetune")
    checkpoint = read_checkpoint(found)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{found} is not a maskbench checkpoint")
    return RunState(
        checkpoint["arch"],
        dict(checkpoint["model_config"]),
        checkpoint["phase"],
        int(checkpoint["step"]),
        int(checkpoint["phase_start"]),
        checkpoint["model"],
        checkpoint["optimizer"],
    )


def refuse_existing_run(run: Path, *, overwrite: bool) -> None:
    """Refuse to start a new run in a folder that is not empty, unless it is a run to replace.

    Parameters
    ----------
    run : Path
        The run folder of the new run.
    overwrite : bool
        Whether an existing run folder may be replaced.

    Raises
    ------
    OutputExistsError
        The folder exists and is not empty, and ``overwrite`` is false or it is not a run folder.
    """
    if run.exists() and (not run.is_dir() or any(run.iterdir())):
        if not overwrite:
            raise OutputExistsError(
                f"run folder {run} already exists; continue it with --resume, or pass --overwrite to replace it"
            )
        if not (run / "run.json").is_file():
            raise OutputExistsError(f"{run} is not a maskbench run folder (no run.json); refusing to replace it")


def prepare_run_folder(
    run: Path,
    state: RunState,
    config: TrainConfig,
    *,
    images: Path,
    masks: Path,
    new: bool,
    overwrite: bool,
    world_size: int,
) -> None:
    """Create (a new run) or trim (an existing one) the run folder, and record the call.

    Parameters
    ----------
    run : Path
        The run folder (:func:`refuse_existing_run` has accepted it for a new run).
    state : RunState
        Where the run starts from.
    config : TrainConfig
        The settings of the call.
    images, masks : Path
        Image folder and mask store.
    new : bool
        A new run: the folder is emptied (``overwrite``) and created.
    overwrite : bool
        Replace an existing run folder.
    world_size : int
        Processes of this call, >= 1.
    """
    if new:
        if run.exists() and overwrite:
            shutil.rmtree(run)
        (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    record_run(run, state, config, images=images, masks=masks, world_size=world_size)
    _truncate_log(run / "log.csv", state.step)


def record_run(run: Path, state: RunState, config: TrainConfig, *, images: Path, masks: Path, world_size: int) -> None:
    """Write ``run.json``: what the run is, its settings, the step reached, the processes of the last call.

    Parameters
    ----------
    run : Path
        The run folder.
    state : RunState
        Architecture, model options, step and phase reached.
    config : TrainConfig
        The settings; ``steps`` is the stop asked for. :data:`maskbench.train_config.CALL_KEYS`
        are not recorded.
    images, masks : Path
        Image folder and mask store (recorded resolved).
    world_size : int
        Processes of the last call, >= 1 (``batch_size`` is the global batch).
    """
    record = {
        "arch": state.arch,
        "model_config": state.model_options,
        "images": str(images.resolve()),
        "masks": str(masks.resolve()),
        "config": config.recorded(),
        "step": state.step,
        "phase": state.phase,
        "world_size": world_size,
    }
    write_run_record(run, record)


def save_checkpoint(
    run: Path, state: RunState, config: TrainConfig, *, model: dict[str, Any], optimizer: dict[str, Any]
) -> Path:
    """Write the checkpoint of the current step and its weights-only twin, and drop old ones.

    Parameters
    ----------
    run : Path
        The run folder.
    state : RunState
        Architecture, model options, phase, its start and the step.
    config : TrainConfig
        The settings (recorded); ``keep_checkpoints`` of the phase are kept.
    model, optimizer : dict
        State dicts of the network and of the optimizer.

    Returns
    -------
    Path
        The checkpoint written.
    """
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "arch": state.arch,
        "model_config": state.model_options,
        "config": config.recorded(),
        "phase": state.phase,
        "phase_start": state.phase_start,
        "step": state.step,
        "model": model,
        "optimizer": optimizer,
    }
    path = checkpoint_path(run, state.step, state.phase)
    with atomic_path(path) as temp:
        torch.save(checkpoint, temp)
    weights_only = {key: value for key, value in checkpoint.items() if key != "optimizer"}
    with atomic_path(weights_path(path)) as temp:
        torch.save(weights_only, temp)
    for old in phase_checkpoints(run, state.phase)[: -config.keep_checkpoints]:
        old.unlink()
        weights_path(old).unlink(missing_ok=True)
    return path


def append_log_row(run: Path, row: dict[str, Any]) -> None:
    """Add a row to ``RUN/log.csv`` (with the header when the file is new).

    Parameters
    ----------
    run : Path
        The run folder.
    row : dict
        A value for every column of :data:`LOG_COLUMNS`.
    """
    path = run / "log.csv"
    new = not path.is_file()
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def _truncate_log(path: Path, step: int) -> None:
    """Drop log rows past ``step`` (written after the checkpoint we continue from) and torn lines."""
    if not path.is_file():
        return
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    kept = [rows[0]] + [row for row in rows[1:] if len(row) == len(LOG_COLUMNS) and int(row[0]) <= step]
    if len(kept) != len(rows):
        with atomic_path(path) as temp, open(temp, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(kept)
