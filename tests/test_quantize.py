"""Tests of splitbrain.quantize: bins, encode/decode, rescaled bins, gamut bins, rebalancing, CIEDE2000."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from splitbrain import quantize
from splitbrain.color import get_color_space
from splitbrain.quantize import (
    GamutQuantizer,
    RescaledQuantizer,
    UniformQuantizer,
    class_distribution,
    delta_e_2000,
    derived_gamut_points,
    downsample,
    downsample_targets,
    poster_quantizers,
    published_gamut_points,
    quantization_error,
    rebalancing_weights,
    smooth_distribution,
)

POSTER_AB = UniformQuantizer([10, 10], [-87.0, -108.0], [99.0, 95.0])
PUBLISHED_ONLY = {(40, 90), (100, -90), (100, -10), (100, 0)}


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _uniform_inside(low, high, shape, seed=0, dtype=torch.float64):
    """(N, C, H, W) values drawn uniformly inside [low_c, high_c) per channel."""
    low = torch.tensor(low, dtype=dtype).view(1, -1, 1, 1)
    high = torch.tensor(high, dtype=dtype).view(1, -1, 1, 1)
    u = torch.rand(shape[0], len(low.view(-1)), *shape[2:], generator=_generator(seed), dtype=dtype)
    return low + u * (high - low) * (1 - 1e-9)


def _photo(size: int = 48) -> torch.Tensor:
    """(2, 3, size, size) uint8: two real photographs shipped with scikit-image."""
    from skimage import data
    from skimage.transform import resize

    images = []
    for image in (data.astronaut(), data.coffee()):
        small = resize(image, (size, size), anti_aliasing=True, preserve_range=True)
        images.append(torch.from_numpy(np.round(small).astype(np.uint8)).permute(2, 0, 1))
    return torch.stack(images)


# --------------------------------------------------------------------------------------------
# Uniform bins
# --------------------------------------------------------------------------------------------
def test_uniform_encode_matches_numpy_digitize_on_random_edge_and_outside_values():
    bins, low, high = [10, 10], [-87.0, -108.0], [99.0, 95.0]
    rng = np.random.default_rng(0)
    columns = []
    for c in range(2):
        edges = np.linspace(low[c], high[c], bins[c] + 1)
        values = np.concatenate(
            [
                rng.uniform(low[c] - 30, high[c] + 30, 500),  # inside and outside the range
                edges,  # exactly on every edge, including low and high
                np.nextafter(edges, -np.inf),  # just below every edge
                [-1e6, 1e6],
            ]
        )
        columns.append(values)
    n = min(len(col) for col in columns)
    x = np.stack([col[:n] for col in columns])  # (2, n)
    expected = [
        np.clip(np.digitize(x[c], np.linspace(low[c], high[c], bins[c] + 1)) - 1, 0, bins[c] - 1)
        for c in range(2)
    ]
    classes = POSTER_AB.encode(torch.from_numpy(x).view(1, 2, 1, n))
    np.testing.assert_array_equal(classes.view(-1).numpy(), expected[0] * 10 + expected[1])


def test_uniform_joint_class_is_row_major_with_first_channel_most_significant():
    # a in bin 3 ([-31.2, -12.6)), b in bin 7 ([34.1, 54.4))
    x = torch.tensor([-20.0, 40.0]).view(1, 2, 1, 1)
    assert int(POSTER_AB.encode(x)) == 37
    centres = POSTER_AB.centres()
    assert centres.shape == (100, 2)
    np.testing.assert_allclose(centres[37].numpy(), [-87 + 3.5 * 18.6, -108 + 7.5 * 20.3], rtol=1e-6)


@pytest.mark.parametrize("space_name", ["lab", "rgb"])
def test_poster_fixed_bins_roundtrip_within_half_a_bin(space_name):
    space = get_color_space(space_name)
    q1, q2 = poster_quantizers(space_name)
    for quantizer, channels in ((q1, space.groups[0]), (q2, space.groups[1])):
        low = [space.value_ranges[c][0] for c in channels]
        high = [space.value_ranges[c][1] for c in channels]
        x = _uniform_inside(low, high, (3, len(channels), 16, 16), seed=len(channels))
        decoded = quantizer.decode(quantizer.encode(x)).double()
        half = torch.tensor([(h - l) / b / 2 for l, h, b in zip(low, high, quantizer.bins)])
        error = (decoded - x).abs().amax(dim=(0, 2, 3))
        assert bool((error <= half + 1e-5).all()), (error, half)
        assert bool((error > 0.8 * half).all())  # the bound is tight on 768 random values


def test_poster_quantizer_presets():
    lab1, lab2 = poster_quantizers("lab")
    assert (lab1.num_classes, lab2.num_classes) == (100, 100)
    assert (lab1.low, lab1.high) == ((0.0,), (101.0,))
    assert (lab2.low, lab2.high) == ((-87.0, -108.0), (99.0, 95.0))
    rgb1, rgb2 = poster_quantizers("rgb")
    assert (rgb1.low, rgb1.high, rgb2.low, rgb2.high) == ((0.0,), (1.01,), (0.0, 0.0), (1.01, 1.01))
    res1, res2 = poster_quantizers("rescaled_lab", bins1=50, bins2=16)
    assert isinstance(res2, RescaledQuantizer) and res2.margin == 1.0
    assert (res1.num_classes, res2.num_classes, res2.channels) == (50, 256, 2)
    assert lab1.image_ranges(torch.zeros(1, 1, 2, 2)) is None


# --------------------------------------------------------------------------------------------
# Rescaled (per-image) bins
# --------------------------------------------------------------------------------------------
def test_rescaled_bins_invertible_given_the_stored_ranges():
    quantizer = RescaledQuantizer([10, 10])
    g = _generator(1)
    scale = torch.tensor([1.0, 5.0, 40.0, 0.3], dtype=torch.float64).view(4, 1, 1, 1)
    shift = torch.tensor([0.0, -20.0, 10.0, 70.0], dtype=torch.float64).view(4, 1, 1, 1)
    x = torch.randn(4, 2, 12, 12, generator=g, dtype=torch.float64) * scale + shift
    ranges = quantizer.image_ranges(x)
    assert ranges.shape == (4, 2, 2)
    torch.testing.assert_close(ranges[..., 0], x.amin(dim=(2, 3)))
    torch.testing.assert_close(ranges[..., 1], x.amax(dim=(2, 3)) + 1.0)
    classes = quantizer.encode(x)
    assert torch.equal(classes, quantizer.encode(x, ranges))
    assert int(classes.min()) >= 0 and int(classes.max()) < 100
    decoded = quantizer.decode(classes, ranges=ranges)
    half = (quantizer.bin_widths(ranges) / 2)[:, :, None, None]
    assert bool(((decoded - x).abs() <= half + 1e-9).all())
    # every image uses its lowest bin, in both channels
    assert torch.equal((classes // 10).amin(dim=(1, 2)), torch.zeros(4, dtype=torch.long))
    assert torch.equal((classes % 10).amin(dim=(1, 2)), torch.zeros(4, dtype=torch.long))


def test_rescaled_bins_of_a_constant_image():
    quantizer = RescaledQuantizer([10, 10])
    x = torch.full((1, 2, 4, 4), 7.0)
    ranges = quantizer.image_ranges(x)
    torch.testing.assert_close(ranges, torch.tensor([[[7.0, 8.0], [7.0, 8.0]]]))
    classes = quantizer.encode(x, ranges)
    assert torch.equal(classes, torch.zeros(1, 4, 4, dtype=torch.long))
    torch.testing.assert_close(quantizer.decode(classes, ranges=ranges), torch.full((1, 2, 4, 4), 7.05))


def test_rescaled_centres_are_per_image():
    quantizer = RescaledQuantizer([4])
    ranges = torch.tensor([[[0.0, 4.0]], [[10.0, 12.0]]])
    centres = quantizer.centres(ranges)
    assert centres.shape == (2, 4, 1)
    torch.testing.assert_close(centres[:, :, 0], torch.tensor([[0.5, 1.5, 2.5, 3.5], [10.25, 10.75, 11.25, 11.75]]))


# --------------------------------------------------------------------------------------------
# Decoding logits
# --------------------------------------------------------------------------------------------
def test_decode_logits_centre_mean_and_annealed():
    logits = torch.randn(2, 100, 3, 3, generator=_generator(2), dtype=torch.float64) * 3
    centres = POSTER_AB.centres().double()
    argmax_centres = centres[logits.argmax(dim=1)].permute(0, 3, 1, 2)
    torch.testing.assert_close(POSTER_AB.decode(logits, mode="centre"), argmax_centres)
    torch.testing.assert_close(POSTER_AB.decode(logits.argmax(dim=1)).double(), argmax_centres)
    expected_mean = torch.einsum("nkhw,kc->nchw", torch.softmax(logits, dim=1), centres)
    torch.testing.assert_close(POSTER_AB.decode(logits, mode="mean"), expected_mean)
    # T = 1 is the mean; T -> 0 approaches the mode; the default is Zhang's T = 0.38
    torch.testing.assert_close(POSTER_AB.decode(logits, mode="annealed", temperature=1.0), expected_mean)
    torch.testing.assert_close(POSTER_AB.decode(logits, mode="annealed", temperature=1e-4), argmax_centres)
    annealed = torch.einsum("nkhw,kc->nchw", torch.softmax(logits / 0.38, dim=1), centres)
    torch.testing.assert_close(POSTER_AB.decode(logits, mode="annealed"), annealed)
    # sharpening moves the estimate monotonically from the mean towards the mode
    distances = [
        float((POSTER_AB.decode(logits, mode="annealed", temperature=t) - argmax_centres).abs().mean())
        for t in (1.0, 0.38, 0.1)
    ]
    assert distances[0] > distances[1] > distances[2]


def test_decode_logits_with_per_image_ranges():
    quantizer = RescaledQuantizer([3, 2])
    ranges = torch.tensor([[[0.0, 3.0], [0.0, 2.0]], [[-6.0, 0.0], [10.0, 14.0]]], dtype=torch.float64)
    logits = torch.randn(2, 6, 2, 2, generator=_generator(3), dtype=torch.float64)
    expected = torch.einsum("nkhw,nkc->nchw", torch.softmax(logits, dim=1), quantizer.centres(ranges))
    torch.testing.assert_close(quantizer.decode(logits, mode="mean", ranges=ranges), expected)
    # class 5 = (bin 2 of 3, bin 1 of 2): the top bins of each image's channels
    classes = torch.full((2, 1, 1), 5)
    torch.testing.assert_close(
        quantizer.decode(classes, ranges=ranges)[:, :, 0, 0],
        torch.tensor([[2.5, 1.5], [-1.0, 13.0]], dtype=torch.float64),
    )


# --------------------------------------------------------------------------------------------
# Gamut bins
# --------------------------------------------------------------------------------------------
def test_published_gamut_bins():
    from importlib import resources

    raw = np.load(resources.files("splitbrain").joinpath("assets", "zhang2016_ab_gamut_313.npy"))
    points = published_gamut_points()
    assert points.dtype == np.int64 and points.shape == (313, 2)
    np.testing.assert_array_equal(points, raw)
    assert (points.min(axis=0).tolist(), points.max(axis=0).tolist()) == ([-90, -110], [100, 100])
    assert (points % 10 == 0).all()
    quantizer = GamutQuantizer.published()
    assert (quantizer.num_classes, quantizer.channels) == (313, 2)
    grid = torch.from_numpy(points.T.astype(np.float32)).view(1, 2, 1, 313)
    assert torch.equal(quantizer.encode(grid).view(-1), torch.arange(313))
    torch.testing.assert_close(quantizer.decode(quantizer.encode(grid)), grid)


def test_gamut_encode_is_the_nearest_point():
    quantizer = GamutQuantizer.published()
    ab = torch.rand(2, 2, 9, 11, generator=_generator(4), dtype=torch.float64) * 260 - 130
    classes = quantizer.encode(ab, chunk=37)  # small chunks exercise the chunking
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2).numpy()
    distances = ((flat[:, None, :] - published_gamut_points()[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(classes.view(-1).numpy(), distances.argmin(axis=1))


def test_derived_gamut_bins_counts_and_overlap_with_the_published_313():
    corners = derived_gamut_points(10)
    nearest = derived_gamut_points(10, rule="nearest")
    published = {tuple(p) for p in published_gamut_points().tolist()}
    corner_set = {tuple(p) for p in corners.tolist()}
    nearest_set = {tuple(p) for p in nearest.tolist()}
    assert len(corners) == 309 and len(nearest) == 261
    assert corner_set <= published and nearest_set <= corner_set
    assert published - corner_set == PUBLISHED_ONLY
    assert (np.lexsort((corners[:, 1], corners[:, 0])) == np.arange(309)).all()
    # the sweep runs once per grid: later calls read the cache (speed is the benchmark's business)
    hits = quantize._srgb_ab_occupancy.cache_info().hits
    np.testing.assert_array_equal(GamutQuantizer.derived(10).points.numpy(), corners)
    assert quantize._srgb_ab_occupancy.cache_info().hits > hits


def test_derived_gamut_bins_agree_with_scikit_image_on_the_rgb_cube_faces():
    """An independent converter (skimage.color.rgb2lab) on the cube's faces gives the same set."""
    from skimage.color import rgb2lab

    levels = np.arange(256) / 255.0
    u, v = np.meshgrid(levels, levels, indexing="ij")
    faces = []
    for axis in range(3):
        for value in (0.0, 1.0):
            channels = [u, v]
            channels.insert(axis, np.full_like(u, value))
            faces.append(np.stack(channels, axis=-1).reshape(-1, 3))
    lab = rgb2lab(np.concatenate(faces)[None])[0]
    cells = {tuple(c) for c in np.floor(lab[:, 1:] / 10).astype(int).tolist()}
    corners = {((i + di) * 10, (j + dj) * 10) for i, j in cells for di in (0, 1) for dj in (0, 1)}
    assert corners == {tuple(p) for p in derived_gamut_points(10).tolist()}


