"""Two-phase training of the PConv and Conv U-Nets (Liu et al. 2018, section 4.2).

Phase ``"initial"``: He initialisation, Adam at ``learning_rate`` (2e-4), BatchNorm
everywhere, until step ``steps``. Phase ``"finetune"`` (``finetune=True`` on the same run):
a new Adam at ``finetune_learning_rate`` (5e-5) with the encoder's BatchNorm frozen
(statistics and parameters), for ``finetune_steps`` more steps. The loss is eq. (7)
(:class:`maskbench.losses.InpaintingLoss`); the data are random crops of an image folder
with masks augmented on the fly from a mask store (:mod:`maskbench.data`).

A run folder holds::

    RUN/run.json                     architecture, model options, data paths, the configuration
                                     (``steps``: the step asked for), step and phase reached
    RUN/checkpoints/step-NNNNNNNN.pt  arch, model options, config, phase, step, model, optimizer
    RUN/checkpoints/step-NNNNNNNN.weights.pt   the same without the optimizer: for scoring
    RUN/checkpoints/step-NNNNNNNN-finetune.pt   the same, fine-tuning phase (and .weights.pt)
    RUN/log.csv                      step, phase, lr, images/s and the mean of every loss term
    RUN/samples/step-NNNNNNNN.png    rows: input with hole (white), output, composite, truth

Checkpoints are written atomically every ``checkpoint_every`` steps, at the end and on
Ctrl-C (the step in progress is finished first); the newest ``keep_checkpoints`` of each
phase are kept, so the last initial-phase checkpoint survives fine-tuning. Every call ends
with a log row and a sample grid of its last step, however short the run.
``resume=True`` continues from the newest checkpoint exactly, with the settings recorded in
``run.json`` (:mod:`maskbench.run_record`: only workers, checkpoint cadence, the VGG-16 path
and the stop may change): the data of step ``s`` are a function of (seed, s) only, so an
interrupted and resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import csv
import dataclasses
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from maskbench.augment import AugmentConfig
from maskbench.config import build_dataclass, check_known_keys, config_as_dict, default_config_values, load_config, read_toml
from maskbench.data import EpochSampler, TrainingImages, TrainingMasks, TrainingPairs
from maskbench.distributed import (
    RankSlice, Ranks, any_rank, join_job, mean_over_ranks, on_main, rank_batch_size, rank_device, unwrapped, wait_for_all, wrap_for_ranks,
)  # fmt: skip
from maskbench.errors import ConfigError, InputError, OutputExistsError
from maskbench.files import atomic_path, write_image
from maskbench.interrupts import Interrupted, interrupt_requested
from maskbench.losses import TERMS, InpaintingLoss, LossWeights, VGG16Features
from maskbench.models.registry import CHECKPOINT_FORMAT, read_checkpoint
from maskbench.models.unet import ARCHITECTURES, Architecture, HoleFill, build_unet, he_initialize
from maskbench.models.partialconv import Scaling
from maskbench.run_record import read_run_record, refuse_changed_settings, write_run_record

Phase = Literal["initial", "finetune"]
CHECKPOINT_VERSION = 1
LOG_COLUMNS: tuple[str, ...] = ("step", "phase", "learning_rate", "images_per_second", *TERMS, "total")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of ``maskbench train``; defaults and their meaning in ``configs/train.toml``."""

    pconv_scaling: Scaling
    conv_hole_fill: HoleFill
    model_width: float
    image_size: int
    batch_size: int
    workers: int
    seed: int
    learning_rate: float
    steps: int
    finetune_learning_rate: float
    finetune_steps: int
    adam_betas: tuple[float, float]
    precision: Literal["auto", "fp32", "bf16"]
    loss_weight_valid: float
    loss_weight_hole: float
    loss_weight_perceptual: float
    loss_weight_style: float
    loss_weight_tv: float
    vgg16_weights: str
    checkpoint_every: int
    keep_checkpoints: int
    log_every: int
    sample_every: int
    sample_count: int
    upscale_small_images: bool

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values out of range."""
        positive = ("image_size", "batch_size", "steps", "finetune_steps", "checkpoint_every", "keep_checkpoints", "log_every", "sample_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("workers", "seed", "sample_count"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be at least 0, got {getattr(self, name)}")
        for name in ("learning_rate", "finetune_learning_rate"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if not all(0 <= beta < 1 for beta in self.adam_betas):
            raise ConfigError(f"adam_betas must both be in [0, 1), got {list(self.adam_betas)}")
        if not 0 < self.model_width <= 1:
            raise ConfigError(f"model_width must be in (0, 1], got {self.model_width}")
        for name in ("valid", "hole", "perceptual", "style", "tv"):
            if getattr(self, f"loss_weight_{name}") < 0:
                raise ConfigError(f"loss_weight_{name} must be at least 0, got {getattr(self, f'loss_weight_{name}')}")

    def loss_weights(self) -> LossWeights:
        """The weights of eq. (7)."""
        return LossWeights(
            valid=self.loss_weight_valid,
            hole=self.loss_weight_hole,
            perceptual=self.loss_weight_perceptual,
            style=self.loss_weight_style,
            tv=self.loss_weight_tv,
        )

    def model_options(self, arch: Architecture) -> dict[str, Any]:
        """Constructor keywords of the U-Net of ``arch``."""
        if arch == "pconv":
            return {"scaling": self.pconv_scaling, "width": self.model_width}
        return {"hole_fill": self.conv_hole_fill, "width": self.model_width}


def load_train_config(user_file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """``configs/train.toml``, then a user's TOML file, then overrides (``None`` values ignored)."""
    return load_config("train", TrainConfig, user_file=user_file, overrides=overrides)


