"""Reading videos and frame folders: discovery, order, working size, pairs, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import maskbench.video as video_module
from maskbench.errors import InputError
from maskbench.synthetic import write_corrupt_video, write_frames_folder, write_video
from maskbench.video import PairReader, VideoSource, find_videos, frame_count, read_frames, working_shape


def _flat_frames(count: int, height: int = 40, width: int = 48) -> list[np.ndarray]:
    """Frames of one grey level each, 20 * index, so a frame's number can be read back."""
    return [np.full((height, width, 3), 20 * index, np.uint8) for index in range(count)]


def _level(frame: np.ndarray) -> int:
    return round(float(frame.mean()) * 255 / 20)


def test_find_videos_lists_files_and_frame_folders_sorted(tmp_path: Path) -> None:
    write_video(tmp_path / "b.avi", _flat_frames(2))
    write_video(tmp_path / "nested" / "a.mp4", _flat_frames(2))
    (tmp_path / "C.MKV").write_bytes(b"")  # suffixes in any case; contents judged later
    write_frames_folder(tmp_path / "shots" / "one", _flat_frames(2))
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / ".partial.mp4").write_bytes(b"")  # hidden files and folders are ignored
    write_frames_folder(tmp_path / ".cache", _flat_frames(1))
    names = [video.name for video in find_videos(tmp_path)]
    assert names == ["C.MKV", "b.avi", "nested/a.mp4", "shots/one"]
    assert [video.is_frame_folder for video in find_videos(tmp_path)] == [False, False, False, True]


def test_a_folder_of_frames_itself_is_one_video(tmp_path: Path) -> None:
    folder = tmp_path / "walk"
    write_frames_folder(folder, _flat_frames(3))
    (video,) = find_videos(folder)
    assert video.name == "walk" and video.is_frame_folder and frame_count(video) == 3


def test_find_videos_needs_a_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="videos folder not found"):
        find_videos(tmp_path / "missing")


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((240, 320), (512, 683)), ((144, 176), (512, 626)), ((320, 240), (683, 512)), ((600, 600), (512, 512))],
)
def test_working_shape_scales_the_shorter_side(shape: tuple[int, int], expected: tuple[int, int]) -> None:
    assert working_shape(*shape, short_side=512) == expected


def test_frame_folder_is_read_in_numeric_order(tmp_path: Path) -> None:
    write_frames_folder(tmp_path / "f", _flat_frames(12))  # frame_1 ... frame_12, unpadded
    levels = [_level(frame) for _, frame in read_frames(VideoSource(tmp_path / "f", "f"), short_side=40)]
    assert levels == list(range(12))


def test_mixed_frame_sizes_are_resized_to_the_first_frames_working_size(tmp_path: Path) -> None:
    frames = [np.full((*shape, 3), 100, np.uint8) for shape in [(40, 60), (80, 120), (50, 50), (30, 90)]]
    write_frames_folder(tmp_path / "mixed", frames)
    shapes = {frame.shape for _, frame in read_frames(VideoSource(tmp_path / "mixed", "mixed"), short_side=64)}
    assert shapes == {(64, 96, 3)}


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_video_file_round_trip_gives_float_rgb_frames(tmp_path: Path, suffix: str) -> None:
    frames = [np.zeros((48, 64, 3), np.uint8) for _ in range(5)]
    for index, frame in enumerate(frames):
        frame[..., index % 3] = 200  # red, green, blue, red, green: checks the channel order
    path = tmp_path / f"clip{suffix}"
    write_video(path, frames)
    read = list(read_frames(VideoSource(path, path.name), short_side=48))
    assert [index for index, _ in read] == list(range(5))
    for (_, frame), original in zip(read, frames, strict=True):
        assert frame.dtype == np.float32 and frame.shape == (48, 64, 3)
        assert np.abs(frame - original / 255.0).mean() < 0.03
        assert int(np.argmax(frame.mean(axis=(0, 1)))) == int(np.argmax(original.mean(axis=(0, 1))))


def test_pair_reader_takes_every_stride_th_consecutive_pair(tmp_path: Path) -> None:
    write_frames_folder(tmp_path / "f", _flat_frames(10))
    reader = PairReader(VideoSource(tmp_path / "f", "f"), short_side=40, stride=3)
    pairs = list(reader.pairs())
    assert [pair.index for pair in pairs] == [0, 3, 6]  # pair (9, 10) would need an 11th frame
    assert [(_level(pair.first), _level(pair.second)) for pair in pairs] == [(0, 1), (3, 4), (6, 7)]
    assert reader.frames_read == 10


def test_pair_reader_skips_frames_no_pair_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_frames_folder(tmp_path / "f", _flat_frames(10))
    decoded: list[str] = []
    original = video_module.read_image
    monkeypatch.setattr(video_module, "read_image", lambda path: decoded.append(Path(path).name) or original(path))
    list(PairReader(VideoSource(tmp_path / "f", "f"), short_side=40, stride=4).pairs())
    assert decoded == [f"frame_{n}.png" for n in (1, 2, 5, 6, 9, 10)]


def test_single_frame_gives_no_pair(tmp_path: Path) -> None:
    write_video(tmp_path / "one.avi", _flat_frames(1))
    reader = PairReader(VideoSource(tmp_path / "one.avi", "one.avi"), short_side=40, stride=1)
    assert list(reader.pairs()) == [] and reader.frames_read == 1


@pytest.mark.parametrize("content", ["corrupt", "empty"])
def test_unreadable_video_raises_input_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.mp4"
    if content == "corrupt":
        write_corrupt_video(path)
    else:
        path.write_bytes(b"")
    with pytest.raises(InputError, match=r"cannot open .*bad\.mp4 as a video"):
        list(read_frames(VideoSource(path, path.name), short_side=64))
    assert frame_count(VideoSource(path, path.name)) == 0


def test_enlarged_frames_stay_in_the_unit_range(tmp_path: Path) -> None:
    edge = np.zeros((20, 30, 3), np.uint8)
    edge[:, 15:] = 255  # bicubic enlargement overshoots at such a step
    write_frames_folder(tmp_path / "f", [edge])
    ((_, frame),) = list(read_frames(VideoSource(tmp_path / "f", "f"), short_side=80))
    assert frame.shape == (80, 120, 3) and frame.min() == 0.0 and frame.max() == 1.0
