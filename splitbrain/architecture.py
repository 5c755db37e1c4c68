"""What chapter 4 measures about the architectures, as numbers: receptive fields, how each trunk
reaches the target grid, parameter counts of a split pair against one network, Table 6 of
Zhang et al. cell by cell, and the two halves' convolutions as one grouped convolution."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ._checks import check_int, check_positive_int
from .models import (TRUNKS, DenoisingAutoencoder, SplitBrainHalf, SplitBrainNet, _check_arch, _op_geometry,
                     _trunk_of, build_trunk, count_parameters, layer_table)


TABLE6_COLUMNS: dict[str, str] = {
    "X": "spatial", "C": "channels", "K": "kernel", "S": "stride", "D": "dilation", "P": "padding",
}
"""Table 6's column letters and the matching keys of :func:`splitbrain.models.layer_table` rows."""


def _op_int(op: Mapping[str, Any], key: str, index: int, default: int | None, minimum: int) -> int:
    return check_int(op.get(key, default), f"ops[{index}]['{key}']", minimum)


def receptive_fields(ops: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Receptive field of every op in a chain of convolutions and poolings.

    ``ops``, in the order the signal passes them, each map ``kernel``, ``stride`` and optionally
    ``dilation`` (default 1) and ``padding`` (default 0) to ints, e.g. the rows of
    :func:`splitbrain.models.layer_table` for a chain network. Returns per op a copy with

    - ``rf``: side, in input pixels, of the square of input pixels one output unit depends
      on, ``rf = rf_prev + (kernel - 1) * dilation * jump_prev``;
    - ``jump``: distance, in input pixels, between neighbouring output units (the product
      of the strides so far), ``jump = jump_prev * stride``;
    - ``start``: input coordinate of the centre of output unit 0 (input pixel centres are
      0, 1, ..., H - 1), ``start = start_prev + ((kernel - 1) * dilation / 2 - padding) * jump_prev``.
      Unit ``i`` is centred on input pixel ``start + i * jump``.

    The chain starts from the input itself: rf 1, jump 1, start 0. Raises ValueError naming
    ``ops[i]['key']`` for a missing or invalid value.
    """
    rf, jump, start = 1, 1, 0.0
    result = []
    for index, op in enumerate(ops):
        if not isinstance(op, Mapping):
            raise ValueError(f"ops[{index}] must be a mapping with kernel, stride (dilation, padding), got {op!r}")
        kernel = _op_int(op, "kernel", index, None, 1)
        stride = _op_int(op, "stride", index, None, 1)
        dilation = _op_int(op, "dilation", index, 1, 1)
        padding = _op_int(op, "padding", index, 0, 0)
        start = start + ((kernel - 1) * dilation / 2 - padding) * jump
        rf = rf + (kernel - 1) * dilation * jump
        jump = jump * stride
        result.append({**op, "rf": rf, "jump": jump, "start": start})
    return result


def spatial_ops(model: nn.Module) -> list[dict]:
    """Every convolution and pooling on the longest path through a model's trunk, in order.

    ``model``: a :class:`~splitbrain.models.Trunk`, a split-brain half or pair (half 1's trunk)
    or a denoising autoencoder (its encoder). Returns one dict per op with ``layer`` (its trunk
    stage), ``op`` (its module name), ``type`` ("conv", "max pool" or "avg pool"), ``kernel``,
    ``stride``, ``dilation`` and ``padding`` (the height values; all ops here are square).
    Residual shortcuts (ResNet's ``downsample`` 1x1 convolutions) are skipped: they run beside
    the main path and see a smaller window, so the main path sets the receptive field.
    """
    trunk = _trunk_of(model)
    ops = []
    kinds = {nn.Conv2d: "conv", nn.MaxPool2d: "max pool", nn.AvgPool2d: "avg pool"}
    for stage_name, stage in trunk.stages.items():
        for name, module in stage.named_modules():
            kind = kinds.get(type(module))
            if kind is None or "downsample" in name.split("."):
                continue
            ops.append(dict(layer=stage_name, op=f"{stage_name}.{name}" if name else stage_name, type=kind,
                            **_op_geometry(module)))
    return ops


def stage_receptive_fields(model: nn.Module) -> list[dict]:
    """Receptive field of each trunk stage's output: :func:`receptive_fields` of :func:`spatial_ops`.

    Returns one dict per stage, in order: ``layer``, ``ops`` (how many convs and pools the
    stage has on its main path), ``rf``, ``jump`` and ``start`` of the stage's last op.
    """
    trunk = _trunk_of(model)
    fields = receptive_fields(spatial_ops(trunk))
    rows = []
    for stage_name in trunk.stages:  # every stage has a conv or a pool
        mine = [f for f in fields if f["layer"] == stage_name]
        rows.append(dict(layer=stage_name, ops=len(mine), **{key: mine[-1][key] for key in ("rf", "jump", "start")}))
    return rows


def compare_with_reference(rows: Sequence[Mapping[str, Any]], reference: Sequence[Mapping[str, Any]],
                           columns: Mapping[str, str] = TABLE6_COLUMNS) -> list[dict]:
    """Check a layer table against reported values, cell by cell.

    ``rows`` (e.g. :func:`splitbrain.models.layer_table`) and ``reference`` (e.g. Table 6 read by
    :func:`splitbrain.tables.read_reference_csv`) are matched by their ``layer`` key, in the
    reference's order; ``columns`` maps a reference column to a key of ``rows``. Returns one dict
    per reference layer: ``layer``; per reference column, our value, followed by " (paper: v)"
    where the reported value v differs; ``equal`` (True when every column matches) and
    ``differs`` (the differing column letters, "" when none). Raises ValueError if a reference
    layer is missing from ``rows``.
    """
    ours = {row["layer"]: row for row in rows}
    result = []
    for reported in reference:
        name = reported["layer"]
        if name not in ours:
            raise ValueError(f"rows must contain the reference layer {name!r}, got layers {list(ours)}")
        mine = ours[name]
        differs = [letter for letter, key in columns.items() if mine[key] != reported[letter]]
        cells = {letter: f"{mine[key]} (paper: {reported[letter]})" if letter in differs else mine[key]
                 for letter, key in columns.items()}
        result.append({"layer": name, **cells, "equal": not differs, "differs": ", ".join(differs)})
    return result


def _head_action(map_size: int, grid: int) -> str:
    if map_size == grid:
        return "none"
    if map_size > grid:
        return f"average-pool {map_size}→{grid}"
    return f"upsample {map_size}→{grid}"


def grid_rule_rows(archs: Sequence[str], input_sizes: Sequence[int], grid: int = 12) -> list[dict]:
    """How each trunk reaches a ``grid`` x ``grid`` output at each input size.

    For every (arch, input size): ``stems`` (the trunk class's ``STEMS``), ``maps`` (the
    trunk's output side under each stem), ``ladder`` (both as text, "stem: side, ..."),
    ``stem`` (the one the rule picks), ``map`` (its side), ``head`` (what the head does to reach
    the grid) and ``output`` (the shape of one half's logits for one image, from a 100-class
    half run on the meta device, which computes shapes only).
    """
    check_positive_int(grid, "grid")
    rows = []
    for arch in archs:
        trunk_class = TRUNKS[_check_arch(arch)]
        for size in input_sizes:
            check_positive_int(size, "input_sizes[i]")
            stem = trunk_class.choose_stem(size, grid)
            maps = tuple(trunk_class.map_size(s, size) for s in trunk_class.STEMS)
            with torch.device("meta"):
                half = SplitBrainHalf(arch, 1, 100, "half", grid, size)
                output = tuple(half(torch.zeros(1, 1, size, size)).shape[1:])
            side = trunk_class.map_size(stem, size)
            ladder = ", ".join(f"{name}: {m}" for name, m in zip(trunk_class.STEMS, maps))
            rows.append(dict(arch=arch, input_size=size, stems=trunk_class.STEMS, maps=maps, ladder=ladder,
                             stem=stem, map=side, head=_head_action(side, grid), output=output))
    return rows


def conv_weight_count(module: nn.Module) -> int:
    """Number of convolution weights in ``module`` (no biases, no BatchNorm parameters)."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


def parameter_rows(archs: Sequence[str], input_size: int = 180, num_classes: tuple[int, int] = (100, 100),
                   grid: int = 12) -> list[dict]:
    """Parameter counts of split-brain pairs against one standard network, per arch and width.

    The standard network is one full-width trunk on all three channels (a supervised network
    without its classifier). Models are built on the meta device, costing no memory.

    Returns one dict per (arch, width): ``arch``, ``width``, ``widths`` (channels per half,
    stage by stage), ``trunks`` (both halves' trunks), ``classifiers`` (both 1x1 heads),
    ``total``, ``standard`` (the standard network's trunk), ``ratio`` (trunks / standard) and
    ``conv_ratio`` (the same ratio for convolution weights only).
    """
    rows = []
    for arch in archs:
        with torch.device("meta"):
            standard = build_trunk(arch, 3, "full", input_size, grid)
            standard_count = count_parameters(standard)
            for width in ("half", "full"):
                pair = SplitBrainNet(arch, (1, 2), num_classes, width, grid, input_size)
                trunks = count_parameters(pair.half1.trunk) + count_parameters(pair.half2.trunk)
                heads = count_parameters(pair.half1.classifier) + count_parameters(pair.half2.classifier)
                conv = conv_weight_count(pair.half1.trunk) + conv_weight_count(pair.half2.trunk)
                rows.append(dict(arch=arch, width=width, widths=pair.half1.trunk.widths, trunks=trunks,
                                 classifiers=heads, total=trunks + heads, standard=standard_count,
                                 ratio=trunks / standard_count, conv_ratio=conv / conv_weight_count(standard)))
    return rows


def grouped_conv_from_halves(conv_a: nn.Conv2d, conv_b: nn.Conv2d) -> nn.Conv2d:
    """One ``groups=2`` convolution that computes both halves' convolutions at once.

    ``grouped(torch.cat([x_a, x_b], 1))`` equals ``torch.cat([conv_a(x_a), conv_b(x_b)], 1)``:
    a grouped convolution's first group of input channels feeds only its first group of output
    channels, and likewise for the second, which is exactly two networks side by side.
    ``conv_a`` and ``conv_b`` must have ``groups=1`` and identical settings (channels, kernel,
    stride, padding, dilation, bias or not). Returns an ``nn.Conv2d(2 * in, 2 * out, groups=2)``
    on their device and dtype, holding copies of their weights (conv_a's first).
    """
    for conv, name in ((conv_a, "conv_a"), (conv_b, "conv_b")):
        if not isinstance(conv, nn.Conv2d) or conv.groups != 1:
            raise ValueError(f"{name} must be an nn.Conv2d with groups=1, got {conv!r}")
    settings = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "padding_mode")
    differing = [s for s in settings if getattr(conv_a, s) != getattr(conv_b, s)]
    if differing or (conv_a.bias is None) != (conv_b.bias is None):
        raise ValueError(f"conv_a and conv_b must have the same settings, they differ in {differing or ['bias']}")
    grouped = nn.Conv2d(2 * conv_a.in_channels, 2 * conv_a.out_channels, conv_a.kernel_size, conv_a.stride,
                        conv_a.padding, conv_a.dilation, groups=2, bias=conv_a.bias is not None,
                        padding_mode=conv_a.padding_mode, device=conv_a.weight.device, dtype=conv_a.weight.dtype)
    with torch.no_grad():
        grouped.weight.copy_(torch.cat([conv_a.weight, conv_b.weight], 0))
        if conv_a.bias is not None:
            grouped.bias.copy_(torch.cat([conv_a.bias, conv_b.bias], 0))
    return grouped


def width_rows(dae: DenoisingAutoencoder, pair: SplitBrainNet, input_size: int) -> list[dict]:
    """Layer by layer: the DAE encoder's channels and parameters next to a split-brain pair's.

    The pair's channels and parameters are both halves' together (the width of its
    representation). The pair's classifier and the DAE's decoder, not part of the
    representation, are left out.

    Returns one dict per feature layer: ``layer``, ``dae_channels``, ``pair_channels``,
    ``dae_params``, ``pair_params`` and ``params_ratio`` (DAE / pair).
    """
    if not isinstance(dae, DenoisingAutoencoder):
        raise ValueError(f"dae must be a DenoisingAutoencoder, got {type(dae).__name__}")
    if not isinstance(pair, SplitBrainNet):
        raise ValueError(f"pair must be a SplitBrainNet, got {type(pair).__name__}")
    if dae.arch != pair.arch:
        raise ValueError(f"dae and pair must share the architecture, got {dae.arch!r} and {pair.arch!r}")
    check_positive_int(input_size, "input_size")
    pair_rows = {row["layer"]: row for row in layer_table(pair, input_size)}
    rows = []
    for row in layer_table(dae, input_size):
        if row["layer"] not in dae.feature_layers:
            continue
        other = pair_rows[row["layer"]]
        rows.append({"layer": row["layer"], "dae_channels": row["channels"], "pair_channels": other["channels"],
                     "dae_params": row["params"], "pair_params": other["params"],
                     "params_ratio": row["params"] / other["params"]})
    return rows
