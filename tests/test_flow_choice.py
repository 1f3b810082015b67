"""extract --method auto, one method per store, the TV-L1-on-a-CPU notice, split provenance."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import maskbench.extract as extract_module
from maskbench.cli import main
from maskbench.errors import ConfigError, MaskbenchWarning, MixedMethodsError
from maskbench.extract import extract_videos, resolve_method
from maskbench.extract_config import ExtractConfig
from maskbench.flow_choice import (
    group_method_tag,
    method_tag,
    resolve_flow_method,
    slow_cpu_notice,
    store_method_tags,
    video_group,
)
from maskbench.merging import merge_stores
from maskbench.procedural import GenerateConfig, generate_masks
from maskbench.store import MaskStore
from maskbench.synthetic import write_demo_video
from maskbench.testset import build_testset
from maskbench.testset_config import TestsetConfig
from maskbench.video import VideoSource
from maskbench.video_masks import VideoMasks

SIZE = (64, 80)


def _config(**changes: object) -> ExtractConfig:
    """Shipped defaults at the clips' own size, small clean-up sizes."""
    overrides = {"working_size": SIZE[0], "batch_size": 4, "min_component_area": 12, "fill_gap_area": 16}
    return ExtractConfig.load(**{**overrides, **changes})


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    for name, seed in (("a.mp4", 1), ("b.avi", 2)):
        write_demo_video(folder / name, frames=5, size=SIZE, seed=seed)
    return folder


@pytest.fixture(scope="module")
def dis_store(clips: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("stores") / "dis.store"
    extract_videos(clips, store, config=_config(method="dis"), show_progress=False)
    return store


# -- auto ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "device", "expected"),
    [
        ("auto", "cpu", "dis-ultrafast"),
        ("auto", "cuda", "tvl1"),
        ("farneback", "cuda", "farneback"),
        ("tvl1", "cpu", "tvl1"),
    ],
)
def test_auto_resolves_per_device(method: str, device: str, expected: str) -> None:
    resolved = resolve_flow_method(method, cpu_method="dis-ultrafast", device=torch.device(device))
    assert resolved == expected


