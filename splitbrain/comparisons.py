"""Comparisons across run records: which grid to report, seed-by-seed differences, gaps over the
random-init floor, our Table 1 beside the poster's, layer by layer, and how big each setting is.

The records are the "run" records of the experiment grids (``results/<grid>/``), aggregated over
seeds by :func:`splitbrain.results.summarize`; this module turns them into the rows chapter 8 and
the README show. Accuracies are fractions throughout; differences are shown in percentage points.
"""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

from ._checks import check_one_of, check_positive_int
from .results import (ARCH_LABELS, SPACE_LABELS, SUMMARY_SCORES, format_mean_std, format_points, latest_by,
                      load_records, machine_names, mean_std, summarize)


POSTER_ARCHITECTURES: dict[str, str] = {"FCAlexNet": "fcalexnet", "ResNet 18": "fcresnet18",
                                        "SimpleNet 18": "simplenet", "SimpleNet": "simplenet"}
"""The poster's architecture names -> the package's (the poster prints "SimpleNet 18" for SimpleNet)."""

POSTER_SPACES: dict[str, str] = {"RGB": "rgb", "LAB": "lab", "Re-scaled LAB": "rescaled_lab"}
"""The poster's image-space names -> the package's colour spaces (shown as :data:`SPACE_LABELS`)."""

PUBLISHED_SETTINGS: tuple[dict[str, str], ...] = (
    {"work": "Zhang et al. 2017 (Table 2)", "data": "ImageNet, no labels",
     "pretraining_images": "1.3M", "image_side": "180 px crops of 256 px images",
     "pretraining": "40 epochs (as the poster summarises it; the paper states no schedule)",
     "evaluation": "linear probe on frozen conv1-conv5, ImageNet labels", "classes": "1000",
     "hardware": "not stated"},
    {"work": "Iyengar et al. 2019 (poster, Table 1)", "data": "NYU course set, no labels",
     "pretraining_images": "500k", "image_side": "96 px", "pretraining": "5-10 epochs",
     "evaluation": "fine-tuning, 64 labelled images per class", "classes": "1000",
     "hardware": "not stated"},
)
"""The published settings, as their sources state them (Zhang et al. 2017, section 4 and Table 2;
Iyengar et al. 2019, the poster's text and Table 1)."""

_DATA_LABELS = {"folder": "image folder", "cifar10": "CIFAR-10", "stl10": "STL-10", "embedded": "embedded photographs"}


def collect_run_records(root: str | Path, skip_malformed: bool = False) -> list[dict[str, Any]]:
    """Every "run" record directly in ``root`` or in any folder below it (``results/<grid>/``);
    none for a missing ``root``. ``skip_malformed``: as for :func:`~splitbrain.results.load_records`."""
    root = Path(root)
    if not root.is_dir():
        return []
    folders = [root] + sorted(p for p in root.rglob("*") if p.is_dir())
    return [record for folder in folders for record in load_records(folder, kind="run", skip_malformed=skip_malformed)]


