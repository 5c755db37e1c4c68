"""Tests of splitbrain.plots.denoising: display corruption, reconstructions, widths, floor verdicts."""
import math

import pytest
import torch
from matplotlib.figure import Figure

from splitbrain.architecture import width_rows
from splitbrain.comparisons import binomial_standard_error, floor_rows, floor_sentence
from splitbrain.models import DenoisingAutoencoder, SplitBrainNet, corrupt, level_label
from splitbrain.plots import BOOK_COLUMN_INCHES, BOOK_COLUMN_PX
from splitbrain.plots.denoising import (
    plot_corruptions,
    plot_loss_curves,
    plot_probe_by_layer,
    plot_reconstructions,
)
from splitbrain.plots.legibility import measure
from splitbrain.predict import corrupt_for_display, reconstruction_examples, refresh_dae_batchnorm


def random_images(n=2, size=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)


def tiny_dae(noise="salt_pepper", level=0.2):
    torch.manual_seed(0)
    return DenoisingAutoencoder("simplenet", noise=noise, noise_level=level, width="half", input_size=16, grid=4)


# ---------------------------------------------------------------------------------------------
# labels and display corruption


def test_level_label_names_probability_or_standard_deviation():
    assert level_label("masking", 0.25) == "p = 25%"
    assert level_label("salt_pepper", 0.05) == "p = 5%"
    assert level_label("gaussian", 0.1) == "σ = 0.1"
    with pytest.raises(ValueError, match="noise"):
        level_label("speckle", 0.1)


def test_level_zero_gives_back_the_image():
    images = random_images()
    shown = corrupt_for_display(images, "salt_pepper", 0.0)
    assert torch.allclose(shown, images.float() / 255, atol=1e-6)


def test_level_zero_in_lab_round_trips_through_lab():
    images = random_images(size=6)
    shown = corrupt_for_display(images, "masking", 0.0, space="lab")
    assert torch.allclose(shown, images.float() / 255, atol=1e-4)


def test_full_masking_is_mid_grey_in_rgb():
    shown = corrupt_for_display(random_images(), "masking", 1.0)
    assert torch.allclose(shown, torch.full_like(shown, 0.5))


def test_full_salt_and_pepper_is_black_or_white_per_pixel():
    shown = corrupt_for_display(random_images(n=1, size=16), "salt_pepper", 1.0)
    per_pixel = shown[0]
    assert torch.all((per_pixel == 0) | (per_pixel == 1))
    # all channels of a pixel together: every pixel is pure black or pure white
    assert torch.equal(per_pixel.amin(0), per_pixel.amax(0))
    white = float(per_pixel[0].mean())
    assert 0.2 < white < 0.8


