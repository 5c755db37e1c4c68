"""Evaluation: linear probes on frozen features (the protocol of Zhang et al. 2017, section 4.1,
as :class:`~splitbrain.presets.EvalConfig` states it), and the pieces fine-tuning
(:mod:`splitbrain.finetune`) shares with them.

The reported layer is chosen on a validation part of the labelled images, never on the held-out
images: choosing on them would report the maximum of several noisy scores.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from .checkpoint import read_pretraining_manifest
from .color import ColorSpace, get_color_space
from .data import STANDARD_SPLITS, build_dataset, split_indices
from .files import check_writable_folder
from .leaks import check_unseen
from .models import DenoisingAutoencoder, SplitBrainNet, pool_features
from .presets import EvalConfig, PretrainConfig
from .results import make_record, model_entry, write_record
from .runtime import autocast, resolve_amp, resolve_device, tqdm_disable

# ----------------------------------------------------------------------------------------------
# Feature extractors: one interface over split-brain pairs and autoencoders


class FeatureExtractor(nn.Module):
    """uint8 RGB images -> a model's representation at named layers, for split-brain pairs and
    autoencoders alike.

    Subclasses say how RGB becomes one input per trunk (:meth:`prepare`); the representation at a
    layer is the trunks' activations there, concatenated along channels. ``trunks`` are the
    parameters fine-tuning trains; ``feature_layers`` run shallow to deep.
    """

    def __init__(self, model: nn.Module, space: ColorSpace, trunks: Iterable[nn.Module]):
        super().__init__()
        self.model = model
        self.space = space
        self.trunks = nn.ModuleList(trunks)
        self.feature_layers: tuple[str, ...] = tuple(model.feature_layers)

    def prepare(self, rgb: torch.Tensor) -> tuple[torch.Tensor, ...]:  # pragma: no cover
        raise NotImplementedError

    def activations(self, rgb: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """Concatenated activation maps at ``layers``: layer -> (N, C_layer, h, w) float.

        ``rgb``: (N, 3, H, W) uint8 in [0, 255] (or float in [0, 1]). One pass per trunk, stopping
        at the deepest requested layer; runs in the caller's train/eval and grad mode.
        """
        wanted = {self.model.resolve_layer(layer): layer for layer in layers}
        deepest = max(wanted, key=self.feature_layers.index)
        per_layer: dict[str, list[torch.Tensor]] = {layer: [] for layer in wanted.values()}
        with autocast(rgb.device, None):  # colour conversion stays float32
            inputs = self.prepare(rgb)
        for trunk, x in zip(self.trunks, inputs):
            for name, activation in trunk.walk(x, until=deepest):
                if name in wanted:
                    per_layer[wanted[name]].append(activation)
        return {layer: torch.cat(maps, dim=1) for layer, maps in per_layer.items()}

    def forward(self, rgb: torch.Tensor, layer: str, max_dim: int | None = None) -> torch.Tensor:
        """Features (N, D) at ``layer``: pooled to at most ``max_dim`` values (the model's
        ``features`` rule), or global-average-pooled (D = channels) when ``max_dim`` is None."""
        activation = self.activations(rgb, [layer])[layer]
        if max_dim is None:
            return activation.mean(dim=(2, 3))
        return pool_features(activation, max_dim)


class SplitBrainFeatures(FeatureExtractor):
    """A :class:`SplitBrainNet`: half 1 reads group 1 (L / R), half 2 group 2 (ab / GB)."""

    def __init__(self, model: SplitBrainNet, space: ColorSpace):
        super().__init__(model, space, [model.half1.trunk, model.half2.trunk])

    def prepare(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.space.split(self.space.inputs(rgb))


class AutoencoderFeatures(FeatureExtractor):
    """A :class:`DenoisingAutoencoder`: its encoder reads all three normalised channels."""

    def __init__(self, model: DenoisingAutoencoder, space: ColorSpace):
        super().__init__(model, space, [model.encoder])

    def prepare(self, rgb: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.space.inputs(rgb),)


def feature_extractor(model: nn.Module, color_space: str | ColorSpace) -> FeatureExtractor:
    """The :class:`FeatureExtractor` for ``model`` (a SplitBrainNet or a DenoisingAutoencoder)."""
    space = get_color_space(color_space)
    if isinstance(model, SplitBrainNet):
        return SplitBrainFeatures(model, space)
    if isinstance(model, DenoisingAutoencoder):
        return AutoencoderFeatures(model, space)
    raise ValueError(f"model must be a SplitBrainNet or a DenoisingAutoencoder, got {type(model).__name__}")


# ----------------------------------------------------------------------------------------------
# The pieces of a linear probe


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, ks: Iterable[int] = (1, 5)) -> dict[int, float]:
    """Fraction of rows whose label is among the k highest logits, for each k.

    ``logits`` (N, K) float, ``labels`` (N,) int in [0, K). k >= K counts every row as correct
    (top-5 is 1.0 with 5 classes or fewer).
    """
    if logits.dim() != 2 or labels.dim() != 1 or logits.shape[0] != labels.shape[0]:
        raise ValueError(f"logits must be (N, K) and labels (N,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    if logits.shape[0] == 0:
        raise ValueError("logits must hold at least one row")
    ranked = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = ranked == labels[:, None]
    return {k: float(hits[:, :k].any(dim=1).float().mean()) for k in ks}


@torch.no_grad()
def extract_features(extractor: FeatureExtractor, loader: Iterable, layers: Iterable[str], device: torch.device,
                     max_dim: int = 9216, amp_dtype: torch.dtype | None = None, progress: bool | None = None,
                     dtype: torch.dtype = torch.float32) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Frozen features of every batch of ``loader``: (layer -> (N, D) ``dtype`` on the CPU, labels (N,)).

    ``loader`` yields (uint8 images (B, 3, S, S), labels (B,)). The extractor runs in eval mode.
    ``dtype`` float16 halves the memory of the cached features (pooled ReLU activations are
    far inside its range; the probe standardises them in float32).
    """
    layers = list(layers)
    extractor.eval()
    chunks: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    labels = []
    for rgb, y in tqdm(loader, desc="features", leave=False, disable=tqdm_disable(progress)):
        rgb = rgb.to(device, non_blocking=True)
        with autocast(device, amp_dtype):
            maps = extractor.activations(rgb, layers)
        for layer in layers:
            chunks[layer].append(pool_features(maps[layer].float(), max_dim).to("cpu", dtype))
        labels.append(torch.as_tensor(y).long())
    return {layer: torch.cat(chunks[layer]) for layer in layers}, torch.cat(labels)


