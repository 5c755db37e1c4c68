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
# # 4. Architectures: SimpleNet, FC-AlexNet, FC-ResNet18 and the split
#
# **[Open this chapter in Colab](https://colab.research.google.com/github/splitbrain-book/splitbrain/blob/main/notebooks/04_architectures.ipynb)**
#
# **Needs:** a CPU is enough (nothing is trained: we build networks, count and trace shapes).

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

prose("**Time:** " + needs("04_architectures"))

# %% [markdown]
# **You should see:** the paper's Table 6 rebuilt from the package's FC-AlexNet and checked cell
# by cell against the printed values (all agree but one padding, which the paper misprints); an
# image split into L and ab, each going into its own half, each half producing a 12 x 12 grid of
# class scores; a half-width pair with half the convolution weights of one standard network; a
# table of how each network reaches the 12 x 12 grid from 180, 96 and 32 pixel inputs; and the
# receptive fields of every layer, growing from a few pixels to more than the whole image.

# %% tags=["parameters"]
PRESET = "auto"
SEED = 0
INPUT_SIZE = 180  # Table 6's pretraining crop side
GRID = 12  # side of the prediction grid (the paper and the poster)
INPUT_SIZES = [180, 96, 32]  # input sides for the "reaching the grid" table
NUM_CLASSES = [100, 100]  # (ab classes, L classes): the poster's 10 x 10 and 100 bins
PHOTO_INDEX = 2  # which embedded photograph to draw on (0 to 9)
CELL = [4, 7]  # (row, column) of the grid cell whose receptive fields are drawn

# %% tags=["hide-input"]
# %matplotlib inline
from pathlib import Path

import torch
from torch import nn

from splitbrain.architecture import (
    compare_with_reference,
    grid_rule_rows,
    grouped_conv_from_halves,
    parameter_rows,
    receptive_fields,
    spatial_ops,
    stage_receptive_fields,
)
from splitbrain.data import EMBEDDED_PHOTOS, EmbeddedPhotos
from splitbrain.models import (
    ARCHITECTURES, SplitBrainNet, build_trunk, count_parameters, layer_table)
from splitbrain.notebook import chapter_setup, glue, prose
from splitbrain.plots.models import (
    plot_grouped_weights,
    plot_receptive_field_growth,
    plot_receptive_fields_on_grid,
    plot_split_pair,
)
from splitbrain.presets import get_preset
from splitbrain.results import ARCH_LABELS, SHIPPED_RESULTS
from splitbrain.targets import build_targets
from splitbrain.tables import Table, format_shape, read_reference_csv

ctx = chapter_setup(PRESET, seed=SEED)
print(f"preset: {ctx.preset}, device: {ctx.device}")

photos = EmbeddedPhotos("train", image_size=INPUT_SIZE, augment=False, length=10,
                        photo_scale=1.0)
photo, _ = photos[PHOTO_INDEX]  # uint8 (3, INPUT_SIZE, INPUT_SIZE)
print(f"photograph: {EMBEDDED_PHOTOS[PHOTO_INDEX]}, {tuple(photo.shape)} {photo.dtype}")

# The columns of splitbrain.models.layer_table we show, with readable headers.
LAYER_COLUMNS = ["layer", "spatial", "channels", "kernel", "stride", "dilation", "padding",
                 "params"]
LAYER_HEADERS = {"spatial": "X (side)", "channels": "C", "kernel": "K", "stride": "S",
                 "dilation": "D", "padding": "P", "params": "parameters"}