# --------------------------------------------------------------------------------------------
# Target grid
# --------------------------------------------------------------------------------------------
def test_downsample_is_the_block_average():
    from skimage.transform import downscale_local_mean

    x = torch.randn(2, 3, 24, 36, generator=_generator(5), dtype=torch.float64)
    small = downsample(x, 12)
    assert small.shape == (2, 3, 12, 12)
    torch.testing.assert_close(small, x.view(2, 3, 12, 2, 12, 3).mean(dim=(3, 5)))
    reference = downscale_local_mean(x.numpy(), (1, 1, 2, 3))
    np.testing.assert_allclose(small.numpy(), reference, rtol=1e-12)
    odd = torch.randn(1, 2, 29, 17, generator=_generator(6))
    torch.testing.assert_close(downsample(odd, 12), F.interpolate(odd, size=(12, 12), mode="area"))
    torch.testing.assert_close(downsample(odd, 1), odd.mean(dim=(2, 3), keepdim=True))


def test_downsample_targets_fixed_and_rescaled():
    x = _uniform_inside([-87.0, -108.0], [99.0, 95.0], (2, 2, 24, 24), seed=7)
    classes, ranges = downsample_targets(x, POSTER_AB, grid=12)
    assert ranges is None and classes.shape == (2, 12, 12)
    assert torch.equal(classes, POSTER_AB.encode(downsample(x, 12)))
    rescaled = RescaledQuantizer([10, 10])
    classes, ranges = downsample_targets(x, rescaled, grid=6)
    small = downsample(x, 6)
    torch.testing.assert_close(ranges[..., 0], small.amin(dim=(2, 3)))  # ranges of the targets
    assert torch.equal(classes, rescaled.encode(small, ranges))


