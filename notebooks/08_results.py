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
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8. Results: Table 1 beside the published numbers
#
# **[Open this chapter in Colab](https://colab.research.google.com/github/splitbrain-book/splitbrain/blob/main/notebooks/08_results.ipynb)**
#
# **Needs:** a CPU; seconds in every preset. Nothing is trained here: the chapter reads the
# JSON records that the experiment runs left in the repository's `results/` folder and the
# published tables stored beside them. On Colab, where only the package is installed, those
# files are absent and the chapter says so.
#
# **You should see:** how far apart in scale the original paper, the poster and this book's
# runs are; the poster's Table 1 and Zhang et al.'s ImageNet linear probe as printed; this
# run's Table 1 with the spread over seeds; the headline, the gap between split-brain features
# and the same network at random initialisation through the same probe; and one sentence per
# row of the poster's table saying what our runs agree with and what they do not; and what one
# run of the poster-scale STL-10 grid costs in FLOPs and, at best, in minutes on a Colab T4.
# Where no run has been recorded yet, the chapter says so instead of showing numbers.

# %%
# Setup: on Colab (or anywhere the package is missing) install it from the repository.
# Only what is missing is installed; Colab's own torch is never replaced.
import importlib.util, subprocess, sys
if importlib.util.find_spec("splitbrain") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "git+https://github.com/splitbrain-book/splitbrain"], check=True)

# %% tags=["parameters"]
PRESET = "auto"
SEED = 0
RESULTS_DIR = "../results"  # the repository's results folder, relative to notebooks/
GRIDS = ["cifar-recipe", "cifar-cpu", "stl10-colab", "cifar-quick", "embedded-cpu"]  # the grid reported: the first that has records
ARCHS = None  # architectures of the per-layer figures and tables; None: every one the grid has records of
SCORE = "probe_top1"  # our score set against the poster's Top 1: cifar-recipe is probe-only (the poster fine-tuned)

# %%
# %matplotlib inline
import statistics
from pathlib import Path

from IPython.display import display

from splitbrain.notebook import chapter_setup, glue
from splitbrain.plots.models import Table
from splitbrain.plots.results import (
    choose_grid,
    collect_run_records,
    format_mean_std,
    grid_counts,
    headline_rows,
    headline_sentence,
    layer_statistics,
    layer_table_rows,
    plot_layer_curves,
    plot_table1_comparison,
    poster_comparison,
    read_reference_csv,
    reference_sources,
    scale_rows,
    table1_rows,
)
from splitbrain.experiments.report import machine_names, missing_runs, stale_runs
from splitbrain.experiments.reproduce import validated_probe
from splitbrain.results import ARCH_LABELS, summarize

ctx = chapter_setup(PRESET, seed=SEED)
results_dir = Path(RESULTS_DIR)
reference_dir = results_dir / "reference"
poster_csv = reference_dir / "poster_table1.csv"
zhang_csv = reference_dir / "zhang2017_table2_imagenet_linear.csv"

records = collect_run_records(results_dir)
grid = choose_grid(records, GRIDS)
grid_records = [r for r in records if r.get("grid") == grid]
poster_rows = read_reference_csv(poster_csv) if poster_csv.is_file() else []
zhang_rows = read_reference_csv(zhang_csv) if zhang_csv.is_file() else []

if not results_dir.is_dir():
    status = ("This copy of the chapter runs without the repository's results folder (on Colab only the "
              "package is installed), so there are neither run records nor reference tables to show. Both "
              "live in the repository under results/: clone it and run this notebook from its notebooks "
              "folder to see them.")
elif not records:
    status = ("The results folder holds no run records yet, so this chapter shows the published numbers "
              "only. Run one of the experiment grids (see splitbrain.experiments.reproduce) and execute the "
              "chapter again.")
else:
    counts = grid_counts(records)
    status = (f"The results folder holds {len(records)} run records in {len(counts)} grid(s) "
              f"({', '.join(f'{name}: {n}' for name, n in counts.items())}); this chapter reports grid "
              f"{grid} ({len(grid_records)} runs).")
