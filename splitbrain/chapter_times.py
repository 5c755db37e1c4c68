"""How long each chapter takes: the measured run-time records, the GPU estimate, and the pages
and sentences made from them.

- ``results/runtimes/<preset>.json``: one build's wall time per chapter and the numbers each
  chapter marks as "you should see", per seed (``python -m splitbrain.book build --preset NAME
  --record-runtimes``);
- ``results/estimates/chapter-gpu-times.json``: per GPU preset and chapter, the counted FLOPs and
  the minutes they imply on a T4 and an H100 at an assumed share of the peak (``python -m
  benchmarks.budget --chapters --write-estimate``): an estimate, shown as one, until a GPU run is
  recorded.

The book's run-time and instructor pages (:func:`runtime_page`, :func:`instructor_page`) and
each chapter's "Needs" line (:func:`needs`) are rendered from these records, so a time in the
book is always a recorded one.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

from .files import atomic_write_text

RUNTIME_RECORDS = Path("runtimes")
"""The measured run-time records' folder, in a results folder."""
ESTIMATE_RECORD = Path("estimates") / "chapter-gpu-times.json"
"""The GPU estimate record, in a results folder."""
GPU_PRESET = "colab"
"""The preset a chapter resolves to on a GPU (the run-time page keeps a column for it)."""
GPU_SHORT_NAMES = {"NVIDIA T4": "T4", "NVIDIA H100 SXM": "H100"}
"""How the pages name the estimate's GPUs."""


def machine_description() -> str:
    """One line naming the machine: CPU count and model, and the GPU when there is one."""
    import os
    import platform

    import torch

    text = f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})"
    if torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name(0)}"
    return text


def record_runtimes(results: Path, preset: str, seconds: dict, seen_by_seed: dict[int, dict] | None = None) -> Path:
    """Save a build's per-chapter wall times, and the "you should see" numbers each seed's run
    of the chapters recorded, as ``<results>/runtimes/<preset>.json``.

    seen_by_seed: {seed: {notebook: {name: {"what", "value"}}}}; stored per notebook and name as
    {"what", "values": one number per seed, in seed order}.
    """
    seen_by_seed = seen_by_seed or {}
    seeds = sorted(seen_by_seed)
    seen: dict[str, dict] = {}
    for seed in seeds:
        for notebook, values in seen_by_seed[seed].items():
            for name, item in values.items():
                entry = seen.setdefault(notebook, {}).setdefault(name, {"what": item["what"], "values": []})
                entry["values"].append(item["value"])
    record = {"preset": preset, "machine": machine_description(), "date": time.strftime("%Y-%m-%d"),
              "seconds": seconds, "seeds": seeds, "seen": seen}
    return atomic_write_text(results / RUNTIME_RECORDS / f"{preset}.json", json.dumps(record, indent=2) + "\n")


def runtime_records(results: Path) -> list[dict]:
    """The run-time records of ``results`` (``runtimes/*.json``), in preset order."""
    from .presets import PRESET_NAMES

    folder = results / RUNTIME_RECORDS
    order = {name: i for i, name in enumerate(PRESET_NAMES)}
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.exists() else []
    return sorted(records, key=lambda r: order.get(r["preset"], len(order)))


def read_estimate(results: Path) -> dict | None:
    """The GPU estimate record of ``results``, None when there is none."""
    path = results / ESTIMATE_RECORD
    return json.loads(path.read_text()) if path.exists() else None


def _minutes(low: float, high: float) -> str:
    """'2-11 min', '0.2-1.3 min', 'under 0.1 min': one range, rounded as far as it is worth."""
    if high < 0.1:
        return "under 0.1 min"
    digits = 0 if low >= 10 else 1
    return f"{low:.{digits}f}-{high:.{digits}f} min"


def estimate_text(estimate: dict | None, preset: str, notebook: str, part: str = "minutes") -> str:
    """'T4 1.5-5.9 min, H100 0.2-1.3 min' for ``notebook`` (e.g. "05_pretraining") under
    ``preset`` from the estimate record (``part``: "minutes" for the whole chapter,
    "repeat_minutes" for the share that pretrains chapter 5's network again); '' when not estimated."""
    chapter = ((estimate or {}).get("presets", {}).get(preset, {})).get(Path(notebook).stem)
    if chapter is None:
        return ""
    return ", ".join(f"{GPU_SHORT_NAMES.get(gpu, gpu)} {_minutes(*span)}" for gpu, span in chapter[part].items())


