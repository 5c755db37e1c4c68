"""Faults around runs and their folders, injected on purpose: two processes on one folder, folders
that are not runs, a network file's name, a training that diverges, a record lost to a kill or a
full disk. Nothing already written is lost or overwritten, and every fault ends in one clear line."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from splitbrain.checkpoint import RunExistsError, atomic_torch_save, checkpoint_state, load_checkpoint, read_metrics
from splitbrain.locks import LOCK_NAME
from splitbrain.train import pretrain
from test_cli import assert_one_line_error, run
from test_faults import digests
from test_train import tiny

SMALL = ["--preset", "smoke", "--set", "epochs=1", "--set", "train_length=32", "--set", "image_size=16",
         "--set", "grid=4", "--set", "batch_size=8", "--quiet"]
PROBE = ["--preset", "smoke", "--set", "max_train_images=40", "--set", "max_test_images=20", "--epochs", "1",
         "--quiet", "--layers", "conv1"]
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def in_a_scratch_folder(tmp_path, monkeypatch):
    """The commands' default folders (results/, runs/) are the scratch folder's, never the repository's."""
    monkeypatch.chdir(tmp_path)


def records(folder, kind="pretrain"):
    return sorted(folder.glob(f"{kind}-*.json"))


# ----------------------------------------------------------------------------------------------
# One writer per run folder and per grid

HOLD_LOCK = """
import sys, time
from splitbrain.locks import folder_lock
with folder_lock(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""

TRY_LOCKS = """
import sys
from splitbrain.locks import FolderInUseError, folder_lock
for folder in sys.argv[1:]:
    try:
        with folder_lock(folder, "a test"):
            print("free")
    except FolderInUseError as error:
        print(error)
"""

TRY_COMMANDS = """
import json, sys
from splitbrain.cli import main
for argv in json.loads(sys.argv[1]):
    main(argv)
"""


def holding_process(folder, purpose="splitbrain pretrain"):
    """A process that holds ``folder``'s lock until it is killed (started once it holds it)."""
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder), purpose], stdout=subprocess.PIPE,
                             text=True, env=CHILD_ENV)
    assert child.stdout.readline().strip() == "held"
    return child


def kill(child):
    child.send_signal(signal.SIGKILL)
    child.wait()


def test_commands_beside_a_running_pretraining_are_refused_naming_its_pid(tmp_path, monkeypatch):
    from splitbrain import train

    out = tmp_path / "run"
    again = ["pretrain", *SMALL, "--out", str(out)]
    attempts = [again, again + ["--resume"], ["evaluate", *PROBE, "--checkpoint", str(out / "checkpoint.pt")]]
    real_step, refusals = train.optimizer_step, []

    def step_and_meanwhile_try_others(*args, **kwargs):
        real_step(*args, **kwargs)
        if not refusals:  # the checkpoint of epoch 0 is on disk, the lock held
            done = subprocess.run([sys.executable, "-c", TRY_COMMANDS, json.dumps(attempts)], capture_output=True,
                                  text=True, env=CHILD_ENV, timeout=120)
            refusals.extend(done.stderr.strip().splitlines())

    monkeypatch.setattr(train, "optimizer_step", step_and_meanwhile_try_others)
    pretrain(tiny(tmp_path, epochs=1, record_dir=str(out)))
    assert len(refusals) == 3, refusals
    for line in refusals:
        assert line.startswith("splitbrain: error: ") and f"in use by another process (pid {os.getpid()}" in line
    steps = [r["step"] for r in read_metrics(out / "metrics.jsonl") if r["kind"] == "step"]
    assert steps == [1, 2] and len(records(out)) == 1 and not records(out, "probe")  # nothing of the others
    assert not (out / LOCK_NAME).exists()  # the holder removes it


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    child = holding_process(out)
    try:
        status, _, err = run(["pretrain", *SMALL, "--out", str(out)], capsys)
    finally:
        kill(child)
    assert_one_line_error(status, err, str(out), f"pid {child.pid}, splitbrain pretrain")
    assert str(child.pid) in (out / LOCK_NAME).read_text()  # the dead holder's file stays
    status, _, err = run(["pretrain", *SMALL, "--out", str(out)], capsys)
    assert status == 0, err
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1 and not (out / LOCK_NAME).exists()


