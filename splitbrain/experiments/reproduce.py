"""Run a named grid (``splitbrain.experiments.grids``): resumable, one JSON record per run.

::

    python -m splitbrain.experiments.reproduce --grid cifar-cpu --data-root cifar10/train
    splitbrain reproduce --grid cifar-cpu --data-root cifar10/train --dry-run

Each run (``<grid>/<arch>-<method>-seed<seed>``) goes through its stages in a run directory
``<runs_dir>/<grid>/<arch>-<method>-seed<seed>/`` and ends with a record
``<results_dir>/<grid>/<arch>-<method>-seed<seed>.json`` (kind "run", written atomically):

``checkpoint.pt``, ``metrics.jsonl``   pretraining (split-brain, DAE), checkpointed every epoch
``supervised.pt``                      the supervised ceiling's network after its training
``pretrain.json``, ``supervised.json``,
``probe.json``, ``finetune.json``      each stage's metrics, written when the stage finishes

Finished runs are skipped; stale ones run again (see :data:`RUN_STATES`). An interrupted or stale
run resumes: finished stages are read back from their files as long as every field their result
depends on is still the grid's (a change of fine-tuning recipe re-runs only the fine-tuning), and
an interrupted pretraining continues from its last epoch checkpoint; the supervised ceiling's
training and an interrupted probe or fine-tuning start again. A field a record or stage file
lacks counts as its dataclass default. One runner at a time writes a grid's folders
(``<runs_dir>/<grid>``, ``<results_dir>/<grid>``): a second one is refused, naming the first's pid.

The record (:func:`execute_run`) is a "run" record of :mod:`splitbrain.results`; its
``wall_time_s`` counts all stages over every invocation, ``stages`` the seconds of each.
"""
from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..files import atomic_write_text, check_writable_folder
from ..locks import folder_lock
from .grids import GRIDS, Grid, Run, get_grid
from ..presets import FINETUNE_ONLY_FIELDS, MACHINERY_FIELDS, EvalConfig, PretrainConfig, differing_fields
from ..results import (_jsonable, format_summary, load_records, make_record, model_entry, summarize,
                       write_record)
from ..runfolder import read_json_object

RUN_STATES = ("finished", "stale", "partial", "pending")
"""``finished``: a complete record made with the grid's current configuration exists;
``stale``: a complete record exists but was made with another configuration; ``partial``: the
run directory holds some of its work (a checkpoint or a finished stage); ``pending``: nothing yet."""

FINETUNE_KEYS = ("top1", "top5", "val_top1", "val_top5", "lr", "trials", "history", "head", "head_layer",
                 "probe_val_top1", "steps", "images_seen", "train_s", "images_per_s", "num_classes", "train_images",
                 "labels_per_class", "val_images", "test_images")
PROBE_LAYER_KEYS = ("val_top1", "val_top5", "top1", "top5", "train_top1", "dim")
PROBE_KEYS = ("best_layer", "layer_chosen_on", "val_top1", "top1", "top5", "num_classes", "train_images",
              "labels_per_class", "val_images", "test_images")
"""What a run record keeps of its fine-tuning stage, and of its probe stage (per layer, and at the top level)."""

CONFIG_CLASSES = {"pretrain": PretrainConfig, "supervised": EvalConfig, "evaluate": EvalConfig}
"""The configuration class of each part of a stage key or of a record's ``config``."""

STAGE_FILES = ("checkpoint.pt", "supervised.pt", "pretrain.json", "supervised.json", "probe.json", "finetune.json")


@dataclass(frozen=True)
class RunStatus:
    """What :func:`run_grid` did with one run: its ``state`` before this call, whether it ``ran``
    now, the ``record``'s path and this call's seconds on it."""

    run_id: str
    state: str
    ran: bool
    record: Path
    wall_time_s: float = 0.0


# ----------------------------------------------------------------------------------------------
# Paths and states


def record_path(run: Run, results_dir: str | Path = "results") -> Path:
    """``<results_dir>/<grid>/<arch>-<method>-seed<seed>.json``."""
    return Path(results_dir) / run.grid / f"{run.name}.json"


