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
# # 2. Quantization: from colours to classes
#
# **[Open this chapter in Colab](https://colab.research.google.com/github/splitbrain-book/splitbrain/blob/main/notebooks/02_quantization.ipynb)**
#
# **Needs:** a CPU is enough (no training here; `cpu` gathers more crops for the statistics than
# `smoke`).

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

prose("**Time:** " + needs("02_quantization"))

# %% [markdown]
# **You should see:** three sets of colour bins on the ab plane (the poster's uniform 10 x 10
# grid, the 313 in-gamut bins of Zhang et al., and the 309 this package derives from the sRGB
# gamut); how few of them real photographs use; a small table of what quantizing costs in
# CIEDE2000; the poster's figure "original / downsampled 12x12 / reconstruction"; and a worked
# example of the per-pixel cross-entropy loss and of three ways to turn a predicted
# distribution back into a colour.

# %% tags=["parameters"]
PRESET = "auto"
SEED = 0
IMAGE_SIZE = 96  # side of the photo crops, as in the poster
GRID = 12  # side of the target grid
CROPS = {"smoke": 40, "cpu": 400, "colab": 1000, "paper": 1000}  # crops for the class statistics
ERROR_CROPS = {"smoke": 8, "cpu": 60, "colab": 200, "paper": 200}  # crops for the CIEDE2000 table
SHOW_IMAGES = 5  # crops shown in the figures
CUBE_LEVELS = 64  # sRGB cube samples per channel when testing which classes can occur
COLOUR_LIGHTNESS = 65.0  # L* at which bin centres are drawn
TEMPERATURE = 0.38  # annealed-mean temperature of Zhang et al. 2016

# %% tags=["hide-input"]
# %matplotlib inline
import torch
import torch.nn.functional as F

from splitbrain.color import get_color_space
from splitbrain.data import build_dataset
from splitbrain.notebook import chapter_setup, glue, prose
from splitbrain.color import srgb_cube_samples
from splitbrain.plots.quantize import (
    plot_bin_centres,
    plot_class_occupancy,
    plot_image_table,
    plot_prediction_decoding,
)
from splitbrain.quantize import entropy_bits, example_logits
from splitbrain.quantize import (
    GamutQuantizer,
    class_distribution,
    delta_e_2000,
    downsample,
    downsample_targets,
    poster_quantizers,
    quantization_error,
)

ctx = chapter_setup(PRESET, seed=SEED)
print(f"preset: {ctx.preset}, device: {ctx.device}")

# %% [markdown]
# ## Why classes instead of colours?
#
# Half of a split-brain network looks at the lightness L\* of an image and must say what its
# colour a\*b\* is. The obvious loss, the squared error between predicted and true ab, has a
# known flaw: when several colours are plausible (a shirt may be red or blue), the prediction
# that minimises it is their *average*, a dull grey-brown. Zhang et al. therefore cut the ab
# plane into bins and turned colorization into classification: predict a probability for every
# bin and train with cross-entropy {cite:p}`zhang2016colorful`. The split-brain paper does the
# same in both directions, ab bins for the L to ab half and L bins for the ab to L half, and
# found this classification loss better than regression for the learned features
# {cite:p}`zhang2017splitbrain`.
#
# Predictions are not made for every pixel either. The target is the other channel group
# area-averaged down to a coarse 12 x 12 grid, then quantized; the network's output is a
# 12 x 12 map of class scores. This chapter is about that quantization step.
#
# ## The poster's uniform bins
#
# The poster (and its code) uses plain uniform bins {cite:p}`iyengar2019poster`:
#
# - L\*: 100 bins over [0, 101];
# - a\* and b\*: 10 bins each, a\* over [-87, 99] and b\* over [-108, 95], combined into
#   100 joint classes, class = 10 x (a\* bin) + (b\* bin).
#
# `poster_quantizers("lab")` (in `splitbrain.quantize`) builds exactly these two quantizers.