def test_a_grid_runner_holds_its_runs_and_results_folders(tmp_path, monkeypatch):
    from splitbrain.experiments import reproduce

    folders = [tmp_path / "runs" / "smoke", tmp_path / "results" / "smoke"]
    seen = []

    def execute_run(grid, run_, data_root, results_dir, runs_dir, **kwargs):
        done = subprocess.run([sys.executable, "-c", TRY_LOCKS, *map(str, folders)], capture_output=True, text=True,
                              timeout=60)
        seen.extend(done.stdout.strip().splitlines())
        return reproduce.record_path(run_, results_dir)

    monkeypatch.setattr(reproduce, "execute_run", execute_run)
    reproduce.run_grid("smoke", results_dir=tmp_path / "results", runs_dir=tmp_path / "runs",
                       only="smoke/simplenet-lab-seed0", verbose=False)
    assert seen == [f"{folder} is in use by another process (pid {os.getpid()}, splitbrain reproduce --grid smoke): "
                    f"wait for it to end, or give another folder" for folder in folders]
    assert not any((folder / LOCK_NAME).exists() for folder in folders)


@pytest.mark.parametrize("held", ["runs", "results"])
def test_a_second_grid_runner_on_the_same_folders_is_refused_in_one_line(tmp_path, capsys, held):
    (tmp_path / held / "smoke").mkdir(parents=True)
    child = holding_process(tmp_path / held / "smoke", "splitbrain reproduce --grid smoke")
    try:
        status, _, err = run(["reproduce", "--grid", "smoke", "--results", str(tmp_path / "results"),
                              "--runs", str(tmp_path / "runs")], capsys)
    finally:
        kill(child)
    assert_one_line_error(status, err, f"pid {child.pid}, splitbrain reproduce --grid smoke")
    assert not list(tmp_path.rglob("*.json")) and not list(tmp_path.rglob("checkpoint.pt"))


# ----------------------------------------------------------------------------------------------
# Only run folders are written


@pytest.mark.parametrize("resume", [False, True], ids=["a fresh run", "a resume"])
def test_an_out_folder_holding_a_users_files_is_refused_and_left_alone(tmp_path, capsys, monkeypatch, resume):
    from splitbrain import train

    monkeypatch.setattr(train, "build_pretrain_dataset", lambda config: pytest.fail("training started"))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"learning_rate": 0.1}')
    (mine / "metrics.jsonl").write_text('{"epoch": 1, "accuracy": 0.5}\n')
    before = digests(mine)
    status, _, err = run(["pretrain", *SMALL, "--out", str(mine), *(["--resume"] if resume else [])], capsys)
    assert_one_line_error(status, err, f"--out {mine} holds 'config.json'", "not a file of a splitbrain run")
    assert digests(mine) == before and sorted(p.name for p in mine.iterdir()) == ["config.json", "metrics.jsonl"]


