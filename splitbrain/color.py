"""Colour conversion (sRGB <-> CIE L*a*b*) and the colour spaces a split-brain network can use.

``rgb_to_lab`` and ``lab_to_rgb`` work on channels-first torch tensors on any device, are
differentiable, and agree with colour-science (``colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb))``)
to 1e-4 in float64. A :class:`ColorSpace` bundles everything the training code needs to know
about "lab", "rescaled_lab" and "rgb" (conversion, channel groups, bin ranges, input scaling),
so that code never branches on the colour-space name.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from ._checks import check_image_batch, check_int, check_one_of, check_positive_number

__all__ = ["RGB_TO_XYZ", "D65_WHITE", "rgb_to_lab", "lab_to_rgb", "ColorSpace", "COLOR_SPACES", "get_color_space"]

# Linear sRGB -> CIE XYZ, the four-decimal matrix of IEC 61966-2-1. It is the matrix colour-science
# uses (colour.RGB_COLOURSPACES["sRGB"].matrix_RGB_to_XYZ); scikit-image uses a six-decimal variant.
RGB_TO_XYZ = (
    (0.4124, 0.3576, 0.1805),
    (0.2126, 0.7152, 0.0722),
    (0.0193, 0.1192, 0.9505),
)
# D65 reference white (Xn, Yn, Zn) for L*a*b*: the chromaticity x, y = (0.3127, 0.3290) of
# IEC 61966-2-1 at Y = 1, which is what colour.XYZ_to_Lab uses by default. The matrix rows sum to
# (0.9505, 1, 1.089) instead, so RGB white lands at a* = 0.008, b* = 0.004 rather than exactly 0
# (colour-science gives the same values).
D65_WHITE = (0.3127 / 0.3290, 1.0, (1.0 - 0.3127 - 0.3290) / 0.3290)

_SRGB_KNEE = 0.04045  # encoded value where the sRGB curve switches from linear to power
_LINEAR_KNEE = 0.0031308  # the same point in linear light (the two pieces meet only to ~3e-8)
_DELTA = 6.0 / 29.0  # CIE 1976: f(t) is linear for t <= DELTA**3

_RGB_DTYPES = (torch.uint8, torch.float32, torch.float64)
_FLOAT_DTYPES = (torch.float32, torch.float64)


def _check_image(x: torch.Tensor, name: str, allowed: tuple[torch.dtype, ...], check_finite: bool = True) -> None:
    """ValueError unless ``x`` is an (N, 3, H, W) or (3, H, W) image of an ``allowed`` dtype."""
    check_image_batch(x, name, channels=3, allow_unbatched=True, check_finite=check_finite)
    if x.dtype not in allowed:
        names = ", ".join(str(d).replace("torch.", "") for d in allowed)
        raise ValueError(f"{name} must have dtype {names}, got {str(x.dtype).replace('torch.', '')}")


def _srgb_decode(encoded: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded values -> linear light (IEC 61966-2-1 transfer function)."""
    # Clamping the power branch's argument keeps its value and gradient finite where it is not
    # selected (torch.where differentiates both branches).
    power = ((encoded.clamp_min(_SRGB_KNEE) + 0.055) / 1.055) ** 2.4
    return torch.where(encoded <= _SRGB_KNEE, encoded / 12.92, power)


def _srgb_encode(linear: torch.Tensor) -> torch.Tensor:
    """Linear light -> sRGB-encoded values (inverse of :func:`_srgb_decode`)."""
    p = linear.clamp_min(_LINEAR_KNEE) ** (1.0 / 2.4)
    power = p + 0.055 * (p - 1.0)  # = 1.055 p - 0.055, but exactly 1 at p = 1 (white stays 255)
    return torch.where(linear <= _LINEAR_KNEE, 12.92 * linear, power)


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    """CIE 1976 f(t): cube root above DELTA**3, a linear segment below it."""
    # The linear segment is the cube root's tangent at DELTA**3 and the cube root is concave, so
    # f is the smaller of the two everywhere: one minimum instead of selecting between branches.
    cube_root = t.clamp_min(_DELTA**3) ** (1.0 / 3.0)  # clamp: d/dt t^(1/3) is infinite at 0
    return torch.minimum(cube_root, t / (3 * _DELTA**2) + 4.0 / 29.0)


def _lab_f_inverse(f: torch.Tensor) -> torch.Tensor:
    return torch.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4.0 / 29.0))


