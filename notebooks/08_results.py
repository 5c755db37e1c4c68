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
# # 8. Results: does split-brain pretraining work?
#
# **[Open this chapter in Colab](https://colab.research.google.com/github/splitbrain-book/splitbrain/blob/main/notebooks/08_results.ipynb)**
#
# **Needs:** a CPU. Most of the chapter reads the records the package ships. The section that
# probes the shipped networks uses CIFAR-10 when it is at hand: set `CIFAR10_DIR` to the
# CIFAR-10 JPEGs' `train/` folder, or `DOWNLOAD = True` to let torchvision fetch CIFAR-10
# (170 MB) into the cache folder. Without either, that section probes the networks on the
# book's embedded photographs instead.

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

prose("**Time:** " + needs("08_results"))

# %% [markdown]
# **You should see:** one figure that answers the chapter's question (every seed of every
# pretraining method against the same network at random initialisation and against the
# supervised network's features); how much of that survives fine-tuning with 25 to 800 labels
# per class; rescaled Lab set against Lab seed by seed; our Table 1 beside the poster's; the
# shipped networks probed again on your machine; and the recipes that made the pretraining
# learn on a CPU.

# %% tags=["parameters"]
PRESET = "auto"
SEED = 0
RESULTS_DIR = None  # a results folder with run records; None: the records the package ships
GRIDS = ["cifar-recipe", "cifar-cpu", "stl10-colab", "embedded-cpu", "cifar-quick"]  # the grid reported: the first that has records (cifar-quick is retired)
SCORE = "probe_top1"  # the score set beside the poster's: cifar-recipe is probe-only (the poster fine-tuned)
CIFAR10_DIR = None  # the CIFAR-10 JPEGs' train/ folder the grid ran on (reproduces its probe exactly)
DOWNLOAD = False  # True: fetch torchvision's CIFAR-10 (170 MB) into the cache folder if it is missing

# %% tags=["hide-input"]
# %matplotlib inline
import time
from pathlib import Path

from IPython.display import display

from splitbrain.comparisons import (
    POSTER_ARCHITECTURES,
    POSTER_SPACES,
    best_supported_architecture,
    choose_grid,
    collect_run_records,
    format_mean_std,
    headline_rows,
    layer_statistics,
    layer_table_rows,
    paired_difference,
    scale_rows,
    seed_by_seed_rows,
    seed_scores,
    side_by_side_rows,
)
from splitbrain.notebook import chapter_setup, glue, prose
from splitbrain.plots.results import plot_headline, plot_layer_curves
from splitbrain.results import ARCH_LABELS, SHIPPED_RESULTS, SPACE_LABELS, summarize
from splitbrain.tables import Table, read_reference_csv

ctx = chapter_setup(PRESET, seed=SEED)
results_dir = Path(RESULTS_DIR) if RESULTS_DIR else SHIPPED_RESULTS
records = collect_run_records(results_dir)
grid = choose_grid(records, GRIDS)
grid_records = [r for r in records if r.get("grid") == grid]
summary = summarize(grid_records)
poster_csv = results_dir / "reference" / "poster_table1.csv"
zhang_csv = results_dir / "reference" / "zhang2017_table2_imagenet_linear.csv"
poster_rows = read_reference_csv(poster_csv) if poster_csv.is_file() else []
zhang_rows = read_reference_csv(zhang_csv) if zhang_csv.is_file() else []
# The architecture the chapter's figure is about: the one whose split-brain gaps rest on the most seeds.
headline = headline_rows(records, grid) if grid else []
arch = best_supported_architecture(headline)
print(f"preset: {ctx.preset}; {len(records)} run records; grid reported: {grid} ({len(grid_records)} runs); "
      f"figure: {ARCH_LABELS.get(arch, 'none')}")
if not records:
    print(f"No run records under {results_dir}: set RESULTS_DIR to a folder of run records.")

