"""Tests of splitbrain.data on the embedded photographs and on small fake datasets written here."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from splitbrain import data
from splitbrain.data import (
    DATASET_NAMES,
    DATASET_SPLITS,
    EMBEDDED_HELD_OUT_FRACTION,
    EMBEDDED_PHOTOS,
    FOLDER_FRACTIONS,
    MissingDatasetError,
    build_dataset,
    build_loader,
    embedded_region_box,
    image_transform,
    load_embedded_photos,
    split_indices,
)

# ---------------------------------------------------------------------------------------------
# The embedded photographs


def test_embedded_photos_are_real_colour_photographs():
    photos = load_embedded_photos()
    assert len(photos) == len(EMBEDDED_PHOTOS) == 10
    for name, photo in zip(EMBEDDED_PHOTOS, photos):
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3, name
        assert min(photo.shape[:2]) >= 300, name
        # A colour photograph: the channels are not all equal.
        assert np.abs(photo[..., 0].astype(int) - photo[..., 1]).mean() > 1, name
    assert load_embedded_photos() is photos  # loaded once


def test_embedded_items_are_uint8_crops_with_photo_labels():
    ds = build_dataset("embedded", split="train", length=30)
    assert len(ds) == 30 and ds.num_classes == 10 and ds.classes == EMBEDDED_PHOTOS
    for i in range(30):
        image, label = ds[i]
        assert image.dtype == torch.uint8 and image.shape == (3, 96, 96)
        assert label == i % 10 and 0 <= label < ds.num_classes
    assert np.array_equal(ds.labels, np.arange(30) % 10)
    assert len(build_dataset("embedded")) == 1000
    assert len(build_dataset("embedded", split="test")) == 500
    with pytest.raises(IndexError):
        ds[30]


def test_embedded_image_size_parameter():
    ds = build_dataset("embedded", split="test", image_size=24, length=10)
    assert all(ds[i][0].shape == (3, 24, 24) for i in range(10))
    # Every photograph is scaled to a shorter side of photo_scale * image_size = 96.
    assert all(min(region.shape[1:]) >= 24 for region in ds.regions)
    assert all(region.shape[1] == 96 for region in ds.regions)  # all photos are landscape or square


@pytest.mark.parametrize("shape", [(512, 512), (300, 451), (640, 427), (7, 5)])
def test_embedded_region_rule_cuts_the_longer_side(shape):
    height, width = shape
    train = embedded_region_box(shape, "train")
    test = embedded_region_box(shape, "test")
    mask = np.zeros(shape, dtype=int)
    for top, left, h, w in (train, test):
        assert h > 0 and w > 0
        mask[top : top + h, left : left + w] += 1
    assert np.all(mask == 1)  # disjoint, and together the whole photograph
    longer = 1 if width >= height else 0
    held_out = test[2 + longer]
    assert held_out == shape[longer] - round(shape[longer] * (1 - EMBEDDED_HELD_OUT_FRACTION))
    # The held-out region is the end of the longer side.
    assert test[longer] + held_out == shape[longer] and train[longer] == 0


def test_embedded_regions_come_from_their_own_pixels():
    train = build_dataset("embedded", split="train", image_size=32, length=10)
    test = build_dataset("embedded", split="test", image_size=32, length=10)
    for photo, train_region, test_region in zip(load_embedded_photos(), train.regions, test.regions):
        for region, split in ((train_region, "train"), (test_region, "test")):
            top, left, h, w = embedded_region_box(photo.shape, split)
            part = torch.from_numpy(np.ascontiguousarray(photo[top : top + h, left : left + w])).permute(2, 0, 1)
            expected = TF.resize(part, list(region.shape[1:]), antialias=True)
            assert torch.equal(region, expected)
        # Same scale on both sides of the cut: the regions' heights match (cut across the width).
        assert train_region.shape[1] == test_region.shape[1]


def test_embedded_held_out_crops_lie_in_the_held_out_region_and_are_fixed():
    ds = build_dataset("embedded", split="test", image_size=48, length=40, seed=3)
    assert not ds.augment
    for i in range(40):
        photo, top, left = ds.fixed_crop(i)
        region = ds.regions[photo]
        assert 0 <= top <= region.shape[1] - 48 and 0 <= left <= region.shape[2] - 48
        image, label = ds[i]
        assert label == photo
        assert torch.equal(image, region[:, top : top + 48, left : left + 48])
    again = build_dataset("embedded", split="test", image_size=48, length=40, seed=3)
    other = build_dataset("embedded", split="test", image_size=48, length=40, seed=4)
    assert all(torch.equal(ds[i][0], again[i][0]) for i in range(40))
    assert sum(torch.equal(ds[i][0], other[i][0]) for i in range(40)) < 5


def test_embedded_augmented_crops_are_random_but_reproducible():
    ds = build_dataset("embedded", split="train", image_size=32, length=20)
    assert ds.augment
    torch.manual_seed(0)
    first = torch.stack([ds[i][0] for i in range(20)])
    torch.manual_seed(0)
    second = torch.stack([ds[i][0] for i in range(20)])
    third = torch.stack([ds[i][0] for i in range(20)])
    assert torch.equal(first, second)
    assert not torch.equal(first, third)


def test_embedded_augmented_crop_is_a_window_or_its_mirror():
    ds = build_dataset("embedded", split="train", image_size=16, length=10, augment=True)
    torch.manual_seed(1)
    seen_flip = seen_plain = False
    for _ in range(12):
        image, label = ds[0]
        windows = ds.regions[label].unfold(1, 16, 1).unfold(2, 16, 1)  # (3, nh, nw, 16, 16)
        windows = windows.permute(1, 2, 0, 3, 4)
        plain = (windows == image).flatten(2).all(-1).any()
        flipped = (windows == image.flip(-1)).flatten(2).all(-1).any()
        assert plain or flipped
        seen_plain |= bool(plain)
        seen_flip |= bool(flipped and not plain)
    assert seen_plain and seen_flip


def test_embedded_rejects_bad_arguments():
    with pytest.raises(ValueError, match="split must be one of"):
        build_dataset("embedded", split="val")
    with pytest.raises(ValueError, match="image_size"):
        build_dataset("embedded", image_size=0)
    with pytest.raises(ValueError, match="length"):
        build_dataset("embedded", length=-5)


# ---------------------------------------------------------------------------------------------
# STL-10 (torchvision's stl10_binary layout: uint8, (N, 3, 96, 96) column-major per channel)


def test_stl10_fake_folder_loads_like_torchvision(write_stl10, tmp_path, monkeypatch):
    images, labels = write_stl10(tmp_path)
    # torchvision md5-checks the real files; for this fake copy, compare after disabling that check.
    monkeypatch.setattr(torchvision.datasets.stl10, "check_integrity", lambda *args, **kwargs: True)
    for split in ("unlabeled", "train", "test"):
        ds = build_dataset("stl10", root=tmp_path, split=split, augment=False)
        reference = torchvision.datasets.STL10(str(tmp_path), split=split)
        assert len(ds) == len(reference) == len(images[split])
        assert ds.num_classes == 10 and ds.classes == data.STL10_CLASSES
        for i in range(len(ds)):
            image, label = ds[i]
            assert image.dtype == torch.uint8 and image.shape == (3, 96, 96)
            assert torch.equal(image, torch.from_numpy(images[split][i]))
            assert torch.equal(image, TF.pil_to_tensor(reference[i][0]))
            expected = -1 if split == "unlabeled" else labels[split][i]
            assert label == expected == reference[i][1]


def test_stl10_defaults_resize_and_subset(write_stl10, tmp_path):
    images, labels = write_stl10(tmp_path)
    assert build_dataset("stl10", root=tmp_path, split="unlabeled").augment
    assert build_dataset("stl10", root=tmp_path, split="train").augment
    test = build_dataset("stl10", root=tmp_path, split="test", image_size=48)
    assert not test.augment
    expected = TF.resize(torch.from_numpy(images["test"][0]), [48], antialias=True)
    assert torch.equal(test[0][0], expected)
    crops = build_dataset("stl10", root=tmp_path, split="test", image_size=64, resize=96, augment=False)
    assert torch.equal(crops[1][0], torch.from_numpy(images["test"][1])[:, 16:80, 16:80])
    subset = build_dataset("stl10", root=tmp_path, split="train", length=10, seed=1)
    assert len(subset) == 10 and np.all(np.bincount(subset.labels, minlength=10) == 1)
    assert np.array_equal(subset.labels, labels["train"][subset.indices])
    assert np.all(np.diff(subset.indices) > 0)


def test_stl10_missing_raises_with_path_and_command(tmp_path):
    with pytest.raises(MissingDatasetError) as info:
        build_dataset("stl10", root=tmp_path / "nowhere", split="unlabeled")
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert os.path.join(str(tmp_path / "nowhere"), "stl10_binary", "unlabeled_X.bin") in message
    assert f"torchvision.datasets.STL10({str(tmp_path / 'nowhere')!r}, split='test', download=True)" in message
    assert message.count('python -c "import torchvision; ') == 1


def test_stl10_truncated_file_is_reported(write_stl10, tmp_path):
    write_stl10(tmp_path)
    path = tmp_path / "stl10_binary" / "test_X.bin"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(MissingDatasetError, match="not a complete STL-10 image file"):
        build_dataset("stl10", root=tmp_path, split="test")


# ---------------------------------------------------------------------------------------------
# CIFAR-10 (python pickles). torchvision md5-checks every batch, so a fake copy only loads with
# that check disabled (monkeypatched below); the rest of torchvision's reader runs as usual.


def _write_cifar10(root, per_batch=6, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        flat = images.transpose(0, 3, 1, 2).reshape(per_batch, -1)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": flat, "labels": labels}, f)
        written[name] = (images, labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)
    return written


def test_cifar10_fake_folder_loads(tmp_path, monkeypatch):
    written = _write_cifar10(tmp_path)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    train = build_dataset("cifar10", root=tmp_path, split="train", image_size=32, augment=False)
    test = build_dataset("cifar10", root=tmp_path, split="test", image_size=32)
    assert len(train) == 30 and len(test) == 6 and not test.augment
    assert train.classes == tuple(f"class{i}" for i in range(10)) and train.num_classes == 10
    images = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    labels = sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    for i in range(30):
        image, label = train[i]
        assert image.dtype == torch.uint8 and image.shape == (3, 32, 32)
        assert torch.equal(image, torch.from_numpy(images[i]).permute(2, 0, 1))
        assert label == labels[i]
    big = build_dataset("cifar10", root=tmp_path, split="test", image_size=96)
    assert big[0][0].shape == (3, 96, 96)
    expected = TF.resize(torch.from_numpy(written["test_batch"][0][0]).permute(2, 0, 1), [96], antialias=True)
    assert torch.equal(big[0][0], expected)


def test_cifar10_missing_raises_with_path_and_command(tmp_path):
    with pytest.raises(MissingDatasetError) as info:
        build_dataset("cifar10", root=tmp_path, split="test")
    message = str(info.value)
    assert os.path.join(str(tmp_path), "cifar-10-batches-py", "test_batch") in message
    assert f"torchvision.datasets.CIFAR10({str(tmp_path)!r}, train=True, download=True)" in message


def test_cifar10_failed_integrity_check_is_reported(tmp_path):
    _write_cifar10(tmp_path)  # files present, md5s wrong
    with pytest.raises(MissingDatasetError, match="integrity check"):
        build_dataset("cifar10", root=tmp_path, split="test")


# ---------------------------------------------------------------------------------------------
# ImageFolder trees

CLASS_COLOURS = {"ant": (200, 30, 30), "bee": (30, 200, 30), "cow": (30, 30, 200)}


def _write_folder(root, per_class=(10, 10, 5), size=(20, 28)):
    """Class c's images are flat colour CLASS_COLOURS[c] (PNG) or close to it (JPEG)."""
    for (name, colour), count in zip(CLASS_COLOURS.items(), per_class):
        (root / name).mkdir(parents=True)
        for i in range(count):
            image = Image.new("RGB", (size[1], size[0]), colour)
            image.save(root / name / f"{i:03d}.{'png' if i % 2 else 'jpg'}")


