"""What a pretrained split-brain network predicts, turned back into images and numbers.

A :class:`~splitbrain.models.SplitBrainNet` outputs class scores on a coarse grid: half 1 scores
group 2's classes (ab, or GB) from group 1 (L, or R), half 2 scores group 1's classes from
group 2. This module decodes those scores so a chapter can look at them:

- :func:`colorize`: half 1's prediction, decoded (annealed mean by default), upsampled and put
  back on the image's own group 1: an L -> ab colourisation as an RGB image.
- :func:`predict_lightness`: half 2's prediction of group 1 (L) on the grid, decoded.
- :func:`pretext_cross_entropy`: each half's per-pixel cross-entropy on given images (the
  training loss, measured on held-out images).
- :func:`prior_cross_entropy`: the loss of the best *constant* prediction (the class
  frequencies), the level a half reaches if it ignores its input.
- :func:`refresh_batchnorm`: recompute BatchNorm's running statistics for the current weights
  (after a short run they still remember their initial values).
- :func:`matching_checkpoint`: a finished checkpoint made with the same configuration, so a
  chapter can reuse another chapter's pretraining instead of repeating it.

Decoding per-image (rescaled) bins needs each image's (low, high) ab range: it comes from the
true image (``Batch.ranges2``), so a rescaled-Lab colourisation is told the image's colour
extent and predicts where within it each cell lies.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_image_batch, check_positive_int
from .color import ColorSpace, get_color_space
from .models import DenoisingAutoencoder, corrupt, recompute_batchnorm_statistics
from .presets import MACHINERY_FIELDS, differing_fields
from .quantize import ANNEALED_TEMPERATURE, DECODE_MODES, class_distribution, upsample_map

UPSAMPLE_MODES = ("bilinear", "nearest")


# ----------------------------------------------------------------------------------------------
# checks and batching


def _check_model(model: nn.Module) -> None:
    if not (hasattr(model, "half1") and hasattr(model, "half2")):
        raise ValueError(f"model must be a split-brain pair with half1 and half2, got {type(model).__name__}")


def _check_decoding(mode: str, temperature: float, upsample: str | None = None) -> None:
    if mode not in DECODE_MODES:
        raise ValueError(f"mode must be one of {DECODE_MODES}, got {mode!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
        math.isfinite(temperature) and temperature > 0
    ):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if upsample is not None and upsample not in UPSAMPLE_MODES:
        raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _chunks(rgb: torch.Tensor, batch_size: int) -> Iterable[torch.Tensor]:
    check_positive_int(batch_size, "batch_size")
    for start in range(0, rgb.shape[0], batch_size):
        yield rgb[start : start + batch_size]


class _EvalMode:
    """Puts a model in eval mode (and no_grad) for a block, restoring its mode afterwards."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.grad = torch.no_grad()
        self.grad.__enter__()
        self.model.eval()
        return self.model

    def __exit__(self, *exc):
        self.model.train(self.was_training)
        self.grad.__exit__(*exc)
        return False


# ----------------------------------------------------------------------------------------------
# from logits to images


def decode_group2(
    logits: torch.Tensor,
    targets,
    ranges: torch.Tensor | None = None,
    mode: str = "annealed",
    temperature: float = ANNEALED_TEMPERATURE,
) -> torch.Tensor:
    """Half 1's scores -> group 2's values (ab in Lab units, or GB in [0, 1]) on the grid.

    Args:
        logits: (N, K2, g, g) float, half 1's output.
        targets: the run's :class:`~splitbrain.targets.CrossChannelTargets` (its quantizer2).
        ranges: (N, 2, 2) per-image (low, high) of group 2 for rescaled bins (``Batch.ranges2``);
            None for fixed bins.
        mode: "annealed" (Zhang et al. 2016, ``temperature``), "mean" or "centre".
    Returns:
        (N, 2, g, g) float32.
    """
    _check_decoding(mode, temperature)
    check_image_batch(logits, "logits", channels=targets.quantizer2.num_classes)
    if getattr(targets.quantizer2, "per_image_ranges", False) and ranges is None:
        raise ValueError("ranges must be the per-image (N, 2, 2) ranges (Batch.ranges2) for rescaled bins")
    return targets.quantizer2.decode(logits.float(), mode=mode, temperature=temperature, ranges=ranges)