def standardization(train: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean (1, D), std (1, D)) float32 of ``train`` (N, D); a constant feature (std < eps) gets std 1."""
    train = train.float()
    mean = train.mean(dim=0, keepdim=True)
    std = train.std(dim=0, keepdim=True)
    return mean, torch.where(std < eps, torch.ones_like(std), std)


@dataclass(frozen=True)
class ProbeRecipe:
    """How one linear probe is trained: Adam(``lr``, ``weight_decay``) on standardised features
    for ``epochs`` epochs of ``batch_size``, mini-batches shuffled by ``seed``. The defaults are
    :class:`~splitbrain.presets.EvalConfig`'s; :meth:`of` reads a configuration's."""

    epochs: int = EvalConfig.probe_epochs
    lr: float = EvalConfig.probe_lr
    weight_decay: float = EvalConfig.probe_weight_decay
    batch_size: int = EvalConfig.probe_batch_size
    seed: int = EvalConfig.seed

    @classmethod
    def of(cls, config: EvalConfig) -> "ProbeRecipe":
        return cls(config.probe_epochs, config.probe_lr, config.probe_weight_decay, config.probe_batch_size,
                   config.seed)


def train_linear_classifier(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
                            recipe: ProbeRecipe = ProbeRecipe(), device: torch.device | str = "cpu") -> nn.Linear:
    """Softmax regression on (N, D) features as ``recipe`` says; the trained ``nn.Linear``, in eval mode.
    The weights start at zero, so the result depends only on the data and ``recipe.seed``."""
    n, dim = features.shape
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
    classifier = nn.Linear(dim, num_classes).to(device)
    nn.init.zeros_(classifier.weight)
    nn.init.zeros_(classifier.bias)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    x, y = features.to(device), labels.to(device)
    generator = torch.Generator().manual_seed(recipe.seed)
    for _ in range(recipe.epochs):
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n, recipe.batch_size):
            batch = order[start : start + recipe.batch_size]
            loss = F.cross_entropy(classifier(x[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return classifier.eval()


@dataclass
class FittedProbe:
    """One layer's trained probe: the training split's standardisation and the linear classifier."""

    mean: torch.Tensor
    std: torch.Tensor
    classifier: nn.Linear

    @torch.no_grad()
    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Class scores (N, K) on the CPU for raw features (N, D) of any float dtype, on any device
        (standardised and classified on the classifier's device)."""
        device = self.classifier.weight.device
        x = features.float().to(device)
        return self.classifier((x - self.mean.to(device)) / self.std.to(device)).cpu()


