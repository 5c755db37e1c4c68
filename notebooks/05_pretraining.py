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
# # 5. Pretraining: watching the two halves learn
#
# **[Open this chapter in Colab](https://colab.research.google.com/github/splitbrain-book/splitbrain/blob/main/notebooks/05_pretraining.ipynb)**
#
# **Needs:** a GPU when there is one (the `colab` preset: STL-10 at 96 px, fetched only with
# `DOWNLOAD = True`, 2.5 GB; without it the embedded photographs stand in), else a CPU.

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

prose("**Time:** " + needs("05_pretraining"))

# %% [markdown]
# **You should see:** both halves' losses falling below the loss of a constant guess;
# held-out photographs coloured by the network after its first and its last epoch, each with its
# CIEDE2000 distance to the original (whether the last epoch's colours are closer on average
# differs from run to run at these budgets: the chapter says which it is in yours); and the
# lightness the other half predicts from colour alone.

# %% tags=["parameters"]
PRESET = "auto"
SEED = 0
DOWNLOAD = False  # True: fetch the preset's dataset (colab, paper: STL-10, 2.5 GB) into the shared cache folder
RUN_DIR = "runs/05_pretraining"  # the run's checkpoint and metrics (chapter 6 reuses them)
HELDOUT_IMAGES = {"smoke": 40, "cpu": 200, "colab": 500, "paper": 500}  # held-out images scored
SHOW_IMAGES = 6  # images in the figures
BATCHNORM_IMAGES = 256  # training crops that refresh BatchNorm's statistics before evaluation
TEMPERATURE = 0.38  # annealed-mean temperature of Zhang et al. 2016

# %% tags=["hide-input"]
# %matplotlib inline
import copy
import dataclasses
import math
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F

from splitbrain.data import STANDARD_SPLITS, build_dataset
from splitbrain.notebook import chapter_setup, glue, prose
from splitbrain.plots.training import plot_loss_curves, plot_prediction_grid
from splitbrain.predict import (
    colorize, predict_lightness, pretext_cross_entropy, prior_cross_entropy, refresh_batchnorm)
from splitbrain.checkpoint import model_from_checkpoint, read_metrics
from splitbrain.presets import get_preset
from splitbrain.quantize import delta_e_2000, downsample, quantization_error
from splitbrain.models import build_model, build_targets_for
from splitbrain.train import SplitBrainObjective, build_pretrain_dataset, forward_backward, pretrain

ctx = chapter_setup(PRESET, seed=SEED, download=DOWNLOAD)
print(f"preset: {ctx.preset}, device: {ctx.device}")

# %% [markdown]
# ## What one run does
#
# Chapters 2 to 4 built the pieces: colour spaces, quantized targets and the two half
# networks. `splitbrain.train.pretrain(config)` puts them together. Every step takes a batch
# of RGB crops, converts it to Lab on the training device, gives L to half 1 and ab to half 2,
# and adds up two per-pixel cross-entropies: half 1's ab classes against the true ab of the
# target grid, and half 2's L classes against the true L {cite:p}`zhang2017splitbrain`. Adam
# follows, and after every epoch the learning rate is multiplied by `lr_decay`.
#
# The whole run is described by one configuration, a preset of `splitbrain.presets`. The
# chapter uses the preset it was started with, on the device it found:

# %%
config = get_preset(ctx.preset, **ctx.data, out=RUN_DIR, seed=SEED, device=str(ctx.device), progress=False)
targets = build_targets_for(config)
shown_fields = ["method", "arch", "width", "color_space", "data", "image_size", "grid", "bins1",
                "bins2", "train_length", "epochs", "batch_size", "lr", "lr_decay", "device", "amp"]
half1_name, half2_name = ("".join(targets.space.channel_names[i] for i in group) for group in targets.space.groups)
for name in shown_fields:
    print(f"{name:>13}: {getattr(config, name)}")

# %% tags=["remove-input"]
glue("epochs", config.epochs)
glue("train_length", config.train_length)
glue("grid", config.grid)
glue("image_size", config.image_size)
prose(r"""
Each epoch shows the network {train_length} crops of {image_size} x
{image_size} pixels (with the `smoke` and `cpu` presets, random crops of the book's embedded photographs;
with `colab`, STL-10's unlabelled images), and every prediction is a
{grid} x {grid} map of class scores.
""")

