"""Small helpers every chapter notebook calls right after its ``parameters`` cell.

``chapter_setup(PRESET, download=DOWNLOAD)`` resolves the preset (``auto`` -> ``colab`` on a
GPU, else ``cpu``), decides where the chapter's images come from (a dataset is downloaded only
when the reader asks), picks the device, seeds every generator and sets a consistent figure
style; ``glue`` keeps a number and ``prose`` shows a paragraph with it as Markdown, so numbers
in prose always come from the run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .presets import resolve_preset_name
from .runtime import seed_everything


@dataclass(frozen=True)
class ChapterContext:
    """What a chapter needs to know about where it runs. ``data``: the configuration fields the
    chapter adds to the preset's (``{"download": True}`` to fetch the preset's dataset,
    ``{"data": "embedded"}`` when it is missing and no download was asked for)."""

    preset: str
    device: torch.device
    seed: int
    data: dict = field(default_factory=dict)


def chapter_setup(preset: str = "auto", seed: int = 0, device: str = "auto", download: bool = False) -> ChapterContext:
    """Resolve ``preset`` and ``device`` ("auto": CUDA when available, else CPU), choose the
    chapter's data, seed Python, NumPy and torch, set the figure style.

    ``download``: let torchvision fetch the preset's dataset into the cache folder
    (:func:`splitbrain.data.default_root`) when it is missing; without it a missing dataset is
    replaced by the embedded photographs, said in one line.
    """
    from .data import DOWNLOAD_SIZES, dataset_present, default_root
    from .presets import get_preset

    name = resolve_preset_name(preset)
    dataset = get_preset(name).data
    data: dict = {"download": bool(download)}
    if dataset in DOWNLOAD_SIZES and not download and not dataset_present(dataset):
        data = {"data": "embedded", "download": False}
        print(f"{dataset} ({DOWNLOAD_SIZES[dataset]}) is not in {default_root()}: this chapter uses the embedded "
              f"photographs at the {name!r} preset's sizes; set DOWNLOAD = True to fetch it.")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    seed_everything(seed)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "axes.titlesize": "medium"})
    return ChapterContext(preset=name, device=torch.device(device), seed=seed, data=data)


GLUED: dict[str, object] = {}
"""The values chapters hand to their prose (:func:`glue`), by name."""

SEEN_VALUES_ENV = "SPLITBRAIN_SEEN_VALUES"
"""Environment variable naming the JSON file the book's recorder collects a chapter's
"you should see" numbers in (``glue(..., seen=...)``); unset, nothing is written."""


def glue(name: str, value, seen: str | None = None) -> None:
    """Keep ``value`` under ``name`` for :func:`prose`. ``seen`` (a few words, e.g. "probe gap over
    random init, points") marks a number a student should see, recorded for the instructors' page."""
    GLUED[name] = value
    if seen is not None:
        _record_seen(name, value, seen)


def _record_seen(name: str, value, what: str) -> None:
    import json
    import numbers
    import os

    from .files import atomic_write_text

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"glue({name!r}, seen=...) needs a number, got {type(value).__name__}")
    path = os.environ.get(SEEN_VALUES_ENV)
    if not path:
        return
    seen = json.loads(open(path).read()) if os.path.exists(path) else {}
    seen[name] = {"what": what, "value": float(value)}
    atomic_write_text(path, json.dumps(seen, indent=1) + "\n")


def prose(template: str) -> None:
    """Show ``template`` as Markdown, each ``{name:format}`` filled with the value :func:`glue`
    kept under ``name`` (``str.format`` rules: a literal brace is written twice). In the book the
    cell's code is hidden (tag ``remove-input``) and only the paragraph shows."""
    from IPython.display import Markdown, display

    display(Markdown(template.format_map(GLUED)))
