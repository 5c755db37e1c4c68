"""Performance benchmark: ``python -m benchmarks.bench`` (from the repository root).

Prints one table; every comparison in it is a ratio of two figures measured in the same run,
on the same images:

1. Target preparation (uint8 RGB -> Lab -> grid -> class maps, plus the network inputs):
   batched on the device (``targets.prepare``) against the poster's way (scikit-image, one
   image at a time inside a Dataset, through a single-process DataLoader;
   :mod:`benchmarks.poster_pipeline`), in images/s, at each ``--sizes``. Also how often the two
   pipelines' class maps agree: on the *same* area-averaged Lab grid (the binning step alone;
   every difference should be a value within 1e-4 of a bin edge), and end to end with the
   poster's anti-aliased skimage resize (informative: a different downsampling filter and
   sRGB matrix move some values across edges).
2. One pretraining step with the targets prepared in it against the same two halves'
   forward/backward/Adam step on precomputed targets: the overhead of the split-brain machinery.
3. End-to-end pretraining images/s through the DataLoader (``data.build_dataset`` /
   ``build_loader``), per architecture, with and without channels_last, mixed precision and
   torch.compile where they apply.
5. One fine-tuning step (``splitbrain.finetune``: padded random crops and flips, the trunks and a
   linear head, cross-entropy, SGD with Nesterov momentum) against one pretraining step of the
   same architecture on the same images, in float32 and under the device's autocast with
   channels-last tensors (bfloat16 on the CPU, the label-efficiency grid's setting).
4. CUDA only: images/s and achieved FLOP/s of a training step (FLOPs counted by
   ``torch.utils.flop_counter.FlopCounterMode``) against the measured bf16 matmul peak of the
   same GPU, and the share of the step spent preparing targets.

Timing: warm-up runs first, ``torch.cuda.synchronize`` before every clock read on CUDA, the
median of ``--repeats`` runs. Targets are printed next to each figure with PASS or MISS.
Sections 2 to 4 run at the largest of ``--sizes``. On the CPU the default architecture list is
SimpleNet only: the wide FC-AlexNet and FC-ResNet18 halves take tens of seconds per step of 64
images on a small CPU (pass ``--archs`` to add them).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from . import poster_pipeline
from splitbrain.files import atomic_write_text
from splitbrain.models import ARCHITECTURES
from splitbrain.results import cpu_model

__all__ = ["Row", "main", "run_benchmark", "format_table", "machine_info", "measure_bf16_peak"]

# Targets printed next to the measured figures.
PREP_SPEEDUP_TARGET = 10.0  # section 1: batched / poster images/s at 96 px on the CPU
PREP_SPEEDUP_SIZE = 96
STEP_OVERHEAD_TARGET = 0.10  # section 2: (full step time / halves-only time) - 1
GPU_PREP_SHARE_TARGET = 0.05  # section 4: target preparation / step time on CUDA
GPU_PEAK_TARGET = 0.35  # section 4: achieved / bf16 matmul peak, FC-AlexNet at 96 px
GPU_PEAK_ARCH = "fcalexnet"
EDGE_TOLERANCE = 1e-4  # channel units (Lab): class differences this close to a bin edge are rounding
PEAK_MATMUL_SIZE = 8192

QUICK = dict(sizes=[16, 24], batch=8, images=16, repeats=1, warmup=0, width="half")
COLUMNS = ("#", "measurement", "setting", "value", "unit", "ratio", "target", "result")


@dataclass
class Row:
    """One line of the table.

    ``value`` None prints "n/a" (with the reason in ``result``); ``ratio`` is the comparison's
    ratio (speed-up, time ratio, share, fraction of peak), None where a line compares nothing.
    """

    section: int
    measurement: str
    setting: str
    value: float | None
    unit: str
    ratio: float | None = None
    target: str = ""
    result: str = ""


# ----------------------------------------------------------------------------------------------
# Machine, clocks


def machine_info(device: torch.device) -> dict[str, str]:
    """CPU model, cores, torch threads, library versions and the GPU name."""
    import skimage

    info = {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit-image": skimage.__version__,
        "device": str(device),
        "load average": "%.1f" % os.getloadavg()[0] if hasattr(os, "getloadavg") else "n/a",
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else "none",
    }
    return info


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_runs(run: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``run`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        run()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def _interleaved_medians(runs: dict[str, Callable[[], object]], device: torch.device, warmup: int,
                         repeats: int) -> dict[str, float]:
    """Median seconds of several callables, timed in alternation so drifts hit all of them alike."""
    for run in runs.values():
        for _ in range(warmup):
            run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name] += time_runs(run, device, 0, 1)
    return {name: statistics.median(values) for name, values in times.items()}


def measure_bf16_peak(device: torch.device, size: int = PEAK_MATMUL_SIZE, repeats: int = 10) -> float:
    """Measured bf16 matmul throughput (FLOP/s) of ``size``^3 products on a CUDA ``device``.

    Random normal operands (not zeros: some GPUs draw less power on zeros), 3 warm-up products,
    the median of ``repeats`` timed with CUDA events.
    """
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16, generator=generator)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16, generator=generator)
    for _ in range(3):
        torch.mm(a, b)
    torch.cuda.synchronize(device)
    milliseconds = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        torch.mm(a, b)
        end.record()
        torch.cuda.synchronize(device)
        milliseconds.append(start.elapsed_time(end))
    return 2 * size**3 / (statistics.median(milliseconds) / 1e3)


# ----------------------------------------------------------------------------------------------
# Images


def load_images(data: str, data_root: str | None, size: int, count: int, seed: int = 0) -> torch.Tensor:
    """``count`` uint8 images (count, 3, size, size) of the dataset's pretraining split.

    Fixed crops (no augmentation), so every run benchmarks the same images.
    """
    from splitbrain.data import STANDARD_SPLITS, build_dataset

    dataset = build_dataset(
        data, root=data_root, split=STANDARD_SPLITS[data].pretrain, image_size=size, augment=False,
        length=count, seed=seed,
    )
    if len(dataset) == 0:
        raise ValueError(f"data={data!r} has no images under {data_root!r}")
    return torch.stack([dataset[i % len(dataset)][0] for i in range(count)])


def _fill_batch(images: torch.Tensor, batch: int) -> torch.Tensor:
    """The first ``batch`` images, cycling through ``images`` when there are fewer."""
    repeats = -(-batch // len(images))
    return images.repeat(repeats, 1, 1, 1)[:batch]


# ----------------------------------------------------------------------------------------------
# Section 1: target preparation


def _near_edge(values: np.ndarray, edges: np.ndarray, tolerance: float) -> np.ndarray:
    """Whether each value lies within ``tolerance`` of one of the sorted ``edges``."""
    position = np.clip(np.searchsorted(edges, values), 1, len(edges) - 1)
    distance = np.minimum(np.abs(values - edges[position - 1]), np.abs(values - edges[position]))
    return distance <= tolerance


@dataclass
class EncodingAgreement:
    """Device classes vs ``numpy.digitize`` of the same downsampled values."""

    entries: int  # class-map entries compared (t1 and t2 together)
    differ: int
    differ_off_edge: int  # differences NOT explained by a value within EDGE_TOLERANCE of an edge
    prepare_matches: bool  # the device classes recomputed here equal targets.prepare's


def encoding_agreement(images: torch.Tensor, targets, device: torch.device, space: str, bins1: int,
                       bins2: int, prepared=None) -> EncodingAgreement:
    """Encode the device pipeline's own downsampled grid both ways and compare the class maps.

    Args:
        images: (N, 3, S, S) uint8 on any device.
        targets: the device pipeline (``targets.build_targets``).
        prepared: optional (t1, t2) from ``targets.prepare(images)``, to check that the grid
            recomputed here is the one ``prepare`` encodes.
    """
    from splitbrain.quantize import downsample

    with torch.no_grad():
        values = targets.space.from_rgb(images.to(device))
        small = downsample(values, targets.grid)
        group1, group2 = targets.space.split(small)
        t1 = targets.quantizer1.encode(group1, targets.quantizer1.image_ranges(group1))
        t2 = targets.quantizer2.encode(group2, targets.quantizer2.image_ranges(group2))
    grid_values = small.permute(0, 2, 3, 1).double().cpu().numpy()  # float32 values, exactly
    t1, t2 = t1.cpu().numpy(), t2.cpu().numpy()
    differ = off_edge = 0
    for index, values_hwc in enumerate(grid_values):
        p1, p2 = poster_pipeline.encode_grid(values_hwc, space, bins1, bins2)
        edges = poster_pipeline.bin_edges(values_hwc, space, bins1, bins2)
        wrong1 = t1[index] != p1
        wrong_a = (t2[index] // bins2) != (p2 // bins2)
        wrong_b = (t2[index] % bins2) != (p2 % bins2)
        differ += int(wrong1.sum()) + int((t2[index] != p2).sum())
        for wrong, channel in ((wrong1, 0), (wrong_a, 1), (wrong_b, 2)):
            if wrong.any():
                explained = _near_edge(values_hwc[..., channel][wrong], edges[channel], EDGE_TOLERANCE)
                off_edge += int((~explained).sum())
    matches = True
    if prepared is not None:
        matches = bool(np.array_equal(prepared[0], t1) and np.array_equal(prepared[1], t2))
    return EncodingAgreement(t1.size + t2.size, differ, off_edge, matches)


def _poster_pass(dataset, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """One pass of the poster's DataLoader; returns its (t1, t2) class maps."""
    t1, t2 = [], []
    for _, _, b1, b2 in poster_pipeline.poster_loader(dataset, batch):
        t1.append(b1)
        t2.append(b2)
    return torch.cat(t1).numpy(), torch.cat(t2).numpy()