# %% [markdown]
# ## What a split-brain network needs from its trunk
#
# A split-brain autoencoder is two networks side by side {cite:p}`zhang2017splitbrain`. Half 1
# sees the lightness L of an image and predicts, for every cell of a coarse grid, which colour
# class (a bin of a\*b\*) the image has there; half 2 sees a\*b\* and predicts the lightness
# class. Each half is a *fully convolutional trunk*, a stack of convolutions and poolings that
# turns an image into a map of features, followed by a 1 x 1 convolution that turns every
# position of the map into class scores. The trunk has no fully connected layer, so its output
# is still a picture: one feature vector per position. The paper predicts on a 12 x 12 grid,
# and so does the poster {cite:p}`iyengar2019poster`.
#
# The package has the three trunks the poster compared (`splitbrain.models.ARCHITECTURES`):
# SimpleNet, a fully convolutional AlexNet and a fully convolutional ResNet-18. This chapter
# builds each of them, rebuilds the paper's architecture table from the code, and works out three
# things every later chapter relies on: how many parameters the pair has, how each trunk
# reaches the 12 x 12 grid, and how much of the image each prediction can see.
#
# `splitbrain.models.layer_table(model, input_size)` runs a zero image through a network and
# reports, stage by stage, the output side X, the channels C and the kernel K, stride S,
# dilation D and padding P of the stage's (first) convolution or pooling.
#
# ## SimpleNet
#
# The poster's smallest network, which it calls SimpleNet, is five conv-BatchNorm-ReLU layers
# {cite:p}`iyengar2019poster`. The name recalls Hasanpour et al.'s SimpleNet, built on the
# argument that plain stacks of 3 x 3 convolutions go a long way {cite:p}`hasanpour2016simplenet`;
# the poster's network is much shallower than their 13-layer design. Here is one half at the
# paper's input size; the first layer (the *stem*) is the only one that changes with the input
# size, as explained below.

# %%
simplenet_half = build_trunk("simplenet", in_channels=1, width="half",
                             input_size=INPUT_SIZE, grid=GRID)
print(f"stem: {simplenet_half.stem}")
Table(layer_table(simplenet_half, INPUT_SIZE), LAYER_COLUMNS, LAYER_HEADERS,
      caption=f"SimpleNet, one half (half width, 1 input channel), {INPUT_SIZE} px input")


# %% [markdown]
# ## FC-AlexNet: Table 6 rebuilt from the code
#
# The paper pretrains AlexNet {cite:p}`krizhevsky2012imagenet` made fully convolutional, with
# BatchNorm after every convolution and no local response normalisation, on 180 x 180 crops.
# Its Table 6 lists every layer {cite:p}`zhang2017splitbrain`. AlexNet's fully connected fc6 and
# fc7 become convolutions, fc6 a 6 x 6 one and fc7 a 1 x 1 one. pool5 has stride 1 here instead
# of AlexNet's 2, so the map stays twice as fine; a dilation of 2 lets fc6's 6 x 6 kernel still
# span the same part of the image (11 x 11 positions of the finer map). Every layer from pool2
# on keeps the map at 12 x 12, which is the prediction grid.
#
# The paper's numbers are stored, with their citation, in `results/reference/zhang2017_table6.csv`
# (the package ships a copy, `splitbrain.results.SHIPPED_RESULTS`):

# %%
TABLE6_CSV = SHIPPED_RESULTS / "reference" / "zhang2017_table6.csv"  # ships with the package
table6_paper = read_reference_csv(TABLE6_CSV)
Table(table6_paper, caption="Table 6 of Zhang et al. (2017), as printed (C: both halves)")


# %% [markdown]
# Now the same table from the package's split-brain pair: a `SplitBrainNet` of FC-AlexNet
# halves at half width, at 180 px. For a pair, `layer_table` sums the channels of the two halves,
# which is Table 6's C. Each cell shows our value; where the paper prints something else, its
# value follows in brackets, and the last columns say whether the whole row agrees.

# %%
alexnet_pair = SplitBrainNet("fcalexnet", in_channels=(1, 2), num_classes=tuple(NUM_CLASSES),
                             width="half", grid=GRID, input_size=INPUT_SIZE)
alexnet_rows = layer_table(alexnet_pair, INPUT_SIZE)
table6_check = compare_with_reference(alexnet_rows, table6_paper)

cells_differing = sum(len(row["differs"].split(", ")) for row in table6_check if row["differs"])
print(f"stem: {alexnet_pair.stem}")
Table(table6_check, ["layer", "X", "C", "K", "S", "D", "P", "equal", "differs"],
      {"equal": "= paper", "differs": "differs in"},
      caption=f"FC-AlexNet pair from splitbrain.models at {INPUT_SIZE} px vs. Table 6")

