"""A run folder: what belongs in it, and holding it while a run writes.

A run's folder holds its checkpoint (and copies of checkpoints), metrics log and configuration,
its records, a grid run's stage files, the lock and the atomic writer's temporary files; a folder
that holds anything else is not a run's (:func:`foreign_entry`). :func:`held_run_folder` holds
one for a run: refused when foreign, created when missing, locked against every other splitbrain
process.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .checkpoint import CHECKPOINT_NAME, CONFIG_NAME, METRICS_NAME, load_checkpoint
from .files import check_writable_folder, is_leftover, remove_leftovers_in
from .locks import LOCK_NAME, folder_lock
from .presets import PretrainConfig
from .results import MAX_RECORD_BYTES, RECORD_KINDS, RecordError, read_json_file
from .runtime import DistributedContext


RUN_CONFIG_KEYS = ("arch", "out", "seed")
"""Keys every ``config.json`` of a run holds, whichever version of the package wrote it."""
STAGE_KEYS = frozenset({"key", "metrics", "wall_time_s"})
"""Keys of a grid run's stage file (``pretrain.json``, ``probe.json``, ...: :mod:`splitbrain.experiments.reproduce`)."""


@contextmanager
def held_run_folder(config: PretrainConfig, ctx: DistributedContext):
    """Hold ``config.out`` for the ``with`` block (on rank 0; the other ranks write nothing): a
    folder that holds anything but a run is refused (ValueError), a missing one created, and the
    folder locked against every other splitbrain process (:class:`~splitbrain.locks.FolderInUseError`);
    temporary files of killed writers in it are removed."""
    if not ctx.is_main:
        yield
        return
    run_dir = Path(config.out)
    foreign = foreign_entry(run_dir) if run_dir.is_dir() else None
    if foreign is not None:
        raise ValueError(f"--out {run_dir} holds {foreign!r}, which is not a file of a splitbrain run; nothing was "
                         f"written: give a new or empty folder")
    check_writable_folder(run_dir, "--out")
    with folder_lock(run_dir, "splitbrain pretrain"):
        remove_leftovers_in(run_dir)
        yield


def foreign_entry(run_dir: Path) -> str | None:
    """The name of one entry of ``run_dir`` that is not a file of this package's run, or None.

    A run's files: its checkpoint (and copies of checkpoints), metrics log and configuration,
    records (``<kind>-*.json``), a grid run's stage files, the lock, and temporary files of the
    atomic writer; all but the last two must read as this package's (a user's own
    ``config.json`` is foreign)."""
    return next((entry.name for entry in sorted(run_dir.iterdir()) if not is_run_file(entry)), None)


def is_run_file(entry: Path) -> bool:
    """True for a file a run of this package writes into its folder (see :func:`foreign_entry`)."""
    name = entry.name
    if entry.is_symlink() or not entry.is_file():
        return False
    if name in (LOCK_NAME, CHECKPOINT_NAME) or is_leftover(name):
        return True
    if name.endswith(".pt"):
        return is_checkpoint_file(entry)
    if name == METRICS_NAME:
        return is_metrics_log(entry)
    value = read_json_object(entry) if name.endswith(".json") else None
    if value is None:
        return False
    if name == CONFIG_NAME:
        return all(key in value for key in RUN_CONFIG_KEYS)
    kind = name.split("-", 1)[0]
    return (kind in RECORD_KINDS and value.get("kind") == kind) or STAGE_KEYS <= value.keys()


def is_checkpoint_file(path: Path) -> bool:
    """True for a checkpoint of this package (e.g. a copy of an earlier epoch's, kept beside the run)."""
    try:
        load_checkpoint(path)
    except (OSError, ValueError):
        return False
    return True


def is_metrics_log(path: Path) -> bool:
    """True for an empty metrics log, or one whose first line is a step or epoch line (or torn by a crash)."""
    with open(path, "rb") as stream:
        first = stream.readline(MAX_RECORD_BYTES)
    if not first.strip():
        return True
    try:
        line = json.loads(first)
    except (ValueError, RecursionError):
        return not first.endswith(b"\n")  # the only line, cut short by a crash
    return isinstance(line, dict) and line.get("kind") in ("step", "epoch")


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in the regular file ``path``, or None (not one, unreadable, or too large:
    :func:`~splitbrain.results.read_json_file`)."""
    try:
        value = read_json_file(path)
    except RecordError:
        return None
    return value if isinstance(value, dict) else None
