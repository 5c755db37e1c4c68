"""Named experiment grids: the runs that reproduce the poster's comparison, written as data.

A grid is architectures x methods x seeds. Every run is the same three stages:

1. pretraining, if the method has one (split-brain, the denoising autoencoder, or, for the
   supervised ceiling, training the same network on the probe-training labels);
2. a linear probe of the frozen network at every layer (top-1 / top-5 per layer, best layer);
3. fine-tuning of the whole network with a classifier on its last layer (top-1 / top-5).

Methods (:class:`Method`; the method's name is the middle part of a run id such as
``cifar-cpu/simplenet-lab-seed0``):

``rgb``, ``lab``, ``rescaled_lab``
    split-brain pretraining in that colour space (``rescaled_lab``: the poster's per-image
    rescaled a, b bins).
``dae-masking``, ``dae-salt_pepper``, ``dae-gaussian``
    the denoising-autoencoder baseline, in RGB like the poster's DAE row, at the noise levels of
    :data:`DAE_NOISE_LEVELS`: salt-and-pepper on 5 % of the pixels (the poster's baseline);
    masking 25 % of the pixels and Gaussian sigma 0.1 are our choices (the poster gives none).
    The DAE is one encoder at the grid's width: with half-width split-brain halves it has half
    the channels of the pair.
``dae-salt_pepper-full``
    the salt-and-pepper DAE at full width, as wide as a pair of half-width halves (chapter 7's
    capacity-matched baseline): the check that the half-width DAE is not below the split-brain
    rows for want of channels.
``random-lab``, ``random-rgb``
    no pretraining: the network at its seeded random initialisation, the floor. ``rescaled_lab``
    needs no floor of its own: at initialisation its network and its input are exactly those of
    ``lab`` (the rescaled bins only change the targets), so ``random-lab`` is its floor
    (:data:`splitbrain.results.FLOOR_COLOR_SPACES`).
``supervised-lab``
    the ceiling: the same network (Lab input) trained from random initialisation with the
    probe-training labels (the fine-tuning recipe for ``Grid.supervised_epochs`` epochs, chosen
    per grid so that it sees about as many images as pretraining does), then probed and
    fine-tuned like every other run.

The seed of a run seeds initialisation, data order, augmentation, the probe and fine-tuning.
The data split does not depend on it (``split_seed`` stays 0): every seed sees the same images,
so the spread over seeds is the spread of training, not of the split.

Each grid of :data:`GRIDS` says what it runs in its ``description`` (``splitbrain report``
prints it, the README explains each grid beside its results); ``smoke`` is the tests' grid.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .._checks import check_int, check_one_of, check_positive_int
from ..presets import (ARCHITECTURES, COLOR_SPACE_NAMES, FINETUNE_RECIPE, NOISES, WIDTHS, EvalConfig, PretrainConfig,
                       get_eval_preset, get_preset)
from .recipes import RECIPES

METHOD_KINDS = ("splitbrain", "dae", "random", "supervised")
"""What a method does before the probes: split-brain / DAE pretraining, nothing, or supervised training."""

DAE_NOISE_LEVELS: dict[str, float] = {"masking": 0.25, "salt_pepper": 0.05, "gaussian": 0.1}
"""Noise level of each DAE baseline: a pixel probability (masking, salt-and-pepper) or the
Gaussian standard deviation, in normalised [-1, 1] input units."""


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"name must be a non-empty string without '/', got {name!r}")


@dataclass(frozen=True)
class Method:
    """One method of a grid: what happens to the network before the probes.

    name: the method's part of a run id (``"lab"``, ``"dae-masking"``, ``"random-lab"``, ...).
    kind: one of :data:`METHOD_KINDS`.
    color_space: the network's colour space (input split and, for split-brain, targets).
    noise, noise_level: the DAE's corruption (kind "dae" only).
    width: the network's width when the method sets its own ("half" / "full"), None for the grid's.
    """

    name: str
    kind: str
    color_space: str = "lab"
    noise: str | None = None
    noise_level: float | None = None
    width: str | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)
        check_one_of(self.kind, "kind", METHOD_KINDS)
        check_one_of(self.color_space, "color_space", COLOR_SPACE_NAMES)
        if self.kind == "dae" and (self.noise not in NOISES or self.noise_level is None):
            raise ValueError(f"a 'dae' method needs noise in {NOISES} and a noise_level, got {self.noise!r}, {self.noise_level!r}")
        if self.width is not None and self.width not in WIDTHS:
            raise ValueError(f"width must be None or one of {WIDTHS}, got {self.width!r}")

    @property
    def pretrains(self) -> bool:
        """True for the methods whose first stage is ``train.pretrain`` (split-brain, DAE)."""
        return self.kind in ("splitbrain", "dae")

    def pretrain_overrides(self) -> dict[str, Any]:
        """PretrainConfig fields that this method sets (method, colour space, noise, width)."""
        overrides: dict[str, Any] = {"method": "dae" if self.kind == "dae" else "splitbrain",
                                     "color_space": self.color_space}
        if self.kind == "dae":
            overrides.update(noise=self.noise, noise_level=self.noise_level)
        if self.width is not None:
            overrides["width"] = self.width
        return overrides


def splitbrain_method(color_space: str) -> Method:
    """Split-brain pretraining in ``color_space``; the run-id part is the colour space itself."""
    return Method(color_space, "splitbrain", color_space)


def dae_method(noise: str, width: str | None = None) -> Method:
    """The DAE baseline in RGB with ``noise`` at its level of :data:`DAE_NOISE_LEVELS`, at the
    grid's width or at ``width`` (then named ``dae-<noise>-<width>``)."""
    name = f"dae-{noise}" if width is None else f"dae-{noise}-{width}"
    return Method(name, "dae", "rgb", noise, DAE_NOISE_LEVELS[noise], width)


