"""Tests of splitbrain.comparisons (and the chapter 8 figures drawn from it) on synthetic run records whose means and spreads are known."""
import json
import statistics
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from splitbrain.comparisons import (
    best_supported_architecture,
    choose_grid,
    collect_run_records,
    format_mean_std,
    grid_counts,
    headline_rows,
    layer_statistics,
    layer_table_rows,
    paired_difference,
    scale_rows,
    seed_by_seed_rows,
    seed_scores,
    side_by_side_rows,
)
from splitbrain.plots.results import plot_layer_curves
from splitbrain.tables import read_reference_csv, reference_sources

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "results" / "reference"

KINDS = {"lab": ("splitbrain", "lab"), "rescaled_lab": ("splitbrain", "rescaled_lab"), "rgb": ("splitbrain", "rgb"),
         "random-lab": ("random", "lab"), "dae-salt_pepper": ("dae", "rgb")}


def run_record(method, seed, probe, finetune, grid="g", arch="simplenet", timestamp=None, layers=None):
    """A "run" record as splitbrain.experiments.reproduce writes it (only the fields used)."""
    kind, space = KINDS[method]
    model = {"method": kind, "arch": arch, "color_space": space, "width": "half", "random_init": kind == "random"}
    if kind == "dae":
        model.update(noise="salt_pepper", noise_level=0.05)
    layers = layers or {"conv1": probe - 0.1, "conv5": probe}
    return {
        "kind": "run", "grid": grid, "run_id": f"{grid}/{arch}-{method}-seed{seed}", "method": method, "seed": seed,
        "model": model,
        "timestamp": timestamp or f"2026-01-01T00:00:0{seed}+00:00",
        "config": {"pretrain": {"data": "folder", "image_size": 32, "batch_size": 128},
                   "evaluate": {"finetune_epochs": 2}},
        "metrics": {
            "probe": {"layers": {k: {"top1": v, "top5": min(1.0, v + 0.3)} for k, v in layers.items()},
                      "best_layer": max(layers, key=layers.get), "top1": probe, "top5": min(1.0, probe + 0.3),
                      "num_classes": 10, "train_images": 1000, "test_images": 500},
            "finetune": {"top1": finetune, "top5": min(1.0, finetune + 0.3)},
            "pretrain": None if kind == "random" else {"epochs": 3, "steps": 480, "final_loss": 1.0},
        },
        "hardware": {"cpu": "Test CPU", "cpu_count": 2, "cuda_device": None},
    }


# probe / fine-tuned top-1 per seed (0, 1, 2)
PROBE = {"lab": [0.60, 0.62, 0.64], "rescaled_lab": [0.61, 0.60, 0.66], "rgb": [0.55, 0.56, 0.57],
         "random-lab": [0.50, 0.51, 0.55], "dae-salt_pepper": [0.45, 0.47, 0.49]}
FINETUNE = {"lab": [0.65, 0.66, 0.64], "rescaled_lab": [0.70, 0.66, 0.69], "rgb": [0.60, 0.61, 0.62],
            "random-lab": [0.55, 0.56, 0.57], "dae-salt_pepper": [0.58, 0.57, 0.59]}


@pytest.fixture
def records():
    return [run_record(m, s, PROBE[m][s], FINETUNE[m][s]) for m in PROBE for s in range(3)]


# ---------------------------------------------------------------------------------------------
# reading


def test_reference_tables_as_published():
    poster = read_reference_csv(REFERENCE / "poster_table1.csv")
    assert len(poster) == 10
    assert poster[5] == {"Architecture": "ResNet 18", "Image Space": "Re-scaled LAB", "FT Epochs": 5,
                         "Top 1": 0.1404, "Top 5": 0.3015}
    assert poster[6]["Architecture"] == "SimpleNet 18"
    assert poster[-1] == {"Architecture": "DAE S&P 5% Noise", "Image Space": "RGB", "FT Epochs": 5,
                          "Top 1": 0.0653, "Top 5": 0.1815}
    zhang = read_reference_csv(REFERENCE / "zhang2017_table2_imagenet_linear.csv")
    assert [row["method"] for row in zhang][-2:] == ["Split-Brain (reg,reg)", "Split-Brain (cl,cl)"]
    assert zhang[-1] == {"method": "Split-Brain (cl,cl)", "conv1": 17.7, "conv2": 29.3, "conv3": 35.4,
                         "conv4": 35.2, "conv5": 32.8}
    assert zhang[1]["conv5"] == 14.1
    for name in ("poster_table1.csv", "zhang2017_table2_imagenet_linear.csv"):
        assert reference_sources(REFERENCE / name), f"{name} has no '# source:' line"


