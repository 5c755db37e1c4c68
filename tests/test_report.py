"""The README's generated results sections: regenerated from the committed records, and the
report's verdicts and marker handling on made-up records."""
from pathlib import Path

import pytest

from splitbrain import sections
from splitbrain.experiments import report
from splitbrain.results import load_records

ROOT = Path(__file__).resolve().parent.parent
SPACES = {"lab": ("splitbrain", "lab"), "rescaled_lab": ("splitbrain", "rescaled_lab"), "rgb": ("splitbrain", "rgb"),
          "random-lab": ("random", "lab"), "random-rgb": ("random", "rgb"), "dae-masking": ("dae", "rgb")}


def record(method, seed, probe, arch="simplenet", minutes=5.0):
    """A "run" record with the fields the report reads."""
    kind, space = SPACES[method]
    model = {"method": kind, "arch": arch, "color_space": space, "width": "half"}
    if kind == "dae":
        model.update(noise="masking", noise_level=0.25)
    return {
        "kind": "run", "grid": "g", "method": method, "seed": seed, "model": model,
        "timestamp": f"2026-01-01T00:00:0{seed}+00:00", "wall_time_s": 60 * minutes,
        "metrics": {"probe": {"best_layer": "conv3", "layer_chosen_on": "validation", "top1": probe,
                              "top5": min(1.0, probe + 0.3)},
                    "finetune": {"top1": probe - 0.1, "top5": probe + 0.2}},
        "hardware": {"cpu": "Some CPU", "cpu_count": 2, "cuda_device": None},
    }


def grid_records(rescaled_offsets, arch="simplenet"):
    """Lab, rescaled Lab (Lab + offset per seed), RGB, a DAE and both floors, seeds 0-2."""
    lab = [0.60, 0.62, 0.64]
    rows = [record("lab", s, lab[s], arch) for s in range(3)]
    rows += [record("rescaled_lab", s, lab[s] + rescaled_offsets[s], arch) for s in range(3)]
    rows += [record("rgb", s, 0.55 + 0.01 * s, arch) for s in range(3)]
    rows += [record("dae-masking", s, 0.45 + 0.01 * s, arch, minutes=12.0) for s in range(3)]
    rows += [record("random-lab", s, 0.50 + 0.01 * s, arch, minutes=2.0) for s in range(3)]
    rows += [record("random-rgb", s, 0.50, arch, minutes=2.0) for s in range(3)]
    return rows


def test_readme_sections_match_the_committed_records():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    grids = sections.section_names(readme)
    assert "cifar-quick" in grids, "the README must carry the cifar-quick section"
    for grid in grids:
        records = load_records(ROOT / "results" / grid, kind="run")
        assert records, f"the README reports grid {grid!r} but results/{grid}/ holds no run records"
        expected = report.grid_report(records, grid).rstrip("\n")
        assert sections.section_of(readme, grid) == expected, (
            f"README's {grid} section differs from its records: run "
            f"python -m splitbrain.experiments.report --grid {grid} --write README.md")
    searches = sections.section_names(readme, kind="search")
    assert searches == ["label-efficiency"]
    assert sections.section_of(readme, "label-efficiency", kind="search") == report.search_section(ROOT / "results").rstrip(
        "\n"), "README's search section differs: run python -m splitbrain.experiments.report --grid label-efficiency --write README.md"


def test_gaps_and_verdict_within_two_standard_errors():
    text = report.grid_report(grid_records([0.01, -0.01, 0.005]), "g")
    assert "Lab +11.0 ± 1.0" in text  # lab minus random-lab: 0.10, 0.11, 0.12
    assert "RGB +6.0 ± 1.0" in text   # rgb minus random-rgb: 0.05, 0.06, 0.07
    assert "the masking DAE -4.0 ± 1.0 (1 of 1 DAE methods below the floor on average)" in text
    assert "+0.2 ± 1.0 points" in text and "show neither" in text
    assert "SimpleNet: 18 runs, 2.0 to 12.0 minutes each (median 5.0), 1.6 h in all, on Some CPU (2 CPU cores)." in text


@pytest.mark.parametrize("offsets, side", [([0.03, 0.032, 0.028], "for"), ([-0.03, -0.032, -0.028], "against")])
def test_verdict_beyond_two_standard_errors(offsets, side):
    text = report.grid_report(grid_records(offsets), "g")
    assert f"more than two standard errors from zero, {side} the poster's rescaled-Lab advantage" in text


def test_one_common_seed_gives_no_verdict():
    rows = [r for r in grid_records([0.05, 0.0, 0.0]) if not (r["method"] == "rescaled_lab" and r["seed"] > 0)]
    assert "(one seed: no spread, so no verdict)" in report.grid_report(rows, "g")


def test_architectures_reported_separately():
    text = report.grid_report(grid_records([0.0] * 3) + grid_records([0.0] * 3, arch="fcresnet18"), "g")
    # the sentences follow the table's order (splitbrain.results.ARCH_LABELS)
    assert text.index("| FC-ResNet18 |") < text.index("| SimpleNet |")
    assert text.index("- FC-ResNet18 (") < text.index("- SimpleNet (")
    assert "FC-ResNet18: 18 runs" in text


def test_one_run_of_an_architecture_is_counted_in_the_singular():
    text = report.grid_report(grid_records([0.0] * 3) + [record("random-lab", 0, 0.5, arch="fcresnet18", minutes=2.0)], "g")
    assert "FC-ResNet18: 1 run, 2.0 minutes, on " in text and "0.0 h" not in text


def test_no_records():
    assert report.grid_report([], "g") == "Grid `g` has no run records yet."