glue("results_status", status)
print(f"preset: {ctx.preset}, {len(records)} run records, grid reported: {grid}")

# %% [markdown]
# {glue:text}`results_status`
#
# ## Three very different scales
#
# Before any number: the three sets of results this chapter puts side by side were made at
# scales that differ by orders of magnitude. Zhang et al. pretrained on the 1.3 million
# ImageNet training images at 180 x 180 pixels and probed on ImageNet's 1000 classes
# {cite:p}`zhang2017splitbrain`; the poster summarises their schedule as 40 epochs. The poster
# pretrained on 500 thousand 96 x 96 images of a course data set for 5 to 10 epochs and
# fine-tuned on 1000 classes with few labels each {cite:p}`iyengar2019poster`. This book's grids
# run on a 2-core CPU or a single GPU, on images of 32 to 96 px in 10 classes. The last row is
# read from the run records themselves.

# %%
scale = scale_rows(records, grid)
ours_scale = [r for r in grid_records if r["config"]["pretrain"].get("image_size")]
if ours_scale:
    side = ours_scale[0]["config"]["pretrain"]["image_size"]
    scale_sentence = (f"Each of Zhang et al.'s 180 px crops holds {(180 / side) ** 2:.0f} times the pixels of one "
                      f"of our {side} px images, and the poster's 96 px images {(96 / side) ** 2:.0f} times; our "
                      f"task has {scale[-1]['classes']} classes where theirs have 1000.")
else:
    scale_sentence = "Without run records there is no row of ours to compare."
glue("scale_sentence", scale_sentence)
Table(scale, ["work", "data", "pretraining_images", "image_side", "pretraining", "evaluation", "classes", "hardware"],
      {"work": "", "data": "pretraining data", "pretraining_images": "pretraining images",
       "image_side": "image side", "pretraining": "pretraining", "evaluation": "evaluation",
       "classes": "classes", "hardware": "hardware"},
      caption="The published settings (as their sources state them) and ours (from the records)")

# %% [markdown]
# {glue:text}`scale_sentence` Absolute accuracies therefore cannot be compared across the three:
# 1000-way classification is a different problem from the 10-way classification of this book's
# grids, where guessing alone scores 10%. What can be compared is the *order* of methods
# within one setting, and the gap each method opens over the same network left at its random
# initialisation.
#
# ## The published numbers
#
# Both tables are stored with their citations in `results/reference/` (see the README there)
# and printed here as they were published. First the poster's Table 1, top-1 and top-5
# accuracy (fractions) after fine-tuning; "SimpleNet 18" is the poster's own label for its
# 5-layer SimpleNet.

# %%
print("\n".join(reference_sources(poster_csv)) if poster_rows else "poster_table1.csv is not available here.")
Table(poster_rows, caption="Iyengar et al. 2019, Table 1, as printed",
      formats={"Top 1": ".4f", "Top 5": ".4f"}) if poster_rows else None

# %% [markdown]
# The table puts the rescaled Lab bins ahead of plain Lab for every architecture and ResNet-18
# ahead of the other networks (the poster's summary: best image space rescaled Lab, best model
# ResNet-18), and every split-brain network above the denoising-autoencoder baseline except the
# FC-AlexNet trained on plain Lab, whose 3.01% the poster does not explain. (The summary box
# quotes 14.05% for the best network, the table 0.1404.)
#
# Then Table 2 of Zhang et al.: ImageNet top-1 (%) of a linear classifier on the frozen
# features of each layer of FC-AlexNet {cite:p}`zhang2017splitbrain`.

