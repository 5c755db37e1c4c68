"""One writer per folder: an advisory lock on ``<folder>/.lock``.

::

    with folder_lock("runs/smoke", "splitbrain pretrain"):
        ...  # no other splitbrain process writes into runs/smoke meanwhile

The lock is ``fcntl.flock`` on the lock file, which the kernel releases when its process ends,
however it ends: a lock file left by a killed process never blocks. The file holds the holder's
pid and what it does, for the message another process gets (``FolderInUseError``); its holder
removes it when done. A process may take the lock of a folder it already holds (nested ``with``
blocks). Where ``fcntl`` does not exist (Windows) the lock does nothing.
"""
from __future__ import annotations

import errno
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".lock"
HOLDER_WAIT_S = 0.5
"""How long to wait for a holder that has the lock but has not yet written its pid."""

_held: dict[str, int] = {}
"""Lock files this process holds (real path -> how many nested ``with`` blocks hold it)."""


class FolderInUseError(OSError):
    """Another process holds the folder's lock (the message names its pid)."""


@contextmanager
def folder_lock(folder: str | os.PathLike, purpose: str) -> Iterator[None]:
    """Hold the lock of ``folder`` (an existing folder) for the ``with`` block; ``purpose`` (e.g.
    "splitbrain pretrain") is what another process is told. FolderInUseError, naming the holder's
    pid, when another process holds it. A folder this process may not write, holding no lock
    file, is not locked: no writer of this package can be working in it."""
    path = Path(folder) / LOCK_NAME
    key = os.path.realpath(path)
    if fcntl is None or key in _held:
        _held[key] = _held.get(key, 0) + 1
        try:
            yield
        finally:
            _release_nested(key)
        return
    opened = _locked_file(path, folder)
    if opened is None:
        yield
        return
    descriptor, writable = opened
    try:
        if writable:
            _write_holder(descriptor, purpose)
        _held[key] = 1
        yield
    finally:
        _held.pop(key, None)
        if writable:
            path.unlink(missing_ok=True)  # still locked here: a process waiting for it opens a new file
        os.close(descriptor)  # releases the lock


def _release_nested(key: str) -> None:
    _held[key] -= 1
    if not _held[key]:
        del _held[key]


def _locked_file(path: Path, folder: str | os.PathLike) -> tuple[int, bool] | None:
    """(descriptor, whether it is writable) of the lock file at ``path``, locked by this process;
    None for a folder this process may not write that holds no lock file. FolderInUseError when
    another process holds it."""
    while True:
        opened = _open_lock_file(path)
        if opened is None:
            return None
        descriptor = opened[0]
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(descriptor)
            os.close(descriptor)
            raise FolderInUseError(f"{folder} is in use by another process ({holder}): wait for it to end, or give "
                                   f"another folder") from None
        if _is_file_at(descriptor, path):
            return opened
        os.close(descriptor)  # its holder removed it before this process locked it: lock the new one


def _open_lock_file(path: Path) -> tuple[int, bool] | None:
    """(descriptor, writable) of the lock file, created if missing; read-only when the folder may
    not be written; None when it may not be written and holds no lock file."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644), True
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
    try:
        return os.open(path, os.O_RDONLY), False
    except FileNotFoundError:
        return None


def _is_file_at(descriptor: int, path: Path) -> bool:
    """True when ``path`` still names the file open as ``descriptor``."""
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (here.st_dev, here.st_ino) == (opened.st_dev, opened.st_ino)


def _holder(descriptor: int) -> str:
    """"pid 123, splitbrain pretrain": what the holder wrote into the lock file."""
    deadline = time.monotonic() + HOLDER_WAIT_S
    while True:
        text = os.pread(descriptor, 4096, 0).decode("utf-8", "replace").strip()
        pid, _, purpose = text.partition(" ")
        if pid.isdigit():
            return f"pid {pid}, {purpose}" if purpose else f"pid {pid}"
        if time.monotonic() > deadline:
            return "pid unknown"
        time.sleep(0.02)


def _write_holder(descriptor: int, purpose: str) -> None:
    """Write ``"<pid> <purpose>"`` into the lock file."""
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()} {' '.join(purpose.split())}\n".encode("utf-8"), 0)
