# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#     provenance: []
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: accelerator,colab
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6. Linear probes and fine-tuning: are the features any good?
#
# **[Open this chapter in Colab](https://colab.research.google.com/github/splitbrain-book/splitbrain/blob/main/notebooks/06_probes_and_finetuning.ipynb)**
#
# **Needs:** a GPU when there is one (the `colab` preset probes and fine-tunes on STL-10, fetched
# only with `DOWNLOAD = True`, 2.5 GB; without it the embedded photographs stand in), else a CPU.
# The chapter reuses chapter 5's pretrained network when chapter 5 ran before it in the same
# folder with the same preset; otherwise, and always on a fresh Colab runtime, it pretrains the
# same network first.

# %% tags=["remove-cell"]
# Setup: on Colab (or anywhere the package is missing) install it from the repository.
# Only what is missing is installed; Colab's own torch is never replaced.
import importlib.util, subprocess, sys
if importlib.util.find_spec("splitbrain") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "git+https://github.com/splitbrain-book/splitbrain"], check=True)

# %% tags=["remove-input"]
from splitbrain.chapter_times import needs
from splitbrain.notebook import prose

prose("**Time:** " + needs("06_probes_and_finetuning", repeats_chapter_5=True))

# %% [markdown]
# **You should see:** linear-probe accuracy at every layer of the pretrained network next to
# the same network at random initialisation; one fine-tuning step written out and checked
# against the package; the accuracy of the whole network fine-tuned with a classifier on top,
# from both starting points; the gap that pretraining opens, with the reasons it is a weak test
# on the embedded photographs; and, from the book's CIFAR-10 records, how that gap depends on
# the number of labelled images.

# %% tags=["parameters"]
PRESET = "auto"
SEED = 0
DOWNLOAD = False  # True: fetch the preset's dataset (colab, paper: STL-10, 2.5 GB) into the shared cache folder
CHAPTER5_RUN = "runs/05_pretraining"  # chapter 5's run, reused when it matches this preset
RUN_DIR = "runs/06_probes"  # where this chapter pretrains when it cannot reuse chapter 5's run
BATCHNORM_IMAGES = 256  # training crops that refresh BatchNorm's statistics (chapter 5)
SHIPPED = "cifar10-simplenet-lab"  # a shipped network (splitbrain.weights.PRETRAINED) probed beside this chapter's

# %% tags=["hide-input"]
# %matplotlib inline
import copy
import shutil
from pathlib import Path

import torch

from splitbrain.checkpoint import model_from_checkpoint
from splitbrain.evaluate import build_eval_datasets, feature_extractor, linear_probe, training_rows, validation_part
from splitbrain.finetune import finetune
from splitbrain.models import pool_features
from splitbrain.notebook import chapter_setup, glue, prose
from splitbrain.plots.training import plot_accuracy_bars, plot_probe_curves
from splitbrain.predict import matching_checkpoint, refresh_batchnorm
from splitbrain.presets import get_eval_preset, get_preset
from splitbrain.runtime import autocast, resolve_amp
from splitbrain.models import build_targets_for
from splitbrain.networks import load_network
from splitbrain.train import build_pretrain_dataset, pretrain

ctx = chapter_setup(PRESET, seed=SEED, download=DOWNLOAD)
print(f"preset: {ctx.preset}, device: {ctx.device}")

# %% [markdown]
# ## The network under test
#
# The pretrained network is chapter 5's: the same preset, seed and device. If chapter 5 has
# run in this folder with that configuration, its final checkpoint is used as it is
# (`splitbrain.predict.matching_checkpoint` compares every setting that changes what is
# learned); otherwise the chapter pretrains it here, which gives the same network.

# %%
config = get_preset(ctx.preset, **ctx.data, out=f"{RUN_DIR}/pretrain", seed=SEED, device=str(ctx.device), progress=False)
checkpoint = matching_checkpoint(Path(CHAPTER5_RUN) / "checkpoint.pt", config)
if checkpoint is None:
    print(f"no finished run of this configuration in {CHAPTER5_RUN}: pretraining here")
    shutil.rmtree(config.out, ignore_errors=True)  # this chapter's own run folder: a fresh run each time
    checkpoint = pretrain(config).checkpoint
