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
# # 7. The denoising-autoencoder baseline
#
# **[Open this chapter in Colab](https://colab.research.google.com/github/splitbrain-book/splitbrain/blob/main/notebooks/07_denoising_baseline.ipynb)**
#
# **Needs:** a CPU is enough with `smoke` and `cpu`; with `colab`, a GPU, and `DOWNLOAD = True`
# fetches STL-10 first (2.5 GB). Three autoencoders are pretrained, chapter 5's split-brain pair
# is reused when chapter 5 ran before it in the same folder with the same preset (otherwise,
# and always on a fresh Colab runtime, it is pretrained again), and six networks are probed.

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

prose("**Time:** " + needs("07_denoising_baseline", repeats_chapter_5=True))

# %% [markdown]
# **You should see:** one crop under masking, salt-and-pepper and Gaussian noise at four
# levels; a table showing that a full-width autoencoder's features are exactly as wide as a
# half-width split-brain pair's; the training loss of one denoising autoencoder per noise type;
# what each of them makes of corrupted held-out crops; and the linear probe of chapter 6 on
# their features, next to chapter 5's split-brain pair and the same encoder left at its random
# initialisation.

# %% tags=["parameters"]
PRESET = "auto"
SEED = 0
DOWNLOAD = False  # True: fetch the preset's dataset (colab, paper: STL-10, 2.5 GB) into the shared cache folder
NOISES = ["masking", "salt_pepper", "gaussian"]
# The level each autoencoder is trained with: pixel fraction (masking, salt-and-pepper) or
# standard deviation in the normalised [-1, 1] units (Gaussian).
NOISE_LEVELS = {"masking": 0.25, "salt_pepper": 0.05, "gaussian": 0.1}
FIGURE_LEVELS = [0.05, 0.1, 0.25, 0.5]  # levels shown in the corruption figure
COLOR_SPACE = "rgb"  # the poster's DAE baseline works on RGB
# Per preset, overrides of the pretraining preset for every autoencoder. The full-width
# autoencoder with its decoder costs several times the FLOPs per image of chapter 5's
# half-width split-brain pair, so under `cpu` each one sees fewer crops than the pair, for
# about the pair's compute; `colab` keeps a short run, far below its pair's compute; `smoke` is
# a seconds-long check. The chapter counts both computes and prints their ratio.
PRETRAIN = {
    "smoke": {"epochs": 1, "max_steps_per_epoch": 2, "batch_size": 16, "image_size": 16, "grid": 4},
    "cpu": {"epochs": 5, "max_steps_per_epoch": 10, "batch_size": 64},
    "colab": {"epochs": 1, "max_steps_per_epoch": 200},
    "paper": {},
}
CHAPTER5_RUN = "runs/05_pretraining"  # chapter 5's split-brain run, reused when it matches this preset
# Per preset, overrides of the evaluation preset (labelled crops for the probe, probe epochs).
PROBE = {
    "smoke": {"max_train_images": 100, "max_test_images": 50, "probe_epochs": 3, "image_size": 16,
              "layers": ("conv1", "conv3", "conv5")},
    "cpu": {"max_train_images": 600, "max_test_images": 300},
    "colab": {},
    "paper": {},
}
# Per preset, training crops that refresh BatchNorm's statistics (as in chapters 5 and 6).
BATCHNORM_IMAGES = {"smoke": 32, "cpu": 256, "colab": 512, "paper": 512}
SHOW_IMAGES = 6  # held-out crops in the reconstruction figure
PHOTO_INDEX = 2  # which embedded photograph the corruption figure uses (0 to 9)

# %% tags=["hide-input"]
# %matplotlib inline
import shutil
from pathlib import Path

import torch