def test_replace_section_round_trip_and_errors():
    text = "head\n<!-- report:g -->\nold\n<!-- /report:g -->\ntail\n"
    updated = sections.replace_section(text, "g", "new\nlines\n")
    assert updated == "head\n<!-- report:g -->\nnew\nlines\n<!-- /report:g -->\ntail\n"
    assert sections.section_of(updated, "g") == "new\nlines"
    assert sections.section_names(updated) == ["g"]
    with pytest.raises(ValueError, match="report:h"):
        sections.replace_section(text, "h", "x")
    with pytest.raises(ValueError, match="once"):
        sections.replace_section(text + "<!-- report:g -->", "g", "x")


def test_write_keeps_the_file_when_markers_are_missing(tmp_path, capsys):
    path = tmp_path / "README.md"
    path.write_text("no markers here\n")
    assert report.main(["--grid", "smoke", "--results", str(tmp_path), "--write", str(path)]) == 2
    assert path.read_text() == "no markers here\n"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"splitbrain: error: {path}: ") and "<!-- report:smoke -->" in err[0], err


def test_missing_and_stale_runs_of_a_known_grid():
    from splitbrain.experiments.grids import get_grid
    from splitbrain.experiments.reproduce import current_configs

    smoke = get_grid("smoke")
    lab_run = smoke.runs()[0]
    lab = {**record("lab", 0, 0.6), "grid": "smoke", "run_id": lab_run.run_id,
           "config": current_configs(smoke, lab_run)}
    text = report.grid_report([lab], "smoke")
    assert "Not run yet (1 of the grid's runs): SimpleNet random-lab (seed 0)." in text
    assert "older configuration" not in text
    old = {**lab, "config": {**lab["config"], "evaluate": {**lab["config"]["evaluate"], "probe_epochs": 1}}}
    assert ("1 of these records were made under an older configuration of the grid "
            "(`splitbrain reproduce` re-runs them): simplenet-lab-seed0.") in report.grid_report([old], "smoke")


def test_dae_words_name_a_width_the_method_sets():
    assert report._method_words({"kind": "dae", "method": "dae-masking"}) == "the masking DAE"
    assert report._method_words({"kind": "dae", "method": "dae-salt_pepper-full"}) == (
        "the full-width salt-and-pepper DAE")


def test_records_of_the_old_protocol_and_probe_only_grids_are_said_so():
    rows = grid_records([0.0] * 3)
    assert "predate the validation protocol" not in report.grid_report(rows, "g")
    for row in rows[:4]:
        del row["metrics"]["probe"]["layer_chosen_on"]
    assert "4 of these records predate the validation protocol" in report.grid_report(rows, "g")
    for row in rows:  # a probe-only grid: no fine-tuning stage, empty FT columns, probe gaps as before
        row["metrics"]["finetune"] = None
    text = report.grid_report(rows, "g")
    assert "Fine-tuning top-1 spreads" not in text and "| 0.6200 ± 0.0200 |" in text
    lab = next(line for line in text.splitlines() if line.startswith("| SimpleNet | Split-brain | Lab |"))
    assert lab.endswith("|  |  | +0.1100 ± 0.0100 |  |")  # no FT columns, the probe gap, no FT gap


def test_readme_time_to_margin_table_matches_the_margin_records():
    from splitbrain.experiments import margin

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    records = load_records(ROOT / "results" / "margin", kind="margin")
    assert records, "results/margin/ holds no margin records"
    assert sections.section_of(readme, "trials", kind="margin") == margin.margin_table(records).rstrip("\n"), (
        "README.md's time-to-margin table is out of date: python -m splitbrain.experiments.margin --report README.md")


def test_fine_tunes_below_a_probe_of_random_features_are_counted():
    records = grid_records([0.0, 0.0, 0.0])  # every fine-tune is its probe minus 10 points
    below, compared = report.finetunes_below_random_probe(records)
    assert compared == 18  # six methods x three seeds, each with its seed's Lab floor
    expected = sum(r["metrics"]["finetune"]["top1"] < 0.50 + 0.01 * r["seed"] for r in records)
    assert below == expected and 0 < below < compared
    text = report.grid_report(records, "g")
    assert f"{below} of 18 fine-tuned networks score below the linear probe" in text


def test_runs_that_evaluate_another_grids_networks_leave_its_pretraining_out_of_their_time():
    """A label-efficiency run reuses a cifar-recipe network: the pretraining stage its record carries is
    that grid's work, so the time line counts only the probing and fine-tuning."""
    runs = [dict(record("lab", s, 0.6), wall_time_s=600.0, stages={"pretrain": 480.0, "probe": 60.0, "finetune": 60.0})
            for s in range(2)]
    own = report._wall_time_lines(runs, ["simplenet"])
    borrowed = report._wall_time_lines(runs, ["simplenet"], networks_from="cifar-recipe")
    assert own[0].startswith("SimpleNet: 2 runs, 10.0 to 10.0 minutes each")
    assert borrowed[0].startswith("SimpleNet: 2 runs, 2.0 to 2.0 minutes each (median 2.0), 0.1 h in all of probing "
                                  "and fine-tuning (pretraining is counted in `cifar-recipe`'s records)")


def test_the_label_grids_budget_line_is_read_from_its_configuration():
    from splitbrain.experiments.grids import GRIDS, LABEL_GRID_TRIALS, finetune_budget

    line = report._budget_line("label-efficiency")
    for count in GRIDS["label-efficiency"].labels:
        images = finetune_budget(count)
        assert f"{count} per class, {images // (10 * count)} passes ({images:,} images), trying " \
               f"{', '.join(LABEL_GRID_TRIALS[count])}" in line
    assert line.startswith("Fine-tuning budget and settings tried") and line.count(" per class, ") == 4