def grid_counts(records: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Number of run records per grid name, by name."""
    return dict(sorted(Counter(str(record.get("grid")) for record in records).items()))


def choose_grid(records: Sequence[Mapping[str, Any]], preferred: Sequence[str] = ()) -> str | None:
    """The first grid of ``preferred`` that has records, else the one with most records (None if none)."""
    counts = grid_counts(records)
    return next((name for name in preferred if counts.get(name)),
                max(counts, key=lambda name: (counts[name], name), default=None))


def headline_rows(records: Sequence[Mapping[str, Any]], grid: str, kinds: Sequence[str] = ("splitbrain",)
                  ) -> list[dict[str, Any]]:
    """The gap over the random-init floor through the same probe, for the methods of ``kinds``.

    One dict per (architecture, method) of ``grid`` that has a floor and a common seed: ``arch``,
    ``method``, ``kind``, ``label``, ``space`` (the poster's image-space name), ``n`` (seeds
    compared), ``top1`` / ``top1_std`` (the method's probe top-1 over its seeds), ``floor_top1`` /
    ``floor_top1_std``, ``gap`` / ``gap_std`` (over the per-seed differences; std None for one seed).
    """
    summary = [row for row in summarize(records) if row["grid"] == grid]
    by_method = {(row["arch"], row["method"]): row for row in summary}
    rows = []
    for row in summary:
        if row["kind"] not in kinds or row["floor"] is None or not row["gap_n"]:
            continue
        floor = by_method[(row["arch"], row["floor"])]
        rows.append({
            "arch": row["arch"], "method": row["method"], "kind": row["kind"], "label": row["label"],
            "space": SPACE_LABELS.get(row["color_space"], str(row["color_space"])), "n": row["gap_n"],
            "top1": row["probe_top1"], "top1_std": row["probe_top1_std"],
            "floor_top1": floor["probe_top1"], "floor_top1_std": floor["probe_top1_std"],
            "gap": row["gap_probe_top1"], "gap_std": row["gap_probe_top1_std"],
        })
    return rows


def best_supported_architecture(headline: Sequence[Mapping[str, Any]]) -> str | None:
    """The architecture of :func:`headline_rows` whose gaps rest on the most seeds (ties: the first
    in :data:`~splitbrain.results.ARCH_LABELS`); None without rows."""
    seeds = {arch: sum(row["n"] for row in headline if row["arch"] == arch) for arch in ARCH_LABELS}
    return max(seeds, key=seeds.get) if any(seeds.values()) else None


def seed_scores(records: Sequence[Mapping[str, Any]], grid: str, arch: str, method: str,
                score: str = "finetune_top1") -> dict[int, float]:
    """seed -> ``score`` of the runs of (``grid``, ``arch``, ``method``); the latest record per seed
    (seeds whose record lacks the stage, as in a probe-only grid, are left out)."""
    stage, _, key = check_one_of(score, "score", SUMMARY_SCORES).partition("_")
    latest = latest_by((r for r in records if r.get("kind") == "run" and r.get("grid") == grid
                        and r.get("method") == method and r.get("model", {}).get("arch") == arch),
                       lambda r: r.get("seed"))
    return {seed: float(record["metrics"][stage][key]) for seed, record in sorted(latest.items())
            if record["metrics"].get(stage)}


def paired_difference(records: Sequence[Mapping[str, Any]], grid: str, arch: str, method: str, baseline: str,
                      score: str = "finetune_top1") -> dict[str, Any] | None:
    """``method`` minus ``baseline`` over the seeds both have: {"mean", "std", "n", "seeds"}
    (fractions; ``std`` the sample std, None for one seed); None when they share no seed."""
    return _difference(seed_scores(records, grid, arch, method, score),
                       seed_scores(records, grid, arch, baseline, score))


def _difference(first: Mapping[int, float], second: Mapping[int, float]) -> dict[str, Any] | None:
    seeds = sorted(set(first) & set(second))
    if not seeds:
        return None
    mean, std = mean_std([first[s] - second[s] for s in seeds])
    return {"mean": mean, "std": std, "n": len(seeds), "seeds": seeds}


def seed_by_seed_rows(records: Sequence[Mapping[str, Any]], grid: str, arch: str, method: str, baseline: str,
                      score: str = "probe_top1") -> list[dict[str, str]]:
    """``method`` beside ``baseline`` for every seed both have, then their difference's mean ± std.

    One row per common seed: "seed", the two scores (%, headed by the methods' image-space
    labels) and "difference" (points); a last row "mean ± std". Empty when they share no seed.
    """
    first = seed_scores(records, grid, arch, method, score)
    second = seed_scores(records, grid, arch, baseline, score)
    difference = _difference(first, second)
    if difference is None:
        return []
    names = {key: SPACE_LABELS.get(key, key) for key in (method, baseline)}
    rows = [{"seed": str(seed), names[baseline]: f"{100 * second[seed]:.2f}%",
             names[method]: f"{100 * first[seed]:.2f}%", "difference": f"{100 * (first[seed] - second[seed]):+.2f}"}
            for seed in difference["seeds"]]
    rows.append({"seed": "mean ± std", names[baseline]: "", names[method]: "",
                 "difference": format_points(difference["mean"], difference["std"])})
    return rows


def side_by_side_rows(poster_rows: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]],
                      grid: str | None, score: str = "probe_top1") -> list[dict[str, str]]:
    """The poster's Table 1 with ours beside it, one short row per setting, ready to show.

    Columns: "network", "image space", "poster" (its top-1 after fine-tuning, 1000 classes),
    "ours" (``score`` of ``grid``'s runs, mean ± std over seeds, %), "seeds" and "gap" (ours
    minus the same network at random init, seed by seed, points; the poster has no floor).
    The poster's rows come first in its order (its DAE row set beside our salt-and-pepper DAE of
    the first architecture that has one); then our rows the poster has no counterpart for
    (random-init floors, supervised ceilings, other DAEs), with "poster" empty.
    """
    summary = [row for row in summarize(records) if row["grid"] == grid] if grid else []
    gap_key = f"gap_{score}" if score in ("probe_top1", "finetune_top1") else "gap_probe_top1"

    def ours(row: Mapping[str, Any] | None) -> dict[str, str]:
        if row is None or row.get(score) is None:
            return {"ours": "", "seeds": "", "gap": ""}
        gap, gap_std = row[gap_key], row[f"{gap_key}_std"]
        return {"ours": format_mean_std(row[score], row[f"{score}_std"], scale=100, digits=1) + "%",
                "seeds": str(row["n"]), "gap": "" if gap is None else format_points(gap, gap_std)}

    used: set[tuple[str, str]] = set()
    rows = []
    for prow in poster_rows:
        name, space_label = prow["Architecture"], prow["Image Space"]
        if name.startswith("DAE"):
            match = next((row for arch in ARCH_LABELS for row in summary
                          if row["arch"] == arch and row["kind"] == "dae" and row["label"].startswith("DAE S&P")), None)
            network = name if match is None else f"{name} (ours: {ARCH_LABELS.get(match['arch'], match['arch'])})"
        else:
            arch, space = POSTER_ARCHITECTURES[name], POSTER_SPACES[space_label]
            match = next((row for row in summary
                          if row["arch"] == arch and row["kind"] == "splitbrain" and row["color_space"] == space), None)
            network = ARCH_LABELS.get(arch, arch)
        if match is not None:
            used.add((match["arch"], match["method"]))
        shown_space = SPACE_LABELS[POSTER_SPACES[space_label]] if space_label in POSTER_SPACES else space_label
        rows.append({"network": network, "image space": shown_space, "poster": f"{100 * float(prow['Top 1']):.2f}%",
                     **ours(match)})
    for row in summary:
        if (row["arch"], row["method"]) not in used:
            rows.append({"network": f"{ARCH_LABELS.get(row['arch'], row['arch'])}, {row['label']}",
                         "image space": SPACE_LABELS.get(row["color_space"], str(row["color_space"])), "poster": "",
                         **ours(row)})
    return rows


def scale_rows(records: Sequence[Mapping[str, Any]], grid: str | None) -> list[dict[str, str]]:
    """The published settings (:data:`PUBLISHED_SETTINGS`) and ours, as read from ``grid``'s records.

    Ours: the dataset, the image side, the images drawn per pretraining epoch (steps x batch)
    and the epochs, the probe's labelled and held-out images and classes, and the hardware the
    records were made on. With no records of ``grid``, only the published rows.
    """
    rows = [dict(row) for row in PUBLISHED_SETTINGS]
    mine = [r for r in records if r.get("kind") == "run" and r.get("grid") == grid] if grid else []
    if not mine:
        return rows
    # a shipped network's record names its file, not the steps it was pretrained for
    pretrained = [r for r in mine if r["model"].get("method") != "supervised"
                  and None not in ((r["metrics"].get("pretrain") or {}).get(k) for k in ("steps", "epochs"))]
    config = (pretrained or mine)[0]["config"]["pretrain"]
    evaluation = mine[0]["metrics"]["probe"]
    if pretrained:
        per_epoch = sorted({round(r["metrics"]["pretrain"]["steps"] * r["config"]["pretrain"]["batch_size"]
                                  / max(r["metrics"]["pretrain"]["epochs"], 1)) for r in pretrained})
        epochs = sorted({r["metrics"]["pretrain"]["epochs"] for r in pretrained})
        images = "/".join(f"{n:,}" for n in per_epoch) + " per epoch"
        schedule = "/".join(str(e) for e in epochs) + " epochs"
    else:
        images, schedule = "none (no pretraining run)", ""
    rows.append({
        "work": f"this book, grid {grid}", "data": f"{_DATA_LABELS.get(config['data'], config['data'])}, no labels",
        "pretraining_images": images, "image_side": f"{config['image_size']} px", "pretraining": schedule,
        "evaluation": (f"linear probe and fine-tuning, {evaluation['train_images']:,} labelled and "
                       f"{evaluation['test_images']:,} held-out images"),
        "classes": str(evaluation["num_classes"]), "hardware": "; ".join(machine_names(mine))})
    return rows


def layer_statistics(records: Sequence[Mapping[str, Any]], grid: str, arch: str, score: str = "top1"
                     ) -> dict[str, dict[str, tuple[float, float | None]]]:
    """Probe ``score`` ("top1" or "top5") per layer for every method of (``grid``, ``arch``):
    "<method label>, <image space>" -> {layer: (mean, sample std over seeds or None for one)}
    (fractions) at the layers every seed probed; the latest record per seed counts."""
    check_one_of(score, "score", ("top1", "top5"))
    latest = latest_by((r for r in records if r.get("kind") == "run" and r.get("grid") == grid
                        and r["model"].get("arch") == arch), lambda r: (r["method"], r.get("seed")))
    summary = {row["method"]: row for row in summarize(records) if row["grid"] == grid and row["arch"] == arch}
    out = {}
    for method, row in summary.items():
        probes = [r["metrics"]["probe"]["layers"] for (name, _), r in latest.items() if name == method]
        common = [layer for layer in probes[0] if all(layer in probe for probe in probes)]
        label = f"{row['label']}, {SPACE_LABELS.get(row['color_space'], row['color_space'])}"
        out[label] = {layer: mean_std([float(probe[layer][score]) for probe in probes]) for layer in common}
    return out


def layer_table_rows(records: Sequence[Mapping[str, Any]], grid: str, arch: str) -> list[dict[str, str]]:
    """The linear probe at every layer of (``grid``, ``arch``), one row per method: {"method": label,
    "<layer>": "top-1 ± std (top-5 ± std)"} in %, mean and sample std over seeds."""
    def percent(mean_and_std: tuple[float, float | None]) -> str:
        return format_mean_std(*mean_and_std, scale=100, digits=1)

    top1 = layer_statistics(records, grid, arch, "top1")
    top5 = layer_statistics(records, grid, arch, "top5")
    return [{"method": label, **{layer: f"{percent(stats[layer])} ({percent(top5[label][layer])})"
                                 for layer in stats}} for label, stats in top1.items()]


def binomial_standard_error(accuracy: float, count: int) -> float:
    """Standard error sqrt(p (1 - p) / n) of an accuracy ``p`` measured on ``count`` test images."""
    check_positive_int(count, "count")
    if not (isinstance(accuracy, (int, float)) and 0.0 <= accuracy <= 1.0):
        raise ValueError(f"accuracy must be a fraction in [0, 1], got {accuracy!r}")
    return math.sqrt(accuracy * (1.0 - accuracy) / count)


def floor_rows(scores: Mapping[str, float], floor: float, band: float = 0.0) -> list[dict]:
    """Each score (label -> top-1, a fraction) against ``floor``, the same probe's top-1 at random
    initialisation: one dict per label, in order, with ``label``, ``top1``, ``gap`` (top1 - floor)
    and ``verdict`` "above", "below" or "within" (``|gap| <= band``, e.g. two standard errors)."""
    if band < 0:
        raise ValueError(f"band must be >= 0, got {band!r}")
    gaps = {label: float(top1) - float(floor) for label, top1 in scores.items()}
    return [{"label": label, "top1": float(scores[label]), "gap": gap,
             "verdict": "above" if gap > band else "below" if gap < -band else "within"} for label, gap in gaps.items()]


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _points_span(gaps: Sequence[float]) -> str:
    magnitudes = sorted(abs(g) * 100 for g in gaps)
    if len(magnitudes) == 1 or math.isclose(magnitudes[0], magnitudes[-1], abs_tol=0.05):
        return f"{magnitudes[-1]:.1f} points"
    return f"{magnitudes[0]:.1f} to {magnitudes[-1]:.1f} points"


def floor_sentence(rows: Sequence[Mapping[str, Any]], band: float = 0.0) -> str:
    """One to three sentences saying which scores of :func:`floor_rows` beat the floor, and by how much.

    ``band`` (the value given to :func:`floor_rows`) is named when some differences fall inside
    it. Labels are used as given, so write them to fit inside a sentence ("the masking autoencoder").
    """
    rows = list(rows)
    if not rows:
        raise ValueError("rows must hold at least one score")
    groups = {verdict: [r for r in rows if r["verdict"] == verdict] for verdict in ("above", "below", "within")}
    parts = []
    for verdict, text in (("above", "beat{s} the random-init floor by"), ("below", "fall{s} short of {it} by")):
        chosen = groups[verdict]
        if not chosen:
            continue
        every = len(chosen) == len(rows) and len(rows) > 1
        who = _join([r["label"] for r in chosen]) + (" all" if every else "")
        verb = text.format(s="s" if len(chosen) == 1 else "", it="it" if parts else "the random-init floor")
        parts.append(f"{who} {verb} {_points_span([r['gap'] for r in chosen])}.")
    if groups["within"]:
        chosen = groups["within"]
        verb = "is" if len(chosen) == 1 else "are"
        parts.append(f"{_join([r['label'] for r in chosen])} {verb} within ±{100 * band:.1f} points of the floor, "
                     "too close to call from one run.")
    return " ".join(part[:1].upper() + part[1:] for part in parts)
