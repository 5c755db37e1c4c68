"""Run records: one JSON file per pretraining, probe or fine-tuning run, and the tables built from them.

A record is a plain dict written as ``<directory>/<kind>-<label>-<timestamp>-<id>.json``::

    {
      "kind": "finetune",                    # "pretrain" | "probe" | "finetune" | "run" | "margin"
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

A "run" record is one run of an experiment grid (``splitbrain.experiments.reproduce``):
pretraining, probes and fine-tuning together, its metrics under "probe", "finetune" and
"pretrain", plus "grid", "run_id" and "method" (the grid's method name, e.g. "rescaled_lab").

Records are read through :func:`load_records`, which checks them against :data:`RECORD_SCHEMAS`,
so a reader meets no value it cannot use.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import stat
import statistics
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Mapping, NamedTuple, Sequence

from .files import atomic_write_text
from .tables import pipe_table
from .vocabulary import check_one_of

RECORD_KINDS = ("pretrain", "probe", "finetune", "run", "margin")

ARCH_LABELS = {"fcalexnet": "FC-AlexNet", "fcresnet18": "FC-ResNet18", "simplenet": "SimpleNet"}
"""The one display name of each architecture in every table, figure and sentence."""
SPACE_LABELS = {"rgb": "RGB", "lab": "Lab", "rescaled_lab": "rescaled Lab"}
"""The one display name of each colour space (the poster's "LAB" and "Re-scaled LAB" are read by
:data:`~splitbrain.comparisons.POSTER_SPACES`)."""
NOISE_LABELS = {"salt_pepper": "S&P", "masking": "Masking", "gaussian": "Gaussian"}
TABLE1_COLUMNS = ("Architecture", "Image Space", "FT Epochs", "Seeds", "Top 1 Acc.", "Top 5 Acc.")
_ARCH_ORDER = {name: i for i, name in enumerate(ARCH_LABELS)}
_SPACE_ORDER = {name: i for i, name in enumerate(SPACE_LABELS)}


# ----------------------------------------------------------------------------------------------
# provenance


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """``git rev-parse HEAD`` of the package's repository, or None outside a git checkout."""
    where = Path(cwd) if cwd is not None else Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware_info() -> dict[str, Any]:
    """CPU model and count, torch's intra-op threads, Python and torch versions, and the CUDA device name (or None)."""
    import torch

    cuda = torch.cuda.is_available()
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cuda_device": torch.cuda.get_device_name(0) if cuda else None,
            "cuda_device_count": torch.cuda.device_count() if cuda else 0}


# ----------------------------------------------------------------------------------------------
# writing and reading


