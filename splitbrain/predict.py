"""What a pretrained split-brain network predicts, turned back into images and numbers.

Decodes a pair's class scores (:func:`colorize`, :func:`predict_lightness`), measures each half's
loss against the best constant prediction's (:func:`pretext_cross_entropy`,
:func:`prior_cross_entropy`), and shows what a denoising autoencoder sees and reconstructs.

Decoding per-image (rescaled) bins needs each image's (low, high) ab range: it comes from the
true image (``Batch.ranges2``), so a rescaled-Lab colourisation is told the image's colour
extent and predicts where within it each cell lies.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_image_batch, check_one_of, check_positive_int
from .checkpoint import load_checkpoint
from .color import ColorSpace, get_color_space
from .models import DenoisingAutoencoder, corrupt, eval_mode, model_device, recompute_batchnorm_statistics
from .presets import MACHINERY_FIELDS, differing_fields
from .quantize import ANNEALED_TEMPERATURE, UPSAMPLE_MODES, check_decoding, class_distribution, upsample_map


# ----------------------------------------------------------------------------------------------
# checks and batching


def _chunks(model: nn.Module, rgb: torch.Tensor, batch_size: int) -> Iterable[torch.Tensor]:
    """``rgb`` (N, 3, H, W) in pieces of ``batch_size`` images on the model's device; ``rgb`` and
    ``batch_size`` are checked at once, the pieces moved lazily."""
    check_image_batch(rgb, "rgb", channels=3)
    check_positive_int(batch_size, "batch_size")
    device = model_device(model)
    return (images.to(device) for images in rgb.split(batch_size))


def _prepared(model: nn.Module, targets, rgb: torch.Tensor, batch_size: int) -> Iterable[tuple[torch.Tensor, Any]]:
    """(images on the model's device, their ``targets.prepare`` Batch) per :func:`_chunks` piece;
    the split-brain pair ``model`` is checked at once."""
    if not (hasattr(model, "half1") and hasattr(model, "half2")):
        raise ValueError(f"model must be a split-brain pair with half1 and half2, got {type(model).__name__}")
    return ((chunk, targets.prepare(chunk)) for chunk in _chunks(model, rgb, batch_size))


# ----------------------------------------------------------------------------------------------
# split-brain pairs: decoded predictions, losses, BatchNorm statistics, finished runs


def decode_group2(logits: torch.Tensor, targets, ranges: torch.Tensor | None = None, mode: str = "annealed",
                  temperature: float = ANNEALED_TEMPERATURE) -> torch.Tensor:
    """Half 1's scores (N, K2, g, g) -> group 2's values (N, 2, g, g) float32 (ab in Lab units, or
    GB in [0, 1]) on the grid, by the run's ``targets.quantizer2``.

    ``ranges``: (N, 2, 2) per-image (low, high) of group 2 for rescaled bins (``Batch.ranges2``),
    None for fixed bins. ``mode``: "annealed" (Zhang et al. 2016, ``temperature``), "mean" or "centre".
    """
    check_decoding(mode, temperature)
    check_image_batch(logits, "logits", channels=targets.quantizer2.num_classes)
    if getattr(targets.quantizer2, "per_image_ranges", False) and ranges is None:
        raise ValueError("ranges must be the per-image (N, 2, 2) ranges (Batch.ranges2) for rescaled bins")
    return targets.quantizer2.decode(logits.float(), mode=mode, temperature=temperature, ranges=ranges)


def combine_with_group1(group2: torch.Tensor, rgb: torch.Tensor, targets, upsample: str = "bilinear") -> torch.Tensor:
    """Put (predicted) group-2 values ``group2`` (N, 2, g, g), in the colour space's units, on the
    group 1 (L, or R) of ``rgb`` (N, 3, H, W), uint8 or float in [0, 1], upsampled ("bilinear" or
    "nearest" blocks). Returns (N, 3, H, W) float32 sRGB in [0, 1] (out-of-gamut colours clipped),
    on ``rgb``'s device.
    """
    check_image_batch(rgb, "rgb", channels=3)
    check_image_batch(group2, "group2", channels=2)
    if group2.shape[0] != rgb.shape[0]:
        raise ValueError(f"group2 and rgb must hold the same number of images, "
                         f"got {group2.shape[0]} and {rgb.shape[0]}")
    space = targets.space
    group1, _ = space.split(space.from_rgb(rgb).float())
    size = tuple(rgb.shape[-2:])
    group2 = group2.to(device=group1.device, dtype=group1.dtype)
    return space.to_rgb(space.merge(group1, upsample_map(group2, size, upsample)))


def colorize(model: nn.Module, targets, rgb: torch.Tensor, mode: str = "annealed",
             temperature: float = ANNEALED_TEMPERATURE, upsample: str = "bilinear",
             batch_size: int = 256) -> torch.Tensor:
    """Colourise images with half 1 (L -> ab): the decoded prediction on the image's own L.

    ``rgb``: (N, 3, H, W) uint8 in [0, 255] (or float in [0, 1]), H, W >= the grid; ``targets``:
    the pipeline ``model`` was trained with (``models.build_targets_for(config)``). The model runs
    in eval mode without gradients (its mode is restored); decoding is the annealed mean, T = 0.38,
    by default. Returns (N, 3, H, W) float32 sRGB in [0, 1] on the CPU.
    """
    batches = _prepared(model, targets, rgb, batch_size)
    check_decoding(mode, temperature)
    check_one_of(upsample, "upsample", UPSAMPLE_MODES)
    images = []
    with eval_mode(model):
        for chunk, batch in batches:
            group2 = decode_group2(model.half1(batch.x1), targets, batch.ranges2, mode, temperature)
            images.append(combine_with_group1(group2, chunk, targets, upsample).float().cpu())
    return torch.cat(images)


def predict_lightness(model: nn.Module, targets, rgb: torch.Tensor, mode: str = "annealed",
                      temperature: float = ANNEALED_TEMPERATURE, batch_size: int = 256) -> torch.Tensor:
    """Half 2's prediction of group 1 (L*, or R) from group 2 (ab, or GB), on the grid; arguments
    as for :func:`colorize`.

    Returns (N, 1, g, g) float32 on the CPU, in group 1's units (L* in [0, 101] for Lab; compare
    with ``quantize.downsample`` of the true L*).
    """
    batches = _prepared(model, targets, rgb, batch_size)
    check_decoding(mode, temperature)
    maps = []
    with eval_mode(model):
        for _, batch in batches:
            logits = model.half2(batch.x2).float()
            maps.append(targets.quantizer1.decode(logits, mode=mode, temperature=temperature).float().cpu())
    return torch.cat(maps)


def pretext_cross_entropy(model: nn.Module, targets, rgb: torch.Tensor, batch_size: int = 256) -> dict[str, float]:
    """Each half's mean per-pixel cross-entropy (nats) on ``rgb``, as in training.

    Returns {"loss1": half 1 (group 1 -> group 2), "loss2": half 2 (group 2 -> group 1),
    "loss": their sum}, averaged over every image and grid cell.
    """
    batches = _prepared(model, targets, rgb, batch_size)
    sums = torch.zeros(2, dtype=torch.float64)
    count = 0
    with eval_mode(model):
        for _, batch in batches:
            logits1, logits2 = model(batch.x1, batch.x2)
            sums[0] += float(F.cross_entropy(logits1.float(), batch.t2, reduction="sum"))
            sums[1] += float(F.cross_entropy(logits2.float(), batch.t1, reduction="sum"))
            count += batch.t1.numel()
    loss1, loss2 = (sums / count).tolist()
    return {"loss1": loss1, "loss2": loss2, "loss": loss1 + loss2}


def prior_cross_entropy(targets, rgb: torch.Tensor) -> dict[str, float]:
    """The cross-entropy of the best constant prediction (the class frequencies of ``rgb``'s
    targets), the level a half reaches if it ignores its input: their entropy, in nats.

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


