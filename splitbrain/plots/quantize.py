"""Figures of chapters 2 and 3 (quantization, rescaled bins) and their display colours.

Bins and their statistics come from :mod:`splitbrain.quantize`; this module draws them.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .._checks import check_one_of, check_positive_int
from ..color import POSTER_A_RANGE, POSTER_B_RANGE, _unit_rgb, lab_to_rgb
from . import BOOK_COLUMN_INCHES, grid_cell_inches, image_array, legend_below, show_image, wrap_to
from .color import _draw_box, _panel_figure

__all__ = ["centre_colours", "class_map_colours", "plot_bin_centres", "plot_class_occupancy", "plot_image_table",
           "plot_prediction_decoding", "plot_class_maps", "plot_image_ranges", "plot_per_image_statistics",
           "plot_class_histograms"]


# Numeric helpers
def _as_vector(values) -> np.ndarray:
    """A tensor or array-like as a flat float64 numpy array."""
    return np.asarray(torch.as_tensor(values, dtype=torch.float64).cpu()).reshape(-1)


def _as_ab_points(points, name: str) -> np.ndarray:
    array = np.asarray(points.detach().cpu() if isinstance(points, torch.Tensor) else points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must have shape (K, 2) of (a, b) values, got shape {array.shape}")
    return array


def centre_colours(ab, lightness: float = 65.0) -> np.ndarray:
    """The sRGB colour of (K, 2) (a*, b*) points drawn at one lightness: (K, 3) float64 in [0, 1].

    ab values without an sRGB colour at this L* are clipped (:func:`splitbrain.color.lab_to_rgb`).
    """
    ab = _as_ab_points(ab, "ab")
    lab = torch.zeros(3, 1, len(ab), dtype=torch.float64)
    lab[0] = float(lightness)
    lab[1:, 0] = torch.from_numpy(ab.T.copy())
    return lab_to_rgb(lab)[:, 0].T.numpy()


def class_map_colours(quantizer, classes: torch.Tensor, ranges: torch.Tensor | None = None,
                      lightness: float = 65.0) -> np.ndarray:
    """Each cell of a class map in the colour of its class: the bin centre, drawn at one lightness.

    ``classes`` are (M, h, w) integer class maps of the ab ``quantizer``; ``ranges`` the (M, 2, 2)
    per-image (low, high) for per-image bins (what :func:`splitbrain.quantize.downsample_targets`
    returns), None for fixed bins. Returns (M, h, w, 3) float64 sRGB in [0, 1]
    (:func:`centre_colours` of the decoded centres).
    """
    ab = quantizer.decode(classes, ranges=ranges).double()  # (M, 2, h, w)
    count, _, height, width = ab.shape
    return centre_colours(ab.permute(0, 2, 3, 1).reshape(-1, 2), lightness).reshape(count, height, width, 3)


# Figures
def _ab_axes(ax, title: str, limit: float = 120.0) -> None:
    ax.set(xlim=(-limit, limit), ylim=(-limit, limit), xlabel="a*", ylabel="b*", title=title)
    ax.set_aspect("equal")
    ax.axhline(0, color="grey", linewidth=0.4)
    ax.axvline(0, color="grey", linewidth=0.4)


def _inner_labels_off(axes) -> None:
    """Only the first panel of a row names b*: the panels share the ab plane's scale."""
    for ax in axes:
        if not ax.get_subplotspec().is_first_col():
            ax.set_ylabel("")


def _ab_figure(count: int, legend: bool) -> tuple[Figure, list, float]:
    """A figure of ``count`` ab-plane panels, at most three a row across the column, with room
    below for a legend if asked: (figure, axes, each panel's width in inches)."""
    side = BOOK_COLUMN_INCHES / min(3, count)
    fig, axes = _panel_figure(count, 3, side + 0.45, 0.35 if legend else 0.0)
    return fig, axes, side


