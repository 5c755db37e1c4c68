"""Pretraining run files: the checkpoint (written atomically, read without running pickles),
the model-defining fields it must agree on, and the metrics log.

A run directory holds ``checkpoint.pt`` (model, optimiser, scheduler, grad scaler, RNG states,
epoch, step, config), ``metrics.jsonl`` (one JSON object per line) and ``config.json``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from .files import atomic_write, atomic_write_text
from .presets import DAE_FIELDS, MODEL_FIELDS, PretrainConfig, differing_fields

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.jsonl"
CONFIG_NAME = "config.json"
CHECKPOINT_FORMAT = "splitbrain-pretrain-1"


def checkpoint_state(config: dict[str, Any], model: dict[str, torch.Tensor], epoch: int, step: int,
                     **training: Any) -> dict[str, Any]:
    """The checkpoint layout: ``format``, ``config`` (a PretrainConfig as a dict), ``model`` (the state
    dict), ``epoch`` and ``step`` done, plus ``training`` (e.g. a resumable run's optimizer and rng)."""
    return {"format": CHECKPOINT_FORMAT, "config": config, "model": model, "epoch": epoch, "step": step, **training}


class CheckpointMismatchError(ValueError):
    """A checkpoint was made for a different network or target setting than the one asked for."""


class RunExistsError(ValueError):
    """A fresh run was asked for in a folder that already holds one (nothing is overwritten)."""


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through :func:`splitbrain.files.atomic_write` (a crash leaves ``path`` untouched)."""
    return atomic_write(path, lambda stream: torch.save(obj, stream))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a pretraining checkpoint; FileNotFoundError / ValueError say what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a truncated or foreign file
        raise ValueError(f"{path} is not a readable splitbrain checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a splitbrain pretraining checkpoint (format {CHECKPOINT_FORMAT!r} expected)")
    return checkpoint


def check_compatible(saved: dict[str, Any], wanted: dict[str, Any], source: str = "checkpoint") -> None:
    """Raise CheckpointMismatchError unless the model-defining fields of the config dicts agree
    (only the keys ``wanted`` has are compared)."""
    fields = [f for f in MODEL_FIELDS + (DAE_FIELDS if saved.get("method") == "dae" else ()) if f in wanted]
    differ = differing_fields(saved, wanted, PretrainConfig, only=fields)
    if differ:
        pairs = ", ".join(f"{f}={saved[f]!r} (asked: {wanted[f]!r})" for f in differ)
        raise CheckpointMismatchError(f"{source} was trained with {pairs}; it cannot be used for this configuration")


def check_resumable(saved: dict[str, Any], wanted: dict[str, Any], source: str = "checkpoint") -> None:
    """Raise CheckpointMismatchError unless a run saved under ``saved`` can go on as ``wanted``.

    Resuming restores the network, optimiser, schedule and random streams, so every field of
    roles "model", "dae" and "recipe" must agree (a changed ``lr`` would train on with the old
    value under the new name); only ``epochs`` may change, under the "step" schedule, whose state
    does not depend on the total.
    """
    from .presets import fields_with_role

    check_compatible(saved, wanted, source)
    extendable = saved.get("lr_schedule", "step") == "step" and wanted.get("lr_schedule", "step") == "step"
    differ = differing_fields(saved, wanted, PretrainConfig, only=fields_with_role(PretrainConfig, "recipe"),
                              ignore=("epochs",) if extendable else ())
    if differ:
        pairs = ", ".join(f"{f}={saved[f]!r} (asked: {wanted[f]!r})" for f in differ)
        raise CheckpointMismatchError(f"{source} was trained with {pairs}; resume with its values, "
                                      f"or start a new run in another folder (--out)")


def model_from_checkpoint(checkpoint: dict[str, Any] | str | os.PathLike, device="cpu"):
    """(model, PretrainConfig) rebuilt from a checkpoint (a path or a loaded dict), in eval mode."""
    if not isinstance(checkpoint, dict):
        checkpoint = load_checkpoint(checkpoint)
    from .models import build_model

    config = config_from_dict(checkpoint["config"])
    model = build_model(config)
    model.load_state_dict(checkpoint["model"])
    return model.to(device).eval(), config


def config_from_dict(values: dict[str, Any]) -> PretrainConfig:
    """A PretrainConfig from a stored dict, ignoring keys this version does not know."""
    known = {f for f in PretrainConfig.__dataclass_fields__}
    return PretrainConfig(**{k: v for k, v in values.items() if k in known})


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file (a torn last line, from a crash, is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl`` (rank 0 only; others no-op)."""

    def __init__(self, path: Path, active: bool, keep_until_step: int | None = None):
        self.path = path
        self.active = active
        if not active:
            return
        # A fresh run starts an empty log; a resumed one keeps what the checkpoint covers.
        kept = [] if keep_until_step is None else [r for r in read_metrics(path) if r.get("step", 0) <= keep_until_step]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))

    def write(self, record: dict[str, Any]) -> None:
        if self.active:
            with open(self.path, "a") as stream:
                stream.write(json.dumps(record) + "\n")