# %% tags=["remove-input"]
glue("table6_rows", len(table6_check))
glue("table6_rows_equal", sum(row["equal"] for row in table6_check))
glue("table6_cells", 6 * len(table6_check), seen="Table 6 cells checked")
glue("table6_cells_equal", 6 * len(table6_check) - cells_differing, seen="Table 6 cells that agree with the paper")
prose(r"""
{table6_cells_equal} of the {table6_cells} cells agree, and
{table6_rows_equal} of the {table6_rows} rows agree entirely. The one difference
is fc6's padding: the paper prints 6, the code uses 5. With padding 6 the map would *grow*,
which breaks the table's own X column. A convolution's output side for an input side $n$ is

$$
o = \left\lfloor \frac{{n + 2p - d\,(k - 1) - 1}}{{s}} \right\rfloor + 1 ,
$$

so fc6 ($k = 6$, $d = 2$, $s = 1$) keeps $n = 12$ only with $2p = d(k-1) = 10$, that is
$p = 5$ (the value in the authors' released model definition). We let PyTorch confirm it:
""")

# %%
fc6_sides = {}
for padding in (5, 6):
    fc6 = nn.Conv2d(256, 4096, kernel_size=6, padding=padding, dilation=2, device="meta")
    side = fc6_sides[padding] = fc6(torch.zeros(1, 256, 12, 12, device="meta")).shape[-1]
    print(f"fc6 with padding {padding}: 12 x 12 -> {side} x {side}")


# %% tags=["remove-input"]
for padding, side in fc6_sides.items():
    glue(f"fc6_side_padding{padding}", side)
prose(r"""
With padding 6 the map would be {fc6_side_padding6} pixels wide, not
{fc6_side_padding5}: a misprint, not a different network.
""")

# %% [markdown]
# Where the pair's parameters sit (both halves together, classifiers included):

# %%
alexnet_total = count_parameters(alexnet_pair)
fc_params = sum(row["params"] for row in alexnet_rows if row["layer"] in ("fc6", "fc7"))
Table(alexnet_rows, LAYER_COLUMNS + ["channels_per_half"],
      {**LAYER_HEADERS, "channels_per_half": "C per half (L, ab)"},
      caption="FC-AlexNet pair, both halves (parameters summed)")

# %% tags=["remove-input"]
glue("alexnet_pair_params_millions", alexnet_total / 1e6, seen="FC-AlexNet pair's parameters, millions")
glue("alexnet_fc_share_percent", 100 * fc_params / alexnet_total)
prose(r"""
The pair has {alexnet_pair_params_millions:.1f} million parameters, and
{alexnet_fc_share_percent:.0f}% of them sit in fc6 and fc7: as in the original
AlexNet, the convolutional layers are small next to the former fully connected ones.
""")

# %% [markdown]
# ## FC-ResNet18
#
# The third trunk is ResNet-18 {cite:p}`he2016deep` without its global average pooling and fully
# connected layer. It has a stem and four stages (`layer1` ... `layer4`) of two residual
# blocks, each block two 3 x 3 convolutions plus a shortcut; `layer2` to `layer4` halve the map
# with a stride-2 convolution (and a strided 1 x 1 convolution on the shortcut).
# `layer_table` shows each stage's *first* convolution only; a stage holds four.

# %%
resnet_half = build_trunk("fcresnet18", in_channels=1, width="half",
                          input_size=INPUT_SIZE, grid=GRID)
print(f"stem: {resnet_half.stem}")
Table(layer_table(resnet_half, INPUT_SIZE), LAYER_COLUMNS, LAYER_HEADERS,
      caption=f"FC-ResNet18, one half, {INPUT_SIZE} px input (first conv of each stage)")

# %% tags=["remove-input"]
glue("resnet_imagenet_stem_map", type(resnet_half).map_size("imagenet", INPUT_SIZE))  # with the max pool
prose(r"""
At 180 px the package drops torchvision's stem max pool (stem `imagenet_no_maxpool`), so the
map ends at 12 x 12 instead of {resnet_imagenet_stem_map} x
{resnet_imagenet_stem_map}; the section on reaching the grid says why.
""")

# %% [markdown]
# ## Splitting the network into halves

# %% tags=["remove-input"]
glue("num_classes_ab", NUM_CLASSES[0])
glue("num_classes_l", NUM_CLASSES[1])
prose(r"""
The figure follows one photograph through the FC-AlexNet pair. Half 1 gets the L channel at
full resolution and must output, for each of the 12 x 12 cells, scores for the
{num_classes_ab} a\*b\* classes; its target is the image's colour averaged over the
cell and binned (drawn here as the bin centres at a fixed lightness). Half 2 gets a\*b\* and
must output scores for the {num_classes_l} lightness classes of each cell. The shapes
in the titles come from running the network.
""")

