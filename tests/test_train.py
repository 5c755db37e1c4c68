"""Pretraining: presets, one step, exact resume, atomic checkpoints, metrics, mismatches."""
from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from splitbrain import train as train_module
from splitbrain.checkpoint import (
    CheckpointMismatchError,
    atomic_torch_save,
    load_checkpoint,
    model_from_checkpoint,
    read_metrics,
)
from splitbrain.presets import PRESET_NAMES, EvalConfig, PretrainConfig, get_eval_preset, get_preset
from splitbrain.models import build_model, build_targets_for
from splitbrain.train import SplitBrainObjective, forward_backward, optimizer_step, pretrain


def tiny(tmp_path, name="run", **overrides) -> PretrainConfig:
    """The smoke preset shrunk to 16 px crops, 4x4 targets and 2 steps of 8 per epoch."""
    values = dict(image_size=16, grid=4, train_length=32, batch_size=8, max_steps_per_epoch=2, epochs=2,
                  log_every=1, out=str(tmp_path / name), verbose=False, progress=False)
    values.update(overrides)
    return get_preset("smoke", **values)


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------------------------
# presets


def test_every_preset_builds_and_auto_follows_cuda():
    for name in PRESET_NAMES:
        assert isinstance(get_preset(name), PretrainConfig)
        assert isinstance(get_eval_preset(name), EvalConfig)
    expected = "colab" if torch.cuda.is_available() else "cpu"
    assert get_preset("auto") == get_preset(expected)


def test_paper_preset_is_the_posters_setup():
    paper = get_preset("paper")
    assert (paper.image_size, paper.grid, paper.bins1, paper.bins2) == (96, 12, 100, 10)
    assert (paper.lr, paper.lr_decay, paper.batch_size, paper.width) == (1e-4, 0.1, 64, "full")


def test_overrides_and_bad_values_name_the_field():
    assert get_preset("smoke", epochs=7, seed=3).epochs == 7
    with pytest.raises(ValueError, match="preset must be one of"):
        get_preset("huge")
    with pytest.raises(ValueError, match="unknown PretrainConfig field.*'epoch'"):
        get_preset("smoke", epoch=3)
    for field, value in [("epochs", -1), ("lr", 0.0), ("batch_size", 0), ("arch", "vgg"), ("lr_decay", 1.5),
                         ("color_space", "hsv"), ("grid", 64), ("weight_decay", -1.0), ("amp", "fp8")]:
        with pytest.raises(ValueError, match=field):
            get_preset("smoke", **{field: value})
    with pytest.raises(ValueError, match="epochs"):  # replace re-validates
        dataclasses.replace(get_preset("smoke"), epochs=-2)
    with pytest.raises(ValueError, match="data_root"):
        get_preset("smoke", data="folder")
    with pytest.raises(ValueError, match="probe_epochs"):
        get_eval_preset("smoke", probe_epochs=-1)


# ----------------------------------------------------------------------------------------------
# one step


def test_one_step_on_a_fixed_batch_lowers_the_loss(tmp_path):
    config = tiny(tmp_path)
    torch.manual_seed(0)
    targets = build_targets_for(config)
    model = build_model(config, targets)
    objective = SplitBrainObjective(targets)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    rgb = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    before, parts = forward_backward(model, objective, rgb, None, scaler)
    assert torch.isclose(before, parts["loss1"] + parts["loss2"])
    # At initialisation each half's cross-entropy is near log(K) (100 classes each).
    assert abs(float(parts["loss1"]) - math.log(100)) < 1.5 and abs(float(parts["loss2"]) - math.log(100)) < 1.5
    optimizer_step(optimizer, scaler)
    assert all(p.grad is None for p in model.parameters())
    after, _ = forward_backward(model, objective, rgb, None, scaler)
    assert float(after) < float(before) - 0.05


# ----------------------------------------------------------------------------------------------
# a full (tiny) run, resume, checkpoints, metrics