# %% [markdown]
# ## How the question is measured
#
# Split-brain pretraining never sees a label: each half of the network predicts the other
# half's colour channels (chapter 5). Whether that taught it anything useful is asked the way
# Zhang et al. ask it {cite:p}`zhang2017splitbrain`: freeze the network, fit a linear
# classifier on one layer's features with labels, and score it on images nothing was trained
# or chosen on (chapter 6). The layer is chosen on a validation part of the labelled images,
# never on the scored ones.
#
# A score alone says little, because a convolutional network computes useful features even
# with random weights. So every pretrained network is set against **the same network at its
# random initialisation, through the same probe, on the same images**, seed by seed. That
# difference, the *gap*, is the number this chapter is about. Above the pretrained networks
# sit the *supervised features*: the same network trained for 30 epochs with the 8,000 labels
# the probe sees, then probed like the others. They show how much better features labels buy
# through the same probe; the network trained from scratch with a proper recipe and read out by
# its own classifier (the supervised baseline) is in the label-efficiency section.


# %%
def percent(mean, std=None, n=None):
    """"64.7 ± 0.2%" from fractions, with the seed count when given."""
    if mean is None:
        return "no run yet"
    text = format_mean_std(100 * mean, None if std is None else 100 * std, digits=1) + "%"
    return text if n is None else f"{text} ({n} seed{'s' if n != 1 else ''})"


# the runs whose records hold every number the sentence gives (a shipped network's names no steps)
pretrained_runs = [r for r in grid_records if r["model"]["method"] == "splitbrain"
                   and (r["metrics"].get("pretrain") or {}).get("steps") is not None
                   and r["metrics"]["pretrain"].get("epochs") is not None
                   and r["metrics"]["probe"].get("val_images") is not None]
if pretrained_runs:
    pretrain, probe = pretrained_runs[0]["metrics"]["pretrain"], pretrained_runs[0]["metrics"]["probe"]
    images = pretrain["steps"] * pretrained_runs[0]["config"]["pretrain"]["batch_size"]
    protocol = (f"In grid {grid}, each split-brain network pretrains on {images:,} unlabelled images "
                f"({pretrain['epochs']} epochs, {pretrained_runs[0]['config']['pretrain']['image_size']} px); its "
                f"probes fit on {probe['train_images']:,} labelled images, choose their layer on "
                f"{probe['val_images']:,} more, and are scored on {probe['test_images']:,} held-out images in "
                f"{probe['num_classes']} classes.")
else:
    protocol = "No split-brain run has been recorded in this copy, so there is no protocol to describe yet."

# %% tags=["remove-input"]
glue("protocol_sentence", protocol)
prose(r"""
{protocol_sentence}
""")

# %% [markdown]
# ## The answer in one figure
#
# Each point is one seed's pretrained network, scored through the linear probe; the bars
# mark each method's mean. The dashed lines are the same network at random initialisation
# (the floor) and the supervised features (the same network trained with the labels, then probed).

# %% mystnb={"figure": {"caption": "The answer in one figure, from the recorded grid: linear-probe top-1 of each pretraining method, one point per seed and a bar at the mean, against the same network at random initialisation (dashed) and the supervised features (dotted). See which methods clear their floor, and by more than the spread of their seeds.", "name": "fig-ch8-headline"}, "image": {"alt": "A strip chart of held-out probe top-1 in percent, one column per pretraining method with a dot per seed and a horizontal bar at the mean, above two dashed horizontal lines for random initialisation and below a dotted line for supervised features."}}
by_method = {row["method"]: row for row in summary if row["arch"] == arch}
if arch is not None:
    points = {f"{row['label']} ({row['color_space']})": seed_scores(grid_records, grid, arch, row["method"], SCORE)
              for row in by_method.values() if row["kind"] in ("splitbrain", "dae")}
    floors = {f"random init ({row['color_space']})": row[SCORE] for row in by_method.values() if row["kind"] == "random"}
    ceiling = next((row[SCORE] for row in by_method.values() if row["kind"] == "supervised"), None)
    display(plot_headline(points, floors, ceiling,
                          title=f"{ARCH_LABELS[arch]}, grid {grid}: linear probe top-1, layer chosen on validation"))
else:
    print("No split-brain run with a random-init floor has been recorded: there is nothing to draw yet.")

