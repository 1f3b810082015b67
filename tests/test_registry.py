"""load_inpainter: every spec kind, valid pixels kept exactly, clear errors."""

from __future__ import annotations

import hashlib
import pickle
import textwrap
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from torch import nn

from maskbench.errors import ConfigError, InputError
from maskbench.models import ConvUNet, PConvUNet, load_inpainter
from maskbench.models.checkpoints import CHECKPOINT_FORMAT


@pytest.fixture(scope="module")
def photo_and_hole() -> tuple[np.ndarray, np.ndarray]:
    image = (skimage.data.astronaut()[100:164:2, 150:230:2] / 255).astype(np.float32)  # 32×40
    hole = np.zeros(image.shape[:2], bool)
    hole[8:20, 10:25] = True
    hole[0:4, 30:] = True  # touches the border
    return image, hole


def assert_valid_pixels_kept(filled: np.ndarray, image: np.ndarray, hole: np.ndarray) -> None:
    assert filled.shape == image.shape and filled.dtype == np.float32
    np.testing.assert_array_equal(filled[~hole], image[~hole])
    assert filled.min() >= 0.0 and filled.max() <= 1.0


def save_checkpoint(path: Path, model: nn.Module, arch: str) -> None:
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "arch": arch,
            "model_config": model.config(),
            "step": 3,
            "model": model.state_dict(),
        },
        path,
    )


@pytest.mark.parametrize(("spec", "name"), [("telea", "Telea"), ("ns", "Navier-Stokes"), ("patchmatch", "PatchMatch")])
def test_builtin_cpu_inpainters_keep_valid_pixels_and_pickle(spec: str, name: str, photo_and_hole) -> None:
    image, hole = photo_and_hole
    inpainter = pickle.loads(pickle.dumps(load_inpainter(spec)))
    assert (inpainter.kind, inpainter.name, inpainter.spec, inpainter.checkpoint_sha256) == ("cpu", name, spec, None)
    filled = inpainter(image, hole)
    assert_valid_pixels_kept(filled, image, hole)
    assert not np.array_equal(filled[hole], image[hole])
    batch = torch.from_numpy(np.stack([image, image[::-1].copy()])).permute(0, 3, 1, 2)
    holes = torch.from_numpy(np.stack([hole, hole]))[:, None]
    filled_batch = inpainter(batch, holes)
    np.testing.assert_array_equal(filled_batch[0].permute(1, 2, 0).numpy(), filled)


@pytest.mark.parametrize("arch", ["pconv", "conv"])
def test_random_unets_are_seeded_full_size_and_keep_valid_pixels(arch: str, photo_and_hole) -> None:
    image, hole = photo_and_hole
    inpainter = load_inpainter(f"{arch}:random", device="cpu")
    assert (inpainter.kind, inpainter.checkpoint_sha256) == ("torch", None)
    assert inpainter.model.width == 1.0  # the paper's network, for speed tests
    weight = inpainter.model.encoder[0].conv.weight
    expected = torch.Generator().manual_seed(0)
    assert torch.equal(
        weight, torch.nn.init.kaiming_normal_(torch.empty_like(weight), nonlinearity="relu", generator=expected)
    )
    assert_valid_pixels_kept(inpainter(image, hole), image, hole)


def test_checkpoints_by_prefix_and_by_bare_path(tmp_path: Path, photo_and_hole) -> None:
    image, hole = photo_and_hole
    model = ConvUNet(hole_fill="imagenet_mean", width=0.0625)
    path = tmp_path / "run.pt"
    save_checkpoint(path, model, "conv")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    by_path, by_prefix = load_inpainter(str(path), device="cpu"), load_inpainter(f"conv:{path}", device="cpu")
    assert by_path.name == "Conv" and by_path.checkpoint_sha256 == digest == by_prefix.checkpoint_sha256
    assert by_path.model.hole_fill == "imagenet_mean"
    with torch.no_grad():
        expected = model.eval()(
            torch.from_numpy(image).permute(2, 0, 1)[None], torch.from_numpy(~hole)[None, None].float()
        )
    expected = expected.clamp(0, 1)[0].permute(1, 2, 0).numpy()
    filled = by_path(image, hole)
    assert_valid_pixels_kept(filled, image, hole)
    np.testing.assert_allclose(filled[hole], expected[hole], atol=1e-5)
    batch = torch.from_numpy(np.stack([image[::-1].copy(), image])).permute(0, 3, 1, 2)
    filled_batch = by_prefix(batch, torch.from_numpy(np.stack([hole, hole]))[:, None])
    assert filled_batch.shape == batch.shape and filled_batch.dtype == torch.float32
    np.testing.assert_allclose(filled_batch[1].permute(1, 2, 0).numpy(), filled, atol=1e-5)
    with pytest.raises(InputError, match=r"is a 'conv' checkpoint, expected 'pconv'"):
        load_inpainter(f"pconv:{path}")