def random_method(color_space: str) -> Method:
    """The random-init floor: the network of ``color_space`` at its seeded initialisation."""
    return Method(f"random-{color_space}", "random", color_space)


def supervised_method(color_space: str = "lab") -> Method:
    """The supervised ceiling: the same network trained on the probe-training labels."""
    return Method(f"supervised-{color_space}", "supervised", color_space)


ALL_METHODS: tuple[Method, ...] = (
    splitbrain_method("rgb"), splitbrain_method("lab"), splitbrain_method("rescaled_lab"),
    dae_method("masking"), dae_method("salt_pepper"), dae_method("gaussian"),
    random_method("lab"), random_method("rgb"),
    supervised_method("lab"),
)
"""The methods of the full grids, in the order runs are listed and executed."""


@dataclass(frozen=True)
class Run:
    """One run of a grid: (architecture, method, seed, labels per class). ``run_id``: ``<grid>/<name>``.

    ``labels_per_class`` None: the probes and fine-tuning train on every labelled image.
    """

    grid: str
    arch: str
    method: Method
    seed: int
    labels_per_class: int | None = None

    @property
    def name(self) -> str:
        """``<arch>-<method>-seed<seed>``, e.g. ``simplenet-lab-seed0``, or with labels per class
        ``<arch>-<method>-l<labels>-seed<seed>`` (unique within a grid)."""
        labels = "" if self.labels_per_class is None else f"-l{self.labels_per_class}"
        return f"{self.arch}-{self.method.name}{labels}-seed{self.seed}"

    @property
    def run_id(self) -> str:
        """``<grid>/<arch>-<method>-seed<seed>``, stable across invocations."""
        return f"{self.grid}/{self.name}"


def _data_root(data_root: str | None) -> dict[str, str]:
    """A configuration's ``data_root`` override: none for None (the preset's stays)."""
    return {} if data_root is None else {"data_root": str(data_root)}