def run_directory(run: Run, runs_dir: str | Path = "runs") -> Path:
    """``<runs_dir>/<grid>/<arch>-<method>-seed<seed>``: checkpoints and stage files."""
    return Path(runs_dir) / run.grid / run.name


def is_complete(record: Mapping[str, Any] | None) -> bool:
    """True for a complete run record: kind "run", status "complete", probe scores, and
    fine-tuning scores unless its configuration fine-tuned for 0 epochs (a probe-only grid)."""
    if not record or record.get("kind") != "run" or record.get("status") != "complete":
        return False
    metrics = record.get("metrics") or {}
    evaluate = (record.get("config") or {}).get("evaluate") or {}
    parts = [metrics.get("probe") or {}]
    if evaluate.get("finetune_epochs") != 0:
        parts.append(metrics.get("finetune") or {})
    return all(isinstance(part.get(key), (int, float)) for part in parts for key in ("top1", "top5"))


def run_state(run: Run, results_dir: str | Path = "results", runs_dir: str | Path = "runs",
              grid: Grid | None = None, data_root: str | None = None) -> str:
    """The run's state (one of :data:`RUN_STATES`); without ``grid`` a complete record counts as
    finished whatever configuration made it."""
    record = read_json_object(record_path(run, results_dir))
    if is_complete(record):
        fresh = grid is None or same_key(record.get("config"), current_configs(grid, run, data_root))
        return "finished" if fresh else "stale"
    directory = run_directory(run, runs_dir)
    return "partial" if any((directory / name).is_file() for name in STAGE_FILES) else "pending"


def select_runs(runs: Sequence[Run], only: str | None) -> list[Run]:
    """The runs whose id or name matches ``only``: comma-separated shell patterns (fnmatch),
    e.g. ``"simplenet-*-seed0"`` or ``"*rescaled_lab*,*random-lab*"``; None keeps every run."""
    if only is None:
        return list(runs)
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    if not patterns:
        raise ValueError(f"only must hold at least one pattern, got {only!r}")
    chosen = [run for run in runs if any(fnmatch.fnmatchcase(run.run_id, p) or fnmatch.fnmatchcase(run.name, p)
                                         for p in patterns)]
    if not chosen:
        example = runs[0].run_id if runs else "<grid>/<arch>-<method>-seed<seed>"
        raise ValueError(f"only={only!r} matches none of the {len(runs)} runs (run ids look like {example!r})")
    return chosen


# ----------------------------------------------------------------------------------------------
# Stages


def fingerprint(config: Mapping[str, Any]) -> dict[str, Any]:
    """What a stage's key stores of a configuration dict: everything but :data:`MACHINERY_FIELDS`."""
    return json.loads(json.dumps({k: v for k, v in config.items() if k not in MACHINERY_FIELDS}))


def same_key(saved: Mapping[str, Any] | None, wanted: Mapping[str, Any],
             ignore: Mapping[str, frozenset[str]] | None = None) -> bool:
    """True when two stage keys (or a record's ``config`` and :func:`current_configs`) agree.

    Both map parts ("pretrain", "supervised", "evaluate") to configuration dicts (or None); the
    parts must be the same, and each part must agree on every field but :data:`MACHINERY_FIELDS`
    and the part's ``ignore`` fields, a field missing on one side counting as its default.
    """
    if not isinstance(saved, Mapping):
        return False
    wanted = {part: value for part, value in wanted.items() if value is not None}
    saved = {part: value for part, value in saved.items() if value is not None}
    if set(saved) != set(wanted):
        return False
    ignore = ignore or {}
    for part, value in wanted.items():
        if not isinstance(saved[part], Mapping):
            return False
        skip = MACHINERY_FIELDS | ignore.get(part, frozenset())
        if differing_fields(saved[part], value, CONFIG_CLASSES.get(part, EvalConfig), ignore=skip):
            return False
    return True