# %%
lab_space = get_color_space("lab")
quantizer_l, quantizer_ab = poster_quantizers("lab")
width_l = float(quantizer_l.bin_widths()[0])
width_a, width_b = (float(w) for w in quantizer_ab.bin_widths())
print(quantizer_l)
print(quantizer_ab)
print(f"bin widths: L* {width_l:.2f}, a* {width_a:.2f}, b* {width_b:.2f}")

# Which of the 100 ab classes can an sRGB colour fall into at all?
cube = srgb_cube_samples(CUBE_LEVELS)  # (M, 3) in [0, 1]
cube_lab = lab_space.from_rgb(cube.T.reshape(1, 3, -1, 1))  # (1, 3, M, 1)
cube_classes = quantizer_ab.encode(cube_lab[:, 1:])
reachable_classes = torch.zeros(quantizer_ab.num_classes, dtype=torch.bool)
reachable_classes[cube_classes.unique()] = True
print(f"{int(reachable_classes.sum())} of {quantizer_ab.num_classes} ab classes hold at least one of "
      f"{len(cube)} sampled sRGB colours")

# %% tags=["remove-input"]
glue("bin_width_l", width_l)
glue("bin_width_a", width_a)
glue("bin_width_b", width_b)
glue("poster_reachable_classes", int(reachable_classes.sum()), seen="poster's ab classes sRGB can reach (of 100)")
prose(r"""
An L\* bin is {bin_width_l:.2f} units wide; an ab cell is
{bin_width_a:.1f} by {bin_width_b:.1f} units, so one class spans colours
that look clearly different. And, as chapter 1 showed, the box is mostly outside the sRGB
gamut: only {poster_reachable_classes} of the 100 classes can hold any screen
colour at all (tested on a grid of sampled sRGB colours); the others are classes a network
must learn never to predict.
""")

# %% [markdown]
# The split-brain paper used a different choice on both sides {cite:p}`zhang2017splitbrain`:
# L\* in 50 bins of width 2, and for ab a grid of spacing 10 restricted to the bins that are in
# gamut, 313 of them, taken from the colorization paper {cite:p}`zhang2016colorful`.
#
# ## Zhang et al.'s 313 gamut bins, and a grid derived here
#
# The 313 bins are published as a list of grid points; the package ships that file
# (`GamutQuantizer.published()`). The exact test that selected them is not documented, so the
# package also derives a grid of its own from the sRGB gamut (`GamutQuantizer.derived()`): it
# converts all $2^{24}$ 8-bit sRGB colours and keeps every grid point that is a corner of a 10 x 10
# cell containing at least one of them. A `GamutQuantizer` assigns each colour to its nearest
# grid point.

# %% mystnb={"figure": {"caption": "Bin centres of the three ab bin sets, each drawn in its colour: the poster's uniform 10 x 10 grid (hollow circles: classes no sRGB colour falls into), Zhang et al.'s published gamut bins and the gamut bins derived here. See the poster's grid fill the whole box while the gamut grids follow the sRGB hexagon.", "name": "fig-ch2-bin-centres"}, "image": {"alt": "Three a*-b* scatter plots of coloured dots inside the same dashed box. Left: a regular 10 by 10 grid of dots covering the whole box, with hollow circles along the lower left and upper right where no screen colour exists. Middle and right: denser grids of dots that fill only a skewed hexagon, nearly identical to each other."}}
published = GamutQuantizer.published()
derived = GamutQuantizer.derived()
published_points = {tuple(p) for p in published.centres().round().long().tolist()}
derived_points = {tuple(p) for p in derived.centres().round().long().tolist()}
extra = sorted(published_points - derived_points)
print(f"published: {published.num_classes} bins, derived: {derived.num_classes} bins, "
      f"shared: {len(derived_points & published_points)}; only in the published set: {extra}")
plot_bin_centres(
    {"poster 10 x 10": quantizer_ab.centres(), "Zhang et al. (published)": published.centres(),
     "derived here": derived.centres()},
    lightness=COLOUR_LIGHTNESS,
    reachable={"poster 10 x 10": reachable_classes},
)

