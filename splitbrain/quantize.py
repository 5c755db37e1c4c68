"""Quantization of colour channels into classes: bins, encode/decode, rescaled bins, rebalancing.

Split-brain autoencoders predict *classes*, not colour values: each half predicts, on a coarse
grid (12x12), which bin the other channel group falls into. The quantizers
(:class:`UniformQuantizer`, the poster's per-image :class:`RescaledQuantizer`, and the
nearest-point :class:`GamutQuantizer`) share ``channels``, ``num_classes``, ``encode``,
``decode``, ``centres`` and ``image_ranges``. Class rebalancing (Zhang et al. 2016) is an
option; the default training loss is plain cross-entropy.
"""
from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from importlib import resources
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ._checks import (check_image_batch, check_number, check_one_of, check_positive_int,
                      check_positive_number, check_ranges)
from .color import ColorSpace, _unit_rgb, get_color_space, rgb_to_lab

DECODE_MODES = ("centre", "mean", "annealed")
ANNEALED_TEMPERATURE = 0.38  # Zhang et al. 2016, annealed-mean decoding
DEFAULT_GRID = 12  # the target grid of the paper and the poster
PUBLISHED_GAMUT_FILE = "zhang2016_ab_gamut_313.npy"
GAMUT_RULES = ("corners", "nearest")
UPSAMPLE_MODES = ("nearest", "bilinear")  # how a grid is brought back to the image (:func:`upsample_map`)
_SRGB_AB_BOUND = 130.0  # |a|, |b| of every sRGB colour is below this (about 108 at most)


# Shared checks
def _check_float_batch(x: torch.Tensor, channels: int | None) -> None:
    check_image_batch(x, "x", channels=channels)
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor of channel values, got dtype {x.dtype}")


def check_decoding(mode: str, temperature: float) -> None:
    """ValueError unless ``mode`` is one of :data:`DECODE_MODES` and ``temperature`` a finite number > 0."""
    check_one_of(mode, "mode", DECODE_MODES)
    check_positive_number(temperature, "temperature")


def _check_classes(y: torch.Tensor, num_classes: int, name: str = "y") -> None:
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(y).__name__}")
    if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise ValueError(f"{name} class map must be an integer tensor, got dtype {y.dtype}")
    if y.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(y.shape)}")
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f"{name} class indices must lie in [0, {num_classes}), got values in [{low}, {high}]")


def _as_bins(bins: int | Sequence[int], channels: int | None) -> tuple[int, ...]:
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        bins = (bins,) * (1 if channels is None else channels)
    bins = tuple(bins)
    if len(bins) == 0:
        raise ValueError("bins must name at least one channel, got an empty sequence")
    if channels is not None and len(bins) != channels:
        raise ValueError(f"bins must have one entry per channel ({channels}), got {len(bins)}")
    return tuple(check_positive_int(count, f"bins[{i}]") for i, count in enumerate(bins))


def _as_floats(values: float | Sequence[float], name: str) -> tuple[float, ...]:
    if isinstance(values, (int, float, np.floating, np.integer)) and not isinstance(values, bool):
        return (float(values),)
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a number or a sequence of numbers, got {values!r}") from error


