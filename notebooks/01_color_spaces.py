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
# # 1. Colour spaces: RGB and CIE Lab
#
# **[Open this chapter in Colab](https://colab.research.google.com/github/splitbrain-book/splitbrain/blob/main/notebooks/01_color_spaces.ipynb)**
#
# **Needs:** a CPU is enough (no training here).

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

prose("**Time:** " + needs("01_color_spaces"))

# %% [markdown]
# **You should see:** the sRGB cube as a tilted, twisted solid inside CIE Lab; slices of Lab at
# L\* = 25, 50 and 75 in which most of the poster's a/b box is grey (no screen colour lives
# there); the share of that box that real colours fill, slice by slice and overall; a photograph
# taken apart into R, G, B (three near-copies of one grey picture) and into L\*, a\*, b\* (a grey
# picture plus two colour maps); and correlation matrices in which the RGB channels move
# together far more than lightness and colour do.

# %% tags=["parameters"]
PRESET = "auto"
SEED = 0
CUBE_LEVELS = 17  # samples per channel of the sRGB cube, 17**3 colours in all
SLICE_LIGHTNESS = [25, 50, 75]  # L* of the ab slices
AB_STEP = 1.0  # sampling step of the ab plane, in Lab units
LIGHTNESS_STEP = {"smoke": 4.0, "cpu": 1.0, "colab": 0.5, "paper": 0.5}  # L* step, per preset
PIXEL_STRIDE = {"smoke": 4, "cpu": 1, "colab": 1, "paper": 1}  # use every n-th pixel for correlations
PHOTO = "astronaut"  # the photograph taken apart below (any name in splitbrain.data.EMBEDDED_PHOTOS)

# %% tags=["hide-input"]
# %matplotlib inline
import colour
import numpy as np
import torch

from splitbrain.color import get_color_space, rgb_to_lab
from splitbrain.data import EMBEDDED_PHOTOS, load_embedded_photos
from splitbrain.notebook import chapter_setup, glue, prose
from splitbrain.color import (
    POSTER_A_RANGE,
    POSTER_B_RANGE,
    channel_correlation,
    reachable_fractions,
    srgb_cube_samples,
)
from splitbrain.plots.color import (
    plot_ab_slices,
    plot_channel_split,
    plot_correlation_matrices,
    plot_reachable_fraction,
    plot_srgb_gamut,
)

ctx = chapter_setup(PRESET, seed=SEED)
print(f"preset: {ctx.preset}, device: {ctx.device}")

# %% [markdown]
# ## Why a chapter on colour?
#
# A split-brain autoencoder splits an image's channels into two groups and trains one half of a
# network to predict the second group from the first, and the other half to predict the first
# from the second {cite:p}`zhang2017splitbrain`. That task is only interesting if the two groups
# carry *different* information. If one group could be computed from the other with a simple
# formula, the networks would learn the formula and nothing about the world.
#
# The poster we follow therefore starts with this step: "represent the image in a colour space
# that separates luminosity and colour" {cite:p}`iyengar2019poster`. This chapter shows what
# that means, with the two colour spaces the book uses: **sRGB**, the red-green-blue numbers in
# every image file, and **CIE L\*a\*b\*** ("Lab"), in which one channel is lightness and two are
# colour.
#
# ## From RGB to CIE Lab
#
# An 8-bit sRGB pixel stores three numbers $R, G, B \in \{0, \dots, 255\}$. They are not
# proportional to light: the sRGB standard (IEC 61966-2-1) encodes them with a curve close to
# a power of $1/2.2$, so that the 256 levels are spread evenly for the eye. Going to Lab takes
# three steps, all in `splitbrain.color.rgb_to_lab`:
#
# 1. undo the encoding curve to get linear light $R_\ell, G_\ell, B_\ell \in [0, 1]$;
# 2. mix them with a fixed $3 \times 3$ matrix into the CIE XYZ tristimulus values (where $Y$ is
#    the luminance), and divide by the white point $(X_n, Y_n, Z_n)$ of daylight D65;
# 3. apply a cube-root-like function $f$ and take differences:
#
# $$
# \begin{aligned}
# L^* &= 116\, f(Y/Y_n) - 16, \\
# a^* &= 500\,\big[f(X/X_n) - f(Y/Y_n)\big], \\
# b^* &= 200\,\big[f(Y/Y_n) - f(Z/Z_n)\big],
# \end{aligned}
# $$
#
# with $f(t) = t^{1/3}$ for $t > (6/29)^3$ and a straight line below. $L^*$ runs from 0 (black)
# to 100 (white); $a^*$ goes from green (negative) to red-magenta (positive) and $b^*$ from blue
# (negative) to yellow (positive). Equal steps in Lab are meant to look roughly equally
# different, which is why colorization work measures and bins colour there
# {cite:p}`zhang2016colorful`.
#
# The package's conversion is plain PyTorch (batched, differentiable, on any device). Before we
# rely on it, we compare it with the colour-science library on a grid of sRGB colours.

# %%
cube = srgb_cube_samples(CUBE_LEVELS)  # (M, 3) float64 in [0, 1]
lab_package = rgb_to_lab(cube.T.reshape(3, 1, -1))[:, 0].T.numpy()  # (M, 3)
lab_reference = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(cube.numpy()))
largest_difference = float(np.abs(lab_package - lab_reference).max())

corners = {"black": (0, 0, 0), "white": (1, 1, 1), "red": (1, 0, 0), "green": (0, 1, 0),
           "blue": (0, 0, 1), "yellow": (1, 1, 0), "magenta": (1, 0, 1), "cyan": (0, 1, 1)}
corner_lab = rgb_to_lab(torch.tensor(list(corners.values()), dtype=torch.float64).T.reshape(3, 1, -1))[:, 0].T
print(f"{len(cube)} colours, largest |package - colour-science| = {largest_difference:.1e} Lab units\n")
print(f"{'colour':>8} {'L*':>7} {'a*':>7} {'b*':>7}")
for name, (lightness, a, b) in zip(corners, corner_lab.tolist()):
    print(f"{name:>8} {lightness:7.1f} {a:7.1f} {b:7.1f}")

# %% tags=["remove-input"]
glue("max_difference_colour_science", largest_difference, seen="largest difference from colour-science, Lab units")
prose(r"""
The two agree to {max_difference_colour_science:.0e} Lab units, far below anything
visible (a colour difference of about 1 is just noticeable). The table of the cube's corners
already shows the main facts of this chapter: white and black both sit at $a^* = b^* = 0$;
the extreme values of $a^*$ come from green and magenta, those of $b^*$ from blue and
yellow; and the corners do not share a lightness (pure blue is much darker than pure yellow).
""")

# %% [markdown]
# ## The sRGB gamut inside Lab
#
# Lab can describe every colour a person sees, but a screen can only show the colours inside
# its **gamut**: the image of the RGB cube. Below, each of the sampled sRGB colours is drawn at
# its Lab coordinates, in its own colour.

# %% mystnb={"figure": {"caption": "The sRGB cube inside CIE Lab, drawn in its own colours: in 3-D, from above (the a\\*b\\* plane, with the poster's a/b box dashed) and from the side. See the solid tilt and twist, and narrow to a point at black and at white.", "name": "fig-ch1-gamut"}, "image": {"alt": "Three scatter plots of sampled sRGB colours placed at their Lab coordinates: a 3-D view of a tilted, twisted solid; a top view in the a*-b* plane forming a skewed hexagon inside a dashed rectangle; and a side view of L* against a* that narrows towards L* = 0 and L* = 100."}}
plot_srgb_gamut(CUBE_LEVELS)

# %% [markdown]
# The cube becomes a tilted, twisted solid. Seen from above (the ab plane) it is a skewed
# hexagon; the dashed rectangle is the fixed box the poster bins a\* and b\* in,
# a\* in [-87, 99] and b\* in [-108, 95] {cite:p}`iyengar2019poster`, which just contains the
# extreme corners. Seen from the side it narrows to a point at black (L\* = 0) and at white
# (L\* = 100): very dark and very light colours cannot be saturated.
#
# ## Slices at constant lightness
#
# Fixing L\* and sweeping a\* and b\* gives a slice of Lab. Each ab value whose colour exists
# in sRGB is painted in that colour; the rest is grey. The test for "exists" is a round trip
# through the package's conversions: Lab to sRGB (which has to clip colours it cannot show)
# and back must return the same Lab value.

# %% mystnb={"figure": {"caption": "Slices of Lab at constant lightness: each a\\*b\\* value that exists in sRGB is painted in its colour, the rest is grey, and the poster's a/b box is dashed. See how little of the box each slice fills, and how the coloured region moves with lightness.", "name": "fig-ch1-slices"}, "image": {"alt": "Square panels, one per lightness, each a grey a*-b* plane with a dashed box; inside the box a coloured patch of reachable colours, dark and small at low lightness, largest in the middle panel, bright and shifted towards yellow-green at high lightness."}}
plot_ab_slices(SLICE_LIGHTNESS, step=AB_STEP)