def fit_probe(train_x: torch.Tensor, train_y: torch.Tensor, num_classes: int, val_x: torch.Tensor,
              val_y: torch.Tensor, recipe: ProbeRecipe = ProbeRecipe(),
              device: torch.device | str = "cpu") -> tuple[FittedProbe, dict[str, float]]:
    """Standardise, train a linear classifier on (train_x, train_y), score it on the validation split.

    Returns the :class:`FittedProbe` and {"val_top1", "val_top5", "train_top1", "dim"}.
    """
    mean, std = standardization(train_x)
    classifier = train_linear_classifier((train_x.float() - mean) / std, train_y, num_classes, recipe, device)
    probe = FittedProbe(mean, std, classifier)
    val_acc = topk_accuracy(probe.logits(val_x), val_y)
    train_acc = topk_accuracy(probe.logits(train_x), train_y, ks=(1,))
    return probe, {"val_top1": val_acc[1], "val_top5": val_acc[5], "train_top1": train_acc[1],
                   "dim": int(train_x.shape[1])}


@torch.no_grad()
def score_probes(extractor: FeatureExtractor, loader: Iterable, probes: dict[str, FittedProbe], device: torch.device,
                 max_dim: int = 9216, amp_dtype: torch.dtype | None = None,
                 progress: bool | None = None) -> tuple[dict[str, dict[str, float]], int]:
    """Top-1 / top-5 of every layer's probe on the images of ``loader``, batch by batch.

    The held-out features are never stored: each batch's activations are pooled, standardised
    and classified at once, so memory does not grow with the number of held-out images.
    Returns ({layer: {"top1", "top5"}}, number of images).
    """
    extractor.eval()
    hits = {layer: {1: 0, 5: 0} for layer in probes}
    count = 0
    for rgb, y in tqdm(loader, desc="held-out", leave=False, disable=tqdm_disable(progress)):
        rgb, y = rgb.to(device, non_blocking=True), torch.as_tensor(y).long()
        with autocast(device, amp_dtype):
            maps = extractor.activations(rgb, list(probes))
        for layer, probe in probes.items():
            accuracy = topk_accuracy(probe.logits(pool_features(maps[layer].float(), max_dim)), y)
            for k in hits[layer]:
                hits[layer][k] += round(accuracy[k] * len(y))  # the batch's hit count, exactly
        count += len(y)
    if count == 0:
        raise ValueError("the held-out loader yielded no images")
    return {layer: {"top1": h[1] / count, "top5": h[5] / count} for layer, h in hits.items()}, count


