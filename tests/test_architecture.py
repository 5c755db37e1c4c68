"""Tests of splitbrain.architecture and splitbrain.tables (receptive fields, Table 6 check, grid rule, parameters, groups=2) and the chapter 4 figures."""
from pathlib import Path

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from splitbrain.models import SplitBrainNet, build_trunk, count_parameters, layer_table
from splitbrain.architecture import (
    compare_with_reference,
    conv_weight_count,
    grid_rule_rows,
    grouped_conv_from_halves,
    parameter_rows,
    receptive_fields,
    spatial_ops,
    stage_receptive_fields,
)
from splitbrain.plots.models import (
    plot_grouped_weights,
    plot_receptive_field_growth,
    plot_receptive_fields_on_grid,
    plot_split_pair,
)
from splitbrain.tables import Table, format_shape, read_reference_csv
from splitbrain.targets import build_targets

ROOT = Path(__file__).resolve().parent.parent
TABLE6_CSV = ROOT / "results" / "reference" / "zhang2017_table6.csv"

# FC-AlexNet, Table 6 (kernel, stride, dilation, padding), and receptive fields worked out by hand:
# conv1 11; pool1 11 + 2*4 = 19; conv2 19 + 4*8 = 51; pool2 51 + 2*8 = 67; conv3..5 +2*16 each;
# pool5 +2*16 = 195; fc6 (k6, d2) 195 + 5*2*16 = 355; fc7 (1x1) 355.
ALEXNET_OPS = [
    ("conv1", 11, 4, 1, 5), ("pool1", 3, 2, 1, 1), ("conv2", 5, 1, 1, 2), ("pool2", 3, 2, 1, 1),
    ("conv3", 3, 1, 1, 1), ("conv4", 3, 1, 1, 1), ("conv5", 3, 1, 1, 1), ("pool5", 3, 1, 1, 1),
    ("fc6", 6, 1, 2, 5), ("fc7", 1, 1, 1, 0),
]
ALEXNET_RF = [11, 19, 51, 67, 99, 131, 163, 195, 355, 355]
ALEXNET_JUMP = [4, 8, 8, 16, 16, 16, 16, 16, 16, 16]


def meta_pair(arch, size, width="half"):
    with torch.device("meta"):
        return SplitBrainNet(arch, width=width, input_size=size)


# --------------------------------------------------------------------------------------------
# receptive_fields
# --------------------------------------------------------------------------------------------
def test_receptive_fields_of_alexnet_by_hand():
    ops = [dict(layer=n, kernel=k, stride=s, dilation=d, padding=p) for n, k, s, d, p in ALEXNET_OPS]
    fields = receptive_fields(ops)
    assert [f["rf"] for f in fields] == ALEXNET_RF
    assert [f["jump"] for f in fields] == ALEXNET_JUMP
    assert all(f["start"] == 0.0 for f in fields)  # "same" paddings keep unit 0 on pixel 0
    assert fields[0]["layer"] == "conv1" and ops[0] == dict(layer="conv1", kernel=11, stride=4, dilation=1, padding=5)


def test_receptive_fields_from_layer_table_of_the_real_alexnet():
    rows = layer_table(meta_pair("fcalexnet", 180), 180)
    fields = receptive_fields(rows)
    assert [f["layer"] for f in fields[:10]] == [op[0] for op in ALEXNET_OPS]
    assert [f["rf"] for f in fields[:10]] == ALEXNET_RF
    assert fields[-1]["layer"] == "classifier" and fields[-1]["rf"] == 355


def test_receptive_fields_without_padding_move_the_centre():
    # 3x3 valid conv: unit 0 centred on pixel 1; then 2x2 stride 2 pool: centre 1 + 0.5 = 1.5.
    fields = receptive_fields([dict(kernel=3, stride=1), dict(kernel=2, stride=2), dict(kernel=3, stride=1, dilation=2)])
    assert [(f["rf"], f["jump"], f["start"]) for f in fields] == [(3, 1, 1.0), (4, 2, 1.5), (12, 2, 5.5)]


def test_receptive_fields_of_nothing_is_empty():
    assert receptive_fields([]) == []


