"""Figures of chapter 7 (the denoising-autoencoder baseline): corruptions, reconstructions, loss
curves and probes by layer; corrupting and reconstructing come from :mod:`splitbrain.predict`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .._checks import check_positive_int
from . import BOOK_COLUMN_INCHES, chance_line, grid_cell_inches, show_image, wrap_to
from ..color import ColorSpace, get_color_space
from ..models import NOISE_NAMES, level_label
from ..predict import as_image_batch, corrupt_for_display

__all__ = ["plot_corruptions", "plot_reconstructions", "plot_loss_curves", "plot_probe_by_layer"]


def plot_corruptions(rgb: torch.Tensor, noises: Sequence[str], levels: Sequence[float],
                     space: str | ColorSpace = "rgb", seed: int = 0) -> Figure:
    """One crop under each noise type (rows) at each level (columns), the clean crop first.

    Args:
        rgb: (3, H, W) or (1, 3, H, W) sRGB image, uint8 or float in [0, 1].
        levels: the same numbers for every noise: a pixel probability for masking and
            salt-and-pepper, a standard deviation for Gaussian.
        space: the colour space the corruption is applied in (normalised units).
    """
    image = as_image_batch(rgb)[:1]
    if not noises or not levels:
        raise ValueError("noises and levels must each hold at least one value")
    unknown = [noise for noise in noises if noise not in NOISE_NAMES]
    if unknown:
        raise ValueError(f"noises must be among {', '.join(NOISE_NAMES)}, got {unknown}")
    columns = len(levels) + 1
    cell = grid_cell_inches(columns, margin=0.4, largest=1.9)
    fig = Figure(figsize=(cell * columns + 0.4, (cell + 0.15) * len(noises) + 0.5), layout="constrained")
    axes = fig.subplots(len(noises), columns, squeeze=False)
    for row, noise in enumerate(noises):
        show_image(axes[row, 0], image[0])
        axes[row, 0].set_title("clean", fontsize="small")
        axes[row, 0].set_ylabel(NOISE_NAMES[noise], fontsize="medium")
        for column, level in enumerate(levels, start=1):
            show_image(axes[row, column], corrupt_for_display(image, noise, level, space, seed)[0])
            axes[row, column].set_title(level_label(noise, level), fontsize="small")
    name = get_color_space(space).name
    where = f"{name.upper()} (masking: grey, salt: white, pepper: black)" if name == "rgb" else name
    fig.suptitle(wrap_to(f"Corruptions of one {image.shape[-1]} px crop, applied in normalised {where}",
                         BOOK_COLUMN_INCHES, points=12))  # a title wider than the figure widens the image
    return fig


def plot_reconstructions(examples: Mapping[str, Mapping[str, Any]], max_images: int = 6) -> Figure:
    """Clean crops, then for each DAE its corrupted input and its reconstruction.

    ``examples``: label (e.g. "masking, p = 25%") -> a :func:`reconstruction_examples` result, all
    for the same clean images.
    """
    check_positive_int(max_images, "max_images")
    if not examples:
        raise ValueError("examples must hold at least one model's reconstructions")
    first = next(iter(examples.values()))
    count = min(max_images, first["clean"].shape[0])
    rows = 1 + 2 * len(examples)
    cell = grid_cell_inches(count, margin=1.6, largest=1.55)
    fig = Figure(figsize=(cell * count + 1.6, (cell + 0.1) * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, count, squeeze=False)
    for column in range(count):
        show_image(axes[0, column], first["clean"][column])
    axes[0, 0].set_ylabel("clean", fontsize="small")
    for index, (label, result) in enumerate(examples.items()):
        noisy_row, restored_row = 1 + 2 * index, 2 + 2 * index
        for column in range(count):
            show_image(axes[noisy_row, column], result["corrupted"][column])
            show_image(axes[restored_row, column], result["reconstructed"][column])
        axes[noisy_row, 0].set_ylabel(f"{wrap_to(label, cell + 0.1, points=8.3)}\ninput", fontsize="small")
        axes[restored_row, 0].set_ylabel("output", fontsize="small")
        axes[noisy_row, count // 2].set_title(
            f"{label}: MSE of the input {result['mse_corrupted']:.3f}, of the output {result['mse_reconstructed']:.3f}",
            fontsize="small")
    fig.suptitle(wrap_to("Held-out crops: what each DAE gets and what it gives back (MSE in normalised units)",
                         BOOK_COLUMN_INCHES, points=12))
    return fig


def plot_loss_curves(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """Training loss (reconstruction MSE) against step, one line per DAE.

    ``histories``: label -> metric records (:func:`splitbrain.train.read_metrics`); the "step"
    records are drawn, or the "epoch" records when a run logged no steps.
    """
    if not histories:
        raise ValueError("histories must hold at least one run")
    fig = Figure(figsize=(BOOK_COLUMN_INCHES, 4.0), layout="constrained")
    ax = fig.subplots()
    for label, records in histories.items():
        steps = [r for r in records if r.get("kind") == "step"] or [r for r in records if r.get("kind") == "epoch"]
        if not steps:
            raise ValueError(f"histories[{label!r}] has no step or epoch records")
        ax.plot([r["step"] for r in steps], [r["loss"] for r in steps], marker="o" if len(steps) < 20 else None,
                markersize=3, label=label)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step")
    ax.set_ylabel("reconstruction MSE\n(normalised units, log scale)")
    ax.set_title("DAE pretraining loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def plot_probe_by_layer(scores: Mapping[str, Mapping[str, float]], chance: float | None = None,
                        floor_label: str | None = None) -> Figure:
    """Linear-probe top-1 at every layer, one line per network.

    Args:
        scores: label -> {layer: top-1 fraction}, layers in order (shallow to deep).
        chance: 1 / number of classes, drawn as a dotted line.
        floor_label: the label of the random-init network, drawn dashed in black.
    """
    if not scores:
        raise ValueError("scores must hold at least one network")
    fig = Figure(figsize=(BOOK_COLUMN_INCHES, 4.0), layout="constrained")
    ax = fig.subplots()
    for label, by_layer in scores.items():
        style = dict(color="black", ls="--") if label == floor_label else {}
        ax.plot(list(by_layer), [100 * top1 for top1 in by_layer.values()], marker="o", label=label, **style)
    chance_line(ax, chance)
    ax.set_xlabel("layer (frozen features, average-pooled)")
    ax.set_ylabel("held-out top-1 (%)")
    ax.set_title(wrap_to("Linear probe at every layer: DAE features against the random-init floor",
                         BOOK_COLUMN_INCHES - 0.8))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig
