"""maskbench extract and merge-stores: clean-up, filters, provenance, resume, shards, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import flow
import maskbench.extract as extract_module
from maskbench.cleanup import MaskFilter, clean_hole, hole_iou
from maskbench.cli import main
from maskbench.errors import ConfigError, InputError, OutputExistsError
from maskbench.extract import extract_videos
from maskbench.extract_config import ExtractConfig
from maskbench.merging import merge_stores
from maskbench.parallel import Shard
from maskbench.store import MaskStore
from maskbench.synthetic import (
    render_demo_clip,
    write_corrupt_video,
    write_demo_video,
    write_frames_folder,
    write_video,
)
from maskbench.video import VideoSource

SIZE = (96, 128)  # (height, width) of the test clips; the working size is their shorter side
FRAMES = 10


def _config(**changes: object) -> ExtractConfig:
    """Shipped defaults at the test clips' own size (no resampling), with fast DIS flow.

    The clean-up sizes are scaled down with the frames.
    """
    overrides = {
        "method": "dis",
        "working_size": SIZE[0],
        "batch_size": 4,
        "min_component_area": 12,
        "fill_gap_area": 16,
    }
    return ExtractConfig.load(**{**overrides, **changes})


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """A folder of two demo videos (different codecs), with their true object labels."""
    folder = tmp_path_factory.mktemp("clips")
    labels = {}
    for name, seed in (("a.mp4", 1), ("b.avi", 2)):
        labels[name] = write_demo_video(folder / name, frames=FRAMES, size=SIZE, seed=seed).labels
    return folder, labels


@pytest.fixture(scope="module")
def extracted(clips: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """The clips extracted once with the test configuration."""
    store = tmp_path_factory.mktemp("out") / "masks.store"
    summary = extract_videos(clips[0], store, config=_config(), show_progress=False)
    return store, summary


def _rows(store: Path) -> list[tuple]:
    """(group, source, frame, kind, mask bytes) of every mask: a store's content, order-free."""
    opened = MaskStore.open(store)
    records = opened.records()
    return sorted(
        (
            row.group,
            row.source,
            int(row.frame),
            json.loads(row.extra)["kind"],
            np.packbits(opened[int(row.index)]).tobytes(),
        )
        for row in records.itertuples()
    )


# -- clean-up and filters ----------------------------------------------------------------


def test_closing_joins_a_thin_gap_and_leaves_a_square_unchanged() -> None:
    hole = np.zeros((40, 60), bool)
    hole[10:14, 5:25] = hole[10:14, 27:50] = True  # one streak broken by a 2 px gap
    hole[25:35, 5:15] = True  # a 10x10 block
    cleaned = clean_hole(hole, close_radius=2, open_radius=0, fill_gap_area=0, min_component_area=0)
    assert cleaned[11:13, 25:27].all()  # the streak is joined (its rounded ends leave the corners)
    assert np.array_equal(cleaned[20:, :], hole[20:, :])
    assert cv2.connectedComponents(cleaned.astype(np.uint8))[0] - 1 == 2


def test_opening_removes_hairlines_but_keeps_streaks() -> None:
    hole = np.zeros((40, 80), bool)
    hole[5, 2:78] = True  # a one-pixel line (a flow artefact along a row): long, so big in area
    hole[20:24, 10:70] = True  # a 4 px wide streak
    cleaned = clean_hole(hole, close_radius=0, open_radius=1, fill_gap_area=0, min_component_area=0)
    assert not cleaned[5].any()
    assert np.array_equal(cleaned[20:24, 11:69], hole[20:24, 11:69]) and cleaned[:18].sum() == 0


def test_speckle_is_removed_and_large_components_kept() -> None:
    hole = np.zeros((40, 40), bool)
    hole[2:5, 2:5] = True  # 9 px speckle
    hole[20:30, 20:30] = True  # 100 px component
    cleaned = clean_hole(hole, close_radius=0, open_radius=0, fill_gap_area=0, min_component_area=10)
    assert not cleaned[2:5, 2:5].any() and cleaned.sum() == 100


def test_only_small_enclosed_gaps_are_filled() -> None:
    hole = np.zeros((60, 60), bool)
    hole[5:25, 5:25] = True
    hole[12:17, 12:17] = False  # 25 px enclosed gap: filled
    hole[30:58, 30:58] = True
    hole[36:52, 36:52] = False  # 256 px enclosed gap: kept
    hole[0:10, 40:50] = True
    hole[0:3, 44:46] = False  # 6 px gap touching the image edge: kept
    cleaned = clean_hole(hole, close_radius=0, open_radius=0, fill_gap_area=64, min_component_area=0)
    assert cleaned[12:17, 12:17].all()
    assert not cleaned[36:52, 36:52].any()
    assert not cleaned[0:3, 44:46].any()


