"""Faults a student or an instructor meets, injected on purpose: nothing already written is lost
or overwritten, and every fault ends in one clear line, never a traceback."""
import hashlib

import pytest

from splitbrain.checkpoint import CheckpointMismatchError, RunExistsError
from splitbrain.cli import main
from splitbrain.train import pretrain
from test_cli import assert_one_line_error, run
from test_train import tiny


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