def load_run_config(run: str | Path, user_file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The settings an existing run continues with (``--resume``, ``--finetune``).

    The configuration recorded in ``RUN/run.json`` (keys it lacks: the shipped defaults), then
    the keys of a user's TOML file and the overrides (``None`` values ignored), which may only
    change :data:`maskbench.run_record.CHANGEABLE_ON_RESUME`.

    Raises
    ------
    ConfigError
        A key that the run must keep is given another value; an unknown key.
    InputError
        ``run`` has no readable ``run.json``.
    """
    recorded = {**default_config_values("train"), **read_run_record(run)["config"]}
    requested = read_toml(user_file) if user_file is not None else {}
    check_known_keys(TrainConfig, requested, origin=str(user_file))
    requested.update({key: value for key, value in (overrides or {}).items() if value is not None})
    refuse_changed_settings(recorded, requested, run=run)
    return build_dataclass(TrainConfig, {**recorded, **requested}, origin=f"{Path(run) / 'run.json'}")


@dataclass(frozen=True)
class TrainResult:
    """Where a training call stopped."""

    run: Path
    checkpoint: Path
    step: int
    phase: Phase


class TrainingInterrupted(Interrupted):
    """Ctrl-C during training; a checkpoint of the last finished step was written."""

    def __init__(self, run: Path, step: int, checkpoint: Path) -> None:
        super().__init__(f"step {step} is saved in {checkpoint}", resume_arguments=["--out", str(run), "--resume"])
        self.step = step
        self.checkpoint = checkpoint


@dataclass
class _State:
    """What a run continues from."""

    arch: Architecture
    model_options: dict[str, Any]
    phase: Phase
    step: int
    phase_start: int
    model_state: dict[str, Any] | None
    optimizer_state: dict[str, Any] | None


_PHASE_SUFFIX: dict[str, str] = {"initial": "", "finetune": "-finetune"}


def checkpoint_path(run: Path, step: int, phase: Phase) -> Path:
    """``RUN/checkpoints/step-NNNNNNNN.pt`` (initial phase) or ``step-NNNNNNNN-finetune.pt``."""
    return run / "checkpoints" / f"step-{step:08d}{_PHASE_SUFFIX[phase]}.pt"


def weights_path(checkpoint: Path) -> Path:
    """The weights-only twin of a checkpoint: ``step-NNNNNNNN.weights.pt`` beside ``step-NNNNNNNN.pt``."""
    return checkpoint.with_name(f"{checkpoint.stem}.weights.pt")


def phase_checkpoints(run: str | Path, phase: Phase) -> list[Path]:
    """The checkpoints of one phase in a run folder, oldest first."""
    return sorted((Path(run) / "checkpoints").glob(f"step-{'[0-9]' * 8}{_PHASE_SUFFIX[phase]}.pt"))


def latest_checkpoint(run: str | Path) -> Path | None:
    """The checkpoint of the highest step in a run folder, or None."""
    paths = phase_checkpoints(run, "initial") + phase_checkpoints(run, "finetune")
    return max(paths, key=lambda path: path.name[5:13]) if paths else None


def train(
    run: str | Path,
    *,
    config: TrainConfig | None = None,
    arch: Architecture | None = None,
    images: str | Path | None = None,
    masks: str | Path | None = None,
    finetune: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    stop_step: int | None = None,
    device: str | torch.device | None = None,
    augment: AugmentConfig | None = None,
    feature_extractor: nn.Module | None = None,
) -> TrainResult:
    """Train a U-Net into the run folder ``run``; see the module docstring for the layout.

    Parameters
    ----------
    run : path-like
        Run folder. A new run refuses an existing folder unless ``overwrite``.
    config : TrainConfig, optional
        Settings. A new run: default :func:`load_train_config`. An existing run (``resume``,
        ``finetune``): default the settings recorded in ``run.json``
        (:func:`load_run_config`); a config given must keep every recorded key except those
        of :data:`maskbench.run_record.CHANGEABLE_ON_RESUME`.
    arch : {"pconv", "conv"}, optional
        Architecture of a new run; for an existing run, must match it when given.
    images, masks : path-like, optional
        Image folder and mask store; an existing run defaults to the ones it recorded.
    finetune : bool
        Run the fine-tuning phase on an existing run: starts it from the newest initial-phase
        checkpoint, or continues it.
    resume : bool
        Continue an existing run from its newest checkpoint, in its phase.
    overwrite : bool
        Replace an existing run folder when starting a new run.
    stop_step : int, optional
        Total step to stop at; default ``steps`` (initial phase) or the phase's first step
        plus ``finetune_steps``.
    device : str or torch.device, optional
        ``None``/"auto": CUDA when present, else the CPU.
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
        Settings that conflict with those an existing run recorded.
    """
    run = Path(run)
    ranks = join_job()
    torch_device = rank_device(device, ranks)
    config = _call_config(run, config, existing=resume or finetune)
    rank_batch_size(config.batch_size, ranks)  # refuse a global batch the ranks cannot share, before any work
    state, images, masks = _start_state(run, config=config, arch=arch, images=images, masks=masks, finetune=finetune, resume=resume, overwrite=overwrite)
    stop = stop_step if stop_step is not None else (config.steps if state.phase == "initial" else state.phase_start + config.finetune_steps)
    if stop <= state.step:
        raise ConfigError(f"{run} is at step {state.step} already; ask for more steps (--steps greater than {state.step})")
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
    new_run = not resume and not finetune
    on_main(lambda: _prepare_run(run, state, config, images=images, masks=masks, new=new_run, overwrite=overwrite, world_size=ranks.size), ranks)
    loop = _Loop(run, config, state, model, optimizer, loss_function, pairs, torch_device, ranks)
    try:
        return loop.run(stop)
    finally:
        if ranks.main:
            _record_run(run, state, config, images=images, masks=masks, world_size=ranks.size)


def _prepare_run(run: Path, state: _State, config: TrainConfig, *, images: Path, masks: Path, new: bool, overwrite: bool, world_size: int) -> None:
    """Create (a new run) or trim (an existing one) the run folder, and record the call."""
    if new:
        _create_run(run, overwrite=overwrite)
    _record_run(run, state, config, images=images, masks=masks, world_size=world_size)
    _truncate_log(run / "log.csv", state.step)


def _call_config(run: Path, config: TrainConfig | None, *, existing: bool) -> TrainConfig:
    """The settings of this call: given, recorded by an existing run, or the defaults."""
    if not existing:
        return config if config is not None else load_train_config()
    if config is None:
        return load_run_config(run)
    refuse_changed_settings(read_run_record(run)["config"], config_as_dict(config), run=run)
    return config


def _with_stop(config: TrainConfig, state: _State, stop: int) -> TrainConfig:
    """``config`` whose ``steps`` (initial phase) or ``finetune_steps`` ends the phase at ``stop``."""
    if state.phase == "initial":
        return dataclasses.replace(config, steps=stop)
    return dataclasses.replace(config, finetune_steps=stop - state.phase_start)


def _start_state(
    run: Path,
    *,
    config: TrainConfig,
    arch: Architecture | None,
    images: str | Path | None,
    masks: str | Path | None,
    finetune: bool,
    resume: bool,
    overwrite: bool,
) -> tuple[_State, Path, Path]:
    """The state a call starts from, and the data paths."""
    if not resume and not finetune:
        if arch not in ARCHITECTURES:
            choices = " or ".join(f"--arch {name}" for name in ARCHITECTURES)
            raise ConfigError(f"a new run needs {choices}" + (f", not {arch!r}" if arch is not None else ""))
        if images is None or masks is None:
            raise ConfigError("a new run needs --images DIR and --masks STORE")
        _refuse_existing_run(run, overwrite=overwrite)
        state = _State(arch, config.model_options(arch), "initial", 0, 0, None, None)
        return state, Path(images), Path(masks)
    found = latest_checkpoint(run)
    if found is None:
        raise InputError(f"{run} has no checkpoint to continue from; start a new run without --resume/--finetune")
    checkpoint = read_checkpoint(found)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{found} is not a maskbench checkpoint")
    if arch is not None and arch != checkpoint["arch"]:
        raise ConfigError(f"{run} trains {checkpoint['arch']!r}, not {arch!r}; drop --arch or pick another --out")
    recorded = read_run_record(run)
    state = _State(
        checkpoint["arch"], dict(checkpoint["model_config"]), checkpoint["phase"], int(checkpoint["step"]),
        int(checkpoint["phase_start"]), checkpoint["model"], checkpoint["optimizer"],
    )
    if finetune and state.phase == "initial":
        state.phase, state.phase_start, state.optimizer_state = "finetune", state.step, None
    try:
        images_path = Path(images if images is not None else recorded["images"])
        masks_path = Path(masks if masks is not None else recorded["masks"])
    except KeyError:
        raise InputError(f"{run}/run.json does not record the data; pass --images and --masks") from None
    return state, images_path, masks_path


def _refuse_existing_run(run: Path, *, overwrite: bool) -> None:
    if run.exists() and (not run.is_dir() or any(run.iterdir())):
        if not overwrite:
            raise OutputExistsError(f"run folder {run} already exists; continue it with --resume, or pass --overwrite to replace it")
        if not (run / "run.json").is_file():
            raise OutputExistsError(f"{run} is not a maskbench run folder (no run.json); refusing to replace it")


def _create_run(run: Path, *, overwrite: bool) -> None:
    """Empty the folder of a new run (``overwrite`` was checked by :func:`_refuse_existing_run`)."""
    if run.exists() and overwrite:
        shutil.rmtree(run)
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)


def _record_run(run: Path, state: _State, config: TrainConfig, *, images: Path, masks: Path, world_size: int) -> None:
    """Write ``run.json``: what the run is, its settings (``steps``: the stop asked for), the step reached
    and the number of processes of the last call (``world_size``; ``batch_size`` is the global batch)."""
    record = {
        "arch": state.arch,
        "model_config": state.model_options,
        "images": str(images.resolve()),
        "masks": str(masks.resolve()),
        "config": config_as_dict(config),
        "step": state.step,
        "phase": state.phase,
        "world_size": world_size,
    }
    write_run_record(run, record)


def _model_and_optimizer(state: _State, config: TrainConfig, device: torch.device) -> tuple[nn.Module, torch.optim.Adam]:
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


class _Loop:
    """The training loop of one call; keeps the running sums of the log."""

    def __init__(
        self,
        run: Path,
        config: TrainConfig,
        state: _State,
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

    def run(self, stop: int) -> TrainResult:
        batch = self.config.batch_size
        sampler = RankSlice(
            EpochSampler(len(self.pairs), seed=self.config.seed, first=self.state.step * batch, stop=stop * batch), global_batch=batch, ranks=self.ranks
        )  # fmt: skip
        loader = DataLoader(
            self.pairs,
            batch_size=sampler.rank_batch,
            sampler=sampler,
            num_workers=self.config.workers,
            pin_memory=self.device.type == "cuda",
            multiprocessing_context="forkserver" if self.config.workers > 0 else None,
        )
        self.model.train()
        bar = tqdm(total=(stop - self.state.step) * batch, desc=f"train {self.state.arch} ({self.state.phase})", unit="img", dynamic_ncols=True, disable=not self.ranks.main)
        saved_step = -1
        try:
            with interrupt_requested() as interrupt:
                for items in loader:
                    terms = self._step(items)
                    bar.update(batch)
                    bar.set_postfix(loss=f"{terms['total']:.4f}")
                    saved_step = self._after_step(terms, saved_step)
                    if any_rank(interrupt.is_set(), self.ranks):  # torchrun's ranks see a Ctrl-C at different steps: all stop at one
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            bar.close()
            raise TrainingInterrupted(self.run_folder, self.state.step, self._finish(saved_step)) from None
        bar.close()
        return TrainResult(self.run_folder, self._finish(saved_step), self.state.step, self.state.phase)

    def _finish(self, saved_step: int) -> Path:
        """End a call: the log row, sample grid and checkpoint of the last step, if not written yet."""
        if self.sums:
            self._log_row()
        if self.config.sample_count and self.sampled_step != self.state.step:
            self._write_samples()
        return self._save() if saved_step != self.state.step else self._path()

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

    def _after_step(self, terms: dict[str, float], saved_step: int) -> int:
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
            return step
        return saved_step

    def _log_row(self) -> None:
        """Add a row of the means since the last row (over all ranks) to ``log.csv`` (rank 0 writes)."""
        self.sums = mean_over_ranks(self.sums, self.ranks)
        if self.ranks.main:
            self._write_log_row()
        self.sums, self.window_images, self.window_start = {}, 0, time.perf_counter()

    def _write_log_row(self) -> None:
        path = self.run_folder / "log.csv"
        steps = self.window_images / self.config.batch_size
        seconds = time.perf_counter() - self.window_start
        row = {
            "step": self.state.step,
            "phase": self.state.phase,
            "learning_rate": self.optimizer.param_groups[0]["lr"],
            "images_per_second": f"{self.window_images / max(seconds, 1e-9):.3f}",
            **{name: f"{self.sums[name] / steps:.6g}" for name in (*TERMS, "total")},
        }
        new = not path.is_file()
        with open(path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(row)

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
        write_image(self.run_folder / "samples" / f"step-{self.state.step:08d}.png", grid)

    def _save(self) -> Path:
        """Write the checkpoint of this step (rank 0) and drop old ones; its path."""
        if not self.ranks.main:
            return self._path()
        state = self.state
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "arch": state.arch,
            "model_config": state.model_options,
            "config": config_as_dict(self.config),
            "phase": state.phase,
            "phase_start": state.phase_start,
            "step": state.step,
            "model": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }
        path = self._path()
        with atomic_path(path) as temp:
            torch.save(checkpoint, temp)
        weights_only = {key: value for key, value in checkpoint.items() if key != "optimizer"}
        with atomic_path(weights_path(path)) as temp:
            torch.save(weights_only, temp)
        for old in phase_checkpoints(self.run_folder, state.phase)[: -self.config.keep_checkpoints]:
            old.unlink()
            weights_path(old).unlink(missing_ok=True)
        return path

    def _path(self) -> Path:
        return checkpoint_path(self.run_folder, self.state.step, self.state.phase)