@dataclass(frozen=True)
class Grid:
    """A named experiment grid: every (arch, method, seed) combination is one :class:`Run`.

    ``preset``: the preset both configurations start from (:func:`get_preset`,
    :func:`get_eval_preset`); ``pretrain`` / ``evaluate``: overrides applied on top (PretrainConfig /
    EvalConfig fields); ``method_pretrain``: further PretrainConfig overrides for one (architecture,
    method name). ``supervised_epochs``: epochs of the supervised ceiling's training (the
    fine-tuning recipe). ``needs_data_root``: the dataset has no default location (an ImageFolder tree).

    ``labels``: labelled images per class the runs' probes and fine-tuning train on, one run per
    count (None: all of them). ``label_evaluate`` / ``method_evaluate``: EvalConfig overrides for
    one count / one (method name, count), applied after ``evaluate``. ``networks_from``: the name
    of a grid whose pretrained networks this grid evaluates (its runs' network configurations and
    run directories are that grid's, so a pretraining is shared and never repeated).
    """

    name: str
    description: str
    archs: tuple[str, ...]
    methods: tuple[Method, ...]
    seeds: tuple[int, ...]
    preset: str
    pretrain: Mapping[str, Any] = field(default_factory=dict)
    evaluate: Mapping[str, Any] = field(default_factory=dict)
    method_pretrain: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    supervised_epochs: int = 1
    needs_data_root: bool = False
    labels: tuple[int | None, ...] = (None,)
    label_evaluate: Mapping[int | None, Mapping[str, Any]] = field(default_factory=dict)
    method_evaluate: Mapping[tuple[str, int | None], Mapping[str, Any]] = field(default_factory=dict)
    networks_from: str | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)
        names = [method.name for method in self.methods]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"methods must be non-empty with distinct names, got {names}")
        if not self.seeds:
            raise ValueError(f"seeds must not be empty, got {self.seeds!r}")
        for i, seed in enumerate(self.seeds):
            check_int(seed, f"seeds[{i}]")
        unknown = [key for key in self.method_evaluate if key[0] not in names or key[1] not in self.labels]
        if unknown or any(count not in self.labels for count in self.label_evaluate):
            raise ValueError(f"method_evaluate / label_evaluate name methods or label counts the grid lacks: "
                             f"{unknown or sorted(set(self.label_evaluate) - set(self.labels))}")
        if not self.labels or any(n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1)
                                  for n in self.labels):
            raise ValueError(f"labels must be positive integers or None, got {self.labels!r}")
        check_positive_int(self.supervised_epochs, "supervised_epochs")
        # Build one configuration of each kind now, so a bad override or architecture fails at definition time.
        runs = self.runs()
        data_root = "data-root" if self.needs_data_root else None
        for run in runs[: len(self.methods) * len(self.labels) * len(self.seeds)]:
            self.eval_config(run, data_root)
        if self.networks_from is None:
            self.pretrain_config(runs[0], data_root)

    def runs(self, archs: tuple[str, ...] | None = None) -> list[Run]:
        """Every run, architecture-major, then method, then seed (the execution order); ``archs``
        replaces the grid's architectures (e.g. to add "fcalexnet")."""
        archs = self.archs if archs is None else tuple(archs)
        for arch in archs:
            if arch not in ARCHITECTURES:
                raise ValueError(f"archs must be among {ARCHITECTURES}, got {arch!r}")
        return [Run(self.name, arch, method, seed, labels) for arch in archs for method in self.methods
                for seed in self.seeds for labels in self.labels]

    def network_run(self, run: Run) -> Run:
        """The run whose network ``run`` evaluates: ``run`` itself, or with ``networks_from`` that
        grid's run of the same architecture, method and seed."""
        return run if self.networks_from is None else Run(self.networks_from, run.arch, run.method, run.seed)

    def pretrain_config(self, run: Run, data_root: str | None = None, out: str = "runs/pretrain") -> PretrainConfig:
        """The network's configuration for ``run`` (also the pretraining recipe for split-brain
        and DAE runs; random-init and supervised runs only use its network fields); with
        ``networks_from`` that grid's configuration of :meth:`network_run`."""
        if self.networks_from is not None:
            return get_grid(self.networks_from).pretrain_config(self.network_run(run), data_root, out)
        overrides = {**self.pretrain, **self.method_pretrain.get((run.arch, run.method.name), {}),
                     **run.method.pretrain_overrides(),
                     "arch": run.arch, "seed": run.seed, "out": out, "record_dir": None, **_data_root(data_root)}
        return get_preset(self.preset, **overrides)

    def eval_config(self, run: Run, data_root: str | None = None, **changes: Any) -> EvalConfig:
        """The probe and fine-tuning configuration for ``run`` (records are written by the runner),
        with ``changes`` (EvalConfig fields) applied last."""
        overrides = {**self.evaluate, **self.label_evaluate.get(run.labels_per_class, {}),
                     **self.method_evaluate.get((run.method.name, run.labels_per_class), {}),
                     "seed": run.seed, "labels_per_class": run.labels_per_class, "record_dir": None}
        return get_eval_preset(self.preset, **{**overrides, **_data_root(data_root), **changes})


