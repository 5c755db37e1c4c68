"""Run records and Table 1."""
from __future__ import annotations

import json
import os
import statistics

import pytest

from splitbrain import results
from splitbrain.files import atomic_write_text
from splitbrain.results import architecture_label, load_records, make_record, table1, table1_rows, write_record


def record(arch="fcresnet18", space="rescaled_lab", seed=0, top1=0.14, top5=0.30, epochs=5, kind="finetune",
           method="splitbrain", **model):
    return make_record(
        kind,
        {"finetune_epochs": epochs, "probe_epochs": 30, "seed": seed},
        {"top1": top1, "top5": top5},
        model={"method": method, "arch": arch, "color_space": space, "random_init": False, **model},
        seed=seed,
        wall_time_s=1.5,
    )


def test_a_record_carries_provenance(tmp_path):
    rec = record()
    assert rec["kind"] == "finetune" and rec["seed"] == 0 and rec["wall_time_s"] == 1.5
    assert rec["git_commit"] is None or len(rec["git_commit"]) == 40
    assert {"cpu", "cpu_count", "torch", "cuda_device"} <= set(rec["hardware"])
    assert rec["timestamp"].endswith("+00:00")
    path = write_record(rec, tmp_path)
    assert path.parent == tmp_path and path.name.startswith("finetune-splitbrain-fcresnet18-rescaled_lab-seed0-")
    assert json.loads(path.read_text()) == rec
    with pytest.raises(ValueError, match="kind"):
        make_record("train", {}, {}, model={}, seed=0, wall_time_s=0)


def test_git_commit_is_none_outside_a_repository(tmp_path):
    assert results.git_commit(tmp_path) is None


def test_atomic_write_never_leaves_a_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    atomic_write_text(target, "old")

    def failing_replace(src, dst):
        raise OSError("crash before rename")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        atomic_write_text(target, "new content")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_load_records_skips_non_records_and_filters_by_kind(tmp_path):
    write_record(record(kind="probe"), tmp_path)
    write_record(record(kind="finetune"), tmp_path)
    (tmp_path / "reference.json").write_text(json.dumps({"table": []}))
    assert len(load_records(tmp_path)) == 2
    assert [r["kind"] for r in load_records(tmp_path, kind="probe")] == ["probe"]
    assert load_records(tmp_path / "missing") == []
    (tmp_path / "torn.json").write_text('{"kind": "finet')  # a record cut short: an error, or a counted skip
    with pytest.raises(ValueError, match="torn.json: not valid JSON"):
        load_records(tmp_path)
    assert len(load_records(tmp_path, skip_malformed=True)) == 2