def test_pretrain_writes_checkpoint_and_parseable_metrics(tmp_path):
    config = tiny(tmp_path, record_dir=str(tmp_path / "results"))
    result = pretrain(config)
    assert result.steps == 4 and result.epochs == 2 and math.isfinite(result.final_loss)
    checkpoint = load_checkpoint(result.checkpoint)
    assert checkpoint["epoch"] == 2 and checkpoint["step"] == 4
    assert checkpoint["config"] == config.to_dict()
    assert state_equal(checkpoint["model"], result.model.state_dict())
    for key in ("torch", "numpy", "python", "loader_generator"):
        assert key in checkpoint["rng"]

    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is JSON
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["step"] for r in steps] == [1, 2, 3, 4] and [r["epoch"] for r in epochs] == [1, 2]
    for r in steps:
        assert set(r) >= {"step", "epoch", "loss", "loss1", "loss2", "lr", "images_per_s", "wall_s"}
        assert r["loss"] == pytest.approx(r["loss1"] + r["loss2"], rel=1e-5) and r["images_per_s"] > 0
    # The epoch mean is the mean of its steps' losses.
    assert epochs[0]["loss"] == pytest.approx((steps[0]["loss"] + steps[1]["loss"]) / 2, rel=1e-5)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["grid"] == 4

    record = json.loads(result.record_path.read_text())
    assert record["kind"] == "pretrain" and record["metrics"]["steps"] == 4
    assert record["model"] == {"method": "splitbrain", "arch": "simplenet", "color_space": "lab",
                               "width": "half", "random_init": False}

    model, saved_config = model_from_checkpoint(result.checkpoint)
    assert saved_config == config and state_equal(model.state_dict(), result.model.state_dict())


@pytest.mark.parametrize("num_workers, lr_schedule", [(0, "step"), (1, "step"), (0, "cosine")])
def test_interrupted_run_resumed_reproduces_the_uninterrupted_weights(tmp_path, monkeypatch, num_workers, lr_schedule):
    # Random crops (from the global RNG with num_workers=0, from the worker's seed otherwise),
    # shuffling, lr decay or the per-step cosine: all must continue exactly as uninterrupted.
    common = dict(epochs=3, lr_decay=0.5, color_space="rescaled_lab", num_workers=num_workers, lr_schedule=lr_schedule)
    straight = pretrain(tiny(tmp_path, "straight", **common))

    # Interrupt the second run in the middle of epoch 2 (after step 3 of 6).
    calls = {"n": 0}
    real_step = train_module.optimizer_step

    def crash_at_step_4(optimizer, scaler):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        real_step(optimizer, scaler)

    monkeypatch.setattr(train_module, "optimizer_step", crash_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        pretrain(tiny(tmp_path, "interrupted", **common))
    monkeypatch.setattr(train_module, "optimizer_step", real_step)
    assert load_checkpoint(tmp_path / "interrupted" / "checkpoint.pt")["epoch"] == 1

    resumed = pretrain(tiny(tmp_path, "interrupted", **common), resume=True)
    assert resumed.steps == straight.steps == 6
    assert state_equal(resumed.model.state_dict(), straight.model.state_dict())
    a = load_checkpoint(straight.checkpoint)
    b = load_checkpoint(resumed.checkpoint)
    assert a["scheduler"] == b["scheduler"]
    for key, value in a["optimizer"]["state"].items():
        assert state_equal(value, b["optimizer"]["state"][key])
    # The resumed log drops the torn epoch's lines and matches the uninterrupted log.
    losses = lambda run: [(r["kind"], r["step"], r["loss"]) for r in read_metrics(tmp_path / run / "metrics.jsonl")]
    assert losses("interrupted") == losses("straight")


def test_resume_from_an_explicit_path_extends_training(tmp_path):
    first = pretrain(tiny(tmp_path, "a", epochs=1))
    more = pretrain(tiny(tmp_path, "b", epochs=2), resume=first.checkpoint)
    assert more.steps == 4 and load_checkpoint(more.checkpoint)["epoch"] == 2
    assert len([r for r in read_metrics(tmp_path / "b" / "metrics.jsonl") if r["kind"] == "epoch"]) == 1


def test_failed_checkpoint_save_leaves_the_previous_one_intact(tmp_path, monkeypatch):
    config = tiny(tmp_path, epochs=1)
    pretrain(config)
    path = tmp_path / "run" / "checkpoint.pt"
    before = path.read_bytes()

    def broken_save(obj, stream, *args, **kwargs):  # the atomic writer hands torch.save an open file
        stream.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        pretrain(dataclasses.replace(config, epochs=2), resume=True)
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.pt", "config.json", "metrics.jsonl"]

    with pytest.raises(OSError):
        atomic_torch_save({"x": 1}, tmp_path / "other.pt")
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob(".*tmp"))


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    pretrain(tiny(tmp_path, epochs=0))
    with pytest.raises(CheckpointMismatchError, match="arch='simplenet'.*'fcalexnet'"):
        pretrain(tiny(tmp_path, arch="fcalexnet"), resume=True)
    with pytest.raises(CheckpointMismatchError, match="color_space"):
        pretrain(tiny(tmp_path, color_space="rgb"), resume=True)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable splitbrain checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError):
        pretrain(tiny(tmp_path, "nothing"), resume=True)