# %% mystnb={"figure": {"caption": "What each half of the split-brain pair sees and must predict for one photograph, with the target grid drawn on the input: half 1 reads L\\* and predicts a\\*b\\* classes, half 2 reads a\\*b\\* and predicts L\\* classes. See that each half's input is the other half's target, and that both targets are a coarse grid of classes.", "name": "fig-ch4-split-pair"}, "image": {"alt": "Left: a photo of a cat's face with a grid of thin lines over it. Middle column: the lightness channel as a grey image and the a*b* channels as a washed-out orange image. Right column: two blocky grids, one of a*b* classes in orange tones and one of lightness classes in greys, with the tensor shapes in the titles."}}
ab_bins_per_channel = round(NUM_CLASSES[0] ** 0.5)  # the poster's joint a x b bins
lab_targets = build_targets("lab", grid=GRID, bins1=NUM_CLASSES[1], bins2=ab_bins_per_channel)
fig = plot_split_pair(photo, alexnet_pair, lab_targets)
fig


# %% [markdown]
# ### What "half width" means
#
# Zhang et al. split *every layer* of one network in half along its channels: the first half of
# each layer's channels only ever reads the first half of the previous layer's, and the same
# for the second half {cite:p}`zhang2017splitbrain`. The two halves never exchange anything
# until their features are concatenated at the end, so they are two separate networks, each as
# deep as the original and half as wide. That is what `width="half"` builds: FC-AlexNet halves
# with 48, 128, 192, 192, 128, 2048 and 2048 channels, which side by side give Table 6's C.
#
# A convolution with `groups=2` computes exactly this: it splits its input channels and its
# output channels into two groups and connects each output group only to its own input group.
# The figure draws one layer's weights as a grid of kernels, output channels down and input
# channels across, for FC-AlexNet's conv2 (96 channels in, 256 out, both halves together).

# %% mystnb={"figure": {"caption": "Which conv2 kernels exist, output channel against input channel: one standard layer (left) and the split-brain pair seen as one layer with two groups (right). See that the pair has only the two diagonal blocks, half the kernels.", "name": "fig-ch4-grouped-weights"}, "image": {"alt": "Two matrices of output channels against input channels. Left: one solid blue rectangle, every kernel present. Right: the same rectangle cut in four; the top-left block is blue and labelled half 1, the bottom-right is orange and labelled half 2, and the two off-diagonal blocks are empty and labelled no weights."}}
conv2_channels_in = alexnet_pair.layer_channels("conv1")
conv2_channels_out = alexnet_pair.layer_channels("conv2")
fig = plot_grouped_weights(conv2_channels_in, conv2_channels_out)
fig

# %% [markdown]
# The off-diagonal blocks are the connections a standard network has and a split one does not,
# so the split layer has half the kernels. We can check the equivalence with the real layers:
# put both halves' conv2 weights into one `groups=2` convolution
# (`grouped_conv_from_halves` in `splitbrain.architecture`) and compare it with running the two
# halves separately on random input.

# %%
conv2_half1 = alexnet_pair.half1.trunk.stages["conv2"][0]  # the Conv2d of conv-BN-ReLU
conv2_half2 = alexnet_pair.half2.trunk.stages["conv2"][0]
grouped = grouped_conv_from_halves(conv2_half1, conv2_half2)
dense = nn.Conv2d(conv2_channels_in, conv2_channels_out, conv2_half1.kernel_size, bias=False,
                  device="meta")  # a standard conv2, only to count its weights

features = torch.randn(2, conv2_channels_in, 23, 23)
features1, features2 = features.chunk(2, dim=1)  # half 1's and half 2's channels
with torch.no_grad():
    separately = torch.cat([conv2_half1(features1), conv2_half2(features2)], dim=1)
    together = grouped(features)
largest_difference = float((separately - together).abs().max())
split_weights = count_parameters(conv2_half1) + count_parameters(conv2_half2)
print(f"largest difference: {largest_difference:.1g}")
print(f"weights: two halves {split_weights:,}, groups=2 {count_parameters(grouped):,}, "
      f"standard {count_parameters(dense):,}")