def efficiency_text(estimate: dict) -> str:
    """The estimate's assumptions in one sentence."""
    shares = ", ".join(f"{round(100 * e['low'])}-{round(100 * e['high'])} % of the {GPU_SHORT_NAMES.get(gpu, gpu)}'s "
                       f"{e['fp16_tflops']:g} TFLOP/s fp16 peak" for gpu, e in estimate["efficiency"].items())
    return (f"Estimated, not measured: the chapter's counted FLOPs ({estimate['counted']}) at an assumed {shares}; "
            f"not counted: {estimate['not_counted']}. Each chapter runs on a fresh runtime, as on Colab, so "
            f"chapters 6 and 7 include pretraining chapter 5's network again.")


def runtime_page(records: list[dict], estimate: dict | None = None, titles: dict[str, str] | None = None) -> str:
    """The instructors' run-time page (Markdown): one column of wall times per preset record,
    and the GPU estimate beside "not measured" while no GPU run is recorded. ``titles``:
    notebook path -> the chapter's title (the row labels; the path when missing)."""
    titles = titles or {}
    lines = ["# Chapter run times", "",
             "Wall time papermill measured for executing each chapter, per preset, as recorded by",
             "`python -m splitbrain.book build --preset NAME --record-runtimes` (kernel start",
             "included). Use it to plan a lab session.", ""]
    if not records:
        return "\n".join(lines + ["No run times have been recorded yet.", ""])
    chapters = sorted({name for record in records for name in record["seconds"]})
    gpu_timed = any(r["preset"] == GPU_PRESET for r in records)
    header = "| chapter | " + " | ".join(f"`{r['preset']}` (s)" for r in records)
    header += " |" if gpu_timed else f" | Colab GPU (`{GPU_PRESET}`) |"
    lines += [header, "|---" * (len(records) + 1 + (not gpu_timed)) + "|"]
    for chapter in chapters:
        cells = [f"{r['seconds'][chapter]:.0f}" if chapter in r["seconds"] else "" for r in records]
        if not gpu_timed:
            guess = estimate_text(estimate, GPU_PRESET, chapter)
            cells.append(f"not measured; estimated {guess}" if guess else "not measured")
        lines.append(f"| {titles.get(chapter, f'`{chapter}`')} | " + " | ".join(cells) + " |")
    totals = [f"**{sum(r['seconds'].values()) / 60:.1f}&nbsp;min**" for r in records] + ([] if gpu_timed else [""])
    lines.append("| total | " + " | ".join(totals) + " |")
    lines += ["", "Machines:", ""]
    lines += [f"- `{r['preset']}`: {r['machine']}, {r['date']}" for r in records]
    if not gpu_timed:
        lines.append(f"- `{GPU_PRESET}`: no GPU has run the chapters yet; a run with "
                     f"`--preset {GPU_PRESET} --record-runtimes` on one fills this column.")
        if estimate is not None:
            lines += ["", efficiency_text(estimate) + " Chapters without an estimate train no network. "
                      "`python -m benchmarks.budget --chapters` counts them again."]
    return "\n".join(lines + [""])


SEEN_MARKER = re.compile(r"^<!-- seen: (?P<chapter>[\w.-]+) -->$", re.MULTILINE)
"""A line of ``book/instructor.md`` replaced at build time by a chapter's recorded numbers."""


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _gpu_measured(chapter: str, records: list[dict]) -> str:
    """The recorded ``GPU_PRESET`` wall times of the notebook named ``chapter``, e.g. "95 s (a T4)"; '' if none."""
    notebook = f"notebooks/{chapter}.ipynb"
    return ", ".join(f"{_seconds_or_minutes(r['seconds'][notebook])} ({r['machine']})" for r in records
                     if r["preset"] == GPU_PRESET and notebook in r["seconds"])


def _repeat_matters(estimate: dict | None, chapter: str) -> bool:
    """Whether pretraining chapter 5's network again may take 0.1 min or more on any GPU of the estimate."""
    spans = (((estimate or {}).get("presets", {}).get(GPU_PRESET, {})).get(chapter) or {}).get("repeat_minutes", {})
    return any(high >= 0.1 for _, high in spans.values())