from splitbrain.architecture import width_rows
from splitbrain.checkpoint import model_from_checkpoint, read_metrics
from splitbrain.comparisons import binomial_standard_error, floor_rows, floor_sentence
from splitbrain.data import EMBEDDED_PHOTOS, EmbeddedPhotos
from splitbrain.evaluate import build_eval_datasets, linear_probe
from splitbrain.flops import pretext_flops_per_image, pretrain_images
from splitbrain.networks import load_network
from splitbrain.models import NOISE_NAMES, DenoisingAutoencoder, SplitBrainNet, count_parameters, level_label
from splitbrain.notebook import chapter_setup, glue, prose
from splitbrain.plots.denoising import plot_corruptions, plot_loss_curves, plot_probe_by_layer, plot_reconstructions
from splitbrain.predict import matching_checkpoint, reconstruction_examples, refresh_batchnorm, refresh_dae_batchnorm
from splitbrain.presets import get_eval_preset, get_preset
from splitbrain.results import ARCH_LABELS, SPACE_LABELS
from splitbrain.tables import Table
from splitbrain.models import build_targets_for
from splitbrain.train import build_pretrain_dataset, pretrain

ctx = chapter_setup(PRESET, seed=SEED, download=DOWNLOAD)
print(f"preset: {ctx.preset}, device: {ctx.device}")

# The chapter's own fields first, then ctx's (its data choice, and a capped test run's counts).
configs = {
    noise: get_preset(ctx.preset, **{**PRETRAIN[ctx.preset], **ctx.data}, method="dae", width="full",
                      color_space=COLOR_SPACE, noise=noise, noise_level=NOISE_LEVELS[noise], seed=SEED,
                      out=f"runs/07_denoising/{noise}", log_every=1, progress=False, verbose=False)
    for noise in NOISES
}
eval_config = get_eval_preset(ctx.preset, **{**PROBE[ctx.preset], **ctx.eval_data}, seed=SEED, progress=False,
                              verbose=False)
# Chapter 5's split-brain pair at the autoencoders' image size: the network they are the baseline for.
split_config = get_preset(ctx.preset, **ctx.data, seed=SEED, out="runs/07_denoising/splitbrain", device=str(ctx.device),
                          progress=False, verbose=False,
                          **{key: value for key, value in PRETRAIN[ctx.preset].items() if key in ("image_size", "grid")})
labels = {noise: f"{NOISE_NAMES[noise]}, {level_label(noise, NOISE_LEVELS[noise])}" for noise in NOISES}
first = configs[NOISES[0]]
print(f"each autoencoder: {ARCH_LABELS[first.arch]}, width {first.width!r}, {SPACE_LABELS[first.color_space]}, "
      f"{first.image_size} px crops of {first.data!r}, {first.epochs} epoch(s), batch {first.batch_size}")

# %% [markdown]
# ## Why a denoising autoencoder is the baseline
#
# An autoencoder learns a representation by squeezing an image through a network and
# rebuilding it on the other side {cite:p}`hinton2006reducing`. A network that can simply copy
# its input has nothing to learn, so a *denoising* autoencoder is given a corrupted copy and
# asked for the clean image {cite:p}`vincent2008extracting`: to undo the damage it must know
# what images usually look like, and the hope is that this knowledge sits in its features.
# Stacked and convolutional versions followed {cite:p}`vincent2010stacked,masci2011stacked`,
# and inpainting large holes {cite:p}`pathak2016context` is the same idea with a bigger hole.
#
# Split-brain autoencoders share the recipe and change two things
# {cite:p}`zhang2017splitbrain`. The handicap is not random damage spread over all channels but
# whole channel groups withheld (half 1 never sees colour, half 2 never sees lightness), and
# the output is a classification of coarse cells instead of a regression of every pixel. Both
# changes are claimed to matter, so the poster compared its split-brain networks with a
# denoising autoencoder trained on the same images {cite:p}`iyengar2019poster`. Its reported
# baseline used salt-and-pepper noise on 5% of the pixels in RGB and reached 6.53% top-1 after
# fine-tuning, against 14.04% for its best split-brain network; the poster lists masking and
# Gaussian noise as the other corruptions it considered.
#
# The package's `DenoisingAutoencoder` is one trunk (the same SimpleNet, FC-AlexNet or
# FC-ResNet18 as a split-brain half) on all three channels, a small decoder that upsamples back
# to the input size, and a mean-squared-error loss against the clean, normalised image.
#
# ## Three corruptions
#
# `splitbrain.models.corrupt(x, noise, level)` works on normalised images (roughly [-1, 1]
# per channel) and leaves its input untouched:
#
# - **masking**: each pixel, all channels together, is set to 0, the middle of the range, with
#   probability $p$;
# - **salt-and-pepper**: each pixel is set, with probability $p$, to the minimum or the maximum
#   value by a fair coin, as in {cite:t}`vincent2010stacked`: black or white in RGB;
# - **Gaussian**: every value gets independent noise of standard deviation $\sigma$ added.
#
# The figure applies each of them to one crop at a few levels, in the space the autoencoders
# of this chapter train in.

