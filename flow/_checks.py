"""Input validation shared by the public functions; raises standard exceptions only."""

from __future__ import annotations

import numpy as np
import torch


def frame_as_float(frame: np.ndarray, name: str) -> np.ndarray:
    """An RGB frame as float32 in [0, 1], shape (H, W, 3).

    Parameters
    ----------
    frame : ndarray
        Shape (H, W, 3), RGB; uint8 in 0 … 255 or floating in [0, 1] (values are not checked).
    name : str
        What the caller calls the argument, e.g. ``"frame0"``; used in the error messages.

    Returns
    -------
    ndarray
        float32, shape (H, W, 3), in [0, 1]: uint8 divided by 255; a float32 input is returned
        as is (no copy), other floating dtypes are converted.

    Raises
    ------
    TypeError
        When ``frame`` is not a numpy array of uint8 or floating dtype.
    ValueError
        When its shape is not (H, W, 3).
    """
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape (H, W, 3), got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3) (RGB), got {frame.shape}")
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) / 255.0
    if not np.issubdtype(frame.dtype, np.floating):
        raise TypeError(f"{name} must be uint8 or float in [0, 1], got dtype {frame.dtype}")
    return frame.astype(np.float32, copy=False)


def check_same_shape(first: np.ndarray | torch.Tensor, second: np.ndarray | torch.Tensor, names: str) -> None:
    """Raise ValueError when two arrays differ in shape.

    Parameters
    ----------
    first, second : ndarray or torch.Tensor
        The two arrays or tensors, of any shape and dtype.
    names : str
        How the caller calls them together, e.g. ``"frame0 and frame1"``; used in the message.

    Raises
    ------
    ValueError
        When ``first.shape != second.shape``.
    """
    if tuple(first.shape) != tuple(second.shape):
        raise ValueError(f"{names} must have the same shape, got {tuple(first.shape)} and {tuple(second.shape)}")


def check_frame_batch(frames: torch.Tensor, name: str) -> None:
    """Raise when ``frames`` is not a (B, 3, H, W) floating tensor.

    Parameters
    ----------
    frames : torch.Tensor
        Expected floating, shape (B, 3, H, W), RGB in [0, 1] (values are not checked).
    name : str
        What the caller calls the argument; used in the error messages.

    Raises
    ------
    TypeError
        When ``frames`` is not a tensor, or not a floating one.
    ValueError
        When its shape is not (B, 3, H, W).
    """
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, 3, H, W), got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"{name} must have shape (B, 3, H, W) (RGB), got {tuple(frames.shape)}")
    if not frames.is_floating_point():
        raise TypeError(f"{name} must be a float tensor in [0, 1], got dtype {frames.dtype}")


def check_flow_array(flow: np.ndarray, name: str) -> None:
    """Raise when ``flow`` is not a (H, W, 2) numpy array.

    Parameters
    ----------
    flow : ndarray
        Expected shape (H, W, 2): x then y displacement in pixels, any dtype.
    name : str
        What the caller calls the argument; used in the error messages.

    Raises
    ------
    TypeError
        When ``flow`` is not a numpy array.
    ValueError
        When its shape is not (H, W, 2).
    """
    if not isinstance(flow, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape (H, W, 2), got {type(flow).__name__}")
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"{name} must have shape (H, W, 2) (x then y), got {flow.shape}")


def check_flow_batch(flow: torch.Tensor, name: str) -> None:
    """Raise when ``flow`` is not a (B, 2, H, W) floating tensor.

    Parameters
    ----------
    flow : torch.Tensor
        Expected floating, shape (B, 2, H, W): x then y displacement in pixels.
    name : str
        What the caller calls the argument; used in the error messages.

    Raises
    ------
    TypeError
        When ``flow`` is not a tensor, or not a floating one.
    ValueError
        When its shape is not (B, 2, H, W).
    """
    if not isinstance(flow, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, 2, H, W), got {type(flow).__name__}")
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ValueError(f"{name} must have shape (B, 2, H, W) (x then y), got {tuple(flow.shape)}")
    if not flow.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got dtype {flow.dtype}")