def plot_bin_centres(sets: Mapping[str, object], lightness: float = 65.0, reachable: Mapping[str, object] | None = None,
                     box: bool = True, marker_size: float = 40.0, zoom: bool = False) -> Figure:
    """Bin centres on the ab plane, one panel per bin set, each centre in its own colour.

    Args:
        sets: title -> (K, 2) centres (e.g. ``quantizer.centres()``), coloured at ``lightness``.
        reachable: optional title -> (K,) bool: centres marked False (classes no sRGB colour
            falls into) are drawn hollow.
        box: draw the poster's a/b box dashed (not with ``zoom``).
        zoom: fit each panel to its own centres (e.g. per-image rescaled bins, which occupy a
            small part of the plane) instead of showing the whole ab plane.

    At most three panels a row, as wide as the book's column; one legend below them.
    """
    if not sets:
        raise ValueError("sets must hold at least one bin set, got none")
    reachable = reachable or {}
    fig, axes, side = _ab_figure(len(sets), legend=True)
    marker_size = marker_size * min(1.0, side / 4.2) ** 2  # the same share of a narrower panel
    for ax, (title, centres) in zip(axes, sets.items()):
        centres = _as_ab_points(centres, f"sets[{title!r}]")
        colours = centre_colours(centres, lightness)
        mask = np.asarray(reachable.get(title, np.ones(len(centres))), dtype=bool).reshape(-1)
        if mask.shape != (len(centres),):
            raise ValueError(f"reachable[{title!r}] must have shape ({len(centres)},), got {mask.shape}")
        ax.scatter(centres[mask, 0], centres[mask, 1], c=colours[mask], s=marker_size,
                   edgecolors="black", linewidths=0.3)
        if (~mask).any():
            ax.scatter(centres[~mask, 0], centres[~mask, 1], facecolors="none", s=marker_size,
                       edgecolors="grey", linewidths=0.8, label="no sRGB colour falls here")
        if box and not zoom:
            _draw_box(ax, POSTER_A_RANGE, POSTER_B_RANGE)
        _ab_axes(ax, f"{wrap_to(title, side)}\n{len(centres)} bins")
        if zoom:
            low, high = centres.min(axis=0), centres.max(axis=0)
            half = 0.5 * float(max(high - low)) * 1.15 + 1.0
            middle = (low + high) / 2
            ax.set(xlim=(middle[0] - half, middle[0] + half), ylim=(middle[1] - half, middle[1] + half))
    if not zoom:
        _inner_labels_off(axes)
    legend_below(fig, axes)
    return fig


def plot_class_occupancy(sets: Mapping[str, tuple[object, object]], lightness: float = 65.0,
                         marker_scale: float = 900.0) -> Figure:
    """How often each bin is used: centres on the ab plane, area proportional to frequency.

    ``sets``: title -> (centres (K, 2), distribution (K,)) with the distribution summing to 1
    (e.g. :func:`splitbrain.quantize.class_distribution`), one panel each. ``marker_scale`` is
    the marker area of a class holding all the mass in a 4.2 in panel (panels are at most three
    a row across the book's column, their markers scaled with them); unused classes are small grey dots.
    """
    if not sets:
        raise ValueError("sets must hold at least one (centres, distribution) pair, got none")
    fig, axes, side = _ab_figure(len(sets), legend=False)
    marker_scale = marker_scale * min(1.0, side / 4.2) ** 2
    for ax, (title, (centres, distribution)) in zip(axes, sets.items()):
        centres = _as_ab_points(centres, f"sets[{title!r}] centres")
        p = _as_vector(distribution)
        if p.shape != (len(centres),):
            raise ValueError(f"sets[{title!r}] distribution must have shape ({len(centres)},), got {p.shape}")
        used = p > 0
        ax.scatter(centres[~used, 0], centres[~used, 1], s=3, color="lightgrey")
        order = np.argsort(-p[used])  # big markers first, small ones stay visible on top
        ax.scatter(centres[used, 0][order], centres[used, 1][order], s=marker_scale * p[used][order] + 4,
                   c=centre_colours(centres[used], lightness)[order], edgecolors="black", linewidths=0.3)
        _ab_axes(ax, f"{wrap_to(title, side)}\n{int(used.sum())} of {len(centres)} used")
    _inner_labels_off(axes)
    return fig


