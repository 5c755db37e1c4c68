"""Figures and small tables of chapter 7 (the denoising-autoencoder baseline).

Numeric helpers (no figures):

- :func:`corrupt_for_display`: sRGB images corrupted by :func:`splitbrain.models.corrupt` in a
  colour space's normalised units, and brought back to sRGB in [0, 1] for display.
- :func:`reconstruction_examples`: a trained :class:`~splitbrain.models.DenoisingAutoencoder`
  on a few images: clean, corrupted and reconstructed, with the mean squared errors of both.
- :func:`refresh_dae_batchnorm`: BatchNorm's running statistics recomputed on training images
  (the DAE counterpart of :func:`splitbrain.predict.refresh_batchnorm`).
- :func:`width_rows`: layer by layer, the channels and parameters of a DAE encoder next to a
  split-brain pair, to check that their representations are equally wide.
- :func:`floor_rows` / :func:`floor_sentence`: linear-probe scores against the random-init
  floor, and a sentence saying what they show (generated, so prose never outruns the numbers).

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` and shows nothing itself.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .._checks import check_image_batch, check_positive_int
from ..color import ColorSpace, get_color_space
from ..models import NOISE_TYPES, DenoisingAutoencoder, SplitBrainNet, corrupt, layer_table, recompute_batchnorm_statistics

__all__ = [
    "NOISE_NAMES",
    "level_label",
    "corrupt_for_display",
    "reconstruction_examples",
    "refresh_dae_batchnorm",
    "width_rows",
    "floor_rows",
    "floor_sentence",
    "binomial_standard_error",
    "plot_corruptions",
    "plot_reconstructions",
    "plot_loss_curves",
    "plot_probe_by_layer",
]

NOISE_NAMES: dict[str, str] = {"masking": "masking", "salt_pepper": "salt-and-pepper", "gaussian": "Gaussian"}
"""How the text names each noise type of :data:`splitbrain.models.NOISE_TYPES`."""


def _space(space: str | ColorSpace) -> ColorSpace:
    return get_color_space(space) if isinstance(space, str) else space


def _check_noise(noise: str) -> str:
    if noise not in NOISE_TYPES:
        raise ValueError(f"noise must be one of {NOISE_TYPES}, got {noise!r}")
    return noise


def level_label(noise: str, level: float) -> str:
    """The noise level as text: a pixel fraction ("p = 25%") or a standard deviation ("σ = 0.1")."""
    _check_noise(noise)
    if noise == "gaussian":
        return f"σ = {level:g}"
    return f"p = {100 * level:g}%"


def _as_batch(rgb: torch.Tensor, name: str = "rgb") -> torch.Tensor:
    check_image_batch(rgb, name, channels=3, allow_unbatched=True)
    return rgb.reshape(-1, *rgb.shape[-3:])


def corrupt_for_display(rgb: torch.Tensor, noise: str, level: float, space: str | ColorSpace = "rgb",
                        seed: int = 0) -> torch.Tensor:
    """``rgb`` corrupted as a DAE in ``space`` sees it, shown back in sRGB.

    The images are converted to ``space``, normalised to the network's roughly [-1, 1] units,
    corrupted by :func:`splitbrain.models.corrupt` (salt and pepper at -1 and +1), then
    denormalised and converted back to sRGB, clipped to [0, 1]. In RGB, masked pixels are
    mid-grey, salt is white and pepper black.

    Args:
        rgb: (N, 3, H, W) or (3, H, W) sRGB, uint8 in [0, 255] or float in [0, 1].
        noise: "masking", "salt_pepper" or "gaussian".
        level: pixel probability in [0, 1] (masking, salt-and-pepper) or standard deviation in
            normalised units (gaussian).
        space: the colour space name ("rgb", "lab", "rescaled_lab") or a ColorSpace.
        seed: seeds the noise (a fresh CPU generator), so a figure is reproducible.
    Returns:
        (N, 3, H, W) float32 sRGB in [0, 1].
    """
    _check_noise(noise)
    space = _space(space)
    batch = _as_batch(rgb).cpu()
    clean = space.inputs(batch)
    generator = torch.Generator().manual_seed(seed)
    noisy = corrupt(clean, noise, level, value_range=(-1.0, 1.0), generator=generator)
    return space.to_rgb(space.denormalize(noisy)).clamp(0, 1)


@torch.no_grad()
def reconstruction_examples(model: DenoisingAutoencoder, rgb: torch.Tensor, space: str | ColorSpace = "rgb",
                            seed: int = 0) -> dict[str, Any]:
    """Run a denoising autoencoder on a few images, as in training: corrupt, then reconstruct.

    The model runs in eval mode (its mode is restored) on its own device, with its own noise
    type and level; the noise is seeded by ``seed``.

    Args:
        model: a :class:`~splitbrain.models.DenoisingAutoencoder` trained in ``space``.
        rgb: (N, 3, H, W) sRGB, uint8 or float in [0, 1].
        space: the colour space the model was trained in.
    Returns:
        {"clean", "corrupted", "reconstructed"}: (N, 3, H, W) float32 sRGB in [0, 1] on the CPU;
        "mse_corrupted" and "mse_reconstructed": mean squared error against the clean image in
        the network's normalised units (what the training loss measures) of the corrupted
        input and of the reconstruction, floats.
    """
    if not isinstance(model, DenoisingAutoencoder):
        raise ValueError(f"model must be a DenoisingAutoencoder, got {type(model).__name__}")
    space = _space(space)
    device = next(model.parameters()).device
    batch = _as_batch(rgb).to(device)
    clean = space.inputs(batch)
    generator = torch.Generator(device=device).manual_seed(seed)
    noisy = model.corrupt(clean, generator=generator)
    was_training = model.training
    model.eval()
    try:
        restored = model(noisy)
    finally:
        model.train(was_training)

    def to_rgb(x: torch.Tensor) -> torch.Tensor:
        return space.to_rgb(space.denormalize(x)).clamp(0, 1).float().cpu()

    return {
        "clean": to_rgb(clean),
        "corrupted": to_rgb(noisy),
        "reconstructed": to_rgb(restored),
        "mse_corrupted": float(((noisy - clean) ** 2).mean()),
        "mse_reconstructed": float(((restored - clean) ** 2).mean()),
    }


@torch.no_grad()
def refresh_dae_batchnorm(model: DenoisingAutoencoder, rgb: torch.Tensor, space: str | ColorSpace = "rgb",
                          batch_size: int = 64) -> DenoisingAutoencoder:
    """Recompute every BatchNorm layer's running mean and variance from clean images ("precise BN").

    The autoencoder's counterpart of :func:`splitbrain.predict.refresh_batchnorm` (which takes
    a split-brain pair), so that DAEs and their random-init floor are probed under the same
    treatment as the pairs of chapter 6. In eval mode BatchNorm uses running averages that
    training updates with momentum 0.1 from mean 0 and variance 1; after a few dozen steps they
    still remember those values, and a network at random initialisation has never updated them.
    This resets them and averages, with equal weight, the statistics of ``rgb``'s batches of
    ``batch_size`` (clean, as the probe sees them) under the current weights. Weights do not change.

    Args:
        model: a :class:`~splitbrain.models.DenoisingAutoencoder` (changed in place; its
            train/eval mode and its BatchNorm momenta are restored).
        rgb: (N, 3, H, W) uint8 (or float in [0, 1]) training images.
        space: the colour space the model reads.
        batch_size: images per forward pass; use the training batch size.
    Returns:
        ``model``.
    """
    if not isinstance(model, DenoisingAutoencoder):
        raise ValueError(f"model must be a DenoisingAutoencoder, got {type(model).__name__}")
    check_image_batch(rgb, "rgb", channels=3)
    check_positive_int(batch_size, "batch_size")
    space = _space(space)
    device = next(model.parameters()).device
    return recompute_batchnorm_statistics(model, rgb.split(batch_size), lambda chunk: model(space.inputs(chunk.to(device))))


def width_rows(dae: DenoisingAutoencoder, pair: SplitBrainNet, input_size: int) -> list[dict]:
    """Layer by layer: the DAE encoder's channels and parameters next to a split-brain pair's.

    Channels of the pair are both halves' together (the width of its representation);
    parameters are the stage's weights (both halves for the pair). The pair's classifier and the
    DAE's decoder are left out: neither is part of the representation.

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
        rows.append({
            "layer": row["layer"],
            "dae_channels": row["channels"],
            "pair_channels": other["channels"],
            "dae_params": row["params"],
            "pair_params": other["params"],
            "params_ratio": row["params"] / other["params"],
        })
    return rows


