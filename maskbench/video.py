"""Reading frames from video files and from folders of numbered frames; pair sampling.

A *video* is either a file that OpenCV's :class:`cv2.VideoCapture` decodes (``.mp4``,
``.avi``, ``.mov``, ``.mkv``, ``.webm``, ...) or a folder of numbered still frames
(``frame_0001.png``, ``frame_0002.png``, ... ordered by the numbers in their names, so that
``f2.png`` comes before ``f10.png``). Frames leave this module as float32 RGB in [0, 1],
H×W×3, resized so that the shorter side is the working size; OpenCV's BGR order never
leaves it.

Every frame of a sequence is resized to the size found for its *first* frame, so a frame
folder that mixes sizes still gives frame pairs of one size (frames with another aspect
ratio are stretched to it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskbench.errors import InputError
from maskbench.files import IMAGE_SUFFIXES, read_image

#: File suffixes read as video files (lower case).
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


@dataclass(frozen=True)
class VideoSource:
    """One video to read: a video file or a folder of numbered frames.

    Attributes
    ----------
    path : Path
        The file or folder.
    name : str
        Its path relative to the collection folder, POSIX style (``"clips/a.mp4"``); the
        collection folder itself, when it holds frames directly, is named by its own name.
    """

    path: Path
    name: str

    @property
    def is_frame_folder(self) -> bool:
        """Whether this video is a folder of still frames.

        Returns
        -------
        bool
            True when :attr:`path` is a folder (checked on disk at each call), False for a
            video file.
        """
        return self.path.is_dir()


@dataclass(frozen=True)
class FramePair:
    """Two consecutive frames of a video.

    Attributes
    ----------
    index : int
        Frame number of ``first`` in the video (0-based); ``second`` is frame ``index + 1``.
    first, second : (H, W, 3) float32 ndarray
        RGB in [0, 1], at the working size.
    """

    index: int
    first: np.ndarray
    second: np.ndarray


def _natural_key(name: str) -> tuple[object, ...]:
    """Sort key that orders the digit runs of a name by value: ``f2`` before ``f10``."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def _frame_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: _natural_key(p.name))


def find_videos(folder: str | os.PathLike) -> list[VideoSource]:
    """Every video file and every folder of frames under ``folder``, sorted by name.

    Parameters
    ----------
    folder : path-like
        The collection. Video files are found at any depth by suffix (:data:`VIDEO_SUFFIXES`,
        any case); every folder that directly holds image files is one frame sequence.
        Hidden files and folders (names starting with ".") are ignored.

    Returns
    -------
    list of VideoSource
        Sorted by :attr:`VideoSource.name`, so the order is the same on every machine.

    Raises
    ------
    InputError
        When ``folder`` is not a folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"videos folder not found: {root}; pass a folder of video files or frame folders")
    videos = []
    for current, folders, all_files in os.walk(root):
        folders[:] = [name for name in folders if not name.startswith(".")]
        files = [name for name in all_files if not name.startswith(".")]
        current_path = Path(current)
        if any(Path(name).suffix.lower() in IMAGE_SUFFIXES for name in files):
            relative = current_path.relative_to(root).as_posix()
            videos.append(VideoSource(current_path, root.resolve().name if relative == "." else relative))
        for name in files:
            if Path(name).suffix.lower() in VIDEO_SUFFIXES:
                path = current_path / name
                videos.append(VideoSource(path, path.relative_to(root).as_posix()))
    return sorted(videos, key=lambda video: video.name)


def working_shape(height: int, width: int, *, short_side: int) -> tuple[int, int]:
    """(height, width) after scaling so that the shorter side is ``short_side`` pixels.

    The longer side is rounded to the nearest pixel; the aspect ratio is kept.

    Parameters
    ----------
    height, width : int
        Size of the frame as read, pixels, ≥ 1.
    short_side : int
        Working size: the shorter side after scaling, pixels, ≥ 1.

    Returns
    -------
    (int, int)
        (height, width) at the working size; a square frame becomes ``short_side`` square.
    """
    scale = short_side / min(height, width)
    return (
        short_side if height <= width else round(height * scale),
        short_side if width < height else round(width * scale),
    )


def _resize_rgb(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a float image in [0, 1] to (height, width) = ``shape``.

    Area averaging to shrink, bicubic to enlarge (clipped back to [0, 1], as bicubic
    overshoots at edges).
    """
    height, width = shape
    if image.shape[:2] == shape:
        return image
    if height * width < image.shape[0] * image.shape[1]:
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return np.clip(cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def frame_count(video: VideoSource) -> int:
    """Number of frames the video announces (0 when unknown or unreadable); for progress bars.

    A video file's count comes from its container header and may be wrong (``tree.avi``
    of OpenCV's samples announces 444 frames and decodes 68).

    Parameters
    ----------
    video : VideoSource
        A video file or frame folder.

    Returns
    -------
    int
        ≥ 0: the image files of a frame folder, the header's count of a video file, 0 when
        the file cannot be opened or announces none.
    """
    if video.is_frame_folder:
        return len(_frame_files(video.path))
    capture = cv2.VideoCapture(str(video.path))
    try:
        return max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0) if capture.isOpened() else 0
    finally:
        capture.release()


