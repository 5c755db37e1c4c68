"""FLOPs of a pretraining step, counted on the meta device: shapes only, nothing computed.

``torch.utils.flop_counter.FlopCounterMode`` counts the convolutions and matrix products of a
forward and backward pass (2 FLOPs per multiply-add); the colour conversion, losses, optimiser
updates and data loading are elementwise work it does not count. ``benchmarks/budget.py`` builds a
grid's and a chapter's budget on these counts; chapter 7 compares its autoencoders' compute with
the split-brain pair's through :func:`pretrain_flops`.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .presets import PretrainConfig

COUNT_BATCH = 2
"""Images per counted step: counts are exact multiples of the batch, and 2 keeps BatchNorm's
training mode valid."""


def count_flops(step: Callable[[], object]) -> int:
    """FLOPs of ``step()`` (convolutions and matrix products, forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def meta_network(config: PretrainConfig) -> nn.Module:
    """``config``'s network (split-brain pair or DAE) built on the meta device."""
    from .models import build_model, build_targets_for

    targets = None if config.method == "dae" else build_targets_for(config)
    with torch.device("meta"):
        return build_model(config, targets)


def pretext_flops_per_image(config: PretrainConfig, network: nn.Module | None = None) -> int:
    """FLOPs of one image's forward + backward pass through ``config``'s pretext task at
    ``config.image_size`` (``network``: the meta network, built when None)."""
    network = network if network is not None else meta_network(config)
    size = config.image_size

    def step() -> None:
        if config.method == "dae":
            outputs = (network(torch.empty(COUNT_BATCH, 3, size, size, device="meta")),)
        else:
            outputs = network(*(torch.empty(COUNT_BATCH, half.trunk.in_channels, size, size, device="meta")
                                for half in (network.half1, network.half2)))
        sum(output.float().sum() for output in outputs).backward()

    flops = count_flops(step) // COUNT_BATCH
    network.zero_grad(set_to_none=True)
    return flops


def pretrain_images(config: PretrainConfig) -> int:
    """Images a pretraining run of ``config`` sees: epochs x steps per epoch x batch (the loader
    drops the last partial batch; ``max_steps_per_epoch`` caps the steps)."""
    steps = config.train_length // config.batch_size
    if config.max_steps_per_epoch is not None:
        steps = min(steps, config.max_steps_per_epoch)
    return config.epochs * steps * config.batch_size


def pretrain_flops(config: PretrainConfig) -> int:
    """FLOPs of a whole pretraining run of ``config``: :func:`pretrain_images` x
    :func:`pretext_flops_per_image`."""
    return pretrain_images(config) * pretext_flops_per_image(config)