def binomial_standard_error(accuracy: float, count: int) -> float:
    """Standard error sqrt(p (1 - p) / n) of an accuracy ``p`` measured on ``count`` test images."""
    check_positive_int(count, "count")
    if not (isinstance(accuracy, (int, float)) and 0.0 <= accuracy <= 1.0):
        raise ValueError(f"accuracy must be a fraction in [0, 1], got {accuracy!r}")
    return math.sqrt(accuracy * (1.0 - accuracy) / count)


def floor_rows(scores: Mapping[str, float], floor: float, band: float = 0.0) -> list[dict]:
    """Each score against the random-init floor.

    Args:
        scores: label -> top-1 accuracy (fraction) of a pretrained network's features.
        floor: the same probe's top-1 on the same network at random initialisation.
        band: differences with ``|gap| <= band`` count as neither above nor below (e.g. two
            standard errors of the measurement); 0 compares the numbers exactly.
    Returns:
        one dict per label, in the given order: ``label``, ``top1``, ``gap`` (top1 - floor) and
        ``verdict``: "above", "below" or "within" (the band).
    """
    if band < 0:
        raise ValueError(f"band must be >= 0, got {band!r}")
    rows = []
    for label, top1 in scores.items():
        gap = float(top1) - float(floor)
        verdict = "above" if gap > band else "below" if gap < -band else "within"
        rows.append({"label": label, "top1": float(top1), "gap": gap, "verdict": verdict})
    return rows


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _points(gaps: Sequence[float]) -> str:
    magnitudes = sorted(abs(g) * 100 for g in gaps)
    if len(magnitudes) == 1 or math.isclose(magnitudes[0], magnitudes[-1], abs_tol=0.05):
        return f"{magnitudes[-1]:.1f} points"
    return f"{magnitudes[0]:.1f} to {magnitudes[-1]:.1f} points"