def machine_names(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The distinct machines of ``records`` in words, sorted: "<GPU name, else CPU model> (<n> CPU cores)"."""
    machines = [record.get("hardware") or {} for record in records]
    return sorted({f"{m.get('cuda_device') or m.get('cpu')} ({m.get('cpu_count')} CPU cores)" for m in machines})


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


def make_record(kind: str, config: Mapping[str, Any], metrics: Mapping[str, Any], *, model: Mapping[str, Any],
                seed: int, wall_time_s: float, pretrain_config: Mapping[str, Any] | None = None,
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Assemble a record (see the module docstring) with provenance filled in."""
    check_one_of(kind, "kind", RECORD_KINDS)
    from .about import __version__

    record = {"kind": kind, "model": dict(model), "config": dict(config),
              "pretrain_config": dict(pretrain_config) if pretrain_config is not None else None,
              "metrics": dict(metrics), "seed": seed, "git_commit": git_commit(), "hardware": hardware_info(),
              "wall_time_s": wall_time_s,
              "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "splitbrain_version": __version__, **(extra or {})}
    return _jsonable(record)


def model_entry(config, random_init: bool = False) -> dict[str, Any]:
    """The "model" entry of a record for a :class:`~splitbrain.presets.PretrainConfig`: method,
    architecture, colour space, width, whether it is the random initialisation, and a DAE's noise."""
    entry = {"method": config.method, "arch": config.arch, "color_space": config.color_space, "width": config.width,
             "random_init": bool(random_init)}
    if config.method == "dae":
        entry.update(noise=config.noise, noise_level=config.noise_level)
    return entry


SHIPPED_RESULTS = Path(__file__).resolve().parent / "records"
"""The repository's ``results/`` folder as the package ships it: the grids' run records, the
reference tables (``reference/``) and the pretrained networks (``pretrained/``). In a clone a
link to ``results/``; an installed package (a wheel, Colab) holds a copy as package data."""


def write_record(record: Mapping[str, Any], directory: str | os.PathLike = "results", name: str | None = None) -> Path:
    """Write ``record`` atomically as ``directory/name`` (replacing a file of that name; default a
    new unique ``<kind>-<method>-<arch>-<space>[-random]-seed<seed>-<timestamp>-<id>.json``); returns its path."""
    if name is None:
        model = record.get("model", {})
        parts = [model.get("method", "model"), model.get("arch", "arch"), model.get("color_space", "space"),
                 "random" if model.get("random_init") else None, f"seed{record.get('seed', 0)}"]
        label = "-".join(str(p) for p in parts if p)
        name = f"{record['kind']}-{label}-{_dt.datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}.json"
    elif not name or Path(name).name != name:
        raise ValueError(f"name must be a plain file name, got {name!r}")
    text = json.dumps(_jsonable(record), indent=2) + "\n"
    return atomic_write_text(Path(directory) / name, text)


class RecordError(ValueError):
    """A file that claims to be a record (it has a ``kind``) but does not follow the schema, or a
    ``*.json`` entry of a records folder that cannot be read as a file."""


# The schema: every field a reader of records reads, with the values it accepts. A leaf is a
# _Value; a dict is a mapping with those fields; _Optional lets a field be missing or null;
# _EachOf is a mapping of any keys (or a list) whose every item follows one schema.


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


class _Value(NamedTuple):
    """A leaf of the schema: ``accepts(value)`` says whether ``value`` fits, ``expected`` says what fits."""
    expected: str
    accepts: Callable[[Any], bool]


class _Optional(NamedTuple):
    schema: Any


class _EachOf(NamedTuple):
    schema: Any
    container: type = dict


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int)


def parse_time(text: Any) -> _dt.datetime | None:
    """The instant an ISO 8601 time names, timezone-aware (a time without a zone is UTC); None
    for anything else."""
    if not isinstance(text, str):
        return None
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=_dt.timezone.utc)


_TEXT = _Value("a string", lambda v: isinstance(v, str))
_FLAG = _Value("true or false", lambda v: isinstance(v, bool))
_INTEGER = _Value("an integer", _integer)
_COUNT = _Value("an integer >= 0", lambda v: _integer(v) and v >= 0)
_POSITIVE_COUNT = _Value("an integer >= 1", lambda v: _integer(v) and v >= 1)
_SCORE = _Value("a number in [0, 1]", lambda v: _finite(v) and 0 <= v <= 1)
_DIFFERENCE = _Value("a number in [-1, 1]", lambda v: _finite(v) and -1 <= v <= 1)
_NUMBER = _Value("a finite number", _finite)
_AMOUNT = _Value("a finite number >= 0", lambda v: _finite(v) and v >= 0)
_RATE = _Value("a finite number > 0", lambda v: _finite(v) and v > 0)
_SECONDS = _Value("a finite number of seconds >= 0", lambda v: _finite(v) and v >= 0)
_TIME = _Value("an ISO 8601 time", lambda v: parse_time(v) is not None)
_MAPPING: dict = {}

_SCORES = {"top1": _SCORE, "top5": _SCORE}
_LAYER = {**_SCORES, "val_top1": _Optional(_SCORE), "val_top5": _Optional(_SCORE), "train_top1": _Optional(_SCORE),
          "dim": _Optional(_COUNT)}
_PROBE_SIZES = {"num_classes": _POSITIVE_COUNT, "train_images": _COUNT, "test_images": _COUNT,
                "val_images": _Optional(_COUNT)}
_PROBE = {**_SCORES, "best_layer": _TEXT, "layers": _EachOf(_LAYER), "val_top1": _Optional(_SCORE),
          "layer_chosen_on": _Optional(_TEXT), **_PROBE_SIZES}