@pytest.mark.parametrize("op, key", [
    (dict(kernel=0, stride=1), "kernel"),
    (dict(kernel=3), "stride"),
    (dict(kernel=3, stride=1, dilation=0), "dilation"),
    (dict(kernel=3, stride=1, padding=-1), "padding"),
    (dict(kernel=3.0, stride=1), "kernel"),
    (dict(kernel=True, stride=1), "kernel"),
])
def test_receptive_fields_rejects_bad_ops(op, key):
    with pytest.raises(ValueError, match=rf"ops\[1\]\['{key}'\]"):
        receptive_fields([dict(kernel=3, stride=1), op])


def test_receptive_fields_rejects_non_mappings():
    with pytest.raises(ValueError, match=r"ops\[0\]"):
        receptive_fields([(3, 1)])


# --------------------------------------------------------------------------------------------
# spatial_ops / stage_receptive_fields
# --------------------------------------------------------------------------------------------
def test_spatial_ops_of_resnet_follow_the_main_path():
    trunk = build_trunk("fcresnet18", 1, "half", 180, stem="imagenet")
    ops = spatial_ops(trunk)
    # stem conv + max pool, then 4 stages x 2 blocks x 2 convs; shortcuts skipped.
    assert len(ops) == 2 + 16
    assert [op["type"] for op in ops[:3]] == ["conv", "max pool", "conv"]
    assert not any("downsample" in op["op"] for op in ops)
    assert [op["stride"] for op in ops if op["layer"] == "layer3"] == [2, 1, 1, 1]
    assert ops[0] == dict(layer="stem", op="stem.0", type="conv", kernel=7, stride=2, dilation=1, padding=3)


def test_stage_receptive_fields_by_hand():
    # ResNet-18 without the stem max pool: 7 (j2); layer1 +4*2*2 = 23; layer2 +2*2, j4, +3*2*4 = 51;
    # layer3 +2*4, j8, +3*2*8 = 107; layer4 +2*8, j16, +3*2*16 = 219.
    resnet = stage_receptive_fields(build_trunk("fcresnet18", 1, "half", 180))
    assert [(r["layer"], r["rf"], r["jump"]) for r in resnet] == [
        ("stem", 7, 2), ("layer1", 23, 2), ("layer2", 51, 4), ("layer3", 107, 8), ("layer4", 219, 16)]
    assert [r["ops"] for r in resnet] == [1, 4, 4, 4, 4]
    # SimpleNet stride4 stem: 7 (j4); conv2 s2 15 (j8); conv3 31; conv4 s2 47 (j16); conv5 79.
    simplenet = stage_receptive_fields(SplitBrainNet("simplenet", input_size=180))
    assert [r["rf"] for r in simplenet] == [7, 15, 31, 47, 79]
    alexnet = stage_receptive_fields(meta_pair("fcalexnet", 180).half2)
    assert [r["rf"] for r in alexnet] == ALEXNET_RF


def _measured_receptive_field(trunk, size):
    """Side and centre of the input region the centre output unit depends on (gradient support)."""
    with torch.no_grad():
        for module in trunk.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.fill_(1.0 / fan_in)
    trunk.eval()
    x = torch.ones(1, trunk.in_channels, size, size, requires_grad=True)
    out = trunk(x)
    centre = out.shape[-1] // 2
    out[0, :, centre, centre].sum().backward()
    support = (x.grad[0].abs().sum(0) > 0).nonzero()
    rows, cols = support[:, 0], support[:, 1]
    side = int(rows.max() - rows.min() + 1)
    assert side == int(cols.max() - cols.min() + 1)
    return side, float(rows.min() + rows.max()) / 2, centre


@pytest.mark.parametrize("arch, stem, size", [("simplenet", "stride2", 64), ("fcresnet18", "cifar", 128)])
def test_stage_receptive_fields_match_the_gradient_support(arch, stem, size):
    trunk = build_trunk(arch, 1, "half", size, stem=stem)
    expected = stage_receptive_fields(trunk)[-1]
    side, middle, unit = _measured_receptive_field(trunk, size)
    assert side == expected["rf"]
    assert middle == expected["start"] + unit * expected["jump"]
    assert expected["rf"] < size  # the whole field lies inside the image: nothing clipped


