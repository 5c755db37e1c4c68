"""Every chapter as a student meets it on a fresh Colab runtime: only the package is installed
(a wheel built from this checkout, not the checkout itself), the chapter runs under papermill in
an empty folder, the dataset cache is empty and the network is unavailable. Each chapter runs
twice: with the ``smoke`` preset, and with ``colab`` (STL-10 at 96 px, full-width networks, which
falls back to the embedded photographs) capped by ``SPLITBRAIN_CAP`` (:mod:`splitbrain.notebook`)
to a few images and steps, so it takes seconds on a CPU while its code path, data choice, image
sizes and networks stay the colab ones. A chapter passes when it runs top to bottom without an
error, finds what it needs in the package (reference tables, run records, pretrained networks),
never writes to stderr, requests no dataset that is not there, and says which data it uses:
every configuration it loaded from the embedded photographs in place of its preset's dataset is
named, with its size, in a printed line, and every such line is what it loaded.

The environment reuses this one's installed dependencies (a ``.pth`` file naming their folder)
and installs the wheel with ``--no-deps``, so nothing is downloaded and the test stays fast.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from splitbrain.book import chapter_notebooks

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_SOURCES = ("splitbrain", "results")  # results/: the records the wheel ships (splitbrain/records links it)
PROJECT_FILES = ("pyproject.toml", "README.md")
MISSING = ("No run records", "not in this copy", "not available")
"""What a chapter prints when something it needs did not ship (records, tables, networks)."""

# Imported by every Python process of the environment, the kernels included: any connection
# that leaves the machine fails as it would offline (the kernels talk to papermill over loopback).
NO_NETWORK = '''\
import socket

_connect = socket.socket.connect


def _loopback_only(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
        raise OSError(f"network unavailable (a fresh runtime without network): connect to {address!r}")
    return _connect(sock, address)


socket.socket.connect = _loopback_only
'''

LOADS_ENV = "SPLITBRAIN_TEST_LOADS"
# An IPython startup file of the environment's kernels: every dataset the package is asked for
# goes as a JSON line into the file $SPLITBRAIN_TEST_LOADS names: its name, size, whether it may be
# downloaded, whether it loaded (a missing dataset asked for without download fails), and
# "configured" when it comes from a configuration (a pretraining's or an evaluation's datasets)
# rather than from a chapter's own figures.
RECORD_LOADS = '''
def _record_loads():
    import functools, inspect, json, os, sys

    import splitbrain.data

    build = splitbrain.data.build_dataset

    @functools.wraps(build)
    def build_dataset(*args, **kwargs):
        call = inspect.signature(build).bind(*args, **kwargs)
        call.apply_defaults()
        frame, configured = sys._getframe(1), False
        while frame is not None and not configured:
            configured = frame.f_code.co_name in ("build_pretrain_dataset", "build_eval_datasets")
            frame = frame.f_back
        entry = {key: call.arguments[key] for key in ("name", "image_size", "download")}
        entry.update(configured=configured, loaded=False)
        try:
            dataset = build(*args, **kwargs)
            entry["loaded"] = True
            return dataset
        finally:
            if os.environ.get("SPLITBRAIN_TEST_LOADS"):
                with open(os.environ["SPLITBRAIN_TEST_LOADS"], "a") as file:
                    file.write(json.dumps(entry) + "\\n")

    splitbrain.data.build_dataset = build_dataset


_record_loads()
del _record_loads
'''
CAP = "16"
"""SPLITBRAIN_CAP of the capped colab runs: 16 images per pass (one batch)."""
CLAIM = re.compile(r"embedded photographs.*? px")
"""A printed line saying a chapter uses the embedded photographs, and at what size (N px)."""


def run(command, **kwargs):
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="session")
def colab_env(tmp_path_factory):
    """(python, environment variables) of a fresh environment holding only the built wheel."""
    base = tmp_path_factory.mktemp("colab")
    source = base / "source"
    for name in PACKAGE_SOURCES:
        shutil.copytree(ROOT / name, source / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, source / name)
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", base / "wheels", source])
    (wheel,) = (base / "wheels").glob("splitbrain-*.whl")

    env = base / "env"
    run([sys.executable, "-m", "venv", "--without-pip", env])
    python = env / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel])
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    reused = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site / "reuse_dependencies.pth").write_text("".join(f"{path}\n" for path in reused))
    (site / "sitecustomize.py").write_text(NO_NETWORK)
    run([python, "-m", "ipykernel", "install", "--prefix", env, "--name", "python3"])
    startup = env / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-record-loads.py").write_text(RECORD_LOADS)

    variables = {**os.environ, "JUPYTER_PATH": str(env / "share" / "jupyter"), "SPLITBRAIN_DATA": str(base / "cache"),
                 "IPYTHONDIR": str(env / "ipython"), "OMP_NUM_THREADS": "1", "PYTHONNOUSERSITE": "1"}
    for name in ("PYTHONPATH", "SPLITBRAIN_CAP"):
        variables.pop(name, None)
    return python, variables


def test_the_environment_has_the_wheel_and_no_network(colab_env):
    python, variables = colab_env
    where = run([python, "-c", "import splitbrain; print(splitbrain.__file__)"], env=variables, cwd="/").strip()
    assert not where.startswith(str(ROOT)), f"the checkout was imported, not the wheel: {where}"
    probe = ("import urllib.request\ntry:\n    urllib.request.urlopen('http://example.com', timeout=5)\n"
             "except OSError as error:\n    print('offline:', error)\n")
    assert "offline: " in run([python, "-c", probe], env=variables)
    shipped = run([python, "-c", "from splitbrain.results import SHIPPED_RESULTS as s; "
                   "print(sorted(p.name for p in (s / 'pretrained').glob('*.pt')))"], env=variables)
    from splitbrain.weights import PRETRAINED

    assert all(f"{name}.pt" in shipped for name in PRETRAINED)


def printed_lines(executed):
    """The lines a chapter printed (stdout), and the error or stderr it produced, if any."""
    lines, problems = [], []
    for cell in nbformat.read(executed, as_version=4).cells:
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                problems.append(f"{output.get('ename')}: {output.get('evalue')}")
            elif output.output_type == "stream" and output.name == "stderr":
                problems.append(f"wrote to stderr: {output.text[:500]}")
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            if any(phrase in text for phrase in MISSING):
                problems.append(f"lacked something: {text[:500]}")
            if output.output_type == "stream" and output.name == "stdout":
                lines += output.text.splitlines()
    return lines, problems


def data_choice_errors(preset, lines, loads, cache):
    """What is wrong with a chapter's data: a download asked for or a downloadable dataset loaded
    (the cache is empty and there is no network), a file written into the cache, a configuration
    that loaded the embedded photographs in place of its preset's dataset at a size no printed line
    names, or a printed line naming a size at which nothing was loaded that way."""
    from splitbrain.data import DOWNLOAD_SIZES
    from splitbrain.presets import get_preset

    errors = [f"asked to download {load['name']}" for load in loads if load["download"]]
    errors += [f"loaded {load['name']}" for load in loads if load["loaded"] and load["name"] in DOWNLOAD_SIZES]
    if cache.exists() and any(cache.iterdir()):
        errors.append(f"wrote into the dataset cache: {sorted(p.name for p in cache.iterdir())}")
    claimed = {int(size): line for line in lines if CLAIM.search(line) for size in re.findall(r"(\d+) px", line)}
    errors += [f"says it uses the embedded photographs without a size: {line!r}" for line in lines
               if "embedded photographs" in line and not CLAIM.search(line)]
    configured = [load for load in loads if load["configured"] and load["loaded"]]
    own = get_preset(preset).data
    instead = {load["image_size"] for load in configured if load["name"] == "embedded" and own != "embedded"}
    errors += [f"loaded the embedded photographs at {size} px in place of {own} without saying so"
               for size in sorted(instead - set(claimed))]
    backed = {load["image_size"] for load in configured if load["name"] == "embedded"}
    errors += [f"printed {line!r}, but loaded no configuration's embedded photographs at {size} px"
               for size, line in sorted(claimed.items()) if size not in backed]
    return errors


@pytest.mark.parametrize("preset", ["smoke", "colab"])
@pytest.mark.parametrize("notebook", [nb.name for nb in chapter_notebooks(ROOT)])
def test_chapter_runs_on_a_fresh_runtime(colab_env, notebook, preset, tmp_path):
    python, variables = colab_env
    folder = tmp_path / "empty"
    folder.mkdir()
    executed = tmp_path / notebook
    loads = tmp_path / "loads.jsonl"
    variables = {**variables, LOADS_ENV: str(loads), **({"SPLITBRAIN_CAP": CAP} if preset == "colab" else {})}
    run([python, "-m", "papermill", "--no-progress-bar", "-k", "python3", "-p", "PRESET", preset,
         "--cwd", folder, ROOT / "notebooks" / notebook, executed], env=variables)
    lines, problems = printed_lines(executed)
    assert not problems, f"{notebook} ({preset}): {problems[0]}"
    recorded = [json.loads(line) for line in loads.read_text().splitlines()] if loads.exists() else []
    # what it loaded, for the reader of a -s run: (dataset, image size) of every loaded configuration
    print(f"{notebook} ({preset}) loaded:", sorted({(load["name"], load["image_size"]) for load in recorded
                                                    if load["loaded"]}))
    errors = data_choice_errors(preset, lines, recorded, Path(variables["SPLITBRAIN_DATA"]))
    assert not errors, f"{notebook} ({preset}): " + "; ".join(errors)