def test_table1_renders_mean_and_std_over_seeds(tmp_path):
    tops = [(0.1404, 0.3015), (0.1380, 0.2990), (0.1450, 0.3050)]
    for seed, (top1, top5) in enumerate(tops):
        write_record(record(seed=seed, top1=top1, top5=top5), tmp_path)
    write_record(record(arch="fcalexnet", space="rgb", epochs=2, top1=0.0943, top5=0.2343), tmp_path)
    write_record(record(arch="simplenet", space="lab", top1=0.1093, top5=0.2558), tmp_path)
    write_record(record(method="dae", arch="simplenet", space="rgb", top1=0.0653, top5=0.1815,
                        noise="salt_pepper", noise_level=0.05), tmp_path)
    write_record(record(kind="probe", top1=0.9, top5=0.99), tmp_path)  # not a fine-tuning record
    stale = record(arch="simplenet", space="lab", top1=0.5, top5=0.5)
    stale["timestamp"] = "2000-01-01T00:00:00+00:00"  # an older run of the same seed: replaced
    write_record(stale, tmp_path)

    records = load_records(tmp_path)
    rows = table1_rows(records)
    assert [(r["architecture"], r["image_space"], r["ft_epochs"]) for r in rows] == [
        ("FC-AlexNet", "RGB", 2),
        ("FC-ResNet18", "rescaled Lab", 5),
        ("SimpleNet", "Lab", 5),
        ("DAE S&P 5% Noise (SimpleNet)", "RGB", 5),
    ]
    resnet = rows[1]
    assert resnet["n"] == 3 and resnet["seeds"] == [0, 1, 2]
    assert resnet["top1"] == pytest.approx(statistics.fmean(t[0] for t in tops))
    assert resnet["top1_std"] == pytest.approx(statistics.stdev(t[0] for t in tops))
    assert resnet["top5_std"] == pytest.approx(statistics.stdev(t[1] for t in tops))
    assert rows[0]["top1_std"] is None
    assert rows[2]["n"] == 1 and rows[2]["top1"] == pytest.approx(0.1093)

    text = table1(records)
    lines = text.splitlines()
    assert lines[0] == "| Architecture | Image Space | FT Epochs | Seeds | Top 1 Acc. | Top 5 Acc. |"
    assert lines[2] == "| FC-AlexNet | RGB | 2 | 1 | 0.0943 | 0.2343 |"
    mean1, std1 = resnet["top1"], resnet["top1_std"]
    assert lines[3] == f"| FC-ResNet18 | rescaled Lab | 5 | 3 | {mean1:.4f} ± {std1:.4f} | {resnet['top5']:.4f} ± {resnet['top5_std']:.4f} |"
    # By hand: mean 0.4234 / 3; deviations -0.00073, -0.00313, +0.00387 -> sample std 0.00356.
    assert lines[3] == "| FC-ResNet18 | rescaled Lab | 5 | 3 | 0.1411 ± 0.0036 | 0.3018 ± 0.0030 |"
    assert len(lines) == 6
    assert table1([], kind="finetune") == "(no finetune records)"
    assert "0.9000" in table1(records, kind="probe")


def test_architecture_labels_use_the_one_display_name_of_each_network():
    assert architecture_label({"arch": "fcresnet18"}) == "FC-ResNet18"
    assert architecture_label({"arch": "simplenet", "random_init": True}) == "SimpleNet (random init)"
    assert architecture_label({"method": "dae", "arch": "fcalexnet", "noise": "masking", "noise_level": 0.1}) == \
        "DAE Masking 10% Noise (FC-AlexNet)"


def test_summaries_keep_label_counts_apart_without_calling_them_widths():
    from splitbrain.results import summarize

    def run(method, kind, labels, top1):
        return {"kind": "run", "grid": "g", "method": method, "seed": 0, "labels_per_class": labels,
                "timestamp": "2026-01-01T00:00:00+00:00",
                "model": {"method": kind, "arch": "simplenet", "color_space": "lab", "width": "half"},
                "metrics": {"probe": {"top1": top1, "top5": 0.9, "best_layer": "conv3"},
                            "finetune": {"top1": top1 + 0.1, "top5": 0.95}}}

    rows = summarize([run("lab", "splitbrain", 25, 0.45), run("lab", "splitbrain", 800, 0.65),
                      run("random-lab", "random", 25, 0.35), run("random-lab", "random", 800, 0.52)])
    labels = {(row["method"], row["labels_per_class"]): row for row in rows}
    assert labels["lab", 25]["label"] == "Split-brain, 25 labels per class"
    assert labels["random-lab", 800]["label"] == "Random init, 800 labels per class"
    assert labels["lab", 800]["gap_probe_top1"] == pytest.approx(0.13)  # the floor of the same count


def test_seeds_are_shown_as_a_span_that_never_breaks_or_as_a_list():
    from splitbrain.results import format_seeds

    assert format_seeds([2, 0, 1]) == "0\u20112" and format_seeds([0]) == "0"
    assert format_seeds([0, 2]) == "0, 2" and format_seeds([0, 1]) == "0, 1" and format_seeds([0, 1, 3]) == "0, 1, 3"
