"""A grid's results in words and one table, generated from its run records (for the README).

``python -m splitbrain.experiments.report --grid cifar-quick`` prints the grid's section: the
summary table of :func:`splitbrain.results.format_summary` and a reading of it, per architecture:
the probe gap of every pretrained method over its random-init floor, rescaled Lab minus Lab seed
by seed with its standard error, the spread of fine-tuning, and the wall time the runs took.
``--write README.md`` puts that section between the grid's two markers in the file::

    <!-- report:cifar-quick -->
    ...generated...
    <!-- /report:cifar-quick -->

``tests/test_report.py`` regenerates every section of the README from the committed records and
compares, so the README's numbers cannot drift from the records they come from.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..comparisons import paired_difference
from ..sections import write_section
from ..models import NOISE_NAMES
from ..results import ARCH_LABELS, SPACE_LABELS, format_points, format_summary, load_records, machine_names, summarize
from .grids import GRIDS
from .reproduce import validated_probe


def _archs(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The architectures of ``records``, in :data:`~splitbrain.results.ARCH_LABELS`' order."""
    return [arch for arch in ARCH_LABELS if any(r["model"]["arch"] == arch for r in records)]


def _method_words(row: Mapping[str, Any]) -> str:
    if row["kind"] == "splitbrain":
        return SPACE_LABELS.get(row["color_space"], row["color_space"])
    if row["kind"] == "dae":
        noise, _, width = row["method"].removeprefix("dae-").partition("-")
        return f"the {f'{width}-width ' if width else ''}{NOISE_NAMES.get(noise, noise)} DAE"
    return "the supervised features (trained on the fit labels, then probed)"


def rescaled_minus_lab(records: Sequence[Mapping[str, Any]], grid: str, arch: str) -> dict[str, Any] | None:
    """Rescaled Lab minus Lab probe top-1 of (``grid``, ``arch``), seed by seed: the fields of
    :func:`splitbrain.comparisons.paired_difference` plus ``se``, the standard error of the mean
    (std and se None for one common seed), or None without a common seed."""
    difference = paired_difference(records, grid, arch, "rescaled_lab", "lab", score="probe_top1")
    if difference is None:
        return None
    std = difference["std"]
    return {**difference, "se": None if std is None else std / difference["n"] ** 0.5}


def _difference_sentence(difference: Mapping[str, Any] | None) -> str:
    if difference is None:
        return "There is no seed with both a Lab and a rescaled-Lab run to compare."
    text = f"Rescaled Lab minus Lab, seed by seed: {format_points(difference['mean'], difference['std'])} points of probe top-1"
    if difference["se"] is None:
        return text + " (one seed: no spread, so no verdict)."
    text += f" (standard error {100 * difference['se']:.1f}); "
    if abs(difference["mean"]) <= 2 * difference["se"]:
        return text + "within two standard errors of zero, so these runs show neither the poster's rescaled-Lab " \
                      "advantage nor its reverse."
    side = "for" if difference["mean"] > 0 else "against"
    return text + f"more than two standard errors from zero, {side} the poster's rescaled-Lab advantage."


def _gap_words(row: Mapping[str, Any]) -> str:
    return f"{_method_words(row)} {format_points(row['gap_probe_top1'], row['gap_probe_top1_std'])}"


def _arch_sentences(rows: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]], grid: str,
                    arch: str) -> str:
    label = ARCH_LABELS.get(arch, arch)
    gapped = [row for row in rows
              if row["arch"] == arch and row["kind"] != "random" and row["gap_probe_top1"] is not None]
    if not gapped:
        return f"{label}: no pretrained run has a random-init floor of the same seed yet, so there is no gap to report."
    parts = [_gap_words(row) for row in gapped if row["kind"] == "splitbrain"]
    runs = [r for r in records if r.get("model", {}).get("arch") == arch]
    layers = Counter(r["metrics"]["probe"]["best_layer"] for r in runs)
    sentence = (f"{label} (probe layer " + ", ".join(f"{layer} in {n}" for layer, n in layers.most_common())
                + f" of {len(runs)} runs), probe gap over its random initialisation in points of top-1")
    sentence += (": split-brain " + ", ".join(parts)) if parts else ""
    daes = [row for row in gapped if row["kind"] == "dae"]
    if daes:
        below = sum(row["gap_probe_top1"] < 0 for row in daes)
        sentence += ("; " if parts else ": ") + ", ".join(map(_gap_words, daes))
        sentence += (" (no DAE method below the floor on average)" if below == 0 else
                     f" ({below} of {len(daes)} DAE methods below the floor on average)")
    sentence += "".join(f"; {_gap_words(row)}" for row in gapped if row["kind"] == "supervised")
    return sentence + ". " + _difference_sentence(rescaled_minus_lab(records, grid, arch))


