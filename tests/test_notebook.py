"""The chapters' setup: which data a chapter uses, and that it downloads only when asked."""
import json

import pytest

from splitbrain import data
from splitbrain.notebook import chapter_setup


def write_dataset(root, name):
    folder, files = (data._STL10_FOLDER, data._STL10_FILES) if name == "stl10" else (data._CIFAR10_FOLDER, data._CIFAR10_FILES)
    (root / folder).mkdir(parents=True)
    for split in files.values():
        for file in filter(None, split):
            (root / folder / file).write_bytes(b"")


def test_dataset_present_needs_every_file(tmp_path):
    assert not data.dataset_present("stl10", tmp_path)
    write_dataset(tmp_path, "stl10")
    assert data.dataset_present("stl10", tmp_path) and not data.dataset_present("cifar10", tmp_path)
    (tmp_path / data._STL10_FOLDER / "test_y.bin").unlink()
    assert not data.dataset_present("stl10", tmp_path)
    with pytest.raises(ValueError, match="name must be one of"):
        data.dataset_present("embedded", tmp_path)


def test_a_missing_dataset_is_replaced_by_the_embedded_photographs_unless_asked_for(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPLITBRAIN_DATA", str(tmp_path))
    monkeypatch.delenv("SPLITBRAIN_CAP", raising=False)
    ctx = chapter_setup("colab", device="cpu", download=False)
    assert ctx.preset == "colab" and ctx.data == ctx.eval_data == {"data": "embedded", "download": False}
    out = capsys.readouterr().out
    assert "stl10 (2.5 GB) is not in" in out and "preset's sizes (96 px)" in out and "DOWNLOAD = True" in out
    assert chapter_setup("colab", device="cpu", download=True).data == {"download": True}
    # a chapter that does not read its preset's dataset (no download argument) chooses and says nothing
    assert chapter_setup("colab", device="cpu").data == {} and capsys.readouterr().out == ""
    write_dataset(tmp_path, "stl10")
    assert chapter_setup("colab", device="cpu", download=False).data == {"download": False}
    assert chapter_setup("smoke", download=False).data == {"download": False}
    assert capsys.readouterr().out == ""


def test_the_cap_lowers_counts_only(tmp_path, monkeypatch, capsys):
    from splitbrain.presets import get_eval_preset, get_preset

    monkeypatch.setenv("SPLITBRAIN_DATA", str(tmp_path))
    monkeypatch.delenv("SPLITBRAIN_CAP", raising=False)
    plain = chapter_setup("colab", device="cpu", download=False)
    assert plain.cap is None and plain.at_most(500) == 500
    monkeypatch.setenv("SPLITBRAIN_CAP", "16")
    ctx = chapter_setup("colab", device="cpu", download=False)
    assert ctx.cap == 16 and ctx.at_most(500) == 16 and ctx.at_most(5) == 5
    counts = {"train_length", "batch_size", "epochs", "max_steps_per_epoch", "max_train_images", "max_test_images",
              "probe_epochs", "finetune_epochs"}
    for build, fields, base in ((get_preset, ctx.data, plain.data), (get_eval_preset, ctx.eval_data, plain.eval_data)):
        capped, uncapped = build("colab", **fields).to_dict(), build("colab", **base).to_dict()
        changed = {name for name in capped if capped[name] != uncapped[name]}
        assert changed and changed <= counts, changed  # data, sizes, networks, colour space: the colab ones
        assert all(capped[name] <= (uncapped[name] or 16) for name in changed)
    config = get_preset("colab", **ctx.data)
    assert (config.data, config.image_size, config.width, config.arch) == ("embedded", 96, "full", "simplenet")
    assert config.train_length * config.epochs <= 32 and config.batch_size == 16 and config.max_steps_per_epoch == 1
    evaluation = get_eval_preset("colab", **ctx.eval_data)
    assert (evaluation.max_train_images, evaluation.max_test_images, evaluation.image_size) == (16, 16, 96)
    monkeypatch.setenv("SPLITBRAIN_CAP", "100000")  # never above a preset's own counts
    smoke = chapter_setup("smoke", download=False)
    pretrain, evaluation = get_preset("smoke", **smoke.data), get_eval_preset("smoke", **smoke.eval_data)
    assert (pretrain.train_length, pretrain.batch_size, pretrain.epochs) == (128, 16, 2)
    assert (evaluation.max_train_images, evaluation.max_test_images, evaluation.probe_epochs) == (300, 150, 2)
    for bad in ("0", "-3", "many", "1.5"):
        monkeypatch.setenv("SPLITBRAIN_CAP", bad)
        with pytest.raises(ValueError, match="SPLITBRAIN_CAP must be a positive integer"):
            chapter_setup("smoke")
    monkeypatch.setenv("SPLITBRAIN_CAP", "")
    assert chapter_setup("smoke").cap is None


def test_glue_records_a_seen_number_only_when_the_book_asks(tmp_path, monkeypatch):
    from splitbrain import notebook

    path = tmp_path / "seen.json"
    monkeypatch.delenv(notebook.SEEN_VALUES_ENV, raising=False)
    notebook.glue("gap", 3.25, seen="probe gap, points")
    assert notebook.GLUED["gap"] == 3.25 and not path.exists()  # a reader's run writes nothing
    monkeypatch.setenv(notebook.SEEN_VALUES_ENV, str(path))
    notebook.glue("gap", 4.5, seen="probe gap, points")
    notebook.glue("steps", 12, seen="steps")
    notebook.glue("label", "conv3")  # not marked: kept for the prose, not recorded
    assert json.loads(path.read_text()) == {"gap": {"what": "probe gap, points", "value": 4.5},
                                            "steps": {"what": "steps", "value": 12.0}}
    with pytest.raises(TypeError, match="'label'.*needs a number, got str"):
        notebook.glue("label", "conv3", seen="the chosen layer")


def test_prose_keeps_every_mean_and_spread_on_one_line(monkeypatch):
    from IPython import display as ipython_display

    from splitbrain import notebook

    shown = []
    monkeypatch.setattr(ipython_display, "display", shown.append)
    notebook.glue("gap", "+9.3 ± 1.4")
    notebook.prose("| gap |\n|---|\n| {gap} |\n\nThe gap is {gap} points.")
    text = shown[0].data
    assert " ± " not in text and text.count("+9.3\u00a0±\u00a01.4") == 2