# %%
if zhang_rows:
    split_brain = next(row for row in zhang_rows if row["method"] == "Split-Brain (cl,cl)")
    gaussian = next(row for row in zhang_rows if row["method"] == "Gaussian (random) init")
    autoencoder = next(row for row in zhang_rows if row["method"] == "Lab -> Lab autoencoder")
    layers = [key for key in split_brain if key.startswith("conv")]
    gaps = {layer: split_brain[layer] - gaussian[layer] for layer in layers}
    best_layer = max(gaps, key=gaps.get)
    below = [layer for layer in layers if autoencoder[layer] < gaussian[layer]]
    zhang_sentence = (f"On ImageNet the split-brain features beat the random (Gaussian) initialisation at every "
                      f"layer, by {min(gaps.values()):.1f} to {max(gaps.values()):.1f} points, most at "
                      f"{best_layer}. The plain Lab autoencoder ")
    zhang_sentence += (f"falls below the random network at {' and '.join(below)}: reconstructing the input is "
                       "not enough to learn good features." if below else
                       "stays above the random network at every layer.")
    print("\n".join(reference_sources(zhang_csv)))
else:
    zhang_sentence = "Zhang et al.'s table is not available in this copy of the chapter."
    print("zhang2017_table2_imagenet_linear.csv is not available here.")
glue("zhang_sentence", zhang_sentence)
Table(zhang_rows, caption="Zhang et al. 2017, Table 2, ImageNet linear top-1 (%), as printed",
      formats={f"conv{i}": ".1f" for i in range(1, 6)}) if zhang_rows else None

# %% [markdown]
# {glue:text}`zhang_sentence` These are the two comparisons this book can repeat at its
# own scale: split-brain against the random-init floor, and against an autoencoder (chapter 7).
#
# ## This run's Table 1
#
# The experiment grids (`splitbrain.experiments.grids`) pretrain every architecture with every
# method and several seeds, then probe and fine-tune each network; every run writes one JSON
# record to `results/<grid>/`. `splitbrain.results.summarize` groups them by architecture and
# method and gives the mean and the sample standard deviation over seeds. The table uses the
# poster's layout (fine-tuned top-1 and top-5, as fractions) and adds two columns: the linear
# probe's top-1 at the best layer and its gap over the random-init floor of the same
# architecture, in percentage points, computed seed by seed.

# %%
our_rows = table1_rows(records, grid) if grid else []
missing = missing_runs(grid_records, grid) if grid else {}
missing_text = ("" if not missing else
                f" The grid defines {sum(len(seeds) for seeds in missing.values())} more runs that have no record yet: "
                + "; ".join(f"{ARCH_LABELS.get(arch, arch)} {method}" for arch, method in missing) + ".")
stale = stale_runs(grid_records, grid) if grid else []
stale_text = (f" {len(stale)} records were made under an older configuration of the grid: {', '.join(stale)}."
              if stale else "")
unvalidated = sum(not validated_probe(r["metrics"]["probe"]) for r in grid_records)
unvalidated_text = (f" {unvalidated} of them predate the validation protocol: their probe chose its layer on the "
                    f"held-out images." if unvalidated else "")
glue("table1_note", f"The table summarises the {len(grid_records)} run records of grid {grid}.{missing_text}{stale_text}"
     f"{unvalidated_text}"
     if our_rows else "Without run records there is no table of ours yet.")
Table(our_rows, caption=f"This book's Table 1, grid {grid}: mean ± std over seeds") if our_rows else print(
    "No run records yet: nothing to tabulate.")

# %%
if grid_records:
    grid_archs = [arch for arch in ARCH_LABELS if any(r["model"]["arch"] == arch for r in grid_records)]
    parts = []
    for arch in grid_archs:
        minutes = sorted(r["wall_time_s"] / 60 for r in grid_records if r["model"]["arch"] == arch)
        parts.append(f"{ARCH_LABELS[arch]} {minutes[0]:.0f} to {minutes[-1]:.0f} minutes "
                     f"(median {statistics.median(minutes):.0f}, {len(minutes)} runs)")
    machines = machine_names(grid_records)
    wall_sentence = (f"One run of grid {grid} (pretraining, probes at every layer and fine-tuning) took "
                     f"{'; '.join(parts)}, on {', '.join(machines)}; the runs without pretraining are the "
                     f"short ones.")
else:
    wall_sentence = "No run has been recorded, so there is no measured wall time per run yet."
precise = sum(bool(r["config"]["evaluate"].get("finetune_precise_bn")) for r in grid_records)
if not grid_records:
    bn_sentence = ""