# --------------------------------------------------------------------------------------------
# Class rebalancing
# --------------------------------------------------------------------------------------------
def test_class_distribution():
    classes = torch.tensor([[0, 0, 3], [3, 3, 1]])
    torch.testing.assert_close(class_distribution(classes, 5), torch.tensor([2, 1, 0, 3, 0], dtype=torch.float64) / 6)


def test_smoothing_spreads_mass_to_neighbours_and_preserves_it():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]])
    prior = torch.tensor([1.0, 0.0, 0.0])
    smoothed = smooth_distribution(prior, centres, sigma=5.0)
    kernel = np.exp(-np.array([0.0, 100.0, 400.0]) / 50.0)
    np.testing.assert_allclose(smoothed.numpy(), kernel / kernel.sum())
    torch.testing.assert_close(smooth_distribution(prior, centres, sigma=0.0), prior.double())


def test_rebalancing_weights_properties():
    centres = POSTER_AB.centres()
    prior = torch.rand(100, generator=_generator(8), dtype=torch.float64) ** 4
    prior[::7] = 0  # some bins never seen
    weights = rebalancing_weights(prior, centres)
    smoothed = smooth_distribution(prior, centres, sigma=5.0)
    assert weights.shape == (100,) and bool((weights > 0).all())
    torch.testing.assert_close(float((smoothed * weights).sum()), 1.0)
    order = torch.argsort(smoothed)
    assert bool((weights[order][1:] <= weights[order][:-1] + 1e-12).all())  # rarer bins weigh more
    expected = 1 / (0.5 * smoothed + 0.5 / 100)
    torch.testing.assert_close(weights, expected / (smoothed * expected).sum())
    torch.testing.assert_close(rebalancing_weights(prior, centres, lam=1.0), torch.ones(100, dtype=torch.float64))
    uniform = torch.full((100,), 0.01, dtype=torch.float64)
    torch.testing.assert_close(rebalancing_weights(uniform, centres, sigma=0.0), torch.ones(100, dtype=torch.float64))


