"""Untrustworthy frame pairs (cuts, fades, flashes), unrelated frames, and holes at the edge."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from maskbench.bins import min_border_distance
from maskbench.errors import InputError
from maskbench.extract import extract_videos
from maskbench.extract_config import ExtractConfig
from maskbench.junk import (
    PairCheck,
    brightness_change,
    histogram_distance,
    occluded_share,
    pair_skip_reason,
    structure_correlation,
)
from maskbench.store import MaskStore
from maskbench.synthetic import render_demo_clip, write_frames_folder, write_video
from maskbench.video import VideoSource
from maskbench.video_masks import extract_video

SIZE = (120, 160)
CHECK = PairCheck(
    max_brightness_change=0.08,
    max_occluded_share=0.4,
    max_histogram_distance=0.15,
    min_structure_correlation=0.5,
    max_cut_share=0.5,
)


def _config(**changes: object) -> ExtractConfig:
    overrides = {
        "method": "dis",
        "working_size": SIZE[0],
        "batch_size": 4,
        "min_component_area": 12,
        "fill_gap_area": 16,
    }
    return ExtractConfig.load(**{**overrides, **changes})


def _photo(name: str, size: tuple[int, int] = SIZE) -> np.ndarray:
    image = getattr(skimage.data, name)()
    image = image[:, :, :3] if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def test_measures_on_hand_made_frames():
    frame = _photo("astronaut").astype(np.float32) / 255
    assert brightness_change(frame, frame) == 0.0 and histogram_distance(frame, frame) == 0.0
    assert brightness_change(frame, frame * 0.5) == pytest.approx(0.5, abs=1e-3)
    assert brightness_change(np.zeros_like(frame), frame) == pytest.approx(1.0)
    assert histogram_distance(np.zeros_like(frame), np.ones_like(frame)) == pytest.approx(1.0)
    half = np.zeros(SIZE, bool)
    half[:, : SIZE[1] // 2] = True
    assert occluded_share(half, np.zeros(SIZE, bool)) == pytest.approx(0.25)


def test_pair_reasons_in_order():
    frame = _photo("coffee").astype(np.float32) / 255
    none = np.zeros(SIZE, bool)
    assert pair_skip_reason(frame, frame, none, none, CHECK) is None
    assert pair_skip_reason(frame, frame * 0.7, none, none, CHECK) == "fade/flash"
    assert pair_skip_reason(frame, frame, ~none, ~none, CHECK) == "cut"  # no correspondence anywhere
    other = _photo("camera").astype(np.float32) / 255
    assert pair_skip_reason(frame, other, none, none, CHECK) == "cut"  # appearance and structure changed
    assert pair_skip_reason(np.zeros_like(frame), frame, none, none, CHECK) == "fade/flash"  # from black
    assert structure_correlation(frame, 0.3 + 0.5 * frame) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def edited_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An edited clip: two scenes joined by a hard cut, a fade to black, a static stretch.

    12 frames of one scene, a hard cut to 12 frames of another, a 6-frame fade to black of
    that scene's last frame, then a static stretch (5 copies of one frame).
    """
    first = render_demo_clip(frames=12, size=SIZE, seed=3).frames
    second = render_demo_clip(frames=12, size=SIZE, seed=8).frames
    fade = [np.round(second[-1] * (1 - step / 6)).astype(np.uint8) for step in range(1, 7)]
    static = [second[5]] * 5
    path = tmp_path_factory.mktemp("edited") / "edited.avi"
    write_video(path, [*first, *second, *fade, *static])
    return path


def test_cut_and_fade_pairs_are_skipped_with_their_reasons(edited_clip: Path):
    result = extract_video(VideoSource(edited_clip, edited_clip.name), _config(), device=torch.device("cpu"))
    # pairs: 11 within the first scene, 1 cut, 11 within the second, 6 fading to black, 1
    # from black into the static stretch (a flash), 4 static
    assert result.pairs == 34
    assert result.skipped_pairs == {"cut": 1, "fade/flash": 7}
    assert result.unrelated is None and result.mask_frames
    cut_frames = {12}  # the first frame of the second scene: no mask may come from the cut pair
    occlusion_frames = {
        frame for frame, kind in zip(result.mask_frames, result.mask_kinds, strict=True) if kind == "occlusion"
    }
    assert not occlusion_frames & {frame - 1 for frame in cut_frames}


def test_a_folder_of_unrelated_photos_is_refused(tmp_path: Path):
    photos = [_photo(name) for name in ("astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry")]
    write_frames_folder(tmp_path / "videos" / "holiday", photos)
    with pytest.raises(InputError, match="frames mostly unrelated"):
        extract_videos(tmp_path / "videos", tmp_path / "masks.store", config=_config(), show_progress=False)


def test_unrelated_folder_is_skipped_and_the_run_goes_on(tmp_path: Path, edited_clip: Path):
    photos = [_photo(name) for name in ("astronaut", "coffee", "chelsea", "rocket", "camera")]
    write_frames_folder(tmp_path / "videos" / "holiday", photos)
    (tmp_path / "videos" / edited_clip.name).write_bytes(edited_clip.read_bytes())
    summary = extract_videos(tmp_path / "videos", tmp_path / "masks.store", config=_config(), show_progress=False)
    assert [result.name for result in summary.usable] == [edited_clip.name]
    assert "holiday: skipped: frames mostly unrelated" in summary.to_text()
    assert set(MaskStore.open(tmp_path / "masks.store").records()["source"]) == {edited_clip.name}


def _leaving_clip(frames: int = 8) -> list[np.ndarray]:
    """A static photograph with a textured square moving right by 9 px per frame.

    The square moves until it has left the frame through the right edge.
    """
    background = _photo("astronaut")
    patch = _photo("coffee", (50, 50))
    clip = []
    for t in range(frames):
        frame = background.copy()
        left = SIZE[1] - 60 + 9 * t
        visible = max(0, min(50, SIZE[1] - left))
        if visible:
            frame[35:85, left : left + visible] = patch[:, :visible]
        clip.append(frame)
    return clip


def test_an_object_leaving_the_frame_gives_holes_that_touch_the_edge(tmp_path: Path):
    write_video(tmp_path / "leaving.avi", _leaving_clip())
    result = extract_video(VideoSource(tmp_path / "leaving.avi", "leaving.avi"), _config(), device=torch.device("cpu"))
    # the part of the square that leaves the frame has no correspondence in the next frame
    occlusions = [result.holes[i] for i, kind in enumerate(result.mask_kinds) if kind == "occlusion"]
    assert occlusions
    touching = [hole for hole in occlusions if min_border_distance(hole) == 0]
    assert len(touching) >= len(occlusions) - 1, [min_border_distance(hole) for hole in occlusions]
    assert all(hole[:, -1].any() for hole in touching)  # at the right edge, where the square leaves
