"""Checkpoints of the U-Nets: reading them, and building a U-Net from one (or seeded at random).

A checkpoint of ``maskbench train`` is a dict with ``format`` :data:`CHECKPOINT_FORMAT`, the
architecture and its options, and the weights; a bare ``state_dict`` of ``PConvUNet`` or
``ConvUNet`` is read too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from maskbench.errors import ConfigError, InputError
from maskbench.models.unet import ARCHITECTURES, build_unet, he_initialize

#: Format name written into every checkpoint of ``maskbench train``.
CHECKPOINT_FORMAT = "maskbench-checkpoint"
#: Seed of the He initialisation of ``pconv:random`` / ``conv:random``.
RANDOM_WEIGHTS_SEED = 0


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes.

    Parameters
    ----------
    path : str or Path
        An existing file (read in 1 MiB blocks).

    Returns
    -------
    str
        64 lowercase hex digits (what ``run.json`` records as ``checkpoint_sha256``).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def existing_file(path_text: str, *, what: str) -> Path:
    """The file a spec names, refused with a one-line error when it is not there.

    Parameters
    ----------
    path_text : str
        Path as the user wrote it; ``~`` is expanded.
    what : str
        What the file is, for the message (e.g. ``"pconv checkpoint"``).

    Returns
    -------
    pathlib.Path
        The expanded path of an existing file.

    Raises
    ------
    InputError
        When no file is at that path.
    """
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a torch file saved by ``maskbench train`` or holding a bare state dict (CPU tensors).

    Parameters
    ----------
    path : str or Path
        The ``.pt`` / ``.pth`` file; read with ``weights_only=True`` (no code is run).

    Returns
    -------
    dict
        A maskbench checkpoint (``format`` :data:`CHECKPOINT_FORMAT`, ``arch``, ``model_config``,
        ``model``, ...) or a state dict (parameter name → tensor), on the CPU.

    Raises
    ------
    InputError
        When the file is missing or is not a torch file of tensors.
    """
    path = existing_file(str(path), what="checkpoint")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(f"{path} is not a readable torch checkpoint: {str(error).splitlines()[0]}") from None
    if not isinstance(content, dict):
        raise InputError(f"{path} holds a {type(content).__name__}, expected a checkpoint dict or a state dict")
    return content


def load_unet(arch: str, checkpoint: dict[str, Any] | None, *, source: str) -> nn.Module:
    """Build a U-Net of ``arch`` and load ``checkpoint`` (maskbench checkpoint or state dict) into it.

    Parameters
    ----------
    arch : str
        ``"pconv"`` or ``"conv"`` (a key of :data:`maskbench.models.unet.ARCHITECTURES`).
    checkpoint : dict or None
        As :func:`read_checkpoint` returns it; a maskbench checkpoint's ``model_config`` gives the
        constructor options. None: He-initialised random weights, seeded with
        :data:`RANDOM_WEIGHTS_SEED` (for speed tests only).
    source : str
        Where the checkpoint came from, for messages.

    Returns
    -------
    torch.nn.Module
        The ``PConvUNet`` or ``ConvUNet`` with the weights loaded, on the CPU, in training mode.

    Raises
    ------
    ConfigError
        An unknown ``arch``.
    InputError
        A checkpoint of another architecture, constructor options the architecture does not
        take, or weights whose keys or shapes do not fit.
    """
    if arch not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {arch!r} in {source}; expected one of {', '.join(ARCHITECTURES)}")
    if checkpoint is None:
        model = build_unet(arch)  # type: ignore[arg-type]  # arch: str, checked against ARCHITECTURES above
        he_initialize(model, generator=torch.Generator().manual_seed(RANDOM_WEIGHTS_SEED))
        return model
    if checkpoint.get("format") == CHECKPOINT_FORMAT:
        if checkpoint.get("arch") != arch:
            raise InputError(f"{source} is a {checkpoint.get('arch')!r} checkpoint, expected {arch!r}")
        options, state = dict(checkpoint.get("model_config", {})), checkpoint["model"]
    else:
        options, state = {}, checkpoint
    try:
        model = build_unet(arch, **options)  # type: ignore[arg-type]  # checkpoint options, checked by the constructor
    except (TypeError, ValueError) as error:
        raise InputError(f"{source} has model options {options} that {arch!r} does not take: {error}") from None
    _load_state(model, state, arch=arch, source=source)
    return model


def _load_state(model: nn.Module, state: dict[str, Any], *, arch: str, source: str) -> None:
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        raise InputError(
            f"{source} does not fit the {arch!r} U-Net: {len(missing)} missing key(s) (e.g. {missing[:2]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})"
        )
    for key, tensor in expected.items():
        if not isinstance(state[key], torch.Tensor) or state[key].shape != tensor.shape:
            got = tuple(state[key].shape) if isinstance(state[key], torch.Tensor) else type(state[key]).__name__
            raise InputError(
                f"{source} does not fit the {arch!r} U-Net: {key} has shape {got}, expected {tuple(tensor.shape)}"
            )
    model.load_state_dict(state)