# %% tags=["remove-input"]
glue("published_bins", published.num_classes)
glue("derived_bins", derived.num_classes, seen="in-gamut ab bins the package derives")
glue("derived_in_published", len(derived_points & published_points))
prose(r"""
Each dot is a bin centre, drawn in its colour at L\* = 65 (colours that do not exist at that
lightness are clipped, so the edges look alike). The poster's grid covers the whole dashed
box, hollow circles marking classes no sRGB colour falls into. The two gamut grids follow the
skewed hexagon of chapter 1 instead: all {derived_in_published} of the derived
points are among the {published_bins} published ones, and the published set has a
few extra points at the rim.
""")

# %% [markdown]
# ## Which classes real photographs use
#
# Now the classes of real targets: crops of the book's offline photographs
# (`splitbrain.data`, the "embedded" dataset), their ab channels averaged to the 12 x 12 grid
# and quantized with each bin set.

# %% mystnb={"figure": {"caption": "How often the photographs' targets fall in each ab class, for the three bin sets: the area of each dot is the class's share of target cells. See a few large dots near grey and a long tail of empty classes.", "name": "fig-ch2-occupancy"}, "image": {"alt": "Three a*-b* scatter plots, one per bin set, with dots whose area grows with the class's share; in each, one large grey dot at the centre and a handful of medium orange and blue dots near it, while most bin positions are tiny light-grey points."}}
num_crops = ctx.at_most(CROPS[ctx.preset])
dataset = build_dataset("embedded", split="train", image_size=IMAGE_SIZE, augment=False, length=num_crops)
crops = torch.stack([dataset[i][0] for i in range(len(dataset))])  # (N, 3, S, S) uint8
_, crops_ab = lab_space.split(lab_space.from_rgb(crops))
print(f"{len(crops)} crops of {IMAGE_SIZE} x {IMAGE_SIZE} pixels from {dataset.num_classes} photographs")

bin_sets = {"poster 10 x 10": quantizer_ab, "Zhang et al. (published)": published, "derived here": derived}
occupancy = {}
print(f"{'bin set':>26} {'classes':>8} {'used':>6} {'entropy (bits)':>15} {'top-10 share':>13}")
for key, (name, quantizer) in zip(("poster", "published", "derived"), bin_sets.items()):
    classes, _ = downsample_targets(crops_ab, quantizer, grid=GRID)
    distribution = class_distribution(classes, quantizer.num_classes)
    occupancy[name] = (quantizer.centres(), distribution)
    used, entropy = int((distribution > 0).sum()), entropy_bits(distribution)
    top10 = float(distribution.sort(descending=True).values[:10].sum())
    print(f"{name:>26} {quantizer.num_classes:8d} {used:6d} {entropy:15.2f} {100 * top10:12.1f}%")
plot_class_occupancy(occupancy, lightness=COLOUR_LIGHTNESS)

# %% tags=["remove-input"]
for key, (_, distribution) in zip(("poster", "published", "derived"), occupancy.values()):
    glue(f"used_{key}", int((distribution > 0).sum()))
    glue(f"entropy_{key}", entropy_bits(distribution))
    glue(f"top10_percent_{key}", 100 * float(distribution.sort(descending=True).values[:10].sum()))
prose(r"""
The area of each dot is the share of target cells in that class. Natural images are mostly
unsaturated: with the poster's bins these crops use only {used_poster} of the
100 classes, and the ten most common hold {top10_percent_poster:.0f}% of all
cells; the entropy of the class distribution is {entropy_poster:.2f} bits, against
$\log_2 100 \approx 6.64$ for a uniform spread. The finer gamut grids use more classes
({used_published} of the published ones) but are just as concentrated near
grey. This imbalance is why Zhang et al. re-weighted rare classes in the colorization loss
{{cite:p}}`zhang2016colorful` (`splitbrain.quantize.rebalancing_weights`); the split-brain paper
trained without re-weighting {{cite:p}}`zhang2017splitbrain`, and so does this book by default.
Chapter 3 shows the poster's own answer to it.
""")