# Quantizers
class Quantizer:
    """Base class: a finite set of ``num_classes`` centres in a ``channels``-dimensional space.

    Subclasses define :meth:`encode`, :meth:`centres` and (for per-image bins)
    :meth:`image_ranges`; decoding is shared.
    """

    channels: int
    num_classes: int
    per_image_ranges: bool = False

    def image_ranges(self, x: torch.Tensor) -> torch.Tensor | None:
        """Per-image (low, high) of each channel, (N, C, 2); None for fixed bins."""
        _check_float_batch(x, self.channels)
        return None

    def centres(self, ranges: torch.Tensor | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def encode(self, x: torch.Tensor, ranges: torch.Tensor | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _checked_ranges(self, ranges: torch.Tensor | None, n: int) -> torch.Tensor | None:
        """Fixed bins take no ranges; per-image bins override this to require them."""
        if ranges is not None:
            raise ValueError(f"ranges must be None for {type(self).__name__} (its bins are fixed), "
                             f"got a {type(ranges).__name__}")
        return None

    def decode(self, y: torch.Tensor, mode: str = "centre", temperature: float = ANNEALED_TEMPERATURE,
               ranges: torch.Tensor | None = None) -> torch.Tensor:
        """Map classes or logits back to channel values.

        Args:
            y: a class map (N, H, W) of integers in [0, num_classes), decoded to the bin centres
                (every ``mode`` gives the centre then: a class map is a one-hot distribution);
                or logits (N, num_classes, H, W) float, decoded by ``mode``:
                "centre" the centre of the argmax class (the mode of the distribution),
                "mean" the softmax-weighted mean of the centres,
                "annealed" the mean under softmax(logits / temperature) (Zhang et al. 2016,
                T = 0.38; T -> 0 approaches "centre", T = 1 is "mean").
            temperature: > 0, used by "annealed".
            ranges: (N, C, 2) per-image (low, high), required by per-image bins
                (:class:`RescaledQuantizer`), None for fixed bins.
        Returns:
            (N, C, H, W) float channel values (float32, or the logits' dtype).
        """
        check_decoding(mode, temperature)
        if not isinstance(y, torch.Tensor):
            raise ValueError(f"y must be a torch.Tensor, got {type(y).__name__}")
        if y.is_floating_point():
            check_image_batch(y, "y", channels=self.num_classes)
            ranges = self._checked_ranges(ranges, y.shape[0])
            if mode == "centre":
                return self._centres_of(y.argmax(dim=1), ranges, y.dtype)
            temperature = 1.0 if mode == "mean" else float(temperature)
            probabilities = torch.softmax(y / temperature, dim=1)
            centres = self.centres(ranges).to(device=y.device, dtype=y.dtype)
            pattern = "nkhw,kc->nchw" if centres.dim() == 2 else "nkhw,nkc->nchw"
            return torch.einsum(pattern, probabilities, centres)
        if y.dim() != 3:
            raise ValueError(f"y must be a class map (N, H, W) of integers or logits (N, {self.num_classes}, H, W), "
                             f"got shape {tuple(y.shape)} and dtype {y.dtype}")
        _check_classes(y, self.num_classes)
        ranges = self._checked_ranges(ranges, y.shape[0])
        return self._centres_of(y.long(), ranges, torch.float32 if ranges is None else ranges.dtype)

    def _centres_of(self, classes: torch.Tensor, ranges: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
        """(N, H, W) classes -> (N, C, H, W) centres."""
        centres = self.centres(ranges).to(device=classes.device, dtype=dtype)
        if centres.dim() == 2:
            values = centres[classes]
        else:
            batch = torch.arange(classes.shape[0], device=classes.device).view(-1, 1, 1)
            values = centres[batch, classes]
        return values.permute(0, 3, 1, 2).contiguous()


class _PerChannelBins(Quantizer):
    """Uniform bins per channel between (low, high), combined into one joint class.

    Bin i of a channel covers [low + i*w, low + (i+1)*w) with w = (high - low) / bins, the
    binning of ``numpy.digitize(x, numpy.linspace(low, high, bins + 1)) - 1``; values below low
    go to bin 0 and values at or above high to the last bin. The joint class is row-major, the
    first channel most significant: for bins (10, 10), class = bin_0 * 10 + bin_1.
    """

    def __init__(self, bins: tuple[int, ...]):
        self.bins = bins
        self.channels = len(bins)
        self.num_classes = int(np.prod(bins))
        # stride of each channel's bin index in the joint class
        self._strides = tuple(int(np.prod(bins[c + 1:])) for c in range(len(bins)))

    def _low_width(self, ranges: torch.Tensor | None, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(low, width) as (1 or N, C) tensors."""
        raise NotImplementedError  # pragma: no cover

    def _bin_indices(self, x: torch.Tensor, ranges: torch.Tensor | None) -> torch.Tensor:
        """(N, C, H, W) values -> (N, C, H, W) long per-channel bin indices."""
        dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
        x = x.to(dtype)
        low, width = self._low_width(ranges, x.device, dtype)
        low, width = low[:, :, None, None], width[:, :, None, None]
        last = torch.tensor(self.bins, device=x.device, dtype=dtype).view(1, -1, 1, 1) - 1
        index = torch.floor((x - low) / width).clamp_min(0).minimum(last)
        # floor((x - low) / w) can be off by one next to an edge through rounding; compare with
        # the edges themselves, computed as numpy.linspace does (low + i * w).
        index = torch.where(x < low + index * width, index - 1, index)
        index = torch.where(x >= low + (index + 1) * width, index + 1, index)
        return index.clamp_min(0).minimum(last).long()

    def encode(self, x: torch.Tensor, ranges: torch.Tensor | None = None) -> torch.Tensor:
        """Channel values (N, C, H, W) float -> joint classes (N, H, W) long in [0, num_classes).

        ``ranges``: per-image (N, C, 2) (low, high) for per-image bins, None for fixed bins
        (a :class:`RescaledQuantizer` computes them from ``x`` when None).
        """
        _check_float_batch(x, self.channels)
        if ranges is None and self.per_image_ranges:
            ranges = self.image_ranges(x)
        index = self._bin_indices(x, self._checked_ranges(ranges, x.shape[0]))
        strides = torch.tensor(self._strides, device=x.device).view(1, -1, 1, 1)
        return (index * strides).sum(dim=1)

    def centres(self, ranges: torch.Tensor | None = None) -> torch.Tensor:
        """Bin centres in class order: (K, C) float32, or (N, K, C) with per-image ranges."""
        ranges = self._checked_ranges(ranges, ranges.shape[0] if isinstance(ranges, torch.Tensor) else 1)
        device, dtype = (None, torch.float32) if ranges is None else (ranges.device, ranges.dtype)
        low, width = self._low_width(ranges, device, dtype)  # (B, C)
        grids = torch.meshgrid(*[torch.arange(b, device=device, dtype=dtype) + 0.5 for b in self.bins], indexing="ij")
        offsets = torch.stack([g.reshape(-1) for g in grids], dim=1)  # (K, C) in bin units
        centres = low[:, None, :] + offsets[None] * width[:, None, :]  # (B, K, C)
        return centres[0] if ranges is None else centres

    def bin_widths(self, ranges: torch.Tensor | None = None) -> torch.Tensor:
        """Bin width per channel: (C,) for fixed bins, (N, C) with per-image ranges."""
        ranges = self._checked_ranges(ranges, ranges.shape[0] if isinstance(ranges, torch.Tensor) else 1)
        _, width = self._low_width(ranges, None if ranges is None else ranges.device, torch.float64)
        return width[0] if ranges is None else width


class UniformQuantizer(_PerChannelBins):
    """Fixed uniform bins per channel (the poster's default bins).

    ``bins`` is a sequence, or one int for every channel of ``low``; per channel low < high, bin i
    covers [low + i*w, low + (i+1)*w), w = (high - low) / bins, values outside clamp to the end
    bins. The poster's ab bins, ``UniformQuantizer([10, 10], [-87, -108], [99, 95])``, make 100
    joint classes, class = a_bin * 10 + b_bin.
    """

    def __init__(self, bins: int | Sequence[int], low: float | Sequence[float], high: float | Sequence[float]):
        low, high = _as_floats(low, "low"), _as_floats(high, "high")
        check_ranges(low, high, "low/high")
        super().__init__(_as_bins(bins, len(low)))
        self.low, self.high = low, high

    def _low_width(self, ranges, device, dtype):
        low, high, bins = (torch.tensor(v, device=device, dtype=dtype) for v in (self.low, self.high, self.bins))
        return low[None], ((high - low) / bins)[None]

    def __repr__(self) -> str:
        return f"UniformQuantizer(bins={list(self.bins)}, low={list(self.low)}, high={list(self.high)})"


class RescaledQuantizer(_PerChannelBins):
    """Per-image uniform bins: the poster's "re-scaled Lab".

    For each image and channel the bins span [min, max + margin] of that image's values (the
    poster's "+1": margin 1.0), so the classes say where a pixel lies within the image's own
    colour range. A constant channel (min == max) still gets a valid range of width ``margin``.
    The class alone cannot be decoded: keep the ranges (:meth:`image_ranges`) and pass them to
    :meth:`decode` and :meth:`centres`. ``bins``: per channel (an int means one channel).
    """

    per_image_ranges = True

    def __init__(self, bins: int | Sequence[int], margin: float = 1.0):
        check_positive_number(margin, "margin")
        super().__init__(_as_bins(bins, None))
        self.margin = float(margin)

    def image_ranges(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) float -> (N, C, 2): (min, max + margin) of each image and channel."""
        _check_float_batch(x, self.channels)
        x = x.detach()
        return torch.stack([x.amin(dim=(2, 3)), x.amax(dim=(2, 3)) + self.margin], dim=-1)

    def _checked_ranges(self, ranges, n):
        if ranges is None:
            raise ValueError("ranges is required by RescaledQuantizer: pass the per-image (N, C, 2) (low, high) "
                             "returned by image_ranges() (or by downsample_targets) for the images encoded")
        if not isinstance(ranges, torch.Tensor):
            raise ValueError(f"ranges must be a torch.Tensor of shape (N, C, 2), got {type(ranges).__name__}")
        if ranges.dim() != 3 or ranges.shape[1:] != (self.channels, 2) or ranges.shape[0] != n:
            raise ValueError(f"ranges must have shape (N, C, 2) = ({n}, {self.channels}, 2), got {tuple(ranges.shape)}")
        if not ranges.is_floating_point():
            ranges = ranges.float()
        if not bool(torch.isfinite(ranges).all()):
            raise ValueError("ranges contains NaN or infinite values")
        if not bool((ranges[..., 0] < ranges[..., 1]).all()):
            raise ValueError("ranges needs low < high for every image and channel (ranges[..., 0] < ranges[..., 1])")
        return ranges

    def _low_width(self, ranges, device, dtype):
        ranges = ranges.to(device=device, dtype=dtype)
        bins = torch.tensor(self.bins, device=ranges.device, dtype=dtype)
        return ranges[..., 0], (ranges[..., 1] - ranges[..., 0]) / bins

    def __repr__(self) -> str:
        return f"RescaledQuantizer(bins={list(self.bins)}, margin={self.margin})"


class GamutQuantizer(Quantizer):
    """Nearest-point quantizer over a fixed set of points, e.g. in-gamut ab bins.

    ``encode`` assigns each pixel the index of its nearest point (Euclidean; on an exact tie the
    lower index), as Zhang et al. (2016) do with their 313 ab bins; values outside the set's hull
    go to the nearest point. Centres are the points themselves: ``points`` is a (K, C) array-like
    of finite, distinct points (for ab bins C = 2, in Lab units).
    """

    def __init__(self, points):
        array = np.asarray(points, dtype=np.float64)
        if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
            raise ValueError(f"points must have shape (K, C) with K, C >= 1, got shape {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError("points contains NaN or infinite values")
        if len(np.unique(array, axis=0)) != len(array):
            raise ValueError("points must be distinct, got repeated points")
        self.points = torch.as_tensor(array, dtype=torch.float32)
        self.num_classes, self.channels = array.shape

    @classmethod
    def published(cls) -> "GamutQuantizer":
        """The 313 ab bins of Zhang et al. (ECCV 2016), shipped with the package.

        Grid size 10, a in [-90, 100], b in [-110, 100], sorted by a then b (the order of the
        authors' ``pts_in_hull.npy``; see ``splitbrain/assets/README.md``).
        """
        return cls(published_gamut_points())

    @classmethod
    def derived(cls, grid: int = 10, rule: str = "corners") -> "GamutQuantizer":
        """ab bins derived from the sRGB gamut by this package: see :func:`derived_gamut_points`."""
        return cls(derived_gamut_points(grid, rule))

    def centres(self, ranges: torch.Tensor | None = None) -> torch.Tensor:
        """(K, C) float32 points, in class order."""
        self._checked_ranges(ranges, 1)
        return self.points.clone()

    def encode(self, x: torch.Tensor, ranges: torch.Tensor | None = None, chunk: int = 16384) -> torch.Tensor:
        """(N, C, H, W) float -> (N, H, W) long index of the nearest point."""
        _check_float_batch(x, self.channels)
        self._checked_ranges(ranges, x.shape[0])
        n, c, h, w = x.shape
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        flat = x.detach().to(dtype).permute(0, 2, 3, 1).reshape(-1, c)
        points = self.points.to(device=x.device, dtype=dtype)
        # squared differences computed directly (not cdist's matmul form) so near-ties resolve exactly
        nearest = [((part[:, None, :] - points[None]) ** 2).sum(-1).argmin(dim=1) for part in flat.split(chunk)]
        return torch.cat(nearest).view(n, h, w)

    def __repr__(self) -> str:
        return f"GamutQuantizer(num_classes={self.num_classes}, channels={self.channels})"


# Gamut bin sets
def published_gamut_points() -> np.ndarray:
    """The 313 published ab bins (Zhang et al. 2016) as a (313, 2) int64 array, read from the package."""
    data = resources.files("splitbrain").joinpath("assets", PUBLISHED_GAMUT_FILE).read_bytes()
    return np.load(io.BytesIO(data))


@functools.lru_cache(maxsize=8)
def _srgb_ab_occupancy(grid: int) -> tuple[frozenset, frozenset]:
    """Sweep all 2^24 8-bit sRGB colours once: (cells hit, nearest grid points hit).

    Cells are (i, j) with a in [grid*i, grid*(i+1)) and b in [grid*j, grid*(j+1)); nearest grid
    points are (i, j) = (round(a / grid), round(b / grid)).
    """
    levels = torch.arange(256, dtype=torch.uint8)
    reds_per_chunk = 64  # 4M colours per rgb_to_lab call: few calls, a few hundred MB at most
    offset = math.ceil(_SRGB_AB_BOUND / grid) + 1
    hits = torch.zeros(2, 2 * offset + 1, 2 * offset + 1, dtype=torch.bool)  # (cells, nearest)
    with torch.no_grad():
        for red in range(0, 256, reds_per_chunk):
            r, g, b = torch.meshgrid(levels[red:red + reds_per_chunk], levels, levels, indexing="ij")
            rgb = torch.stack([r, g, b]).reshape(1, 3, reds_per_chunk * 256, 256)
            ab = rgb_to_lab(rgb)[0, 1:].reshape(2, -1) / grid
            for k, index in enumerate((torch.floor(ab), torch.round(ab))):
                index = index.long() + offset
                hits[k, index[0], index[1]] = True
    cells, nearest = ((hits[k].nonzero() - offset).tolist() for k in range(2))
    return frozenset(map(tuple, cells)), frozenset(map(tuple, nearest))


def derived_gamut_points(grid: int = 10, rule: str = "corners") -> np.ndarray:
    """ab grid points of the sRGB gamut, derived by this package: (K, 2) int64, sorted by a, b.

    The grid points are (a, b) = (grid * i, grid * j) for integers i, j, in CIE Lab (D65,
    :func:`splitbrain.color.rgb_to_lab`), found by a sweep of all 2^24 8-bit sRGB colours (2-4 s
    once, then cached per grid).

    Rules:
        "corners" (default): keep (A, B) when some colour has A - grid <= a < A + grid and
            B - grid <= b < B + grid (a corner of a grid cell holding a colour): the bins a colour
            can be softly encoded to by bilinear interpolation between grid points.
        "nearest": keep the grid points that some colour rounds to (round(a / grid) * grid,
            round(b / grid) * grid).

    With grid 10: "corners" gives 309 points, every one of them in the published 313 bins
    (:meth:`GamutQuantizer.published`); the published set has 4 more, (40, 90), (100, -90),
    (100, -10) and (100, 0), whose neighbouring cells hold no 8-bit sRGB colour. "nearest"
    gives 261 points, all among the published ones.
    """
    check_positive_int(grid, "grid")
    check_one_of(rule, "rule", GAMUT_RULES)
    cells, nearest = _srgb_ab_occupancy(grid)
    if rule == "corners":
        indices = {(i + di, j + dj) for i, j in cells for di in (0, 1) for dj in (0, 1)}
    else:
        indices = set(nearest)
    return np.array(sorted(indices), dtype=np.int64).reshape(-1, 2) * grid


# Target grid
def downsample(x: torch.Tensor, grid: int = DEFAULT_GRID) -> torch.Tensor:
    """Area-average channel values (N, C, H, W) float, H, W >= grid, down to (N, C, grid, grid).

    Same dtype and device. Each output cell is the mean of the input pixels it covers
    (``F.adaptive_avg_pool2d``; exact block means when H and W are multiples of grid). The poster
    used skimage's anti-aliased resize instead (a Gaussian prefilter and interpolation), which
    gives slightly smoother values.
    """
    _check_float_batch(x, None)
    check_positive_int(grid, "grid")
    height, width = x.shape[-2:]
    if grid > min(height, width):
        raise ValueError(f"grid must not exceed the image size: grid={grid}, x has H, W = {height}, {width}")
    return F.adaptive_avg_pool2d(x, grid)


def downsample_targets(x: torch.Tensor, quantizer: Quantizer, grid: int = DEFAULT_GRID
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Downsample a channel group (N, C, H, W) float (e.g. ab in Lab units) to the grid and quantize it.

    Returns (classes (N, grid, grid) long, ranges): ranges are the per-image (N, C, 2) ranges of
    the *downsampled* values for a per-image quantizer (what the poster bins between), else None.
    """
    small = downsample(x, grid)
    ranges = quantizer.image_ranges(small)
    return quantizer.encode(small, ranges), ranges


# Class rebalancing (Zhang et al. 2016)
def class_distribution(classes: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Empirical class frequencies: (num_classes,) float64 summing to 1.

    ``classes``: integer tensor of any shape (e.g. (N, H, W) targets), values in [0, num_classes).
    """
    check_positive_int(num_classes, "num_classes")
    _check_classes(classes, num_classes, "classes")
    counts = torch.bincount(classes.reshape(-1).long(), minlength=num_classes).double()
    return counts / counts.sum()


def _normalised(values, name: str) -> torch.Tensor:
    """``values`` as float64 summing to 1; ValueError unless finite, non-negative, with a positive sum."""
    p = torch.as_tensor(values, dtype=torch.float64)
    if not bool(torch.isfinite(p).all()) or bool((p < 0).any()) or float(p.sum()) <= 0:
        raise ValueError(f"{name} must be finite, non-negative and have a positive sum")
    return p / p.sum()


def smooth_distribution(prior: torch.Tensor, centres: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """Gaussian-smooth a distribution over bins: (K,) float64 summing to 1.

    Each bin's mass is spread over the bins with weights exp(-|c_q - c_j|^2 / (2 sigma^2)),
    normalised per source bin, so mass is preserved. ``centres`` (K, C) are in the channels'
    units (ab units for colour bins; Zhang et al. 2016 use sigma = 5). sigma = 0 returns the
    normalised prior.
    """
    prior = torch.as_tensor(prior, dtype=torch.float64)
    centres = torch.as_tensor(centres, dtype=torch.float64).to(prior.device)
    if prior.dim() != 1 or prior.numel() == 0:
        raise ValueError(f"prior must have shape (K,) with K >= 1, got shape {tuple(prior.shape)}")
    if centres.dim() == 1:
        centres = centres[:, None]
    if centres.dim() != 2 or centres.shape[0] != prior.shape[0]:
        raise ValueError(f"centres must have shape (K, C) with K = {prior.shape[0]} (the length of prior), "
                         f"got shape {tuple(centres.shape)}")
    if not bool(torch.isfinite(centres).all()):
        raise ValueError("centres contains NaN or infinite values")
    prior = _normalised(prior, "prior")
    if check_number(sigma, "sigma", inclusive=True) == 0:
        return prior
    kernel = torch.exp(-torch.cdist(centres, centres) ** 2 / (2 * sigma**2))  # kernel[q, j]
    kernel = kernel / kernel.sum(dim=0, keepdim=True)
    smoothed = kernel @ prior
    return smoothed / smoothed.sum()


def rebalancing_weights(prior: torch.Tensor, centres: torch.Tensor, lam: float = 0.5,
                        sigma: float = 5.0) -> torch.Tensor:
    """Class-rebalancing weights of Zhang et al. (2016): (K,) float64, all > 0.

    p~ = the prior (K,) of non-negative bin frequencies (e.g. :func:`class_distribution`)
    smoothed by :func:`smooth_distribution` (sigma >= 0, in the centres' units, 5 in the paper);
    w_q proportional to 1 / ((1 - lam) p~_q + lam / K), 0 < lam <= 1 (0.5 in the paper), scaled
    so that sum_q p~_q w_q = 1. Rare bins weigh more; lam = 1 gives all ones. Pass the weights to
    ``torch.nn.CrossEntropyLoss(weight=...)``; the package's default loss stays unweighted, as in
    the split-brain paper.

    ``centres`` (K, C) are the bin centres (``quantizer.centres()``). Per-image bins have no fixed
    centre set to smooth over (their centres move from image to image): pass sigma = 0 or centres
    in bin units.
    """
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not (0 < lam <= 1):
        raise ValueError(f"lam must be a number in (0, 1], got {lam!r}")
    smoothed = smooth_distribution(prior, centres, sigma)
    weights = 1.0 / ((1 - lam) * smoothed + lam / smoothed.numel())
    return weights / (smoothed * weights).sum()


# Perceptual quantization error
def delta_e_2000(rgb1: torch.Tensor, rgb2: torch.Tensor) -> torch.Tensor:
    """Mean CIEDE2000 colour difference per image of two (N, 3, H, W) sRGB batches of the same shape.

    The inputs are float in [0, 1] or uint8 in [0, 255]. Returns (N,) float64 on the CPU: the mean
    over pixels of CIEDE2000 between the two images' CIE Lab values (D65,
    :func:`splitbrain.color.rgb_to_lab`), computed by colour-science
    (``colour.delta_E(..., method="CIE 2000")``). About 1 is a just-noticeable difference.
    """
    import colour  # imported here: colour-science is slow to import and only this needs it

    first, second = _unit_rgb(rgb1, "rgb1", torch.float64), _unit_rgb(rgb2, "rgb2", torch.float64)
    if first.shape != second.shape:
        raise ValueError(f"rgb1 and rgb2 must have the same shape, got {tuple(first.shape)} and {tuple(second.shape)}")
    lab1, lab2 = (rgb_to_lab(unit.cpu()).permute(0, 2, 3, 1).numpy() for unit in (first, second))  # (N, H, W, 3)
    difference = colour.delta_E(lab1, lab2, method="CIE 2000")  # (N, H, W)
    return torch.from_numpy(np.asarray(difference, dtype=np.float64).reshape(len(lab1), -1).mean(axis=1))


@dataclass
class QuantizationError:
    """What quantizing a colour space's group 2 costs, per image.

    delta_e: (N,) float64, mean CIEDE2000 between the original and the reconstruction.
    reconstruction: (N, 3, H, W) RGB in [0, 1]: group 1 kept, group 2 quantized and decoded to
        bin centres (and, with a grid, upsampled back to H x W).
    downsampled: (N, 3, H, W) RGB in [0, 1]: group 2 area-averaged to the grid and upsampled back
        without quantization (the poster's "downsampled" row); None without a grid.
    classes: (N, h, w) long, the classes of group 2 (h = w = grid with a grid).
    ranges: (N, 2, 2) per-image ranges for per-image bins, else None.
    """

    delta_e: torch.Tensor
    reconstruction: torch.Tensor
    downsampled: torch.Tensor | None
    classes: torch.Tensor
    ranges: torch.Tensor | None

    @property
    def mean(self) -> float:
        """Mean CIEDE2000 over the batch."""
        return float(self.delta_e.mean())


def quantization_error(rgb: torch.Tensor, quantizer: str | Quantizer = "lab", grid: int | None = None,
                       space: str | ColorSpace | None = None, upsample: str = "nearest") -> QuantizationError:
    """Quantize group 2 of a colour space (ab, or GB), reconstruct the image and measure CIEDE2000.

    ``rgb`` is (N, 3, H, W) sRGB, float in [0, 1] or uint8; group 1 (L, or R) is kept at full
    resolution.

    Args:
        quantizer: a colour space name ("lab", "rescaled_lab", "rgb"), meaning the poster's
            group-2 quantizer for it (:func:`poster_quantizers`), or a quantizer for group 2
            (then ``space``, a name or ColorSpace, says which colour space, default "lab").
        grid: None quantizes every pixel. An int reproduces the poster's figure "original /
            downsampled / reconstruction": group 2 is area-averaged to grid x grid
            (:func:`downsample`), quantized (per-image ranges from the downsampled values, as in
            training), decoded to bin centres and upsampled back to H x W.
        upsample: "nearest" (each grid cell a flat block, showing the target exactly) or
            "bilinear" (``F.interpolate``, align_corners=False: smoother, closer to the image).
    """
    if isinstance(quantizer, str):
        if space is not None:
            raise ValueError("space must be None when quantizer is a colour space name (it names the space)")
        space, quantizer = quantizer, poster_quantizers(quantizer)[1]
    elif not isinstance(quantizer, Quantizer):
        raise ValueError(f"quantizer must be a colour space name or a Quantizer, got {type(quantizer).__name__}")
    space = get_color_space(space or "lab")
    check_one_of(upsample, "upsample", UPSAMPLE_MODES)
    unit_rgb = _unit_rgb(rgb, "rgb", torch.float32)
    group1, group2 = space.split(space.from_rgb(unit_rgb))
    if quantizer.channels != group2.shape[1]:
        raise ValueError(f"quantizer must have {group2.shape[1]} channels for group 2 of {space.name!r}, "
                         f"got {quantizer.channels}")
    size = tuple(group2.shape[-2:])
    downsampled = None
    with torch.no_grad():
        if grid is None:
            target = group2
        else:
            target = downsample(group2, grid)
            downsampled = space.to_rgb(space.merge(group1, upsample_map(target, size, upsample)))
        ranges = quantizer.image_ranges(target)
        classes = quantizer.encode(target, ranges)
        decoded = quantizer.decode(classes, ranges=ranges).to(target.dtype)
        if grid is not None:
            decoded = upsample_map(decoded, size, upsample)
        reconstruction = space.to_rgb(space.merge(group1, decoded))
    return QuantizationError(delta_e=delta_e_2000(unit_rgb, reconstruction), reconstruction=reconstruction,
                             downsampled=downsampled, classes=classes, ranges=ranges)


def upsample_map(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """A map of values (N, C, g, g) brought to ``size`` (H, W): ``mode`` "nearest" repeats each cell,
    "bilinear" interpolates (half-pixel centres, ``align_corners=False``)."""
    if check_one_of(mode, "upsample", UPSAMPLE_MODES) == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


# The poster's presets
def poster_quantizers(space_name: str, bins1: int = 100, bins2: int = 10) -> tuple[_PerChannelBins, _PerChannelBins]:
    """The poster's quantizers (q1, q2) for group 1 and group 2 of a colour space.

    "lab": L in ``bins1`` bins over [0, 101]; a, b in ``bins2`` bins each over [-87, 99] and
    [-108, 95] (``bins2 ** 2`` joint classes). "rescaled_lab": L as in "lab"; a, b in ``bins2``
    bins each between every image's min and max + 1. "rgb": R in ``bins1`` bins, G and B in
    ``bins2`` bins each, all over [0, 1.01]. Ranges come from
    ``get_color_space(space_name).value_ranges``.
    """
    check_positive_int(bins1, "bins1")
    check_positive_int(bins2, "bins2")
    space = get_color_space(space_name)
    (first,), second = space.groups
    low1, high1 = space.value_ranges[first]
    quantizer1 = UniformQuantizer([bins1], [low1], [high1])
    if space.per_image_ranges:
        quantizer2 = RescaledQuantizer([bins2] * len(second), margin=1.0)
    else:
        low2, high2 = zip(*(space.value_ranges[c] for c in second))
        quantizer2 = UniformQuantizer([bins2] * len(second), low2, high2)
    return quantizer1, quantizer2


def entropy_bits(distribution) -> float:
    """Shannon entropy in bits of a distribution over classes, (K,) non-negative (normalised here)."""
    p = _normalised(distribution, "distribution").reshape(-1)
    p = p[p > 0]
    return float(-(p * p.log2()).sum())


def class_statistics(classes: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: how many distinct classes it uses, and the entropy of its class histogram.

    ``classes``: (N, H, W) integer class maps in [0, K = num_classes) (e.g. 12x12 targets).
    Returns (distinct (N,) int64 in [1, min(K, H*W)], entropy (N,) float64 in bits, in
    [0, log2 of distinct]).
    """
    check_positive_int(num_classes, "num_classes")
    _check_classes(classes, num_classes, "classes")
    if classes.dim() != 3:
        raise ValueError(f"classes must be a non-empty (N, H, W) tensor, got shape {tuple(classes.shape)}")
    flat = classes.reshape(classes.shape[0], -1).long()
    counts = torch.zeros(flat.shape[0], num_classes, dtype=torch.float64, device=flat.device)
    counts.scatter_add_(1, flat, torch.ones_like(flat, dtype=torch.float64))
    p = counts / counts.sum(dim=1, keepdim=True)
    entropy = -(torch.where(p > 0, p * p.clamp_min(1e-300).log2(), torch.zeros_like(p))).sum(dim=1)
    return (counts > 0).sum(dim=1), entropy.clamp_min(0.0)


def example_logits(ab: torch.Tensor, centres: torch.Tensor, prior: torch.Tensor, sigma: float = 10.0,
                   prior_weight: float = 0.5) -> torch.Tensor:
    """Logits (N, K, H, W) float32 (log-probabilities) of an illustrative, hedging "predictor".

    No network is involved. For each pixel of ``ab`` (N, 2, H, W), the true a*, b*, it puts
    ``1 - prior_weight`` of its belief (prior_weight in [0, 1)) on the bins near the true colour
    (a Gaussian of width ``sigma`` > 0, in ab units, over the bin centres (K, 2)) and
    ``prior_weight`` on the dataset's usual colours (``prior``, (K,) non-negative class
    frequencies, normalised here): what a colorizer that is unsure tends to do. Used to compare
    decoding rules on realistic, uncertain predictions.
    """
    check_image_batch(ab, "ab", channels=2)
    centres = torch.as_tensor(centres, dtype=torch.float64, device=ab.device)
    prior = torch.as_tensor(prior, dtype=torch.float64, device=ab.device).reshape(-1)
    if centres.dim() != 2 or centres.shape[1] != 2 or prior.numel() != centres.shape[0]:
        raise ValueError(f"centres must be (K, 2) and prior (K,), "
                         f"got shapes {tuple(centres.shape)} and {tuple(prior.shape)}")
    check_positive_number(sigma, "sigma")
    if not (isinstance(prior_weight, (int, float)) and 0 <= prior_weight < 1):
        raise ValueError(f"prior_weight must be a number in [0, 1), got {prior_weight!r}")
    values = ab.double().permute(0, 2, 3, 1)  # (N, H, W, 2)
    distance2 = ((values[..., None, :] - centres) ** 2).sum(-1)  # (N, H, W, K)
    near = torch.softmax(-distance2 / (2 * sigma**2), dim=-1)
    mixture = (1 - prior_weight) * near + prior_weight * prior / prior.sum()
    return mixture.clamp_min(1e-12).log().permute(0, 3, 1, 2).float().contiguous()