def run_configs(grid: Grid, run: Run, data_root: str | None = None, out: str = "runs/pretrain",
                progress: bool = False, verbose: bool = False) -> tuple[PretrainConfig, EvalConfig, EvalConfig | None]:
    """What ``grid`` gives ``run``: (the network's and pretraining's configuration, the probes'
    and fine-tuning's, the supervised ceiling's training or None for other methods); ``out`` is
    the run directory, ``verbose`` the pretraining's log lines."""
    network = dataclasses.replace(grid.pretrain_config(run, data_root, out=out), progress=progress, verbose=verbose)
    evaluate = dataclasses.replace(grid.eval_config(run, data_root), progress=progress, verbose=False)
    supervised = (dataclasses.replace(evaluate, finetune_epochs=grid.supervised_epochs)
                  if run.method.kind == "supervised" else None)
    return network, evaluate, supervised


def current_configs(grid: Grid, run: Run, data_root: str | None = None) -> dict[str, Any]:
    """The configurations ``grid`` gives ``run`` now, shaped like a record's ``config``."""
    if data_root is None and grid.needs_data_root:
        data_root = "data-root"  # a placeholder: the folder is machinery, not part of the comparison
    return _config_entry(*run_configs(grid, run, data_root))


def _config_entry(network: PretrainConfig, evaluate: EvalConfig, supervised: EvalConfig | None) -> dict[str, Any]:
    """A record's ``config``: {"pretrain", "evaluate", "supervised"} as dicts."""
    return {"pretrain": network.to_dict(), "evaluate": evaluate.to_dict(),
            "supervised": supervised.to_dict() if supervised is not None else None}


def validated_probe(probe: Mapping[str, Any]) -> bool:
    """True for probe metrics whose layer was chosen on validation, not on the held-out images."""
    return probe.get("layer_chosen_on") == "validation"


def _load_stage(path: Path, key: dict[str, Any], ignore: Mapping[str, frozenset[str]] | None = None
                ) -> dict[str, Any] | None:
    """A finished stage's metrics, if ``path`` exists and was made with the configuration ``key``
    (up to the ``ignore`` fields of each part; see :func:`same_key`)."""
    stage = read_json_object(path)
    if stage is None or "metrics" not in stage or not same_key(stage.get("key"), key, ignore):
        return None
    return stage


def _save_stage(path: Path, key: dict[str, Any], metrics: Mapping[str, Any], wall_time_s: float) -> dict[str, Any]:
    stage = _jsonable({"key": key, "metrics": dict(metrics), "wall_time_s": wall_time_s})
    atomic_write_text(path, json.dumps(stage, indent=2) + "\n")
    return stage


def _differing_network(checkpoint: Mapping[str, Any], network_config: PretrainConfig) -> list[str]:
    """The fields a checkpoint's configuration differs in from ``network_config`` (machinery aside)."""
    return differing_fields(checkpoint["config"], network_config.to_dict(), PretrainConfig, ignore=MACHINERY_FIELDS)


def _pretrain_stage(pretrain_config, directory: Path, key: dict[str, Any]) -> dict[str, Any]:
    """Split-brain or DAE pretraining, resumed from ``checkpoint.pt`` when one is there; ValueError
    when the checkpoint was made under another configuration (resuming it would mix two recipes)."""
    from ..checkpoint import CHECKPOINT_NAME, load_checkpoint
    from ..train import pretrain

    checkpoint = directory / CHECKPOINT_NAME
    done_epochs = 0
    if checkpoint.is_file():
        saved = load_checkpoint(checkpoint)
        differ = _differing_network(saved, pretrain_config)
        if differ:
            raise ValueError(f"{checkpoint} was pretrained with another configuration ({', '.join(differ)} differ "
                             f"from the grid's); delete {directory} to start this run again")
        done_epochs = int(saved["epoch"])
    result = pretrain(pretrain_config, resume=True if checkpoint.is_file() else None)
    # the time earlier invocations spent on the epochs the checkpoint held
    earlier = sum(float(h.get("epoch_time_s", 0.0)) for h in result.history if h.get("epoch", 0) <= done_epochs)
    metrics = {"final_loss": result.final_loss, "epochs": result.epochs, "steps": result.steps,
               "images_per_s": result.images_per_s, "resumed_from_epoch": done_epochs if done_epochs else None,
               "history": result.history}
    return _save_stage(directory / "pretrain.json", key, metrics, result.wall_time_s + earlier)