# %% [markdown]
# ## One step, written out
#
# Everything `pretrain` does per batch fits in a few lines. Here is one step by hand, on one
# batch of training crops and a freshly initialised pair, then the package's own step
# (`splitbrain.train.forward_backward` with the `SplitBrainObjective`) on a copy of the same
# pair and the same batch. The two must give the same loss and the same gradients.

# %%
pair = build_model(config, targets).to(ctx.device).train()
package_pair = copy.deepcopy(pair)
step_set = build_pretrain_dataset(config)
rgb = torch.stack([step_set[i][0] for i in range(config.batch_size)]).to(ctx.device)  # (N, 3, S, S) uint8

# 1. prepare: RGB -> Lab; the halves' inputs at full size, the targets as classes on the grid
batch = targets.prepare(rgb)  # x1 (N, 1, S, S) L; x2 (N, 2, S, S) ab; t1, t2 (N, g, g) class indices
# 2. both halves: each scores, in every grid cell, the classes of the channels it does not see
logits_ab = pair.half1(batch.x1)  # (N, K_ab, g, g): from L, the ab classes
logits_l = pair.half2(batch.x2)  # (N, K_L, g, g): from ab, the L classes
# 3. both cross-entropies, each a mean over images and cells, added up
loss_ab = F.cross_entropy(logits_ab, batch.t2)
loss_l = F.cross_entropy(logits_l, batch.t1)
loss = loss_ab + loss_l
# 4. backward: gradients for both halves at once (Adam's update would follow)
loss.backward()

package_loss, _ = forward_backward(package_pair, SplitBrainObjective(targets), rgb, amp_dtype=None,
                                   scaler=torch.amp.GradScaler(enabled=False))
gradient_gap = max((mine.grad - theirs.grad).abs().max().item()
                   for mine, theirs in zip(pair.parameters(), package_pair.parameters()))
print(f"by hand: {half1_name}->{half2_name} {loss_ab.item():.4f} + {half2_name}->{half1_name} {loss_l.item():.4f} "
      f"= {loss.item():.4f}; package: {package_loss.item():.4f}; largest gradient difference {gradient_gap:.1e}")
assert torch.allclose(loss.detach(), package_loss) and gradient_gap < 1e-5

# %% tags=["remove-input"]
glue("step_loss", loss.item())
glue("step_classes_ab", logits_ab.shape[1])
glue("step_classes_l", logits_l.shape[1])
glue("uniform_loss", math.log(logits_ab.shape[1]) + math.log(logits_l.shape[1]),
     seen="loss of a uniform guess, both halves, nats")
prose(r"""
At initialisation both halves guess: {step_loss:.2f} nats in all, against
{uniform_loss:.2f} ($\ln {step_classes_ab} + \ln {step_classes_l}$) for a uniform guess over the
{step_classes_ab} ab and {step_classes_l} L classes. The training loop repeats this step
with Adam after every backward pass and a learning-rate decay after every epoch.
""")

# %% [markdown]
# ## Training, in two stages
#
# `pretrain` writes `checkpoint.pt` after every epoch, replacing the previous one, and appends
# to `metrics.jsonl`. To look at the network after its first epoch as well as at the end, we
# run it in two stages: one epoch, a copy of that checkpoint, then `pretrain(config,
# resume=True)` for the rest. Resuming is exact: the data order and the random streams depend
# only on the seed and the epoch, so on a CPU the two stages end with the very weights of one
# uninterrupted run (`splitbrain.train`'s documentation explains how). The first stage reports
# "epoch 1/1" because it is asked for one epoch.

# %%
run_dir = Path(RUN_DIR)
if run_dir.exists():
    shutil.rmtree(run_dir)  # a fresh run every time the chapter is executed
first = pretrain(dataclasses.replace(config, epochs=1))
epoch1_checkpoint = run_dir / "epoch1.pt"
shutil.copyfile(first.checkpoint, epoch1_checkpoint)
result = pretrain(config, resume=True)
history = result.history
print(f"{result.epochs} epochs, {result.steps} steps in {first.wall_time_s + result.wall_time_s:.0f} s; "
      f"checkpoints: {epoch1_checkpoint}, {result.checkpoint}")

