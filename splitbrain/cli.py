"""The ``splitbrain`` command (also ``python -m splitbrain``): pretrain, probe, fine-tune, tabulate.

Every subcommand starts from a named preset (``--preset``, see ``splitbrain.presets``) and
applies the options given on top; ``--set FIELD=VALUE`` reaches any other configuration field.
Errors (a bad option, a missing dataset, a checkpoint of another architecture) end the
program with exit status 2 and one line on stderr: ``splitbrain: error: ...``.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Sequence

from .command import PROG, OneLineParser, reporting_errors
from .presets import (ARCHITECTURES, COLOR_SPACE_NAMES, DATASETS, METHODS, PRESET_NAMES, EvalConfig, PretrainConfig,
                      get_eval_preset, get_preset, parse_overrides, resolve_preset_name)
from .vocabulary import check_one_of

RUNS_FOLDER = Path("runs")
"""Where runs go by default (``runs/<name>``), relative to the working directory."""
OTHER_RECORDS = RUNS_FOLDER / "records"
"""Where the records of evaluations that have no run folder go by default (a random init, a shipped network)."""

DESCRIPTION = """\
Split-brain autoencoders (Zhang, Isola, Efros 2017): self-supervised pretraining by
cross-channel prediction, with the poster's per-image rescaled Lab bins.

Presets: smoke (CPU, seconds), cpu (CPU, minutes), colab (one T4 GPU, STL-10 96x96),
paper (the poster's setup), auto (colab with a GPU, else cpu)."""

EPILOG = """\
examples:
  splitbrain pretrain --preset smoke --out runs/smoke
  splitbrain probe --checkpoint runs/smoke/checkpoint.pt --preset smoke
  splitbrain probe --random-init --arch simplenet --preset smoke
  splitbrain pretrain --preset cpu --color-space rescaled_lab --seed 1
  splitbrain pretrain --preset cpu --data folder --data-root cifar10/train --set lr=3e-4
  splitbrain pretrain --preset cpu --resume              # continue runs/... from its checkpoint
  splitbrain finetune --checkpoint runs/smoke/checkpoint.pt --epochs 2
  splitbrain evaluate --checkpoint runs/smoke/checkpoint.pt
  splitbrain table --results results
  splitbrain reproduce --grid cifar-cpu --data-root cifar10/train --dry-run
  torchrun --nproc_per_node 2 -m splitbrain pretrain --preset colab   # several GPUs (DDP)

Checkpoints and metrics.jsonl go to --out (default: runs/<preset>-<method>-<arch>-<color
space>-seed<seed>). Run records (JSON) go beside the run unless --results says where: pretrain's
into --out, an evaluation's into its checkpoint's folder (runs/records for --random-init without
a checkpoint, or for a shipped network). One process at a time writes into a run folder.
"""


# ----------------------------------------------------------------------------------------------
# The parser


def _common(parser: argparse.ArgumentParser, records_default: str) -> None:
    parser.add_argument("--preset", default="auto", choices=PRESET_NAMES,
                        help="named configuration to start from (default: auto = colab with a GPU, else cpu)")
    parser.add_argument("--data", choices=DATASETS,
                        help="dataset: embedded photographs, stl10, cifar10, or an image folder")
    parser.add_argument("--data-root", help="dataset directory (for --data folder: root/<class>/<image>)")
    parser.add_argument("--download", action="store_true", default=None,
                        help="let torchvision download STL-10 / CIFAR-10 if missing")
    parser.add_argument("--image-size", type=int, help="square crop side in pixels")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:1, ...")
    parser.add_argument("--num-workers", type=int, help="DataLoader worker processes")
    parser.add_argument("--results", help=f"folder for the JSON run record (default: {records_default})")
    parser.add_argument("--no-record", action="store_true", help="do not write a JSON run record")
    parser.add_argument("--quiet", action="store_true", help="print only the final summary")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override any configuration field, e.g. --set lr=3e-4 (repeatable)")


def _model_options(parser: argparse.ArgumentParser, for_eval: bool) -> None:
    what = (" (with --random-init and no --checkpoint: the network to build; else checked against the checkpoint)"
            if for_eval else "")
    parser.add_argument("--method", choices=METHODS,
                        help="splitbrain (default) or dae, the denoising-autoencoder baseline" + what)
    parser.add_argument("--arch", choices=ARCHITECTURES, help="network architecture" + what)
    parser.add_argument("--color-space", choices=COLOR_SPACE_NAMES,
                        help="lab, rescaled_lab (the poster's) or rgb" + what)


def build_parser() -> argparse.ArgumentParser:
    from .about import __version__

    with_examples = dict(epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser = OneLineParser(prog=PROG, description=DESCRIPTION, **with_examples)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    commands.required = True

    pretrain = commands.add_parser("pretrain", help="self-supervised pretraining (no labels)",
                                   description="Pretrain a split-brain network (or the DAE baseline) without labels.",
                                   **with_examples)
    _common(pretrain, "the run folder, --out")
    _model_options(pretrain, for_eval=False)
    pretrain.add_argument("--out", help="run directory for checkpoint.pt and metrics.jsonl")
    pretrain.add_argument("--epochs", type=int, help="number of epochs (0 saves the initial weights only)")
    pretrain.add_argument("--batch-size", type=int, help="global batch size (split across torchrun processes)")
    pretrain.add_argument("--lr", type=float, help="Adam learning rate")
    pretrain.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT",
                          help="continue from --out's checkpoint.pt (or from CHECKPOINT) up to --epochs")

    for name, text in (("probe", "linear probes on frozen features, layer by layer"),
                       ("finetune", "fine-tune with a classifier on the last layer"),
                       ("evaluate", "probe + random-init probe (the floor) + fine-tune")):
        sub = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".",
                                  **with_examples)
        _common(sub, f"the checkpoint's folder; {OTHER_RECORDS} for --random-init without --checkpoint "
                     f"or for a shipped network")
        _model_options(sub, for_eval=True)
        sub.add_argument("--checkpoint", help="pretraining checkpoint (checkpoint.pt of a run directory)")
        sub.add_argument("--random-init", action="store_true",
                         help="evaluate a randomly initialised network of the same architecture instead")
        sub.add_argument("--epochs", type=int,
                         help="probe epochs" if name == "probe" else "fine-tuning epochs" if name == "finetune"
                         else "fine-tuning epochs (the probe uses the preset's)")
        sub.add_argument("--labels-per-class", type=int,
                         help="train on this many labelled images of every class (a seeded subset; default: all)")
        sub.add_argument("--grid", help="start from this grid's evaluation configuration instead of the preset's, "
                                        "e.g. label-efficiency (its recipe for --labels-per-class and --seed)")
        if name != "finetune":
            sub.add_argument("--layers", help="comma-separated layers to probe (default: all)")
        if name == "evaluate":
            sub.add_argument("--no-finetune", action="store_true", help="skip fine-tuning")

    table = commands.add_parser("table", help="tables of the run records of every grid, and Table 1",
                                description="Tables of the JSON records under --results: each grid's runs (mean ± std "
                                            "over seeds, seed counts, gaps over random init), then the poster's "
                                            "Table 1 of the probe or fine-tuning records.")
    table.add_argument("--results", default="results", help="directory of JSON records (default: results)")
    table.add_argument("--kind", default="finetune", choices=("finetune", "probe"),
                       help="which records (default: finetune)")
    table.add_argument("--format", default="markdown", choices=("markdown", "json"), help="output format")
    table.add_argument("--skip-malformed", action="store_true",
                       help="leave out records that break the schema and entries that are not readable files "
                            "(counted in one line) instead of stopping")

    for name, (_, text) in TOOLS.items():  # listed here; main() hands their arguments to their module
        commands.add_parser(name, help=text, add_help=False).add_argument("arguments", nargs=argparse.REMAINDER)
    return parser