# %% tags=["remove-input"]
lab = next((row for row in headline if row["arch"] == arch and row["method"] == "lab"), None)
ceiling_row = next((row for row in by_method.values() if row["kind"] == "supervised"), None)
glue("lab_top1", percent(lab["top1"], lab["top1_std"], lab["n"]) if lab else "no run yet")
glue("floor_top1", percent(lab["floor_top1"], lab["floor_top1_std"]) if lab else "no run yet")
glue("lab_gap", format_mean_std(lab["gap"], lab["gap_std"], scale=100, digits=1, sign=True) if lab else "no gap yet")
glue("ceiling_top1", percent(ceiling_row[SCORE], ceiling_row[f"{SCORE}_std"], ceiling_row["n"])
     if ceiling_row else "not run yet")
prose(r"""
Split-brain pretraining in Lab reaches {lab_top1} through the probe, where the
same network at random initialisation reaches {floor_top1}: a gap of
{lab_gap} points, mean ± standard deviation of the per-seed differences. The
network trained with the labels and then probed reaches {ceiling_top1}. On a 10-class task where guessing scores
10%, the floor is high: random convolutions on 32 px images already separate the classes
well, which is why a gap, not an accuracy, is the test. The table under the poster's
comparison below lists every method's gap.
""")

# %% [markdown]
# ## Labels: what pretraining saves
#
# A linear probe freezes the network. The poster, and anyone with labels to spare, trains the
# whole network instead, and the reason to pretrain without labels is that labels are few. The
# label-efficiency grid takes the grid's SimpleNet networks (split-brain in Lab and in rescaled
# Lab, and the same network at random initialisation, seed by seed) and gives each 25, 100, 400
# or 800 labelled images per class (800 is all 8,000 fit images). Each is probed and fine-tuned:
# the whole network trained with SGD, a warm-up and a cosine schedule, weight decay, random crops
# and flips, several settings (the head and the learning rate) tried and the best kept on the
# 2,000 validation images, for every network, label count and seed alike. The held-out images
# only report. The random initialisation fine-tuned with all 800 labels per class is the
# supervised baseline: the same network trained from scratch on the same labels with the same
# recipe.

# %% mystnb={"figure": {"caption": "Held-out top-1 on CIFAR-10 against labelled images per class, from the label-efficiency records: split-brain pretraining and random initialisation, linear probe (dashed) and fine-tuned (solid); points are single seeds, lines means over seeds. See whether pretraining's advantage shrinks as labels grow.", "name": "fig-ch8-label-curve"}, "image": {"alt": "A line chart of held-out top-1 in percent against labelled images per class on a log axis, with solid fine-tuned and dashed linear-probe lines for each pretrained network in colour and for random initialisation in black, and small markers for individual seeds; all lines rise with more labels."}}
from splitbrain.label_curve import curve_points, curve_rows, curve_sentences, curve_table, gap_table
from splitbrain.plots.results import plot_label_curve

label_points = curve_points(records, arch=arch or "simplenet")
if label_points:
    display(plot_label_curve(label_points, title="SimpleNet, CIFAR-10: held-out top-1 by labelled images per class"))
else:
    print("No label-efficiency records in this copy: run splitbrain reproduce --grid label-efficiency.")

# %% tags=["remove-input"]
from splitbrain.experiments.report import stale_runs

supervised = next((row for row in curve_rows(label_points) if row["method"] == "random-lab" and row["labels"] == 800), None)
glue("label_sentences", curve_sentences(label_points))
glue("label_table", curve_table(label_points))
glue("label_gaps", gap_table(label_points) if label_points else "")
glue("supervised_baseline",
     f"Trained from scratch with all 800 labels per class and the same recipe, the network reaches "
     f"{percent(supervised['finetune'], supervised['finetune_std'], supervised['n'])}: that is the supervised "
     f"baseline the pretrained networks are measured against, not the probe of a network trained with labels "
     f"in the figure above." if supervised else "The supervised baseline (random initialisation fine-tuned with all "
     "800 labels per class) " + ("was run under an older fine-tuning budget and waits for a re-run under the current "
                                 "one." if any(name.startswith("simplenet-random-lab-l800-")
                                              for name in stale_runs(records, "label-efficiency"))
                                 else "has not been run in this copy."))