# %% tags=["remove-input"]
glue("grouped_max_difference", largest_difference, seen="two halves vs. groups=2 conv, largest difference")
glue("conv2_split_weights", split_weights)
glue("conv2_grouped_weights", count_parameters(grouped))
glue("conv2_dense_weights", count_parameters(dense))
prose(r"""
The largest difference between the two computations is
{grouped_max_difference:.1g}: they are the same function. The grouped layer has
{conv2_grouped_weights:,} weights, the same as the two halves
({conv2_split_weights:,}) and half of a standard conv2
({conv2_dense_weights:,}). The first layer is the exception to the `groups=2`
picture: its groups are one channel (L) and two (ab), and a grouped convolution needs equal
groups. As separate networks, which is how the package (and the authors) build the halves,
that is no problem.
""")

# %% [markdown]
# The poster's code does not halve the widths: each half is a full-width network
# {cite:p}`iyengar2019poster`. `width="full"` builds that, and the next table shows what it
# costs.
#
# ## Parameter counts

# %% tags=["remove-input"]
prose(r"""
For every trunk and both widths: the parameters of the two trunks, of the two 1 x 1
classifiers (to {num_classes_ab} and {num_classes_l} classes), and, for
comparison, of one *standard* network, a single full-width trunk reading all three channels.
Counting does not need real weights, so the networks are built on PyTorch's `meta` device,
which tracks shapes only.
""")

# %%
parameters = parameter_rows(ARCHITECTURES, input_size=INPUT_SIZE,
                            num_classes=tuple(NUM_CLASSES), grid=GRID)
Table(parameters, ["arch", "width", "trunks", "classifiers", "standard", "ratio", "conv_ratio"],
      {"arch": "architecture", "trunks": "both trunks", "classifiers": "both classifiers",
       "standard": "standard trunk", "ratio": "trunks ÷ standard",
       "conv_ratio": "conv weights ÷ standard"},
      caption=f"Parameters at {INPUT_SIZE} px",
      formats={"arch": ARCH_LABELS.get, "ratio": ".4f", "conv_ratio": ".4f"})


# %% tags=["remove-input"]
for row in parameters:
    name = f"params_{row['arch']}_{row['width']}"
    glue(f"{name}_trunks_millions", row["trunks"] / 1e6)
    glue(f"{name}_ratio", row["ratio"])
    glue(f"{name}_conv_ratio", row["conv_ratio"])
    if row["width"] == "full":
        glue(f"params_{row['arch']}_standard_millions", row["standard"] / 1e6)
prose(r"""
A half-width pair has exactly half the convolution weights of one standard network
(ratio {params_fcalexnet_half_conv_ratio:.4f} for FC-AlexNet, and the same for the
other two). This holds for the first layer too: the standard conv1 reads three channels with
C kernels each, the halves read one and two channels with C/2 kernels each, $3C$ against
$1 \cdot C/2 + 2 \cdot C/2 = 1.5\,C$. The total ratio is a little above one half
(SimpleNet: {params_simplenet_half_ratio:.4f}) because BatchNorm has two
parameters per channel and the pair has as many channels as the standard network.

The poster's full-width halves double every layer but the first, so the pair has about twice
the parameters of a standard network: for FC-AlexNet
{params_fcalexnet_full_trunks_millions:.1f} million against
{params_fcalexnet_standard_millions:.1f} million, for FC-ResNet18
{params_fcresnet18_full_trunks_millions:.1f} million against
{params_fcresnet18_standard_millions:.1f} million. Keep this in mind when comparing
the poster's numbers with the paper's: its representation is twice as wide.
""")

# %% [markdown]
# ## Reaching the 12 x 12 grid

# %% tags=["remove-input"]
grid_rows = grid_rule_rows(ARCHITECTURES, INPUT_SIZES, grid=GRID)  # every network at every input side
for row in grid_rows:
    glue(f"grid_{row['arch']}_{row['input_size']}_map", row["map"])
    for stem, side in zip(row["stems"], row["maps"]):
        glue(f"grid_{row['arch']}_{row['input_size']}_{stem}_map", side)
prose(r"""
Each trunk downsamples by a fixed factor after its first layer, so the map it ends with
depends on the input side. Applying the output-size formula above layer by layer gives it:
for FC-AlexNet with the Table 6 stem, $180 \to 45 \to 23 \to 12$. The same network on a
96 px image would end at {grid_fcalexnet_96_table6_map} x
{grid_fcalexnet_96_table6_map}, too coarse for a 12 x 12 target.
""")

