"""Figures of chapter 4 (architectures): the split pair on one image, grouped weights, receptive
fields growing and on the target grid. The numbers behind them are in :mod:`splitbrain.architecture`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from matplotlib import patheffects
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .._checks import check_image_batch, check_positive_int
from ..models import SplitBrainNet, eval_mode, model_device
from . import BOOK_COLUMN_INCHES, image_array

__all__ = ["plot_split_pair", "plot_grouped_weights", "plot_receptive_field_growth", "plot_receptive_fields_on_grid"]


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
    running ``model`` (for (1, 2) input channels) in eval mode, restored afterwards.

    ``rgb``: (3, H, W) sRGB, uint8 in [0, 255] or float in [0, 1]. ``targets``: a Lab target
    pipeline (:func:`splitbrain.targets.build_targets`) with the model's grid.
    """
    check_image_batch(rgb, "rgb", channels=3, allow_unbatched=True)
    space = targets.space
    if space.channel_names != ("L", "a", "b"):
        raise ValueError(f"targets must be a Lab pipeline, got colour space {space.name!r}")
    rgb = rgb.reshape(1, *rgb.shape[-3:]).to(model_device(model))
    batch = targets.prepare(rgb)
    with eval_mode(model):
        logits1, logits2 = model(batch.x1, batch.x2)
    lab = space.from_rgb(rgb)
    ab_grid = targets.quantizer2.decode(batch.t2, ranges=batch.ranges2)
    l_grid = targets.quantizer1.decode(batch.t1)

    def at_lightness(ab: torch.Tensor) -> np.ndarray:
        lightness = torch.full_like(ab[:, :1], colour_lightness)
        return image_array(space.to_rgb(torch.cat([lightness, ab], 1))[0])

    size, grid = rgb.shape[-1], targets.grid
    fig = Figure(figsize=(BOOK_COLUMN_INCHES, 4.9), layout="constrained")
    axes = fig.subplot_mosaic([["image", "in1", "out1"], ["image", "in2", "out2"]], width_ratios=[1.2, 1, 1])
    axes["image"].imshow(image_array(rgb[0]))
    _grid_lines(axes["image"], size, grid)
    small = {"fontsize": "small"}  # a column of three panels leaves each about 1.7 in
    axes["image"].set_title(f"input image\n3 × {rgb.shape[-2]} × {size}\n(lines: the {grid} × {grid}\ntarget grid)",
                            **small)
    axes["in1"].imshow(lab[0, 0].cpu().numpy(), cmap="gray", vmin=0, vmax=100)
    axes["in1"].set_title(f"half 1 sees L*\n{tuple(batch.x1.shape[1:])}", **small)
    axes["out1"].imshow(at_lightness(ab_grid))
    axes["out1"].set_title(f"its target: a*b* classes\n(at L* = {colour_lightness:g}); its output:\n"
                           f"logits {tuple(logits1.shape[1:])}", **small)
    axes["in2"].imshow(at_lightness(lab[:, 1:]))
    axes["in2"].set_title(f"half 2 sees a*, b*\n{tuple(batch.x2.shape[1:])}\n(drawn at L* = {colour_lightness:g})",
                          **small)
    axes["out2"].imshow(l_grid[0, 0].cpu().numpy(), cmap="gray", vmin=0, vmax=100)
    axes["out2"].set_title(f"its target: L* classes\nits output:\nlogits {tuple(logits2.shape[1:])}", **small)
    for name in ("out1", "out2"):
        _grid_lines(axes[name], grid, grid, colour="black", alpha=0.25)
    for ax in axes.values():
        ax.set(xticks=[], yticks=[])
    axes["in1"].set_ylabel("half 1: L → ab", fontsize="large")
    axes["in2"].set_ylabel("half 2: ab → L", fontsize="large")
    return fig


def plot_grouped_weights(in_channels: int, out_channels: int) -> Figure:
    """The weights of one conv layer as an (out x in) grid of kernels: full network vs split pair.

    Left: a standard layer, every output channel reads every input channel. Right: the split
    pair (equivalently one ``groups=2`` convolution): two diagonal blocks of half the size;
    the off-diagonal blocks, where the halves would talk to each other, hold no weights.
    ``in_channels`` and ``out_channels`` are the full (concatenated) channel counts, both even.
    """
    for value, name in ((in_channels, "in_channels"), (out_channels, "out_channels")):
        check_positive_int(value, name)
        if value % 2:
            raise ValueError(f"{name} must be even to split in two halves, got {value}")
    fig = Figure(figsize=(BOOK_COLUMN_INCHES, 3.9), layout="constrained")
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
        ax.set_xlabel(f"input channel\n(0 to {in_channels - 1})")
        ax.set_ylabel(f"output channel (0 to {out_channels - 1})")
        ax.set_title(f"{title}\n{kernels:,} kernels")
    notes = {(1, 0): "no weights:\nhalf 2 never\nreads half 1",  # (column, row) of a block: its text
             (0, 1): "no weights:\nhalf 1 never\nreads half 2", (0, 0): "half 1", (1, 1): "half 2"}
    for (i, j), text in notes.items():
        style = {"color": "white", "fontsize": "large"} if i == j else {"fontsize": "small"}
        axes[1].text((i + 0.5) * half_in, (j + 0.5) * half_out, text, ha="center", va="center", **style)
    return fig