# --------------------------------------------------------------------------------------------
# Perceptual error
# --------------------------------------------------------------------------------------------
def test_delta_e_2000_zero_for_identical_images_and_matches_colour_science():
    import colour

    rgb1 = torch.rand(2, 3, 5, 4, generator=_generator(9), dtype=torch.float64)
    rgb2 = (rgb1 + 0.1 * torch.randn(2, 3, 5, 4, generator=_generator(10), dtype=torch.float64)).clamp(0, 1)
    torch.testing.assert_close(delta_e_2000(rgb1, rgb1), torch.zeros(2, dtype=torch.float64))
    lab = [colour.XYZ_to_Lab(colour.sRGB_to_XYZ(t.permute(0, 2, 3, 1).numpy())) for t in (rgb1, rgb2)]
    expected = colour.delta_E(lab[0], lab[1], method="CIE 2000").reshape(2, -1).mean(axis=1)
    result = delta_e_2000(rgb1, rgb2)
    assert result.shape == (2,) and result.dtype == torch.float64
    np.testing.assert_allclose(result.numpy(), expected, atol=2e-3)
    as_uint8 = (rgb1 * 255).round().to(torch.uint8)
    torch.testing.assert_close(delta_e_2000(as_uint8, as_uint8.double() / 255), torch.zeros(2, dtype=torch.float64))