def test_reference_sources(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("# source: A. Author, 2020, Table 1.\n# a plain comment\n#Source:  second\nx,y\n1,2\n")
    assert reference_sources(path) == ["A. Author, 2020, Table 1.", "second"]


def test_collect_run_records_walks_grid_folders(tmp_path, records):
    (tmp_path / "g").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "runtimes").mkdir()
    (tmp_path / "reference").mkdir()
    for index, record in enumerate(records[:4]):
        (tmp_path / "g" / f"{index}.json").write_text(json.dumps(record))
    (tmp_path / "other" / "x.json").write_text(json.dumps(run_record("lab", 0, 0.5, 0.5, grid="other")))
    (tmp_path / "other" / "probe.json").write_text(json.dumps({**records[0], "kind": "probe", "metrics": {"top1": 0.5, "top5": 0.9}}))  # not a run
    (tmp_path / "runtimes" / "cpu.json").write_text(json.dumps({"preset": "cpu", "seconds": {}}))
    (tmp_path / "reference" / "t.csv").write_text("a,b\n1,2\n")
    found = collect_run_records(tmp_path)
    assert len(found) == 5
    assert grid_counts(found) == {"g": 4, "other": 1}
    assert choose_grid(found, ["missing", "other"]) == "other"
    assert choose_grid(found) == "g"  # the most records
    assert choose_grid([]) is None
    assert collect_run_records(tmp_path / "absent") == []


# ---------------------------------------------------------------------------------------------
# the gap over the floor


def test_headline_gap_is_the_per_seed_difference(records):
    rows = {row["method"]: row for row in headline_rows(records, "g")}
    assert set(rows) == {"lab", "rescaled_lab"}  # rgb has no random-rgb floor here; the DAE is not split-brain
    lab = rows["lab"]
    gaps = [p - f for p, f in zip(PROBE["lab"], PROBE["random-lab"])]  # 0.10, 0.11, 0.09
    assert lab["n"] == 3
    assert lab["gap"] == pytest.approx(0.10)
    assert lab["gap_std"] == pytest.approx(0.01)
    assert lab["gap"] == pytest.approx(statistics.fmean(gaps))
    assert lab["top1"] == pytest.approx(0.62) and lab["top1_std"] == pytest.approx(0.02)
    assert lab["floor_top1"] == pytest.approx(statistics.fmean(PROBE["random-lab"]))
    assert lab["floor_top1_std"] == pytest.approx(statistics.stdev(PROBE["random-lab"]))
    # rescaled Lab is measured against Lab's floor: gaps 0.11, 0.09, 0.11
    assert rows["rescaled_lab"]["gap"] == pytest.approx(0.31 / 3)
    assert rows["rescaled_lab"]["gap_std"] == pytest.approx(statistics.stdev([0.11, 0.09, 0.11]))
    dae = headline_rows(records, "g", kinds=("dae",))
    assert len(dae) == 0  # the DAE's floor would be random-rgb, absent here


def test_seed_scores_keep_the_latest_record_per_seed(records):
    rerun = run_record("lab", 0, 0.70, 0.75, timestamp="2026-02-01T00:00:00+00:00")
    scores = seed_scores(records + [rerun], "g", "simplenet", "lab", "finetune_top1")
    assert scores == {0: 0.75, 1: 0.66, 2: 0.64}
    assert seed_scores(records, "g", "simplenet", "lab", "probe_top1") == {0: 0.60, 1: 0.62, 2: 0.64}
    with pytest.raises(ValueError, match="score"):
        seed_scores(records, "g", "simplenet", "lab", "accuracy")


def test_paired_difference(records):
    difference = paired_difference(records, "g", "simplenet", "rescaled_lab", "lab")
    assert difference["n"] == 3 and difference["seeds"] == [0, 1, 2]
    assert difference["mean"] == pytest.approx(0.10 / 3)
    assert difference["std"] == pytest.approx(statistics.stdev([0.05, 0.0, 0.05]))
    one_seed = [r for r in records if not (r["method"] == "lab" and r["seed"] > 0)]
    single = paired_difference(one_seed, "g", "simplenet", "rescaled_lab", "lab")
    assert single == {"mean": pytest.approx(0.05), "std": None, "n": 1, "seeds": [0]}
    assert paired_difference(records, "g", "simplenet", "rescaled_lab", "supervised-lab") is None


# ---------------------------------------------------------------------------------------------
# tables and sentences


def test_format_mean_std():
    assert format_mean_std(0.61234, 0.0051) == "0.6123 ± 0.0051"
    assert format_mean_std(0.61234, None) == "0.6123"
    assert format_mean_std(0.1, 0.01, scale=100, digits=1, sign=True) == "+10.0 ± 1.0"
    assert format_mean_std(-0.0004, 0.005, scale=100, digits=1, sign=True) == "+0.0 ± 0.5"  # no "-0.0"
    assert format_mean_std(-0.0004, None, scale=100, digits=1) == "0.0"
    assert format_mean_std(None, None) == ""


