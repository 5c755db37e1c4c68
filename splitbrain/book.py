"""Build the book: execute every chapter notebook with papermill, then render with Jupyter Book.

``python -m splitbrain.book build --preset smoke`` (what ``make book`` calls):

1. reads ``_toc.yml`` and collects the chapter notebooks (``notebooks/*.ipynb``) it lists;
2. executes each committed notebook with papermill, injecting ``PRESET``, into a staging copy of
   the book under ``_build/src`` (the committed notebooks stay output-free);
3. writes the per-chapter wall times to ``_build/src/runtimes.json`` (and, with
   ``--record-runtimes``, to ``results/runtimes/<preset>.json``, with the numbers each chapter
   marks as "you should see", once per ``--seeds`` seed), and renders the committed records as
   the instructors' run-time page ``book/runtimes.md`` and the number tables of
   ``book/instructor.md``;
4. renders the staged copy with Jupyter Book 1.x, execution off and Sphinx warnings as errors,
   into ``_build/html``.

The staged copy keeps the repository's relative layout, so each page's Colab button opens the
committed notebook at its real path.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import yaml

from .files import atomic_write_text
from .presets import PRESET_NAMES, resolve_preset_name

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_RECORDS = Path("results") / "runtimes"
STAGED_DIRS = ("book", "results")
STAGED_FILES = ("_config.yml", "_toc.yml")
GPU_PRESET = "colab"
"""The preset a chapter resolves to on a GPU (the run-time page keeps a column for it)."""


def toc_files(toc_path: Path) -> list[str]:
    """Every ``file:`` entry of a Jupyter Book ``_toc.yml``, in reading order, root first."""
    toc = yaml.safe_load(toc_path.read_text())
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({key: value for key, value in toc.items() if key != "root"})
    return found


def chapter_notebooks(root: Path) -> list[Path]:
    """The committed notebooks the table of contents lists, as paths relative to ``root``."""
    paths = [Path(entry).with_suffix(".ipynb") for entry in toc_files(root / "_toc.yml")]
    return [path for path in paths if (root / path).exists()]


def stage(root: Path, staging: Path) -> None:
    """Copy the book's sources (config, toc, prose, result records) into ``staging``."""
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name in STAGED_FILES:
        shutil.copy2(root / name, staging / name)
    for name in STAGED_DIRS:
        if (root / name).exists():
            shutil.copytree(root / name, staging / name)


