"""Named configurations: one dataclass for pretraining, one for evaluation, four presets each.

A preset is a complete, validated configuration with a name a student can remember::

    from splitbrain.presets import get_preset
    config = get_preset("smoke")                    # seconds on a laptop CPU
    config = get_preset("cpu", epochs=3, seed=1)    # overrides go through dataclasses.replace

===========  ====================================================================================
``smoke``    CPU, the embedded photographs, 32 px crops, a few dozen steps: seconds. For tests
             and for checking that a notebook runs end to end.
``cpu``      CPU, the embedded photographs, 32 px crops, 8x8 targets: a few minutes, enough for
             the loss to fall visibly and for features to beat a random network.
``colab``    one T4-class GPU (a free Colab session), STL-10 at 96x96, the poster's bins and
             12x12 targets.
``paper``    the poster's setup: STL-10 96x96 in place of the (unavailable) NYU course set,
             FC-ResNet18 (its best), 12x12 targets, 100 / 10 bins, Adam lr 1e-4, lr x0.1 per
             epoch, batch 64, full-width halves.
``auto``     ``colab`` when CUDA is available, else ``cpu``.
===========  ====================================================================================

Every configuration validates itself on construction (and so on every ``dataclasses.replace``):
a bad field raises ``ValueError`` naming the field and what was expected.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import typing
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from .vocabulary import (ARCHITECTURES, BAD_IMAGE_POLICIES, COLOR_SPACE_NAMES, DATASET_NAMES as DATASETS,
                         NOISE_TYPES as NOISES, WIDTHS, check_int, check_one_of)

METHODS = ("splitbrain", "dae")
AMP_MODES = ("auto", "off", "bf16", "fp16")
LOSSES = ("ce", "rebalanced")
LR_SCHEDULES = ("step", "cosine")
FINETUNE_OPTIMIZERS = ("adam", "sgd")
FINETUNE_HEADS = ("last", "probe")
FINETUNE_SCHEDULES = ("constant", "cosine")
PRESET_NAMES = ("smoke", "cpu", "colab", "paper", "auto")


# ----------------------------------------------------------------------------------------------
# field roles: what each configuration field changes

FIELD_ROLES = {
    "model": "defines the network and its targets: a checkpoint is resumed, probed or fine-tuned "
             "only under the same values",
    "dae": "defines the network of a denoising autoencoder only (its noise)",
    "recipe": "changes what a run computes: data, schedule, seeds, the probe",
    "finetune": "read only by fine-tuning and the supervised training, never by a linear probe",
    "machinery": "says where and how a run executes or reports, not what it computes",
}


def _field(role: str, default: Any, check: Callable[[Any, str], Any] | None = None) -> Any:
    """A configuration field whose role (a key of :data:`FIELD_ROLES`) and value check
    (``check(value, name)``, raising ValueError naming the field; what it returns, unless None,
    is the value kept) are kept in its metadata."""
    check_one_of(role, "role", FIELD_ROLES)
    return dataclasses.field(default=default, metadata={"role": role, "check": check})


def fields_with_role(cls, *roles: str) -> tuple[str, ...]:
    """The names of ``cls``'s fields whose role is one of ``roles``, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("role") in roles)


# ----------------------------------------------------------------------------------------------
# value checks (each raises ValueError naming the field)

SIZE_LIMITS = {"bins1": 4096, "bins2": 64, "grid": 1024, "image_size": 8192}
"""The largest sizes a configuration may ask for, far above every preset's (100 and 10 bins, a
12 x 12 grid, 96 px images): a larger one is refused before anything is built for it."""


def _one_of(choices: tuple[str, ...]) -> Callable[[Any, str], None]:
    return functools.partial(check_one_of, choices=choices)


def _optional(check: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """None, or a value that passes ``check``."""
    def optional_check(value: Any, name: str) -> Any:
        return None if value is None else check(value, name)
    return optional_check


def _integer(minimum: int) -> Callable[[Any, str], int]:
    """An integer >= ``minimum`` (:func:`~splitbrain.vocabulary.check_int`) within :data:`SIZE_LIMITS`, as an int."""
    def check(value: Any, name: str) -> int:
        value = check_int(value, name, minimum)
        if value > SIZE_LIMITS.get(name, value):
            raise ValueError(f"{name}={value} is more than this package builds (at most {SIZE_LIMITS[name]})")
        return value
    return check


def _number(low: float, high: float = math.inf, low_open: bool = False) -> Callable[[Any, str], None]:
    """A number in ``(low, high]`` if ``low_open`` else ``[low, high]`` (NaN fails every comparison)."""
    bound = (f"> {low}" if low_open else f">= {low}") + (f" and <= {high}" if high < math.inf else "")

    def check(value: Any, name: str) -> None:
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not (value > low if low_open else value >= low) or not value <= high):
            raise ValueError(f"{name} must be a number {bound}, got {value!r}")
    return check