def test_spatial_ops_rejects_other_modules():
    with pytest.raises(ValueError, match="model must be"):
        spatial_ops(nn.Conv2d(1, 1, 3))


# --------------------------------------------------------------------------------------------
# Table 6
# --------------------------------------------------------------------------------------------
def test_reference_csv_holds_table6():
    rows = read_reference_csv(TABLE6_CSV)
    assert [r["layer"] for r in rows] == [op[0] for op in ALEXNET_OPS]
    assert [(r["K"], r["S"], r["D"]) for r in rows] == [(k, s, d) for _, k, s, d, _ in ALEXNET_OPS]
    assert [r["X"] for r in rows] == [45, 23, 23, 12, 12, 12, 12, 12, 12, 12]
    assert [r["C"] for r in rows] == [96, 96, 256, 256, 384, 384, 256, 256, 4096, 4096]
    assert rows[8]["P"] == 6  # as printed
    assert TABLE6_CSV.read_text().startswith("# Zhang, Isola, Efros")


def test_code_matches_table6_except_fc6_padding():
    check = compare_with_reference(layer_table(meta_pair("fcalexnet", 180), 180), read_reference_csv(TABLE6_CSV))
    assert [r["equal"] for r in check] == [True] * 8 + [False, True]
    assert check[8]["differs"] == "P" and check[8]["P"] == "5 (paper: 6)"
    assert check[0] == dict(layer="conv1", X=45, C=96, K=11, S=4, D=1, P=5, equal=True, differs="")


def test_read_reference_csv_skips_comments_and_converts(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("# a citation\nlayer,x,y\n# another comment\nconv1,3,0.5\npool, 7 ,n/a\n")
    assert read_reference_csv(path) == [dict(layer="conv1", x=3, y=0.5), dict(layer="pool", x=7, y="n/a")]
    path.write_text("# only a comment\n")
    with pytest.raises(ValueError, match="path"):
        read_reference_csv(path)


def test_compare_with_reference_needs_every_layer():
    with pytest.raises(ValueError, match="rows must contain the reference layer 'fc8'"):
        compare_with_reference([dict(layer="fc7", spatial=1)], [dict(layer="fc8", X=1)], {"X": "spatial"})


# --------------------------------------------------------------------------------------------
# Grid rule, parameters, groups=2
# --------------------------------------------------------------------------------------------
def test_grid_rule_rows():
    rows = grid_rule_rows(["simplenet", "fcalexnet", "fcresnet18"], [180, 96, 32], grid=12)
    summary = [(r["arch"], r["input_size"], r["stem"], r["map"], r["head"]) for r in rows]
    assert summary == [
        ("simplenet", 180, "stride4", 12, "none"), ("simplenet", 96, "stride2", 12, "none"),
        ("simplenet", 32, "stride1", 8, "upsample 8→12"),
        ("fcalexnet", 180, "table6", 12, "none"), ("fcalexnet", 96, "poster", 12, "none"),
        ("fcalexnet", 32, "small", 8, "upsample 8→12"),
        ("fcresnet18", 180, "imagenet_no_maxpool", 12, "none"), ("fcresnet18", 96, "cifar", 12, "none"),
        ("fcresnet18", 32, "cifar", 4, "upsample 4→12"),
    ]
    assert rows[3]["maps"] == (12, 23, 45) and rows[7]["maps"] == (3, 6, 12)
    assert rows[3]["ladder"] == "table6: 12, poster: 23, small: 45"
    assert all(r["output"] == (100, 12, 12) for r in rows)
    pooled = grid_rule_rows(["fcresnet18"], [180], grid=8)[0]
    assert (pooled["stem"], pooled["map"], pooled["head"], pooled["output"]) == (
        "imagenet_no_maxpool", 12, "average-pool 12→8", (100, 8, 8))  # "imagenet" would give 6 < 8
    big = grid_rule_rows(["simplenet"], [200], grid=12)[0]
    assert (big["map"], big["head"]) == (13, "average-pool 13→12")
    with pytest.raises(ValueError, match="arch"):
        grid_rule_rows(["vgg"], [96])


def test_parameter_rows():
    rows = {(r["arch"], r["width"]): r for r in parameter_rows(["simplenet", "fcalexnet"], 180, (100, 100))}
    # SimpleNet standard trunk conv weights by hand: conv1 7x7 on 3 channels, then 3x3 convs.
    standard_conv = 3 * 64 * 49 + 64 * 128 * 9 + 128 * 256 * 9 + 256 * 256 * 9 + 256 * 512 * 9
    half = rows[("simplenet", "half")]
    assert half["conv_ratio"] == 0.5
    assert half["ratio"] == half["trunks"] / half["standard"]
    assert half["standard"] == standard_conv + 2 * (64 + 128 + 256 + 256 + 512)  # BatchNorm weight and bias
    assert half["classifiers"] == (256 + 1) * 100 * 2
    assert half["total"] == count_parameters(SplitBrainNet("simplenet", input_size=180))
    assert rows[("fcalexnet", "half")]["conv_ratio"] == 0.5
    assert rows[("fcalexnet", "half")]["standard"] == 58_290_912
    full = rows[("fcalexnet", "full")]
    assert full["widths"] == (96, 256, 384, 384, 256, 4096, 4096)
    # The full-width pair's conv1 (1 + 2 input channels) equals the standard one; every later conv doubles.
    with torch.device("meta"):
        standard = conv_weight_count(build_trunk("fcalexnet", 3, "full", 180))
    pair = meta_pair("fcalexnet", 180, "full")
    pair_conv = conv_weight_count(pair.half1.trunk) + conv_weight_count(pair.half2.trunk)
    assert pair_conv == 2 * standard - 96 * 3 * 121
    assert full["conv_ratio"] == pair_conv / standard


def test_grouped_conv_from_halves_equals_the_two_halves():
    torch.manual_seed(0)
    for bias in (False, True):
        a = nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=1, bias=bias)
        b = nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=1, bias=bias)
        grouped = grouped_conv_from_halves(a, b)
        x = torch.randn(2, 8, 9, 9)
        with torch.no_grad():
            expected = torch.cat([a(x[:, :4]), b(x[:, 4:])], 1)
            torch.testing.assert_close(grouped(x), expected, rtol=1e-6, atol=1e-6)
        assert grouped.groups == 2 and count_parameters(grouped) == count_parameters(a) + count_parameters(b)
        assert count_parameters(grouped) * 2 - (12 if bias else 0) == count_parameters(nn.Conv2d(8, 12, 3, bias=bias))


