"""Time to margin: how fast split-brain pretraining beats the same network at random initialisation.

    python -m splitbrain.experiments.margin --data-root cifar10/train            # the 20-minute recipe
    python -m splitbrain.experiments.margin --data-root cifar10/train --recipe cifar-60min
    python -m splitbrain.experiments.margin --recipe embedded                    # no dataset needed
    python -m splitbrain.experiments.margin --data-root cifar10/train --set lr=3e-3 --name lr-3e-3

One trial pretrains a split-brain network as the recipe says, probes it
(:func:`splitbrain.evaluate.linear_probe`), and probes the same architecture at its seeded
random initialisation through the same code and data: the margin over random convolutional
features is the evidence that pretraining learned something.

A trial writes one "margin" record (``--results``): both configurations, the pretraining's images
seen, its training seconds (summed over epochs, so a resumed run counts every epoch once) and
images per second, both probes layer by layer, the gap, and the process's peak resident memory;
:func:`margin_table` turns them into the "what made it learn" table. A finished pretraining in
the run directory ``<--runs>/<name>`` is reused, so a repeated command probes again instead of
training again (``--resume`` continues an unfinished one).
"""
from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..presets import DATASETS, MACHINERY_FIELDS, get_eval_preset, get_preset
from ..results import record_time
from ..tables import pipe_table
from .recipes import DEFAULT_RECIPE, RECIPES


