"""A grid's compute budget: the FLOPs of every run, counted from its configurations, and the
wall time they imply on a given processor.

A run's work is its networks' convolutions and matrix products:

- ``pretrain``: forward + backward of the split-brain pair or the DAE, per pretraining image;
  for the supervised ceiling, its training (the fine-tuning recipe below for
  ``supervised_epochs``);
- ``probe``: one forward pass of the trunks per probe-training and held-out image (every layer's
  features at once), then per layer the softmax regression's epochs and its two scoring passes;
- ``finetune``: forward + backward of the trunks and the classifier per image and epoch, one
  more forward pass over the training images for the precise-BN refresh, one over the held-out
  images.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` on the run's own networks built
on the meta device: shapes only, nothing is computed, so a whole grid is counted in seconds.
The colour conversion, losses, optimiser updates and data loading are not counted (elementwise
work; on a GPU they cost time but few FLOPs).

``python -m benchmarks.budget --grid stl10-colab`` (from the repository root) prints each run's FLOPs per stage
and its time at the fp16 tensor peak of a GPU (:data:`REFERENCE_GPU` unless ``--gpu``; a lower
bound: no run reaches the peak). The peaks come from ``results/reference/gpu_peaks.csv``;
``--write README.md`` fills the README's budget section.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from splitbrain.chapter_times import ESTIMATE_RECORD
from splitbrain.experiments.grids import Grid, Run, get_grid
from splitbrain.flops import COUNT_BATCH, count_flops, meta_network, pretext_flops_per_image, pretrain_images
from splitbrain.presets import MODEL_FIELDS, EvalConfig, PretrainConfig
from splitbrain.results import ARCH_LABELS

STAGES = ("pretrain", "probe", "finetune")
"""A run's stages, in order (the runner's stage files and a record's ``stages``)."""

SPLIT_SIZES: dict[str, dict[str, int]] = {
    "stl10": {"unlabeled": 100_000, "train": 5_000, "test": 8_000},
    "cifar10": {"train": 50_000, "test": 10_000},
}
"""Images per split of the datasets whose size is fixed (the "embedded" and "folder" datasets'
sizes depend on the files; their counts come from run records)."""
DATASET_CLASSES = {"stl10": 10, "cifar10": 10}
"""Label classes of the datasets of :data:`SPLIT_SIZES`."""

GPU_PEAKS_CSV = "gpu_peaks.csv"
"""The reference table of published GPU peaks, in the results' ``reference/`` folder."""
REFERENCE_GPU = "NVIDIA T4"
"""The GPU of a free Colab session, the one the ``colab`` presets are sized for."""


# ----------------------------------------------------------------------------------------------
# FLOPs per image


def _trunk_inputs(extractor, batch: int, size: int) -> list[torch.Tensor]:
    """Meta inputs of each trunk: (batch, trunk.in_channels, size, size)."""
    return [torch.empty(batch, trunk.in_channels, size, size, device="meta") for trunk in extractor.trunks]


def _run_trunks(extractor, inputs: Sequence[torch.Tensor], last: str) -> list[tuple[str, torch.Tensor]]:
    """(stage name, output) of every trunk's stages up to the stage ``last``: the extractor's
    pass without the colour conversion."""
    return [output for trunk, x in zip(extractor.trunks, inputs) for output in trunk.walk(x, until=last)]


@dataclass(frozen=True)
class ImageCosts:
    """FLOPs per image of a network under one run's configurations.

    pretrain: forward + backward of the pretext task (split-brain pair or DAE), 0 for networks
        that are not pretrained (random init, supervised).
    features: forward of the trunks to the deepest feature layer (the probes' extraction).
    probe_dims: the probe's feature dimension per layer (after pooling to ``max_dim``).
    finetune_step: forward + backward of the trunks and the classifier head.
    finetune_forward: forward of the trunks and the head (precise BN, scoring).
    """

    pretrain: int
    features: int
    probe_dims: Mapping[str, int]
    finetune_step: int
    finetune_forward: int


_COSTS: dict[tuple, ImageCosts] = {}