def _video_file_frames(path: Path, wanted: Callable[[int], bool] | None) -> Iterator[tuple[int, np.ndarray | None]]:
    """(index, BGR uint8 frame) of a video file; ``None`` for frames not in ``wanted``."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InputError(f"cannot open {path} as a video (corrupt, empty or unsupported codec)")
    try:
        index = 0
        while capture.grab():
            if wanted is None or wanted(index):
                ok, frame = capture.retrieve()
                if not ok or frame is None:
                    raise InputError(f"cannot decode frame {index} of {path} (corrupt file)")
                yield index, frame
            else:
                yield index, None
            index += 1
    finally:
        capture.release()


def _folder_frames(path: Path, wanted: Callable[[int], bool] | None) -> Iterator[tuple[int, np.ndarray | None]]:
    """(index, RGB float frame) of a frame folder; ``None`` for frames not in ``wanted``."""
    for index, frame_path in enumerate(_frame_files(path)):
        yield index, (read_image(frame_path) if wanted is None or wanted(index) else None)


def _as_rgb_float(frame: np.ndarray, *, from_video: bool) -> np.ndarray:
    if not from_video:
        return frame
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    scale = 65535.0 if frame.dtype == np.uint16 else 255.0
    return cv2.cvtColor(frame[:, :, :3], cv2.COLOR_BGR2RGB).astype(np.float32) / np.float32(scale)


def read_frames(
    video: VideoSource, *, short_side: int, wanted: Callable[[int], bool] | None = None
) -> Iterator[tuple[int, np.ndarray | None]]:
    """Decode a video frame by frame, at the working size.

    Parameters
    ----------
    video : VideoSource
        A video file or frame folder.
    short_side : int
        Working size: every frame is resized so that its shorter side has this many pixels
        (all frames to the size found for the first one).
    wanted : callable, optional
        ``wanted(index)`` says whether to decode frame ``index``; the others are skipped
        cheaply (``grab`` without ``retrieve``, or not read from disk) and yielded as
        ``None``. Default: all.

    Yields
    ------
    index : int
        Frame number, from 0.
    frame : (H, W, 3) float32 ndarray or None
        RGB in [0, 1].

    Raises
    ------
    InputError
        When the file cannot be opened or a frame cannot be decoded.
    """
    from_video = not video.is_frame_folder
    frames = _video_file_frames(video.path, wanted) if from_video else _folder_frames(video.path, wanted)
    shape: tuple[int, int] | None = None
    try:
        for index, frame in frames:
            if frame is None:
                yield index, None
                continue
            if shape is None:
                shape = working_shape(*frame.shape[:2], short_side=short_side)
            yield index, _resize_rgb(_as_rgb_float(frame, from_video=from_video), shape)
    except cv2.error as error:
        raise InputError(f"OpenCV cannot decode {video.path}: {str(error).strip().splitlines()[-1]}") from None


class PairReader:
    """Consecutive frame pairs (t, t+1) of one video for t = 0, S, 2S, ... (S = ``stride``).

    The pairs always join neighbouring frames (the paper's setting); the stride only thins
    out which pairs are taken. Frames that no pair needs are skipped without being decoded in
    full. A container may announce a wrong frame count, so the number of frames actually
    read is known only after :meth:`pairs` is exhausted: :attr:`frames_read`.

    Parameters
    ----------
    video : VideoSource
    short_side : int
        Working size of the shorter side, pixels.
    stride : int
        Take every ``stride``-th pair, ≥ 1.

    Raises
    ------
    ValueError
        When ``stride`` < 1.

    Examples
    --------
    >>> reader = PairReader(video, short_side=512, stride=1)     # doctest: +SKIP
    >>> for pair in reader.pairs(): ...                           # doctest: +SKIP
    >>> reader.frames_read                                        # doctest: +SKIP
    """

    def __init__(self, video: VideoSource, *, short_side: int, stride: int) -> None:
        if stride < 1:
            raise ValueError(f"stride must be at least 1, got {stride}")
        self.video = video
        self.short_side = short_side
        self.stride = stride
        self.frames_read = 0

    def _wanted(self, index: int) -> bool:
        return index % self.stride in (0, 1 % self.stride)

    def pairs(self) -> Iterator[FramePair]:
        """Yield the pairs in order, decoding the video once.

        Yields
        ------
        FramePair
            Pairs (t, t+1) for t = 0, S, 2S, ..., frames (H, W, 3) float32 RGB in [0, 1] at
            the working size.

        Raises
        ------
        InputError
            When the file cannot be opened or a frame cannot be decoded.
        """
        self.frames_read = 0
        previous: np.ndarray | None = None
        for index, frame in read_frames(self.video, short_side=self.short_side, wanted=self._wanted):
            self.frames_read = index + 1
            if previous is not None and frame is not None and (index - 1) % self.stride == 0:
                yield FramePair(index - 1, previous, frame)
            previous = frame