def test_folder_loads_with_correct_labels(tmp_path):
    _write_folder(tmp_path)
    ds = build_dataset("folder", root=tmp_path, split="all", image_size=16, augment=False)
    assert len(ds) == 25 and ds.classes == ("ant", "bee", "cow") and ds.num_classes == 3
    assert np.array_equal(np.bincount(ds.labels), [10, 10, 5])
    for i in range(len(ds)):
        image, label = ds[i]
        assert image.dtype == torch.uint8 and image.shape == (3, 16, 16)
        colour = torch.tensor(CLASS_COLOURS[ds.classes[label]], dtype=torch.float32)
        assert torch.allclose(image.float().mean((1, 2)), colour, atol=4)
    assert build_dataset("folder", root=tmp_path, split="all").augment


def test_folder_parts_are_disjoint_stratified_and_capped(tmp_path):
    _write_folder(tmp_path)
    parts = {
        split: build_dataset("folder", root=tmp_path, split=split, image_size=8, seed=5)
        for split in ("pretrain", "probe_train", "val")
    }
    indices = [set(part.indices.tolist()) for part in parts.values()]
    assert sum(map(len, indices)) == 25 and len(set.union(*indices)) == 25
    assert np.array_equal(np.bincount(parts["pretrain"].labels), [6, 6, 3])
    assert np.array_equal(np.bincount(parts["probe_train"].labels, minlength=3) + np.bincount(parts["val"].labels, minlength=3), [4, 4, 2])
    assert not parts["val"].augment and parts["probe_train"].augment
    capped = build_dataset("folder", root=tmp_path, split="pretrain", image_size=8, seed=5, length=5)
    assert len(capped) == 5 and set(capped.indices) <= set(parts["pretrain"].indices)
    assert np.array_equal(np.bincount(capped.labels), [2, 2, 1])
    other_seed = build_dataset("folder", root=tmp_path, split="pretrain", image_size=8, seed=6)
    assert not np.array_equal(other_seed.indices, parts["pretrain"].indices)
    custom = build_dataset("folder", root=tmp_path, split="a", fractions={"a": 0.4, "b": 0.6})
    assert np.array_equal(np.bincount(custom.labels), [4, 4, 2])


