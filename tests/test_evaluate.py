"""Evaluation: top-k, standardisation, the linear probe, feature extractors, labelled subsets."""
from __future__ import annotations

import json

import pytest
import torch

from splitbrain.evaluate import (
    AutoencoderFeatures,
    ProbeRecipe,
    SplitBrainFeatures,
    choose_layer,
    feature_extractor,
    fit_probe,
    labelled_subset,
    linear_probe,
    standardization,
    topk_accuracy,
    training_rows,
    validation_part,
)
from splitbrain.presets import get_eval_preset, get_preset
from splitbrain.models import build_model
from splitbrain.networks import load_network


def test_topk_accuracy_counts_hits_by_hand():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.5, 0.4, 0.1]])
    labels = torch.tensor([1, 2, 0, 1])
    # top-1 hits: row 0 only.
    scores = topk_accuracy(logits, labels, ks=(1, 2, 5))
    assert scores[1] == pytest.approx(0.25)
    assert scores[5] == 1.0  # 3 classes: top-5 is trivially every row
    random_logits = torch.randn(500, 10, generator=torch.Generator().manual_seed(0))
    random_labels = torch.randint(0, 10, (500,), generator=torch.Generator().manual_seed(1))
    manual = (random_logits.argsort(dim=1, descending=True)[:, :5] == random_labels[:, None]).any(1).float().mean()
    assert topk_accuracy(random_logits, random_labels)[5] == pytest.approx(float(manual))
    with pytest.raises(ValueError, match="logits"):
        topk_accuracy(torch.zeros(3), torch.zeros(3, dtype=torch.long))


def test_standardization_uses_training_statistics():
    generator = torch.Generator().manual_seed(0)
    train = torch.randn(200, 4, generator=generator) * torch.tensor([1.0, 5.0, 0.0, 2.0]) + 3.0
    test = torch.randn(50, 4, generator=generator) + 3.0
    mean, std = standardization(train)
    train_s, test_s = ((x - mean) / std for x in (train, test))
    assert torch.allclose(train_s.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(train_s.std(0)[[0, 1, 3]], torch.ones(3), atol=1e-5)
    assert torch.equal(train_s[:, 2], torch.zeros(200))  # a constant feature is centred, not blown up
    expected = (test - train.mean(0)) / torch.where(train.std(0) < 1e-6, torch.ones(4), train.std(0))
    assert torch.allclose(test_s, expected)


def test_probe_beats_chance_on_separable_blobs_and_not_on_noise():
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 16, generator=generator) * 3
    def blobs(n):
        labels = torch.arange(n) % 4
        return centres[labels] + torch.randn(n, 16, generator=generator), labels
    (train_x, train_y), (test_x, test_y) = blobs(200), blobs(100)
    recipe = ProbeRecipe(epochs=20, batch_size=32)
    _, scores = fit_probe(train_x, train_y, 4, test_x, test_y, recipe)
    assert scores["val_top1"] > 0.9 and scores["train_top1"] > 0.9 and scores["dim"] == 16
    assert scores["val_top5"] == 1.0  # 4 classes
    _, noise = fit_probe(torch.randn(200, 16, generator=generator), train_y, 4, torch.randn(100, 16, generator=generator),
                         test_y, recipe)
    assert noise["val_top1"] < 0.5  # chance is 0.25


@pytest.mark.parametrize("method", ["splitbrain", "dae"])
def test_feature_extractors_match_the_models_own_features(method):
    config = get_preset("smoke", method=method, image_size=16, grid=4, color_space="rgb" if method == "dae" else "lab")
    torch.manual_seed(0)
    model = build_model(config).eval()
    extractor = feature_extractor(model, config.color_space)
    assert isinstance(extractor, SplitBrainFeatures if method == "splitbrain" else AutoencoderFeatures)
    rgb = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    inputs = extractor.prepare(rgb)
    with torch.no_grad():
        maps = extractor.activations(rgb, model.feature_layers)
        for layer in model.feature_layers:
            assert torch.allclose(extractor(rgb, layer, max_dim=9216), model.features(*inputs, layer), atol=1e-6)
            assert torch.allclose(extractor(rgb, layer, max_dim=None), maps[layer].mean(dim=(2, 3)), atol=1e-6)
        # Under autocast the colour conversion still runs in float32 (Lab needs the precision).
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = extractor(rgb, model.feature_layers[0], max_dim=None)
        assert mixed.dtype == torch.bfloat16 and mixed.shape == (3, maps[model.feature_layers[0]].shape[1])
    with pytest.raises(ValueError, match="SplitBrainNet or a DenoisingAutoencoder"):
        feature_extractor(torch.nn.Linear(2, 2), "lab")