def bench_target_preparation(images: torch.Tensor, targets, device: torch.device, space: str, bins1: int,
                             bins2: int, batch: int, warmup: int, repeats: int) -> list[Row]:
    """Section 1 at one image size: speed of both pipelines and agreement of their class maps."""
    size, count = images.shape[-1], len(images)
    device_batches = [images[i : i + batch].to(device) for i in range(0, count, batch)]
    device_out: list = []

    def run_device():
        device_out[:] = [targets.prepare(rgb) for rgb in device_batches]

    poster = poster_pipeline.PosterTargets(images, space, targets.grid, bins1, bins2, downsample="skimage")
    poster_out: list = []

    def run_poster():
        poster_out[:] = [_poster_pass(poster, batch)]

    seconds = _interleaved_medians({"device": run_device, "poster": run_poster}, device, warmup, repeats)
    prepared = tuple(torch.cat([getattr(b, name) for b in device_out]).cpu().numpy() for name in ("t1", "t2"))
    device_rate, poster_rate = count / seconds["device"], count / seconds["poster"]
    speedup = device_rate / poster_rate

    checked = device.type == "cpu" and size == PREP_SPEEDUP_SIZE
    rows = [
        Row(1, "target prep", f"{size} px, poster: skimage per image, DataLoader 0 workers", poster_rate,
            "img/s", 1.0, "", "reference"),
        Row(1, "target prep", f"{size} px, batched on {device.type} (targets.prepare)", device_rate, "img/s",
            speedup, f">= {PREP_SPEEDUP_TARGET:g}x at {PREP_SPEEDUP_SIZE} px on cpu" if checked else "",
            _verdict(speedup >= PREP_SPEEDUP_TARGET, f"{speedup:.1f}x") if checked else f"{speedup:.1f}x"),
    ]

    agreement = encoding_agreement(images, targets, device, space, bins1, bins2, prepared)
    equal = 100.0 * (1 - agreement.differ / agreement.entries)
    ok = agreement.differ_off_edge == 0 and agreement.prepare_matches
    detail = f"{agreement.differ} of {agreement.entries} differ, {agreement.differ_off_edge} off-edge"
    if not agreement.prepare_matches:
        detail += "; grid != prepare's"
    rows.append(Row(1, "class maps, binning step", f"{size} px, same area-averaged grid, device vs np.digitize",
                    equal, "% equal", None, f"all differences within {EDGE_TOLERANCE:g} of an edge",
                    _verdict(ok, detail)))

    poster_t1, poster_t2 = poster_out[0]
    for name, ours, theirs in (("L", prepared[0], poster_t1), ("ab", prepared[1], poster_t2)):
        rows.append(Row(1, f"class maps, end to end ({name})",
                        f"{size} px, device (area avg) vs poster (skimage resize)",
                        100.0 * float(np.mean(ours == theirs)), "% equal", None, "informative",
                        f"{int(np.sum(ours != theirs))} of {ours.size} differ"))
    return rows


