"""OpenCV's CPU optical flows (DIS, Farneback) behind the same interface as TV-L1."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

OpenCVMethod = Literal["dis", "dis-ultrafast", "farneback"]

_DIS_PRESETS = {"dis": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, "dis-ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST}
# Farneback parameters: OpenCV's documented example (pyr_scale 0.5, 3 levels, window 15,
# 3 iterations, poly_n 5, poly_sigma 1.2) with 5 levels for the larger motions of 512 px frames.
_FARNEBACK = {"pyr_scale": 0.5, "levels": 5, "winsize": 15, "iterations": 3, "poly_n": 5, "poly_sigma": 1.2, "flags": 0}


def opencv_flow(frame0: np.ndarray, frame1: np.ndarray, method: OpenCVMethod) -> np.ndarray:
    """Flow from ``frame0`` to ``frame1`` with one of OpenCV's CPU methods.

    Parameters
    ----------
    frame0, frame1 : np.ndarray
        (H, W, 3) float32 RGB in [0, 1].
    method : {"dis", "dis-ultrafast", "farneback"}
        ``"dis"``: DIS (Kroeger et al. 2016) with OpenCV's MEDIUM preset;
        ``"dis-ultrafast"``: the ULTRAFAST preset; ``"farneback"``: Farneback (2003).

    Returns
    -------
    np.ndarray
        (H, W, 2) float32 flow in pixels, x then y.
    """
    return grey_flow(grey_uint8(frame0), grey_uint8(frame1), method)


def grey_flow(grey0: np.ndarray, grey1: np.ndarray, method: OpenCVMethod) -> np.ndarray:
    """:func:`opencv_flow` of frames already made grey by :func:`grey_uint8`.

    Parameters
    ----------
    grey0, grey1 : np.ndarray
        (H, W) uint8 grey frames.
    method : {"dis", "dis-ultrafast", "farneback"}

    Returns
    -------
    np.ndarray
        (H, W, 2) float32 flow in pixels, x then y.
    """
    if method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(grey0, grey1, None, **_FARNEBACK)
    else:
        flow = cv2.DISOpticalFlow_create(_DIS_PRESETS[method]).calc(grey0, grey1, None)
    return np.ascontiguousarray(flow, dtype=np.float32)


def grey_uint8(frame: np.ndarray) -> np.ndarray:
    """The grey image of an RGB frame, as OpenCV's flows take it (BT.601 weights).

    Parameters
    ----------
    frame : np.ndarray
        (H, W, 3) float RGB in [0, 1]; values outside are clipped.

    Returns
    -------
    np.ndarray
        (H, W) uint8 grey, 0 … 255 (the frame × 255, rounded, then OpenCV's RGB → grey).
    """
    rgb = np.clip(frame * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
