"""Figures legible where they stand: the measurement of a figure's smallest text
(splitbrain.plots.legibility), the display hook that records it in every figure a chapter shows,
and every figure the chapters draw, at the sizes they draw it: smallest text at least 9 px on the
page, no legend over plotted data. The browser test (test_book.py) checks the same on the built
pages, where each figure stands."""
import base64
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from splitbrain.plots import BOOK_COLUMN_INCHES, BOOK_COLUMN_PX, BOOK_DPI, panel_axes, wrap_to
from splitbrain.plots.legibility import (
    OVERLAPS_KEY,
    SMALLEST_TEXT_KEY,
    install_display_hook,
    legend_overlaps,
    measure,
    read_png_smallest_text,
    read_png_text_overlaps,
    smallest_text_on_the_page,
    smallest_text_px,
    text_overlaps,
)

ROOT = Path(__file__).resolve().parent.parent
SMALLEST_LEGIBLE_PX = 9.0


@pytest.fixture(autouse=True)
def book_style():
    import matplotlib

    with matplotlib.rc_context({"figure.dpi": BOOK_DPI, "savefig.dpi": BOOK_DPI, "axes.titlesize": "medium"}):
        yield


def two_texts(width: float = 4.0) -> Figure:
    fig = Figure(figsize=(width, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_title("title", fontsize=12)
    ax.text(0.5, 0.5, "hidden", fontsize=2, visible=False)
    ax.text(0.2, 0.8, "   ", fontsize=3)
    ax.tick_params(labelsize=7)
    return fig


# --------------------------------------------------------------------------------------------
# the measurement


def test_smallest_text_is_the_smallest_drawn_font_in_pixels_of_the_saved_image():
    fig = two_texts()
    assert smallest_text_px(fig) == pytest.approx(7 * BOOK_DPI / 72)  # tick labels; hidden and blank texts do not count
    assert smallest_text_px(fig, dpi=2 * BOOK_DPI) == pytest.approx(14 * BOOK_DPI / 72)
    m = measure(fig)
    assert m.smallest_text.strip() and abs(m.width_px - 4.0 * BOOK_DPI) < 0.15 * BOOK_DPI  # the tight box


def test_a_figure_wider_than_the_column_is_shrunk_and_its_text_with_it():
    narrow, wide = measure(two_texts(4.0)), measure(two_texts(12.0))
    assert narrow.on_the_page() == pytest.approx(narrow.smallest_px)
    assert wide.on_the_page() == pytest.approx(wide.smallest_px * BOOK_COLUMN_PX / wide.width_px)
    assert smallest_text_on_the_page(two_texts(12.0)) < 0.6 * smallest_text_on_the_page(two_texts(4.0))


def test_a_figure_without_text_is_an_error():
    fig = Figure()
    fig.add_axes((0, 0, 1, 1)).set_axis_off()
    with pytest.raises(ValueError, match="no text"):
        measure(fig)


def test_the_display_hook_records_the_smallest_text_in_the_png_and_the_output():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.pylabtools import select_figure_formats

    shell = InteractiveShell.instance()
    try:
        select_figure_formats(shell, {"png"})
        assert install_display_hook(shell) and install_display_hook(shell)  # twice: wrapped once
        fig = two_texts()
        data, metadata = shell.display_formatter.format(fig)
        png = base64.b64decode(data["image/png"])
        assert read_png_smallest_text(png) == pytest.approx(7 * BOOK_DPI / 72, abs=0.01)
        from PIL import Image
        import io

        image = Image.open(io.BytesIO(png))
        image.load()  # the chunk leaves the PNG valid
        assert metadata["image/png"]["width"] == image.width  # the book links the image to its full size
        assert metadata["image/png"][SMALLEST_TEXT_KEY] == pytest.approx(7 * BOOK_DPI / 72, abs=0.01)
        assert read_png_text_overlaps(png) == metadata["image/png"][OVERLAPS_KEY] == []
        fig.axes[0].text(0.5, 0.5, "one label")
        fig.axes[0].text(0.52, 0.5, "another label")
        data, metadata = shell.display_formatter.format(fig)
        assert read_png_text_overlaps(base64.b64decode(data["image/png"])) == ["'one label' overlaps 'another label'"]
    finally:
        InteractiveShell.clear_instance()


def test_no_display_hook_outside_ipython():
    assert install_display_hook(None) is False  # no IPython shell: nothing to wrap, no error
    assert read_png_smallest_text(b"\x89PNG\r\n\x1a\n") is None and read_png_text_overlaps(b"\x89PNG\r\n\x1a\n") is None


def test_legend_overlaps_sees_a_legend_over_points_and_not_one_beside_them():
    fig = Figure(figsize=(4, 3), layout="constrained")
    ax = fig.subplots()
    x = np.linspace(0, 1, 50)
    ax.scatter(x, x, label="points")
    ax.legend(loc="center")
    assert legend_overlaps(fig) and "axes 0 legend" in legend_overlaps(fig)[0]
    ax.get_legend().remove()
    fig.legend(loc="outside lower center")
    assert legend_overlaps(fig) == []


def test_text_overlaps_sees_two_labels_in_one_place():
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    ax.text(0.5, 0.5, "one label")
    ax.text(0.52, 0.5, "another label")
    assert text_overlaps(fig) == ["'one label' overlaps 'another label'"]


def test_panels_and_wrapped_labels():
    fig = Figure()
    axes = panel_axes(fig, 5, columns=3)
    assert len(axes) == 5 and len(fig.axes) == 5
    assert max(len(line) for line in wrap_to("a long title that will not fit one narrow panel", 1.5).split("\n")) <= 18


# --------------------------------------------------------------------------------------------
# the chapters' figures at the sizes the chapters draw them


def _photo() -> torch.Tensor:
    from splitbrain.data import load_embedded_photos

    return torch.from_numpy(np.array(load_embedded_photos()[0])).permute(2, 0, 1)[:, :96, :96].contiguous()


def _images(n: int = 6, size: int = 24) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def chapter_1():
    from splitbrain.plots.color import plot_ab_slices, plot_channel_split, plot_correlation_matrices, plot_srgb_gamut

    yield "gamut", plot_srgb_gamut(9)
    yield "ab slices", plot_ab_slices((25.0, 50.0, 75.0), step=4.0)
    yield "channel split", plot_channel_split(_photo())
    yield "correlations", plot_correlation_matrices(
        {"RGB: mean |r| over 10 photos": torch.eye(3), "Lab: mean |r| over 10 photos": torch.eye(3)}, absolute=True)


def chapters_2_and_3():
    from splitbrain.plots.quantize import (
        plot_bin_centres,
        plot_class_histograms,
        plot_class_maps,
        plot_class_occupancy,
        plot_image_ranges,
        plot_image_table,
        plot_per_image_statistics,
        plot_prediction_decoding,
    )
    from splitbrain.quantize import GamutQuantizer, UniformQuantizer

    generator = torch.Generator().manual_seed(0)
    poster = UniformQuantizer([10, 10], [-87.0, -108.0], [99.0, 95.0])
    published, derived = GamutQuantizer.published(), GamutQuantizer.derived()
    sets = {"poster 10 x 10": poster, "Zhang et al. (published)": published, "derived here": derived}
    yield "bin centres", plot_bin_centres({k: q.centres() for k, q in sets.items()},
                                          reachable={"poster 10 x 10": torch.arange(100) % 3 > 0})
    centres = poster.centres()
    yield "rescaled bin centres", plot_bin_centres({"global bins": centres, "rescaled, crop 3": centres * 0.1 + 5,
                                                    "rescaled, crop 4": centres * 0.05 - 3}, zoom=True)
    occupancy = {}
    for name, q in sets.items():
        p = torch.rand(q.num_classes, generator=generator) ** 4 * (torch.arange(q.num_classes) % 2 == 0)
        occupancy[name] = (q.centres(), p / p.sum())
    yield "class occupancy", plot_class_occupancy(occupancy)
    images = _images()
    yield "image table (rows)", plot_image_table({"original": images, "downsampled 12x12": images,
                                                  "reconstruction from classes": images})
    yield "image table (columns)", plot_image_table(
        {"original": images, "downsampled 12x12 (Lab)": images, "RGB classes": images, "Lab classes": images,
         "rescaled Lab classes": images}, layout="columns", max_images=5)
    yield "prediction decoding", plot_prediction_decoding(
        torch.softmax(torch.randn(100, generator=generator), 0), poster, target_class=44,
        decoded={"centre": (-3, -37), "mean": (-1, -5), "annealed": (-3, -24)})
    classes = torch.randint(0, 100, (3, 12, 12), generator=generator)
    colours = np.random.default_rng(0).random((3, 12, 12, 3))
    yield "class maps", plot_class_maps(images[:3], {"global classes": (classes, colours),
                                                     "rescaled classes": (classes, colours)},
                                        row_titles=["original", "tinted: a* +10, b* -10", "saturated: ab x 1.5"])
    low = torch.rand(200, 2, generator=generator) * 60 - 60
    yield "image ranges", plot_image_ranges(torch.stack([low, low + torch.rand(200, 2, generator=generator) * 60 + 5], -1))
    yield "per-image statistics", plot_per_image_statistics(
        {"global bins": (torch.randint(1, 40, (300,), generator=generator), torch.rand(300, generator=generator) * 4),
         "rescaled bins": (torch.randint(20, 100, (300,), generator=generator),
                           torch.rand(300, generator=generator) * 2 + 4)}, 100, cells=144)
    used = torch.rand(100, generator=generator) * (torch.arange(100) % 4 == 0)
    yield "class histograms", plot_class_histograms(
        {"global bins": used / used.sum(), "rescaled bins": torch.full((100,), 0.01)},
        axis_labels={"rescaled bins": ("a* bin within the image's range", "b* bin within the image's range")})


def chapter_4():
    from splitbrain.architecture import stage_receptive_fields
    from splitbrain.models import SplitBrainNet, build_trunk
    from splitbrain.plots.models import (
        plot_grouped_weights,
        plot_receptive_field_growth,
        plot_receptive_fields_on_grid,
        plot_split_pair,
    )
    from splitbrain.targets import build_targets

    photo = _photo()
    pair = SplitBrainNet("simplenet", num_classes=(100, 100), grid=12, input_size=96)
    yield "split pair", plot_split_pair(photo, pair, build_targets("lab", grid=12))
    yield "grouped weights", plot_grouped_weights(96, 256)
    curves = {arch: stage_receptive_fields(build_trunk(arch, 1, "half", 180, grid=12))
              for arch in ("simplenet", "fcalexnet", "fcresnet18")}
    yield "receptive-field growth", plot_receptive_field_growth(curves, input_size=180, grid=12)
    fields = stage_receptive_fields(build_trunk("simplenet", 1, "half", 96, grid=12))
    yield "receptive fields on the grid", plot_receptive_fields_on_grid(photo, fields[-3:], grid=12, cell=(5, 6))


def chapters_5_and_6():
    from splitbrain.plots.results import plot_label_curve
    from splitbrain.plots.training import plot_accuracy_bars, plot_loss_curves, plot_prediction_grid, plot_probe_curves

    images = _images(size=16)
    rows = {"original": images, "grey (ab = 0)": images, "colourised, epoch 1": images,
            "colourised, epoch 10": images, "quantized target": images}
    yield "prediction grid", plot_prediction_grid(rows, captions={k: ["ΔE 12.3"] * 6 for k in list(rows)[1:]},
                                                  title="held-out crops coloured by half 1 (annealed mean, T = 0.38)")

    records = [{"kind": "step", "step": s, "epoch": s // 50, "loss1": 2.5 * np.exp(-s / 60) + 1.6,
                "loss2": 4 * np.exp(-s / 80) + 3.2} for s in range(5, 201, 5)]
    records += [{"kind": "epoch", "step": 50 * e, "epoch": e, "loss1": 2.5 * np.exp(-e * 50 / 60) + 1.7,
                 "loss2": 4 * np.exp(-e * 50 / 80) + 3.3} for e in range(1, 5)]
    yield "loss curves", plot_loss_curves(records, floors={"loss1": 2.2, "loss2": 4.4},
                                          heldout={"held out, epoch 1": {"loss1": 2.0, "loss2": 4.0, "step": 50},
                                                   "held out, epoch 4": {"loss1": 1.8, "loss2": 3.6, "step": 200}})
    layers = ["conv1", "conv2", "conv3", "conv4", "conv5"]
    per_layer = {"pretrained (4 epochs)": {k: {"top1": 0.3 + 0.05 * i, "top5": 0.7 + 0.03 * i} for i, k in enumerate(layers)},
                 "random init": {k: {"top1": 0.28 + 0.02 * i, "top5": 0.68 + 0.01 * i} for i, k in enumerate(layers)}}
    yield "probe curves", plot_probe_curves(per_layer, chance=0.1,
                                            title="linear probes on frozen features (cifar10, 10 classes)")
    yield "accuracy bars", plot_accuracy_bars({"probe": {"pretrained": 0.4, "random init": 0.35},
                                               "fine-tuned": {"pretrained": 0.6, "random init": 0.55}})
    points = [{"label": label, "method": method, "labels": n, "seed": seed,
               "finetune_top1": 0.2 + 0.1 * np.log10(n) + 0.01 * seed, "probe_top1": 0.15 + 0.08 * np.log10(n)}
              for label, method in (("Split-brain, Lab", "lab"), ("Random init, Lab", "random-lab"))
              for n in (10, 100, 1000) for seed in (0, 1)]
    yield "label curve", plot_label_curve(points, title="CIFAR-10, SimpleNet: held-out top-1 by labels per class")


def chapter_7():
    from test_plots_denoising import tiny_dae

    from splitbrain.plots.denoising import plot_corruptions, plot_reconstructions
    from splitbrain.predict import reconstruction_examples

    yield "corruptions", plot_corruptions(_images(1, 16)[0], ["masking", "salt_pepper", "gaussian"],
                                          [0.05, 0.1, 0.25, 0.5])
    result = reconstruction_examples(tiny_dae(), _images(6, 16))
    yield "reconstructions", plot_reconstructions({"masking, p = 25%": result, "salt and pepper, p = 5%": result,
                                                   "gaussian, σ = 0.5": result})


def chapter_8():
    from splitbrain.plots.results import plot_headline, plot_layer_curves
    from splitbrain.tables import read_reference_csv

    zhang = read_reference_csv(ROOT / "results" / "reference" / "zhang2017_table2_imagenet_linear.csv")
    methods = ["Split-brain, RGB", "Split-brain, Lab", "Split-brain, rescaled Lab", "DAE S&P 5%, RGB",
               "Supervised, Lab", "Random init, RGB", "Random init, Lab"]
    layers, shape = ["conv1", "conv2", "conv3", "conv4", "conv5"], [0, 5, 10, 8, 7]

    def statistics(seeds: int):
        return {m: {k: ((50 + i + s * (0.3 if "Random" in m else 1.2)) / 100, 0.01 if seeds > 1 else None)
                    for k, s in zip(layers, shape)} for i, m in enumerate(methods)}

    yield "layer curves", plot_layer_curves(zhang, statistics(3), chance=0.1,
                                            ours_title="This book, grid cifar-recipe: SimpleNet (10 classes)")
    yield "layer curves, one seed, no Zhang", plot_layer_curves(
        [], statistics(1), chance=0.1, ours_title="This book, grid cifar-recipe: ResNet 18 (10 classes)")
    yield "headline", plot_headline({m: {0: 0.5 + 0.01 * i, 1: 0.52 + 0.01 * i} for i, m in enumerate(methods[:6])},
                                    {"random init, Lab": 0.5}, 0.6, title="SimpleNet: held-out probe top-1")


@pytest.mark.parametrize("chapter", [chapter_1, chapters_2_and_3, chapter_4, chapters_5_and_6, chapter_7, chapter_8])
def test_every_figure_is_legible_in_the_column_and_no_legend_or_label_covers_another(chapter):
    small, covered = [], []
    for name, fig in chapter():
        m = measure(fig)
        assert m.width_px <= BOOK_COLUMN_PX + 12, f"{name}: {m.width_px} px wide, wider than the column"
        if m.on_the_page() < SMALLEST_LEGIBLE_PX:
            small.append(f"{name}: {m.on_the_page():.1f} px ({m.smallest_text!r})")
        covered += [f"{name}: {line}" for line in legend_overlaps(fig) + text_overlaps(fig)]
        assert fig.get_figwidth() <= BOOK_COLUMN_INCHES + 1e-9, name
    assert not small, f"text under {SMALLEST_LEGIBLE_PX:.0f} px on the page: {small}"
    assert not covered, f"legends over plotted data, labels over labels: {covered}"


def test_the_layer_figure_tells_the_two_floors_apart_and_says_how_many_seeds():
    (_, several), (_, one), _ = list(chapter_8())
    ours = several.axes[-1]
    styles = {bars.get_label(): (bars.lines[0].get_marker(), bars.lines[0].get_markerfacecolor())
              for bars in ours.containers if bars.get_label().startswith("Random")}
    assert len(set(styles.values())) == len(styles) == 2, styles
    assert "mean ± std over seeds" in ours.get_ylabel()
    assert len(one.axes) == 1 and "one seed" in one.axes[0].get_ylabel()