def floor_sentence(rows: Sequence[Mapping[str, Any]], band: float = 0.0) -> str:
    """One to three sentences saying which scores of :func:`floor_rows` beat the floor, and by how much.

    Differences are in percentage points; ``band`` (the value given to :func:`floor_rows`) is
    named when some differences fall inside it. Labels are used as given (write them to fit
    inside a sentence, e.g. "the masking autoencoder"); each sentence starts with a capital.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("rows must hold at least one score")
    groups = {verdict: [r for r in rows if r["verdict"] == verdict] for verdict in ("above", "below", "within")}
    parts = []
    for verdict, text in (("above", "beat{s} the random-init floor by"), ("below", "fall{s} short of {it} by")):
        chosen = groups[verdict]
        if not chosen:
            continue
        text = text.replace("{it}", "it" if parts else "the random-init floor")
        every = len(chosen) == len(rows) and len(rows) > 1
        who = _join([r["label"] for r in chosen]) + (" all" if every else "")
        s = "s" if len(chosen) == 1 else ""
        parts.append(f"{who} {text.format(s=s)} {_points([r['gap'] for r in chosen])}.")
    if groups["within"]:
        chosen = groups["within"]
        verb = "is" if len(chosen) == 1 else "are"
        parts.append(f"{_join([r['label'] for r in chosen])} {verb} within ±{100 * band:.1f} points of the floor, "
                     "too close to call from one run.")
    return " ".join(part[:1].upper() + part[1:] for part in parts)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def _show(ax, image: torch.Tensor) -> None:
    ax.imshow(image.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_corruptions(rgb: torch.Tensor, noises: Sequence[str], levels: Sequence[float],
                     space: str | ColorSpace = "rgb", seed: int = 0) -> Figure:
    """One crop under each noise type (rows) at each level (columns), the clean crop first.

    Args:
        rgb: (3, H, W) or (1, 3, H, W) sRGB image, uint8 or float in [0, 1].
        noises: noise types, one row each.
        levels: noise levels, one column each (the same numbers for every noise: a pixel
            probability for masking and salt-and-pepper, a standard deviation for Gaussian).
        space: the colour space the corruption is applied in (normalised units).
        seed: seeds the noise.
    """
    image = _as_batch(rgb)[:1]
    if not noises or not levels:
        raise ValueError("noises and levels must each hold at least one value")
    columns = len(levels) + 1
    fig = Figure(figsize=(1.9 * columns, 2.05 * len(noises) + 0.5), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(noises), columns))
    clean = image[0].float() / 255 if image.dtype == torch.uint8 else image[0]
    for row, noise in enumerate(noises):
        _show(axes[row, 0], clean)
        axes[row, 0].set_title("clean", fontsize="small")
        axes[row, 0].set_ylabel(NOISE_NAMES[_check_noise(noise)], fontsize="medium")
        for column, level in enumerate(levels, start=1):
            _show(axes[row, column], corrupt_for_display(image, noise, level, space, seed)[0])
            axes[row, column].set_title(level_label(noise, level), fontsize="small")
    name = _space(space).name
    fig.suptitle(f"Corruptions of one {image.shape[-1]} px crop, applied in normalised {name.upper()} "
                 "(masking: grey, salt: white, pepper: black)" if name == "rgb" else
                 f"Corruptions of one {image.shape[-1]} px crop, applied in normalised {name}")
    return fig


def plot_reconstructions(examples: Mapping[str, Mapping[str, Any]], max_images: int = 6) -> Figure:
    """Clean crops, then for each DAE its corrupted input and its reconstruction.

    Args:
        examples: label (e.g. "masking, p = 25%") -> a :func:`reconstruction_examples` result;
            all for the same clean images.
        max_images: at most this many images (columns).
    """
    check_positive_int(max_images, "max_images")
    if not examples:
        raise ValueError("examples must hold at least one model's reconstructions")
    first = next(iter(examples.values()))
    count = min(max_images, first["clean"].shape[0])
    rows = 1 + 2 * len(examples)
    fig = Figure(figsize=(1.55 * count + 1.6, 1.55 * rows + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, count))
    if count == 1:
        axes = axes.reshape(rows, 1)
    for column in range(count):
        _show(axes[0, column], first["clean"][column])
    axes[0, 0].set_ylabel("clean", fontsize="small")
    for index, (label, result) in enumerate(examples.items()):
        noisy_row, restored_row = 1 + 2 * index, 2 + 2 * index
        for column in range(count):
            _show(axes[noisy_row, column], result["corrupted"][column])
            _show(axes[restored_row, column], result["reconstructed"][column])
        axes[noisy_row, 0].set_ylabel(f"{label}\ninput", fontsize="small")
        axes[restored_row, 0].set_ylabel("output", fontsize="small")
        axes[noisy_row, count // 2].set_title(
            f"{label}: MSE of the input {result['mse_corrupted']:.3f}, of the output {result['mse_reconstructed']:.3f}",
            fontsize="small")
    fig.suptitle("Held-out crops: what each DAE gets and what it gives back (MSE in normalised units)")
    return fig


def plot_loss_curves(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """Training loss (reconstruction MSE) against step, one line per DAE.

    Args:
        histories: label -> metric records (``splitbrain.train.read_metrics``); the "step"
            records are drawn, or the "epoch" records when a run logged no steps.
    """
    if not histories:
        raise ValueError("histories must hold at least one run")
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
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
    ax.set_ylabel("reconstruction MSE (normalised units, log scale)")
    ax.set_title("DAE pretraining loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def plot_probe_by_layer(scores: Mapping[str, Mapping[str, float]], chance: float | None = None,
                        floor_label: str | None = None) -> Figure:
    """Linear-probe top-1 at every layer, one line per network.

    Args:
        scores: label -> {layer: top-1 fraction}, layers in order (shallow to deep).
        chance: drawn as a dotted line (1 / number of classes), if given.
        floor_label: the label of the random-init network, drawn dashed in black.
    """
    if not scores:
        raise ValueError("scores must hold at least one network")
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for label, by_layer in scores.items():
        layers = list(by_layer)
        values = [100 * by_layer[layer] for layer in layers]
        style = dict(color="black", ls="--") if label == floor_label else {}
        ax.plot(layers, values, marker="o", label=label, **style)
    if chance is not None:
        ax.axhline(100 * chance, color="grey", ls=":", lw=1)
        ax.text(0.0, 100 * chance, "chance", va="bottom", fontsize="small", color="grey")
    ax.set_xlabel("layer (frozen features, average-pooled)")
    ax.set_ylabel("held-out top-1 (%)")
    ax.set_title("Linear probe at every layer: DAE features against the random-init floor")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig
