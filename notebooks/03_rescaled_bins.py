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
# # 3. Rescaled bins: the poster's contribution
#
# **[Open this chapter in Colab](https://colab.research.google.com/github/splitbrain-book/splitbrain/blob/main/notebooks/03_rescaled_bins.ipynb)**
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

prose("**Time:** " + needs("03_rescaled_bins"))

# %% [markdown]
# **You should see:** each photo crop's own small a\*b\* range inside the big fixed box; the
# poster's 10 x 10 class grid squeezed into that range; a tinted copy of a crop whose global
# classes all change while its rescaled classes stay exactly the same; histograms in which
# rescaled targets use many more classes per image, spread far more evenly; and the poster's
# comparison of reconstructions from 12 x 12 targets in RGB, Lab and rescaled Lab.

# %% tags=["parameters"]
PRESET = "auto"
SEED = 0
IMAGE_SIZE = 96  # side of the photo crops, as in the poster
GRID = 12  # side of the target grid
CROPS = {"smoke": 60, "cpu": 500, "colab": 1000, "paper": 1000}  # crops for the statistics
ERROR_CROPS = {"smoke": 8, "cpu": 60, "colab": 200, "paper": 200}  # crops for the CIEDE2000 table
SHOW_IMAGES = 5  # crops shown in the figures
DEMO_CROP = 2  # the crop used to show what rescaled classes mean
SHIFT_A = 15.0  # tint added to a* in the demonstration
SHIFT_B = -20.0  # tint added to b* in the demonstration
SATURATION = 1.5  # factor applied to a* and b* in the demonstration
COLOUR_LIGHTNESS = 65.0  # L* at which bin centres are drawn

# %% tags=["hide-input"]
# %matplotlib inline
import torch

from splitbrain.color import get_color_space
from splitbrain.data import build_dataset
from splitbrain.notebook import chapter_setup, glue, prose
from splitbrain.plots.quantize import (
    class_map_colours,
    plot_bin_centres,
    plot_class_histograms,
    plot_class_maps,
    plot_image_ranges,
    plot_image_table,
    plot_per_image_statistics,
)
from splitbrain.quantize import class_statistics
from splitbrain.quantize import class_distribution, downsample_targets, poster_quantizers, quantization_error
from splitbrain.targets import build_targets

ctx = chapter_setup(PRESET, seed=SEED)
print(f"preset: {ctx.preset}, device: {ctx.device}")

# %% [markdown]
# ## The idea
#
# Chapter 2 ended with a problem: with fixed bins, the colour targets of natural photographs
# crowd into a handful of near-grey classes. The poster puts it this way: naturally occurring
# colours lie in a small part of Lab, so quantizing the whole box is lossy. Its answer is to
# "rescale the quantization bins with every image so that the reconstruction task learns colour
# contrasts", adding: "we care about feature extraction, not image reconstruction"
# {cite:p}`iyengar2019poster`.
#
# Concretely (this is what the poster's code does): for each image, the a\* and b\* of its
# 12 x 12 target are each cut into 10 uniform bins between *that image's own* minimum and
# maximum (plus 1, so the maximum falls inside the last bin), and the two bin indices form one
# of 100 joint classes as before. L\* is binned as usual. In the package this is a
# `RescaledQuantizer`, and `poster_quantizers("rescaled_lab")` returns the pair.

# %%
lab_space = get_color_space("lab")
quantizer_l, fixed_ab = poster_quantizers("lab")
_, rescaled_ab = poster_quantizers("rescaled_lab")
print("L*:        ", quantizer_l)
print("fixed ab:  ", fixed_ab)
print("rescaled ab:", rescaled_ab)

num_crops = ctx.at_most(CROPS[ctx.preset])
dataset = build_dataset("embedded", split="train", image_size=IMAGE_SIZE, augment=False, length=num_crops)
crops = torch.stack([dataset[i][0] for i in range(len(dataset))])  # (N, 3, S, S) uint8
_, crops_ab = lab_space.split(lab_space.from_rgb(crops))
fixed_classes, _ = downsample_targets(crops_ab, fixed_ab, grid=GRID)
rescaled_classes, ranges = downsample_targets(crops_ab, rescaled_ab, grid=GRID)  # ranges: (N, 2, 2)
print(f"{len(crops)} crops; targets {tuple(rescaled_classes.shape)}, per-image ranges {tuple(ranges.shape)}")

# %% [markdown]
# ## Each image's own range
#
# `downsample_targets` returns, next to the classes, the range every image was binned in: the
# (low, high) of a\* and of b\* over its 12 x 12 target. Each blue rectangle below is one crop's
# range; the dashed box is the fixed range of the poster's global bins.

# %% mystnb={"figure": {"caption": "Each crop's own a\\*b\\* range against the poster's fixed box (left) and the share of the box's width each crop spans on each axis (right). See how small and clustered near grey the per-image boxes are.", "name": "fig-ch3-ranges"}, "image": {"alt": "Left: many thin blue rectangles, one per crop, overlapping near the origin of the a*-b* plane, all much smaller than a large dashed box. Right: two overlapping histograms, pink for a* and olive for b*, of the range's share of the box width in percent, piled up at low shares and empty over most of the axis."}}
(a_low, b_low), (a_high, b_high) = fixed_ab.low, fixed_ab.high
share_a = (ranges[:, 0, 1] - ranges[:, 0, 0]) / (a_high - a_low)
share_b = (ranges[:, 1, 1] - ranges[:, 1, 0]) / (b_high - b_low)
rescaled_widths = rescaled_ab.bin_widths(ranges)  # (N, 2) bin widths in ab units
print(f"median share of the fixed width: a* {100 * float(share_a.median()):.0f}%, b* {100 * float(share_b.median()):.0f}%")
print(f"median rescaled bin width: a* {float(rescaled_widths[:, 0].median()):.1f}, "
      f"b* {float(rescaled_widths[:, 1].median()):.1f} (fixed: {float(fixed_ab.bin_widths()[0]):.1f}, "
      f"{float(fixed_ab.bin_widths()[1]):.1f})")
plot_image_ranges(ranges, (a_low, a_high), (b_low, b_high))

# %% tags=["remove-input"]
glue("range_share_a", 100 * float(share_a.median()))
glue("range_share_b", 100 * float(share_b.median()))
glue("rescaled_bin_width_a", float(rescaled_widths[:, 0].median()))
glue("rescaled_bin_width_b", float(rescaled_widths[:, 1].median()))
glue("fixed_bin_width_a", float(fixed_ab.bin_widths()[0]))
glue("fixed_bin_width_b", float(fixed_ab.bin_widths()[1]))
prose(r"""
A typical crop spans only {range_share_a:.0f}% of the fixed a\* range and
{range_share_b:.0f}% of the b\* range (medians). Its rescaled bins are therefore
much finer: a median width of {rescaled_bin_width_a:.1f} by
{rescaled_bin_width_b:.1f} ab units, against {fixed_bin_width_a:.1f} by
{fixed_bin_width_b:.1f} for the global bins.
""")

# %% [markdown]
# ## What a rescaled class means
#
# With rescaled bins, a class no longer names a colour. Class 0 means "the lowest tenth of
# this image's a\* range and the lowest tenth of its b\* range", whatever those are. Below,
# the same 100 classes are drawn at their centres for the global bins and for two crops; each
# panel is zoomed to its own bins, so mind the axis scales.

# %% mystnb={"figure": {"caption": "Where the 100 bin centres sit: the global bins (left) and the rescaled bins of two crops (middle and right), each axis zoomed to its bins. See the rescaled grids squeeze all 100 classes into each crop's own narrow range.", "name": "fig-ch3-rescaled-centres"}, "image": {"alt": "Three scatter plots of coloured dots on the a*-b* plane. Left: a regular 10 by 10 grid spanning roughly -90 to 90 on both axes in many hues. Middle and right: 10 by 10 grids of dots in a single brownish or greyish tone packed into a small region a few units wide."}}
example = [DEMO_CROP, DEMO_CROP + 1]
rescaled_centres = rescaled_ab.centres(ranges[example])  # (2, 100, 2)
plot_bin_centres(
    {"global bins": fixed_ab.centres(),
     f"rescaled, crop {example[0]}": rescaled_centres[0],
     f"rescaled, crop {example[1]}": rescaled_centres[1]},
    lightness=COLOUR_LIGHTNESS, zoom=True,
)

# %% [markdown]
# The grid shrinks onto each image's colours, and its shape follows them: long and thin for a
# crop whose colours vary mostly along one axis. A network that predicts these classes is asked
# *where a region sits within the image's colour range* (redder than the rest? bluer?) rather
# than *which colour it has*. The classes encode colour **contrast**.
#
# A direct test: tint a crop by adding a constant to a\* and b\* (a colour cast, like a wrong
# white balance), and, separately, make it more saturated by scaling a\* and b\*. Then quantize
# all three versions with both bin sets. Each cell of a class map is drawn in its class's
# colour, the centre of its bin at one lightness; for the rescaled bins that centre depends on
# the image's own range, so the same class can show a different colour in another image.

# %% mystnb={"figure": {"caption": "One crop as it is, tinted and more saturated (rows), with its target drawn as global classes and as rescaled classes (columns). See the global classes change under a tint or more saturation while the rescaled classes hardly move.", "name": "fig-ch3-class-maps"}, "image": {"alt": "A three-by-three grid of images. First column: a photo crop in its original colours, tinted pink, and more saturated. Second column: blocky maps of global classes whose patches change colour and shape from row to row. Third column: maps of rescaled classes that keep the same pattern in every row, with the number of cells that differ written above the changed rows."}}
original = lab_space.from_rgb(crops[DEMO_CROP:DEMO_CROP + 1]).double()  # (1, 3, S, S) Lab
lightness, ab = lab_space.split(original)
shift = torch.tensor([SHIFT_A, SHIFT_B], dtype=torch.float64).view(1, 2, 1, 1)
versions = torch.cat([original, lab_space.merge(lightness, ab + shift), lab_space.merge(lightness, ab * SATURATION)])
_, versions_ab = lab_space.split(versions)
version_fixed, _ = downsample_targets(versions_ab, fixed_ab, grid=GRID)
version_rescaled, version_ranges = downsample_targets(versions_ab, rescaled_ab, grid=GRID)
cells = GRID * GRID
row_titles = ["original", f"tinted: a* {SHIFT_A:+g}, b* {SHIFT_B:+g}", f"saturated: ab x {SATURATION:g}"]
# each cell drawn in its class's colour: the bin centre (the rescaled bins' centres depend on the image's range)
plot_class_maps(lab_space.to_rgb(versions),
                {"global classes": (version_fixed, class_map_colours(fixed_ab, version_fixed)),
                 "rescaled classes": (version_rescaled, class_map_colours(rescaled_ab, version_rescaled, version_ranges))},
                row_titles=row_titles)

# %% tags=["remove-input"]
for index, name in ((1, "tint"), (2, "saturation")):
    glue(f"{name}_changed_fixed", int((version_fixed[index] != version_fixed[0]).sum()))
    glue(f"{name}_changed_rescaled", int((version_rescaled[index] != version_rescaled[0]).sum()))
glue("cells", cells)
prose(r"""
Tinting changes the global class of {tint_changed_fixed} of the
{cells} cells and the rescaled class of {tint_changed_rescaled}: a
shift moves the image's range along with its colours, so every cell keeps its place inside
it. Scaling the saturation changes {saturation_changed_fixed} global classes and
only {saturation_changed_rescaled} rescaled ones (not exactly zero because the
"+1" margin does not scale with the colours). The rescaled targets are blind to global colour
casts, nearly blind to a photo's overall saturation, and see mainly how colours differ within
it.
Whether that helps the features is an empirical question; the poster's answer is in the last
section.
""")

# %% [markdown]
# The price: a rescaled class cannot be turned back into a colour without the image's range.
# Decoding therefore needs `ranges` (`rescaled_ab.decode(classes, ranges=ranges)`), and an
# image with almost no colour still has its few ab units stretched over all 10 bins, so tiny
# variations become different classes.

# %% mystnb={"figure": {"caption": "The crop with the smallest a\\*b\\* range: almost one colour, whose small differences the rescaled bins still split into classes.", "name": "fig-ch3-flattest"}, "image": {"alt": "A single photo crop of nearly uniform pale colour."}}
flattest = int((ranges[:, :, 1] - ranges[:, :, 0]).sum(dim=1).argmin())
flat_widths = (ranges[flattest, :, 1] - ranges[flattest, :, 0]).tolist()
print(f"crop {flattest} has the smallest range: a* spans {flat_widths[0]:.1f}, b* spans {flat_widths[1]:.1f} "
      f"(including the +1 margin), yet uses {int(rescaled_classes[flattest].unique().numel())} rescaled classes "
      f"against {int(fixed_classes[flattest].unique().numel())} with global bins")
plot_image_table({"flattest crop": crops[flattest:flattest + 1]}, cell_size=2.2)

# %% tags=["remove-input"]
glue("flattest_range_a", flat_widths[0])
glue("flattest_range_b", flat_widths[1])
glue("flattest_rescaled_classes", int(rescaled_classes[flattest].unique().numel()))
glue("flattest_fixed_classes", int(fixed_classes[flattest].unique().numel()))
prose(r"""
The flattest of these crops spans only {flattest_range_a:.1f} by
{flattest_range_b:.1f} ab units (margin included), yet its target uses
{flattest_rescaled_classes} rescaled classes, while with global bins it uses
{flattest_fixed_classes}: small colour differences, a few ab units
apart, become distinct classes the network must tell apart.
""")

# %% [markdown]
# ## Occupancy and entropy, image by image
#
# For every crop we count how many of the 100 classes its 12 x 12 target uses, and measure how
# evenly it spreads over them (the entropy of its class histogram, in bits; at most
# $\log_2 100 \approx 6.6$).

# %% mystnb={"figure": {"caption": "Per crop, how many of the 100 ab classes its target uses (left) and how evenly it spreads over them, as entropy in bits (right), for global and rescaled bins; the dashed line is the entropy ceiling. See the global bins pile up at a few classes and low entropy while the rescaled bins use many classes and sit near the ceiling.", "name": "fig-ch3-per-image"}, "image": {"alt": "Two histograms of crops, blue for global bins and orange for rescaled bins, with a shared legend below. Left: classes used per crop, the blue bars crowded near zero and the orange spread over higher counts. Right: entropy per crop in bits, blue mostly low and orange concentrated at higher values, left of a dashed vertical ceiling line."}}
fixed_used, fixed_entropy = class_statistics(fixed_classes, 100)
rescaled_used, rescaled_entropy = class_statistics(rescaled_classes, 100)
fixed_distribution = class_distribution(fixed_classes, 100)
rescaled_distribution = class_distribution(rescaled_classes, 100)
print(f"{'':>16} {'classes per image':>18} {'entropy (bits)':>15} {'classes used overall':>21}")
for name, used, entropy, distribution in (("global bins", fixed_used, fixed_entropy, fixed_distribution),
                                          ("rescaled bins", rescaled_used, rescaled_entropy, rescaled_distribution)):
    print(f"{name:>16} {float(used.double().mean()):18.1f} {float(entropy.mean()):15.2f} "
          f"{int((distribution > 0).sum()):21d}")
plot_per_image_statistics({"global bins": (fixed_used, fixed_entropy),
                           "rescaled bins": (rescaled_used, rescaled_entropy)}, num_classes=100, cells=cells)

# %% mystnb={"figure": {"caption": "Share of all target cells in each ab class over all crops, on a log colour scale: global bins (left) and rescaled bins, indexed by position within each image's range (right). See the global targets fill only a small patch of the grid while the rescaled ones spread over nearly all of it.", "name": "fig-ch3-histograms"}, "image": {"alt": "Two 10 by 10 heat maps with a shared logarithmic colour bar. Left, global bins: only a small cluster of cells in the upper middle is coloured, the rest is blank. Right, rescaled bins: almost every cell is coloured, in fairly even shades."}}
plot_class_histograms(
    {"global bins": fixed_distribution, "rescaled bins": rescaled_distribution},
    axis_labels={"rescaled bins": ("a* bin within the image's range", "b* bin within the image's range")},
)

# %% tags=["remove-input"]
glue("fixed_used_mean", float(fixed_used.double().mean()), seen="ab classes used per crop, fixed bins")
glue("rescaled_used_mean", float(rescaled_used.double().mean()), seen="ab classes used per crop, rescaled bins")
glue("fixed_entropy_mean", float(fixed_entropy.mean()), seen="class entropy per crop, fixed bins, bits")
glue("rescaled_entropy_mean", float(rescaled_entropy.mean()), seen="class entropy per crop, rescaled bins, bits")
glue("fixed_used_overall", int((fixed_distribution > 0).sum()))
glue("rescaled_used_overall", int((rescaled_distribution > 0).sum()))
prose(r"""
With global bins a crop's target uses {fixed_used_mean:.1f} classes on average,
with an entropy of {fixed_entropy_mean:.2f} bits; many crops are nearly one
class. With rescaled bins the average is {rescaled_used_mean:.1f} classes and
{rescaled_entropy_mean:.2f} bits. Over all crops, the global targets touch
{fixed_used_overall} of the 100 classes and the rescaled ones
{rescaled_used_overall}, spread across the whole grid (the heat maps use a log
scale). A network trained on the global targets can score well by predicting "grey-brown"
almost everywhere; with rescaled targets, every image asks it to tell its regions apart.
""")

# %% [markdown]
# ## The poster's comparison: RGB, Lab and rescaled Lab
#
# Finally the poster's figure of reconstructions. For each colour space, group 2 (a\*b\*, or G
# and B for RGB, where R is group 1) is averaged to 12 x 12, quantized with the poster's bins,
# decoded to bin centres and put back on the full-resolution group 1
# (`quantization_error(..., grid=12)`). The class maps are the targets the training step builds
# with `splitbrain.targets.build_targets` (checked in the second cell below; the two can differ
# in a rare cell whose value sits on a bin edge, because the training step converts 8-bit
# colours through a lookup table and rounds slightly differently).

# %% mystnb={"figure": {"caption": "The poster's comparison: crops (first column), their colour averaged over the target grid, and their reconstructions from RGB, Lab and rescaled Lab classes. See blocks of wrong brightness from RGB, flat patches of colour from Lab, and rescaled Lab closest to the original.", "name": "fig-ch3-reconstructions"}, "image": {"alt": "A grid of photo crops, one crop per row and five columns: the original, a downsampled version, an RGB-class reconstruction with blocky, wrongly coloured and wrongly bright squares, a Lab-class reconstruction with sharp edges but flat, shifted colour patches, and a rescaled-Lab reconstruction that looks almost like the original."}}
error_crops = crops[:max(ctx.at_most(ERROR_CROPS[ctx.preset]), SHOW_IMAGES)]
titles = {"rgb": "RGB", "lab": "Lab", "rescaled_lab": "rescaled Lab"}
results = {space: quantization_error(error_crops, space, grid=GRID) for space in titles}
columns = {"original": error_crops, f"downsampled {GRID}x{GRID} (Lab)": results["lab"].downsampled}
for space, title in titles.items():
    columns[f"{title} classes"] = results[space].reconstruction
plot_image_table(columns, layout="columns", max_images=SHOW_IMAGES)

# %%
print(f"mean CIEDE2000 of the {GRID}x{GRID} reconstructions over {len(error_crops)} crops")
for space, title in titles.items():
    targets = build_targets(space, grid=GRID)
    batch = targets.prepare(error_crops)  # what one training step computes
    agreement = float((batch.t2 == results[space].classes).double().mean())
    print(f"{title:>13}: {results[space].mean:5.2f}   targets t2 {tuple(batch.t2.shape)} in "
          f"[0, {targets.num_classes[0]}), same classes as build_targets in {100 * agreement:.2f}% of cells")
per_crop = {space: result.delta_e for space, result in results.items()}
rescaled_beats_lab = 100 * float((per_crop["rescaled_lab"] < per_crop["lab"]).double().mean())
lab_beats_rgb = 100 * float((per_crop["lab"] < per_crop["rgb"]).double().mean())
print(f"rescaled Lab closer than Lab on {rescaled_beats_lab:.0f}% of the crops, Lab closer than RGB on {lab_beats_rgb:.0f}%")

# %% tags=["remove-input"]
for space in titles:
    glue(f"delta_e_{space}", results[space].mean)
glue("rescaled_beats_lab_percent", rescaled_beats_lab, seen="crops rescaled Lab reconstructs better than Lab, %")
glue("lab_beats_rgb_percent", lab_beats_rgb)
prose(r"""
Quantized RGB and quantized Lab fail in different ways. The G and B bins are a tenth of the
whole range wide, and because G and B also carry lightness, their steps show as blocks of
the wrong brightness and hue along edges. Lab keeps every edge in L\* and loses only colour,
but the coarse global bins turn subtle tones into a few flat patches. In CIEDE2000 the two
are of the same order here (RGB {delta_e_rgb:.1f}, Lab
{delta_e_lab:.1f}; Lab is the closer of the two on
{lab_beats_rgb_percent:.0f}% of these crops). Rescaled Lab is much closer to the
original ({delta_e_rescaled_lab:.1f}, better than Lab on
{rescaled_beats_lab_percent:.0f}% of the crops), as in the poster's figure. Two
caveats: the rescaled reconstruction uses the image's own ranges, four numbers per image
that a network is never asked to predict; and the point of the targets is not to look good
but to teach features.
""")

# %% [markdown]
# On that, the poster reports top-1 classification accuracy on its 96 x 96 dataset after
# pretraining each architecture in each colour space and fine-tuning a classifier on top
# {cite:p}`iyengar2019poster`. These are single runs on a course dataset; the later chapters
# re-run the comparison with this package.

# %% tags=["remove-input"]
from splitbrain.comparisons import POSTER_ARCHITECTURES, POSTER_SPACES
from splitbrain.results import ARCH_LABELS, SHIPPED_RESULTS, SPACE_LABELS
from splitbrain.tables import read_reference_csv

poster = read_reference_csv(SHIPPED_RESULTS / "reference" / "poster_table1.csv")
poster_top1 = {(POSTER_ARCHITECTURES[row["Architecture"]], POSTER_SPACES[row["Image Space"]]): 100 * float(row["Top 1"])
               for row in poster if row["Architecture"] in POSTER_ARCHITECTURES}
poster_dae = [100 * float(row["Top 1"]) for row in poster if row["Architecture"] not in POSTER_ARCHITECTURES]
poster_archs = list(dict.fromkeys(arch for arch, _ in poster_top1))
rescaled_wins = sum(max(SPACE_LABELS, key=lambda space: poster_top1[arch, space]) == "rescaled_lab"
                    for arch in poster_archs)
prose("In its table, rescaled Lab gave the best top-1 for "
      + (f"all {len(poster_archs)} networks" if rescaled_wins == len(poster_archs)
         else f"{rescaled_wins} of its {len(poster_archs)} networks") + ": "
      + "; ".join(f"{ARCH_LABELS[arch]} {poster_top1[arch, 'rescaled_lab']:.1f} % against "
                  f"{poster_top1[arch, 'lab']:.1f} % for Lab and {poster_top1[arch, 'rgb']:.1f} % for RGB"
                  for arch in poster_archs)
      + (f"; its denoising-autoencoder baseline reached {poster_dae[0]:.1f} %." if poster_dae else "."))

# %% [markdown]
# ## Exercises
#
# 1. Build `RescaledQuantizer([10, 10], margin=m)` for m = 0.01, 1 and 10 and redo the
#    saturation test and the flattest crop. What does the margin protect against, and what
#    does it cost?
# 2. Rescale L\* per image as well (`RescaledQuantizer([100])` for group 1). What would the
#    ab-to-L half then learn? Is there a reason the poster kept L\* global?
# 3. Tint the crop through RGB instead of Lab (convert the tinted Lab to RGB with
#    `lab_space.to_rgb`, then back), once in floating point and once stored as an 8-bit image.
#    Do any rescaled classes change, and what in the round trip can move a class?
# 4. Compute `rebalancing_weights` (chapter 2) for the global and for the rescaled class
#    distributions. Which one would need re-weighting, and by how much?
# 5. Repeat the reconstruction comparison with `upsample="bilinear"` in `quantization_error`,
#    and with 16 bins per channel (`poster_quantizers(space, bins2=16)`). Does the ranking of
#    the three colour spaces change?
