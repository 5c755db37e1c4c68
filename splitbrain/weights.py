"""Pretrained networks shipped with the repository, loadable with one call::

    import splitbrain
    model, config = splitbrain.pretrained("cifar10-simplenet-lab")   # eval mode, on the CPU

Each entry of :data:`PRETRAINED` is a grid run's network, a weights-only checkpoint
``results/pretrained/<name>.pt`` that ships with the package (:func:`locate` finds or fetches
it). Every file is checked against its sha256 before it is loaded, and loading never runs
pickled code (``torch.load(weights_only=True)``). ``splitbrain weights RUN_DIR/checkpoint.pt NAME``
writes such a file from a finished run and prints its sha256 and size; it replaces an existing
file only with ``--force``.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .about import RAW_URL
from .files import atomic_write
from .vocabulary import check_one_of

PRETRAINED_FOLDER = "results/pretrained"
"""Where the shipped networks live, relative to the repository root (and to ``RAW_URL``)."""


@dataclass(frozen=True)
class Weights:
    """One shipped network: its file's sha256 and size, the run record it comes from
    (``results/<grid>/<run name>.json``) and the probe layer that record chose on validation."""

    sha256: str
    bytes: int
    record: str
    probe_layer: str


PRETRAINED: dict[str, Weights] = {
    # The cifar-recipe grid's split-brain SimpleNet in Lab, seed 0 (the 20-minute CPU recipe).
    "cifar10-simplenet-lab": Weights(sha256="77d6d39acd422083da412418dca62a19e807b2a12eedc61f66022125cbb39d67",
                                     bytes=4530029, record="results/cifar-recipe/simplenet-lab-seed0.json",
                                     probe_layer="conv3"),
    # The same grid's split-brain SimpleNet in rescaled Lab (the poster's per-image ab bins), seed 0.
    "cifar10-simplenet-rescaled_lab": Weights(
        sha256="13149cb12175e7144de895fe3371b212e7788f9dda4f8b99a6c25dbd4a4c06f6", bytes=4527843,
        record="results/cifar-recipe/simplenet-rescaled_lab-seed0.json", probe_layer="conv3"),
}
"""Name -> :class:`Weights`; the file is ``<PRETRAINED_FOLDER>/<name>.pt``."""

PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""A network's name: a plain file name (no separators, not hidden), ``..`` excepted."""