def execute_notebooks(root: Path, staging: Path, preset: str, only: list[str] | None = None,
                      seed: int | None = None, seen: dict | None = None) -> dict:
    """Execute each chapter with papermill into ``staging``; returns {notebook: seconds}.

    With ``only``, the chapters whose names match none of its keys are staged unexecuted.
    ``seed``: injected as the chapters' ``SEED``. ``seen`` receives, per executed notebook, the
    numbers its ``glue(..., seen=...)`` calls recorded: {name: {"what": description, "value": number}}.
    """
    import os

    import papermill

    from .notebook import SEEN_VALUES_ENV

    parameters = {"PRESET": preset, **({"SEED": seed} if seed is not None else {})}
    durations = {}
    for notebook in chapter_notebooks(root):
        target = staging / notebook
        target.parent.mkdir(parents=True, exist_ok=True)
        if only and not any(key in notebook.name for key in only):
            shutil.copy2(root / notebook, target)  # staged unexecuted, so the toc stays whole
            continue
        seen_file = target.with_suffix(".seen.json")
        seen_file.unlink(missing_ok=True)
        os.environ[SEEN_VALUES_ENV] = str(seen_file)  # the kernel inherits the environment
        start = time.perf_counter()
        try:
            # the kernel's own log (plain-TCP warnings, the interrupt at shutdown) is not the chapter's
            papermill.execute_notebook(str(root / notebook), str(target), parameters=parameters,
                                       cwd=str(root / notebook.parent), progress_bar=False, kernel_name="python3",
                                       extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
        finally:
            del os.environ[SEEN_VALUES_ENV]
        durations[notebook.as_posix()] = round(time.perf_counter() - start, 2)
        if seen is not None:
            seen[notebook.as_posix()] = json.loads(seen_file.read_text()) if seen_file.exists() else {}
        seen_file.unlink(missing_ok=True)
        hide_injected_parameters(target)
        seed_text = f", seed {seed}" if seed is not None else ""
        print(f"executed {notebook} (preset {preset}{seed_text}) in {durations[notebook.as_posix()]:.1f} s", flush=True)
    return durations


def hide_injected_parameters(path: Path) -> None:
    """Tag the cell papermill injects (``# Parameters``, tagged "injected-parameters") with
    "remove-cell", so the book shows only the chapter's own parameters cell."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(notebook, path)


def machine_description() -> str:
    """One line naming the machine: CPU count and model, and the GPU when there is one."""
    import os
    import platform

    import torch

    text = f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})"
    if torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name(0)}"
    return text


def record_runtimes(root: Path, preset: str, seconds: dict, seen_by_seed: dict[int, dict] | None = None) -> Path:
    """Save a build's per-chapter wall times, and the "you should see" numbers each seed's run
    of the chapters recorded, as ``results/runtimes/<preset>.json``.

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
    return atomic_write_text(root / RUNTIME_RECORDS / f"{preset}.json", json.dumps(record, indent=2) + "\n")


def runtime_page(records: list[dict]) -> str:
    """The instructors' runtime page (Markdown): one column of wall times per preset record."""
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
        cells += [] if gpu_timed else ["not measured"]
        lines.append(f"| `{chapter}` | " + " | ".join(cells) + " |")
    totals = [f"**{sum(r['seconds'].values()) / 60:.1f} min**" for r in records] + ([] if gpu_timed else [""])
    lines.append("| total | " + " | ".join(totals) + " |")
    lines += ["", "Machines:", ""]
    lines += [f"- `{r['preset']}`: {r['machine']}, {r['date']}" for r in records]
    if not gpu_timed:
        lines.append(f"- `{GPU_PRESET}`: no GPU has run the chapters yet; a run with "
                     f"`--preset {GPU_PRESET} --record-runtimes` on one fills this column.")
    return "\n".join(lines + [""])


def runtime_records(root: Path) -> list[dict]:
    """The committed runtime records (``results/runtimes/*.json``), in preset order."""
    folder = root / RUNTIME_RECORDS
    order = {name: i for i, name in enumerate(PRESET_NAMES)}
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.exists() else []
    return sorted(records, key=lambda r: order.get(r["preset"], len(order)))


SEEN_MARKER = re.compile(r"^<!-- seen: (?P<chapter>[\w.-]+) -->$", re.MULTILINE)
"""A line of ``book/instructor.md`` replaced at build time by a chapter's recorded numbers."""


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def seen_table(chapter: str, records: list[dict]) -> str:
    """Markdown: the "you should see" numbers the runtime records hold for the notebook named
    ``chapter`` (e.g. "05_pretraining"), one column per preset, each a range over its seeds."""
    notebook = f"notebooks/{chapter}.ipynb"
    columns = [r for r in records if r.get("seen", {}).get(notebook)]
    if not columns:
        return "- **You should see (numbers):** no recorded run of this chapter yet."
    names = list(dict.fromkeys(name for r in columns for name in r["seen"][notebook]))
    header = ["what the chapter prints"]
    for r in columns:
        seeds = r["seeds"]
        label = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
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


def instructor_page(text: str, records: list[dict]) -> str:
    """``book/instructor.md`` with each ``<!-- seen: CHAPTER -->`` line replaced by :func:`seen_table`."""
    return SEEN_MARKER.sub(lambda match: seen_table(match["chapter"], records), text)


def build_html(staging: Path, output: Path) -> None:
    """Render ``staging`` with Jupyter Book 1.x into ``output/html``, warnings as errors."""
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(staging),
               "--path-output", str(output / "jb"), "--warningiserror", "--keep-going", "--all"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:  # Jupyter Book's log only when it failed: the warning is in it
        print(result.stdout[-20_000:], result.stderr[-20_000:], sep="\n", file=sys.stderr)
        raise subprocess.CalledProcessError(result.returncode, command)
    html = output / "html"
    if html.exists():
        shutil.rmtree(html)
    (output / "jb" / "_build" / "html").rename(html)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``splitbrain book build``."""
    parser.add_argument("action", choices=("build",), help="build: execute the notebooks and build the HTML book")
    parser.add_argument("--preset", default="auto", choices=PRESET_NAMES,
                        help="run preset injected into every notebook (default: auto)")
    parser.add_argument("--out", default="_build", help="output folder (default: _build)")
    parser.add_argument("--only", nargs="*", help="execute only notebooks whose name contains one of these")
    parser.add_argument("--record-runtimes", action="store_true",
                        help="save the per-chapter wall times and the numbers each chapter marks as "
                             "'you should see' to results/runtimes/<preset>.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], metavar="SEED",
                        help="with --record-runtimes: run the chapters once per seed (the book shows the "
                             "first) and record each seed's numbers (default: 0)")


def run_command(args: argparse.Namespace) -> int:
    """Execute the notebooks with ``args.preset`` and build the HTML book."""
    preset = resolve_preset_name(args.preset)
    output = (REPO_ROOT / args.out).resolve()
    staging = output / "src"
    stage(REPO_ROOT, staging)
    if len(args.seeds) != len(set(args.seeds)) or (len(args.seeds) > 1 and not args.record_runtimes):
        raise ValueError("--seeds: expected distinct seeds, and more than one only with --record-runtimes")
    if args.record_runtimes and args.only:
        raise ValueError("--record-runtimes records every chapter: run it without --only")
    seen_by_seed: dict[int, dict] = {seed: {} for seed in args.seeds}
    first, *others = args.seeds
    durations = execute_notebooks(REPO_ROOT, staging, preset, args.only, seed=first, seen=seen_by_seed[first])
    (staging / "runtimes.json").write_text(json.dumps({"preset": preset, "seconds": durations}, indent=2))
    for seed in others:  # executed only for their numbers, into a scratch copy the book does not show
        scratch = output / f"seed-{seed}"
        execute_notebooks(REPO_ROOT, scratch, preset, args.only, seed=seed, seen=seen_by_seed[seed])
        shutil.rmtree(scratch)
    if args.record_runtimes:
        print(f"run times recorded in {record_runtimes(REPO_ROOT, preset, durations, seen_by_seed)}")
    records = runtime_records(REPO_ROOT)  # the committed ones, rendered into the staged pages
    (staging / "book").mkdir(exist_ok=True)
    (staging / "book" / "runtimes.md").write_text(runtime_page(records))
    instructor = (REPO_ROOT / "book" / "instructor.md").read_text()
    (staging / "book" / "instructor.md").write_text(instructor_page(instructor, records))
    build_html(staging, output)
    print(f"book built; open {output / 'html' / 'index.html'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``splitbrain book ...``, also run by ``python -m`` on this module."""
    from .command import PROG, run_tool

    return run_tool(f"{PROG} book", __doc__.splitlines()[0], add_arguments, run_command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