def test_quantization_error_of_the_poster_spaces():
    rgb = _photo(48)
    lab = quantization_error(rgb, "lab")
    rescaled = quantization_error(rgb, "rescaled_lab")
    assert lab.delta_e.shape == (2,) and lab.reconstruction.shape == (2, 3, 48, 48)
    assert lab.downsampled is None and lab.ranges is None and rescaled.ranges.shape == (2, 2, 2)
    assert bool((lab.delta_e > 0.5).all()) and lab.mean < 10
    # per-image bins are finer than the fixed ones on a real photograph
    assert bool((rescaled.delta_e < lab.delta_e).all())
    # the reconstruction keeps L and puts ab at the bin centres
    space = get_color_space("lab")
    values = space.from_rgb(rgb)
    expected = space.to_rgb(space.merge(values[:, :1], POSTER_AB.decode(POSTER_AB.encode(values[:, 1:]))))
    torch.testing.assert_close(lab.reconstruction, expected)


def test_quantization_error_on_the_target_grid():
    rgb = _photo(48)
    for upsample in ("nearest", "bilinear"):
        report = quantization_error(rgb, "rescaled_lab", grid=12, upsample=upsample)
        assert report.classes.shape == (2, 12, 12) and report.downsampled.shape == (2, 3, 48, 48)
        # downsampling costs more than quantizing at full resolution, quantizing adds to it
        assert report.mean > quantization_error(rgb, "rescaled_lab").mean
        assert report.mean > float(delta_e_2000(rgb, report.downsampled).mean())
    # full-resolution L with the grid's ab, each 4x4 block one bin centre
    nearest = quantization_error(rgb, "lab", grid=12)
    space = get_color_space("lab")
    values = space.from_rgb(rgb)
    grid_ab = POSTER_AB.decode(POSTER_AB.encode(F.adaptive_avg_pool2d(values[:, 1:], 12)))
    blocks = grid_ab.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)
    torch.testing.assert_close(nearest.reconstruction, space.to_rgb(space.merge(values[:, :1], blocks)))
    # a very fine quantizer reduces the error to that of downsampling alone
    fine = UniformQuantizer([4000, 4000], [-128.0, -128.0], [128.0, 128.0])
    report = quantization_error(rgb, fine, grid=12, space="lab")
    np.testing.assert_allclose(report.delta_e.numpy(), delta_e_2000(rgb, report.downsampled).numpy(), atol=0.05)
    gamut = quantization_error(rgb, GamutQuantizer.published(), space="lab")
    assert bool((gamut.delta_e > 0).all()) and gamut.classes.shape == (2, 48, 48)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------
