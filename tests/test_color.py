"""Tests of splitbrain.color against colour-science and scikit-image, on random and edge colours."""
from __future__ import annotations

import dataclasses
import itertools
import warnings

import colour
import numpy as np
import pytest
import skimage.color
import torch

from splitbrain import color
from splitbrain.color import COLOR_SPACES, get_color_space, lab_to_rgb, rgb_to_lab

# scikit-image uses a six-decimal sRGB matrix and the white (0.95047, 1, 1.08883) instead of
# colour-science's four-decimal IEC matrix and white from xy; measured gaps are 0.023 (Lab units)
# and 0.0026 (RGB units).
SKIMAGE_LAB_TOL = 0.03
SKIMAGE_RGB_TOL = 4e-3


def edge_colours() -> np.ndarray:
    """(K, 3) float64 sRGB: the 8 gamut corners (black, white, primaries, secondaries), greys, and
    every combination of values around the sRGB linear segment (knee at 0.04045)."""
    corners = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    near_knee = [0.0, 1e-6, 1e-4, 0.01, 0.04, 0.0404499, 0.04045, 0.040451, 0.0405, 0.05, 1.0]
    combos = np.array(list(itertools.product(near_knee, repeat=3)))
    greys = np.repeat(np.linspace(0.0, 1.0, 11)[:, None], 3, axis=1)
    return np.concatenate([corners, combos, greys])


def random_colours(n: int = 500, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3))


def sample_colours() -> np.ndarray:
    return np.concatenate([edge_colours(), random_colours()])


def to_image(rows: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    """(K, 3) colours -> (1, 3, 1, K) image."""
    return torch.tensor(rows.T[None, :, None, :].copy(), dtype=dtype)


def to_rows(image: torch.Tensor) -> np.ndarray:
    """(1, 3, 1, K) image -> (K, 3) float64 array."""
    return image[0, :, 0, :].T.double().cpu().numpy()


def colour_lab(rgb_rows: np.ndarray) -> np.ndarray:
    return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb_rows))


# --- constants -------------------------------------------------------------------------------


def test_constants_are_colour_science_defaults():
    np.testing.assert_array_equal(np.array(color.RGB_TO_XYZ), colour.RGB_COLOURSPACES["sRGB"].matrix_RGB_to_XYZ)
    d65_xy = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]
    np.testing.assert_allclose(np.array(color.D65_WHITE), colour.xy_to_XYZ(d65_xy), rtol=0, atol=1e-15)


# --- agreement with references ---------------------------------------------------------------


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-4), (torch.float32, 2e-3)])
def test_rgb_to_lab_matches_colour_science(dtype, tol):
    rows = sample_colours()
    lab = rgb_to_lab(to_image(rows, dtype))
    assert lab.dtype == dtype
    np.testing.assert_allclose(to_rows(lab), colour_lab(rows), rtol=0, atol=tol)


def test_rgb_to_lab_known_values():
    lab = to_rows(rgb_to_lab(to_image(np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 0.5, 0.5]]))))
    np.testing.assert_allclose(lab[0], [0.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(lab[1], [100.0, 0.0, 0.0], atol=0.02)  # white: a*, b* ~ 0.008, 0.004
    assert lab[2, 0] == pytest.approx(53.389, abs=1e-3)


def test_lab_to_rgb_matches_colour_science_in_gamut():
    rows = sample_colours()
    lab = colour_lab(rows)
    # colour.XYZ_to_sRGB uses the rounded published inverse matrix (3.2406, ...), hence 1e-3.
    expected = colour.XYZ_to_sRGB(colour.Lab_to_XYZ(lab))
    np.testing.assert_allclose(to_rows(lab_to_rgb(to_image(lab))), expected, rtol=0, atol=1e-3)


def test_rgb_to_lab_matches_skimage():
    rows = sample_colours()
    np.testing.assert_allclose(to_rows(rgb_to_lab(to_image(rows))), skimage.color.rgb2lab(rows), atol=SKIMAGE_LAB_TOL)


def test_lab_to_rgb_matches_skimage():
    lab = colour_lab(sample_colours())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage warns about the few values it clips
        expected = skimage.color.lab2rgb(lab)
    np.testing.assert_allclose(to_rows(lab_to_rgb(to_image(lab))), expected, atol=SKIMAGE_RGB_TOL)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-5), (torch.float32, 1e-3)])
def test_round_trip_in_gamut(dtype, tol):
    rgb = to_image(sample_colours(), dtype)
    back = lab_to_rgb(rgb_to_lab(rgb))
    assert back.dtype == dtype
    assert (back - rgb).abs().max().item() <= tol