@functools.lru_cache(maxsize=None)
def _matrices(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(linear RGB -> XYZ/white, its inverse) as (3, 3) tensors, computed in float64 once per device/dtype."""
    with torch.inference_mode(False):  # a cached inference tensor would break later autograd use
        to_xyz = torch.tensor(RGB_TO_XYZ, dtype=torch.float64) / torch.tensor(D65_WHITE, dtype=torch.float64)[:, None]
        return to_xyz.to(device, dtype), torch.linalg.inv(to_xyz).to(device, dtype)


@functools.lru_cache(maxsize=None)
def _srgb_decode_table(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(256,) linear light of the 8-bit sRGB codes 0..255, computed in float64 once per device/dtype."""
    with torch.inference_mode(False):
        return _srgb_decode(torch.arange(256, dtype=torch.float64) / 255.0).to(device, dtype)


def _apply_matrix(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """(3, 3) matrix times every pixel of a (..., 3, H, W) image."""
    return torch.einsum("ij,...jhw->...ihw", matrix, image)


# L*a*b* as a linear map of (f(X/Xn), f(Y/Yn), f(Z/Zn)): L = 116 fy - 16, a = 500 (fx - fy),
# b = 200 (fy - fz).
_LAB_FROM_F = ((0.0, 116.0, 0.0), (500.0, -500.0, 0.0), (0.0, 200.0, -200.0))
_LAB_OFFSET = (-16.0, 0.0, 0.0)


@functools.lru_cache(maxsize=None)
def _lab_from_f(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(3, 3) matrix and (3, 1) offset taking f values to Lab, float32, cached per device."""
    with torch.inference_mode(False):
        return (torch.tensor(_LAB_FROM_F, device=device),
                torch.tensor(_LAB_OFFSET, device=device).view(3, 1))


def _uint8_rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 sRGB -> float32 Lab without autograd, the hot path of every pretraining step: a table
    lookup decodes sRGB and every later step works in place on one buffer."""
    shape = rgb.shape
    pixels = rgb.reshape(*shape[:-2], -1)  # (..., 3, H*W)
    table = _srgb_decode_table(rgb.device, torch.float32)
    linear = table.index_select(0, pixels.reshape(-1).int()).view(pixels.shape)
    to_xyz, _ = _matrices(rgb.device, torch.float32)
    xyz = torch.matmul(to_xyz, linear)
    # exp(log(t) / 3) is the cube root in vectorised kernels, about 2.5x faster than pow on the CPU.
    cube_root = xyz.clamp_min(_DELTA**3).log_().mul_(1.0 / 3.0).exp_()
    f = torch.minimum(cube_root, xyz.mul_(1.0 / (3 * _DELTA**2)).add_(4.0 / 29.0))
    matrix, offset = _lab_from_f(rgb.device)
    return torch.matmul(matrix, f).add_(offset).view(shape)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    r"""Convert sRGB images to CIE 1976 L*a*b* (D65 white).

    sRGB decoding follows IEC 61966-2-1; XYZ uses :data:`RGB_TO_XYZ` and the white :data:`D65_WHITE`.
    Differentiable for float input, with finite gradients everywhere (black and the piecewise
    knees included). uint8 input is decoded through a cached 256-entry table.

    ``rgb`` is an (N, 3, H, W) or (3, H, W) sRGB image, float32 or float64 in [0, 1], or uint8 in
    [0, 255], on any device. The result is Lab of the same shape and device; float32 for uint8
    input, else the input dtype. L in [0, 100]; for sRGB colours a in about [-86.2, 98.2] and b in
    about [-107.9, 94.5]. White gives (100, 0.0077, 0.0035) (see :data:`D65_WHITE`). Raises
    ValueError on a wrong rank, a channel count other than 3 (e.g. channels-last input), an empty
    tensor, NaN/inf, or a dtype other than uint8/float32/float64.
    """
    _check_image(rgb, "rgb", _RGB_DTYPES)
    if rgb.dtype == torch.uint8:
        return _uint8_rgb_to_lab(rgb)
    linear = _srgb_decode(rgb)
    to_xyz, _ = _matrices(linear.device, linear.dtype)
    fx, fy, fz = _lab_f(_apply_matrix(to_xyz, linear)).unbind(-3)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    r"""Convert CIE 1976 L*a*b* (D65 white) images to sRGB, the inverse of :func:`rgb_to_lab`.

    Lab values outside the sRGB gamut (e.g. L=50, a=120, b=-120, or L > 100) have no sRGB colour:
    they are **clipped** to [0, 1] per channel in linear light, so the result is always a valid
    image but does not round-trip for them (and the gradient through a clipped channel is 0).

    ``lab`` is an (N, 3, H, W) or (3, H, W) Lab image, float32 or float64, L nominally in
    [0, 100], on any device; the result is sRGB of the same shape, dtype and device, in [0, 1].
    Raises ValueError on a wrong rank, a channel count other than 3, an empty tensor, NaN/inf, or
    a dtype other than float32/float64.
    """
    _check_image(lab, "lab", _FLOAT_DTYPES)
    lightness, a, b = lab.unbind(-3)
    fy = (lightness + 16.0) / 116.0
    xyz = torch.stack([_lab_f_inverse(fy + a / 500.0), _lab_f_inverse(fy), _lab_f_inverse(fy - b / 200.0)], dim=-3)
    _, to_rgb = _matrices(lab.device, lab.dtype)
    linear = _apply_matrix(to_rgb, xyz).clamp(0.0, 1.0)
    return _srgb_encode(linear).clamp(0.0, 1.0)  # the second clamp only removes round-off


def _rgb_to_float(rgb: torch.Tensor) -> torch.Tensor:
    """Validated sRGB as float in [0, 1]: uint8 -> float32 / 255, float32/float64 unchanged."""
    _check_image(rgb, "rgb", _RGB_DTYPES)
    return rgb.float() / 255.0 if rgb.dtype == torch.uint8 else rgb


def _unit_rgb(rgb: torch.Tensor, name: str, dtype: torch.dtype, allow_unbatched: bool = False
              ) -> torch.Tensor:
    """Validated sRGB (N, 3, H, W) (or (3, H, W) with ``allow_unbatched``), uint8 in [0, 255] or
    float in [0, 1], as ``dtype``: uint8 divided by 255, floats converted as they are."""
    check_image_batch(rgb, name, channels=3, allow_unbatched=allow_unbatched)
    if rgb.dtype == torch.uint8:
        return rgb.to(dtype) / 255.0
    if not rgb.is_floating_point():
        raise ValueError(f"{name} must be uint8 in [0, 255] or float in [0, 1], got dtype {rgb.dtype}")
    return rgb.to(dtype)


def _clip_rgb(x: torch.Tensor) -> torch.Tensor:
    _check_image(x, "x", _FLOAT_DTYPES)
    return x.clamp(0.0, 1.0)


@dataclass(frozen=True)
class ColorSpace:
    """A colour space for split-brain training: conversion, channel groups, bins and input scaling.

    All tensors are channels-first, (N, 3, H, W) (or unbatched (3, H, W)), on any device.

    Attributes:
        name: "lab", "rescaled_lab" or "rgb".
        channel_names: ("L", "a", "b") or ("R", "G", "B").
        value_ranges: per channel (low, high), the poster's fixed quantization ranges:
            Lab L (0, 101), a (-87, 99), b (-108, 95); RGB (0, 1.01) each.
        per_image_ranges: True only for "rescaled_lab": group 2 (a, b) is binned between each
            image's own min and max instead of ``value_ranges``.
        norm_shift, norm_scale: per channel, ``normalize(x) = (x - norm_shift) / norm_scale``.
        from_rgb: sRGB (N, 3, H, W), uint8 in [0, 255] or float in [0, 1] -> this space's values:
            Lab (:func:`rgb_to_lab`) or RGB floats in [0, 1], float32 for uint8 input, else the
            input dtype.
        to_rgb: this space's values (N, 3, H, W) float -> sRGB float in [0, 1] (out-of-gamut clipped).
        groups: channel indices of group 1 and group 2, ((0,), (1, 2)).
    """

    name: str
    channel_names: tuple[str, str, str]
    value_ranges: tuple[tuple[float, float], ...]
    per_image_ranges: bool
    norm_shift: tuple[float, float, float]
    norm_scale: tuple[float, float, float]
    from_rgb: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)
    to_rgb: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)
    groups: tuple[tuple[int, ...], tuple[int, ...]] = ((0,), (1, 2))

    def __post_init__(self) -> None:
        first, second = self.groups
        if tuple(first) + tuple(second) != (0, 1, 2) or not first or not second:
            raise ValueError(f"groups must split the channels (0, 1, 2) in order into two runs, got {self.groups!r}")

    @property
    def group_channels(self) -> tuple[int, int]:
        """(c1, c2): the channel counts of group 1 and group 2 ((1, 2) for L | ab)."""
        return (len(self.groups[0]), len(self.groups[1]))

    def inputs(self, rgb: torch.Tensor) -> torch.Tensor:
        """sRGB (N, 3, H, W), uint8 in [0, 255] or float in [0, 1] -> the network's input: this
        space's values normalised to about [-1, 1] (:meth:`normalize`), float32 whatever the
        input's dtype (the networks' weights are float32; autocast lowers it where asked)."""
        return self.normalize(self.from_rgb(rgb)).float()

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) -> (group 1 (N, c1, H, W), group 2 (N, c2, H, W)), views of ``x``."""
        check_image_batch(x, "x", channels=3, allow_unbatched=True, check_finite=False)
        c1 = self.group_channels[0]
        return x[..., :c1, :, :], x[..., c1:, :, :]

    def merge(self, g1: torch.Tensor, g2: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`split`: (N, c1, H, W) and (N, c2, H, W) -> (N, 3, H, W)."""
        c1, c2 = self.group_channels
        check_image_batch(g1, "g1", channels=c1, allow_unbatched=True, check_finite=False)
        check_image_batch(g2, "g2", channels=c2, allow_unbatched=True, check_finite=False)
        if g1.shape[:-3] + g1.shape[-2:] != g2.shape[:-3] + g2.shape[-2:]:
            raise ValueError(f"g1 and g2 must have the same batch and spatial size, "
                             f"got {tuple(g1.shape)} and {tuple(g2.shape)}")
        return torch.cat([g1, g2], dim=-3)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Scale values (N, 3, H, W) float to network inputs, roughly in [-1, 1].

        Lab: ((L - 50) / 50, a / 110, b / 110); RGB: 2 x - 1. Same shape, dtype and device.
        (No NaN check here, to keep the training step free of device synchronisation.)
        """
        shift, scale = self._affine(x)
        return (x - shift) / scale

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalize`: network-scale (N, 3, H, W) float -> this space's values."""
        shift, scale = self._affine(x)
        return x * scale + shift

    def _affine(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_image(x, "x", _FLOAT_DTYPES, check_finite=False)
        shift = torch.tensor(self.norm_shift, dtype=x.dtype, device=x.device).view(3, 1, 1)
        scale = torch.tensor(self.norm_scale, dtype=x.dtype, device=x.device).view(3, 1, 1)
        return shift, scale


_LAB_RANGES = ((0.0, 101.0), (-87.0, 99.0), (-108.0, 95.0))
_LAB_SPACE = dict(channel_names=("L", "a", "b"), value_ranges=_LAB_RANGES, norm_shift=(50.0, 0.0, 0.0),
                  norm_scale=(50.0, 110.0, 110.0), from_rgb=rgb_to_lab, to_rgb=lab_to_rgb)

COLOR_SPACES: dict[str, ColorSpace] = {
    "lab": ColorSpace(name="lab", per_image_ranges=False, **_LAB_SPACE),
    "rescaled_lab": ColorSpace(name="rescaled_lab", per_image_ranges=True, **_LAB_SPACE),
    "rgb": ColorSpace(name="rgb", channel_names=("R", "G", "B"), value_ranges=((0.0, 1.01),) * 3,
                      per_image_ranges=False, norm_shift=(0.5, 0.5, 0.5), norm_scale=(0.5, 0.5, 0.5),
                      from_rgb=_rgb_to_float, to_rgb=_clip_rgb),
}


def get_color_space(name: str | ColorSpace) -> ColorSpace:
    """The :class:`ColorSpace` called ``name``, one of "lab", "rescaled_lab", "rgb" (a ColorSpace is returned as is)."""
    if isinstance(name, ColorSpace):
        return name
    return COLOR_SPACES[check_one_of(name, "name", COLOR_SPACES)]


# Which Lab colours exist in sRGB (chapter 1)
POSTER_A_RANGE: tuple[float, float] = _LAB_RANGES[1]
"""The poster's fixed quantization range of a*, (-87, 99)."""
POSTER_B_RANGE: tuple[float, float] = _LAB_RANGES[2]
"""The poster's fixed quantization range of b*, (-108, 95)."""


def _check_range(value_range: Sequence[float], name: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a (low, high) pair of numbers, got {value_range!r}") from error
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"{name} must be finite with low < high, got {value_range!r}")
    return low, high


def _grid_values(value_range: tuple[float, float], step: float) -> torch.Tensor:
    """Centres of the cells of width ``step`` tiling [low, high): (M,) float64, M >= 1."""
    low, high = value_range
    count = max(1, int(np.ceil((high - low) / step - 1e-9)))
    return low + step / 2 + step * torch.arange(count, dtype=torch.float64)


def ab_plane(lightness: float, a_range: Sequence[float] = POSTER_A_RANGE,
             b_range: Sequence[float] = POSTER_B_RANGE, step: float = 1.0) -> torch.Tensor:
    """A Lab image of the ab plane at one lightness (L* of every pixel, 0 to 100).

    The plane is sampled at the centres of cells of side ``step`` > 0 (Lab units) tiling the
    (low, high) of ``a_range`` and ``b_range``. Returns a (3, H, W) float64 Lab image: row i has
    b = b_low + (i + 0.5) * step (b grows downwards in memory, so draw it with ``origin="lower"``),
    column j has a = a_low + (j + 0.5) * step.
    """
    a_range, b_range = _check_range(a_range, "a_range"), _check_range(b_range, "b_range")
    step = check_positive_number(step, "step")
    a_values, b_values = _grid_values(a_range, step), _grid_values(b_range, step)
    b_grid, a_grid = torch.meshgrid(b_values, a_values, indexing="ij")
    return torch.stack([torch.full_like(a_grid, float(lightness)), a_grid, b_grid])


def in_srgb_gamut(lab: torch.Tensor, tol: float = 1e-6) -> torch.Tensor:
    """Which Lab values are colours of the sRGB gamut.

    A value is in gamut when converting it to sRGB (:func:`splitbrain.color.lab_to_rgb`, which
    clips out-of-gamut colours) and back (:func:`splitbrain.color.rgb_to_lab`) returns it to
    within ``tol`` > 0 (Lab units) in every channel. Compute in float64: float32 round-off is
    about 1e-4. ``lab``: (N, 3, H, W) or (3, H, W) float32/float64, checked by ``lab_to_rgb``;
    returns bool (N, H, W) or (H, W), True where the colour is reachable.
    """
    check_positive_number(tol, "tol")
    back = rgb_to_lab(lab_to_rgb(lab))
    return (back - lab).abs().amax(dim=-3) <= tol


def reachable_fraction(lightness: float, a_range: Sequence[float] = POSTER_A_RANGE,
                       b_range: Sequence[float] = POSTER_B_RANGE, step: float = 1.0) -> float:
    """Share (0 to 1) of the box a_range x b_range at one L* whose colours exist in sRGB.

    Measured on the grid of :func:`ab_plane` (cell centres, side ``step``).
    """
    return float(in_srgb_gamut(ab_plane(lightness, a_range, b_range, step)).double().mean())


def reachable_fractions(lightness_values: Sequence[float], a_range: Sequence[float] = POSTER_A_RANGE,
                        b_range: Sequence[float] = POSTER_B_RANGE, step: float = 1.0) -> torch.Tensor:
    """:func:`reachable_fraction` at several lightnesses: (M,) float64 in [0, 1]."""
    lightness_values = [float(v) for v in lightness_values]
    if not lightness_values:
        raise ValueError("lightness_values must hold at least one L* value, got an empty sequence")
    planes = torch.stack([ab_plane(v, a_range, b_range, step) for v in lightness_values])
    return in_srgb_gamut(planes).double().mean(dim=(1, 2))


def overall_reachable_fraction(a_range: Sequence[float] = POSTER_A_RANGE, b_range: Sequence[float] = POSTER_B_RANGE,
                               step: float = 1.0, lightness_step: float = 1.0) -> float:
    """Share (0 to 1) of the whole Lab box [0, 100] x a_range x b_range inside the sRGB gamut.

    The mean of :func:`reachable_fractions` over slices at the cell centres of L* in [0, 100]
    (``lightness_step`` apart): the volume fraction of the box that sRGB fills.
    """
    lightness_step = check_positive_number(lightness_step, "lightness_step")
    lightness_values = _grid_values((0.0, 100.0), lightness_step)
    return float(reachable_fractions(lightness_values.tolist(), a_range, b_range, step).mean())


def srgb_cube_samples(levels: int = 17) -> torch.Tensor:
    """A regular grid over the sRGB cube: (levels**3, 3) float64 in [0, 1], red slowest.

    Every channel takes ``levels`` evenly spaced values from 0 to 1 (``levels`` >= 2), so the
    cube's corners (black, white, the primaries and secondaries) are included.
    """
    check_int(levels, "levels", 2)
    values = torch.linspace(0.0, 1.0, levels, dtype=torch.float64)
    return torch.cartesian_prod(values, values, values)


def channel_correlation(image: torch.Tensor) -> torch.Tensor:
    """Pearson correlation between the channels of a (C, H, W) or (N, C, H, W) float image.

    N images are pooled into one set of pixels. Returns a (C, C) float64 correlation matrix (1 on
    the diagonal); a constant channel has no defined correlation: its row and column are NaN.
    """
    check_image_batch(image, "image", allow_unbatched=True)
    if not image.is_floating_point():
        raise ValueError(f"image must be a float tensor, got dtype {image.dtype}")
    return torch.corrcoef(image.double().movedim(-3, 0).reshape(image.shape[-3], -1))
