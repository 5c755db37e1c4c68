"""Shipped pretrained networks: export, sha256 check, repository file, cache, download (offline)."""
from __future__ import annotations

import pytest
import torch

import splitbrain
from splitbrain import weights
from splitbrain.presets import get_preset
from splitbrain.train import pretrain


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A tiny run exported as the shipped network "tiny", served from a file:// 'repository'."""
    config = get_preset("smoke", epochs=1, image_size=16, grid=4, train_length=16, out=str(tmp_path / "run"),
                        verbose=False, progress=False)
    run = pretrain(config)
    served = tmp_path / "served"
    path = weights.export(run.checkpoint, "tiny", served / weights.PRETRAINED_FOLDER)
    monkeypatch.setitem(weights.PRETRAINED, "tiny", weights.Weights(weights.sha256_of(path), path.stat().st_size, "-", "conv1"))
    monkeypatch.setattr(weights, "RAW_URL", served.as_uri())
    monkeypatch.setattr(weights, "shipped_file", lambda name: tmp_path / "clone" / f"{name}.pt")
    return run, path, tmp_path / "cache"


def test_export_keeps_weights_only_and_loads_without_pickles(shipped):
    run, path, _ = shipped
    saved = torch.load(path, weights_only=True)
    assert set(saved) == {"format", "config", "model", "epoch", "step", "pretrained_on"}  # no optimiser, no rng
    assert path.stat().st_size < run.checkpoint.stat().st_size  # no optimiser state


def test_pretrained_downloads_once_checks_sha256_then_reads_the_cache(shipped, monkeypatch):
    run, _, cache = shipped
    model, config = splitbrain.pretrained("tiny", cache_dir=cache)
    assert config == run.config and not model.training
    for key, value in run.model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value.cpu())
    assert (cache / "pretrained" / "tiny.pt").is_file()
    monkeypatch.setattr(weights, "fetch", lambda *a: pytest.fail("fetched although the cache holds the file"))
    splitbrain.pretrained("tiny", cache_dir=cache, download=False)


def test_a_file_with_another_sha256_is_refused_and_a_bad_download_not_kept(shipped, monkeypatch):
    _, path, cache = shipped
    monkeypatch.setitem(weights.PRETRAINED, "tiny", weights.Weights("0" * 64, 1, "-", "conv1"))
    with pytest.raises(ValueError, match="sha256"):
        weights.locate("tiny", cache_dir=cache)
    assert not list(cache.rglob("*.pt")) and not list(cache.rglob("*.tmp"))
    (cache / "pretrained").mkdir(parents=True, exist_ok=True)
    (cache / "pretrained" / "tiny.pt").write_bytes(path.read_bytes()[:-1])  # a truncated copy
    with pytest.raises(ValueError, match="tiny.pt does not have the sha256"):
        weights.locate("tiny", cache_dir=cache)


def test_unknown_name_and_no_download_are_one_line_errors(shipped):
    _, _, cache = shipped
    with pytest.raises(ValueError, match="name must be one of"):
        splitbrain.pretrained("imagenet-alexnet")
    with pytest.raises(FileNotFoundError, match="download=True"):
        splitbrain.pretrained("tiny", cache_dir=cache, download=False)


def test_every_shipped_network_is_in_the_repository_with_its_sha256_and_its_record():
    import json
    from pathlib import Path

    from splitbrain.experiments.reproduce import fingerprint

    root = Path(__file__).resolve().parent.parent
    assert weights.PRETRAINED, "no shipped network is registered"
    for name, entry in weights.PRETRAINED.items():
        path = weights.shipped_file(name)
        assert path.stat().st_size == entry.bytes and weights.sha256_of(path) == entry.sha256, name
        model, config = splitbrain.pretrained(name, download=False)
        record = json.loads((root / entry.record).read_text())
        # The record describes this very network: the same configuration, pretrained to the end.
        assert fingerprint(record["config"]["pretrain"]) == fingerprint(config.to_dict()), name
        assert record["metrics"]["pretrain"]["epochs"] == config.epochs == torch.load(path, weights_only=True)["epoch"]
        assert entry.probe_layer == record["metrics"]["probe"]["best_layer"], name


def test_probe_config_repeats_the_grid_runs_probe_at_its_chosen_layer():
    import json
    from pathlib import Path

    from splitbrain.presets import FINETUNE_ONLY_FIELDS, MACHINERY_FIELDS, EvalConfig

    root = Path(__file__).resolve().parent.parent
    for name, entry in weights.PRETRAINED.items():
        record = json.loads((root / entry.record).read_text())
        on_jpegs = weights.probe_config(name, data_root="cifar10/train")
        expected = {**record["config"]["evaluate"], "layers": [entry.probe_layer], "progress": False, "verbose": False}
        got = on_jpegs.to_dict()
        newer = set(got) - set(record["config"]["evaluate"])  # fields added since the record was made
        # none of them changes what the probe computes: machinery, fine-tuning only, or at the default
        # that is the behaviour from before the field existed
        changing = {f for f in newer - MACHINERY_FIELDS - FINETUNE_ONLY_FIELDS if got[f] != EvalConfig.__dataclass_fields__[f].default}
        assert not changing, changing
        assert {k: v for k, v in got.items() if k not in newer} == expected, name  # the run's own parts
        on_torchvision = weights.probe_config(name, download=False)
        assert (on_torchvision.data, on_torchvision.data_root, on_torchvision.download) == ("cifar10", None, False)
    with pytest.raises(ValueError, match="name must be one of"):
        weights.probe_config("imagenet-alexnet")


def test_probe_shipped_sets_the_network_beside_its_random_init_on_the_same_images(shipped):
    from splitbrain.presets import get_eval_preset

    run, _, cache = shipped
    splitbrain.pretrained("tiny", cache_dir=cache)  # into the cache, where probe_shipped looks next
    config = get_eval_preset("smoke", image_size=16, max_train_images=40, max_test_images=20, probe_epochs=1,
                             layers=("conv1",), progress=False, verbose=False)
    results = weights.probe_shipped("tiny", config, cache_dir=cache)
    assert {name: result.model_info["random_init"] for name, result in results.items()} == \
        {"pretrained": False, "random init": True}
    for result in results.values():
        assert result.metrics["best_layer"] == "conv1" and result.metrics["test_images"] == 20
        assert result.pretrain_config == run.config
    shipped_first = next(results["pretrained"].model.parameters())
    assert torch.equal(shipped_first.cpu(), next(run.model.parameters()).cpu())


def test_the_weights_subcommand_exports_a_run_and_prints_its_entry(shipped, tmp_path, capsys):
    from splitbrain.cli import main

    run, _, _ = shipped
    assert main(["weights", str(run.checkpoint), "tiny2"]) == 0
    path = weights.shipped_file("tiny2")  # the fixture points the repository at tmp_path / "clone"
    assert path.is_file() and path.parent == tmp_path / "clone"
    assert f'"tiny2": Weights(sha256="{weights.sha256_of(path)}", bytes={path.stat().st_size}' in capsys.readouterr().out
    assert main(["weights", str(tmp_path / "missing.pt"), "tiny3"]) == 2
    assert not weights.shipped_file("tiny3").exists()
