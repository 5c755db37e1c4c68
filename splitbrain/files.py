"""Writing files so that a crash never leaves half of one: the one atomic writer.

Every file the package writes that a later run reads (checkpoints, records, stage files, the
README's generated sections) goes through :func:`atomic_write`, so at every moment either the old
file or the complete new one exists.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None], replace: bool = True) -> Path:
    """Call ``write(stream)`` on a temporary binary file beside ``path`` (named after this process),
    fsync it, then move it onto ``path`` (``os.replace``, atomic on POSIX and Windows). If ``write``
    raises, the temporary file is removed and ``path`` is untouched; a killed writer's temporary
    file is removed by the next write of the same path. ``replace=False``: an existing ``path``
    (even one created meanwhile) is kept and OSError (EEXIST) raised."""
    path = Path(path)
    temp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers_in(path.parent, path.name)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
        os.chmod(temp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        if replace:
            os.replace(temp, path)
        else:
            os.link(temp, path)  # fails if path exists, where os.replace would replace it
            os.unlink(temp)
    except BaseException as error:
        if temp is not None and os.path.exists(temp):
            os.unlink(temp)
        if isinstance(error, OSError) and error.errno is not None:  # disk full, permissions: one line naming both
            kept = "; the file there was left as it was" if path.exists() else ""
            raise OSError(error.errno, f"could not write {path}: {os.strerror(error.errno)}{kept}") from None
        raise
    return path


WRITE_CHECK_PREFIX = ".write-check."
"""The start of the name of :func:`check_writable_folder`'s probe file."""

_LEFTOVER = re.compile(r"\.(.+)\.(\d+)\.[^.]+\.tmp")
"""``.NAME.PID.RANDOM.tmp``: a temporary file of :func:`atomic_write` writing NAME."""


def is_leftover(name: str) -> bool:
    """True for the name of a temporary file of :func:`atomic_write` or of the writability probe."""
    return bool(_LEFTOVER.fullmatch(name)) or (name.startswith(WRITE_CHECK_PREFIX) and name.endswith(".tmp"))


def remove_leftovers_in(folder: Path, name: str | None = None) -> list[Path]:
    """Remove the temporary files of :func:`atomic_write` in ``folder`` (only those writing ``name``,
    if given) whose writer was killed mid-write and no longer runs; returns what was removed."""
    removed = []
    for temp in folder.glob(".*.tmp"):
        match = _LEFTOVER.fullmatch(temp.name)
        if match and (name is None or match.group(1) == name) and not _running(int(match.group(2))):
            temp.unlink(missing_ok=True)
            removed.append(temp)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return True


def check_writable_folder(path: str | os.PathLike, option: str) -> Path:
    """Create ``path`` if needed and make sure this process can write into it, before any work
    starts; else ValueError naming ``option`` (the command-line option, e.g. "--out") and the cause."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file; expected a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=path, prefix=WRITE_CHECK_PREFIX, suffix=".tmp")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise ValueError(f"{option} {path} cannot be written: {error.strerror or error}") from None
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of ``text`` as UTF-8."""
    return atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))
