"""How large a figure's text is once the book shows it.

A text's height on the page is its font size in points x (dpi / 72) x (the width the page gives
the image / the image's own pixel width): a figure wider than the book's column is shrunk to
fit, and its labels with it. :func:`measure` draws a figure as the chapters' inline display saves
it (``bbox_inches="tight"`` at the figure's dpi) and returns its smallest drawn text in pixels of
the saved image, with that image's width; :func:`smallest_text_on_the_page` turns it into pixels
on the page for a figure shown in the column; :func:`text_overlaps` and :func:`legend_overlaps` find labels
over labels and legends over plotted data. The book's figures carry their smallest text and their
overlapping texts in their PNG files (:func:`install_display_hook`, called by
:func:`splitbrain.notebook.chapter_setup`), so the browser test can check every figure where it
stands.
"""
from __future__ import annotations

import contextlib
import json
import struct
import zlib
from dataclasses import dataclass
from io import BytesIO

import numpy as np
from matplotlib.figure import Figure
from matplotlib.text import Text

from . import BOOK_COLUMN_PX as COLUMN_PX

__all__ = ["COLUMN_PX", "SMALLEST_TEXT_KEY", "OVERLAPS_KEY", "Legibility", "measure", "smallest_text_on_the_page",
           "smallest_text_px", "legend_overlaps", "text_overlaps", "read_png_smallest_text",
           "read_png_text_overlaps", "install_display_hook"]

SMALLEST_TEXT_KEY = "splitbrain:smallest-text-px"
"""Key of the PNG text chunk (and of the output metadata) holding a figure's smallest text, in
pixels of the saved image."""

OVERLAPS_KEY = "splitbrain:text-overlaps"
"""Key of the PNG text chunk (and of the output metadata) holding the pairs of a figure's texts
that overlap (a JSON list, empty when none do)."""


@dataclass(frozen=True)
class Legibility:
    """A figure as saved: its smallest drawn text (pixels of the image, and what it says) and the
    image's width in pixels."""

    smallest_px: float
    smallest_text: str
    width_px: int

    def on_the_page(self, column_px: float = COLUMN_PX) -> float:
        """The smallest text's height on the page when the image is shown no wider than ``column_px``."""
        return self.smallest_px * min(1.0, column_px / self.width_px)


class DrawnText:
    """What :func:`recording_text` saw: ``sizes``, (size in pixels of the renderer that drew it,
    text) for every draw of a visible, non-blank text; ``boxes``, each such text's box where it
    was last drawn (a layout may draw a figure more than once), upright texts only."""

    def __init__(self):
        self.sizes: list[tuple[float, str]] = []
        self.boxes: dict[int, tuple[str, object]] = {}

    def smallest(self) -> tuple[float, str]:
        return min(self.sizes)

    def overlaps(self, slack: float = 1.0) -> list[str]:
        """Pairs of texts whose boxes overlap by more than ``slack`` pixels each way."""
        boxes, found = list(self.boxes.values()), []
        for i, (a, p) in enumerate(boxes):
            for b, q in boxes[i + 1:]:
                if min(p.x1, q.x1) - max(p.x0, q.x0) > slack and min(p.y1, q.y1) - max(p.y0, q.y0) > slack:
                    found.append(f"{a!r} overlaps {b!r}")
        return found


@contextlib.contextmanager
def recording_text():
    """Within the block, every text matplotlib draws (visible, not blank) is recorded in the
    yielded :class:`DrawnText`: titles, labels, tick labels, legend entries, annotations and 3-D
    axes' texts all draw through :class:`Text`. Texts drawn at a slant (rotated tick labels) get
    no box: their upright boxes overlap where the texts do not."""
    drawn = DrawnText()
    original = Text.draw

    def draw(self, renderer, *args, **kwargs):
        result = original(self, renderer, *args, **kwargs)
        if self.get_visible() and self.get_text().strip():
            drawn.sizes.append((float(renderer.points_to_pixels(self.get_fontsize())), self.get_text()))
            if self.get_rotation() % 90 == 0:
                box = self.get_window_extent(renderer)
                if box.width > 0 and box.height > 0:
                    drawn.boxes[id(self)] = (self.get_text(), box)
        return result

    Text.draw = draw
    try:
        yield drawn
    finally:
        Text.draw = original


