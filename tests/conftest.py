"""Suite-wide test settings and helpers."""
import numpy as np
import pytest
import torch

from splitbrain import data
from splitbrain.presets import get_preset


@pytest.fixture(autouse=True)
def one_thread():
    """The tests' runs are tiny: one intra-op thread is as fast on an idle machine and far
    faster on a busy one, where several threads fight over two cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _write_stl10(root, counts=None, seed=0):
    """A small STL-10 in torchvision's ``stl10_binary`` layout under ``root``: uint8 images,
    (N, 3, 96, 96), each channel stored column-major; labels 1..10 on disk, 0..9 returned.
    Returns ({split: images (N, 3, 96, 96)}, {split: labels}) as written."""
    counts = counts or {"unlabeled": 7, "train": 12, "test": 8}
    rng = np.random.default_rng(seed)
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    images, labels = {}, {}
    for split, n in counts.items():
        images[split] = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)  # (N, C, H, W)
        # STL-10 stores each channel column-major: write (N, C, W, H) in C order.
        (folder / f"{split}_X.bin").write_bytes(images[split].transpose(0, 1, 3, 2).tobytes())
        if split != "unlabeled":
            labels[split] = np.arange(n) % 10
            (folder / f"{split}_y.bin").write_bytes((labels[split] + 1).astype(np.uint8).tobytes())
    (folder / "class_names.txt").write_text("\n".join(data.STL10_CLASSES) + "\n")
    (folder / "fold_indices.txt").write_text("\n".join(" ".join(map(str, range(i, 12, 10))) for i in range(10)))
    return images, labels


@pytest.fixture
def write_stl10():
    """The writer of a small fake STL-10 folder (see ``_write_stl10``); tests never download."""
    return _write_stl10


@pytest.fixture(scope="session")
def smoke_checkpoint(tmp_path_factory):
    """A split-brain SimpleNet pretrained for two tiny epochs at 16 px (its checkpoint's path)."""
    from splitbrain.train import pretrain

    out = tmp_path_factory.mktemp("pretrain")
    config = get_preset("smoke", image_size=16, grid=4, train_length=64, batch_size=16, epochs=2,
                        out=str(out), verbose=False, progress=False)
    return pretrain(config).checkpoint
