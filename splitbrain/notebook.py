"""Small helpers every chapter notebook calls right after its ``parameters`` cell.

``chapter_setup(PRESET)`` resolves the preset (``auto`` -> ``colab`` on a GPU, else ``cpu``),
picks the device, seeds every generator and sets a consistent figure style; ``glue`` hands a
number to the book's text through myst-nb (and simply shows it where myst-nb is absent, e.g. on
Colab), so numbers in prose always come from the run.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .presets import resolve_preset_name
from .runtime import seed_everything


@dataclass(frozen=True)
class ChapterContext:
    """What a chapter needs to know about where it runs.

    preset: the resolved preset name ("smoke" | "cpu" | "colab" | "paper").
    device: the torch device the chapter should compute on.
    seed: the seed every generator was reset to.
    """

    preset: str
    device: torch.device
    seed: int


def chapter_setup(preset: str = "auto", seed: int = 0, device: str = "auto") -> ChapterContext:
    """Resolve ``preset`` and ``device``, seed everything, set the figure style.

    Args:
        preset: "auto", "smoke", "cpu", "colab" or "paper" (ValueError otherwise).
        seed: seed for Python, NumPy and torch.
        device: "auto" (CUDA when available, else CPU) or any torch device string.
    """
    name = resolve_preset_name(preset)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    seed_everything(seed)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "axes.titlesize": "medium"})
    return ChapterContext(preset=name, device=torch.device(device), seed=seed)


def glue(name: str, value, display: bool = False) -> None:
    """Make ``value`` available to the book's prose as ``{glue:}`name```.

    Uses ``myst_nb.glue`` when myst-nb is installed (the book build); elsewhere it does nothing
    unless ``display`` is set, in which case it prints ``name = value``. Returns nothing, so a
    cell that ends with a glue call does not also show the value.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            print(f"{name} = {value}")
        return
    myst_glue(name, value, display=display)