prose(r"""
{label_sentences} {supervised_baseline}

Held-out top-1 (%), mean ± standard deviation over seeds, of each network probed, fine-tuned,
and the better of the two on validation:

{label_table}
Each pretrained network minus random initialisation, seed by seed, in points:

{label_gaps}
""")

# %% [markdown]
# ## Do the rescaled bins help?
#
# The poster's own idea is to quantize each image's *ab* colours on bins rescaled to that
# image's range (chapter 3). Its Table 1 puts rescaled Lab ahead of Lab for every network.
# Here the two are compared the only way their small difference can be seen: seed by seed,
# each rescaled-Lab network against the Lab network of the same seed (same initialisation,
# same images in the same order).

# %%
rescaled_rows = seed_by_seed_rows(grid_records, grid, arch, "rescaled_lab", "lab", SCORE) if arch else []
difference = paired_difference(grid_records, grid, arch, "rescaled_lab", "lab", SCORE) if arch else None
if rescaled_rows:
    display(Table(rescaled_rows, caption=f"{ARCH_LABELS[arch]}, grid {grid}: rescaled Lab minus Lab, probe top-1 on "
                                         "the held-out images, layer chosen on validation"))
else:
    print("No seed has both a Lab and a rescaled-Lab run yet.")
if difference is None:
    rescaled_text = "not measured yet: no seed has both runs"
elif difference["n"] == 1:
    rescaled_text = f"{100 * difference['mean']:+.1f} points from a single seed, which says nothing about its spread"
else:
    rescaled_text = (f"{format_mean_std(difference['mean'], difference['std'], scale=100, digits=1, sign=True)} "
                     f"points over {difference['n']} seeds")

# %% tags=["remove-input"]
glue("rescaled_minus_lab", rescaled_text)
prose(r"""
Rescaled Lab minus Lab: {rescaled_minus_lab}. Read it against its spread: a mean
difference smaller than the standard deviation of the per-seed differences is not evidence
for either kind of bins, whichever way it points.
""")

# %% [markdown]
# ## Our Table 1 beside the poster's
#
# The poster fine-tuned every network on 1000 classes with 64 labelled images each and
# reports top-1 after fine-tuning {cite:p}`iyengar2019poster`; our grid probes 10 classes
# linearly. The two columns of accuracies therefore cannot be compared with each other, only
# the *order* of the rows within each column, and the gap, which the poster did not measure.
# Rows the poster has no counterpart for (our floors and supervised features) come last.

# %%
side_by_side = side_by_side_rows(poster_rows, grid_records, grid, SCORE) if poster_rows else []
if side_by_side:
    display(Table(side_by_side, caption=f"Poster: top-1 after fine-tuning, 1000 classes. Ours (grid {grid}): linear "
                                        "probe top-1 on the held-out images, layer chosen on validation, mean ± std "
                                        "over seeds; gap over random init in points"))
else:
    print("The poster's table (results/reference/poster_table1.csv in the repository) is not in this copy.")

def order(scores):
    """"Lab > rescaled Lab > RGB": image spaces from best to worst."""
    return " > ".join(SPACE_LABELS[space] for space in sorted(scores, key=scores.get, reverse=True))

poster_simplenet = {POSTER_SPACES[row["Image Space"]]: float(row["Top 1"]) for row in poster_rows
                    if POSTER_ARCHITECTURES.get(row["Architecture"]) == "simplenet"}
ours_simplenet = {row["color_space"]: row[SCORE] for row in summary
                  if row["arch"] == "simplenet" and row["kind"] == "splitbrain" and row[SCORE] is not None}

# %% tags=["remove-input"]
glue("poster_order", order(poster_simplenet) if poster_simplenet else "not available here")
glue("our_order", order(ours_simplenet) + f" ({len(ours_simplenet)} of 3 image spaces run)" if ours_simplenet
     else "not measured yet")
prose(r"""
For SimpleNet the poster orders the image spaces {poster_order}; our probes order
them {our_order}. An order is only as firm as the differences behind it: compare
each step with the spreads in the table and with the seed-by-seed difference above.
""")

