"""Faults a student or an instructor meets, injected on purpose: nothing already written is lost
or overwritten, and every fault ends in one clear line, never a traceback."""
import hashlib

import pytest
import torch

from splitbrain.checkpoint import CheckpointMismatchError, RunExistsError
from splitbrain.cli import main
from splitbrain.presets import PretrainConfig
from splitbrain.train import pretrain
from test_cli import assert_one_line_error, run
from test_train import tiny


@pytest.fixture(autouse=True)
def in_a_scratch_folder(tmp_path, monkeypatch):
    """The commands' default folders (results/, runs/) are the scratch folder's, never the repository's."""
    monkeypatch.chdir(tmp_path)


def digests(folder):
    """sha256 of every file under ``folder``, by relative path."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------------------------
# A repeated command, and a resume with other options


def test_repeating_a_run_without_resume_is_refused_and_touches_nothing(tmp_path):
    config = tiny(tmp_path)
    pretrain(config)
    before = digests(tmp_path / "run")
    assert {"checkpoint.pt", "metrics.jsonl", "config.json"} <= set(before)
    with pytest.raises(RunExistsError, match="already holds a run.*--resume"):
        pretrain(config)
    assert digests(tmp_path / "run") == before


def test_the_command_line_refuses_a_repeat_in_one_line(tmp_path, capsys):
    argv = ["pretrain", "--preset", "smoke", "--out", str(tmp_path / "run"), "--set", "epochs=1",
            "--set", "train_length=32", "--set", "image_size=16", "--set", "grid=4", "--set", "batch_size=8"]
    status, _, err = run(argv, capsys)
    assert status == 0, err
    before = digests(tmp_path / "run")
    status, _, err = run(argv, capsys)
    assert_one_line_error(status, err, "already holds a run", "--resume")
    assert digests(tmp_path / "run") == before
    status, _, err = run(argv + ["--resume"], capsys)  # the way on that the error names
    assert status == 0, err


@pytest.mark.parametrize("change", [{"lr": 5e-3}, {"seed": 1}, {"batch_size": 4}, {"lr_decay": 0.5}])
def test_resuming_with_other_recipe_values_is_refused(tmp_path, change):
    pretrain(tiny(tmp_path, epochs=1))
    before = digests(tmp_path / "run")
    (name, value), = change.items()
    with pytest.raises(CheckpointMismatchError, match=f"{name}=.*asked: {value!r}"):
        pretrain(tiny(tmp_path, epochs=2, **change), resume=True)
    assert digests(tmp_path / "run") == before


def test_a_step_schedule_run_may_be_extended_but_a_cosine_one_may_not(tmp_path):
    pretrain(tiny(tmp_path, "step", epochs=1))
    assert pretrain(tiny(tmp_path, "step", epochs=2), resume=True).epochs == 2
    pretrain(tiny(tmp_path, "cosine", epochs=1, lr_schedule="cosine"))
    with pytest.raises(CheckpointMismatchError, match="epochs=1 \\(asked: 2\\)"):
        pretrain(tiny(tmp_path, "cosine", epochs=2, lr_schedule="cosine"), resume=True)


def test_main_exit_status_is_two_for_a_refused_repeat(tmp_path, capsys):
    config_args = ["--preset", "smoke", "--out", str(tmp_path / "r"), "--set", "epochs=0"]
    assert main(["pretrain", *config_args]) == 0
    assert main(["pretrain", *config_args]) == 2
    assert "already holds a run" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Image folders with files that do not decode, and 16-bit images


def write_folder_with_bad_files(root, per_class=6):
    """Two classes of ``per_class`` good 24 px images each, and one file of every bad kind in class "ant"."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("ant", "bee"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.{'png' if i % 2 else 'jpg'}")
    good = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(good, format="JPEG")
    (root / "ant" / "cut.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])  # truncated JPEG
    (root / "ant" / "noise.jpg").write_bytes(rng.integers(0, 256, 500, dtype=np.uint8).tobytes())  # random bytes
    (root / "ant" / "empty.png").write_bytes(b"")  # zero bytes
    (root / "ant" / "._0.jpg").write_bytes(b"\x00\x05\x16\x07" + bytes(80))  # a macOS AppleDouble file
    return 2 * per_class, ("cut.jpg", "noise.jpg", "empty.png", "._0.jpg")


def test_files_that_do_not_decode_are_skipped_and_counted_in_one_line(tmp_path, capsys):
    from splitbrain.data import build_dataset

    good, bad = write_folder_with_bad_files(tmp_path / "tree")
    dataset = build_dataset("folder", root=tmp_path / "tree", split="all", image_size=16, augment=False)
    assert len(dataset) == good and dataset.num_classes == 2
    assert all(dataset[i][0].shape == (3, 16, 16) for i in range(len(dataset)))
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"skipped {len(bad)} of {good + len(bad)} image files" in lines[0]
    assert "and 1 more" in lines[0] and sum(name in lines[0] for name in bad) == 3
    assert "truncated" in lines[0] or "not an image" in lines[0]


def test_bad_images_fail_stops_with_a_line_naming_the_files(tmp_path):
    from splitbrain.data import build_dataset
    from splitbrain.imagefolder import BadImageError

    write_folder_with_bad_files(tmp_path / "tree")
    with pytest.raises(BadImageError, match="4 image file.*do not decode: ant/"):
        build_dataset("folder", root=tmp_path / "tree", split="all", image_size=16, bad_images="fail")
    with pytest.raises(ValueError, match="bad_images must be one of"):
        build_dataset("folder", root=tmp_path / "tree", split="all", image_size=16, bad_images="ignore")


def test_pretraining_and_probing_a_folder_with_bad_files_show_no_traceback(tmp_path, capsys):
    tree = tmp_path / "tree"
    write_folder_with_bad_files(tree, per_class=30)
    shape = ["--set", "image_size=16", "--set", "grid=4", "--set", "batch_size=4", "--set", "epochs=1"]
    status, out, err = run(["pretrain", "--preset", "smoke", "--data", "folder", "--data-root", str(tree),
                            "--out", str(tmp_path / "run"), *shape], capsys)
    assert status == 0 and "Traceback" not in err, err
    assert err.count("skipped 4 of 64 image files") == 1
    from splitbrain import imagefolder

    imagefolder._REPORTED.clear()  # as in a new process
    status, out, err = run(["probe", "--preset", "smoke", "--data", "folder", "--data-root", str(tree),
                            "--checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--set", "image_size=16",
                            "--epochs", "1"], capsys)
    assert status == 0 and "Traceback" not in err, err
    assert err.count("skipped 4 of 64") == 1  # said once, though the probe reads two parts of the tree
    status, _, err = run(["pretrain", "--preset", "smoke", "--data", "folder", "--data-root", str(tree),
                          "--out", str(tmp_path / "strict"), "--set", "bad_images=fail", *shape], capsys)
    assert_one_line_error(status, err, "do not decode", "ant/")


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    import numpy as np
    from PIL import Image

    from splitbrain.images import decode_rgb

    grey = np.full((8, 8), 128 * 257, dtype=np.uint16)  # mid-grey at 16 bits
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    with Image.open(tmp_path / "grey16.png") as image:
        assert image.mode.startswith("I")  # what PIL gives for a 16-bit PNG
    assert decode_rgb(tmp_path / "grey16.png").unique().tolist() == [128]
    ramp = (np.arange(64, dtype=np.uint32).reshape(8, 8) * 1040).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    decoded = decode_rgb(tmp_path / "ramp16.png")[0].numpy()
    np.testing.assert_array_equal(decoded, np.round(ramp / 257).astype(np.uint8))


# ----------------------------------------------------------------------------------------------
# kill -9 during training and during a checkpoint write, then resume

CHILD = """
import json, sys, time
import torch
from splitbrain import train
from splitbrain.presets import PretrainConfig

config = PretrainConfig(**json.loads(sys.argv[1]))
kill_during_save, signal_file = int(sys.argv[2]), sys.argv[3]
real_save, real_step, saves = torch.save, train.optimizer_step, [0]

def save(obj, stream, *args, **kwargs):
    saves[0] += 1
    if saves[0] == kill_during_save:  # the write has begun: half a file, then the kill
        stream.write(b"half a checkpoint")
        stream.flush()
        open(signal_file, "w").close()
        time.sleep(600)
    return real_save(obj, stream, *args, **kwargs)

def step(*args, **kwargs):
    real_step(*args, **kwargs)
    time.sleep(0.05)  # slow enough for the test to kill it between steps

torch.save, train.optimizer_step = save, step
train.pretrain(config)
"""


def kill_minus_nine(tmp_path, config, kill_during_save=0, after_steps=0):
    """Start ``pretrain(config)`` in a process and SIGKILL it during its ``kill_during_save``-th
    checkpoint write (1: the initial one), or once ``after_steps`` steps are logged."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    signal_file = tmp_path / "writing"
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(config.to_dict()), str(kill_during_save),
                              str(signal_file)], env={**os.environ, "OMP_NUM_THREADS": "1"})
    metrics = tmp_path / config.out / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and child.poll() is None:
        if kill_during_save and signal_file.exists():
            break
        if after_steps and metrics.exists() and metrics.read_text().count('"kind": "step"') >= after_steps:
            break
        time.sleep(0.01)
    assert child.poll() is None, "the run ended before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()


@pytest.mark.parametrize("kill", [{"kill_during_save": 3}, {"after_steps": 3}, {"after_steps": 5}],
                         ids=["during the epoch-2 checkpoint write", "at step 3", "at step 5"])
def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_weights(tmp_path, kill):
    import torch

    from splitbrain.checkpoint import load_checkpoint

    common = dict(epochs=4, num_workers=0)  # 8 steps: time left after step 5 to kill the run
    straight = pretrain(tiny(tmp_path, "straight", **common))
    config = tiny(tmp_path, "killed", **common)
    kill_minus_nine(tmp_path, config, **kill)
    run_dir = tmp_path / "killed"
    saved = load_checkpoint(run_dir / "checkpoint.pt")  # the last complete checkpoint, never half of one
    assert saved["epoch"] < 4
    if "kill_during_save" in kill:
        assert saved["epoch"] == 1 and len(list(run_dir.glob(".checkpoint.pt.*.tmp"))) == 1
    resumed = pretrain(config, resume=True)
    assert resumed.steps == straight.steps
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.state_dict().values(), straight.model.state_dict().values()))
    assert not list(run_dir.glob(".*.tmp")), "the killed writer's temporary file was left behind"


# ----------------------------------------------------------------------------------------------
# Output locations: a file, a read-only folder, a full disk

SMALL = ["--preset", "smoke", "--set", "epochs=1", "--set", "train_length=32", "--set", "image_size=16",
         "--set", "grid=4", "--set", "batch_size=8"]


def test_an_out_or_results_that_is_a_file_is_refused_before_training(tmp_path, capsys, monkeypatch):
    from splitbrain import train

    monkeypatch.setattr(train, "build_pretrain_dataset", lambda config: pytest.fail("training started"))
    (tmp_path / "a-file").write_text("not a folder")
    status, _, err = run(["pretrain", *SMALL, "--out", str(tmp_path / "a-file")], capsys)
    assert_one_line_error(status, err, "--out", "a-file is a file; expected a folder")
    status, _, err = run(["pretrain", *SMALL, "--out", str(tmp_path / "run"), "--results", str(tmp_path / "a-file")],
                         capsys)
    assert_one_line_error(status, err, "--results", "a-file is a file")
    status, _, err = run(["reproduce", "--grid", "smoke", "--results", str(tmp_path / "a-file"),
                          "--runs", str(tmp_path / "runs")], capsys)
    assert_one_line_error(status, err, "--results", "is a file")


def test_a_read_only_folder_is_refused_before_training(tmp_path, capsys, monkeypatch):
    """A folder this process may not write into (simulated: the tests may run as root, who may)."""
    import errno
    import tempfile

    from splitbrain import files, train

    monkeypatch.setattr(train, "build_pretrain_dataset", lambda config: pytest.fail("training started"))

    locked = tmp_path / "locked"
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and str(dir).startswith(str(locked)):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(files.tempfile, "mkstemp", mkstemp)
    status, _, err = run(["pretrain", *SMALL, "--out", str(locked / "run")], capsys)
    assert_one_line_error(status, err, "--out", "cannot be written: Permission denied")
    assert not (locked / "run" / "checkpoint.pt").exists()


def test_a_full_disk_is_one_line_naming_the_path_and_the_cause(tmp_path, capsys, monkeypatch):
    """The disk fills up at the first checkpoint: the error says so, and no file is half-written."""
    import errno

    import torch

    def full(obj, stream, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    status, _, err = run(["pretrain", *SMALL, "--out", str(tmp_path / "run")], capsys)
    assert_one_line_error(status, err, "could not write", "checkpoint.pt", "No space left on device")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    assert not list((tmp_path / "run").glob(".*.tmp"))


# ----------------------------------------------------------------------------------------------
# Malformed records: one schema, checked on read, by every reader


def grid_folder(tmp_path, count=3):
    """A copy of ``count`` committed cifar-recipe run records (the real schema)."""
    import shutil
    from pathlib import Path

    source = Path(__file__).resolve().parent.parent / "results" / "cifar-recipe"
    folder = tmp_path / "results" / "cifar-recipe"
    folder.mkdir(parents=True)
    for path in sorted(source.glob("simplenet-lab-seed*.json"))[:count]:
        shutil.copy(path, folder / path.name)
    return folder


def break_record(path, change):
    import json

    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


@pytest.mark.parametrize("change, field", [
    (lambda r: r["metrics"]["probe"].update(top1="0.99"), "metrics.probe.top1"),
    (lambda r: r["metrics"]["probe"].update(top1=64.7), "metrics.probe.top1"),
    (lambda r: r.pop("grid"), "grid"),
    (lambda r: r.update(seed="0"), "seed"),
    (lambda r: r.update(metrics=[]), "metrics"),
], ids=["a score as a string", "a score in percent", "no grid", "a seed as a string", "metrics not a mapping"])
def test_a_malformed_record_is_one_line_naming_the_file_and_the_field(tmp_path, capsys, change, field):
    from splitbrain.results import RecordError, load_records

    folder = grid_folder(tmp_path)
    bad = sorted(folder.glob("*.json"))[1]
    break_record(bad, change)
    with pytest.raises(RecordError, match=f"{bad.name}: field {field} must be"):
        load_records(folder)
    status, _, err = run(["table", "--results", str(folder)], capsys)
    assert_one_line_error(status, err, bad.name, field)
    status, _, err = run(["report", "--grid", "cifar-recipe", "--results", str(folder.parent)], capsys)
    assert_one_line_error(status, err, bad.name, field)
    # where the command says so, the record is left out and counted instead
    status, out, err = run(["table", "--results", str(folder), "--skip-malformed"], capsys)
    assert status == 0 and "skipped 1 malformed record(s)" in err and bad.name in err
    assert "| SimpleNet | Split-brain | Lab | 2 |" in out  # two seeds left, and the table says so


def test_a_record_that_is_not_json_and_an_empty_results_folder(tmp_path, capsys):
    from splitbrain.results import RecordError, load_records

    folder = grid_folder(tmp_path)
    (folder / "torn.json").write_text('{"kind": "run", "metrics": {')
    with pytest.raises(RecordError, match="torn.json: not valid JSON"):
        load_records(folder)
    status, _, err = run(["table", "--results", str(tmp_path / "nowhere")], capsys)
    assert_one_line_error(status, err, "nowhere is not a folder of records")
    (tmp_path / "empty").mkdir()
    status, _, err = run(["table", "--results", str(tmp_path / "empty")], capsys)
    assert_one_line_error(status, err, "holds no run records")


def test_table_reads_the_grids_run_records_with_seed_counts(capsys):
    from pathlib import Path

    results = Path(__file__).resolve().parent.parent / "results"
    status, out, err = run(["table", "--results", str(results)], capsys)
    assert status == 0, err
    assert "## cifar-recipe" in out and "| SimpleNet | Split-brain | Lab | 3 |" in out


# ----------------------------------------------------------------------------------------------
# Checkpoints that cannot be resumed, or must not be loaded


class _Payload:
    """Unpickling this object would create a file: the proof that pickled code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path, capsys):
    import torch

    evil, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    torch.save({"format": 1, "config": {}, "model": _Payload(marker)}, evil)
    for command in (["probe", "--preset", "smoke", "--checkpoint", str(evil)],
                    ["pretrain", *SMALL, "--out", str(tmp_path / "run"), "--resume", str(evil)]):
        status, _, err = run(command, capsys)
        assert_one_line_error(status, err, "evil.pt")
        assert not marker.exists(), "loading the checkpoint ran pickled code"


