"""Tests of the figures of chapters 5 and 6 (splitbrain.plots.training): each returns a Figure
whose axes hold the data it was given."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from splitbrain.plots.training import (
    plot_accuracy_bars,
    plot_loss_curves,
    plot_prediction_grid,
    plot_probe_curves,
)

RECORDS = [
    {"kind": "step", "step": 2, "epoch": 1, "loss": 9.0, "loss1": 4.0, "loss2": 5.0},
    {"kind": "step", "step": 4, "epoch": 1, "loss": 8.0, "loss1": 3.5, "loss2": 4.5},
    {"kind": "epoch", "step": 4, "epoch": 1, "loss": 8.4, "loss1": 3.7, "loss2": 4.7},
    {"kind": "step", "step": 6, "epoch": 2, "loss": 7.0, "loss1": 3.0, "loss2": 4.0},
    {"kind": "step", "step": 8, "epoch": 2, "loss": 6.5, "loss1": 2.8, "loss2": 3.7},
    {"kind": "epoch", "step": 8, "epoch": 2, "loss": 6.8, "loss1": 2.9, "loss2": 3.9},
]


def test_loss_curves_draw_each_half_its_steps_epochs_and_floor():
    fig = plot_loss_curves(RECORDS, floors={"loss1": 2.0, "loss2": 4.4},
                           heldout={"held out": {"loss1": 3.1, "loss2": 4.2, "step": 8}})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    for ax, key in zip(fig.axes, ("loss1", "loss2")):
        lines = {line.get_label(): line for line in ax.get_lines()}
        steps = lines["every 2 steps"]
        np.testing.assert_allclose(steps.get_xdata(), [2, 4, 6, 8])
        np.testing.assert_allclose(steps.get_ydata(), [r[key] for r in RECORDS if r["kind"] == "step"])
        np.testing.assert_allclose(lines["epoch mean"].get_ydata(), [r[key] for r in RECORDS if r["kind"] == "epoch"])
        np.testing.assert_allclose(lines["constant prediction"].get_ydata(), [{"loss1": 2.0, "loss2": 4.4}[key]] * 2)
        np.testing.assert_allclose(lines["held out"].get_ydata(), [{"loss1": 3.1, "loss2": 4.2}[key]])
    assert fig.axes[0].get_title() == "half 1: L -> ab"


def test_loss_curves_reject_records_without_halves():
    with pytest.raises(ValueError, match="records"):
        plot_loss_curves([{"kind": "epoch", "step": 1, "loss": 0.1}])  # a DAE run: no halves


def test_prediction_grid_shows_rgb_rows_and_lightness_rows():
    rgb = torch.zeros(4, 3, 8, 8)
    rgb[:, 0] = 1.0  # red
    lightness = torch.linspace(0, 100, 4).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    fig = plot_prediction_grid({"colour": rgb, "L*": lightness}, captions={"L*": ["a", "b", "c", "d"]},
                               max_images=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 6  # 2 rows x 3 images
    first_rgb = fig.axes[0].get_images()[0].get_array()
    np.testing.assert_allclose(np.asarray(first_rgb)[0, 0], [1.0, 0.0, 0.0])
    grey = fig.axes[3].get_images()[0]
    assert grey.get_clim() == (0.0, 100.0)
    np.testing.assert_allclose(np.asarray(grey.get_array()), 0.0)
    assert [ax.get_xlabel() for ax in fig.axes[3:]] == ["a", "b", "c"]
    assert fig.axes[0].get_ylabel() == "colour"


def test_prediction_grid_rejects_mismatched_rows():
    with pytest.raises(ValueError, match="same number"):
        plot_prediction_grid({"a": torch.zeros(2, 3, 4, 4), "b": torch.zeros(3, 3, 4, 4)})
    with pytest.raises(ValueError, match="rows"):
        plot_prediction_grid({"a": torch.zeros(2, 2, 4, 4)})


def test_probe_curves_plot_percentages_per_layer():
    per_layer = {
        "pretrained": {"conv1": {"top1": 0.5, "top5": 0.9}, "conv2": {"top1": 0.7, "top5": 0.95}},
        "random init": {"conv1": {"top1": 0.45, "top5": 0.88}, "conv2": {"top1": 0.4, "top5": 0.85}},
    }
    fig = plot_probe_curves(per_layer, chance=0.1)
    top1, top5 = fig.axes
    lines = {line.get_label(): line for line in top1.get_lines()}
    np.testing.assert_allclose(lines["pretrained"].get_ydata(), [50.0, 70.0])
    np.testing.assert_allclose(lines["random init"].get_ydata(), [45.0, 40.0])
    np.testing.assert_allclose(lines["chance"].get_ydata(), [10.0, 10.0])
    chance5 = {line.get_label(): line for line in top5.get_lines()}["chance"]
    np.testing.assert_allclose(chance5.get_ydata(), [50.0, 50.0])
    assert [t.get_text() for t in top1.get_xticklabels()] == ["conv1", "conv2"]
    with pytest.raises(ValueError, match="layers"):
        plot_probe_curves({"a": per_layer["pretrained"], "b": {"conv1": {"top1": 0.1, "top5": 0.2}}})


def test_accuracy_bars_heights_are_percentages():
    fig = plot_accuracy_bars({"probe": {"pretrained": 0.8, "random": 0.6},
                              "fine-tuned": {"pretrained": 0.9, "random": 0.85}})
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == [60.0, 80.0, 85.0, 90.0]
    with pytest.raises(ValueError, match="no entry"):
        plot_accuracy_bars({"probe": {"pretrained": 0.8}, "fine-tuned": {"random": 0.5}})


def test_the_prediction_grid_keeps_its_captions_readable_on_the_page():
    """Chapter 5's grids (six images, CIEDE2000 captions): every label at least 9 px tall on the page."""
    from test_plots_denoising import smallest_text_on_the_page

    rgb = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    rows = {"original": rgb, "epoch 1": rgb, "epoch 5": rgb}
    fig = plot_prediction_grid(rows, captions={"epoch 1": ["ΔE 12.3"] * 6, "epoch 5": ["ΔE 9.9"] * 6})
    assert smallest_text_on_the_page(fig) >= 9.0