# Settings that change how fast a pretraining runs though not what it computes: a trial measures
# time, so a finished pretraining made under other values of these is not reused.
SPEED_FIELDS = frozenset({"device", "amp", "channels_last", "compile", "num_workers", "in_memory"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``splitbrain margin``."""
    parser.add_argument("--recipe", default=DEFAULT_RECIPE, choices=tuple(RECIPES),
                        help="named recipe (see RECIPES in this module)")
    parser.add_argument("--data", default=None, choices=DATASETS,
                        help="dataset (default: the recipe's, else an image folder)")
    parser.add_argument("--data-root", default=None,
                        help="an ImageFolder tree root/<class>/<image>, e.g. cifar10/train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a pretraining field of the recipe, e.g. --set lr=3e-3 (repeatable)")
    parser.add_argument("--eval-set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override an evaluation field, e.g. --eval-set probe_epochs=50 (repeatable)")
    parser.add_argument("--name", default=None, help="the trial's name (default: the recipe's name and seed)")
    parser.add_argument("--runs", default="runs/margin", help="directory of the trials' run directories")
    parser.add_argument("--results", default="results/margin", help="directory for the margin record ('none': none)")
    parser.add_argument("--resume", action="store_true", help="continue an unfinished pretraining of this trial")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    parser.add_argument("--report", metavar="FILE", default=None,
                        help="run nothing: write the table of the --results records between FILE's "
                             "<!-- margin:trials --> markers ('-': print it)")


def overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The trial's changes to its recipe: {"pretrain": {field: value}, "evaluate": {...}}."""
    from ..presets import EvalConfig, PretrainConfig, parse_overrides

    return {"pretrain": parse_overrides(args.set, PretrainConfig),
            "evaluate": parse_overrides(args.eval_set, EvalConfig)}


def trial_configs(args: argparse.Namespace):
    """(name, PretrainConfig, EvalConfig) of the trial ``args`` describe."""
    recipe = RECIPES[args.recipe]
    changes = overrides(args)
    data = args.data or recipe.pretrain.get("data", "folder")
    name = args.name or f"{args.recipe}-seed{args.seed}"
    config = get_preset("cpu", **{**recipe.pretrain, "data": data, "data_root": args.data_root,
                                  "seed": args.seed, "progress": bool(args.progress), **changes["pretrain"],
                                  "out": str(Path(args.runs) / name), "record_dir": None, "log_every": 50})
    eval_config = get_eval_preset("cpu", data=config.data, data_root=config.data_root, image_size=config.image_size,
                                  seed=config.seed, split_seed=config.split_seed, record_dir=None, verbose=False,
                                  progress=bool(args.progress), **{**recipe.evaluate, **changes["evaluate"]})
    return name, config, eval_config


REFERENCE_STEPS = 12
"""Timed steps of :func:`reference_speed` (after 3 warm-up steps)."""


def reference_speed(config, amp: str) -> float:
    """Images per second of the training loop's own step (forward, backward, Adam) for ``config`` on
    one fixed random batch under ``amp`` ("off" or "bf16"), no data loading: the machine's speed,
    so a trial's minutes can be scaled to another machine. The global RNG is left as it was."""
    import time

    import torch

    from ..models import build_model, build_targets_for
    from ..runtime import resolve_amp
    from ..train import SplitBrainObjective, forward_backward, optimizer_step

    state = torch.get_rng_state()
    targets = build_targets_for(config)
    model = build_model(config, targets)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    objective = SplitBrainObjective(targets, channels_last=config.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    amp_dtype = resolve_amp(amp, torch.device("cpu"))
    rgb = torch.randint(0, 256, (config.batch_size, 3, config.image_size, config.image_size), dtype=torch.uint8)

    def step() -> None:
        forward_backward(model, objective, rgb, amp_dtype, scaler)
        optimizer_step(optimizer, scaler)

    for _ in range(3):  # warm-up: allocator and oneDNN primitive caches
        step()
    start = time.perf_counter()
    for _ in range(REFERENCE_STEPS):
        step()
    seconds = time.perf_counter() - start
    torch.set_rng_state(state)
    return REFERENCE_STEPS * config.batch_size / seconds


def _probe_summary(metrics: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("best_layer", "layer_chosen_on", "val_top1", "top1", "top5", "train_images", "val_images", "test_images")
    return {"layers": metrics["layers"], **{k: metrics[k] for k in keep}}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run one trial; returns the margin record (also written unless ``--results none``)."""
    from ..checkpoint import CHECKPOINT_NAME
    from ..evaluate import build_eval_datasets, linear_probe
    from ..networks import load_network
    from ..files import check_writable_folder
    from ..predict import matching_checkpoint
    from ..results import make_record, model_entry, write_record
    from ..train import pretrain

    name, config, eval_config = trial_configs(args)
    if args.results.lower() != "none":  # the record's folder is checked before any work
        check_writable_folder(args.results, "--results")
    checkpoint = Path(config.out) / CHECKPOINT_NAME
    finished = matching_checkpoint(checkpoint, config, ignore=MACHINERY_FIELDS - SPEED_FIELDS)
    if finished is None and checkpoint.exists() and not args.resume:
        raise ValueError(f"{checkpoint} holds an unfinished or different pretraining; continue it with --resume, "
                         f"or give the trial another --name (or --runs) to start afresh")
    if finished is None:
        print(f"1/3 pretraining {name}: {config.arch} ({config.width} width, {config.color_space}), "
              f"{config.epochs} epochs, batch {config.batch_size}, lr {config.lr:g} ({config.lr_schedule}), "
              f"amp {config.amp}, {config.grid}x{config.grid} targets", flush=True)
    else:
        print(f"1/3 {finished} holds this trial's finished pretraining: reused", flush=True)
    speeds = {amp: reference_speed(config, amp) for amp in ("off", "bf16")}
    print(f"    reference step on this machine: {speeds['off']:.0f} img/s in float32, "
          f"{speeds['bf16']:.0f} img/s under bfloat16 autocast", flush=True)
    trained = pretrain(config, resume=bool(args.resume) or finished is not None)
    history = trained.history
    train_s = sum(epoch["epoch_time_s"] for epoch in history)  # every epoch once, across resumptions
    images_seen = trained.steps * config.batch_size
    print(f"    {images_seen:,} images in {train_s / 60:.1f} min ({images_seen / max(train_s, 1e-9):.0f} img/s), "
          f"final loss {trained.final_loss:.3f}", flush=True)

    datasets = build_eval_datasets(eval_config)
    print(f"2/3 linear probe of the pretrained network ({len(datasets[0])} labelled images, "
          f"{eval_config.probe_val_fraction:.0%} of them for validation; {len(datasets[1])} held out)", flush=True)
    probe = linear_probe(eval_config, *load_network(trained.checkpoint, seed=eval_config.seed), datasets=datasets,
                         checkpoint=trained.checkpoint)
    print("3/3 the same probe on the same network at random initialisation", flush=True)
    random = linear_probe(eval_config, *load_network(trained.checkpoint, random_init=True, seed=eval_config.seed),
                          random_init=True, datasets=datasets, checkpoint=trained.checkpoint)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print()
    print(f"{'layer':>8} | {'split-brain val / held-out':>26} | {'random init val / held-out':>26}")
    for layer, scores in probe.metrics["layers"].items():
        floor = random.metrics["layers"][layer]
        print(f"{layer:>8} | {scores['val_top1']:>12.4f} {scores['top1']:>13.4f} | "
              f"{floor['val_top1']:>12.4f} {floor['top1']:>13.4f}")
    gap = probe.metrics["top1"] - random.metrics["top1"]
    ours, floor = probe.metrics, random.metrics
    print(f"\nheld-out top-1 at the layer chosen on validation: split-brain {ours['top1']:.4f} "
          f"({ours['best_layer']}), random init {floor['top1']:.4f} ({floor['best_layer']}), "
          f"gap {100 * gap:+.1f} points after {images_seen:,} images, {train_s / 60:.1f} min of pretraining "
          f"(peak memory {peak_mb:,.0f} MB)")

    metrics = {"name": name, "recipe": args.recipe, "changes": overrides(args), "images_seen": images_seen,
               "epochs": len(history), "pretrain_s": train_s, "images_per_s": images_seen / max(train_s, 1e-9),
               "reference_images_per_s": speeds, "final_loss": trained.final_loss, "history": history,
               "probe": _probe_summary(probe.metrics), "random": _probe_summary(random.metrics), "gap": gap,
               "peak_rss_mb": peak_mb}
    record = make_record("margin", {"pretrain": config.to_dict(), "evaluate": eval_config.to_dict()}, metrics,
                         model=model_entry(config), seed=config.seed,
                         wall_time_s=train_s + probe.wall_time_s + random.wall_time_s)
    if args.results.lower() != "none":
        print(f"record: {write_record(record, args.results)}")
    return record


def margin_rows(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per "margin" record, in time order: name, recipe, images seen, minutes, images/s,
    held-out top-1 of the pretrained and random-init probes (at their validation-chosen layers),
    the gap in points, and the machine's CPU."""
    rows = []
    for record in sorted(records, key=record_time):
        if record.get("kind") != "margin":
            continue
        m = record["metrics"]
        rows.append({
            "name": m["name"], "recipe": m["recipe"], "images_seen": m["images_seen"],
            "minutes": m["pretrain_s"] / 60, "images_per_s": m["images_per_s"],
            "top1": m["probe"]["top1"], "layer": m["probe"]["best_layer"],
            "random_top1": m["random"]["top1"], "gap_points": 100 * m["gap"],
            "cpu": record.get("hardware", {}).get("cpu"),
        })
    return rows


def _changes_text(record: Mapping[str, Any]) -> str:
    changes = record["metrics"].get("changes", {})
    parts = [f"{k}={v}" for part in ("pretrain", "evaluate") for k, v in changes.get(part, {}).items()]
    return ", ".join(f"`{p}`" for p in parts) if parts else "as named"


def _reference_text(record: Mapping[str, Any]) -> str:
    speeds = record["metrics"].get("reference_images_per_s") or {}
    return " / ".join(f"{speeds[amp]:.0f}" for amp in ("off", "bf16")) if speeds else "not measured"


def margin_table(records: Iterable[Mapping[str, Any]]) -> str:
    """The "what made it learn" table: one markdown row per margin record (:func:`margin_rows`),
    then the machines the trials ran on."""
    records = [r for r in records if r.get("kind") == "margin"]
    if not records:
        return "No margin records yet."
    header = ("trial", "recipe", "changed", "images seen", "minutes", "images/s (reference step fp32 / bf16)",
              "probe top-1 (layer)", "random init", "gap")
    table = pipe_table(header, [
        [row["name"], row["recipe"], _changes_text(record), f"{row['images_seen']:,}",
         f"{row['minutes']:.1f}", f"{row['images_per_s']:.0f} ({_reference_text(record)})",
         f"{100 * row['top1']:.1f}% ({row['layer']})", f"{100 * row['random_top1']:.1f}%",
         f"{row['gap_points']:+.1f}"]
        for record, row in zip(sorted(records, key=record_time), margin_rows(records))])
    machines = sorted({f"{r['hardware'].get('cpu') or 'an unknown CPU'} ({r['hardware'].get('torch_threads', '?')} "
                       f"threads)" for r in records})
    splits = sorted({(r["metrics"]["probe"]["train_images"], r["metrics"]["probe"]["val_images"],
                      r["metrics"]["probe"]["test_images"]) for r in records})
    train, val, test = (" / ".join(f"{n:,}" for n in sizes) for sizes in zip(*splits))
    return (f"{table}\n\nMinutes are pretraining only (the sum of the epochs' times), on "
            f"{' / '.join(machines)}. Probe: classifiers trained on {train} labelled images, the layer "
            f"chosen on {val} validation images, top-1 on {test} held-out images.\n")


def run_command(args: argparse.Namespace) -> int:
    """Run the trial ``args`` describe, or (``--report``) write the table of the records."""
    if args.report is None:
        run(args)
        return 0
    from ..results import load_records
    from ..sections import write_section

    section = margin_table(load_records(args.results, kind="margin"))
    if args.report == "-":
        print(section, end="")
    else:
        write_section(args.report, "trials", section, kind="margin")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``splitbrain margin ...``, also run by ``python -m`` on this module."""
    from ..command import PROG, run_tool

    return run_tool(f"{PROG} margin", __doc__.splitlines()[0], add_arguments, run_command, argv)


if __name__ == "__main__":
    sys.exit(main())