# %% mystnb={"figure": {"caption": "One held-out crop under each noise type (rows: masking, salt-and-pepper, Gaussian) at increasing levels (columns), in the space the autoencoders train in. See that masking and salt-and-pepper leave most pixels exact, while Gaussian noise changes every one.", "name": "fig-ch7-corruptions"}, "image": {"alt": "A grid of small pixelated crops of the same image, three rows and several columns. Masking row: more and more pixels replaced by grey. Salt-and-pepper row: more and more pixels set to black or white. Gaussian row: every pixel increasingly speckled with random colours until the picture is lost."}}
photos = EmbeddedPhotos("test", image_size=first.image_size, augment=False, length=10)
crop, _ = photos[PHOTO_INDEX]  # uint8 (3, S, S), a held-out crop
print(f"photograph: {EMBEDDED_PHOTOS[PHOTO_INDEX]}, crop {tuple(crop.shape)} {crop.dtype}")
fig = plot_corruptions(crop, NOISES, FIGURE_LEVELS, space=COLOR_SPACE, seed=SEED)
fig

# %% tags=["remove-input"]
glue("dae_crop_px", first.image_size)
prose(r"""
The crop has the training size, {dae_crop_px} px, so every square is one of the pixels
the network sees. Note what is easy and what is not. Masking and salt-and-pepper damage few pixels and leave the
rest exact: a network can find the outliers and fill them in from their neighbours. Gaussian
noise touches every value a little; at small $\sigma$ the image is hardly changed, at large
$\sigma$ fine texture drowns. None of them hides a whole channel group, as the split-brain
task does.
""")

# %% [markdown]
# ## An autoencoder as wide as the split-brain pair
#
# A fair baseline has a representation of the same size. A split-brain pair of half-width
# halves (`width="half"`, the paper's choice) concatenates two trunks of half the channels, so
# its layers are exactly as wide as one standard network. That is why the autoencoder is built
# with `width="full"`: one standard-width trunk. (The `colab` preset's pair has full-width halves;
# the table then shows what that changes.) The table compares them layer by layer at this
# preset's input size (channels: both halves together for the pair; parameters: the layer's
# convolution and BatchNorm weights).

# %%
dae_model = DenoisingAutoencoder(first.arch, width="full", input_size=first.image_size, grid=first.grid)
split_pair = SplitBrainNet(split_config.arch, in_channels=(1, 2), width=split_config.width, grid=split_config.grid,
                           input_size=split_config.image_size)
widths = width_rows(dae_model, split_pair, first.image_size)
same_width = all(row["dae_channels"] == row["pair_channels"] for row in widths)
encoder_params = count_parameters(dae_model.encoder)
pair_trunk_params = count_parameters(split_pair.half1.trunk) + count_parameters(split_pair.half2.trunk)
Table(widths, ["layer", "dae_channels", "pair_channels", "dae_params", "pair_params", "params_ratio"],
      {"dae_channels": "C, DAE encoder", "pair_channels": "C, split pair (both halves)",
       "dae_params": "parameters, DAE", "pair_params": "parameters, pair", "params_ratio": "ratio"},
      caption=f"{ARCH_LABELS[first.arch]}: DAE encoder (width {first.width!r}) vs split-brain pair (width {split_config.width!r}), "
              f"{first.image_size} px")

# %% tags=["remove-input"]
glue("dae_same_width", "the same at every layer, so a linear probe sees features of the same dimension from both"
     if same_width else "not the same: each layer of this preset's pair (halves of width "
     f"{split_config.width!r}) is {widths[0]['pair_channels'] / widths[0]['dae_channels']:g} times as wide as the "
     "autoencoder's, so its probe reads wider features and the comparison favours the pair")
