"""Figures and tables of chapter 4 (architectures), and the small pure functions behind them.

Numeric helpers (no figures):

- :func:`receptive_fields`: receptive field, jump and centre of every op in a chain of
  convolutions and poolings, from their kernel, stride, dilation and padding.
- :func:`spatial_ops` / :func:`stage_receptive_fields`: every conv and pool on the longest path
  through a trunk (residual shortcuts skipped), and each stage's receptive field.
- :func:`read_reference_csv` / :func:`compare_with_reference`: a table of reported numbers with
  ``#`` comment lines, and a cell-by-cell check of our layer table against it.
- :func:`grid_rule_rows`: how each trunk reaches the target grid at a given input size.
- :func:`parameter_rows`: parameter counts of the split pair against one standard network.
- :func:`grouped_conv_from_halves`: the two halves' convolutions as one ``groups=2`` convolution.
- :class:`Table`: rows shown as an HTML table in a notebook (and as Markdown or text).

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` and shows nothing itself.
"""
from __future__ import annotations

import csv
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from matplotlib import patheffects
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn

from .._checks import check_image_batch, check_positive_int
from ..models import (
    TRUNKS,
    DenoisingAutoencoder,
    SplitBrainHalf,
    SplitBrainNet,
    Trunk,
    _check_arch,
    build_trunk,
    count_parameters,
)

__all__ = [
    "Table",
    "format_shape",
    "receptive_fields",
    "spatial_ops",
    "stage_receptive_fields",
    "read_reference_csv",
    "compare_with_reference",
    "TABLE6_COLUMNS",
    "grid_rule_rows",
    "conv_weight_count",
    "parameter_rows",
    "grouped_conv_from_halves",
    "plot_split_pair",
    "plot_grouped_weights",
    "plot_receptive_field_growth",
    "plot_receptive_fields_on_grid",
]

TABLE6_COLUMNS: dict[str, str] = {
    "X": "spatial", "C": "channels", "K": "kernel", "S": "stride", "D": "dilation", "P": "padding",
}
"""Table 6's column letters and the matching keys of :func:`splitbrain.models.layer_table` rows."""


# --------------------------------------------------------------------------------------------
# Displaying rows
# --------------------------------------------------------------------------------------------
def _format_cell(value: Any) -> str:
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.3g}"
    if isinstance(value, (tuple, list)):
        return "/".join(str(v) for v in value)
    return "" if value is None else str(value)


def format_shape(shape: Sequence[int]) -> str:
    """A tensor shape as text: (100, 12, 12) -> "100 × 12 × 12"."""
    return " × ".join(str(int(side)) for side in shape)


@dataclass
class Table:
    """Rows of dicts shown as a table: HTML in a notebook, Markdown or plain text elsewhere.

    Args:
        rows: one mapping per row.
        columns: the keys to show, in order (default: the first row's keys).
        headers: column titles by key (default: the key itself).
        caption: an optional caption.
        formats: by key, a format spec (e.g. ``{"ratio": ".3f"}``) or a function value -> str,
            used instead of the defaults.
    Cells by default: ints with thousands separators, floats with 3 significant digits,
    booleans as ✓/✗, tuples joined by "/", strings as they are.
    """

    rows: Sequence[Mapping[str, Any]]
    columns: Sequence[str] | None = None
    headers: Mapping[str, str] | None = None
    caption: str | None = None
    formats: Mapping[str, Any] | None = None

    def _columns(self) -> list[str]:
        if self.columns is not None:
            return list(self.columns)
        return list(self.rows[0].keys()) if self.rows else []

    def _header(self, key: str) -> str:
        return (self.headers or {}).get(key, key)

    def cells(self) -> list[list[str]]:
        """The formatted cells, one list per row."""
        columns, formats = self._columns(), self.formats or {}

        def cell(row, key):
            value, how = row.get(key), formats.get(key)
            if how is None or value is None:
                return _format_cell(value)
            return how(value) if callable(how) else format(value, how)

        return [[cell(row, key) for key in columns] for row in self.rows]

    def _repr_html_(self) -> str:
        columns = self._columns()
        parts = ['<table class="table">']
        if self.caption:
            parts.append(f"<caption>{html.escape(self.caption)}</caption>")
        parts.append("<thead><tr>" + "".join(f"<th>{html.escape(self._header(k))}</th>" for k in columns)
                     + "</tr></thead><tbody>")
        for row in self.cells():
            parts.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>")
        parts.append("</tbody></table>")
        return "".join(parts)

    def to_markdown(self) -> str:
        """A pipe table (Markdown / MyST)."""
        columns = self._columns()
        lines = ["| " + " | ".join(self._header(k) for k in columns) + " |",
                 "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(row) + " |" for row in self.cells()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        columns = self._columns()
        table = [[self._header(k) for k in columns]] + self.cells()
        widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
        lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in table]
        return "\n".join(([self.caption] if self.caption else []) + lines)