def test_grouped_conv_from_the_real_alexnet_halves():
    torch.manual_seed(0)
    pair = SplitBrainNet("fcalexnet", input_size=32)
    a, b = pair.half1.trunk.stages["conv3"][0], pair.half2.trunk.stages["conv3"][0]
    x = torch.randn(1, 256, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(grouped_conv_from_halves(a, b)(x), torch.cat([a(x[:, :128]), b(x[:, 128:])], 1))


@pytest.mark.parametrize("a, b, match", [
    (nn.Conv2d(4, 6, 3), nn.Conv2d(4, 6, 5), "kernel_size"),
    (nn.Conv2d(4, 6, 3), nn.Conv2d(2, 6, 3), "in_channels"),
    (nn.Conv2d(4, 6, 3), nn.Conv2d(4, 6, 3, bias=False), "bias"),
    (nn.Conv2d(4, 6, 3, groups=2), nn.Conv2d(4, 6, 3, groups=2), "conv_a must be"),
    (nn.Conv2d(4, 6, 3), nn.Linear(4, 6), "conv_b must be"),
])
def test_grouped_conv_from_halves_rejects_mismatches(a, b, match):
    with pytest.raises(ValueError, match=match):
        grouped_conv_from_halves(a, b)


# --------------------------------------------------------------------------------------------
# Table and figures
# --------------------------------------------------------------------------------------------
def test_table_formats_cells():
    rows = [dict(layer="fc6", params=18882560, ratio=0.50021, ok=True, widths=(48, 2048), shape=(100, 12, 12)),
            dict(layer="fc<7>", params=0, ratio=2.0, ok=False, widths=(96,), shape=(1, 2))]
    table = Table(rows, ["layer", "params", "ratio", "ok", "widths", "shape"], {"params": "parameters"},
                  caption="cap", formats={"ratio": ".2f", "shape": format_shape})
    assert table.cells() == [["fc6", "18,882,560", "0.50", "✓", "48/2048", "100 × 12 × 12"],
                             ["fc<7>", "0", "2.00", "✗", "96", "1 × 2"]]
    html = table._repr_html_()
    assert "<th>parameters</th>" in html and "fc&lt;7&gt;" in html and "<caption>cap</caption>" in html
    assert table.to_markdown().splitlines()[:2] == ["| layer | parameters | ratio | ok | widths | shape |",
                                                    "|---|---|---|---|---|---|"]
    assert repr(table).splitlines()[0] == "cap"
    assert Table(rows[:1]).cells()[0][2] == "0.5"  # default: 3 significant digits


def test_receptive_field_labels_cross_no_line():
    """Chapter 4's figure at the book's size: every stage name and reference-line name sits
    where no curve, reference line, marker, legend or other name is (before, curves meeting at
    one point ran through each other's names and the grid-cell line's name)."""
    import numpy as np
    from splitbrain.plots.models import _boxes_meet, _segment_meets_box

    curves = {arch: stage_receptive_fields(build_trunk(arch, 1, "half", 180, grid=12))
              for arch in ("simplenet", "fcalexnet", "fcresnet18")}
    fig = plot_receptive_field_growth(curves, input_size=180, grid=12)
    fig.draw_without_rendering()
    ax = fig.axes[0]
    names = [text for text in ax.texts if text.get_text()]
    assert len(names) == sum(len(rows) for rows in curves.values()) + 2
    assert not [text.get_text() for text in names if text.get_bbox_patch()], "a name needed a backing"
    boxes = [tuple(text.get_window_extent().extents) for text in names]
    segments = [(p, q) for line in ax.get_lines()
                for points in [line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))]
                for p, q in zip(points[:-1], points[1:])]
    frame, legend = ax.get_window_extent(), tuple(ax.get_legend().get_window_extent().extents)
    for text, box in zip(names, boxes):
        assert not any(_segment_meets_box(p, q, box) for p, q in segments), f"a line crosses {text.get_text()!r}"
        assert not _boxes_meet(box, legend), f"the legend covers {text.get_text()!r}"
        assert frame.x0 <= box[0] and box[2] <= frame.x1 and frame.y0 <= box[1] and box[3] <= frame.y1
    overlapping = [(a.get_text(), b.get_text()) for i, (a, p) in enumerate(zip(names, boxes))
                   for b, q in zip(names[i + 1:], boxes[i + 1:]) if _boxes_meet(p, q)]
    assert not overlapping, f"names overlap: {overlapping}"