def image_costs(pretrain_config: PretrainConfig, eval_config: EvalConfig, num_classes: int = 10,
                pretrains: bool = True) -> ImageCosts:
    """FLOPs per image of ``pretrain_config``'s network (see :class:`ImageCosts`), at
    ``pretrain_config.image_size`` for pretraining and ``eval_config.image_size`` for evaluation.
    Counted once per distinct network shape and evaluation size (seeds, noises and learning
    rates share a count)."""
    key = (tuple(getattr(pretrain_config, name) for name in MODEL_FIELDS),  # the network's shapes
           eval_config.image_size, tuple(eval_config.layers or ()), eval_config.max_dim, num_classes,
           bool(pretrains))
    if key not in _COSTS:
        _COSTS[key] = _count_image_costs(pretrain_config, eval_config, num_classes, pretrains)
    return _COSTS[key]


def _count_image_costs(pretrain_config: PretrainConfig, eval_config: EvalConfig, num_classes: int,
                       pretrains: bool) -> ImageCosts:
    from splitbrain.evaluate import feature_extractor
    from splitbrain.models import pool_features

    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    batch = COUNT_BATCH
    network = meta_network(pretrain_config)
    pretrain = pretext_flops_per_image(pretrain_config, network) if pretrains else 0

    extractor = feature_extractor(network, pretrain_config.color_space)
    layers = list(eval_config.layers or extractor.feature_layers)
    deepest = max((network.resolve_layer(layer) for layer in layers), key=extractor.feature_layers.index)
    eval_size = eval_config.image_size
    dims: dict[str, int] = {}

    def extract() -> None:
        with torch.no_grad():
            maps = dict(_run_trunks(extractor, _trunk_inputs(extractor, batch, eval_size), deepest))
            # Two trunks: their maps are concatenated, so each layer's dims add up.
            for layer in layers:
                name = network.resolve_layer(layer)
                channels = sum(trunk.layer_channels[name] for trunk in extractor.trunks)
                shape = maps[name].shape
                dims[layer] = pool_features(torch.empty(1, channels, shape[2], shape[3], device="meta"),
                                            eval_config.max_dim).shape[1]

    features = count_flops(extract) // batch

    last = extractor.feature_layers[-1]
    channels = sum(trunk.layer_channels[network.resolve_layer(last)] for trunk in extractor.trunks)
    with torch.device("meta"):
        head = nn.Linear(channels, num_classes)

    def classifier(grad: bool) -> None:
        with torch.set_grad_enabled(grad):
            outputs = _run_trunks(extractor, _trunk_inputs(extractor, batch, eval_size), network.resolve_layer(last))
            finals = [x for name, x in outputs if name == network.resolve_layer(last)]
            logits = head(torch.cat(finals, dim=1).mean(dim=(2, 3)))
            if grad:
                logits.float().sum().backward()

    finetune_step = count_flops(lambda: classifier(True)) // batch
    finetune_forward = count_flops(lambda: classifier(False)) // batch
    return ImageCosts(pretrain, features, dims, finetune_step, finetune_forward)


def probe_flops(dims: Mapping[str, int], num_classes: int, train_images: int, test_images: int, epochs: int) -> int:
    """FLOPs of the softmax regressions on frozen features: per layer, ``epochs`` passes of a
    (dim x classes) product forward and its weight gradient backward (4 x dim x classes per image),
    then one scoring pass over the training and the held-out images (2 x dim x classes each)."""
    per_layer = (4 * epochs * train_images + 2 * (train_images + test_images)) * num_classes
    return sum(per_layer * dim for dim in dims.values())


# ----------------------------------------------------------------------------------------------
# Image counts


@dataclass(frozen=True)
class ImageCounts:
    """How many images a run's stages see.

    pretrain: pretraining images over all epochs (steps x batch); train / test: the probe-training
    and held-out images; num_classes: the labels' classes.
    """

    pretrain: int
    train: int
    test: int
    num_classes: int


def planned_images(grid: Grid, run: Run) -> ImageCounts:
    """The image counts ``grid`` gives ``run``, from its configurations and the dataset's split
    sizes (:data:`SPLIT_SIZES`); ValueError for datasets whose size depends on the files."""
    from splitbrain.data import STANDARD_SPLITS

    pretrain_config, eval_config = grid.pretrain_config(run), grid.eval_config(run)
    for config, role in ((pretrain_config, "pretraining"), (eval_config, "evaluation")):
        if config.data not in SPLIT_SIZES:
            raise ValueError(f"planned image counts need a dataset of fixed size ({', '.join(SPLIT_SIZES)}); "
                             f"grid {grid.name!r} uses {config.data!r} for {role}: take the counts from its records")
    return evaluation_images(eval_config, pretrain_images(pretrain_config))