else:
    print(f"reusing chapter 5's checkpoint {checkpoint}")

# %% [markdown]
# The floor every self-supervised method must beat is the same network with random weights
# {cite:p}`zhang2017splitbrain`: deep networks compute useful features even untrained (a
# random convolution still responds to edges, textures and colours). We build it with
# `splitbrain.networks.load_network(config, random_init=True)`, seeded like every other network
# of the book, and treat both networks alike: BatchNorm's running statistics are recomputed on
# the same training crops for both (chapter 5 explains why).

# %%
targets = build_targets_for(config)
pretrain_set = build_pretrain_dataset(config)
refresh_images = torch.stack([pretrain_set[i][0] for i in range(min(BATCHNORM_IMAGES, len(pretrain_set)))])


pretrained, _ = model_from_checkpoint(checkpoint, device=ctx.device)
random_init, _ = load_network(config, random_init=True, seed=SEED)
probe_networks = {name: refresh_batchnorm(model.to(ctx.device), targets, refresh_images, batch_size=config.batch_size)
                  for name, model in (("pretrained", pretrained), ("random init", random_init))}
for name, model in probe_networks.items():
    print(f"{name}: {sum(p.numel() for p in model.parameters()):,} parameters")

# %% [markdown]
# ## Linear probes: the protocol of Zhang et al.
#
# A linear probe asks how much of what a classifier needs is already *linearly* readable from
# a layer's features. The split-brain paper follows a fixed protocol
# {cite:p}`zhang2017splitbrain`: the network is frozen; for each layer, its activations (both
# halves, concatenated along channels) are average-pooled to about 9,000 numbers and
# flattened; a linear softmax classifier is trained on them with labels, and its accuracy on
# held-out images is the score of that layer. Nothing but the final linear layer sees a label.
# `splitbrain.evaluate.linear_probe` does exactly this, standardising every feature with the
# training split's mean and standard deviation first.
#
# **Which layer to report is a choice, and choices are made on validation images.** A probe
# gives one score per layer, and the table below shows all of them. The headline number,
# though, is a single layer's, and picking the layer with the best *held-out* score would
# report the largest of five noisy numbers: on a few thousand test images each score moves by
# a point or so from chance alone, so the maximum is biased upwards, and more for the network
# whose layers happen to be noisier. So `linear_probe` holds back a validation part, 20 % of the
# labelled probe-training images (the same for every class, fixed by `split_seed`), trains each
# layer's classifier on the rest, chooses the layer with the best validation top-1, and only
# then reads that layer's held-out score. The held-out images never choose anything; they only
# report. Every record keeps both numbers for every layer.
#
# The labelled data come from the evaluation preset: for `smoke` and `cpu`, crops of the
# book's ten embedded photographs, the label being which photograph a crop came from (training
# crops from two thirds of each photograph, test crops from the held-out third); for `colab`,
# STL-10's 5,000 labelled training and 8,000 test images in ten classes
# {cite:p}`coates2011stl10`.

# %% mystnb={"figure": {"caption": "Linear-probe accuracy at every layer, pretrained vs random init: held-out top-1 (left) and top-5 (right), with chance dotted. See where the two curves part and which layer each network does best at.", "name": "fig-ch6-probes"}, "image": {"alt": "Two line charts of held-out accuracy in percent against layer, from shallow to deep, each with a blue line for the pretrained network, a grey line for the random network and a dotted chance line far below both; the left chart shows top-1, the right top-5, where both lines sit close to the top."}}
eval_config = get_eval_preset(ctx.preset, **ctx.eval_data, seed=SEED, split_seed=config.split_seed,
                              device=str(ctx.device), progress=False, verbose=False, out=f"{RUN_DIR}/eval")
