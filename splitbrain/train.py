"""Pretraining: the split-brain loop (and the denoising-autoencoder baseline), top to bottom.

One step, as in the paper::

    uint8 RGB batch --(non_blocking)--> device
        --targets.prepare--> x1 (N,1,H,W), x2 (N,2,H,W), t1 (N,g,g), t2 (N,g,g)
        --model(x1, x2)--> logits1 (N,K2,g,g), logits2 (N,K1,g,g)
        --> loss = CE(logits1, t2) + CE(logits2, t1)      (mean over pixels, sum over halves)
        --> backward --> Adam step;  StepLR (x lr_decay) after every epoch

``pretrain(config)`` runs it for ``config.epochs`` epochs and leaves in ``config.out``
``checkpoint.pt`` (after every epoch: everything a resume needs), ``metrics.jsonl`` (a "step"
line every ``log_every`` steps, an "epoch" line per epoch) and ``config.json``; the record goes
to ``config.record_dir``. A loss that becomes NaN or infinite stops the run at that step.

Reproducibility: on the CPU a run resumed after epoch e ends with exactly the weights of the
uninterrupted run (the data order and worker seeds depend on (seed, epoch) only; the global RNG
is saved and restored); on a GPU cuDNN makes it match only approximately.

Multiple GPUs: under ``torchrun --nproc_per_node N`` each process takes ``batch_size // N``
images of the GLOBAL batch, the model is wrapped in DistributedDataParallel (SyncBatchNorm on
CUDA; under gloo each process normalises with its own shard), and only rank 0 writes files.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from .checkpoint import (CHECKPOINT_NAME, CONFIG_NAME, METRICS_NAME, CheckpointMismatchError, MetricsLog,
                         RunExistsError, atomic_torch_save, check_resumable, checkpoint_state, load_checkpoint,
                         read_metrics)
from .color import get_color_space
from .data import STANDARD_SPLITS, build_dataset, seed_worker
from .files import atomic_write_text, check_writable_folder
from .models import build_model, build_targets_for
from .presets import WARMUP_FRACTION, PretrainConfig
from .quantize import rebalancing_weights
from .results import make_record, model_entry, write_record
from .runfolder import held_run_folder, read_json_object
from .schedule import warmup_cosine
from .runtime import (DistributedContext, all_reduce_mean, autocast, capture_rng_state, epoch_seed, init_distributed,
                      resolve_amp, resolve_device, restore_rng_state, seed_everything, tqdm_disable)


# ----------------------------------------------------------------------------------------------
# Data


def build_pretrain_dataset(config: PretrainConfig) -> Dataset:
    """The images of ``config.data``'s pretraining split (``data.STANDARD_SPLITS``); labels are ignored."""
    return build_dataset(config.data, root=config.data_root, split=STANDARD_SPLITS[config.data].pretrain,
                         image_size=config.image_size, augment=config.augment, download=config.download,
                         length=config.train_length if config.data == "embedded" else None, seed=config.split_seed,
                         in_memory=config.in_memory, bad_images=config.bad_images)


def build_train_loader(dataset: Dataset, config: PretrainConfig, ctx: DistributedContext, device: torch.device
                       ) -> DataLoader:
    """A DataLoader of uint8 batches (N, 3, S, S), N = batch_size // world_size per process.

    The sampler is a DistributedSampler even for one process: its order is a function of
    (seed, epoch) after ``set_epoch``. Workers are not persistent, so their seeds are drawn
    afresh from the loader's generator, re-seeded every epoch (see :func:`seed_epoch`).
    """
    if config.batch_size % ctx.world_size:
        raise ValueError(f"batch_size must be divisible by the number of processes: batch_size={config.batch_size}, "
                         f"processes={ctx.world_size} (batch_size is the global batch)")
    per_rank = config.batch_size // ctx.world_size
    sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed)
    if len(sampler) < per_rank:
        raise ValueError(f"batch_size={config.batch_size} needs at least {per_rank} images per process, but the "
                         f"dataset has {len(dataset)} images; lower batch_size or use more data (train_length)")
    return DataLoader(dataset, batch_size=per_rank, sampler=sampler, num_workers=config.num_workers,
                      pin_memory=device.type == "cuda", drop_last=True, generator=torch.Generator(),
                      worker_init_fn=seed_worker, persistent_workers=False)