def test_resuming_from_a_weights_only_checkpoint_is_one_line(tmp_path, capsys):
    from splitbrain.weights import shipped_file

    status, _, err = run(["pretrain", "--preset", "smoke", "--out", str(tmp_path / "run"),
                          "--resume", str(shipped_file("cifar10-simplenet-lab"))], capsys)
    assert_one_line_error(status, err, "holds no optimizer", "cannot resume")


def test_a_resumed_runs_record_counts_every_invocations_training(tmp_path):
    import json

    first = pretrain(tiny(tmp_path, epochs=1, record_dir=str(tmp_path / "records")))
    resumed = pretrain(tiny(tmp_path, epochs=2, record_dir=str(tmp_path / "records")), resume=True)
    record = json.loads(resumed.record_path.read_text())
    epoch_one = first.history[0]["epoch_time_s"]
    assert record["resumed_from_epoch"] == 1 and record["invocation_s"] == pytest.approx(resumed.wall_time_s)
    assert record["wall_time_s"] == pytest.approx(resumed.wall_time_s + epoch_one)


def test_resuming_another_checkpoint_into_a_folder_that_holds_a_run_is_refused(tmp_path):
    other = pretrain(tiny(tmp_path, "other", epochs=1))
    pretrain(tiny(tmp_path, "mine", epochs=1))
    before = digests(tmp_path / "mine")
    with pytest.raises(RunExistsError, match="would replace it"):
        pretrain(tiny(tmp_path, "mine", epochs=2), resume=other.checkpoint)
    assert digests(tmp_path / "mine") == before