def evaluation_images(eval_config: EvalConfig, pretrain: int = 0) -> ImageCounts:
    """The probe-training and held-out image counts of ``eval_config``: its dataset's split sizes
    (:data:`SPLIT_SIZES`) capped by ``max_train_images`` / ``max_test_images``; for a dataset whose
    size depends on its files, the caps themselves (ValueError when a cap is missing)."""
    from splitbrain.data import STANDARD_SPLITS

    def capped(split: str, cap: int | None) -> int:
        if eval_config.data in SPLIT_SIZES:
            size = SPLIT_SIZES[eval_config.data][getattr(STANDARD_SPLITS[eval_config.data], split)]
            return size if cap is None else min(size, cap)
        if cap is None:
            raise ValueError(f"the size of {eval_config.data!r} depends on its files: give max_train_images and "
                             f"max_test_images to count it")
        return cap

    return ImageCounts(pretrain=pretrain, train=capped("probe_train", eval_config.max_train_images),
                       test=capped("evaluate", eval_config.max_test_images),
                       num_classes=DATASET_CLASSES.get(eval_config.data, 10))


# ----------------------------------------------------------------------------------------------
# FLOPs per run


def stage_flops(pretrain_config: PretrainConfig, eval_config: EvalConfig, kind: str, counts: ImageCounts,
                supervised_epochs: int | None = None, costs: ImageCosts | None = None) -> dict[str, int]:
    """FLOPs of each stage of a run (:data:`STAGES`) of method ``kind`` ("splitbrain", "dae",
    "random" or "supervised"; the latter needs ``supervised_epochs``)."""
    if kind not in ("splitbrain", "dae", "random", "supervised"):
        raise ValueError(f"kind must be 'splitbrain', 'dae', 'random' or 'supervised', got {kind!r}")
    costs = costs or image_costs(pretrain_config, eval_config, counts.num_classes,
                                 pretrains=kind in ("splitbrain", "dae"))

    def finetune(epochs: int, precise_bn: bool) -> int:
        passes = epochs * counts.train * costs.finetune_step
        refresh = counts.train * costs.finetune_forward if precise_bn and epochs > 0 else 0
        return passes + refresh + counts.test * costs.finetune_forward

    if kind in ("splitbrain", "dae"):
        pretrain = counts.pretrain * costs.pretrain
    elif kind == "supervised":
        if supervised_epochs is None:
            raise ValueError("supervised_epochs is required for kind 'supervised'")
        pretrain = finetune(supervised_epochs, eval_config.finetune_precise_bn)
    else:
        pretrain = 0
    probe = ((counts.train + counts.test) * costs.features
             + probe_flops(costs.probe_dims, counts.num_classes, counts.train, counts.test, eval_config.probe_epochs))
    # A grid with finetune_epochs=0 is probe-only: the runner skips fine-tuning altogether.
    tuned = finetune(eval_config.finetune_epochs, eval_config.finetune_precise_bn) if eval_config.finetune_epochs else 0
    return {"pretrain": pretrain, "probe": probe, "finetune": tuned}


def grid_flops(grid: Grid, runs: Sequence[Run] | None = None) -> dict[str, dict[str, int]]:
    """Planned FLOPs per stage of every run of ``grid`` (or of ``runs``): run name -> stage -> FLOPs."""
    flops = {}
    for run in grid.runs() if runs is None else runs:
        flops[run.name] = stage_flops(grid.pretrain_config(run), grid.eval_config(run), run.method.kind,
                                      planned_images(grid, run), grid.supervised_epochs)
    return flops


# ----------------------------------------------------------------------------------------------
# Time


def read_gpu_peaks(path: str | Path) -> dict[str, dict[str, float]]:
    """The published peaks of ``path`` (``results/reference/gpu_peaks.csv``): GPU name ->
    {"fp16_tflops", "fp32_tflops"} in TFLOP/s."""
    from splitbrain.tables import read_reference_csv

    return {row["gpu"]: {"fp16_tflops": float(row["fp16_tensor_tflops"]), "fp32_tflops": float(row["fp32_tflops"])}
            for row in read_reference_csv(path)}


def minutes_at(flops: float, flops_per_s: float) -> float:
    """Minutes that ``flops`` take at a sustained ``flops_per_s`` (> 0)."""
    if not flops_per_s > 0:
        raise ValueError(f"flops_per_s must be positive, got {flops_per_s!r}")
    return flops / flops_per_s / 60.0