# %% mystnb={"figure": {"caption": "Share of the poster's a/b box that sRGB colours fill, as a function of lightness L\\*, with the slices above marked. See the share stay well below half the box at every lightness and fall to nothing at black and white.", "name": "fig-ch1-reachable"}, "image": {"alt": "A filled curve of reachable share (percent) against L* from 0 to 100: it rises from zero, peaks near the middle of the lightness range and falls back to zero at white; red dots mark the lightnesses of the slices above, each labelled with its percentage."}}
slice_shares = reachable_fractions(SLICE_LIGHTNESS, POSTER_A_RANGE, POSTER_B_RANGE, AB_STEP)

lightness_step = LIGHTNESS_STEP[ctx.preset]
lightness_grid = torch.arange(lightness_step / 2, 100, lightness_step, dtype=torch.float64)
shares = reachable_fractions(lightness_grid.tolist(), POSTER_A_RANGE, POSTER_B_RANGE, AB_STEP)
overall = float(shares.mean())  # the slices tile L* in [0, 100]: their mean share is the volume share
print(f"reachable share of the a/b box: overall {100 * overall:.1f}%, "
      f"largest {100 * float(shares.max()):.1f}% at L* = {float(lightness_grid[shares.argmax()]):.1f}")
plot_reachable_fraction(lightness_grid, shares, highlight=SLICE_LIGHTNESS)

# %% tags=["remove-input"]
for lightness, share in zip(SLICE_LIGHTNESS, slice_shares.tolist()):
    glue(f"reachable_percent_L{lightness}", 100 * share)
glue("reachable_percent_overall", 100 * overall, seen="share of the a*b* box sRGB reaches, all L*, %")
glue("reachable_percent_best", 100 * float(shares.max()))
glue("reachable_best_lightness", float(lightness_grid[shares.argmax()]))
prose(r"""
At L\* = 25 only {reachable_percent_L25:.0f}% of the poster's a/b box holds a
screen colour, at L\* = 50 {reachable_percent_L50:.0f}% and at L\* = 75
{reachable_percent_L75:.0f}%. The slice is largest near
L\* = {reachable_best_lightness:.0f}, where it still fills only
{reachable_percent_best:.0f}% of the box, and over all lightnesses sRGB fills
{reachable_percent_overall:.1f}% of the box's volume.
""")

# %% [markdown]
# Keep this picture in mind for the next two chapters. The poster cuts the box into a uniform
# 10 x 10 grid of colour classes; a large part of that grid can never be the answer, and the
# part that can changes with lightness. Zhang et al. avoided the empty part by keeping only the
# 313 grid cells that are in gamut {cite:p}`zhang2016colorful`; the poster instead stretched the
# grid over each image's own colours {cite:p}`iyengar2019poster`. Chapters 2 and 3 compare the
# two.
#
# ## Luminance and colour, taken apart
#
# Here is one photograph in both spaces. The top row shows R, G and B each as a grey image; the
# bottom row shows L\* as a grey image, a\* and b\* drawn in the colours they stand for, and
# the colour alone: the photograph's a\* and b\* with L\* set to one value everywhere.

# %% mystnb={"figure": {"caption": "One photograph taken apart: the top row shows R, G and B as grey images, the bottom row L\\* as a grey image, a\\* and b\\* in the colours they stand for, and the colour alone at one lightness. See R, G and B repeat the same picture while a\\* and b\\* hold flat patches of colour.", "name": "fig-ch1-channels"}, "image": {"alt": "Two rows of four images of an astronaut in an orange suit. Top row: the colour photograph and its R, G and B channels as three nearly identical grey pictures. Bottom row: the L* channel as a grey picture, the a* channel as pink and grey, the b* channel as yellow and blue, and the a*b* colours alone on a uniform lightness."}}
photos = {name: torch.from_numpy(np.array(photo)).permute(2, 0, 1)
          for name, photo in zip(EMBEDDED_PHOTOS, load_embedded_photos())}
plot_channel_split(photos[PHOTO])

# %% [markdown]
# R, G and B are three versions of the same black-and-white picture: every edge, every shadow
# appears in all of them. In Lab, L\* alone is that picture, and a\* and b\* hold what is left:
# flat regions of colour with few edges (the orange suit, the blue badge, the flag). This is
# the split the split-brain network uses: one half sees L\* and predicts a\*b\* (colorization),
# the other sees a\*b\* and predicts L\* {cite:p}`zhang2017splitbrain`.
#
# ## How much the channels tell about each other
#
# We can put a number on "three versions of the same picture": the correlation between
# channels, over all pixels of a photograph. We use the ten photographs that ship with
# scikit-image and scikit-learn (the book's offline dataset, `splitbrain.data`) and average the
# size of the correlation, |r|, over them.