def test_leftovers_of_other_files_and_of_running_writers_are_kept(tmp_path):
    import os
    import subprocess
    import sys

    from splitbrain.files import atomic_write_text

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    (tmp_path / f".run.{dead_pid}.abc.tmp").write_text("a killed writer's")
    (tmp_path / f".run.{os.getpid()}.def.tmp").write_text("a live writer's (this process)")
    (tmp_path / f".run.3999999.{dead_pid}.ghi.tmp").write_text("a writer of the file run.3999999")
    atomic_write_text(tmp_path / "run", "new")
    left = sorted(p.name for p in tmp_path.glob(".*.tmp"))
    assert left == sorted([f".run.{os.getpid()}.def.tmp", f".run.3999999.{dead_pid}.ghi.tmp"])


def test_a_link_to_nothing_in_an_image_folder_is_skipped_too(tmp_path, capsys):
    from splitbrain.data import build_dataset

    good, _ = write_folder_with_bad_files(tmp_path / "tree")
    (tmp_path / "tree" / "bee" / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    dataset = build_dataset("folder", root=tmp_path / "tree", split="all", image_size=16)
    assert len(dataset) == good and "skipped 5 of" in capsys.readouterr().err


def test_a_field_an_older_checkpoint_lacks_reads_as_its_default_in_the_mismatch_message(tmp_path):
    pretrain(tiny(tmp_path, epochs=1))
    path = tmp_path / "run" / "checkpoint.pt"
    checkpoint = torch.load(path, weights_only=False)
    del checkpoint["config"]["lr_decay"]  # as saved before the field existed
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointMismatchError, match=f"lr_decay={PretrainConfig.lr_decay!r} \\(asked: 0.5\\)"):
        pretrain(tiny(tmp_path, epochs=2, lr_decay=0.5), resume=True)
