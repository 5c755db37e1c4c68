"""The experiment runner: grids as data, resumable runs, one complete record per run, summaries."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from splitbrain import files
from splitbrain import results as results_module
from splitbrain import checkpoint, models, runtime, train
from splitbrain.data import FOLDER_FRACTIONS, split_indices
from splitbrain.experiments import reproduce
from splitbrain.experiments.grids import (
    ALL_METHODS,
    CIFAR_CPU_PRETRAIN_IMAGES,
    GRIDS,
    dae_method,
    get_grid,
    supervised_method,
)
from splitbrain.experiments.reproduce import record_path, run_grid, run_state, select_runs
from splitbrain.results import format_summary, load_records, summarize


def dirs(tmp_path):
    return dict(results_dir=tmp_path / "results", runs_dir=tmp_path / "runs")


def assert_complete_record(record, run_id, layers=("conv1", "conv5")):
    """Every documented field, with values of the right kind and range."""
    assert record["kind"] == "run" and record["status"] == "complete" and record["run_id"] == run_id
    assert record["grid"] == run_id.split("/")[0]
    probe, tuned = record["metrics"]["probe"], record["metrics"]["finetune"]
    assert tuple(probe["layers"]) == layers
    for scores in list(probe["layers"].values()) + [probe, tuned]:
        assert 0.0 <= scores["top1"] <= scores["top5"] <= 1.0
    # The layer is chosen on the validation part; the held-out numbers only report it.
    best = max(layers, key=lambda layer: (probe["layers"][layer]["val_top1"], -layers.index(layer)))
    assert probe["best_layer"] == best and probe["layer_chosen_on"] == "validation"
    assert (probe["top1"], probe["val_top1"]) == (probe["layers"][best]["top1"], probe["layers"][best]["val_top1"])
    # 40 probe-training crops: 4 per class, of which 1 validates (20 %, rounded per class).
    assert (probe["train_images"], probe["val_images"], probe["test_images"]) == (30, 10, 20)
    # fine-tuning trains on the same 30 and measures itself on the same 10 validation crops
    assert (tuned["train_images"], tuned["val_images"], tuned["test_images"]) == (30, 10, 20)
    assert set(record["config"]) == {"pretrain", "evaluate", "supervised"}
    assert record["config"]["evaluate"]["seed"] == record["seed"] == int(run_id[-1])
    assert record["git_commit"] is None or len(record["git_commit"]) == 40
    assert record["hardware"]["cpu_count"] >= 1 and "torch" in record["hardware"]
    assert record["wall_time_s"] == pytest.approx(sum(record["stages"].values())) and record["wall_time_s"] > 0


# ----------------------------------------------------------------------------------------------
# grids as data


def test_grids_expand_to_stable_unique_run_ids():
    cifar = get_grid("cifar-cpu")
    runs = cifar.runs()
    assert len(runs) == 2 * len(ALL_METHODS) * 3 == 54
    assert len({run.run_id for run in runs}) == 54
    assert runs[0].run_id == "cifar-cpu/simplenet-rgb-seed0"
    assert "cifar-cpu/simplenet-lab-seed0" in {run.run_id for run in runs}
    assert "cifar-cpu/fcresnet18-supervised-lab-seed2" == runs[-1].run_id
    assert [run.run_id for run in cifar.runs()] == [run.run_id for run in runs]  # stable
    assert {run.arch for run in cifar.runs(("fcalexnet",))} == {"fcalexnet"}
    assert {method.name for method in ALL_METHODS} == {
        "rgb", "lab", "rescaled_lab", "dae-masking", "dae-salt_pepper", "dae-gaussian",
        "random-lab", "random-rgb", "supervised-lab"}
    for grid in GRIDS.values():  # every configuration of every grid is valid
        for run in grid.runs():
            config = grid.pretrain_config(run, data_root="tree")
            assert config.arch == run.arch and config.seed == run.seed and config.color_space == run.method.color_space
            assert grid.eval_config(run, data_root="tree").seed == run.seed
    smoke = get_grid("smoke")
    assert len(smoke.runs()) == 2 and smoke.seeds == (0,)


def test_a_method_can_set_the_width_and_the_quick_grid_has_a_full_width_dae():
    quick = get_grid("cifar-quick")
    wide = dae_method("salt_pepper", width="full")
    assert wide.name == "dae-salt_pepper-full" and wide in quick.methods and wide not in ALL_METHODS
    assert len(quick.runs()) == 2 * (len(ALL_METHODS) + 1) * 3 == 60
    widths = {run.method.name: quick.pretrain_config(run, data_root="tree").width for run in quick.runs() if run.seed == 0}
    assert widths["dae-salt_pepper-full"] == "full"
    assert {width for name, width in widths.items() if name != "dae-salt_pepper-full"} == {"half"}
    wide_config = quick.pretrain_config(quick.runs()[len(ALL_METHODS) * 3], data_root="tree")
    assert (wide_config.method, wide_config.noise, wide_config.width) == ("dae", "salt_pepper", "full")
    with pytest.raises(ValueError, match="width must be None or one of"):
        dae_method("masking", width="double")


def test_only_patterns_and_bad_input():
    runs = get_grid("cifar-cpu").runs()
    chosen = select_runs(runs, "simplenet-*-seed0")
    assert len(chosen) == len(ALL_METHODS) and all(r.arch == "simplenet" and r.seed == 0 for r in chosen)
    # Patterns match run ids or names; several are comma-separated; the grid's order is kept.
    assert [r.name for r in select_runs(runs, "cifar-cpu/fcresnet18-rescaled_lab-seed1, *random-rgb-seed2")] == [
        "simplenet-random-rgb-seed2", "fcresnet18-rescaled_lab-seed1", "fcresnet18-random-rgb-seed2"]
    with pytest.raises(ValueError, match="matches none of the 54 runs"):
        select_runs(runs, "vgg-*")
    with pytest.raises(ValueError, match="grid must be one of"):
        get_grid("imagenet")
    with pytest.raises(ValueError, match="archs must be among"):
        get_grid("smoke").runs(("vgg",))
    with pytest.raises(ValueError, match="noise"):
        dataclasses.replace(dae_method("masking"), noise="blur")


def test_cifar_cpu_needs_a_data_root_but_a_dry_run_does_not(tmp_path, capsys):
    with pytest.raises(ValueError, match="data_root is required for grid 'cifar-cpu'"):
        run_grid("cifar-cpu", only="simplenet-lab-seed0", verbose=False, **dirs(tmp_path))
    statuses = run_grid("cifar-cpu", dry_run=True, **dirs(tmp_path))
    out = capsys.readouterr().out
    assert len(statuses) == 54 and {s.state for s in statuses} == {"pending"} and not any(s.ran for s in statuses)
    assert "grid cifar-cpu: 54 runs (54 pending)" in out and "pending  cifar-cpu/fcresnet18-dae-gaussian-seed1" in out
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()


def write_image_folder(root, classes=3, per_class=20, size=8):
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / f"class{c}" / f"{i:04d}.png")


def test_cifar_cpu_split_sizes_are_disjoint_stratified_and_as_documented(tmp_path):
    from splitbrain.evaluate import build_eval_datasets

    tree = tmp_path / "train"
    write_image_folder(tree, classes=3, per_class=20)
    grid = get_grid("cifar-cpu")
    run = grid.runs()[0]
    pretrain_config = grid.pretrain_config(run, data_root=str(tree))
    eval_config = grid.eval_config(run, data_root=str(tree))
    pretrain_set = train.build_pretrain_dataset(pretrain_config)
    probe_set, held_out, classes = build_eval_datasets(eval_config)
    parts = [set(pretrain_set.indices), set(probe_set.indices), set(held_out.indices)]
    # 60 % / 20 % / 20 % of every class (20 images -> 12 / 4 / 4), disjoint.
    assert [len(p) for p in parts] == [36, 12, 12] and classes == 3
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    for dataset, per_class in ((pretrain_set, 12), (probe_set, 4), (held_out, 4)):
        assert np.bincount(dataset.labels).tolist() == [per_class] * 3
    assert held_out.augment is False and probe_set.augment is False
    # Same parts for every seed of the grid (the split is seeded by split_seed, not the run's seed).
    other = grid.eval_config(grid.runs()[2], data_root=str(tree))
    assert other.seed == 2 and set(build_eval_datasets(other)[1].indices) == parts[2]

    # The documented counts on CIFAR-10's 50,000 labels (5,000 per class).
    labels = np.repeat(np.arange(10), 5000)
    real = split_indices(labels, FOLDER_FRACTIONS, seed=pretrain_config.split_seed)
    assert {name: len(idx) for name, idx in real.items()} == {"pretrain": 30_000, "probe_train": 10_000, "val": 10_000}
    assert all(np.bincount(labels[idx]).tolist() == [len(idx) // 10] * 10 for idx in real.values())
    assert eval_config.max_train_images == 10_000 and eval_config.max_test_images == 10_000
    assert pretrain_config.max_steps_per_epoch * pretrain_config.batch_size == CIFAR_CPU_PRETRAIN_IMAGES
    assert pretrain_config.image_size == eval_config.image_size == 32 and pretrain_config.device == "cpu"


# ----------------------------------------------------------------------------------------------
# running, skipping, resuming


def test_smoke_grid_runs_end_to_end_then_skips_everything(tmp_path, monkeypatch):
    statuses = run_grid("smoke", verbose=False, **dirs(tmp_path))
    assert [(s.run_id, s.state, s.ran) for s in statuses] == [
        ("smoke/simplenet-lab-seed0", "pending", True), ("smoke/simplenet-random-lab-seed0", "pending", True)]
    paths = sorted((tmp_path / "results" / "smoke").glob("*.json"))
    assert [p.name for p in paths] == ["simplenet-lab-seed0.json", "simplenet-random-lab-seed0.json"]
    assert [s.record for s in statuses] == [paths[0], paths[1]]
    trained, floor = (json.loads(p.read_text()) for p in paths)
    assert_complete_record(trained, "smoke/simplenet-lab-seed0")
    assert_complete_record(floor, "smoke/simplenet-random-lab-seed0")
    assert trained["model"]["method"] == "splitbrain" and trained["model"]["random_init"] is False
    assert floor["model"]["method"] == "random" and floor["model"]["random_init"] is True
    assert trained["metrics"]["pretrain"]["epochs"] == 2 and trained["metrics"]["pretrain"]["steps"] == 4
    assert math.isfinite(trained["metrics"]["pretrain"]["final_loss"]) and floor["metrics"]["pretrain"] is None
    assert set(trained["stages"]) == {"pretrain", "probe", "finetune"} and set(floor["stages"]) == {"probe", "finetune"}
    assert load_records(tmp_path / "results" / "smoke", kind="run") == [
        {**trained, "path": str(paths[0])}, {**floor, "path": str(paths[1])}]

    # A second invocation runs nothing: no stage is entered and no file is rewritten.
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path).rglob("*") if p.is_file()}

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished run was executed again")

    monkeypatch.setattr(reproduce, "execute_run", must_not_run)
    again = run_grid("smoke", verbose=False, **dirs(tmp_path))
    assert [(s.state, s.ran, s.wall_time_s) for s in again] == [("finished", False, 0.0)] * 2
    assert {p: p.stat().st_mtime_ns for p in (tmp_path).rglob("*") if p.is_file()} == mtimes
    monkeypatch.undo()

    # A changed fine-tuning recipe makes both records stale; running again redoes only the
    # fine-tuning: pretraining and the probes are read back from their stage files.
    precise_bn = not get_grid("smoke").eval_config(get_grid("smoke").runs()[0]).finetune_precise_bn  # flipped
    changed = dataclasses.replace(get_grid("smoke"), evaluate={**get_grid("smoke").evaluate, "finetune_precise_bn": precise_bn})
    assert [run_state(run, tmp_path / "results", tmp_path / "runs", changed) for run in changed.runs()] == ["stale"] * 2
    assert run_state(changed.runs()[0], tmp_path / "results", tmp_path / "runs") == "finished"  # no grid: not checked
    kept = [tmp_path / "runs" / "smoke" / name for name in
            ("simplenet-lab-seed0/pretrain.json", "simplenet-lab-seed0/checkpoint.pt", "simplenet-lab-seed0/probe.json",
             "simplenet-random-lab-seed0/probe.json")]
    kept_mtimes = [p.stat().st_mtime_ns for p in kept]
    redone = run_grid(changed, verbose=False, **dirs(tmp_path))
    assert [(s.state, s.ran) for s in redone] == [("stale", True)] * 2
    assert [p.stat().st_mtime_ns for p in kept] == kept_mtimes
    updated = json.loads(paths[0].read_text())
    assert updated["config"]["evaluate"]["finetune_precise_bn"] is precise_bn
    assert updated["metrics"]["probe"] == trained["metrics"]["probe"]
    assert updated["stages"]["pretrain"] == trained["stages"]["pretrain"]
    assert [run_state(run, tmp_path / "results", tmp_path / "runs", changed) for run in changed.runs()] == ["finished"] * 2


def test_same_key_fills_missing_fields_with_defaults_and_honours_ignore():
    smoke = get_grid("smoke")
    current = reproduce.current_configs(smoke, smoke.runs()[0])
    assert current["evaluate"]["finetune_precise_bn"] is True  # the smoke preset turns it on
    older = {part: ({k: v for k, v in value.items() if k != "finetune_precise_bn"} if value else value)
             for part, value in current.items()}  # a record from before the field existed: made without it
    assert not reproduce.same_key(older, current)
    assert reproduce.same_key(older, {**current, "evaluate": {**current["evaluate"], "finetune_precise_bn": False}})
    tuned = {**current, "evaluate": {**current["evaluate"], "finetune_lr": 0.5}}
    assert not reproduce.same_key(tuned, current)
    assert reproduce.same_key(tuned, current, {"evaluate": reproduce.FINETUNE_ONLY_FIELDS})
    moved = {**current, "evaluate": {**current["evaluate"], "out": "elsewhere", "device": "cuda"}}
    assert reproduce.same_key(moved, current)  # machinery only
    probed = {**current, "evaluate": {**current["evaluate"], "probe_epochs": 99}}
    assert not reproduce.same_key(probed, current, {"evaluate": reproduce.FINETUNE_ONLY_FIELDS})
    assert not reproduce.same_key(None, current) and not reproduce.same_key({"pretrain": current["pretrain"]}, current)


def test_dry_run_lists_states_without_running(tmp_path, capsys, monkeypatch):
    smoke = get_grid("smoke")
    first, second = smoke.runs()
    # One finished run (a complete record), one partial (a finished stage in its run directory).
    record = {"kind": "run", "status": "complete", "config": reproduce.current_configs(smoke, first),
              "metrics": {"probe": {"top1": 0.5, "top5": 0.9}, "finetune": {"top1": 0.4, "top5": 0.8}}}
    files.atomic_write_text(record_path(first, tmp_path / "results"), json.dumps(record))
    (tmp_path / "runs" / "smoke" / second.name).mkdir(parents=True)
    (tmp_path / "runs" / "smoke" / second.name / "probe.json").write_text("{}")
    monkeypatch.setattr(reproduce, "execute_run", lambda *a, **k: pytest.fail("a dry run executed a run"))
    statuses = run_grid("smoke", dry_run=True, **dirs(tmp_path))
    out = capsys.readouterr().out
    assert [(s.run_id, s.state, s.ran) for s in statuses] == [
        ("smoke/simplenet-lab-seed0", "finished", False), ("smoke/simplenet-random-lab-seed0", "partial", False)]
    assert "grid smoke: 2 runs (1 finished, 1 partial)" in out
    assert smoke.description in out
    assert "finished  smoke/simplenet-lab-seed0" in out and "partial  smoke/simplenet-random-lab-seed0" in out
    # An incomplete record (a run that wrote no fine-tuning score) does not count as finished.
    record["metrics"]["finetune"] = {}
    files.atomic_write_text(record_path(first, tmp_path / "results"), json.dumps(record))
    assert run_state(first, tmp_path / "results", tmp_path / "runs") == "pending"
    # ... unless its grid fine-tunes for 0 epochs (a probe-only grid such as cifar-recipe): then
    # the record is finished, and a repeated grid command must not run it again over the record.
    record["metrics"]["finetune"] = None
    record["config"]["evaluate"]["finetune_epochs"] = 0
    files.atomic_write_text(record_path(first, tmp_path / "results"), json.dumps(record))
    assert run_state(first, tmp_path / "results", tmp_path / "runs") == "finished"


def test_the_committed_probe_only_records_count_as_finished():
    """Every committed cifar-recipe record is finished for the grid as it is now: none would be
    run again (and its record overwritten) by a repeated ``reproduce --grid cifar-recipe``."""
    grid = get_grid("cifar-recipe")
    results = Path(__file__).resolve().parents[1] / "results"
    committed = sorted((results / grid.name).glob("*.json"))
    assert committed, "no committed cifar-recipe records"
    by_name = {run.name: run for run in grid.runs()}
    states = {path.stem: run_state(by_name[path.stem], results, "/nonexistent-runs", grid, "cifar10/train")
              for path in committed}
    assert set(states.values()) == {"finished"}, states


def test_an_interrupted_pretraining_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    real_save = train.atomic_torch_save

    def save_then_crash(obj, path):
        real_save(obj, path)
        if obj.get("epoch") == 1:
            raise KeyboardInterrupt("simulated interruption after the epoch-1 checkpoint")

    monkeypatch.setattr(train, "atomic_torch_save", save_then_crash)
    only = "simplenet-lab-seed0"
    with pytest.raises(KeyboardInterrupt):
        run_grid("smoke", only=only, verbose=False, **dirs(tmp_path))
    run = get_grid("smoke").runs()[0]
    run_dir = tmp_path / "runs" / "smoke" / run.name
    assert checkpoint.load_checkpoint(run_dir / "checkpoint.pt")["epoch"] == 1
    assert not record_path(run, tmp_path / "results").exists()
    assert run_state(run, tmp_path / "results", tmp_path / "runs") == "partial"
    monkeypatch.setattr(train, "atomic_torch_save", real_save)

    calls = []
    real_pretrain = train.pretrain
    monkeypatch.setattr(train, "pretrain", lambda config, resume=None: calls.append(resume) or real_pretrain(config, resume))
    statuses = run_grid("smoke", only=only, verbose=False, **dirs(tmp_path))
    assert calls == [True] and [(s.state, s.ran) for s in statuses] == [("partial", True)]
    record = json.loads(record_path(run, tmp_path / "results").read_text())
    assert_complete_record(record, run.run_id)
    assert record["metrics"]["pretrain"]["resumed_from_epoch"] == 1 and record["metrics"]["pretrain"]["epochs"] == 2
    assert [h["epoch"] for h in record["metrics"]["pretrain"]["history"]] == [1, 2]

    # The resumed run ends with exactly the weights of an uninterrupted one (CPU).
    run_grid("smoke", only=only, verbose=False, results_dir=tmp_path / "r2", runs_dir=tmp_path / "runs2")
    resumed = checkpoint.load_checkpoint(run_dir / "checkpoint.pt")["model"]
    straight = checkpoint.load_checkpoint(tmp_path / "runs2" / "smoke" / run.name / "checkpoint.pt")["model"]
    assert resumed.keys() == straight.keys() and all(torch.equal(resumed[k], straight[k]) for k in resumed)
    assert record["metrics"]["probe"] == json.loads(record_path(run, tmp_path / "r2").read_text())["metrics"]["probe"]


def test_a_run_interrupted_after_pretraining_does_not_pretrain_again(tmp_path, monkeypatch):
    from splitbrain import evaluate

    real_probe = evaluate.linear_probe

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash in the probe")

    monkeypatch.setattr(evaluate, "linear_probe", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_grid("smoke", only="simplenet-lab-seed0", verbose=False, **dirs(tmp_path))
    monkeypatch.setattr(evaluate, "linear_probe", real_probe)
    monkeypatch.setattr(train, "pretrain", lambda *a, **k: pytest.fail("pretraining ran again"))
    statuses = run_grid("smoke", only="simplenet-lab-seed0", verbose=False, **dirs(tmp_path))
    assert [(s.state, s.ran) for s in statuses] == [("partial", True)]
    assert_complete_record(json.loads(statuses[0].record.read_text()), "smoke/simplenet-lab-seed0")


def test_a_changed_recipe_is_not_resumed_silently(tmp_path, monkeypatch):
    real_save = train.atomic_torch_save

    def save_then_crash(obj, path):
        real_save(obj, path)
        if obj.get("epoch") == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "atomic_torch_save", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        run_grid("smoke", only="simplenet-lab-seed0", verbose=False, **dirs(tmp_path))
    monkeypatch.setattr(train, "atomic_torch_save", real_save)
    changed = dataclasses.replace(get_grid("smoke"), pretrain={**get_grid("smoke").pretrain, "lr": 5e-4})
    with pytest.raises(ValueError, match=r"another configuration \(lr differ"):
        run_grid(changed, only="simplenet-lab-seed0", verbose=False, **dirs(tmp_path))


def test_dae_and_supervised_runs(tmp_path):
    grid = dataclasses.replace(get_grid("smoke"), name="smoke-more", methods=(dae_method("masking"), supervised_method()),
                               supervised_epochs=2)
    statuses = run_grid(grid, verbose=False, **dirs(tmp_path))
    assert [s.run_id for s in statuses] == ["smoke-more/simplenet-dae-masking-seed0", "smoke-more/simplenet-supervised-lab-seed0"]
    dae, supervised = (json.loads(s.record.read_text()) for s in statuses)
    assert_complete_record(dae, statuses[0].run_id)
    assert_complete_record(supervised, statuses[1].run_id)
    assert dae["model"] == {"method": "dae", "arch": "simplenet", "color_space": "rgb", "width": "half",
                            "random_init": False, "noise": "masking", "noise_level": 0.25}
    assert supervised["model"]["method"] == "supervised" and supervised["config"]["supervised"]["finetune_epochs"] == 2
    # 30 labelled crops in batches of 20: one full batch per pass, two passes; one validation point at the end
    assert [h["step"] for h in supervised["metrics"]["pretrain"]["history"]] == [2]
    saved = checkpoint.load_checkpoint(tmp_path / "runs" / "smoke-more" / "simplenet-supervised-lab-seed0" / "supervised.pt")
    assert saved["supervised"] is True and saved["config"]["color_space"] == "lab"
    # The supervised network is not the random initialisation any more.
    runtime.seed_everything(0)
    fresh = models.build_model(checkpoint.config_from_dict(saved["config"]))
    assert any(not torch.equal(v, fresh.state_dict()[k]) for k, v in saved["model"].items() if v.is_floating_point())


# ----------------------------------------------------------------------------------------------
# summaries


def fake_record(method, kind, space, seed, probe, finetune, arch="simplenet", grid="g", timestamp="2025-01-01T00:00:00"):
    return {"kind": "run", "grid": grid, "method": method, "seed": seed, "timestamp": timestamp, "status": "complete",
            "model": {"method": kind, "arch": arch, "color_space": space, "random_init": kind == "random"},
            "metrics": {"probe": {"top1": probe, "top5": probe + 0.3, "best_layer": "conv4"},
                        "finetune": {"top1": finetune, "top5": finetune + 0.2}}}


def test_summarize_names_the_width_when_two_daes_share_a_label():
    def dae(method, width, seed, probe):
        record = fake_record(method, "dae", "rgb", seed, probe, probe)
        record["model"].update(noise="salt_pepper", noise_level=0.05, width=width)
        return record

    rows = summarize([dae("dae-salt_pepper", "half", 0, 0.4), dae("dae-salt_pepper-full", "full", 0, 0.5),
                      dae("dae-salt_pepper", "half", 0, 0.4) | {"grid": "other"}])
    labels = {(row["grid"], row["method"]): row["label"] for row in rows}
    assert labels == {("g", "dae-salt_pepper"): "DAE S&P 5% (half width)",
                      ("g", "dae-salt_pepper-full"): "DAE S&P 5% (full width)",
                      ("other", "dae-salt_pepper"): "DAE S&P 5%"}


def test_summarize_means_stds_and_paired_gaps():
    records = [
        fake_record("lab", "splitbrain", "lab", 0, 0.60, 0.70),
        fake_record("lab", "splitbrain", "lab", 1, 0.64, 0.72),
        fake_record("rescaled_lab", "splitbrain", "rescaled_lab", 0, 0.62, 0.69),
        fake_record("rescaled_lab", "splitbrain", "rescaled_lab", 1, 0.66, 0.73),
        fake_record("rgb", "splitbrain", "rgb", 0, 0.55, 0.65),  # no random-rgb floor recorded
        fake_record("random-lab", "random", "lab", 0, 0.50, 0.60),
        fake_record("random-lab", "random", "lab", 1, 0.51, 0.64),
        fake_record("random-lab", "random", "lab", 2, 0.90, 0.90),  # no partner seed: not in any gap
        # An older record of the same seed is replaced by the newer one.
        fake_record("lab", "splitbrain", "lab", 1, 0.10, 0.10, timestamp="2024-01-01T00:00:00"),
        {"kind": "probe", "metrics": {"top1": 1.0}},  # not a run record: ignored
    ]
    rows = summarize(records)
    assert [(r["method"], r["n"]) for r in rows] == [("rgb", 1), ("lab", 2), ("rescaled_lab", 2), ("random-lab", 3)]
    rgb, lab, rescaled, floor = rows
    assert lab["probe_top1"] == pytest.approx(0.62) and lab["probe_top1_std"] == pytest.approx(np.std([0.60, 0.64], ddof=1))
    assert lab["finetune_top5"] == pytest.approx(0.91) and lab["seeds"] == [0, 1] and lab["best_layers"] == ["conv4"] * 2
    assert rgb["probe_top1_std"] is None and rgb["floor"] is None and rgb["gap_probe_top1"] is None
    assert lab["floor"] == rescaled["floor"] == "random-lab" and floor["floor"] is None and floor["gap_n"] == 0
    # Gaps are per-seed differences: lab (0.60-0.50, 0.64-0.51), rescaled (0.62-0.50, 0.66-0.51).
    assert lab["gap_n"] == 2 and lab["gap_probe_top1"] == pytest.approx(0.115)
    assert lab["gap_probe_top1_std"] == pytest.approx(np.std([0.10, 0.13], ddof=1))
    assert rescaled["gap_probe_top1"] == pytest.approx(0.135)
    assert lab["gap_finetune_top1"] == pytest.approx(np.mean([0.10, 0.08]))
    assert floor["probe_top1"] == pytest.approx(np.mean([0.50, 0.51, 0.90]))
    table = format_summary(rows, digits=3)
    lines = table.splitlines()
    assert lines[0].startswith("| Architecture | Method | Image Space | Seeds | Probe Top 1 |") and len(lines) == 6
    assert "| SimpleNet | Split-brain | Lab | 2 | 0.620 ± 0.028 |" in table and "| +0.115 ± 0.021 |" in table
    assert "| SimpleNet | Random init | Lab | 3 |" in table and "| SimpleNet | Split-brain | RGB | 1 | 0.550 |" in table
    assert summarize([]) == [] and format_summary([]) == "(no run records)"


def test_write_record_with_a_fixed_name_replaces_the_file(tmp_path):
    record = results_module.make_record("run", {}, {"top1": 0.5}, model={"arch": "simplenet"}, seed=0, wall_time_s=1.0)
    first = results_module.write_record(record, tmp_path, name="a.json")
    second = results_module.write_record({**record, "seed": 1}, tmp_path, name="a.json")
    assert first == second == tmp_path / "a.json" and json.loads(first.read_text())["seed"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    with pytest.raises(ValueError, match="plain file name"):
        results_module.write_record(record, tmp_path, name="../b.json")


def test_stl10_colab_grid_runs_on_a_small_stl10_folder(write_stl10, tmp_path):
    """The student's path: the stl10-colab grid's own configurations (STL-10 splits, 96 px, 12x12
    targets, full width), shrunk to seconds, on a small STL-10 folder the test writes itself."""
    write_stl10(tmp_path / "stl", counts={"unlabeled": 16, "train": 20, "test": 10})
    colab = get_grid("stl10-colab")
    shrink = dict(device="cpu", download=False, num_workers=0)
    small = dataclasses.replace(
        colab, archs=("simplenet",), methods=(colab.methods[2], colab.methods[6]), seeds=(0,),  # rescaled Lab, floor
        pretrain={**colab.pretrain, **shrink, "train_length": 16, "batch_size": 8, "epochs": 1, "amp": "off",
                  "channels_last": False},
        evaluate={**colab.evaluate, **shrink, "max_train_images": 20, "max_test_images": 10, "probe_epochs": 2,
                  "finetune_epochs": 1, "finetune_batch_size": 10, "feature_batch_size": 10,
                  "layers": ("conv1", "conv5")},
    )
    assert [m.name for m in small.methods] == ["rescaled_lab", "random-lab"]
    statuses = run_grid(small, data_root=str(tmp_path / "stl"), verbose=False, **dirs(tmp_path))
    assert [(s.run_id, s.ran) for s in statuses] == [
        ("stl10-colab/simplenet-rescaled_lab-seed0", True), ("stl10-colab/simplenet-random-lab-seed0", True)]
    record = json.loads(statuses[0].record.read_text())
    pretrain, evaluate = record["config"]["pretrain"], record["config"]["evaluate"]
    assert pretrain["data"] == evaluate["data"] == "stl10" and pretrain["image_size"] == evaluate["image_size"] == 96
    assert pretrain["grid"] == 12 and pretrain["width"] == "full" and pretrain["color_space"] == "rescaled_lab"
    assert record["metrics"]["pretrain"]["steps"] == 2  # 16 unlabelled images in batches of 8
    probe = record["metrics"]["probe"]
    assert (probe["train_images"], probe["val_images"], probe["test_images"], probe["num_classes"]) == (16, 4, 10, 10)
    assert evaluate["finetune_precise_bn"] is True and record["wall_time_s"] > 0


def test_a_probe_made_before_the_validation_protocol_is_probed_again(tmp_path):
    (status,) = run_grid("smoke", only="*-random-lab-*", **dirs(tmp_path))
    stage = tmp_path / "runs" / "smoke" / "simplenet-random-lab-seed0" / "probe.json"
    old = json.loads(stage.read_text())
    del old["metrics"]["layer_chosen_on"]
    stage.write_text(json.dumps(old))
    status.record.unlink()
    run_grid("smoke", only="*-random-lab-*", **dirs(tmp_path))
    assert json.loads(stage.read_text())["metrics"]["layer_chosen_on"] == "validation"
    assert json.loads(status.record.read_text())["metrics"]["probe"]["layer_chosen_on"] == "validation"


# ----------------------------------------------------------------------------------------------
# grids that evaluate another grid's networks with fewer labels


def test_a_label_grid_evaluates_another_grids_networks_on_label_subsets(tmp_path, monkeypatch):
    smoke = get_grid("smoke")
    labels_grid = dataclasses.replace(
        smoke, name="smoke-labels", labels=(1, 2), networks_from="smoke",
        label_evaluate={1: {"finetune_images": 40}, 2: {"finetune_images": 80}},
        method_evaluate={("random-lab", 2): {"finetune_lr": 0.5}})
    assert [run.name for run in labels_grid.runs()] == [
        "simplenet-lab-l1-seed0", "simplenet-lab-l2-seed0", "simplenet-random-lab-l1-seed0",
        "simplenet-random-lab-l2-seed0"]
    pretrainings = []
    real_pretrain_stage = reproduce._pretrain_stage
    monkeypatch.setattr(reproduce, "_pretrain_stage",
                        lambda *args: pretrainings.append(args[1]) or real_pretrain_stage(*args))
    statuses = run_grid(labels_grid, verbose=False, **dirs(tmp_path))
    assert [s.state for s in statuses] == ["pending"] * 4
    # one pretraining, in the source grid's run directory, shared by both label counts
    assert pretrainings == [tmp_path / "runs" / "smoke" / "simplenet-lab-seed0"]
    assert not list((tmp_path / "runs" / "smoke-labels").rglob("checkpoint.pt"))
    records = {s.run_id.split("/")[1]: json.loads(s.record.read_text()) for s in statuses}
    for name, record in records.items():
        count = 1 if "-l1-" in name else 2
        probe, tuned = record["metrics"]["probe"], record["metrics"]["finetune"]
        assert record["labels_per_class"] == count == record["config"]["evaluate"]["labels_per_class"]
        # 40 probe-training crops, 4 a class: 1 validates, ``count`` of the other 3 train
        assert probe["train_images"] == tuned["train_images"] == 10 * count
        assert probe["val_images"] == tuned["val_images"] == 10 and tuned["test_images"] == 20
        assert tuned["images_seen"] == (40 if count == 1 else 80) and 0 <= tuned["val_top1"] <= 1
        source = name.replace(f"-l{count}-", "-")  # the smoke grid's run of the same method and seed
        assert record["config"]["pretrain"]["out"] == str(tmp_path / "runs" / "smoke" / source)
    assert records["simplenet-random-lab-l2-seed0"]["config"]["evaluate"]["finetune_lr"] == 0.5
    assert records["simplenet-lab-l2-seed0"]["config"]["evaluate"]["finetune_lr"] != 0.5
    with pytest.raises(ValueError, match="method_evaluate / label_evaluate"):
        dataclasses.replace(labels_grid, method_evaluate={("lab", 3): {"finetune_lr": 0.5}})


def test_the_label_grid_uses_the_shipped_network_of_its_source_run(tmp_path):
    grid = get_grid("label-efficiency")
    run = next(r for r in grid.runs() if r.method.name == "lab" and r.seed == 0)
    config = grid.pretrain_config(run, data_root="tree")
    assert grid.network_run(run).run_id == "cifar-recipe/simplenet-lab-seed0"
    shipped = reproduce.shipped_network(grid.network_run(run), config, tmp_path / "empty")
    assert shipped is not None and shipped.name == "cifar10-simplenet-lab.pt"
    other_seed = next(r for r in grid.runs() if r.method.name == "lab" and r.seed == 1)
    assert reproduce.shipped_network(grid.network_run(other_seed), config, tmp_path / "empty") is None
    changed = dataclasses.replace(config, lr=config.lr * 2)  # the grid's recipe moved on: not that network
    assert reproduce.shipped_network(grid.network_run(run), changed, tmp_path / "empty") is None
    own = tmp_path / "own"
    own.mkdir()
    (own / "checkpoint.pt").write_bytes(b"")  # a pretraining of its own is never replaced
    assert reproduce.shipped_network(grid.network_run(run), config, own) is None