# %% tags=["remove-input"]
glue("train_seconds", first.wall_time_s + result.wall_time_s, seen="pretraining time, s")
glue("images_per_s", (config.batch_size * result.steps) / max(first.wall_time_s + result.wall_time_s, 1e-9))
prose(r"""
This run, on this machine, took {train_seconds:.0f} s, about
{images_per_s:.0f} images per second including the start-up; the times at the top of the
chapter are the book builds' recorded runs, on their machines, so yours differ by your machine
and its load. On a GPU, an epoch of the `colab` preset is STL-10's 100,000 unlabelled images
divided by the training rate that `python -m benchmarks.bench` (from a clone of the repository)
prints for your GPU (its section 3, with mixed precision and channels_last). No GPU has run
this chapter for the book yet: the GPU time at the top is an estimate from counted FLOPs, not a
measurement.
""")

# %% [markdown]
# ## Held-out crops, and BatchNorm's running statistics
#
# Everything below is measured on crops the network never trained on: for the embedded
# photographs, the held-out third of every photograph (chapter 1); for STL-10, its test images.
#
# One detail first. In training mode BatchNorm normalises each layer with the mean and variance
# of the current batch, and keeps running averages of them for evaluation mode (updated with
# momentum 0.1, starting from mean 0 and variance 1). After a short run those averages still
# partly remember their starting values and lag behind the weights, so the network in
# evaluation mode is not quite the network that was trained. Before evaluating, we therefore
# recompute them from a few hundred training crops under the final weights
# (`splitbrain.predict.refresh_batchnorm`, known as "precise BatchNorm"); the weights do not
# change.

# %%
evaluate = STANDARD_SPLITS[config.data].evaluate
heldout_set = build_dataset(config.data, root=config.data_root, split=evaluate, image_size=config.image_size,
                            augment=False, download=config.download, length=ctx.at_most(HELDOUT_IMAGES[ctx.preset]),
                            seed=config.split_seed)
heldout = torch.stack([heldout_set[i][0] for i in range(len(heldout_set))])  # (N, 3, S, S) uint8
pretrain_set = build_pretrain_dataset(config)
refresh_images = torch.stack([pretrain_set[i][0] for i in range(min(BATCHNORM_IMAGES, len(pretrain_set)))])
print(f"{len(heldout)} held-out crops ({config.data}, split {evaluate!r}); "
      f"{len(refresh_images)} training crops refresh BatchNorm")

last_label = f"epoch {result.epochs}"
stale_model, _ = model_from_checkpoint(result.checkpoint, device=ctx.device)
stale_loss = pretext_cross_entropy(stale_model, targets, heldout)
models = {}
for label, path in (("epoch 1", epoch1_checkpoint), (last_label, result.checkpoint)):
    model, _ = model_from_checkpoint(path, device=ctx.device)
    models[label] = refresh_batchnorm(model, targets, refresh_images, batch_size=config.batch_size)
heldout_loss = {label: pretext_cross_entropy(model, targets, heldout) for label, model in models.items()}
print(f"held-out loss after {result.steps} steps, {half1_name} -> {half2_name} / {half2_name} -> {half1_name}:")
print(f"  stored running statistics:    {stale_loss['loss1']:.3f} / {stale_loss['loss2']:.3f}")
print(f"  refreshed running statistics: {heldout_loss[last_label]['loss1']:.3f} / "
      f"{heldout_loss[last_label]['loss2']:.3f}")

# %% tags=["remove-input"]
glue("batchnorm_images", len(refresh_images))
glue("stale_loss1", stale_loss["loss1"])
glue("stale_loss2", stale_loss["loss2"])
glue("steps", result.steps)
glue("fresh_loss1", heldout_loss[last_label]["loss1"], seen="held-out loss, half 1 (L to ab), after training")
glue("fresh_loss2", heldout_loss[last_label]["loss2"], seen="held-out loss, half 2 (ab to L), after training")
prose(r"""
With the statistics stored after {steps} steps, the held-out losses of the two
halves are {stale_loss1:.2f} and {stale_loss2:.2f} nats; with
statistics refreshed from {batchnorm_images} crops they are
{fresh_loss1:.2f} and {fresh_loss2:.2f}. After a long run
the two agree closely; after a few dozen steps (the `smoke` preset) the stored ones can be
far off.
""")

