"""The compute budget: FLOPs counted on meta networks against the FLOPs of the real training and
evaluation steps on CPU tensors, the stage arithmetic, image counts and the reference peaks."""
import dataclasses
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from splitbrain.color import get_color_space
from splitbrain.evaluate import extract_features, feature_extractor
from splitbrain.finetune import FinetuneClassifier
from benchmarks import budget
from splitbrain.experiments.grids import get_grid
from splitbrain.presets import get_eval_preset, get_preset
from splitbrain.models import build_model, build_targets_for
from splitbrain.train import DenoisingObjective, SplitBrainObjective, forward_backward

ROOT = Path(__file__).resolve().parent.parent
SIZE, BATCH = 32, 4


def flops_of(step) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def images(n=BATCH, size=SIZE, seed=0):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(params=[("simplenet", "splitbrain"), ("fcresnet18", "splitbrain"), ("simplenet", "dae"),
                        ("fcalexnet", "splitbrain")], ids=lambda p: "-".join(p))
def configs(request):
    arch, method = request.param
    pretrain = get_preset("smoke", arch=arch, method=method, image_size=SIZE, grid=8, color_space="rescaled_lab")
    evaluate = get_eval_preset("smoke", image_size=SIZE)
    return pretrain, evaluate


def test_pretext_flops_match_the_real_training_step(configs):
    # The real step converts colours on the CPU too (a 3x3 matrix per pixel, counted): within 1 %.
    pretrain, evaluate = configs
    costs = budget.image_costs(pretrain, evaluate)
    model = build_model(pretrain)
    if pretrain.method == "dae":
        objective = DenoisingObjective(get_color_space(pretrain.color_space), model.corrupt)
    else:
        objective = SplitBrainObjective(build_targets_for(pretrain))
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    real = flops_of(lambda: forward_backward(model, objective, images(), None, scaler)) / BATCH
    assert costs.pretrain > 0
    assert costs.pretrain == pytest.approx(real, rel=0.01)


def test_evaluation_flops_match_the_real_classifier_and_extractor(configs):
    pretrain, evaluate = configs
    costs = budget.image_costs(pretrain, evaluate, num_classes=10)
    network = build_model(pretrain)
    extractor = feature_extractor(network, pretrain.color_space)
    classifier = FinetuneClassifier(extractor, 10)

    def step():
        classifier(images()).sum().backward()

    classifier.train()
    assert costs.finetune_step == pytest.approx(flops_of(step) / BATCH, rel=0.01)
    classifier.eval()
    with torch.no_grad():
        assert costs.finetune_forward == pytest.approx(flops_of(lambda: classifier(images())) / BATCH, rel=0.01)
    assert costs.finetune_forward < costs.finetune_step

    loader = [(images(), torch.zeros(BATCH, dtype=torch.long))]
    layers = list(evaluate.layers or extractor.feature_layers)
    with torch.no_grad():
        real = flops_of(lambda: extract_features(extractor, loader, layers, torch.device("cpu"), evaluate.max_dim))
        features, _ = extract_features(extractor, loader, layers, torch.device("cpu"), evaluate.max_dim)
    assert costs.features == pytest.approx(real / BATCH, rel=0.01)
    assert costs.probe_dims == {layer: features[layer].shape[1] for layer in layers}


def test_a_count_is_reused_only_for_the_same_evaluation_size():
    """The counts are cached per network shape; evaluating the same network at another image size
    is another count (a cache key without the evaluation size once gave 32 px costs for 64 px)."""
    pretrain = get_preset("smoke", arch="simplenet", image_size=SIZE, grid=8)
    small = budget.image_costs(pretrain, get_eval_preset("smoke", image_size=SIZE))
    large = budget.image_costs(pretrain, get_eval_preset("smoke", image_size=2 * SIZE))
    assert large.features == pytest.approx(4 * small.features, rel=0.05)
    assert large.pretrain == small.pretrain


def test_no_pretext_count_for_networks_that_are_not_pretrained():
    pretrain, evaluate = get_preset("smoke"), get_eval_preset("smoke")
    assert budget.image_costs(pretrain, evaluate, pretrains=False).pretrain == 0
    with pytest.raises(ValueError, match="num_classes"):
        budget.image_costs(pretrain, evaluate, num_classes=1)


def test_probe_flops_formula():
    # One layer of 3 dims, 2 classes, 5 training and 4 held-out images, 2 epochs:
    # (4 * 2 * 5 + 2 * 9) * 2 * 3.
    assert budget.probe_flops({"conv1": 3}, 2, 5, 4, 2) == (40 + 18) * 6
    assert budget.probe_flops({"a": 3, "b": 1}, 2, 5, 4, 2) == (40 + 18) * 2 * 4


def fixed_costs():
    return budget.ImageCosts(pretrain=100, features=10, probe_dims={"conv1": 3}, finetune_step=30, finetune_forward=10)