def plot_image_table(images: Mapping[str, torch.Tensor], layout: str = "rows", max_images: int = 6,
                     cell_size: float = 1.9) -> Figure:
    """Images side by side: each entry of ``images`` is one row (or one column) of the table.

    Args:
        images: label -> (N, 3, H, W) sRGB, uint8 or float in [0, 1]; every entry holds the
            same N images (e.g. "original", "downsampled 12x12", "reconstruction"), of which the
            first ``max_images`` are shown.
        layout: "rows" (one row per entry, images along it) or "columns".
        cell_size: inches per image, at most: the table is no wider than the book's column, and
            labels are broken between words to fit their image.
    """
    check_one_of(layout, "layout", ("rows", "columns"))
    check_positive_int(max_images, "max_images")
    if not images:
        raise ValueError("images must hold at least one entry, got none")
    tensors = {label: _unit_rgb(x, f"images[{label!r}]", torch.float32) for label, x in images.items()}
    counts = {x.shape[0] for x in tensors.values()}
    if len(counts) != 1:
        raise ValueError(f"every entry of images must hold the same number of images, got {sorted(counts)}")
    count = min(counts.pop(), max_images)
    entries = len(tensors)
    rows, cols = (entries, count) if layout == "rows" else (count, entries)
    cell = grid_cell_inches(cols, margin=0.45, largest=cell_size)
    titles = 2 if layout == "columns" else 0  # lines of titles above the top row
    fig = Figure(figsize=(cell * cols + 0.45, cell * rows + 0.2 + 0.2 * titles), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    grid = axes if layout == "rows" else axes.T  # grid[e, i]: image i of entry e
    for row, (label, x) in zip(grid, tensors.items()):
        (row[0].set_ylabel if layout == "rows" else row[0].set_title)(wrap_to(label, cell))
        for ax, image in zip(row, x):
            show_image(ax, image)
    return fig


def plot_prediction_decoding(probabilities, quantizer, target_class: int | None = None,
                             decoded: Mapping[str, Sequence[float]] | None = None, lightness: float = 60.0,
                             title: str = "predicted distribution over the 100 ab classes") -> Figure:
    """One pixel's predicted class distribution on the ab grid, and the colours it decodes to.

    Left: ``probabilities`` (K,), summing to 1, of the joint classes of ``quantizer``, a
    :class:`splitbrain.quantize.UniformQuantizer` with 2 channels (class = a_bin * bins_b + b_bin),
    as a heat map over the a/b box with a colour bar, the target class outlined and the ``decoded``
    values (label -> (a, b), e.g. from ``quantizer.decode(logits, mode)``) marked. Right: a swatch
    of each decoded colour at L* = ``lightness``.
    """
    bins = getattr(quantizer, "bins", None)
    if bins is None or len(bins) != 2 or not hasattr(quantizer, "low"):
        raise ValueError(f"quantizer must be a UniformQuantizer with 2 channels, got {quantizer!r}")
    p = _as_vector(probabilities)
    if p.size != bins[0] * bins[1]:
        raise ValueError(f"probabilities must have {bins[0] * bins[1]} entries, got {p.size}")
    (a_low, b_low), (a_high, b_high) = quantizer.low, quantizer.high
    decoded = dict(decoded or {})

    fig = Figure(figsize=(BOOK_COLUMN_INCHES, 3.6), layout="constrained")
    heat, swatches = fig.subplots(1, 2, width_ratios=[1.45, 1])
    grid = p.reshape(bins[0], bins[1]).T  # rows: b bins, columns: a bins
    shown = heat.imshow(grid, origin="lower", extent=(a_low, a_high, b_low, b_high), cmap="Greys",
                        vmin=0.0, vmax=max(float(p.max()), 1e-12), aspect="auto")
    fig.colorbar(shown, ax=heat, label="probability", shrink=0.85)
    width_a, width_b = (a_high - a_low) / bins[0], (b_high - b_low) / bins[1]
    if target_class is not None:
        i, j = divmod(int(target_class), bins[1])
        heat.add_patch(Rectangle((a_low + i * width_a, b_low + j * width_b), width_a, width_b, fill=False,
                                 edgecolor="tab:red", linewidth=2.0, label="target class"))
    markers = ("o", "s", "^", "D", "v")
    ab_values = np.array([list(map(float, v)) for v in decoded.values()]).reshape(-1, 2)
    colours = centre_colours(ab_values, lightness) if len(ab_values) else np.zeros((0, 3))
    for k, (label, (a, b)) in enumerate(zip(decoded, ab_values)):
        heat.scatter([a], [b], marker=markers[k % len(markers)], s=90, color=colours[k],
                     edgecolors="black", linewidths=1.0, label=f"{label}", zorder=3)
        swatches.add_patch(Rectangle((k, 0), 0.9, 1, color=colours[k]))
        swatches.text(k + 0.45, -0.08, f"{label}\n({a:.0f}, {b:.0f})", ha="center", va="top",
                      fontsize="small")
    heat.set(xlabel="a*", ylabel="b*", title=wrap_to(title, 0.55 * BOOK_COLUMN_INCHES))
    legend_below(fig, [heat], ncols=4)
    swatches.set(xlim=(-0.1, max(len(decoded), 1)), ylim=(-0.45, 1.05), title=f"decoded colours\nat L* = {lightness:g}")
    swatches.set_axis_off()
    return fig


def plot_class_maps(images: torch.Tensor, maps: Mapping[str, tuple[torch.Tensor, np.ndarray]],
                    row_titles: Sequence[str] | None = None) -> Figure:
    """Images next to their class maps (e.g. 12x12 targets under two bin sets).

    Each cell is drawn in the colour of its class's bin centre (:func:`class_map_colours`), so a
    class map looks like a coarse copy of its image; the title counts the cells whose class
    differs from the first row's.

    Args:
        images: (M, 3, H, W) sRGB, uint8 or float in [0, 1].
        maps: title -> (classes (M, h, w) integers, colours (M, h, w, 3) sRGB in [0, 1]).
        row_titles: one label per image.
    """
    images = _unit_rgb(images, "images", torch.float32)
    count = images.shape[0]
    if row_titles is not None and len(row_titles) != count:
        raise ValueError(f"row_titles must have one entry per image ({count}), got {len(row_titles)}")
    for title, (m, colours) in maps.items():
        if not isinstance(m, torch.Tensor) or m.dim() != 3 or m.shape[0] != count:
            raise ValueError(f"maps[{title!r}] classes must be an (M, h, w) tensor with M = {count}, "
                             f"got {getattr(m, 'shape', m)!r}")
        if np.shape(colours) != (*m.shape, 3):
            raise ValueError(f"maps[{title!r}] colours must have shape {(*m.shape, 3)}, got {np.shape(colours)}")
    cell = grid_cell_inches(1 + len(maps), margin=0.45, largest=2.6)
    fig = Figure(figsize=(cell * (1 + len(maps)) + 0.45, (cell + 0.4) * count + 0.2), layout="constrained")
    axes = fig.subplots(count, 1 + len(maps), squeeze=False)
    for r in range(count):
        axes[r, 0].imshow(image_array(images[r]))
        axes[r, 0].set_ylabel(wrap_to(row_titles[r] if row_titles is not None else f"image {r}", cell))
        for c, (title, (m, colours)) in enumerate(maps.items(), start=1):
            axes[r, c].imshow(np.clip(colours[r], 0.0, 1.0), interpolation="nearest")
            if r == 0:
                axes[r, c].set_title(wrap_to(title, cell))
            else:
                changed = int((m[r] != m[0]).sum())
                axes[r, c].set_title(wrap_to(f"{title}\n{changed} of {m[r].numel()} cells differ", cell))
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
    return fig


def plot_image_ranges(ranges: torch.Tensor, a_range: Sequence[float] = POSTER_A_RANGE,
                      b_range: Sequence[float] = POSTER_B_RANGE, max_boxes: int = 200) -> Figure:
    """Each image's own ab range against the poster's fixed box.

    Left: one thin rectangle per image, [a_min, a_max] x [b_min, b_max] (at most ``max_boxes``),
    the fixed box dashed. Right: histograms of each image's range width as a share of the box's
    width, for a* and for b*.

    ``ranges``: (N, 2, 2) per-image (low, high) of a* and b* (e.g. from
    :func:`splitbrain.quantize.downsample_targets` with a rescaled quantizer).
    """
    if not isinstance(ranges, torch.Tensor) or ranges.dim() != 3 or ranges.shape[1:] != (2, 2) or ranges.shape[0] == 0:
        raise ValueError(f"ranges must be an (N, 2, 2) tensor, got {getattr(ranges, 'shape', ranges)!r}")
    r = ranges.detach().double().cpu().numpy()
    fig = Figure(figsize=(BOOK_COLUMN_INCHES, 3.9), layout="constrained")
    boxes, hist = fig.subplots(1, 2)
    half = BOOK_COLUMN_INCHES / 2
    for (a0, a1), (b0, b1) in r[:max_boxes]:
        boxes.add_patch(Rectangle((a0, b0), a1 - a0, b1 - b0, fill=False, edgecolor="tab:blue",
                                  alpha=0.35, linewidth=0.8))
    _draw_box(boxes, tuple(a_range), tuple(b_range))
    _ab_axes(boxes, wrap_to(f"ab range of {min(len(r), max_boxes)} images (blue) vs the fixed box", half))
    widths = (r[..., 1] - r[..., 0]).T  # (2, N): each image's a* and b* range width
    for width, box, name, colour in zip(widths, (a_range, b_range), ("a*", "b*"), ("tab:pink", "tab:olive")):
        share = width / (box[1] - box[0])
        hist.hist(100 * share, bins=100 * np.linspace(0, 1, 21), alpha=0.6, label=name, color=colour)
    hist.set(xlabel=wrap_to("image's range as a share of the fixed box's width (%)", half), ylabel="images",
             title=wrap_to("how much of each axis one image spans", half))
    legend_below(fig, [boxes, hist], ncols=3)
    return fig


def plot_per_image_statistics(stats: Mapping[str, tuple[torch.Tensor, torch.Tensor]], num_classes: int,
                              cells: int | None = None) -> Figure:
    """Histograms over images of the classes each uses and of their entropy.

    One legend, below both panels: inside one it would cover the tallest bars.

    Args:
        stats: label -> (distinct (N,), entropy in bits (N,)) (e.g.
            :func:`splitbrain.quantize.class_statistics`).
        num_classes: K, for the axis limits.
        cells: cells per class map (e.g. 144); the entropy's ceiling is log2(min(K, cells)).
    """
    if not stats:
        raise ValueError("stats must hold at least one entry, got none")
    check_positive_int(num_classes, "num_classes")
    top = min(num_classes, cells) if cells else num_classes
    ceiling = np.log2(top)
    fig = Figure(figsize=(BOOK_COLUMN_INCHES, 4.2), layout="constrained")
    used_ax, entropy_ax = fig.subplots(1, 2)
    half = BOOK_COLUMN_INCHES / 2
    for label, (distinct, entropy) in stats.items():
        distinct, entropy = _as_vector(distinct), _as_vector(entropy)
        used_ax.hist(distinct, bins=np.linspace(0.5, top + 0.5, 26), alpha=0.6,
                     label=f"{label} (mean {distinct.mean():.1f} classes, {entropy.mean():.2f} bits)")
        entropy_ax.hist(entropy, bins=np.linspace(0, ceiling, 26), alpha=0.6)
    used_ax.set(xlabel=wrap_to(f"distinct classes in one image (of {num_classes})", half), ylabel="images",
                title="classes used per image")
    entropy_ax.axvline(ceiling, color="black", linestyle="--", linewidth=0.8,
                       label=f"ceiling: log2 {top} = {ceiling:.2f} bits")
    entropy_ax.set(xlabel=wrap_to("entropy of the image's class histogram (bits)", half), ylabel="images",
                   title=wrap_to("how evenly one image spreads over its classes", half))
    legend_below(fig, [used_ax, entropy_ax], ncols=1)
    return fig


def plot_class_histograms(distributions: Mapping[str, object], bins: tuple[int, int] = (10, 10),
                          axis_labels: Mapping[str, tuple[str, str]] | None = None) -> Figure:
    """Class frequencies of joint two-channel bins as heat maps (log scale, unused cells white).

    ``distributions``: title -> (bins[0] * bins[1],) frequencies of classes a_bin * bins[1] + b_bin,
    one panel each, and a shared colour bar; ``axis_labels``: title -> (x label, y label),
    default ("a* bin", "b* bin").
    """
    if not distributions:
        raise ValueError("distributions must hold at least one entry, got none")
    axis_labels = axis_labels or {}
    grids = {}
    for title, d in distributions.items():
        p = _as_vector(d)
        if p.size != bins[0] * bins[1]:
            raise ValueError(f"distributions[{title!r}] must have {bins[0] * bins[1]} entries, got {p.size}")
        grids[title] = np.ma.masked_equal(p.reshape(bins).T, 0.0)  # rows: b bins, columns: a bins
    smallest = min((float(g.min()) for g in grids.values() if g.count()), default=1e-3)
    norm = LogNorm(vmin=min(smallest, 1e-3), vmax=1.0)
    columns = min(2, len(grids))
    side = (BOOK_COLUMN_INCHES - 1.0) / columns
    fig, axes = _panel_figure(len(grids), columns, side + 0.9)
    for ax, (title, grid) in zip(axes, grids.items()):
        shown = ax.imshow(grid, origin="lower", cmap="viridis", norm=norm)
        xlabel, ylabel = axis_labels.get(title, ("a* bin", "b* bin"))
        ax.set(title=f"{wrap_to(title, side)}\n{int(grid.count())} of {grid.size} classes used",
               xlabel=wrap_to(xlabel, side), ylabel=wrap_to(ylabel, side))
    fig.colorbar(shown, ax=list(axes), label=wrap_to("share of all target cells (log scale)", side), shrink=0.8)
    return fig
