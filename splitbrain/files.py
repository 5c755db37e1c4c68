"""Writing files so that a crash never leaves half of one: the one atomic writer.

Every file the package writes that a later run reads (checkpoints, records, stage files, the
README's generated sections) goes through :func:`atomic_write`, so at every moment either the old
file or the complete new one exists.
"""
from __future__ import annotations

import glob
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(stream)`` on a temporary binary file beside ``path`` (named after this process),
    fsync it, then move it onto ``path`` (``os.replace``, atomic on POSIX and Windows). If ``write``
    raises, the temporary file is removed and ``path`` is untouched; a killed writer's temporary
    file is removed by the next write of the same path."""
    path = Path(path)
    temp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(path)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
        os.chmod(temp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException as error:
        if temp is not None and os.path.exists(temp):
            os.unlink(temp)
        if isinstance(error, OSError) and error.errno is not None:  # disk full, permissions: one line naming both
            kept = "; the file there was left as it was" if path.exists() else ""
            raise OSError(error.errno, f"could not write {path}: {os.strerror(error.errno)}{kept}") from None
        raise
    return path


def remove_leftovers(path: Path) -> list[Path]:
    """Remove the temporary files that writers of ``path`` killed mid-write left beside it (those
    whose process no longer runs); returns what was removed."""
    removed = []
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[^.]+\.tmp")  # .NAME.PID.RANDOM.tmp, nothing else
    for temp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        match = pattern.fullmatch(temp.name)
        if match and not _running(int(match.group(1))):
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
        handle, probe = tempfile.mkstemp(dir=path, prefix=".write-check.", suffix=".tmp")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise ValueError(f"{option} {path} cannot be written: {error.strerror or error}") from None
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of ``text`` as UTF-8."""
    return atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))