def test_folder_in_memory_gives_the_same_items_as_reading_the_files(tmp_path):
    _write_folder(tmp_path)
    for split, augment in (("probe_train", False), ("pretrain", True)):
        files = build_dataset("folder", root=tmp_path, split=split, image_size=16, augment=augment, seed=2)
        memory = build_dataset("folder", root=tmp_path, split=split, image_size=16, augment=augment, seed=2,
                               in_memory=True)
        assert len(memory) == len(files) and np.array_equal(memory.labels, files.labels)
        assert np.array_equal(memory.indices, files.indices) and memory.item_names == files.item_names
        torch.manual_seed(0)
        read = [files[i] for i in range(len(files))]
        torch.manual_seed(0)
        held = [memory[i] for i in range(len(memory))]
        assert all(torch.equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(read, held))


def test_folder_missing_or_empty_or_no_root(tmp_path):
    with pytest.raises(MissingDatasetError, match="looked for the directory") as info:
        build_dataset("folder", root=tmp_path / "absent", split="all")
    assert str(tmp_path / "absent") in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDatasetError, match="no images found"):
        build_dataset("folder", root=tmp_path / "empty", split="all")
    with pytest.raises(ValueError, match="root is required"):
        build_dataset("folder", split="all")


# ---------------------------------------------------------------------------------------------
# split_indices