def test_an_empty_out_folder_is_a_place_for_a_run(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    status, _, err = run(["pretrain", *SMALL, "--out", str(tmp_path / "empty")], capsys)
    assert status == 0, err
    assert {"checkpoint.pt", "config.json", "metrics.jsonl"} < {p.name for p in (tmp_path / "empty").iterdir()}


def test_a_run_folder_with_a_checkpoint_copy_and_its_records_is_still_resumed(tmp_path):
    import shutil

    out = tmp_path / "run"
    pretrain(tiny(tmp_path, epochs=1, record_dir=str(out)))
    shutil.copyfile(out / "checkpoint.pt", out / "epoch1.pt")  # as chapter 5 keeps its first epoch
    assert pretrain(tiny(tmp_path, epochs=2, record_dir=str(out)), resume=True).epochs == 2
    assert len(records(out)) == 2 and load_checkpoint(out / "epoch1.pt")["epoch"] == 1


@pytest.mark.parametrize("name", ["../escaped", "a/b", "..", ".hidden", ""])
def test_a_weights_name_that_is_not_a_plain_file_name_is_refused(tmp_path, capsys, monkeypatch, name):
    from splitbrain import weights

    monkeypatch.setattr(weights, "shipped_file", lambda n: tmp_path / "shipped" / "pretrained" / f"{n}.pt")
    checkpoint = pretrain(tiny(tmp_path, epochs=0)).checkpoint
    before = digests(tmp_path)
    status, _, err = run(["weights", str(checkpoint), name], capsys)
    assert_one_line_error(status, err, "NAME must be a plain file name", repr(name))
    assert digests(tmp_path) == before


def test_weights_never_replaces_a_network_without_force(tmp_path, capsys, monkeypatch):
    from splitbrain import weights

    monkeypatch.setattr(weights, "shipped_file", lambda n: tmp_path / "shipped" / f"{n}.pt")
    checkpoint = pretrain(tiny(tmp_path, epochs=0)).checkpoint
    shipped = tmp_path / "shipped" / "net.pt"
    shipped.parent.mkdir()
    shipped.write_bytes(b"a network somebody shipped")
    status, _, err = run(["weights", str(checkpoint), "net"], capsys)
    assert_one_line_error(status, err, str(shipped), "exists", "--force")
    assert shipped.read_bytes() == b"a network somebody shipped"
    status, out, err = run(["weights", str(checkpoint), "net", "--force"], capsys)
    assert status == 0, err
    assert torch.load(shipped, weights_only=True)["format"] == load_checkpoint(checkpoint)["format"]


def test_a_users_records_go_beside_the_run_never_into_results(tmp_path, capsys, monkeypatch):
    from splitbrain import results

    out = tmp_path / "run"
    status, _, err = run(["pretrain", *SMALL, "--out", str(out)], capsys)
    assert status == 0, err
    assert len(records(out)) == 1
    status, _, err = run(["probe", *PROBE, "--checkpoint", str(out / "checkpoint.pt")], capsys)
    assert status == 0, err
    assert len(records(out, "probe")) == 1
    status, _, err = run(["probe", *PROBE, "--random-init", "--image-size", "16"], capsys)
    assert status == 0, err
    assert len(records(tmp_path / "runs" / "records", "probe")) == 1
    # a shipped network's folder is the package's results: its records go to runs/records too
    monkeypatch.setattr(results, "SHIPPED_RESULTS", tmp_path / "shipped")
    (tmp_path / "shipped" / "pretrained").mkdir(parents=True)
    (tmp_path / "shipped" / "pretrained" / "net.pt").write_bytes((out / "checkpoint.pt").read_bytes())
    status, _, err = run(["probe", *PROBE, "--checkpoint", str(tmp_path / "shipped" / "pretrained" / "net.pt")], capsys)
    assert status == 0, err
    assert len(records(tmp_path / "runs" / "records", "probe")) == 2
    assert sorted(p.name for p in (tmp_path / "shipped" / "pretrained").iterdir()) == ["net.pt"]
    assert not (tmp_path / "results").exists()


# ----------------------------------------------------------------------------------------------
# A training that diverges


def test_a_loss_that_becomes_nan_stops_the_run_at_that_step_whatever_log_every(tmp_path, capsys):
    out = tmp_path / "run"
    status, _, err = run(["pretrain", *SMALL, "--out", str(out), "--lr", "inf", "--set", "log_every=1000",
                          "--set", "epochs=2"], capsys)
    assert_one_line_error(status, err, "loss became nan at step 2 (epoch 1)", "checkpoint of epoch 0", "--lr")
    saved = load_checkpoint(out / "checkpoint.pt")
    assert saved["epoch"] == 0
    assert all(torch.isfinite(t).all() for t in saved["model"].values() if t.is_floating_point())
    assert not records(out) and read_metrics(out / "metrics.jsonl") == []


def test_a_divergence_in_a_later_epoch_keeps_the_last_finite_checkpoint(tmp_path, monkeypatch):
    from splitbrain import train

    real = train.forward_backward
    calls = [0]

    def nan_at_step_four(*args, **kwargs):
        calls[0] += 1
        loss, parts = real(*args, **kwargs)
        return (loss * float("nan"), parts) if calls[0] == 4 else (loss, parts)

    monkeypatch.setattr(train, "forward_backward", nan_at_step_four)
    config = tiny(tmp_path, epochs=3, record_dir=str(tmp_path / "run"))
    with pytest.raises(FloatingPointError, match=r"loss became nan at step 4 \(epoch 2\).*checkpoint of epoch 1"):
        pretrain(config)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] == 1 and not records(tmp_path / "run")
    monkeypatch.setattr(train, "forward_backward", real)  # the cause gone, the folder goes on from epoch 1
    assert pretrain(config, resume=True).epochs == 3 and len(records(tmp_path / "run")) == 1