glue("dae_encoder_params_millions", encoder_params / 1e6)
glue("pair_trunk_params_millions", pair_trunk_params / 1e6)
glue("dae_params_ratio", encoder_params / pair_trunk_params)
glue("dae_decoder_params_millions", count_parameters(dae_model.decoder) / 1e6)
glue("dae_bigger", "The baseline is, if anything, the bigger network." if encoder_params >= pair_trunk_params
     else "Here the pair is the bigger network.")
prose(r"""
The channel counts are {dae_same_width}. The weights differ: the encoder has
{dae_encoder_params_millions:.2f} million parameters, the pair's two trunks
{pair_trunk_params_millions:.2f} million, a ratio of
{dae_params_ratio:.2f}. Each half of the pair only reads its own half of the
previous layer's channels (chapter 4), so it has about half the connections of a full layer.
The autoencoder's decoder adds another {dae_decoder_params_millions:.2f} million
parameters that the probe never uses. {dae_bigger}
""")

# %% [markdown]
# ## Pretraining one autoencoder per noise type
#
# `splitbrain.train.pretrain` runs the same loop as for split-brain networks with
# `method="dae"`: each batch of crops is normalised, corrupted by the model's own noise, and the
# reconstruction is compared with the clean batch. The crops come from the pretraining part of
# the dataset; the probe below is scored on held-out crops.

# %% mystnb={"figure": {"caption": "Reconstruction loss of the three denoising autoencoders during pretraining, one line per noise type, on a log scale. See whether each loss is still falling when training stops.", "name": "fig-ch7-loss"}, "image": {"alt": "A line chart of reconstruction mean squared error, log scale, against training step, with one line each for the masking, salt-and-pepper and Gaussian autoencoders."}}
runs = {}
shutil.rmtree("runs/07_denoising", ignore_errors=True)  # this chapter's own runs: fresh ones each time
for noise in NOISES:
    runs[noise] = pretrain(configs[noise])
    print(f"{labels[noise]:>26}: {runs[noise].steps} steps, final epoch's loss "
          f"{runs[noise].final_loss:.4f}, {runs[noise].wall_time_s:.1f} s")
images_seen = runs[NOISES[0]].steps * first.batch_size
histories = {labels[noise]: read_metrics(runs[noise].metrics_path) for noise in NOISES}
fig = plot_loss_curves(histories)
fig

# %% tags=["remove-input"]
glue("dae_images_seen", images_seen)
glue("dae_pretrain_seconds", sum(run.wall_time_s for run in runs.values()),
     seen="three autoencoders' pretraining time, s")
# Compute per autoencoder against the pair's: images seen x FLOPs of one image's forward and
# backward pass, counted on the meta device (splitbrain.flops); the ratio decides the wording.
dae_image_flops, pair_image_flops = pretext_flops_per_image(first), pretext_flops_per_image(split_config)
pair_images = pretrain_images(split_config)
compute_ratio = images_seen * dae_image_flops / (pair_images * pair_image_flops)
glue("dae_gflop", dae_image_flops / 1e9)
glue("dae_tflop", images_seen * dae_image_flops / 1e12)
glue("pair_images", pair_images)
glue("pair_gflop", pair_image_flops / 1e9)
glue("pair_tflop", pair_images * pair_image_flops / 1e12)
glue("compute_ratio", compute_ratio)
if 0.8 <= compute_ratio <= 1.25:
    verdict, match = "about the same compute", "trained with about the same compute"
elif compute_ratio < 1:
    verdict = f"so the comparison is not matched in compute: the pair trained with {1 / compute_ratio:.1f} times as much"
    match = f"trained with {1 / compute_ratio:.1f} times the compute of each autoencoder"
else:
    verdict = f"so the comparison is not matched in compute: each autoencoder trained with {compute_ratio:.1f} times as much"
    match = f"trained with {1 / compute_ratio:.2f} times the compute of each autoencoder"