def test_split_indices_stratified_disjoint_deterministic():
    labels = np.repeat(np.arange(4), [50, 30, 20, 7])
    parts = split_indices(labels, FOLDER_FRACTIONS, seed=0)
    assert list(parts) == list(FOLDER_FRACTIONS)
    together = np.concatenate(list(parts.values()))
    assert len(together) == len(labels) == len(np.unique(together))
    for name, fraction in FOLDER_FRACTIONS.items():
        counts = np.bincount(labels[parts[name]], minlength=4)
        assert np.all(np.abs(counts - fraction * np.array([50, 30, 20, 7])) < 1), name
    again = split_indices(labels, FOLDER_FRACTIONS, seed=0)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    other = split_indices(labels, FOLDER_FRACTIONS, seed=1)
    assert not np.array_equal(np.sort(parts["val"]), np.sort(other["val"]))


def test_split_indices_prefixes_are_stratified_and_caps_keep_prefixes():
    labels = np.repeat(np.arange(5), 40)
    full = split_indices(labels, {"a": 0.5, "b": 0.25}, seed=2)
    assert len(full["a"]) == 100 and len(full["b"]) == 50  # the remaining quarter is unused
    for k in (1, 5, 13, 20):
        assert np.all(np.bincount(labels[full["a"][: k * 5]], minlength=5) == k)
    capped = split_indices(labels, {"a": 0.5, "b": 0.25}, seed=2, max_counts={"a": 15})
    assert np.array_equal(capped["a"], full["a"][:15]) and np.array_equal(capped["b"], full["b"])
    plain = split_indices(10, {"x": 0.7, "y": 0.3}, seed=0)
    assert sorted(np.concatenate([plain["x"], plain["y"]]).tolist()) == list(range(10))
    assert len(plain["x"]) == 7


@pytest.mark.parametrize(
    "fractions, match",
    [({}, "at least one"), ({"a": 0.7, "b": 0.5}, "at most 1"), ({"a": -0.1}, ">= 0"), ({"a": float("nan")}, "finite")],
)
def test_split_indices_rejects_bad_fractions(fractions, match):
    with pytest.raises(ValueError, match=match):
        split_indices(10, fractions)