# %% [markdown]
# ## A deeper network
#
# The figure is drawn for the architecture whose gaps rest on the most seeds. The grid also
# pretrains FC-ResNet18 (chapter 4) with the same recipe, as far as a 2-core CPU allowed; a
# deeper network costs more per step, so it has fewer runs. A single seed has no spread, so read
# its gap as a direction, not a measurement.

# %% tags=["hide-input"]
def gaps_of(architecture):
    """"Lab +12.1 ± 0.4, RGB +8.3 ± 0.8 (3 seeds)": split-brain gaps over random init, in points."""
    rows = [row for row in headline if row["arch"] == architecture]
    seeds = sorted({row["n"] for row in rows})
    gaps = ", ".join(f"{row['space']} {format_mean_std(row['gap'], row['gap_std'], scale=100, digits=1, sign=True)}"
                     for row in rows)
    return f"{gaps} ({' or '.join(map(str, seeds))} seed{'s' if seeds != [1] else ''})"


deeper = [a for a in ARCH_LABELS if a != arch and any(row["arch"] == a for row in headline)]
deeper_text = " ".join(f"{ARCH_LABELS[a]}: split-brain {gaps_of(a)}, against {ARCH_LABELS[arch]}'s {gaps_of(arch)}."
                       for a in deeper) or "No other architecture has a split-brain run beside its floor yet."

# %% tags=["remove-input"]
glue("deeper_gaps", deeper_text)
prose(r"""
Probe gap over the same network at random initialisation, in points of top-1, mean ± standard
deviation of the per-seed differences: {deeper_gaps}
""")

# %% [markdown]
# ## Probe the shipped networks yourself
#
# The grid's Lab and rescaled-Lab networks of seed 0 come with the
# package: `splitbrain.pretrained(name)` loads one, checked against its sha256. Below, each is
# probed again at the layer its run chose on validation, beside the same architecture at
# random initialisation. On the CIFAR-10 JPEGs (`CIFAR10_DIR`) the probe sees the run's own
# labelled and held-out images and reproduces the record's number; on torchvision's CIFAR-10
# it is scored on the official test images instead, so it can differ by a few tenths.

# %%
import dataclasses

from splitbrain.data import MissingDatasetError
from splitbrain.evaluate import build_eval_datasets
from splitbrain.weights import PRETRAINED, probe_config, probe_shipped

shipped_rows, shipped_results = [], {}
for name, entry in PRETRAINED.items():
    # ctx.eval_data: empty, except in a test run capped by SPLITBRAIN_CAP (then its smaller counts)
    try:
        config = dataclasses.replace(probe_config(name, data_root=CIFAR10_DIR, download=DOWNLOAD), **ctx.eval_data)
        datasets = build_eval_datasets(config)
        data = "CIFAR-10 JPEGs, the run's parts" if CIFAR10_DIR else "CIFAR-10 (torchvision), official test set"
    except MissingDatasetError:
        # the run's own probe recipe and image size, on the embedded photographs: nothing is fetched
        config = dataclasses.replace(probe_config(name), data="embedded", download=False, max_train_images=None,
                                     max_test_images=None)
        config = dataclasses.replace(config, **ctx.eval_data)
        print(f"{name}: CIFAR-10 is not here (set CIFAR10_DIR, or DOWNLOAD = True to fetch 170 MB into the "
              f"package's data folder); probing on the embedded photographs instead, at its run's "
              f"{config.image_size} px")
        datasets = build_eval_datasets(config)
        data = "embedded photographs (crops)"
    start = time.perf_counter()
    results = shipped_results[name] = probe_shipped(name, config, datasets)
    ours, floor = results["pretrained"].metrics, results["random init"].metrics
    shipped_rows.append({"network": name, "data": data, "layer": ours["best_layer"], "pretrained": percent(ours["top1"]),
                         "random init": percent(floor["top1"]), "gap": f"{100 * (ours['top1'] - floor['top1']):+.1f}",
                         "seconds": f"{time.perf_counter() - start:.0f}"})
display(Table(shipped_rows, caption="The shipped networks probed on this machine: held-out top-1 at the layer their "
                                    "run chose on validation"))