def _missing_lines(records: Sequence[Mapping[str, Any]], grid: str, name_of: Callable[[Any], str]) -> list[str]:
    """A line (and a blank one) naming the runs ``grid`` defines that have no record in ``records``,
    by architecture, ``name_of(run)`` and label count; none when every run has one or the grid is unknown."""
    done = {(r["model"]["arch"], r.get("method"), r.get("labels_per_class"), r.get("seed")) for r in records}
    missing: dict[tuple[str, str], dict[int | None, list[int]]] = {}
    for run in GRIDS[grid].runs() if grid in GRIDS else ():
        if (run.arch, run.method.name, run.labels_per_class, run.seed) not in done:
            missing.setdefault((run.arch, name_of(run)), {}).setdefault(run.labels_per_class, []).append(run.seed)
    parts = [f"{ARCH_LABELS.get(arch, arch)} {name}" + "".join(
        ("" if labels is None else f", {labels} per class")
        + f" (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))})" for labels, seeds in by_count.items())
        for (arch, name), by_count in missing.items()]
    count = sum(len(seeds) for by_count in missing.values() for seeds in by_count.values())
    return [f"Not run yet ({count} of the grid's runs): " + "; ".join(parts) + ".", ""] if parts else []


def stale_runs(records: Sequence[Mapping[str, Any]], grid: str) -> list[str]:
    """Names of the records of ``grid`` whose configuration is no longer the grid's."""
    from ..label_curve import is_current

    return sorted(str(r.get("run_id", "")).partition("/")[2] for r in records
                  if r.get("grid") == grid and not is_current(r))


def _stale_lines(records: Sequence[Mapping[str, Any]], grid: str) -> list[str]:
    stale = stale_runs(records, grid)
    return [f"{len(stale)} of these records were made under an older configuration of the grid "
            f"(`splitbrain reproduce` re-runs them): {', '.join(stale)}.", ""] if stale else []


def _wall_time_lines(records: Sequence[Mapping[str, Any]], archs: Sequence[str],
                     networks_from: str | None = None) -> list[str]:
    """One line per architecture: the spread of its runs' wall times. ``networks_from``: the grid
    whose pretrained networks these runs evaluate; their pretraining is that grid's time, not counted."""
    lines = []
    for arch in archs:
        arch_records = [r for r in records if r["model"]["arch"] == arch]
        timed = [r for r in arch_records if r.get("wall_time_s") is not None]
        borrowed = [0.0 if networks_from is None else float((r.get("stages") or {}).get("pretrain") or 0.0)
                    for r in timed]
        minutes = sorted((float(r["wall_time_s"]) - seconds) / 60 for r, seconds in zip(timed, borrowed))
        untimed = len(arch_records) - len(timed)
        machines = machine_names(arch_records)
        if len(minutes) > 1:
            spread = (f"{len(minutes)} runs, {minutes[0]:.1f} to {minutes[-1]:.1f} minutes each (median "
                      f"{statistics.median(minutes):.1f}), {sum(minutes) / 60:.1f} h in all")
        else:
            spread = f"1 run, {minutes[0]:.1f} minutes" if minutes else "no run with a recorded time"
        if untimed and minutes:
            spread += f" ({untimed} more without a recorded time)"
        if networks_from is not None and minutes:
            spread += f" of probing and fine-tuning (pretraining is counted in `{networks_from}`'s records)"
        lines += [f"{ARCH_LABELS.get(arch, arch)}: {spread}, on {', '.join(machines)}.", ""]
    return lines


def _budget_line(grid: str) -> str:
    """What each label count's runs train for and try, from the grid's own configuration (passes
    over the labelled images of CIFAR-10's ten classes, the dataset of every grid with label counts)."""
    counts = []
    for count, fields in GRIDS[grid].label_evaluate.items():
        images = fields.get("finetune_images")
        passes = f"{images // (10 * count)} passes ({images:,} images)" if images else "the preset's epochs"
        counts.append(f"{count} per class, {passes}, trying {', '.join(fields.get('finetune_trials', ()))}")
    return "Fine-tuning budget and settings tried (head:learning rate) per label count: " + "; ".join(counts) + "."


def label_report(records: Sequence[Mapping[str, Any]], grid: str) -> str:
    """The markdown section of a grid with label counts (``label-efficiency``): per architecture
    the held-out top-1 of every network, probed and fine-tuned, at every count (mean ± std over
    seeds), the paired gaps over random init, the learning rates validation chose, what is not
    run yet and the wall time."""
    from ..label_curve import curve_points, curve_sentences, curve_table, gap_table, is_current, network_label

    lines = [_budget_line(grid), ""]
    archs = _archs(records)
    for arch in archs:
        points = curve_points(records, grid, arch)
        chosen = Counter((p["label"], p["setting"]) for p in points)
        settings = "; ".join(f"{label}: " + ", ".join(f"{setting} in {n}" for (who, setting), n in sorted(chosen.items())
                                                      if who == label)
                             for label in dict.fromkeys(p["label"] for p in points))
        lines += [f"{ARCH_LABELS.get(arch, arch)}, held-out top-1 (%), mean ± std over seeds:", "",
                  curve_table(points),
                  "Paired gaps over random initialisation (same seed, same labelled images), points of top-1:", "",
                  gap_table(points), curve_sentences(points), "",
                  f"Fine-tuning settings (head:learning rate) chosen on validation, in how many runs: {settings}.",
                  ""]
    lines += _missing_lines(records, grid, lambda run: network_label({"method": run.method.kind,
                                                                     "color_space": run.method.color_space}))
    lines += _stale_lines(records, grid)
    current = [r for r in records if is_current(r)]  # the runs the tables count
    lines += _wall_time_lines(current, archs, GRIDS[grid].networks_from)
    return "\n".join(lines).rstrip() + "\n"


