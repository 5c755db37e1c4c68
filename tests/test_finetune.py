"""Fine-tuning: batch augmentation, the budget and schedule, the trained recipe, its record."""
from __future__ import annotations

import json
import math

import pytest
import torch

from splitbrain.finetune import (
    FinetuneClassifier,
    augment_batch,
    batch_rows,
    build_optimizer,
    finetune,
    step_count,
)
from splitbrain.evaluate import feature_extractor
from splitbrain.networks import load_network
from splitbrain.presets import get_eval_preset, get_preset
from splitbrain.schedule import warmup_cosine, warmup_cosine_factor
from splitbrain.models import build_model


def eval_config(tmp_path, **overrides):
    values = dict(image_size=16, max_train_images=60, max_test_images=30, probe_epochs=10, finetune_epochs=1,
                  finetune_batch_size=20, verbose=False, progress=False, record_dir=str(tmp_path / "results"))
    values.update(overrides)
    return get_eval_preset("smoke", **values)


def test_augment_batch_cuts_windows_of_the_padded_image_and_flips_some():
    rgb = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out = augment_batch(rgb, 2, torch.Generator().manual_seed(1))
    assert out.shape == rgb.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(rgb, (2, 2, 2, 2))
    flipped, offsets = 0, set()
    for i in range(len(rgb)):  # every output is one window of its padded image, maybe mirrored
        windows = [(top, left, flip) for top in range(5) for left in range(5) for flip in (False, True)
                   if torch.equal(out[i], (padded[i, :, top:top + 8, left:left + 8].flip(-1) if flip else
                                           padded[i, :, top:top + 8, left:left + 8]))]
        assert windows, f"image {i} is no window of its padded input"
        flipped += windows[0][2]
        offsets.add(windows[0][:2])
    assert 16 < flipped < 48 and len(offsets) > 10  # about half flipped, many offsets
    # no padding: only flips; the same generator seed gives the same batch
    plain = augment_batch(rgb, 0, torch.Generator().manual_seed(1))
    assert all(torch.equal(plain[i], rgb[i]) or torch.equal(plain[i], rgb[i].flip(-1)) for i in range(len(rgb)))
    assert torch.equal(plain, augment_batch(rgb, 0, torch.Generator().manual_seed(1)))


def test_warmup_cosine_rises_linearly_then_falls_to_zero_at_the_last_step():
    total, warmup = 100, 5
    factors = [warmup_cosine_factor(step, total, warmup) for step in range(total + 1)]
    assert factors[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert factors[5] == 1.0 and factors[total] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(factors[5:], factors[6:]))
    assert factors[5 + 95 // 2] == pytest.approx(0.5 * (1 + math.cos(math.pi * (95 // 2) / 95)))
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = warmup_cosine(optimizer, total, 0.05)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.02) and max(rates) == pytest.approx(0.1) and rates[-1] < 1e-3


def test_budget_in_images_or_epochs_and_batches_of_fresh_passes():
    config = get_eval_preset("smoke", finetune_batch_size=32, finetune_epochs=3)
    assert step_count(config, 100) == 3 * 3  # three passes of three full batches
    assert step_count(config, 20) == 3  # fewer images than a batch: one batch of all of them
    assert step_count(get_eval_preset("smoke", finetune_batch_size=32, finetune_images=1000), 100) == 32
    assert step_count(get_eval_preset("smoke", finetune_batch_size=32, finetune_images=1000), 20) == 50
    batches = list(batch_rows(10, 4, 5, torch.Generator().manual_seed(0)))
    assert len(batches) == 5 and all(len(b) == 4 for b in batches)
    first_pass, second_pass = torch.cat(batches[:2]), torch.cat(batches[2:4])
    assert len(set(first_pass.tolist())) == 8 and len(set(second_pass.tolist())) == 8  # no repeat within a pass