def test_display_matches_models_corrupt_with_the_same_seed():
    images = random_images(size=10)
    shown = corrupt_for_display(images, "gaussian", 0.3, seed=7)
    normalised = images.float() / 255 * 2 - 1
    expected = corrupt(normalised, "gaussian", 0.3, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(shown, ((expected + 1) / 2).clamp(0, 1), atol=1e-6)


def test_gaussian_noise_has_half_sigma_in_display_units():
    grey = torch.full((1, 3, 64, 64), 0.5)
    shown = corrupt_for_display(grey, "gaussian", 0.1)  # sigma 0.1 of a [-1, 1] range
    assert math.isclose(float((shown - grey).std()), 0.05, rel_tol=0.05)


def test_display_rejects_bad_input():
    with pytest.raises(ValueError, match="noise"):
        corrupt_for_display(random_images(), "blur", 0.1)
    with pytest.raises(ValueError, match="rgb"):
        corrupt_for_display(torch.zeros(2, 4, 4, 3), "masking", 0.1)


# ---------------------------------------------------------------------------------------------
# reconstructions


def test_reconstruction_examples_agree_with_the_model():
    model = tiny_dae()
    model.train()
    images = random_images(n=3, size=16)
    result = reconstruction_examples(model, images, space="rgb", seed=3)
    assert model.training  # mode restored

    clean = images.float() / 255 * 2 - 1
    noisy = model.corrupt(clean, generator=torch.Generator().manual_seed(3))
    model.eval()
    with torch.no_grad():
        restored = model(noisy)
    assert math.isclose(result["mse_corrupted"], float(((noisy - clean) ** 2).mean()), rel_tol=1e-6)
    assert math.isclose(result["mse_reconstructed"], float(((restored - clean) ** 2).mean()), rel_tol=1e-5)
    assert torch.allclose(result["clean"], images.float() / 255, atol=1e-6)
    assert torch.allclose(result["corrupted"], ((noisy + 1) / 2).clamp(0, 1), atol=1e-6)
    assert torch.allclose(result["reconstructed"], ((restored + 1) / 2).clamp(0, 1), atol=1e-6)
    for key in ("clean", "corrupted", "reconstructed"):
        assert result[key].shape == (3, 3, 16, 16)


def test_float64_images_are_taken_like_float32_ones():
    """Images may come as uint8 or as floats in [0, 1] of any precision; the network's inputs
    are float32 either way (a float64 batch once reached the float32 network unconverted)."""
    model = tiny_dae().eval()
    images = random_images(n=2, size=16)
    single = reconstruction_examples(model, images.float() / 255, space="lab", seed=1)
    double = reconstruction_examples(model, images.double() / 255, space="lab", seed=1)
    assert math.isclose(single["mse_reconstructed"], double["mse_reconstructed"], rel_tol=1e-4)
    assert corrupt_for_display(images.double() / 255, "masking", 0.5, "lab", seed=1).dtype == torch.float32
    refresh_dae_batchnorm(model, images.double() / 255, space="lab", batch_size=2)


def test_reconstruction_examples_needs_a_dae():
    pair = SplitBrainNet("simplenet", width="half", grid=4, input_size=16)
    with pytest.raises(ValueError, match="DenoisingAutoencoder"):
        reconstruction_examples(pair, random_images(size=16))


# ---------------------------------------------------------------------------------------------
# BatchNorm statistics


def test_refresh_sets_running_statistics_to_the_data_statistics():
    model = tiny_dae()
    model.eval()
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    images = random_images(n=8, size=16, seed=1)
    refresh_dae_batchnorm(model, images, space="rgb", batch_size=4)
    assert not model.training  # mode restored
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(norm.momentum == 0.1 for norm in norms)  # momenta restored
    for key, value in model.state_dict().items():
        if key in weights:
            assert torch.equal(value, weights[key])  # no weight changed
    # conv1's BatchNorm: the equal-weight average of the two batches' per-channel means
    conv1, norm1 = model.encoder.stages["conv1"][0], model.encoder.stages["conv1"][1]
    with torch.no_grad():
        x = images.float() / 255 * 2 - 1
        means = [conv1(x[:4]).mean(dim=(0, 2, 3)), conv1(x[4:]).mean(dim=(0, 2, 3))]
    assert torch.allclose(norm1.running_mean, (means[0] + means[1]) / 2, atol=1e-5)
    assert int(norm1.num_batches_tracked) == 2


def test_refresh_rejects_other_models():
    pair = SplitBrainNet("simplenet", width="half", grid=4, input_size=16)
    with pytest.raises(ValueError, match="DenoisingAutoencoder"):
        refresh_dae_batchnorm(pair, random_images(size=16))
    with pytest.raises(ValueError, match="batch_size"):
        refresh_dae_batchnorm(tiny_dae(), random_images(size=16), batch_size=0)


# ---------------------------------------------------------------------------------------------
# widths


def test_full_width_dae_is_as_wide_as_a_half_width_pair():
    dae = DenoisingAutoencoder("simplenet", width="full", input_size=32, grid=8)
    pair = SplitBrainNet("simplenet", in_channels=(1, 2), width="half", grid=8, input_size=32)
    rows = width_rows(dae, pair, 32)
    assert [r["layer"] for r in rows] == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert [r["dae_channels"] for r in rows] == [64, 128, 256, 256, 512]
    assert [r["pair_channels"] for r in rows] == [64, 128, 256, 256, 512]
    # conv (no bias) + BatchNorm (2 per channel); conv1 reads 3 channels vs 1 + 2 in the pair
    assert rows[0]["dae_params"] == 3 * 64 * 9 + 2 * 64
    assert rows[0]["pair_params"] == (1 + 2) * 32 * 9 + 2 * 64
    assert rows[2]["dae_params"] == 128 * 256 * 9 + 2 * 256
    assert rows[2]["pair_params"] == 2 * (64 * 128 * 9 + 2 * 128)
    assert math.isclose(rows[2]["params_ratio"], rows[2]["dae_params"] / rows[2]["pair_params"])


def test_width_rows_rejects_mismatched_models():
    dae = DenoisingAutoencoder("simplenet", width="full", input_size=16, grid=4)
    pair = SplitBrainNet("fcalexnet", width="half", grid=4, input_size=16)
    with pytest.raises(ValueError, match="architecture"):
        width_rows(dae, pair, 16)
    with pytest.raises(ValueError, match="dae"):
        width_rows(pair, pair, 16)


# ---------------------------------------------------------------------------------------------
# the floor


def test_binomial_standard_error():
    assert math.isclose(binomial_standard_error(0.5, 100), 0.05)
    assert binomial_standard_error(1.0, 10) == 0.0
    with pytest.raises(ValueError, match="count"):
        binomial_standard_error(0.5, 0)
    with pytest.raises(ValueError, match="accuracy"):
        binomial_standard_error(1.5, 10)


def test_floor_rows_and_verdicts():
    rows = floor_rows({"a": 0.70, "b": 0.62, "c": 0.655}, floor=0.65, band=0.02)
    assert [r["label"] for r in rows] == ["a", "b", "c"]
    assert [round(r["gap"], 6) for r in rows] == [0.05, -0.03, 0.005]
    assert [r["verdict"] for r in rows] == ["above", "below", "within"]
    assert floor_rows({"a": 0.66}, floor=0.65)[0]["verdict"] == "above"  # no band: exact comparison
    with pytest.raises(ValueError, match="band"):
        floor_rows({"a": 0.5}, 0.5, band=-1)


def test_floor_sentence_states_only_what_the_numbers_show():
    mixed = floor_sentence(floor_rows({"a": 0.70, "b": 0.62, "c": 0.655}, 0.65, band=0.02), band=0.02)
    assert mixed == ("A beats the random-init floor by 5.0 points. B falls short of it by 3.0 points. "
                     "C is within ±2.0 points of the floor, too close to call from one run.")
    above = floor_sentence(floor_rows({"x": 0.70, "y": 0.75}, 0.60))
    assert above == "X and y all beat the random-init floor by 10.0 to 15.0 points."
    below = floor_sentence(floor_rows({"the x net": 0.50, "the y net": 0.50}, 0.60))
    assert below == "The x net and the y net all fall short of the random-init floor by 10.0 points."
    with pytest.raises(ValueError, match="rows"):
        floor_sentence([])


# ---------------------------------------------------------------------------------------------
# figures


def test_plot_corruptions_layout():
    fig = plot_corruptions(random_images(n=1, size=8)[0], ["masking", "gaussian"], [0.1, 0.5])
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["clean", "p = 10%", "p = 50%", "clean", "σ = 0.1", "σ = 0.5"]
    with pytest.raises(ValueError, match="levels"):
        plot_corruptions(random_images(n=1, size=8), ["masking"], [])
    with pytest.raises(ValueError, match="noises must be among .*'salt'"):
        plot_corruptions(random_images(n=1, size=8), ["masking", "salt"], [0.1])


def test_plot_reconstructions_layout():
    model = tiny_dae()
    result = reconstruction_examples(model, random_images(n=3, size=16))
    fig = plot_reconstructions({"s&p": result, "again": result}, max_images=2)
    assert len(fig.axes) == (1 + 2 * 2) * 2
    assert fig.axes[0].get_ylabel() == "clean"


def test_plot_loss_curves_and_probe_layers():
    history = [{"kind": "step", "step": s, "loss": 1.0 / s} for s in range(1, 5)]
    history.append({"kind": "epoch", "step": 4, "loss": 0.5})
    fig = plot_loss_curves({"run": history})
    line = fig.axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [1, 2, 3, 4]
    assert list(line.get_ydata()) == [1.0, 0.5, 1 / 3, 0.25]
    with pytest.raises(ValueError, match="no step"):
        plot_loss_curves({"run": []})

    fig = plot_probe_by_layer({"dae": {"conv1": 0.5, "conv2": 0.6}, "floor": {"conv1": 0.4, "conv2": 0.45}},
                              chance=0.1, floor_label="floor")
    lines = fig.axes[0].get_lines()
    assert list(lines[0].get_ydata()) == [50.0, 60.0]
    assert lines[1].get_linestyle() == "--"
    assert lines[2].get_ydata()[0] == pytest.approx(10.0)  # chance line


def smallest_text_on_the_page(fig, dpi=110) -> float:
    """Height in screen pixels of the figure's smallest drawn text once the book shows the figure,
    saved at the chapters' ``dpi``, no wider than its column (wider figures are shrunk to fit)."""
    from splitbrain.plots.legibility import smallest_text_on_the_page as on_the_page

    return on_the_page(fig, dpi=dpi)


def test_image_grids_keep_their_labels_readable_on_the_page():
    """Chapter 7's grids at the sizes it draws them: every label at least 9 px tall on the page."""
    corruptions = plot_corruptions(random_images(n=1, size=16)[0], ["masking", "salt_pepper", "gaussian"],
                                   [0.05, 0.1, 0.25, 0.5])
    result = reconstruction_examples(tiny_dae(), random_images(n=6, size=16))
    reconstructions = plot_reconstructions({"masking, p = 25%": result, "s&p": result, "gaussian": result})
    for fig in (corruptions, reconstructions):
        assert fig.get_figwidth() <= BOOK_COLUMN_INCHES + 1e-9
        assert measure(fig).width_px <= BOOK_COLUMN_PX + 12  # no title juts out and widens the image
        assert smallest_text_on_the_page(fig) >= 9.0