def build_scheduler(optimizer: torch.optim.Optimizer, config: PretrainConfig, steps_per_epoch: int):
    """The learning-rate schedule of ``config.lr_schedule`` (see :class:`~splitbrain.presets.PretrainConfig`)
    and when it is stepped: (scheduler, "epoch" or "step")."""
    if config.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=config.lr_decay), "epoch"
    return warmup_cosine(optimizer, config.epochs * steps_per_epoch, WARMUP_FRACTION), "step"


def seed_epoch(loader: DataLoader, config: PretrainConfig, epoch: int, ctx: DistributedContext) -> None:
    """Make epoch ``epoch``'s order and worker seeds depend on (seed, epoch, rank) only."""
    loader.sampler.set_epoch(epoch)
    loader.generator.manual_seed(epoch_seed(config.seed, epoch, ctx.rank))


RESUME_STATE = ("model", "optimizer", "scheduler", "rng", "epoch", "step")
"""What a checkpoint must hold for a run to resume from it (a weights-only file has only ``model``)."""


# ----------------------------------------------------------------------------------------------
# Objectives: prepare (float32, outside autocast) -> forward (autocast) -> loss (float32)


class SplitBrainObjective:
    """Cross-channel prediction: half 1 predicts group 2's classes, half 2 group 1's.

    ``targets``: a ``splitbrain.targets.CrossChannelTargets``; ``class_weights``: None, or the
    rebalanced loss's cross-entropy weights (w1 (K1,), w2 (K2,)) of group 1's and group 2's classes.
    """

    def __init__(self, targets, class_weights=None, channels_last: bool = False):
        self.targets = targets
        self.class_weights = class_weights
        self.channels_last = channels_last
        names = targets.space.channel_names
        group1, group2 = ("".join(names[i] for i in group) for group in targets.space.groups)
        self.part_names = {"loss1": f"{group1}->{group2}", "loss2": f"{group2}->{group1}"}

    parts = ("loss1", "loss2")
    """The loss's parts, logged beside it: half 1's and half 2's cross-entropy."""

    def describe(self, summary: dict[str, float]) -> str:
        """" (L->ab 2.278, ab->L 4.131)": the parts of an epoch's summary for its printed line."""
        return " ({})".format(", ".join(f"{self.part_names[part]} {summary[part]:.3f}" for part in self.parts))

    def prepare(self, rgb: torch.Tensor):
        batch = self.targets.prepare(rgb)
        if self.channels_last:
            batch.x1 = batch.x1.contiguous(memory_format=torch.channels_last)
            batch.x2 = batch.x2.contiguous(memory_format=torch.channels_last)
        return batch

    def forward(self, model: nn.Module, batch):
        return model(batch.x1, batch.x2)

    def loss(self, outputs, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits1, logits2 = outputs
        w1, w2 = self.class_weights if self.class_weights is not None else (None, None)
        loss1 = F.cross_entropy(logits1.float(), batch.t2, weight=w2)
        loss2 = F.cross_entropy(logits2.float(), batch.t1, weight=w1)
        return loss1 + loss2, {"loss1": loss1.detach(), "loss2": loss2.detach()}


class DenoisingObjective:
    """The baseline: reconstruct the clean normalised image (in ``space``, the network's 3-channel
    input) from a copy corrupted by the model's ``corrupt(x)`` (MSE)."""

    parts = ()

    def __init__(self, space, corrupt, channels_last: bool = False):
        self.space = space
        self.corrupt = corrupt
        self.channels_last = channels_last

    def prepare(self, rgb: torch.Tensor):
        clean = self.space.inputs(rgb)
        noisy = self.corrupt(clean)
        if self.channels_last:
            noisy = noisy.contiguous(memory_format=torch.channels_last)
        return clean, noisy

    def forward(self, model: nn.Module, prepared):
        return model(prepared[1])

    def loss(self, outputs, prepared) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return F.mse_loss(outputs.float(), prepared[0]), {}

    def describe(self, summary: dict[str, float]) -> str:
        return ""


def estimate_class_weights(targets, loader: DataLoader, device: torch.device, batches: int = 8):
    """Rebalancing weights (w1 (K1,), w2 (K2,)) float32 from the classes of the first ``batches`` batches.

    Fixed Lab bins are smoothed with sigma 5 in Lab units (Zhang et al. 2016); RGB bins and
    per-image (rescaled) bins, whose centres are not in Lab units or move per image, unsmoothed.
    Under torchrun the counts of all processes are summed, so every process uses the same weights.
    """
    quantizers = (targets.quantizer1, targets.quantizer2)
    class_counts = [torch.zeros(q.num_classes, dtype=torch.float64, device=device) for q in quantizers]
    for rgb, _ in itertools.islice(loader, batches):
        batch = targets.prepare(rgb.to(device))
        for counts, classes in zip(class_counts, (batch.t1, batch.t2)):
            counts += torch.bincount(classes.flatten(), minlength=counts.numel())
    weights = []
    for quantizer, counts in zip(quantizers, class_counts):
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(counts)
        counts = counts.cpu()
        lab_bins = targets.space.name == "lab" and not getattr(quantizer, "per_image_ranges", False)
        centres = quantizer.centres() if lab_bins else torch.zeros(counts.numel(), 1)
        weights.append(rebalancing_weights(counts, centres, sigma=5.0 if lab_bins else 0.0).float().to(device))
    return tuple(weights)


# ----------------------------------------------------------------------------------------------
# One optimisation step (split in two so tests can look at the gradients in between)


def forward_backward(model, objective, rgb, amp_dtype, scaler) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss of one uint8 batch ``rgb`` (already on the device) and its gradients (accumulated):
    the detached loss (a 0-dim float32 tensor, no device sync) and its parts."""
    prepared = objective.prepare(rgb)
    with autocast(rgb.device, amp_dtype):
        outputs = objective.forward(model, prepared)
    loss, parts = objective.loss(outputs, prepared)
    scaler.scale(loss).backward()
    return loss.detach(), parts


def optimizer_step(optimizer: torch.optim.Optimizer, scaler) -> None:
    """Apply the accumulated gradients (unscaled by the GradScaler) and clear them."""
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


class LossWatch:
    """Raises ``diverged(step, loss)`` for the first step whose loss is NaN or infinite, without
    stalling the device: each step's loss is copied into one host buffer (pinned, asynchronously on
    CUDA) and read when the next step is queued."""

    def __init__(self, device: torch.device, diverged: Callable[[int, float], Exception]):
        self.cuda = device.type == "cuda"
        self.host = torch.empty((), dtype=torch.float32, pin_memory=self.cuda)
        self.copied = torch.cuda.Event() if self.cuda else None
        self.pending_step: int | None = None
        self.diverged = diverged

    def add(self, loss: torch.Tensor, step: int) -> None:
        """Check the previous step's loss, then queue step ``step``'s ``loss`` (0-dim)."""
        self.flush()
        self.host.copy_(loss, non_blocking=self.cuda)
        if self.copied is not None:
            self.copied.record(torch.cuda.current_stream(loss.device))  # the copy's stream, not cuda:0's
        self.pending_step = step

    def flush(self) -> None:
        """Check the last queued step's loss (waits for its copy)."""
        step, self.pending_step = self.pending_step, None
        if step is None:
            return
        if self.copied is not None:
            self.copied.synchronize()
        value = self.host.item()
        if not math.isfinite(value):
            raise self.diverged(step, value)


