"""The device-side target pipeline of one pretraining step.

A uint8 RGB batch from the DataLoader goes in; out come the two halves' network inputs and the
two halves' class-map targets::

    uint8 RGB (N,3,H,W) -> float colour space (Lab / rescaled Lab / RGB)
        -> split into group 1 (L or R) and group 2 (ab or GB)
        -> inputs:  each group normalised to roughly [-1, 1] at full resolution
        -> targets: each group area-averaged to the grid (12x12) and quantized

Half 1 sees group 1 and predicts group 2's classes (``t2``); half 2 sees group 2 and predicts
group 1's classes (``t1``). Everything runs batched on whatever device the batch is on.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._checks import check_image_batch, check_positive_int
from .color import ColorSpace, get_color_space
from .quantize import poster_quantizers


@dataclass
class Batch:
    """One prepared pretraining batch.

    x1: (N, c1, H, W) float, group 1 normalised (the input of half 1).
    x2: (N, c2, H, W) float, group 2 normalised (the input of half 2).
    t1: (N, g, g) long in [0, K1), group 1's classes (the target of half 2).
    t2: (N, g, g) long in [0, K2), group 2's joint classes (the target of half 1).
    ranges2: (N, c2, 2) per-image (low, high) of group 2 when its bins are rescaled per image
        (needed to decode half 1's predictions back to colours), else None.
    """

    x1: torch.Tensor
    x2: torch.Tensor
    t1: torch.Tensor
    t2: torch.Tensor
    ranges2: torch.Tensor | None = None


CPU_BLOCK_PIXELS = 1 << 16
"""Pixels per block of the CPU colour conversion: 64k pixels, under 1 MB of float32 per channel
triple, so a block's intermediate results stay in the cache (about 3x faster than whole-batch
passes, which are memory-bound)."""


class CrossChannelTargets:
    """Turns uint8 RGB batches into split-brain inputs and targets for one colour space.

    ``quantizer1`` bins group 1 (e.g. L in 100 bins), ``quantizer2`` group 2 (e.g. ab in 10 x 10
    joint bins, fixed or rescaled); ``grid`` is the side of the square target grid (12 in the paper
    and the poster).
    """

    def __init__(self, space: ColorSpace, quantizer1, quantizer2, grid: int = 12):
        check_positive_int(grid, "grid")
        self.space = space
        self.quantizer1 = quantizer1
        self.quantizer2 = quantizer2
        self.grid = grid

    @property
    def num_classes(self) -> tuple[int, int]:
        """(K2, K1): the class counts predicted by half 1 and by half 2."""
        return (self.quantizer2.num_classes, self.quantizer1.num_classes)

    @property
    def in_channels(self) -> tuple[int, int]:
        """(c1, c2): the input channel counts of half 1 and half 2."""
        return self.space.group_channels

    def prepare(self, rgb: torch.Tensor) -> Batch:
        """One :class:`Batch` from ``rgb`` (N, 3, H, W), uint8 in [0, 255] or float in [0, 1], with
        H, W >= ``grid``, on the same device."""
        check_image_batch(rgb, "rgb", channels=3)
        if min(rgb.shape[-2:]) < self.grid:
            raise ValueError(f"grid must not exceed the image size: grid={self.grid}, rgb has H, W = "
                             f"{tuple(rgb.shape[-2:])}")
        inputs, pooled = self._convert(rgb)
        x1, x2 = self.space.split(inputs)
        with torch.no_grad():
            g1, g2 = self.space.split(pooled)
            ranges2 = self.quantizer2.image_ranges(g2)
            t1 = self.quantizer1.encode(g1)
            t2 = self.quantizer2.encode(g2, ranges2)
        return Batch(x1=x1, x2=x2, t1=t1, t2=t2, ranges2=ranges2)

    def _convert(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) RGB -> (network inputs (N, 3, H, W), the area average of the colour-space
        values on the grid (N, 3, grid, grid)), both float32 (or the float input's dtype).

        On the CPU the batch is converted in blocks of about :data:`CPU_BLOCK_PIXELS` pixels; on a
        GPU the whole batch goes at once.
        """
        n, _, height, width = rgb.shape
        block = n if rgb.device.type != "cpu" else max(1, CPU_BLOCK_PIXELS // (height * width))
        inputs, pooled = [], []
        for part in rgb.split(block):
            values = self.space.from_rgb(part)
            inputs.append(self.space.normalize(values))
            pooled.append(F.adaptive_avg_pool2d(values, self.grid))
        if len(inputs) == 1:  # the whole batch at once: no copy
            return inputs[0], pooled[0]
        return torch.cat(inputs), torch.cat(pooled)


def build_targets(space_name: str, grid: int = 12, bins1: int = 100, bins2: int = 10) -> CrossChannelTargets:
    """The poster's target pipeline for ``space_name`` in {"lab", "rescaled_lab", "rgb"}.

    Group 1 (L or R) gets ``bins1`` uniform bins; each channel of group 2 (a, b or G, B) gets
    ``bins2`` bins, ``bins2 ** 2`` joint classes, fixed ranges or per-image ranges (rescaled Lab).
    """
    space = get_color_space(space_name)
    quantizer1, quantizer2 = poster_quantizers(space_name, bins1=bins1, bins2=bins2)
    return CrossChannelTargets(space, quantizer1, quantizer2, grid=grid)
