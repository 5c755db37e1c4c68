"""The learning-rate shape both training loops use: a linear warm-up, then half a cosine to zero."""
from __future__ import annotations

import math

import torch


def warmup_cosine_factor(step: int, total: int, warmup: int) -> float:
    """The learning-rate multiplier after ``step`` optimiser steps (0-based) of ``total``.

    Rises linearly over the first ``warmup`` steps to 1 (``(step + 1) / warmup``), then falls as
    half a cosine and reaches 0 at step ``total``: the last step of a run trains at a rate near
    zero whatever the budget. Values lie in [0, 1].
    """
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float
                  ) -> torch.optim.lr_scheduler.LambdaLR:
    """A scheduler stepped after every optimiser step: :func:`warmup_cosine_factor` over
    ``total_steps`` steps with ``max(1, round(warmup_fraction * total_steps))`` warm-up steps."""
    total = max(1, int(total_steps))
    warmup = max(1, round(warmup_fraction * total))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine_factor(step, total, warmup))
