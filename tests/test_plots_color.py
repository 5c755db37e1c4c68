"""Tests of the figures of chapters 1-3 (splitbrain.plots.color, splitbrain.plots.quantize).

The numeric helpers behind the figures are checked against colour-science and NumPy on cases
with known answers; each plot function is checked to return a Figure with the expected axes.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from splitbrain import color, quantize
from splitbrain.plots import color as pc
from splitbrain.plots import quantize as pq
from splitbrain.quantize import UniformQuantizer, class_distribution, poster_quantizers

POSTER_AB = UniformQuantizer([10, 10], [-87.0, -108.0], [99.0, 95.0])


def _colour_science_linear_rgb(lab: np.ndarray) -> np.ndarray:
    """(..., 3) Lab -> (..., 3) linear sRGB (no clipping, no encoding) by colour-science."""
    import colour

    return colour.XYZ_to_sRGB(colour.Lab_to_XYZ(lab), apply_cctf_encoding=False)


# --------------------------------------------------------------------------------------------
# Gamut helpers
# --------------------------------------------------------------------------------------------
def test_ab_plane_samples_cell_centres_with_a_along_columns_and_b_along_rows():
    plane = color.ab_plane(40.0, (-10.0, 10.0), (0.0, 6.0), step=2.0)
    assert plane.shape == (3, 3, 10) and plane.dtype == torch.float64
    assert torch.all(plane[0] == 40.0)
    np.testing.assert_allclose(plane[1, 0].numpy(), np.arange(-9.0, 10.0, 2.0))
    np.testing.assert_allclose(plane[2, :, 0].numpy(), [1.0, 3.0, 5.0])


def test_in_srgb_gamut_known_points():
    lab = torch.tensor(
        [[50.0, 0.0, 0.0], [75.0, -10.0, 20.0], [32.3, 79.2, -107.9], [50.0, 120.0, -120.0],
         [30.0, -80.0, 80.0], [95.0, 60.0, 0.0]],
        dtype=torch.float64,
    ).T.reshape(3, 1, -1)
    expected = [True, True, False, False, False, False]  # pure blue rounded to 0.1 leaves the gamut
    assert color.in_srgb_gamut(lab)[0].tolist() == expected
    # pure blue itself, converted exactly, is in gamut
    from splitbrain.color import rgb_to_lab

    blue = rgb_to_lab(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).view(3, 1, 1))
    assert bool(color.in_srgb_gamut(blue).all())


def test_in_srgb_gamut_agrees_with_colour_science_away_from_the_boundary():
    generator = torch.Generator().manual_seed(0)
    low = torch.tensor([1.0, -110.0, -120.0], dtype=torch.float64)
    high = torch.tensor([99.0, 110.0, 110.0], dtype=torch.float64)
    lab = low + torch.rand(4000, 3, generator=generator, dtype=torch.float64) * (high - low)
    ours = color.in_srgb_gamut(lab.T.reshape(3, 1, -1))[0].numpy()
    linear = _colour_science_linear_rgb(lab.numpy())
    # colour-science's inverse matrix is rounded to 4 decimals: skip points within 1e-3 of an edge
    distance = np.minimum(np.abs(linear), np.abs(linear - 1.0)).min(axis=1)
    clear = distance > 1e-3
    reference = ((linear >= 0) & (linear <= 1)).all(axis=1)
    assert clear.mean() > 0.95
    assert 0.1 < reference.mean() < 0.5  # the sample holds plenty of both cases
    np.testing.assert_array_equal(ours[clear], reference[clear])


def test_reachable_fraction_known_answers():
    assert color.reachable_fraction(50.0, (-5.0, 5.0), (-5.0, 5.0), step=1.0) == 1.0
    assert color.reachable_fraction(50.0, (150.0, 160.0), (150.0, 160.0), step=1.0) == 0.0
    # at black only a = b = 0 exists: a box away from the origin is empty
    assert color.reachable_fraction(0.0, (10.0, 20.0), (10.0, 20.0), step=1.0) == 0.0


def test_reachable_fraction_matches_colour_science_at_l50():
    step = 2.0
    ours = color.reachable_fraction(50.0, color.POSTER_A_RANGE, color.POSTER_B_RANGE, step=step)
    plane = color.ab_plane(50.0, color.POSTER_A_RANGE, color.POSTER_B_RANGE, step).permute(1, 2, 0).numpy()
    linear = _colour_science_linear_rgb(plane)
    reference = float(((linear >= 0) & (linear <= 1)).all(axis=-1).mean())
    assert 0.3 < ours < 0.45
    assert ours == pytest.approx(reference, abs=2e-3)


def test_reachable_fractions_and_overall_are_consistent():
    values = color.reachable_fractions([25.0, 50.0], step=4.0)
    assert values.shape == (2,) and values.dtype == torch.float64
    assert values[0] == pytest.approx(color.reachable_fraction(25.0, step=4.0))
    assert values[1] > values[0]
    overall = color.overall_reachable_fraction(step=4.0, lightness_step=10.0)
    expected = color.reachable_fractions(np.arange(5.0, 100.0, 10.0).tolist(), step=4.0).mean()
    assert overall == pytest.approx(float(expected))
    assert 0.15 < overall < 0.3


def test_srgb_cube_samples_cover_the_corners_red_slowest():
    cube = color.srgb_cube_samples(3)
    assert cube.shape == (27, 3) and cube.dtype == torch.float64
    assert cube[0].tolist() == [0.0, 0.0, 0.0] and cube[-1].tolist() == [1.0, 1.0, 1.0]
    assert cube[1].tolist() == [0.0, 0.0, 0.5]  # blue varies fastest
    corners = {tuple(row) for row in cube.tolist() if set(row) <= {0.0, 1.0}}
    assert len(corners) == 8


def test_channel_correlation_matches_numpy():
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(3, 9, 7, generator=generator, dtype=torch.float64)
    image[2] = 0.5 * image[0] + 0.1  # perfectly correlated with channel 0
    result = color.channel_correlation(image)
    np.testing.assert_allclose(result.numpy(), np.corrcoef(image.reshape(3, -1).numpy()), atol=1e-12)
    assert result[0, 2] == pytest.approx(1.0)
    batch = torch.stack([image, image.flip(-1)])
    np.testing.assert_allclose(color.channel_correlation(batch).numpy(), result.numpy(), atol=1e-12)


def test_lab_axis_colormap_is_neutral_in_the_middle_and_coloured_at_the_ends():
    a_map = pc.lab_axis_colormap("a")
    assert a_map.N == 256
    middle = np.array(a_map(0.5)[:3])
    assert np.ptp(middle) < 0.02  # a* near 0: grey
    low, high = np.array(a_map(0.0)[:3]), np.array(a_map(1.0)[:3])
    assert low[1] > low[0] and high[0] > high[1]  # green at -a, red at +a
    b_map = pc.lab_axis_colormap("b")
    assert b_map(0.0)[2] > b_map(0.0)[0] and b_map(1.0)[0] > b_map(1.0)[2]  # blue at -b, yellow at +b


@pytest.mark.parametrize(
    "call",
    [
        lambda: color.ab_plane(50.0, (1.0, 0.0), (0.0, 1.0)),
        lambda: color.ab_plane(50.0, step=0.0),
        lambda: color.in_srgb_gamut(torch.zeros(3, 2, 2, dtype=torch.long)),
        lambda: color.in_srgb_gamut(torch.zeros(2, 2, 3)),
        lambda: color.reachable_fractions([]),
        lambda: color.srgb_cube_samples(1),
        lambda: color.channel_correlation(torch.zeros(3, 2, 2, dtype=torch.uint8)),
        lambda: pc.lab_axis_colormap("L"),
    ],
)
def test_colour_helpers_reject_bad_input(call):
    with pytest.raises(ValueError):
        call()


# --------------------------------------------------------------------------------------------
# Quantization helpers
# --------------------------------------------------------------------------------------------
def test_centre_colours_grey_at_the_origin_and_clipped_in_range():
    colours = pq.centre_colours(torch.tensor([[0.0, 0.0], [120.0, -120.0]]), lightness=50.0)
    assert colours.shape == (2, 3)
    assert np.ptp(colours[0]) < 2e-3  # neutral grey
    import colour

    reference = colour.XYZ_to_sRGB(colour.Lab_to_XYZ(np.array([50.0, 0.0, 0.0])))
    np.testing.assert_allclose(colours[0], reference, atol=1e-3)
    assert colours.min() >= 0.0 and colours.max() <= 1.0


def test_entropy_bits_known_values():
    assert quantize.entropy_bits(torch.ones(4)) == pytest.approx(2.0)
    assert quantize.entropy_bits([0.0, 3.0, 0.0]) == 0.0
    assert quantize.entropy_bits([1.0, 1.0, 2.0]) == pytest.approx(1.5)
    with pytest.raises(ValueError):
        quantize.entropy_bits([-1.0, 2.0])


def test_class_statistics_counts_and_entropy():
    classes = torch.tensor([[[0, 0], [0, 0]], [[0, 1], [2, 3]], [[5, 5], [7, 7]]])
    distinct, entropy = quantize.class_statistics(classes, 8)
    assert distinct.tolist() == [1, 4, 2]
    np.testing.assert_allclose(entropy.numpy(), [0.0, 2.0, 1.0], atol=1e-12)
    with pytest.raises(ValueError):
        quantize.class_statistics(torch.tensor([[[8]]]), 8)
    with pytest.raises(ValueError):
        quantize.class_statistics(torch.zeros(2, 2), 8)


def test_example_logits_are_log_probabilities_peaked_at_the_true_bin():
    ab = torch.tensor([[-40.0, 30.0], [60.0, -70.0]]).T.reshape(1, 2, 1, 2)
    centres = POSTER_AB.centres()
    logits = quantize.example_logits(ab, centres, torch.ones(100), sigma=5.0, prior_weight=0.0)
    assert logits.shape == (1, 100, 1, 2) and logits.dtype == torch.float32
    np.testing.assert_allclose(logits.exp().sum(dim=1).numpy(), 1.0, atol=1e-5)
    assert torch.equal(logits.argmax(dim=1), POSTER_AB.encode(ab))
    prior = torch.zeros(100)
    prior[7] = 1.0
    hedged = quantize.example_logits(ab, centres, prior, sigma=5.0, prior_weight=0.5).exp()
    assert hedged[0, 7, 0].tolist() == pytest.approx([0.5, 0.5], abs=1e-3)


def test_class_map_colours_are_the_bin_centres():
    classes = torch.tensor([[[0, 99], [44, 45]]])
    colours = pq.class_map_colours(POSTER_AB, classes)
    assert colours.shape == (1, 2, 2, 3)
    expected = pq.centre_colours(POSTER_AB.centres()[[0, 99, 44, 45]])
    np.testing.assert_allclose(colours.reshape(-1, 3), expected)
    # Per-image bins: the same class is a different colour in an image with another range.
    rescaled = quantize.RescaledQuantizer((10, 10))
    ranges = torch.tensor([[[-10.0, 10.0], [-10.0, 10.0]], [[0.0, 60.0], [20.0, 80.0]]])
    two = pq.class_map_colours(rescaled, torch.full((2, 1, 1), 55), ranges=ranges)
    assert np.abs(two[0, 0, 0] - two[1, 0, 0]).sum() > 0.1
    lab_of = rescaled.decode(torch.full((2, 1, 1), 55), ranges=ranges)[:, :, 0, 0]
    np.testing.assert_allclose(two[:, 0, 0], pq.centre_colours(lab_of))


# --------------------------------------------------------------------------------------------
# Figures: each returns a Figure with the documented axes
# --------------------------------------------------------------------------------------------
def _tiny_photo(size: int = 8, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, size, size), generator=generator, dtype=torch.uint8)


def _axes(fig) -> int:
    assert isinstance(fig, Figure)
    return len(fig.axes)


def test_colour_figures_have_the_expected_axes():
    assert _axes(pc.plot_srgb_gamut(levels=3)) == 3
    assert _axes(pc.plot_ab_slices([25.0, 75.0], step=10.0)) == 2
    assert _axes(pc.plot_reachable_fraction([0.0, 50.0, 100.0], [0.0, 0.4, 0.0], highlight=[50.0])) == 1
    assert _axes(pc.plot_channel_split(_tiny_photo())) == 8
    matrices = {"RGB": torch.eye(3), "Lab": -torch.eye(3)}
    assert _axes(pc.plot_correlation_matrices(matrices, {"Lab": ("L*", "a*", "b*")})) == 2
    assert _axes(pc.plot_correlation_matrices({"|r|": torch.eye(3)}, absolute=True)) == 1


def test_ab_slice_figure_paints_unreachable_colours_grey():
    fig = pc.plot_ab_slices([50.0], step=10.0, extent=(-120.0, 120.0, -120.0, 120.0))
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (24, 24, 3)
    grey = np.all(np.isclose(image, 0.82), axis=-1)
    lab = color.ab_plane(50.0, (-120.0, 120.0), (-120.0, 120.0), 10.0)
    np.testing.assert_array_equal(grey, ~color.in_srgb_gamut(lab).numpy())


def test_quantize_figures_have_the_expected_axes():
    _, rescaled = poster_quantizers("rescaled_lab")
    ranges = torch.tensor([[[-10.0, 20.0], [5.0, 40.0]], [[0.0, 1.0], [-3.0, 9.0]]])
    sets = {"poster": POSTER_AB.centres(), "rescaled": rescaled.centres(ranges)[0]}
    assert _axes(pq.plot_bin_centres(sets, reachable={"poster": torch.arange(100) % 2 == 0})) == 2
    assert _axes(pq.plot_bin_centres(sets, zoom=True)) == 2
    distribution = class_distribution(torch.tensor([0, 0, 55, 99]), 100)
    assert _axes(pq.plot_class_occupancy({"poster": (POSTER_AB.centres(), distribution)})) == 1

    images = torch.stack([_tiny_photo(seed=s) for s in range(2)])
    assert _axes(pq.plot_image_table({"a": images, "b": images.float() / 255, "c": images})) == 6
    assert _axes(pq.plot_image_table({"a": images, "b": images}, layout="columns", max_images=1)) == 2

    probabilities = torch.softmax(torch.randn(100, generator=torch.Generator().manual_seed(0)), 0)
    decoded = {"centre": (0.0, -30.0), "mean": (1.0, 2.0), "annealed": (0.5, -10.0)}
    assert _axes(pq.plot_prediction_decoding(probabilities, POSTER_AB, target_class=43, decoded=decoded)) == 3

    classes = {"global": torch.tensor([[[1, 2], [3, 4]], [[1, 2], [3, 5]]]), "rescaled": torch.zeros(2, 2, 2, dtype=torch.long)}
    maps = {title: (m, pq.class_map_colours(POSTER_AB, m)) for title, m in classes.items()}
    fig = pq.plot_class_maps(images, maps, row_titles=["x", "y"])
    assert _axes(fig) == 6
    assert "1 of 4 cells differ" in fig.axes[4].get_title()

    assert _axes(pq.plot_image_ranges(ranges)) == 2
    stats = {"global": (torch.tensor([1, 3]), torch.tensor([0.0, 1.2])), "rescaled": (torch.tensor([20, 30]), torch.tensor([4.0, 4.5]))}
    assert _axes(pq.plot_per_image_statistics(stats, num_classes=100, cells=144)) == 2
    assert _axes(pq.plot_class_histograms({"global": distribution, "rescaled": torch.ones(100) / 100})) == 3


@pytest.mark.parametrize(
    "call",
    [
        lambda: pq.plot_bin_centres({}),
        lambda: pq.plot_bin_centres({"x": torch.zeros(4, 3)}),
        lambda: pq.plot_image_table({"a": torch.zeros(2, 3, 4, 4), "b": torch.zeros(1, 3, 4, 4)}),
        lambda: pq.plot_image_table({"a": torch.zeros(2, 3, 4, 4)}, layout="grid"),
        lambda: pq.plot_prediction_decoding(torch.ones(99) / 99, POSTER_AB),
        lambda: pq.plot_image_ranges(torch.zeros(3, 2)),
        lambda: pq.plot_class_histograms({"x": torch.ones(10)}),
    ],
)
def test_quantize_figures_reject_bad_input(call):
    with pytest.raises(ValueError):
        call()



def test_per_image_statistics_legend_covers_no_bar():
    """The legend sits outside both panels, so it cannot hide the tallest bars wherever the data
    puts them (inside, it covered chapter 3's tallest entropy bar)."""
    generator = torch.Generator().manual_seed(0)
    stats = {"global": (torch.randint(1, 10, (60,), generator=generator), 1.5 * torch.rand(60, generator=generator)),
             "rescaled": (torch.randint(20, 40, (60,), generator=generator), 4 + torch.rand(60, generator=generator))}
    fig = pq.plot_per_image_statistics(stats, num_classes=100, cells=144)
    fig.draw_without_rendering()
    legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert len(legends) == 1
    box = legends[0].get_window_extent()
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent()), f"the legend overlaps the panel {ax.get_title()!r}"
    assert [text.get_text().split(" (")[0] for text in legends[0].get_texts()][:2] == ["global", "rescaled"]