def refresh_batchnorm(model: nn.Module, targets, rgb: torch.Tensor, batch_size: int = 64) -> nn.Module:
    """Recompute every BatchNorm layer's running mean and variance of the split-brain pair ``model``
    (in place; returned) from ``rgb`` (N, 3, H, W) uint8 training images: "precise BN", see
    :func:`splitbrain.models.recompute_batchnorm_statistics`. Use the training batch size.
    """
    batches = (batch for _, batch in _prepared(model, targets, rgb, batch_size))
    return recompute_batchnorm_statistics(model, batches, lambda batch: model(batch.x1, batch.x2))


def matching_checkpoint(path: str | os.PathLike, config, ignore: Iterable[str] = MACHINERY_FIELDS) -> Path | None:
    """``path`` if it holds a finished pretraining checkpoint of the same configuration, else None.

    "Same": every field of ``config`` (a PretrainConfig) except ``ignore`` (by default the machinery
    fields of :mod:`splitbrain.presets`: output folder, device, precision) equals the checkpoint's;
    "finished": it was saved after ``config.epochs`` epochs. A missing or unreadable file gives None.
    """
    try:
        checkpoint = load_checkpoint(path)
    except (FileNotFoundError, ValueError):
        return None
    differ = differing_fields(checkpoint.get("config", {}), config.to_dict(), type(config), ignore=ignore)
    return Path(path) if not differ and int(checkpoint.get("epoch", -1)) == config.epochs else None


