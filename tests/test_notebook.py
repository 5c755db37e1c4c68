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
    ctx = chapter_setup("colab", device="cpu")
    assert ctx.preset == "colab" and ctx.data == {"data": "embedded", "download": False}
    out = capsys.readouterr().out
    assert "stl10 (2.5 GB) is not in" in out and "DOWNLOAD = True" in out
    assert chapter_setup("colab", device="cpu", download=True).data == {"download": True}
    write_dataset(tmp_path, "stl10")
    assert chapter_setup("colab", device="cpu").data == {"download": False}
    assert chapter_setup("smoke").data == {"download": False}
    assert capsys.readouterr().out == ""


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
