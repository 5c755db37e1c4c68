"""The poster's own target preparation: one image at a time, on the CPU, with scikit-image.

The poster's code (the authors' repository, asbudhkar/LeProject) prepared every training image inside the Dataset's
``__getitem__``::

    uint8 RGB (H, W, 3) --skimage.color.rgb2lab--> Lab float64 (H, W, 3)
        --skimage.transform.resize(lab, (12, 12), anti_aliasing=True)--> Lab grid (12, 12, 3)
        --numpy.digitize--> L class (100 bins over [0, 101]) and ab class
                            (a: 10 bins over [-87, 99], b: 10 bins over [-108, 95],
                             class = a_bin * 10 + b_bin)

plus the two halves' network inputs (L and ab at full resolution). This module reproduces that
faithfully, as the reference the batched device pipeline (:mod:`splitbrain.targets`) is checked
and timed against (:mod:`benchmarks.bench`). It is not used for training, so it lives beside the
benchmark, outside the installed package.

Two details differ from the device pipeline on purpose, because the poster did them this way:
scikit-image's ``rgb2lab`` uses a six-decimal sRGB matrix (the package uses the four-decimal one
of IEC 61966-2-1), and its anti-aliased ``resize`` (a Gaussian prefilter, then bilinear
interpolation) is not an area average. ``downsample="area"`` swaps in the device pipeline's area
average so the two can be compared step by step; ``encode_grid`` alone is the binning step.
"""
from __future__ import annotations

import numpy as np
import torch
from skimage.color import rgb2lab
from skimage.transform import resize
from torch.utils.data import DataLoader, Dataset

from splitbrain._checks import check_positive_int

__all__ = [
    "POSTER_SPACES",
    "DOWNSAMPLE_MODES",
    "POSTER_RANGES",
    "image_values",
    "downsample_image",
    "bin_edges",
    "digitize",
    "encode_grid",
    "network_inputs",
    "PosterTargets",
    "poster_loader",
]