def test_dilation_grows_by_the_disk() -> None:
    hole = np.zeros((30, 30), bool)
    hole[10:20, 10:20] = True
    cleaned = clean_hole(hole, close_radius=0, open_radius=0, fill_gap_area=0, min_component_area=0, dilate_radius=1)
    assert cleaned.sum() == 12 * 12 - 4  # the radius-1 disk is a cross: corners stay out


def test_hole_iou_known_values() -> None:
    first, second = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    first[:2] = True
    second[1:3] = True
    assert hole_iou(first, second) == pytest.approx(4 / 12)
    assert hole_iou(first, first) == 1.0 and hole_iou(~first & first, ~first & first) == 1.0


def test_filter_drops_empty_full_and_duplicates_of_the_same_kind() -> None:
    keep = MaskFilter(min_hole_ratio=0.05, max_hole_ratio=0.5, duplicate_iou=0.8)
    base = np.zeros((10, 10), bool)
    base[:3] = True
    shifted = np.zeros((10, 10), bool)
    shifted[1:4] = True  # IoU with base 2/4
    almost = base.copy()
    almost[3, 0] = True  # IoU with base 30/31
    assert keep.drop_reason(np.zeros((10, 10), bool), kind="occlusion") == "empty"
    assert keep.drop_reason(np.ones((10, 10), bool), kind="occlusion") == "near-full"
    assert keep.drop_reason(base, kind="occlusion") is None
    assert keep.drop_reason(almost, kind="occlusion") == "duplicate"
    assert keep.drop_reason(almost, kind="disocclusion") is None  # other kind, own history
    assert keep.drop_reason(shifted, kind="occlusion") is None
    assert keep.drop_reason(base, kind="occlusion") is None  # compared with the last KEPT mask only
    assert dict(keep.dropped) == {"empty": 1, "near-full": 1, "duplicate": 1}


def test_config_validation_names_the_problem() -> None:
    with pytest.raises(ConfigError, match=r"method must be one of auto, tvl1, .*got .lucas-kanade."):
        _config(method="lucas-kanade")
    with pytest.raises(ConfigError, match="min_hole_ratio < max_hole_ratio"):
        _config(min_hole_ratio=0.7)
    assert _config().occlusion_method == flow.DEFAULT_OCCLUSION_METHOD


def test_shards_partition_the_collection_evenly() -> None:
    videos = [VideoSource(Path(f"v{n:02d}.mp4"), f"v{n:02d}.mp4") for n in range(11)]
    parts = [Shard(k, 3).select(sorted(videos[::-1], key=lambda video: video.name)) for k in (1, 2, 3)]
    names = [video.name for part in parts for video in part]
    assert sorted(names) == sorted(video.name for video in videos) and len(set(names)) == 11
    assert [len(part) for part in parts] == [4, 4, 3]
    assert parts[0][:2] == [videos[0], videos[3]]  # by sorted position, whatever the input order
    assert Shard.parse("2/8") == (2, 8)
    for bad in ("0/4", "5/4", "2", "a/b"):
        with pytest.raises(ConfigError, match="--shard"):
            Shard.parse(bad)


# -- extraction --------------------------------------------------------------------------


def test_masks_have_provenance_and_lie_on_moving_object_boundaries(
    clips: tuple[Path, dict], extracted: tuple[Path, object]
) -> None:
    store_path, summary = extracted
    store = MaskStore.open(store_path)
    records = store.records()
    assert set(records["source"]) == {"a.mp4", "b.avi"}
    assert set(records["group"]) == {f"{name}::dis+{flow.DEFAULT_OCCLUSION_METHOD}" for name in ("a.mp4", "b.avi")}
    extras = [json.loads(extra) for extra in records["extra"]]
    assert {extra["method"] for extra in extras} == {"dis"}
    assert {extra["occlusion"] for extra in extras} == {flow.DEFAULT_OCCLUSION_METHOD}
    assert {extra["kind"] for extra in extras} == {"occlusion", "disocclusion"}
    assert records["frame"].between(0, FRAMES - 1).all() and len(records) >= 8
    assert {tuple(shape) for shape in store.shapes()} == {SIZE}
    assert summary.masks_kept == len(records) and summary.pairs == 2 * (FRAMES - 1)

    # The true occlusions and disocclusions of the pair (t, t+1) lie where the covering layer
    # changes between the two frames. With DIS flow on 96x128 frames, about 80% of the hole
    # pixels lie within 2 px of that region, which covers only about 20% of the frame; the
    # same masks against the pair three frames later score about 43%.
    near, total = 0, 0
    interior = np.zeros(SIZE, bool)
    interior[4:-4, 4:-4] = True  # the camera pan occludes thin strips along the frame edge
    for row in records.itertuples():
        labels = clips[1][row.source]
        t = row.frame if json.loads(row.extra)["kind"] == "occlusion" else row.frame - 1
        changed = (labels[t] != labels[t + 1]).astype(np.uint8)
        band = cv2.dilate(changed, np.ones((5, 5), np.uint8)) > 0
        hole = store[int(row.index)] & interior
        near += np.count_nonzero(hole & band)
        total += np.count_nonzero(hole)
    assert total > 0 and near / total > 0.7


