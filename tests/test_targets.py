"""The batched target pipeline against the same steps done one by one."""
import pytest
import torch

from splitbrain.color import get_color_space, rgb_to_lab
from splitbrain.quantize import UniformQuantizer, downsample, poster_quantizers
from splitbrain.targets import build_targets


def random_batch(n=3, size=24, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)


@pytest.mark.parametrize("space", ["lab", "rescaled_lab", "rgb"])
def test_shapes_ranges_and_class_counts(space):
    targets = build_targets(space, grid=6)
    batch = targets.prepare(random_batch())
    assert batch.x1.shape == (3, 1, 24, 24) and batch.x2.shape == (3, 2, 24, 24)
    assert batch.t1.shape == batch.t2.shape == (3, 6, 6)
    assert batch.t1.dtype == batch.t2.dtype == torch.long
    assert targets.num_classes == (100, 100)
    assert 0 <= int(batch.t1.min()) and int(batch.t1.max()) < 100
    assert 0 <= int(batch.t2.min()) and int(batch.t2.max()) < 100
    assert batch.x1.abs().max() <= 1.5 and batch.x2.abs().max() <= 1.5
    if space == "rescaled_lab":
        assert batch.ranges2.shape == (3, 2, 2)
        assert bool((batch.ranges2[..., 0] < batch.ranges2[..., 1]).all())
    else:
        assert batch.ranges2 is None


def test_lab_targets_equal_the_step_by_step_pipeline():
    rgb = random_batch(seed=1)
    batch = build_targets("lab", grid=8).prepare(rgb)
    lab = rgb_to_lab(rgb)
    small = downsample(lab, grid=8)
    expected_l = UniformQuantizer([100], [0.0], [101.0]).encode(small[:, :1])
    expected_ab = UniformQuantizer([10, 10], [-87.0, -108.0], [99.0, 95.0]).encode(small[:, 1:])
    assert torch.equal(batch.t1, expected_l)
    assert torch.equal(batch.t2, expected_ab)
    assert torch.allclose(batch.x1, (lab[:, :1] - 50) / 50, atol=1e-5)


def test_rescaled_targets_ignore_a_uniform_colour_shift():
    """Rescaled bins encode contrast within the image: shifting a and b leaves the classes."""
    rgb = random_batch(n=2, size=24, seed=2)
    lab = rgb_to_lab(rgb).double()
    shifted = lab.clone()
    shifted[:, 1] += 7.0
    shifted[:, 2] -= 5.0
    _, quantizer = poster_quantizers("rescaled_lab")
    space = get_color_space("rescaled_lab")
    classes = quantizer.encode(downsample(space.split(lab)[1], grid=6))
    classes_shifted = quantizer.encode(downsample(space.split(shifted)[1], grid=6))
    assert torch.equal(classes, classes_shifted)
    _, fixed = poster_quantizers("lab")
    assert not torch.equal(fixed.encode(downsample(lab[:, 1:], 6)), fixed.encode(downsample(shifted[:, 1:], 6)))


def test_uint8_and_float_input_give_the_same_targets():
    rgb = random_batch(seed=3)
    targets = build_targets("lab", grid=6)
    a = targets.prepare(rgb)
    b = targets.prepare(rgb.double() / 255)
    assert torch.equal(a.t1, b.t1) and torch.equal(a.t2, b.t2)


def test_bad_input_is_named():
    targets = build_targets("lab", grid=12)
    with pytest.raises(ValueError, match="grid"):
        targets.prepare(random_batch(size=8))
    with pytest.raises(ValueError, match="rgb"):
        targets.prepare(torch.zeros(2, 24, 24, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="grid"):
        build_targets("lab", grid=0)
    with pytest.raises(ValueError, match="name"):
        build_targets("hsv")


@pytest.mark.parametrize("space", ["lab", "rescaled_lab", "rgb"])
@pytest.mark.parametrize("block_pixels", [1, 24 * 24 * 2, 24 * 24 * 4])
def test_cpu_blocks_give_the_whole_batch_result(space, block_pixels, monkeypatch):
    """Converting the batch in cache-sized blocks (1 image, 2 images, a ragged last block of 3)
    changes nothing: every value equals the one-pass result exactly."""
    targets = build_targets(space, grid=6)
    rgb = random_batch(n=7, seed=3)
    monkeypatch.setattr("splitbrain.targets.CPU_BLOCK_PIXELS", 1 << 30)
    whole = targets.prepare(rgb)
    monkeypatch.setattr("splitbrain.targets.CPU_BLOCK_PIXELS", block_pixels)
    blocked = targets.prepare(rgb)
    for name in ("x1", "x2", "t1", "t2"):
        assert torch.equal(getattr(blocked, name), getattr(whole, name)), name
    if space == "rescaled_lab":
        assert torch.equal(blocked.ranges2, whole.ranges2)
    float_rgb = rgb.double() / 255
    monkeypatch.setattr("splitbrain.targets.CPU_BLOCK_PIXELS", block_pixels)
    blocked = targets.prepare(float_rgb)
    assert blocked.x1.dtype == torch.float64
    monkeypatch.setattr("splitbrain.targets.CPU_BLOCK_PIXELS", 1 << 30)
    assert torch.equal(blocked.x2, targets.prepare(float_rgb).x2)
