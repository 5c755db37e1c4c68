"""Figures of chapters 5 and 6 (pretraining, probes and fine-tuning): loss curves, prediction
grids, probe accuracy per layer and accuracy bars. The predictions come from :mod:`splitbrain.predict`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from .._checks import check_positive_int
from . import BOOK_COLUMN_INCHES, grid_cell_inches, legend_below, wrap_to

__all__ = ["plot_loss_curves", "plot_prediction_grid", "plot_probe_curves", "plot_accuracy_bars"]

HALF_COLOURS = ("tab:blue", "tab:orange")
MODEL_COLOURS = ("tab:blue", "tab:gray", "tab:green", "tab:red")


def plot_loss_curves(records: Sequence[Mapping[str, Any]], part_names: Mapping[str, str] | None = None,
                     floors: Mapping[str, float] | None = None,
                     heldout: Mapping[str, Mapping[str, float]] | None = None,
                     title: str = "pretraining loss per half") -> Figure:
    """Each half's cross-entropy against the training step, one panel per half, the second
    below the first (at full width of the book's column).

    Args:
        records: the lines of ``metrics.jsonl`` (:func:`splitbrain.train.read_metrics`): "step"
            records (every ``log_every`` steps, drawn as a thin line) and "epoch" records (the
            epoch's mean, drawn as dots at the epoch's last step), each with "step", "epoch",
            "loss1" and "loss2".
        part_names: panel titles for "loss1" and "loss2" (default "L -> ab", "ab -> L").
        floors: {"loss1": value, "loss2": value} drawn dashed, e.g. the loss of the best constant
            prediction (:func:`splitbrain.predict.prior_cross_entropy`).
        heldout: {label: {"loss1", "loss2", "step"}}: held-out losses drawn as crosses.
    """
    steps = [r for r in records if r.get("kind") == "step" and "loss1" in r]
    epochs = [r for r in records if r.get("kind") == "epoch" and "loss1" in r]
    if not steps and not epochs:
        raise ValueError("records must hold 'step' or 'epoch' records with loss1 and loss2 (a split-brain run)")
    names = {"loss1": "L -> ab", "loss2": "ab -> L", **(part_names or {})}
    fig = Figure(figsize=(BOOK_COLUMN_INCHES, 5.6), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    for ax, key, colour in zip(axes, ("loss1", "loss2"), HALF_COLOURS):
        if steps:  # logged every `spacing` steps: the first two's gap, or the only one's step
            spacing = int(steps[1]["step"] - steps[0]["step"] if len(steps) > 1 else steps[0]["step"])
            ax.plot([r["step"] for r in steps], [r[key] for r in steps], color=colour, lw=1.0, alpha=0.6,
                    label=f"every {spacing} steps")
        if epochs:
            ax.plot([r["step"] for r in epochs], [r[key] for r in epochs], "o-", color=colour, ms=5, lw=1.5,
                    label="epoch mean")
        for r in epochs[:-1]:
            ax.axvline(r["step"], color="0.85", lw=0.8, zorder=0)
        if floors is not None and key in floors:
            ax.axhline(floors[key], color="0.3", ls="--", lw=1.0, label="constant prediction")
        for i, (label, values) in enumerate((heldout or {}).items()):
            ax.plot([values["step"]], [values[key]], marker="x", ms=9, mew=2, ls="none",
                    color=("black", "tab:red", "tab:purple")[i % 3], label=label)
        ax.set_title(f"half {key[-1]}: {names[key]}")
        ax.set_ylabel("cross-entropy\n(nats per grid cell)")
        ax.legend(fontsize="small", loc="best")
    axes[-1].set_xlabel("training step (grey lines: epoch ends)")
    fig.suptitle(title)
    return fig


def _as_display(x: torch.Tensor, label: str) -> tuple[np.ndarray, bool]:
    """(N, 3, H, W) RGB in [0, 1] / uint8, or (N, 1, h, w) L* -> (N, H, W[, 3]) array, is_rgb."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0:
        raise ValueError(f"rows[{label!r}] must be (N, 3, H, W) RGB or (N, 1, h, w) L* maps, "
                         f"got {getattr(x, 'shape', type(x).__name__)}")
    x = x.detach().cpu()
    if x.shape[1] == 1:
        return x[:, 0].double().numpy(), False
    x = x.double() / 255.0 if x.dtype == torch.uint8 else x.double()
    return x.clamp(0, 1).permute(0, 2, 3, 1).numpy(), True


def plot_prediction_grid(rows: Mapping[str, torch.Tensor], captions: Mapping[str, Sequence[str]] | None = None,
                         max_images: int = 6, lightness_range: tuple[float, float] = (0.0, 100.0),
                         cell_size: float = 1.55, title: str | None = None) -> Figure:
    """Rows of images, one row per entry: colourisations side by side, or L* maps in grey.

    Args:
        rows: label -> (N, 3, H, W) sRGB (uint8, or float in [0, 1]) or (N, 1, h, w) L* values
            (drawn in grey between ``lightness_range``, coarse maps as blocks); every entry
            holds the same N images, in the same order.
        captions: label -> N strings written under that row's images (e.g. CIEDE2000).
    Returns:
        a Figure with ``len(rows) * min(N, max_images)`` axes.
    """
    check_positive_int(max_images, "max_images")
    if not rows:
        raise ValueError("rows must hold at least one entry, got none")
    arrays = {label: _as_display(x, label) for label, x in rows.items()}
    counts = {a.shape[0] for a, _ in arrays.values()}
    if len(counts) != 1:
        raise ValueError(f"every entry of rows must hold the same number of images, got {sorted(counts)}")
    count = min(counts.pop(), max_images)
    cell = grid_cell_inches(count, margin=1.6, largest=cell_size)
    fig = Figure(figsize=(cell * count + 1.6, (cell + (0.3 if captions else 0)) * len(arrays) + 0.4),
                 layout="constrained")
    axes = fig.subplots(len(arrays), count, squeeze=False)
    low, high = lightness_range
    for r, (label, (array, is_rgb)) in enumerate(arrays.items()):
        grey = {} if is_rgb else {"cmap": "gray", "vmin": low, "vmax": high}
        for i in range(count):
            ax = axes[r, i]
            ax.imshow(array[i], interpolation="nearest", **grey)
            ax.set(xticks=[], yticks=[])
            if i == 0:
                ax.set_ylabel(wrap_to(label, cell + 0.2, points=8.3), fontsize="small")  # no longer than its row
            if captions and label in captions:
                ax.set_xlabel(str(list(captions[label])[i]), fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def plot_probe_curves(results: Mapping[str, Mapping[str, Mapping[str, float]]], chance: float | None = None,
                      title: str = "linear probes on frozen features") -> Figure:
    """Probe accuracy per layer, one line per network; top-1 and top-5 side by side.

    Args:
        results: network label -> {layer: {"top1": fraction, "top5": fraction, ...}} (the
            ``metrics["layers"]`` of :func:`splitbrain.evaluate.linear_probe`), layers shallow
            to deep, the same layers for every network; drawn in percent.
        chance: chance level for top-1 (1 / number of classes), a dotted line; top-5's is 5 times it.
    """
    if not results:
        raise ValueError("results must hold at least one network, got none")
    layers = list(next(iter(results.values())))
    fig = Figure(figsize=(BOOK_COLUMN_INCHES, 3.9), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    positions = np.arange(len(layers))
    for ax, key, name in zip(axes, ("top1", "top5"), ("top-1", "top-5")):
        for (label, per_layer), colour in zip(results.items(), MODEL_COLOURS):
            if list(per_layer) != layers:
                raise ValueError(f"results[{label!r}] has layers {list(per_layer)}, expected {layers}")
            values = [100 * per_layer[layer][key] for layer in layers]
            ax.plot(positions, values, "o-", color=colour, label=label)
        if chance is not None:
            level = 100 * min(1.0, chance * (1 if key == "top1" else 5))
            ax.axhline(level, color="0.4", ls=":", lw=1.0, label="chance")
        ax.set_xticks(positions, layers)
        ax.set_xlabel("layer (shallow to deep)")
        ax.set_ylabel(f"held-out {name} accuracy (%)")
        ax.set_title(name)
    legend_below(fig, axes)  # the networks' colours are the same in both panels
    fig.suptitle(title)
    return fig


def plot_accuracy_bars(scores: Mapping[str, Mapping[str, float]],
                       title: str = "top-1 accuracy: pretrained vs random initialisation") -> Figure:
    """Grouped bars: for each evaluation (group), one bar per network, labelled in percent.

    ``scores``: evaluation label -> {network label: top-1 fraction}, e.g.
    {"linear probe (best layer)": {"pretrained": 0.9, "random init": 0.7}, ...}; every evaluation
    names the same networks.
    """
    if not scores:
        raise ValueError("scores must hold at least one evaluation, got none")
    networks = list(next(iter(scores.values())))
    fig = Figure(figsize=(6.0, 3.4), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(networks)
    groups = np.arange(len(scores))
    for j, (network, colour) in enumerate(zip(networks, MODEL_COLOURS)):
        values = []
        for evaluation, per_network in scores.items():
            if network not in per_network:
                raise ValueError(f"scores[{evaluation!r}] has no entry for {network!r}")
            values.append(100 * per_network[network])
        bars = ax.bar(groups + (j - (len(networks) - 1) / 2) * width, values, width, color=colour, label=network)
        ax.bar_label(bars, fmt="%.1f", fontsize="small")
    ax.set_xticks(groups, list(scores))
    ax.set_ylabel("held-out top-1 accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(fontsize="small", loc="lower right")
    return fig