@pytest.fixture
def checkpoint(smoke_checkpoint):
    return smoke_checkpoint


def eval_config(tmp_path, **overrides):
    values = dict(image_size=16, max_train_images=60, max_test_images=30, probe_epochs=10, finetune_epochs=1,
                  finetune_batch_size=20, verbose=False, progress=False, record_dir=str(tmp_path / "results"))
    values.update(overrides)
    return get_eval_preset("smoke", **values)


def test_linear_probe_of_a_checkpoint_and_of_random_init_share_the_code(checkpoint, tmp_path):
    config = eval_config(tmp_path, layers=("conv1", "conv5"))
    trained = linear_probe(config, *load_network(checkpoint), checkpoint=checkpoint)
    floor = linear_probe(config, *load_network(checkpoint, random_init=True), random_init=True)
    for result, random_init in ((trained, False), (floor, True)):
        metrics = result.metrics
        assert set(metrics["layers"]) == {"conv1", "conv5"} and metrics["best_layer"] in metrics["layers"]
        # The layer is chosen on validation; the held-out numbers are that layer's, whatever they are.
        assert metrics["layer_chosen_on"] == "validation"
        assert metrics["best_layer"] == choose_layer(metrics["layers"])
        best = metrics["layers"][metrics["best_layer"]]
        assert (metrics["val_top1"], metrics["top1"], metrics["top5"]) == (best["val_top1"], best["top1"], best["top5"])
        assert 0.1 < metrics["top1"] <= 1.0 and metrics["top1"] <= metrics["top5"] <= 1.0  # chance is 0.1
        # 20 % of each class's 6 probe-training crops (rounded: 1) validate, the other 50 train.
        assert (metrics["num_classes"], metrics["train_images"], metrics["val_images"], metrics["test_images"]) == (10, 50, 10, 30)
        record = json.loads(result.record_path.read_text())
        assert record["kind"] == "probe" and record["model"]["random_init"] is random_init
        assert record["pretrain_config"]["grid"] == 4 and record["metrics"]["top1"] == metrics["top1"]
    # The random network is not the trained one.
    assert not torch.equal(trained.model.half1.trunk.stages.conv1[0].weight, floor.model.half1.trunk.stages.conv1[0].weight)
    with pytest.raises(ValueError, match="layer"):
        linear_probe(eval_config(tmp_path, layers=("conv9",)), *load_network(checkpoint))


def test_random_init_without_checkpoint_and_a_dae_model(tmp_path):
    config = eval_config(tmp_path, layers=("conv3",), record_dir=None)
    pretrain_config = get_preset("smoke", method="dae", image_size=16, grid=4, color_space="rgb")
    result = linear_probe(config, *load_network(pretrain_config, random_init=True), random_init=True)
    assert result.model_info == {"method": "dae", "arch": "simplenet", "color_space": "rgb", "width": "half",
                                 "random_init": True, "noise": "salt_pepper", "noise_level": 0.05}
    assert 0.1 < result.metrics["top1"] <= 1.0 and result.record_path is None
    with pytest.raises(ValueError, match="checkpoint"):
        load_network(pretrain_config)


def test_choose_layer_follows_validation_not_the_held_out_images():
    per_layer = {"conv1": {"val_top1": 0.50, "top1": 0.70}, "conv2": {"val_top1": 0.60, "top1": 0.40},
                 "conv3": {"val_top1": 0.60, "top1": 0.90}}
    assert choose_layer(per_layer) == "conv2"  # the best on validation, the shallowest on a tie


def test_validation_part_is_disjoint_stratified_and_seeded():
    labels = torch.arange(100) % 4
    fit, val = validation_part(labels, 0.2, seed=3)
    assert len(fit) == 80 and len(val) == 20 and not set(fit.tolist()) & set(val.tolist())
    assert torch.bincount(labels[val]).tolist() == [5, 5, 5, 5]
    again = validation_part(labels, 0.2, seed=3)
    assert torch.equal(again[1], val) and not torch.equal(validation_part(labels, 0.2, seed=4)[1], val)
    with pytest.raises(ValueError, match="probe_val_fraction"):
        validation_part(torch.zeros(2, dtype=torch.long), 0.2, seed=0)


