"""Split-brain networks: three fully convolutional trunks, the split pair, and the DAE baseline.

A split-brain autoencoder (Zhang, Isola, Efros 2017) is two disjoint networks. Half 1 sees channel
group 1 (L, or R) and predicts group 2's classes (ab, or GB); half 2 sees group 2 and predicts
group 1's classes. Each half is a fully convolutional *trunk* followed by a 1x1 convolution to
K classes on the target grid (12 x 12 by default). The learned representation of a layer is the
two halves' activations at that layer concatenated along channels.

Trunks (``ARCHITECTURES``): ``"simplenet"`` (:class:`SimpleNet`, the poster's five conv layers),
``"fcalexnet"`` (:class:`FCAlexNet`, the fully convolutional AlexNet of Zhang et al. Table 6) and
``"fcresnet18"`` (:class:`FCResNet18`, torchvision's ResNet-18 without avgpool and fc).

``width="half"`` gives each half half the channels of the standard network, as in the paper
(the pair is as wide as one network, with about half its parameters); ``"full"`` gives each
half the full width, as in the poster's code (about twice the parameters of one network).

``input_size`` only chooses the stem (:meth:`Trunk.choose_stem`); the head reaches the grid
through :func:`resize_to_grid`. Baseline: :class:`DenoisingAutoencoder`.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1

from ._checks import check_image_batch, check_one_of, check_positive_int
from .quantize import upsample_map
from .targets import CrossChannelTargets, build_targets
from .vocabulary import ARCHITECTURES, NOISE_TYPES, WIDTHS

DEFAULT_MAX_DIM = 9216


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``module`` (only those with requires_grad if asked)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (the CPU for a model without parameters)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@contextmanager
def eval_mode(model: nn.Module, training: bool = False):
    """``model`` in eval mode (train mode if ``training``) and without gradients for a block; its
    train/eval mode is restored afterwards."""
    was_training = model.training
    model.train(training)
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def _check_pair_of_positive_ints(value, name: str) -> tuple[int, int]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (half 1, half 2) of positive integers, got {value!r}")
    for item in value:
        check_positive_int(item, name)
    return (int(value[0]), int(value[1]))


def _conv_bn_relu(in_channels: int, out_channels: int, kernel: int, stride: int = 1, padding: int = 0,
                  dilation: int = 1) -> nn.Sequential:
    """Conv (no bias: BatchNorm follows) -> BatchNorm -> ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride, padding, dilation, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def _init_weights(module: nn.Module) -> None:
    """Kaiming-normal convs (fan_out, ReLU gain, as torchvision), zero biases, BN weight 1 bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _init_linear_output(conv: nn.Conv2d) -> None:
    """Output convs (class logits, reconstructions) get unit-gain fan_in init: outputs start O(1)."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="linear")
    nn.init.zeros_(conv.bias)


def resize_to_grid(x: torch.Tensor, grid: int) -> torch.Tensor:
    """Bring a map (N, C, h, w) to (N, C, grid, grid): unchanged when already grid x grid, adaptive
    average pooling when h and w are both >= grid, else bilinear (align_corners=False)."""
    h, w = x.shape[-2:]
    if h == grid and w == grid:
        return x
    if h >= grid and w >= grid:
        return F.adaptive_avg_pool2d(x, grid)
    return upsample_map(x, (grid, grid), "bilinear")


