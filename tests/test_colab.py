"""Every chapter as a student meets it on a fresh Colab runtime: only the package is installed
(a wheel built from this checkout, not the checkout itself), the chapter runs under papermill in
an empty folder with the ``smoke`` preset, the dataset cache is empty and the network is
unavailable. A chapter passes when it runs top to bottom without an error, finds what it needs
in the package (reference tables, run records, pretrained networks) and never writes to stderr.

The environment reuses this one's installed dependencies (a ``.pth`` file naming their folder)
and installs the wheel with ``--no-deps``, so nothing is downloaded and the test stays fast.
"""
import os
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

    variables = {**os.environ, "JUPYTER_PATH": str(env / "share" / "jupyter"), "SPLITBRAIN_DATA": str(base / "cache"),
                 "OMP_NUM_THREADS": "1", "PYTHONNOUSERSITE": "1"}
    variables.pop("PYTHONPATH", None)
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


@pytest.mark.parametrize("notebook", [nb.name for nb in chapter_notebooks(ROOT)])
def test_chapter_runs_on_a_fresh_runtime(colab_env, notebook, tmp_path):
    python, variables = colab_env
    folder = tmp_path / "empty"
    folder.mkdir()
    executed = tmp_path / notebook
    run([python, "-m", "papermill", "--no-progress-bar", "-k", "python3", "-p", "PRESET", "smoke",
         "--cwd", folder, ROOT / "notebooks" / notebook, executed], env=variables)
    for cell in nbformat.read(executed, as_version=4).cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"{notebook}: {output.get('ename')}: {output.get('evalue')}"
            if output.output_type == "stream":
                assert output.name != "stderr", f"{notebook} wrote to stderr: {output.text[:500]}"
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            assert not any(phrase in text for phrase in MISSING), f"{notebook} lacked something: {text[:500]}"