_TRIAL = {"head": _TEXT, "lr": _RATE, "val_top1": _SCORE}
_FINETUNE = {**_SCORES, "val_top1": _Optional(_SCORE), "lr": _Optional(_RATE), "head": _Optional(_TEXT),
             "images_seen": _Optional(_COUNT), "images_per_s": _Optional(_AMOUNT),
             "labels_per_class": _Optional(_POSITIVE_COUNT), "trials": _Optional(_EachOf(_TRIAL, list))}
_PRETRAIN = {"epochs": _Optional(_COUNT), "steps": _Optional(_COUNT), "final_loss": _Optional(_NUMBER),
             "images_per_s": _Optional(_AMOUNT)}
_REFERENCE_SPEEDS = _Value("a mapping of images/s under 'off' and 'bf16', or an empty one",
                           lambda v: isinstance(v, dict) and (not v or all(_AMOUNT.accepts(v.get(amp, _MISSING))
                                                                           for amp in ("off", "bf16"))))
_EVALUATION_CONFIG = {"finetune_epochs": _Optional(_COUNT), "probe_epochs": _Optional(_COUNT),
                      "finetune_head": _Optional(_TEXT), "finetune_lr": _Optional(_RATE)}

_COMMON_SCHEMA = {
    "kind": _Value(f"one of {RECORD_KINDS}", lambda v: isinstance(v, str) and v in RECORD_KINDS),
    "model": {"method": _TEXT, "arch": _TEXT, "color_space": _TEXT, "width": _Optional(_TEXT),
              "random_init": _Optional(_FLAG), "noise": _Optional(_TEXT), "noise_level": _Optional(_SCORE)},
    "config": _MAPPING, "metrics": _MAPPING, "seed": _INTEGER, "wall_time_s": _Optional(_SECONDS),
    "timestamp": _TIME,
    "hardware": _Optional({"cpu": _Optional(_TEXT), "cpu_count": _Optional(_COUNT), "cuda_device": _Optional(_TEXT),
                           "torch_threads": _Optional(_COUNT)}),
}
RECORD_SCHEMAS: dict[str, dict[str, Any]] = {
    "pretrain": {},
    "probe": {"config": _EVALUATION_CONFIG,
              "metrics": {**_SCORES, "best_layer": _Optional(_TEXT), "layers": _Optional(_EachOf(_LAYER))}},
    "finetune": {"config": _EVALUATION_CONFIG, "metrics": _FINETUNE},
    "run": {"grid": _TEXT, "run_id": _TEXT, "method": _TEXT, "labels_per_class": _Optional(_POSITIVE_COUNT),
            "config": {"pretrain": {"data": _TEXT, "image_size": _POSITIVE_COUNT, "batch_size": _POSITIVE_COUNT}},
            "metrics": {"probe": _PROBE, "finetune": _Optional(_FINETUNE), "pretrain": _Optional(_PRETRAIN)}},
    "margin": {"hardware": _COMMON_SCHEMA["hardware"].schema,
               "metrics": {"name": _TEXT, "recipe": _TEXT, "images_seen": _COUNT, "pretrain_s": _SECONDS,
                           "images_per_s": _AMOUNT, "gap": _DIFFERENCE,
                           "probe": {**_SCORES, "best_layer": _TEXT, "train_images": _COUNT, "val_images": _COUNT,
                                     "test_images": _COUNT},
                           "random": _SCORES,
                           "changes": _Optional({"pretrain": _Optional(_MAPPING), "evaluate": _Optional(_MAPPING)}),
                           "reference_images_per_s": _Optional(_REFERENCE_SPEEDS)}},
}
"""Per record kind, its fields beside those every record has, or in their place (its ``config`` and
``metrics``, and the grid fields of a "run" record)."""
_LABEL_COUNT_METRICS = {**RECORD_SCHEMAS["run"]["metrics"], "probe": {**_PROBE, "val_top1": _SCORE},
                        "finetune": _Optional({**_FINETUNE, "val_top1": _SCORE})}
"""A run with a label count chose between its probe and its fine-tuning on validation: both carry it."""


