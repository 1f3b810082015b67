"""Two-phase training of the PConv and Conv U-Nets (Liu et al. 2018, section 4.2).

Phase ``"initial"``: He initialisation, Adam at ``learning_rate`` (2e-4), BatchNorm
everywhere, until step ``steps``. Phase ``"finetune"`` (``finetune = true`` on the same run):
a new Adam at ``finetune_learning_rate`` (5e-5) with the encoder's BatchNorm frozen
(statistics and parameters), for ``finetune_steps`` more steps. The loss is eq. (7)
(:class:`maskbench.losses.InpaintingLoss`); the data are random crops of an image folder
with masks augmented on the fly from a mask store (:mod:`maskbench.data`). The run folder's
layout is that of :mod:`maskbench.training_run`.

Checkpoints are written every ``checkpoint_every`` steps, at the end and on Ctrl-C (the step
in progress is finished first). Every call ends with a log row and a sample grid of its last
step, however short the run. ``resume = true`` continues from the newest checkpoint exactly,
with the settings recorded in ``run.json`` (:meth:`TrainConfig.load_run
<maskbench.train_config.TrainConfig.load_run>`: only workers, checkpoint cadence, the VGG-16
path and the stop may change): the data of step ``s`` are a function of (seed, s) only, so
an interrupted and resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from maskbench.augment import AugmentConfig
from maskbench.data import EpochSampler, TrainingImages, TrainingMasks, TrainingPairs
from maskbench.distributed import (
    Ranks,
    RankSlice,
    any_rank,
    join_job,
    mean_over_ranks,
    on_main,
    rank_batch_size,
    rank_device,
    unwrapped,
    wait_for_all,
    wrap_for_ranks,
)
from maskbench.errors import ConfigError, InputError
from maskbench.files import write_image
from maskbench.interrupts import Interrupted, interrupt_requested
from maskbench.losses import TERMS, InpaintingLoss, VGG16Features
from maskbench.models.unet import ARCHITECTURES, build_unet, he_initialize
from maskbench.progress import progress_bar
from maskbench.run_record import read_run_record, refuse_changed_settings
from maskbench.train_config import TrainConfig
from maskbench.training_run import (
    Phase,
    RunState,
    append_log_row,
    checkpoint_path,
    prepare_run_folder,
    read_latest_state,
    record_run,
    refuse_existing_run,
    sample_path,
    save_checkpoint,
)


@dataclass(frozen=True)
class TrainResult:
    """Where a training call stopped.

    Attributes
    ----------
    run : Path
        The run folder.
    checkpoint : Path
        The checkpoint of the last step.
    step : int
        Total steps done, >= 1.
    phase : {"initial", "finetune"}
        The phase of the last step.
    """

    run: Path
    checkpoint: Path
    step: int
    phase: Phase


class TrainingInterrupted(Interrupted):
    """Ctrl-C during training; a checkpoint of the last finished step was written.

    Parameters
    ----------
    run : Path
        The run folder.
    step : int
        The last finished step, saved.
    checkpoint : Path
        Its checkpoint.
    """

    def __init__(self, run: Path, step: int, checkpoint: Path) -> None:
        super().__init__(f"step {step} is saved in {checkpoint}", resume_arguments=["--out", str(run), "--resume"])
        self.step = step
        self.checkpoint = checkpoint


def train(
    run: str | Path,
    images: str | Path | None = None,
    masks: str | Path | None = None,
    *,
    config: TrainConfig | None = None,
    overwrite: bool = False,
    augment: AugmentConfig | None = None,
    feature_extractor: nn.Module | None = None,
) -> TrainResult:
    """Train a U-Net into the run folder ``run``; see :mod:`maskbench.training_run` for its layout.

    Parameters
    ----------
    run : path-like
        Run folder. A new run refuses an existing folder unless ``overwrite``.
    images, masks : path-like, optional
        Image folder and mask store; needed by a new run, and an existing run defaults to the
        ones it recorded.
    config : TrainConfig, optional
        Settings; default ``TrainConfig.load()`` (a new run). ``config.resume`` or
        ``config.finetune`` continue an existing run: build the config with
        :meth:`TrainConfig.load_run` to take the settings the run recorded; a config given
        must keep every recorded key except those of
        :data:`maskbench.run_record.CHANGEABLE_ON_RESUME`. ``config.arch``, when not "", must
        be the run's.
    overwrite : bool
        Replace an existing run folder when starting a new run.
    augment : AugmentConfig, optional
        Mask augmentation ranges; default ``AugmentConfig.load()``.
    feature_extractor : nn.Module, optional
        For the perceptual and style losses; default the ImageNet VGG-16
        (:class:`maskbench.losses.VGG16Features`, from ``config.vgg16_weights``).

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingInterrupted
        On Ctrl-C, after writing a checkpoint.
    ConfigError
        Settings that conflict with those an existing run recorded; no ``arch`` or data for a
        new run; a stop that is not past the run's step.
    InputError
        An existing run without a checkpoint or a readable ``run.json``.
    OutputExistsError
        A new run in an existing folder without ``overwrite``.
    """
    run = Path(run)
    ranks = join_job()
    config = _call_config(run, config)
    torch_device = rank_device(config.device, ranks)
    rank_batch_size(config.batch_size, ranks)  # refuse a global batch the ranks cannot share, before any work
    state, images, masks = _start_state(run, config, images=images, masks=masks, overwrite=overwrite)
    stop = config.stop_step or (config.steps if state.phase == "initial" else state.phase_start + config.finetune_steps)
    if stop <= state.step:
        raise ConfigError(
            f"{run} is at step {state.step} already; ask for more steps (--steps greater than {state.step})"
        )
    config = _with_stop(config, state, stop)
    if feature_extractor is None:
        feature_extractor = VGG16Features(config.vgg16_weights or None)
    pairs = TrainingPairs(
        TrainingImages(images, seed=config.seed, size=config.image_size, upscale=config.upscale_small_images),
        TrainingMasks(masks, augment=augment, seed=config.seed, size=config.image_size),
    )
    model, optimizer = _model_and_optimizer(state, config, torch_device)
    model = wrap_for_ranks(model, torch_device, ranks)
    loss_function = InpaintingLoss(feature_extractor.to(torch_device), weights=config.loss_weights())
    wait_for_all(ranks)  # every rank has read the run folder before rank 0 changes it
    new = not config.continues_run
    on_main(
        lambda: prepare_run_folder(
            run, state, config, images=images, masks=masks, new=new, overwrite=overwrite, world_size=ranks.size
        ),
        ranks,
    )
    loop = _Loop(run, config, state, model, optimizer, loss_function, pairs, torch_device, ranks)
    try:
        return loop.run(stop)
    finally:
        if ranks.main:
            record_run(run, state, config, images=images, masks=masks, world_size=ranks.size)


def _call_config(run: Path, config: TrainConfig | None) -> TrainConfig:
    """The settings of this call (default: a new run's); those of an existing run keep its recorded keys."""
    if config is None:
        return TrainConfig.load()
    if config.continues_run:
        refuse_changed_settings(read_run_record(run)["config"], config.recorded(), run=run)
    return config


def _with_stop(config: TrainConfig, state: RunState, stop: int) -> TrainConfig:
    """``config`` whose ``steps`` (initial phase) or ``finetune_steps`` ends the phase at ``stop``."""
    if state.phase == "initial":
        return dataclasses.replace(config, steps=stop)
    return dataclasses.replace(config, finetune_steps=stop - state.phase_start)


def _start_state(
    run: Path, config: TrainConfig, *, images: str | Path | None, masks: str | Path | None, overwrite: bool
) -> tuple[RunState, Path, Path]:
    """The state a call starts from, and the data paths."""
    if config.continues_run:
        return _continued_state(run, config, images=images, masks=masks)
    if config.arch not in ARCHITECTURES:
        raise ConfigError("a new run needs " + " or ".join(f"--arch {name}" for name in ARCHITECTURES))
    if images is None or masks is None:
        raise ConfigError("a new run needs --images DIR and --masks STORE")
    refuse_existing_run(run, overwrite=overwrite)
    return (
        RunState(config.arch, config.model_options(config.arch), "initial", 0, 0, None, None),
        Path(images),
        Path(masks),
    )


def _continued_state(
    run: Path, config: TrainConfig, *, images: str | Path | None, masks: str | Path | None
) -> tuple[RunState, Path, Path]:
    """The state an existing run continues from (a new fine-tuning phase: no optimizer state), and its data paths."""
    state = read_latest_state(run)
    if config.arch and config.arch != state.arch:
        raise ConfigError(f"{run} trains {state.arch!r}, not {config.arch!r}; drop --arch or pick another --out")
    recorded = read_run_record(run)
    if config.finetune and state.phase == "initial":
        state.phase, state.phase_start, state.optimizer_state = "finetune", state.step, None
    try:
        images_path = Path(images if images is not None else recorded["images"])
        masks_path = Path(masks if masks is not None else recorded["masks"])
    except KeyError:
        raise InputError(f"{run}/run.json does not record the data; pass --images and --masks") from None
    return state, images_path, masks_path


def _model_and_optimizer(
    state: RunState, config: TrainConfig, device: torch.device
) -> tuple[nn.Module, torch.optim.Adam]:
    model = build_unet(state.arch, **state.model_options)
    if state.model_state is None:
        he_initialize(model, generator=torch.Generator().manual_seed(config.seed))
    else:
        model.load_state_dict(state.model_state)
    if state.phase == "finetune":
        model.freeze_encoder_batchnorm()
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    learning_rate = config.learning_rate if state.phase == "initial" else config.finetune_learning_rate
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=learning_rate, betas=config.adam_betas)
    if state.optimizer_state is not None:
        optimizer.load_state_dict(state.optimizer_state)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
    return model, optimizer