# %% [markdown]
# ## What quantization costs
#
# How far is a quantized image from the original? We keep L\*, replace each pixel's ab by its
# bin centre, convert back to RGB and measure the colour difference with CIEDE2000
# {cite:p}`sharma2005ciede2000`, averaged over pixels (`splitbrain.quantize.quantization_error`;
# a difference of about 1 is just noticeable). We do it twice: quantizing every pixel, and
# quantizing the 12 x 12 target (area-averaged first, which also blurs the colour).

# %%
error_crops = crops[:max(ctx.at_most(ERROR_CROPS[ctx.preset]), SHOW_IMAGES)]
print(f"mean CIEDE2000 over {len(error_crops)} crops (L* kept, ab quantized)\n")
print(f"{'bin set':>26} {'every pixel':>12} {f'{GRID}x{GRID} target':>14}")
pixel_errors, grid_errors = {}, {}
for key, (name, quantizer) in zip(("poster", "published", "derived"), bin_sets.items()):
    pixel_errors[key] = quantization_error(error_crops, quantizer, space="lab").mean
    grid_errors[key] = quantization_error(error_crops, quantizer, grid=GRID, space="lab")
    print(f"{name:>26} {pixel_errors[key]:12.2f} {grid_errors[key].mean:14.2f}")
downsampled_only = float(delta_e_2000(error_crops, grid_errors["poster"].downsampled).mean())
print(f"{'downsampling alone':>26} {'':>12} {downsampled_only:14.2f}")

# %% tags=["remove-input"]
for key in pixel_errors:
    glue(f"delta_e_pixel_{key}", pixel_errors[key])
    glue(f"delta_e_grid_{key}", grid_errors[key].mean)
glue("delta_e_downsample_only", downsampled_only, seen="CIEDE2000 of the 12 x 12 downsampling alone")
prose(r"""
Quantizing every pixel with the poster's coarse grid costs
{delta_e_pixel_poster:.1f} on average, against
{delta_e_pixel_published:.1f} with the 313 bins of spacing 10. On the 12 x 12
target the numbers rise to {delta_e_grid_poster:.1f} and
{delta_e_grid_published:.1f}; averaging the colour over a cell alone costs
{delta_e_downsample_only:.1f}. The derived grid scores
{delta_e_pixel_derived:.1f} and {delta_e_grid_derived:.1f}, as good as
the published one: the few rim points it lacks are hardly ever the nearest bin for a photo.
""")

# %% [markdown]
# ## The poster's figure: original, downsampled, reconstruction
#
# The poster shows what a target looks like as an image. Top: the crop. Middle: its ab
# averaged to 12 x 12 and put back on the full-resolution L\*. Bottom: the same, with the
# 12 x 12 ab replaced by the centres of their poster bins, which is the best a network
# predicting these classes can do.

# %% mystnb={"figure": {"caption": "The poster's figure: original crops (top), their colour averaged over each cell of the target grid (middle) and that colour replaced by the centres of the poster's bins (bottom), lightness kept. See the blocky colour shifts the coarse bins add.", "name": "fig-ch2-reconstruction"}, "image": {"alt": "A grid of photograph crops in three rows: the originals, the same crops with slightly blurred colour, and reconstructions whose colours are visibly shifted in blocky patches, for example a brown whisker crop turned pinkish."}}
poster_error = grid_errors["poster"]  # the poster's bins, computed above
plot_image_table({"original": error_crops, f"downsampled {GRID}x{GRID}": poster_error.downsampled,
                  "reconstruction": poster_error.reconstruction}, max_images=SHOW_IMAGES)

# %% [markdown]
# Downsampling changes little that the eye notices: we take detail from L\*, which stays sharp.
# Quantization is not: smooth skin tones, fur and skies become patches of one bin colour, and a
# light brown can turn pink when its bin centre lies on the other side of the cell.
#
# ## The loss: per-pixel cross-entropy
#
# For every cell $(h, w)$ of the 12 x 12 grid the network outputs a score ("logit")
# $z_{h,w,k}$ for every class $k$; the softmax turns the scores into probabilities
# $p_{h,w,k} = e^{z_{h,w,k}} / \sum_j e^{z_{h,w,j}}$. With the true class $y_{h,w}$ as a
# 1-hot target, the loss is the average negative log-probability of the true class:
#
# $$
# \mathcal{L} = -\frac{1}{HW} \sum_{h,w} \log p_{h,w,y_{h,w}} .
# $$
#
# A tiny example with a single cell. The true colour is a sky blue; the prediction hesitates
# between blue and yellow, putting about two thirds of its belief near blue.