def shipped_network(run: Run, network_config, directory: Path) -> Path | None:
    """The shipped network (:data:`splitbrain.weights.PRETRAINED`) made by ``run``, if one is, its
    configuration is still ``network_config``'s and ``directory`` holds no pretraining of its own:
    a grid that evaluates it then needs no pretraining. None otherwise."""
    from ..checkpoint import CHECKPOINT_NAME, load_checkpoint
    from ..weights import PRETRAINED, locate

    if (directory / CHECKPOINT_NAME).is_file():
        return None
    for name, weights in PRETRAINED.items():
        if weights.record == record_path(run).as_posix():
            try:
                path = locate(name, download=False)
            except (FileNotFoundError, ValueError):
                return None
            return None if _differing_network(load_checkpoint(path), network_config) else path
    return None


def _supervised_stage(config, network_config, directory: Path, key: dict[str, Any]) -> dict[str, Any]:
    """The supervised ceiling: train the network of ``network_config`` from random initialisation
    on the probe's fit part (``finetune`` with ``config``; the validation part that chooses the
    probe's layer stays unseen, as for every other method), save its weights as a checkpoint."""
    from ..checkpoint import atomic_torch_save, checkpoint_state
    from ..finetune import finetune
    from ..networks import load_network

    start = time.perf_counter()
    trained = finetune(config, *load_network(network_config, random_init=True, seed=config.seed), random_init=True)
    network = trained.model.extractor.model
    atomic_torch_save(checkpoint_state(network_config.to_dict(), network.state_dict(), config.finetune_epochs, 0,
                                       supervised=True), directory / "supervised.pt")
    metrics = {key_: trained.metrics[key_] for key_ in ("top1", "top5", "history", "train_images", "test_images")}
    return _save_stage(directory / "supervised.json", key, metrics, time.perf_counter() - start)


def _evaluate_stage(kind: str, config, source, random_init: bool, path: Path, key: dict[str, Any]) -> dict[str, Any]:
    """A linear probe ("probe") or fine-tuning ("finetune") of the network ``source`` names (a
    checkpoint path, or a configuration whose ``random_init`` network is evaluated); saved to ``path``."""
    from ..evaluate import linear_probe
    from ..finetune import finetune
    from ..networks import load_network

    start = time.perf_counter()
    model, pretrain_config = load_network(source, random_init=random_init, seed=config.seed)
    result = (linear_probe if kind == "probe" else finetune)(
        config, model, pretrain_config, random_init=random_init,
        checkpoint=None if isinstance(source, PretrainConfig) else str(source))
    return _save_stage(path, key, result.metrics, time.perf_counter() - start)