def _verdict(passed: bool, measured: str) -> str:
    return f"{'PASS' if passed else 'MISS'} ({measured})"


# ----------------------------------------------------------------------------------------------
# Sections 2-4: training steps


class _PrecomputedTargets:
    """An objective whose ``prepare`` returns a batch prepared beforehand (section 2's baseline)."""

    def __init__(self, objective, batch):
        self.objective, self.batch = objective, batch

    def prepare(self, rgb):
        return self.batch

    def forward(self, model, batch):
        return self.objective.forward(model, batch)

    def loss(self, outputs, batch):
        return self.objective.loss(outputs, batch)


@dataclass
class _Trainer:
    """A model, its optimiser and objective, and one training step as ``train.py`` runs it."""

    model: torch.nn.Module
    train_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    objective: object
    amp_dtype: torch.dtype | None

    def step(self, rgb: torch.Tensor, objective=None) -> None:
        from splitbrain.train import forward_backward, optimizer_step

        forward_backward(self.train_model, objective or self.objective, rgb, self.amp_dtype, self.scaler)
        optimizer_step(self.optimizer, self.scaler)


def make_trainer(arch: str, width: str, size: int, targets, device: torch.device, amp_dtype,
                 channels_last: bool, compile_model: bool) -> _Trainer:
    """A split-brain pair with its objective, Adam and grad scaler, ready to time one training
    step on ``size`` px batches (the benchmark's reference step; also the margin records')."""
    from splitbrain.models import SplitBrainNet
    from splitbrain.train import SplitBrainObjective

    model = SplitBrainNet(arch, in_channels=targets.in_channels, num_classes=targets.num_classes,
                          width=width, grid=targets.grid, input_size=size).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    train_model = torch.compile(model) if compile_model else model
    objective = SplitBrainObjective(targets, channels_last=channels_last)
    return _Trainer(model, train_model, optimizer, scaler, objective, amp_dtype)