class _Loop:
    """The training loop of one call; keeps the running sums of the log."""

    def __init__(
        self,
        run: Path,
        config: TrainConfig,
        state: RunState,
        model: nn.Module,
        optimizer: torch.optim.Adam,
        loss_function: InpaintingLoss,
        pairs: TrainingPairs,
        device: torch.device,
        ranks: Ranks,
    ) -> None:
        self.run_folder, self.config, self.state = run, config, state
        self.model, self.optimizer, self.loss_function = model, optimizer, loss_function
        self.network = unwrapped(model)  # what checkpoints and sample grids use
        self.pairs, self.device, self.ranks = pairs, device, ranks
        self.use_bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
        self.sums: dict[str, float] = {}
        self.window_start = time.perf_counter()
        self.window_images = 0
        self.sampled_step = -1
        self.saved_step = -1

    def run(self, stop: int) -> TrainResult:
        """Train up to total step ``stop``; the result, or :class:`TrainingInterrupted` on Ctrl-C.

        Parameters
        ----------
        stop : int
            Total step to stop at, greater than the run's current step.

        Returns
        -------
        TrainResult
            The run folder, the checkpoint of step ``stop`` and the phase.

        Raises
        ------
        TrainingInterrupted
            On Ctrl-C, after the step in progress and a checkpoint of it.
        """
        loader = self._loader(stop)
        self.model.train()
        try:
            self._take_steps(loader, stop)
        except KeyboardInterrupt:
            raise TrainingInterrupted(self.run_folder, self.state.step, self._finish()) from None
        return TrainResult(self.run_folder, self._finish(), self.state.step, self.state.phase)

    def _loader(self, stop: int) -> DataLoader:
        """The batches of this rank for the steps after the current one up to ``stop``."""
        batch = self.config.batch_size
        sampler = RankSlice(
            EpochSampler(len(self.pairs), seed=self.config.seed, first=self.state.step * batch, stop=stop * batch),
            global_batch=batch,
            ranks=self.ranks,
        )
        return DataLoader(
            self.pairs,
            batch_size=sampler.rank_batch,
            sampler=sampler,
            num_workers=self.config.workers,
            pin_memory=self.device.type == "cuda",
            multiprocessing_context="forkserver" if self.config.workers > 0 else None,
        )

    def _take_steps(self, loader: DataLoader, stop: int) -> None:
        """One step per batch, with a progress bar; KeyboardInterrupt after the step in progress on Ctrl-C."""
        batch = self.config.batch_size
        bar = progress_bar(
            total=(stop - self.state.step) * batch,
            desc=f"train {self.state.arch} ({self.state.phase})",
            unit="img",
            enabled=self.ranks.main,
        )
        with bar, interrupt_requested() as interrupt:
            for items in loader:
                terms = self._step(items)
                bar.update(batch)
                bar.set_postfix(loss=f"{terms['total']:.4f}")
                self._after_step(terms)
                # torchrun's ranks see a Ctrl-C at different steps: all stop at one
                if any_rank(interrupt.is_set(), self.ranks):
                    raise KeyboardInterrupt

    def _finish(self) -> Path:
        """End a call: the log row, sample grid and checkpoint of the last step, if not written yet."""
        if self.sums:
            self._log_row()
        if self.config.sample_count and self.sampled_step != self.state.step:
            self._write_samples()
        return self._save() if self.saved_step != self.state.step else self._path()

    def _step(self, items: dict[str, torch.Tensor]) -> dict[str, float]:
        memory_format = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        image = items["image"].to(self.device, non_blocking=True).contiguous(memory_format=memory_format)
        valid_mask = items["valid_mask"].to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
            output = self.model(image * valid_mask, valid_mask)
            terms = self.loss_function(output, image, valid_mask)
        self.optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        self.optimizer.step()
        self.state.step += 1
        return {name: float(value.detach()) for name, value in terms.items()}

    def _after_step(self, terms: dict[str, float]) -> None:
        config, step = self.config, self.state.step
        for name, value in terms.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.window_images += config.batch_size
        if step % config.log_every == 0:
            self._log_row()
        if config.sample_count and step % config.sample_every == 0:
            self._write_samples()
        if step % config.checkpoint_every == 0:
            self._save()

    def _log_row(self) -> None:
        """Add a row of the means since the last row (over all ranks) to ``log.csv`` (rank 0 writes)."""
        self.sums = mean_over_ranks(self.sums, self.ranks)
        if self.ranks.main:
            append_log_row(self.run_folder, self._log_values())
        self.sums, self.window_images, self.window_start = {}, 0, time.perf_counter()

    def _log_values(self) -> dict[str, Any]:
        """The log row of the steps since the last row: step, phase, lr, images/s and the mean terms."""
        steps = self.window_images / self.config.batch_size
        seconds = time.perf_counter() - self.window_start
        return {
            "step": self.state.step,
            "phase": self.state.phase,
            "learning_rate": self.optimizer.param_groups[0]["lr"],
            "images_per_second": f"{self.window_images / max(seconds, 1e-9):.3f}",
            **{name: f"{self.sums[name] / steps:.6g}" for name in (*TERMS, "total")},
        }

    @torch.no_grad()
    def _write_samples(self) -> None:
        self.sampled_step = self.state.step
        if not self.ranks.main:
            return
        count = min(self.config.sample_count, len(self.pairs))
        items = [self.pairs[(0, index)] for index in range(count)]
        image = torch.stack([item["image"] for item in items]).to(self.device)
        valid_mask = torch.stack([item["valid_mask"] for item in items]).to(self.device)
        self.network.eval()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
            output = self.network(image * valid_mask, valid_mask).float().clamp(0, 1)
        self.network.train()
        shown_input = image * valid_mask + (1 - valid_mask)
        comp = image * valid_mask + output * (1 - valid_mask)
        rows = [torch.cat(list(row), dim=2) for row in (shown_input, output, comp, image)]
        grid = torch.cat(rows, dim=1).permute(1, 2, 0).cpu().numpy().astype(np.float32)
        write_image(sample_path(self.run_folder, self.state.step), grid)

    def _save(self) -> Path:
        """Write the checkpoint of this step (rank 0) and drop old ones; its path."""
        self.saved_step = self.state.step
        if not self.ranks.main:
            return self._path()
        return save_checkpoint(
            self.run_folder,
            self.state,
            self.config,
            model=self.network.state_dict(),
            optimizer=self.optimizer.state_dict(),
        )

    def _path(self) -> Path:
        return checkpoint_path(self.run_folder, self.state.step, self.state.phase)