def execute_run(grid: Grid, run: Run, data_root: str | None = None, results_dir: str | Path = "results",
                runs_dir: str | Path = "runs", progress: bool = False, verbose: bool = False) -> Path:
    """Run (or resume) every stage of ``run`` and write its record; returns the record's path."""
    directory = run_directory(run, runs_dir)
    directory.mkdir(parents=True, exist_ok=True)
    network_directory = run_directory(grid.network_run(run), runs_dir)  # ``directory`` unless networks_from
    network_config, eval_config, supervised_config = run_configs(grid, run, data_root, str(network_directory),
                                                                 progress, verbose)
    method = run.method
    configs = _config_entry(network_config, eval_config, supervised_config)
    # Each stage's key: every configuration its result depends on (upstream stages included).
    pretrain_key = {part: fingerprint(configs[part]) for part in ("pretrain", "supervised")
                    if configs[part] is not None}
    eval_key = {**pretrain_key, "evaluate": fingerprint(configs["evaluate"])}

    stages: dict[str, dict[str, Any]] = {}
    source: str | PretrainConfig  # what the probe and the fine-tuning evaluate
    if method.pretrains:
        stage = _load_stage(network_directory / "pretrain.json", pretrain_key)
        shipped = None if stage else shipped_network(grid.network_run(run), network_config, network_directory)
        if shipped is not None:
            stages["pretrain"] = {"metrics": {"shipped": shipped.stem}, "wall_time_s": 0.0}
            source = str(shipped)
        else:
            network_directory.mkdir(parents=True, exist_ok=True)
            stages["pretrain"] = stage or _pretrain_stage(network_config, network_directory, pretrain_key)
            source = str(network_directory / "checkpoint.pt")
    elif method.kind == "supervised":
        stage = _load_stage(directory / "supervised.json", pretrain_key)
        if stage is None or not (directory / "supervised.pt").is_file():
            stage = _supervised_stage(supervised_config, network_config, directory, pretrain_key)
        stages["pretrain"] = stage
        source = str(directory / "supervised.pt")
    else:
        source = network_config

    kinds = ("probe", "finetune") if eval_config.finetune_epochs > 0 else ("probe",)  # 0: a probe-only grid
    for kind in kinds:
        path = directory / f"{kind}.json"
        ignore = {"evaluate": FINETUNE_ONLY_FIELDS} if kind == "probe" else None
        stage = _load_stage(path, eval_key, ignore)
        if kind == "probe" and stage is not None and not validated_probe(stage["metrics"]):
            stage = None  # its layer was not chosen on validation: probe again
        stages[kind] = stage or _evaluate_stage(kind, eval_config, source, method.kind == "random", path, eval_key)

    probe, tuned = stages["probe"]["metrics"], stages["finetune"]["metrics"] if "finetune" in stages else None
    metrics = {
        "probe": {"layers": {layer: {k: s[k] for k in PROBE_LAYER_KEYS if k in s}
                             for layer, s in probe["layers"].items()},
                  **{k: probe[k] for k in PROBE_KEYS if k in probe}},
        "finetune": {k: tuned[k] for k in FINETUNE_KEYS if k in tuned} if tuned is not None else None,
        "pretrain": stages["pretrain"]["metrics"] if "pretrain" in stages else None,
    }
    model = {**model_entry(network_config, random_init=method.kind == "random"), "method": method.kind}
    seconds = {name: float(stage["wall_time_s"]) for name, stage in stages.items()}
    record = make_record(
        "run", configs, metrics, model=model, seed=run.seed,
        wall_time_s=sum(seconds.values()), pretrain_config=configs["pretrain"],
        extra={"grid": grid.name, "run_id": run.run_id, "method": method.name, "labels_per_class": run.labels_per_class,
               "stages": seconds, "run_dir": str(directory), "status": "complete"})
    return write_record(record, Path(results_dir) / grid.name, name=f"{run.name}.json")


# ----------------------------------------------------------------------------------------------
# The grid


def run_grid(grid: str | Grid, data_root: str | None = None, results_dir: str | Path = "results",
             runs_dir: str | Path = "runs", only: str | None = None, dry_run: bool = False,
             archs: Sequence[str] | None = None, progress: bool = False, verbose: bool = True) -> list[RunStatus]:
    """Run every unfinished run of ``grid`` (a name in ``GRIDS`` or a :class:`Grid`), in order;
    one :class:`RunStatus` per selected run (``only``: see :func:`select_runs`).

    ``data_root``: the dataset's directory, required by grids over an ImageFolder tree;
    ``dry_run``: list the runs and their states, run nothing; ``archs``: replaces the grid's
    architectures. ValueError for an unknown grid, a pattern that matches nothing or a missing
    ``data_root``; FolderInUseError when another process runs the grid into the same folders;
    whatever a run raises passes through (the next call resumes where it stopped).
    """
    grid = get_grid(grid) if isinstance(grid, str) else grid
    runs = select_runs(grid.runs(archs), only)
    states = [run_state(run, results_dir, runs_dir, grid, data_root) for run in runs]
    with ExitStack() as held:
        if not dry_run and any(state != "finished" for state in states):
            held.enter_context(held_grid_folders(grid, data_root, results_dir, runs_dir))
            states = [run_state(run, results_dir, runs_dir, grid, data_root) for run in runs]  # now nobody else writes
        if verbose:
            counts = ", ".join(f"{states.count(s)} {s}" for s in RUN_STATES if states.count(s))
            print(f"grid {grid.name}: {len(runs)} runs ({counts})", flush=True)
            if dry_run:
                print(f"  {grid.description}", flush=True)
        return [_run_one(grid, run, state, f"[{index}/{len(runs)}]", data_root, results_dir, runs_dir,
                         dry_run, progress, verbose)
                for index, (run, state) in enumerate(zip(runs, states), start=1)]