def divergence(trainer: Trainer, epoch: int, step: int, value: float) -> FloatingPointError:
    """The error of a loss that became ``value`` at ``step`` of epoch ``epoch`` (0-based), with the way on."""
    run_dir = trainer.config.out
    return FloatingPointError(
        f"loss became {value} at step {step} (epoch {epoch + 1}): training diverged and stopped; {run_dir} keeps the "
        f"checkpoint of epoch {epoch}, the last with finite losses, and no record: start again with a lower "
        f"learning rate (--lr, now {trainer.config.lr:g}) in another --out, or after deleting {run_dir}")


# ----------------------------------------------------------------------------------------------
# The loop


@dataclass
class PretrainResult:
    """What :func:`pretrain` returns. ``model``: the trained network (unwrapped, on the training
    device, eval mode); ``history``: the per-epoch lines of metrics.jsonl; ``final_loss``: the last
    epoch's mean loss (NaN when no epoch ran)."""

    model: nn.Module
    config: PretrainConfig
    run_dir: Path
    checkpoint: Path
    metrics_path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    final_loss: float = math.nan
    epochs: int = 0
    steps: int = 0
    wall_time_s: float = 0.0
    images_per_s: float = 0.0
    record_path: Path | None = None


def open_run(config: PretrainConfig, resume: bool | str | os.PathLike | None, ctx: DistributedContext
             ) -> dict[str, Any] | None:
    """The checkpoint a run continues from (None for a fresh run), checked against ``config``;
    the record's folder is checked before any work (the run folder by :func:`held_run_folder`).
    Raises RunExistsError for a fresh run in a folder that holds one (or a resume that would
    replace it), CheckpointMismatchError for a checkpoint that cannot go on as ``config``."""
    run_dir = Path(config.out)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    checkpoint = None
    elsewhere = resume and resume is not True and Path(resume).resolve() != checkpoint_path.resolve()
    if elsewhere and checkpoint_path.exists():
        raise RunExistsError(f"{run_dir} already holds a run ({CHECKPOINT_NAME}); resuming {resume} there would "
                             f"replace it: give another folder (--out), or --resume without a path to continue it")
    if resume:
        source = checkpoint_path if resume is True else Path(resume)
        checkpoint = load_checkpoint(source)
        missing = [key for key in RESUME_STATE if key not in checkpoint]
        if missing:
            raise CheckpointMismatchError(f"checkpoint {source} holds no {', '.join(missing)} (a weights-only file, "
                                          f"e.g. a shipped network): a run cannot resume from it; probe or fine-tune "
                                          f"it, or start a new run")
        check_resumable(checkpoint["config"], config.to_dict(), source=f"checkpoint {source}")
    elif checkpoint_path.exists():
        raise RunExistsError(f"{run_dir} already holds a run ({CHECKPOINT_NAME}); continue it with --resume "
                             f"(resume=True), or start afresh in another folder (--out) or after deleting this one")
    if ctx.is_main and config.record_dir is not None:
        check_writable_folder(config.record_dir, "--results")
    return checkpoint