# %% [markdown]
# ## The loss of each half
#
# `metrics.jsonl` holds a line every few steps and a line per epoch
# (`splitbrain.train.read_metrics`). The dashed line in each panel is the loss of the best
# *constant* prediction: always predicting the class frequencies of the targets, which is
# what a half that ignored its input would learn (`splitbrain.predict.prior_cross_entropy`,
# measured on the held-out crops). How far a curve drops below its dashed line is what the
# half has learned from its input. The crosses are the loss on held-out crops after the first
# and the last epoch.

# %% mystnb={"figure": {"caption": "Pretraining loss of each half against training step: every few steps, the epoch means, the held-out loss after the first and the last epoch (crosses), and the loss of the best constant prediction (dashed). See how far each half's held-out loss ends below its dashed line, the part it learned from its input.", "name": "fig-ch5-loss"}, "image": {"alt": "Two line charts, one above the other, one per half (L to ab in blue, ab to L in orange), of cross-entropy in nats per grid cell against training step, with grey vertical lines at epoch ends. Each shows a thin line of losses every few steps, a thick line of epoch means, a dashed horizontal line for the constant prediction, and two crosses for the held-out loss after the first and the last epoch."}}
floors = prior_cross_entropy(targets, heldout)
heldout_points = {f"held out, {label}": {**losses, "step": first.steps * int(label.split()[-1])}
                  for label, losses in heldout_loss.items()}
records = read_metrics(result.metrics_path)
print(f"{'':>22} {half1_name + ' -> ' + half2_name:>10} {half2_name + ' -> ' + half1_name:>10}")
print(f"{'constant prediction':>22} {floors['loss1']:10.3f} {floors['loss2']:10.3f}")
for label, losses in heldout_loss.items():
    print(f"{'held out, ' + label:>22} {losses['loss1']:10.3f} {losses['loss2']:10.3f}")
plot_loss_curves(records, part_names={"loss1": f"{half1_name} -> {half2_name}",
                                      "loss2": f"{half2_name} -> {half1_name}"},
                 floors=floors, heldout=heldout_points)

# %% tags=["remove-input"]
for key in ("loss1", "loss2"):
    glue(f"train_{key}_first", history[0][key])
    glue(f"train_{key}_last", history[-1][key])
    glue(f"floor_{key}", floors[key])
    glue(f"heldout_{key}_first", heldout_loss["epoch 1"][key])
    glue(f"heldout_{key}_last", heldout_loss[last_label][key])
    glue(f"gain_{key}", floors[key] - heldout_loss[last_label][key])
    glue(f"trend_{key}", "fell" if heldout_loss[last_label][key] < heldout_loss["epoch 1"][key] else "did not fall")
prose(r"""
The training losses fall fast in the first epoch and slowly after it: from
{train_loss1_first:.2f} to {train_loss1_last:.2f} nats (epoch means)
for L to ab and from {train_loss2_first:.2f} to {train_loss2_last:.2f}
for ab to L. On held-out crops the L to ab half ends {gain_loss1:.2f} nats below
its constant-prediction level of {floor_loss1:.2f}, and the ab to L half
{gain_loss2:.2f} below its level of {floor_loss2:.2f}. The two floors
differ a lot: the ab classes cluster near grey (chapter 2), so a constant guess already does
well, while the 100 lightness classes are spread far more evenly. Between the first and the
last epoch the held-out loss {trend_loss1} for L to ab
({heldout_loss1_first:.2f} to {heldout_loss1_last:.2f}) and
{trend_loss2} for ab to L ({heldout_loss2_first:.2f} to
{heldout_loss2_last:.2f}). The small presets see crops of only ten photographs, so
their held-out numbers are noisy and the gap between training and held-out loss is large;
with more data (the `colab` preset) both shrink.
""")

# %% [markdown]
# ## Colourisations: L to ab
#
# Half 1's output is a distribution over ab classes for each grid cell. To look at it as an
# image, `splitbrain.predict.colorize` decodes each cell with the annealed mean of Zhang et al.
# ($T = 0.38$, chapter 2) {cite:p}`zhang2016colorful`, upsamples the ab map bilinearly to the
# full image and puts it on the image's own L, then converts to RGB. Two references frame the
# result: the grey image (ab = 0), and the *quantized target*, the true classes decoded to
# their bin centres (upsampled the same way), which is the best a perfect classifier of these
# bins could show. Under each image: its CIEDE2000 difference to the original
# {cite:p}`sharma2005ciede2000`.