# ----------------------------------------------------------------------------------------------
# Commands


def _given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """Config overrides from the options the user actually gave: {field: value}."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


_DATA_OPTIONS = ("data", "data_root", "download", "image_size", "seed", "device", "num_workers")


def _finish_overrides(args: argparse.Namespace, overrides: dict[str, Any], cls) -> dict[str, Any]:
    """``overrides`` with what --quiet, --no-record / --results and then --set say (``record_dir``
    None when neither says: see :func:`_records_beside`)."""
    if args.quiet:
        overrides["verbose"] = False
    overrides["record_dir"] = None if args.no_record else args.results
    overrides.update(parse_overrides(args.set, cls))
    return overrides


def _pretrain_config(args: argparse.Namespace) -> PretrainConfig:
    overrides = _given(args, *_DATA_OPTIONS, "method", "arch", "color_space", "out", "epochs", "batch_size", "lr")
    config = get_preset(args.preset, **_finish_overrides(args, overrides, PretrainConfig))
    if "out" not in overrides:
        preset = resolve_preset_name(args.preset)
        name = f"{preset}-{config.method}-{config.arch}-{config.color_space}-seed{config.seed}"
        config = dataclasses.replace(config, out=str(RUNS_FOLDER / name))
    return _records_beside(args, config, config.out)


def _records_beside(args: argparse.Namespace, config, folder: str | Path):
    """``config`` with its record going into ``folder`` (beside the run) unless --no-record,
    --results or --set record_dir said where."""
    if args.no_record or config.record_dir is not None:
        return config
    return dataclasses.replace(config, record_dir=str(folder))


def _evaluated_run(args: argparse.Namespace) -> Path | None:
    """The folder of the checkpoint an evaluation reads (its run's), or None: no checkpoint, or
    a network shipped in the package's results (which a user's records never go into)."""
    from .results import SHIPPED_RESULTS

    if not args.checkpoint:
        return None
    folder = Path(args.checkpoint).parent
    return None if folder.resolve().is_relative_to(SHIPPED_RESULTS.resolve()) else folder


def _holding_evaluated_run(args: argparse.Namespace):
    """The lock of the run folder whose checkpoint the command evaluates (a context manager):
    a checkpoint another process is training, or evaluating, is refused in one line."""
    from .locks import folder_lock

    folder = _evaluated_run(args)
    if folder is None or not Path(args.checkpoint).is_file():
        return nullcontext()
    return folder_lock(folder, f"splitbrain {args.command}")


def cmd_pretrain(args: argparse.Namespace) -> int:
    from .runtime import init_distributed
    from .train import pretrain

    config = _pretrain_config(args)
    resume = args.resume
    if isinstance(resume, str) and resume.lower() in ("true", "latest"):
        resume = True
    result = pretrain(config, resume=resume)
    if init_distributed().is_main:
        print(f"pretrained {config.method} {config.arch} ({config.color_space}): {result.epochs} epochs, "
              f"{result.steps} steps in {result.wall_time_s:.1f} s ({result.images_per_s:.0f} img/s); "
              f"final loss {result.final_loss:.4f}")
        print(f"checkpoint: {result.checkpoint}")
        if result.record_path is not None:
            print(f"record: {result.record_path}")
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    return 0


def _grid_eval_config(args: argparse.Namespace, overrides: dict[str, Any]) -> EvalConfig:
    """The evaluation configuration ``--grid`` gives the run of this network, labels and seed."""
    from .experiments.grids import Run, get_grid

    grid = get_grid(args.grid)
    labels, seed = args.labels_per_class, overrides.get("seed", 0)
    check_one_of(labels, "--labels-per-class", grid.labels, f" for grid {grid.name}")
    space = _checkpoint(args)["config"]["color_space"] if args.checkpoint else (args.color_space or "lab")
    wanted = f"random-{space}" if args.random_init else space
    method = next((m for m in grid.methods if m.name == wanted), grid.methods[0])
    run = Run(grid.name, grid.archs[0], method, seed, labels)
    changes = {k: v for k, v in overrides.items() if k not in ("seed", "labels_per_class")}
    return grid.eval_config(run, **changes)


def _eval_config(args: argparse.Namespace, epochs_field: str) -> EvalConfig:
    """The evaluation configuration the options give (``--epochs`` sets ``epochs_field``), its record
    going beside the checkpoint's run."""
    overrides = _given(args, *_DATA_OPTIONS, "labels_per_class")
    if args.epochs is not None:
        overrides[epochs_field] = args.epochs
    if getattr(args, "layers", None):
        overrides["layers"] = tuple(layer.strip() for layer in args.layers.split(",") if layer.strip())
    if args.grid:
        config = _grid_eval_config(args, _finish_overrides(args, overrides, EvalConfig))
    else:
        if args.checkpoint:
            # By default, evaluate on the dataset and at the image size of pretraining.
            saved = _checkpoint(args)["config"]
            if "data" not in overrides:
                overrides["data"] = saved["data"]
                if "data_root" not in overrides and saved.get("data_root"):
                    overrides["data_root"] = saved["data_root"]
            overrides.setdefault("image_size", saved["image_size"])
        config = get_eval_preset(args.preset, **_finish_overrides(args, overrides, EvalConfig))
    return _records_beside(args, config, _evaluated_run(args) or OTHER_RECORDS)


