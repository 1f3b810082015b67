"""Choosing the torch device: CUDA when present, else the CPU, never hard-coded."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device to compute on.

    Parameters
    ----------
    device : str, torch.device or None
        ``None`` or ``"auto"``: the first CUDA device when one is present, else the CPU.
        Anything else is passed to :class:`torch.device` (``"cpu"``, ``"cuda:1"``, ...).

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        When a CUDA device is asked for and none is available.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but CUDA is not available here; use 'cpu'")
    return resolved