def test_bare_state_dicts_load_with_a_prefix_only(tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save(PConvUNet().state_dict(), path)
    assert load_inpainter(f"pconv:{path}", device="cpu").name == "PConv"
    with pytest.raises(InputError, match=r"not a maskbench checkpoint .* load bare weights as pconv:"):
        load_inpainter(str(path))
    # Both U-Nets have the same parameter names and shapes: only a checkpoint's recorded
    # architecture can tell them apart, a bare state dict cannot.
    assert load_inpainter(f"conv:{path}", device="cpu").name == "Conv"
    torch.save({"module.encoder.0.conv.weight": torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(InputError, match=r"does not fit the 'pconv' U-Net: \d+ missing key\(s\) .* 1 unexpected"):
        load_inpainter(f"pconv:{path}")
    state = PConvUNet().state_dict()
    state["encoder.0.conv.weight"] = torch.zeros(64, 3, 5, 5)
    torch.save(state, path)
    with pytest.raises(
        InputError, match=r"encoder\.0\.conv\.weight has shape \(64, 3, 5, 5\), expected \(64, 3, 7, 7\)"
    ):
        load_inpainter(f"pconv:{path}")


@pytest.mark.filterwarnings("ignore:`torch.jit")
def test_torchscript_models(tmp_path: Path, photo_and_hole) -> None:
    class MeanFill(nn.Module):
        def forward(self, image: torch.Tensor, valid_mask: torch.Tensor) -> torch.Tensor:
            mean = (image * valid_mask).sum(dim=(2, 3), keepdim=True) / valid_mask.sum(dim=(2, 3), keepdim=True)
            return mean.expand_as(image)

    path = tmp_path / "meanfill.pt"
    torch.jit.script(MeanFill()).save(str(path))
    image, hole = photo_and_hole
    inpainter = load_inpainter(f"torchscript:{path}", device="cpu")
    assert inpainter.kind == "torch" and inpainter.checkpoint_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    filled = inpainter(image, hole)
    assert_valid_pixels_kept(filled, image, hole)
    np.testing.assert_allclose(filled[hole], np.broadcast_to(image[~hole].mean(axis=0), filled[hole].shape), atol=1e-5)


def test_package_module_callables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, photo_and_hole) -> None:
    (tmp_path / "my_fills.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            import torch

            def red(image, hole):
                out = image.copy(); out[hole] = (2.0, 0.0, 0.0); return out

            class Ones(torch.nn.Module):
                def forward(self, image, valid_mask):
                    return torch.ones_like(image)

            ones = Ones()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    image, hole = photo_and_hole
    red = load_inpainter("my_fills:red")
    assert (red.kind, red.name) == ("cpu", "red")
    filled = pickle.loads(pickle.dumps(red))(image, hole)
    assert_valid_pixels_kept(filled, image, hole)
    np.testing.assert_array_equal(filled[hole], np.broadcast_to([1.0, 0.0, 0.0], filled[hole].shape))  # clamped
    ones = load_inpainter("my_fills:ones", device="cpu")
    assert ones.kind == "torch"
    assert (ones(image, hole)[hole] == 1.0).all()
    with pytest.raises(ConfigError, match=r"module 'my_fills' has no attribute 'blue'"):
        load_inpainter("my_fills:blue")
    with pytest.raises(ConfigError, match=r"cannot import module 'no_such_module_here'"):
        load_inpainter("no_such_module_here:fill")


def test_unknown_specs_and_missing_files_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown inpainter spec 'deepfill'; expected one of: patchmatch, telea"):
        load_inpainter("deepfill")
    missing = tmp_path / "nothing.pt"
    with pytest.raises(InputError, match=rf"pconv checkpoint not found: {missing}"):
        load_inpainter(f"pconv:{missing}")
    with pytest.raises(InputError, match=rf"checkpoint not found: {missing}"):
        load_inpainter(str(missing))
    with pytest.raises(InputError, match=r"TorchScript file not found"):
        load_inpainter(f"torchscript:{missing}")
    with pytest.raises(ConfigError, match=r"lacks a checkpoint path"):
        load_inpainter("conv:")
    not_torch = tmp_path / "notes.pt"
    not_torch.write_text("hello")
    with pytest.raises(InputError, match=r"notes\.pt is not a readable torch checkpoint"):
        load_inpainter(str(not_torch))


def test_wrong_inputs_are_explained(photo_and_hole) -> None:
    image, hole = photo_and_hole
    inpainter = load_inpainter("pconv:random", device="cpu")
    with pytest.raises(InputError, match=r"expected a float32 RGB image of shape \(H, W, 3\), got float64"):
        inpainter(image.astype(np.float64), hole)
    with pytest.raises(InputError, match=r"expected a bool hole of shape \(32, 40\) \(True = missing\), got uint8"):
        inpainter(image, hole.astype(np.uint8))
    with pytest.raises(InputError, match=r"expected a bool torch hole of shape \(1, 1, 32, 40\)"):
        inpainter(torch.from_numpy(image).permute(2, 0, 1)[None], torch.from_numpy(hole)[None])
