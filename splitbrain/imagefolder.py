"""An ImageFolder tree scanned once per real file: classes are its sub-folders that are not hidden,
links are followed without loops, no file sits in two classes, FIFOs, sockets and devices are
never opened; each image file is inspected once per process, keyed by its name and bytes
(:func:`image_key`), and what is left out is said in one line on stderr."""
from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

from .images import DECODED_MODES


class BadImageError(ValueError):
    """An image file does not decode (and ``bad_images="fail"`` was asked for)."""


class FolderLayoutError(ValueError):
    """An image folder would give one file two labels (a link from one class folder into another)."""


@lru_cache(maxsize=1)
def image_extensions() -> frozenset[str]:
    """Every file extension PIL knows an image format by (``PIL.Image.registered_extensions()``),
    lower case with its dot; an image folder reads every file that has one of them."""
    from PIL import Image

    return frozenset(extension.lower() for extension in Image.registered_extensions())


_SPECIAL_KINDS = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                  (stat.S_ISBLK, "block device"))


def _special_kind(mode: int) -> str:
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), "special file")


@dataclass
class FolderScan:
    """What :func:`scan_image_folder` found under an ImageFolder root.

    ``files``: (path, label) of every file with an image extension, each real file once, in
    torchvision ImageFolder's order (classes sorted; within a class, folders by path, then names).
    ``ignored``: relative paths of the files left out because their extension is not an image's,
    or because they lie outside the class folders. ``special``: "KIND relative path" of the FIFOs,
    sockets and devices left out (never opened). ``repeats``: names of files or folders already
    listed under another name of their class (links, hard links), each counted once.
    """

    classes: tuple[str, ...]
    files: list[tuple[str, int]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    special: list[str] = field(default_factory=list)
    repeats: int = 0


def _stat(path: str) -> os.stat_result | None:
    """``os.stat`` through links; None for a link to nothing or an entry that cannot be read."""
    try:
        return os.stat(path)
    except OSError:
        return None


_Entry = tuple[str, os.stat_result | None, bool]  # (path, its stat through links or None, whether it is a link)


def _class_listing(class_dir: str, root: str, scan: FolderScan) -> list[_Entry]:
    """Every entry of a class folder and its subfolders (links followed, hidden folders left out)
    that is a file or a link to nothing, in ImageFolder's order. Each folder is walked once, under
    its own path when it has one inside the class (links are followed after every plain folder):
    a link loop, or a second name for a folder, counts in ``scan.repeats``; specials go to ``scan.special``."""
    visited: set[tuple[int, int]] = set()
    listing: dict[str, list[_Entry]] = {}
    pending, through_links = [class_dir], []
    while pending or through_links:
        folder = pending.pop() if pending else through_links.pop(0)
        info = _stat(folder)
        if info is None:
            continue
        if (info.st_dev, info.st_ino) in visited:
            scan.repeats += 1
            continue
        visited.add((info.st_dev, info.st_ino))
        entries = listing.setdefault(folder, [])
        with os.scandir(folder) as found:
            names = sorted(entry.name for entry in found)
        subfolders = []
        for name in names:
            path = os.path.join(folder, name)
            info, link = _stat(path), os.path.islink(path)
            if info is not None and stat.S_ISDIR(info.st_mode):
                if not name.startswith("."):
                    (through_links if link else subfolders).append(path)
            elif info is None or stat.S_ISREG(info.st_mode):
                entries.append((path, info, link))
            else:
                scan.special.append(f"{_special_kind(info.st_mode)} {os.path.relpath(path, root)}")
        pending += reversed(subfolders)  # depth first, in name order
    return [entry for folder in sorted(listing) for entry in listing[folder]]


def scan_image_folder(root: str) -> FolderScan:
    """The image files of an ImageFolder tree ``root/<class>/.../<image>``, without reading any.

    Classes are the sub-folders of ``root`` whose names do not start with "." (so tool folders such
    as ``.ipynb_checkpoints`` are not classes). Links are followed, each folder walked once per
    class and each real file (by device and inode) listed once, under a name that is not a link
    when it has one; hidden sub-folders are left out. FIFOs, sockets and devices are listed in
    ``special``, never opened. Raises FolderLayoutError when one file would sit in two classes (a
    link from one class folder into another).
    """
    extensions = image_extensions()
    with os.scandir(root) as found:
        names = sorted(entry.name for entry in found)
    classes, outside = [], []
    scan = FolderScan(classes=())
    for name in names:
        info = _stat(os.path.join(root, name))
        if info is not None and stat.S_ISDIR(info.st_mode):
            if not name.startswith("."):
                classes.append(name)
        elif info is not None and not stat.S_ISREG(info.st_mode):
            scan.special.append(f"{_special_kind(info.st_mode)} {name}")
        else:
            outside.append(name)
    scan.classes = tuple(classes)
    owners: dict[tuple[int, int], tuple[int, str]] = {}  # a real file -> (its class, the name it is listed under)
    for label, name in enumerate(classes):
        images = []
        for path, info, link in _class_listing(os.path.join(root, name), root, scan):
            if os.path.splitext(path)[1].lower() in extensions:
                images.append((path, info, link))
            else:
                scan.ignored.append(os.path.relpath(path, root))
        for path, info, _ in sorted(images, key=lambda entry: entry[2]):  # plain names before links
            if info is not None:
                first = owners.setdefault((info.st_dev, info.st_ino), (label, path))
                _check_one_class(first, (label, path), classes, root)
        for path, info, _ in images:
            if info is None or owners[info.st_dev, info.st_ino][1] == path:
                scan.files.append((path, label))
            else:
                scan.repeats += 1
    scan.ignored += outside
    return scan


def _check_one_class(first: tuple[int, str], again: tuple[int, str], classes: Sequence[str], root: str) -> None:
    """Raise FolderLayoutError when a file listed in one class is reached again from another."""
    if first[0] != again[0]:
        one, other = (os.path.relpath(path, root) for _, path in (first, again))
        raise FolderLayoutError(f"image folder {root}: {one} and {other} are the same file, which would be labelled "
                                f"both {classes[first[0]]!r} and {classes[again[0]]!r}; remove the link "
                                f"(each image must sit in one class folder)")


_INSPECTED: dict[str, tuple[int, int, str | None, bytes]] = {}  # path -> (size, mtime_ns, why not, digest)
_REPORTED: set[tuple[str, str]] = set()  # (root, summary line) already said


def _inspect(path: str) -> tuple[str | None, bytes]:
    """(None when the regular file ``path`` decodes as an image in a mode :func:`rgb_pixels`
    converts, else why not in a few words; the 8-byte BLAKE2b digest of its bytes)."""
    import hashlib
    import io
    import warnings

    from PIL import Image

    try:
        # O_NONBLOCK: a file replaced by a FIFO since the scan does not hang the open
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(handle, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                return "not a regular file", b""
            content = stream.read()
    except OSError as error:
        return f"cannot be read ({error.strerror or error})", b""
    digest = hashlib.blake2b(content, digest_size=8).digest()
    try:
        with warnings.catch_warnings():  # what a file is said in one phrase, not in PIL's warnings
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(content)) as image:
                image.load()
                if image.mode not in DECODED_MODES:
                    return f"pixel mode {image.mode} is not supported", digest
        return None, digest
    except Image.UnidentifiedImageError:
        return ("not an image" if content else "empty file"), digest
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return " ".join(str(error).split()) or type(error).__name__, digest


def inspect_images(paths: Sequence[str]) -> list[tuple[str | None, bytes]]:
    """For each of ``paths``: (None when the file decodes as an image, else why it does not; the
    8-byte digest of its bytes, b"" when it cannot be read).

    Each file is read and decoded once per process (again when its size or time changes), in threads.
    """
    from concurrent.futures import ThreadPoolExecutor

    signatures = {path: _signature(path) for path in paths}
    stale = [p for p in paths if signatures[p] is not None and _INSPECTED.get(p, (None, None))[:2] != signatures[p]]
    if stale:
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            results = list(pool.map(_inspect, stale, chunksize=256))
        for path, result in zip(stale, results):
            _INSPECTED[path] = (*signatures[path], *result)
    return [("cannot be read", b"") if signatures[p] is None else _INSPECTED[p][2:] for p in paths]


def _signature(path: str) -> tuple[int, int] | None:
    info = _stat(path)
    return None if info is None else (info.st_size, info.st_mtime_ns)


def image_key(relative_path: str, digest: bytes) -> int:
    """An image file's identity: a signed 64-bit BLAKE2b hash of its path relative to the folder's
    root ("/"-separated) and of its bytes' digest. A copy of the folder elsewhere has the same keys;
    a different image under the same name, or the same bytes under another name, do not."""
    import hashlib

    name = relative_path.replace(os.sep, "/").encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.blake2b(name + b"\0" + digest, digest_size=8).digest(), "little", signed=True)