probe_data = build_eval_datasets(eval_config)
train_set, test_set, num_classes = probe_data
print(f"{eval_config.data}: {len(train_set)} training and {len(test_set)} test images, {num_classes} classes")

probes = {name: linear_probe(eval_config, model=model, pretrain_config=config, datasets=probe_data,
                             random_init=name == "random init")
          for name, model in probe_networks.items()}
per_layer = {name: result.metrics["layers"] for name, result in probes.items()}
layers = list(per_layer["pretrained"])
print(f"{'layer':>7} {'dims':>6} | {'pretrained':>21} | {'random init':>21} | {'gap':>6}")
print(f"{'':>7} {'':>6} | {'val top-1':>10} {'top-1':>10} | {'val top-1':>10} {'top-1':>10} | {'top-1':>6}")
for layer in layers:
    p, r = per_layer["pretrained"][layer], per_layer["random init"][layer]
    print(f"{layer:>7} {p['dim']:6d} | {100 * p['val_top1']:9.1f}% {100 * p['top1']:9.1f}% | "
          f"{100 * r['val_top1']:9.1f}% {100 * r['top1']:9.1f}% | {100 * (p['top1'] - r['top1']):+5.1f}")
plot_probe_curves({f"pretrained ({config.epochs} epochs)": per_layer["pretrained"],
                   "random init": per_layer["random init"]}, chance=1 / num_classes,
                  title=f"linear probes on frozen features ({eval_config.data}, {num_classes} classes)")

# %% tags=["hide-input"]
best = {name: result.metrics["best_layer"] for name, result in probes.items()}
gaps = {layer: per_layer["pretrained"][layer]["top1"] - per_layer["random init"][layer]["top1"] for layer in layers}
widest = max(gaps, key=gaps.get)
for name, key in (("pretrained", "pretrained"), ("random init", "random")):
    glue(f"probe_best_layer_{key}", best[name])
    glue(f"probe_best_top1_{key}", 100 * probes[name].metrics["top1"])
    glue(f"probe_best_top5_{key}", 100 * probes[name].metrics["top5"])
    glue(f"probe_first_top1_{key}", 100 * per_layer[name][layers[0]]["top1"])
    glue(f"probe_last_top1_{key}", 100 * per_layer[name][layers[-1]]["top1"])
print(f"layer chosen on validation: pretrained {best['pretrained']}, random init {best['random init']}; "
      f"widest gap at {widest}: {100 * gaps[widest]:+.1f} points")

# %% tags=["remove-input"]
glue("epochs", config.epochs)
glue("probe_train_images", len(train_set))
glue("probe_test_images", len(test_set))
glue("num_classes", num_classes)
glue("probe_epochs", eval_config.probe_epochs)
glue("first_layer", layers[0])
glue("last_layer", layers[-1])
glue("widest_layer", widest)
glue("widest_gap", 100 * gaps[widest])
glue("probe_gap", 100 * (probes["pretrained"].metrics["top1"] - probes["random init"].metrics["top1"]),
     seen="probe gap, pretrained minus random init, points")
glue("probe_fit_images", probes["pretrained"].metrics["train_images"])
glue("probe_val_images", probes["pretrained"].metrics["val_images"])
glue("chance", 100 / num_classes)
prose(r"""
The probes were trained on {probe_fit_images} images for
{probe_epochs} epochs, chose their layer on {probe_val_images} more and
were tested on {probe_test_images} others
(chance: {chance:.0f}%). The random network is far above chance at every layer:
{probe_first_top1_random:.1f}% top-1 at {first_layer} and
{probe_best_top1_random:.1f}% at the layer validation chose for it,
{probe_best_layer_random}. The pretrained network reaches
{probe_best_top1_pretrained:.1f}% at {probe_best_layer_pretrained}.
The two curves differ most at {widest_layer}
({widest_gap:+.1f} points). Compare the shapes with the paper's ImageNet probes
(Table 2 there): the random network peaks at conv2 (17.1% top-1) and falls with depth to
14.1% at conv5, while the split-brain network rises to 35.4% at conv3 and stays near it at
conv4 {{cite:p}}`zhang2017splitbrain`. On a hard task, deep random layers lose information
that training would have kept; on this easy one they can still sort crops by colour and
texture. With only ten classes, top-5 is close to 100% for every layer and says little.
""")