@contextmanager
def held_grid_folders(grid: Grid, data_root: str | None, results_dir: str | Path, runs_dir: str | Path):
    """Check every output location before any run starts, then hold the grid's folders of records
    and of runs (``<results_dir>/<grid>``, ``<runs_dir>/<grid>``) against every other splitbrain
    process for the ``with`` block. ValueError for a missing ``data_root`` or an unwritable folder."""
    if grid.needs_data_root and data_root is None:
        raise ValueError(f"data_root is required for grid {grid.name!r}: the ImageFolder tree root/<class>/<image> "
                         f"(e.g. the extracted CIFAR-10 JPEGs' train folder)")
    check_writable_folder(results_dir, "--results")
    check_writable_folder(runs_dir, "--runs")
    with ExitStack() as held:
        for folder in (Path(runs_dir) / grid.name, Path(results_dir) / grid.name):
            folder.mkdir(parents=True, exist_ok=True)
            held.enter_context(folder_lock(folder, f"splitbrain reproduce --grid {grid.name}"))
        yield


def _run_one(grid: Grid, run: Run, state: str, position: str, data_root: str | None, results_dir: str | Path,
             runs_dir: str | Path, dry_run: bool, progress: bool, verbose: bool) -> RunStatus:
    """List ``run`` (in ``state``), or execute it unless it is finished (``position``: "[i/n]")."""
    if dry_run or state == "finished":
        if verbose:
            print(f"  {state:>8}  {run.run_id}", flush=True)
        return RunStatus(run.run_id, state, False, record_path(run, results_dir))
    if verbose:
        print(f"{position} {run.run_id} ({state})", flush=True)
    start = time.perf_counter()
    path = execute_run(grid, run, data_root, results_dir, runs_dir, progress=progress, verbose=verbose)
    seconds = time.perf_counter() - start
    if verbose:
        metrics = (read_json_object(path) or {}).get("metrics", {})
        probe, tuned = metrics.get("probe") or {}, metrics.get("finetune") or {}
        tuned_text = f", finetune top-1 {tuned['top1']:.4f}" if "top1" in tuned else ""
        print(f"    probe top-1 {probe.get('top1', float('nan')):.4f} ({probe.get('best_layer')})"
              f"{tuned_text}; {seconds:.0f} s -> {path}", flush=True)
    return RunStatus(run.run_id, state, True, path, seconds)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``splitbrain reproduce``."""
    parser.add_argument("--grid", required=True, choices=tuple(GRIDS), help="the grid to run")
    parser.add_argument("--data-root", help="dataset directory (cifar-cpu: the CIFAR-10 JPEGs' train/ folder)")
    parser.add_argument("--only", metavar="PATTERN",
                        help="comma-separated shell patterns on run ids, e.g. 'simplenet-*-seed0'")
    parser.add_argument("--archs", help="comma-separated architectures replacing the grid's (e.g. add fcalexnet)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and their states; run nothing")
    parser.add_argument("--results", default="results", help="records go to RESULTS/<grid>/ (default: results)")
    parser.add_argument("--runs", default="runs", help="run directories go to RUNS/<grid>/ (default: runs)")
    parser.add_argument("--progress", action="store_true", help="progress bars inside each run")


def run_command(args: argparse.Namespace) -> int:
    """Run the grid the parsed ``args`` describe, then print the summary of its records."""
    archs = tuple(a.strip() for a in args.archs.split(",") if a.strip()) if args.archs else None
    run_grid(args.grid, data_root=args.data_root, results_dir=args.results, runs_dir=args.runs, only=args.only,
             dry_run=args.dry_run, archs=archs, progress=args.progress)
    if not args.dry_run:
        records = load_records(Path(args.results) / args.grid, kind="run")
        if records:
            print()
            print(format_summary(summarize(records)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``splitbrain reproduce ...``, also run by ``python -m`` on this module."""
    from ..command import PROG, run_tool

    return run_tool(f"{PROG} reproduce", __doc__.splitlines()[0], add_arguments, run_command, argv)


if __name__ == "__main__":
    sys.exit(main())