def _flag(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def _text(what: str) -> Callable[[Any, str], None]:
    """A non-empty string (``what`` says which)."""
    def check(value: Any, name: str) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be {what}, got {value!r}")
    return check


_POSITIVE, _COUNT, _OPTIONAL_POSITIVE = _integer(1), _integer(0), _optional(_integer(1))
_RATE, _AMOUNT = _number(0.0, low_open=True), _number(0.0)
_DEVICE, _OUT = _text("'auto' or a torch device string like 'cpu', 'cuda:0'"), _text("a directory path")


def _optional_path(value: Any, name: str) -> None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string path or None, got {value!r}")


class _Configuration:
    """What both configurations share: on construction, every field's own check in declaration
    order, then a folder dataset's need of its folder; :meth:`to_dict`."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check = f.metadata["check"]
            value = None if check is None else check(getattr(self, f.name), f.name)
            if value is not None:
                object.__setattr__(self, f.name, value)
        if self.data == "folder" and not self.data_root:
            raise ValueError("data_root must name a folder of class subfolders when data='folder'")

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-friendly dict (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


# ----------------------------------------------------------------------------------------------
# pretraining


@dataclass(frozen=True)
class PretrainConfig(_Configuration):
    """Everything one pretraining run needs (the presets: :func:`get_preset`).

    Model: ``method`` "splitbrain" (two halves predicting each other's channel group) or "dae"
    (the denoising-autoencoder baseline); ``width`` "full" (each half as wide as a whole network,
    like the poster's code) or "half" (the paper's halves, together as wide as one network);
    ``noise``/``noise_level`` only matter for "dae".

    Targets: on a ``grid`` x ``grid`` map; group 1 in ``bins1`` bins, each channel of group 2 in
    ``bins2`` bins (``bins2**2`` joint classes). ``loss`` "ce" (plain per-pixel cross-entropy, the
    paper's choice) or "rebalanced" (cross-entropy weighted by ``quantize.rebalancing_weights`` of
    the class prior measured on the first few batches).

    Data: ``data_root`` a folder of class subfolders for "folder"; ``in_memory`` keeps the decoded
    pretraining images in memory as uint8 (same batches either way); ``image_size`` square crop
    side; ``train_length`` images per epoch of the embedded dataset; ``augment`` random crops and
    flips; ``bad_images`` what an image folder does with files that do not decode; ``split_seed``
    fixes the dataset's parts: keep it equal between pretraining and evaluation so the held-out
    images stay unseen. ``seed`` seeds everything else (initialisation, data order, augmentation).

    Optimisation: Adam(``lr``, ``weight_decay``). ``lr_schedule`` "step": the learning rate is
    multiplied by ``lr_decay`` after every epoch; "cosine": a linear warm-up over the first
    :data:`WARMUP_FRACTION` of all steps, then a cosine from ``lr`` down to 0 at the last step
    (``lr_decay`` unused). ``batch_size`` is the GLOBAL batch: under ``torchrun`` each of the N
    processes takes ``batch_size // N`` images. ``max_steps_per_epoch`` caps an epoch.

    Machinery: ``device`` "auto" (CUDA when available, else CPU) or a torch device string;
    ``amp`` "auto" (bf16 on GPUs that support it, else fp16 with a GradScaler; off on the CPU);
    ``out`` the run directory (checkpoint.pt, metrics.jsonl); ``log_every`` steps between metric
    lines; ``progress`` None: a tqdm bar only when stderr is a terminal; ``verbose`` one printed
    line per epoch; ``record_dir`` where a JSON result record is written (None: none).
    """

    method: str = _field("model", "splitbrain", _one_of(METHODS))
    arch: str = _field("model", "simplenet", _one_of(ARCHITECTURES))
    width: str = _field("model", "half", _one_of(WIDTHS))
    noise: str = _field("dae", "salt_pepper", _one_of(NOISES))
    noise_level: float = _field("dae", 0.05, _number(0.0, 1.0))
    color_space: str = _field("model", "lab", _one_of(COLOR_SPACE_NAMES))
    grid: int = _field("model", 8, _POSITIVE)
    bins1: int = _field("model", 100, _integer(2))
    bins2: int = _field("model", 10, _integer(2))
    loss: str = _field("recipe", "ce", _one_of(LOSSES))
    data: str = _field("recipe", "embedded", _one_of(DATASETS))
    data_root: str | None = _field("machinery", None, _optional_path)
    in_memory: bool = _field("machinery", False, _flag)
    download: bool = _field("machinery", False, _flag)
    bad_images: str = _field("machinery", "skip", _one_of(BAD_IMAGE_POLICIES))
    image_size: int = _field("model", 32, _POSITIVE)
    train_length: int = _field("recipe", 256, _POSITIVE)
    augment: bool = _field("recipe", True, _flag)
    epochs: int = _field("recipe", 2, _COUNT)
    batch_size: int = _field("recipe", 16, _POSITIVE)
    lr: float = _field("recipe", 1e-3, _RATE)
    lr_decay: float = _field("recipe", 1.0, _number(0.0, 1.0, low_open=True))
    lr_schedule: str = _field("recipe", "step", _one_of(LR_SCHEDULES))
    weight_decay: float = _field("recipe", 0.0, _AMOUNT)
    max_steps_per_epoch: int | None = _field("recipe", None, _OPTIONAL_POSITIVE)
    seed: int = _field("recipe", 0, _COUNT)
    split_seed: int = _field("recipe", 0, _COUNT)
    device: str = _field("machinery", "auto", _DEVICE)
    amp: str = _field("machinery", "auto", _one_of(AMP_MODES))
    channels_last: bool = _field("machinery", False, _flag)
    compile: bool = _field("machinery", False, _flag)
    num_workers: int = _field("machinery", 0, _COUNT)
    out: str = _field("machinery", "runs/pretrain", _OUT)
    log_every: int = _field("machinery", 10, _POSITIVE)
    progress: bool | None = _field("machinery", None, _optional(_flag))
    verbose: bool = _field("machinery", True, _flag)
    record_dir: str | None = _field("machinery", None)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.grid > self.image_size:
            raise ValueError(f"grid must be <= image_size, got grid={self.grid}, image_size={self.image_size}")


WARMUP_FRACTION = 0.05
"""Share of a "cosine" run's steps spent warming the learning rate up linearly from 0."""

MODEL_FIELDS = fields_with_role(PretrainConfig, "model")
"""The fields that define the network and its targets (image_size chooses each trunk's stem)."""
DAE_FIELDS = fields_with_role(PretrainConfig, "dae")

_PRETRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(arch="simplenet", width="half", data="embedded", image_size=32, train_length=128, grid=8, epochs=3,
                  batch_size=16, lr=1e-3, lr_decay=1.0, device="cpu", log_every=4),
    # A few minutes on a 2-core CPU; 8x8 targets suit 32 px images.
    "cpu": dict(arch="simplenet", width="half", data="embedded", image_size=32, train_length=2048, grid=8, epochs=5,
                batch_size=64, lr=1e-3, lr_decay=0.5, device="cpu", log_every=8),
    # One T4 in a free Colab session: full-width SimpleNet halves cost about 1 GMAC per image
    # forward; benchmarks/budget.py counts the 4 epochs at 2.3 PFLOP, under a minute at the T4's
    # fp16 peak, so even at a small fraction of it they and the STL-10 download (2.5 GB) fit.
    "colab": dict(arch="simplenet", width="full", data="stl10", download=True, image_size=96, train_length=100_000,
                  grid=12, epochs=4, batch_size=128, lr=1e-3, lr_decay=0.5, device="auto", amp="auto",
                  channels_last=True, num_workers=2, log_every=50),
    # Heavy: to keep a 12x12 output at 96 px the ResNet keeps full resolution in layer1 (about 11
    # GMAC per image forward for the pair, 60 GFLOP forward + backward in benchmarks/budget.py):
    # 6 PFLOP per epoch, at least 1.5 min per epoch at the T4's fp16 peak.
    "paper": dict(arch="fcresnet18", width="full", color_space="rescaled_lab", data="stl10", download=True,
                  image_size=96, train_length=100_000, grid=12, bins1=100, bins2=10, epochs=5, batch_size=64,
                  lr=1e-4, lr_decay=0.1, weight_decay=0.0, device="auto", amp="auto", channels_last=True,
                  num_workers=4, log_every=100),
}


def resolve_preset_name(name: str) -> str:
    """``auto`` -> ``colab`` when CUDA is available, else ``cpu``; other names pass through."""
    check_one_of(name, "preset", PRESET_NAMES)
    if name != "auto":
        return name
    import torch

    return "colab" if torch.cuda.is_available() else "cpu"


def _build(cls, table: dict[str, dict[str, Any]], name: str, overrides: dict[str, Any]):
    resolved = resolve_preset_name(name)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid fields: {sorted(fields)}")
    return cls(**{**table[resolved], **overrides})


def get_preset(name: str, **overrides: Any) -> PretrainConfig:
    """The pretraining preset ``name`` with ``overrides``; ValueError for an unknown preset, an
    unknown field or an invalid value."""
    return _build(PretrainConfig, _PRETRAIN_PRESETS, name, overrides)


# ----------------------------------------------------------------------------------------------
# evaluation (linear probes and fine-tuning)


def parse_trial(trial: str) -> tuple[str, float]:
    """A fine-tuning trial "head:learning rate" (e.g. "probe:0.01") -> (head, rate); ValueError
    naming ``finetune_trials`` when the head is not in :data:`FINETUNE_HEADS` or the rate not > 0."""
    head, _, rate = str(trial).partition(":")
    try:
        value = float(rate)
    except ValueError:
        value = math.nan
    if head not in FINETUNE_HEADS or not 0 < value < math.inf:
        raise ValueError(f"finetune_trials must hold 'head:learning rate' settings with head in {FINETUNE_HEADS} and "
                         f"a rate > 0, got {trial!r}")
    return head, value


def _layer_names(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(layer, str) for layer in value) or not value:
        raise ValueError(f"{name} must be None or a non-empty tuple of layer names, got {value!r}")
    return tuple(value)


def _trials(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not value:
        raise ValueError(f"{name} must be None or a non-empty tuple of 'head:learning rate' settings, got {value!r}")
    value = tuple(value)
    for trial in value:
        parse_trial(trial)
    return value


@dataclass(frozen=True)
class EvalConfig(_Configuration):
    """Everything one linear-probe or fine-tuning run needs (the presets: :func:`get_eval_preset`).

    Data: labelled images of ``data`` at ``image_size``, the dataset's probe-training and
    evaluation splits (``data.STANDARD_SPLITS``; an ImageFolder's parts are fixed by
    ``split_seed``, disjoint from its "pretrain" part). ``max_train_images`` / ``max_test_images``
    cap each side (None: all; for "embedded" they are the numbers of crops, default 1000 / 500).

    Linear probe (the Zhang et al. protocol): the network is frozen; features of ``layers``
    (None: all of the model's ``feature_layers``; each layer's map average-pooled to at most
    ``max_dim`` values) are computed once, standardised with the training split's mean and
    std, and a linear classifier is trained on them with Adam. The classifiers train on all but a
    ``probe_val_fraction`` of the probe-training images; that validation part (class-stratified,
    seeded by ``split_seed``) chooses the reported layer, and the evaluation images only report.
    The cached features take N x sum(D) x 2 bytes (float16; 20k images x 5 layers x 9216 dims:
    1.8 GB).

    Labels: ``labels_per_class`` (None: all) keeps that many labelled images of every class of
    the probe's fit part, a seeded subset (``seed``) nested across counts; the validation part
    and the evaluation images stay as they are. Probes and fine-tuning both train on it.

    Fine-tuning (:mod:`splitbrain.finetune`): ``finetune_head`` "last": the trunks up to
    ``finetune_head_layer`` (None: the last layer), global-average-pooled, both halves
    concatenated -> a new Linear; "probe": the linear probe first, its standardisation and
    classifier then the head on the chosen layer's pooled features (LP-FT). Everything is trained
    with ``finetune_optimizer`` ("sgd": SGD with Nesterov momentum 0.9) at ``finetune_lr`` (the
    trunk at ``finetune_trunk_lr`` times it) for ``finetune_images`` images seen (None:
    ``finetune_epochs`` passes over the labelled images). ``finetune_schedule`` "cosine": a linear
    warm-up over a ``finetune_warmup`` share of the steps, then a cosine to 0. With ``augment``,
    random horizontal flips and random crops after zero-padding by ``finetune_crop_padding``
    pixels. ``finetune_val_points``: how many evenly spaced points of the run measure validation
    top-1 (the last is the end). ``finetune_trials``: "head:learning rate" settings (e.g.
    "last:0.05") to try in place of ``finetune_head`` and ``finetune_lr``, each a whole
    fine-tuning from the same start; the best on validation top-1 is kept.
    ``finetune_precise_bn``: afterwards, recompute every BatchNorm layer's running statistics over
    the labelled images (:func:`splitbrain.models.recompute_batchnorm_statistics`).

    Defaults must not change: a record that lacks a field was made with its default.
    """

    data: str = _field("recipe", "embedded", _one_of(DATASETS))
    data_root: str | None = _field("machinery", None)
    download: bool = _field("machinery", False, _flag)
    bad_images: str = _field("machinery", "skip", _one_of(BAD_IMAGE_POLICIES))
    image_size: int = _field("recipe", 32, _POSITIVE)
    max_train_images: int | None = _field("recipe", None, _OPTIONAL_POSITIVE)
    max_test_images: int | None = _field("recipe", None, _OPTIONAL_POSITIVE)
    layers: tuple[str, ...] | None = _field("recipe", None, _optional(_layer_names))
    max_dim: int = _field("recipe", 9216, _POSITIVE)
    probe_val_fraction: float = _field("recipe", 0.2, _number(0.0, 0.5, low_open=True))
    probe_epochs: int = _field("recipe", 30, _COUNT)
    probe_lr: float = _field("recipe", 1e-3, _RATE)
    probe_weight_decay: float = _field("recipe", 1e-4, _AMOUNT)
    probe_batch_size: int = _field("recipe", 256, _POSITIVE)
    finetune_epochs: int = _field("finetune", 2, _COUNT)
    finetune_lr: float = _field("finetune", 1e-3, _RATE)
    finetune_weight_decay: float = _field("finetune", 0.0, _AMOUNT)
    finetune_batch_size: int = _field("finetune", 32, _POSITIVE)
    finetune_precise_bn: bool = _field("finetune", False, _flag)
    augment: bool = _field("finetune", True, _flag)
    finetune_optimizer: str = _field("finetune", "adam", _one_of(FINETUNE_OPTIMIZERS))
    finetune_schedule: str = _field("finetune", "constant", _one_of(FINETUNE_SCHEDULES))
    finetune_warmup: float = _field("finetune", 0.0, _number(0.0, 0.5))
    finetune_images: int | None = _field("finetune", None, _OPTIONAL_POSITIVE)
    finetune_trunk_lr: float = _field("finetune", 1.0, _AMOUNT)
    finetune_head: str = _field("finetune", "last", _one_of(FINETUNE_HEADS))
    finetune_head_layer: str | None = _field("finetune", None, _optional(_text("None or a layer name")))
    finetune_crop_padding: int = _field("finetune", 0, _COUNT)
    finetune_val_points: int = _field("finetune", 1, _POSITIVE)
    finetune_trials: tuple[str, ...] | None = _field("finetune", None, _optional(_trials))
    labels_per_class: int | None = _field("recipe", None, _OPTIONAL_POSITIVE)
    feature_batch_size: int = _field("machinery", 128, _POSITIVE)
    seed: int = _field("recipe", 0, _COUNT)
    split_seed: int = _field("recipe", 0, _COUNT)
    device: str = _field("machinery", "auto", _DEVICE)
    amp: str = _field("machinery", "auto", _one_of(AMP_MODES))
    num_workers: int = _field("machinery", 0, _COUNT)
    out: str = _field("machinery", "runs/eval", _OUT)
    progress: bool | None = _field("machinery", None, _optional(_flag))
    verbose: bool = _field("machinery", True, _flag)
    record_dir: str | None = _field("machinery", None)


def differing_fields(saved: Mapping[str, Any], wanted: Mapping[str, Any], config_class,
                     only: Iterable[str] | None = None, ignore: Iterable[str] = ()) -> list[str]:
    """The one rule for "do these two configurations agree": the sorted names of the fields of
    ``config_class`` whose values differ between two stored configuration dicts, among ``only``
    (default every field) less ``ignore``; empty when they agree. A field a dict lacks counts as
    its default; values compare as JSON (a tuple equals the list it is stored as)."""
    defaults = {f.name: f.default for f in dataclasses.fields(config_class) if f.default is not dataclasses.MISSING}
    names = (set(defaults) if only is None else set(only)) - set(ignore)

    def value(config: Mapping[str, Any], name: str) -> str:
        return json.dumps(config.get(name, defaults.get(name)), sort_keys=True)

    return sorted(name for name in names if value(saved, name) != value(wanted, name))


MACHINERY_FIELDS = frozenset(fields_with_role(PretrainConfig, "machinery") + fields_with_role(EvalConfig, "machinery"))
"""Fields of either configuration that say where or how a run executes: a checkpoint or a stage
made under other values of these still counts."""
FINETUNE_ONLY_FIELDS = frozenset(fields_with_role(EvalConfig, "finetune"))
"""EvalConfig fields a probe does not read: a probe made under other values of these still counts."""

FINETUNE_RECIPE: dict[str, Any] = dict(finetune_optimizer="sgd", finetune_schedule="cosine",
                                       finetune_warmup=WARMUP_FRACTION, finetune_weight_decay=5e-4, augment=True)
"""The fine-tuning recipe of every preset but "paper" (and of the label-efficiency grid), as
torchvision's classification references train; each preset adds its learning rate, budget and
crop padding (an eighth of the image side)."""

# The book's presets refresh BatchNorm's statistics after their short fine-tuning (precise BN);
# "paper" keeps the poster's recipe.
_EVAL_PRESETS: dict[str, dict[str, Any]] = {
    # 300 / 150 fixed crops of the embedded photographs (10 classes).
    "smoke": dict(data="embedded", image_size=32, max_train_images=300, max_test_images=150,
                  probe_epochs=15, **FINETUNE_RECIPE, finetune_lr=0.05, finetune_epochs=2, finetune_crop_padding=4,
                  finetune_precise_bn=True, device="cpu"),
    # 1000 / 500 crops.
    "cpu": dict(data="embedded", image_size=32, probe_epochs=30, **FINETUNE_RECIPE, finetune_lr=0.05,
                finetune_epochs=15, finetune_crop_padding=4, finetune_precise_bn=True, device="cpu"),
    # STL-10: 5k labelled training images, 8k test images, 10 classes.
    "colab": dict(data="stl10", download=True, image_size=96, probe_epochs=30, probe_batch_size=256, **FINETUNE_RECIPE,
                  finetune_lr=0.05, finetune_epochs=30, finetune_batch_size=64, finetune_crop_padding=12,
                  finetune_precise_bn=True, device="auto", num_workers=2),
    # The poster fine-tuned for 5 epochs (2 for FC-AlexNet), lr 1e-4.
    "paper": dict(data="stl10", download=True, image_size=96, probe_epochs=30, finetune_epochs=5, finetune_lr=1e-4,
                  finetune_batch_size=64, device="auto", num_workers=4),
}


def get_eval_preset(name: str, **overrides: Any) -> EvalConfig:
    """The evaluation preset ``name`` (smoke, cpu, colab, paper, auto) with ``overrides``."""
    return _build(EvalConfig, _EVAL_PRESETS, name, overrides)


# ----------------------------------------------------------------------------------------------
# --set FIELD=VALUE: text to configuration values


def _convert(field: dataclasses.Field, text: str, cls) -> Any:
    """Parse ``text`` by the annotated type of ``cls``'s ``field``: ``bool``, ``int``, ``float``,
    ``str``, a tuple of names written with commas, or any of these ``| None`` ("none" gives None)."""
    hint = typing.get_type_hints(cls)[field.name]
    options = typing.get_args(hint) or (hint,)
    kinds = [kind for kind in options if kind is not type(None)]
    lowered = text.strip().lower()
    if lowered in ("none", "null") and len(kinds) < len(options):
        return None
    if bool in kinds:
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{field.name} must be true or false, got {text!r}")
    if any(typing.get_origin(kind) is tuple for kind in kinds):
        return tuple(part.strip() for part in text.split(",") if part.strip())
    for kind, article in ((int, "an integer"), (float, "a number")):
        if kind in kinds:
            try:
                return kind(text)
            except ValueError:
                raise ValueError(f"{field.name} must be {article}, got {text!r}") from None
    return text


def parse_overrides(pairs: Sequence[str], cls) -> dict[str, Any]:
    """``["FIELD=VALUE", ...]`` -> {field: value} for the configuration dataclass ``cls``; ValueError
    naming an unknown field or a malformed pair or value."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    overrides = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set expects FIELD=VALUE, got {pair!r}")
        name, value = pair.split("=", 1)
        name = name.strip().replace("-", "_")
        if name not in fields:
            raise ValueError(f"--set: unknown {cls.__name__} field {name!r}; valid fields: {', '.join(sorted(fields))}")
        overrides[name] = _convert(fields[name], value, cls)
    return overrides