# %%
centres = quantizer_ab.centres()  # (100, 2)
true_ab = torch.tensor([-5.0, -40.0])  # a sky blue
other_ab = torch.tensor([5.0, 60.0])  # a yellow
# belief spread around yellow: the stand-in predictor with all its mass near `other_ab`
yellow_belief = example_logits(other_ab.view(1, 2, 1, 1), centres, torch.ones(len(centres)),
                               sigma=12.0, prior_weight=0.0).exp()[0, :, 0, 0]
# 65% of the belief near the true blue, 35% near yellow: logits of shape (1, 100, 1, 1)
logits = example_logits(true_ab.view(1, 2, 1, 1), centres, yellow_belief, sigma=12.0, prior_weight=0.35)
target = quantizer_ab.encode(true_ab.view(1, 2, 1, 1))  # (1, 1, 1): the 1-hot target's class
loss = F.cross_entropy(logits, target)
probabilities = torch.softmax(logits, dim=1)[0, :, 0, 0]
by_hand = -torch.log(probabilities[target[0, 0, 0]])
print(f"target class {int(target)} (a* bin {int(target) // 10}, b* bin {int(target) % 10}), "
      f"p(target) = {float(probabilities[target[0, 0, 0]]):.3f}")
print(f"F.cross_entropy = {float(loss):.4f}, -log p(target) = {float(by_hand):.4f}")

# %% tags=["remove-input"]
glue("example_target_class", int(target))
glue("example_target_probability", float(probabilities[target[0, 0, 0]]))
glue("example_loss", float(loss), seen="worked example's cross-entropy, nats")
prose(r"""
The true colour falls in class {example_target_class}; the prediction gives that
class a probability of {example_target_probability:.2f}, so the loss is
$-\log$ {example_target_probability:.2f} = {example_loss:.2f}. Only the
true class's probability enters the loss: mass on the neighbouring blue bins is penalised
just like mass on yellow. (Zhang et al.'s colorization loss softened the target over the
five nearest bins {{cite:p}}`zhang2016colorful`; the split-brain paper kept 1-hot targets
{{cite:p}}`zhang2017splitbrain`.)
""")

# %% [markdown]
# ## From a distribution back to a colour
#
# To show a prediction as an image, each cell's distribution must become one ab value. There
# are three common rules (`quantizer.decode(logits, mode=...)`):
#
# - **centre**: the centre of the most probable class (the mode);
# - **mean**: the probability-weighted mean of all centres;
# - **annealed mean**: the mean of the distribution sharpened as $p^{1/T}$ (a softmax of
#   $z / T$), with $T = 0.38$ in Zhang et al. {cite:p}`zhang2016colorful`; $T \to 0$ gives the
#   mode and $T = 1$ the mean.

# %% mystnb={"figure": {"caption": "One predicted distribution over the 100 ab classes (left, the true class outlined in red) and the colour each decoding rule turns it into (right). See the mean land between the two modes, in grey, while the centre and the annealed mean stay near the true blue.", "name": "fig-ch2-decoding"}, "image": {"alt": "Left: a heat map of class probabilities on the a*-b* plane, with a dark cluster around the outlined target class below the origin and a fainter cluster above, and markers for the centre, mean and annealed-mean decodings. Right: three colour swatches, a clear blue for the centre, a grey for the mean and a greyish blue for the annealed mean."}}
decoded = {mode: quantizer_ab.decode(logits, mode=mode, temperature=TEMPERATURE)[0, :, 0, 0].tolist()
           for mode in ("centre", "mean", "annealed")}
for mode, (a, b) in decoded.items():
    print(f"{mode:>9}: a* = {a:6.1f}, b* = {b:6.1f}")
