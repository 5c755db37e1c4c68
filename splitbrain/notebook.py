"""Small helpers every chapter notebook calls right after its ``parameters`` cell.

``chapter_setup(PRESET, download=DOWNLOAD)`` resolves the preset (``auto`` -> ``colab`` on a
GPU, else ``cpu``), decides where the chapter's images come from (a dataset is downloaded only
when the reader asks), picks the device, seeds every generator and sets a consistent figure
style (and each figure a chapter shows records its smallest text, for the book's legibility check:
:mod:`splitbrain.plots.legibility`); ``glue`` keeps a number and ``prose`` shows a paragraph with
it as Markdown, so numbers in prose always come from the run.

``SPLITBRAIN_CAP=N`` (an environment variable, for tests) caps a chapter's work at N images per
pass, 2 pretraining epochs and 2 probe and 1 fine-tuning epochs, keeping its preset's data choice,
image sizes and networks; unset, nothing changes.
"""
from __future__ import annotations

import json
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .files import atomic_write_text
from .presets import get_eval_preset, get_preset, resolve_preset_name
from .runtime import seed_everything

CAP_ENV = "SPLITBRAIN_CAP"
"""Environment variable holding the cap N of a capped run (see the module docstring); unset: no cap."""


@dataclass(frozen=True)
class ChapterContext:
    """What a chapter needs to know about where it runs. ``data``: the configuration fields the
    chapter adds to a pretraining preset's (``{"download": True}`` to fetch the preset's dataset,
    ``{"data": "embedded"}`` when it is missing and no download was asked for; empty for a chapter
    that does not read its preset's dataset); ``eval_data``: the same for an evaluation preset.
    Under ``$SPLITBRAIN_CAP`` both also hold :func:`cap_fields`, and ``cap`` is N."""

    preset: str
    device: torch.device
    seed: int
    data: dict = field(default_factory=dict)
    eval_data: dict = field(default_factory=dict)
    cap: int | None = None

    def at_most(self, count: int) -> int:
        """``count`` (images or steps a chapter chooses itself), or the cap when a capped run's is lower."""
        return count if self.cap is None else min(count, self.cap)


def read_cap() -> int | None:
    """N of ``$SPLITBRAIN_CAP`` (a positive integer), None when it is unset or empty; ValueError otherwise."""
    text = os.environ.get(CAP_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{CAP_ENV} must be a positive integer (images per pass), got {text!r}")
    return int(text)


def cap_fields(preset: str, cap: int) -> tuple[dict, dict]:
    """(pretraining fields, evaluation fields) that cap ``preset``'s work at ``cap`` images per pass,
    2 pretraining epochs, 2 probe and 1 fine-tuning epochs; never above the preset's own values,
    and nothing else (data, image sizes, networks, colour space) changes."""
    pretrain, evaluation = get_preset(preset), get_eval_preset(preset)
    train_length = min(pretrain.train_length, cap)
    batch_size = min(pretrain.batch_size, train_length)
    steps = max(1, cap // batch_size)
    pretrain_fields = {"train_length": train_length, "batch_size": batch_size, "epochs": min(pretrain.epochs, 2),
                       "max_steps_per_epoch": min(pretrain.max_steps_per_epoch or steps, steps)}
    eval_fields = {"max_train_images": min(evaluation.max_train_images or cap, cap),
                   "max_test_images": min(evaluation.max_test_images or cap, cap),
                   "probe_epochs": min(evaluation.probe_epochs, 2),
                   "finetune_epochs": min(evaluation.finetune_epochs, 1)}
    if evaluation.finetune_images is not None:
        eval_fields["finetune_images"] = min(evaluation.finetune_images, cap)
    return pretrain_fields, eval_fields


def chapter_setup(preset: str = "auto", seed: int = 0, device: str = "auto", download: bool | None = None
                  ) -> ChapterContext:
    """Resolve ``preset`` and ``device`` ("auto": CUDA when available, else CPU), choose the
    chapter's data, seed Python, NumPy and torch, set the figure style.

    ``download``: for a chapter that reads its preset's dataset, let torchvision fetch it into the
    cache folder (:func:`splitbrain.data.default_root`) when it is missing; without it (False) a
    missing dataset is replaced by the embedded photographs, said in one line. None (the default):
    the chapter does not read the preset's dataset, so nothing is chosen or said.
    """
    from .data import DOWNLOAD_SIZES, dataset_present, default_root

    name = resolve_preset_name(preset)
    dataset = get_preset(name).data
    data: dict = {} if download is None else {"download": bool(download)}
    if dataset in DOWNLOAD_SIZES and download is not None and not download and not dataset_present(dataset):
        data = {"data": "embedded", "download": False}
        sizes = " / ".join(f"{size} px" for size in sorted({get_preset(name).image_size,
                                                              get_eval_preset(name).image_size}))
        print(f"{dataset} ({DOWNLOAD_SIZES[dataset]}) is not in {default_root()}: this chapter uses the embedded "
              f"photographs at the {name!r} preset's sizes ({sizes}); set DOWNLOAD = True to fetch it.")
    cap = read_cap()
    pretrain_fields, eval_fields = cap_fields(name, cap) if cap is not None else ({}, {})
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    seed_everything(seed)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "axes.titlesize": "medium"})
    from .plots.legibility import install_display_hook

    install_display_hook()  # each shown figure records its smallest text, for the book's legibility check
    return ChapterContext(preset=name, device=torch.device(device), seed=seed, data={**data, **pretrain_fields},
                          eval_data={**data, **eval_fields}, cap=cap)


GLUED: dict[str, object] = {}
"""The values chapters hand to their prose (:func:`glue`), by name."""

SEEN_VALUES_ENV = "SPLITBRAIN_SEEN_VALUES"
"""Environment variable naming the JSON file the book's recorder collects a chapter's
"you should see" numbers in (``glue(..., seen=...)``); unset, nothing is written."""


def glue(name: str, value, seen: str | None = None) -> None:
    """Keep ``value`` under ``name`` for :func:`prose`. ``seen`` (a few words, e.g. "probe gap over
    random init, points") marks a number a student should see, recorded for the instructors' page."""
    GLUED[name] = value
    if seen is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"glue({name!r}, seen=...) needs a number, got {type(value).__name__}")
    path = os.environ.get(SEEN_VALUES_ENV)
    if not path:
        return
    recorded = json.loads(Path(path).read_text()) if os.path.exists(path) else {}
    recorded[name] = {"what": seen, "value": float(value)}
    atomic_write_text(path, json.dumps(recorded, indent=1) + "\n")


def prose(template: str) -> None:
    """Show ``template`` as Markdown, each ``{name:format}`` filled with the value :func:`glue`
    kept under ``name`` (``str.format`` rules: a literal brace is written twice). In the book the
    cell's code is hidden (tag ``remove-input``) and only the paragraph shows. Every "mean ± spread"
    stays on one line (:func:`~splitbrain.tables.unbroken_figures`)."""
    from IPython.display import Markdown, display

    from .tables import unbroken_figures

    display(Markdown(unbroken_figures(template.format_map(GLUED))))