def test_extraction_resolves_auto_for_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    config, device = resolve_method(_config(method="auto", cpu_method="farneback", device="cpu"))
    assert (config.method, device.type) == ("farneback", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # only resolved, never used
    config, device = resolve_method(_config(method="auto"))
    assert (config.method, device.type) == ("tvl1", "cuda")


def test_a_pinned_opencv_method_ignores_the_device() -> None:
    config, device = resolve_method(_config(method="dis", device="cpu"))
    assert (config.method, device.type) == ("dis", "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_auto_with_a_missing_cuda_device_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"--device: .*CUDA is not available"):
        resolve_method(_config(method="auto", device="cuda:0"))


def test_the_shipped_default_is_auto_with_a_named_cpu_method() -> None:
    config = ExtractConfig.load()
    assert config.method == "auto" and config.cpu_method == "dis"
    with pytest.raises(ConfigError, match="cpu_method must be one of tvl1"):
        _config(cpu_method="auto")


def test_the_resolved_method_is_recorded(dis_store: Path, clips: Path, tmp_path: Path) -> None:
    summary = extract_videos(clips, tmp_path / "auto.store", config=_config(device="cpu"), show_progress=False)
    assert summary.flow == "dis+range+median (--method auto on cpu)"
    assert summary.to_text().startswith("flow: dis+range+median (--method auto on cpu)")
    store = MaskStore.open(tmp_path / "auto.store")
    assert store_method_tags(store) == {"dis+range+median"}
    assert {json.loads(extra)["method"] for extra in store.records()["extra"]} == {"dis"}
    # auto on this CPU made the same masks as the pinned method
    assert [store[i].tobytes() for i in range(len(store))] == [
        MaskStore.open(dis_store)[i].tobytes() for i in range(len(store))
    ]


# -- one method per store ----------------------------------------------------------------


def test_group_names_carry_the_method_tag() -> None:
    group = video_group("clips/a::b.mp4", method_tag("dis", "range+median"))
    assert group == "clips/a::b.mp4::dis+range+median"
    assert group_method_tag(group) == "dis+range+median"
    assert group_method_tag("generate:mixed items 0-99") is None
    assert group_method_tag("notes::lucas-kanade+fb") is None


def test_a_store_refuses_a_second_method(dis_store: Path, clips: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.store"
    shutil.copytree(dis_store, store)
    before = sorted(path.name for path in (store / "shards").iterdir())
    with pytest.raises(MixedMethodsError, match=r"holds masks made with dis\+range\+median.*makes farneback"):
        extract_videos(clips, store, config=_config(method="farneback"), show_progress=False)
    with pytest.raises(MixedMethodsError, match="makes dis\\+fb"):
        extract_videos(clips, store, config=_config(method="dis", occlusion="fb"), show_progress=False)
    assert sorted(path.name for path in (store / "shards").iterdir()) == before  # nothing written
    summary = extract_videos(
        clips, store, config=_config(method="farneback", allow_mixed_methods=True), show_progress=False
    )
    assert len(summary.read) == 2
    assert store_method_tags(MaskStore.open(store)) == {"dis+range+median", "farneback+range+median"}


def test_a_store_resumes_with_its_own_method(dis_store: Path, clips: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.store"
    shutil.copytree(dis_store, store)
    summary = extract_videos(clips, store, config=_config(device="cpu"), show_progress=False)  # auto → dis
    assert sorted(summary.already_done) == ["a.mp4", "b.avi"]


def test_overwrite_starts_a_store_afresh_with_another_method(dis_store: Path, clips: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.store"
    shutil.copytree(dis_store, store)
    extract_videos(clips, store, config=_config(method="farneback"), overwrite=True, show_progress=False)
    assert store_method_tags(MaskStore.open(store)) == {"farneback+range+median"}


def test_merge_refuses_stores_of_two_methods(dis_store: Path, clips: Path, tmp_path: Path) -> None:
    other = tmp_path / "farneback.store"
    extract_videos(clips, other, config=_config(method="farneback"), show_progress=False)
    with pytest.raises(MixedMethodsError, match=r"different methods .*dis\+range\+median in dis.store"):
        merge_stores([dis_store, other], tmp_path / "all.store", show_progress=False)
    summary = merge_stores([dis_store, other], tmp_path / "all.store", allow_mixed_methods=True, show_progress=False)
    assert summary.groups_copied == 4


def test_cli_refuses_mixing_and_accepts_the_flag(dis_store: Path, clips: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.store"
    shutil.copytree(dis_store, store)
    base = ["extract", "--videos", str(clips), "--out", str(store), "--working-size", str(SIZE[0])]
    refused = CliRunner().invoke(main, [*base, "--method", "farneback"])
    assert refused.exit_code == 2
    assert "Error: " in refused.output and "--allow-mixed-methods" in refused.output
    assert "Traceback" not in refused.output
    accepted = CliRunner().invoke(main, [*base, "--method", "farneback", "--allow-mixed-methods"])
    assert accepted.exit_code == 0, accepted.output
    assert "flow: farneback+range+median" in accepted.output


# -- TV-L1 on a CPU --------------------------------------------------------------------------


def _no_extraction(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the per-video work by a stub that records the method it was given."""
    methods: list[str] = []

    def fake(video: VideoSource, config: ExtractConfig, **_: object) -> VideoMasks:
        methods.append(config.method)
        return VideoMasks(video.name, frames_read=5, pairs=4)

    monkeypatch.setattr(extract_module, "extract_video", fake)
    return methods


def test_tvl1_on_a_cpu_warns_once_per_run(clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    methods = _no_extraction(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        extract_videos(clips, tmp_path / "t.store", config=_config(method="tvl1", device="cpu"), show_progress=False)
    notices = [w for w in caught if issubclass(w.category, MaskbenchWarning)]
    assert methods == ["tvl1", "tvl1"]  # two videos, one notice
    assert len(notices) == 1
    assert "TV-L1 on the CPU" in str(notices[0].message) and "--method dis" in str(notices[0].message)


def test_no_notice_for_the_cpu_default(clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_extraction(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        extract_videos(clips, tmp_path / "d.store", config=_config(device="cpu"), show_progress=False)
    assert not [w for w in caught if issubclass(w.category, MaskbenchWarning)]


def test_cli_prints_the_notice_once_as_one_line(clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_extraction(monkeypatch)
    arguments = ["extract", "--videos", str(clips), "--out", str(tmp_path / "t.store"), "--method", "tvl1"]
    result = CliRunner().invoke(main, [*arguments, "--device", "cpu", "--working-size", str(SIZE[0])])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "TV-L1 on the CPU" in line]
    assert len(lines) == 1 and lines[0].startswith("Warning: TV-L1 on the CPU")


def test_the_notice_scales_with_frames_and_threads() -> None:
    one = slow_cpu_notice(frames=100, working_size=512, threads=1, cpu_method="dis")
    two = slow_cpu_notice(frames=100, working_size=512, threads=2, cpu_method="dis")
    assert "for 100 frames" in one and "--method dis" in one
    seconds = [float(text.split("(")[2].split(" s/frame")[0]) for text in (one, two)]
    assert seconds[0] == pytest.approx(2 * seconds[1], rel=0.05)


# -- the split lists its sources' methods ------------------------------------------------


def test_split_meta_lists_the_methods_of_its_sources(tmp_path: Path) -> None:
    store = tmp_path / "raw.store"
    generate_masks(store, config=GenerateConfig.load(kind="mixed", count=120, size=(320, 320), seed=5, workers=1))
    build_testset(store, tmp_path / "plain", config=TestsetConfig.load(per_bin=1, seed=1, workers=1))
    assert json.loads((tmp_path / "plain" / "meta.json").read_text())["store"]["methods"] == []
    MaskStore.open(store).append([], sources=[], frames=[], group=video_group("clip.mp4", "dis+range+median"))
    build_testset(store, tmp_path / "split", config=TestsetConfig.load(per_bin=1, seed=1, workers=1))
    assert json.loads((tmp_path / "split" / "meta.json").read_text())["store"]["methods"] == ["dis+range+median"]
