"""Training: a short CPU run lowers the loss; Ctrl-C, resume and fine-tuning behave."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from torch import nn

from maskbench.augment import AugmentConfig
from maskbench.cli import main
from maskbench.errors import ConfigError, InputError, OutputExistsError
from maskbench.files import write_image
from maskbench.models import load_inpainter
from maskbench.store import MaskStore
from maskbench.train import TrainingInterrupted, load_train_config, train

AUGMENT = AugmentConfig(dilation_radius=(0, 1), rotation_degrees=(-30.0, 30.0), crop_scale=(0.6, 1.0), flip_horizontal=0.5, flip_vertical=0.0)
# A thin U-Net (width 1/16) on 32 px crops keeps a step well under a second on the CPU.
TINY = {"image_size": 32, "batch_size": 2, "workers": 0, "model_width": 0.0625, "learning_rate": 1e-3,
        "log_every": 1, "sample_every": 4, "sample_count": 2, "checkpoint_every": 2, "keep_checkpoints": 2}


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
        level1 = F.max_pool2d(F.relu(F.conv2d(image, self.first, padding=1)), 2)
        return [level1, F.max_pool2d(F.relu(F.conv2d(level1, self.second, padding=1)), 2)]


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


def run_training(run: Path, data, *, steps: int, extractor: nn.Module | None = None, **options):  # type: ignore[no-untyped-def]
    images, masks = data
    overrides = {**TINY, **options.pop("config", {})}
    return train(
        run, config=load_train_config(overrides=overrides), arch=options.pop("arch", "pconv"), images=images, masks=masks,
        stop_step=steps, device="cpu", augment=AUGMENT, feature_extractor=extractor or TinyFeatures(), **options,
    )


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
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000005.pt", "step-00000010.pt"]
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
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step-00000002.pt", "step-00000004.pt", "step-00000006-finetune.pt",  # the initial phase's kept
    ]
    for key in ("encoder.3.norm.running_mean", "encoder.3.norm.weight", "encoder.7.norm.running_var"):
        assert torch.equal(after["model"][key], before["model"][key]), key
    assert not torch.equal(after["model"]["decoder.2.norm.running_mean"], before["model"]["decoder.2.norm.running_mean"])
    assert not torch.equal(after["model"]["encoder.3.conv.weight"], before["model"]["encoder.3.conv.weight"])
    assert [(row["phase"], float(row["learning_rate"])) for row in read_log(run)[-2:]] == [("finetune", 5e-5)] * 2


def test_runs_are_never_overwritten_and_mistakes_are_explained(tmp_path: Path, data, four_step_run: Path) -> None:
    with pytest.raises(OutputExistsError, match=r"already exists; continue it with --resume, or pass --overwrite"):
        run_training(four_step_run, data, steps=4)
    with pytest.raises(ConfigError, match=r"is at step 4 already"):
        run_training(four_step_run, data, steps=4, resume=True, arch=None)
    with pytest.raises(ConfigError, match=r"trains 'pconv', not 'conv'"):
        run_training(four_step_run, data, steps=8, resume=True, arch="conv")
    with pytest.raises(InputError, match=r"has no checkpoint to continue from"):
        run_training(tmp_path / "nothing", data, steps=2, resume=True, arch=None)


def test_cli_names_the_missing_vgg_weights_and_creates_nothing(tmp_path: Path, data, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    images, masks = data
    arguments = ["train", "--arch", "pconv", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "run"),
                 "--steps", "1", "--size", "32", "--device", "cpu"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2
    assert f"vgg16-397923af.pth not found at {tmp_path / 'torch' / 'hub' / 'checkpoints'}" in result.output
    assert not (tmp_path / "run").exists()