def test_plots_return_figures():
    trunk = build_trunk("simplenet", 1, "half", 32, grid=8)
    fields = stage_receptive_fields(trunk)
    fig = plot_receptive_field_growth({"simplenet": fields}, input_size=32, grid=8)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert [tuple(line.get_ydata()) for line in fig.axes[0].lines][0] == (3, 5, 9, 13, 21)

    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    fig = plot_receptive_fields_on_grid(image, fields[-2:], grid=8, cell=(3, 4))
    squares = [p for p in fig.axes[0].patches if p.get_label().startswith("conv")]
    assert [p.get_width() for p in squares] == [13, 21]
    with pytest.raises(ValueError, match="cell"):
        plot_receptive_fields_on_grid(image, fields, grid=8, cell=(8, 0))

    fig = plot_grouped_weights(96, 256)
    assert "24,576 kernels" in fig.axes[0].get_title() and "12,288 kernels" in fig.axes[1].get_title()
    with pytest.raises(ValueError, match="in_channels"):
        plot_grouped_weights(3, 4)

    pair = SplitBrainNet("simplenet", num_classes=(100, 100), grid=8, input_size=32)
    pair.train()
    fig = plot_split_pair(image, pair, build_targets("lab", grid=8))
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "(1, 32, 32)" in titles and "(2, 32, 32)" in titles and "(100, 8, 8)" in titles
    assert pair.training  # the model's mode is restored
    with pytest.raises(ValueError, match="Lab"):
        plot_split_pair(image, pair, build_targets("rgb", grid=8))
