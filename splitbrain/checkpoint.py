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

from ._checks import check_int
from .files import atomic_write, atomic_write_text
from .presets import DAE_FIELDS, MODEL_FIELDS, PretrainConfig, differing_fields, fields_with_role

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.jsonl"
CONFIG_NAME = "config.json"
CHECKPOINT_FORMAT = "splitbrain-pretrain-1"


def checkpoint_state(config: dict[str, Any], model: dict[str, torch.Tensor], epoch: int, step: int,
                     pretrained_on: Any = None, replacing: str | os.PathLike | None = None,
                     **training: Any) -> dict[str, Any]:
    """The checkpoint layout: ``format``, ``config`` (a PretrainConfig as a dict), ``model`` (the state
    dict), ``epoch`` and ``step`` done, plus ``training`` (e.g. a resumable run's optimizer and rng).

    ``pretrained_on``: the pretraining dataset, stored as its manifest (``"pretrained_on"``,
    :func:`splitbrain.leaks.pretraining_manifest`), or a manifest already made; ``replacing``: the
    checkpoint file this state will replace (a run's previous one), whose recorded images are kept too.
    """
    state = {"format": CHECKPOINT_FORMAT, "config": config, "model": model, "epoch": epoch, "step": step, **training}
    if pretrained_on is not None and not isinstance(pretrained_on, dict):
        from .leaks import pretraining_manifest

        earlier = read_pretraining_manifest(replacing) if replacing and Path(replacing).is_file() else None
        pretrained_on = pretraining_manifest(pretrained_on, earlier)
    if pretrained_on is not None:
        state["pretrained_on"] = pretrained_on
    return state


_MANIFEST_FIELDS = {"data": str, "split": str, "split_seed": int, "images": int}


def read_pretraining_manifest(path: str | os.PathLike) -> dict[str, Any] | None:
    """The ``pretrained_on`` entry of the checkpoint ``path`` (None when it has none: a checkpoint made
    without it, or a weights-only file). Its tensors are memory-mapped, not read; ValueError names the
    file when the entry is malformed."""
    saved = _torch_load(path, map_location="cpu", mmap=True)
    manifest = saved.get("pretrained_on") if isinstance(saved, dict) else None
    if manifest is None:
        return None
    fields = manifest if isinstance(manifest, dict) else {}
    wrong = [name for name, kind in _MANIFEST_FIELDS.items() if not isinstance(fields.get(name), kind)]
    keys = fields.get("image_keys")
    if keys is not None and not (isinstance(keys, torch.Tensor) and keys.dtype == torch.int64 and keys.dim() == 1):
        wrong.append("image_keys")
    if wrong:
        raise CheckpointError(f"{path}: its record of the pretraining images (pretrained_on) is malformed: field "
                              f"{wrong[0]} is missing or of the wrong type")
    return manifest


REQUIRED_KEYS = ("config", "model", "epoch", "step")
"""What every checkpoint :func:`checkpoint_state` lays out holds besides its ``format``."""


class CheckpointError(ValueError):
    """A file that is not a readable, complete and self-consistent splitbrain pretraining checkpoint."""


class CheckpointMismatchError(ValueError):
    """A checkpoint was made for a different network or target setting than the one asked for."""


class RunExistsError(ValueError):
    """A fresh run was asked for in a folder that already holds one (nothing is overwritten)."""


class _ErrorKeepingStream:
    """A binary stream that keeps the OSError its ``write`` raised: torch.save reports a failed
    write (a full disk, a file-size limit) as a RuntimeError that no longer says why."""

    def __init__(self, stream):
        self.stream, self.error = stream, None

    def write(self, data) -> int:
        try:
            return self.stream.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.stream.flush()


def atomic_torch_save(obj: Any, path: str | os.PathLike, replace: bool = True) -> Path:
    """``torch.save`` through :func:`splitbrain.files.atomic_write` (a crash leaves ``path`` untouched;
    a failed write is the OSError that made it fail, in one line naming ``path``; ``replace`` as there)."""
    def save(stream) -> None:
        kept = _ErrorKeepingStream(stream)
        try:
            torch.save(obj, kept)
        except RuntimeError:
            if kept.error is not None:
                raise kept.error from None
            raise

    return atomic_write(path, save, replace=replace)


def _torch_load(path: str | os.PathLike, **options: Any) -> Any:
    """``torch.load`` without running pickles; CheckpointError naming ``path`` for a file it cannot read."""
    try:
        return torch.load(path, weights_only=True, **options)
    except Exception as error:  # a truncated or foreign file
        raise CheckpointError(f"{path} is not a readable splitbrain checkpoint ({type(error).__name__}: "
                              f"{error})") from error


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a pretraining checkpoint and check it (:func:`check_checkpoint`); FileNotFoundError /
    CheckpointError (a ValueError) say what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    checkpoint = _torch_load(path, map_location=map_location)
    check_checkpoint(checkpoint, str(path))
    return checkpoint


