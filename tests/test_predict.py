"""Decoding a split-brain network's predictions: colourisations, lightness maps, losses."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from splitbrain.models import SplitBrainNet, build_model
from splitbrain.predict import (
    colorize,
    combine_with_group1,
    decode_group2,
    matching_checkpoint,
    predict_lightness,
    pretext_cross_entropy,
    prior_cross_entropy,
    refresh_batchnorm,
)
from splitbrain.checkpoint import checkpoint_state
from splitbrain.presets import get_preset
from splitbrain.quantize import downsample, quantization_error
from splitbrain.targets import build_targets

GRID = 4
SIZE = 16


def smooth_images(n: int = 3, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    """(n, 3, size, size) uint8 images with smooth, moderately saturated colours."""
    generator = torch.Generator().manual_seed(seed)
    corners = torch.rand(n, 3, 2, 2, generator=generator) * 0.6 + 0.2
    return (F.interpolate(corners, size=size, mode="bilinear", align_corners=True) * 255).round().to(torch.uint8)


class _Fixed(nn.Module):
    """A stand-in half that returns the same logits whatever it is given."""

    def __init__(self, logits: torch.Tensor, in_channels: int):
        super().__init__()
        self.register_buffer("logits", logits)
        self.in_channels = in_channels

    def forward(self, x):
        assert x.shape[1] == self.in_channels and x.shape[0] == self.logits.shape[0]
        return self.logits


class OneHotPair(nn.Module):
    """A 'perfect' split-brain pair: large logits at the true classes of known images."""

    def __init__(self, targets, rgb: torch.Tensor, scale: float = 100.0):
        super().__init__()
        batch = targets.prepare(rgb)
        k2, k1 = targets.num_classes
        logits1 = F.one_hot(batch.t2, k2).permute(0, 3, 1, 2).float() * scale
        logits2 = F.one_hot(batch.t1, k1).permute(0, 3, 1, 2).float() * scale
        self.half1 = _Fixed(logits1, 1)
        self.half2 = _Fixed(logits2, 2)
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x1, x2):
        return self.half1(x1), self.half2(x2)


@pytest.mark.parametrize("space", ["lab", "rescaled_lab"])
def test_one_hot_colorization_is_the_quantized_reconstruction(space):
    targets = build_targets(space, grid=GRID, bins1=100, bins2=10)
    rgb = smooth_images()
    model = OneHotPair(targets, rgb)
    coloured = colorize(model, targets, rgb, upsample="nearest")
    reference = quantization_error(rgb, targets.quantizer2, grid=GRID, space=targets.space)
    assert coloured.shape == rgb.shape and coloured.dtype == torch.float32
    assert torch.allclose(coloured, reference.reconstruction.float(), atol=1e-5)
    # and with bilinear upsampling: same images, only smoother (same ab on average)
    smooth = colorize(model, targets, rgb, upsample="bilinear")
    assert smooth.shape == rgb.shape and 0.0 <= float(smooth.min()) and float(smooth.max()) <= 1.0


@pytest.mark.parametrize("space", ["lab", "rescaled_lab"])
def test_one_hot_decoding_is_within_half_a_bin(space):
    targets = build_targets(space, grid=GRID, bins1=100, bins2=10)
    rgb = smooth_images(seed=1)
    model = OneHotPair(targets, rgb)
    batch = targets.prepare(rgb)
    decoded = decode_group2(model.half1(batch.x1), targets, batch.ranges2)  # (N, 2, g, g)
    true_ab = downsample(targets.space.split(targets.space.from_rgb(rgb))[1], GRID)
    half = targets.quantizer2.bin_widths(batch.ranges2).float() / 2  # (2,) or (N, 2)
    half = half.view(-1, 2, 1, 1) if half.dim() == 2 else half.view(1, 2, 1, 1)
    assert decoded.shape == (3, 2, GRID, GRID)
    assert bool(((decoded - true_ab).abs() <= half + 1e-4).all())
    if space == "rescaled_lab":  # the rescaled bins are each image's own: narrower than the fixed ones
        fixed = build_targets("lab", grid=GRID).quantizer2.bin_widths().float() / 2
        assert bool((half.view(-1, 2) < fixed).all())


def test_rescaled_decoding_needs_the_ranges():
    targets = build_targets("rescaled_lab", grid=GRID)
    rgb = smooth_images()
    batch = targets.prepare(rgb)
    logits = torch.zeros(3, targets.num_classes[0], GRID, GRID)
    with pytest.raises(ValueError, match="ranges"):
        decode_group2(logits, targets, None)
    # zero logits: the mean of the per-image centres, the middle of each image's range
    mean = decode_group2(logits, targets, batch.ranges2, mode="mean")
    middle = batch.ranges2.mean(dim=-1)  # (N, 2)
    assert torch.allclose(mean, middle[:, :, None, None].expand_as(mean), atol=1e-4)


def test_one_hot_lightness_is_within_half_a_bin():
    targets = build_targets("lab", grid=GRID, bins1=100)
    rgb = smooth_images(seed=2)
    predicted = predict_lightness(OneHotPair(targets, rgb), targets, rgb)
    true_l = downsample(targets.space.split(targets.space.from_rgb(rgb))[0], GRID)
    assert predicted.shape == (3, 1, GRID, GRID) and predicted.dtype == torch.float32
    assert float((predicted - true_l).abs().max()) <= 1.01 / 2 + 1e-4


def test_combine_keeps_the_image_when_given_its_own_colours():
    targets = build_targets("lab", grid=SIZE)
    rgb = smooth_images(seed=3)
    ab = targets.space.split(targets.space.from_rgb(rgb))[1]
    back = combine_with_group1(ab, rgb, targets, upsample="nearest")
    assert torch.allclose(back * 255, rgb.float(), atol=0.6)  # rounding of the uint8 input only


def test_real_network_shapes_ranges_and_mode_restored():
    torch.manual_seed(0)
    targets = build_targets("lab", grid=GRID, bins1=20, bins2=5)
    model = SplitBrainNet("simplenet", num_classes=targets.num_classes, grid=GRID, input_size=SIZE)
    model.train()
    rgb = torch.randint(0, 256, (5, 3, SIZE, SIZE), dtype=torch.uint8)
    coloured = colorize(model, targets, rgb, batch_size=2)
    assert model.training  # the caller's mode is restored
    assert coloured.shape == (5, 3, SIZE, SIZE) and coloured.dtype == torch.float32
    assert 0.0 <= float(coloured.min()) and float(coloured.max()) <= 1.0
    assert torch.allclose(coloured, colorize(model, targets, rgb, batch_size=5), atol=1e-6)  # chunking is invisible
    lightness = predict_lightness(model, targets, rgb, batch_size=2)
    assert lightness.shape == (5, 1, GRID, GRID)
    assert 0.0 <= float(lightness.min()) and float(lightness.max()) <= 101.0
    # colourising keeps L*: the image's own lightness survives (up to gamut clipping)
    kept = targets.space.from_rgb(coloured)[:, 0]
    assert float((kept - targets.space.from_rgb(rgb)[:, 0]).abs().median()) < 1.0


def test_pretext_cross_entropy_matches_the_training_loss():
    torch.manual_seed(1)
    targets = build_targets("lab", grid=GRID, bins1=20, bins2=5)
    model = SplitBrainNet("simplenet", num_classes=targets.num_classes, grid=GRID, input_size=SIZE).eval()
    rgb = torch.randint(0, 256, (6, 3, SIZE, SIZE), dtype=torch.uint8)
    batch = targets.prepare(rgb)
    with torch.no_grad():
        logits1, logits2 = model(batch.x1, batch.x2)
    expected1 = float(F.cross_entropy(logits1, batch.t2))
    expected2 = float(F.cross_entropy(logits2, batch.t1))
    measured = pretext_cross_entropy(model, targets, rgb, batch_size=4)  # uneven chunks: 4 + 2
    assert measured["loss1"] == pytest.approx(expected1, rel=1e-5)
    assert measured["loss2"] == pytest.approx(expected2, rel=1e-5)
    assert measured["loss"] == pytest.approx(expected1 + expected2, rel=1e-5)
    perfect = pretext_cross_entropy(OneHotPair(targets, rgb), targets, rgb)
    assert perfect["loss1"] < 1e-6 and perfect["loss2"] < 1e-6


def test_prior_cross_entropy_is_the_entropy_of_the_classes():
    targets = build_targets("lab", grid=GRID, bins1=20, bins2=5)
    flat = torch.full((2, 3, SIZE, SIZE), 128, dtype=torch.uint8)
    assert prior_cross_entropy(targets, flat) == {"loss1": 0.0, "loss2": 0.0, "loss": 0.0}
    rgb = torch.randint(0, 256, (4, 3, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    batch = targets.prepare(rgb)
    measured = prior_cross_entropy(targets, rgb)
    for key, classes, k in (("loss1", batch.t2, 25), ("loss2", batch.t1, 20)):
        counts = np.bincount(classes.flatten().numpy(), minlength=k).astype(float)
        p = counts[counts > 0] / counts.sum()
        assert measured[key] == pytest.approx(float(-(p * np.log(p)).sum()), rel=1e-9)
    # a constant prediction of those frequencies reaches exactly that loss
    k2 = targets.num_classes[0]
    frequencies = torch.bincount(batch.t2.flatten(), minlength=k2).double() / batch.t2.numel()
    logits = frequencies.clamp_min(1e-300).log().view(1, -1, 1, 1).expand(4, k2, GRID, GRID)
    assert float(F.cross_entropy(logits, batch.t2)) == pytest.approx(measured["loss1"], rel=1e-9)
    assert measured["loss1"] <= math.log(k2)


def test_matching_checkpoint(tmp_path):
    config = get_preset("smoke", out=str(tmp_path / "a"))
    path = tmp_path / "checkpoint.pt"
    assert matching_checkpoint(path, config) is None  # missing
    weights = build_model(config).state_dict()
    torch.save(checkpoint_state(config.to_dict(), weights, config.epochs, 0), path)
    assert matching_checkpoint(path, config) == path
    elsewhere = get_preset("smoke", out=str(tmp_path / "b"), progress=False, verbose=False)
    assert matching_checkpoint(path, elsewhere) == path  # where and how it reports do not matter
    assert matching_checkpoint(path, get_preset("smoke", out=str(tmp_path / "a"), lr=2e-3)) is None
    assert matching_checkpoint(path, get_preset("smoke", out=str(tmp_path / "a"), epochs=config.epochs + 1)) is None
    torch.save(checkpoint_state(config.to_dict(), weights, 1, 0), path)
    assert matching_checkpoint(path, config) is None  # unfinished
    path.write_bytes(b"not a checkpoint")
    assert matching_checkpoint(path, config) is None


def test_bad_arguments_raise_value_errors():
    targets = build_targets("lab", grid=GRID)
    rgb = smooth_images()
    model = OneHotPair(targets, rgb)
    with pytest.raises(ValueError, match="temperature"):
        colorize(model, targets, rgb, temperature=0.0)
    with pytest.raises(ValueError, match="mode"):
        colorize(model, targets, rgb, mode="median")
    with pytest.raises(ValueError, match="upsample"):
        colorize(model, targets, rgb, upsample="cubic")
    with pytest.raises(ValueError, match="model"):
        colorize(nn.Linear(2, 2), targets, rgb)
    with pytest.raises(ValueError, match="rgb"):
        predict_lightness(model, targets, rgb.permute(0, 2, 3, 1))
    with pytest.raises(ValueError, match="batch_size"):
        pretext_cross_entropy(model, targets, rgb, batch_size=0)


def test_refresh_batchnorm_gives_the_statistics_of_the_images():
    torch.manual_seed(3)
    targets = build_targets("lab", grid=GRID, bins1=20, bins2=5)
    model = SplitBrainNet("simplenet", num_classes=targets.num_classes, grid=GRID, input_size=SIZE).eval()
    rgb = torch.randint(0, 256, (8, 3, SIZE, SIZE), dtype=torch.uint8)
    norm = model.half1.trunk.stages["conv1"][1]
    assert isinstance(norm, nn.BatchNorm2d)
    norm.running_mean.fill_(5.0)  # stale statistics
    norm.running_var.fill_(7.0)
    refreshed = refresh_batchnorm(model, targets, rgb, batch_size=4)  # two equal batches
    assert refreshed is model and not model.training and norm.momentum == 0.1
    with torch.no_grad():
        pre = model.half1.trunk.stages["conv1"][0](targets.prepare(rgb).x1)  # conv1 before its BatchNorm
    means = torch.stack([pre[:4].mean(dim=(0, 2, 3)), pre[4:].mean(dim=(0, 2, 3))])
    variances = torch.stack([pre[:4].transpose(0, 1).reshape(pre.shape[1], -1).var(dim=1),
                             pre[4:].transpose(0, 1).reshape(pre.shape[1], -1).var(dim=1)])
    assert torch.allclose(norm.running_mean, means.mean(dim=0), atol=1e-5)
    assert torch.allclose(norm.running_var, variances.mean(dim=0), rtol=1e-4, atol=1e-6)
    assert int(norm.num_batches_tracked) == 2
