"""Tables: rows of dicts shown as HTML in a notebook (Markdown or text elsewhere), and the small
CSV files of published numbers the book compares with (``#`` lines carry their citations)."""
from __future__ import annotations

import csv
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np


def unbroken_figures(text: str) -> str:
    """``text`` with every "mean ± spread" held together by no-break spaces: "0.4730 ± 0.0059" is one
    figure, kept on one line however narrow the column or paragraph."""
    return text.replace(" ± ", "\u00a0±\u00a0")


def pipe_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown / MyST pipe table of text cells: "| a | b |", "|---|---|", then one line per row."""
    lines = ["| " + " | ".join(cells) + " |" for cells in [header, *rows]]
    return "\n".join([lines[0], "|" + "---|" * len(header), *lines[1:]])


def _format_cell(value: Any) -> str:
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.3g}"
    if isinstance(value, (tuple, list)):
        return "/".join(str(v) for v in value)
    return "" if value is None else str(value)


def format_shape(shape: Sequence[int]) -> str:
    """A tensor shape as text: (100, 12, 12) -> "100 × 12 × 12"."""
    return " × ".join(str(int(side)) for side in shape)


@dataclass
class Table:
    """Rows of dicts shown as a table: HTML in a notebook, Markdown or plain text elsewhere.

    ``columns``: the keys to show, in order (default: the first row's keys); ``headers``: column
    titles by key (default: the key itself); ``formats``: by key, a format spec (e.g.
    ``{"ratio": ".3f"}``) or a function value -> str. Cells by default: ints with thousands
    separators, floats with 3 significant digits, booleans as ✓/✗, tuples joined by "/".
    """

    rows: Sequence[Mapping[str, Any]]
    columns: Sequence[str] | None = None
    headers: Mapping[str, str] | None = None
    caption: str | None = None
    formats: Mapping[str, Any] | None = None

    def _columns(self) -> list[str]:
        if self.columns is not None:
            return list(self.columns)
        return list(self.rows[0].keys()) if self.rows else []

    def _headers(self) -> list[str]:
        return [(self.headers or {}).get(key, key) for key in self._columns()]

    def cells(self) -> list[list[str]]:
        """The formatted cells, one list per row."""
        columns, formats = self._columns(), self.formats or {}

        def cell(row, key):
            value, how = row.get(key), formats.get(key)
            if how is None or value is None:
                return _format_cell(value)
            return how(value) if callable(how) else format(value, how)

        return [[cell(row, key) for key in columns] for row in self.rows]

    def _repr_html_(self) -> str:
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        head = "".join(f"<th>{html.escape(header)}</th>" for header in self._headers())
        body = "".join("<tr>" + "".join(f"<td>{html.escape(unbroken_figures(cell))}</td>" for cell in row)
                       + "</tr>" for row in self.cells())
        return f'<table class="table">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def to_markdown(self) -> str:
        """A pipe table (Markdown / MyST)."""
        return pipe_table(self._headers(), self.cells())

    def __repr__(self) -> str:
        table = [self._headers()] + self.cells()
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in table]
        return "\n".join(([self.caption] if self.caption else []) + lines)


def _parse_value(text: str):
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_reference_csv(path: str | Path) -> list[dict]:
    """One dict per data row of a small CSV of reported numbers, keyed by the header, integers and
    floats converted; lines starting with ``#`` are comments (citations). ValueError naming the
    file for an empty table or a row whose cells do not match the header's."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    data = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not data:
        raise ValueError(f"path must name a CSV file with a header row, got an empty table in {path}")
    header, *rows = csv.reader(data)
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"{path}: the row {','.join(row)!r} has {len(row)} cells, its header {len(header)}")
    return [{key: _parse_value(value) for key, value in zip(header, row)} for row in rows]


def reference_sources(path: str | Path) -> list[str]:
    """The text after ``# source:`` on the comment lines of a reference CSV, in order."""
    found = (re.match(r"\s*#\s*source:(.*)", line, re.IGNORECASE)
             for line in Path(path).read_text(encoding="utf-8").splitlines())
    return [match[1].strip() for match in found if match]