def check_checkpoint(checkpoint: Any, source: str = "checkpoint") -> PretrainConfig:
    """The configuration of ``checkpoint`` (a loaded checkpoint dict) once it is known complete and
    consistent: its format, every key of :data:`REQUIRED_KEYS`, a valid configuration within
    :data:`~splitbrain.presets.SIZE_LIMITS`, and weights whose names and shapes are those of the network that
    configuration builds (built on the meta device: nothing is allocated). CheckpointError naming
    ``source`` and the first thing wrong."""
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{source} is not a splitbrain pretraining checkpoint "
                              f"(format {CHECKPOINT_FORMAT!r} expected)")
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{source} holds no {', '.join(missing)}: it is not a complete splitbrain checkpoint")
    try:
        for key in ("epoch", "step"):
            check_int(checkpoint[key], f"its {key}")
    except ValueError as error:
        raise CheckpointError(f"{source}: {error}") from None
    values = checkpoint["config"]
    if not isinstance(values, dict):
        raise CheckpointError(f"{source}: its config must be a mapping, got {type(values).__name__}")
    try:
        config = config_from_dict(values)
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{source}: its config is not valid ({error})") from None
    _check_weights(checkpoint["model"], config, source)
    return config


def _check_weights(weights: Any, config: PretrainConfig, source: str) -> None:
    """CheckpointError unless ``weights`` is a state dict with the names and shapes of ``config``'s network."""
    from .models import build_model

    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{source}: its model must be a state dict of tensors")
    with torch.device("meta"):
        expected = {name: tuple(tensor.shape) for name, tensor in build_model(config).state_dict().items()}
    found = {name: tuple(tensor.shape) for name, tensor in weights.items()}
    problems = ([f"{name} missing" for name in expected if name not in found]
                + [f"{name} unexpected" for name in found if name not in expected]
                + [f"{name} is {found[name]}, its config builds {expected[name]}" for name in expected
                   if name in found and found[name] != expected[name]])
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointError(f"{source}: its weights do not fit the network its config describes "
                              f"({config.method} {config.arch}): {'; '.join(problems[:3])}{more}")


def check_compatible(saved: dict[str, Any], wanted: dict[str, Any], source: str = "checkpoint") -> None:
    """Raise CheckpointMismatchError unless the model-defining fields of the config dicts agree
    (only the keys ``wanted`` has are compared)."""
    fields = [f for f in MODEL_FIELDS + (DAE_FIELDS if saved.get("method") == "dae" else ()) if f in wanted]
    _check_agree(saved, wanted, source, "it cannot be used for this configuration", only=fields)


def check_resumable(saved: dict[str, Any], wanted: dict[str, Any], source: str = "checkpoint") -> None:
    """Raise CheckpointMismatchError unless a run saved under ``saved`` can go on as ``wanted``.

    Resuming restores the network, optimiser, schedule and random streams, so every field of
    roles "model", "dae" and "recipe" must agree (a changed ``lr`` would train on with the old
    value under the new name); only ``epochs`` may change, under the "step" schedule, whose state
    does not depend on the total.
    """
    check_compatible(saved, wanted, source)
    extendable = saved.get("lr_schedule", "step") == "step" and wanted.get("lr_schedule", "step") == "step"
    advice = "resume with its values, or start a new run in another folder (--out)"
    _check_agree(saved, wanted, source, advice, only=fields_with_role(PretrainConfig, "recipe"),
                 ignore=("epochs",) if extendable else ())


def _check_agree(saved: dict[str, Any], wanted: dict[str, Any], source: str, advice: str, **which) -> None:
    """CheckpointMismatchError naming both values of every field that differs (:func:`differing_fields`
    of ``which``: ``only``, ``ignore``), then ``advice``."""
    differ = differing_fields(saved, wanted, PretrainConfig, **which)
    if differ:
        def shown(config: dict[str, Any], name: str) -> Any:  # a field an older checkpoint lacks is its default
            return config.get(name, getattr(PretrainConfig, name, None))

        pairs = ", ".join(f"{f}={shown(saved, f)!r} (asked: {shown(wanted, f)!r})" for f in differ)
        raise CheckpointMismatchError(f"{source} was trained with {pairs}; {advice}")


def model_from_checkpoint(checkpoint: dict[str, Any] | str | os.PathLike, device="cpu"):
    """(model, PretrainConfig) rebuilt from a checkpoint (a path or a loaded dict), in eval mode."""
    if isinstance(checkpoint, dict):
        check_checkpoint(checkpoint)
    else:
        checkpoint = load_checkpoint(checkpoint)
    from .models import build_model

    config = config_from_dict(checkpoint["config"])
    model = build_model(config)
    model.load_state_dict(checkpoint["model"])
    return model.to(device).eval(), config


def config_from_dict(values: dict[str, Any]) -> PretrainConfig:
    """A PretrainConfig from a stored dict, ignoring keys this version does not know."""
    return PretrainConfig(**{k: v for k, v in values.items() if k in PretrainConfig.__dataclass_fields__})


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