def _checkpoint(args: argparse.Namespace) -> dict[str, Any]:
    """The checkpoint named by --checkpoint, loaded once."""
    if not hasattr(args, "_loaded_checkpoint"):
        from .checkpoint import load_checkpoint

        args._loaded_checkpoint = load_checkpoint(args.checkpoint)
    return args._loaded_checkpoint


def _subject(args: argparse.Namespace, seed: int, random_init: bool | None = None) -> dict[str, Any]:
    """The network to evaluate and how the record names it: keyword arguments of linear_probe /
    finetune (``model``, ``pretrain_config``, ``random_init``, ``checkpoint``)."""
    from .networks import load_network

    if not args.checkpoint and not args.random_init:
        raise ValueError("give --checkpoint PATH (a pretraining checkpoint) or --random-init")
    random_init = args.random_init if random_init is None else random_init
    asked = _given(args, "method", "arch", "color_space")
    if args.checkpoint:
        from .checkpoint import check_compatible

        check_compatible(_checkpoint(args)["config"], asked, source=f"checkpoint {args.checkpoint}")
        model, config = load_network(_checkpoint(args), random_init=random_init, seed=seed, name=args.checkpoint)
        return {"model": model, "pretrain_config": config, "random_init": random_init, "checkpoint": args.checkpoint}
    if args.image_size is not None:
        asked["image_size"] = args.image_size  # the size the network's stem is built for
    model, config = load_network(get_preset(args.preset, **asked), random_init=True, seed=seed)
    return {"model": model, "pretrain_config": config, "random_init": True}


