"""What a checkpoint was pretrained on, and parts that must not overlap it: the manifest of its
pretraining images a checkpoint records (:func:`pretraining_manifest`), and the check that refuses
an evaluation whose parts hold any of them (:func:`check_unseen`)."""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Mapping

import numpy as np
import torch
from torch.utils.data import Dataset

from .vocabulary import DATASET_NAMES

if TYPE_CHECKING:
    from .data import ImageDataset


class SplitLeakError(ValueError):
    """An evaluation's images include images its network was pretrained on."""


_NOTED: set[str] = set()  # checkpoints already said to record no pretraining images


def pretraining_manifest(dataset: Dataset, earlier: Mapping | None = None) -> dict | None:
    """What a checkpoint records of the images it is pretrained on (None for a dataset of no known kind).

    {"data", "split", "split_seed", "images"}: the dataset, its part, the seed that cut it and its
    number of images; for an image folder also "root_name" (the folder's name) and "image_keys",
    the sorted int64 tensor of its :func:`image_key` values (8 bytes an image: 400 kB for 50,000).
    ``earlier``: the manifest the run's previous checkpoint recorded, whose image keys are kept too
    (a run resumed after its folder changed has seen both parts).
    """
    name, split = getattr(dataset, "name", None), getattr(dataset, "split", None)
    if name not in DATASET_NAMES or not isinstance(split, str):
        return None
    manifest = {"data": name, "split": split, "split_seed": int(getattr(dataset, "seed", 0)), "images": len(dataset)}
    keys = getattr(dataset, "item_keys", None)
    if keys is not None:
        if earlier is not None and earlier.get("image_keys") is not None:
            keys = np.concatenate([keys, earlier["image_keys"].numpy()])
        keys = np.unique(keys)
        manifest.update(root_name=os.path.basename(dataset.root), images=len(keys), image_keys=torch.from_numpy(keys))
    return manifest


def check_unseen(manifest: Mapping | None, parts: Mapping[str, Dataset], source: str) -> None:
    """Raise SplitLeakError when an evaluation part holds images the network of ``source`` (a
    checkpoint) was pretrained on, as its ``manifest`` (:func:`pretraining_manifest`) says.

    ``parts``: role ("probe-training", "held-out") -> dataset. Image folders are compared image by
    image (:func:`image_key`), whatever their root, seed or contents since; the built-in datasets,
    whose splits are fixed files, by split: the held-out split must not be the pretraining split
    (probing the pretraining images themselves is CIFAR-10's protocol). A manifest of None (a
    checkpoint that records none) cannot be checked: one note on stderr when a part is an image folder.
    """
    if manifest is None:
        if any(getattr(part, "item_keys", None) is not None for part in parts.values()) and source not in _NOTED:
            _NOTED.add(source)
            print(f"splitbrain: note: {source} does not record which images it was pretrained on, so the evaluation's "
                  f"images cannot be checked against them", file=sys.stderr, flush=True)
        return
    seen = manifest.get("image_keys")
    for role, part in parts.items():
        keys = getattr(part, "item_keys", None)
        if seen is not None and keys is not None:
            overlap = np.flatnonzero(np.isin(keys, seen.numpy()))
            if len(overlap):
                raise SplitLeakError(_leak_message(manifest, role, part, overlap, source))
        elif (seen is None and keys is None and role == "held-out" and getattr(part, "name", None) == manifest["data"]
              and getattr(part, "split", None) == manifest["split"]):
            raise SplitLeakError(f"the held-out part is {manifest['data']}'s {manifest['split']!r} split, the images "
                                 f"{source} was pretrained on; evaluate on another split")


def _leak_message(manifest: Mapping, role: str, part: ImageDataset, overlap: np.ndarray, source: str) -> str:
    example = f", e.g. {part.item_names[overlap[0]]}" if part.item_names is not None else ""
    seed = manifest["split_seed"]
    return (f"the {role} part ({len(part)} images of {part.root}, split_seed={part.seed}) holds {len(overlap)} "
            f"image(s) that {source} was pretrained on{example}; it was pretrained on {manifest['images']} images "
            f"of a folder named {manifest.get('root_name')!r} cut with split_seed={seed}: evaluate with "
            f"split_seed={seed} on that folder as it was, or on images the network has not seen")