# %% [markdown]
# The package therefore gives every trunk a short ladder of *stems* (first layers), from most
# to least downsampling (`STEMS`), and one rule: **use the first stem whose output map is at
# least `grid` wide; if none is, the last one.** The head then average-pools a larger map down
# to the grid, bilinearly upsamples a smaller one, and leaves a map of exactly `grid` alone.
# The FC-AlexNet ladder is Table 6's conv1 (11 x 11, stride 4), the poster's conv1 for 96 px
# (10 x 10, stride 2) {cite:p}`iyengar2019poster` and a 5 x 5 stride-1 conv for tiny images;
# SimpleNet's stems have stride 4, 2 and 1; FC-ResNet18's are torchvision's stem (7 x 7 stride 2
# plus a max pool), the same without the max pool, and a 3 x 3 stride-1 conv as used for CIFAR.

# %%
on_grid = [row for row in grid_rows if row["output"][1:] == (GRID, GRID)]
print("logits of one half:", sorted({format_shape(row["output"]) for row in grid_rows}))
Table(grid_rows, ["arch", "input_size", "ladder", "stem", "map", "head"],
      {"arch": "architecture", "input_size": "input side", "ladder": "map side for each stem",
       "stem": "chosen stem", "map": "trunk map"},
      caption=f"How each trunk reaches the {GRID} x {GRID} grid", formats={"arch": ARCH_LABELS.get})

# %% tags=["remove-input"]
glue("grid_rows", len(grid_rows))
glue("grid_rows_on_grid", len(on_grid))
prose(r"""
The table lists, for each input side, the map side every stem would give (in ladder order),
the stem the rule picks, the trunk's map and what the head does to it. Running one half of
each network on the `meta` device checks the result: {grid_rows_on_grid} of the
{grid_rows} combinations give logits on the 12 x 12 grid.
""")


# %% tags=["remove-input"]
prose(r"""
At 180 and 96 px every trunk ends exactly on the 12 x 12 grid, so the logits are the trunk's
own map and nothing is resized. At 32 px (CIFAR-sized crops) even the least downsampling stem
leaves a small map (SimpleNet {grid_simplenet_32_map} x {grid_simplenet_32_map},
FC-AlexNet {grid_fcalexnet_32_map} x {grid_fcalexnet_32_map}, FC-ResNet18
{grid_fcresnet18_32_map} x {grid_fcresnet18_32_map}) that is upsampled to the
grid: the network then cannot really predict 12 x 12 detail, which is why this book's CPU
presets use an 8 x 8 grid for 32 px images. The network your preset trains:
""")

# %%
config = get_preset(ctx.preset)
preset_rows = grid_rule_rows([config.arch], [config.image_size], grid=config.grid)
print(f"preset {ctx.preset!r}: {ARCH_LABELS[config.arch]}, width {config.width}, "
      f"{config.image_size} px, {config.grid} x {config.grid} grid")
Table(preset_rows, ["arch", "input_size", "ladder", "stem", "head", "output"],
      {"arch": "architecture", "input_size": "input side", "ladder": "map side for each stem",
       "stem": "chosen stem", "output": "logits of one half"},
      caption=f"The network of preset {ctx.preset!r}", formats={"arch": ARCH_LABELS.get, "output": format_shape})


# %% [markdown]
# ## Receptive fields
#
# The *receptive field* of a unit is the square of input pixels it depends on. It grows layer by
# layer. Writing $r$ for its side, $j$ for the *jump* (the distance in input pixels between
# neighbouring units of a map) and $c$ for the input position of the centre of a map's first
# unit, a layer with kernel $k$, stride $s$, dilation $d$ and padding $p$ gives
#
# $$
# \begin{aligned}
# r_{\text{out}} &= r_{\text{in}} + (k - 1)\,d\,j_{\text{in}}, \\
# j_{\text{out}} &= s\, j_{\text{in}}, \\
# c_{\text{out}} &= c_{\text{in}} + \left(\tfrac{(k - 1)\,d}{2} - p\right) j_{\text{in}},
# \end{aligned}
# $$
#
# starting from the image itself, $r = j = 1$, $c = 0$. In code, over FC-AlexNet's layers (a
# plain chain, one op per stage, so its `layer_table` rows are all it needs):