def test_stage_flops_add_up_per_method():
    pretrain = get_preset("smoke")
    evaluate = get_eval_preset("smoke", probe_epochs=2, finetune_epochs=3, finetune_precise_bn=True)
    counts = budget.ImageCounts(pretrain=1000, train=50, test=20, num_classes=2)
    costs = fixed_costs()
    probe = 70 * 10 + budget.probe_flops({"conv1": 3}, 2, 50, 20, 2)
    finetune = 3 * 50 * 30 + 50 * 10 + 20 * 10  # epochs, the precise-BN pass, scoring
    assert budget.stage_flops(pretrain, evaluate, "splitbrain", counts, costs=costs) == {
        "pretrain": 1000 * 100, "probe": probe, "finetune": finetune}
    assert budget.stage_flops(pretrain, evaluate, "random", counts, costs=costs)["pretrain"] == 0
    supervised = budget.stage_flops(pretrain, evaluate, "supervised", counts, supervised_epochs=7, costs=costs)
    assert supervised["pretrain"] == 7 * 50 * 30 + 50 * 10 + 20 * 10
    without_bn = dataclasses.replace(evaluate, finetune_precise_bn=False)
    assert budget.stage_flops(pretrain, without_bn, "dae", counts, costs=costs)["finetune"] == finetune - 50 * 10
    with pytest.raises(ValueError, match="supervised_epochs"):
        budget.stage_flops(pretrain, evaluate, "supervised", counts, costs=costs)
    with pytest.raises(ValueError, match="kind"):
        budget.stage_flops(pretrain, evaluate, "colorization", counts, costs=costs)


def test_planned_images_of_the_stl10_grid():
    grid = get_grid("stl10-colab")
    run = grid.runs()[0]
    config = grid.pretrain_config(run)
    counts = budget.planned_images(grid, run)
    assert counts.pretrain == config.epochs * (100_000 // config.batch_size) * config.batch_size
    assert (counts.train, counts.test, counts.num_classes) == (5_000, 8_000, 10)
    with pytest.raises(ValueError, match="'folder'"):
        budget.planned_images(get_grid("cifar-quick"), get_grid("cifar-quick").runs()[0])


def test_forecast_uses_the_published_peak():
    peaks = budget.read_gpu_peaks(ROOT / "results" / "reference" / budget.GPU_PEAKS_CSV)
    assert budget.REFERENCE_GPU in peaks and peaks[budget.REFERENCE_GPU]["fp16_tflops"] > 0
    grid = get_grid("stl10-colab")
    rows = budget.forecast(grid, {"GPU": {"fp16_tflops": 1.0, "fp32_tflops": 0.5}}, gpu="GPU")
    assert len(rows) == len(grid.archs) * len(grid.methods)
    for row in rows:
        assert row["total_pflop"] == pytest.approx(sum(row[f"{stage}_pflop"] for stage in budget.STAGES))
        assert row["minutes_at_peak"] == pytest.approx(row["total_pflop"] * 1e15 / 1e12 / 60)
    by_name = {(row["arch"], row["method"]): row for row in rows}
    # Same networks, same work: the colour spaces cost the same; the floor has no pretraining.
    assert by_name["fcresnet18", "lab"]["total_pflop"] == pytest.approx(by_name["fcresnet18", "rgb"]["total_pflop"])
    assert by_name["simplenet", "random-lab"]["pretrain_pflop"] == 0
    assert by_name["fcresnet18", "lab"]["pretrain_pflop"] > by_name["simplenet", "lab"]["pretrain_pflop"]
    with pytest.raises(ValueError, match="gpu must be one of"):
        budget.forecast(grid, peaks, gpu="No Such GPU")
    with pytest.raises(ValueError, match="flops_per_s"):
        budget.minutes_at(1.0, 0.0)


def test_command_line(capsys):
    assert budget.main(["--grid", "smoke", "--results", str(ROOT / "results")]) == 2
    assert "'embedded'" in capsys.readouterr().err


def test_bound_sentence_names_the_longest_run_and_the_whole_grid():
    grid = get_grid("stl10-colab")
    rows = [{"arch": "simplenet", "minutes_at_peak": 1.0}, {"arch": "simplenet", "minutes_at_peak": 2.5},
            {"arch": "fcresnet18", "minutes_at_peak": 10.0}]
    text = budget.bound_sentence(rows, grid, "GPU", 100.0)
    assert "at least 2.5 minutes with SimpleNet and 10.0 minutes with" in text
    assert f"the grid's {3 * len(grid.seeds)} runs take at least {13.5 * len(grid.seeds) / 60:.1f} hours" in text


def test_readme_budget_section_is_generated_from_the_counts():
    from splitbrain.sections import section_names, section_of

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    grids = section_names(readme, kind="budget")
    assert grids == ["stl10-colab"]
    peaks = budget.read_gpu_peaks(ROOT / "results" / "reference" / budget.GPU_PEAKS_CSV)
    expected = budget.budget_report(get_grid("stl10-colab"), peaks)
    assert section_of(readme, "stl10-colab", kind="budget") == expected.rstrip("\n"), (
        "README's budget section differs from the counts; regenerate it with "
        "python -m benchmarks.budget --grid stl10-colab --write README.md")


def test_cifar_recipe_dae_spends_the_split_brain_pairs_pretraining_flops():
    grid = get_grid("cifar-recipe")
    for arch in grid.archs:
        runs = {run.method.name: run for run in grid.runs() if run.arch == arch and run.seed == 0}
        evaluate = grid.eval_config(runs["lab"], data_root="x")
        pair = grid.pretrain_config(runs["lab"], data_root="x")
        dae = grid.pretrain_config(runs["dae-salt_pepper-full"], data_root="x")
        flops = lambda config: budget.image_costs(config, evaluate).pretrain * config.epochs
        # As wide as the pair together, and within 10 % of its pretraining compute.
        assert dae.width == "full" and pair.width == "half" and dae.method == "dae"
        assert 0.9 < flops(dae) / flops(pair) < 1.1, arch
