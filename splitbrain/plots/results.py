"""Figures of chapter 8 (results): the headline (every seed of every method against the floor and
the ceiling), the probe layer by layer beside Zhang et al.'s, and the label-efficiency curve (also
chapter 6's). The rows behind them come from :mod:`splitbrain.comparisons` and
:mod:`splitbrain.label_curve`.
"""
from __future__ import annotations

import statistics
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from . import BOOK_COLUMN_INCHES, chance_line, legend_below, wrap_to

__all__ = ["plot_layer_curves", "plot_headline", "plot_label_curve"]

_ZHANG_SHOWN = ("ImageNet labels (supervised)", "Split-Brain (cl,cl)", "Lab -> Lab autoencoder",
                "Gaussian (random) init")
"""The methods of Zhang et al.'s Table 2 that :func:`plot_layer_curves` draws."""


def _line_style(label: str) -> dict[str, Any]:
    """Floors black and dashed (RGB ones with filled squares, the others with hollow circles, so
    two floors in one legend differ at a glance), ceilings grey and dotted, autoencoders
    dash-dotted; split-brain lines keep the colour cycle."""
    lowered = label.lower()
    if lowered.startswith("dae") or "autoencoder" in lowered:
        return {"ls": "-.", "alpha": 0.85}
    if "random" in lowered:
        if "rgb" in lowered:
            return {"color": "black", "ls": "--", "marker": "s"}
        return {"color": "black", "ls": "--", "marker": "o", "markerfacecolor": "white"}
    if "supervised" in lowered:
        return {"color": "grey", "ls": ":"}
    return {}


def plot_layer_curves(zhang_rows: Sequence[Mapping[str, Any]],
                      ours: Mapping[str, Mapping[str, tuple[float, float | None]]] | None = None,
                      ours_title: str = "", chance: float | None = None) -> Figure:
    """Linear-probe top-1 by layer: Zhang et al.'s Table 2 (top) and ours (below it, if given).

    Each panel is as wide as the book's column, its legend to its right, where no line runs.

    Args:
        zhang_rows: rows of ``zhang2017_table2_imagenet_linear.csv`` (method, conv1 ... conv5, in %);
            empty (with ``ours``) for our panel alone, e.g. for a second architecture on a page
            that already shows Zhang et al.'s.
        ours: :func:`layer_statistics` output (fractions; drawn as %, with ± std bars where
            there is more than one seed), or None.
        ours_title: our panel's title (dataset, architecture).
        chance: 1 / classes of our task, drawn as a dotted line on our panel.
    """
    if not zhang_rows and not ours:
        raise ValueError("plot_layer_curves needs Zhang et al.'s rows, our statistics or both")
    panels = bool(zhang_rows) + bool(ours)
    fig = Figure(figsize=(BOOK_COLUMN_INCHES, 3.4 * panels), layout="constrained")
    holders = list(fig.subfigures(panels, 1)) if panels > 1 else [fig]
    if zhang_rows:
        ax = holders[0].subplots()
        for row in zhang_rows:
            if row["method"] not in _ZHANG_SHOWN:
                continue
            layers = [k for k in row if k.startswith("conv")]
            ax.plot(layers, [row[k] for k in layers], label=row["method"],
                    **{"marker": "o", **_line_style(row["method"])})
        ax.axhline(0.1, color="grey", ls=":", lw=1)
        ax.set_title(wrap_to("Zhang et al. 2017, Table 2: ImageNet, FC-AlexNet (1000 classes, chance 0.1%)",
                             0.55 * BOOK_COLUMN_INCHES))
        ax.set_ylabel("top-1 (%)")
    if ours:
        ax = holders[-1].subplots()
        spread = any(std is not None for stats in ours.values() for _, std in stats.values())
        for label, stats in ours.items():
            layers = list(stats)
            means = [100 * stats[k][0] for k in layers]
            errors = [0.0 if stats[k][1] is None else 100 * stats[k][1] for k in layers]
            ax.errorbar(layers, means, yerr=errors if spread else None, capsize=3, label=label,
                        **{"marker": "o", **_line_style(label)})
        chance_line(ax, chance)
        ax.set_title(wrap_to(ours_title or "this book", 0.55 * BOOK_COLUMN_INCHES))
        ax.set_ylabel("held-out top-1 (%)\n" + ("mean ± std over seeds" if spread else "one seed"))
    for holder in holders:
        ax = holder.axes[0]
        ax.set_xlabel("layer (frozen features)")
        ax.grid(alpha=0.3)
        holder.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    return fig