def _gpu_amp_dtype(device: torch.device) -> torch.dtype | None:
    from splitbrain.runtime import resolve_amp

    return resolve_amp("auto", device)


def _config_name(amp_dtype, channels_last: bool, compiled: bool = False) -> str:
    parts = [str(amp_dtype).replace("torch.", "").replace("bfloat16", "bf16").replace("float16", "fp16")
             if amp_dtype else "fp32"]
    if channels_last:
        parts.append("channels_last")
    if compiled:
        parts.append("compile")
    return " + ".join(parts)


def bench_step_overhead(arch: str, width: str, rgb: torch.Tensor, targets, device: torch.device,
                        warmup: int, repeats: int) -> list[Row]:
    """Section 2: a full step (targets prepared in it) vs the halves' step on precomputed targets.

    Same model, optimiser and images for both, timed in alternation. On CUDA both run in the
    GPU configuration (autocast bf16/fp16 + channels_last), on the CPU in float32.
    """
    amp_dtype = _gpu_amp_dtype(device) if device.type == "cuda" else None
    channels_last = device.type == "cuda"
    trainer = make_trainer(arch, width, rgb.shape[-1], targets, device, amp_dtype, channels_last, False)
    with torch.no_grad():
        fixed = _PrecomputedTargets(trainer.objective, trainer.objective.prepare(rgb))
    seconds = _interleaved_medians(
        {"halves": lambda: trainer.step(rgb, fixed), "full": lambda: trainer.step(rgb)}, device, warmup, repeats
    )
    batch, size = len(rgb), rgb.shape[-1]
    ratio = seconds["full"] / seconds["halves"]
    overhead = ratio - 1
    setting = f"{arch} ({width}) {size} px, batch {batch}, {_config_name(amp_dtype, channels_last)}"
    return [
        Row(2, "step, targets precomputed", f"{setting}: fwd/bwd/Adam of both halves",
            batch / seconds["halves"], "img/s", 1.0, "", "reference"),
        Row(2, "step, targets in the step", f"{setting}: targets.prepare + the same", batch / seconds["full"],
            "img/s", ratio, f"overhead <= {STEP_OVERHEAD_TARGET:.0%}",
            _verdict(overhead <= STEP_OVERHEAD_TARGET, f"{overhead:+.1%}")),
    ]