def validation_part(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(fit rows, validation rows): a class-stratified, seeded ``fraction`` of ``labels`` (N,) held back.

    Both are sorted int64 index tensors. When classes are so small that stratified rounding
    leaves the validation part empty, the split ignores the classes (tiny smoke-test sets).
    """
    shares = {"fit": 1.0 - fraction, "val": fraction}
    parts = split_indices(labels.numpy(), shares, seed)
    if len(parts["val"]) == 0:
        parts = split_indices(len(labels), shares, seed)
    if len(parts["val"]) == 0 or len(parts["fit"]) == 0:
        raise ValueError(f"probe_val_fraction={fraction} leaves an empty part of {len(labels)} probe-training images")
    return torch.from_numpy(np.sort(parts["fit"])), torch.from_numpy(np.sort(parts["val"]))


def labelled_subset(labels: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Sorted int64 rows of ``labels`` (N,): ``per_class`` of every class, a seeded random subset.

    Each class's rows are shuffled by ``numpy.random.default_rng(seed)`` (classes in label
    order) and the first ``per_class`` kept, so for one seed the subsets are nested: the 25
    images of a class are among its 100. Raises ValueError when a class has fewer rows.
    """
    values = labels.numpy()
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(values):
        rows = rng.permutation(np.flatnonzero(values == label))
        if len(rows) < per_class:
            raise ValueError(f"labels_per_class={per_class} exceeds the {len(rows)} labelled images of class {label}")
        chosen.append(rows[:per_class])
    return torch.from_numpy(np.sort(np.concatenate(chosen)))


def training_rows(labels: torch.Tensor, config: EvalConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows a probe or a fine-tuning trains on, validation rows) of the probe-training labels (N,).

    The validation part is :func:`validation_part`'s; the training rows are the rest, or with
    ``config.labels_per_class`` a :func:`labelled_subset` of the rest seeded by ``config.seed``.
    """
    fit, val = validation_part(labels, config.probe_val_fraction, config.split_seed)
    if config.labels_per_class is not None:
        fit = fit[labelled_subset(labels[fit], config.labels_per_class, config.seed)]
    return fit, val


def choose_layer(per_layer: dict[str, dict[str, float]]) -> str:
    """The layer with the best validation top-1 (the shallowest on a tie)."""
    layers = list(per_layer)
    return max(layers, key=lambda layer: (per_layer[layer]["val_top1"], -layers.index(layer)))


# ----------------------------------------------------------------------------------------------
# Datasets and the result of an evaluation


@dataclass
class EvalResult:
    """What :func:`linear_probe` and :func:`finetune` return.

    metrics: for a probe {"layers": {layer: {"top1", "top5", "val_top1", "val_top5",
    "train_top1", "dim"}}, "best_layer" (chosen on validation), "layer_chosen_on", "val_top1",
    "top1", "top5" (the chosen layer's, held out), "num_classes", "train_images", "val_images",
    "test_images"}; for fine-tuning {"top1", "top5", "history", ...}.
    """

    kind: str
    metrics: dict[str, Any]
    model_info: dict[str, Any]
    pretrain_config: PretrainConfig
    wall_time_s: float
    record_path: Path | None = None
    model: nn.Module | None = field(default=None, repr=False)


def build_eval_datasets(config: EvalConfig) -> tuple[Dataset, Dataset, int]:
    """(labelled training split, held-out split, number of classes) of ``config.data``.

    Both are centre-cropped (fixed crops for "embedded"): fine-tuning augments its batches itself.
    """
    splits = STANDARD_SPLITS[config.data]
    common = dict(root=config.data_root, image_size=config.image_size, download=config.download, seed=config.split_seed,
                  bad_images=config.bad_images)
    train = build_dataset(config.data, split=splits.probe_train, augment=False, length=config.max_train_images,
                          **common)
    test = build_dataset(config.data, split=splits.evaluate, augment=False, length=config.max_test_images, **common)
    return train, test, train.num_classes


def evaluation_datasets(config: EvalConfig, datasets: tuple[Dataset, Dataset, int] | None = None,
                        pretrained_from: str | os.PathLike | None = None) -> tuple[Dataset, Dataset, int]:
    """An evaluation's (labelled split, held-out split, number of classes): ``datasets``, else
    :func:`build_eval_datasets`' of ``config``, once they are fit to evaluate a network: two classes
    or more among the labelled images and, for the network of the checkpoint ``pretrained_from``, no
    image it was pretrained on in either split (:func:`splitbrain.leaks.check_unseen`). Otherwise a
    one-line ValueError (SplitLeakError for an overlap) before any work."""
    train_set, test_set, num_classes = datasets or build_eval_datasets(config)
    where = config.data_root if config.data == "folder" else config.data
    if num_classes < 2:
        names = ", ".join(map(str, getattr(train_set, "classes", ())))
        raise ValueError(f"{where} has {num_classes} class(es) ({names}): a probe or a fine-tuning needs at least two "
                         f"(one folder per class: root/<class>/<image>)")
    labels = getattr(train_set, "labels", None)
    present = len(np.unique(np.asarray(labels))) if labels is not None else num_classes
    if present < 2:
        raise ValueError(f"the probe-training images of {where} hold {present} of its {num_classes} classes: a probe "
                         f"or a fine-tuning needs at least two; add images to the other classes")
    if pretrained_from is not None:
        check_unseen(read_pretraining_manifest(pretrained_from), {"probe-training": train_set, "held-out": test_set},
                     f"checkpoint {pretrained_from}")
    return train_set, test_set, num_classes


def evaluation_loader(dataset: Dataset, config: EvalConfig, device: torch.device) -> DataLoader:
    """Batches of ``config.feature_batch_size`` in the dataset's order, for features and scoring."""
    return DataLoader(dataset, batch_size=config.feature_batch_size, shuffle=False,
                      num_workers=config.num_workers, pin_memory=device.type == "cuda")


def finish_evaluation(kind: str, config: EvalConfig, metrics: dict, pretrain_config: PretrainConfig,
                      random_init: bool, start: float, model: nn.Module,
                      checkpoint: str | os.PathLike | None = None) -> EvalResult:
    """The :class:`EvalResult` of a finished probe or fine-tuning; its record is written to ``config.record_dir``."""
    wall = time.perf_counter() - start
    info = model_entry(pretrain_config, random_init)
    result = EvalResult(kind, metrics, info, pretrain_config, wall, model=model)
    if config.record_dir is not None:
        record = make_record(kind, config.to_dict(), metrics, model=info, seed=config.seed, wall_time_s=wall,
                             pretrain_config=pretrain_config.to_dict(),
                             extra={"checkpoint": None if checkpoint is None else str(checkpoint)})
        result.record_path = write_record(record, config.record_dir)
    return result


# ----------------------------------------------------------------------------------------------
# The linear probe


def linear_probe(config: EvalConfig, model: nn.Module, pretrain_config: PretrainConfig, *, random_init: bool = False,
                 datasets: tuple[Dataset, Dataset, int] | None = None,
                 checkpoint: str | os.PathLike | None = None) -> EvalResult:
    """Linear probes of a frozen network at every layer (or ``config.layers``); an :class:`EvalResult`.

    ``model`` and ``pretrain_config``: the network and the configuration it was (or would be)
    pretrained with, e.g. from :func:`splitbrain.networks.load_network`; ``random_init`` marks a
    random initialisation in the record. ``datasets``: (train, test, num_classes) instead of
    ``config.data``'s splits; ``checkpoint``: the file the network came from, named in the record.
    Writes a "probe" record when ``config.record_dir`` is set. The splits are checked by
    :func:`evaluation_datasets` (``checkpoint``'s pretraining images, unless ``random_init``).
    """
    start = time.perf_counter()
    if config.record_dir is not None:  # checked before any work
        check_writable_folder(config.record_dir, "--results")
    device = resolve_device(config.device)
    amp_dtype = resolve_amp(config.amp, device)
    extractor = feature_extractor(model, pretrain_config.color_space).to(device)
    layers = config.layers or extractor.feature_layers
    for layer in layers:
        model.resolve_layer(layer)  # a clear ValueError for an unknown layer, before any work
    train_set, test_set, num_classes = evaluation_datasets(config, datasets, None if random_init else checkpoint)

    # The probe-training features are cached in float16 (10k images x 5 layers x 9216 dims:
    # 0.9 GB); the held-out images are scored batch by batch afterwards and never cached.
    train_features, train_labels = extract_features(extractor, evaluation_loader(train_set, config, device), layers,
                                                    device, config.max_dim, amp_dtype, config.progress, torch.float16)
    fit, val = training_rows(train_labels, config)
    probes, per_layer = {}, {}
    for layer in layers:
        features = train_features.pop(layer)  # freed layer by layer
        probes[layer], per_layer[layer] = fit_probe(features[fit], train_labels[fit], num_classes, features[val],
                                                    train_labels[val], ProbeRecipe.of(config), device)
        del features
    held_out, test_images = score_probes(extractor, evaluation_loader(test_set, config, device), probes, device,
                                         config.max_dim, amp_dtype, config.progress)
    for layer in layers:
        per_layer[layer].update(held_out[layer])
        if config.verbose:
            scores = per_layer[layer]
            print(f"probe {layer:>7}: validation top-1 {scores['val_top1']:.4f}  held-out top-1 {scores['top1']:.4f}  "
                  f"top-5 {scores['top5']:.4f}  (train top-1 {scores['train_top1']:.4f}, {scores['dim']} dims)",
                  flush=True)
    best = choose_layer(per_layer)
    metrics = {"layers": per_layer, "best_layer": best, "layer_chosen_on": "validation",
               **{key: per_layer[best][key] for key in ("val_top1", "top1", "top5")}, "num_classes": num_classes,
               "train_images": len(fit), "labels_per_class": config.labels_per_class, "val_images": len(val),
               "test_images": test_images, "top5_trivial": num_classes <= 5}
    return finish_evaluation("probe", config, metrics, pretrain_config, random_init, start, model, checkpoint)
