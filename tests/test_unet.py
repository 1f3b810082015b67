"""PConvUNet / ConvUNet: the appendix table layer by layer, hole-value independence, padding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from maskbench.models.partialconv import PartialConv2d
from maskbench.models.unet import ConvUNet, PConvUNet, he_initialize

# Table 2 of Liu et al. 2018, written out: (kernel, in, out, stride, batch norm, activation).
# Decoder inputs are the upsampled features concatenated with the skip (Concat rows).
TABLE_2_ENCODER = [
    (7, 3, 64, 2, False, "relu"),
    (5, 64, 128, 2, True, "relu"),
    (5, 128, 256, 2, True, "relu"),
    (3, 256, 512, 2, True, "relu"),
    (3, 512, 512, 2, True, "relu"),
    (3, 512, 512, 2, True, "relu"),
    (3, 512, 512, 2, True, "relu"),
    (3, 512, 512, 2, True, "relu"),
]
TABLE_2_DECODER = [
    (3, 512 + 512, 512, 1, True, "leaky"),
    (3, 512 + 512, 512, 1, True, "leaky"),
    (3, 512 + 512, 512, 1, True, "leaky"),
    (3, 512 + 512, 512, 1, True, "leaky"),
    (3, 512 + 256, 256, 1, True, "leaky"),
    (3, 256 + 128, 128, 1, True, "leaky"),
    (3, 128 + 64, 64, 1, True, "leaky"),
    (3, 64 + 3, 3, 1, False, "none"),
]


# Architecture-level properties hold at any width; thin networks keep the CPU tests fast.
THIN = 0.25


def _hole_batch(size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, size, size, generator=generator)
    valid_mask = torch.ones(1, 1, size, size)
    valid_mask[..., 60:150, 80:200] = 0
    valid_mask[..., 0:30, 0:40] = 0
    return image, valid_mask


@pytest.mark.parametrize("network_class", [PConvUNet, ConvUNet])
def test_layers_follow_table_2(network_class: type[nn.Module]) -> None:
    network = network_class()
    conv_type = PartialConv2d if network_class is PConvUNet else nn.Conv2d
    assert len(network.encoder) == 8 and len(network.decoder) == 8
    for block, (kernel, in_ch, out_ch, stride, batch_norm, activation) in zip(
        [*network.encoder, *network.decoder], TABLE_2_ENCODER + TABLE_2_DECODER, strict=True
    ):
        assert type(block.conv) is conv_type
        assert block.conv.kernel_size == (kernel, kernel)
        assert (block.conv.in_channels, block.conv.out_channels) == (in_ch, out_ch)
        assert block.conv.stride == (stride, stride)
        assert block.conv.padding == (kernel // 2, kernel // 2)
        assert isinstance(block.norm, nn.BatchNorm2d) == batch_norm
        assert (block.conv.bias is None) == batch_norm
        if activation == "relu":
            assert type(block.activation) is nn.ReLU
        elif activation == "leaky":
            assert type(block.activation) is nn.LeakyReLU and block.activation.negative_slope == 0.2
        else:
            assert type(block.activation) is nn.Identity


def test_feature_sizes_strides_and_nearest_upsampling(monkeypatch: pytest.MonkeyPatch) -> None:
    network = PConvUNet(width=THIN).eval()
    sizes: list[tuple[int, int]] = []
    for block in [*network.encoder, *network.decoder]:
        block.register_forward_hook(lambda module, args, output: sizes.append(tuple(output[0].shape[1:3])))
    modes: list[str] = []
    original = torch.nn.functional.interpolate

    def recording_interpolate(*args, **kwargs):
        modes.append(kwargs["mode"])
        assert kwargs["scale_factor"] == 2.0
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "interpolate", recording_interpolate)
    with torch.no_grad():
        network(*_hole_batch())
    expected = [(c // 4, 256 // 2**k) for k, c in enumerate([64, 128, 256, 512, 512, 512, 512, 512], start=1)]
    expected += [(c // 4, 2**k) for k, c in enumerate([512, 512, 512, 512, 256, 128, 64], start=1)] + [(3, 256)]
    assert sizes == expected
    assert modes == ["nearest"] * 16  # features and masks, eight times


def test_pconv_output_ignores_hole_values_and_conv_depends_on_them() -> None:
    image, valid_mask = _hole_batch()
    other = torch.where(valid_mask > 0, image, torch.rand(image.shape, generator=torch.Generator().manual_seed(9)))
    pconv = PConvUNet(width=THIN).eval()
    with torch.no_grad():
        torch.testing.assert_close(pconv(image, valid_mask), pconv(other, valid_mask), rtol=0, atol=0)
    # ConvUNet writes its placeholder into the hole, so the hole value it sees is the
    # placeholder; the same weights give another output for the other placeholder.
    gray, mean = ConvUNet(hole_fill="gray", width=THIN).eval(), ConvUNet(hole_fill="imagenet_mean", width=THIN).eval()
    mean.load_state_dict(gray.state_dict())
    with torch.no_grad():
        difference = (gray(image, valid_mask) - mean(image, valid_mask)).abs()
    assert difference.amax() > 1e-3


def test_sizes_not_multiple_of_256_are_padded_and_cropped() -> None:
    network = PConvUNet(width=THIN).eval()
    image, valid_mask = torch.rand(2, 3, 100, 300), torch.ones(2, 3, 100, 300)
    with torch.no_grad():
        output = network(image, valid_mask)
    assert output.shape == (2, 3, 100, 300)
    # The padding is centred and counts as hole: the result equals running the network on
    # the image placed by hand in the middle of a 256×256 canvas of holes.
    canvas, canvas_mask = torch.zeros(2, 3, 256, 512), torch.zeros(2, 3, 256, 512)
    canvas[:, :, 78:178, 106:406], canvas_mask[:, :, 78:178, 106:406] = image, 1.0
    with torch.no_grad():
        by_hand = network(canvas, canvas_mask)[:, :, 78:178, 106:406]
    torch.testing.assert_close(output, by_hand, rtol=1e-4, atol=1e-4)


def test_freezing_encoder_batchnorm_keeps_its_statistics() -> None:
    network = PConvUNet(width=THIN)
    network.freeze_encoder_batchnorm()
    network.train()
    encoder_norm, decoder_norm = network.encoder[1].norm, network.decoder[0].norm
    assert not encoder_norm.training and decoder_norm.training
    assert not any(p.requires_grad for p in encoder_norm.parameters())
    assert all(p.requires_grad for p in decoder_norm.parameters())
    before_encoder, before_decoder = encoder_norm.running_mean.clone(), decoder_norm.running_mean.clone()
    network(*_hole_batch())
    torch.testing.assert_close(encoder_norm.running_mean, before_encoder, rtol=0, atol=0)
    assert not torch.equal(decoder_norm.running_mean, before_decoder)


def test_he_initialisation_std_is_sqrt_2_over_fan_in() -> None:
    network = ConvUNet()
    he_initialize(network, generator=torch.Generator().manual_seed(3))
    weight = network.encoder[5].conv.weight
    fan_in = weight.shape[1] * weight.shape[2] * weight.shape[3]
    assert weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.01)
    assert abs(weight.mean().item()) < 1e-3


def test_channels_last_and_bf16_autocast_match_fp32() -> None:
    image, valid_mask = _hole_batch()
    network = PConvUNet(width=THIN).eval()
    with torch.no_grad():
        reference = network(image, valid_mask)
        fast = network.to(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            output = fast(image.to(memory_format=torch.channels_last), valid_mask)
    assert output.shape == reference.shape
    assert (output.float() - reference).abs().mean() < 0.05 * reference.abs().mean()


def test_wrong_input_shape_is_explained() -> None:
    with pytest.raises(ValueError, match=r"expected a valid_mask of shape \(1, 1 or 3, 8, 8\), got \(1, 2, 8, 8\)"):
        PConvUNet()(torch.rand(1, 3, 8, 8), torch.ones(1, 2, 8, 8))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("network_class", [PConvUNet, ConvUNet])
def test_bf16_channels_last_on_cuda_matches_fp32(network_class: type[nn.Module]) -> None:
    image, valid_mask = _hole_batch(512)
    gpu = torch.device("cuda")
    network = network_class().eval().to(gpu)
    image, valid_mask = image.to(gpu), valid_mask.to(gpu)
    with torch.no_grad():
        reference = network(image, valid_mask)
        network.to(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            output = network(image.to(memory_format=torch.channels_last), valid_mask)
    assert output.shape == reference.shape
    assert (output.float() - reference).abs().mean() < 0.05 * reference.abs().mean()