# Where a point's label may go, tried in this order: (offset in points, horizontal alignment,
# vertical alignment). Right of the point first, then left, then the four diagonals, then above
# and below, then the same again twice and three times as far out (in a figure as narrow as the
# book's column, stages sit close and their lines are steep).
_LABEL_SPOTS = [((dx * far, dy * far), ha, va) for far in (1, 2, 3) for (dx, dy), ha, va in [
    ((6, 0), "left", "center"), ((-6, 0), "right", "center"),
    ((4, -5), "left", "top"), ((-4, 5), "right", "bottom"),
    ((4, 5), "left", "bottom"), ((-4, -5), "right", "top"),
    ((0, 7), "center", "bottom"), ((0, -7), "center", "top")]]


def _segment_meets_box(p, q, box) -> bool:
    """Whether the segment p-q (display coordinates) passes through box (x0, y0, x1, y1)."""
    (x0, y0, x1, y1), (dx, dy) = box, (q[0] - p[0], q[1] - p[1])
    low, high = 0.0, 1.0
    for step, start, lo, hi in ((dx, p[0], x0, x1), (dy, p[1], y0, y1)):
        if step == 0:
            if not lo <= start <= hi:
                return False
            continue
        a, b = sorted(((lo - start) / step, (hi - start) / step))
        low, high = max(low, a), min(high, b)
        if low > high:
            return False
    return True