def forecast(grid: Grid, peaks: Mapping[str, Mapping[str, float]], gpu: str = REFERENCE_GPU) -> list[dict[str, Any]]:
    """One row per (architecture, method) of ``grid`` (seeds share their FLOPs): PFLOP per stage
    and in all, and the minutes the run takes at ``gpu``'s fp16 tensor peak (of ``peaks``, see
    :func:`read_gpu_peaks`): a lower bound, since no training run sustains the peak."""
    if gpu not in peaks:
        raise ValueError(f"gpu must be one of {tuple(peaks)}, got {gpu!r}")
    peak = peaks[gpu]["fp16_tflops"] * 1e12
    runs = [run for run in grid.runs() if run.seed == grid.seeds[0]]
    flops = grid_flops(grid, runs)
    rows = []
    for run in runs:
        stages = flops[run.name]
        total = sum(stages.values())
        rows.append({"arch": run.arch, "method": run.method.name, "kind": run.method.kind, "width": run.method.width,
                     **{f"{stage}_pflop": stages[stage] / 1e15 for stage in STAGES},
                     "total_pflop": total / 1e15, "minutes_at_peak": minutes_at(total, peak)})
    return rows


KIND_WORDS = {"splitbrain": "split-brain (every colour space)", "dae": "DAE (every noise)",
              "random": "random init (probes and fine-tuning only)", "supervised": "supervised ceiling"}
def cost_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """:func:`forecast`'s rows merged per (architecture, method kind) where their FLOPs agree
    (colour spaces and noises cost the same), in the forecast's order; the table of the book."""
    merged: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = (row["arch"], row["kind"], round(row["total_pflop"], 9))
        if key not in merged:
            words = f"DAE ({row['width']} width)" if row["kind"] == "dae" and row["width"] else KIND_WORDS[row["kind"]]
            merged[key] = {"architecture": ARCH_LABELS.get(row["arch"], row["arch"]), "method": words,
                           **{f"{stage} PFLOP": row[f"{stage}_pflop"] for stage in STAGES},
                           "total PFLOP": row["total_pflop"], "minutes at peak": row["minutes_at_peak"]}
    return list(merged.values())


def cost_table(rows: Sequence[Mapping[str, Any]], caption: str | None = None):
    """:func:`cost_rows` of :func:`forecast`'s ``rows`` as a :class:`~splitbrain.tables.Table`."""
    from splitbrain.tables import Table

    table = cost_rows(rows)
    formats = {key: (".2f" if "PFLOP" in key else ".1f") for key in (table[0] if table else {}) if key not in
               ("architecture", "method")}
    return Table(table, caption=caption, formats=formats)


def bound_sentence(rows: Sequence[Mapping[str, Any]], grid: Grid, gpu: str, peak_tflops: float) -> str:
    """What :func:`forecast`'s ``rows`` of ``grid`` say: the longest run per architecture and the
    whole grid (every seed) at ``gpu``'s peak, and how to turn the bound into an expected time."""
    longest = {}
    for row in rows:
        longest[row["arch"]] = max(longest.get(row["arch"], 0.0), row["minutes_at_peak"])
    per_arch = [f"{minutes:.1f} minutes with {ARCH_LABELS.get(arch, arch)}" for arch, minutes in longest.items()]
    listed = per_arch[0] if len(per_arch) == 1 else f"{', '.join(per_arch[:-1])} and {per_arch[-1]}"
    total_hours = sum(row["minutes_at_peak"] for row in rows) * len(grid.seeds) / 60
    runs = len(rows) * len(grid.seeds)
    return (f"At the {gpu}'s fp16 tensor peak of {peak_tflops:g} TFLOP/s, the longest run of `{grid.name}` takes "
            f"at least {listed}, and the grid's {runs} runs take at least {total_hours:.1f} hours. No training run "
            f"sustains the peak: a run's expected time is its bound divided by the fraction of the peak the GPU "
            f"reaches, which section 4 of `python -m benchmarks.bench` measures on that GPU (FLOP/s of a training step "
            f"against the measured matmul peak).")


def budget_report(grid: Grid, peaks: Mapping[str, Mapping[str, float]], gpu: str = REFERENCE_GPU) -> str:
    """``grid``'s budget in Markdown (for the README): :func:`bound_sentence` and the
    :func:`cost_rows` table."""
    rows = forecast(grid, peaks, gpu)
    return bound_sentence(rows, grid, gpu, peaks[gpu]["fp16_tflops"]) + "\n\n" + cost_table(rows).to_markdown() + "\n"


