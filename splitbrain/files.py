"""Writing files so that a crash never leaves half of one: the one atomic writer.

Every file the package writes that a later run reads (checkpoints, records, stage files, the
README's generated sections) goes through :func:`atomic_write`: the bytes go to a temporary file
in the same directory, are flushed to the disk (fsync), and only then replace ``path``
(``os.replace`` is atomic on POSIX and Windows). At every moment either the old file or the
complete new one exists.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(stream)`` on a temporary binary file beside ``path``, fsync it, then move it
    onto ``path``. If ``write`` raises, the temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of ``text`` as UTF-8."""
    return atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))