def finetunes_below_random_probe(records: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(fine-tuned runs whose held-out top-1 is below the probe of the random-init Lab network of
    their architecture and seed, fine-tuned runs that have such a floor)."""
    floors = {(r["model"]["arch"], r.get("seed")): r["metrics"]["probe"]["top1"] for r in records
              if r["model"].get("method") == "random" and r["model"].get("color_space") == "lab"}
    pairs = [(r["metrics"]["finetune"]["top1"], floors[r["model"]["arch"], r.get("seed")]) for r in records
             if (r["metrics"].get("finetune") or {}).get("top1") is not None
             and (r["model"]["arch"], r.get("seed")) in floors]
    return sum(tuned < floor for tuned, floor in pairs), len(pairs)


def grid_report(records: Sequence[Mapping[str, Any]], grid: str) -> str:
    """The markdown section for ``grid``: its summary table, then the reading, from ``records``
    (run records; those of other grids are ignored). A grid with label counts gets
    :func:`label_report`."""
    records = [r for r in records if r.get("kind") == "run" and r.get("grid") == grid]
    if not records:
        return f"Grid `{grid}` has no run records yet."
    if grid in GRIDS and GRIDS[grid].labels != (None,):
        return label_report(records, grid)
    rows = summarize(records)
    archs = _archs(records)
    lines = [format_summary(rows), "", *("- " + _arch_sentences(rows, records, grid, arch) for arch in archs), ""]
    finetune_stds = [row["finetune_top1_std"] for row in rows if row["finetune_top1_std"] is not None]
    if finetune_stds:
        lines += [f"Fine-tuning top-1 spreads over seeds run from {100 * min(finetune_stds):.1f} to "
                  f"{100 * max(finetune_stds):.1f} points.", ""]
        below, compared = finetunes_below_random_probe(records)
        if compared:
            sentence = (f"{below} of {compared} fine-tuned networks score below the linear probe of their "
                        "own architecture at random initialisation (Lab, same seed)")
            if below > compared / 2:
                sentence += (": a fine-tuning that loses to a probe of random features has not trained, so "
                             "these fine-tuning columns say nothing about pretraining")
            lines += [sentence + ".", ""]
    unvalidated = sum(not validated_probe(r["metrics"]["probe"]) for r in records)
    if unvalidated:
        lines += [f"{unvalidated} of these records predate the validation protocol: their probe's layer was chosen "
                  f"on the held-out images it is scored on, which flatters every row (chapter 6 explains why); "
                  f"`splitbrain reproduce` probes them again.", ""]
    lines += _stale_lines(records, grid)
    lines += _missing_lines(records, grid, lambda run: run.method.name)
    lines += _wall_time_lines(records, archs)
    return "\n".join(lines).rstrip() + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``splitbrain report``."""
    parser.add_argument("--grid", required=True, choices=tuple(GRIDS), help="the grid to report")
    parser.add_argument("--results", default="results", help="records are read from RESULTS/<grid>/")
    parser.add_argument("--write", metavar="FILE",
                        help="replace the section between the grid's markers in FILE instead of printing")
    parser.add_argument("--skip-malformed", action="store_true",
                        help="leave out records that break the schema or cannot be read (counted in one line) "
                             "instead of stopping")


def run_command(args: argparse.Namespace) -> int:
    """Print the grid's section, or write it between FILE's markers."""
    records = load_records(Path(args.results) / args.grid, kind="run", skip_malformed=args.skip_malformed)
    section = grid_report(records, args.grid)
    if args.write is None:
        print(section, end="")
        return 0
    write_section(args.write, args.grid, section)
    if GRIDS[args.grid].labels != (None,):  # the trials that chose the grid's fine-tuning settings
        write_section(args.write, args.grid, search_section(args.results, args.skip_malformed), kind="search")
    return 0


def search_section(results: str | Path, skip_malformed: bool = False) -> str:
    """The table of the fine-tuning search trials in ``results``'s label-search folder."""
    from ..label_curve import SEARCH_FOLDER, search_table

    return search_table(load_records(Path(results) / SEARCH_FOLDER, kind="finetune", skip_malformed=skip_malformed))


def main(argv: Sequence[str] | None = None) -> int:
    """``splitbrain report ...``, also run by ``python -m`` on this module."""
    from ..command import PROG, run_tool

    return run_tool(f"{PROG} report", __doc__.splitlines()[0], add_arguments, run_command, argv)


if __name__ == "__main__":
    sys.exit(main())
