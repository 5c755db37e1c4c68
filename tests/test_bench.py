"""The poster's per-image pipeline against scikit-image and the device pipeline; the benchmark's table."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.color import rgb2lab
from skimage.transform import resize

from benchmarks import bench, poster_pipeline
from benchmarks.poster_pipeline import PosterTargets, bin_edges, downsample_image, encode_grid
from splitbrain.quantize import downsample
from splitbrain.targets import build_targets

EDGE_TOLERANCE = 1e-4
REPOSITORY = Path(__file__).resolve().parents[1]


def random_images(n=4, size=24, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)


def near_an_edge(values, edges, tolerance=EDGE_TOLERANCE):
    return np.min(np.abs(values[..., None] - edges), axis=-1) <= tolerance


def device_grid_and_classes(images, targets):
    """The device pipeline's own area-averaged grid (N, g, g, 3) float64 and its classes."""
    small = downsample(targets.space.from_rgb(images), targets.grid)
    g1, g2 = targets.space.split(small)
    t1 = targets.quantizer1.encode(g1, targets.quantizer1.image_ranges(g1))
    t2 = targets.quantizer2.encode(g2, targets.quantizer2.image_ranges(g2))
    return small.permute(0, 2, 3, 1).double().numpy(), t1.numpy(), t2.numpy()


# ----------------------------------------------------------------------------------------------
# The binning step: device encode vs numpy.digitize of the same values