def gpu_line(chapter: str, estimate: dict | None, records: list[dict] = ()) -> str:
    """The instructor page's line on ``chapter``'s GPU time: the recorded ``GPU_PRESET`` runs, or
    the estimate while none is recorded."""
    measured = _gpu_measured(chapter, list(records))
    if measured:
        return f"- **On a GPU (`{GPU_PRESET}`):** measured {measured} (see the run-time page)."
    guess = estimate_text(estimate, GPU_PRESET, chapter)
    if not guess:
        return f"- **On a GPU (`{GPU_PRESET}`):** not measured; the chapter trains no network."
    again = estimate_text(estimate, GPU_PRESET, chapter, "repeat_minutes")
    repeat = (f", of which {again} pretrain chapter 5's network again on a fresh runtime"
              if again and _repeat_matters(estimate, chapter) else "")
    return f"- **On a GPU (`{GPU_PRESET}`):** not measured; estimated {guess}{repeat} (see the run-time page)."


def seen_table(chapter: str, records: list[dict]) -> str:
    """Markdown: the "you should see" numbers the runtime records hold for the notebook named
    ``chapter`` (e.g. "05_pretraining"), one column per preset, each a range over its seeds."""
    from .results import format_seeds

    notebook = f"notebooks/{chapter}.ipynb"
    columns = [r for r in records if r.get("seen", {}).get(notebook)]
    if not columns:
        return "- **You should see (numbers):** no recorded run of this chapter yet."
    names = list(dict.fromkeys(name for r in columns for name in r["seen"][notebook]))
    header = ["what the chapter prints"]
    for r in columns:
        seeds = r["seeds"]
        label = f"seed{'s' if len(seeds) > 1 else ''} {format_seeds(seeds)}"
        header.append(f"`{r['preset']}`, {label}")
    lines = ["- **You should see (numbers):** what recorded runs of the chapter printed (a range is the lowest",
             "  and highest over the seeds; `python -m splitbrain.book build --record-runtimes` records them).",
             "", "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for name in names:
        what = next(r["seen"][notebook][name]["what"] for r in columns if name in r["seen"][notebook])
        cells = [what.replace("*", r"\*")]  # L*, a*b*: literal stars, not emphasis
        for r in columns:
            values = r["seen"][notebook].get(name, {}).get("values", [])
            low, high = (min(values), max(values)) if values else (None, None)
            cells.append("" if low is None else _number(low) if _number(low) == _number(high)
                         else f"{_number(low)} to {_number(high)}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"  # a blank line ends the table before the next bullet


def instructor_page(text: str, records: list[dict], estimate: dict | None = None) -> str:
    """``book/instructor.md`` with each ``<!-- seen: CHAPTER -->`` line replaced by the chapter's
    GPU line (:func:`gpu_line`) and its :func:`seen_table`."""
    return SEEN_MARKER.sub(lambda match: gpu_line(match["chapter"], estimate, records) + "\n"
                           + seen_table(match["chapter"], records), text)


def needs(chapter: str, results: Path | None = None, repeats_chapter_5: bool = False) -> str:
    """The time half of a chapter's "Needs" line, from the records of ``results`` (default: the
    ones the package ships): the measured seconds of each recorded preset and the GPU estimate;
    with ``repeats_chapter_5``, what pretraining chapter 5's network again adds on a fresh runtime."""
    from .results import SHIPPED_RESULTS

    results = SHIPPED_RESULTS if results is None else results
    records = runtime_records(results)

    def measured(notebook: str) -> str:
        return ", ".join(f"`{r['preset']}` {_seconds_or_minutes(r['seconds'][notebook])}"
                         for r in records if notebook in r["seconds"])

    own = measured(f"notebooks/{chapter}.ipynb")
    machines = "; ".join(sorted({r["machine"] for r in records}))
    text = f"Time measured in a book build ({machines}): {own}." if own else "No measured run yet."
    if repeats_chapter_5:
        first = measured("notebooks/05_pretraining.ipynb")
        text += (" That build ran chapter 5 just before and reused its network; on a fresh runtime (Colab gives "
                 "each notebook its own) this chapter pretrains it again first, which adds chapter 5's time"
                 + (f" ({first})" if first else "") + ".")
    estimate = read_estimate(results)
    guess = "" if _gpu_measured(chapter, records) else estimate_text(estimate, GPU_PRESET, chapter)
    if guess:
        again = estimate_text(estimate, GPU_PRESET, chapter, "repeat_minutes") if repeats_chapter_5 else ""
        text += (f" With `{GPU_PRESET}` on a GPU: not measured yet; estimated from the counted FLOPs at {guess} on a "
                 f"fresh runtime" + (f" ({again} of it pretraining chapter 5's network again)" if again else "")
                 + ", plus the dataset's download (see the run-time page for the assumptions).")
    return text


def _seconds_or_minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