def combine_with_group1(group2: torch.Tensor, rgb: torch.Tensor, targets, upsample: str = "bilinear") -> torch.Tensor:
    """Put (predicted) group-2 values on an image's own group 1 and convert to RGB.

    Args:
        group2: (N, 2, g, g) float group-2 values in the colour space's units (ab in Lab units).
        rgb: (N, 3, H, W) the images whose group 1 (L, or R) is kept, uint8 or float in [0, 1].
        targets: the run's target pipeline (its colour space).
        upsample: how the grid is brought to H x W: "bilinear" (smooth) or "nearest" (blocks).
    Returns:
        (N, 3, H, W) float32 sRGB in [0, 1] (colours outside the gamut clipped), on ``rgb``'s device.
    """
    _check_decoding("centre", 1.0, upsample)
    check_image_batch(rgb, "rgb", channels=3)
    check_image_batch(group2, "group2", channels=2)
    if group2.shape[0] != rgb.shape[0]:
        raise ValueError(f"group2 and rgb must hold the same number of images, got {group2.shape[0]} and {rgb.shape[0]}")
    space = targets.space
    group1, _ = space.split(space.from_rgb(rgb).float())
    size = tuple(rgb.shape[-2:])
    group2 = group2.to(device=group1.device, dtype=group1.dtype)
    return space.to_rgb(space.merge(group1, upsample_map(group2, size, upsample)))


def colorize(
    model: nn.Module,
    targets,
    rgb: torch.Tensor,
    mode: str = "annealed",
    temperature: float = ANNEALED_TEMPERATURE,
    upsample: str = "bilinear",
    batch_size: int = 256,
) -> torch.Tensor:
    """Colourise images with half 1 (L -> ab): decoded prediction on the image's own L.

    Args:
        model: a :class:`~splitbrain.models.SplitBrainNet` (run in eval mode, no gradients; its
            train/eval mode is restored afterwards).
        targets: the target pipeline it was trained with (``models.build_targets_for(config)``).
        rgb: (N, 3, H, W) uint8 in [0, 255] (or float in [0, 1]) images, H, W >= the grid.
        mode, temperature: decoding of the class scores (annealed mean, T = 0.38, by default).
        upsample: "bilinear" or "nearest" (grid -> H x W).
        batch_size: images per forward pass.
    Returns:
        (N, 3, H, W) float32 sRGB in [0, 1] on the CPU.
    """
    _check_model(model)
    _check_decoding(mode, temperature, upsample)
    check_image_batch(rgb, "rgb", channels=3)
    device = _model_device(model)
    images = []
    with _EvalMode(model):
        for chunk in _chunks(rgb, batch_size):
            chunk = chunk.to(device)
            batch = targets.prepare(chunk)
            group2 = decode_group2(model.half1(batch.x1), targets, batch.ranges2, mode, temperature)
            images.append(combine_with_group1(group2, chunk, targets, upsample).float().cpu())
    return torch.cat(images)


def predict_lightness(
    model: nn.Module,
    targets,
    rgb: torch.Tensor,
    mode: str = "annealed",
    temperature: float = ANNEALED_TEMPERATURE,
    batch_size: int = 256,
) -> torch.Tensor:
    """Half 2's prediction of group 1 (L*, or R) from group 2 (ab, or GB), on the grid.

    Args:
        model, targets, rgb, mode, temperature, batch_size: as for :func:`colorize`.
    Returns:
        (N, 1, g, g) float32 on the CPU, in group 1's units (L* in [0, 101] for Lab; compare
        with ``quantize.downsample`` of the true L*).
    """
    _check_model(model)
    _check_decoding(mode, temperature)
    check_image_batch(rgb, "rgb", channels=3)
    device = _model_device(model)
    maps = []
    with _EvalMode(model):
        for chunk in _chunks(rgb, batch_size):
            batch = targets.prepare(chunk.to(device))
            logits = model.half2(batch.x2).float()
            maps.append(targets.quantizer1.decode(logits, mode=mode, temperature=temperature).float().cpu())
    return torch.cat(maps)


# ----------------------------------------------------------------------------------------------
# losses


def pretext_cross_entropy(model: nn.Module, targets, rgb: torch.Tensor, batch_size: int = 256) -> dict[str, float]:
    """Each half's mean per-pixel cross-entropy (nats) on ``rgb``, as in training.

    Returns {"loss1": half 1 (group 1 -> group 2), "loss2": half 2 (group 2 -> group 1),
    "loss": their sum}, averaged over every image and grid cell.
    """
    _check_model(model)
    check_image_batch(rgb, "rgb", channels=3)
    device = _model_device(model)
    sums = torch.zeros(2, dtype=torch.float64)
    count = 0
    with _EvalMode(model):
        for chunk in _chunks(rgb, batch_size):
            batch = targets.prepare(chunk.to(device))
            logits1, logits2 = model(batch.x1, batch.x2)
            sums[0] += float(F.cross_entropy(logits1.float(), batch.t2, reduction="sum"))
            sums[1] += float(F.cross_entropy(logits2.float(), batch.t1, reduction="sum"))
            count += batch.t1.numel()
    loss1, loss2 = (sums / count).tolist()
    return {"loss1": loss1, "loss2": loss2, "loss": loss1 + loss2}