# ----------------------------------------------------------------------------------------------
# denoising autoencoders


def as_image_batch(rgb: torch.Tensor, name: str = "rgb") -> torch.Tensor:
    """(N, 3, H, W) from an image (3, H, W) or a batch, checked."""
    check_image_batch(rgb, name, channels=3, allow_unbatched=True)
    return rgb.reshape(-1, *rgb.shape[-3:])


def _shown(space: ColorSpace, x: torch.Tensor) -> torch.Tensor:
    """Network inputs ``x`` (N, 3, H, W) in ``space``'s normalised units -> float32 sRGB in [0, 1]
    on the CPU (out-of-gamut colours clipped)."""
    return space.to_rgb(space.denormalize(x)).clamp(0, 1).float().cpu()


def corrupt_for_display(rgb: torch.Tensor, noise: str, level: float, space: str | ColorSpace = "rgb",
                        seed: int = 0) -> torch.Tensor:
    """``rgb`` ((N, 3, H, W) or (3, H, W) sRGB, uint8 or float in [0, 1]) corrupted as a DAE in
    ``space`` sees it, shown back as (N, 3, H, W) float32 sRGB in [0, 1].

    The images are converted to ``space``, normalised to the network's roughly [-1, 1] units,
    corrupted by :func:`splitbrain.models.corrupt` (``noise`` "masking", "salt_pepper" or
    "gaussian"; ``level`` a pixel probability in [0, 1], or for gaussian a standard deviation in
    normalised units; salt and pepper at -1 and +1; seeded by ``seed`` on a fresh CPU generator),
    then converted back and clipped. In RGB, masked pixels are mid-grey, salt white, pepper black.
    """
    space = get_color_space(space)
    clean = space.inputs(as_image_batch(rgb).cpu())
    generator = torch.Generator().manual_seed(seed)
    noisy = corrupt(clean, noise, level, value_range=(-1.0, 1.0), generator=generator)
    return _shown(space, noisy)


@torch.no_grad()
def reconstruction_examples(model: DenoisingAutoencoder, rgb: torch.Tensor, space: str | ColorSpace = "rgb",
                            seed: int = 0) -> dict[str, Any]:
    """Run a denoising autoencoder on ``rgb`` (N, 3, H, W) sRGB (uint8, or float in [0, 1]) as in
    training: corrupt with its own noise (seeded by ``seed``), then reconstruct in eval mode.

    Returns {"clean", "corrupted", "reconstructed"}: (N, 3, H, W) float32 sRGB in [0, 1] on the
    CPU; "mse_corrupted" and "mse_reconstructed": the mean squared error of the corrupted input
    and of the reconstruction against the clean image, in the network's normalised units (what
    the training loss measures).
    """
    if not isinstance(model, DenoisingAutoencoder):
        raise ValueError(f"model must be a DenoisingAutoencoder, got {type(model).__name__}")
    space = get_color_space(space)
    device = model_device(model)
    clean = space.inputs(as_image_batch(rgb).to(device))
    noisy = model.corrupt(clean, generator=torch.Generator(device=device).manual_seed(seed))
    with eval_mode(model):
        restored = model(noisy)
    return {"clean": _shown(space, clean), "corrupted": _shown(space, noisy),
            "reconstructed": _shown(space, restored), "mse_corrupted": float(((noisy - clean) ** 2).mean()),
            "mse_reconstructed": float(((restored - clean) ** 2).mean())}


def refresh_dae_batchnorm(model: DenoisingAutoencoder, rgb: torch.Tensor, space: str | ColorSpace = "rgb",
                          batch_size: int = 64) -> DenoisingAutoencoder:
    """:func:`refresh_batchnorm` for a denoising autoencoder (in place; returned): "precise BN" from
    the clean images ``rgb`` (N, 3, H, W), uint8 or float in [0, 1], as the probe sees them, so DAEs
    and their random-init floor are probed under the same treatment as the split-brain pairs.
    """
    if not isinstance(model, DenoisingAutoencoder):
        raise ValueError(f"model must be a DenoisingAutoencoder, got {type(model).__name__}")
    chunks = _chunks(model, rgb, batch_size)
    space = get_color_space(space)
    return recompute_batchnorm_statistics(model, chunks, lambda chunk: model(space.inputs(chunk)))