def test_uint8_round_trip_is_exact_after_rounding():
    codes = torch.arange(256, dtype=torch.uint8)
    rgb_u8 = torch.stack([codes, codes.flip(0), codes.roll(7)]).view(1, 3, 16, 16)
    back = lab_to_rgb(rgb_to_lab(rgb_u8))
    assert torch.equal((back * 255).round().to(torch.uint8), rgb_u8)
    assert (back * 255 - rgb_u8.float()).abs().max().item() < 0.01


def test_lab_to_rgb_clips_out_of_gamut():
    lab = np.array([[50.0, 120.0, -120.0], [150.0, 0.0, 0.0], [-20.0, 0.0, 0.0], [50.0, 0.0, -200.0]])
    rgb = to_rows(lab_to_rgb(to_image(lab)))
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    assert rgb[0, 1] == 0.0 and rgb[0, 2] == 1.0  # no green, saturated blue
    np.testing.assert_array_equal(rgb[1], [1.0, 1.0, 1.0])  # brighter than white: exactly 1
    np.testing.assert_array_equal(rgb[2], [0.0, 0.0, 0.0])  # darker than black
    # Same as clipping colour-science's unclipped result (clipping commutes with the monotone encoding).
    expected = np.clip(colour.XYZ_to_sRGB(colour.Lab_to_XYZ(lab)), 0.0, 1.0)
    np.testing.assert_allclose(rgb, expected, atol=1e-3)


# --- uint8 input -------------------------------------------------------------------------------


def test_uint8_input_uses_float32_and_matches_float_path():
    codes = torch.arange(256, dtype=torch.uint8)
    rgb_u8 = torch.stack([codes, codes.flip(0), codes.roll(100)]).view(1, 3, 16, 16)
    lab = rgb_to_lab(rgb_u8)
    assert lab.dtype == torch.float32 and lab.shape == (1, 3, 16, 16)
    reference = rgb_to_lab(rgb_u8.double() / 255.0)
    assert (lab.double() - reference).abs().max().item() <= 1e-4
    rows = rgb_u8[0].reshape(3, -1).T.double().numpy() / 255.0
    np.testing.assert_allclose(lab[0].reshape(3, -1).T.double().numpy(), colour_lab(rows), atol=2e-3)


def test_uint8_lookup_table_is_cached_per_device_and_dtype():
    cpu = torch.device("cpu")
    table = color._srgb_decode_table(cpu, torch.float32)
    assert table is color._srgb_decode_table(cpu, torch.float32)
    assert table.shape == (256,) and table.dtype == torch.float32
    expected = colour.models.eotf_sRGB(np.arange(256) / 255.0)
    np.testing.assert_allclose(table.numpy(), expected, atol=1e-7)


# --- shapes, devices, gradients ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.uint8])
def test_unbatched_shape_is_preserved(dtype):
    rgb = (torch.rand(3, 4, 5, generator=torch.Generator().manual_seed(0)) * 255).to(dtype)
    lab = rgb_to_lab(rgb)
    assert lab.shape == (3, 4, 5)
    batched = rgb_to_lab(rgb[None])
    torch.testing.assert_close(lab, batched[0])
    assert lab_to_rgb(lab).shape == (3, 4, 5)


def test_batched_shape_and_device():
    rgb = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(1))
    lab = rgb_to_lab(rgb)
    assert lab.shape == (2, 3, 4, 5) and lab.device == rgb.device
    assert lab_to_rgb(lab).device == rgb.device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_cuda_matches_cpu(dtype):
    rgb = (torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(2)) * 255).to(dtype)
    lab = rgb_to_lab(rgb.cuda())
    assert lab.device.type == "cuda"
    torch.testing.assert_close(lab.cpu(), rgb_to_lab(rgb), atol=1e-3, rtol=0)
    assert lab_to_rgb(lab).device.type == "cuda"


def test_gradients_finite_at_black_and_knees():
    # black, white, the sRGB knee (0.04045 encoded) and the Lab knee (Y = (6/29)^3, grey 0.0939)
    values = [0.0, 1e-7, 0.04045, 0.0404499, 0.0939, 0.5, 1.0]
    rows = np.array(list(itertools.product(values, repeat=3)))
    rgb = to_image(rows).requires_grad_(True)
    lab = rgb_to_lab(rgb)
    (lab * torch.randn_like(lab)).sum().backward()
    assert torch.isfinite(rgb.grad).all()

    lab_points = np.array([[0.0, 0.0, 0.0], [8.0, 0.0, 0.0], [8.0, 10.0, -10.0], [100.0, 0.0, 0.0], [50.0, 20.0, 30.0]])
    lab_in = to_image(lab_points).requires_grad_(True)
    rgb_out = lab_to_rgb(lab_in)
    (rgb_out * torch.randn_like(rgb_out)).sum().backward()
    assert torch.isfinite(lab_in.grad).all()
    assert lab_in.grad[0, :, 0, 4].abs().sum() > 0  # an interior colour gets a real gradient