# %%
r, j, c = 1, 1, 0.0  # the input: one pixel, neighbours 1 px apart, unit 0 on pixel 0
by_hand = []
for op in alexnet_rows:
    k, s, d, p = op["kernel"], op["stride"], op.get("dilation", 1), op.get("padding", 0)
    r, c, j = r + (k - 1) * d * j, c + ((k - 1) * d / 2 - p) * j, s * j  # r and c use the old j
    by_hand.append((op["layer"], r, j, c))
print("  ".join(f"{layer} {rf}" for layer, rf, _, _ in by_hand))

# %% [markdown]
# `splitbrain.architecture.receptive_fields` is the same recurrence with its checks, and gives
# the same numbers:

# %%
alexnet_fields = receptive_fields(alexnet_rows)
assert by_hand == [(row["layer"], row["rf"], row["jump"], row["start"]) for row in alexnet_fields]
Table(alexnet_fields,
      ["layer", "kernel", "stride", "dilation", "padding", "spatial", "rf", "jump", "start"],
      {"spatial": "X", "rf": "receptive field (px)", "jump": "jump (px)",
       "start": "centre of unit 0"},
      caption=f"Receptive fields of FC-AlexNet at {INPUT_SIZE} px")

# %% tags=["remove-input"]
for row in alexnet_fields:
    glue(f"rf_fcalexnet_{row['layer']}", row["rf"])
glue("jump_fcalexnet_fc7", alexnet_fields[-1]["jump"])
prose(r"""
conv1 sees {rf_fcalexnet_conv1} pixels, pool1 adds two conv1 units 4 px apart,
$11 + 2 \cdot 4 = 19$, and conv2 adds four pool1 units 8 px apart, $19 + 4 \cdot 8 = 51$
(the table's {rf_fcalexnet_pool1} and {rf_fcalexnet_conv2}). By conv5 a unit
sees {rf_fcalexnet_conv5} pixels and after the dilated fc6
{rf_fcalexnet_fc6}, more than the whole 180 px crop. All paddings are "same"
paddings, so every centre stays at 0 and unit $i$ of a 12 x 12 map sits on input pixel
$i$ x {jump_fcalexnet_fc7}.
""")

# %% [markdown]
# ResNet's stages hold several convolutions and a shortcut, so for it (and to treat all trunks
# alike) `spatial_ops` lists every convolution and pooling on the longest path through the
# trunk, skipping the shortcuts, which run beside the main path and see less.
# `stage_receptive_fields` returns the field after each stage:

# %% mystnb={"figure": {"caption": "Receptive field after each stage of the three trunks, on a log scale, with the input side and one grid cell as reference lines. See every trunk's field pass the grid cell within a few stages and grow to about the whole input or beyond by the last.", "name": "fig-ch4-rf-growth"}, "image": {"alt": "A line chart of receptive field side in input pixels, log scale, against stage number, one line with labelled points per network: SimpleNet, FC-AlexNet and FC-ResNet18. All three rise steeply; a dotted horizontal line marks one grid cell near the bottom and a dashed line marks the input side near the top, which the FC-AlexNet and FC-ResNet18 lines cross."}}
trunks = {arch: build_trunk(arch, in_channels=1, width="half", input_size=INPUT_SIZE,
                            grid=GRID)
          for arch in ARCHITECTURES}
stage_fields = {arch: stage_receptive_fields(trunk) for arch, trunk in trunks.items()}

# How far the centre of FC-AlexNet's output unit i is from the centre of target cell i.
cell_side = INPUT_SIZE / GRID
last = stage_fields["fcalexnet"][-1]
offsets = [abs(last["start"] + i * last["jump"] - ((i + 0.5) * cell_side - 0.5))
           for i in range(GRID)]

fig = plot_receptive_field_growth(stage_fields, input_size=INPUT_SIZE, grid=GRID)
fig

# %% tags=["remove-input"]
for arch, rows in stage_fields.items():
    glue(f"rf_{arch}_last", rows[-1]["rf"])
    glue(f"ops_{arch}", len(spatial_ops(trunks[arch])))
glue("grid_cell_px", cell_side)
glue("max_centre_offset_px", max(offsets))
prose(r"""
The last layer of SimpleNet sees {rf_simplenet_last} px, FC-ResNet18's
{rf_fcresnet18_last} px (through {ops_fcresnet18} convolutions and poolings) and
FC-AlexNet's {rf_fcalexnet_last} px, while one grid cell is {grid_cell_px:g} px
wide. The next figure draws, for one cell of the grid, the receptive field of the FC-AlexNet
unit responsible for it at a few depths. For conv1 and conv2, whose maps are finer than the
grid, it draws the unit nearest the cell's centre.
""")

