"""Image files to 8-bit sRGB tensors: every PIL pixel mode this package reads
(:data:`DECODED_MODES`), wide grey modes scaled from their nominal range, transparency composited
over white."""
from __future__ import annotations

import os

import numpy as np
import torch

ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
"""PIL modes with an alpha band. Every image with transparency (these, and palette, grey or RGB
images with a transparent entry) is composited over a white background, what a viewer shows on a
white page: ``out = colour * alpha + 255 * (1 - alpha)``."""

WIDE_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")
"""PIL's 16-bit, 32-bit integer and float grey modes, scaled to 8 bits by :func:`wide_to_bytes`."""

DECODED_MODES = ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV") + ALPHA_MODES + WIDE_MODES
"""Every PIL mode :func:`rgb_pixels` converts; a file that opens in another mode is skipped and counted."""


def nominal_range(values: np.ndarray, mode: str) -> float:
    """The value that stands for white in a wide grey image (``values`` its pixels, ``mode`` one of
    :data:`WIDE_MODES`): 65535 for "I;16*"; for "I" (signed 32-bit, how PIL opens 16-bit PPM/PGM
    files) 65535 when every value fits 16 bits, else 2**31 - 1; for "F" the first of 1, 255 and
    65535 that holds every value (floats in [0, 1], 8-bit or 16-bit values stored as floats), else
    the image's maximum."""
    if mode.startswith("I;16"):
        return 65535.0
    top = float(values.max()) if values.size else 0.0
    ladder = (1.0, 255.0, 65535.0) if mode == "F" else (65535.0,)
    for limit in ladder:
        if top <= limit:
            return limit
    return top if mode == "F" else float(2**31 - 1)


def wide_to_bytes(values: np.ndarray, mode: str) -> np.ndarray:
    """A wide grey image's pixels (H, W) -> uint8 (H, W): ``round(255 * v / nominal_range)``, with
    negative values, NaN and -inf as black and +inf as white."""
    wide = np.asarray(values, dtype=np.float64)
    limit = nominal_range(np.clip(wide[np.isfinite(wide)], 0.0, None), mode)
    wide = np.nan_to_num(wide, nan=0.0, neginf=0.0, posinf=limit)
    return np.clip(np.round(wide * (255.0 / limit)), 0, 255).astype(np.uint8)


def _over_white(image) -> np.ndarray:
    """An image with transparency composited over white: uint8 (H, W, 3)."""
    from PIL import Image

    if image.mode == "La":  # premultiplied grey + alpha, which PIL converts only as RGBa
        grey, alpha = image.split()
        image = Image.merge("RGBa", (grey, grey, grey, alpha))
    rgba = np.asarray(image.convert("RGBA"), dtype=np.uint32)
    alpha = rgba[..., 3:]
    return ((rgba[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def rgb_pixels(image) -> np.ndarray:
    """A PIL image as 8-bit sRGB: a new uint8 array (H, W, 3).

    Palette images go through their palette; "1", "L", "CMYK", "YCbCr", "LAB" and "HSV" through
    PIL's conversion (embedded ICC profiles are not applied); wide grey modes are scaled from their
    nominal range (:func:`nominal_range`); transparency is composited over white
    (:data:`ALPHA_MODES`). ValueError for a mode outside :data:`DECODED_MODES`.
    """
    if image.mode not in DECODED_MODES:
        raise ValueError(f"pixel mode {image.mode!r} is not supported (supported: {', '.join(DECODED_MODES)})")
    if image.mode in WIDE_MODES:
        return np.repeat(wide_to_bytes(np.asarray(image), image.mode)[..., None], 3, axis=2)
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        return _over_white(image)
    return np.array(image.convert("RGB"))


def decode_rgb(path: str | os.PathLike) -> torch.Tensor:
    """The image file ``path`` (its first frame) as uint8 RGB (3, H, W), by :func:`rgb_pixels`."""
    from PIL import Image

    with Image.open(path) as image:
        return torch.from_numpy(rgb_pixels(image)).permute(2, 0, 1)