def test_gradcheck_interior():
    rgb = (0.05 + 0.9 * torch.rand(1, 3, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
    assert torch.autograd.gradcheck(rgb_to_lab, (rgb.requires_grad_(True),))
    lab = rgb_to_lab(rgb.detach()).requires_grad_(True)
    assert torch.autograd.gradcheck(lab_to_rgb, (lab,))


def test_constants_cached_in_inference_mode_still_support_autograd():
    color._matrices.cache_clear()
    with torch.inference_mode():
        rgb_to_lab(torch.rand(1, 3, 2, 2))
    rgb = torch.rand(1, 3, 2, 2, requires_grad=True)
    rgb_to_lab(rgb).sum().backward()
    assert torch.isfinite(rgb.grad).all() and rgb.grad.abs().sum() > 0


# --- bad input ---------------------------------------------------------------------------------

BAD_INPUTS = [
    (torch.rand(3, 4), r"must have shape \(N, C, H, W\) or \(C, H, W\), got shape \(3, 4\)"),
    (torch.rand(1, 1, 3, 4, 4), r"must have shape .*got shape \(1, 1, 3, 4, 4\)"),
    (torch.rand(1, 4, 5, 5), r"must have 3 channels.*got shape \(1, 4, 5, 5\)"),
    (torch.rand(5, 6, 3), r"must have 3 channels.*got shape \(5, 6, 3\).*channels-last"),
    (torch.rand(2, 5, 6, 3), r"must have 3 channels.*got shape \(2, 5, 6, 3\).*channels-last"),
    (torch.full((1, 3, 2, 2), float("nan")), r"contains NaN or infinite"),
    (torch.full((1, 3, 2, 2), float("inf")), r"contains NaN or infinite"),
    (torch.rand(0, 3, 4, 4), r"must not be empty"),
    (torch.zeros(1, 3, 2, 2, dtype=torch.int32), r"must have dtype .*got int32"),
    (torch.rand(1, 3, 2, 2).half(), r"must have dtype .*got float16"),
    (np.zeros((1, 3, 2, 2)), r"must be a torch.Tensor"),
]


@pytest.mark.parametrize("bad, message", BAD_INPUTS)
def test_rgb_to_lab_rejects_bad_input(bad, message):
    with pytest.raises(ValueError, match=r"^rgb " + message):
        rgb_to_lab(bad)


@pytest.mark.parametrize("bad, message", BAD_INPUTS)
def test_lab_to_rgb_rejects_bad_input(bad, message):
    with pytest.raises(ValueError, match=r"^lab " + message):
        lab_to_rgb(bad)


def test_lab_to_rgb_rejects_uint8():
    with pytest.raises(ValueError, match=r"^lab must have dtype float32, float64, got uint8"):
        lab_to_rgb(torch.zeros(1, 3, 2, 2, dtype=torch.uint8))


# --- ColorSpace ----------------------------------------------------------------------------------


def test_color_space_registry():
    assert tuple(COLOR_SPACES) == ("lab", "rescaled_lab", "rgb")
    for name, space in COLOR_SPACES.items():
        assert get_color_space(name) is space and space.name == name


@pytest.mark.parametrize("name", ["hsv", "LAB", "", None])
def test_get_color_space_rejects_unknown_names(name):
    with pytest.raises(ValueError, match=r"name must be one of \('lab', 'rescaled_lab', 'rgb'\)"):
        get_color_space(name)


def test_color_space_attributes():
    lab, rescaled, rgb = (get_color_space(n) for n in ("lab", "rescaled_lab", "rgb"))
    assert lab.channel_names == rescaled.channel_names == ("L", "a", "b")
    assert rgb.channel_names == ("R", "G", "B")
    for space in (lab, rescaled, rgb):
        assert space.groups == ((0,), (1, 2))
        assert space.group_channels == (1, 2)
    assert lab.value_ranges == rescaled.value_ranges == ((0.0, 101.0), (-87.0, 99.0), (-108.0, 95.0))
    assert rgb.value_ranges == ((0.0, 1.01),) * 3
    assert (lab.per_image_ranges, rescaled.per_image_ranges, rgb.per_image_ranges) == (False, True, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lab.name = "other"


@pytest.mark.parametrize("name", list(COLOR_SPACES))
def test_value_ranges_cover_srgb_gamut(name):
    space = get_color_space(name)
    values = to_rows(space.from_rgb(to_image(sample_colours())))
    for channel, (low, high) in enumerate(space.value_ranges):
        assert low <= values[:, channel].min() and values[:, channel].max() < high


def test_from_rgb():
    rgb_u8 = (torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(4)) * 255).to(torch.uint8)
    for name in ("lab", "rescaled_lab"):
        torch.testing.assert_close(get_color_space(name).from_rgb(rgb_u8), rgb_to_lab(rgb_u8), atol=0, rtol=0)
    as_rgb = get_color_space("rgb").from_rgb(rgb_u8)
    assert as_rgb.dtype == torch.float32
    torch.testing.assert_close(as_rgb, rgb_u8.float() / 255.0, atol=0, rtol=0)
    rgb_f64 = rgb_u8.double() / 255.0
    assert get_color_space("rgb").from_rgb(rgb_f64).dtype == torch.float64


@pytest.mark.parametrize("name", list(COLOR_SPACES))
def test_to_rgb_inverts_from_rgb(name):
    space = get_color_space(name)
    rgb = to_image(sample_colours())
    back = space.to_rgb(space.from_rgb(rgb))
    assert (back - rgb).abs().max().item() <= 1e-5


def test_rgb_space_to_rgb_clips():
    x = torch.tensor([-0.5, 0.25, 1.5], dtype=torch.float64).view(1, 3, 1, 1)
    assert get_color_space("rgb").to_rgb(x).flatten().tolist() == [0.0, 0.25, 1.0]


@pytest.mark.parametrize("name", list(COLOR_SPACES))
def test_split_and_merge(name):
    space = get_color_space(name)
    x = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(5))
    g1, g2 = space.split(x)
    assert g1.shape == (2, 1, 4, 5) and g2.shape == (2, 2, 4, 5)
    torch.testing.assert_close(g1, x[:, 0:1], atol=0, rtol=0)
    torch.testing.assert_close(g2, x[:, 1:3], atol=0, rtol=0)
    torch.testing.assert_close(space.merge(g1, g2), x, atol=0, rtol=0)


def test_split_and_merge_reject_bad_shapes():
    space = get_color_space("lab")
    with pytest.raises(ValueError, match=r"^x must have 3 channels"):
        space.split(torch.rand(1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"^g1 must have 1 channels"):
        space.merge(torch.rand(1, 2, 4, 4), torch.rand(1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"^g1 and g2 must have the same batch and spatial size"):
        space.merge(torch.rand(1, 1, 4, 4), torch.rand(1, 2, 4, 5))


def test_normalize_known_values():
    lab = torch.tensor([[0.0, 110.0, -110.0], [100.0, 0.0, 55.0], [50.0, -55.0, 0.0]], dtype=torch.float64)
    lab_image = lab.T.reshape(1, 3, 3, 1)
    expected = torch.tensor([[-1.0, 1.0, -1.0], [1.0, 0.0, 0.5], [0.0, -0.5, 0.0]], dtype=torch.float64)
    for name in ("lab", "rescaled_lab"):
        normalized = get_color_space(name).normalize(lab_image)
        torch.testing.assert_close(normalized, expected.T.reshape(1, 3, 3, 1))
    rgb_image = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64).view(1, 3, 1, 1)
    assert get_color_space("rgb").normalize(rgb_image).flatten().tolist() == [-1.0, 0.0, 1.0]


@pytest.mark.parametrize("name", list(COLOR_SPACES))
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-4)])
def test_normalize_round_trip_and_range(name, dtype, tol):
    space = get_color_space(name)
    values = space.from_rgb(to_image(sample_colours(), dtype))
    normalized = space.normalize(values)
    assert normalized.dtype == dtype and normalized.shape == values.shape
    assert normalized.abs().max().item() <= 1.0 + 1e-6  # sRGB maps into [-1, 1]
    assert (space.denormalize(normalized) - values).abs().max().item() <= tol


def test_normalize_rejects_integer_and_channels_last():
    space = get_color_space("lab")
    with pytest.raises(ValueError, match=r"^x must have dtype float32, float64, got int64"):
        space.normalize(torch.zeros(1, 3, 2, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"^x must have 3 channels.*channels-last"):
        space.denormalize(torch.zeros(1, 4, 4, 3))