elif precise == len(grid_records):
    bn_sentence = ("Every run's fine-tuning ended by recomputing BatchNorm's running statistics over its "
                   "training images (precise BN, chapter 6).")
else:
    bn_sentence = (f"{precise} of the {len(grid_records)} runs ended fine-tuning by recomputing BatchNorm's running "
                   f"statistics (precise BN, chapter 6); fine-tuned numbers of runs with and without it do not "
                   f"compare.")
glue("wall_sentence", f"{wall_sentence} {bn_sentence}".strip())
print(wall_sentence, bn_sentence)

# %% [markdown]
# {glue:text}`table1_note` A method with one seed has no spread. The random-init rows are the
# floors; the supervised row is the ceiling, the same network trained on the labelled images.
# {glue:text}`wall_sentence`
#
# ## What a run at the poster's scale costs
#
# The `stl10-colab` grid repeats the poster's setting: STL-10 at 96 px, 100,000 unlabelled
# images for pretraining, on one Colab GPU. Its runs cannot be timed without that GPU, but their
# work can be counted: `splitbrain.experiments.budget` builds each run's networks on PyTorch's
# meta device (shapes only, nothing is computed), counts the FLOPs of one image through every
# stage with `torch.utils.flop_counter`, and multiplies by the images the grid gives the stage.
# Divided by the GPU's published peak {cite:p}`nvidia2018t4`, that gives a time no run can beat.

# %%
from splitbrain.experiments.budget import (GPU_PEAKS_CSV, REFERENCE_GPU, bound_sentence, calibrate,
                                           calibration_sentence, calibration_summary, cost_table, forecast,
                                           projection_sentence, read_gpu_peaks)
from splitbrain.experiments.grids import get_grid

def plain(markdown: str) -> str:
    """A Markdown sentence (the budget's sentences also go into the README) as glued plain text."""
    return markdown.replace("`", "")


stl10_grid = get_grid("stl10-colab")
peaks_csv = reference_dir / GPU_PEAKS_CSV
if peaks_csv.is_file():
    peaks = read_gpu_peaks(peaks_csv)
    budget_rows = forecast(stl10_grid, peaks)
    budget_sentence = bound_sentence(budget_rows, stl10_grid, REFERENCE_GPU, peaks[REFERENCE_GPU]["fp16_tflops"])
else:
    budget_rows = []
    budget_sentence = ("The table of published GPU peaks (results/reference/ in the repository) is not available "
                       "in this copy of the chapter, so there is no bound to show.")
if grid_records:
    calibration_rows = calibrate(grid_records)
    calibration = calibration_sentence(calibration_summary(calibration_rows), grid, machine_names(grid_records))
    projection = projection_sentence(get_grid(grid), grid_records, calibration_rows)
else:
    calibration, projection = "No run has been recorded, so there are no stage times to set the count against.", ""
glue("budget_sentence", plain(budget_sentence))
glue("calibration_sentence", plain(calibration))
glue("projection_sentence", plain(projection))
cost_table(budget_rows, caption=f"One run of grid stl10-colab (any seed): FLOPs per stage and minutes at the "
                                f"{REFERENCE_GPU}'s fp16 tensor peak") if budget_rows else None

# %% [markdown]
# {glue:text}`budget_sentence`
#
# {glue:text}`calibration_sentence` {glue:text}`projection_sentence` What the count leaves open
# on a GPU is the fraction of the peak a run sustains, which depends on the network, the batch
# size, mixed precision and whether the input pipeline keeps up; `splitbrain bench` measures it
# on the GPU at hand.
#
# ## The headline: split-brain features against the random-init floor
#
# Random convolutional features are a strong baseline on small images, so the number that
# says whether pretraining taught the network anything is the gap between the pretrained
# network and the same network at its random initialisation, through the same linear probe on
# the same images. Each seed's pretrained network is compared with the random network of the
# same seed, and the gap's mean and spread are taken over those per-seed differences.