def sha256_of(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped_file(name: str) -> Path:
    """Where the package ships ``name`` (whether or not it is there)."""
    from .results import SHIPPED_RESULTS

    return SHIPPED_RESULTS / "pretrained" / f"{name}.pt"


def locate(name: str, cache_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """A verified local copy of the shipped network ``name``: the package's file, else the cache's
    (:func:`splitbrain.data.default_root`), else (``download``) one fetched from the repository's
    raw URL into the cache. ValueError: unknown name, or a wrong sha256; FileNotFoundError: not
    found and not ``download``.
    """
    from .data import default_root

    expected = PRETRAINED[check_one_of(name, "name", PRETRAINED)].sha256
    cached = Path(cache_dir if cache_dir is not None else default_root()) / "pretrained" / f"{name}.pt"
    for candidate in (shipped_file(name), cached):
        if candidate.is_file():
            if sha256_of(candidate) != expected:
                raise ValueError(
                    f"{candidate} does not have the sha256 of {name} ({expected}); delete it or restore it")
            return candidate
    if not download:
        raise FileNotFoundError(f"{name} is neither at {shipped_file(name)} nor at {cached}; "
                                f"pass download=True to fetch it ({PRETRAINED[name].bytes / 1e6:.1f} MB)")
    fetch(f"{RAW_URL}/{PRETRAINED_FOLDER}/{name}.pt", cached, expected)
    return cached


def fetch(url: str, path: Path, sha256: str) -> None:
    """Download ``url`` to ``path`` atomically; keep it only if its sha256 matches."""
    import urllib.request

    def download(stream) -> None:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=60) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                stream.write(block)
        if digest.hexdigest() != sha256:
            raise ValueError(f"{url} did not have the expected sha256 {sha256}; nothing was kept")

    atomic_write(path, download)


def pretrained(name: str, device: str = "cpu", cache_dir: str | os.PathLike | None = None, download: bool = True):
    """(model, PretrainConfig): the shipped network ``name`` in eval mode on ``device`` (see the module docstring)."""
    from .checkpoint import model_from_checkpoint

    return model_from_checkpoint(locate(name, cache_dir, download), device=device)


def probe_config(name: str, data_root: str | os.PathLike | None = None, download: bool = False):
    """The :class:`~splitbrain.presets.EvalConfig` that probes the shipped network ``name`` the
    way its grid run did, at the one layer its record chose on validation.

    ``data_root``: the CIFAR-10 JPEGs' ``train/`` folder the grid ran on, to reproduce the
    record's number. None: torchvision's CIFAR-10 in the cache folder (10k training, 10k test
    images), fetched (170 MB) only when ``download`` is True, else a
    :class:`~splitbrain.data.MissingDatasetError` says how.
    """
    from .experiments.grids import get_grid

    record = Path(PRETRAINED[check_one_of(name, "name", PRETRAINED)].record)
    grid = get_grid(record.parent.name)
    run = next(run for run in grid.runs() if run.name == record.stem)
    data = {"data_root": os.fspath(data_root)} if data_root is not None else {"data": "cifar10", "download": download}
    return grid.eval_config(run, **data, layers=(PRETRAINED[name].probe_layer,), progress=False, verbose=False)


def probe_shipped(name: str, config, datasets=None, cache_dir: str | os.PathLike | None = None) -> dict:
    """{"pretrained": EvalResult, "random init": EvalResult}: the shipped network ``name`` and
    the same architecture at its random initialisation (the record's seed) through the same
    linear probe (``config``, e.g. :func:`probe_config`) on the same images (``datasets``, else
    built from ``config``). The network is fetched only when ``config.download`` is True.
    """
    from .evaluate import build_eval_datasets, linear_probe
    from .networks import load_network

    model, pretrain_config = pretrained(name, cache_dir=cache_dir, download=config.download)
    datasets = datasets or build_eval_datasets(config)
    return {"pretrained": linear_probe(config, model=model, pretrain_config=pretrain_config, datasets=datasets),
            "random init": linear_probe(config, *load_network(pretrain_config, random_init=True, seed=config.seed),
                                        random_init=True, datasets=datasets)}


def export(checkpoint: str | os.PathLike, name: str, folder: str | os.PathLike | None = None,
           force: bool = False) -> Path:
    """Write the weights-only file of a finished run's ``checkpoint`` as ``<folder>/<name>.pt``
    (default folder: the shipped networks'). ValueError for a ``name`` that is not a plain file
    name or weights that are not finite; FileExistsError when the file exists, unless ``force``."""
    from .checkpoint import atomic_torch_save, checkpoint_state, load_checkpoint
    from .networks import check_finite

    if not PLAIN_NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"NAME must be a plain file name (letters, digits, '.', '_' and '-', not starting with '.', "
                         f"no '..' and no '/'), got {name!r}")
    path = (Path(folder) if folder is not None else shipped_file(name).parent) / f"{name}.pt"
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists: give another NAME, or --force to replace it")
    saved = load_checkpoint(checkpoint)
    check_finite(saved["model"], os.fspath(checkpoint))
    slim = checkpoint_state(saved["config"], saved["model"], saved["epoch"], saved["step"],
                            pretrained_on=saved.get("pretrained_on"))  # so probes of it can still refuse leaks
    atomic_torch_save(slim, path, replace=force)
    load_checkpoint(path)  # readable the way pretrained() reads it
    return path


def add_arguments(parser) -> None:
    """The options of ``splitbrain weights`` (writing a shipped network from a finished run)."""
    parser.add_argument("checkpoint", help="a finished run's checkpoint (RUN_DIR/checkpoint.pt)")
    parser.add_argument("name", help="the shipped network's name, a plain file name, e.g. cifar10-simplenet-lab")
    parser.add_argument("--force", action="store_true", help="replace the network's file if it exists")


def run_command(args) -> int:
    """Export ``args.checkpoint`` as ``results/pretrained/<name>.pt``; print its PRETRAINED entry."""
    path = export(args.checkpoint, args.name, force=args.force)
    print(f'"{args.name}": Weights(sha256="{sha256_of(path)}", bytes={path.stat().st_size}, record=..., '
          f'probe_layer=...)  # {path}')
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``splitbrain weights ...``, also run by ``python -m`` on this module."""
    from .command import PROG, run_tool

    return run_tool(f"{PROG} weights", __doc__.splitlines()[0], add_arguments, run_command, argv)


if __name__ == "__main__":
    sys.exit(main())
