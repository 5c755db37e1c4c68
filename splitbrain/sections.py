"""Generated sections of a text file (the README): what stands between a pair of markers
``<!-- kind:name -->`` and ``<!-- /kind:name -->`` is replaced as a whole, atomically, so a
section can be regenerated from its records and compared with what the file holds.

Kinds in use: "report" (a grid's results, ``splitbrain report``), "search" (a grid's fine-tuning
search trials), "margin" (the time-to-margin trials) and "budget" (``benchmarks/budget.py``).
"""
from __future__ import annotations

import re
from pathlib import Path

from .files import atomic_write_text


def _markers(name: str, kind: str) -> tuple[str, str]:
    return f"<!-- {kind}:{name} -->", f"<!-- /{kind}:{name} -->"


def section_names(text: str, kind: str = "report") -> list[str]:
    """The names of the sections of ``kind`` in ``text``, in order."""
    return re.findall(rf"<!-- {re.escape(kind)}:([\w.-]+) -->", text)


def replace_section(text: str, name: str, section: str, kind: str = "report") -> str:
    """``text`` with the part between ``name``'s markers of ``kind`` replaced by ``section``.

    Raises ValueError if the markers are missing, repeated or out of order.
    """
    start, end = _markers(name, kind)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"text must hold {start!r} once, followed by {end!r} once")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{section.rstrip()}\n{end}{tail}"


def section_of(text: str, name: str, kind: str = "report") -> str:
    """What stands between ``name``'s markers of ``kind`` in ``text`` (without the markers' newlines)."""
    start, end = _markers(name, kind)
    if text.count(start) != 1 or text.count(end) != 1:
        raise ValueError(f"text must hold {start!r} and {end!r} once each")
    return text.split(start)[1].split(end)[0].strip("\n")


def write_section(file: str | Path, name: str, section: str, kind: str = "report") -> Path:
    """Replace what stands between ``file``'s ``<!-- kind:name -->`` markers with ``section``,
    atomically; a missing file or markers is a ValueError naming the file."""
    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8")
        updated = replace_section(text, name, section, kind=kind)
    except (OSError, ValueError) as error:
        raise ValueError(f"{file}: {error}") from None
    return atomic_write_text(path, updated)
