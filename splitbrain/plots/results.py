"""Figures of chapter 8 (results): the headline (every seed of every method against the floor and
the ceiling), the probe layer by layer beside Zhang et al.'s, and the label-efficiency curve (also
chapter 6's). The rows behind them come from :mod:`splitbrain.comparisons` and
:mod:`splitbrain.label_curve`.

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` and shows nothing itself.
"""
from __future__ import annotations

import statistics
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from . import BOOK_COLUMN_INCHES

__all__ = ["plot_layer_curves", "plot_headline", "plot_label_curve"]

_ZHANG_SHOWN = ("ImageNet labels (supervised)", "Split-Brain (cl,cl)", "Lab -> Lab autoencoder",
                "Gaussian (random) init")


def _line_style(label: str) -> dict[str, Any]:
    """Floors black and dashed (RGB ones with square markers), ceilings grey and dotted,
    autoencoders dash-dotted; split-brain lines keep the colour cycle."""
    lowered = label.lower()
    if lowered.startswith("dae") or "autoencoder" in lowered:
        return {"ls": "-.", "alpha": 0.85}
    if "random" in lowered:
        return {"color": "black", "ls": "--", **({"marker": "s"} if "rgb" in lowered else {})}
    if "supervised" in lowered:
        return {"color": "grey", "ls": ":"}
    return {}


def plot_layer_curves(zhang_rows: Sequence[Mapping[str, Any]],
                      ours: Mapping[str, Mapping[str, tuple[float, float | None]]] | None = None,
                      ours_title: str = "", chance: float | None = None,
                      shown: Sequence[str] = _ZHANG_SHOWN) -> Figure:
    """Linear-probe top-1 by layer: Zhang et al.'s Table 2 (left) and ours (right, if given).

    Args:
        zhang_rows: rows of ``zhang2017_table2_imagenet_linear.csv`` (method, conv1 ... conv5, in %).
        ours: :func:`layer_statistics` output (fractions; drawn as % with ± std bars), or None.
        ours_title: the right panel's title (dataset, architecture).
        chance: 1 / classes of our task, drawn as a dotted line on the right.
        shown: which of Zhang's methods to draw.
    """
    panels = 2 if ours else 1
    fig = Figure(figsize=(6.2 * panels, 4.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, panels))
    ax = axes[0]
    for row in zhang_rows:
        if row["method"] not in shown:
            continue
        layers = [k for k in row if k.startswith("conv")]
        ax.plot(layers, [row[k] for k in layers], label=row["method"], **{"marker": "o", **_line_style(row["method"])})
    ax.axhline(0.1, color="grey", ls=":", lw=1)
    ax.set_title("Zhang et al. 2017, Table 2: ImageNet, FC-AlexNet\n(1000 classes, chance 0.1%)")
    ax.set_xlabel("layer (frozen features)")
    ax.set_ylabel("top-1 (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if ours:
        ax = axes[1]
        for label, stats in ours.items():
            layers = list(stats)
            means = [100 * stats[k][0] for k in layers]
            errors = [0.0 if stats[k][1] is None else 100 * stats[k][1] for k in layers]
            ax.errorbar(layers, means, yerr=errors, capsize=3, label=label, **{"marker": "o", **_line_style(label)})
        if chance is not None:
            ax.axhline(100 * chance, color="grey", ls=":", lw=1)
            ax.text(0.0, 100 * chance, "chance", va="bottom", fontsize="small", color="grey")
        ax.set_title(ours_title or "this book")
        ax.set_xlabel("layer (frozen features)")
        ax.set_ylabel("held-out top-1 (%), mean ± std over seeds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small")
    return fig


def plot_headline(points: Mapping[str, Mapping[int, float]], floors: Mapping[str, float] | None = None,
                  ceiling: float | None = None, title: str = "", ylabel: str = "held-out probe top-1 (%)") -> Figure:
    """The headline figure: one column per method, each seed a point, the seeds' mean a bar.

    Args:
        points: method label -> {seed: score (fraction)}, in the order drawn.
        floors: label -> the random-init floor's mean (fraction), each a dashed horizontal line.
        ceiling: the probe of the supervised network's features (mean, fraction), a dotted line.
        title, ylabel: the axes' title and y label.
    """
    fig = Figure(figsize=(max(5.0, 1.25 * len(points) + 2.0), 4.4), layout="constrained")
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
    ax.set_ylabel(ylabel)
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
    fig = Figure(figsize=(BOOK_COLUMN_INCHES * 0.8, 4.6), layout="constrained")
    ax = fig.subplots()
    labels = list(dict.fromkeys(p["label"] for p in sorted(points, key=lambda p: p["method"] == "random-lab")))
    for index, label in enumerate(labels):
        mine = [p for p in points if p["label"] == label]
        color = "black" if label.lower().startswith("random") else f"C{index}"
        counts = sorted({p["labels"] for p in mine})
        for stage, style, marker, name in (("finetune", "-", "o", "fine-tuned"), ("probe", "--", "^", "linear probe")):
            xs = [p["labels"] for p in mine]
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
    if points:
        fig.legend(fontsize="small", loc="outside lower center", ncols=2)
    return fig