def test_a_fitted_probe_scores_held_out_features_as_it_scored_validation():
    torch.manual_seed(0)
    centres = torch.randn(3, 8) * 4
    make = lambda n: (lambda y: (centres[y] + torch.randn(n, 8), y))(torch.arange(n) % 3)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = make(60), make(30), make(30)
    probe, scores = fit_probe(train_x, train_y, 3, val_x, val_y, ProbeRecipe(epochs=30, lr=0.05))
    assert scores["val_top1"] > 0.9 and scores["val_top5"] == 1.0
    assert topk_accuracy(probe.logits(test_x), test_y)[1] > 0.9
    # the same recipe on the same data gives the same classifier: validation is scored like a test split
    _, again = fit_probe(train_x, train_y, 3, val_x, val_y, ProbeRecipe(epochs=30, lr=0.05))
    assert again == scores


def test_held_out_scoring_batch_by_batch_equals_scoring_cached_features(checkpoint, tmp_path):
    from torch.utils.data import DataLoader

    from splitbrain.evaluate import build_eval_datasets, extract_features, score_probes

    config = eval_config(tmp_path)
    network, pretrain_config = load_network(checkpoint)
    extractor = feature_extractor(network, pretrain_config.color_space)
    train, test, classes = build_eval_datasets(config)
    device = torch.device("cpu")
    features, labels = extract_features(extractor, DataLoader(train, batch_size=16), ["conv2", "conv5"], device)
    probes = {layer: fit_probe(features[layer], labels, classes, features[layer], labels, ProbeRecipe(epochs=5))[0]
              for layer in ("conv2", "conv5")}
    streamed, count = score_probes(extractor, DataLoader(test, batch_size=7), probes, device)  # odd batches
    cached, test_labels = extract_features(extractor, DataLoader(test, batch_size=30), ["conv2", "conv5"], device)
    assert count == len(test) == 30
    for layer, probe in probes.items():
        expected = topk_accuracy(probe.logits(cached[layer]), test_labels)
        assert streamed[layer]["top1"] == pytest.approx(expected[1]) and streamed[layer]["top5"] == pytest.approx(expected[5])


def test_labelled_subsets_are_exact_per_class_nested_and_seeded():
    labels = torch.arange(400) % 4  # 100 rows per class
    small, large = labelled_subset(labels, 5, seed=2), labelled_subset(labels, 40, seed=2)
    assert torch.bincount(labels[small]).tolist() == [5] * 4 and torch.bincount(labels[large]).tolist() == [40] * 4
    assert set(small.tolist()) < set(large.tolist())  # one seed: the 5 of a class are among its 40
    assert torch.equal(small, labelled_subset(labels, 5, seed=2)) and torch.equal(small, small.sort().values)
    assert not torch.equal(small, labelled_subset(labels, 5, seed=3))
    with pytest.raises(ValueError, match="labels_per_class=101 exceeds the 100 labelled images of class 0"):
        labelled_subset(labels, 101, seed=0)


def test_training_rows_keep_the_validation_part_whatever_the_label_count():
    labels = torch.arange(500) % 5
    config = get_eval_preset("smoke", probe_val_fraction=0.2, seed=1)
    fit, val = training_rows(labels, config)
    for count in (1, 10, 80):
        subset, same_val = training_rows(labels, get_eval_preset("smoke", probe_val_fraction=0.2, seed=1,
                                                                 labels_per_class=count))
        assert torch.equal(same_val, val) and set(subset.tolist()) <= set(fit.tolist())
        assert torch.bincount(labels[subset]).tolist() == [count] * 5
    with pytest.raises(ValueError, match="labels_per_class=81 exceeds the 80"):
        training_rows(labels, get_eval_preset("smoke", labels_per_class=81))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("probe_device", ["cpu", "cuda"])
def test_a_probe_scores_features_from_the_gpu(probe_device):
    # The held-out features come straight off the GPU batch by batch (score_probes), while the
    # standardisation was computed from features cached on the CPU.
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 8, generator=generator), torch.randint(0, 3, (64,), generator=generator)
    probe, _ = fit_probe(x, y, 3, x, y, ProbeRecipe(epochs=2), device=probe_device)
    on_gpu = probe.logits(x.cuda())
    assert on_gpu.device.type == "cpu"
    assert torch.allclose(on_gpu, probe.logits(x), atol=1e-5)