RESCALED = RescaledQuantizer([10, 10])
GOOD_RANGES = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])


def _ab(*shape):
    return torch.zeros(*shape)


BAD_CALLS = {
    "encode rank": (lambda: POSTER_AB.encode(_ab(2, 4, 4)), r"x must have shape \(N, C, H, W\)"),
    "encode channels": (lambda: POSTER_AB.encode(_ab(1, 3, 4, 4)), "x must have 2 channels"),
    "encode channels-last": (lambda: POSTER_AB.encode(_ab(1, 4, 4, 2)), "channels-last"),
    "encode NaN": (lambda: POSTER_AB.encode(torch.full((1, 2, 2, 2), float("nan"))), "x contains NaN"),
    "encode inf": (lambda: RESCALED.encode(torch.full((1, 2, 2, 2), float("inf"))), "x contains NaN or infinite"),
    "encode empty batch": (lambda: POSTER_AB.encode(_ab(0, 2, 4, 4)), "x must not be empty"),
    "encode integers": (lambda: POSTER_AB.encode(torch.zeros(1, 2, 2, 2, dtype=torch.long)), "x must be a floating"),
    "encode ranges on fixed bins": (lambda: POSTER_AB.encode(_ab(1, 2, 2, 2), GOOD_RANGES), "ranges must be None"),
    "bins zero": (lambda: UniformQuantizer([10, 0], [0, 0], [1, 1]), r"bins\[1\] must be a positive integer"),
    "bins negative": (lambda: RescaledQuantizer([-3]), r"bins\[0\] must be a positive integer"),
    "bins count": (lambda: UniformQuantizer([10, 10, 10], [0, 0], [1, 1]), "bins must have one entry per channel"),
    "low >= high": (lambda: UniformQuantizer([10, 10], [0, 5], [1, 5]), "channel 1 needs low < high"),
    "low not finite": (lambda: UniformQuantizer([10], [float("-inf")], [1]), "must be finite"),
    "margin": (lambda: RescaledQuantizer([10], margin=0.0), "margin must be a finite number > 0"),
    "grid larger than image": (lambda: downsample(_ab(1, 2, 8, 16), 12), "grid must not exceed the image size"),
    "grid zero": (lambda: downsample(_ab(1, 2, 8, 8), 0), "grid must be a positive integer"),
    "downsample integers": (lambda: downsample(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 4), "x must be a floating"),
    "targets grid": (lambda: downsample_targets(_ab(1, 2, 8, 8), POSTER_AB, grid=9), "grid must not exceed"),
    "rescaled decode without ranges": (lambda: RESCALED.decode(torch.zeros(1, 2, 2, dtype=torch.long)), "ranges is required"),
    "rescaled logits without ranges": (lambda: RESCALED.decode(torch.zeros(1, 100, 2, 2), mode="mean"), "ranges is required"),
    "rescaled centres without ranges": (lambda: RESCALED.centres(), "ranges is required"),
    "ranges shape": (lambda: RESCALED.decode(torch.zeros(2, 2, 2, dtype=torch.long), ranges=GOOD_RANGES), r"ranges must have shape \(N, C, 2\) = \(2, 2, 2\)"),
    "ranges order": (lambda: RESCALED.decode(torch.zeros(1, 2, 2, dtype=torch.long), ranges=GOOD_RANGES.flip(-1)), "low < high"),
    "ranges NaN": (lambda: RESCALED.encode(_ab(1, 2, 2, 2), GOOD_RANGES * float("nan")), "ranges contains NaN"),
    "class too large": (lambda: POSTER_AB.decode(torch.full((1, 2, 2), 100)), r"y class indices must lie in \[0, 100\)"),
    "class negative": (lambda: POSTER_AB.decode(torch.full((1, 2, 2), -1)), r"y class indices must lie in \[0, 100\)"),
    "class map rank": (lambda: POSTER_AB.decode(torch.zeros(1, 1, 2, 2, dtype=torch.long)), r"y must be a class map \(N, H, W\)"),
    "logits classes": (lambda: POSTER_AB.decode(torch.zeros(1, 99, 2, 2)), "y must have 100 channels"),
    "logits NaN": (lambda: POSTER_AB.decode(torch.full((1, 100, 2, 2), float("nan"))), "y contains NaN"),
    "logits empty": (lambda: POSTER_AB.decode(torch.zeros(0, 100, 2, 2)), "y must not be empty"),
    "mode": (lambda: POSTER_AB.decode(torch.zeros(1, 100, 2, 2), mode="median"), "mode must be one of"),
    "temperature": (lambda: POSTER_AB.decode(torch.zeros(1, 100, 2, 2), mode="annealed", temperature=0.0), "temperature must be"),
    "gamut points shape": (lambda: GamutQuantizer(np.zeros((3,))), r"points must have shape \(K, C\)"),
    "gamut points NaN": (lambda: GamutQuantizer([[0.0, float("nan")]]), "points contains NaN"),
    "gamut points repeated": (lambda: GamutQuantizer([[0, 0], [0, 0]]), "points must be distinct"),
    "gamut encode channels": (lambda: GamutQuantizer.published().encode(_ab(1, 3, 2, 2)), "x must have 2 channels"),
    "gamut class": (lambda: GamutQuantizer.published().decode(torch.full((1, 1, 1), 313)), r"\[0, 313\)"),
    "derived grid": (lambda: derived_gamut_points(0), "grid must be a positive integer"),
    "derived rule": (lambda: derived_gamut_points(10, rule="hull"), "rule must be one of"),
    "distribution classes": (lambda: class_distribution(torch.tensor([0, 5]), 5), r"classes class indices must lie in \[0, 5\)"),
    "distribution floats": (lambda: class_distribution(torch.tensor([0.0]), 5), "classes class map must be an integer"),
    "distribution count": (lambda: class_distribution(torch.tensor([0]), 0), "num_classes must be a positive integer"),
    "rebalancing lam": (lambda: rebalancing_weights(torch.ones(3), torch.zeros(3, 2), lam=0.0), r"lam must be a number in \(0, 1\]"),
    "rebalancing prior": (lambda: rebalancing_weights(-torch.ones(3), torch.zeros(3, 2)), "prior must be finite, non-negative"),
    "rebalancing centres": (lambda: rebalancing_weights(torch.ones(3), torch.zeros(4, 2)), r"centres must have shape \(K, C\) with K = 3"),
    "smoothing sigma": (lambda: smooth_distribution(torch.ones(3), torch.zeros(3, 2), sigma=-1.0), "sigma must be"),
    "delta_e shapes": (lambda: delta_e_2000(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 3)), "rgb1 and rgb2 must have the same shape"),
    "delta_e channels": (lambda: delta_e_2000(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)), "rgb1 must have 3 channels"),
    "delta_e empty": (lambda: delta_e_2000(torch.zeros(0, 3, 2, 2), torch.zeros(0, 3, 2, 2)), "rgb1 must not be empty"),
    "error quantizer channels": (lambda: quantization_error(torch.zeros(1, 3, 4, 4), UniformQuantizer([10], [0], [1])), "quantizer must have 2 channels"),
    "error quantizer type": (lambda: quantization_error(torch.zeros(1, 3, 4, 4), 42), "quantizer must be a colour space name"),
    "error upsample": (lambda: quantization_error(torch.zeros(1, 3, 4, 4), "lab", upsample="bicubic"), "upsample must be"),
    "error grid": (lambda: quantization_error(torch.zeros(1, 3, 4, 4), "lab", grid=5), "grid must not exceed"),
    "error rgb NaN": (lambda: quantization_error(torch.full((1, 3, 4, 4), float("nan")), "lab"), "rgb contains NaN"),
    "poster bins": (lambda: poster_quantizers("lab", bins2=0), "bins2 must be a positive integer"),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_input_raises_value_error_naming_the_argument(case):
    call, message = BAD_CALLS[case]
    with pytest.raises(ValueError, match=message):
        call()