def prior_cross_entropy(targets, rgb: torch.Tensor) -> dict[str, float]:
    """The cross-entropy of the best constant prediction: the entropy (nats) of the classes.

    A half that ignores its input can do no better than predict, everywhere, the frequencies of
    the classes; its loss is then their entropy. Measured on the targets of ``rgb``.
    Returns {"loss1": for half 1 (group 2's classes), "loss2": for half 2 (group 1's), "loss"}.
    """
    check_image_batch(rgb, "rgb", channels=3)
    batch = targets.prepare(rgb)
    k2, k1 = targets.num_classes

    def entropy(classes: torch.Tensor, num_classes: int) -> float:
        p = class_distribution(classes, num_classes)
        p = p[p > 0]
        return float(-(p * p.log()).sum())

    loss1, loss2 = entropy(batch.t2, k2), entropy(batch.t1, k1)
    return {"loss1": loss1, "loss2": loss2, "loss": loss1 + loss2}


# ----------------------------------------------------------------------------------------------
# BatchNorm statistics


def refresh_batchnorm(model: nn.Module, targets, rgb: torch.Tensor, batch_size: int = 64) -> nn.Module:
    """Recompute every BatchNorm layer's running mean and variance from ``rgb`` ("precise BN";
    see :func:`splitbrain.models.recompute_batchnorm_statistics` for why): the statistics of
    ``rgb``'s batches of ``batch_size`` under the current weights, each batch counting the same.

    Args:
        model: a split-brain pair (changed in place; its train/eval mode is restored).
        targets: the run's target pipeline (to turn RGB into the halves' inputs).
        rgb: (N, 3, H, W) uint8 training images (e.g. the pretraining set's crops).
        batch_size: images per forward pass; use the training batch size.
    Returns:
        ``model``.
    """
    _check_model(model)
    check_image_batch(rgb, "rgb", channels=3)
    device = _model_device(model)

    def forward(chunk: torch.Tensor) -> None:
        batch = targets.prepare(chunk.to(device))
        model(batch.x1, batch.x2)

    return recompute_batchnorm_statistics(model, _chunks(rgb, batch_size), forward)


# ----------------------------------------------------------------------------------------------
# reusing a finished run


def matching_checkpoint(path: str | os.PathLike, config, ignore: Iterable[str] = MACHINERY_FIELDS) -> Path | None:
    """``path`` if it holds a finished pretraining checkpoint of the same configuration, else None.

    "Same": every field of ``config`` (a PretrainConfig) except ``ignore`` (by default the
    machinery fields of :mod:`splitbrain.presets`, as the experiment runner ignores them: where
    the run wrote its files, the device and precision it ran on) equals the checkpoint's; "finished": it was saved after
    ``config.epochs`` epochs. A missing or unreadable file gives None.
    """
    from .checkpoint import load_checkpoint

    path = Path(path)
    if not path.is_file():
        return None
    try:
        checkpoint = load_checkpoint(path)
    except ValueError:
        return None
    differ = differing_fields(checkpoint.get("config", {}), config.to_dict(), type(config), ignore=ignore)
    return path if not differ and int(checkpoint.get("epoch", -1)) == config.epochs else None


def as_color_space(space: str | ColorSpace) -> ColorSpace:
    """A :class:`~splitbrain.color.ColorSpace` from its name (or itself)."""
    return get_color_space(space) if isinstance(space, str) else space


def as_image_batch(rgb: torch.Tensor, name: str = "rgb") -> torch.Tensor:
    """(N, 3, H, W) from an image (3, H, W) or a batch, checked."""
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
    space = as_color_space(space)
    batch = as_image_batch(rgb).cpu()
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
    space = as_color_space(space)
    device = next(model.parameters()).device
    batch = as_image_batch(rgb).to(device)
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
    space = as_color_space(space)
    device = next(model.parameters()).device
    return recompute_batchnorm_statistics(model, rgb.split(batch_size), lambda chunk: model(space.inputs(chunk.to(device))))