# %% tags=["remove-cell"]
for name, results in shipped_results.items():
    ours, floor = results["pretrained"].metrics, results["random init"].metrics
    glue(f"gap_{name}", 100 * (ours["top1"] - floor["top1"]), seen=f"{name}: probe gap over random init, points")

# %% [markdown]
# ## What made it learn: time to margin
#
# A gap is only as convincing as the pretraining behind it, and on a CPU pretraining is paid
# in minutes. `python -m splitbrain.experiments.margin` pretrains SimpleNet with a named
# recipe and probes it beside the same network at random initialisation (layer chosen on
# validation, top-1 on 10,000 held-out CIFAR-10 images). Every configuration tried is a record
# in `results/margin/`, listed here in the order it was run, with the images it saw, its
# minutes and the machine's speed on a reference step, so a reader on another machine can
# scale the minutes. The first recipe (float32, images decoded every epoch, a step-wise
# learning rate) is the `prototype` row; the `cifar-20min` and `cifar-60min` recipes hold the
# images in memory as bytes, train under bfloat16 autocast and spend their budget with a
# cosine schedule.

# %%
from splitbrain.experiments.margin import margin_rows
from splitbrain.results import load_records

margin_records = load_records(results_dir / "margin", kind="margin") if (results_dir / "margin").is_dir() else []
Table([{"trial": r["name"], "images seen": f"{r['images_seen']:,}", "minutes": f"{r['minutes']:.1f}",
        "images/s": f"{r['images_per_s']:.0f}", "probe top-1": f"{100 * r['top1']:.1f}% ({r['layer']})",
        "random init": f"{100 * r['random_top1']:.1f}%", "gap": f"{r['gap_points']:+.1f}"}
       for r in margin_rows(margin_records)],
      caption="Time to margin: every recipe tried; pretraining minutes only; held-out top-1 at the layer chosen on "
              "validation") if margin_records else print("No time-to-margin records in this copy of the chapter.")

# %% [markdown]
# ## Layer by layer
#
# Zhang et al. probed every layer of FC-AlexNet on ImageNet (the first figure's upper panel);
# ours probes every layer of each architecture the grid ran (one panel per architecture). Their split-brain features beat the random network at
# every layer, and the gap grows with depth before the last layer specialises to the pretext
# task; a plain autoencoder falls below random at the deepest layers.

# %%
num_classes = grid_records[0]["metrics"]["probe"]["num_classes"] if grid_records else None
layer_archs = [a for a in ARCH_LABELS if any(row["arch"] == a for row in summary)]


SHOWN_ORDER = ("simplenet", "fcresnet18", "fcalexnet")  # the order of the figures below


def layer_figure(layer_arch):
    """Ours for one architecture, with Zhang et al.'s curves above the first one shown; None where
    the grid has no run of it."""
    if layer_arch in layer_archs and zhang_rows:
        first = next(arch for arch in SHOWN_ORDER if arch in layer_archs)
        return plot_layer_curves(zhang_rows if layer_arch == first else [], layer_statistics(records, grid, layer_arch),
                                 ours_title=f"This book, grid {grid}: {ARCH_LABELS[layer_arch]} ({num_classes} classes)",
                                 chance=1 / num_classes)


def layer_table(layer_arch):
    """Every layer's probe top-1 (top-5) for one architecture; None where the grid has no run of it."""
    if layer_arch in layer_archs:
        return Table(layer_table_rows(records, grid, layer_arch),
                     caption=f"{ARCH_LABELS[layer_arch]}, grid {grid}: probe top-1 (top-5) at every layer, %, mean ± std "
                             "over seeds")


if not layer_archs and zhang_rows:
    print("No run of this book's grid has been recorded: only Zhang et al.'s curves.")