def _png_width(data: bytes) -> int:
    return struct.unpack(">I", data[16:20])[0]


def measure(fig: Figure, dpi: float | None = None) -> Legibility:
    """Draw ``fig`` as the inline display saves it (tight box, ``dpi`` or the figure's) and return
    its smallest text in pixels of that image and the image's width. ValueError when it draws no text."""
    buffer = BytesIO()
    with recording_text() as drawn:
        fig.savefig(buffer, format="png", dpi=dpi or fig.dpi, bbox_inches="tight")
    if not drawn.sizes:
        raise ValueError("the figure draws no text")
    size, text = drawn.smallest()
    return Legibility(size, text, _png_width(buffer.getvalue()))


def smallest_text_px(fig: Figure, dpi: float | None = None) -> float:
    """The smallest font of any visible text of ``fig``, in pixels of the image saved at ``dpi``
    (the figure's own by default): points x dpi / 72."""
    return measure(fig, dpi).smallest_px


def smallest_text_on_the_page(fig: Figure, column_px: float = COLUMN_PX, dpi: float | None = None) -> float:
    """Height in page pixels of ``fig``'s smallest text when the book shows it in a column
    ``column_px`` wide (a wider image is shrunk to fit)."""
    return measure(fig, dpi).on_the_page(column_px)


def _plotted_points(ax) -> np.ndarray:
    """Display coordinates of what ``ax`` plots from its data, inside the axes: every line's
    vertices and ten points along each segment, every scatter point, every patch's corners (bars, boxes)."""
    points = []
    for line in ax.get_lines():
        if not line.get_visible() or line.get_transform() != ax.transData:
            continue  # reference lines (axhline, axvline) span the axes in axes coordinates
        xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
        if len(xy) > 1 and line.get_linestyle() not in ("None", "", " "):
            steps = np.linspace(0, 1, 10, endpoint=False)[:, None, None]
            xy = np.concatenate([(xy[:-1] + steps * (xy[1:] - xy[:-1])).reshape(-1, 2), xy])
        points.append(xy)
    for collection in ax.collections:
        offsets = np.asarray(collection.get_offsets(), dtype=float)
        if collection.get_visible() and offsets.size and collection.get_offset_transform() == ax.transData:
            points.append(ax.transData.transform(offsets))
    for patch in ax.patches:
        if patch.get_visible() and patch.get_transform().contains_branch(ax.transData):
            points.append(patch.get_window_extent().corners())
    points = np.concatenate(points) if points else np.zeros((0, 2))
    points = points[np.isfinite(points).all(axis=1)]
    box = ax.bbox
    inside = (points[:, 0] >= box.x0) & (points[:, 0] <= box.x1) & (points[:, 1] >= box.y0) & (points[:, 1] <= box.y1)
    return points[inside]


def legend_overlaps(fig: Figure) -> list[str]:
    """Legends of ``fig`` (in an axes or the figure's own) whose box covers a plotted point of any
    axes: a line's vertices and points along its segments, a scatter point, a bar's or box's corner
    (:func:`_plotted_points`); reference lines drawn across the axes do not count. Returns one
    line per legend that covers something (empty: none does)."""
    fig.draw_without_rendering()
    legends = [(f"axes {i} legend", ax.get_legend()) for i, ax in enumerate(fig.axes) if ax.get_legend()]
    legends += [(f"figure legend {i}", legend) for i, legend in enumerate(fig.legends)]
    found = []
    for name, legend in legends:
        box = legend.get_window_extent()
        for index, ax in enumerate(fig.axes):
            points = _plotted_points(ax)
            covered = (points[:, 0] > box.x0) & (points[:, 0] < box.x1) & (points[:, 1] > box.y0) & (points[:, 1] < box.y1)
            if covered.any():
                found.append(f"{name} covers {int(covered.sum())} plotted points of axes {index} ({ax.get_title()!r})")
    return found


