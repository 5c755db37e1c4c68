"""Matplotlib figures the chapters show, one module per topic: every ``plot_*`` function returns a
:class:`matplotlib.figure.Figure` and shows nothing itself."""
from __future__ import annotations

import math

import numpy as np
import torch

BOOK_DPI = 110
"""The dpi the chapters draw and save figures at (:func:`splitbrain.notebook.chapter_setup`)."""

BOOK_COLUMN_PX = 672
"""Width in CSS pixels the book's theme gives a captioned figure in a 1280 px browser window (an
image without a caption gets 688)."""

BOOK_COLUMN_INCHES = 6.0
"""The widest figure the book shows at its own size: the column is 672 px, 6.1 in at the
chapters' 110 dpi, and the saved image adds about 0.1 in of margin; a wider figure is shrunk to
fit, and its labels with it (:mod:`splitbrain.plots.legibility` measures by how much)."""


def grid_cell_inches(columns: int, margin: float, largest: float) -> float:
    """Side in inches of one image of a grid with ``columns`` images per row and ``margin``
    inches of row labels, at most ``largest``, so that the grid fits :data:`BOOK_COLUMN_INCHES`."""
    return min(largest, (BOOK_COLUMN_INCHES - margin) / max(columns, 1))


def panel_axes(fig, count: int, columns: int = 2, **subplot_kw) -> list:
    """``count`` axes of ``fig`` in rows of at most ``columns`` (a wide row of many panels
    would be shrunk to the column and its labels with it); the last row's unused places are left
    empty. ``subplot_kw`` goes to :meth:`Figure.subplots` (e.g. ``sharex``)."""
    columns = max(1, min(columns, count))
    axes = list(fig.subplots(math.ceil(count / columns), columns, squeeze=False, **subplot_kw).flat)
    for ax in axes[count:]:
        ax.remove()
    return axes[:count]


def image_array(rgb: torch.Tensor) -> np.ndarray:
    """(3, H, W) uint8 in [0, 255] or float in [0, 1] -> (H, W, 3) array in [0, 1] for imshow (clipped)."""
    rgb = rgb.float() / 255 if rgb.dtype == torch.uint8 else rgb
    return rgb.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def show_image(ax, image: torch.Tensor) -> None:
    """``image`` (:func:`image_array`) pixel by pixel, without ticks."""
    ax.imshow(image_array(image), interpolation="nearest")
    ax.set(xticks=[], yticks=[])


def legend_below(fig, axes, ncols: int = 2) -> None:
    """One legend below the panels for every labelled artist of ``axes`` (each label once, at
    most ``ncols`` a row): inside a panel it would cover data."""
    entries = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if entries:
        fig.legend(list(entries.values()), list(entries), loc="outside lower center",
                   ncols=min(len(entries), ncols), fontsize="small")


def chance_line(ax, chance: float | None) -> None:
    """Chance (a fraction, drawn in %) as a dotted grey line named at its left end; nothing for None."""
    if chance is not None:
        ax.axhline(100 * chance, color="grey", ls=":", lw=1)
        ax.text(0.0, 100 * chance, "chance", va="bottom", fontsize="small", color="grey")


def wrap_to(text: str, inches: float, points: float = 10.0) -> str:
    """``text`` broken between words into lines about ``inches`` wide at ``points`` (DejaVu
    Sans averages 0.6 em a character), for a title or label over a narrow panel; an equation such
    as "p = 25%" stays on one line."""
    import textwrap

    width = max(8, int(inches * 72 / (0.6 * points)))
    text = text.replace(" = ", "\u00a0=\u00a0")  # a no-break space: textwrap does not split there
    return "\n".join(textwrap.fill(line, width, break_long_words=False) for line in text.split("\n"))
