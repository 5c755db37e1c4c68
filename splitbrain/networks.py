"""The one way to get a network to evaluate: from a checkpoint (a run's, or a shipped network's
file) or a configuration, as ``(network, PretrainConfig)``.

::

    model, config = load_network("runs/smoke/checkpoint.pt")                    # the trained weights
    model, config = load_network("runs/smoke/checkpoint.pt", random_init=True)  # its architecture, fresh
    model, config = load_network(get_preset("cpu"), random_init=True)           # a fresh network

A shipped network by its name: ``splitbrain.pretrained(name)`` (:mod:`splitbrain.weights`), which
finds and verifies its file and returns the same pair.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import torch
from torch import nn

from .checkpoint import check_checkpoint, config_from_dict, load_checkpoint
from .models import build_model
from .presets import PretrainConfig
from .runtime import seed_everything


def load_network(source: str | os.PathLike | dict[str, Any] | PretrainConfig, random_init: bool = False,
                 seed: int = 0, name: str | None = None) -> tuple[nn.Module, PretrainConfig]:
    """(network on the CPU, the configuration it was, or would be, pretrained with).

    ``source``: a checkpoint (its path, or the dict :func:`~splitbrain.checkpoint.load_checkpoint`
    read) or a :class:`~splitbrain.presets.PretrainConfig`. ``random_init``: the architecture at
    its initialisation instead of trained weights (the floor every pretraining must beat);
    required for a configuration, which holds no weights. ``seed`` seeds every generator before
    the network is built; ``name`` names a loaded checkpoint in errors (default: its path, or
    "the checkpoint"). Raises ValueError for a configuration without ``random_init``, a file that
    is not a checkpoint, or trained weights that are NaN or infinite (a diverged training);
    FileNotFoundError for a missing checkpoint.
    """
    if isinstance(source, PretrainConfig):
        if not random_init:
            raise ValueError("a configuration holds no weights: give a checkpoint, or random_init=True")
        config, saved = source, None
    else:
        name = name or ("the checkpoint" if isinstance(source, dict) else os.fspath(source))
        saved = source if isinstance(source, dict) else load_checkpoint(source)  # a file is checked as it loads
        config = check_checkpoint(saved, name) if isinstance(source, dict) else config_from_dict(saved["config"])
    if not random_init:
        check_finite(saved["model"], name)
    seed_everything(seed)
    network = build_model(config)
    if not random_init:
        network.load_state_dict(saved["model"])
    return network, config


def check_finite(weights: Mapping[str, Any], name: str) -> None:
    """ValueError naming ``name`` and the first tensor of ``weights`` (a state dict) holding a NaN or an infinity."""
    for key, tensor in weights.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"checkpoint {name} holds non-finite weights ({key}): its training diverged, and it "
                             f"is not used; train it again with a lower learning rate (--lr)")