glue("compute_verdict", verdict)
glue("compute_match", match)
prose(r"""
Each autoencoder saw {dae_images_seen} crops, and the three took
{dae_pretrain_seconds:.0f} s together. One crop's forward and backward pass costs the
autoencoder {dae_gflop:.2f} GFLOP and chapter 5's pair {pair_gflop:.2f} GFLOP (convolutions
and matrix products, counted by `splitbrain.flops`), so each autoencoder spent
{dae_tflop:.2f} TFLOP against the pair's {pair_tflop:.2f} TFLOP on its
{pair_images} crops: a ratio of {compute_ratio:.2f}, {compute_verdict}. The losses are not comparable across
noise types: they measure how far the output is from the clean image, and each noise makes
that task easier or harder in its own way. What each curve shows is only whether its network
is learning.
""")

# %%
pretrain_set = build_pretrain_dataset(first)
refresh_count = min(BATCHNORM_IMAGES[ctx.preset], len(pretrain_set))
refresh_images = torch.stack([pretrain_set[i][0] for i in range(refresh_count)])
for noise in NOISES:
    refresh_dae_batchnorm(runs[noise].model, refresh_images, space=COLOR_SPACE, batch_size=first.batch_size)
print(f"BatchNorm statistics recomputed on {len(refresh_images)} training crops")

# %% tags=["remove-input"]
glue("dae_batchnorm_images", len(refresh_images))
prose(r"""
One more step before the networks are used, the same as for the split-brain pairs of
chapters 5 and 6: BatchNorm's running statistics, which a few dozen training steps leave
close to their starting values, are recomputed on {dae_batchnorm_images} clean
training crops (`refresh_dae_batchnorm`, the autoencoder's counterpart of
`splitbrain.predict.refresh_batchnorm`). The weights do not change.
""")

# %% [markdown]
# ## What comes back
#
# Each autoencoder gets held-out crops corrupted by its own noise, at its training level. The
# mean squared error (MSE) of the corrupted input against the clean crop is what doing nothing
# would cost; a denoiser is useful when its output does better.

# %% mystnb={"figure": {"caption": "Held-out crops: clean (top), then for each autoencoder the corrupted input it gets and the output it gives back, with the mean squared error of both. Compare each output with the clean row and with its own input.", "name": "fig-ch7-reconstructions"}, "image": {"alt": "A grid of small crops, one crop per column: a row of clean crops, then for each of the three noise types a row of corrupted inputs and a row of the network's outputs, each pair of rows headed by the input's and the output's mean squared error."}}
train_set, test_set, num_classes = build_eval_datasets(eval_config)
held_out = torch.stack([test_set[i][0] for i in range(SHOW_IMAGES)])  # uint8 (N, 3, S, S)
examples = {labels[noise]: reconstruction_examples(runs[noise].model, held_out, space=COLOR_SPACE, seed=SEED)
            for noise in NOISES}
plot_reconstructions(examples, max_images=SHOW_IMAGES)

# %%
mse_rows = [{"noise": labels[noise], "mse_corrupted": examples[labels[noise]]["mse_corrupted"],
             "mse_reconstructed": examples[labels[noise]]["mse_reconstructed"],
             "better": examples[labels[noise]]["mse_reconstructed"] < examples[labels[noise]]["mse_corrupted"]}
            for noise in NOISES]
Table(mse_rows, ["noise", "mse_corrupted", "mse_reconstructed", "better"],
      {"mse_corrupted": "MSE, corrupted input", "mse_reconstructed": "MSE, reconstruction",
       "better": "output better than input"},
      caption=f"{SHOW_IMAGES} held-out crops, normalised {SPACE_LABELS[COLOR_SPACE]} units")

# %% tags=["remove-input"]
improved = [f"the {NOISE_NAMES[noise]} autoencoder" for noise, row in zip(NOISES, mse_rows) if row["better"]]
not_improved = [f"the {NOISE_NAMES[noise]} one" for noise, row in zip(NOISES, mse_rows) if not row["better"]]
if not not_improved:
    mse_sentence = "Every autoencoder's output is closer to the clean crops than its input was."
elif not improved:
    mse_sentence = ("No autoencoder's output is closer to the clean crops than its corrupted input: "
                    "with this little training, doing nothing would still be the better denoiser.")