# ----------------------------------------------------------------------------------------------
# The grids

FIRST_FINETUNER = dict(finetune_optimizer="adam", finetune_schedule="constant", finetune_warmup=0.0, finetune_lr=1e-3,
                       finetune_weight_decay=0.0, finetune_crop_padding=0)
"""The CPU grids' fine-tuning (Adam at a constant 1e-3, flips only), not the trained recipe's."""

CIFAR_CPU_PRETRAIN_IMAGES = 20_480
"""Images drawn per pretraining epoch in ``cifar-cpu`` (160 steps of 128, from the 30,000)."""

_CIFAR_CPU = Grid(
    name="cifar-cpu",
    description="CIFAR-10 JPEGs (ImageFolder, 32 px): 30k pretraining / 10k probe-training / 10k held-out "
                "images; SimpleNet and FC-ResNet18; split-brain RGB/Lab/rescaled Lab, DAE x3, random init, "
                "supervised; seeds 0-2; a 2-core CPU",
    archs=("simplenet", "fcresnet18"),
    methods=ALL_METHODS,
    seeds=(0, 1, 2),
    preset="cpu",
    pretrain=dict(data="folder", image_size=32, grid=8, batch_size=128, lr=1e-3, lr_decay=0.5,
                  epochs=3, max_steps_per_epoch=CIFAR_CPU_PRETRAIN_IMAGES // 128,
                  device="cpu", log_every=20),
    evaluate=dict(data="folder", image_size=32, max_train_images=10_000, max_test_images=10_000,
                  probe_epochs=30, **FIRST_FINETUNER, finetune_epochs=2, finetune_batch_size=64, device="cpu"),
    supervised_epochs=6,
    needs_data_root=True,
)

CIFAR_QUICK_PRETRAIN_IMAGES = 8_192
"""Images drawn per pretraining epoch in ``cifar-quick`` (64 steps of 128, from the 30,000)."""