# %% mystnb={"figure": {"caption": "Held-out crops coloured by half 1 after the first and the last epoch, between the original, the grey image and the quantized target (the best these bins allow); under each image its CIEDE2000 difference to the original. Compare the colourised rows with the grey row: where the network is unsure it stays near grey, and a wrong hue costs more than a pale one.", "name": "fig-ch5-colourised"}, "image": {"alt": "A grid of small photo crops, one crop per column and five rows: the originals, their grey versions, the crops coloured by the network after the first epoch and after the last epoch, and the quantized targets, each image labelled below with its colour difference to the original."}}
space = targets.space
lightness, colour = space.split(space.from_rgb(heldout))
grey = space.to_rgb(space.merge(lightness, torch.zeros_like(colour)))
oracle = quantization_error(heldout, targets.quantizer2, grid=config.grid, space=space, upsample="bilinear")
coloured = {label: colorize(model, targets, heldout, temperature=TEMPERATURE) for label, model in models.items()}
errors = {"grey (ab = 0)": delta_e_2000(heldout, grey)}
errors.update({f"colourised, {label}": delta_e_2000(heldout, image) for label, image in coloured.items()})
errors["quantized target"] = oracle.delta_e
for label, values in errors.items():
    print(f"{label:>24}: mean CIEDE2000 {float(values.mean()):6.2f}")

# The first crops (for the embedded photographs, one from each photograph).
order = list(range(min(SHOW_IMAGES, len(heldout))))
rows = {"original": heldout[order], "grey (ab = 0)": grey[order]}
rows.update({f"colourised, {label}": image[order] for label, image in coloured.items()})
rows["quantized target"] = oracle.reconstruction[order]
captions = {"original": [""] * len(order)}
captions.update({label: [f"ΔE {float(values[i]):.1f}" for i in order] for label, values in errors.items()})
plot_prediction_grid(rows, captions=captions, max_images=SHOW_IMAGES,
                     title="held-out crops coloured by half 1 (annealed mean, T = 0.38)")

# %% tags=["remove-input"]
glue("delta_e_grey", float(errors["grey (ab = 0)"].mean()))
glue("delta_e_first", float(errors["colourised, epoch 1"].mean()), seen="CIEDE2000 of colourisations after epoch 1")
glue("delta_e_last", float(errors[f"colourised, {last_label}"].mean()),
     seen="CIEDE2000 of colourisations after the last epoch")
glue("delta_e_oracle", float(oracle.mean))
improved = errors[f"colourised, {last_label}"] < errors["colourised, epoch 1"]
glue("improved_percent", 100 * float(improved.double().mean()), seen="held-out crops coloured better at the end, %")
glue("delta_e_verdict", "better" if errors[f"colourised, {last_label}"].mean() < errors["colourised, epoch 1"].mean()
     else "not better")
prose(r"""
Over all held-out crops the mean CIEDE2000 is {delta_e_first:.1f} after epoch 1
and {delta_e_last:.1f} after the last epoch (on average {delta_e_verdict}
at the end), and
{improved_percent:.0f}% of the crops are closer to their original at the end.
For comparison, leaving them grey costs {delta_e_grey:.1f}, and even a perfect
prediction of the classes would cost {delta_e_oracle:.1f} (the bins and the
{grid} x {grid} grid are coarse). Look crop by crop: a wrong hue
costs far more than a pale one, so a network that is unsure does best to stay close to grey,
and a crop that is nearly grey to begin with is best left grey. Where a colourisation goes
wrong, it often paints a crop in the colour of another photograph with a similar texture:
half 1 recognises *what* it is looking at from L alone, and the colour follows. Keep in mind
that the network is not trained to colour images: it is trained to classify ab, and the
colourisation is a window into what its features have picked up.
""")