# %% mystnb={"figure": {"caption": "Average size of the correlation between channels, |r|, over the book's photographs: RGB channels (left) and Lab channels (right). See the dark off-diagonal cells for RGB against the much lighter ones between L\\* and a\\*, b\\*.", "name": "fig-ch1-correlations"}, "image": {"alt": "Two three-by-three heat maps of mean absolute correlation with the value written in each cell. Left, R, G and B: every off-diagonal cell is dark blue, high. Right, L*, a* and b*: the cells pairing L* with a* or b* are pale, low, and the a*-b* cell is medium."}}
lab_space, rgb_space = get_color_space("lab"), get_color_space("rgb")
rgb_correlations, lab_correlations = [], []
stride = PIXEL_STRIDE[ctx.preset]
for name, photo in photos.items():
    pixels = photo[:, ::stride, ::stride]
    rgb_correlations.append(channel_correlation(rgb_space.from_rgb(pixels)))
    lab_correlations.append(channel_correlation(lab_space.from_rgb(pixels)))
rgb_correlations, lab_correlations = torch.stack(rgb_correlations), torch.stack(lab_correlations)

mean_abs_rgb, mean_abs_lab = rgb_correlations.abs().mean(0), lab_correlations.abs().mean(0)

print(f"{'photograph':>22}   r(R,G)  r(R,B)  r(G,B)   r(L,a)  r(L,b)  r(a,b)")
for name, rgb_r, lab_r in zip(photos, rgb_correlations, lab_correlations):
    print(f"{name:>22}   {rgb_r[0, 1]:+.2f}   {rgb_r[0, 2]:+.2f}   {rgb_r[1, 2]:+.2f}"
          f"    {lab_r[0, 1]:+.2f}   {lab_r[0, 2]:+.2f}   {lab_r[1, 2]:+.2f}")
plot_correlation_matrices(
    {f"RGB: mean |r| over {len(photos)} photos": mean_abs_rgb,
     f"Lab: mean |r| over {len(photos)} photos": mean_abs_lab},
    channel_names={f"Lab: mean |r| over {len(photos)} photos": ("L*", "a*", "b*")},
    absolute=True,
)

# %% tags=["remove-input"]
glue("corr_rgb_pairs", float((mean_abs_rgb[0, 1] + mean_abs_rgb[0, 2] + mean_abs_rgb[1, 2]) / 3),
     seen="mean abs. correlation between R, G, B")
glue("corr_lab_lightness_colour", float((mean_abs_lab[0, 1] + mean_abs_lab[0, 2]) / 2),
     seen="mean abs. correlation of L* with a*, b*")
glue("corr_lab_a_b", float(mean_abs_lab[1, 2]))
prose(r"""
Between two RGB channels the correlation has an average size of
{corr_rgb_pairs:.2f}: knowing R, a straight line already predicts most of G and B.
Between lightness and colour it is {corr_lab_lightness_colour:.2f} on average, so
L\* says much less about a\*b\* and the prediction has to come from what is in the picture
(grass is green, sky is blue, skin has a narrow range of hues). Lab does not make the
channels independent, and the table shows where it fails: in the retina image, brighter
regions are also more saturated, and in the stained tissue (immunohistochemistry) darker
means more brown. a\* and b\* themselves are correlated as well
({corr_lab_a_b:.2f} on average), which does no harm: they are in the same group
and are predicted together, as one joint class.
""")

# %% [markdown]
# The poster also trained an RGB split (R predicts G and B, and back) as a baseline
# {cite:p}`iyengar2019poster`. The numbers above suggest why it should be the easier, and so
# less instructive, task; chapter 3 compares what the three colour spaces' targets look like.

# %% [markdown]
# ## Exercises
#
# 1. Set `SLICE_LIGHTNESS = [5, 50, 95]` and run the slices again. Why do the slices near black
#    and white shrink towards a\* = b\* = 0? Which colours survive at L\* = 95?
# 2. Use `srgb_cube_samples` and `rgb_to_lab` to find the most saturated sRGB colour, the one
#    with the largest chroma $\sqrt{a^{*2} + b^{*2}}$. What is it, and at what lightness?
# 3. The poster's box is a\* in [-87, 99], b\* in [-108, 95]. Compute the smallest box that
#    contains every sRGB colour (the minima and maxima over a fine cube grid) and compare. Which
#    cube corners set each edge?
# 4. Repeat the correlation study in another space that separates brightness and colour, e.g.
#    YCbCr (`skimage.color.rgb2ycbcr`) or HSV (`skimage.color.rgb2hsv`). Which one decouples
#    lightness from colour best on these photographs?
# 5. Take a photograph, set its a\* and b\* to zero, and separately set its L\* to 50 everywhere;
#    convert both back with `get_color_space("lab").to_rgb`. Which of the two is easier to
#    recognise, and what does that tell you about which half of a split-brain network has the
#    harder job?