_CIFAR_QUICK = Grid(
    name="cifar-quick",
    description="cifar-cpu cut to minutes per run on a 2-core CPU: SimpleNet and FC-ResNet18, every method, "
                "2 x 8k pretraining images, probes and fine-tuning on 5k, scored on 5k held-out images; seeds 0-2",
    archs=("simplenet", "fcresnet18"),
    methods=ALL_METHODS + (dae_method("salt_pepper", width="full"),),
    seeds=(0, 1, 2),
    preset="cpu",
    pretrain=dict(data="folder", image_size=32, grid=8, batch_size=128, lr=1e-3, lr_decay=0.5,
                  epochs=2, max_steps_per_epoch=CIFAR_QUICK_PRETRAIN_IMAGES // 128, device="cpu", log_every=16),
    evaluate=dict(data="folder", image_size=32, max_train_images=5_000, max_test_images=5_000, probe_epochs=30,
                  **FIRST_FINETUNER, finetune_epochs=1, finetune_batch_size=64, finetune_precise_bn=True, device="cpu"),
    supervised_epochs=3,
    needs_data_root=True,
)

CIFAR_RECIPE_DAE_EPOCHS = {"simplenet": 4, "fcresnet18": 6}
"""Pretraining epochs of ``cifar-recipe``'s full-width DAE, so that it spends about the FLOPs of
the split-brain pair's 14 epochs: per 32 px image its forward + backward costs 2.22 against the
pair's 0.65 GFLOP on SimpleNet (3.4x) and 3.69 against 1.67 on FC-ResNet18 (2.2x), as the
budget's FLOP counter counts them (the tests check the match)."""

_CIFAR_RECIPE = Grid(
    name="cifar-recipe",
    description="CIFAR-10 JPEGs (ImageFolder, 32 px), the 20-minute CPU recipe: 30k pretraining / 10k "
                "probe-training (2k of them validate) / 10k held-out images; SimpleNet and FC-ResNet18; "
                "split-brain RGB/Lab/rescaled Lab, the compute- and width-matched salt-and-pepper DAE, "
                "random init, supervised; seeds 0-2",
    archs=("simplenet", "fcresnet18"),
    methods=(splitbrain_method("rgb"), splitbrain_method("lab"), splitbrain_method("rescaled_lab"),
             dae_method("salt_pepper", width="full"), random_method("lab"), random_method("rgb"),
             supervised_method("lab")),
    seeds=(0, 1, 2),
    preset="cpu",
    pretrain=dict(RECIPES["cifar-20min"].pretrain, data="folder", device="cpu", log_every=50),
    method_pretrain={(arch, "dae-salt_pepper-full"): dict(epochs=epochs)
                     for arch, epochs in CIFAR_RECIPE_DAE_EPOCHS.items()},
    evaluate=dict(data="folder", image_size=32, max_train_images=10_000, max_test_images=10_000,
                  probe_epochs=30, **FIRST_FINETUNER, finetune_epochs=0, device="cpu"),
    supervised_epochs=30,
    needs_data_root=True,
)


LABELS_PER_CLASS = (25, 100, 400, 800)
"""The label-efficiency grid's counts of labelled images per class (800 is the probe's whole fit part)."""

FINETUNE_MIN_IMAGES = 40_000
FINETUNE_EPOCHS = 30
FINETUNE_PASSES = {25: 160, 100: 120, 400: 120, 800: 120}
"""Passes over the labelled images of each label count's fine-tuning, chosen on validation by
the budget trials of ``results/label-search/`` (seed 0): at 25 per class twice the 40,000 images
gained at most 0.2 points on validation for either initialisation; at 100, 80,000 gained 1.4 points for random init (not
for split-brain Lab), so it gets 120 passes; at 800, each doubling from 30 to 60 to 120 passes
still gained, for random init most, so 400 and 800 get 120 passes; 240 passes lost on validation
for random init, so 120 is where more passes stop helping."""


def finetune_budget(labels_per_class: int, num_classes: int = 10) -> int:
    """Images a fine-tuning sees with ``labels_per_class`` labels: :data:`FINETUNE_PASSES` passes
    over them, at least ``FINETUNE_MIN_IMAGES``."""
    return max(FINETUNE_PASSES[labels_per_class] * labels_per_class * num_classes, FINETUNE_MIN_IMAGES)


LABEL_GRID_TRIALS: dict[int, tuple[str, ...]] = {
    25: ("last:0.03", "last:0.1", "probe:0.003", "probe:0.01"),
    100: ("probe:0.003", "probe:0.01"),
    400: ("last:0.1",),
    800: ("last:0.1",),
}
"""The fine-tuning settings each label count's runs try, keeping the best on validation: a new
linear head on the last layer (``last:LR``) or the linear probe followed by fine-tuning
(``probe:LR``, LP-FT). At 25 and 100 per class LP-FT won every run of seeds 0-2 on validation
(for both initialisations), at 400 and 800 ``last:0.1`` won every run of seed 0, so the longer
budgets keep only those settings; the search trials are records in ``results/label-search/``."""

LABEL_GRID_FINETUNE = dict(FINETUNE_RECIPE, finetune_batch_size=128, finetune_crop_padding=4, finetune_precise_bn=False,
                           finetune_val_points=8, amp="bf16")
"""The label-efficiency grid's fine-tuning: the trained recipe (:data:`~splitbrain.presets.FINETUNE_RECIPE`)
in batches of 128 at 32 px under bfloat16 autocast, validation top-1 measured at 8 points of
every run, each setting of the count's :data:`LABEL_GRID_TRIALS` tried and the best on validation kept."""


_LABEL_EFFICIENCY = Grid(
    name="label-efficiency",
    description="cifar-recipe's pretrained networks (no new pretraining) probed and fine-tuned with 25, 100, "
                "400 and 800 labels per class (seeded subsets of the 8k fit images; the 2k validation images "
                "choose the probe's layer and the fine-tuning's learning rate, the 10k held-out images only "
                "report); split-brain Lab and rescaled Lab against random init; seeds 0-2 paired with "
                "pretraining",
    archs=("simplenet",),
    methods=(splitbrain_method("lab"), splitbrain_method("rescaled_lab"), random_method("lab")),
    seeds=(0, 1, 2),
    preset=_CIFAR_RECIPE.preset,
    # finetune_epochs > 0 makes the runner fine-tune; each count's finetune_images sets the budget
    evaluate={**_CIFAR_RECIPE.evaluate, **LABEL_GRID_FINETUNE, "finetune_epochs": FINETUNE_EPOCHS},
    labels=LABELS_PER_CLASS,
    label_evaluate={n: {"finetune_images": finetune_budget(n), "finetune_trials": LABEL_GRID_TRIALS[n]}
                    for n in LABELS_PER_CLASS},
    networks_from="cifar-recipe",
    needs_data_root=True,
)


_EMBEDDED_CPU = Grid(
    name="embedded-cpu",
    description="the embedded photographs (10 classes, 32 px crops): the cifar-cpu grid at small sizes, a quick check",
    archs=("simplenet", "fcresnet18"),
    methods=ALL_METHODS,
    seeds=(0, 1, 2),
    preset="cpu",
    pretrain=dict(data="embedded", image_size=32, grid=8, train_length=1024, batch_size=64, epochs=2,
                  lr=1e-3, lr_decay=0.5, device="cpu", log_every=8),
    evaluate=dict(data="embedded", image_size=32, max_train_images=500, max_test_images=250, probe_epochs=20,
                  **FIRST_FINETUNER, finetune_epochs=1, finetune_precise_bn=True, device="cpu"),
    supervised_epochs=4,
)

_STL10_COLAB = Grid(
    name="stl10-colab",
    description="STL-10 96x96 on one Colab-class GPU (colab presets): 100k unlabelled for pretraining, "
                "5k train for probes and fine-tuning, 8k test for evaluation",
    archs=("simplenet", "fcresnet18", "fcalexnet"),
    methods=ALL_METHODS,
    seeds=(0, 1, 2),
    preset="colab",
    pretrain=dict(data="stl10"),
    evaluate=dict(data="stl10"),
    supervised_epochs=80,
)

_SMOKE = Grid(
    name="smoke",
    description="tiny: the embedded photographs at 16 px, one seed, split-brain Lab and its random-init floor",
    archs=("simplenet",),
    methods=(splitbrain_method("lab"), random_method("lab")),
    seeds=(0,),
    preset="smoke",
    pretrain=dict(image_size=16, grid=4, train_length=32, batch_size=16, epochs=2, max_steps_per_epoch=2,
                  device="cpu", log_every=1),
    evaluate=dict(image_size=16, max_train_images=40, max_test_images=20, probe_epochs=3, layers=("conv1", "conv5"),
                  finetune_epochs=1, finetune_batch_size=20, feature_batch_size=40, device="cpu"),
)

GRIDS: dict[str, Grid] = {grid.name: grid for grid in (_CIFAR_RECIPE, _CIFAR_CPU, _CIFAR_QUICK, _EMBEDDED_CPU,
                                                       _STL10_COLAB, _SMOKE, _LABEL_EFFICIENCY)}
"""The named grids, by name."""


def get_grid(name: str) -> Grid:
    """The grid called ``name`` (one of :data:`GRIDS`)."""
    return GRIDS[check_one_of(name, "grid", GRIDS)]