def _check_value(value: Any, schema: Any, field: str, source: str) -> None:
    """RecordError naming ``source`` and ``field`` unless ``value`` follows ``schema``."""
    if isinstance(schema, _Optional):
        if value is None or value is _MISSING:
            return
        schema = schema.schema
    if isinstance(schema, _Value):
        if not schema.accepts(value):
            _fail(source, field, schema.expected, value)
    elif isinstance(schema, _EachOf):
        if not isinstance(value, schema.container):
            _fail(source, field, "a mapping" if schema.container is dict else "a list", value)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            _check_value(item, schema.schema, f"{field}.{key}", source)
    else:
        if not isinstance(value, dict):
            _fail(source, field, "a mapping", value)
        for name, inner in schema.items():
            _check_value(value.get(name, _MISSING), inner, f"{field}.{name}" if field else name, source)


def _fail(source: str, field: str, expected: str, value: Any) -> None:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    raise RecordError(f"{source}: field {field} must be {expected}, got {shown}")


def validate_record(record: Mapping[str, Any], source: str = "record") -> None:
    """Check ``record`` against the schema of its kind (:data:`RECORD_SCHEMAS`): types, finite
    numbers, scores in [0, 1], times that parse; RecordError naming ``source`` (its file) and the
    first field that is missing or does not fit."""
    _check_value(record.get("kind", _MISSING), _COMMON_SCHEMA["kind"], "kind", source)
    schema = {**_COMMON_SCHEMA, **RECORD_SCHEMAS[record["kind"]]}
    if record["kind"] == "run" and record.get("labels_per_class") is not None:
        schema["metrics"] = _LABEL_COUNT_METRICS
    _check_value(record, schema, "", source)


def record_time(record: Mapping[str, Any]) -> _dt.datetime:
    """The instant of ``record``'s ``timestamp`` (:func:`parse_time`); RecordError naming the
    record's file when it is missing or not a time."""
    moment = parse_time(record.get("timestamp"))
    if moment is None:
        _fail(str(record.get("path", "record")), "timestamp", _TIME.expected, record.get("timestamp", _MISSING))
    return moment


MAX_RECORD_BYTES = 64 * 2**20
"""A records folder's ``*.json`` file larger than this is refused unread (records weigh kilobytes)."""


def read_json_file(path: Path) -> Any:
    """The JSON value in ``path``; RecordError naming it when it is not a regular file (a folder, a
    link to nothing, a FIFO, a socket or a device, none of which is opened), is too large, cannot
    be read or is not JSON."""
    try:
        status = os.stat(path)
    except OSError as error:
        what = "a link to nothing" if path.is_symlink() and isinstance(error, FileNotFoundError) else error.strerror
        raise RecordError(f"{path}: cannot be read ({what})") from None
    if not stat.S_ISREG(status.st_mode):
        what = "a folder" if stat.S_ISDIR(status.st_mode) else "a FIFO, socket or device"
        raise RecordError(f"{path}: not a record file ({what})")
    if status.st_size > MAX_RECORD_BYTES:
        raise RecordError(f"{path}: {status.st_size:,} bytes, too large for a record (at most {MAX_RECORD_BYTES:,})")
    try:
        # O_NONBLOCK: should the entry have become a FIFO since the check, opening it cannot wait
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(handle, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise RecordError(f"{path}: not a record file (it changed while being read)")
            data = stream.read(MAX_RECORD_BYTES + 1)
    except OSError as error:
        raise RecordError(f"{path}: cannot be read ({error.strerror or error})") from None
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise RecordError(f"{path}: not valid JSON ({error})") from None


_REPORTED_SKIPS: set[tuple[str, tuple[str, ...]]] = set()


def load_records(directory: str | os.PathLike = "results", kind: str | None = None,
                 skip_malformed: bool = False) -> list[dict[str, Any]]:
    """Every record ``*.json`` directly under ``directory`` (sorted by file name; none for a
    missing directory), validated (:func:`validate_record`); ``kind`` keeps only records of that kind.

    JSON files without a ``kind`` are not records and are passed over. An entry that is not a
    readable regular file (a folder, a link to nothing, a FIFO or a device, never opened), a file
    that is not valid JSON, or a record that breaks the schema is a RecordError naming the file
    (and the field), or, with ``skip_malformed``, left out and counted in one line on stderr (once
    per process for the same folder and records).
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    records, skipped = [], []
    for path in sorted(directory.glob("*.json")):
        try:
            record = read_json_file(path)
            if not isinstance(record, dict) or "kind" not in record:
                continue
            validate_record(record, source=str(path))
        except RecordError as error:
            if not skip_malformed:
                raise
            skipped.append(str(error))
            continue
        if kind is None or record["kind"] == kind:
            record.setdefault("path", str(path))
            records.append(record)
    if skipped and (key := (str(directory.resolve()), tuple(skipped))) not in _REPORTED_SKIPS:
        _REPORTED_SKIPS.add(key)
        print(f"splitbrain: skipped {len(skipped)} malformed record(s) under {directory}: {skipped[0]}"
              + (f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""), file=sys.stderr, flush=True)
    return records


# ----------------------------------------------------------------------------------------------
# Table 1


def _noise_label(model: Mapping[str, Any]) -> str:
    """A DAE's noise and level: "S&P 5%"."""
    level = model.get("noise_level")
    level_text = f" {level * 100:g}%" if isinstance(level, (int, float)) else ""
    return f"{NOISE_LABELS.get(model.get('noise', ''), str(model.get('noise', '')))}{level_text}"


def architecture_label(model: Mapping[str, Any]) -> str:
    """How tables name a model: "FC-ResNet18", "DAE S&P 5% Noise (SimpleNet)", "SimpleNet (random init)"."""
    arch = ARCH_LABELS.get(model.get("arch", ""), str(model.get("arch", "?")))
    label = f"DAE {_noise_label(model)} Noise ({arch})" if model.get("method") == "dae" else arch
    return label + " (random init)" if model.get("random_init") else label


def latest_by(records: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], Hashable]
              ) -> dict[Hashable, Mapping[str, Any]]:
    """The latest record of every ``key(record)``: a re-run of a setting replaces the earlier record
    instead of counting twice. Times compare as instants (:func:`record_time`; RecordError for a
    record without one); keys in order of their latest record."""
    latest: dict[Hashable, Mapping[str, Any]] = {}
    for record in sorted(records, key=record_time):
        latest[key(record)] = record
    return latest


def mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample std (None for one value) of the values that are not None (None, None if none is)."""
    values = [value for value in values if value is not None]
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def table1_rows(records: Iterable[Mapping[str, Any]], kind: str = "finetune") -> list[dict[str, Any]]:
    """Table 1 as a list of dicts, one per (architecture, image space, epochs) setting.

    Each row: ``architecture``, ``image_space``, ``ft_epochs``, ``top1``/``top5`` (means over
    the matching records), ``top1_std``/``top5_std`` (sample std, None for a single record),
    ``n`` (how many seeds) and ``seeds``; of several records with the same seed only the latest
    (by timestamp) counts. ``kind`` "finetune" (the poster's table) or "probe" (the probe's best
    layer; the epochs column then counts probe epochs). Rows follow the poster's order:
    architecture, then RGB, LAB, Re-scaled LAB.
    """
    epochs_key = "finetune_epochs" if kind == "finetune" else "probe_epochs"
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for record in records:
        if record.get("kind") != kind:
            continue
        model = record.get("model", {})
        key = (architecture_label(model), model.get("method", "splitbrain"), model.get("arch", ""),
               model.get("color_space", ""), record.get("config", {}).get(epochs_key))
        groups.setdefault(key, []).append(record)

    def sort_key(key):
        label, method, arch, space, epochs = key
        return (method == "dae", "random init" in label, _ARCH_ORDER.get(arch, 99), label,
                _SPACE_ORDER.get(space, 99), epochs if epochs is not None else -1)

    rows = []
    for key in sorted(groups, key=sort_key):
        label, _, _, space, epochs = key
        matching = list(latest_by(groups[key], lambda r: r.get("seed")).values())
        top1, top1_std = mean_std([float(r["metrics"]["top1"]) for r in matching])
        top5, top5_std = mean_std([float(r["metrics"]["top5"]) for r in matching])
        rows.append({"architecture": label, "image_space": SPACE_LABELS.get(space, space), "ft_epochs": epochs,
                     "top1": top1, "top1_std": top1_std, "top5": top5, "top5_std": top5_std,
                     "n": len(matching), "seeds": sorted(r.get("seed") for r in matching)})
    return rows


def format_mean_std(mean: float | None, std: float | None, scale: float = 1.0, digits: int = 4,
                    sign: bool = False) -> str:
    """"0.6123 ± 0.0051" (``std`` None: the mean alone; ``mean`` None: "")."""
    if mean is None:
        return ""
    value = round(mean * scale, digits) + 0.0  # a mean that rounds to zero shows no minus sign
    text = f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    return text if std is None else f"{text} ± {std * scale:.{digits}f}"


def format_points(mean: float, std: float | None) -> str:
    """A difference of fractions in percentage points: "+2.5 ± 0.4" (no spread for one seed)."""
    return format_mean_std(mean, std, scale=100, digits=1, sign=True)


def format_seeds(seeds: Sequence[int]) -> str:
    """Seeds as a page shows them: "0", "0‑2" for a run of consecutive seeds (a non-breaking
    hyphen, so a table cell never breaks it), "0, 2" otherwise."""
    seeds = sorted(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}\u2011{seeds[-1]}"
    return ", ".join(map(str, seeds))


def table1(records: Iterable[Mapping[str, Any]], kind: str = "finetune", digits: int = 4) -> str:
    """The poster's Table 1 with the number of seeds behind each row, as a markdown table of
    fractions, "mean ± std" over seeds; a one-line note when no record matches."""
    rows = table1_rows(records, kind=kind)
    if not rows:
        return f"(no {kind} records)"
    return pipe_table(TABLE1_COLUMNS, [
        [row["architecture"], row["image_space"], "" if row["ft_epochs"] is None else str(row["ft_epochs"]),
         str(row["n"]), format_mean_std(row["top1"], row["top1_std"], digits=digits),
         format_mean_std(row["top5"], row["top5_std"], digits=digits)] for row in rows])


# ----------------------------------------------------------------------------------------------
# Grid summaries: mean ± std over seeds, and the gap over the random-init floor

FLOOR_COLOR_SPACES = {"rgb": "rgb", "lab": "lab", "rescaled_lab": "lab"}
"""The colour space of a method's random-init floor. Rescaled Lab shares Lab's network and input
at initialisation (the per-image bins only change the targets), so Lab's floor is its floor."""