# %% mystnb={"figure": {"caption": "What one unit of several FC-AlexNet layers sees for one target cell, drawn on the photograph (grey: zero padding beyond the image). See the boxes grow from smaller than the cell to larger than the whole image.", "name": "fig-ch4-rf-on-grid"}, "image": {"alt": "A photo of a cat's face on a grey background with nested coloured squares centred on one small yellow grid cell over the eye: a red square about the size of the cell, then orange, green and blue squares of increasing size, and a purple square extending well beyond the photo on every side."}}
shown_layers = ("conv1", "conv2", "conv3", "conv5", "fc6")
chosen = [row for row in stage_fields["fcalexnet"] if row["layer"] in shown_layers]
fig = plot_receptive_fields_on_grid(photo, chosen, grid=GRID, cell=tuple(CELL))
fig


# %% tags=["remove-input"]
prose(r"""
This is what makes the colour prediction possible at all. The colour of a
{grid_cell_px:g} px patch of fur
or sky cannot be read off the patch's lightness alone; it depends on *what* the patch is, and
that needs context. The conv5 unit above a cell already sees {rf_fcalexnet_conv5} px,
most of the image, and fc6 and fc7 see all of it, so every prediction on the grid can use
the whole scene. The grey
frame shows the other side of the coin: near the border much of a deep unit's field is zero
padding. The receptive field is also an upper bound: pixels near its edge reach the unit
through few paths and usually matter much less than those near its centre.

One more detail follows from the table: the trunk's units sit {jump_fcalexnet_fc7} px
apart starting at pixel 0, while the target cells are $w =$ {grid_cell_px:g} px
wide, so cell $i$ is centred on pixel $(i + \tfrac{{1}}{{2}})\,w - \tfrac{{1}}{{2}}$. The unit that
predicts a cell is therefore centred up to {max_centre_offset_px:.0f} px away from
the cell's centre, a small fraction of a receptive field of hundreds of pixels.
""")

# %% [markdown]
# With the smaller inputs of this book's CPU presets the picture changes: the network of the
# chosen preset at its own input size (compare the receptive fields with the input side and
# with one cell of its grid):

# %%
preset_trunk = build_trunk(config.arch, in_channels=1, width=config.width,
                           input_size=config.image_size, grid=config.grid)
Table(stage_receptive_fields(preset_trunk), ["layer", "ops", "rf", "jump"],
      {"ops": "convs and pools", "rf": "receptive field (px)", "jump": "jump (px)"},
      caption=f"{ARCH_LABELS[config.arch]} at {config.image_size} px (preset {ctx.preset!r}), "
              f"grid cell {config.image_size / config.grid:g} px")


# %% [markdown]
# ## Exercises
#
# 1. Compute by hand the receptive field and jump of every SimpleNet layer with the `stride2`
#    stem (5 x 5, stride 2) at 96 px, then check your numbers with
#    `stage_receptive_fields(trunk)`, where `trunk = build_trunk("simplenet", input_size=96)`.
#    How many grid cells wide is the last layer's field on a 12 x 12 grid?
# 2. Set `NUM_CLASSES = [313, 50]` (Zhang et al.'s 313 ab bins and 50 L bins) and rerun the
#    parameter table. How much do the classifiers weigh now, for FC-AlexNet and for SimpleNet?
# 3. Extend `INPUT_SIZES` with 64 and 128. Which stems does the rule pick, and where would you
#    rather have a different choice? (Hint: compare the receptive field of the last layer with
#    the input side.)
# 4. The first layer cannot be written as one `groups=2` convolution because its groups are one
#    and two channels. Show that a `groups=2` convolution on a four-channel input (L, a zero
#    channel, a, b) with suitably placed weights computes both halves' conv1 at once. How many of
#    its weights are wasted on the zero channel?
# 5. Replace FC-ResNet18's stem at 180 px by torchvision's original one (`stem="imagenet"`, with
#    the max pool). What map does the trunk end with, what does the head do to reach 12 x 12,
#    and what happens to the receptive field of `layer4`?