# %% [markdown]
# ## One probe, written out
#
# Here is what `linear_probe` did at the layer validation chose for the pretrained network,
# step by step: features of the frozen network, pooled and flattened; a validation part held
# back; standardisation with the fitted part's statistics; a softmax regression trained with
# Adam from zero weights; the validation and held-out scores. The numbers must be the package's
# (on a GPU, to within one image: its kernels may round a borderline image the other way).

# %%
layer = best["pretrained"]
extractor = feature_extractor(probe_networks["pretrained"], config.color_space).to(ctx.device).eval()
amp_dtype = resolve_amp(eval_config.amp, ctx.device)  # the package's precision here: float32 on a CPU


@torch.no_grad()
def features_of(dataset):
    """(N, D) pooled, flattened activations at `layer` and (N,) labels of every image of `dataset`."""
    features, labels = [], []
    for start in range(0, len(dataset), eval_config.feature_batch_size):
        images = [dataset[i] for i in range(start, min(start + eval_config.feature_batch_size, len(dataset)))]
        rgb = torch.stack([image for image, _ in images]).to(ctx.device)  # (B, 3, S, S) uint8
        with autocast(ctx.device, amp_dtype):
            maps = extractor.activations(rgb, [layer])[layer]  # (B, C, h, w): both halves, concatenated
        features.append(pool_features(maps.float(), eval_config.max_dim).cpu())  # (B, D)
        labels += [label for _, label in images]
    return torch.cat(features), torch.tensor(labels)


train_x, train_y = features_of(train_set)
train_x = train_x.half().float()  # like the package, which caches these features in float16 to save memory
test_x, test_y = features_of(test_set)
fit, val = validation_part(train_y, eval_config.probe_val_fraction, eval_config.split_seed)

mean, std = train_x[fit].mean(dim=0), train_x[fit].std(dim=0)
std = torch.where(std < 1e-6, torch.ones_like(std), std)  # a constant feature is only centred
standard = lambda x: (x - mean) / std  # noqa: E731

