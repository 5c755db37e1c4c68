"""Fine-tuning: a network's trunks and a linear classifier trained together with labels.

One step, written out (chapter 6 shows it as code)::

    uint8 RGB batch (B, 3, S, S) of the labelled images
        --augment_batch--> random crops after zero padding, random horizontal flips
        --FinetuneClassifier--> colour space inputs -> trunks up to the head layer
                                -> global average pool, both halves concatenated -> Linear -> logits (B, K)
        --> cross-entropy with the labels --> backward --> SGD / Adam step --> learning-rate schedule step

:func:`finetune` runs it for a budget of images seen (``EvalConfig.finetune_images``, or
``finetune_epochs`` passes over the labelled images), measures validation top-1 along the way
on the probe's validation part (which the training never sees) and reports top-1 / top-5 on the
held-out images. The labelled images are decoded once and held in memory as uint8; the steps run
with channels-last tensors under the configuration's autocast (bfloat16 on CPUs that have it).
BatchNorm layers train on batch statistics; evaluation uses their running averages, recomputed
over the labelled images at the end when ``finetune_precise_bn`` says so.

Two heads (``EvalConfig.finetune_head``): "last", a new Linear layer on the average-pooled last
layer (the poster's "classifier as the last layer"); "probe", the linear probe first, then
everything fine-tuned from it (LP-FT, Kumar et al. 2022): the probe's layer (chosen on
validation), its pooling and standardisation, and its trained classifier become the head.
``finetune_trials`` runs several (head, learning rate) settings from the same start and keeps
the best on validation.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from typing import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from .evaluate import (
    EvalResult,
    FeatureExtractor,
    FittedProbe,
    ProbeRecipe,
    choose_layer,
    evaluation_datasets,
    evaluation_loader,
    extract_features,
    feature_extractor,
    finish_evaluation,
    fit_probe,
    topk_accuracy,
    training_rows,
)
from .files import check_writable_folder
from .models import eval_mode, recompute_batchnorm_statistics
from .presets import EvalConfig, PretrainConfig, parse_trial
from .runtime import autocast, resolve_amp, resolve_device, seed_everything, tqdm_disable
from .schedule import warmup_cosine

SGD_MOMENTUM = 0.9
"""Nesterov momentum of the "sgd" optimiser (torchvision's classification references use 0.9)."""


class StandardizedLinear(nn.Module):
    """A fitted linear probe as a trainable head: ``(features - mean) / std -> Linear``.

    ``forward(features (N, D)) -> logits (N, K)``; ``mean`` and ``std`` (1, D) are fixed buffers
    (the probe's fit-part statistics), the Linear layer starts at the probe's weights and trains.
    """

    def __init__(self, probe: FittedProbe):
        super().__init__()
        self.register_buffer("mean", probe.mean.clone())
        self.register_buffer("std", probe.std.clone())
        self.linear = copy.deepcopy(probe.classifier).train().requires_grad_(True)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear((features.float() - self.mean) / self.std)


class FinetuneClassifier(nn.Module):
    """The trunks of a network up to ``layer`` + a head on their activations (both halves
    concatenated). ``forward(rgb uint8 (N, 3, H, W)) -> logits (N, K)``.

    The head reads the activations global-average-pooled (``max_dim`` None) or pooled like the
    probe's features to at most ``max_dim`` values; by default it is a new Linear layer on the
    average-pooled activations. Stages after ``layer`` are not run and not trained (None: the
    last feature layer).
    """

    def __init__(self, extractor: FeatureExtractor, num_classes: int, layer: str | None = None,
                 head: nn.Module | None = None, max_dim: int | None = None):
        super().__init__()
        self.extractor = extractor
        self.layer = extractor.feature_layers[-1] if layer is None else extractor.model.resolve_layer(layer)
        self.max_dim = max_dim
        channels = sum(trunk.layer_channels[trunk.resolve_layer(self.layer)] for trunk in extractor.trunks)
        self.head = nn.Linear(channels, num_classes) if head is None else head

    def trunk_parameters(self) -> list[nn.Parameter]:
        """Parameters of the trunk stages the classifier runs (up to and including ``layer``)."""
        params = []
        for trunk in self.extractor.trunks:
            last = trunk.resolve_layer(self.layer)
            for name, stage in trunk.stages.items():
                params += list(stage.parameters())
                if name == last:
                    break
        return params

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.head(self.extractor(rgb, self.layer, max_dim=self.max_dim))


def augment_batch(rgb: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Random crops and horizontal flips of a uint8 batch (N, 3, S, S) -> (N, 3, S, S) uint8.

    Each image is zero-padded by ``padding`` pixels on every side and an S x S window is cut at
    a random offset in [0, 2 * padding] (``padding`` 0: no crop), then flipped left-right with
    probability 1/2. The randomness comes from ``generator`` only (a CPU generator).
    """
    n, _, size, width = rgb.shape
    if padding > 0:
        padded = F.pad(rgb, (padding, padding, padding, padding))
        offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator).to(rgb.device)
        steps = torch.arange(size, device=rgb.device)
        rows = (offsets[:, 0, None] + steps)[:, None, :, None]  # (N, 1, S, 1)
        cols = (offsets[:, 1, None] + torch.arange(width, device=rgb.device))[:, None, None, :]  # (N, 1, 1, S)
        images = torch.arange(n, device=rgb.device)[:, None, None, None]
        channels = torch.arange(rgb.shape[1], device=rgb.device)[None, :, None, None]
        rgb = padded[images, channels, rows, cols]
    flips = (torch.rand(n, generator=generator) < 0.5).to(rgb.device)[:, None, None, None]
    return torch.where(flips, rgb.flip(-1), rgb)


def step_count(config: EvalConfig, images: int) -> int:
    """Optimiser steps of a fine-tuning on ``images`` labelled images: ``finetune_images``
    divided by the batch (rounded up), else ``finetune_epochs`` passes of full batches (one
    batch of all of them when there are fewer than a batch)."""
    batch = min(config.finetune_batch_size, images)
    if config.finetune_images is not None:
        return math.ceil(config.finetune_images / batch)
    return config.finetune_epochs * max(1, images // batch)


def batch_rows(count: int, batch: int, steps: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """``steps`` batches of row indices of ``range(count)``: passes in a fresh random order,
    each cut into full batches of ``batch`` (the remainder of a pass is dropped)."""
    done = 0
    while done < steps:
        order = torch.randperm(count, generator=generator)
        for start in range(0, count - batch + 1, batch):
            if done == steps:
                return
            yield order[start : start + batch]
            done += 1


def build_optimizer(classifier: FinetuneClassifier, config: EvalConfig) -> torch.optim.Optimizer:
    """``config.finetune_optimizer`` over two groups: the head at ``finetune_lr``, the trunks at
    ``finetune_trunk_lr`` times it (a trunk at 0 is frozen: left out of the optimiser)."""
    groups = [{"params": list(classifier.head.parameters()), "lr": config.finetune_lr}]
    if config.finetune_trunk_lr > 0:
        groups.append({"params": classifier.trunk_parameters(), "lr": config.finetune_lr * config.finetune_trunk_lr})
    if config.finetune_optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.finetune_lr, momentum=SGD_MOMENTUM, nesterov=True,
                               weight_decay=config.finetune_weight_decay)
    return torch.optim.Adam(groups, lr=config.finetune_lr, weight_decay=config.finetune_weight_decay)


def probe_head(extractor: FeatureExtractor, fit: tuple[torch.Tensor, torch.Tensor],
               val: tuple[torch.Tensor, torch.Tensor], num_classes: int, config: EvalConfig, device: torch.device,
               amp_dtype: torch.dtype | None) -> tuple[str, StandardizedLinear, float]:
    """The linear probe that starts an LP-FT fine-tuning: (layer, head, its validation top-1).

    BatchNorm's running statistics are first recomputed over the labelled images ``fit``
    (uint8 images (N, 3, S, S), labels (N,)), so that the frozen features match what the
    network computes on them; then every layer is probed as :func:`~splitbrain.evaluate.linear_probe`
    does (pooled to ``config.max_dim`` values, standardised, ``config``'s probe recipe) and the layer
    with the best validation top-1 on ``val`` is kept. ``extractor`` is left in train mode.
    """
    last = extractor.feature_layers[-1]

    def forward(batch) -> None:
        with autocast(device, amp_dtype):
            extractor.activations(batch[0].to(device), [last])

    recompute_batchnorm_statistics(extractor, _chunks(*fit, config.finetune_batch_size), forward)
    layers = extractor.feature_layers
    size = config.feature_batch_size
    fit_x, fit_y = extract_features(extractor, _chunks(*fit, size), layers, device, config.max_dim, amp_dtype,
                                    False, torch.float16)
    val_x, val_y = extract_features(extractor, _chunks(*val, size), layers, device, config.max_dim, amp_dtype,
                                    False, torch.float16)
    probes, scores = {}, {}
    for layer in layers:
        probes[layer], scores[layer] = fit_probe(fit_x.pop(layer), fit_y, num_classes, val_x.pop(layer), val_y,
                                                 ProbeRecipe.of(config), device)
    best = choose_layer(scores)
    extractor.train()
    return best, StandardizedLinear(probes[best]), scores[best]["val_top1"]


def finetune_step(classifier: nn.Module, optimizer: torch.optim.Optimizer, rgb: torch.Tensor, labels: torch.Tensor,
                  amp_dtype: torch.dtype | None = None, scaler: torch.amp.GradScaler | None = None) -> torch.Tensor:
    """One training step: logits of the uint8 batch ``rgb`` (N, 3, S, S) (channels-last, under
    autocast to ``amp_dtype`` when given), cross-entropy with ``labels`` (N,) in float32,
    backward, one ``optimizer`` step (through ``scaler`` for float16). Returns the loss (detached)."""
    rgb = rgb.contiguous(memory_format=torch.channels_last)
    with autocast(rgb.device, amp_dtype):
        logits = classifier(rgb)
    loss = F.cross_entropy(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.detach()


def stack_images(dataset: Dataset, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The items ``rows`` of ``dataset`` decoded once: (uint8 images (N, 3, S, S), int64 labels (N,))."""
    items = [dataset[int(row)] for row in rows]
    return torch.stack([image for image, _ in items]), torch.as_tensor([label for _, label in items])


def predict_logits(classifier: nn.Module, batches: Iterable, device: torch.device,
                   amp_dtype: torch.dtype | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode logits (N, K) float32 and labels (N,) of (uint8 images, labels) batches; the
    classifier's train/eval mode is restored afterwards."""
    logits, labels = [], []
    with eval_mode(classifier):
        for rgb, y in batches:
            rgb = rgb.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            with autocast(device, amp_dtype):
                logits.append(classifier(rgb).float().cpu())
            labels.append(torch.as_tensor(y).long())
    return torch.cat(logits), torch.cat(labels)


def _chunks(images: torch.Tensor, labels: torch.Tensor, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for start in range(0, len(images), size):
        yield images[start : start + size], labels[start : start + size]


def finetune(
    config: EvalConfig,
    model: nn.Module,
    pretrain_config: PretrainConfig,
    *,
    random_init: bool = False,
    datasets: tuple[Dataset, Dataset, int] | None = None,
    checkpoint: str | os.PathLike | None = None,
) -> EvalResult:
    """Fine-tune a network with a classifier on its head layer; validation and held-out top-1.

    With ``config.finetune_trials``, one fine-tuning per "head:learning rate" setting, each from
    the same start (the same weights, seed and batches); the one with the best validation top-1
    is kept (the earlier in the list on a tie) and the held-out images only report it.

    Args:
        config: the recipe (:class:`~splitbrain.presets.EvalConfig`'s finetune fields, its
            labels and split fields, see the module docstring).
        model, pretrain_config: the network (trained in place unless there are several trials) and
            the configuration it was (or would be) pretrained with, e.g. from
            :func:`splitbrain.networks.load_network`; ``random_init`` says, for the record, that it
            is a random initialisation; ``checkpoint``: the file it came from, for the record.
        datasets: optional (probe-training split, held-out split, number of classes); checked by
            :func:`~splitbrain.evaluate.evaluation_datasets` (``checkpoint``'s pretraining images,
            unless ``random_init``).
    Returns:
        an :class:`~splitbrain.evaluate.EvalResult` whose metrics hold the held-out ``top1`` /
        ``top5``, the validation ``val_top1`` / ``val_top5`` at the end, ``history`` (the
        validation curve: images seen, learning rate, mean training loss since the previous
        point, validation top-1), the budget (``steps``, ``images_seen``), the training speed
        (``train_s``, ``images_per_s``), the image counts and the ``head`` and ``lr`` kept; with
        trials, ``trials`` (each setting's validation and held-out top-1 and curve). Writes a
        "finetune" record when ``config.record_dir`` is set. ``result.model`` is the kept classifier.
    """
    start = time.perf_counter()
    if config.record_dir is not None:  # checked before any work
        check_writable_folder(config.record_dir, "--results")
    network = model
    if config.finetune_head_layer is not None:
        network.resolve_layer(config.finetune_head_layer)  # a clear ValueError before any work
        if config.finetune_head == "probe":
            raise ValueError("finetune_head_layer applies to finetune_head='last'; the 'probe' head's layer is "
                             "chosen on validation")
    train_set, test_set, num_classes = evaluation_datasets(config, datasets, None if random_init else checkpoint)
    labels = getattr(train_set, "labels", None)
    fit, val = training_rows(torch.as_tensor(labels if labels is not None else [y for _, y in train_set]), config)
    labelled = (*stack_images(train_set, fit), *stack_images(train_set, val))  # decoded once for every trial
    settings = ([parse_trial(trial) for trial in config.finetune_trials] if config.finetune_trials
                else [(config.finetune_head, config.finetune_lr)])
    best = None
    trials = []
    for head, rate in settings:
        start_weights = copy.deepcopy(network) if len(settings) > 1 else network
        trial = dataclasses.replace(config, finetune_head=head, finetune_lr=rate, finetune_trials=None)
        metrics, classifier = train_classifier(trial, start_weights, pretrain_config, labelled, test_set, num_classes)
        trials.append({"head": head, "lr": rate,
                       **{k: metrics[k] for k in ("val_top1", "top1", "head_layer", "history")}})
        if best is None or metrics["val_top1"] > best[0]["val_top1"]:
            best = (metrics, classifier)
    metrics, classifier = best
    if config.finetune_trials:
        metrics["trials"] = trials
    if config.verbose:
        print(f"finetune: {metrics['head']} head, lr {metrics['lr']:g}, validation top-1 {metrics['val_top1']:.4f}, "
              f"held-out top-1 {metrics['top1']:.4f} top-5 {metrics['top5']:.4f} ({metrics['images_seen']:,} images, "
              f"{metrics['images_per_s']:.0f} img/s)", flush=True)
    return finish_evaluation("finetune", config, metrics, pretrain_config, random_init, start, classifier, checkpoint)


def train_classifier(config: EvalConfig, network: nn.Module, pretrain_config: PretrainConfig,
                     labelled: tuple[torch.Tensor, ...], test_set: Dataset, num_classes: int
                     ) -> tuple[dict, FinetuneClassifier]:
    """One fine-tuning of ``network`` (trained in place) at ``config.finetune_lr``: (metrics, classifier).

    ``labelled``: (fit images (N, 3, S, S) uint8, fit labels (N,), validation images, validation
    labels), as :func:`stack_images` decodes them. The metrics are :func:`finetune`'s (without ``trials``).
    """
    device = resolve_device(config.device)
    amp_dtype = resolve_amp(config.amp, device)
    fit_images, fit_labels, val_images, val_labels = labelled

    seed_everything(config.seed)
    extractor = feature_extractor(network, pretrain_config.color_space).to(device)
    probe_val_top1 = None
    if config.finetune_head == "probe":
        layer, head, probe_val_top1 = probe_head(extractor, (fit_images, fit_labels), (val_images, val_labels),
                                                 num_classes, config, device, amp_dtype)
        classifier = FinetuneClassifier(extractor, num_classes, layer, head=head, max_dim=config.max_dim)
    else:
        classifier = FinetuneClassifier(extractor, num_classes, config.finetune_head_layer)
    classifier = classifier.to(device, memory_format=torch.channels_last)
    optimizer = build_optimizer(classifier, config)
    batch = min(config.finetune_batch_size, len(fit_labels))
    steps = step_count(config, len(fit_labels))
    scheduler = (warmup_cosine(optimizer, steps, config.finetune_warmup) if config.finetune_schedule == "cosine"
                 else None)
    count = config.finetune_val_points
    points = sorted({max(1, round(steps * (k + 1) / count)) for k in range(count)})
    generator = torch.Generator().manual_seed(config.seed)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    def validation_top1() -> dict[int, float]:
        logits, labels = predict_logits(classifier, _chunks(val_images, val_labels, config.feature_batch_size),
                                        device, amp_dtype)
        return topk_accuracy(logits, labels)

    history, loss_sum, loss_count, train_s = [], torch.zeros(()), 0, 0.0
    classifier.train()
    tick = time.perf_counter()
    bar = tqdm(batch_rows(len(fit_labels), batch, steps, generator), total=steps, leave=False,
               desc=f"finetune {config.finetune_head}:{config.finetune_lr:g}", disable=tqdm_disable(config.progress))
    for step, rows in enumerate(bar, start=1):
        rgb = fit_images[rows]
        if config.augment:
            rgb = augment_batch(rgb, config.finetune_crop_padding, generator)
        loss = finetune_step(classifier, optimizer, rgb.to(device, non_blocking=True),
                             fit_labels[rows].to(device, non_blocking=True), amp_dtype, scaler)
        if scheduler is not None:
            scheduler.step()
        loss_sum += loss.cpu()
        loss_count += 1
        if step in points:
            train_s += time.perf_counter() - tick
            accuracy = validation_top1()
            history.append({"step": step, "images_seen": step * batch, "lr": optimizer.param_groups[0]["lr"],
                            "train_loss": float(loss_sum) / loss_count, "val_top1": accuracy[1]})
            if not math.isfinite(history[-1]["train_loss"]):
                raise FloatingPointError(f"fine-tuning diverged (loss {history[-1]['train_loss']}) by step {step}; "
                                         f"lower finetune_lr (now {config.finetune_lr:g})")
            if config.verbose:
                print(f"finetune {config.finetune_head}:{config.finetune_lr:g} {step * batch:>9,} images  loss "
                      f"{history[-1]['train_loss']:.4f}  validation top-1 {accuracy[1]:.4f}", flush=True)
            loss_sum, loss_count = torch.zeros(()), 0
            tick = time.perf_counter()

    if config.finetune_precise_bn:
        def forward(images_and_labels) -> None:
            with autocast(device, amp_dtype):
                classifier(images_and_labels[0].to(device).contiguous(memory_format=torch.channels_last))

        recompute_batchnorm_statistics(classifier, _chunks(fit_images, fit_labels, batch), forward)
    val_accuracy = validation_top1()
    logits, test_labels = predict_logits(classifier, evaluation_loader(test_set, config, device), device, amp_dtype)
    accuracy = topk_accuracy(logits, test_labels)
    metrics = {
        "top1": accuracy[1],
        "top5": accuracy[5],
        "val_top1": val_accuracy[1],
        "val_top5": val_accuracy[5],
        "lr": config.finetune_lr,
        "history": history,
        "head": config.finetune_head,
        "head_layer": classifier.layer,
        "probe_val_top1": probe_val_top1,
        "steps": steps,
        "images_seen": steps * batch,
        "train_s": train_s,
        "images_per_s": steps * batch / max(train_s, 1e-9),
        "num_classes": num_classes,
        "train_images": len(fit_labels),
        "labels_per_class": config.labels_per_class,
        "val_images": len(val_labels),
        "test_images": len(test_labels),
        "top5_trivial": num_classes <= 5,
        "precise_bn": config.finetune_precise_bn,
    }
    return metrics, classifier