def _endless(loader):
    while True:
        yield from loader


def bench_end_to_end(arch: str, width: str, size: int, targets, device: torch.device, data: str,
                     data_root: str | None, batch: int, workers: int, compile_model: bool, warmup: int,
                     repeats: int, seed: int = 0) -> list[Row]:
    """Section 3: images/s of whole steps fed by the DataLoader, per configuration.

    Each configuration gets a fresh model and loader; a step is ``next(loader)``, the copy to
    the device and the training step. Ratios are against the first (float32, NCHW) row.
    """
    from splitbrain.data import STANDARD_SPLITS, build_dataset, build_loader

    dataset = build_dataset(data, root=data_root, split=STANDARD_SPLITS[data].pretrain, image_size=size,
                            augment=True, length=batch * max(warmup + repeats, 1), seed=seed)
    if len(dataset) < batch:
        raise ValueError(f"batch must not exceed the dataset's {len(dataset)} images, got batch={batch}")
    on_gpu = device.type == "cuda"
    amp_dtype = _gpu_amp_dtype(device) if on_gpu else None
    # (kind, autocast dtype, channels_last, compile); the first is the reference
    configs = [("fp32", None, False, False), ("channels_last", None, True, False),
               ("amp", amp_dtype, False, False), ("amp + channels_last", amp_dtype, True, False),
               ("compile", amp_dtype, True, True)]
    prefix = f"{arch} ({width}) {size} px, batch {batch}, {workers} workers"
    rows, baseline = [], None

    def add(setting, rate, ratio, result):
        rows.append(Row(3, "pretraining, DataLoader", f"{prefix}, {setting}", rate, "img/s", ratio, "", result))

    for kind, dtype, channels_last, compiled in configs:
        name = _config_name(dtype, channels_last, compiled)
        if kind.startswith("amp") and not on_gpu:
            add(kind, None, None, "n/a (AMP: CUDA only)")
            continue
        if compiled and not compile_model:
            add(name, None, None, "skipped (pass --compile)")
            continue
        torch.manual_seed(seed)
        trainer = make_trainer(arch, width, size, targets, device, dtype, channels_last, compiled)
        batches = _endless(build_loader(dataset, batch, train=True, num_workers=workers, seed=seed))

        def step():
            rgb, _ = next(batches)
            trainer.step(rgb.to(device, non_blocking=True))

        # Compilation happens in the first steps; give it at least two untimed ones.
        seconds = statistics.median(time_runs(step, device, max(warmup, 2) if compiled else warmup, repeats))
        rate = batch / seconds
        if baseline is None:
            baseline = rate
            add(name, rate, 1.0, "reference")
        else:
            add(name, rate, rate / baseline, f"{rate / baseline:.2f}x fp32")
        trainer = batches = None  # free this configuration's model and loader workers
    return rows