classifier = torch.nn.Linear(train_x.shape[1], num_classes).to(ctx.device)
torch.nn.init.zeros_(classifier.weight)
torch.nn.init.zeros_(classifier.bias)
optimizer = torch.optim.Adam(classifier.parameters(), lr=eval_config.probe_lr, weight_decay=eval_config.probe_weight_decay)
order_generator = torch.Generator().manual_seed(eval_config.seed)
x, y = standard(train_x[fit]).to(ctx.device), train_y[fit].to(ctx.device)
for epoch in range(eval_config.probe_epochs):
    order = torch.randperm(len(x), generator=order_generator).to(ctx.device)
    for start in range(0, len(x), eval_config.probe_batch_size):
        rows = order[start:start + eval_config.probe_batch_size]
        loss = torch.nn.functional.cross_entropy(classifier(x[rows]), y[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

with torch.no_grad():
    val_top1 = (classifier(standard(train_x[val]).to(ctx.device)).argmax(dim=1).cpu() == train_y[val]).float().mean().item()
    test_top1 = (classifier(standard(test_x).to(ctx.device)).argmax(dim=1).cpu() == test_y).float().mean().item()
package = per_layer["pretrained"][layer]
print(f"{layer}: {train_x.shape[1]} features; by hand: validation {100 * val_top1:.2f}%, held out {100 * test_top1:.2f}%; "
      f"linear_probe: validation {100 * package['val_top1']:.2f}%, held out {100 * package['top1']:.2f}%")
slack = 0 if ctx.device.type == "cpu" else 1  # images
assert abs(val_top1 - package["val_top1"]) * len(val) <= slack + 0.01  # the same images right
assert abs(test_top1 - package["top1"]) * len(test_y) <= slack + 0.01

# %% [markdown]
# ## Fine-tuning: a classifier as the last layer
#
# The poster evaluated its networks differently {cite:p}`iyengar2019poster`: "add a
# classifier as the last layer" and train *everything* with labels. Here both halves' last
# layer is average-pooled over space and fed to one linear layer, and the whole network is
# trained (`splitbrain.finetune.finetune`). Pretraining now only provides the starting point,
# so the comparison with random init asks whether that starting point helps when labels reach
# every layer.
#
# A fine-tuning only tests that if it is *trained*: a network fine-tuned too briefly, or with a
# rate that never comes down, can score below a linear probe of random features, and then it
# tells us nothing about pretraining. So the recipe is the one image classifiers are trained
# with (as in torchvision's reference scripts): SGD with Nesterov momentum 0.9, a learning rate
# that warms up linearly over the first 5 % of the steps and then falls along a cosine to zero
# at the last step, weight decay, and every batch augmented with random crops (the image
# zero-padded by an eighth of its side, then cut back to its size at a random offset) and random
# horizontal flips. BatchNorm trains on each batch's statistics; at the end its running
# averages are recomputed over the labelled images under the final weights ("precise BN",
# `finetune_precise_bn`), because a short run leaves them behind the weights. The fine-tuning
# never sees the validation part: it reports its validation top-1 beside the held-out one.
#
# ## One fine-tuning step, written out
#
# Here is one step by hand on one augmented batch, then the package's own step
# (`splitbrain.finetune.finetune_step`) on a copy of the same network and batch. The two must
# give the same loss and the same weights afterwards.

# %%
import torch.nn.functional as F

from splitbrain.finetune import FinetuneClassifier, augment_batch, build_optimizer, finetune_step

mine = FinetuneClassifier(feature_extractor(copy.deepcopy(probe_networks["pretrained"]), config.color_space),
                          num_classes).to(ctx.device).train()
package_classifier = copy.deepcopy(mine)
fit_rows, _ = training_rows(torch.as_tensor(train_set.labels), eval_config)  # the labelled images it trains on
batch_items = [train_set[int(i)] for i in fit_rows[:eval_config.finetune_batch_size]]
images = torch.stack([image for image, _ in batch_items])  # (N, 3, S, S) uint8
labels = torch.tensor([label for _, label in batch_items]).to(ctx.device)  # (N,)

# 1. augment: random crops of the zero-padded images, random horizontal flips
rgb = augment_batch(images, eval_config.finetune_crop_padding, torch.Generator().manual_seed(SEED)).to(ctx.device)
# 2. the colour space's inputs, one group per half (L and ab for Lab), normalised
space = mine.extractor.space
x1, x2 = space.split(space.inputs(rgb))
# 3. both trunks to their last layer, averaged over space, side by side: (N, C1 + C2)
pooled = torch.cat([mine.extractor.trunks[0](x1).mean(dim=(2, 3)), mine.extractor.trunks[1](x2).mean(dim=(2, 3))], dim=1)
# 4. the linear classifier and the cross-entropy with the labels
loss = F.cross_entropy(mine.head(pooled), labels)
# 5. SGD with Nesterov momentum: the head at the learning rate, the trunks at finetune_trunk_lr times it
optimizer = torch.optim.SGD(
    [{"params": mine.head.parameters(), "lr": eval_config.finetune_lr},
     {"params": mine.trunk_parameters(), "lr": eval_config.finetune_lr * eval_config.finetune_trunk_lr}],
    lr=eval_config.finetune_lr, momentum=0.9, nesterov=True, weight_decay=eval_config.finetune_weight_decay)
optimizer.zero_grad()
loss.backward()
optimizer.step()

package_loss = finetune_step(package_classifier, build_optimizer(package_classifier, eval_config), rgb, labels)
weight_gap = max((a - b).abs().max().item() for a, b in zip(mine.parameters(), package_classifier.parameters()))
print(f"by hand: loss {loss.item():.4f}; package: {package_loss.item():.4f}; largest weight difference {weight_gap:.1e}")
assert eval_config.finetune_optimizer == "sgd" and torch.allclose(loss.detach(), package_loss, atol=1e-5)
assert weight_gap < 1e-5

# %% [markdown]
# The loop repeats this step for a budget of images (here `finetune_epochs` passes over the
# labelled images) and moves the learning rate along its schedule after every step. Both
# networks below are fine-tuned with the same recipe and the same learning rate.

# %% mystnb={"figure": {"caption": "Held-out top-1 of the pretrained and the random network, as a linear probe at the layer chosen on validation and after fine-tuning. See the gap between each pair of bars: that gap, not the height, is what pretraining adds.", "name": "fig-ch6-finetune"}, "image": {"alt": "A bar chart with two groups, linear probe and fine-tuned, each with a blue bar for the pretrained network and a grey bar for random initialisation, labelled with their held-out top-1 percentages."}}
finetuned = {name: finetune(eval_config, model=copy.deepcopy(model), pretrain_config=config, datasets=probe_data,
                            random_init=name == "random init")
             for name, model in probe_networks.items()}  # copies: the probes' networks stay as they are
for name, result in finetuned.items():
    metrics = result.metrics
    print(f"{name:>12}: held-out top-1 {100 * metrics['top1']:5.1f}%  top-5 {100 * metrics['top5']:5.1f}%  "
          f"(validation top-1 {100 * metrics['val_top1']:.1f}%, {metrics['images_seen']:,} images seen)")
plot_accuracy_bars({
    "linear probe\n(layer chosen\non validation)": {name: probes[name].metrics["top1"] for name in probes},
    f"fine-tuned\n({eval_config.finetune_epochs} epochs)": {name: finetuned[name].metrics["top1"] for name in finetuned},
})

# %% tags=["remove-input"]
for name, key in (("pretrained", "pretrained"), ("random init", "random")):
    metrics = finetuned[name].metrics
    glue(f"finetune_top1_{key}", 100 * metrics["top1"])
    glue(f"finetune_top5_{key}", 100 * metrics["top5"])
    glue(f"finetune_val_{key}", 100 * metrics["val_top1"])
glue("finetune_epochs", f"{eval_config.finetune_epochs} epoch{'s' if eval_config.finetune_epochs != 1 else ''}")
glue("finetune_images", f"{finetuned['pretrained'].metrics['images_seen']:,}")
glue("finetune_lr", f"{eval_config.finetune_lr:g}")
glue("finetune_gap", 100 * (finetuned["pretrained"].metrics["top1"] - finetuned["random init"].metrics["top1"]),
     seen="fine-tuning gap, points")
glue("finetune_vs_probe_random", "above" if finetuned["random init"].metrics["top1"] > probes["random init"].metrics["top1"]
     else "not above")
prose(r"""
After {finetune_epochs} of fine-tuning ({finetune_images} images seen, learning rate
{finetune_lr}), the network that started from the pretrained weights reaches
{finetune_top1_pretrained:.1f}% held-out top-1 ({finetune_top5_pretrained:.1f}% top-5,
{finetune_val_pretrained:.1f}% on validation); the one that started from random weights
{finetune_top1_random:.1f}% ({finetune_top5_random:.1f}%, {finetune_val_random:.1f}% on validation).
The fine-tuned random network is {finetune_vs_probe_random} its own linear probe: a
fine-tuning that stays below a probe of random features has not trained.
""")

# %% [markdown]
# ## The headline: what pretraining adds

# %% tags=["remove-input"]
prose(r"""
| | pretrained | random init | gap (points) |
|---|---|---|---|
| linear probe, layer chosen on validation, held-out top-1 (%) | {probe_best_top1_pretrained:.1f} | {probe_best_top1_random:.1f} | {probe_gap:+.1f} |
| fine-tuned, held-out top-1 (%) | {finetune_top1_pretrained:.1f} | {finetune_top1_random:.1f} | {finetune_gap:+.1f} |

The number to remember is the gap, not the accuracy: with frozen features, the pretrained
network's chosen layer scores {probe_gap:+.1f} points of top-1 relative to the
random network's chosen layer; fine-tuned, the gap is {finetune_gap:+.1f} points. This run
uses one seed, one learning rate for both starts and all of its labelled images, so it cannot
say how the gap depends on the number of labels, which is the reason to pretrain without
labels at all. The last section of this chapter measures exactly that on CIFAR-10.
""")

# %% [markdown]
# ### Caveats
#
# - **The task is easy and odd.** With the `smoke` and `cpu` presets, the "class" of a crop is
#   which of ten photographs it came from. A crop's average colour and texture almost give the
#   answer away, which is why even random features do well, and ten photographs are a tiny,
#   unrepresentative sample of images. The numbers show the machinery working, not how good the
#   features are.
# - **Few images, one seed.** A few hundred test crops mean that a difference of a point or two
#   is noise, and each network here comes from a single seed.
# - **The real test** is a labelled set of natural images: STL-10 (the `colab` preset) or
#   CIFAR-10 {cite:p}`krizhevsky2009learning`, where random features are a weaker floor and
#   the classes are object categories. The results chapter collects those runs.
# - **Protocol details matter.** Pooling size, feature standardisation, the probe's epochs and
#   weight decay all move the numbers; compare only numbers produced by the same code.
#
# ## The same probe on a network pretrained for 20 minutes
#
# This chapter's network pretrained for seconds or minutes. The package ships a SimpleNet
# pretrained with the book's 20-minute CPU recipe on 30,000 CIFAR-10 images (chapter 8 has its
# run), loadable with `splitbrain.pretrained(name)`. Here it goes through exactly the probe
# above, on the same images, at the layer its own run chose on validation, beside the same
# architecture at random initialisation.

# %%
from dataclasses import replace

from splitbrain.weights import PRETRAINED, probe_shipped

shipped = probe_shipped(SHIPPED, replace(eval_config, layers=(PRETRAINED[SHIPPED].probe_layer,)), probe_data)
for name, result in shipped.items():
    print(f"{SHIPPED}, {name:>11}: held-out top-1 {100 * result.metrics['top1']:.1f}% at {result.metrics['best_layer']}")
shipped_gap = shipped["pretrained"].metrics["top1"] - shipped["random init"].metrics["top1"]

# %% tags=["remove-input"]
glue("shipped_layer", PRETRAINED[SHIPPED].probe_layer)
glue("shipped_top1", 100 * shipped["pretrained"].metrics["top1"], seen="shipped network's probe top-1, %")
glue("shipped_random_top1", 100 * shipped["random init"].metrics["top1"])
glue("shipped_gap", 100 * shipped_gap, seen="shipped network's gap over random init, points")
prose(r"""
At {shipped_layer}, the shipped network scores {shipped_top1:.1f}% and
its random initialisation {shipped_random_top1:.1f}%: a gap of
{shipped_gap:+.1f} points, against {probe_gap:+.1f} for this chapter's
network. The images here are not the ones it pretrained on, so this also tests whether what
it learned transfers; chapter 8 probes it on CIFAR-10 itself.
""")

# %% [markdown]
# ## How many labels does pretraining save?
#
# The reason to pretrain without labels is that labels are scarce. The book's label-efficiency
# grid (`splitbrain reproduce --grid label-efficiency`, see the README) takes the CIFAR-10
# networks that chapter 8 reports (SimpleNet pretrained with the 20-minute recipe on 30,000
# unlabelled images, split-brain in Lab and in rescaled Lab) and the same network at random
# initialisation, and gives each 25, 100, 400 or 800 labelled images per class: seeded subsets
# of the 8,000 labelled fit images, the 2,000 validation images and the 10,000 held-out images
# unchanged. Each is probed (layer chosen on validation) and fine-tuned with the recipe above,
# for a budget of passes over its labelled images, in the settings validation runs chose for its
# label count: a new linear head on the last layer, or the linear probe followed by fine-tuning
# (LP-FT: the probe's layer and classifier become the head, then everything trains), at one or
# two learning rates (`LABEL_GRID_TRIALS` in `splitbrain.experiments.grids`). The setting with the
# best validation top-1 is kept, separately for every network, label count and seed, so random
# initialisation is tuned as hard as the pretrained networks. The figure and the sentences under it are drawn from the grid's
# committed records (they ship with the package), not from this notebook's run: every point is
# one seed, every line the mean over seeds.

# %% mystnb={"figure": {"caption": "From the shipped label-efficiency records: held-out top-1 on CIFAR-10 against labelled images per class, for split-brain pretraining and random initialisation, linear probe (dashed) and fine-tuned (solid); points are single seeds, lines means over seeds. See how the gap between pretrained and random starts changes as the number of labels grows.", "name": "fig-ch6-label-curve"}, "image": {"alt": "A line chart of held-out top-1 in percent against labelled images per class on a log axis, with solid fine-tuned and dashed linear-probe lines for each pretrained network in colour and for random initialisation in black, and small markers for individual seeds; all lines rise with more labels."}}
from IPython.display import display

from splitbrain.comparisons import collect_run_records
from splitbrain.label_curve import curve_points, curve_sentences, gap_table
from splitbrain.plots.results import plot_label_curve
from splitbrain.results import SHIPPED_RESULTS

label_points = curve_points(collect_run_records(SHIPPED_RESULTS / "label-efficiency"))
if label_points:
    display(plot_label_curve(label_points, title="CIFAR-10, SimpleNet: held-out top-1 by labels per class"))
else:
    print("No label-efficiency records in this copy of the package.")

# %% tags=["remove-input"]
glue("label_curve_text", curve_sentences(label_points))
glue("label_gap_table", gap_table(label_points) if label_points else "")
prose(r"""
{label_curve_text}

Every pretrained network minus random initialisation, seed by seed (same seed, same labelled
images), in points of held-out top-1, mean ± standard deviation over the seeds run:

{label_gap_table}
""")

# %% [markdown]
# ## Exercises
#
# 1. Probe without refreshing BatchNorm's statistics (use `model_from_checkpoint` directly, or
#    `linear_probe(eval_config, *load_network(checkpoint))`). Which network's numbers change more, and why?
# 2. Lower `max_dim` in the evaluation config (e.g. `get_eval_preset(..., max_dim=1024)`), so
#    every layer is pooled harder. How do the two curves move?
# 3. Probe chapter 5's epoch-1 checkpoint (`runs/05_pretraining/epoch1.pt`). How much of the
#    final gap is there after a single epoch?
# 4. Fine-tune for twice the epochs (`finetune_epochs=2 * eval_config.finetune_epochs` in
#    `dataclasses.replace`). Does the gap between pretrained and random starts shrink, grow or
#    stay, and does the validation top-1 still rise?
# 5. Probe each half on its own: build a `linear_probe` on a network whose half 2 is replaced
#    by a random one. Which half carries more of the useful features? Compare with the paper's
#    L to ab and ab to L rows of Table 2.
# 6. Fine-tune without the precise-BN refresh (`get_eval_preset(..., finetune_precise_bn=False)`).
#    Which start loses more top-1, the pretrained or the random one, and what happens to the
#    fine-tuned gap?
# 7. Probe the shipped network at every layer (`layers=None` in the `replace` call). Is the
#    layer its own run chose on CIFAR-10 also the best one on these images?
# 8. Fine-tune with 3 labelled crops per class (`labels_per_class=3` in `dataclasses.replace`)
#    from both starts. How does the fine-tuning gap compare with the one above, and with the
#    figure's gap at 25 labels per class?