METHOD_KINDS_ORDER = ("splitbrain", "dae", "supervised", "random")
SUMMARY_SCORES = ("probe_top1", "probe_top5", "finetune_top1", "finetune_top5")


def method_label(model: Mapping[str, Any]) -> str:
    """How a summary names a run's method: "Split-brain", "DAE S&P 5%", "Random init", "Supervised"."""
    kind = model.get("method")
    if kind == "dae":
        return f"DAE {_noise_label(model)}"
    return {"splitbrain": "Split-brain", "random": "Random init", "supervised": "Supervised"}.get(kind, str(kind))


def summarize(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Aggregate "run" records (one grid's, or several) per (grid, architecture, method, labels per class).

    Each row: ``grid``, ``arch``, ``method`` (the grid's method name, e.g. "rescaled_lab"),
    ``labels_per_class`` (None: every labelled image), ``kind`` (splitbrain / dae / supervised /
    random), ``color_space``, ``width``, ``label`` (the width added where two methods of one
    network would share it and the image space), ``n`` and ``seeds``; for every score in
    :data:`SUMMARY_SCORES` its mean over seeds and ``<score>_std`` (sample std, None for one
    seed); ``best_layers`` (the probe layer reported for every seed). Of several records with the
    same seed only the latest (by timestamp) counts.

    The gap: every row other than a random-init one is compared seed by seed with the random-init
    row of the same grid, architecture and labels per class in the colour space
    :data:`FLOOR_COLOR_SPACES` names, giving ``floor`` (that row's method), ``gap_n``, and
    ``gap_probe_top1`` / ``gap_finetune_top1`` with ``_std``: the mean and sample std of the
    per-seed differences (None where there is no floor or no common seed). Rows are ordered by
    grid, architecture, kind (split-brain, DAE, supervised, random init) and colour space.
    """
    groups: dict[tuple, dict[Any, Mapping[str, Any]]] = {}
    latest = latest_by((r for r in records if r.get("kind") == "run"),
                       lambda r: (r.get("grid"), r.get("model", {}).get("arch"), r.get("method"),
                                  r.get("labels_per_class"), r.get("seed")))
    for (*key, seed), record in latest.items():
        groups.setdefault(tuple(key), {})[seed] = record

    rows = []
    for (grid, arch, method, labels), by_seed in groups.items():
        model = next(iter(by_seed.values()))["model"]
        # per seed, the scores of SUMMARY_SCORES (None for a stage the grid does not run)
        scores = {seed: {f"{stage}_{k}": float(r["metrics"][stage][k]) if r["metrics"].get(stage) else None
                         for stage in ("probe", "finetune") for k in ("top1", "top5")} for seed, r in by_seed.items()}
        row: dict[str, Any] = {
            "grid": grid, "arch": arch, "method": method, "labels_per_class": labels, "kind": model.get("method"),
            "color_space": model.get("color_space"), "width": model.get("width"), "label": method_label(model),
            "n": len(by_seed), "seeds": sorted(by_seed),
        }
        for name in SUMMARY_SCORES:
            row[name], row[f"{name}_std"] = mean_std([s[name] for s in scores.values()])
        row["best_layers"] = [by_seed[seed]["metrics"]["probe"].get("best_layer") for seed in sorted(by_seed)]
        row["_scores"] = scores
        rows.append(row)

    # Two methods of one network under one label and image space (a DAE at the grid's width and
    # one at its own): the label names the width.
    def shared(r):
        return r["grid"], r["arch"], r["label"], r["color_space"], r["labels_per_class"]

    labels = Counter(shared(r) for r in rows)
    for row in rows:
        if labels[shared(row)] > 1 and row["width"]:
            row["label"] = f"{row['label']} ({row['width']} width)"
        if row["labels_per_class"] is not None:
            row["label"] = f"{row['label']}, {row['labels_per_class']} labels per class"

    floors = {(r["grid"], r["arch"], r["color_space"], r["labels_per_class"]): r for r in rows if r["kind"] == "random"}
    for row in rows:
        floor = None
        if row["kind"] != "random":
            space = FLOOR_COLOR_SPACES.get(row["color_space"], row["color_space"])
            floor = floors.get((row["grid"], row["arch"], space, row["labels_per_class"]))
        seeds = sorted(set(row["_scores"]) & set(floor["_scores"])) if floor else []
        row["floor"] = floor["method"] if floor else None
        row["gap_n"] = len(seeds)
        for name in ("probe_top1", "finetune_top1"):
            gaps = [row["_scores"][s][name] - floor["_scores"][s][name] for s in seeds
                    if row["_scores"][s][name] is not None and floor["_scores"][s][name] is not None]
            row[f"gap_{name}"], row[f"gap_{name}_std"] = mean_std(gaps)

    kind_order = {name: i for i, name in enumerate(METHOD_KINDS_ORDER)}
    rows.sort(key=lambda r: (str(r["grid"]), _ARCH_ORDER.get(r["arch"], 99), str(r["arch"]), r["labels_per_class"] or 0,
                             kind_order.get(r["kind"], 99), _SPACE_ORDER.get(r["color_space"], 99), str(r["method"])))
    for row in rows:
        del row["_scores"]
    return rows


SUMMARY_COLUMNS = ("Architecture", "Method", "Image Space", "Seeds", "Probe Top 1", "Probe Top 5", "FT Top 1",
                   "FT Top 5", "Probe gap", "FT gap")


def format_summary(rows: Iterable[Mapping[str, Any]], digits: int = 4) -> str:
    """:func:`summarize`'s rows as a markdown table: accuracies as fractions, "mean ± std" over
    seeds; the gap columns are the per-seed differences from the random-init floor (top-1)."""
    rows = list(rows)
    if not rows:
        return "(no run records)"
    return pipe_table(SUMMARY_COLUMNS, [
        [ARCH_LABELS.get(row["arch"], str(row["arch"])), row["label"],
         SPACE_LABELS.get(row["color_space"], str(row["color_space"])), str(row["n"]),
         *(format_mean_std(row[name], row[f"{name}_std"], digits=digits) for name in SUMMARY_SCORES),
         *(format_mean_std(row[f"gap_{name}"], row[f"gap_{name}_std"], digits=digits, sign=True)
           for name in ("probe_top1", "finetune_top1"))] for row in rows])