def _first_few(names: Sequence[str]) -> str:
    """"a, b, c and 4 more": the first three of ``names``, and how many others."""
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _named(root: str, bad: list[tuple[str, str]]) -> str:
    """The first few files that do not decode, each with why: "ant/x.jpg (empty file), ..."."""
    return _first_few([f"{os.path.relpath(path, root)} ({why})" for path, why in bad])


def _report_scan(root: str, scan: FolderScan, bad: list[tuple[str, str]], images: int) -> None:
    """One line on stderr (once per process) saying what under ``root`` was skipped or ignored, if anything."""
    parts = []
    if bad:
        parts.append(f"skipped {len(bad)} of {images} image files that do not decode: {_named(root, bad)}")
    if scan.special:
        parts.append(f"skipped {len(scan.special)} special file(s), never opened: {_first_few(scan.special)}")
    if scan.ignored:
        parts.append(f"ignored {len(scan.ignored)} file(s) outside the class folders or without an image "
                     f"extension PIL knows: {_first_few(scan.ignored)}")
    if scan.repeats:
        parts.append(f"counted once {scan.repeats} file or folder name(s) that lead to one already listed (links)")
    line = f"splitbrain: under {root}: " + "; ".join(parts)
    if parts and (root, line) not in _REPORTED:  # once per process, however many parts of the tree are built
        _REPORTED.add((root, line))
        print(line, file=sys.stderr, flush=True)
