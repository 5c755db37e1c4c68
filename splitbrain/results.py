"""Run records: one JSON file per pretraining, probe or fine-tuning run, and the tables built from them.

A record is a plain dict written as ``<directory>/<kind>-<label>-<timestamp>-<id>.json``::

    {
      "kind": "finetune",                    # "pretrain" | "probe" | "finetune"
      "model": {"method": "splitbrain", "arch": "simplenet", "color_space": "lab",
                "random_init": false, ...},  # what was trained or evaluated
      "config": {...},                       # the run's configuration (PretrainConfig / EvalConfig)
      "pretrain_config": {...} | null,       # for evaluations: the checkpoint's configuration
      "metrics": {"top1": 0.41, "top5": 0.88, ...},
      "seed": 0,
      "git_commit": "3f2a..." | null,
      "hardware": {"cpu": ..., "cpu_count": ..., "torch": ..., "cuda_device": ... | null},
      "wall_time_s": 12.3,
      "timestamp": "2025-01-01T12:00:00+00:00",
      "splitbrain_version": "0.1.0"
    }

Files are written to a temporary name in the same directory and renamed into place, so a
reader never sees half a record. ``table1`` renders the poster's Table 1 from records, with
mean ± std over seeds where several records describe the same setting.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterable, Mapping

RECORD_KINDS = ("pretrain", "probe", "finetune")

ARCH_LABELS = {"fcalexnet": "FCAlexNet", "fcresnet18": "ResNet 18", "simplenet": "SimpleNet"}
SPACE_LABELS = {"rgb": "RGB", "lab": "LAB", "rescaled_lab": "Re-scaled LAB"}
NOISE_LABELS = {"salt_pepper": "S&P", "masking": "Masking", "gaussian": "Gaussian"}
TABLE1_COLUMNS = ("Architecture", "Image Space", "FT Epochs", "Top 1 Acc.", "Top 5 Acc.")


# ----------------------------------------------------------------------------------------------
# provenance


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """``git rev-parse HEAD`` of the package's repository, or None outside a git checkout."""
    where = Path(cwd) if cwd is not None else Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware_info() -> dict[str, Any]:
    """CPU model and count, Python and torch versions, and the CUDA device name (or None)."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_device": torch.cuda.get_device_name(0) if cuda else None,
        "cuda_device_count": torch.cuda.device_count() if cuda else 0,
    }


# ----------------------------------------------------------------------------------------------
# writing and reading


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file in the same directory and ``os.replace``.

    Either the old file or the complete new one exists at every moment; never a partial one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temp, 0o644)  # mkstemp creates 0600; records are meant to be shared
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    return path


def _jsonable(value: Any) -> Any:
    """Tuples -> lists, Paths -> str, tensors/numpy scalars -> Python numbers, NaN -> None."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def make_record(
    kind: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    *,
    model: Mapping[str, Any],
    seed: int,
    wall_time_s: float,
    pretrain_config: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble a record (see the module docstring) with provenance filled in."""
    if kind not in RECORD_KINDS:
        raise ValueError(f"kind must be one of {RECORD_KINDS}, got {kind!r}")
    from . import __version__

    record = {
        "kind": kind,
        "model": dict(model),
        "config": dict(config),
        "pretrain_config": dict(pretrain_config) if pretrain_config is not None else None,
        "metrics": dict(metrics),
        "seed": seed,
        "git_commit": git_commit(),
        "hardware": hardware_info(),
        "wall_time_s": wall_time_s,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "splitbrain_version": __version__,
    }
    if extra:
        record.update(extra)
    return _jsonable(record)


def record_label(record: Mapping[str, Any]) -> str:
    """A short file-name-safe label: method-arch-space-seed."""
    model = record.get("model", {})
    parts = [
        model.get("method", "model"),
        model.get("arch", "arch"),
        model.get("color_space", "space"),
        "random" if model.get("random_init") else None,
        f"seed{record.get('seed', 0)}",
    ]
    return "-".join(str(p) for p in parts if p)


def write_record(record: Mapping[str, Any], directory: str | os.PathLike = "results") -> Path:
    """Write ``record`` atomically as a new JSON file under ``directory``; returns its path."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"{record['kind']}-{record_label(record)}-{stamp}-{uuid.uuid4().hex[:6]}.json"
    text = json.dumps(_jsonable(record), indent=2, sort_keys=False) + "\n"
    return atomic_write_text(Path(directory) / name, text)