# %%
headline = headline_rows(records, grid) if grid else []
glue("headline_sentence", headline_sentence(headline, grid))
Table([{"architecture": ARCH_LABELS.get(row["arch"], row["arch"]), "space": row["space"], "seeds": row["n"],
        "split-brain": format_mean_std(row["top1"], row["top1_std"]),
        "random init": format_mean_std(row["floor_top1"], row["floor_top1_std"]),
        "gap (points)": format_mean_std(row["gap"], row["gap_std"], scale=100, digits=1, sign=True)}
       for row in headline],
      caption=f"Linear probe top-1 at the layer chosen on validation, grid {grid}, mean ± std over seeds"
      ) if headline else None

# %%
# The headline figure: every seed of every pretext method as a point, the floors and the ceiling as lines.
from splitbrain.plots.results import plot_headline, seed_scores

headline_arch = next((arch for arch in ARCH_LABELS if any(row["arch"] == arch for row in headline)), None)
if headline_arch is not None:
    rows = [row for row in summarize(grid_records) if row["arch"] == headline_arch]
    points = {f"{row['label']} ({row['color_space']})": seed_scores(grid_records, grid, headline_arch, row["method"],
                                                                     "probe_top1")
              for row in rows if row["kind"] in ("splitbrain", "dae")}
    floors = {f"random init ({row['color_space']})": row["probe_top1"] for row in rows if row["kind"] == "random"}
    ceiling = next((row["probe_top1"] for row in rows if row["kind"] == "supervised"), None)
    display(plot_headline(points, floors, ceiling,
                          title=f"{ARCH_LABELS[headline_arch]}, grid {grid}: linear probe, layer chosen on validation"))

# %% [markdown]
# {glue:text}`headline_sentence`
#
# ## What made it learn: time to margin
#
# A gap is only as convincing as the pretraining behind it, and on a CPU pretraining is paid
# for in minutes. `python -m splitbrain.experiments.margin` pretrains SimpleNet with a named
# recipe and probes it beside the same network at random initialisation (layer chosen on
# validation, top-1 on the 10,000 held-out CIFAR-10 images). Every configuration tried is a
# record in `results/margin/`; the table lists them in the order they were run, with the
# images each saw, the minutes it took and the machine's speed on a reference step, so that a
# reader on another machine can scale the minutes. The engine's first recipe (float32, images
# decoded every epoch, a step-wise learning rate, 90k images) is the `prototype` row; the
# `cifar-20min` and `cifar-60min` recipes hold the images in memory, train under bfloat16
# autocast and spend their budget with a cosine schedule.

# %%
from splitbrain.experiments.margin import margin_rows
from splitbrain.results import load_records

margin_records = load_records(results_dir / "margin", kind="margin")
Table([{"trial": r["name"], "recipe": r["recipe"], "images seen": f"{r['images_seen']:,}",
        "minutes": f"{r['minutes']:.1f}", "images/s": f"{r['images_per_s']:.0f}",
        "probe top-1": f"{100 * r['top1']:.1f}% ({r['layer']})", "random init": f"{100 * r['random_top1']:.1f}%",
        "gap (points)": f"{r['gap_points']:+.1f}"} for r in margin_rows(margin_records)],
      caption="Time to margin: every recipe tried, pretraining minutes only, held-out top-1 at the layer chosen on "
              "validation") if margin_records else print("No time-to-margin records in this copy of the chapter.")

# %% [markdown]
# ## Layer by layer
#
# Each figure sets the per-layer picture of Zhang et al. (left) beside ours (right, when there
# are records) for one architecture: the probe's top-1 at every layer for each method, with the
# spread over seeds. The table under it gives the same probes' top-1 and, in brackets, top-5.

# %%
summary_rows = [row for row in summarize(records) if row["grid"] == grid] if grid else []
num_classes = grid_records[0]["metrics"]["probe"]["num_classes"] if grid_records else None
recorded_archs = [arch for arch in ARCH_LABELS if any(row["arch"] == arch for row in summary_rows)]
layer_archs = recorded_archs if ARCHS is None else [arch for arch in ARCHS if arch in recorded_archs]
for arch in layer_archs:
    if zhang_rows:
        display(plot_layer_curves(zhang_rows, layer_statistics(records, grid, arch),
                                  ours_title=f"This book, grid {grid}: {ARCH_LABELS[arch]} ({num_classes} classes)",
                                  chance=1 / num_classes))
    display(Table(layer_table_rows(records, grid, arch),
                  caption=f"{ARCH_LABELS[arch]}, grid {grid}: linear probe top-1 (top-5) at every layer, %, "
                          f"mean ± std over seeds"))