@pytest.mark.parametrize("command", ["evaluate", "finetune"])
def test_a_checkpoint_with_non_finite_weights_is_refused(tmp_path, capsys, command):
    saved = load_checkpoint(pretrain(tiny(tmp_path, epochs=0)).checkpoint)
    first = next(key for key, value in saved["model"].items() if value.is_floating_point())
    saved["model"][first] = torch.full_like(saved["model"][first], float("nan"))
    (tmp_path / "diverged").mkdir()
    atomic_torch_save(checkpoint_state(saved["config"], saved["model"], 1, 2), tmp_path / "diverged" / "checkpoint.pt")
    options = PROBE[:-2] if command == "finetune" else PROBE  # without --layers
    status, _, err = run([command, *options, "--checkpoint", str(tmp_path / "diverged" / "checkpoint.pt")], capsys)
    assert_one_line_error(status, err, "diverged/checkpoint.pt holds non-finite weights", first)
    assert sorted(p.name for p in (tmp_path / "diverged").iterdir()) == ["checkpoint.pt"]


# ----------------------------------------------------------------------------------------------
# A record lost to a fault, written on resume

KILLED_DURING_RECORD = """
import sys, time
from splitbrain import files, results
from splitbrain.cli import main

def torn(path, text):
    def half(stream):
        stream.write(text[: len(text) // 2].encode())
        stream.flush()
        open(sys.argv[1], "w").close()
        time.sleep(600)
    return files.atomic_write(path, half)

results.atomic_write_text = torn
main(sys.argv[2:])
"""


def test_a_record_lost_to_kill_minus_nine_is_written_on_resume(tmp_path, capsys):
    out, writing = tmp_path / "run", tmp_path / "writing"
    argv = ["pretrain", *SMALL, "--out", str(out)]
    child = subprocess.Popen([sys.executable, "-c", KILLED_DURING_RECORD, str(writing), *argv], env=CHILD_ENV)
    deadline = time.time() + 120
    while not writing.exists() and child.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert child.poll() is None, "the run ended before its record write"
    kill(child)
    assert not records(out) and len(list(out.glob(".pretrain-*.tmp"))) == 1
    status, _, err = run(argv + ["--resume"], capsys)
    assert status == 0, err
    (record,) = records(out)
    assert json.loads(record.read_text())["metrics"]["epochs"] == 1 and not list(out.glob(".*.tmp"))
    status, _, err = run(argv, capsys)  # a fresh run in that folder stays refused
    assert_one_line_error(status, err, "already holds a run")


def test_a_record_lost_to_a_full_disk_is_written_on_resume_once(tmp_path, capsys, monkeypatch):
    import errno

    from splitbrain import results

    def full(path, text):
        raise OSError(errno.ENOSPC, f"could not write {path}: No space left on device")

    out = tmp_path / "run"
    argv = ["pretrain", *SMALL, "--out", str(out)]
    monkeypatch.setattr(results, "atomic_write_text", full)
    status, _, err = run(argv, capsys)
    assert_one_line_error(status, err, "No space left on device")
    monkeypatch.undo()
    assert not records(out)
    for _ in range(2):  # the first resume writes the record, the second finds it
        status, _, err = run(argv + ["--resume"], capsys)
        assert status == 0, err
        assert len(records(out)) == 1
    with pytest.raises(RunExistsError):
        pretrain(tiny(tmp_path, epochs=1))


@pytest.mark.parametrize("name", ["config.json", "metrics.jsonl"])
def test_an_out_folder_holding_json_nested_too_deep_to_parse_is_refused_in_one_line(tmp_path, capsys, name):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / name).write_text("[" * 100_000 + "]" * 100_000 + "\n")
    before = digests(mine)
    status, _, err = run(["pretrain", *SMALL, "--out", str(mine)], capsys)
    assert_one_line_error(status, err, f"--out {mine} holds", "not a file of a splitbrain run")
    assert digests(mine) == before