@pytest.mark.parametrize("space", ["lab", "rescaled_lab", "rgb"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_class_maps_equal_the_device_ones_on_the_same_grid_except_at_edges(space, seed):
    targets = build_targets(space, grid=6)
    images = random_images(n=6, size=18, seed=seed)
    grid_values, t1, t2 = device_grid_and_classes(images, targets)
    prepared = targets.prepare(images)
    assert np.array_equal(prepared.t1.numpy(), t1) and np.array_equal(prepared.t2.numpy(), t2)
    compared = differ = 0
    for index, values in enumerate(grid_values):
        p1, p2 = encode_grid(values, space)
        edges = bin_edges(values, space)
        compared += p1.size + p2.size
        bad_l = p1 != t1[index]
        bad_a = p2 // 10 != t2[index] // 10
        bad_b = p2 % 10 != t2[index] % 10
        differ += int(bad_l.sum() + (p2 != t2[index]).sum())
        for bad, channel in ((bad_l, 0), (bad_a, 1), (bad_b, 2)):
            assert near_an_edge(values[..., channel][bad], edges[channel]).all()
    assert compared == 2 * 6 * 36
    assert differ <= 2  # random values land within 1e-4 of an edge very rarely


def test_binning_agrees_exactly_on_edges_and_outside_the_ranges_in_float64():
    """Values exactly at every edge, just below and above it, and far outside: same bins."""
    targets = build_targets("lab", grid=6)
    l_edges, a_edges, b_edges = bin_edges(np.zeros((1, 1, 3)), "lab")
    picks = np.arange(11)
    columns = []
    for offset in (0.0, -1e-9, 1e-9):
        columns.append(np.stack([l_edges[picks * 10] + offset, a_edges + offset, b_edges + offset], axis=-1))
    columns.append(np.array([[-5.0, -200.0, -200.0]] * 11))
    columns.append(np.array([[150.0, 200.0, 200.0]] * 11))
    values = np.stack(columns, axis=1)  # (11, 5, 3)
    p1, p2 = encode_grid(values, "lab")
    lab = torch.from_numpy(values).permute(2, 0, 1)[None]
    assert torch.equal(targets.quantizer1.encode(lab[:, :1])[0], torch.from_numpy(p1))
    assert torch.equal(targets.quantizer2.encode(lab[:, 1:])[0], torch.from_numpy(p2))
    assert p1[0, 0] == 0 and p1[10, 0] == 99  # the edge 0 opens bin 0; the last edge clamps to bin 99
    assert p1[1, 0] == 10 and p1[1, 1] == 9  # an edge opens its bin; just below it is the bin before
    assert p2[3, 3] == 0 and p2[3, 4] == 99  # far outside: the end bins


def test_bench_encoding_agreement_counts_and_explains_differences():
    targets = build_targets("lab", grid=6)
    images = random_images(n=4, size=12, seed=3)
    prepared = targets.prepare(images)
    result = bench.encoding_agreement(images, targets, torch.device("cpu"), "lab", 100, 10,
                                      (prepared.t1.numpy(), prepared.t2.numpy()))
    assert result.entries == 2 * 4 * 36
    assert result.differ_off_edge == 0 and result.prepare_matches
    assert result.differ <= 2


def test_near_edge():
    edges = np.linspace(0.0, 10.0, 11)
    values = np.array([-1.0, 0.0, 0.00005, 0.0002, 4.99995, 5.5, 10.0, 12.0])
    assert bench._near_edge(values, edges, EDGE_TOLERANCE).tolist() == [
        False, True, True, False, True, False, True, False
    ]


# ----------------------------------------------------------------------------------------------
# The poster pipeline is scikit-image's


@pytest.mark.parametrize("seed", [0, 1])
def test_poster_classes_are_numpy_digitize_of_skimage_rgb2lab_and_resize(seed):
    images = random_images(n=3, size=30, seed=seed)
    dataset = PosterTargets(images, "lab", grid=12)
    for index in range(3):
        x1, x2, t1, t2 = dataset[index]
        lab = rgb2lab(images[index].permute(1, 2, 0).numpy())
        small = resize(lab, (12, 12), anti_aliasing=True)
        expected_l = np.clip(np.digitize(small[..., 0], np.linspace(0, 101, 101)) - 1, 0, 99)
        expected_a = np.clip(np.digitize(small[..., 1], np.linspace(-87, 99, 11)) - 1, 0, 9)
        expected_b = np.clip(np.digitize(small[..., 2], np.linspace(-108, 95, 11)) - 1, 0, 9)
        assert np.array_equal(t1.numpy(), expected_l)
        assert np.array_equal(t2.numpy(), expected_a * 10 + expected_b)
        assert t1.dtype == t2.dtype == torch.int64 and t1.shape == (12, 12)
        assert torch.allclose(x1[0], torch.from_numpy((lab[..., 0] - 50) / 50).float(), atol=1e-6)
        assert torch.allclose(x2, torch.from_numpy(lab[..., 1:].transpose(2, 0, 1) / 110).float(), atol=1e-6)


def test_rescaled_bins_span_each_image_min_and_max_plus_one():
    rng = np.random.default_rng(0)
    values = rng.uniform(-30, 40, size=(6, 6, 3))
    edges = bin_edges(values, "rescaled_lab")
    assert edges[0][0] == 0.0 and edges[0][-1] == 101.0 and len(edges[0]) == 101
    for channel in (1, 2):
        assert edges[channel][0] == values[..., channel].min()
        assert edges[channel][-1] == pytest.approx(values[..., channel].max() + 1.0)
        assert len(edges[channel]) == 11
    _, t2 = encode_grid(values, "rescaled_lab")
    assert t2.min() >= 0 and t2.max() <= 99
    assert (t2 // 10).min() == 0 and (t2 % 10).min() == 0  # the minimum opens bin 0 of each channel


@pytest.mark.parametrize("shape", [(24, 24, 6), (37, 50, 12), (13, 12, 12)])
def test_area_downsample_equals_adaptive_avg_pool(shape):
    height, width, grid = shape
    values = np.random.default_rng(1).normal(size=(height, width, 3))
    ours = downsample_image(values, grid, "area")
    theirs = F.adaptive_avg_pool2d(torch.from_numpy(values).permute(2, 0, 1)[None], grid)[0].permute(1, 2, 0)
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-12)


def test_skimage_downsample_is_antialiased_resize():
    values = rgb2lab(random_images(n=1, size=36, seed=4)[0].permute(1, 2, 0).numpy())
    np.testing.assert_array_equal(
        downsample_image(values, 12, "skimage"), resize(values, (12, 12), anti_aliasing=True)
    )


def test_poster_loader_batches_and_accepts_channels_last_numpy():
    images = random_images(n=5, size=16, seed=5)
    from_tensor = PosterTargets(images, "lab", grid=8, downsample="area")
    from_numpy = PosterTargets(images.permute(0, 2, 3, 1).numpy(), "lab", grid=8, downsample="area")
    batches = list(poster_pipeline.poster_loader(from_tensor, batch_size=2))
    assert [len(b[0]) for b in batches] == [2, 2, 1]
    x1, x2, t1, t2 = batches[0]
    assert x1.shape == (2, 1, 16, 16) and x2.shape == (2, 2, 16, 16) and t1.shape == t2.shape == (2, 8, 8)
    for a, b in zip(from_tensor[4], from_numpy[4]):
        assert torch.equal(a, b)


def test_bad_input_raises_value_error_naming_the_argument():
    with pytest.raises(ValueError, match="images"):
        PosterTargets(torch.zeros(2, 24, 24, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="images"):
        PosterTargets(np.zeros((2, 24, 24, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="grid"):
        PosterTargets(random_images(n=1, size=8), grid=12)
    with pytest.raises(ValueError, match="downsample"):
        PosterTargets(random_images(n=1), downsample="bilinear")
    with pytest.raises(ValueError, match="space"):
        PosterTargets(random_images(n=1), space="hsv")
    with pytest.raises(ValueError, match="mode"):
        downsample_image(np.zeros((16, 16, 3)), 8, "nearest")
    with pytest.raises(ValueError, match="image"):
        poster_pipeline.image_values(np.zeros((8, 8, 3), dtype=np.float64))

def test_bad_benchmark_options_are_one_line_errors(capsys):
    for argv, message in ((["--sizes", "8", "--grid", "12"], "every --sizes value must be >= --grid (12)"),
                          (["--batch", "0"], "--batch must be a positive integer"),
                          (["--data", "folder"], "--data folder needs --data-root"),
                          (["--sections", "6"], "--sections")):
        try:
            status = bench.main(["--device", "cpu", *argv])
        except SystemExit as exit_:  # argparse's own errors
            status = exit_.code
        assert status == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("splitbrain: error: ") and message in err[0], err


# ----------------------------------------------------------------------------------------------
# The benchmark command


def parse_table(text):
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(bench.COLUMNS) and cells[0].isdigit():
            rows.append(dict(zip(bench.COLUMNS, cells)))
    return rows


def test_quick_benchmark_prints_one_table_with_all_five_sections(tmp_path):
    record_path = tmp_path / "bench.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", "--quick", "--device", "cpu", "--threads", "1",
         "--json", str(record_path)],
        capture_output=True, text=True, timeout=120, cwd=REPOSITORY,
    )
    assert completed.returncode == 0, completed.stderr
    text = completed.stdout
    assert "machine: cpu " in text and f"torch {torch.__version__}" in text
    rows = parse_table(text)
    assert {row["#"] for row in rows} == {"1", "2", "3", "4", "5"}
    assert sum(line.startswith("| # |") for line in text.splitlines()) == 1  # one table

    # Section 1: both pipelines' speeds and the speed-up at each quick size, agreement in %.
    speeds = [r for r in rows if r["#"] == "1" and r["measurement"] == "target prep"]
    assert [r["setting"].split()[0] for r in speeds] == ["16", "16", "24", "24"]
    for row in speeds:
        assert float(row["value"].replace(",", "")) > 0 and float(row["ratio"]) > 0
    binning = [r for r in rows if r["measurement"] == "class maps, binning step"]
    assert len(binning) == 2
    for row in binning:
        assert 99.0 <= float(row["value"]) <= 100.0 and row["result"].startswith("PASS")
    end_to_end = [r for r in rows if r["measurement"].startswith("class maps, end to end")]
    assert len(end_to_end) == 4 and all(0.0 <= float(r["value"]) <= 100.0 for r in end_to_end)

    # Section 2: the overhead as a time ratio, with a verdict.
    overhead = [r for r in rows if r["#"] == "2"]
    assert len(overhead) == 2 and "simplenet" in overhead[0]["setting"]
    assert all(float(r["value"]) > 0 and float(r["ratio"]) > 0 for r in overhead)
    assert overhead[1]["target"] == "overhead <= 10%" and overhead[1]["result"][:4] in ("PASS", "MISS")

    # Section 3: fp32 and channels_last measured; AMP n/a on the CPU; compile skipped by default.
    end_to_end_rows = [r for r in rows if r["#"] == "3"]
    measured = [r for r in end_to_end_rows if r["value"] != "n/a"]
    assert len(measured) == 2 and all(float(r["ratio"]) > 0 for r in measured)
    assert sum(r["value"] == "n/a" and "AMP" in r["result"] for r in end_to_end_rows) == 2
    assert any("compile" in r["setting"] and "skipped" in r["result"] for r in end_to_end_rows)

    # Section 4: CUDA only.
    (gpu,) = [r for r in rows if r["#"] == "4"]
    assert gpu["result"] == "skipped: no CUDA"

    # Section 5: the fine-tuning step beside the pretraining step, in float32 and under bf16 autocast.
    steps = [r for r in rows if r["#"] == "5"]
    assert [r["measurement"] for r in steps] == ["pretraining step", "fine-tuning step"] * 2
    assert ["bf16" in r["setting"] for r in steps] == [False, False, True, True]
    for reference, tuned in (steps[:2], steps[2:]):
        rate, reference_rate = float(tuned["value"].replace(",", "")), float(reference["value"].replace(",", ""))
        assert float(tuned["ratio"]) == pytest.approx(rate / reference_rate, rel=0.02)

    record = json.loads(record_path.read_text())
    assert len(record["rows"]) == len(rows) and record["machine"]["device"] == "cpu"
    assert record["rows"][1]["ratio"] == pytest.approx(float(speeds[1]["ratio"]), rel=1e-2)


def test_gpu_section_counts_flops_and_reports_shares(monkeypatch):
    """Section 4's arithmetic, run on the CPU with a stand-in peak (no GPU in the tests)."""
    monkeypatch.setattr(bench, "measure_bf16_peak", lambda device: 1e12)
    targets = build_targets("lab", grid=12)
    rgb = random_images(n=2, size=16, seed=6)
    rows = bench.bench_gpu(["simplenet"], "half", rgb, targets, torch.device("cpu"), False, 0, 1)
    peak, step, achieved, share = rows
    assert peak.value == pytest.approx(1.0) and peak.unit == "TFLOP/s"
    assert step.value > 0 and step.unit == "img/s"
    flops_per_image = float(step.result.split()[0]) * 1e9
    assert flops_per_image > 1e6  # a forward and backward pass of two conv stacks
    assert achieved.ratio == pytest.approx(achieved.value * 1e12 / 1e12)
    assert achieved.value == pytest.approx(flops_per_image * step.value / 1e12, rel=0.05)
    assert 0 < share.ratio and share.target == "< 5% of step time" and share.result[:4] in ("PASS", "MISS")