def text_overlaps(fig: Figure, slack: float = 1.0) -> list[str]:
    """Pairs of texts ``fig`` draws (titles, labels, tick labels, legend entries, annotations)
    whose boxes overlap by more than ``slack`` pixels each way: a row label running into the next
    row's, a 3-D axis label into the next panel's (rotated texts left out, :func:`recording_text`).
    One line per pair (empty: none overlap)."""
    with recording_text() as drawn:
        fig.savefig(BytesIO(), format="png", dpi=fig.dpi)
    return drawn.overlaps(slack)


def _with_text_chunk(png: bytes, key: str, value: str) -> bytes:
    """``png`` with a tEXt chunk ``key`` = ``value`` before its final IEND chunk."""
    body = key.encode("latin-1") + b"\0" + value.encode("latin-1")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    end = png.rindex(b"IEND") - 4
    return png[:end] + chunk + png[end:]


def read_png_text(png: bytes) -> dict[str, str]:
    """Every tEXt chunk of ``png``, key -> value."""
    found, position = {}, 8
    while position + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[position:position + 8])
        if kind == b"tEXt":
            key, _, value = png[position + 8:position + 8 + length].partition(b"\0")
            found[key.decode("latin-1")] = value.decode("latin-1")
        position += 12 + length
    return found


def read_png_smallest_text(png: bytes) -> float | None:
    """The smallest text in pixels a book figure's PNG carries (:func:`install_display_hook`); None without one."""
    value = read_png_text(png).get(SMALLEST_TEXT_KEY)
    return None if value is None else float(value)


def read_png_text_overlaps(png: bytes) -> list[str] | None:
    """The overlapping texts a book figure's PNG names (:func:`install_display_hook`); None without the record."""
    value = read_png_text(png).get(OVERLAPS_KEY)
    return None if value is None else json.loads(value)


def install_display_hook(shell=None) -> bool:
    """Make IPython's PNG display of a matplotlib Figure (the inline backend's) record the
    figure's smallest drawn text in pixels of the image and the pairs of its texts that overlap,
    in PNG text chunks and in the output's metadata, and give the output its pixel width: the book then links the image to its full-size
    file, which a reader on a narrow screen can open. The image itself is unchanged; nothing shows
    in the student's cells. Returns False where there is no IPython shell or no PNG display of
    figures to wrap (a plain Python session), True once installed (calling again changes nothing)."""
    import base64

    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    formatter = shell.display_formatter.formatters["image/png"]
    try:
        inner = formatter.lookup_by_type(Figure)
    except KeyError:
        return False
    if getattr(inner, "_records_smallest_text", False):
        return True

    def png_with_smallest_text(fig, *args, **kwargs):
        with recording_text() as drawn:
            result = inner(fig, *args, **kwargs)
        data, metadata = result if isinstance(result, tuple) else (result, None)
        if not data or not drawn.sizes:
            return result
        encoded = isinstance(data, str)
        png = base64.b64decode(data) if encoded else data
        smallest, overlaps = drawn.smallest()[0], drawn.overlaps()
        png = _with_text_chunk(png, SMALLEST_TEXT_KEY, f"{smallest:.2f}")
        png = _with_text_chunk(png, OVERLAPS_KEY, json.dumps(overlaps, ensure_ascii=True))
        metadata = {"width": _png_width(png), **(metadata or {}), SMALLEST_TEXT_KEY: round(smallest, 2),
                    OVERLAPS_KEY: overlaps}
        return (base64.b64encode(png).decode("ascii") if encoded else png), metadata

    png_with_smallest_text._records_smallest_text = True
    formatter.for_type(Figure, png_with_smallest_text)
    return True
