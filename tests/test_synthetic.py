"""The synthetic demo clips: deterministic, objects that move, a real codec round trip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from maskbench.synthetic import render_demo_clip, write_corrupt_video, write_demo_video, write_frames_folder


def test_same_seed_same_clip_other_seed_other_clip() -> None:
    first = render_demo_clip(frames=3, size=(48, 64), seed=5)
    again = render_demo_clip(frames=3, size=(48, 64), seed=5)
    other = render_demo_clip(frames=3, size=(48, 64), seed=6)
    assert np.array_equal(first.frames, again.frames) and np.array_equal(first.labels, again.labels)
    assert not np.array_equal(first.frames, other.frames)


def test_objects_are_irregular_and_move_on_their_own_paths() -> None:
    clip = render_demo_clip(frames=10, size=(120, 160), objects=3, seed=1)
    assert clip.frames.shape == (10, 120, 160, 3) and clip.labels.shape == (10, 120, 160)
    assert set(np.unique(clip.labels[0])) == {0, 1, 2, 3}
    shifts = []
    for label in (1, 2, 3):
        first = np.argwhere(clip.labels[0] == label).mean(axis=0)
        last = np.argwhere(clip.labels[-1] == label).mean(axis=0)
        shifts.append(last - first)
    # every object moves, and no two move alike
    assert all(np.hypot(*shift) > 3 for shift in shifts)
    assert min(np.hypot(*(a - b)) for i, a in enumerate(shifts) for b in shifts[i + 1 :]) > 2
    # irregular outlines: clearly non-convex (a disk or an ellipse has solidity about 1)
    solidity = []
    for label in (1, 2, 3):
        points = cv2.findNonZero((clip.labels[0] == label).astype(np.uint8))
        solidity.append(len(points) / cv2.contourArea(cv2.convexHull(points)))
    assert np.mean(solidity) < 0.95


def test_object_pixels_carry_texture_not_flat_colour() -> None:
    clip = render_demo_clip(frames=1, size=(120, 160), objects=2, seed=2)
    for label in (1, 2):
        inside = clip.frames[0][clip.labels[0] == label].astype(float)
        assert inside.std(axis=0).mean() > 8


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_demo_video_survives_a_codec_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"demo{suffix}"
    clip = write_demo_video(path, frames=6, size=(64, 96), seed=3)
    capture = cv2.VideoCapture(str(path))
    decoded = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        decoded.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    assert len(decoded) == 6
    error = np.abs(np.stack(decoded).astype(float) - clip.frames).mean()
    assert 0 < error < 12  # lossy, yet the same pictures


def test_corrupt_video_cannot_be_opened(tmp_path: Path) -> None:
    write_corrupt_video(tmp_path / "bad.mp4")
    assert not cv2.VideoCapture(str(tmp_path / "bad.mp4")).isOpened()


def test_frames_folder_names_are_numbered_from_one(tmp_path: Path) -> None:
    frames = [np.zeros((8, 8, 3), np.uint8)] * 3
    paths = write_frames_folder(tmp_path / "f", frames)
    assert [p.name for p in paths] == ["frame_1.png", "frame_2.png", "frame_3.png"]
    assert all(p.is_file() for p in paths)
