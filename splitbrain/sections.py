"""Generated sections of a text file (the README): what stands between a pair of markers
``<!-- kind:name -->`` and ``<!-- /kind:name -->`` is replaced as a whole, atomically, so a
section can be regenerated from its records and compared with what the file holds.

Kinds in use: "report" (a grid's results, ``splitbrain report``), "search" (a grid's fine-tuning
search trials), "margin" (the time-to-margin trials) and "budget" (``benchmarks/budget.py``).
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from .files import atomic_write_text


def _markers(name: str, kind: str) -> tuple[str, str]:
    return f"<!-- {kind}:{name} -->", f"<!-- /{kind}:{name} -->"


def _split(text: str, name: str, kind: str) -> tuple[str, str, str]:
    """(what stands before the start marker, between the markers, after the end marker); ValueError
    if either marker is missing or repeated, or the end comes before the start."""
    start, end = _markers(name, kind)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"text must hold {start!r} once, followed by {end!r} once")
    head, rest = text.split(start)
    inside, tail = rest.split(end)
    return head, inside, tail


def section_names(text: str, kind: str = "report") -> list[str]:
    """The names of the sections of ``kind`` in ``text``, in order."""
    return re.findall(rf"<!-- {re.escape(kind)}:([\w.-]+) -->", text)


def replace_section(text: str, name: str, section: str, kind: str = "report") -> str:
    """``text`` with the part between ``name``'s markers of ``kind`` replaced by ``section``, its
    lines ended as ``text``'s are ("\\r\\n" when ``text`` uses them).

    Raises ValueError if the markers are missing, repeated or out of order, or if ``section``
    holds one of them (the file could not be rewritten next time).
    """
    head, _, tail = _split(text, name, kind)
    start, end = _markers(name, kind)
    if start in section or end in section:
        raise ValueError(f"section must not hold the markers {(start, end)!r}")
    newline = "\r\n" if "\r\n" in text else "\n"
    body = section.rstrip().replace("\r\n", "\n").replace("\n", newline)
    return f"{head}{start}{newline}{body}{newline}{end}{tail}"


def section_of(text: str, name: str, kind: str = "report") -> str:
    """What stands between ``name``'s markers of ``kind`` in ``text`` (without the markers' newlines)."""
    return _split(text, name, kind)[1].strip("\r\n")


def write_section(file: str | Path, name: str, section: str, kind: str = "report") -> Path:
    """Replace what stands between ``file``'s ``<!-- kind:name -->`` markers with ``section``,
    atomically; a link is followed (its target is rewritten, the link kept). A missing file or
    markers is a ValueError naming the file; returns the path written."""
    target = Path(os.path.realpath(file))
    try:
        if not stat.S_ISREG(os.stat(target).st_mode):  # a FIFO would block the read
            raise ValueError("not a regular file")
        with open(target, encoding="utf-8", newline="") as stream:  # newline="": "\r\n" stays as it is
            text = stream.read()
        updated = replace_section(text, name, section, kind=kind)
    except (OSError, ValueError) as error:
        raise ValueError(f"{file}: {error}") from None
    return atomic_write_text(target, updated)
