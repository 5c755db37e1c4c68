"""Datasets and loaders: every dataset yields ``(image, label)``, image uint8 RGB (3, S, S) in [0, 255].

Loaders only decode, crop and flip (no float conversion, no normalisation); colour conversion and
quantization happen later, batched, on the training device (``splitbrain.targets``).

Datasets (``build_dataset(name, ...)``):

``"embedded"``
    Crops of ten colour photographs shipped in the scikit-image and scikit-learn wheels
    (:data:`EMBEDDED_PHOTOS`), labelled by photograph. Each is cut once across its longer side
    in original pixels: the first two thirds are ``"train"``, the last third ``"test"``.
``"stl10"``
    STL-10 (96x96; ``"unlabeled"`` for pretraining, ``"train"``/``"test"`` for evaluation),
    read from torchvision's ``stl10_binary`` folder.
``"cifar10"``
    CIFAR-10 (32x32, ``"train"``/``"test"``) through ``torchvision.datasets.CIFAR10``.
``"folder"``
    Any ImageFolder tree (``root/<class>/<image>``), listed by
    :func:`~splitbrain.imagefolder.scan_image_folder` and cut into deterministic,
    class-stratified, disjoint parts by :func:`split_indices`. Each image has a key
    (:func:`~splitbrain.imagefolder.image_key`), so evaluations can refuse images a checkpoint
    was pretrained on (:mod:`splitbrain.leaks`).

Nothing is downloaded unless ``download=True``; a missing dataset raises
:class:`MissingDatasetError`, whose message says where it looked and how to fetch it.
"""
from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from ._checks import check_int, check_number, check_one_of, check_positive_int
from .imagefolder import BadImageError, _named, _report_scan, image_key, inspect_images, scan_image_folder
from .images import decode_rgb
from .vocabulary import BAD_IMAGE_POLICIES, DATASET_NAMES

DATASET_SPLITS: dict[str, tuple[str, ...]] = {
    "embedded": ("train", "test"),
    "stl10": ("unlabeled", "train", "test"),
    "cifar10": ("train", "test"),
    "folder": ("all", "pretrain", "probe_train", "val"),
}
"""The valid ``split`` values of each dataset."""

EVALUATION_SPLITS = ("test", "val")
"""Splits that are not augmented by default; every other split is (``augment=None``)."""


@dataclass(frozen=True)
class StandardSplits:
    """Which split plays which role in an experiment: pretraining, probe training, evaluation."""

    pretrain: str
    probe_train: str
    evaluate: str


STANDARD_SPLITS: dict[str, StandardSplits] = {
    "embedded": StandardSplits(pretrain="train", probe_train="train", evaluate="test"),
    "stl10": StandardSplits(pretrain="unlabeled", probe_train="train", evaluate="test"),
    "cifar10": StandardSplits(pretrain="train", probe_train="train", evaluate="test"),
    "folder": StandardSplits(pretrain="pretrain", probe_train="probe_train", evaluate="val"),
}

FOLDER_FRACTIONS: dict[str, float] = {"pretrain": 0.6, "probe_train": 0.2, "val": 0.2}
"""Default shares of an ImageFolder tree per part (class-stratified, see :func:`split_indices`)."""

EMBEDDED_PHOTOS: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina",
                                    "immunohistochemistry", "motorcycle", "china", "flower")
"""The embedded photographs, in label order: the first eight from ``skimage.data`` (``motorcycle``
is the left view of ``stereo_motorcycle``), ``china`` and ``flower`` from
``sklearn.datasets.load_sample_image``; only real colour photographs inside the installed wheels."""

EMBEDDED_HELD_OUT_FRACTION = 1 / 3
"""Share of each photograph's longer side that forms the held-out ``"test"`` region."""

EMBEDDED_DEFAULT_LENGTH = {"train": 1000, "test": 500}
"""Crops per epoch when ``length`` is not given (100 and 50 per photograph)."""