# --------------------------------------------------------------------------------------------
# Receptive fields
# --------------------------------------------------------------------------------------------
def _op_int(op: Mapping[str, Any], key: str, index: int, default: int | None, minimum: int) -> int:
    value = op.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "a positive integer" if minimum == 1 else "an integer >= 0"
        raise ValueError(f"ops[{index}]['{key}'] must be {kind}, got {value!r}")
    return int(value)


def receptive_fields(ops: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Receptive field of every op in a chain of convolutions and poolings.

    Args:
        ops: the ops in the order the signal passes them, each a mapping with ``kernel``,
            ``stride`` and optionally ``dilation`` (default 1) and ``padding`` (default 0), all
            ints, e.g. the rows of :func:`splitbrain.models.layer_table` for a chain network.
    Returns:
        one dict per op: a copy of the op with

        - ``rf``: side, in input pixels, of the square of input pixels one output unit depends
          on, ``rf = rf_prev + (kernel - 1) * dilation * jump_prev``;
        - ``jump``: distance, in input pixels, between neighbouring output units (the product
          of the strides so far), ``jump = jump_prev * stride``;
        - ``start``: input coordinate of the centre of output unit 0 (input pixel centres are
          0, 1, ..., H - 1), ``start = start_prev + ((kernel - 1) * dilation / 2 - padding) * jump_prev``.
          Unit ``i`` is centred on input pixel ``start + i * jump``.

        The chain starts from the input itself: rf 1, jump 1, start 0.
    Raises:
        ValueError naming ``ops[i]['key']`` for a missing or invalid value.
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


def _trunk_of(model: nn.Module) -> Trunk:
    if isinstance(model, SplitBrainNet):
        return model.half1.trunk
    if isinstance(model, SplitBrainHalf):
        return model.trunk
    if isinstance(model, DenoisingAutoencoder):
        return model.encoder
    if isinstance(model, Trunk):
        return model
    raise ValueError(
        f"model must be a Trunk, SplitBrainHalf, SplitBrainNet or DenoisingAutoencoder, got {type(model).__name__}"
    )


def _pair(value) -> int:
    return int(value[0]) if isinstance(value, tuple) else int(value)


def spatial_ops(model: nn.Module) -> list[dict]:
    """Every convolution and pooling on the longest path through a model's trunk, in order.

    Args:
        model: a :class:`~splitbrain.models.Trunk`, a split-brain half or pair (half 1's trunk;
            both halves have the same layout) or a denoising autoencoder (its encoder).
    Returns:
        one dict per op with ``layer`` (the trunk stage it belongs to), ``op`` (its module
        name), ``type`` ("conv", "max pool" or "avg pool"), ``kernel``, ``stride``,
        ``dilation`` and ``padding`` (the height values; all ops here are square). Residual
        shortcuts (ResNet's ``downsample`` 1x1 convolutions) are skipped: they run beside the
        main path and see a smaller window, so the main path sets the receptive field.
    """
    trunk = _trunk_of(model)
    ops = []
    kinds = {nn.Conv2d: "conv", nn.MaxPool2d: "max pool", nn.AvgPool2d: "avg pool"}
    for stage_name, stage in trunk.stages.items():
        for name, module in stage.named_modules():
            if "downsample" in name.split("."):
                continue
            kind = kinds.get(type(module))
            if kind is None:
                continue
            ops.append(dict(
                layer=stage_name, op=f"{stage_name}.{name}" if name else stage_name, type=kind,
                kernel=_pair(module.kernel_size), stride=_pair(module.stride),
                dilation=_pair(getattr(module, "dilation", 1)), padding=_pair(module.padding),
            ))
    return ops


def stage_receptive_fields(model: nn.Module) -> list[dict]:
    """Receptive field of each trunk stage's output: :func:`receptive_fields` of :func:`spatial_ops`.

    Returns one dict per stage, in order: ``layer``, ``ops`` (how many convs and pools the
    stage has on its main path), ``rf``, ``jump`` and ``start`` of the stage's last op.
    """
    trunk = _trunk_of(model)
    fields = receptive_fields(spatial_ops(trunk))
    rows, previous = [], {"rf": 1, "jump": 1, "start": 0.0}
    for stage_name in trunk.stages:
        mine = [f for f in fields if f["layer"] == stage_name]
        last = mine[-1] if mine else previous
        rows.append(dict(layer=stage_name, ops=len(mine), rf=last["rf"], jump=last["jump"], start=last["start"]))
        previous = last
    return rows


# --------------------------------------------------------------------------------------------
# Table 6 and other reference tables
# --------------------------------------------------------------------------------------------
def _parse_value(text: str):
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def read_reference_csv(path: str | Path) -> list[dict]:
    """Read a small CSV of reported numbers; lines starting with ``#`` are comments (citations).

    Returns one dict per data row, keyed by the header; integers and floats are converted,
    anything else stays a string.
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    data = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not data:
        raise ValueError(f"path must name a CSV file with a header row, got an empty table in {path}")
    return [{key: _parse_value(value) for key, value in row.items()} for row in csv.DictReader(data)]


def compare_with_reference(
    rows: Sequence[Mapping[str, Any]],
    reference: Sequence[Mapping[str, Any]],
    columns: Mapping[str, str] = TABLE6_COLUMNS,
) -> list[dict]:
    """Check a layer table against reported values, cell by cell.

    Args:
        rows: our rows (e.g. :func:`splitbrain.models.layer_table`), with a ``layer`` key.
        reference: the reported rows (e.g. :func:`read_reference_csv` of Table 6), with a
            ``layer`` key; layers are matched by name, in the reference's order.
        columns: reference column -> key of ``rows`` (default: Table 6's X, C, K, S, D, P).
    Returns:
        one dict per reference layer: ``layer``; per reference column, our value, followed by
        " (paper: v)" where the reported value v differs; ``equal`` (True when every column
        matches) and ``differs`` (the differing column letters, "" when none).
    Raises:
        ValueError if a reference layer is missing from ``rows``.
    """
    ours = {row["layer"]: row for row in rows}
    result = []
    for reported in reference:
        name = reported["layer"]
        if name not in ours:
            raise ValueError(f"rows must contain the reference layer {name!r}, got layers {list(ours)}")
        mine = ours[name]
        out: dict[str, Any] = {"layer": name}
        differs = []
        for letter, key in columns.items():
            value, paper = mine[key], reported[letter]
            if value == paper:
                out[letter] = value
            else:
                out[letter] = f"{value} (paper: {paper})"
                differs.append(letter)
        out["equal"] = not differs
        out["differs"] = ", ".join(differs)
        result.append(out)
    return result


# --------------------------------------------------------------------------------------------
# Reaching the grid
# --------------------------------------------------------------------------------------------
def _head_action(map_size: int, grid: int) -> str:
    if map_size == grid:
        return "none"
    if map_size > grid:
        return f"average-pool {map_size}→{grid}"
    return f"upsample {map_size}→{grid}"


def grid_rule_rows(archs: Sequence[str], input_sizes: Sequence[int], grid: int = 12) -> list[dict]:
    """How each trunk reaches a ``grid`` x ``grid`` output at each input size.

    For every (arch, input size): ``stems`` (the trunk class's ``STEMS``), ``maps`` (the
    trunk's output side under each stem, in that order), ``ladder`` (both as text,
    "stem: side, ..."), ``stem`` (the one the rule picks: the first whose map is >= grid, else
    the last), ``map`` (its side), ``head`` (what the head does to reach the grid) and
    ``output`` (the shape of one half's logits for one image, found by running a split-brain
    half with 100 classes on the meta device, which computes shapes only).
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


# --------------------------------------------------------------------------------------------
# Parameters and the group=2 equivalence
# --------------------------------------------------------------------------------------------
def conv_weight_count(module: nn.Module) -> int:
    """Number of convolution weights in ``module`` (no biases, no BatchNorm parameters)."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


def parameter_rows(archs: Sequence[str], input_size: int = 180, num_classes: tuple[int, int] = (100, 100),
                   grid: int = 12) -> list[dict]:
    """Parameter counts of split-brain pairs against one standard network, per arch and width.

    The standard network is one full-width trunk on all three channels (what a supervised
    network of that architecture would be, without its classifier). Models are built on the
    meta device, so counting costs neither memory nor initialisation time.

    Returns one dict per (arch, width): ``arch``, ``width``, ``widths`` (channels per half,
    stage by stage), ``trunks`` (both halves' trunks), ``classifiers`` (both 1x1 heads),
    ``total``, ``standard`` (the standard network's trunk), ``ratio`` (trunks / standard) and
    ``conv_ratio`` (the same ratio for convolution weights only).
    """
    rows = []
    for arch in archs:
        with torch.device("meta"):
            standard = build_trunk(arch, 3, "full", input_size, grid)
            for width in ("half", "full"):
                pair = SplitBrainNet(arch, (1, 2), num_classes, width, grid, input_size)
                trunks = count_parameters(pair.half1.trunk) + count_parameters(pair.half2.trunk)
                heads = count_parameters(pair.half1.classifier) + count_parameters(pair.half2.classifier)
                conv = conv_weight_count(pair.half1.trunk) + conv_weight_count(pair.half2.trunk)
                rows.append(dict(
                    arch=arch, width=width, widths=pair.half1.trunk.widths, trunks=trunks, classifiers=heads,
                    total=trunks + heads, standard=count_parameters(standard),
                    ratio=trunks / count_parameters(standard), conv_ratio=conv / conv_weight_count(standard),
                ))
    return rows


def grouped_conv_from_halves(conv_a: nn.Conv2d, conv_b: nn.Conv2d) -> nn.Conv2d:
    """One ``groups=2`` convolution that computes both halves' convolutions at once.

    ``grouped(torch.cat([x_a, x_b], 1))`` equals ``torch.cat([conv_a(x_a), conv_b(x_b)], 1)``:
    a grouped convolution's first group of input channels feeds only its first group of output
    channels, and likewise for the second, which is exactly two networks side by side.

    Args:
        conv_a, conv_b: ``nn.Conv2d`` with ``groups=1`` and identical settings (in and out
            channels, kernel, stride, padding, dilation, bias or not).
    Returns:
        an ``nn.Conv2d(2 * in, 2 * out, groups=2)`` on the halves' device and dtype, holding
        copies of their weights (conv_a's first).
    """
    for conv, name in ((conv_a, "conv_a"), (conv_b, "conv_b")):
        if not isinstance(conv, nn.Conv2d) or conv.groups != 1:
            raise ValueError(f"{name} must be an nn.Conv2d with groups=1, got {conv!r}")
    settings = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "padding_mode")
    differing = [s for s in settings if getattr(conv_a, s) != getattr(conv_b, s)]
    if differing or (conv_a.bias is None) != (conv_b.bias is None):
        raise ValueError(f"conv_a and conv_b must have the same settings, they differ in {differing or ['bias']}")
    grouped = nn.Conv2d(
        2 * conv_a.in_channels, 2 * conv_a.out_channels, conv_a.kernel_size, conv_a.stride, conv_a.padding,
        conv_a.dilation, groups=2, bias=conv_a.bias is not None, padding_mode=conv_a.padding_mode,
        device=conv_a.weight.device, dtype=conv_a.weight.dtype,
    )
    with torch.no_grad():
        grouped.weight.copy_(torch.cat([conv_a.weight, conv_b.weight], 0))
        if conv_a.bias is not None:
            grouped.bias.copy_(torch.cat([conv_a.bias, conv_b.bias], 0))
    return grouped


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def _image(x: torch.Tensor) -> np.ndarray:
    return x.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def _grid_lines(ax, size: float, grid: int, colour: str = "white", alpha: float = 0.5) -> None:
    """Lines of a grid x grid grid over an image of side ``size`` drawn with imshow's default extent."""
    edges = np.linspace(-0.5, size - 0.5, grid + 1)
    ax.hlines(edges, -0.5, size - 0.5, colors=colour, lw=0.5, alpha=alpha, zorder=2)
    ax.vlines(edges, -0.5, size - 0.5, colors=colour, lw=0.5, alpha=alpha, zorder=2)


def plot_split_pair(rgb: torch.Tensor, model: SplitBrainNet, targets, colour_lightness: float = 70.0) -> Figure:
    """One image through a Lab split-brain pair: each half's input and the grid it must predict.

    Left: the image. Top row, half 1: its input L (full resolution) and its target, the image's
    a*, b* averaged to the grid and quantized, drawn as the class centres at L* =
    ``colour_lightness``. Bottom row, half 2: its input a*, b* (drawn at that same L*) and its
    target, L* on the grid, quantized. Titles give the tensor shapes, the logits' shapes from
    running ``model`` (in eval mode, restored afterwards).

    Args:
        rgb: (3, H, W) sRGB, uint8 in [0, 255] or float in [0, 1].
        model: a :class:`~splitbrain.models.SplitBrainNet` for (1, 2) input channels.
        targets: a Lab target pipeline (:func:`splitbrain.targets.build_targets`), grid as the model's.
    """
    check_image_batch(rgb, "rgb", channels=3, allow_unbatched=True)
    rgb = rgb.reshape(1, *rgb.shape[-3:])
    space = targets.space
    if space.channel_names != ("L", "a", "b"):
        raise ValueError(f"targets must be a Lab pipeline, got colour space {space.name!r}")
    device = next(model.parameters()).device
    batch = targets.prepare(rgb.to(device))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits1, logits2 = model(batch.x1, batch.x2)
    finally:
        model.train(was_training)
    lab = space.from_rgb(rgb.to(device))
    ranges2 = None
    if targets.quantizer2.per_image_ranges:
        from ..quantize import downsample

        ranges2 = targets.quantizer2.image_ranges(downsample(lab[:, 1:], targets.grid))
    ab_grid = targets.quantizer2.decode(batch.t2, ranges=ranges2)
    l_grid = targets.quantizer1.decode(batch.t1)

    def at_lightness(ab: torch.Tensor) -> np.ndarray:
        lightness = torch.full_like(ab[:, :1], colour_lightness)
        return _image(space.to_rgb(torch.cat([lightness, ab], 1))[0])

    size, grid = rgb.shape[-1], targets.grid
    fig = Figure(figsize=(11.5, 6.4), layout="constrained")
    axes = fig.subplot_mosaic([["image", "in1", "out1"], ["image", "in2", "out2"]],
                              width_ratios=[1.25, 1, 1])
    image = rgb[0].float() / 255 if rgb.dtype == torch.uint8 else rgb[0]
    axes["image"].imshow(_image(image))
    _grid_lines(axes["image"], size, grid)
    axes["image"].set_title(f"input image, 3 × {rgb.shape[-2]} × {size}\n(lines: the {grid} × {grid} target grid)")
    axes["in1"].imshow(lab[0, 0].cpu().numpy(), cmap="gray", vmin=0, vmax=100)
    axes["in1"].set_title(f"half 1 sees L*: {tuple(batch.x1.shape[1:])}")
    axes["out1"].imshow(at_lightness(ab_grid))
    axes["out1"].set_title(f"half 1's target: a*b* classes (at L* = {colour_lightness:g})\n"
                           f"its output: logits {tuple(logits1.shape[1:])}")
    axes["in2"].imshow(at_lightness(lab[:, 1:]))
    axes["in2"].set_title(f"half 2 sees a*, b*: {tuple(batch.x2.shape[1:])}\n(drawn at L* = {colour_lightness:g})")
    axes["out2"].imshow(l_grid[0, 0].cpu().numpy(), cmap="gray", vmin=0, vmax=100)
    axes["out2"].set_title(f"half 2's target: L* classes\nits output: logits {tuple(logits2.shape[1:])}")
    for name in ("out1", "out2"):
        _grid_lines(axes[name], grid, grid, colour="black", alpha=0.25)
    for ax in axes.values():
        ax.set_xticks([])
        ax.set_yticks([])
    axes["in1"].set_ylabel("half 1: L → ab", fontsize="large")
    axes["in2"].set_ylabel("half 2: ab → L", fontsize="large")
    return fig


def plot_grouped_weights(in_channels: int, out_channels: int) -> Figure:
    """The weights of one conv layer as an (out x in) grid of kernels: full network vs split pair.

    Left: a standard layer, every output channel reads every input channel. Right: the split
    pair (equivalently one ``groups=2`` convolution): two diagonal blocks of half the size;
    the off-diagonal blocks, where the halves would talk to each other, hold no weights.

    Args:
        in_channels, out_channels: the full (concatenated) channel counts, both even.
    """
    for value, name in ((in_channels, "in_channels"), (out_channels, "out_channels")):
        check_positive_int(value, name)
        if value % 2:
            raise ValueError(f"{name} must be even to split in two halves, got {value}")
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    half_in, half_out = in_channels // 2, out_channels // 2
    panels = [
        ("one standard layer", [(0, 0, in_channels, out_channels, "#4c72b0")],
         in_channels * out_channels),
        ("split-brain pair = groups=2", [(0, 0, half_in, half_out, "#4c72b0"),
                                         (half_in, half_out, half_in, half_out, "#dd8452")],
         2 * half_in * half_out),
    ]
    for ax, (title, blocks, kernels) in zip(axes, panels):
        ax.add_patch(Rectangle((0, 0), in_channels, out_channels, facecolor="#f2f2f2", edgecolor="black", lw=1))
        for x, y, w, h, colour in blocks:
            ax.add_patch(Rectangle((x, y), w, h, facecolor=colour, alpha=0.85, edgecolor="black", lw=1))
        ax.set_xlim(0, in_channels)
        ax.set_ylim(out_channels, 0)
        ax.set_aspect("auto")
        ax.set_xlabel(f"input channel (0 to {in_channels - 1})")
        ax.set_ylabel(f"output channel (0 to {out_channels - 1})")
        ax.set_title(f"{title}\n{kernels:,} kernels")
    axes[1].text(half_in + half_in / 2, half_out / 2, "no weights:\nhalf 2 never reads half 1",
                 ha="center", va="center", fontsize="small")
    axes[1].text(half_in / 2, half_out + half_out / 2, "no weights:\nhalf 1 never reads half 2",
                 ha="center", va="center", fontsize="small")
    axes[1].text(half_in / 2, half_out / 2, "half 1", ha="center", va="center", color="white", fontsize="large")
    axes[1].text(half_in + half_in / 2, half_out + half_out / 2, "half 2", ha="center", va="center",
                 color="white", fontsize="large")
    return fig


def plot_receptive_field_growth(curves: Mapping[str, Sequence[Mapping[str, Any]]], input_size: int,
                                grid: int) -> Figure:
    """Receptive field after each stage, one line per network.

    Args:
        curves: label -> rows of :func:`stage_receptive_fields` (or any rows with ``layer`` and ``rf``).
        input_size: drawn as a horizontal line: a unit above it sees the whole input (and padding).
        grid: the target grid; one grid cell, ``input_size / grid`` pixels, is drawn as well.
    """
    check_positive_int(input_size, "input_size")
    check_positive_int(grid, "grid")
    fig = Figure(figsize=(9, 4.8), layout="constrained")
    ax = fig.subplots()
    # Label offsets per curve, so that labels of curves meeting at one point do not overlap.
    offsets = [((5, -11), "left"), ((5, 5), "left"), ((-6, 5), "right")]
    for index, (label, rows) in enumerate(curves.items()):
        depth = np.arange(1, len(rows) + 1)
        rf = [row["rf"] for row in rows]
        (line,) = ax.plot(depth, rf, marker="o", label=label)
        offset, align = offsets[index % len(offsets)]
        for x, y, row in zip(depth, rf, rows):
            ax.annotate(row["layer"], (x, y), textcoords="offset points", xytext=offset, ha=align,
                        fontsize="x-small", color=line.get_color())
    ax.axhline(input_size, color="black", ls="--", lw=1)
    ax.text(0.6, input_size * 1.05, f"input side ({input_size} px)", fontsize="small")
    cell = input_size / grid
    ax.axhline(cell, color="grey", ls=":", lw=1)
    ax.text(0.6, cell * 1.08, f"one grid cell ({cell:g} px)", fontsize="small", color="grey")
    ax.set_yscale("log")
    ax.set_xlabel("stage (in the order the image passes them)")
    ax.set_ylabel("receptive field side (input pixels, log scale)")
    ax.set_title(f"Receptive field after each stage at {input_size} px input")
    ax.set_xlim(0.5, max(len(rows) for rows in curves.values()) + 0.8)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3, which="both")
    return fig


def plot_receptive_fields_on_grid(rgb: torch.Tensor, fields: Sequence[Mapping[str, Any]], grid: int,
                                  cell: tuple[int, int]) -> Figure:
    """Receptive fields of the units that predict one cell of the target grid, drawn on the image.

    Args:
        rgb: (3, S, S) sRGB image, uint8 or float in [0, 1].
        fields: rows with ``layer``, ``rf``, ``jump`` and ``start`` (e.g. a selection of
            :func:`stage_receptive_fields`); each is drawn as a square of side ``rf`` centred on
            the unit that sits at ``cell`` of that layer's map, i.e. on input pixel
            ``start + index * jump`` (only meaningful for layers whose map is ``grid`` wide;
            for earlier layers the square of the unit nearest that centre is drawn).
        grid: side of the target grid (its lines are drawn, the chosen cell is outlined).
        cell: (row, column) of the grid cell.
    The grey frame around the image is the zero padding: large fields reach into it.
    """
    check_image_batch(rgb, "rgb", channels=3, allow_unbatched=True)
    check_positive_int(grid, "grid")
    row, column = cell
    if not (0 <= row < grid and 0 <= column < grid):
        raise ValueError(f"cell must be a (row, column) inside the {grid} x {grid} grid, got {cell!r}")
    image = rgb.reshape(rgb.shape[-3:])
    image = image.float() / 255 if image.dtype == torch.uint8 else image
    size = image.shape[-1]
    step = size / grid
    centre_y, centre_x = (row + 0.5) * step - 0.5, (column + 0.5) * step - 0.5
    margin = max([f["rf"] for f in fields] + [0]) / 2 - min(centre_x, centre_y, size - centre_x, size - centre_y)
    margin = max(margin, 0) + 4
    fig = Figure(figsize=(7.2, 7.2), layout="constrained")
    ax = fig.subplots()
    ax.add_patch(Rectangle((-margin, -margin), size + 2 * margin, size + 2 * margin, facecolor="#d9d9d9", zorder=0))
    ax.imshow(_image(image), extent=(-0.5, size - 0.5, size - 0.5, -0.5), zorder=1)
    _grid_lines(ax, size, grid, alpha=0.35)
    ax.add_patch(Rectangle((column * step - 0.5, row * step - 0.5), step, step, fill=False, edgecolor="yellow",
                           lw=2, zorder=3, label=f"target cell ({step:g} px)",
                           path_effects=[patheffects.withStroke(linewidth=3.5, foreground="black")]))
    colours = ["#e41a1c", "#ff7f00", "#4daf4a", "#377eb8", "#984ea3", "#a65628"]
    for index, field in enumerate(fields):
        unit_y = round((centre_y - field["start"]) / field["jump"])
        unit_x = round((centre_x - field["start"]) / field["jump"])
        y, x = field["start"] + unit_y * field["jump"], field["start"] + unit_x * field["jump"]
        half = field["rf"] / 2
        ax.add_patch(Rectangle((x - half, y - half), field["rf"], field["rf"], fill=False, lw=2,
                               edgecolor=colours[index % len(colours)], zorder=4,
                               label=f"{field['layer']}: {field['rf']} px"))
        ax.plot(x, y, marker="+", color=colours[index % len(colours)], zorder=5)
    ax.set_xlim(-margin, size + margin)
    ax.set_ylim(size + margin, -margin)
    ax.set_xlabel("x (input pixels)")
    ax.set_ylabel("y (input pixels)")
    ax.set_title(f"What one unit of each layer sees, for grid cell {tuple(cell)}\n(grey: zero padding)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return fig