def plot_headline(points: Mapping[str, Mapping[int, float]], floors: Mapping[str, float] | None = None,
                  ceiling: float | None = None, title: str = "") -> Figure:
    """The headline figure: one column per method, each seed a point, the seeds' mean a bar.

    Args:
        points: method label -> {seed: score (fraction)}, in the order drawn.
        floors: label -> the random-init floor's mean (fraction), each a dashed horizontal line.
        ceiling: the probe of the supervised network's features (mean, fraction), a dotted line.
        title: the axes' title.
    """
    fig = Figure(figsize=(min(BOOK_COLUMN_INCHES, max(5.0, 1.25 * len(points) + 2.0)), 4.4), layout="constrained")
    ax = fig.subplots()
    for x, (label, by_seed) in enumerate(points.items()):
        values = [100 * value for value in by_seed.values()]
        jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(x + jitter, values, s=28, zorder=3, color=f"C{x}")
        if values:
            ax.hlines(statistics.fmean(values), x - 0.28, x + 0.28, color=f"C{x}", lw=2.5, zorder=2)
    for index, (label, value) in enumerate((floors or {}).items()):
        ax.axhline(100 * value, color="black", ls="--" if index == 0 else "-.", lw=1, label=label)
    if ceiling is not None:
        ax.axhline(100 * ceiling, color="grey", ls=":", lw=1.5, label="supervised features, probed")
    ax.set_xticks(range(len(points)), list(points), rotation=20, ha="right")
    ax.set_ylabel("held-out probe top-1 (%)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if floors or ceiling is not None:  # below the axes, where no method's points can fall
        fig.legend(fontsize="small", loc="outside lower center", ncols=len(floors or {}) + (ceiling is not None))
    return fig


def plot_label_curve(points: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Held-out top-1 against labels per class (log scale): one colour per network, fine-tuned
    (solid, circles) and linear probe (dashed, triangles); every seed a point, the seeds' mean a line.

    Args:
        points: :func:`splitbrain.label_curve.curve_points` (fractions, drawn as %).
        title: the axes' title.
    """
    fig = Figure(figsize=(BOOK_COLUMN_INCHES, 4.6), layout="constrained")
    ax = fig.subplots()
    labels = list(dict.fromkeys(p["label"] for p in sorted(points, key=lambda p: p["method"] == "random-lab")))
    for index, label in enumerate(labels):
        mine = [p for p in points if p["label"] == label]
        color = "black" if label.lower().startswith("random") else f"C{index}"
        counts = sorted({p["labels"] for p in mine})
        xs = [p["labels"] for p in mine]
        for stage, style, marker, name in (("finetune", "-", "o", "fine-tuned"), ("probe", "--", "^", "linear probe")):
            ax.scatter(xs, [100 * p[f"{stage}_top1"] for p in mine], color=color, marker=marker, s=18, alpha=0.6,
                       zorder=3)
            means = [100 * statistics.fmean(p[f"{stage}_top1"] for p in mine if p["labels"] == n) for n in counts]
            ax.plot(counts, means, color=color, ls=style, lw=1.8, label=f"{label}, {name}")
    ax.set_xscale("log")
    counts = sorted({p["labels"] for p in points})
    ax.set_xticks(counts, [str(n) for n in counts])
    ax.minorticks_off()
    ax.set_xlabel("labelled images per class")
    ax.set_ylabel("held-out top-1 (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    legend_below(fig, [ax])
    return fig