def _place_labels(ax, labels: Sequence[tuple[Sequence[tuple[tuple[float, float], tuple[float, float], str, str]], str, dict]],
                  pad: float = 2.0) -> list:
    """Annotates ``ax`` with each label at the first of its candidate spots where the text crosses
    no line, covers no marker, stays inside the axes and overlaps neither the legend nor a label
    placed before it; a label with no free spot takes the spot with the fewest obstacles and a
    white backing. Call once the axes' limits, scales and legend are final.

    ``labels``: (candidates, text, annotate keywords), each candidate ((x, y) in data coordinates,
    (dx, dy) offset in points, ha, va). Returns the annotations.
    """
    fig = ax.get_figure()
    fig.draw_without_rendering()
    frame = ax.get_window_extent()
    paths, markers = [], []
    for line in ax.get_lines():
        points = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
        paths.append(points)
        if line.get_marker() not in (None, "", "None", " "):
            half = line.get_markersize() / 2 * fig.dpi / 72
            markers += [(x - half, y - half, x + half, y + half) for x, y in points]
    legend = ax.get_legend()
    taken = [tuple(legend.get_window_extent().extents)] if legend else []
    placed = []
    for candidates, text, keywords in labels:
        best = None
        for xy, offset, ha, va in candidates:
            note = ax.annotate(text, xy, textcoords="offset points", xytext=offset, ha=ha, va=va,
                               annotation_clip=False, **keywords)
            note.set_in_layout(False)
            x0, y0, x1, y1 = note.get_window_extent().extents
            box = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
            outside = not (frame.x0 <= x0 and x1 <= frame.x1 and frame.y0 <= y0 and y1 <= frame.y1)
            hits = (sum(_segment_meets_box(p, q, box) for path in paths for p, q in zip(path[:-1], path[1:]))
                    + sum(_boxes_meet(box, other) for other in markers + taken) + 100 * outside)
            if best is None or hits < best[0]:
                if best is not None:
                    best[1].remove()
                best = (hits, note, (x0, y0, x1, y1))
            else:
                note.remove()
            if hits == 0:
                break
        hits, note, extents = best
        if hits:
            note.set_bbox({"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 0.5})
            note.set_zorder(5)
        taken.append(extents)
        placed.append(note)
    return placed


def _boxes_meet(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def plot_receptive_field_growth(curves: Mapping[str, Sequence[Mapping[str, Any]]], input_size: int,
                                grid: int) -> Figure:
    """Receptive field after each stage, one line per network.

    ``curves``: label -> rows with ``layer`` and ``rf`` (:func:`stage_receptive_fields`). The input
    side (a unit above it sees the whole input and padding) and one grid cell, ``input_size / grid``
    pixels, are drawn as horizontal lines. Each stage's name stands next to its point where no
    line, marker, legend or other name is (:func:`_place_labels`), so curves that meet or cross do
    not run through each other's names.
    """
    check_positive_int(input_size, "input_size")
    check_positive_int(grid, "grid")
    fig = Figure(figsize=(BOOK_COLUMN_INCHES, 4.6), layout="constrained")
    ax = fig.subplots()
    stage_labels = []
    for label, rows in curves.items():
        depth = np.arange(1, len(rows) + 1)
        rf = [row["rf"] for row in rows]
        (line,) = ax.plot(depth, rf, marker="o", label=label)
        for x, y, row in zip(depth, rf, rows):
            stage_labels.append(([((x, y), *spot) for spot in _LABEL_SPOTS], row["layer"],
                                 {"fontsize": "x-small", "color": line.get_color()}))
    cell = input_size / grid
    ax.axhline(input_size, color="black", ls="--", lw=1)
    ax.axhline(cell, color="grey", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("stage (in the order the image passes them)")
    ax.set_ylabel("receptive field side\n(input pixels, log scale)")
    ax.set_title(f"Receptive field after each stage at {input_size} px input")
    stages = max(len(rows) for rows in curves.values())
    ax.set_xlim(0.1, stages + 0.8)  # room for a name left of the first stage
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, cell / 1.3), max(high, input_size * 1.3))
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3, which="both")
    # The reference lines' names go above their line at the leftmost free place, else below it.
    ends = [0.15 + f * (stages + 0.6) for f in (0, 0.25, 0.5, 0.75)]
    references = [([((x, level), (0, side), "left", "bottom" if side > 0 else "top")
                    for side in (3, -3) for x in ends], text, {"fontsize": "small", "color": colour})
                  for level, text, colour in ((input_size, f"input side ({input_size} px)", "black"),
                                              (cell, f"one grid cell ({cell:g} px)", "grey"))]
    _place_labels(ax, references + stage_labels)
    return fig


def plot_receptive_fields_on_grid(rgb: torch.Tensor, fields: Sequence[Mapping[str, Any]], grid: int,
                                  cell: tuple[int, int]) -> Figure:
    """Receptive fields of the units that predict one cell of the target grid, drawn on the image.

    Args:
        rgb: (3, S, S) sRGB image, uint8 or float in [0, 1].
        fields: rows with ``layer``, ``rf``, ``jump`` and ``start`` (e.g. of
            :func:`stage_receptive_fields`); each is drawn as a square of side ``rf`` centred on
            input pixel ``start + index * jump`` of the unit nearest the centre of ``cell``
            (exactly at ``cell`` for layers whose map is ``grid`` wide).
        cell: (row, column) of the grid cell, outlined.
    The grey frame around the image is the zero padding: large fields reach into it.
    """
    check_image_batch(rgb, "rgb", channels=3, allow_unbatched=True)
    check_positive_int(grid, "grid")
    row, column = cell
    if not (0 <= row < grid and 0 <= column < grid):
        raise ValueError(f"cell must be a (row, column) inside the {grid} x {grid} grid, got {cell!r}")
    image = rgb.reshape(rgb.shape[-3:])
    size = image.shape[-1]
    step = size / grid
    centre_y, centre_x = (row + 0.5) * step - 0.5, (column + 0.5) * step - 0.5
    margin = max((f["rf"] for f in fields), default=0) / 2 - min(centre_x, centre_y, size - centre_x, size - centre_y)
    margin = max(margin, 0) + 4
    fig = Figure(figsize=(BOOK_COLUMN_INCHES - 0.1, 4.9), layout="constrained")  # the legend's frame juts out
    ax = fig.subplots()
    ax.add_patch(Rectangle((-margin, -margin), size + 2 * margin, size + 2 * margin, facecolor="#d9d9d9", zorder=0))
    ax.imshow(image_array(image), extent=(-0.5, size - 0.5, size - 0.5, -0.5), zorder=1)
    _grid_lines(ax, size, grid, alpha=0.35)
    ax.add_patch(Rectangle((column * step - 0.5, row * step - 0.5), step, step, fill=False, edgecolor="yellow",
                           lw=2, zorder=3, label=f"target cell ({step:g} px)",
                           path_effects=[patheffects.withStroke(linewidth=3.5, foreground="black")]))
    colours = ["#e41a1c", "#ff7f00", "#4daf4a", "#377eb8", "#984ea3", "#a65628"]
    for index, field in enumerate(fields):
        start, jump, rf = field["start"], field["jump"], field["rf"]
        y = start + round((centre_y - start) / jump) * jump
        x = start + round((centre_x - start) / jump) * jump
        colour = colours[index % len(colours)]
        ax.add_patch(Rectangle((x - rf / 2, y - rf / 2), rf, rf, fill=False, lw=2, edgecolor=colour, zorder=4,
                               label=f"{field['layer']}: {rf} px"))
        ax.plot(x, y, marker="+", color=colour, zorder=5)
    ax.set_xlim(-margin, size + margin)
    ax.set_ylim(size + margin, -margin)
    ax.set_xlabel("x (input pixels)")
    ax.set_ylabel("y (input pixels)")
    ax.set_title(f"What one unit of each layer sees, for grid cell {tuple(cell)}\n(grey: zero padding)")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    return fig