else:
    mse_sentence = (f"Only {' and '.join(improved)} improve{'s' if len(improved) == 1 else ''} on "
                    f"the corrupted input; for {' and '.join(not_improved)}, doing nothing would be the "
                    "better denoiser.")
glue("dae_mse_sentence", mse_sentence)
prose(r"""
{dae_mse_sentence} A good reconstruction does not by itself mean good features,
though: the network may have learned to smooth over isolated outliers, which takes little
knowledge of what is in the picture. The probe asks that second question.
""")

# %% [markdown]
# ## The linear probe, against the random-init floor
#
# The probe is the one of chapter 6 (`splitbrain.evaluate.linear_probe`): the network is
# frozen, the features of every layer are average-pooled, standardised, and a linear classifier
# is trained on the labelled training crops and scored on held-out crops. Random convolutional
# features are a strong baseline on small images, so every number is read against the *floor*:
# the same encoder, at its random initialisation, with its BatchNorm statistics recomputed on
# the same training crops, through the same probe on the same crops.

# %% [markdown]
# Beside them, the network the autoencoders are the baseline for: chapter 5's split-brain pair
# (the same preset and seed; reused when chapter 5 ran in this folder, pretrained here
# otherwise), its BatchNorm statistics refreshed on the same crops, through the same probe, with
# its own floor: the pair at its random initialisation.

# %%
split_checkpoint = matching_checkpoint(Path(CHAPTER5_RUN) / "checkpoint.pt", split_config)
if split_checkpoint is None:
    shutil.rmtree(split_config.out, ignore_errors=True)  # this cell's own run folder: a fresh run each time
    split_checkpoint = pretrain(split_config).checkpoint
split_model, _ = model_from_checkpoint(split_checkpoint, device=ctx.device)
split_random, _ = load_network(split_config, random_init=True, seed=SEED)
for model in (split_model, split_random):
    refresh_batchnorm(model.to(ctx.device), build_targets_for(split_config), refresh_images,
                      batch_size=split_config.batch_size)
split_label = f"split-brain {SPACE_LABELS[split_config.color_space]} (chapter 5)"
split_floor_label = "random init (split-brain pair)"

# %%
probes = {labels[noise]: linear_probe(eval_config, model=runs[noise].model, pretrain_config=runs[noise].config,
                                      datasets=(train_set, test_set, num_classes))
          for noise in NOISES}
for label, model in ((split_label, split_model), (split_floor_label, split_random)):
    probes[label] = linear_probe(eval_config, model=model, pretrain_config=split_config,
                                 datasets=(train_set, test_set, num_classes))
floor_label = "random init (same encoder)"
random_dae, _ = load_network(first, random_init=True, seed=SEED)
refresh_dae_batchnorm(random_dae.to(ctx.device), refresh_images, space=COLOR_SPACE, batch_size=first.batch_size)
probes[floor_label] = linear_probe(eval_config, model=random_dae, pretrain_config=first,
                                   datasets=(train_set, test_set, num_classes))
floor = probes[floor_label].metrics["top1"]
test_images = probes[floor_label].metrics["test_images"]
band = 2 * binomial_standard_error(floor, test_images)
split_floor = probes[split_floor_label].metrics["top1"]
floors = {**{labels[noise]: floor for noise in NOISES}, split_label: split_floor}  # each network's own floor
table_rows = [{"network": label, "best_layer": result.metrics["best_layer"], "top1": result.metrics["top1"],
               "top5": result.metrics["top5"],
               "gap": 100 * (result.metrics["top1"] - floors[label]) if label in floors else None}
              for label, result in probes.items()]
Table(table_rows, ["network", "best_layer", "top1", "top5", "gap"],
      {"best_layer": "layer (validation)", "top1": "top-1 (%)", "top5": "top-5 (%)", "gap": "top-1 − floor (points)"},
      caption=f"Linear probe, {num_classes} classes, {test_images} held-out crops (each network's layer chosen on "
              f"validation crops)",
      formats={"top1": lambda value: f"{100 * value:.1f}", "top5": lambda value: f"{100 * value:.1f}", "gap": "+.1f"})