def test_head_layer_and_layerwise_rates():
    config = get_preset("smoke", image_size=16, grid=4)
    model = build_model(config)
    classifier = FinetuneClassifier(feature_extractor(model, "lab"), 10, "conv3")
    assert classifier.head.in_features == 2 * model.half1.trunk.layer_channels["conv3"]
    rgb = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    assert classifier(rgb).shape == (2, 10)
    trunk_ids = {id(p) for p in classifier.trunk_parameters()}
    conv4 = {id(p) for p in model.half1.trunk.stages["conv4"].parameters()}
    conv1 = {id(p) for p in model.half2.trunk.stages["conv1"].parameters()}
    assert conv1 <= trunk_ids and not conv4 & trunk_ids  # stages past the head layer are not trained
    optimizer = build_optimizer(classifier, get_eval_preset("smoke", finetune_optimizer="sgd", finetune_lr=0.1,
                                                            finetune_trunk_lr=0.1))
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["nesterov"]
    assert [group["lr"] for group in optimizer.param_groups] == pytest.approx([0.1, 0.01])
    frozen = build_optimizer(classifier, get_eval_preset("smoke", finetune_optimizer="adam", finetune_trunk_lr=0.0))
    assert len(frozen.param_groups) == 1 and isinstance(frozen, torch.optim.Adam)


def test_finetune_trains_everything_and_reports_top1_top5(smoke_checkpoint, tmp_path):
    config = eval_config(tmp_path)
    result = finetune(config, *load_network(smoke_checkpoint))
    metrics = result.metrics
    assert 0.0 <= metrics["top1"] <= metrics["top5"] <= 1.0 and not metrics["top5_trivial"]
    assert 0.0 <= metrics["val_top1"] <= 1.0 and metrics["head_layer"] == "conv5"
    assert len(metrics["history"]) == 1 and metrics["history"][0]["train_loss"] > 0
    # 60 probe-training crops: 10 validate (20 %), the other 50 train in 2 full batches of 20
    assert (metrics["train_images"], metrics["val_images"], metrics["test_images"]) == (50, 10, 30)
    assert (metrics["steps"], metrics["images_seen"]) == (2, 40)
    record = json.loads(result.record_path.read_text())
    assert record["kind"] == "finetune" and record["config"]["finetune_epochs"] == 1
    # The trunk was trained: its first conv moved away from the checkpoint's.
    saved = torch.load(smoke_checkpoint, weights_only=True)["model"]["half1.trunk.stages.conv1.0.weight"]
    assert not torch.equal(result.model.extractor.model.half1.trunk.stages.conv1[0].weight.cpu(), saved)


def test_the_trained_recipe_follows_its_budget_and_records_a_validation_curve(smoke_checkpoint, tmp_path):
    config = eval_config(tmp_path, finetune_optimizer="sgd", finetune_schedule="cosine", finetune_warmup=0.1,
                         finetune_lr=0.05, finetune_images=400, finetune_crop_padding=2, finetune_val_points=4,
                         labels_per_class=3, finetune_batch_size=16)
    result = finetune(config, *load_network(smoke_checkpoint))
    metrics, history = result.metrics, result.metrics["history"]
    assert metrics["train_images"] == 30 and metrics["labels_per_class"] == 3 and metrics["val_images"] == 10
    assert metrics["steps"] == 25 and metrics["images_seen"] == 400
    assert [point["step"] for point in history] == [6, 12, 19, 25]
    assert history[-1]["lr"] == pytest.approx(0.0, abs=1e-9)  # the cosine ends at zero
    assert all(0.0 <= point["val_top1"] <= 1.0 and point["train_loss"] > 0 for point in history)
    assert metrics["images_per_s"] > 0 and metrics["train_s"] > 0
    # the same configuration gives the same network and numbers
    again = finetune(config, *load_network(smoke_checkpoint))
    assert again.metrics["top1"] == metrics["top1"] and again.metrics["history"] == history