def test_epochs_zero_saves_the_initial_weights(tmp_path):
    result = pretrain(tiny(tmp_path, epochs=0))
    assert result.steps == 0 and math.isnan(result.final_loss)
    torch.manual_seed(0)
    fresh = build_model(tiny(tmp_path, epochs=0))
    assert state_equal(load_checkpoint(result.checkpoint)["model"], fresh.state_dict())


def test_dae_baseline_and_rebalanced_loss_train(tmp_path):
    dae = pretrain(tiny(tmp_path, "dae", method="dae", color_space="rgb", epochs=1))
    assert 0 < dae.final_loss < 10 and set(read_metrics(dae.metrics_path)[0]) >= {"loss", "lr"}
    rebalanced = pretrain(tiny(tmp_path, "rb", loss="rebalanced", epochs=1))
    w1, w2 = load_checkpoint(rebalanced.checkpoint)["class_weights"]
    assert w1.shape == (100,) and w2.shape == (100,) and bool((w1 > 0).all()) and bool((w2 > 0).all())
    assert math.isfinite(rebalanced.final_loss)


def test_batch_larger_than_the_data_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="batch_size"):
        pretrain(tiny(tmp_path, train_length=4, batch_size=8))


def test_cosine_schedule_warms_up_then_decays_to_zero_over_the_whole_run(tmp_path):
    from splitbrain.presets import WARMUP_FRACTION

    config = tiny(tmp_path, "cosine", epochs=4, lr=1e-2, lr_schedule="cosine")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    scheduler, unit = train_module.build_scheduler(optimizer, config, steps_per_epoch=25)
    assert unit == "step"
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    warmup = round(WARMUP_FRACTION * 100)
    assert rates[0] == pytest.approx(config.lr / warmup)  # a linear ramp from near 0 ...
    assert max(rates) == pytest.approx(config.lr) and rates.index(max(rates)) == warmup - 1  # ... to lr
    assert all(a >= b for a, b in zip(rates[warmup - 1:], rates[warmup:]))  # then only down
    assert rates[-1] < 0.01 * config.lr  # and ends near 0 on the last step
    step_scheduler, step_unit = train_module.build_scheduler(optimizer, tiny(tmp_path, "s", lr_decay=0.5), 25)
    assert step_unit == "epoch" and isinstance(step_scheduler, torch.optim.lr_scheduler.StepLR)
    with pytest.raises(ValueError, match="lr_schedule"):
        tiny(tmp_path, "bad", lr_schedule="linear")


@pytest.mark.parametrize("capability, expected", [((7, 5), torch.float16), ((8, 0), torch.bfloat16),
                                                  ((9, 0), torch.bfloat16)])
def test_auto_precision_is_fp16_where_a_gpu_only_emulates_bf16(monkeypatch, capability, expected):
    # A T4 (7.5) reports bf16 as "supported" (emulated, slowly): "auto" must still give fp16 there.
    from splitbrain.runtime import resolve_amp

    asked = []
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: asked.append(device) or capability)
    assert resolve_amp("auto", torch.device("cuda", 1)) == expected
    assert asked == [torch.device("cuda", 1)]  # the run's GPU, not the current one
    assert resolve_amp("auto", torch.device("cpu")) is None and resolve_amp("off", torch.device("cuda", 0)) is None