# %% mystnb={"figure": {"caption": "Layer by layer, SimpleNet: Zhang et al.'s ImageNet probes of FC-AlexNet (upper panel) and this book's probes of every SimpleNet layer for each method, mean over seeds (lower panel). See at which layers the split-brain curves rise above the random-init curves, and where the gap is widest.", "name": "fig-ch8-layers-simplenet"}, "image": {"alt": "Two line charts, one above the other, of probe top-1 in percent against layer, shallow to deep. Upper: Zhang et al.'s curves for supervised features, random initialisation, an autoencoder and split-brain. Lower: this book's curves for each split-brain colour space and for random initialisation, with a dotted chance line."}}
layer_figure("simplenet")

# %%
layer_table("simplenet")

# %% mystnb={"figure": {"caption": "Layer by layer, FC-ResNet18: this book's probes of every FC-ResNet18 stage for each method (Zhang et al.'s curves are above the SimpleNet panel). Compare the gap over random init with SimpleNet's, keeping in mind how many seeds each rests on.", "name": "fig-ch8-layers-resnet18"}, "image": {"alt": "A line chart of probe top-1 in percent against FC-ResNet18 stage, shallow to deep: this book's curves for each split-brain colour space and for random initialisation, with a dotted chance line."}}
layer_figure("fcresnet18")

# %%
layer_table("fcresnet18")

# %% mystnb={"figure": {"caption": "Layer by layer, FC-AlexNet: this book's probes of every FC-AlexNet layer for each method (Zhang et al.'s ImageNet probes of the same architecture are in the first figure of this section).", "name": "fig-ch8-layers-fcalexnet"}, "image": {"alt": "A line chart of probe top-1 in percent against FC-AlexNet layer, shallow to deep: this book's curves for each split-brain colour space and for random initialisation."}} tags=["remove-input"]
layer_figure("fcalexnet")

# %% tags=["remove-input"]
layer_table("fcalexnet")

# %% mystnb={"figure": {"caption": "Zhang et al.'s layer-by-layer ImageNet probes of FC-AlexNet alone (this copy has no recorded runs of its own). See the split-brain curve stay above random init at every layer.", "name": "fig-ch8-layers-zhang"}, "image": {"alt": "A line chart of probe top-1 in percent against FC-AlexNet layer for supervised features, random initialisation, an autoencoder and split-brain."}} tags=["remove-input"]
if not layer_archs and zhang_rows:
    display(plot_layer_curves(zhang_rows))

# %% [markdown]
# ## Three very different scales
#
# Zhang et al. pretrained on the 1.3 million ImageNet training images and probed 1000 classes;
# the poster pretrained on 500 thousand 96 px images and fine-tuned on 1000 classes; this
# book's grids pretrain on tens of thousands of 32 px images on a 2-core CPU and probe 10
# classes. What a run at the poster's scale would cost on a GPU is counted in the README.

# %%
Table(scale_rows(records, grid), ["work", "pretraining_images", "image_side", "classes", "hardware"],
      {"work": "", "pretraining_images": "pretraining images", "image_side": "image side"},
      caption="The published settings (as their sources state them) and ours (from the records)")

# %% [markdown]
# ## What this does and does not show
#
# A reproduction at a smaller scale can check *directions*: does a method lift the same network
# above its random initialisation, and do the image spaces come in the same order. It cannot
# check the poster's accuracies, which belong to another data set, another image size and
# another number of classes. The spread over seeds covers training noise only: every seed sees
# the same split of the data. And a difference smaller than its spread over seeds, whichever
# way it points, is not evidence that one image space is better than another.

# %% [markdown]
# ## Exercises
#
# 1. Set `CIFAR10_DIR` to the CIFAR-10 JPEGs' `train/` folder and run the shipped-network
#    section. Does the pretrained row match the Lab seed-0 point of the figure, and why?
# 2. Using the seed-by-seed table, how many seeds would you need before a rescaled-Lab
#    difference of the mean you measured is larger than twice its standard error
#    (std / sqrt(n))?
# 3. The gap is computed seed by seed. Subtract the floor's mean from the method's mean
#    instead and add the two spreads in quadrature. Is the paired spread smaller, and why
#    would it be?
# 4. In the label-efficiency table, at which label count does fine-tuning first beat the linear
#    probe, for the pretrained and for the random network?
# 5. In the layer-by-layer figure, at which layer is each method best, and is the gap over
#    random init largest there? Compare with Zhang et al.'s curve on the left.