STL10_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
_STL10_FOLDER = "stl10_binary"
_STL10_FILES = {
    "unlabeled": ("unlabeled_X.bin", None),
    "train": ("train_X.bin", "train_y.bin"),
    "test": ("test_X.bin", "test_y.bin"),
}
_STL10_IMAGE_BYTES = 3 * 96 * 96
_CIFAR10_FOLDER = "cifar-10-batches-py"
_CIFAR10_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)) + ("batches.meta",),
    "test": ("test_batch", "batches.meta"),
}
DOWNLOAD_SIZES = {"stl10": "2.5 GB", "cifar10": "170 MB"}
"""What torchvision downloads for each dataset it can fetch (``download=True``)."""


class MissingDatasetError(FileNotFoundError):
    """A dataset's files are not where the loader looked; the message says how to fetch them."""


def default_root() -> str:
    """Where datasets live when ``root`` is not given: ``$SPLITBRAIN_DATA`` or ``~/.cache/splitbrain``."""
    return os.environ.get("SPLITBRAIN_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "splitbrain")


def dataset_present(name: str, root: str | os.PathLike | None = None) -> bool:
    """True when every split's files of ``name`` (a dataset of :data:`DOWNLOAD_SIZES`) are in
    ``root`` (default :func:`default_root`); reads nothing but the folder listing."""
    check_one_of(name, "name", DOWNLOAD_SIZES)
    folder, files = (_STL10_FOLDER, _STL10_FILES) if name == "stl10" else (_CIFAR10_FOLDER, _CIFAR10_FILES)
    folder = os.path.join(root or default_root(), folder)
    return all(os.path.isfile(os.path.join(folder, f)) for split in files.values() for f in split if f)


# --------------------------------------------------------------------------------------------
# Deterministic, class-stratified splits


def split_indices(n_or_labels: int | Sequence[int] | np.ndarray, fractions: Mapping[str, float], seed: int = 0,
                  max_counts: int | Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    """Split items into disjoint named parts, class-stratified and seeded.

    ``n_or_labels`` is an item count ``n`` (plain random split of ``range(n)``) or a 1-D sequence
    of integer class labels. The items of every class are shuffled with
    ``numpy.random.default_rng(seed)``; the parts (``fractions``: name -> share in [0, 1], summing
    to at most 1, the rest unused) take consecutive runs of that order, ``fraction * class_size``
    items each, rounded by largest remainder with ties broken at random.

    Within a part, item ``r`` of ``m`` of a class sits at position ``(r + 0.5) / m``, so any prefix
    is class-stratified too; ``max_counts`` (an int for every part, or name -> cap) keeps such a
    prefix. Returns part name -> int64 array of item indices.
    """
    if isinstance(n_or_labels, (int, np.integer)) and not isinstance(n_or_labels, bool):
        labels = np.zeros(check_int(n_or_labels, "n_or_labels"), dtype=np.int64)
    else:
        labels = np.asarray(n_or_labels)
        if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
            raise ValueError(f"n_or_labels must be an int or a 1-D sequence of integer labels, "
                             f"got array of shape {labels.shape} and dtype {labels.dtype}")
    names = list(fractions)
    if not names:
        raise ValueError("fractions must name at least one part, got an empty mapping")
    shares = np.array([float(fractions[k]) for k in names])
    if not np.all(np.isfinite(shares)) or np.any(shares < 0):
        raise ValueError(f"fractions must be finite and >= 0, got {dict(fractions)}")
    if shares.sum() > 1 + 1e-9:
        raise ValueError(f"fractions must sum to at most 1, got {dict(fractions)} (sum {shares.sum():g})")
    caps = _part_caps(names, max_counts)

    rng = np.random.default_rng(seed)
    # Every part starts with an empty run, so a part of no items (n = 0) concatenates too.
    members: list[list[np.ndarray]] = [[np.zeros(0, dtype=np.int64)] for _ in names]
    positions: list[list[np.ndarray]] = [[np.zeros(0)] for _ in names]
    for label in np.unique(labels):
        items = rng.permutation(np.flatnonzero(labels == label))
        counts = _largest_remainder(shares, len(items), rng)
        for part, chosen in enumerate(np.split(items, np.cumsum(counts))[:-1]):  # the last piece is unused
            members[part].append(chosen)
            positions[part].append((np.arange(len(chosen)) + 0.5) / max(len(chosen), 1))

    parts = {}
    for name, chosen, places in zip(names, members, positions):
        idx = np.concatenate(chosen)
        idx = idx[np.lexsort((labels[idx], np.concatenate(places)))]
        parts[name] = idx[: caps.get(name)].astype(np.int64)
    return parts


def _part_caps(names: list[str], max_counts: int | Mapping[str, int] | None) -> dict[str, int]:
    if max_counts is None:
        return {}
    if isinstance(max_counts, Mapping):
        unknown = set(max_counts) - set(names)
        if unknown:
            raise ValueError(f"max_counts names unknown parts {sorted(unknown)}; parts are {names}")
        caps = dict(max_counts)
    else:
        caps = {name: max_counts for name in names}
    for name, cap in caps.items():
        check_positive_int(cap, f"max_counts[{name!r}]")
    return caps


def _largest_remainder(shares: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Integer counts close to ``shares * total`` summing to ``floor(sum(shares) * total)``."""
    targets = shares * total
    counts = np.floor(targets + 1e-9).astype(np.int64)
    used = min(total, int(math.floor(shares.sum() * total + 1e-9)))
    extra = used - int(counts.sum())
    if extra > 0:
        order = np.lexsort((rng.random(len(shares)), -(targets - counts)))
        counts[order[:extra]] += 1
    return counts


# --------------------------------------------------------------------------------------------
# Per-image transforms (uint8 in, uint8 out)


def image_transform(image_size: int, augment: bool, resize: int | None = None) -> Callable:
    """The crop/flip pipeline: uint8 (3, H, W) -> uint8 (3, S, S), S = ``image_size``.

    Resize (antialiased) so the shorter side is ``resize`` (default ``image_size``), then a random
    crop and horizontal flip when ``augment``, else a centre crop; ``resize=256, image_size=180`` is
    the paper's ImageNet recipe. Randomness comes from torch's global generator.
    """
    check_positive_int(image_size, "image_size")
    resize = image_size if resize is None else resize
    check_positive_int(resize, "resize")
    if resize < image_size:
        raise ValueError(f"resize must be >= image_size so a crop fits, got resize={resize}, image_size={image_size}")
    crop = [v2.RandomCrop(image_size), v2.RandomHorizontalFlip()] if augment else [v2.CenterCrop(image_size)]
    return v2.Compose([v2.Resize(resize, antialias=True), *crop])


# --------------------------------------------------------------------------------------------
# Image stores: index -> uint8 tensor (3, H, W), picklable for DataLoader workers


class _STL10Store:
    """STL-10's ``*_X.bin``: uint8 images stored as (N, 3, W, H), i.e. column-major per channel.

    Memory-mapped and opened lazily in each process, so the 2.6 GB unlabeled file is neither
    read into memory nor copied to workers.
    """

    def __init__(self, path: str):
        self.path = path
        self.count = os.path.getsize(path) // _STL10_IMAGE_BYTES
        self._array: np.ndarray | None = None

    def __getitem__(self, index: int) -> torch.Tensor:
        if self._array is None:
            self._array = np.memmap(self.path, dtype=np.uint8, mode="r", shape=(self.count, 3, 96, 96))
        return torch.from_numpy(np.ascontiguousarray(self._array[index].transpose(0, 2, 1)))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None}


class _ArrayStore:
    """An in-memory uint8 array of shape (N, H, W, 3)."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.array[index].transpose(2, 0, 1)))


class _FileStore:
    """Image files decoded with PIL and converted to RGB (:func:`decode_rgb`)."""

    def __init__(self, paths: Sequence[str]):
        self.paths = list(paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return decode_rgb(self.paths[index])


class ImageDataset(Dataset):
    """``(image, label)`` pairs from stored images: image uint8 (3, S, S), label int.

    ``labels`` is the int64 label of every item (-1 for unlabeled items); ``name``, ``split``,
    ``image_size``, ``augment``, ``seed`` and ``root`` are what :func:`build_dataset` was asked for.
    An image folder's items also have ``item_names`` (paths relative to ``root``) and
    ``item_keys`` (int64 (N,), :func:`image_key` of each file); other datasets have None.
    ``labels``, ``item_keys`` and ``item_names`` given here are the store's, indexed by ``indices``.
    """

    def __init__(self, store, labels: np.ndarray, indices: np.ndarray, classes: Sequence[str], transform: Callable,
                 name: str, split: str, image_size: int, augment: bool, *, seed: int = 0, root: str | None = None,
                 item_keys: np.ndarray | None = None, item_names: Sequence[str] | None = None):
        self.store = store
        self.indices = np.asarray(indices, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)[self.indices]
        self.item_keys = None if item_keys is None else np.asarray(item_keys, dtype=np.int64)[self.indices]
        self.item_names = None if item_names is None else [item_names[i] for i in self.indices]
        self.name, self.split, self.image_size, self.augment = name, split, image_size, augment
        self.seed, self.root = seed, root
        self.classes = tuple(classes)
        self.num_classes = len(self.classes)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.store[int(self.indices[index])]
        return self.transform(image), int(self.labels[index])

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, items={len(self)}, "
                f"classes={self.num_classes}, image_size={self.image_size}, augment={self.augment})")


# --------------------------------------------------------------------------------------------
# The embedded photographs


@lru_cache(maxsize=1)
def load_embedded_photos() -> tuple[np.ndarray, ...]:
    """The embedded photographs as read-only uint8 arrays (H, W, 3), in :data:`EMBEDDED_PHOTOS` order."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    photos = []
    for name in EMBEDDED_PHOTOS:
        if name == "motorcycle":
            photo = skimage.data.stereo_motorcycle()[0]
        elif name in ("china", "flower"):
            photo = load_sample_image(f"{name}.jpg")
        else:
            photo = getattr(skimage.data, name)()
        photo = np.ascontiguousarray(photo[..., :3], dtype=np.uint8)
        photo.setflags(write=False)
        photos.append(photo)
    return tuple(photos)


def embedded_region_box(photo_shape: Sequence[int], split: str) -> tuple[int, int, int, int]:
    """The ``(top, left, height, width)`` of a split's region, in original photo pixels.

    The photo is cut once across its longer side (the width when H == W): the first
    ``1 - EMBEDDED_HELD_OUT_FRACTION`` of that side is ``"train"``, the rest ``"test"``.
    """
    check_one_of(split, "split", DATASET_SPLITS["embedded"], " for 'embedded'")
    height, width = int(photo_shape[0]), int(photo_shape[1])
    along_width = width >= height
    side = width if along_width else height
    cut = int(round(side * (1 - EMBEDDED_HELD_OUT_FRACTION)))
    start, stop = (0, cut) if split == "train" else (cut, side)
    if along_width:
        return 0, start, height, stop - start
    return start, 0, stop - start, width


@lru_cache(maxsize=8)
def _embedded_regions(split: str, image_size: int, photo_scale: float) -> tuple[torch.Tensor, ...]:
    """Each photograph's region of ``split``, resized: uint8 tensors (3, h, w), h, w >= image_size."""
    regions = []
    for photo in load_embedded_photos():
        top, left, height, width = embedded_region_box(photo.shape, split)
        region = torch.from_numpy(np.ascontiguousarray(photo[top : top + height, left : left + width]))
        scale = photo_scale * image_size / min(photo.shape[:2])
        size = [max(image_size, round(height * scale)), max(image_size, round(width * scale))]
        regions.append(TF.resize(region.permute(2, 0, 1), size, antialias=True).contiguous())
    return tuple(regions)


class EmbeddedPhotos(Dataset):
    """Square crops of the embedded photographs: ``(image uint8 (3, S, S) in [0, 255], label int in [0, 10))``.

    Every photograph is scaled so its shorter side is ``photo_scale * image_size`` (the same scale
    for both regions, so a crop shows the same amount of scene at any image_size), then its
    ``split`` region (:func:`embedded_region_box`) is cropped. Item ``i`` is a crop of photograph
    ``i % 10``. With ``augment`` (default: for "train") the position and a horizontal flip are
    random (torch's generator); without, the position is a fixed function of ``(seed, i)`` and
    nothing is flipped, so the held-out set is the same crops every time. ``length``: crops per
    epoch (default :data:`EMBEDDED_DEFAULT_LENGTH`).
    """

    def __init__(self, split: str = "train", image_size: int = 96, augment: bool | None = None,
                 length: int | None = None, seed: int = 0, photo_scale: float = 4.0):
        check_one_of(split, "split", DATASET_SPLITS["embedded"], " for 'embedded'")
        check_positive_int(image_size, "image_size")
        length = EMBEDDED_DEFAULT_LENGTH[split] if length is None else length
        check_positive_int(length, "length")
        check_number(photo_scale, "photo_scale", 1, inclusive=True)
        check_int(seed, "seed")
        self.name = "embedded"
        self.split = split
        self.image_size = image_size
        self.augment = split not in EVALUATION_SPLITS if augment is None else bool(augment)
        self.length = length
        self.seed = int(seed)
        self.photo_scale = float(photo_scale)
        self.classes = EMBEDDED_PHOTOS
        self.num_classes = len(EMBEDDED_PHOTOS)
        self.labels = np.arange(length, dtype=np.int64) % self.num_classes
        self.regions = _embedded_regions(split, image_size, self.photo_scale)

    def __len__(self) -> int:
        return self.length

    def fixed_crop(self, index: int) -> tuple[int, int, int]:
        """``(photo, top, left)`` of item ``index``'s crop inside its region when not augmenting."""
        photo = index % self.num_classes
        _, height, width = self.regions[photo].shape
        rng = np.random.default_rng([self.seed, index])
        top = int(rng.integers(0, height - self.image_size + 1))
        left = int(rng.integers(0, width - self.image_size + 1))
        return photo, top, left

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} crops")
        size = self.image_size
        if self.augment:
            photo = index % self.num_classes
            _, height, width = self.regions[photo].shape
            top = int(torch.randint(height - size + 1, ()))
            left = int(torch.randint(width - size + 1, ()))
        else:
            photo, top, left = self.fixed_crop(index)
        crop = self.regions[photo][:, top : top + size, left : left + size].clone()
        if self.augment and bool(torch.rand(()) < 0.5):
            crop = crop.flip(-1)
        return crop, photo

    def __repr__(self) -> str:
        return (f"EmbeddedPhotos(split={self.split!r}, items={self.length}, classes={self.num_classes}, "
                f"image_size={self.image_size}, augment={self.augment}, seed={self.seed})")


# --------------------------------------------------------------------------------------------
# STL-10, CIFAR-10, ImageFolder


def _fetch_command(call: str) -> str:
    return f'python -c "import torchvision; torchvision.datasets.{call}"'


def _load_stl10(root: str, split: str, download: bool):
    folder = os.path.join(root, _STL10_FOLDER)
    command = _fetch_command(f"STL10({root!r}, split='test', download=True)")
    files = [os.path.join(folder, f) for f in _STL10_FILES[split] if f is not None]
    if download and not all(os.path.isfile(f) for f in files):
        import torchvision

        # Fetches and extracts the whole archive (all splits), then md5-checks every file.
        torchvision.datasets.STL10(root, split="test", download=True)
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise MissingDatasetError(f"STL-10 split {split!r} not found: looked for {missing[0]} (in {folder}). "
                                  f"Fetch it (a 2.5 GB archive, about 5 GB on disk while extracting) with\n"
                                  f"    {command}\nor pass download=True.")
    store = _STL10Store(files[0])
    size = os.path.getsize(files[0])
    if size == 0 or size % _STL10_IMAGE_BYTES:
        raise MissingDatasetError(f"{files[0]} is not a complete STL-10 image file ({size} bytes is not a positive "
                                  f"multiple of {_STL10_IMAGE_BYTES}); delete {folder} and fetch it again with\n"
                                  f"    {command}")
    if len(files) == 2:
        labels = np.fromfile(files[1], dtype=np.uint8).astype(np.int64) - 1
        if len(labels) != store.count or labels.min() < 0 or labels.max() >= len(STL10_CLASSES):
            raise MissingDatasetError(f"{files[1]} does not match {files[0]} ({len(labels)} labels in 1..10 expected "
                                      f"for {store.count} images); delete {folder} and fetch it again with\n"
                                      f"    {command}")
    else:
        labels = np.full(store.count, -1, dtype=np.int64)
    return store, labels, STL10_CLASSES


def _load_cifar10(root: str, split: str, download: bool):
    import torchvision

    folder = os.path.join(root, _CIFAR10_FOLDER)
    command = _fetch_command(f"CIFAR10({root!r}, train=True, download=True)")
    missing = [os.path.join(folder, f) for f in _CIFAR10_FILES[split] if not os.path.isfile(os.path.join(folder, f))]
    if missing and not download:
        raise MissingDatasetError(f"CIFAR-10 split {split!r} not found: looked for {missing[0]} (in {folder}). "
                                  f"Fetch it (170 MB) with\n    {command}\nor pass download=True.")
    try:
        cifar = torchvision.datasets.CIFAR10(root, train=split == "train", download=download)
    except RuntimeError as error:  # torchvision's md5 check failed
        raise MissingDatasetError(f"CIFAR-10 in {folder} failed torchvision's integrity check ({error}); delete it "
                                  f"and fetch it again with\n    {command}") from error
    return _ArrayStore(cifar.data), np.asarray(cifar.targets, dtype=np.int64), tuple(cifar.classes)


def _load_folder(root: str, bad_images: str = "skip"):
    """The decodable images of an ImageFolder tree: (store of their files, labels int64 (N,),
    classes, keys int64 (N,) (:func:`image_key`), names (paths relative to the root))."""
    if not os.path.isdir(root):
        raise MissingDatasetError(f"image folder not found: looked for the directory {root}; expected an ImageFolder "
                                  f"tree root/<class>/<image> (e.g. the extracted CIFAR-10 JPEGs' train/ folder)")
    scan = scan_image_folder(root)
    if not scan.classes:
        raise MissingDatasetError(f"no images found under {root}: it holds no class folder; expected an ImageFolder "
                                  f"tree root/<class>/<image>")
    empty = sorted(set(scan.classes) - {scan.classes[label] for _, label in scan.files})
    if empty:
        raise MissingDatasetError(f"no images found under {root} in the class folder(s) {', '.join(empty)}; expected "
                                  f"an ImageFolder tree root/<class>/<image> with image files in every class folder")
    inspected = inspect_images([path for path, _ in scan.files])
    bad = [(path, why) for (path, _), (why, _) in zip(scan.files, inspected) if why]
    if bad and bad_images == "fail":
        raise BadImageError(f"{len(bad)} image file(s) under {root} do not decode: {_named(root, bad)}; remove them, "
                            f"or let them be skipped (bad_images='skip')")
    _report_scan(root, scan, bad, len(scan.files))
    good = [(path, label, digest) for (path, label), (why, digest) in zip(scan.files, inspected) if not why]
    if not good:
        raise MissingDatasetError(f"no image under {root} decodes; expected an ImageFolder tree root/<class>/<image>")
    paths, labels, digests = zip(*good)
    prefix = len(os.path.join(root, ""))  # every path is root joined with its relative path
    names = [path[prefix:] for path in paths]
    keys = np.array([image_key(name, digest) for name, digest in zip(names, digests)], dtype=np.int64)
    return _FileStore(paths), np.array(labels, dtype=np.int64), scan.classes, keys, names


def build_dataset(name: str, root: str | os.PathLike | None = None, split: str = "train", image_size: int = 96,
                  augment: bool | None = None, download: bool = False, length: int | None = None, seed: int = 0,
                  resize: int | None = None, fractions: Mapping[str, float] | None = None, in_memory: bool = False,
                  bad_images: str = "skip") -> EmbeddedPhotos | ImageDataset:
    """A dataset of ``(image uint8 (3, S, S) in [0, 255], label int)`` pairs, S = image_size, with
    ``num_classes``, ``classes`` and ``labels`` attributes (``name``: see the module docstring).

    Args:
        root: for "stl10"/"cifar10" the folder holding torchvision's ``stl10_binary``/
            ``cifar-10-batches-py`` (default :func:`default_root`), for "folder" the ImageFolder
            tree itself (required); ignored by "embedded".
        split: one of ``DATASET_SPLITS[name]``. For "folder", "all" is the whole tree and the
            others its parts by :func:`split_indices` (``fractions``, default
            :data:`FOLDER_FRACTIONS`, and ``seed``). ``STANDARD_SPLITS[name]`` gives the roles.
        augment: random crop + horizontal flip, or centre crop; default True except for "test" and "val".
        length: "embedded": crops per epoch. Others: keep at most this many images, a seeded
            class-stratified subset (for "folder", of the chosen part).
        seed: of the embedded crop positions, the folder parts and the subsets.
        resize: shorter side before cropping (see :func:`image_transform`); not used by "embedded".
        in_memory: decode the split's images once into memory instead of on every access (same
            items). Ignored by "embedded" and by the memory-mapped STL-10 files.
        bad_images: "folder" only, for files that do not decode (:data:`BAD_IMAGE_POLICIES`):
            "skip" them (said in one line) or "fail".
    Raises:
        ValueError: unknown name or split, or bad sizes.
        MissingDatasetError: the files are not there (the message says how to fetch them).
    """
    check_one_of(name, "name", DATASET_NAMES)
    splits = DATASET_SPLITS[name]
    if name == "folder" and fractions is not None:
        splits = ("all",) + tuple(fractions)
    check_one_of(split, "split", splits, f" for dataset {name!r}")
    check_positive_int(image_size, "image_size")
    if length is not None:
        check_positive_int(length, "length")
    if name == "embedded":
        return EmbeddedPhotos(split, image_size=image_size, augment=augment, length=length, seed=seed)

    if name == "folder" and root is None:
        raise ValueError("root is required for name='folder': the ImageFolder tree root/<class>/<image>")
    root = os.path.abspath(os.path.expanduser(os.fspath(default_root() if root is None else root)))
    if name == "folder":
        check_one_of(bad_images, "bad_images", BAD_IMAGE_POLICIES)
        store, labels, classes, keys, names = _load_folder(root, bad_images)
    else:
        loader = _load_stl10 if name == "stl10" else _load_cifar10
        (store, labels, classes), keys, names = loader(root, split, download), None, None
    fractions = FOLDER_FRACTIONS if fractions is None else fractions
    parts = fractions if name == "folder" and split != "all" else {split: 1.0}
    indices = np.sort(split_indices(labels, parts, seed)[split][:length])
    augment = split not in EVALUATION_SPLITS if augment is None else bool(augment)
    if in_memory and isinstance(store, _FileStore):
        store = {int(i): store[int(i)] for i in indices}  # index -> decoded uint8 (3, H, W) tensor
    return ImageDataset(store, labels, indices, classes, image_transform(image_size, augment, resize),
                        name=name, split=split, image_size=image_size, augment=augment, seed=seed, root=root,
                        item_keys=keys, item_names=names)


# --------------------------------------------------------------------------------------------
# Loaders


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed numpy and ``random`` from the worker's torch seed, which
    differs per worker (otherwise every forked worker starts from the same numpy/random state)."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def build_loader(dataset: Dataset, batch_size: int, train: bool, num_workers: int = 0, seed: int = 0,
                 distributed: bool = False, drop_last: bool | None = None) -> DataLoader:
    """A DataLoader yielding ``(images uint8 (N, 3, S, S), labels int64 (N,))`` batches.

    When ``train``: shuffled (seeded by ``seed``), the last partial batch dropped unless
    ``drop_last`` says otherwise. With ``distributed`` (an initialised process group) each rank
    reads its shard through a ``DistributedSampler`` seeded by ``seed``: call
    ``loader.sampler.set_epoch(epoch)`` every epoch, or every epoch repeats the first one's order.
    """
    check_positive_int(batch_size, "batch_size")
    check_int(num_workers, "num_workers")
    drop_last = bool(train) if drop_last is None else bool(drop_last)
    generator = torch.Generator().manual_seed(seed)
    sampler = None
    if distributed:
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            raise ValueError("distributed=True needs an initialised torch.distributed process group "
                             "(launch with torchrun and call torch.distributed.init_process_group first)")
        sampler = DistributedSampler(dataset, shuffle=bool(train), seed=seed)
    elif drop_last and len(dataset) < batch_size:
        raise ValueError(f"batch_size={batch_size} exceeds the dataset's {len(dataset)} items with drop_last=True: "
                         f"the loader would yield no batch; lower batch_size or pass drop_last=False")
    return DataLoader(dataset, batch_size=batch_size, shuffle=bool(train) and sampler is None, sampler=sampler,
                      num_workers=num_workers, pin_memory=torch.cuda.is_available(), drop_last=drop_last,
                      generator=generator, worker_init_fn=seed_worker, persistent_workers=num_workers > 0)
