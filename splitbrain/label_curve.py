"""The label-efficiency curve: each network probed and fine-tuned with 25 to 800 labels per class.

The records are the ``label-efficiency`` grid's "run" records (one per method, label count and
seed; :mod:`splitbrain.experiments.grids`). Every record holds two held-out numbers, the linear
probe's (its layer chosen on validation) and the fine-tuning's (its learning rate chosen on
validation), each beside its validation top-1. "Best" is the one of the two a reader would have
picked without the held-out images: the stage with the higher validation top-1.

- :func:`curve_points`: one point per (method, labels per class, seed), the latest record each.
- :func:`curve_rows`: mean ± std over seeds per (method, labels per class).
- :func:`paired_gaps`: a method minus its baseline seed by seed (same seed, same labels).
- :func:`curve_table`, :func:`gap_table`, :func:`curve_sentences`: what the README and the
  chapters print.
- :func:`search_table`: the fine-tuning trials (``splitbrain finetune`` records) that chose the
  grid's settings, each setting's validation top-1.

Accuracies are fractions; gaps are shown in percentage points.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from .results import (SPACE_LABELS, format_mean_std, format_points, latest_by, mean_std, method_label,
                      record_time)

GRID = "label-efficiency"
SEARCH_FOLDER = "label-search"
"""The folder of ``results/`` holding the fine-tuning trials that chose the grid's settings."""
STAGES = ("probe", "finetune", "best")
"""The three numbers of a point: the linear probe, the fine-tuning, and the one of the two
with the better validation top-1."""
STAGE_LABELS = {"probe": "linear probe", "finetune": "fine-tuned", "best": "better of the two on validation"}
BASELINE = "random-lab"
"""The baseline every pretrained network is compared with: the same network at random initialisation."""


def network_label(model: Mapping[str, Any]) -> str:
    """"Split-brain, Lab" / "Random init": a record's "model" entry (its ``method`` kind and
    ``color_space``) as the curve names it: the method and, for pretrained networks, its image space."""
    label = method_label(model)
    if model.get("method") == "random":
        return label
    return f"{label}, {SPACE_LABELS.get(model.get('color_space'), model.get('color_space'))}"


def is_current(record: Mapping[str, Any]) -> bool:
    """False for a record of a named grid's run whose configuration is no longer the grid's (the
    runner re-runs it); True otherwise."""
    from .experiments.grids import GRIDS
    from .experiments.reproduce import current_configs, same_key

    grid = GRIDS.get(record.get("grid"))
    name = str(record.get("run_id", "")).partition("/")[2]
    run = next((run for run in grid.runs() if run.name == name), None) if grid is not None else None
    return run is None or same_key(record.get("config"), current_configs(grid, run))


def curve_points(records: Iterable[Mapping[str, Any]], grid: str = GRID, arch: str = "simplenet"
                 ) -> list[dict[str, Any]]:
    """One point per (method, labels per class, seed) of ``grid``'s ``arch`` runs; the latest record
    counts. Each point: ``method``, ``label``, ``labels``, ``seed``, and for ``probe`` /
    ``finetune`` the held-out ``<stage>_top1`` and ``<stage>_val_top1``; ``best_top1`` /
    ``best_stage``: the stage whose validation top-1 is higher (the probe on a tie); ``setting``:
    the fine-tuning's "head:learning rate" chosen on validation. Points without a fine-tuning,
    and records made under an older configuration of the grid (:func:`is_current`), are left out.
    """
    latest = latest_by((r for r in records if r.get("kind") == "run" and r.get("grid") == grid
                        and r.get("model", {}).get("arch") == arch and r.get("labels_per_class") is not None
                        and (r.get("metrics") or {}).get("finetune") and is_current(r)),
                       lambda r: (r["method"], r["labels_per_class"], r["seed"]))
    points = []
    for (method, labels, seed), record in sorted(latest.items(), key=lambda item: (item[0][0], item[0][1], item[0][2])):
        probe, tuned = record["metrics"]["probe"], record["metrics"]["finetune"]
        best = "finetune" if tuned["val_top1"] > probe["val_top1"] else "probe"
        points.append({
            "method": method, "label": network_label(record["model"]), "labels": labels, "seed": seed,
            "probe_top1": probe["top1"], "probe_val_top1": probe["val_top1"], "probe_layer": probe["best_layer"],
            "finetune_top1": tuned["top1"], "finetune_val_top1": tuned["val_top1"],
            "setting": f"{tuned.get('head', 'last')}:{tuned['lr']:g}" if tuned.get("lr") is not None else None,
            "images_seen": tuned.get("images_seen"), "best_stage": best, "best_top1": record["metrics"][best]["top1"],
        })
    return points