# %% mystnb={"figure": {"caption": "Linear-probe top-1 at every layer for the three autoencoders and chapter 5's split-brain pair, against their random-init floors (the encoder's floor dashed), with chance dotted. Read each network against its own floor, not against the others.", "name": "fig-ch7-probe"}, "image": {"alt": "A line chart of held-out top-1 in percent against layer, with one coloured line per autoencoder, one for the split-brain pair, one for the pair at random initialisation, a black dashed line for the encoder at random initialisation and a dotted chance line near the bottom."}}
fig = plot_probe_by_layer({label: {layer: s["top1"] for layer, s in result.metrics["layers"].items()}
                           for label, result in probes.items()},
                          chance=1 / num_classes, floor_label=floor_label)
fig

# %% tags=["remove-input"]
comparison = floor_rows({f"the {NOISE_NAMES[noise]} autoencoder": probes[labels[noise]].metrics["top1"]
                         for noise in NOISES}, floor, band=band)
glue("probe_floor_top1", 100 * floor, seen="random-init encoder's probe top-1, %")
glue("probe_test_images", test_images)
glue("probe_train_images", probes[floor_label].metrics["train_images"])
glue("probe_num_classes", num_classes)
glue("probe_band_points", 100 * band, seen="floor's band, points")
for noise in NOISES:
    glue(f"probe_top1_{noise}", 100 * probes[labels[noise]].metrics["top1"])
glue("probe_top1_splitbrain", 100 * probes[split_label].metrics["top1"], seen="split-brain pair's probe top-1, %")
glue("probe_split_floor_top1", 100 * split_floor)
glue("probe_floor_sentence", floor_sentence(comparison, band=band))
prose(r"""
With {probe_train_images} labelled training crops and {probe_test_images}
held-out ones in {probe_num_classes} classes, the random-init floor is
{probe_floor_top1:.1f}% top-1. The autoencoders reach
{probe_top1_masking:.1f}% (masking), {probe_top1_salt_pepper:.1f}%
(salt-and-pepper) and {probe_top1_gaussian:.1f}% (Gaussian).
{probe_floor_sentence} Chapter 5's split-brain pair, {compute_match}, reaches {probe_top1_splitbrain:.1f}% against
{probe_split_floor_top1:.1f}% for the same pair at random initialisation.

How much is noise? An accuracy measured on $n$ test images has a standard error of about
$\sqrt{{p(1-p)/n}}$; twice that at the floor is {probe_band_points:.1f} points here,
and differences inside that band are not evidence either way. One seed and a small budget say
little on their own: the experiment grids behind chapter 8 repeat this comparison with three
seeds and far more images, next to split-brain networks.
""")

# %% [markdown]
# Whatever the outcome on a given run, the comparison is the one that matters: a
# self-supervised method earns its place by how far it lifts the same network above its random
# initialisation, through the same probe. In the poster, the denoising autoencoder scored
# below every split-brain network but one {cite:p}`iyengar2019poster`; the poster did not
# measure a random-init floor.

# %% [markdown]
# ## Exercises
#
# 1. Set `NOISE_LEVELS["masking"] = 0.75` (most of each crop hidden, closer to inpainting) and
#    rerun. Does the probe move, and does the reconstruction error of the corrupted input grow
#    as you expect? For masking at rate $p$, derive the expected MSE of the corrupted input in
#    terms of the mean squared value of the clean normalised image, and check it against the
#    table.
# 2. Train the autoencoders in Lab (`COLOR_SPACE = "lab"`). Salt and pepper then set L\*, a\*
#    and b\* to their extremes together: what colours are those? Look at the corruption figure
#    first, then compare the probes.
# 3. Build the autoencoder with `width="half"` instead. How do the parameter table and the
#    random-init floor change? Which width is the fair comparison for a split-brain pair of
#    full-width halves, as in the poster's code?
# 4. The table reports each network at the layer its validation crops chose. Probe again and
#    pick each network's best layer on the held-out crops instead: which numbers rise, by how
#    much, and why can such a choice never lower a number?
# 5. Increase `PRETRAIN[...]["max_steps_per_epoch"]` for your preset step by step and plot
#    the best top-1 of the salt-and-pepper autoencoder against the number of crops seen. Does
#    it ever leave the floor's band?
