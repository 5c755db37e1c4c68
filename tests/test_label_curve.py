"""The label-efficiency curve from run records: points, rows over seeds, paired gaps, text."""
from __future__ import annotations

import pytest

from splitbrain.label_curve import BASELINE, curve_points, curve_rows, curve_sentences, curve_table, gap_table, paired_gaps


def record(method, labels, seed, probe, tuned, probe_val=None, tuned_val=None, timestamp="2026-01-01T00:00:00+00:00"):
    kind = "random" if method.startswith("random") else "splitbrain"
    space = "lab" if method in ("lab", "random-lab") else method
    return {"kind": "run", "grid": "label-efficiency", "method": method, "labels_per_class": labels, "seed": seed,
            "timestamp": timestamp,
            "model": {"method": kind, "arch": "simplenet", "color_space": space, "width": "half"},
            "metrics": {"probe": {"top1": probe, "val_top1": probe if probe_val is None else probe_val,
                                  "best_layer": "conv3"},
                        "finetune": {"top1": tuned, "val_top1": tuned if tuned_val is None else tuned_val,
                                     "lr": 0.05, "head": "last", "images_seen": 40_000}}}


RECORDS = [
    record("lab", 25, 0, 0.40, 0.45), record("lab", 25, 1, 0.42, 0.47),
    record("random-lab", 25, 0, 0.30, 0.36), record("random-lab", 25, 1, 0.31, 0.38),
    record("lab", 800, 0, 0.64, 0.76), record("lab", 800, 1, 0.65, 0.75),
    record("random-lab", 800, 0, 0.52, 0.73), record("random-lab", 800, 1, 0.53, 0.74),
]


def test_points_keep_the_latest_record_and_pick_the_better_stage_on_validation():
    rerun = record("lab", 25, 0, 0.41, 0.50, probe_val=0.60, tuned_val=0.55, timestamp="2026-02-01T00:00:00+00:00")
    points = curve_points(RECORDS + [rerun, {**rerun, "grid": "other"}])
    assert len(points) == 8
    point = next(p for p in points if (p["method"], p["labels"], p["seed"]) == ("lab", 25, 0))
    # the probe validates better, so it is "best" although the fine-tuning scores more held out
    assert point["best_stage"] == "probe" and point["best_top1"] == 0.41 and point["finetune_top1"] == 0.50
    assert point["label"] == "Split-brain, Lab"
    assert next(p for p in points if p["method"] == "random-lab")["label"] == "Random init"


def test_rows_and_paired_gaps_over_seeds():
    points = curve_points(RECORDS)
    rows = {(r["method"], r["labels"]): r for r in curve_rows(points)}
    assert rows["lab", 25]["n"] == 2 and rows["lab", 25]["finetune"] == pytest.approx(0.46)
    assert rows["lab", 25]["finetune_std"] == pytest.approx(0.0141421, rel=1e-4)
    gaps = paired_gaps(points, "lab")
    assert [g["labels"] for g in gaps] == [25, 800]
    assert gaps[0]["finetune"] == pytest.approx(0.09) and gaps[0]["probe"] == pytest.approx(0.105)
    assert gaps[1]["finetune"] == pytest.approx(0.02) and gaps[1]["n"] == 2
    assert paired_gaps(points, "rescaled_lab") == []


def test_tables_and_sentences_are_generated_from_the_points():
    points = curve_points(RECORDS)
    table = curve_table(points)
    assert "| 25 | Random init | 2 | 30.5 ± 0.7 | 37.0 ± 1.4 | 37.0 ± 1.4 |" in table
    assert "| 25 | Split-brain, Lab | 2 | +10.5 ± 0.7 | +9.0 ± 0.0 | +9.0 ± 0.0 |" in gap_table(points)
    text = curve_sentences(points)
    assert text.startswith("With 25 labels per class, fine-tuning the split-brain (Lab) network beats fine-tuning the "
                           "same network from random initialisation by 9.0 ± 0.0 points of held-out top-1 (2 seeds")
    assert "; with 800 the gap is +2.0 ± 1.4 points (2 seeds)." in text
    assert ("With 800 labels per class, fine-tuning beats the linear probe for both networks: the split-brain (Lab) "
            "network 75.5 ± 0.7 % against 64.5 ± 0.7 %, random initialisation 73.5 ± 0.7 % against 52.5 ± 0.7 %.") in text
    lagging = [dict(p, finetune_top1=0.40) if p["method"] == BASELINE and p["labels"] == 800 else p for p in points]
    assert ("fine-tuning beats the linear probe for the split-brain (Lab) network (75.5 ± 0.7 % against 64.5 ± 0.7 %) "
            "and fine-tuning does not beat the linear probe for random initialisation") in curve_sentences(lagging)
    assert curve_sentences([]) == "The label-efficiency grid has no paired runs yet."
    assert curve_table([]) == "No label-efficiency records yet.\n"


def test_search_table_lists_every_trial_with_its_settings_validation_scores():
    from splitbrain.label_curve import search_table

    tried = {"kind": "finetune", "timestamp": "2026-01-02T00:00:00+00:00", "path": "results/label-search/lab-l25.json",
             "model": {"method": "splitbrain", "arch": "simplenet", "color_space": "lab", "random_init": False},
             "config": {"finetune_head": "last", "finetune_lr": 0.05},
             "metrics": {"head": "probe", "lr": 0.003, "val_top1": 0.46, "top1": 0.45, "labels_per_class": 25,
                         "images_seen": 40_064, "images_per_s": 1200.0,
                         "trials": [{"head": "last", "lr": 0.1, "val_top1": 0.41},
                                    {"head": "probe", "lr": 0.003, "val_top1": 0.46}]}}
    single = {**tried, "timestamp": "2026-01-01T00:00:00+00:00", "path": "r800.json",
              "model": {**tried["model"], "random_init": True},
              "metrics": {"val_top1": 0.728, "top1": 0.718, "labels_per_class": 800, "images_seen": 240_000,
                          "images_per_s": 715.0, "lr": 0.05, "head": "last"}}
    table = search_table([tried, single, {"kind": "probe"}])
    lines = table.splitlines()
    assert lines[2] == "| r800 | Random init | 800 | 240,000 | **last:0.05 72.8** | 71.8 | 715 |"
    assert lines[3] == ("| lab-l25 | Split-brain, Lab | 25 | 40,064 | last:0.1 41.0, **probe:0.003 46.0** | 45.0 | "
                        "1200 |")
    assert search_table([]) == "No fine-tuning trials recorded yet.\n"


def test_a_record_made_under_an_older_configuration_of_the_grid_is_left_out():
    from splitbrain.experiments.grids import get_grid
    from splitbrain.experiments.reproduce import current_configs

    grid = get_grid("label-efficiency")
    run = next(run for run in grid.runs() if run.name == "simplenet-lab-l800-seed0")
    current = {**record("lab", 800, 0, 0.64, 0.78), "run_id": f"label-efficiency/{run.name}",
               "config": current_configs(grid, run)}
    older = {**current, "config": {**current["config"], "evaluate": {**current["config"]["evaluate"],
                                                                      "finetune_images": 240_000}}}
    assert [p["finetune_top1"] for p in curve_points([current])] == [0.78]
    assert curve_points([older]) == []