# ----------------------------------------------------------------------------------------------
# Chapters on a GPU


CHAPTER_PRESETS = ("colab", "paper")
"""The GPU presets the chapters' estimates are counted for (their datasets' sizes are fixed)."""
ASSUMED_EFFICIENCY: dict[str, tuple[float, float]] = {"NVIDIA T4": (0.10, 0.40), "NVIDIA H100 SXM": (0.03, 0.20)}
"""GPU -> (low, high) fraction of its fp16 tensor peak a chapter is assumed to sustain: an assumption,
not a measurement. The book's networks are small (SimpleNet at 96 px), so a step is short and
kernel launches, the colour conversion and data loading, which the FLOP count leaves out, take a
large share of it; an H100 is filled by them even less than a T4."""


def notebook_parameters(chapter: str, root: Path = Path(".")) -> dict[str, Any]:
    """The literal values of the ``parameters`` cell of ``notebooks/<chapter>.py`` (a jupytext
    percent notebook): the chapter's own per-preset settings, read from the one place they are
    written."""
    import ast

    text = (root / "notebooks" / f"{chapter}.py").read_text()
    cells = text.split("\n# %%")
    cell = next(cell for cell in cells if cell.lstrip().startswith('tags=["parameters"]'))
    body = cell.split("\n", 1)[1]
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(body).body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}


def _probe(pretrain_config: PretrainConfig, eval_config: EvalConfig, kind: str) -> int:
    return stage_flops(pretrain_config, eval_config, kind, evaluation_images(eval_config))["probe"]


def _shipped_probes(names: Sequence[str], eval_config: EvalConfig | None = None) -> int:
    """FLOPs of probing the shipped networks ``names`` and their random-init floors at the layer
    their runs chose: with their runs' own probe (chapter 8), or with ``eval_config`` (chapter 6)."""
    from dataclasses import replace

    from splitbrain.weights import PRETRAINED, pretrained, probe_config

    total = 0
    for name in names:
        _, network = pretrained(name, download=False)
        config = (probe_config(name, download=False) if eval_config is None
                  else replace(eval_config, layers=(PRETRAINED[name].probe_layer,)))
        total += sum(_probe(network, config, kind) for kind in ("splitbrain", "random"))
    return total


def chapter_flops(preset: str, root: Path = Path(".")) -> dict[str, dict[str, int]]:
    """Counted FLOPs of chapters 5-8 run with ``preset`` on a fresh runtime (as on Colab, where
    chapters 6 and 7 pretrain chapter 5's network again): chapter -> {"pretrain", "probe",
    "finetune", "repeats_chapter_5"} (the last: the share of "pretrain" that repeats chapter 5).
    Chapters 1-4 train nothing. Not counted: figures, BatchNorm refreshes, chapter 5's held-out
    colourisations (forward passes over a few hundred images)."""
    from splitbrain.flops import pretrain_flops
    from splitbrain.presets import get_eval_preset, get_preset

    pair = get_preset(preset)
    evaluation = get_eval_preset(preset)
    chapter5 = pretrain_flops(pair)
    work = {"05_pretraining": {"pretrain": chapter5, "probe": 0, "finetune": 0, "repeats_chapter_5": 0}}

    counts = evaluation_images(evaluation)
    tuned = {kind: stage_flops(pair, evaluation, kind, counts) for kind in ("splitbrain", "random")}
    shipped = notebook_parameters("06_probes_and_finetuning", root)["SHIPPED"]
    work["06_probes_and_finetuning"] = {
        "pretrain": chapter5, "probe": sum(flops["probe"] for flops in tuned.values()) + _shipped_probes([shipped],
                                                                                                         evaluation),
        "finetune": sum(flops["finetune"] for flops in tuned.values()), "repeats_chapter_5": chapter5}

    chapter7 = notebook_parameters("07_denoising_baseline", root)
    own = chapter7["PRETRAIN"].get(preset, {})
    daes = [get_preset(preset, **own, method="dae", width="full", color_space=chapter7["COLOR_SPACE"], noise=noise,
                       noise_level=chapter7["NOISE_LEVELS"][noise]) for noise in chapter7["NOISES"]]
    split = get_preset(preset, **{key: value for key, value in own.items() if key in ("image_size", "grid")})
    probe_config = get_eval_preset(preset, **chapter7["PROBE"].get(preset, {}))
    split_again = pretrain_flops(split)
    work["07_denoising_baseline"] = {
        "pretrain": sum(pretrain_flops(dae) for dae in daes) + split_again,
        "probe": (sum(_probe(dae, probe_config, "dae") for dae in daes) + _probe(daes[0], probe_config, "random")
                  + _probe(split, probe_config, "splitbrain") + _probe(split, probe_config, "random")),
        "finetune": 0, "repeats_chapter_5": split_again}
    from splitbrain.weights import PRETRAINED

    work["08_results"] = {"pretrain": 0, "probe": _shipped_probes(list(PRETRAINED)), "finetune": 0,
                          "repeats_chapter_5": 0}
    return work