def test_second_run_adds_nothing(clips: tuple[Path, dict], extracted: tuple[Path, object], tmp_path: Path) -> None:
    store = tmp_path / "again.store"
    shutil.copytree(extracted[0], store)
    before = MaskStore.open(store).fingerprint()
    summary = extract_videos(clips[0], store, config=_config(), show_progress=False)
    assert summary.already_done == ["a.mp4", "b.avi"] and summary.results == []
    assert MaskStore.open(store).fingerprint() == before


def test_interrupted_run_resumes_without_duplicates(
    clips: tuple[Path, dict], extracted: tuple[Path, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "resumed.store"
    real = extract_module.extract_video
    calls = []

    def crash_on_second(video: VideoSource, *args: object, **kwargs: object) -> object:
        calls.append(video.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(video, *args, **kwargs)

    monkeypatch.setattr(extract_module, "extract_video", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        extract_videos(clips[0], store, config=_config(), show_progress=False)
    assert {group.split("::")[0] for group in MaskStore.open(store).groups()} == {"a.mp4"}
    monkeypatch.setattr(extract_module, "extract_video", real)
    summary = extract_videos(clips[0], store, config=_config(), show_progress=False)
    assert summary.already_done == ["a.mp4"] and [result.name for result in summary.results] == ["b.avi"]
    assert _rows(store) == _rows(extracted[0])


def test_shards_merged_equal_one_run(clips: tuple[Path, dict], extracted: tuple[Path, object], tmp_path: Path) -> None:
    for k in (1, 2):
        extract_videos(clips[0], tmp_path / f"part{k}.store", config=_config(shard=f"{k}/2"), show_progress=False)
    assert MaskStore.open(tmp_path / "part1.store").records()["source"].unique().tolist() == ["a.mp4"]
    parts = [tmp_path / "part1.store", tmp_path / "part2.store"]
    summary = merge_stores(parts, tmp_path / "all.store", show_progress=False)
    assert summary.groups_copied == 2 and summary.duplicates == []
    assert _rows(tmp_path / "all.store") == _rows(extracted[0])
    again = merge_stores([tmp_path / "part2.store"], tmp_path / "all.store", show_progress=False)
    assert again.masks_copied == 0
    assert [group for group, _ in again.duplicates] == [f"b.avi::dis+{flow.DEFAULT_OCCLUSION_METHOD}"]
    assert "skipped 1 groups already in the output" in again.to_text()


def test_workers_give_the_same_masks(clips: tuple[Path, dict], extracted: tuple[Path, object], tmp_path: Path) -> None:
    extract_videos(clips[0], tmp_path / "w.store", config=_config(workers=2), show_progress=False)
    assert _rows(tmp_path / "w.store") == _rows(extracted[0])


def test_bad_static_and_single_frame_videos_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    clip = render_demo_clip(frames=4, size=SIZE, seed=4)
    write_video(folder / "good.avi", clip.frames)
    write_video(folder / "static.avi", [clip.frames[0]] * 4)
    write_video(folder / "still.avi", clip.frames[:1])
    write_corrupt_video(folder / "corrupt.mp4")
    (folder / "empty.mkv").write_bytes(b"")
    summary = extract_videos(folder, tmp_path / "m.store", config=_config(), show_progress=False)
    assert sorted(result.name for result in summary.unreadable) == ["corrupt.mp4", "empty.mkv"]
    assert sorted(result.name for result in summary.read) == ["good.avi", "static.avi", "still.avi"]
    text = summary.to_text()
    assert "skipped 2 unreadable" in text
    assert "skipped corrupt.mp4: cannot open" in text
    assert "static.avi: static: consecutive frames do not differ, no masks" in text
    assert "still.avi: a single frame: no pairs, no masks" in text
    assert "good.avi:" not in text  # it gave masks: no note
    assert set(MaskStore.open(tmp_path / "m.store").records()["source"]) == {"good.avi"}

    again = extract_videos(folder, tmp_path / "m.store", config=_config(), show_progress=False)
    assert sorted(again.already_done) == ["good.avi", "static.avi", "still.avi"]  # maskless videos are done too
    assert sorted(result.name for result in again.unreadable) == ["corrupt.mp4", "empty.mkv"]  # retried

    merge_stores([tmp_path / "m.store"], tmp_path / "merged.store", show_progress=False)
    assert MaskStore.open(tmp_path / "merged.store").groups() == MaskStore.open(tmp_path / "m.store").groups()


def test_nothing_readable_is_an_error(tmp_path: Path) -> None:
    write_corrupt_video(tmp_path / "v" / "a.mp4")
    write_corrupt_video(tmp_path / "v" / "b.mp4", seed=1)
    with pytest.raises(InputError, match=r"none of the 2 videos could be read: a.mp4: cannot open"):
        extract_videos(tmp_path / "v", tmp_path / "m.store", config=_config(), show_progress=False)
    with pytest.raises(InputError, match="no videos in"):
        extract_videos(tmp_path / "m.store", tmp_path / "n.store", config=_config(), show_progress=False)


def test_frame_folder_with_mixed_sizes(tmp_path: Path) -> None:
    clip = render_demo_clip(frames=5, size=SIZE, seed=5)
    sizes = [SIZE, (120, 160), SIZE, (72, 96), (96, 140)]  # same aspect ratio, except the last
    frames = [
        cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        for frame, (h, w) in zip(clip.frames, sizes, strict=True)
    ]
    write_frames_folder(tmp_path / "videos" / "shot", frames)
    summary = extract_videos(tmp_path / "videos", tmp_path / "m.store", config=_config(), show_progress=False)
    assert summary.pairs == 4 and summary.masks_kept > 0
    store = MaskStore.open(tmp_path / "m.store")
    assert {tuple(shape) for shape in store.shapes()} == {SIZE}
    assert set(store.records()["source"]) == {"shot"}


# -- command line ------------------------------------------------------------------------


def test_cli_extract_and_merge(clips: tuple[Path, dict], extracted: tuple[Path, object], tmp_path: Path) -> None:
    config = tmp_path / "small.toml"
    config.write_text("min_component_area = 12\nfill_gap_area = 16\nbatch_size = 4\n")
    runner = CliRunner()
    base = ["extract", "--videos", str(clips[0]), "--method", "dis", "--working-size", str(SIZE[0])]
    base += ["--config", str(config)]
    first = runner.invoke(main, [*base, "--out", str(tmp_path / "p1.store"), "--shard", "1/2"])
    assert first.exit_code == 0, first.output
    assert "masks kept" in first.output and "hole ratio of the kept masks" in first.output
    second = runner.invoke(main, [*base, "--out", str(tmp_path / "p2.store"), "--shard", "2/2"])
    assert second.exit_code == 0, second.output
    parts = [str(tmp_path / "p1.store"), str(tmp_path / "p2.store")]
    merged = runner.invoke(main, ["merge-stores", *parts, "--out", str(tmp_path / "all.store")])
    assert merged.exit_code == 0, merged.output
    assert "merged" in merged.output and _rows(tmp_path / "all.store") == _rows(extracted[0])

    bad_shard = runner.invoke(main, [*base, "--out", str(tmp_path / "x.store"), "--shard", "3/2"])
    assert bad_shard.exit_code == 2 and "Error: --shard K/N needs 1 <= K <= N" in bad_shard.output
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("x")
    taken = runner.invoke(main, [*base, "--out", str(tmp_path / "taken")])
    assert taken.exit_code == 2 and "is not a mask store" in taken.output


def test_cli_exits_2_when_nothing_can_be_read(tmp_path: Path) -> None:
    write_corrupt_video(tmp_path / "v" / "a.mp4")
    arguments = ["extract", "--videos", str(tmp_path / "v"), "--out", str(tmp_path / "m.store"), "--method", "dis"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2
    assert "Error: none of the 1 videos could be read" in result.output


def test_merge_refuses_its_own_output_as_source(extracted: tuple[Path, object]) -> None:
    with pytest.raises(InputError, match="is also a source"):
        merge_stores([extracted[0]], extracted[0], show_progress=False)


def test_existing_non_store_output_is_refused(clips: tuple[Path, dict], tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="is not a mask store"):
        extract_videos(clips[0], tmp_path / "out", config=_config(), show_progress=False)
