"""Tests of splitbrain.models: shapes, Table 6, widths, parameter counts, features, DAE noise, learning."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from splitbrain.models import (
    ARCHITECTURES,
    DenoisingAutoencoder,
    FCAlexNet,
    FCResNet18,
    SimpleNet,
    SplitBrainHalf,
    SplitBrainNet,
    build_trunk,
    corrupt,
    count_parameters,
    feature_pool_size,
    layer_table,
    recompute_batchnorm_statistics,
    resize_to_grid,
)

# Zhang et al. 2017, Table 6: spatial side at 180 px input and concatenated channels.
TABLE6 = [
    ("conv1", 45, 96), ("pool1", 23, 96), ("conv2", 23, 256), ("pool2", 12, 256), ("conv3", 12, 384),
    ("conv4", 12, 384), ("conv5", 12, 256), ("pool5", 12, 256), ("fc6", 12, 4096), ("fc7", 12, 4096),
]

# Trunk output side under the stem rule (grid 12), for 180 / 96 / 32 px inputs.
EXPECTED_MAP = {
    "simplenet": {180: ("stride4", 12), 96: ("stride2", 12), 32: ("stride1", 8)},
    "fcalexnet": {180: ("table6", 12), 96: ("poster", 12), 32: ("small", 8)},
    "fcresnet18": {180: ("imagenet_no_maxpool", 12), 96: ("cifar", 12), 32: ("cifar", 4)},
}


def on_meta():
    """Build big models without memory or init cost: shapes and counts only."""
    return torch.device("meta")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# --------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 96])
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_pair_output_shapes(arch, size):
    net = SplitBrainNet(arch, in_channels=(1, 2), num_classes=(100, 50), input_size=size).eval()
    with torch.no_grad():
        logits1, logits2 = net(torch.randn(2, 1, size, size), torch.randn(2, 2, size, size))
    assert logits1.shape == (2, 100, 12, 12)  # half 1 (L) predicts group 2's classes
    assert logits2.shape == (2, 50, 12, 12)  # half 2 (ab) predicts group 1's classes
    assert torch.isfinite(logits1).all() and torch.isfinite(logits2).all()
    assert net.half1.trunk.in_channels == 1 and net.half2.trunk.in_channels == 2


def test_fcalexnet_table6_at_180():
    net = SplitBrainNet("fcalexnet", input_size=180).eval()
    assert net.stem == "table6"
    with torch.no_grad():
        logits1, logits2 = net(torch.randn(1, 1, 180, 180), torch.randn(1, 2, 180, 180))
    assert logits1.shape == (1, 100, 12, 12) and logits2.shape == (1, 100, 12, 12)

    pair = layer_table(net, 180)
    assert [(r["layer"], r["spatial"], r["channels"]) for r in pair[:10]] == TABLE6
    assert pair[-1]["layer"] == "classifier" and pair[-1]["spatial"] == 12
    half = layer_table(net.half1, 180)
    assert [r["channels"] for r in half[:10]] == [48, 48, 128, 128, 192, 192, 128, 128, 2048, 2048]
    assert [(r["kernel"], r["stride"], r["dilation"], r["padding"]) for r in half[:10]] == [
        (11, 4, 1, 5), (3, 2, 1, 1), (5, 1, 1, 2), (3, 2, 1, 1), (3, 1, 1, 1),
        (3, 1, 1, 1), (3, 1, 1, 1), (3, 1, 1, 1), (6, 1, 2, 5), (1, 1, 1, 0),
    ]
    assert all(r["channels_per_half"] == (r["channels"] // 2,) * 2 for r in pair[:10])


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_stem_rule_spatial_sizes(arch):
    for size, (stem, side) in EXPECTED_MAP[arch].items():
        with on_meta():
            trunk = build_trunk(arch, in_channels=1, input_size=size, grid=12)
        assert trunk.stem == stem
        assert trunk.map_size(trunk.stem, size) == side
        assert layer_table(trunk, size)[-1]["spatial"] == side  # the arithmetic matches a real run
    # A coarser grid lets small inputs keep the most downsampling stem that still reaches it.
    assert SimpleNet(input_size=32, grid=8).stem == "stride1"
    assert FCAlexNet.choose_stem(180, 6) == "table6" and FCAlexNet.choose_stem(180, 16) == "poster"


def test_forced_stem_and_resize_in_head():
    # 180 px on the CIFAR stem: the ResNet map is 23 x 23 and is pooled to the grid.
    with on_meta():
        half = SplitBrainHalf("fcresnet18", 1, 10, input_size=180, stem="cifar")
        assert layer_table(half, 180)[-2]["spatial"] == 23
        assert half(torch.zeros(1, 1, 180, 180)).shape == (1, 10, 12, 12)


def test_resize_to_grid_values():
    x = torch.randn(2, 3, 16, 16)
    assert resize_to_grid(x, 16) is x
    torch.testing.assert_close(resize_to_grid(x, 8), F.avg_pool2d(x, 2))
    constant = torch.full((1, 2, 4, 4), 3.5)
    torch.testing.assert_close(resize_to_grid(constant, 12), torch.full((1, 2, 12, 12), 3.5))
    # Upsampling aligns pixel centres: a ramp x = column index, read at the source coordinate
    # (j + 0.5) / 3 - 0.5 of each output column j, stays a ramp (clamped at the borders).
    ramp = torch.arange(4.0).expand(1, 1, 4, 4)
    up = resize_to_grid(ramp, 12)
    source = ((torch.arange(12.0) + 0.5) / 3 - 0.5).clamp(0, 3)
    torch.testing.assert_close(up[0, 0], source.expand(12, 12))


# --------------------------------------------------------------------------------------------
# Widths and parameters
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_width_full_doubles_channels(arch):
    with on_meta():
        half = build_trunk(arch, width="half", input_size=32)
        full = build_trunk(arch, width="full", input_size=32)
    assert half.layer_channels.keys() == full.layer_channels.keys()
    for name, channels in half.layer_channels.items():
        assert full.layer_channels[name] == 2 * channels
    expected_full = {
        "simplenet": [64, 128, 256, 256, 512],
        "fcalexnet": [96, 256, 384, 384, 256, 4096, 4096],
        "fcresnet18": [64, 64, 128, 256, 512],
    }[arch]
    assert [full.layer_channels[n] for n in full.feature_layers] == expected_full


def test_fcresnet18_full_width_is_torchvision_resnet18():
    reference = torchvision.models.resnet18(weights=None)
    ours = FCResNet18(in_channels=3, width="full", input_size=224, grid=7)
    assert ours.stem == "imagenet"
    ref_shapes = {k: v.shape for k, v in reference.state_dict().items() if k.startswith("layer")}
    our_shapes = {k.removeprefix("stages."): v.shape for k, v in ours.state_dict().items() if ".layer" in k}
    assert our_shapes == ref_shapes
    # The whole network is torchvision's minus avgpool/fc: same parameter count, same output map.
    fc = count_parameters(reference.fc)
    assert count_parameters(ours) == count_parameters(reference) - fc
    ours.stages["stem"][0].load_state_dict(reference.conv1.state_dict())
    ours.stages["stem"][1].load_state_dict(reference.bn1.state_dict())
    for i in range(1, 5):
        ours.stages[f"layer{i}"].load_state_dict(getattr(reference, f"layer{i}").state_dict())
    ours.eval(), reference.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = torch.nn.Sequential(*list(reference.children())[:-2])(x)
        torch.testing.assert_close(ours(x), expected)


def _simplenet_param_count(in_channels, widths, kernel1):
    count, cin = 0, in_channels
    for i, cout in enumerate(widths):
        k = kernel1 if i == 0 else 3
        count += cin * cout * k * k + 2 * cout  # conv (no bias) + BN weight and bias
        cin = cout
    return count


def test_parameter_counts():
    net = SplitBrainNet("simplenet", num_classes=(100, 50), input_size=32)
    trunk1 = _simplenet_param_count(1, [32, 64, 128, 128, 256], 3)
    trunk2 = _simplenet_param_count(2, [32, 64, 128, 128, 256], 3)
    heads = (256 * 100 + 100) + (256 * 50 + 50)
    assert count_parameters(net) == trunk1 + trunk2 + heads
    net.half2.requires_grad_(False)
    assert count_parameters(net, trainable_only=True) == trunk1 + 256 * 100 + 100

    for arch in ARCHITECTURES:
        with on_meta():
            half_pair = SplitBrainNet(arch, width="half", input_size=96)
            full_pair = SplitBrainNet(arch, width="full", input_size=96)
            one_network = build_trunk(arch, in_channels=3, width="full", input_size=96)
        trunks_half = count_parameters(half_pair.half1.trunk) + count_parameters(half_pair.half2.trunk)
        trunks_full = count_parameters(full_pair.half1.trunk) + count_parameters(full_pair.half2.trunk)
        # Halving every width quarters a conv's weights: the half-width pair has a quarter of
        # the full-width pair's parameters and half of one full network's (the paper's claim).
        assert 0.24 < trunks_half / trunks_full < 0.26, arch
        assert 0.48 < trunks_half / count_parameters(one_network) < 0.52, arch
        assert 0.24 < count_parameters(half_pair) / count_parameters(full_pair) < 0.27, arch


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------


def test_feature_pool_size():
    assert feature_pool_size(256) == 6 and 256 * 36 == 9216  # conv5 of AlexNet: 6 x 6, as Zhang et al.
    assert feature_pool_size(384) == 4  # 4 x 4 x 384 = 6144; 5 x 5 would be 9600 > 9216
    assert feature_pool_size(96) == 9
    assert feature_pool_size(8192) == 1 and feature_pool_size(20000) == 1
    assert feature_pool_size(1, max_dim=10) == 3


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_features_dims(arch):
    net = SplitBrainNet(arch, input_size=32, grid=8).eval()
    x1, x2 = torch.randn(2, 1, 32, 32), torch.randn(2, 2, 32, 32)
    layers = list(net.feature_layers) + list(net.layer_aliases)
    assert {"conv1", "conv5"} <= set(layers)
    with torch.no_grad():
        for layer in layers:
            for max_dim in (9216, 700):
                feats = net.features(x1, x2, layer, max_dim=max_dim)
                dim = net.feature_dim(layer, max_dim)
                assert feats.shape == (2, dim), (layer, max_dim)
                assert dim <= max_dim or dim == net.layer_channels(layer)
                assert torch.isfinite(feats).all()
        if net.layer_aliases:
            torch.testing.assert_close(net.features(x1, x2, "conv5"), net.features(x1, x2, "layer4"))
        # The dimension is a property of the layer, not of the input size.
        big = net.features(torch.randn(1, 1, 48, 48), torch.randn(1, 2, 48, 48), "conv3")
        assert big.shape == (1, net.feature_dim("conv3"))


def test_features_are_both_halves_pooled():
    net = SplitBrainNet("simplenet", input_size=32, grid=8).eval()
    captured = {}
    net.half1.trunk.stages["conv3"].register_forward_hook(lambda m, i, o: captured.__setitem__(1, o.clone()))
    net.half2.trunk.stages["conv3"].register_forward_hook(lambda m, i, o: captured.__setitem__(2, o.clone()))
    x1, x2 = torch.randn(2, 1, 32, 32), torch.randn(2, 2, 32, 32)
    with torch.no_grad():
        feats = net.features(x1, x2, "conv3")
    both = torch.cat([captured[1], captured[2]], dim=1)  # (2, 256, 16, 16)
    assert both.shape == (2, 256, 16, 16)
    expected = F.adaptive_avg_pool2d(both, 6).flatten(1)  # 256 * 6 * 6 = 9216
    torch.testing.assert_close(feats, expected)
    # Half 1's features come first and do not depend on half 2's input.
    with torch.no_grad():
        other = net.features(x1, torch.randn(2, 2, 32, 32), "conv3")
    torch.testing.assert_close(other.view(2, 256, 36)[:, :128], feats.view(2, 256, 36)[:, :128])
    assert not torch.allclose(other.view(2, 256, 36)[:, 128:], feats.view(2, 256, 36)[:, 128:])


def test_features_follow_callers_mode():
    net = SplitBrainNet("simplenet", input_size=32, grid=8)
    x1, x2 = torch.randn(4, 1, 32, 32), torch.randn(4, 2, 32, 32)
    train_feats = net.features(x1, x2, "conv2")
    assert train_feats.requires_grad  # train mode, grad enabled: the caller's choice
    net.eval()
    with torch.no_grad():
        eval_feats = net.features(x1, x2, "conv2")
    assert not eval_feats.requires_grad
    assert not torch.allclose(train_feats, eval_feats)  # batch statistics vs running statistics


# --------------------------------------------------------------------------------------------
# Denoising autoencoder
# --------------------------------------------------------------------------------------------


def test_masking_noise_statistics():
    x = torch.full((4, 3, 64, 64), 0.7)
    g = torch.Generator().manual_seed(1)
    y = corrupt(x, "masking", 0.3, generator=g)
    zeroed = (y == 0).all(dim=1)  # a masked pixel loses all its channels
    assert ((y == 0) | (y == 0.7)).all()
    assert torch.equal((y == 0).any(dim=1), zeroed)
    fraction = zeroed.float().mean().item()
    assert abs(fraction - 0.3) < 4 * math.sqrt(0.3 * 0.7 / zeroed.numel())
    assert torch.equal(x, torch.full((4, 3, 64, 64), 0.7))  # the input is untouched


def test_salt_pepper_noise_statistics():
    x = torch.full((4, 3, 64, 64), 0.25)
    y = corrupt(x, "salt_pepper", 0.2, value_range=(-1.0, 1.0), generator=torch.Generator().manual_seed(2))
    salt, pepper = (y == 1.0).all(dim=1), (y == -1.0).all(dim=1)
    hit = salt | pepper
    assert torch.equal(~hit, (y == 0.25).all(dim=1))
    n = hit.numel()
    assert abs(hit.float().mean().item() - 0.2) < 4 * math.sqrt(0.2 * 0.8 / n)
    assert abs(salt.float().mean().item() - 0.1) < 4 * math.sqrt(0.1 * 0.9 / n)
    assert abs(pepper.float().mean().item() - 0.1) < 4 * math.sqrt(0.1 * 0.9 / n)


def test_gaussian_noise_statistics():
    x = torch.rand(4, 3, 64, 64)
    y = corrupt(x, "gaussian", 0.1, generator=torch.Generator().manual_seed(3))
    noise = y - x
    assert abs(noise.mean().item()) < 4 * 0.1 / math.sqrt(noise.numel())
    assert abs(noise.std().item() - 0.1) < 0.003
    assert (noise != 0).float().mean().item() > 0.99  # every value is perturbed


@pytest.mark.parametrize("noise", ["masking", "salt_pepper", "gaussian"])
def test_noise_level_zero_and_reproducibility(noise):
    x = torch.randn(2, 3, 16, 16)
    unchanged = corrupt(x, noise, 0.0)
    assert torch.equal(unchanged, x) and unchanged.data_ptr() != x.data_ptr()
    a = corrupt(x, noise, 0.3, generator=torch.Generator().manual_seed(7))
    b = corrupt(x, noise, 0.3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and not torch.equal(a, x)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_dae_shapes_and_features(arch):
    dae = DenoisingAutoencoder(arch, noise="masking", noise_level=0.1, width="half", input_size=32, grid=8).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert dae(x).shape == (2, 3, 32, 32)
        assert dae(torch.randn(1, 3, 40, 40)).shape == (1, 3, 40, 40)  # any size: resized at the end
        layer = dae.feature_layers[-1]
        feats = dae.features(x, layer)
        assert feats.shape == (2, dae.feature_dim(layer)) and dae.feature_dim(layer) <= 9216
    assert dae.encoder.in_channels == 3
    assert dae.loss(x).dim() == 0


def test_dae_width_full_matches_half_pair_channels():
    with on_meta():
        dae = DenoisingAutoencoder("fcalexnet", input_size=180)
        pair = SplitBrainNet("fcalexnet", width="half", input_size=180)
    assert [dae.encoder.layer_channels[n] for n in dae.feature_layers] == [
        pair.layer_channels(n) for n in pair.feature_layers
    ]


# --------------------------------------------------------------------------------------------
# Learning
# --------------------------------------------------------------------------------------------


def test_split_brain_step_lowers_loss():
    net = SplitBrainNet("simplenet", num_classes=(100, 50), input_size=32, grid=8)
    x1, x2 = torch.randn(2, 1, 32, 32), torch.randn(2, 2, 32, 32)
    t2, t1 = torch.randint(0, 100, (2, 8, 8)), torch.randint(0, 50, (2, 8, 8))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)

    def loss():
        logits1, logits2 = net(x1, x2)
        return F.cross_entropy(logits1, t2) + F.cross_entropy(logits2, t1)

    first = loss()
    # Sensible init: close to chance, -log(1/100) - log(1/50).
    assert abs(first.item() - (math.log(100) + math.log(50))) < 1.5
    for _ in range(5):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert loss().item() < first.item() - 0.5


def test_dae_step_lowers_loss():
    dae = DenoisingAutoencoder("simplenet", noise="gaussian", noise_level=0.1, width="half", input_size=32, grid=8)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    optimizer = torch.optim.Adam(dae.parameters(), lr=1e-3)

    def fixed_loss():
        return dae.loss(x, generator=torch.Generator().manual_seed(0))

    first = fixed_loss().item()
    for step in range(8):
        optimizer.zero_grad()
        dae.loss(x, generator=torch.Generator().manual_seed(step)).backward()
        optimizer.step()
    assert fixed_loss().item() < 0.8 * first


# --------------------------------------------------------------------------------------------
# Tables and bad input
# --------------------------------------------------------------------------------------------


def test_layer_table_restores_mode_and_lists_every_stage():
    net = SplitBrainNet("simplenet", input_size=32, grid=8)
    rows = layer_table(net, 32)
    assert net.training
    assert [r["layer"] for r in rows] == ["conv1", "conv2", "conv3", "conv4", "conv5", "classifier"]
    assert [r["spatial"] for r in rows] == [32, 16, 16, 8, 8, 8]
    assert sum(r["params"] for r in rows) == count_parameters(net)
    net.eval()
    layer_table(net.half1, 32)
    assert not net.training
    with pytest.raises(ValueError, match="model"):
        layer_table(torch.nn.Linear(2, 2), 32)


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="arch.*simplenet.*fcalexnet.*fcresnet18"):
        SplitBrainNet("vgg16")
    with pytest.raises(ValueError, match="width"):
        SplitBrainNet("simplenet", width="double")
    for unhashable in (["half"], np.array([1, 2])):  # no key, no truth value: still the named error
        with pytest.raises(ValueError, match="width must be one of"):
            SplitBrainNet("simplenet", width=unhashable)
    with pytest.raises(ValueError, match="grid"):
        SplitBrainNet("simplenet", grid=40, input_size=32)
    with pytest.raises(ValueError, match="grid"):
        SplitBrainNet("simplenet", grid=0)
    with pytest.raises(ValueError, match="in_channels"):
        SplitBrainNet("simplenet", in_channels=(1, 0))
    with pytest.raises(ValueError, match="num_classes"):
        SplitBrainNet("simplenet", num_classes=100)
    with pytest.raises(ValueError, match="stem"):
        SplitBrainNet("simplenet", stem="table6")
    with pytest.raises(ValueError, match="arch"):
        DenoisingAutoencoder("googlenet")
    with pytest.raises(ValueError, match="noise"):
        DenoisingAutoencoder("simplenet", noise="poisson")
    with pytest.raises(ValueError, match="noise_level"):
        DenoisingAutoencoder("simplenet", noise="masking", noise_level=1.5)
    with pytest.raises(ValueError, match="noise_level"):
        DenoisingAutoencoder("simplenet", noise="salt_pepper", noise_level=-0.1)
    with pytest.raises(ValueError, match="noise_level"):
        DenoisingAutoencoder("simplenet", noise="gaussian", noise_level=-0.5)
    with pytest.raises(ValueError, match="noise_level"):
        corrupt(torch.zeros(1, 3, 4, 4), "gaussian", float("nan"))
    DenoisingAutoencoder("simplenet", noise="gaussian", noise_level=2.0, input_size=32, grid=8)  # sigma may exceed 1


def test_bad_forward_inputs():
    net = SplitBrainNet("simplenet", input_size=32, grid=8)
    x1, x2 = torch.randn(2, 1, 32, 32), torch.randn(2, 2, 32, 32)
    with pytest.raises(ValueError, match="x1.*1 channels"):
        net(x2, x2)
    with pytest.raises(ValueError, match="x2.*2 channels"):
        net(x1, torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="x2.*channels-last"):
        net(x1, torch.randn(2, 32, 32, 2))
    with pytest.raises(ValueError, match="x1"):
        net(torch.randn(1, 32, 32), x2)
    with pytest.raises(ValueError, match="x1 and x2"):
        net(x1, x2[:1])
    with pytest.raises(ValueError, match="grid"):
        net(torch.randn(2, 1, 6, 6), torch.randn(2, 2, 6, 6))
    with pytest.raises(ValueError, match="layer.*conv1"):
        net.features(x1, x2, "fc6")
    with pytest.raises(ValueError, match="max_dim"):
        net.features(x1, x2, "conv1", max_dim=0)
    dae = DenoisingAutoencoder("simplenet", input_size=32, grid=8)
    with pytest.raises(ValueError, match="x.*3 channels"):
        dae(x1)
    with pytest.raises(ValueError, match="layer"):
        dae.features(torch.randn(2, 3, 32, 32), "layer9")


def test_recompute_batchnorm_statistics_averages_the_batches_equally():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1)).eval()
    model[1].running_mean.fill_(5.0)  # stale statistics
    model[1].running_var.fill_(7.0)
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "tracked" not in k}
    batches = [torch.randn(6, 3, 8, 8) * 2 + 1, torch.randn(2, 3, 8, 8)]  # unequal sizes, equal weight
    out = recompute_batchnorm_statistics(model, batches, lambda x: model(x))
    assert out is model and not model.training and model[1].momentum == 0.1
    with torch.no_grad():
        pre = [model[0](x) for x in batches]
    means = torch.stack([p.mean(dim=(0, 2, 3)) for p in pre]).mean(dim=0)
    variances = torch.stack([p.transpose(0, 1).reshape(4, -1).var(dim=1) for p in pre]).mean(dim=0)
    assert torch.allclose(model[1].running_mean, means, atol=1e-5)
    assert torch.allclose(model[1].running_var, variances, rtol=1e-4)
    assert int(model[1].num_batches_tracked) == 2
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())


def test_recompute_batchnorm_statistics_restores_state_after_an_error():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=0.3)).train()

    def failing(x):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        recompute_batchnorm_statistics(model.eval(), [torch.randn(2, 3, 8, 8)], failing)
    assert model[1].momentum == 0.3 and not model.training
    assert recompute_batchnorm_statistics(nn.Linear(2, 2), [], lambda x: None) is not None  # no BatchNorm: unchanged
