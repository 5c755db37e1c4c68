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
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import yaml

from .answers import render_answers
from .chapter_times import instructor_page, read_estimate, record_runtimes, runtime_page, runtime_records
from .presets import PRESET_NAMES, resolve_preset_name

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGED_DIRS = ("book", "results")
STAGED_FILES = ("_config.yml", "_toc.yml")


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

    walk(toc)  # its "root" is a plain name, not a {"file": ...} entry
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


def execute_notebooks(root: Path, staging: Path, preset: str, only: list[str] | None,
                      seed: int, seen: dict) -> dict:
    """Execute each chapter with papermill into ``staging``; returns {notebook: seconds}.

    With ``only``, the chapters whose names match none of its keys are staged unexecuted.
    ``seed``: injected as the chapters' ``SEED``. ``seen`` receives, per executed notebook, the
    numbers its ``glue(..., seen=...)`` calls recorded: {name: {"what": description, "value": number}}.
    """
    import papermill

    from .notebook import SEEN_VALUES_ENV

    parameters = {"PRESET": preset, "SEED": seed}
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
        seen[notebook.as_posix()] = json.loads(seen_file.read_text()) if seen_file.exists() else {}
        seen_file.unlink(missing_ok=True)
        hide_injected_parameters(target)
        print(f"executed {notebook} (preset {preset}, seed {seed}) in {durations[notebook.as_posix()]:.1f} s",
              flush=True)
    return durations


def chapter_title(notebook: Path) -> str:
    """The first Markdown heading of the notebook at ``notebook`` (its title on the book's pages)."""
    import nbformat

    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^# (.+)$", cell.source, re.MULTILINE)
            if match:
                return match[1].strip()
    return notebook.stem


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
    results = REPO_ROOT / "results"
    if args.record_runtimes:
        print(f"run times recorded in {record_runtimes(results, preset, durations, seen_by_seed)}")
    records, estimate = runtime_records(results), read_estimate(results)  # the committed ones
    (staging / "book").mkdir(exist_ok=True)
    titles = {notebook.as_posix(): chapter_title(REPO_ROOT / notebook) for notebook in chapter_notebooks(REPO_ROOT)}
    (staging / "book" / "runtimes.md").write_text(runtime_page(records, estimate, titles))
    instructor = (REPO_ROOT / "book" / "instructor.md").read_text()
    (staging / "book" / "instructor.md").write_text(render_answers(instructor_page(instructor, records, estimate)))
    build_html(staging, output)
    print(f"book built; open {output / 'html' / 'index.html'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``splitbrain book ...``, also run by ``python -m`` on this module."""
    from .command import PROG, run_tool

    return run_tool(f"{PROG} book", __doc__.splitlines()[0], add_arguments, run_command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