def _print_eval(result, label: str) -> None:
    m = result.metrics
    where = f" (layer {m['best_layer']})" if "best_layer" in m else ""
    note = "  [top-5 is trivially 1.0 with <= 5 classes]" if m.get("top5_trivial") else ""
    print(f"{label}: top-1 {m['top1']:.4f}  top-5 {m['top5']:.4f}{where}  {result.wall_time_s:.1f} s{note}")
    if result.record_path is not None:
        print(f"record: {result.record_path}")


def cmd_probe_or_finetune(args: argparse.Namespace) -> int:
    """A linear probe (``probe``) or fine-tuning (``finetune``) of the network the options name, printed."""
    from .evaluate import linear_probe
    from .finetune import finetune

    evaluation = linear_probe if args.command == "probe" else finetune
    with _holding_evaluated_run(args):
        config = _eval_config(args, f"{args.command}_epochs")
        subject = _subject(args, config.seed)
        label = args.command + (" (random init)" if subject["random_init"] else "")
        _print_eval(evaluation(config, **subject), label)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import build_eval_datasets, linear_probe
    from .finetune import finetune

    with _holding_evaluated_run(args):
        config = _eval_config(args, "finetune_epochs")
        datasets = build_eval_datasets(config)
        probe = linear_probe(config, **_subject(args, config.seed), datasets=datasets)
        floor = linear_probe(config, **_subject(args, config.seed, random_init=True), datasets=datasets)
        _print_eval(probe, "probe")
        _print_eval(floor, "probe (random init)")
        print(f"margin over random init: {probe.metrics['top1'] - floor.metrics['top1']:+.4f} top-1")
        if not args.no_finetune:
            _print_eval(finetune(config, **_subject(args, config.seed), datasets=datasets), "finetune")
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    """Tables of the records under ``--results``: each grid's run records (in the folder itself or
    one subfolder per grid), then the probe or fine-tuning records directly in the folder as Table 1."""
    from .results import format_summary, load_records, summarize, table1, table1_rows

    root = Path(args.results)
    if not root.is_dir():
        raise FileNotFoundError(f"--results {root} is not a folder of records")
    grids = {}
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        runs = load_records(folder, kind="run", skip_malformed=args.skip_malformed)
        if runs:  # headed by the grid its records name
            grids.setdefault(", ".join(sorted({r["grid"] for r in runs})), []).extend(runs)
    flat = load_records(root, kind=args.kind, skip_malformed=args.skip_malformed)
    if not grids and not flat:
        raise ValueError(f"--results {root} holds no run records and no {args.kind} records")
    if args.format == "json":
        print(json.dumps({"grids": {name: summarize(runs) for name, runs in grids.items()},
                          args.kind: table1_rows(flat, kind=args.kind)}, indent=2, default=str))
        return 0
    sections = [f"## {name}\n\n{format_summary(summarize(runs))}" for name, runs in grids.items()]
    if flat:
        sections.append(f"## {args.kind} records\n\n{table1(flat, kind=args.kind)}")
    print("\n\n".join(sections))
    return 0


COMMANDS = {"pretrain": cmd_pretrain, "probe": cmd_probe_or_finetune, "finetune": cmd_probe_or_finetune,
            "evaluate": cmd_evaluate, "table": cmd_table}

TOOLS = {
    "reproduce": (".experiments.reproduce", "run a named experiment grid, resumably (one JSON record per run)"),
    "margin": (".experiments.margin", "time to margin: pretrain with a recipe, probe it beside its random init"),
    "report": (".experiments.report", "print or write a grid's results section of the README"),
    "book": (".book", "execute the chapters and build the HTML book"),
    "weights": (".weights", "write a finished run's network as a shipped pretrained network"),
}
"""The subcommands whose options and action live in their own module (``add_arguments`` and
``run_command``, run by its ``main``); a module is imported only when its subcommand runs."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``splitbrain`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in TOOLS:
        return importlib.import_module(TOOLS[argv[0]][0], __package__).main(argv[1:])
    args = build_parser().parse_args(argv)
    return reporting_errors(COMMANDS[args.command], args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
