"""The settings of ``maskbench train``: :class:`TrainConfig`, for a new run or one that continues.

A new run takes ``configs/train.toml``, a user's TOML file and the options given
(:meth:`TrainConfig.load`). A run that continues (``--resume``, ``--finetune``) takes the
settings recorded in its ``run.json`` instead (:meth:`TrainConfig.load_run`), of which a user
may change only :data:`maskbench.run_record.CHANGEABLE_ON_RESUME`. The keys of
:data:`CALL_KEYS` say what one call does (new run or not, where to stop, on which device);
they are never recorded in ``run.json`` or in checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from maskbench.config import Config, build_dataclass, check_known_keys, default_config_values, read_toml
from maskbench.errors import ConfigError
from maskbench.losses import LossWeights
from maskbench.models.partialconv import Scaling
from maskbench.models.unet import Architecture, HoleFill
from maskbench.run_record import read_run_record, refuse_changed_settings

#: Keys of one call (what to do now), not of the run: never recorded, never refused on resume.
CALL_KEYS: frozenset[str] = frozenset({"arch", "finetune", "resume", "stop_step", "device"})
_POSITIVE = (
    "image_size",
    "batch_size",
    "steps",
    "finetune_steps",
    "checkpoint_every",
    "keep_checkpoints",
    "log_every",
    "sample_every",
)
_LOSS_TERMS = ("valid", "hole", "perceptual", "style", "tv")


@dataclass(frozen=True)
class TrainConfig(Config):
    """Settings of ``maskbench train``; defaults and their meaning in ``configs/train.toml``.

    Every field is a key of that file. The run's keys (network, data, optimisation, loss,
    outputs) are recorded in ``run.json`` and in every checkpoint; those of
    :data:`CALL_KEYS` are not:

    Attributes
    ----------
    arch : {"", "pconv", "conv"}
        Architecture of a new run (``--arch``); "" for a run that continues (its own).
    finetune : bool
        Run the fine-tuning phase of an existing run (``--finetune``).
    resume : bool
        Continue an existing run from its newest checkpoint (``--resume``).
    stop_step : int
        Total step to stop this call at (``--steps``), >= 0; 0: ``steps`` in the initial
        phase, the phase's first step plus ``finetune_steps`` when fine-tuning.
    device : str
        Torch device (``--device``): "auto" (CUDA when present), "cpu", "cuda", "cuda:1", ...
    """

    defaults: ClassVar[str] = "train"

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
    arch: Architecture | Literal[""]
    finetune: bool
    resume: bool
    stop_step: int
    device: str

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values out of range.

        Raises
        ------
        ConfigError
            Naming the first key out of range and its allowed range.
        """
        for name in _POSITIVE:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("workers", "seed", "sample_count", "stop_step"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be at least 0, got {getattr(self, name)}")
        for name in ("learning_rate", "finetune_learning_rate"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if not all(0 <= beta < 1 for beta in self.adam_betas):
            raise ConfigError(f"adam_betas must both be in [0, 1), got {list(self.adam_betas)}")
        if not 0 < self.model_width <= 1:
            raise ConfigError(f"model_width must be in (0, 1], got {self.model_width}")
        for name in _LOSS_TERMS:
            if getattr(self, f"loss_weight_{name}") < 0:
                raise ConfigError(f"loss_weight_{name} must be at least 0, got {getattr(self, f'loss_weight_{name}')}")

    @classmethod
    def load_run(cls, run: str | os.PathLike, file: str | os.PathLike | None = None, **overrides: Any) -> Self:
        """The settings an existing run continues with (``--resume``, ``--finetune``).

        Parameters
        ----------
        run : path-like
            The run folder.
        file : path-like, optional
            A TOML file whose keys replace the recorded ones (``--config``).
        **overrides
            Keys and values that replace both; a value of ``None`` means "not given".

        Returns
        -------
        TrainConfig
            The configuration recorded in ``RUN/run.json`` (keys it lacks: the shipped
            defaults), with the keys of ``file`` and ``overrides``, which may only change
            :data:`maskbench.run_record.CHANGEABLE_ON_RESUME` and :data:`CALL_KEYS`.

        Raises
        ------
        ConfigError
            A key that the run must keep is given another value; an unknown key.
        InputError
            ``run`` has no readable ``run.json``.
        """
        recorded = {**default_config_values(cls.defaults), **read_run_record(run)["config"]}
        requested = read_toml(file) if file is not None else {}
        check_known_keys(cls, requested, origin=str(file))
        requested.update({key: value for key, value in overrides.items() if value is not None})
        refuse_changed_settings(
            recorded, {key: value for key, value in requested.items() if key not in CALL_KEYS}, run=run
        )
        return build_dataclass(cls, {**recorded, **requested}, origin=f"{Path(run) / 'run.json'}")

    @property
    def continues_run(self) -> bool:
        """Whether the call continues an existing run (``resume`` or ``finetune``) rather than starting one.

        Returns
        -------
        bool
            ``resume or finetune``.
        """
        return self.resume or self.finetune

    def recorded(self) -> dict[str, Any]:
        """The settings of the run, as recorded in ``run.json`` and checkpoints: all but :data:`CALL_KEYS`.

        Returns
        -------
        dict
            Key → JSON value (tuples become lists), in the order of the fields.
        """
        return {key: value for key, value in self.as_dict().items() if key not in CALL_KEYS}

    def loss_weights(self) -> LossWeights:
        """The weights of eq. (7).

        Returns
        -------
        LossWeights
            From the ``loss_weight_*`` keys.
        """
        return LossWeights(
            valid=self.loss_weight_valid,
            hole=self.loss_weight_hole,
            perceptual=self.loss_weight_perceptual,
            style=self.loss_weight_style,
            tv=self.loss_weight_tv,
        )

    def model_options(self, arch: Architecture) -> dict[str, Any]:
        """Constructor keywords of the U-Net of ``arch``.

        Parameters
        ----------
        arch : {"pconv", "conv"}
            The architecture.

        Returns
        -------
        dict
            ``scaling`` (pconv) or ``hole_fill`` (conv), and ``width``.
        """
        if arch == "pconv":
            return {"scaling": self.pconv_scaling, "width": self.model_width}
        return {"hole_fill": self.conv_hole_fill, "width": self.model_width}