POSTER_SPACES = ("lab", "rescaled_lab", "rgb")
DOWNSAMPLE_MODES = ("skimage", "area")
# The poster's fixed bin ranges per channel, as its code sets them.
POSTER_RANGES = {
    "lab": ((0.0, 101.0), (-87.0, 99.0), (-108.0, 95.0)),
    "rgb": ((0.0, 1.01), (0.0, 1.01), (0.0, 1.01)),
}
RESCALED_MARGIN = 1.0  # the poster's "+1" on each image's max for re-scaled Lab
# Network input scaling, the same as ColorSpace.normalize: (x - shift) / scale per channel.
_NORMALIZATION = {
    "lab": ((50.0, 0.0, 0.0), (50.0, 110.0, 110.0)),
    "rgb": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


def _check_space(space: str) -> str:
    if space not in POSTER_SPACES:
        raise ValueError(f"space must be one of {POSTER_SPACES}, got {space!r}")
    return "rgb" if space == "rgb" else "lab"


def _check_hwc_image(image: np.ndarray, name: str = "image") -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(f"{name} must be a numpy array of shape (H, W, 3), got shape {shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must have dtype uint8 (values 0..255), got {image.dtype}")


def image_values(image: np.ndarray, space: str = "lab") -> np.ndarray:
    """One uint8 RGB image (H, W, 3) -> float64 (H, W, 3) values of ``space``.

    Lab (for "lab" and "rescaled_lab"): ``skimage.color.rgb2lab`` (D65), L in [0, 100].
    RGB: values / 255 in [0, 1].
    """
    _check_hwc_image(image)
    if _check_space(space) == "lab":
        return rgb2lab(image)
    return image.astype(np.float64) / 255.0


def _area_average(values: np.ndarray, grid: int) -> np.ndarray:
    """(H, W, C) -> (grid, grid, C): cell i spans [floor(i H / g), ceil((i + 1) H / g)),
    the cells of ``torch.nn.functional.adaptive_avg_pool2d`` (exact block means when g divides H)."""
    height, width = values.shape[:2]
    integral = np.zeros((height + 1, width + 1, values.shape[2]), dtype=np.float64)
    integral[1:, 1:] = values.cumsum(axis=0).cumsum(axis=1)
    cells = np.arange(grid)
    row_start, row_end = (cells * height) // grid, -((-(cells + 1) * height) // grid)
    col_start, col_end = (cells * width) // grid, -((-(cells + 1) * width) // grid)
    r0, r1 = row_start[:, None], row_end[:, None]
    c0, c1 = col_start[None, :], col_end[None, :]
    sums = integral[r1, c1] - integral[r0, c1] - integral[r1, c0] + integral[r0, c0]
    counts = ((r1 - r0) * (c1 - c0))[..., None]
    return sums / counts


def downsample_image(values: np.ndarray, grid: int = 12, mode: str = "skimage") -> np.ndarray:
    """(H, W, C) float values -> (grid, grid, C) float64.

    "skimage" (the poster's): ``skimage.transform.resize(values, (grid, grid),
    anti_aliasing=True)``, a Gaussian prefilter then bilinear interpolation. "area": the mean of
    the pixels each cell covers, like the device pipeline's ``quantize.downsample``.
    """
    check_positive_int(grid, "grid")
    if mode not in DOWNSAMPLE_MODES:
        raise ValueError(f"mode must be one of {DOWNSAMPLE_MODES}, got {mode!r}")
    if not isinstance(values, np.ndarray) or values.ndim != 3:
        shape = getattr(values, "shape", None)
        raise ValueError(f"values must be a numpy array of shape (H, W, C), got shape {shape}")
    if grid > min(values.shape[:2]):
        raise ValueError(f"grid must not exceed the image size: grid={grid}, values has H, W = {values.shape[:2]}")
    if mode == "skimage":
        return resize(values, (grid, grid), anti_aliasing=True)
    return _area_average(values, grid)


def bin_edges(
    grid_values: np.ndarray, space: str = "lab", bins1: int = 100, bins2: int = 10
) -> list[np.ndarray]:
    """The bin edges of each channel for one image's grid values (grid, grid, 3).

    Returns three float64 arrays, ``numpy.linspace(low, high, bins + 1)``: channel 0 with
    ``bins1`` bins, channels 1 and 2 with ``bins2`` bins each. (low, high) are the poster's fixed
    ranges, or, for the group-2 channels of "rescaled_lab", this image's own (min, max + 1).
    """
    check_positive_int(bins1, "bins1")
    check_positive_int(bins2, "bins2")
    ranges = list(POSTER_RANGES[_check_space(space)])
    if space == "rescaled_lab":
        for channel in (1, 2):
            values = grid_values[..., channel]
            ranges[channel] = (float(values.min()), float(values.max()) + RESCALED_MARGIN)
    counts = (bins1, bins2, bins2)
    return [np.linspace(low, high, count + 1) for (low, high), count in zip(ranges, counts)]


def digitize(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of every value: ``numpy.digitize(values, edges) - 1`` clipped to the bins.

    Bin i is [edges[i], edges[i + 1]); values below the first edge go to bin 0 and values at
    or above the last edge to the last bin. Returns int64 of the shape of ``values``.
    """
    return np.clip(np.digitize(values, edges) - 1, 0, len(edges) - 2).astype(np.int64)


def encode_grid(
    grid_values: np.ndarray, space: str = "lab", bins1: int = 100, bins2: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """One image's grid values (grid, grid, 3) -> (t1, t2), both (grid, grid) int64.

    t1: channel 0's bin (L, or R) in [0, bins1). t2: the joint bin of channels 1 and 2,
    ``bin_1 * bins2 + bin_2`` in [0, bins2 ** 2) (class = a_bin * 10 + b_bin).
    """
    edges = bin_edges(grid_values, space, bins1, bins2)
    t1 = digitize(grid_values[..., 0], edges[0])
    t2 = digitize(grid_values[..., 1], edges[1]) * bins2 + digitize(grid_values[..., 2], edges[2])
    return t1, t2


def network_inputs(values: np.ndarray, space: str = "lab") -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution values (H, W, 3) -> (x1 (1, H, W), x2 (2, H, W)) float32 network inputs.

    Scaled as ``ColorSpace.normalize``: Lab ((L - 50) / 50, a / 110, b / 110), RGB 2 x - 1.
    """
    shift, scale = _NORMALIZATION[_check_space(space)]
    scaled = (values - np.asarray(shift)) / np.asarray(scale)
    channels_first = np.ascontiguousarray(scaled.transpose(2, 0, 1), dtype=np.float32)
    return channels_first[:1], channels_first[1:]


class PosterTargets(Dataset):
    """The poster's per-image preparation as a Dataset.

    Args:
        images: uint8 RGB images, a (N, 3, H, W) torch tensor (channels first, as the package's
            datasets give them) or a (N, H, W, 3) numpy array.
        space: "lab", "rescaled_lab" or "rgb".
        grid: side of the target grid (12 in the poster).
        bins1, bins2: bins of channel 0 and of each of channels 1 and 2.
        downsample: "skimage" (the poster's anti-aliased resize) or "area" (see
            :func:`downsample_image`).

    ``dataset[i]`` -> (x1 (1, H, W) float32, x2 (2, H, W) float32, t1 (grid, grid) int64,
    t2 (grid, grid) int64) torch tensors, everything computed in that call, as the poster did.
    """

    def __init__(self, images, space: str = "lab", grid: int = 12, bins1: int = 100, bins2: int = 10,
                 downsample: str = "skimage"):
        _check_space(space)
        check_positive_int(grid, "grid")
        check_positive_int(bins1, "bins1")
        check_positive_int(bins2, "bins2")
        if downsample not in DOWNSAMPLE_MODES:
            raise ValueError(f"downsample must be one of {DOWNSAMPLE_MODES}, got {downsample!r}")
        if isinstance(images, torch.Tensor):
            if images.dim() != 4 or images.shape[1] != 3:
                raise ValueError(f"images must be a (N, 3, H, W) tensor, got shape {tuple(images.shape)}")
            images = images.permute(0, 2, 3, 1).cpu().numpy()
        if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[3] != 3 or len(images) == 0:
            shape = getattr(images, "shape", None)
            raise ValueError(f"images must be a non-empty (N, H, W, 3) array, got shape {shape}")
        if images.dtype != np.uint8:
            raise ValueError(f"images must have dtype uint8, got {images.dtype}")
        if grid > min(images.shape[1:3]):
            raise ValueError(f"grid must not exceed the image size: grid={grid}, images are {images.shape[1:3]}")
        self.images = np.ascontiguousarray(images)
        self.space, self.grid, self.bins1, self.bins2, self.downsample = space, grid, bins1, bins2, downsample

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        values = image_values(self.images[index], self.space)
        small = downsample_image(values, self.grid, self.downsample)
        t1, t2 = encode_grid(small, self.space, self.bins1, self.bins2)
        x1, x2 = network_inputs(values, self.space)
        return torch.from_numpy(x1), torch.from_numpy(x2), torch.from_numpy(t1), torch.from_numpy(t2)


def poster_loader(dataset: PosterTargets, batch_size: int) -> DataLoader:
    """The poster's loop: a DataLoader over :class:`PosterTargets`, one process (num_workers=0),
    in order. Yields (x1 (B, 1, H, W), x2 (B, 2, H, W), t1 (B, g, g), t2 (B, g, g))."""
    check_positive_int(batch_size, "batch_size")
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