def minutes_range(flops: float, gpu: str, peaks: Mapping[str, Mapping[str, float]]) -> tuple[float, float]:
    """(fewest, most) minutes ``flops`` take on ``gpu`` at the high and low end of its
    :data:`ASSUMED_EFFICIENCY`."""
    low, high = ASSUMED_EFFICIENCY[gpu]
    peak = peaks[gpu]["fp16_tflops"] * 1e12
    return minutes_at(flops, peak * high), minutes_at(flops, peak * low)


def chapter_estimate(peaks: Mapping[str, Mapping[str, float]], root: Path = Path(".")) -> dict[str, Any]:
    """The estimate record: per preset and chapter the counted FLOPs and, per GPU of
    :data:`ASSUMED_EFFICIENCY`, the minutes at its assumed efficiency range, with the assumptions."""
    presets = {}
    for preset in CHAPTER_PRESETS:
        chapters = {}
        for chapter, stages in chapter_flops(preset, root).items():
            total = stages["pretrain"] + stages["probe"] + stages["finetune"]
            chapters[chapter] = {"flops": stages, "total_flops": total,
                                 "minutes": {gpu: list(minutes_range(total, gpu, peaks)) for gpu in ASSUMED_EFFICIENCY},
                                 "repeat_minutes": {gpu: list(minutes_range(stages["repeats_chapter_5"], gpu, peaks))
                                                    for gpu in ASSUMED_EFFICIENCY}}
        presets[preset] = chapters
    return {"what": "chapter minutes on a GPU estimated from counted FLOPs (not measured)",
            "counted": "convolutions and matrix products, forward and backward (torch FlopCounterMode on meta networks)",
            "not_counted": "colour conversion, losses, optimiser updates, data loading, dataset download, figures",
            "efficiency": {gpu: {"low": low, "high": high, "fp16_tflops": peaks[gpu]["fp16_tflops"]}
                           for gpu, (low, high) in ASSUMED_EFFICIENCY.items()},
            "fresh_runtime": True, "presets": presets}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The budget's options."""
    parser.add_argument("--grid", default="stl10-colab", help="the grid to count (its datasets must have fixed sizes)")
    parser.add_argument("--gpu", default=REFERENCE_GPU, help="a GPU of the reference table of peaks")
    parser.add_argument("--results", default="results", help="the results folder (reference tables, records)")
    parser.add_argument("--write", metavar="FILE", help="replace the section between the grid's budget markers in FILE")
    parser.add_argument("--chapters", action="store_true",
                        help=f"estimate the chapters' GPU minutes instead (printed as JSON; with --write-estimate "
                             f"saved as <results>/{ESTIMATE_RECORD.as_posix()}, the record the book shows)")
    parser.add_argument("--write-estimate", action="store_true", help="with --chapters: save the estimate record")


def run_command(args: argparse.Namespace) -> int:
    """Print the grid's budget section, or write it between FILE's markers."""
    from splitbrain.sections import write_section

    peaks = read_gpu_peaks(Path(args.results) / "reference" / GPU_PEAKS_CSV)
    if args.chapters:
        text = json.dumps(chapter_estimate(peaks), indent=1) + "\n"
        if args.write_estimate:
            from splitbrain.files import atomic_write_text

            path = Path(args.results) / ESTIMATE_RECORD
            path.parent.mkdir(parents=True, exist_ok=True)
            print(f"estimate written to {atomic_write_text(path, text)}")
        else:
            print(text, end="")
        return 0
    section = budget_report(get_grid(args.grid), peaks, args.gpu)
    if args.write is None:
        print(section, end="")
    else:
        write_section(args.write, args.grid, section, kind="budget")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.budget ...``: print or write a grid's budget; returns the exit status."""
    from splitbrain.command import run_tool

    return run_tool("python -m benchmarks.budget", "Count a grid's FLOPs and bound its minutes on a GPU.",
                    add_arguments, run_command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