def load_records(directory: str | os.PathLike = "results", kind: str | None = None) -> list[dict[str, Any]]:
    """Every record ``*.json`` directly under ``directory`` (sorted by file name).

    Files that are not records (no ``kind`` key, e.g. reference tables) are skipped; ``kind``
    keeps only records of that kind. A missing directory gives an empty list.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    records = []
    for path in sorted(directory.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(record, dict) or record.get("kind") not in RECORD_KINDS:
            continue
        if kind is None or record["kind"] == kind:
            record.setdefault("path", str(path))
            records.append(record)
    return records


# ----------------------------------------------------------------------------------------------
# Table 1


def architecture_label(model: Mapping[str, Any]) -> str:
    """How the poster names a model: "ResNet 18", "DAE S&P 5% Noise", "SimpleNet (random init)"."""
    arch = ARCH_LABELS.get(model.get("arch", ""), str(model.get("arch", "?")))
    if model.get("method") == "dae":
        noise = NOISE_LABELS.get(model.get("noise", ""), str(model.get("noise", "")))
        level = model.get("noise_level")
        level_text = f" {level * 100:g}%" if isinstance(level, (int, float)) else ""
        label = f"DAE {noise}{level_text} Noise ({arch})"
    else:
        label = arch
    if model.get("random_init"):
        label += " (random init)"
    return label


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else None
    return mean, std


def table1_rows(records: Iterable[Mapping[str, Any]], kind: str = "finetune") -> list[dict[str, Any]]:
    """Table 1 as a list of dicts, one per (architecture, image space, epochs) setting.

    Each row: ``architecture``, ``image_space``, ``ft_epochs``, ``top1``/``top5`` (means over
    the matching records), ``top1_std``/``top5_std`` (sample std, None for a single record),
    ``n`` (how many seeds) and ``seeds``; of several records with the same seed only the
    latest (by timestamp) counts, so re-running a setting does not double it. ``kind`` "finetune" (the
    poster's table) or "probe" (the probe's best layer; the epochs column then counts probe
    epochs). Rows follow the poster's order: architecture, then RGB, LAB, Re-scaled LAB.
    """
    epochs_key = "finetune_epochs" if kind == "finetune" else "probe_epochs"
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for record in records:
        if record.get("kind") != kind:
            continue
        model = record.get("model", {})
        key = (
            architecture_label(model),
            model.get("method", "splitbrain"),
            model.get("arch", ""),
            model.get("color_space", ""),
            record.get("config", {}).get(epochs_key),
        )
        groups.setdefault(key, []).append(record)

    arch_order = {name: i for i, name in enumerate(ARCH_LABELS)}
    space_order = {name: i for i, name in enumerate(SPACE_LABELS)}

    def sort_key(key):
        label, method, arch, space, epochs = key
        return (method == "dae", "random init" in label, arch_order.get(arch, 99), label,
                space_order.get(space, 99), epochs if epochs is not None else -1)

    rows = []
    for key in sorted(groups, key=sort_key):
        label, _, _, space, epochs = key
        # One record per seed: a re-run with the same seed replaces the earlier one.
        latest: dict[Any, Mapping[str, Any]] = {}
        for record in sorted(groups[key], key=lambda r: str(r.get("timestamp", ""))):
            latest[record.get("seed")] = record
        matching = list(latest.values())
        top1, top1_std = _mean_std([float(r["metrics"]["top1"]) for r in matching])
        top5, top5_std = _mean_std([float(r["metrics"]["top5"]) for r in matching])
        rows.append({
            "architecture": label,
            "image_space": SPACE_LABELS.get(space, space),
            "ft_epochs": epochs,
            "top1": top1,
            "top1_std": top1_std,
            "top5": top5,
            "top5_std": top5_std,
            "n": len(matching),
            "seeds": sorted(r.get("seed") for r in matching),
        })
    return rows


def _cell(mean: float, std: float | None, digits: int) -> str:
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def table1(records: Iterable[Mapping[str, Any]], kind: str = "finetune", digits: int = 4) -> str:
    """The poster's Table 1 (Architecture | Image Space | FT Epochs | Top 1 Acc. | Top 5 Acc.)
    as a markdown table; accuracies are fractions, "mean ± std" over seeds when a setting has
    several records. Returns a one-line note when no record matches."""
    rows = table1_rows(records, kind=kind)
    if not rows:
        return f"(no {kind} records)"
    lines = ["| " + " | ".join(TABLE1_COLUMNS) + " |", "|" + "---|" * len(TABLE1_COLUMNS)]
    for row in rows:
        cells = [
            row["architecture"],
            row["image_space"],
            "" if row["ft_epochs"] is None else str(row["ft_epochs"]),
            _cell(row["top1"], row["top1_std"], digits),
            _cell(row["top5"], row["top5_std"], digits),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