def curve_rows(points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (method, labels per class), in the points' order: ``method``, ``label``, ``labels``,
    ``n`` (seeds), ``seeds``, and ``<stage>`` / ``<stage>_std`` for every stage of :data:`STAGES`
    (mean and sample std over seeds, std None for one seed)."""
    groups: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for point in points:
        groups.setdefault((point["method"], point["labels"]), []).append(point)
    rows = []
    for (method, labels), group in groups.items():
        row: dict[str, Any] = {"method": method, "label": group[0]["label"], "labels": labels, "n": len(group),
                               "seeds": [p["seed"] for p in group]}
        for stage in STAGES:
            row[stage], row[f"{stage}_std"] = mean_std([p[f"{stage}_top1"] for p in group])
        rows.append(row)
    return rows


def paired_gaps(points: Sequence[Mapping[str, Any]], method: str, baseline: str = BASELINE
                ) -> list[dict[str, Any]]:
    """``method`` minus ``baseline`` seed by seed at every label count both have: one dict per
    count with ``labels``, ``n``, ``seeds`` and for each stage of :data:`STAGES` ``<stage>`` /
    ``<stage>_std`` (mean and sample std of the per-seed differences, fractions)."""
    mine = {(p["labels"], p["seed"]): p for p in points if p["method"] == method}
    theirs = {(p["labels"], p["seed"]): p for p in points if p["method"] == baseline}
    rows = []
    for labels in sorted({key[0] for key in mine}):
        seeds = sorted(seed for (count, seed) in mine if count == labels and (count, seed) in theirs)
        if not seeds:
            continue
        row: dict[str, Any] = {"labels": labels, "n": len(seeds), "seeds": seeds}
        for stage in STAGES:
            differences = [mine[labels, s][f"{stage}_top1"] - theirs[labels, s][f"{stage}_top1"] for s in seeds]
            row[stage], row[f"{stage}_std"] = mean_std(differences)
        rows.append(row)
    return rows


def _percent(mean: float, std: float | None) -> str:
    return format_mean_std(mean, std, scale=100, digits=1)


def curve_table(points: Sequence[Mapping[str, Any]]) -> str:
    """Markdown: one row per (labels per class, network), held-out top-1 in % (mean ± std over
    seeds) of the probe, the fine-tuning and the better of the two on validation."""
    rows = sorted(curve_rows(points), key=lambda r: (r["labels"], r["method"] != BASELINE, r["method"]))
    if not rows:
        return "No label-efficiency records yet.\n"
    lines = ["| labels per class | network | seeds | linear probe | fine-tuned | better on validation |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['labels']} | {row['label']} | {row['n']} | {_percent(row['probe'], row['probe_std'])} | "
                     f"{_percent(row['finetune'], row['finetune_std'])} | {_percent(row['best'], row['best_std'])} |")
    return "\n".join(lines) + "\n"


def gap_table(points: Sequence[Mapping[str, Any]], baseline: str = BASELINE) -> str:
    """Markdown: every pretrained network minus ``baseline`` seed by seed, in points, per label count."""
    methods = sorted({p["method"] for p in points if p["method"] != baseline})
    labels = {p["method"]: p["label"] for p in points}
    lines = ["| labels per class | network | seeds | probe gap | fine-tuning gap | gap of the better on validation |",
             "|---|---|---|---|---|---|"]
    rows = [(row, method) for method in methods for row in paired_gaps(points, method, baseline)]
    if not rows:
        return "No paired seeds yet.\n"
    for row, method in sorted(rows, key=lambda item: (item[0]["labels"], item[1])):
        lines.append(f"| {row['labels']} | {labels[method]} | {row['n']} | {format_points(row['probe'], row['probe_std'])} | "
                     f"{format_points(row['finetune'], row['finetune_std'])} | {format_points(row['best'], row['best_std'])} |")
    return "\n".join(lines) + "\n"


def curve_sentences(points: Sequence[Mapping[str, Any]], method: str = "lab", baseline: str = BASELINE) -> str:
    """What the curve says of ``method`` against ``baseline``, generated from the points: the
    fine-tuning gap at the fewest and the most labels, whether fine-tuning beats the probe at the
    most labels, and on how many seeds each number rests."""
    gaps = paired_gaps(points, method, baseline)
    if not gaps:
        return "The label-efficiency grid has no paired runs yet."
    rows = {(r["method"], r["labels"]): r for r in curve_rows(points)}
    space = next(p["label"] for p in points if p["method"] == method).partition(", ")[2]
    name = f"split-brain ({space})"
    few, many = gaps[0], gaps[-1]

    def seeds(n: int) -> str:
        return "one seed" if n == 1 else f"{n} seeds"

    if few["finetune"] > 0:
        sentence = (f"With {few['labels']} labels per class, fine-tuning the {name} network beats fine-tuning the "
                    f"same network from random initialisation by {_percent(few['finetune'], few['finetune_std'])} "
                    f"points of held-out top-1 ({seeds(few['n'])}; the head and learning rate chosen on validation "
                    f"for each)")
    else:
        sentence = (f"With {few['labels']} labels per class, fine-tuning the {name} network does not beat "
                    f"fine-tuning from random initialisation ({format_points(few['finetune'], few['finetune_std'])} "
                    f"points, {seeds(few['n'])})")
    if many is not few:
        sentence += (f"; with {many['labels']} the gap is {format_points(many['finetune'], many['finetune_std'])} "
                     f"points ({seeds(many['n'])})")
    against_probe = []  # (network, beats its probe, "fine-tuned % against probe %")
    for who, label in ((method, f"the {name} network"), (baseline, "random initialisation")):
        row = rows.get((who, many["labels"]))
        if row is not None:
            against_probe.append((label, row["finetune"] > row["probe"],
                                  f"{_percent(row['finetune'], row['finetune_std'])} % against "
                                  f"{_percent(row['probe'], row['probe_std'])} %"))
    verbs = {beats for _, beats, _ in against_probe}
    if len(verbs) == 1:
        whom = "both networks" if len(against_probe) == 2 else against_probe[0][0]
        sentence += (f". With {many['labels']} labels per class, fine-tuning {'beats' if verbs == {True} else 'does not beat'}"
                     f" the linear probe for {whom}: " + ", ".join(f"{label} {numbers}" for label, _, numbers in against_probe))
    elif against_probe:
        sentence += f". With {many['labels']} labels per class, " + " and ".join(
            f"fine-tuning {'beats' if beats else 'does not beat'} the linear probe for {label} ({numbers})"
            for label, beats, numbers in against_probe)
    return sentence + "."


def _shown(value: Any, spec: str, scale: int = 1) -> str:
    """``value * scale`` formatted by ``spec``; "-" for a value the record does not hold."""
    return "-" if value is None else format(value * scale, spec)


def search_table(records: Iterable[Mapping[str, Any]]) -> str:
    """Markdown: one row per "finetune" record, in time order: its name (the file's), the network,
    labels per class, images seen per setting, every setting tried with its validation top-1
    (the kept one in bold), the kept setting's held-out top-1 and the training speed ("-" where
    the record does not hold a number)."""
    rows = sorted((r for r in records if r.get("kind") == "finetune"), key=record_time)
    if not rows:
        return "No fine-tuning trials recorded yet.\n"
    lines = ["| trial | network | labels per class | images seen | settings tried: validation top-1 (%) | "
             "held-out top-1 of the kept one | images/s |", "|---|---|---|---|---|---|---|"]
    for record in rows:
        metrics = record["metrics"]
        config = record["config"]
        trials = metrics.get("trials") or [{"head": metrics.get("head", config.get("finetune_head", "last")),
                                            "lr": metrics.get("lr", config.get("finetune_lr")),
                                            "val_top1": metrics.get("val_top1")}]
        kept = (metrics.get("head", "last"), metrics.get("lr")) if metrics.get("trials") else (
            trials[0]["head"], trials[0]["lr"])
        tried = [f"{t['head']}:{_shown(t['lr'], 'g')} {_shown(t['val_top1'], '.1f', 100)}" for t in trials]
        settings = ", ".join(f"**{text}**" if (t["head"], t["lr"]) == kept else text for t, text in zip(trials, tried))
        name = str(record.get("path", "")).rpartition("/")[2].removesuffix(".json") or "-"
        network = "Random init" if record["model"].get("random_init") else network_label(record["model"])
        lines.append(f"| {name} | {network} | {metrics.get('labels_per_class') or 'all'} | "
                     f"{_shown(metrics.get('images_seen'), ',')} | {settings} | {100 * metrics['top1']:.1f} | "
                     f"{_shown(metrics.get('images_per_s'), '.0f')} |")
    return "\n".join(lines) + "\n"
