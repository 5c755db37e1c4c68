"""Faults met by the readers of records, README sections and checkpoints, injected on purpose:
whatever a records folder or a checkpoint holds, the readers end in one clear line (or skip and
count what they cannot read), never a traceback or a hang, and nothing already written is lost."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from splitbrain import results
from test_cli import assert_one_line_error, run
from test_faults import break_record, digests, grid_folder
from test_train import tiny

RESULTS = Path(__file__).resolve().parent.parent / "results"


@pytest.fixture(autouse=True)
def in_a_scratch_folder(tmp_path, monkeypatch):
    """The commands' default folders are the scratch folder's; skipped records are said again, as in a new process."""
    monkeypatch.chdir(tmp_path)
    results._REPORTED_SKIPS.clear()


def first_layer(record):
    return next(iter(record["metrics"]["probe"]["layers"]))


def the_readers(folder):
    """``splitbrain table`` and ``splitbrain report`` on the grid folder ``folder``."""
    return (["table", "--results", str(folder)], ["report", "--grid", folder.name, "--results", str(folder.parent)])


# ----------------------------------------------------------------------------------------------
# Records that passed the schema and crashed the readers


@pytest.mark.parametrize("change, field", [
    (lambda r: r["metrics"].update(probe=None), "metrics.probe"),
    (lambda r: r["metrics"]["probe"].pop("best_layer"), "metrics.probe.best_layer"),
    (lambda r: r.update(wall_time_s="40 min"), "wall_time_s"),
    (lambda r: r.update(wall_time_s=float("nan")), "wall_time_s"),
    (lambda r: r.update(wall_time_s=float("inf")), "wall_time_s"),
    (lambda r: r.update(wall_time_s=-3.0), "wall_time_s"),
    (lambda r: r["metrics"]["probe"].update(top5=-0.2), "metrics.probe.top5"),
    (lambda r: r["metrics"]["probe"]["layers"][first_layer(r)].update(top1=1.5), "metrics.probe.layers."),
    (lambda r: r["metrics"]["probe"].update(num_classes="10"), "metrics.probe.num_classes"),
    (lambda r: r["model"].update(arch=["simplenet"]), "model.arch"),
    (lambda r: r.update(timestamp="yesterday"), "timestamp"),
    (lambda r: r["config"]["pretrain"].update(batch_size=None), "config.pretrain.batch_size"),
    (lambda r: r["metrics"]["pretrain"].update(steps=1.5), "metrics.pretrain.steps"),
    (lambda r: r.update(hardware=["cpu"]), "hardware"),
    (lambda r: r.update(labels_per_class=0), "labels_per_class"),
], ids=["probe null", "no best_layer", "wall time as text", "wall time NaN", "wall time infinite",
        "negative wall time", "negative accuracy", "layer accuracy above 1", "class count as text",
        "architecture a list", "timestamp not a time", "batch size null", "steps a fraction", "hardware a list",
        "zero labels per class"])
def test_a_record_that_crashed_the_readers_is_one_line_naming_the_field_or_skipped_and_counted(
        tmp_path, capsys, change, field):
    folder = grid_folder(tmp_path)
    bad = sorted(folder.glob("*.json"))[1]
    break_record(bad, change)
    for command in the_readers(folder):
        status, _, err = run(command, capsys)
        assert_one_line_error(status, err, bad.name, f"field {field}")
        results._REPORTED_SKIPS.clear()
        status, out, err = run(command + ["--skip-malformed"], capsys)
        assert status == 0 and "Traceback" not in err, err
        assert err.count("skipped 1 malformed record(s)") == 1 and bad.name in err and field in err
        assert "| SimpleNet | Split-brain | Lab | 2 |" in out  # the other two seeds, counted as two


def test_a_label_count_run_without_its_validation_scores_is_one_line(tmp_path, capsys):
    """Such a run chooses between its probe and its fine-tuning on validation: without it the curve cannot."""
    folder = tmp_path / "results" / "label-efficiency"
    folder.mkdir(parents=True)
    source = sorted((RESULTS / "label-efficiency").glob("simplenet-lab-l*-seed0.json"))[0]
    bad = folder / source.name
    bad.write_bytes(source.read_bytes())
    break_record(bad, lambda r: r["metrics"]["finetune"].pop("val_top1"))
    status, _, err = run(["report", "--grid", "label-efficiency", "--results", str(folder.parent)], capsys)
    assert_one_line_error(status, err, bad.name, "field metrics.finetune.val_top1")


def test_a_search_trial_without_speed_figures_is_shown_with_dashes_not_a_traceback(tmp_path):
    from splitbrain.experiments.report import search_section
    from splitbrain.label_curve import SEARCH_FOLDER

    folder = tmp_path / SEARCH_FOLDER
    folder.mkdir()
    source = sorted((RESULTS / SEARCH_FOLDER).glob("*.json"))[0]
    (folder / source.name).write_bytes(source.read_bytes())
    break_record(folder / source.name, lambda r: [r["metrics"].pop(k) for k in ("images_seen", "images_per_s",
                                                                                 "trials", "lr", "val_top1")])
    cells = search_section(tmp_path).splitlines()[-1].split(" | ")
    assert cells[0] == f"| {source.stem}" and cells[3] == "-" and cells[-1] == "- |"  # images seen, images/s
    saved = json.loads(source.read_text())
    configured = f"{saved['metrics']['head']}:{saved['config']['finetune_lr']:g}"
    assert cells[4] == f"**{configured} -**"  # the configured setting, kept; its validation top-1 not recorded


@pytest.mark.parametrize("change, field", [
    (lambda r: r["metrics"].update(gap=float("nan")), "metrics.gap"),
    (lambda r: r["metrics"].update(reference_images_per_s={"off": 229.3}), "metrics.reference_images_per_s"),
    (lambda r: r["metrics"]["random"].pop("top1"), "metrics.random.top1"),
], ids=["gap NaN", "one reference speed of two", "no random-init score"])
def test_a_margin_record_chapter_8_could_not_show_is_one_line(tmp_path, capsys, change, field):
    folder = tmp_path / "margin"
    folder.mkdir()
    source = sorted((RESULTS / "margin").glob("*.json"))[0]
    (folder / source.name).write_bytes(source.read_bytes())
    break_record(folder / source.name, change)
    status, _, err = run(["margin", "--report", "-", "--results", str(folder)], capsys)
    assert_one_line_error(status, err, source.name, f"field {field} must be")


def test_a_reference_table_with_a_ragged_row_is_one_line_naming_the_file(tmp_path):
    from splitbrain.tables import read_reference_csv

    table = tmp_path / "poster_table1.csv"
    table.write_text("# source: the poster\nArchitecture,Image Space,Top 1\nSimpleNet 18,LAB,0.1093\nResNet 18,RGB\n")
    with pytest.raises(ValueError, match="poster_table1.csv: the row 'ResNet 18,RGB' has 2 cells, its header 3"):
        read_reference_csv(table)


# ----------------------------------------------------------------------------------------------
# Entries named *.json that are not files: never opened, one line or skipped


def add_unreadable_entries(folder):
    """A folder, a link to nothing, a link loop, a FIFO, a link to a device and a file far too large
    for a record, each named *.json."""
    (folder / "a-folder.json").mkdir()
    (folder / "gone.json").symlink_to(folder / "nowhere.json")
    (folder / "loop.json").symlink_to(folder / "loop.json")
    os.mkfifo(folder / "pipe.json")  # opening it for reading would wait for a writer forever
    (folder / "zero.json").symlink_to("/dev/zero")  # reading it would never end
    with open(folder / "vast.json", "wb") as sparse:  # takes no disk space
        sparse.truncate(results.MAX_RECORD_BYTES + 1)
    return 6


def test_entries_named_json_that_are_not_files_are_one_line_or_skipped_without_hanging(tmp_path, capsys):
    folder = grid_folder(tmp_path)
    count = add_unreadable_entries(folder)
    command = [sys.executable, "-m", "splitbrain", "table", "--results", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)  # a hang fails here, not forever
    assert_one_line_error(done.returncode, done.stderr, "a-folder.json", "not a record file (a folder)")
    done = subprocess.run(command + ["--skip-malformed"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and f"skipped {count} malformed record(s)" in done.stderr, done.stderr
    assert "| SimpleNet | Split-brain | Lab | 3 |" in done.stdout
    status, out, err = run(["report", "--grid", folder.name, "--results", str(folder.parent), "--skip-malformed"],
                           capsys)
    assert status == 0 and f"skipped {count} malformed record(s)" in err and f"(and {count - 1} more)" in err


@pytest.mark.parametrize("name, reason", [("gone.json", "a link to nothing"), ("loop.json", "symbolic links"),
                                          ("pipe.json", "a FIFO, socket or device"),
                                          ("zero.json", "a FIFO, socket or device"),
                                          ("vast.json", "too large for a record")])
def test_each_unreadable_entry_is_named_with_its_reason(tmp_path, name, reason):
    from splitbrain.results import RecordError, load_records

    add_unreadable_entries(tmp_path)
    (tmp_path / "a-folder.json").rmdir()
    for other in {"gone.json", "loop.json", "pipe.json", "zero.json", "vast.json"} - {name}:
        (tmp_path / other).unlink()
    with pytest.raises(RecordError, match=f"{name}: .*{reason}"):
        load_records(tmp_path)


# ----------------------------------------------------------------------------------------------
# The latest of two records


def test_the_latest_of_two_records_is_the_later_instant_whatever_the_time_zone(tmp_path, capsys):
    """10:00 at UTC+2 is 08:00 UTC: as text it sorts after 09:00 UTC, as an instant before it."""
    from splitbrain.results import make_record, write_record

    def finetune(top1, timestamp):
        record = make_record("finetune", {"finetune_epochs": 5}, {"top1": top1, "top5": 0.9}, seed=0, wall_time_s=1.0,
                             model={"method": "splitbrain", "arch": "simplenet", "color_space": "lab"})
        write_record({**record, "timestamp": timestamp}, tmp_path)

    finetune(0.11, "2026-01-01T10:00:00+02:00")
    finetune(0.33, "2026-01-01T09:00:00+00:00")
    finetune(0.22, "2026-01-01T08:30:00")  # no zone: UTC
    status, out, err = run(["table", "--results", str(tmp_path), "--kind", "finetune"], capsys)
    assert status == 0, err
    assert "| SimpleNet | Lab | 5 | 1 | 0.3300 |" in out


# ----------------------------------------------------------------------------------------------
# The README writer

README = "# Results\n\n<!-- report:cifar-recipe -->\nold\n<!-- /report:cifar-recipe -->\n\nThe end.\n"


def test_report_write_through_a_link_rewrites_the_target_and_keeps_the_link(tmp_path, capsys):
    folder = grid_folder(tmp_path)
    (tmp_path / "docs").mkdir()
    target = tmp_path / "docs" / "README.md"
    target.write_text(README)
    link = tmp_path / "README.md"
    link.symlink_to(Path("docs") / "README.md")
    status, _, err = run(["report", "--grid", folder.name, "--results", str(folder.parent), "--write", str(link)],
                         capsys)
    assert status == 0, err
    assert link.is_symlink() and os.readlink(link) == str(Path("docs") / "README.md")
    assert "| SimpleNet | Split-brain | Lab | 3 |" in target.read_text() and "old" not in target.read_text()
    assert target.read_text().endswith("<!-- /report:cifar-recipe -->\n\nThe end.\n")


@pytest.mark.parametrize("text", [
    "# Results\n\nno markers\n",
    README + "<!-- report:cifar-recipe -->\n",
    "<!-- /report:cifar-recipe -->\nold\n<!-- report:cifar-recipe -->\n",
], ids=["missing", "repeated", "out of order"])
def test_markers_missing_repeated_or_out_of_order_are_one_line_and_leave_the_file_as_it_was(tmp_path, capsys, text):
    folder = grid_folder(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(text)
    status, _, err = run(["report", "--grid", folder.name, "--results", str(folder.parent), "--write", str(readme)],
                         capsys)
    assert_one_line_error(status, err, str(readme), "<!-- report:cifar-recipe -->")
    assert readme.read_text() == text


def test_a_readme_with_windows_line_endings_keeps_them(tmp_path, capsys):
    folder = grid_folder(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_bytes(README.replace("\n", "\r\n").encode())
    status, _, err = run(["report", "--grid", folder.name, "--results", str(folder.parent), "--write", str(readme)],
                         capsys)
    assert status == 0, err
    written = readme.read_bytes()
    assert b"| SimpleNet | Split-brain | Lab | 3 |" in written
    assert written.count(b"\n") == written.count(b"\r\n")  # every line still ends in CR LF


# ----------------------------------------------------------------------------------------------
# Checkpoints that are incomplete, inconsistent or absurd


def small_checkpoint(tmp_path, **config_changes):
    """A checkpoint of a tiny untrained network: {"format", "config", "model", "epoch", "step"}."""
    from splitbrain.checkpoint import checkpoint_state
    from splitbrain.models import build_model

    config = tiny(tmp_path)
    return checkpoint_state({**config.to_dict(), **config_changes}, build_model(config).state_dict(), 0, 0)


def without(key):
    def change(checkpoint):
        del checkpoint[key]
    return change


def drop_first_weight(checkpoint):
    del checkpoint["model"][next(iter(checkpoint["model"]))]


@pytest.mark.parametrize("change, words", [
    (without("config"), "holds no config"),
    (without("model"), "holds no model"),
    (without("step"), "holds no step"),
    (lambda c: c.update(config=["simplenet"]), "its config must be a mapping"),
    (lambda c: c.update(model=[1, 2]), "its model must be a state dict of tensors"),
    (lambda c: c.update(epoch=-1), "its epoch must be an integer >= 0"),
    (lambda c: c["config"].update(grid="8"), "its config is not valid (grid must be a positive integer"),
    (lambda c: c["config"].update(bins1=50), "its weights do not fit the network its config describes"),
    (lambda c: c["config"].update(arch="fcalexnet"), "its weights do not fit"),
    (drop_first_weight, "missing"),
    (lambda c: c["model"].update(extra=c["model"][next(iter(c["model"]))]), "extra unexpected"),
], ids=["no config", "no model", "no step", "config a list", "model a list", "negative epoch", "grid as text",
        "bins of another network", "another architecture", "a weight missing", "a weight too many"])
def test_an_incomplete_or_inconsistent_checkpoint_is_one_line(tmp_path, capsys, change, words):
    import torch

    from splitbrain.checkpoint import CheckpointError, model_from_checkpoint

    checkpoint = small_checkpoint(tmp_path)
    change(checkpoint)
    path = tmp_path / "bad.pt"
    torch.save(checkpoint, path)
    status, _, err = run(["probe", "--preset", "smoke", "--checkpoint", str(path), "--epochs", "1"], capsys)
    assert_one_line_error(status, err, "bad.pt", words)
    with pytest.raises(CheckpointError, match="^checkpoint") as raised:  # a loaded dict is checked the same way
        model_from_checkpoint(checkpoint)
    assert "\n" not in str(raised.value) and words.partition("(")[0] in str(raised.value)


@pytest.mark.parametrize("sizes", [{"bins1": 10**9}, {"bins2": 10**5}, {"grid": 10**6, "image_size": 10**6},
                                   {"image_size": 10**7}], ids=["bins1", "bins2", "grid", "image size"])
def test_absurd_sizes_in_a_checkpoint_are_refused_before_any_network_is_built(tmp_path, capsys, monkeypatch, sizes):
    import torch

    from splitbrain import models

    checkpoint = small_checkpoint(tmp_path, **sizes)
    torch.save(checkpoint, tmp_path / "huge.pt")
    monkeypatch.setattr(models, "build_model", lambda *a, **k: pytest.fail("a network was built"))
    status, _, err = run(["probe", "--preset", "smoke", "--checkpoint", str(tmp_path / "huge.pt")], capsys)
    name, value = next(iter(sizes.items()))
    assert_one_line_error(status, err, "huge.pt", f"{name}={value} is more than", "at most")


FULL_DISK_CHILD = """
import resource, signal, sys
from splitbrain.cli import main

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
sys.exit(main(sys.argv[2:]))
"""


def test_a_real_full_disk_during_a_checkpoint_write_is_one_line_and_the_previous_checkpoint_survives(tmp_path, capsys):
    """No simulated torch.save: the process may not write files larger than half a checkpoint."""
    from test_faults import SMALL

    status, _, err = run(["pretrain", *SMALL, "--out", str(tmp_path / "run")], capsys)
    assert status == 0, err
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    before = digests(tmp_path / "run")["checkpoint.pt"]
    argv = ["pretrain", *SMALL, "--set", "epochs=2", "--out", str(tmp_path / "run"), "--resume"]
    done = subprocess.run([sys.executable, "-c", FULL_DISK_CHILD, str(checkpoint.stat().st_size // 2), *argv],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert_one_line_error(done.returncode, done.stderr, "could not write", "checkpoint.pt", "File too large",
                          "left as it was")
    assert digests(tmp_path / "run")["checkpoint.pt"] == before
    assert not list((tmp_path / "run").glob(".*.tmp")), "the failed write left its temporary file"


def test_absurd_sizes_asked_on_the_command_line_are_refused_before_any_work(tmp_path, capsys):
    status, _, err = run(["pretrain", "--preset", "smoke", "--out", str(tmp_path / "run"), "--set", "bins1=1000000000"],
                         capsys)
    assert_one_line_error(status, err, "bins1=1000000000 is more than", "at most 4096")
    assert not (tmp_path / "run").exists()
