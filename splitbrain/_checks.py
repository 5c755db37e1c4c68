"""Input validation shared by the package: one place that turns bad input into clear errors.

Every public function that takes an image-like tensor calls one of these first, so that a wrong
rank, a channels-last array, an empty batch or a NaN fails loudly with the argument's name instead
of broadcasting silently into a wrong answer.
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence

import torch

from .vocabulary import check_int, check_one_of  # on the ground floor, so that the configurations use them too

__all__ = ["check_image_batch", "check_int", "check_number", "check_one_of", "check_positive_int",
           "check_positive_number", "check_ranges"]


def check_image_batch(x: torch.Tensor, name: str, channels: int | None = None, allow_unbatched: bool = False,
                      check_finite: bool = True) -> None:
    """Raise ValueError unless ``x`` is a channels-first image tensor.

    Accepts (N, C, H, W), and (C, H, W) when ``allow_unbatched``. ``channels`` (if given) is
    the required C. Rejects empty tensors, non-finite floats and channels-last input (where
    the last axis has the wanted size but the channel axis does not), naming what was received.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    ranks = "(N, C, H, W) or (C, H, W)" if allow_unbatched else "(N, C, H, W)"
    if x.dim() not in ((3, 4) if allow_unbatched else (4,)):
        raise ValueError(f"{name} must have shape {ranks}, got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    if channels is not None and x.shape[-3] != channels:
        hint = ""
        if x.shape[-1] == channels:
            hint = " (it looks channels-last, (..., H, W, C); permute it to channels-first)"
        raise ValueError(f"{name} must have {channels} channels on axis -3 (channels-first {ranks}), "
                         f"got shape {tuple(x.shape)}{hint}")
    if check_finite and x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")


def check_positive_int(value: object, name: str) -> int:
    """``value`` as an int if it is an integer > 0 (see :func:`check_int`), else ValueError."""
    return check_int(value, name, 1)


def check_number(value: object, name: str, minimum: float = 0.0, inclusive: bool = False) -> float:
    """``value`` as a float if it is a finite number (bools are rejected) > ``minimum`` (>= when
    ``inclusive``), else ValueError."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or not (value >= minimum if inclusive else value > minimum)):
        bound = f"{'>=' if inclusive else '>'} {minimum:g}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def check_positive_number(value: object, name: str) -> float:
    """``value`` as a float if it is a finite number > 0 (see :func:`check_number`), else ValueError."""
    return check_number(value, name)


def check_ranges(low: Sequence[float], high: Sequence[float], name: str = "low/high") -> None:
    """Raise ValueError unless every ``low[i] < high[i]`` and all are finite."""
    if len(low) != len(high):
        raise ValueError(f"{name}: low and high must have the same length, got {len(low)} and {len(high)}")
    for i, (lo, hi) in enumerate(zip(low, high)):
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{name}: channel {i} range must be finite, got low={lo}, high={hi}")
        if not lo < hi:
            raise ValueError(f"{name}: channel {i} needs low < high, got low={lo}, high={hi}")