POSTER = [
    {"Architecture": "SimpleNet 18", "Image Space": "RGB", "FT Epochs": 5, "Top 1": 0.1081, "Top 5": 0.2476},
    {"Architecture": "SimpleNet 18", "Image Space": "LAB", "FT Epochs": 5, "Top 1": 0.1093, "Top 5": 0.2558},
    {"Architecture": "SimpleNet 18", "Image Space": "Re-scaled LAB", "FT Epochs": 5, "Top 1": 0.1266, "Top 5": 0.2799},
    {"Architecture": "ResNet 18", "Image Space": "LAB", "FT Epochs": 5, "Top 1": 0.1351, "Top 5": 0.2945},
    {"Architecture": "DAE S&P 5% Noise", "Image Space": "RGB", "FT Epochs": 5, "Top 1": 0.0653, "Top 5": 0.1815},
]


def test_seed_by_seed_rows(records):
    rows = seed_by_seed_rows(records, "g", "simplenet", "rescaled_lab", "lab")
    # probe: rescaled 0.61, 0.60, 0.66 minus Lab 0.60, 0.62, 0.64: +1, -2, +2 points
    assert rows[:3] == [{"seed": "0", "Lab": "60.00%", "rescaled Lab": "61.00%", "difference": "+1.00"},
                        {"seed": "1", "Lab": "62.00%", "rescaled Lab": "60.00%", "difference": "-2.00"},
                        {"seed": "2", "Lab": "64.00%", "rescaled Lab": "66.00%", "difference": "+2.00"}]
    assert rows[3]["seed"] == "mean ± std" and rows[3]["difference"] == f"+0.3 ± {100 * statistics.stdev([0.01, -0.02, 0.02]):.1f}"
    assert seed_by_seed_rows(records, "g", "simplenet", "rescaled_lab", "supervised-lab") == []


def test_side_by_side_rows_set_ours_beside_each_poster_row(records):
    rows = side_by_side_rows(POSTER, records, "g")
    assert [(r["network"], r["image space"], r["poster"]) for r in rows[:5]] == [
        ("SimpleNet", "RGB", "10.81%"), ("SimpleNet", "Lab", "10.93%"), ("SimpleNet", "rescaled Lab", "12.66%"),
        ("FC-ResNet18", "Lab", "13.51%"), ("DAE S&P 5% Noise (ours: SimpleNet)", "RGB", "6.53%")]
    rgb, lab, rescaled, resnet, dae = rows[:5]
    assert lab["ours"] == "62.0 ± 2.0%" and lab["seeds"] == "3" and lab["gap"] == "+10.0 ± 1.0"
    assert rgb["ours"] == "56.0 ± 1.0%" and rgb["gap"] == ""  # no random-rgb floor in these records
    assert resnet["ours"] == resnet["seeds"] == resnet["gap"] == ""
    assert dae["ours"] == "47.0 ± 2.0%"
    # then ours that the poster has no row for: the random-init floor
    assert [(r["network"], r["poster"], r["ours"]) for r in rows[5:]] == [("SimpleNet, Random init", "", "52.0 ± 2.6%")]
    finetuned = side_by_side_rows(POSTER, records, "g", score="finetune_top1")
    assert finetuned[1]["ours"] == "65.0 ± 1.0%" and finetuned[1]["gap"] == "+9.0 ± 1.7"  # 0.10, 0.10, 0.07
    empty = side_by_side_rows(POSTER, [], None)
    assert [r["ours"] for r in empty] == [""] * 5 and len(empty) == 5


def test_scale_rows(records):
    rows = scale_rows(records, "g")
    assert [r["work"] for r in rows][:2] == ["Zhang et al. 2017 (Table 2)", "Iyengar et al. 2019 (poster, Table 1)"]
    ours = rows[-1]
    assert ours["pretraining_images"] == "20,480 per epoch"  # 480 steps x 128 / 3 epochs
    assert ours["pretraining"] == "3 epochs" and ours["image_side"] == "32 px" and ours["classes"] == "10"
    assert ours["hardware"] == "Test CPU (2 CPU cores)"
    assert len(scale_rows([], None)) == 2


def test_layer_statistics(records):
    stats = layer_statistics(records, "g", "simplenet")
    mean, std = stats["Split-brain, Lab"]["conv1"]
    assert mean == pytest.approx(0.52) and std == pytest.approx(0.02)
    assert set(stats) == {"Split-brain, Lab", "Split-brain, rescaled Lab", "Split-brain, RGB", "Random init, Lab",
                          "DAE S&P 5%, RGB"}