# %% [markdown]
# ## Lightness from colour: ab to L
#
# Half 2 does the reverse: from ab alone it predicts the L class of every grid cell.
# `splitbrain.predict.predict_lightness` decodes its scores (again with the annealed mean) to
# L\* values on the grid. The top row shows what half 2 sees: the colours at a constant
# lightness, L\* = 50. Below, the true L\* averaged over each cell, then the predictions after
# the first and the last epoch, all drawn on the same grey scale from L\* = 0 (black) to 100
# (white).

# %% mystnb={"figure": {"caption": "Held-out crops' lightness predicted by half 2 from colour alone: the input (a\\*b\\* at one constant lightness), the true L\\* averaged over each grid cell, and the predictions after the first and the last epoch, all on one grey scale; under each prediction its mean absolute error. See how much less structure the predicted lightness maps have than the true ones.", "name": "fig-ch5-lightness"}, "image": {"alt": "A grid of small images, one crop per column and four rows: the crops' colours at a single lightness, blocky grey maps of the true lightness on the target grid, and two rows of blocky grey maps of predicted lightness, smoother and flatter than the true ones, each labelled with its mean absolute error."}}
half_grey = space.to_rgb(space.merge(torch.full_like(lightness, 50.0), colour))
true_l = downsample(lightness, config.grid)
predicted_l = {label: predict_lightness(model, targets, heldout, temperature=TEMPERATURE)
               for label, model in models.items()}
l_errors = {label: (values - true_l).abs().mean(dim=(1, 2, 3)) for label, values in predicted_l.items()}
mean_l_error = {label: float(values.mean()) for label, values in l_errors.items()}
for label, value in mean_l_error.items():
    print(f"predicted L*, {label}: mean absolute error {value:.2f}")
l_rows = {"input: ab at L* = 50": half_grey[order], f"true L*, {config.grid}x{config.grid}": true_l[order]}
l_rows.update({f"predicted L*, {label}": values[order] for label, values in predicted_l.items()})
l_captions = {f"predicted L*, {label}": [f"|ΔL*| {float(values[i]):.1f}" for i in order]
              for label, values in l_errors.items()}
plot_prediction_grid(l_rows, captions=l_captions, max_images=SHOW_IMAGES,
                     title="held-out crops: lightness predicted by half 2 from ab")

# %% tags=["remove-input"]
glue("l_error_first", mean_l_error["epoch 1"])
glue("l_error_last", mean_l_error[last_label])
glue("l_error_verdict", "better" if mean_l_error[last_label] < mean_l_error["epoch 1"] else "not better")
glue("l_error_constant", float((true_l - true_l.mean()).abs().mean()))
prose(r"""
The mean absolute error of the predicted L\* is {l_error_first:.1f} after epoch 1
and {l_error_last:.1f} after the last epoch ({l_error_verdict} at the
end; predicting the average lightness everywhere would be off by
{l_error_constant:.1f}). Where the colour input has structure (an edge between
two hues), the predicted lightness map can pick it up. Colour says less about lightness than
lightness says about colour: saturated colours exist only in a band of lightness, and bright
skies or dark shadows have typical hues, but a grey region could be any L\*. The paper saw
the same asymmetry in features: trained alone, an ab to L network learns clearly weaker
representations than an L to ab network {{cite:p}}`zhang2017splitbrain`. Chapter 6 measures
the features of the pair.
""")

# %% [markdown]
# ## Exercises
#
# 1. Decode the last epoch's colourisations with `mode="mean"` and `mode="centre"` as well,
#    and compare their mean CIEDE2000 with the annealed mean's. Which rule does this network
#    prefer, and does the answer change after epoch 1?
# 2. Train for twice as many epochs (`get_preset(..., epochs=2 * config.epochs)`) and plot
#    both halves' held-out loss after every epoch (copy the checkpoint each time, as above).
#    When does the held-out loss stop falling while the training loss keeps going?
# 3. Pretrain with `color_space="rescaled_lab"` (the poster's bins, chapter 3). The
#    colourisations then use each image's own ab range (`Batch.ranges2`). Are they closer to
#    the originals? Is the comparison fair?
# 4. `loss="rebalanced"` weights rare ab classes up (Zhang et al. 2016). Pretrain with it and
#    compare the colourisations: more saturated? Closer in CIEDE2000?
# 5. The dashed lines are the entropy of the class frequencies. Compute them for the training
#    crops instead of the held-out ones. Why do they differ, and which one should the training
#    curve be compared with?