def bench_finetune_step(arch: str, width: str, rgb: torch.Tensor, targets, device: torch.device,
                        warmup: int, repeats: int, seed: int = 0) -> list[Row]:
    """Section 5: the fine-tuning step's images/s beside the pretraining step's, same batch.

    Per precision (float32; the device's autocast with channels-last tensors, bf16 on the CPU):
    a fresh split-brain pair for the pretraining step (``make_trainer``) and a fresh classifier
    on the same architecture for the fine-tuning step, timed in alternation; the ratio is
    fine-tuning over pretraining images/s.
    """
    from splitbrain.evaluate import feature_extractor
    from splitbrain.finetune import FinetuneClassifier, augment_batch, build_optimizer, finetune_step
    from splitbrain.models import SplitBrainNet
    from splitbrain.presets import FINETUNE_RECIPE, get_eval_preset

    amp = _gpu_amp_dtype(device) if device.type == "cuda" else torch.bfloat16
    recipe = get_eval_preset("smoke", **FINETUNE_RECIPE, finetune_crop_padding=rgb.shape[-1] // 8)
    labels = torch.arange(len(rgb), device=device) % 10
    generator = torch.Generator().manual_seed(seed)
    batch, size = len(rgb), rgb.shape[-1]
    rows = []
    for amp_dtype, channels_last in ((None, False), (amp, True)):
        torch.manual_seed(seed)
        trainer = make_trainer(arch, width, size, targets, device, amp_dtype, channels_last, False)
        network = SplitBrainNet(arch, in_channels=targets.in_channels, num_classes=targets.num_classes, width=width,
                                grid=targets.grid, input_size=size)
        classifier = FinetuneClassifier(feature_extractor(network, targets.space), 10).to(device).train()
        optimizer = build_optimizer(classifier, recipe)

        def finetune():
            images = augment_batch(rgb.cpu(), recipe.finetune_crop_padding, generator).to(device)
            finetune_step(classifier, optimizer, images, labels, amp_dtype)

        seconds = _interleaved_medians({"pretrain": lambda: trainer.step(rgb), "finetune": finetune},
                                       device, warmup, repeats)
        setting = f"{arch} ({width}) {size} px, batch {batch}, {_config_name(amp_dtype, channels_last)}"
        ratio = seconds["pretrain"] / seconds["finetune"]
        rows += [Row(5, "pretraining step", setting, batch / seconds["pretrain"], "img/s", 1.0, "", "reference"),
                 Row(5, "fine-tuning step", f"{setting}, crops + flips, SGD", batch / seconds["finetune"], "img/s",
                     ratio, "", f"{ratio:.2f}x the pretraining step")]
    return rows


def bench_gpu(archs: Sequence[str], width: str, rgb: torch.Tensor, targets, device: torch.device,
              compile_model: bool, warmup: int, repeats: int) -> list[Row]:
    """Section 4 (CUDA): the bf16 matmul peak, then per architecture images/s, achieved FLOP/s
    and its share of the peak, and the share of the step spent in ``targets.prepare``.

    Steps run on one batch already on the device, with autocast (bf16 where supported) and
    channels_last (and torch.compile if asked). FLOPs are those of one forward + backward
    pass, counted on the eager model; the achieved rate divides them by the whole step's time.
    """
    from torch.utils.flop_counter import FlopCounterMode

    from splitbrain.train import forward_backward

    peak = measure_bf16_peak(device)
    rows = [Row(4, "bf16 matmul peak", f"{PEAK_MATMUL_SIZE}^3 torch.mm, median of 10 (CUDA events)",
                peak / 1e12, "TFLOP/s", None, "", "reference")]
    amp_dtype = _gpu_amp_dtype(device)
    batch, size = len(rgb), rgb.shape[-1]
    with torch.no_grad():
        prep_seconds = statistics.median(time_runs(lambda: targets.prepare(rgb), device, warmup, repeats))
    for arch in archs:
        trainer = make_trainer(arch, width, size, targets, device, amp_dtype, True, compile_model)
        with FlopCounterMode(display=False) as counter:
            forward_backward(trainer.model, trainer.objective, rgb, amp_dtype, trainer.scaler)
        trainer.optimizer.zero_grad(set_to_none=True)
        flops = counter.get_total_flops()
        step_warmup = max(warmup, 2) if compile_model else warmup
        seconds = statistics.median(time_runs(lambda: trainer.step(rgb), device, step_warmup, repeats))
        fraction = flops / seconds / peak
        share = prep_seconds / seconds
        setting = f"{arch} ({width}) {size} px, batch {batch}, {_config_name(amp_dtype, True, compile_model)}"
        if arch == GPU_PEAK_ARCH and size == PREP_SPEEDUP_SIZE:
            peak_target = f"> {GPU_PEAK_TARGET:.0%} of bf16 peak"
            peak_result = _verdict(fraction > GPU_PEAK_TARGET, f"{fraction:.1%}")
        else:
            peak_target, peak_result = "", f"{fraction:.1%} of peak"
        rows += [
            Row(4, "training step", setting, batch / seconds, "img/s", None, "",
                f"{flops / batch / 1e9:.3g} GFLOP/img"),
            Row(4, "achieved FLOP/s", setting, flops / seconds / 1e12, "TFLOP/s", fraction, peak_target,
                peak_result),
            Row(4, "target prep share", setting, 1e3 * prep_seconds, "ms/batch", share,
                f"< {GPU_PREP_SHARE_TARGET:.0%} of step time",
                _verdict(share < GPU_PREP_SHARE_TARGET, f"{share:.1%}")),
        ]
        trainer = None
        torch.cuda.empty_cache()
    return rows


# ----------------------------------------------------------------------------------------------
# The whole benchmark


def run_benchmark(args: argparse.Namespace) -> tuple[dict[str, str], list[Row]]:
    """Run every section as ``args`` (from :func:`complete_args`) says; returns (machine, rows)."""
    from splitbrain.targets import build_targets

    device = _resolve_device(args.device)
    info = machine_info(device)
    targets = build_targets(args.space, grid=args.grid, bins1=args.bins1, bins2=args.bins2)
    sections = set(args.sections)
    rows: list[Row] = []
    if 1 in sections:
        for size in args.sizes:
            images = load_images(args.data, args.data_root, size, args.images, args.seed)
            rows += bench_target_preparation(images, targets, device, args.space, args.bins1, args.bins2,
                                             args.batch, args.warmup, args.repeats)

    size = max(args.sizes)
    if sections & {2, 4, 5}:
        rgb = _fill_batch(load_images(args.data, args.data_root, size, min(args.images, args.batch), args.seed),
                          args.batch).to(device)
    if 2 in sections:
        for arch in args.archs:
            rows += bench_step_overhead(arch, args.width, rgb, targets, device, args.warmup, args.repeats)
    if 3 in sections:
        for arch in args.archs:
            rows += bench_end_to_end(arch, args.width, size, targets, device, args.data, args.data_root,
                                     args.batch, args.workers, args.compile, args.warmup, args.repeats, args.seed)
    if 5 in sections:
        for arch in args.archs:
            rows += bench_finetune_step(arch, args.width, rgb, targets, device, args.warmup, args.repeats, args.seed)
    if 4 in sections and device.type == "cuda":
        rows += bench_gpu(args.archs, args.width, rgb, targets, device, args.compile, args.warmup, args.repeats)
    elif 4 in sections:
        rows.append(Row(4, "GPU FLOP/s vs bf16 peak", "CUDA only", None, "", None, "", "skipped: no CUDA"))
    return info, rows


def _format_number(value: float | None) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def format_table(info: dict[str, str], rows: Sequence[Row], command: str = "", quick: bool = False) -> str:
    """The header (command, machine) and the table as text: one ``|``-separated line per row."""
    cells = [COLUMNS] + [
        (str(r.section), r.measurement, r.setting, _format_number(r.value), r.unit,
         "-" if r.ratio is None else f"{r.ratio:.3g}", r.target or "-", r.result or "-")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    numeric = {3, 5}

    def line(row):
        padded = (c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
        return "| " + " | ".join(padded) + " |"

    header = [f"python -m benchmarks.bench{' ' + command if command else ''}"]
    header.append("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    if quick:
        header.append("quick run (tiny sizes, no warm-up, 1 repeat): the figures only show that everything runs")
    load, cores = info.get("load average", "n/a"), info.get("cores", "n/a")
    if load != "n/a" and cores.isdigit() and float(load) >= int(cores) and info.get("torch threads") != "1":
        header.append(f"note: the machine was busy (load average {load} on {cores} cores); multi-threaded CPU "
                      "timings of many small ops suffer most (each op waits for its slowest thread), try --threads 1")
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join(header + [line(cells[0]), rule] + [line(row) for row in cells[1:]])


def _resolve_device(name: str) -> torch.device:
    from splitbrain.runtime import resolve_device

    return resolve_device(name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--sizes", type=int, nargs="+", help="image sides for section 1 (default 32 96); "
                        "sections 2-4 use the largest")
    parser.add_argument("--batch", type=int, help="batch size (default 64)")
    parser.add_argument("--images", type=int, help="images per size in section 1 (default 256)")
    parser.add_argument("--archs", nargs="+", choices=ARCHITECTURES,
                        help="architectures for sections 2-4 (default: all on CUDA, simplenet on the CPU)")
    parser.add_argument("--width", choices=("half", "full"),
                        help="half-network width (default full, the poster's; half with --quick)")
    parser.add_argument("--space", choices=poster_pipeline.POSTER_SPACES, default="lab",
                        help="colour space (default lab)")
    parser.add_argument("--grid", type=int, default=12, help="target grid side (default 12)")
    parser.add_argument("--bins1", type=int, default=100, help="bins of group 1 (default 100)")
    parser.add_argument("--bins2", type=int, default=10, help="bins per channel of group 2 (default 10)")
    parser.add_argument("--data", choices=("embedded", "folder", "cifar10", "stl10"), default="embedded",
                        help="images to use (default: the embedded photographs)")
    parser.add_argument("--data-root", help="dataset folder (required for --data folder)")
    parser.add_argument("--workers", type=int,
                        help="DataLoader workers in section 3 (default 0 on the CPU, 2 on CUDA)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="include torch.compile (default: on CUDA only; slow to compile on the CPU)")
    parser.add_argument("--repeats", type=int,
                        help="timed repeats, the median is reported (default 3, 5 on CUDA)")
    parser.add_argument("--warmup", type=int, help="untimed warm-up runs (default 1, 3 on CUDA)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--sections", type=int, nargs="+", choices=(1, 2, 3, 4, 5), default=[1, 2, 3, 4, 5],
                        help="which sections to run (default all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the images and models (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny run for tests: sizes 16 24, batch 8, 16 images, half width, "
                        "1 repeat, no warm-up")
    parser.add_argument("--json", dest="json_out", help="also write the machine and rows as JSON here")


def complete_args(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the device-dependent defaults of parsed ``args`` and check them (ValueError naming
    the option)."""
    on_gpu = _resolve_device(args.device).type == "cuda"
    defaults = dict(QUICK) if args.quick else dict(
        sizes=[32, PREP_SPEEDUP_SIZE], batch=64, images=256, width="full",
        repeats=5 if on_gpu else 3, warmup=3 if on_gpu else 1,
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.archs is None:
        args.archs = list(ARCHITECTURES) if on_gpu else ["simplenet"]
    if args.workers is None:
        args.workers = 2 if on_gpu else 0
    if args.compile is None:
        args.compile = on_gpu
    for name in ("batch", "images", "repeats", "grid", "bins1", "bins2"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be a positive integer, got {getattr(args, name)}")
    if args.warmup < 0 or args.workers < 0:
        raise ValueError("--warmup and --workers must be >= 0")
    if min(args.sizes) < args.grid:
        raise ValueError(f"every --sizes value must be >= --grid ({args.grid}), got {args.sizes}")
    if args.data == "folder" and not args.data_root:
        raise ValueError("--data folder needs --data-root DIR (a folder of class subfolders)")
    return args


def run_command(args: argparse.Namespace) -> int:
    """Run the benchmark ``args`` describe and print its table."""
    args = complete_args(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    info, rows = run_benchmark(args)
    print(format_table(info, rows, " ".join(args.argv), args.quick))
    if args.json_out:
        record = {"machine": info, "args": {k: v for k, v in vars(args).items() if k not in ("run", "argv")},
                  "rows": [asdict(r) for r in rows]}
        atomic_write_text(args.json_out, json.dumps(record, indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.bench ...``: the benchmark's table; returns the exit status."""
    from splitbrain.command import run_tool

    return run_tool("python -m benchmarks.bench", "Time the target pipeline and pretraining; one table.",
                    add_arguments, run_command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