def test_unknown_colour_space_raises_value_error():
    with pytest.raises(ValueError):
        poster_quantizers("hsv")


def test_upsample_map_repeats_or_interpolates_and_names_a_bad_mode():
    grid = torch.arange(4.0).reshape(1, 1, 2, 2)
    blocks = grid.repeat_interleave(2, -1).repeat_interleave(2, -2)
    assert torch.equal(quantize.upsample_map(grid, (4, 4), "nearest"), blocks)
    smooth = torch.nn.functional.interpolate(grid, size=(4, 4), mode="bilinear", align_corners=False)
    assert torch.allclose(quantize.upsample_map(grid, (4, 4), "bilinear"), smooth)
    with pytest.raises(ValueError, match=r"upsample must be one of \('nearest', 'bilinear'\), got 'cubic'"):
        quantize.upsample_map(grid, (4, 4), "cubic")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_class_statistics_and_example_logits_stay_on_the_inputs_device():
    classes = torch.randint(0, 5, (2, 4, 4))
    distinct, entropy = quantize.class_statistics(classes.cuda(), 5)
    assert distinct.device.type == "cuda" and torch.equal(distinct.cpu(), quantize.class_statistics(classes, 5)[0])
    centres, prior = torch.tensor([[0.0, 0.0], [10.0, 10.0]]), torch.tensor([0.5, 0.5])
    ab = torch.zeros(1, 2, 3, 3)
    logits = quantize.example_logits(ab.cuda(), centres, prior)
    assert torch.allclose(logits.cpu(), quantize.example_logits(ab, centres, prior))
