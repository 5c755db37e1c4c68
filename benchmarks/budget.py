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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from splitbrain.experiments.grids import Grid, Run, get_grid
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


def _count(step) -> int:
    """FLOPs of ``step()`` (convolutions and matrix products, forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def _meta_network(config: PretrainConfig) -> nn.Module:
    from splitbrain.models import build_model, build_targets_for

    targets = None if config.method == "dae" else build_targets_for(config)
    with torch.device("meta"):
        return build_model(config, targets)


def _trunk_inputs(extractor, batch: int, size: int) -> list[torch.Tensor]:
    """Meta inputs of each trunk: (batch, trunk.in_channels, size, size)."""
    return [torch.empty(batch, trunk.in_channels, size, size, device="meta") for trunk in extractor.trunks]


def _trunk_inputs_of_pair(network: nn.Module, batch: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Meta inputs of a SplitBrainNet's two halves (their trunks' input channels)."""
    return tuple(torch.empty(batch, half.trunk.in_channels, size, size, device="meta")
                 for half in (network.half1, network.half2))


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
    batch = 2  # counts are exact multiples of the batch; 2 keeps BatchNorm's training mode valid
    network = _meta_network(pretrain_config)
    size = pretrain_config.image_size

    def pretext_step() -> None:
        if pretrain_config.method == "dae":
            outputs = (network(torch.empty(batch, 3, size, size, device="meta")),)
        else:
            inputs = _trunk_inputs_of_pair(network, batch, size)
            outputs = network(*inputs)
        sum(output.float().sum() for output in outputs).backward()

    pretrain = _count(pretext_step) // batch if pretrains else 0
    network.zero_grad(set_to_none=True)

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

    features = _count(extract) // batch

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

    finetune_step = _count(lambda: classifier(True)) // batch
    finetune_forward = _count(lambda: classifier(False)) // batch
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
    splits = STANDARD_SPLITS[eval_config.data]
    sizes = SPLIT_SIZES[eval_config.data]

    def capped(size: int, cap: int | None) -> int:
        return size if cap is None else min(size, cap)

    steps = pretrain_config.train_length // pretrain_config.batch_size  # the loader drops the last partial batch
    if pretrain_config.max_steps_per_epoch is not None:
        steps = min(steps, pretrain_config.max_steps_per_epoch)
    return ImageCounts(pretrain=pretrain_config.epochs * steps * pretrain_config.batch_size,
                       train=capped(sizes[splits.probe_train], eval_config.max_train_images),
                       test=capped(sizes[splits.evaluate], eval_config.max_test_images),
                       num_classes=DATASET_CLASSES[eval_config.data])


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The budget's options."""
    parser.add_argument("--grid", default="stl10-colab", help="the grid to count (its datasets must have fixed sizes)")
    parser.add_argument("--gpu", default=REFERENCE_GPU, help="a GPU of the reference table of peaks")
    parser.add_argument("--results", default="results", help="the results folder (reference tables, records)")
    parser.add_argument("--write", metavar="FILE", help="replace the section between the grid's budget markers in FILE")


def run_command(args: argparse.Namespace) -> int:
    """Print the grid's budget section, or write it between FILE's markers."""
    from splitbrain.sections import write_section

    peaks = read_gpu_peaks(Path(args.results) / "reference" / GPU_PEAKS_CSV)
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
