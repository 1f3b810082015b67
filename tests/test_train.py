"""Training: a short CPU run lowers the loss; Ctrl-C, resume and fine-tuning behave."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import skimage.data
import torch
from click.testing import CliRunner
from torch import nn
from torch.nn import functional

import maskbench.train as train_module
from maskbench.augment import AugmentConfig
from maskbench.cli import main
from maskbench.errors import ConfigError, InputError, OutputExistsError
from maskbench.files import write_image
from maskbench.models import load_inpainter
from maskbench.store import MaskStore
from maskbench.train import TrainingInterrupted, TrainResult, train
from maskbench.train_config import TrainConfig

AUGMENT = AugmentConfig(
    dilation_radius=(0, 1),
    rotation_degrees=(-30.0, 30.0),
    crop_scale=(0.6, 1.0),
    frame_inset=0.04,
    flip_horizontal=0.5,
    flip_vertical=0.0,
)
# A thin U-Net (width 1/16) on 32 px crops keeps a step well under a second on the CPU.
TINY = {
    "image_size": 32,
    "batch_size": 2,
    "workers": 0,
    "model_width": 0.0625,
    "learning_rate": 1e-3,
    "log_every": 1,
    "sample_every": 4,
    "sample_count": 2,
    "checkpoint_every": 2,
    "keep_checkpoints": 2,
}


class TinyFeatures(nn.Module):
    """A fixed random two-level feature extractor standing in for VGG-16."""

    def __init__(self, interrupt_at_call: int | None = None) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("first", torch.randn(4, 3, 3, 3, generator=generator) / 3)
        self.register_buffer("second", torch.randn(6, 4, 3, 3, generator=generator) / 6)
        self.calls, self.interrupt_at_call = 0, interrupt_at_call

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        self.calls += 1
        if self.calls == self.interrupt_at_call:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of a step
        level1 = functional.max_pool2d(functional.relu(functional.conv2d(image, self.first, padding=1)), 2)
        return [level1, functional.max_pool2d(functional.relu(functional.conv2d(level1, self.second, padding=1)), 2)]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("train-data")
    for name in ("astronaut", "coffee", "chelsea"):
        write_image(root / "images" / f"{name}.png", (getattr(skimage.data, name)()[::8, ::8] / 255).astype(np.float32))
    holes = []
    for offset in range(3):
        hole = np.zeros((64, 64), bool)
        hole[10 + 8 * offset : 30 + 8 * offset, 15:45] = True
        holes.append(hole)
    MaskStore.create(root / "masks").append(holes, sources=["synthetic"] * 3, frames=[0, 1, 2])
    return root / "images", root / "masks"


def run_training(
    run: Path, data: tuple[Path, Path], *, steps: int, extractor: nn.Module | None = None, **options: Any
) -> TrainResult:
    images, masks = data
    overrides = {**TINY, **options.pop("config", {})}
    config = TrainConfig.load(**overrides, arch=options.pop("arch", "pconv"), stop_step=steps, device="cpu", **options)
    return train(run, images, masks, config=config, augment=AUGMENT, feature_extractor=extractor or TinyFeatures())


def read_log(run: Path) -> list[dict[str, str]]:
    with open(run / "log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def four_step_run(tmp_path_factory: pytest.TempPathFactory, data) -> Path:
    run = tmp_path_factory.mktemp("runs") / "straight"
    run_training(run, data, steps=4)
    return run


def test_a_short_run_lowers_the_loss_and_writes_its_outputs(tmp_path: Path, data) -> None:
    run = tmp_path / "run"
    result = run_training(run, data, steps=10, arch="conv", config={"checkpoint_every": 5, "sample_every": 5})
    rows = read_log(run)
    assert [int(row["step"]) for row in rows] == list(range(1, 11))
    totals = [float(row["total"]) for row in rows]
    assert np.mean(totals[-3:]) < 0.7 * totals[0]
    assert set(rows[0]) >= {"valid", "hole", "perceptual", "style_out", "style_comp", "tv", "images_per_second"}
    assert result.step == 10 and result.checkpoint == run / "checkpoints" / "step-00000010.pt"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step-00000005.pt",
        "step-00000005.weights.pt",
        "step-00000010.pt",
        "step-00000010.weights.pt",
    ]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-00000005.png", "step-00000010.png"]
    assert json.loads((run / "run.json").read_text())["model_config"] == {"hole_fill": "gray", "width": 0.0625}
    assert load_inpainter(str(result.checkpoint), device="cpu").name == "Conv"  # the checkpoint is scorable


def test_ctrl_c_then_resume_equals_an_uninterrupted_run(tmp_path: Path, data, four_step_run: Path) -> None:
    run = tmp_path / "interrupted"
    with pytest.raises(TrainingInterrupted) as interrupted:
        run_training(run, data, steps=4, extractor=TinyFeatures(interrupt_at_call=3))
    assert interrupted.value.step == 3 and interrupted.value.checkpoint.is_file()
    result = run_training(run, data, steps=4, resume=True)
    assert result.step == 4
    straight = torch.load(four_step_run / "checkpoints" / "step-00000004.pt", weights_only=True)
    resumed = torch.load(result.checkpoint, weights_only=True)
    for key, tensor in straight["model"].items():
        assert torch.equal(resumed["model"][key], tensor), key
    assert [row["step"] for row in read_log(run)] == ["1", "2", "3", "4"]


def test_finetuning_freezes_the_encoder_batchnorm(tmp_path: Path, data, four_step_run: Path) -> None:
    run = tmp_path / "finetune"
    shutil.copytree(four_step_run, run)
    result = run_training(run, data, steps=None, finetune=True, config={"finetune_steps": 2})
    assert (result.step, result.phase) == (6, "finetune")
    before = torch.load(four_step_run / "checkpoints" / "step-00000004.pt", weights_only=True)
    after = torch.load(result.checkpoint, weights_only=True)
    assert after["phase"] == "finetune" and after["phase_start"] == 4
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if not p.name.endswith(".weights.pt")) == [
        "step-00000002.pt",
        "step-00000004.pt",
        "step-00000006-finetune.pt",  # the initial phase's kept
    ]
    for key in ("encoder.3.norm.running_mean", "encoder.3.norm.weight", "encoder.7.norm.running_var"):
        assert torch.equal(after["model"][key], before["model"][key]), key
    assert not torch.equal(
        after["model"]["decoder.2.norm.running_mean"], before["model"]["decoder.2.norm.running_mean"]
    )
    assert not torch.equal(after["model"]["encoder.3.conv.weight"], before["model"]["encoder.3.conv.weight"])
    assert [(row["phase"], float(row["learning_rate"])) for row in read_log(run)[-2:]] == [("finetune", 5e-5)] * 2


def test_runs_are_never_overwritten_and_mistakes_are_explained(tmp_path: Path, data, four_step_run: Path) -> None:
    with pytest.raises(OutputExistsError, match=r"already exists; continue it with --resume, or pass --overwrite"):
        run_training(four_step_run, data, steps=4)
    with pytest.raises(ConfigError, match=r"is at step 4 already"):
        run_training(four_step_run, data, steps=4, resume=True, arch=None)
    with pytest.raises(ConfigError, match=r"trains 'pconv', not 'conv'"):
        run_training(four_step_run, data, steps=8, resume=True, arch="conv")
    with pytest.raises(InputError, match=r"to continue from; start a new run"):
        run_training(tmp_path / "nothing", data, steps=2, resume=True, arch=None)


def test_cli_names_the_missing_vgg_weights_and_creates_nothing(
    tmp_path: Path, data, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    images, masks = data
    arguments = [
        "train",
        "--arch",
        "pconv",
        "--images",
        str(images),
        "--masks",
        str(masks),
        "--out",
        str(tmp_path / "run"),
        "--steps",
        "1",
        "--size",
        "32",
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2
    assert f"vgg16-397923af.pth are not in {tmp_path / 'torch' / 'hub' / 'checkpoints'}" in result.output
    assert not (tmp_path / "run").exists()


class RecordingVGG(TinyFeatures):
    """Stands in for ``VGG16Features(path)`` in the command line: records the weights path it was given."""

    paths: ClassVar[list[str | None]] = []
    interrupt_at_call: int | None = None

    def __init__(self, weights_path: str | None = None) -> None:
        super().__init__(interrupt_at_call=RecordingVGG.interrupt_at_call)
        RecordingVGG.paths.append(weights_path)


@pytest.fixture()
def recording_vgg(monkeypatch: pytest.MonkeyPatch) -> type[RecordingVGG]:
    RecordingVGG.paths, RecordingVGG.interrupt_at_call = [], None
    monkeypatch.setattr(train_module, "VGG16Features", RecordingVGG)
    return RecordingVGG


def test_resume_keeps_size_batch_and_config_and_refuses_changes(tmp_path: Path, data, recording_vgg) -> None:
    images, masks = data
    vgg = tmp_path / "my-vgg16.pth"  # never read: the stand-in only records the path
    user_config = tmp_path / "my.toml"
    user_config.write_text(
        f'model_width = 0.0625\nvgg16_weights = "{vgg}"\nlog_every = 100\nsample_every = 100\nsample_count = 1\n'
    )
    run = tmp_path / "run"
    runner = CliRunner()
    # kept by hand (fmt: skip): each option beside its value, as on a command line
    first = runner.invoke(main, ["train", "--arch", "conv", "--images", str(images), "--masks", str(masks),
                                 "--out", str(run), "--size", "32", "--batch-size", "2", "--workers", "0",
                                 "--config", str(user_config), "--steps", "2", "--device", "cpu"])  # fmt: skip
    assert first.exit_code == 0, first.output
    resumed = runner.invoke(main, ["train", "--out", str(run), "--resume", "--steps", "3", "--device", "cpu"])
    assert resumed.exit_code == 0, resumed.output
    assert recording_vgg.paths == [str(vgg), str(vgg)]  # the recorded VGG path, without --config
    checkpoint = torch.load(run / "checkpoints" / "step-00000003.pt", weights_only=True)
    assert {
        key: checkpoint["config"][key] for key in ("image_size", "batch_size", "workers", "model_width", "log_every")
    } == {
        "image_size": 32,
        "batch_size": 2,
        "workers": 0,
        "model_width": 0.0625,
        "log_every": 100,
    }
    record = json.loads((run / "run.json").read_text())
    assert (record["config"]["steps"], record["step"], record["phase"]) == (3, 3, "initial")
    # short runs still log and sample their last step; a small weights-only file is kept for scoring
    assert [row["step"] for row in read_log(run)] == ["2", "3"]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-00000002.png", "step-00000003.png"]
    weights = run / "checkpoints" / "step-00000003.weights.pt"
    assert weights.stat().st_size < 0.6 * (run / "checkpoints" / "step-00000003.pt").stat().st_size
    assert "optimizer" not in torch.load(weights, weights_only=True)
    assert load_inpainter(str(weights), device="cpu").name == "Conv"
    changed = runner.invoke(
        main, ["train", "--out", str(run), "--resume", "--steps", "4", "--batch-size", "6", "--size", "64"]
    )
    assert changed.exit_code == 2
    assert (
        "batch_size 2 -> 6" in changed.output
        and "image_size 32 -> 64" in changed.output
        and "another --out" in changed.output
    )
    assert not (run / "checkpoints" / "step-00000004.pt").exists()


def test_ctrl_c_in_the_command_line_says_what_is_kept_and_how_to_continue(tmp_path: Path, data, recording_vgg) -> None:
    images, masks = data
    recording_vgg.interrupt_at_call = 3  # one call per step: Ctrl-C in the third step, which is finished
    run = tmp_path / "run"
    (tmp_path / "thin.toml").write_text("model_width = 0.0625\n")
    # kept by hand (fmt: skip): each option beside its value, as on a command line
    result = CliRunner().invoke(main, ["train", "--arch", "pconv", "--images", str(images), "--masks", str(masks),
                                       "--out", str(run), "--size", "32", "--batch-size", "2", "--workers", "0",
                                       "--steps", "4", "--device", "cpu",
                                       "--config", str(tmp_path / "thin.toml")])  # fmt: skip
    assert result.exit_code == 130, result.output
    checkpoint = run / "checkpoints" / "step-00000003.pt"
    assert (
        f"Interrupted: step 3 is saved in {checkpoint}; continue with: maskbench train --out {run} --resume"
        in result.output
    )
    assert checkpoint.is_file() and json.loads((run / "run.json").read_text())["step"] == 3