def test_finetune_precise_bn_recomputes_statistics_and_leaves_weights(smoke_checkpoint, tmp_path):
    plain = finetune(eval_config(tmp_path, finetune_precise_bn=False), *load_network(smoke_checkpoint))
    precise = finetune(eval_config(tmp_path, finetune_precise_bn=True), *load_network(smoke_checkpoint))
    assert plain.metrics["precise_bn"] is False and precise.metrics["precise_bn"] is True
    plain_state, precise_state = plain.model.state_dict(), precise.model.state_dict()
    weights = [k for k in plain_state if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert weights and all(torch.equal(plain_state[k], precise_state[k]) for k in weights)
    key = "extractor.model.half1.trunk.stages.conv1.1"
    # 50 training images in batches of 20: the refresh averages exactly its 3 batches (20, 20, 10)
    assert int(precise_state[f"{key}.num_batches_tracked"]) == 3
    assert not torch.allclose(plain_state[f"{key}.running_mean"], precise_state[f"{key}.running_mean"])
    record = json.loads(precise.record_path.read_text())
    assert record["config"]["finetune_precise_bn"] is True and record["metrics"]["precise_bn"] is True


@pytest.mark.parametrize("field, value", [("finetune_precise_bn", "yes"), ("finetune_optimizer", "lamb"),
                                          ("finetune_schedule", "step"), ("finetune_warmup", 0.9),
                                          ("finetune_images", 0), ("finetune_trunk_lr", -1.0),
                                          ("finetune_crop_padding", -1), ("finetune_val_points", 0),
                                          ("labels_per_class", 0), ("finetune_head_layer", ""),
                                          ("finetune_head", "mlp"), ("finetune_trials", ()), ("finetune_trials", ("last:0.1", "last:-1")),
                                          ("finetune_trials", ("mlp:0.1",)), ("finetune_trials", ("last",))])
def test_bad_recipe_values_name_their_field(field, value, tmp_path):
    with pytest.raises(ValueError, match=field):
        eval_config(tmp_path, **{field: value})


def test_an_unknown_head_layer_is_refused_before_training(smoke_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="layer must be one of"):
        finetune(eval_config(tmp_path, finetune_head_layer="conv9"), *load_network(smoke_checkpoint))


def test_several_trials_keep_the_best_on_validation(smoke_checkpoint, tmp_path):
    common = dict(finetune_optimizer="sgd", finetune_schedule="cosine", finetune_images=200, finetune_val_points=2,
                  record_dir=None)
    tried = finetune(eval_config(tmp_path, finetune_trials=("last:0.001", "last:0.05", "probe:0.01"), **common),
                     *load_network(smoke_checkpoint))
    trials = tried.metrics["trials"]
    assert [(trial["head"], trial["lr"]) for trial in trials] == [("last", 0.001), ("last", 0.05), ("probe", 0.01)]
    best = max(trials, key=lambda trial: trial["val_top1"])  # the first on a tie
    assert (tried.metrics["head"], tried.metrics["lr"]) == (best["head"], best["lr"])
    assert tried.metrics["val_top1"] == best["val_top1"] and tried.metrics["top1"] == best["top1"]
    # each setting started from the same weights: alone, it gives the numbers it gave among the others
    for trial in trials:
        alone = finetune(eval_config(tmp_path, finetune_head=trial["head"], finetune_lr=trial["lr"], **common),
                         *load_network(smoke_checkpoint))
        assert (alone.metrics["val_top1"], alone.metrics["top1"]) == (trial["val_top1"], trial["top1"])
        assert "trials" not in alone.metrics and alone.metrics["lr"] == trial["lr"]


def test_the_probe_head_starts_from_the_linear_probe_at_its_validation_layer(smoke_checkpoint, tmp_path):
    config = eval_config(tmp_path, finetune_head="probe", finetune_optimizer="sgd", finetune_lr=1e-9,
                         finetune_weight_decay=0.0, augment=False, finetune_precise_bn=True, record_dir=None)
    result = finetune(config, *load_network(smoke_checkpoint))
    metrics = result.metrics
    assert metrics["head"] == "probe" and metrics["head_layer"] in result.model.extractor.feature_layers
    # at a learning rate of nearly zero, with BatchNorm's statistics recomputed over the same images
    # at the end, the fine-tuned network is the probe: the same validation top-1
    assert metrics["val_top1"] == metrics["probe_val_top1"] and metrics["val_top1"] > 0.1
    head = result.model.head
    assert head.linear.in_features == head.mean.shape[1] and result.model.max_dim == config.max_dim
    with pytest.raises(ValueError, match="finetune_head_layer applies to finetune_head='last'"):
        finetune(eval_config(tmp_path, finetune_head="probe", finetune_head_layer="conv2"),
                 *load_network(smoke_checkpoint))