if not layer_archs:
    print("No run records yet: only Zhang et al.'s layers can be drawn.")
    if zhang_rows:
        display(plot_layer_curves(zhang_rows))

# %% [markdown]
# ## Row by row: what agrees with the poster
#
# The poster's accuracies and ours are on different tasks, so each sentence below compares
# orders: the rank of an image space among the three for the same architecture, the
# seed-by-seed difference from the image space above it in the poster's list, and for the
# denoising autoencoder, how many split-brain rows it beats. Each sentence is generated from
# the numbers; a claim it makes is one the numbers show.

# %%
comparison = poster_comparison(poster_rows, records, grid, score=SCORE) if poster_rows else []
for index in range(10):  # the poster's Table 1 has ten rows
    glue(f"poster_row_{index}", comparison[index]["sentence"] if index < len(comparison)
         else "The poster's table is not available in this copy of the chapter.")
agreements = [entry["agrees"] for entry in comparison if entry["agrees"] is not None]
glue("agreement_sentence",
     f"Of the {len(agreements)} rows our runs can speak to, {sum(agreements)} agree with the poster's order."
     if agreements else "None of the poster's rows has a run of ours to compare with yet.")
fig = plot_table1_comparison(poster_rows, summary_rows or None,
                             ours_title=f"This book, grid {grid} ({num_classes} classes)",
                             ours_chance=1 / num_classes if num_classes else None) if poster_rows else None
fig

# %% [markdown]
# - {glue:text}`poster_row_0`
# - {glue:text}`poster_row_1`
# - {glue:text}`poster_row_2`
# - {glue:text}`poster_row_3`
# - {glue:text}`poster_row_4`
# - {glue:text}`poster_row_5`
# - {glue:text}`poster_row_6`
# - {glue:text}`poster_row_7`
# - {glue:text}`poster_row_8`
# - {glue:text}`poster_row_9`
#
# {glue:text}`agreement_sentence`
#
# ## What this does and does not show
#
# A reproduction at a smaller scale can check *directions*: does a method lift the same network
# above its random initialisation, and do the image spaces come in the same order. It cannot
# check the poster's accuracies, which belong to another data set, another image size and
# another number of classes. Three more limits apply. The spread over seeds covers training
# noise only: every seed sees the same split of the data. Records made before the probes chose
# their layer on a validation part (the table's note counts them) chose it on the held-out
# images, which flatters every method a little. And a difference
# smaller than its spread over seeds, whichever way it points, is not evidence that one image
# space is better than another.

# %% [markdown]
# ## Exercises
#
# 1. Run the `embedded-cpu` grid for one architecture
#    (`python -m splitbrain.experiments.reproduce --grid embedded-cpu --archs simplenet`) and set
#    `GRIDS = ["embedded-cpu"]`. Which sentences change, and which stay?
# 2. Set `SCORE = "finetune_top1"` and `GRIDS = ["cifar-quick"]`. Do the linear probe and fine-tuning order the image spaces the
#    same way? Which of the two is closer to what Zhang et al. measured?
# 3. The gap is computed seed by seed. Compute, from the records, the gap you would get by
#    subtracting the floor's mean from the method's mean, with the spread of each added in
#    quadrature. Why is the paired spread smaller when the two runs of a seed share their
#    initialisation and data order?
# 4. How many seeds would you need before a rescaled-Lab advantage of the size you measured is
#    larger than twice its standard error? Use the per-seed standard deviation of the
#    difference from the sentences above.
# 5. Zhang et al.'s plain Lab autoencoder falls below the random network at the deepest layers.
#    Compare with the denoising autoencoders of chapter 7: at which layer is each of them best,
#    and is that layer shallower than the split-brain network's?