plot_prediction_decoding(probabilities, quantizer_ab, target_class=int(target), decoded=decoded)

# %% [markdown]
# The mean lands between the two modes, on a grey that was never a candidate: the very
# averaging problem that motivated classification. The centre commits to blue. The annealed
# mean is pulled far less towards yellow than the mean and stays clearly blue.
#
# The same comparison on whole crops. No network has been trained yet, so we build an
# illustrative stand-in (`splitbrain.quantize.example_logits`): for each target cell it
# puts half its belief on the bins around the true colour and half on the colours that are
# common in the whole set of crops, the way an unsure colorizer hedges towards brown and grey.

# %% mystnb={"figure": {"caption": "Crops coloured from a hedging predictor's distributions by each decoding rule, below the true colour of the target grid (top row). See the mean wash the colour out, the centre leave grey patches, and the annealed mean keep most of the colour.", "name": "fig-ch2-decoded-crops"}, "image": {"alt": "A grid of photograph crops in four rows: the true downsampled colour, the centre decoding with vivid but patchy colour and grey blocks, the mean decoding with washed-out brownish colour, and the annealed-mean decoding that looks closest to the top row."}}
shown = crops[:SHOW_IMAGES]
values = lab_space.from_rgb(shown)
lightness, _ = lab_space.split(values)
small = downsample(values, GRID)
prior = occupancy["poster 10 x 10"][1]
hedging_logits = example_logits(small[:, 1:], centres, prior, sigma=10.0, prior_weight=0.5)
target_image = lab_space.to_rgb(lab_space.merge(lightness, F.interpolate(small[:, 1:], size=IMAGE_SIZE)))
rows = {f"true {GRID}x{GRID} colour": target_image}
for mode in ("centre", "mean", "annealed"):
    ab = quantizer_ab.decode(hedging_logits, mode=mode, temperature=TEMPERATURE)
    rows[mode] = lab_space.to_rgb(lab_space.merge(lightness, F.interpolate(ab, size=IMAGE_SIZE)))
    difference = float(delta_e_2000(target_image, rows[mode]).mean())
    print(f"{mode:>9}: mean CIEDE2000 to the true {GRID}x{GRID} colour = {difference:.2f}")
plot_image_table(rows)

# %% tags=["remove-input"]
for mode in ("centre", "mean", "annealed"):
    glue(f"decode_delta_e_{mode}", float(delta_e_2000(target_image, rows[mode]).mean()))
prose(r"""
With this hedging predictor the mean drains the colour out of the crops (CIEDE2000
{decode_delta_e_mean:.1f} to the true colour). The centre keeps colours vivid
but is patchy: where the belief near the true colour is spread over several bins, the single
most common class, a grey, wins the argmax ({decode_delta_e_centre:.1f}). The
annealed mean combines the strengths of both ({decode_delta_e_annealed:.1f}). Decoding only matters for looking at
predictions, though: the split-brain network is trained on the classes, and what we keep
from it is its features.
""")

# %% [markdown]
# ## Exercises
#
# 1. The poster also tried 16 and 25 bins per ab channel. Build them with
#    `poster_quantizers("lab", bins2=16)` and repeat the occupancy and CIEDE2000 tables. How
#    many of the extra classes do the photos use?
# 2. Decode the hedging predictor with temperatures from 0.05 to 1 and plot the mean CIEDE2000
#    against $T$. Where is the minimum for this predictor, and why is it not at $T = 0$?
# 3. `GamutQuantizer.derived(rule="nearest")` keeps only the grid points some colour rounds to.
#    How many are there, and what does dropping the others cost in CIEDE2000?
# 4. The split-brain paper bins L\* into 50 bins of width 2 instead of 100 of width 1.01.
#    Quantize only L\* (a `UniformQuantizer([50], [0], [100])`) and measure the CIEDE2000 it
#    costs. Is the choice of L\* bins important for image quality?
# 5. Compute `rebalancing_weights(prior, centres)` for the poster's bins on these crops. Which
#    classes get the largest weights, and what would that do to a network's predictions?