def test_split_indices_rejects_bad_labels_and_caps():
    with pytest.raises(ValueError, match="n_or_labels"):
        split_indices(np.zeros((2, 2), dtype=int), {"a": 1.0})
    with pytest.raises(ValueError, match="n_or_labels"):
        split_indices([0.5, 1.5], {"a": 1.0})
    with pytest.raises(ValueError, match="unknown parts"):
        split_indices(10, {"a": 1.0}, max_counts={"b": 3})


# ---------------------------------------------------------------------------------------------
# Names, transforms, loaders


def test_unknown_name_and_split_list_the_valid_ones():
    with pytest.raises(ValueError) as info:
        build_dataset("imagenet")
    assert all(name in str(info.value) for name in DATASET_NAMES)
    with pytest.raises(ValueError) as info:
        build_dataset("stl10", split="validation")
    assert all(split in str(info.value) for split in DATASET_SPLITS["stl10"])


def test_image_transform_centre_crop_and_resize_values():
    image = torch.arange(3 * 10 * 14, dtype=torch.int64).reshape(3, 10, 14).to(torch.uint8)
    centre = image_transform(8, augment=False, resize=10)(image)
    assert torch.equal(centre, image[:, 1:9, 3:11])
    assert image_transform(10, augment=False)(image).shape == (3, 10, 10)
    grown = image_transform(20, augment=False)(image)
    assert grown.dtype == torch.uint8 and grown.shape == (3, 20, 20)
    with pytest.raises(ValueError, match="resize must be >= image_size"):
        image_transform(16, augment=True, resize=8)


def test_loader_yields_uint8_batches_and_is_seeded():
    ds = build_dataset("embedded", split="test", image_size=32, length=20)
    loader = build_loader(ds, batch_size=8, train=True, seed=7)
    batches = list(loader)
    assert len(batches) == 2  # train drops the last partial batch
    images, labels = batches[0]
    assert images.dtype == torch.uint8 and images.shape == (8, 3, 32, 32)
    assert labels.dtype == torch.int64 and labels.min() >= 0 and labels.max() < 10
    again = [labels for _, labels in build_loader(ds, batch_size=8, train=True, seed=7)]
    assert all(torch.equal(a[1], b) for a, b in zip(batches, again))
    evaluation = list(build_loader(ds, batch_size=8, train=False))
    assert [len(b[1]) for b in evaluation] == [8, 8, 4]
    assert torch.equal(torch.cat([b[1] for b in evaluation]), torch.arange(20) % 10)  # in order


def test_loader_with_workers():
    ds = build_dataset("embedded", split="test", image_size=16, length=12)
    loader = build_loader(ds, batch_size=4, train=False, num_workers=2)
    assert loader.persistent_workers and loader.worker_init_fn is data.seed_worker
    images = torch.cat([b[0] for b in loader])
    assert torch.equal(images, torch.stack([ds[i][0] for i in range(12)]))


def test_loader_rejects_bad_arguments():
    ds = build_dataset("embedded", split="test", image_size=16, length=6)
    with pytest.raises(ValueError, match="batch_size"):
        build_loader(ds, batch_size=0, train=True)
    with pytest.raises(ValueError, match="no batch"):
        build_loader(ds, batch_size=8, train=True)
    assert len(list(build_loader(ds, batch_size=8, train=True, drop_last=False))) == 1
    with pytest.raises(ValueError, match="num_workers"):
        build_loader(ds, batch_size=2, train=True, num_workers=-1)
    with pytest.raises(ValueError, match="process group"):
        build_loader(ds, batch_size=2, train=True, distributed=True)


def test_datasets_pickle_for_spawned_workers(write_stl10, tmp_path):
    images, _ = write_stl10(tmp_path / "stl")
    _write_folder(tmp_path / "tree")
    stl = build_dataset("stl10", root=tmp_path / "stl", split="test", augment=False)
    stl[0]  # opens the memory map, which must not travel with the pickle
    datasets = [
        stl,
        build_dataset("folder", root=tmp_path / "tree", split="val", image_size=8),
        build_dataset("embedded", split="test", image_size=16, length=4),
    ]
    for ds in datasets:
        copy = pickle.loads(pickle.dumps(ds))
        assert len(copy) == len(ds) and np.array_equal(copy.labels, ds.labels)
        if not ds.augment:
            assert torch.equal(copy[1][0], ds[1][0])
    assert pickle.loads(pickle.dumps(stl)).store._array is None
    assert torch.equal(pickle.loads(pickle.dumps(stl))[2][0], torch.from_numpy(images["test"][2]))
