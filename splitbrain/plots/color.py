"""Figures of chapter 1 (colour spaces): the sRGB gamut in Lab, ab slices, the reachable
fraction of the poster's a/b box, an image's channels and their correlations. The numbers behind
them (which Lab colours exist in sRGB, channel correlations) are in :mod:`splitbrain.color`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from . import BOOK_COLUMN_INCHES, image_array, legend_below, panel_axes
from .._checks import check_one_of
from ..color import (
    POSTER_A_RANGE,
    POSTER_B_RANGE,
    _unit_rgb,
    ab_plane,
    in_srgb_gamut,
    lab_to_rgb,
    reachable_fraction,
    rgb_to_lab,
    srgb_cube_samples,
)

__all__ = ["lab_axis_colormap", "plot_srgb_gamut", "plot_ab_slices", "plot_reachable_fraction", "plot_channel_split",
           "plot_correlation_matrices"]

_UNREACHABLE_GREY = 0.82  # grey level painted where an ab value has no sRGB colour


# Numeric helpers
def lab_axis_colormap(channel: str, lightness: float = 70.0, limit: float = 100.0) -> ListedColormap:
    """A colormap that shows a* or b* in its own colours: the sRGB of (L, t, 0) or (L, 0, t).

    ``channel`` is "a" (green to magenta) or "b" (blue to yellow); t runs from -limit to +limit.
    Returns a 256-entry :class:`~matplotlib.colors.ListedColormap` (out-of-gamut ends are clipped).
    """
    check_one_of(channel, "channel", ("a", "b"))
    values = torch.linspace(-float(limit), float(limit), 256, dtype=torch.float64)
    lab = torch.zeros(3, 1, 256, dtype=torch.float64)
    lab[0] = lightness
    lab[1 if channel == "a" else 2, 0] = values
    rgb = lab_to_rgb(lab)[:, 0].T.numpy()  # (256, 3)
    return ListedColormap(rgb, name=f"lab_{channel}")


# Figures
def _panel_figure(count: int, columns: int, row_inches: float, extra_inches: float = 0.0,
                  **subplot_kw) -> tuple[Figure, list]:
    """A figure as wide as the book's column with ``count`` panels in rows of at most ``columns``
    (:func:`panel_axes`), ``row_inches`` a row plus ``extra_inches`` (e.g. a legend): (figure, axes)."""
    rows = -(-count // min(columns, count))
    fig = Figure(figsize=(BOOK_COLUMN_INCHES, row_inches * rows + extra_inches), layout="constrained")
    return fig, panel_axes(fig, count, columns=columns, **subplot_kw)


def _draw_box(ax, a_range, b_range, label: str | None = "poster's a/b box") -> None:
    (a_low, a_high), (b_low, b_high) = a_range, b_range
    ax.add_patch(Rectangle((a_low, b_low), a_high - a_low, b_high - b_low, fill=False,
                           edgecolor="black", linestyle="--", linewidth=1.0, label=label))


def plot_srgb_gamut(levels: int = 17, a_range=POSTER_A_RANGE, b_range=POSTER_B_RANGE) -> Figure:
    """The sRGB cube seen in CIE Lab: three views of :func:`srgb_cube_samples` (``levels**3`` colours).

    Panels: a 3-D scatter (a*, b*, L*) across the top; below it the top view (a*, b*) with the
    poster's a/b box dashed, and a side view (a*, L*). Each point is drawn in its own colour.
    """
    rgb = srgb_cube_samples(levels)
    lab = rgb_to_lab(rgb.T.reshape(3, 1, -1))[:, 0].T.numpy()  # (M, 3)
    colours = rgb.numpy()
    lightness, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    order = np.argsort(lightness)  # draw dark points first so the top view shows light ones

    fig = Figure(figsize=(BOOK_COLUMN_INCHES, 7.0), layout="constrained")
    upper, lower = fig.subfigures(2, 1, height_ratios=[0.9, 1])
    ax3d = upper.add_subplot(projection="3d")
    ax3d.scatter(a, b, lightness, c=colours, s=5, depthshade=False)
    ax3d.set(xlabel="a*", ylabel="b*", zlabel="L*")
    ax3d.set_title(f"{len(rgb)} sRGB colours in Lab", y=0.95)
    ax3d.view_init(elev=22, azim=-60)
    ax3d.set_box_aspect(None, zoom=0.9)  # room for the L* label inside the panel

    top, side = lower.subplots(1, 2)
    top.scatter(a[order], b[order], c=colours[order], s=4)
    _draw_box(top, a_range, b_range)
    top.set(xlabel="a*  (green <-> red)", ylabel="b*  (blue <-> yellow)", title="seen from above:\nthe ab plane")
    top.set_aspect("equal")
    legend_below(lower, [top])

    by_b = np.argsort(-np.abs(b))
    side.scatter(a[by_b], lightness[by_b], c=colours[by_b], s=4)
    side.set(xlabel="a*", ylabel="L*", title="seen from the side: narrow\nat black and white")
    return fig


def plot_ab_slices(lightness_values: Sequence[float] = (25.0, 50.0, 75.0), step: float = 1.0,
                   extent: Sequence[float] = (-120.0, 120.0, -120.0, 120.0),
                   a_range=POSTER_A_RANGE, b_range=POSTER_B_RANGE) -> Figure:
    """Slices of Lab at fixed L*, one panel per L*: every reachable ab in its sRGB colour,
    unreachable ab in grey.

    ``step`` is the sampling step of the ab plane (Lab units), ``extent`` the (a_low, a_high,
    b_low, b_high) of the drawn plane; the box a_range x b_range is drawn dashed and each title
    gives the share of it that is reachable. At most three panels a row, one legend below them.
    """
    lightness_values = [float(v) for v in lightness_values]
    if not lightness_values:
        raise ValueError("lightness_values must hold at least one L* value, got an empty sequence")
    a_low, a_high, b_low, b_high = (float(v) for v in extent)
    columns = min(3, len(lightness_values))
    fig, axes = _panel_figure(len(lightness_values), columns, 2.35, 0.45, sharex=True, sharey=True)
    for ax, lightness in zip(axes, lightness_values):
        lab = ab_plane(lightness, (a_low, a_high), (b_low, b_high), step)
        reachable = in_srgb_gamut(lab)
        image = lab_to_rgb(lab)
        image[:, ~reachable] = _UNREACHABLE_GREY
        ax.imshow(image_array(image), origin="lower", extent=(a_low, a_high, b_low, b_high),
                  interpolation="nearest")
        _draw_box(ax, a_range, b_range)
        share = reachable_fraction(lightness, a_range, b_range, step)
        ax.set(title=f"L* = {lightness:g}\n{100 * share:.0f}% of box reachable", xlabel="a*")
        ax.axhline(0, color="black", linewidth=0.4)
        ax.axvline(0, color="black", linewidth=0.4)
    for ax in axes[::columns]:
        ax.set_ylabel("b*")
    legend_below(fig, axes)
    return fig


def plot_reachable_fraction(lightness: Sequence[float] | torch.Tensor, fractions: Sequence[float] | torch.Tensor,
                            highlight: Sequence[float] = ()) -> Figure:
    """Share of the a/b box reachable in sRGB against L*.

    ``lightness`` (M,) L* values, ``fractions`` (M,) shares in [0, 1] (e.g.
    :func:`splitbrain.color.reachable_fractions`); ``highlight`` L* values are marked with a dot
    (their share interpolated).
    """
    lightness = np.asarray(lightness, dtype=np.float64).reshape(-1)
    fractions = np.asarray(fractions, dtype=np.float64).reshape(-1)
    if lightness.shape != fractions.shape or lightness.size == 0:
        raise ValueError(f"lightness and fractions must be non-empty and of equal length, "
                         f"got {lightness.size} and {fractions.size}")
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.plot(lightness, 100 * fractions, color="tab:blue")
    ax.fill_between(lightness, 100 * fractions, color="tab:blue", alpha=0.15)
    for value in highlight:
        share = float(np.interp(value, lightness, fractions))
        ax.plot([value], [100 * share], "o", color="tab:red")
        ax.annotate(f"{100 * share:.0f}%", (value, 100 * share), textcoords="offset points",
                    xytext=(0, 7), ha="center")
    ax.set(xlabel="L*", ylabel="reachable share of the a/b box (%)", xlim=(0, 100),
           ylim=(0, max(5.0, 110 * float(fractions.max()))),
           title="How much of the a/b box sRGB colours fill, slice by slice")
    ax.grid(alpha=0.3)
    return fig


def plot_channel_split(rgb: torch.Tensor, colour_lightness: float = 70.0) -> Figure:
    """One image taken apart in RGB (top row) and in Lab (bottom row).

    Top: the image, then R, G and B each as a grey image (0 to 1). Bottom: L* as a grey image
    (0 to 100), a* and b* in their own colours (:func:`lab_axis_colormap`, symmetric limits),
    and the colour alone: the image's a*, b* with L* set to ``colour_lightness`` everywhere.

    ``rgb`` is (3, H, W) (or (1, 3, H, W)) sRGB, uint8 in [0, 255] or float in [0, 1].
    """
    rgb = _unit_rgb(rgb, "rgb", torch.float64, allow_unbatched=True).clamp(0.0, 1.0)
    if rgb.dim() == 4 and rgb.shape[0] != 1:
        raise ValueError(f"rgb must be one image, (3, H, W) or (1, 3, H, W), got shape {tuple(rgb.shape)}")
    rgb = rgb.reshape(rgb.shape[-3:])
    lab = rgb_to_lab(rgb)
    colour_only = lab.clone()
    colour_only[0] = colour_lightness
    colour_only = lab_to_rgb(colour_only)
    limit = max(float(lab[1:].abs().max()), 1.0)

    fig = Figure(figsize=(BOOK_COLUMN_INCHES, 3.7), layout="constrained")
    axes = fig.subplots(2, 4)
    axes[0, 0].imshow(image_array(rgb))
    axes[0, 0].set_title("image")
    for ax, channel, name in zip(axes[0, 1:], rgb, ("R", "G", "B")):
        ax.imshow(channel.numpy(), cmap="gray", vmin=0.0, vmax=1.0)
        ax.set_title(f"{name} (0 to 1)")
    axes[1, 0].imshow(lab[0].numpy(), cmap="gray", vmin=0.0, vmax=100.0)
    axes[1, 0].set_title("L* (0 to 100):\nthe grey image")
    for ax, channel, name in zip(axes[1, 1:3], lab[1:], ("a", "b")):
        ax.imshow(channel.numpy(), cmap=lab_axis_colormap(name), vmin=-limit, vmax=limit)
        ax.set_title(f"{name}*\n(-{limit:.0f} to {limit:.0f})")
    axes[1, 3].imshow(image_array(colour_only))
    axes[1, 3].set_title(f"a*, b* alone\n(L* = {colour_lightness:g})")
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
    axes[0, 0].set_ylabel("RGB", fontsize="large")
    axes[1, 0].set_ylabel("CIE Lab", fontsize="large")
    return fig


def plot_correlation_matrices(matrices: dict[str, torch.Tensor | np.ndarray],
                              channel_names: dict[str, Sequence[str]] | None = None, absolute: bool = False) -> Figure:
    """Heat maps of channel correlation matrices, one panel each, values written in the cells.

    Args:
        matrices: title -> (3, 3) correlation matrix (e.g. :func:`splitbrain.color.channel_correlation`), in
            [-1, 1] (or [0, 1] for ``absolute``).
        channel_names: title -> the three channel names (default R, G, B).
        absolute: the matrices hold sizes |r| (e.g. a mean of absolute correlations): draw
            them on a 0 to 1 scale.
    """
    if not matrices:
        raise ValueError("matrices must hold at least one correlation matrix, got none")
    channel_names = channel_names or {}
    cmap, vmin = ("Blues", 0.0) if absolute else ("RdBu_r", -1.0)
    fig, axes = _panel_figure(len(matrices), 2, 3.2)
    for ax, (title, matrix) in zip(axes, matrices.items()):
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrices[{title!r}] must be square (C, C), got shape {matrix.shape}")
        names = list(channel_names.get(title, ("R", "G", "B")))[: matrix.shape[0]]
        ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=1.0)
        for (i, j), value in np.ndenumerate(matrix):
            colour = "white" if abs(value) > 0.6 else "black"
            ax.text(j, i, f"{value:.2f}" if absolute else f"{value:+.2f}", ha="center", va="center", color=colour)
        ax.set_xticks(range(len(names)), names)
        ax.set_yticks(range(len(names)), names)
        ax.set_title(title)
    return fig