def build_objective(config: PretrainConfig, model: nn.Module, targets, loader: DataLoader,
                    checkpoint: dict[str, Any] | None, ctx: DistributedContext, device: torch.device):
    """The pretext objective of ``config.method``. A rebalanced loss takes the checkpoint's class
    weights or measures them on the first batches, which draws from the random streams: it runs
    here, in the same place for every run."""
    if config.method == "dae":
        return DenoisingObjective(get_color_space(config.color_space), model.corrupt, config.channels_last)
    class_weights = None
    if config.loss == "rebalanced":
        if checkpoint is not None and checkpoint.get("class_weights") is not None:
            class_weights = tuple(w.to(device) for w in checkpoint["class_weights"])
        else:
            seed_epoch(loader, config, 0, ctx)
            class_weights = estimate_class_weights(targets, loader, device)
    return SplitBrainObjective(targets, class_weights, config.channels_last)


def wrap_for_training(model: nn.Module, config: PretrainConfig, ctx: DistributedContext, device: torch.device,
                      first_epoch: int) -> nn.Module:
    """The module the loop calls: ``model`` itself, or wrapped in DistributedDataParallel (with
    SyncBatchNorm on CUDA) under torchrun, and compiled when ``config.compile``."""
    train_model = model
    if ctx.enabled and ctx.rank > 0:
        # Same initial weights everywhere (DDP also broadcasts rank 0's), but each process
        # its own random stream for augmentation and noise.
        torch.manual_seed(config.seed + 1_000_003 * ctx.rank + first_epoch)
    if ctx.enabled:
        if device.type == "cuda":
            train_model = nn.SyncBatchNorm.convert_sync_batchnorm(train_model)
        train_model = nn.parallel.DistributedDataParallel(train_model,
                                                          device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        train_model = torch.compile(train_model)
    return train_model


@dataclass
class Trainer:
    """Everything one pretraining run steps: the network (and the module the loop calls), its
    objective, optimiser, schedule, grad scaler and loader, and where the run stands."""

    config: PretrainConfig
    ctx: DistributedContext
    device: torch.device
    amp_dtype: torch.dtype | None
    model: nn.Module
    train_model: nn.Module
    objective: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    schedule_unit: str
    scaler: torch.amp.GradScaler
    loader: DataLoader
    steps_per_epoch: int
    step: int = 0

    def save(self, path: Path, epoch_done: int) -> None:
        """The resumable checkpoint after ``epoch_done`` epochs (written atomically, rank 0 only)."""
        if not self.ctx.is_main:
            return
        rng = capture_rng_state()
        rng["loader_generator"] = self.loader.generator.get_state()
        weights = getattr(self.objective, "class_weights", None)
        atomic_torch_save(checkpoint_state(
            self.config.to_dict(), self.model.state_dict(), epoch_done, self.step,
            optimizer=self.optimizer.state_dict(), scheduler=self.scheduler.state_dict(),
            scaler=self.scaler.state_dict() if self.scaler.is_enabled() else None,
            class_weights=None if weights is None else [w.cpu() for w in weights], rng=rng,
            world_size=self.ctx.world_size, pretrained_on=self.loader.dataset, replacing=path), path)

    def restore(self, checkpoint: dict[str, Any]) -> int:
        """Load a checkpoint's network, optimiser, schedule, scaler and random streams; returns its epoch."""
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        if checkpoint.get("scaler") is not None:
            self.scaler.load_state_dict(checkpoint["scaler"])
        restore_rng_state(checkpoint["rng"])
        self.step = int(checkpoint["step"])
        return int(checkpoint["epoch"])


def build_trainer(config: PretrainConfig, checkpoint: dict[str, Any] | None, ctx: DistributedContext) -> Trainer:
    """Data, targets, network, objective, optimiser and schedule of ``config`` (everything random
    seeded first), restored from ``checkpoint`` when resuming."""
    device = resolve_device(config.device, ctx.local_rank)
    seed_everything(config.seed)
    loader = build_train_loader(build_pretrain_dataset(config), config, ctx, device)
    targets = build_targets_for(config) if config.method == "splitbrain" else None
    model = build_model(config, targets).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = min(len(loader), config.max_steps_per_epoch or len(loader))
    scheduler, schedule_unit = build_scheduler(optimizer, config, steps_per_epoch)
    amp_dtype = resolve_amp(config.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    objective = build_objective(config, model, targets, loader, checkpoint, ctx, device)
    trainer = Trainer(config, ctx, device, amp_dtype, model, model, objective, optimizer, scheduler, schedule_unit,
                      scaler, loader, steps_per_epoch)
    first_epoch = trainer.restore(checkpoint) if checkpoint is not None else 0
    trainer.train_model = wrap_for_training(model, config, ctx, device, first_epoch)
    return trainer


def train_one_epoch(trainer: Trainer, epoch: int, log: MetricsLog, start_time: float) -> dict[str, Any]:
    """One epoch of ``trainer``'s steps (a "step" line in the log every ``log_every`` steps);
    returns the epoch's summary: mean loss and its parts, learning rate, speed, seconds."""
    config, objective, optimizer = trainer.config, trainer.objective, trainer.optimizer
    trainer.train_model.train()
    seed_epoch(trainer.loader, config, epoch, trainer.ctx)
    lr = optimizer.param_groups[0]["lr"]
    sums = torch.zeros(1 + len(objective.parts), device=trainer.device)  # loss and its parts, summed over steps
    epoch_start = window_start = time.perf_counter()
    steps_done = window_steps = 0
    bar = tqdm(total=trainer.steps_per_epoch, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
               disable=tqdm_disable(config.progress, trainer.ctx.is_main), dynamic_ncols=True)
    watch = LossWatch(trainer.device, lambda step, value: divergence(trainer, epoch, step, value))
    for rgb, _ in itertools.islice(trainer.loader, trainer.steps_per_epoch):
        loss, parts = forward_backward(trainer.train_model, objective, rgb.to(trainer.device, non_blocking=True),
                                       trainer.amp_dtype, trainer.scaler)
        optimizer_step(optimizer, trainer.scaler)
        if trainer.schedule_unit == "step":
            trainer.scheduler.step()
        trainer.step += 1
        watch.add(loss, trainer.step)
        steps_done += 1
        window_steps += 1
        values = torch.stack([loss, *(parts[name] for name in objective.parts)])
        sums += values
        bar.update(1)
        if trainer.step % config.log_every == 0:
            values = all_reduce_mean(values, trainer.ctx).tolist()
            now = time.perf_counter()
            speed = window_steps * config.batch_size / max(now - window_start, 1e-9)
            window_start, window_steps = now, 0
            watch.flush()
            if not math.isfinite(values[0]):  # another process's loss
                raise divergence(trainer, epoch, trainer.step, values[0])
            log.write({"kind": "step", "step": trainer.step, "epoch": epoch + 1, "loss": values[0],
                       **dict(zip(objective.parts, values[1:])), "lr": optimizer.param_groups[0]["lr"],
                       "images_per_s": speed, "wall_s": now - start_time})
            bar.set_postfix(loss=f"{values[0]:.3f}", img_s=f"{speed:.0f}")
    bar.close()
    watch.flush()
    if trainer.schedule_unit == "epoch":
        trainer.scheduler.step()
    means = (all_reduce_mean(sums, trainer.ctx) / max(steps_done, 1)).tolist()
    if not math.isfinite(means[0]):  # another process's loss
        raise divergence(trainer, epoch, trainer.step, means[0])
    epoch_time = time.perf_counter() - epoch_start
    return {"kind": "epoch", "step": trainer.step, "epoch": epoch + 1, "loss": means[0],
            **dict(zip(objective.parts, means[1:])), "lr": lr,
            "images_per_s": steps_done * config.batch_size / max(epoch_time, 1e-9), "epoch_time_s": epoch_time,
            "wall_s": time.perf_counter() - start_time}


def pretrain(config: PretrainConfig, resume: bool | str | os.PathLike | None = None) -> PretrainResult:
    """Pretrain a network as ``config`` says; see the module docstring for what it writes.

    ``resume``: None/False for a fresh run; True to continue from ``<out>/checkpoint.pt``; or a
    checkpoint path. Training continues up to ``config.epochs`` epochs in total.

    Raises:
        CheckpointMismatchError (a ValueError): the checkpoint's network or recipe differs from
            ``config`` (only ``epochs`` may change, under the "step" schedule).
        RunExistsError (a ValueError): ``config.out`` already holds a run and ``resume`` is not set;
            nothing in it is touched.
        ValueError: ``config.out`` holds files that are not a run's; nothing in it is touched.
        FolderInUseError (an OSError): another process writes into ``config.out``.
        FloatingPointError: the loss became NaN or infinite (the checkpoint of the last epoch
            before it stays, and no record is written).
        MissingDatasetError: the dataset is not on disk.
    """
    start_time = time.perf_counter()
    ctx = init_distributed(config.device)
    with held_run_folder(config, ctx):
        return run_pretraining(config, resume, ctx, start_time)


def run_pretraining(config: PretrainConfig, resume: bool | str | os.PathLike | None, ctx: DistributedContext,
                    start_time: float) -> PretrainResult:
    """:func:`pretrain`'s work, in a run folder it holds."""
    checkpoint = open_run(config, resume, ctx)
    trainer = build_trainer(config, checkpoint, ctx)
    resumed = checkpoint is not None
    first_epoch = int(checkpoint["epoch"]) if resumed else 0
    run_dir = Path(config.out)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / CONFIG_NAME, json.dumps(config.to_dict(), indent=2) + "\n")
    log = MetricsLog(run_dir / METRICS_NAME, ctx.is_main, keep_until_step=trainer.step if resumed else None)
    history = [r for r in read_metrics(log.path) if r.get("kind") == "epoch"] if resumed else []
    if not resumed:
        trainer.save(checkpoint_path, 0)  # the initial weights: a "random init" checkpoint when epochs == 0

    images_seen, train_time = 0, 0.0
    for epoch in range(first_epoch, config.epochs):
        steps_before = trainer.step
        summary = train_one_epoch(trainer, epoch, log, start_time)
        images_seen += (trainer.step - steps_before) * config.batch_size
        train_time += summary["epoch_time_s"]
        log.write(summary)
        history.append(summary)
        trainer.save(checkpoint_path, epoch + 1)
        if config.verbose and ctx.is_main:
            parts = trainer.objective.describe(summary)
            print(f"epoch {epoch + 1}/{config.epochs}  loss {summary['loss']:.4f}{parts}  "
                  f"lr {summary['lr']:.2e}  {summary['images_per_s']:.0f} img/s  {summary['epoch_time_s']:.1f} s",
                  flush=True)

    trainer.model.eval()
    epochs_done = max(first_epoch, config.epochs)
    result = PretrainResult(
        model=trainer.model, config=config, run_dir=run_dir, checkpoint=checkpoint_path, metrics_path=log.path,
        history=history, final_loss=history[-1]["loss"] if history else math.nan, epochs=epochs_done,
        steps=trainer.step, wall_time_s=time.perf_counter() - start_time,
        images_per_s=images_seen / train_time if train_time > 0 else 0.0,
    )
    trained_now = not resumed or epochs_done > first_epoch  # a finished run's resume: only a record a fault lost
    if config.record_dir is not None and ctx.is_main and (trained_now or find_pretrain_record(result) is None):
        result.record_path = write_pretrain_record(result, first_epoch if resumed else None, ctx)
    return result


def find_pretrain_record(result: PretrainResult) -> Path | None:
    """The "pretrain" record of ``result``'s run at its epoch and step count in the record
    folder, or None (a kill or a full disk during its write loses it)."""
    folder = Path(result.config.record_dir)
    in_run_folder = folder.resolve() == result.run_dir.resolve()
    for path in sorted(folder.glob("pretrain-*.json")):
        record = read_json_object(path) or {}
        metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
        same_run = in_run_folder or Path(str(record.get("checkpoint"))).resolve() == result.checkpoint.resolve()
        if (record.get("kind") == "pretrain" and same_run and metrics.get("epochs") == result.epochs
                and metrics.get("steps") == result.steps):
            return path
    return None


def mean_speed(history: list[dict[str, Any]]) -> float:
    """Images per second over the epochs of ``history`` (their images over their seconds)."""
    seconds = sum(float(h.get("epoch_time_s", 0.0)) for h in history)
    images = sum(float(h.get("images_per_s", 0.0)) * float(h.get("epoch_time_s", 0.0)) for h in history)
    return images / seconds if seconds > 0 else 0.0


def write_pretrain_record(result: PretrainResult, resumed_from_epoch: int | None, ctx: DistributedContext) -> Path:
    """The "pretrain" record of a finished run; a resumed run's counts the training its earlier
    invocations did (their epochs' time; their speed when this invocation trained nothing)."""
    config = result.config
    earlier = sum(float(h.get("epoch_time_s", 0.0)) for h in result.history
                  if resumed_from_epoch is not None and h.get("epoch", 0) <= resumed_from_epoch)
    record = make_record(
        "pretrain", config.to_dict(),
        {"final_loss": result.final_loss, "epochs": result.epochs, "steps": result.steps,
         "images_per_s": result.images_per_s or mean_speed(result.history), "history": result.history},
        model=model_entry(config), seed=config.seed, wall_time_s=result.wall_time_s + earlier,
        extra={"checkpoint": str(result.checkpoint), "world_size": ctx.world_size,
               "resumed_from_epoch": resumed_from_epoch, "invocation_s": result.wall_time_s},
    )
    return write_record(record, config.record_dir)