def feature_pool_size(channels: int, max_dim: int = DEFAULT_MAX_DIM) -> int:
    """Side s of the pooled map: the largest s >= 1 with channels * s * s <= max_dim (1 when
    ``channels`` alone exceeds ``max_dim``: the feature then has ``channels`` dims)."""
    check_positive_int(channels, "channels")
    check_positive_int(max_dim, "max_dim")
    return max(1, math.isqrt(max_dim // channels))


def pool_features(activation: torch.Tensor, max_dim: int = DEFAULT_MAX_DIM) -> torch.Tensor:
    """Average-pool (N, C, h, w) to (N, C, s, s) (s from :func:`feature_pool_size`), flatten to (N, C*s*s)."""
    side = feature_pool_size(activation.shape[1], max_dim)
    return F.adaptive_avg_pool2d(activation, side).flatten(1)


def recompute_batchnorm_statistics(model: nn.Module, batches: Iterable,
                                   forward: Callable[[object], object]) -> nn.Module:
    """Recompute, in place, the running mean and variance of every BatchNorm layer of ``model``
    ("precise BN": after a few dozen steps at momentum 0.1 they still carry 0.9 ** 24, about 8 %,
    of their starting values); returns ``model``.

    The statistics become the equal-weight average of the batch statistics of ``forward(batch)``
    (running ``model`` on one batch) over ``batches``. No gradients, no weight changes; the
    layers' momenta and the model's train/eval mode are restored.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: every batch counts the same
    try:
        with eval_mode(model, training=True):  # batch statistics, no gradients
            for batch in batches:
                forward(batch)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
    return model


class Trunk(nn.Module):
    """A fully convolutional trunk: named stages run in order.

    Subclasses fill ``self.stages`` (an ordered ``nn.ModuleDict``), ``feature_layers`` (stages
    whose output is a representation layer), ``layer_channels`` (output channels per stage) and
    may define ``layer_aliases`` (other names for feature layers). They also define ``STEMS``
    (the stem ladder, most downsampling first) and ``_size_ops(stem)`` (the (kernel, stride,
    padding, dilation) of every op that changes the spatial size, in order).

    Input: (N, in_channels, H, W) float, normalised to roughly [-1, 1].
    Output of ``forward``: (N, out_channels, h, w), the last stage's ReLU activations.
    """

    arch: str = ""
    STEMS: tuple[str, ...] = ()
    FULL_WIDTHS: tuple[int, ...] = ()
    layer_aliases: dict[str, str] = {}

    def __init__(self, in_channels: int, width: str, input_size: int, grid: int, stem: str | None):
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_one_of(width, "width", WIDTHS)
        check_positive_int(input_size, "input_size")
        check_positive_int(grid, "grid")
        if grid > input_size:
            raise ValueError(f"grid must not exceed input_size, got grid={grid}, input_size={input_size}")
        self.in_channels, self.width, self.input_size, self.grid = in_channels, width, input_size, grid
        self.stem = self.choose_stem(input_size, grid) if stem is None else check_one_of(stem, "stem", self.STEMS)
        self.widths = self.FULL_WIDTHS if width == "full" else tuple(c // 2 for c in self.FULL_WIDTHS)
        self.stages = nn.ModuleDict()
        self.layer_channels: dict[str, int] = {}
        self.feature_layers: tuple[str, ...] = ()

    @classmethod
    def _size_ops(cls, stem: str) -> list[tuple[int, int, int, int]]:
        raise NotImplementedError

    @classmethod
    def map_size(cls, stem: str, input_size: int) -> int:
        """Side of the trunk's output map for a square input of side ``input_size``."""
        size = input_size
        for kernel, stride, padding, dilation in cls._size_ops(stem):
            size = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1  # PyTorch's floor rule
        return size

    @classmethod
    def choose_stem(cls, input_size: int, grid: int) -> str:
        """The first stem of ``STEMS`` whose output map is >= grid wide, else the last one."""
        return next((stem for stem in cls.STEMS if cls.map_size(stem, input_size) >= grid), cls.STEMS[-1])

    @property
    def out_channels(self) -> int:
        return self.layer_channels[next(reversed(self.stages.keys()))]

    def resolve_layer(self, layer: str) -> str:
        """Canonical name of a feature layer (aliases resolved); ValueError if unknown."""
        check_one_of(layer, "layer", self.feature_layers + tuple(self.layer_aliases), f" for {self.arch}")
        return self.layer_aliases.get(layer, layer)

    def walk(self, x: torch.Tensor, until: str | None = None) -> Iterator[tuple[str, torch.Tensor]]:
        """(stage name, output (N, C, h, w)) of every stage in order, stopping after the stage
        ``until`` (None: the last). Runs in the caller's train/eval and grad mode and checks nothing."""
        for name, stage in self.stages.items():
            x = stage(x)
            yield name, x
            if name == until:
                return

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, None)  # no layer name to resolve on the training step's path

    def activation(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """Output (N, C_layer, h, w) of feature layer ``layer`` (or an alias), running only the
        stages up to it, in the caller's train/eval mode."""
        return self._run(x, self.resolve_layer(layer))

    def _run(self, x: torch.Tensor, until: str | None) -> torch.Tensor:
        check_image_batch(x, "x", channels=self.in_channels, check_finite=False)
        *_, (_, x) = self.walk(x, until=until)
        return x

    def feature_dim(self, layer: str, max_dim: int = DEFAULT_MAX_DIM) -> int:
        """Length D of ``features(x, layer, max_dim)``."""
        channels = self.layer_channels[self.resolve_layer(layer)]
        return channels * feature_pool_size(channels, max_dim) ** 2

    def features(self, x: torch.Tensor, layer: str, max_dim: int = DEFAULT_MAX_DIM) -> torch.Tensor:
        """Pooled, flattened activations of ``layer``: (N, D) float, D = ``feature_dim(layer)``."""
        check_positive_int(max_dim, "max_dim")
        return pool_features(self.activation(x, layer), max_dim)

    def _add_stage(self, name: str, module: nn.Module, channels: int) -> None:
        self.stages[name] = module
        self.layer_channels[name] = channels


class SimpleNet(Trunk):
    """Five conv-BatchNorm-ReLU layers (the poster's SimpleNet), all 3x3 after the stem.

    Layers and strides: conv1 (stem, see below), conv2 3x3 s2, conv3 3x3 s1, conv4 3x3 s2,
    conv5 3x3 s1, padding keeping sizes. Full widths 64/128/256/256/512; half (default)
    32/64/128/128/256, modest so that a 32 x 32 CIFAR batch of 128 trains on a CPU.

    Stems: "stride4" conv1 7x7 s4 p3 (180 px -> 12 x 12), "stride2" 5x5 s2 p2 (96 -> 12),
    "stride1" 3x3 s1 p1 (32 -> 8, 48 -> 12). Feature layers: conv1 ... conv5 (post-ReLU).
    """

    arch = "simplenet"
    STEMS = ("stride4", "stride2", "stride1")
    FULL_WIDTHS = (64, 128, 256, 256, 512)
    _STEM_CONV = {"stride4": (7, 4, 3), "stride2": (5, 2, 2), "stride1": (3, 1, 1)}

    def __init__(self, in_channels: int = 1, width: str = "half", input_size: int = 96, grid: int = 12,
                 stem: str | None = None):
        super().__init__(in_channels, width, input_size, grid, stem)
        c1, c2, c3, c4, c5 = self.widths
        self._add_stage("conv1", _conv_bn_relu(in_channels, c1, *self._STEM_CONV[self.stem]), c1)
        self._add_stage("conv2", _conv_bn_relu(c1, c2, 3, 2, 1), c2)
        self._add_stage("conv3", _conv_bn_relu(c2, c3, 3, 1, 1), c3)
        self._add_stage("conv4", _conv_bn_relu(c3, c4, 3, 2, 1), c4)
        self._add_stage("conv5", _conv_bn_relu(c4, c5, 3, 1, 1), c5)
        self.feature_layers = ("conv1", "conv2", "conv3", "conv4", "conv5")
        _init_weights(self)

    @classmethod
    def _size_ops(cls, stem):
        return [(*cls._STEM_CONV[stem], 1), (3, 2, 1, 1), (3, 2, 1, 1)]


class FCAlexNet(Trunk):
    """The fully convolutional AlexNet of Zhang et al. 2017, Table 6 (BatchNorm after every conv, no LRN).

    ===== ============ ======================= =========================
    stage op           kernel/stride/pad (dil) spatial at 180 (stem "table6")
    ===== ============ ======================= =========================
    conv1 conv         stem (below)            45
    pool1 max pool     3/2/1                   23
    conv2 conv         5/1/2                   23
    pool2 max pool     3/2/1                   12
    conv3 conv         3/1/1                   12
    conv4 conv         3/1/1                   12
    conv5 conv         3/1/1                   12
    pool5 max pool     3/1/1                   12
    fc6   conv         6/1/5 (dilation 2)      12
    fc7   conv         1/1/0                   12
    ===== ============ ======================= =========================

    Full widths (one whole network, Table 6's C) 96/256/384/384/256/4096/4096 for conv1..conv5,
    fc6, fc7; ``width="half"`` gives each half 48/128/192/192/128/2048/2048.

    Stems (only conv1 changes): "table6" conv1 11x11 s4 p5 (180 px -> 12 x 12, the paper),
    "poster" 10x10 s2 p4 (96 -> 12, the poster's conv1 k10 s2), "small" 5x5 s1 p2 (32 -> 8,
    CIFAR; the head upsamples the 8 x 8 map to a 12 x 12 grid).
    Feature layers: conv1 ... conv5, fc6, fc7 (post-ReLU; conv1 is before pool1).
    """

    arch = "fcalexnet"
    STEMS = ("table6", "poster", "small")
    FULL_WIDTHS = (96, 256, 384, 384, 256, 4096, 4096)
    _STEM_CONV = {"table6": (11, 4, 5), "poster": (10, 2, 4), "small": (5, 1, 2)}

    def __init__(self, in_channels: int = 1, width: str = "half", input_size: int = 96, grid: int = 12,
                 stem: str | None = None):
        super().__init__(in_channels, width, input_size, grid, stem)
        c1, c2, c3, c4, c5, c6, c7 = self.widths
        self._add_stage("conv1", _conv_bn_relu(in_channels, c1, *self._STEM_CONV[self.stem]), c1)
        self._add_stage("pool1", nn.MaxPool2d(3, 2, 1), c1)
        self._add_stage("conv2", _conv_bn_relu(c1, c2, 5, 1, 2), c2)
        self._add_stage("pool2", nn.MaxPool2d(3, 2, 1), c2)
        self._add_stage("conv3", _conv_bn_relu(c2, c3, 3, 1, 1), c3)
        self._add_stage("conv4", _conv_bn_relu(c3, c4, 3, 1, 1), c4)
        self._add_stage("conv5", _conv_bn_relu(c4, c5, 3, 1, 1), c5)
        self._add_stage("pool5", nn.MaxPool2d(3, 1, 1), c5)
        # Table 6 prints padding 6 for fc6; 5 keeps the map size, as the released prototxt does.
        self._add_stage("fc6", _conv_bn_relu(c5, c6, 6, 1, 5, dilation=2), c6)
        self._add_stage("fc7", _conv_bn_relu(c6, c7, 1), c7)
        self.feature_layers = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7")
        _init_weights(self)

    @classmethod
    def _size_ops(cls, stem):
        return [(*cls._STEM_CONV[stem], 1), (3, 2, 1, 1), (3, 2, 1, 1), (6, 1, 5, 2)]


class FCResNet18(Trunk):
    """torchvision's ResNet-18 made fully convolutional: no avgpool, no fc.

    Stages: stem (conv1-bn-relu[-maxpool]), layer1 ... layer4, two torchvision
    ``BasicBlock``s each, strides 1/2/2/2, built exactly like ``torchvision.models.resnet18``'s
    ``_make_layer`` but with the widths as a parameter. Full widths 64 (stem), 64/128/256/512;
    ``width="half"``: 32, 32/64/128/256. The stem takes 1, 2 or 3 input channels.

    Stems: "imagenet" torchvision's 7x7 s2 p3 conv + 3x3 s2 max pool (total stride 32);
    "imagenet_no_maxpool" the same conv without the max pool (stride 16; 180 px -> 12 x 12);
    "cifar" 3x3 s1 p1 conv, no max pool (stride 8; 96 -> 12, 32 -> 4; the rule's stem below 64 px).
    Feature layers: stem, layer1 ... layer4; aliases conv1 ... conv5 as in He et al. (conv1 =
    stem, conv2_x = layer1, ..., conv5_x = layer4).
    """

    arch = "fcresnet18"
    STEMS = ("imagenet", "imagenet_no_maxpool", "cifar")
    FULL_WIDTHS = (64, 64, 128, 256, 512)
    layer_aliases = {"conv1": "stem", "conv2": "layer1", "conv3": "layer2", "conv4": "layer3", "conv5": "layer4"}

    def __init__(self, in_channels: int = 1, width: str = "half", input_size: int = 96, grid: int = 12,
                 stem: str | None = None):
        super().__init__(in_channels, width, input_size, grid, stem)
        c0, c1, c2, c3, c4 = self.widths
        kernel, stride, padding = (3, 1, 1) if self.stem == "cifar" else (7, 2, 3)
        stem_layers = [*_conv_bn_relu(in_channels, c0, kernel, stride, padding)]
        if self.stem == "imagenet":
            stem_layers.append(nn.MaxPool2d(3, 2, 1))
        self._add_stage("stem", nn.Sequential(*stem_layers), c0)
        self._add_stage("layer1", self._make_layer(c0, c1, stride=1), c1)
        self._add_stage("layer2", self._make_layer(c1, c2, stride=2), c2)
        self._add_stage("layer3", self._make_layer(c2, c3, stride=2), c3)
        self._add_stage("layer4", self._make_layer(c3, c4, stride=2), c4)
        self.feature_layers = ("stem", "layer1", "layer2", "layer3", "layer4")
        _init_weights(self)

    @staticmethod
    def _make_layer(in_planes: int, planes: int, stride: int) -> nn.Sequential:
        """torchvision's ResNet._make_layer for two BasicBlocks, with free widths."""
        downsample = None
        if stride != 1 or in_planes != planes:
            downsample = nn.Sequential(conv1x1(in_planes, planes, stride), nn.BatchNorm2d(planes))
        return nn.Sequential(BasicBlock(in_planes, planes, stride, downsample), BasicBlock(planes, planes))

    @classmethod
    def _size_ops(cls, stem):
        ops = {"imagenet": [(7, 2, 3, 1), (3, 2, 1, 1)], "imagenet_no_maxpool": [(7, 2, 3, 1)], "cifar": []}[stem]
        return ops + [(3, 2, 1, 1)] * 3  # the first 3x3 conv of layer2, layer3, layer4


TRUNKS: dict[str, type[Trunk]] = {"simplenet": SimpleNet, "fcalexnet": FCAlexNet, "fcresnet18": FCResNet18}


def _check_arch(arch) -> str:
    return check_one_of(arch.lower() if isinstance(arch, str) else arch, "arch", ARCHITECTURES)


def build_trunk(arch: str, in_channels: int = 1, width: str = "half", input_size: int = 96, grid: int = 12,
                stem: str | None = None) -> Trunk:
    """A trunk of architecture ``arch`` (one of ``ARCHITECTURES``); see the trunk classes."""
    return TRUNKS[_check_arch(arch)](in_channels=in_channels, width=width, input_size=input_size, grid=grid, stem=stem)


class SplitBrainHalf(nn.Module):
    """One half: a trunk, then a 1x1 conv classifier to ``num_classes`` on the grid. forward:
    (N, in_channels, H, W) float, H, W >= grid -> logits (N, num_classes, grid, grid)."""

    def __init__(self, arch: str, in_channels: int, num_classes: int, width: str = "half", grid: int = 12,
                 input_size: int = 96, stem: str | None = None):
        super().__init__()
        check_positive_int(num_classes, "num_classes")
        self.trunk = build_trunk(arch, in_channels, width, input_size, grid, stem)
        self.classifier = nn.Conv2d(self.trunk.out_channels, num_classes, kernel_size=1)
        _init_linear_output(self.classifier)
        self.grid, self.num_classes = grid, num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Classifying before resizing is exact (both are linear) and cheaper when upsampling.
        return resize_to_grid(self.classifier(self.trunk(x)), self.grid)


class SplitBrainNet(nn.Module):
    """A split-brain pair of half networks.

    Args:
        in_channels: (c1, c2), channel counts of group 1 and group 2 (1 and 2 for L|ab, R|GB).
        num_classes: (K2, K1): half 1 predicts group 2's K2 classes, half 2 group 1's K1 classes
            (the poster: 10 x 10 = 100 ab classes and 100 L classes).
        width: "half" (the paper) or "full" (the poster's code); see the module docstring.
        grid: side of the square target grid (12 in the paper and the poster).
        input_size: the (square) training input side; it only chooses each trunk's stem. The
            network accepts any input side >= grid.
        stem: force a stem of the trunk class's ``STEMS`` instead of the rule.

    ``forward(x1, x2)``: x1 (N, c1, H, W), x2 (N, c2, H, W), normalised floats ->
    (logits1 (N, K2, grid, grid), logits2 (N, K1, grid, grid)).
    """

    def __init__(self, arch: str = "simplenet", in_channels: tuple[int, int] = (1, 2),
                 num_classes: tuple[int, int] = (100, 100), width: str = "half", grid: int = 12,
                 input_size: int = 96, stem: str | None = None):
        super().__init__()
        arch = _check_arch(arch)
        in_channels = _check_pair_of_positive_ints(in_channels, "in_channels")
        num_classes = _check_pair_of_positive_ints(num_classes, "num_classes")
        self.arch, self.width, self.grid, self.input_size = arch, width, grid, input_size
        self.in_channels, self.num_classes = in_channels, num_classes
        self.half1 = SplitBrainHalf(arch, in_channels[0], num_classes[0], width, grid, input_size, stem)
        self.half2 = SplitBrainHalf(arch, in_channels[1], num_classes[1], width, grid, input_size, stem)
        self.stem = self.half1.trunk.stem
        self.feature_layers: tuple[str, ...] = self.half1.trunk.feature_layers
        self.layer_aliases: dict[str, str] = dict(self.half1.trunk.layer_aliases)

    def _check_inputs(self, x1: torch.Tensor, x2: torch.Tensor) -> None:
        # No finiteness check here: it would cost a device synchronisation every step.
        check_image_batch(x1, "x1", channels=self.in_channels[0], check_finite=False)
        check_image_batch(x2, "x2", channels=self.in_channels[1], check_finite=False)
        if x1.shape[0] != x2.shape[0] or x1.shape[-2:] != x2.shape[-2:]:
            raise ValueError(f"x1 and x2 must share batch size and H, W, got shapes {tuple(x1.shape)} and "
                             f"{tuple(x2.shape)}")
        if min(x1.shape[-2:]) < self.grid:
            raise ValueError(f"grid must not exceed the input size: grid={self.grid}, x1 has H, W = "
                             f"{tuple(x1.shape[-2:])}")

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_inputs(x1, x2)
        return self.half1(x1), self.half2(x2)

    def resolve_layer(self, layer: str) -> str:
        """Canonical feature layer name (aliases resolved); ValueError naming ``layer`` if unknown."""
        return self.half1.trunk.resolve_layer(layer)

    def layer_channels(self, layer: str) -> int:
        """Channels of the concatenated representation at ``layer`` (both halves)."""
        name = self.resolve_layer(layer)
        return self.half1.trunk.layer_channels[name] + self.half2.trunk.layer_channels[name]

    def feature_dim(self, layer: str, max_dim: int = DEFAULT_MAX_DIM) -> int:
        """Length D of ``features(x1, x2, layer, max_dim)`` (independent of the input size)."""
        channels = self.layer_channels(layer)
        return channels * feature_pool_size(channels, max_dim) ** 2

    def features(self, x1: torch.Tensor, x2: torch.Tensor, layer: str, max_dim: int = DEFAULT_MAX_DIM) -> torch.Tensor:
        """Both halves' activations at ``layer``, concatenated on channels, pooled and flattened.

        Returns (N, D) float, D = ``feature_dim(layer, max_dim)`` <= max_dim (unless the layer
        alone has more than max_dim channels). Runs in the caller's mode: for linear probes call
        ``eval()`` and wrap in ``torch.no_grad()``.
        """
        check_positive_int(max_dim, "max_dim")
        name = self.resolve_layer(layer)
        self._check_inputs(x1, x2)
        both = torch.cat([self.half1.trunk.activation(x1, name), self.half2.trunk.activation(x2, name)], dim=1)
        return pool_features(both, max_dim)


def _check_noise_level(noise: str, level) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not math.isfinite(level):
        raise ValueError(f"noise_level must be a finite number, got {level!r}")
    if noise in ("masking", "salt_pepper") and not 0.0 <= level <= 1.0:
        raise ValueError(f"noise_level must be a probability in [0, 1] for {noise!r} noise, got {level}")
    if noise == "gaussian" and level < 0:
        raise ValueError(f"noise_level must be >= 0 (the standard deviation) for gaussian noise, got {level}")
    return float(level)


def corrupt(x: torch.Tensor, noise: str, level: float, value_range: tuple[float, float] = (-1.0, 1.0),
            generator: torch.Generator | None = None) -> torch.Tensor:
    """A corrupted copy of ``x`` (N, C, H, W) float; ``x`` itself is left unchanged.

    - "masking": each pixel (all channels together) is set to 0, the centre of the normalised
      range, with probability ``level``.
    - "salt_pepper": each pixel (all channels together) is set, with probability ``level``, to
      ``value_range[0]`` or ``value_range[1]`` by a fair coin (Vincent et al. 2010: the minimum
      or maximum possible value; black or white for normalised RGB).
    - "gaussian": every value gets independent N(0, level^2) noise added.
    At level 0 the copy equals ``x``. ``generator`` (on x's device) makes the noise reproducible.
    """
    check_one_of(noise, "noise", NOISE_TYPES)
    level = _check_noise_level(noise, level)
    check_image_batch(x, "x", check_finite=False)
    if level == 0:
        return x.clone()
    n, _, h, w = x.shape
    options = dict(generator=generator, device=x.device, dtype=x.dtype)
    if noise == "gaussian":
        return x + level * torch.randn(x.shape, **options)
    hit = torch.rand((n, 1, h, w), **options) < level
    if noise == "masking":
        return x.masked_fill(hit, 0.0)
    salt = torch.rand((n, 1, h, w), **options) < 0.5
    low, high = (torch.tensor(v, device=x.device, dtype=x.dtype) for v in value_range)
    return torch.where(hit, torch.where(salt, high, low), x)


class DenoisingAutoencoder(nn.Module):
    """The baseline: one trunk on all channels, a decoder back to the input size, MSE loss.

    Args:
        noise: "masking", "salt_pepper" (default: the poster's reported baseline, S&P 5 %) or
            "gaussian"; see :func:`corrupt`.
        noise_level: probability for masking and salt-and-pepper (in [0, 1]), standard
            deviation for gaussian (>= 0), in normalised units.
        width: "full" by default, so that the encoder is as wide as a split-brain pair of
            "half" halves put together.
        input_size, grid: choose the encoder's stem as for :class:`SplitBrainNet`, so the encoder
            is the same trunk as a split-brain half at the same settings.
        value_range: (min, max) of a normalised value, used by salt-and-pepper noise.

    The decoder: a 1x1 conv to min(C, 256) channels, then as many (x2 nearest upsampling,
    3x3 conv, BN, ReLU) blocks as needed to reach ``input_size`` (channels halved each time,
    at least 32), a 3x3 conv to ``in_channels``, and a bilinear resize to the exact input size.
    """

    def __init__(self, arch: str = "simplenet", noise: str = "salt_pepper", noise_level: float = 0.05,
                 width: str = "full", input_size: int = 96, grid: int = 12, in_channels: int = 3,
                 value_range: tuple[float, float] = (-1.0, 1.0), stem: str | None = None):
        super().__init__()
        self.noise = check_one_of(noise, "noise", NOISE_TYPES)
        self.noise_level = _check_noise_level(noise, noise_level)
        low, high = value_range
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"value_range must be finite (min, max) with min < max, got {value_range!r}")
        self.value_range = (float(low), float(high))
        self.arch = _check_arch(arch)
        self.encoder = build_trunk(arch, in_channels, width, input_size, grid, stem)
        self.in_channels, self.width, self.input_size, self.grid = in_channels, width, input_size, grid
        self.feature_layers: tuple[str, ...] = self.encoder.feature_layers
        self.layer_aliases: dict[str, str] = dict(self.encoder.layer_aliases)
        map_size = self.encoder.map_size(self.encoder.stem, input_size)
        self.decoder = self._make_decoder(self.encoder.out_channels, map_size, input_size, in_channels)

    @staticmethod
    def _make_decoder(channels: int, map_size: int, input_size: int, out_channels: int) -> nn.Sequential:
        width = min(channels, 256)
        layers = [*_conv_bn_relu(channels, width, 1)]
        upsamplings = max(0, math.ceil(math.log2(input_size / max(map_size, 1))))
        for _ in range(upsamplings):
            narrower = max(width // 2, 32)
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), *_conv_bn_relu(width, narrower, 3, 1, 1)]
            width = narrower
        output = nn.Conv2d(width, out_channels, 3, 1, 1)
        decoder = nn.Sequential(*layers, output)
        _init_weights(decoder)
        _init_linear_output(output)
        return decoder

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``x`` with this model's noise; see :func:`corrupt`. (N, C, H, W) -> same shape."""
        return corrupt(x, self.noise, self.noise_level, self.value_range, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction (N, C, H, W) of ``x`` (N, C, H, W) normalised float, as given."""
        check_image_batch(x, "x", channels=self.in_channels, check_finite=False)
        out = self.decoder(self.encoder(x))
        if out.shape[-2:] != x.shape[-2:]:
            out = upsample_map(out, tuple(x.shape[-2:]), "bilinear")
        return out

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean squared error between the reconstruction of corrupt(x) and the clean x (scalar)."""
        return F.mse_loss(self(self.corrupt(x, generator)), x)

    def resolve_layer(self, layer: str) -> str:
        return self.encoder.resolve_layer(layer)

    def feature_dim(self, layer: str, max_dim: int = DEFAULT_MAX_DIM) -> int:
        return self.encoder.feature_dim(layer, max_dim)

    def features(self, x: torch.Tensor, layer: str, max_dim: int = DEFAULT_MAX_DIM) -> torch.Tensor:
        """The encoder's pooled activations at ``layer``: (N, D); see :meth:`Trunk.features`."""
        return self.encoder.features(x, layer, max_dim)


def _op_geometry(op: nn.Module) -> dict[str, int]:
    """``kernel``, ``stride``, ``dilation`` (1 for an average pool) and ``padding`` of a square conv or pool."""
    values = (op.kernel_size, op.stride, getattr(op, "dilation", 1), op.padding)
    return {key: value[0] if isinstance(value, tuple) else value
            for key, value in zip(("kernel", "stride", "dilation", "padding"), values)}


def _trunk_rows(trunk: Trunk, input_size: int) -> list[dict]:
    rows = []
    with eval_mode(trunk):
        zeros = torch.zeros(1, trunk.in_channels, input_size, input_size, device=model_device(trunk))
        for name, output in trunk.walk(zeros):
            stage = trunk.stages[name]
            op = next(m for m in stage.modules() if isinstance(m, (nn.Conv2d, nn.MaxPool2d)))
            rows.append(dict(layer=name, channels=output.shape[1], spatial=output.shape[-1], **_op_geometry(op),
                             params=count_parameters(stage)))
    return rows


def _trunk_of(model: nn.Module) -> Trunk:
    """The trunk of a model: itself, a half's, half 1's of a pair (both have the same layout) or
    a DAE's encoder."""
    if isinstance(model, SplitBrainNet):
        return model.half1.trunk
    if isinstance(model, SplitBrainHalf):
        return model.trunk
    if isinstance(model, DenoisingAutoencoder):
        return model.encoder
    if isinstance(model, Trunk):
        return model
    raise ValueError(f"model must be a Trunk, SplitBrainHalf, SplitBrainNet or DenoisingAutoencoder, "
                     f"got {type(model).__name__}")


def layer_table(model: nn.Module, input_size: int) -> list[dict]:
    """Per-stage output shapes of a model for a square input of side ``input_size``.

    ``model``: a :class:`Trunk`, a :class:`SplitBrainHalf`, a :class:`SplitBrainNet` or a
    :class:`DenoisingAutoencoder` (its encoder). Returns one dict per stage, in order, with keys
    ``layer``, ``channels``, ``spatial`` (output side), ``kernel``, ``stride``, ``dilation``,
    ``padding`` (of the stage's first conv or pool) and ``params``. Halves end with a
    "classifier" row. For a pair, ``channels`` and ``params`` are summed over both halves
    (Table 6's concatenated C) and ``channels_per_half`` is added. Shapes come from running a
    zero input through the model in eval mode (its mode is restored).
    """
    check_positive_int(input_size, "input_size")
    if isinstance(model, SplitBrainNet):
        table = []
        for row1, row2 in zip(layer_table(model.half1, input_size), layer_table(model.half2, input_size)):
            channels = (row1["channels"], row2["channels"])
            table.append({**row1, "channels": sum(channels), "channels_per_half": channels,
                          "params": row1["params"] + row2["params"]})
        return table
    if isinstance(model, SplitBrainHalf):
        return _trunk_rows(model.trunk, input_size) + [dict(
            layer="classifier", channels=model.num_classes, spatial=model.grid, kernel=1, stride=1, dilation=1,
            padding=0, params=count_parameters(model.classifier))]
    return _trunk_rows(_trunk_of(model), input_size)


NOISE_NAMES: dict[str, str] = {"masking": "masking", "salt_pepper": "salt-and-pepper", "gaussian": "Gaussian"}
"""How prose names each noise type of :data:`NOISE_TYPES`."""


def level_label(noise: str, level: float) -> str:
    """The noise level as text: a pixel fraction ("p = 25%") or a standard deviation ("σ = 0.1")."""
    check_one_of(noise, "noise", NOISE_TYPES)
    return f"σ = {level:g}" if noise == "gaussian" else f"p = {100 * level:g}%"


def build_targets_for(config) -> CrossChannelTargets:
    """The device-side target pipeline of a pretraining configuration (``color_space``, ``grid``,
    ``bins1``, ``bins2`` of a :class:`~splitbrain.presets.PretrainConfig`)."""
    return build_targets(config.color_space, grid=config.grid, bins1=config.bins1, bins2=config.bins2)


def build_model(config, targets: CrossChannelTargets | None = None) -> nn.Module:
    """A fresh (randomly initialised) network for a :class:`~splitbrain.presets.PretrainConfig`:
    a :class:`SplitBrainNet` whose halves read and predict ``targets``' channel groups (built from
    ``config`` when not given), or the :class:`DenoisingAutoencoder` of ``config.method == "dae"``."""
    if config.method == "dae":
        return DenoisingAutoencoder(config.arch, noise=config.noise, noise_level=config.noise_level, width=config.width,
                                    input_size=config.image_size, grid=config.grid)
    targets = build_targets_for(config) if targets is None else targets
    return SplitBrainNet(config.arch, in_channels=tuple(targets.space.group_channels),
                         num_classes=tuple(targets.num_classes), width=config.width, grid=config.grid,
                         input_size=config.image_size)
