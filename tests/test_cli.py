"""The ``splitbrain`` command: help, errors as one line, and a tiny end-to-end run."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from splitbrain.checkpoint import load_checkpoint
from splitbrain.cli import build_parser, main


TINY = ["--preset", "smoke", "--image-size", "16", "--set", "grid=4", "--set", "train_length=32",
        "--batch-size", "8", "--set", "max_steps_per_epoch=2", "--quiet"]


def run(argv, capsys):
    """main(argv) -> (exit status, stdout, stderr); argparse's SystemExit becomes a status."""
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, *fragments):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("splitbrain: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_names_every_subcommand_and_has_examples(capsys):
    status, out, _ = run(["--help"], capsys)
    assert status == 0
    for command in ("pretrain", "probe", "finetune", "evaluate", "table", "examples:", "torchrun"):
        assert command in out
    for command in ("pretrain", "probe", "finetune", "evaluate", "table"):
        status, out, _ = run([command, "--help"], capsys)
        assert status == 0 and "usage: splitbrain " + command in out


def test_the_module_and_the_console_script_start(tmp_path):
    done = subprocess.run([sys.executable, "-m", "splitbrain", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("splitbrain ")


def test_bad_arguments_fail_with_one_line(tmp_path, capsys):
    status, _, err = run(["pretrain", "--arch", "vgg"], capsys)
    assert_one_line_error(status, err, "--arch", "vgg")
    status, _, err = run(["pretrain", "--preset", "smoke", "--epochs", "-1"], capsys)
    assert_one_line_error(status, err, "epochs must be an integer >= 0, got -1")
    status, _, err = run(["pretrain", "--preset", "smoke", "--set", "nonsense=1"], capsys)
    assert_one_line_error(status, err, "unknown PretrainConfig field 'nonsense'")
    status, _, err = run(["pretrain", "--preset", "smoke", "--set", "lr=fast"], capsys)
    assert_one_line_error(status, err, "lr must be a number")
    status, _, err = run(["pretrain", "--preset", "smoke", "--data", "folder", "--data-root", str(tmp_path / "none"),
                          "--out", str(tmp_path / "run"), "--no-record"], capsys)
    assert_one_line_error(status, err, "image folder not found")
    status, _, err = run(["probe", "--preset", "smoke"], capsys)
    assert_one_line_error(status, err, "--checkpoint", "--random-init")
    status, _, err = run(["probe", "--preset", "smoke", "--checkpoint", str(tmp_path / "missing.pt")], capsys)
    assert_one_line_error(status, err, "checkpoint not found")
    status, _, err = run([], capsys)
    assert_one_line_error(status, err, "COMMAND")


def test_pretrain_probe_table_end_to_end(tmp_path, capsys):
    out, results = tmp_path / "run", tmp_path / "results"
    status, stdout, err = run(["pretrain", *TINY, "--epochs", "1", "--out", str(out), "--results", str(results)], capsys)
    assert status == 0, err
    assert "pretrained splitbrain simplenet (lab): 1 epochs, 2 steps" in stdout
    checkpoint = out / "checkpoint.pt"
    assert load_checkpoint(checkpoint)["config"]["grid"] == 4

    # A checkpoint of another architecture is refused, in one line.
    status, _, err = run(["probe", "--preset", "smoke", "--checkpoint", str(checkpoint), "--arch", "fcresnet18"], capsys)
    assert_one_line_error(status, err, "arch='simplenet'", "'fcresnet18'")
    status, _, err = run(["pretrain", *TINY, "--out", str(out), "--resume", "--color-space", "rgb"], capsys)
    assert_one_line_error(status, err, "color_space='lab'")

    probe = ["--preset", "smoke", "--checkpoint", str(checkpoint), "--layers", "conv2,conv5", "--results", str(results),
             "--set", "max_train_images=40", "--set", "max_test_images=20", "--epochs", "5", "--quiet"]
    status, stdout, err = run(["probe", *probe], capsys)
    assert status == 0, err
    assert stdout.startswith("probe: top-1 ") and "(layer conv" in stdout
    status, stdout, err = run(["probe", *probe, "--random-init"], capsys)
    assert status == 0 and stdout.startswith("probe (random init): top-1 "), err

    records = sorted(results.glob("*.json"))
    kinds = sorted(json.loads(p.read_text())["kind"] for p in records)
    assert kinds == ["pretrain", "probe", "probe"]
    probe_record = next(json.loads(p.read_text()) for p in records if p.name.startswith("probe-splitbrain-simplenet-lab-seed0"))
    # Evaluation defaults to the checkpoint's dataset and image size.
    assert probe_record["config"]["image_size"] == 16 and probe_record["config"]["layers"] == ["conv2", "conv5"]

    status, stdout, _ = run(["table", "--results", str(results), "--kind", "probe"], capsys)
    assert status == 0 and "| Architecture | Image Space | FT Epochs | Seeds | Top 1 Acc. |" in stdout
    assert "| SimpleNet | Lab | 5 | 1 |" in stdout and "| SimpleNet (random init) | Lab | 5 | 1 |" in stdout
    status, stdout, _ = run(["table", "--results", str(results), "--kind", "probe", "--format", "json"], capsys)
    assert status == 0 and [row["n"] for row in json.loads(stdout)["probe"]] == [1, 1]
    status, _, err = run(["table", "--results", str(results)], capsys)  # no fine-tuning records yet
    assert_one_line_error(status, err, "no run records and no finetune records")


def test_set_converts_by_field_type():
    from splitbrain.presets import parse_overrides
    from splitbrain.presets import EvalConfig, PretrainConfig

    parsed = parse_overrides(["lr=3e-4", "epochs=2", "channels_last=true", "max_steps_per_epoch=none", "data_root=x"],
                         PretrainConfig)
    assert parsed == {"lr": 3e-4, "epochs": 2, "channels_last": True, "max_steps_per_epoch": None, "data_root": "x"}
    assert parse_overrides(["layers=conv1, conv5", "max_train_images=7"], EvalConfig) == {
        "layers": ("conv1", "conv5"), "max_train_images": 7}
    assert build_parser().parse_args(["pretrain", "--resume"]).resume is True


def test_margin_trial_compares_with_random_init_and_reuses_its_pretraining(tmp_path, capsys):
    from splitbrain.experiments import margin

    argv = ["--recipe", "embedded", "--set", "epochs=1", "--set", "train_length=32", "--set", "batch_size=16",
            "--set", "image_size=16", "--set", "grid=4", "--eval-set", "max_train_images=40",
            "--eval-set", "max_test_images=20", "--eval-set", "probe_epochs=3", "--eval-set", "layers=conv1,conv5",
            "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results")]
    assert margin.main(argv) == 0
    out = capsys.readouterr().out
    assert "1/3 pretraining embedded-seed0" in out and "random init" in out
    rows = [line for line in out.splitlines() if line.strip().startswith(("conv1 |", "conv5 |"))]
    assert len(rows) == 2
    (path,) = (tmp_path / "results").glob("*.json")
    record = json.loads(path.read_text())
    m = record["metrics"]
    assert record["kind"] == "margin" and m["images_seen"] == 32 and m["epochs"] == 1
    assert m["gap"] == pytest.approx(m["probe"]["top1"] - m["random"]["top1"])
    assert m["probe"]["layer_chosen_on"] == "validation" and m["peak_rss_mb"] > 0
    assert set(m["reference_images_per_s"]) == {"off", "bf16"} and min(m["reference_images_per_s"].values()) > 0
    assert "| embedded-seed0 | embedded | `epochs=1`," in margin.margin_table([record])
    (row,) = margin.margin_rows([record])
    assert row["gap_points"] == pytest.approx(100 * m["gap"]) and row["images_seen"] == 32

    # The same command again probes the finished pretraining instead of training afresh.
    assert margin.main(argv) == 0
    out = capsys.readouterr().out
    assert "holds this trial's finished pretraining: reused" in out and "1/3 pretraining" not in out
    second = max((tmp_path / "results").glob("*.json"), key=lambda p: p.stat().st_mtime)
    assert json.loads(second.read_text())["metrics"]["pretrain_s"] == pytest.approx(m["pretrain_s"])

    # More epochs under the same name: the run directory is not silently restarted.
    assert margin.main(argv + ["--set", "epochs=2"]) == 2
    assert "--resume" in capsys.readouterr().err
    # Nor is a pretraining timed under other speed settings reused: its minutes would be misreported.
    from splitbrain.presets import MACHINERY_FIELDS
    assert margin.SPEED_FIELDS <= MACHINERY_FIELDS  # names of real machinery fields
    assert margin.main(argv + ["--set", "channels_last=true"]) == 2
    assert "--resume" in capsys.readouterr().err



def test_reproduce_lists_a_grid_and_fails_in_one_line(tmp_path, capsys):
    status, out, _ = run(["--help"], capsys)
    assert status == 0 and "reproduce" in out
    results, runs = str(tmp_path / "results"), str(tmp_path / "runs")
    status, out, err = run(["reproduce", "--grid", "cifar-cpu", "--dry-run", "--only", "simplenet-*-seed0",
                            "--results", results, "--runs", runs], capsys)
    assert status == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "grid cifar-cpu: 9 runs (9 pending)" and len(lines) == 11
    assert lines[1].strip().startswith("CIFAR-10 JPEGs")  # the grid's description
    assert "pending  cifar-cpu/simplenet-lab-seed0" in out and "fcresnet18" not in out
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()
    status, _, err = run(["reproduce", "--grid", "cifar-cpu", "--only", "simplenet-lab-seed0", "--results", results], capsys)
    assert_one_line_error(status, err, "data_root is required for grid 'cifar-cpu'")
    status, _, err = run(["reproduce", "--grid", "smoke", "--only", "vgg-*", "--dry-run"], capsys)
    assert_one_line_error(status, err, "matches none of the 2 runs")
    status, _, err = run(["reproduce", "--grid", "imagenet"], capsys)
    assert_one_line_error(status, err, "--grid", "imagenet")


def test_the_benchmarks_run_through_the_command_s_parser_but_are_not_installed(capsys):
    from benchmarks import bench

    status, out, _ = run(["--help"], capsys)
    assert status == 0 and "bench" not in out and "budget" not in out
    try:
        status = bench.main(["--quick", "--sections", "1", "--threads", "1"])
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.startswith("python -m benchmarks.bench --quick")
    assert out.count("16 px") >= 1 and out.count("24 px") >= 1


def test_grid_option_takes_the_grids_configuration_for_a_label_count(capsys):
    from splitbrain import cli
    from splitbrain.experiments.grids import Run, get_grid

    args = build_parser().parse_args(["finetune", "--random-init", "--grid", "label-efficiency", "--labels-per-class",
                                      "100", "--data-root", "tree", "--seed", "1", "--set", "finetune_images=64",
                                      "--no-record"])
    grid = get_grid("label-efficiency")
    random_lab = next(method for method in grid.methods if method.name == "random-lab")
    expected = grid.eval_config(Run(grid.name, "simplenet", random_lab, 1, 100), data_root="tree", finetune_images=64)
    assert cli._eval_config(args, "finetune_epochs") == expected
    assert expected.labels_per_class == 100 and expected.finetune_trials == grid.label_evaluate[100]["finetune_trials"]
    args = build_parser().parse_args(["probe", "--random-init", "--grid", "label-efficiency", "--labels-per-class",
                                      "25", "--data", "cifar10", "--download", "--epochs", "3", "--layers", "conv2",
                                      "--no-record"])
    config = cli._eval_config(args, "probe_epochs")  # the options count under --grid too
    assert config.download and config.probe_epochs == 3 and config.layers == ("conv2",)
    status, _, err = run(["finetune", "--random-init", "--grid", "label-efficiency", "--labels-per-class", "50",
                          "--data-root", "tree"], capsys)
    assert_one_line_error(status, err, "--labels-per-class must be one of (25, 100, 400, 800)")