def test_layer_statistics_top5_and_bad_score(records):
    mean, std = layer_statistics(records, "g", "simplenet", "top5")["Split-brain, Lab"]["conv5"]
    assert mean == pytest.approx(0.92) and std == pytest.approx(0.02)  # probe + 0.3 per seed
    with pytest.raises(ValueError, match="score"):
        layer_statistics(records, "g", "simplenet", "top3")


def test_layer_table_rows(records):
    rows = {row["method"]: row for row in layer_table_rows(records, "g", "simplenet")}
    assert rows["Split-brain, Lab"]["conv1"] == "52.0 ± 2.0 (82.0 ± 2.0)"
    assert rows["Random init, Lab"]["conv5"] == "52.0 ± 2.6 (82.0 ± 2.6)"
    assert layer_table_rows(records, "g", "fcresnet18") == []


# ---------------------------------------------------------------------------------------------
# figures


def test_plot_layer_curves(records):
    zhang = read_reference_csv(REFERENCE / "zhang2017_table2_imagenet_linear.csv")
    fig = plot_layer_curves(zhang)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    lines = {line.get_label(): list(line.get_ydata()) for line in fig.axes[0].get_lines()}
    assert lines["Split-Brain (cl,cl)"] == [17.7, 29.3, 35.4, 35.2, 32.8]
    fig = plot_layer_curves(zhang, layer_statistics(records, "g", "simplenet"), chance=0.1)
    assert len(fig.axes) == 2
    ours = {bars.get_label(): list(bars.lines[0].get_ydata()) for bars in fig.axes[1].containers}
    assert ours["Split-brain, Lab"] == pytest.approx([52.0, 62.0])
    assert ours["Random init, Lab"] == pytest.approx([100 * statistics.fmean(PROBE["random-lab"]) - 10,
                                                      100 * statistics.fmean(PROBE["random-lab"])])


def test_the_headline_architecture_is_the_one_with_the_most_seeds(records):
    """A second architecture whose grid has begun with one seed (FC-ResNet18 here, first in the
    label order) does not take chapter 8's figure from SimpleNet's three seeds."""
    started = [run_record(m, 0, PROBE[m][0], FINETUNE[m][0], arch="fcresnet18") for m in ("lab", "random-lab")]
    headline = headline_rows(records + started, "g")
    assert {row["arch"] for row in headline} == {"simplenet", "fcresnet18"}
    assert best_supported_architecture(headline) == "simplenet"
    assert best_supported_architecture(headline_rows(started, "g")) == "fcresnet18"
    assert best_supported_architecture([]) is None


def test_headline_figure_draws_every_seed_the_means_and_the_lines():
    from matplotlib.collections import LineCollection, PathCollection

    from splitbrain.plots.results import plot_headline

    points = {"split-brain Lab": {0: 0.62, 1: 0.63, 2: 0.61}, "DAE": {0: 0.50, 1: 0.52}}
    fig = plot_headline(points, floors={"random init (Lab)": 0.50}, ceiling=0.70, title="t")
    ax = fig.axes[0]
    dots = [y for c in ax.collections if isinstance(c, PathCollection) for _, y in c.get_offsets()]
    assert sorted(round(float(y), 6) for y in dots) == [50.0, 52.0, 61.0, 62.0, 63.0]  # every seed
    means = [seg[0][1] for c in ax.collections if isinstance(c, LineCollection) for seg in c.get_segments()]
    assert sorted(round(float(y), 6) for y in means) == [51.0, 62.0]
    assert sorted(round(line.get_ydata()[0], 6) for line in ax.get_lines()) == [50.0, 70.0]  # floor, ceiling
    assert [t.get_text() for t in ax.get_xticklabels()] == list(points)


def test_the_headline_legend_hides_no_method():
    """The legend sits outside the axes: in the committed grid it had covered the DAE's seeds,
    whose scores lie just above the floors in the lower right corner."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from splitbrain.plots.results import plot_headline

    points = {"split-brain Lab": {0: 0.65, 1: 0.64}, "DAE": {0: 0.55, 1: 0.54, 2: 0.53}}
    fig = plot_headline(points, floors={"random init (RGB)": 0.522, "random init (Lab)": 0.526}, ceiling=0.69)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    (legend,) = fig.legends + [legend for ax in fig.axes for legend in [ax.get_legend()] if legend]
    axes_box = fig.axes[0].get_window_extent(renderer)
    assert not legend.get_window_extent(renderer).overlaps(axes_box)
    assert [text.get_text() for text in legend.get_texts()] == ["random init (RGB)", "random init (Lab)",
                                                                 "supervised features, probed"]
