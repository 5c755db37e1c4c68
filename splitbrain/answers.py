"""Answers to the exercises of chapters 1 to 8, for the instructor page.

Every exercise has one :class:`Answer`: a Markdown text with ``{name}`` placeholders and the
function that works out those numbers. Where it comes from says its ``source``:

- "computed": worked out here with the package, as the chapter would (chapters 1 to 4 and the
  parts of chapters 5 and 7 that need no training), under the ``cpu`` preset's crop counts, the
  preset the book's recorded runs use;
- "record": read from the committed run records (the run-time record's per-seed "you should
  see" numbers, the grids' run records, the fine-tuning trials), on the data those runs used;
- "direction": no recorded run gives the number (the exercise needs a training run the records
  do not hold), so the answer gives the expected direction, the reason, and the chapter's
  printed number to compare with (itself from the records).

``python -m splitbrain.answers --write`` stores every number in ``results/answers/exercises.json``
(no "kind" field: it is not a run record); the book build fills the instructor page's
``<!-- answers: CHAPTER -->`` lines from it (:func:`render_answers`), each as a collapsed block,
and the tests recompute the numbers and compare.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

# The modules that import torch are imported where they are used, so that importing this one
# (the book builder does) stays light.
from .chapter_times import runtime_records
from .files import atomic_write_text
from .label_curve import curve_points, curve_rows, paired_gaps
from .results import SPACE_LABELS, format_seeds, load_records, mean_std, method_label
from . import results as _results  # its SHIPPED_RESULTS read at call time, so a test can point it elsewhere
from .tables import read_reference_csv

ANSWER_RECORD = Path("answers") / "exercises.json"
"""The answers' record, in a results folder."""
PRESET = "cpu"
"""The preset whose crop counts the computed answers follow (the one the book's records ran)."""
ANSWERS_MARKER = re.compile(r"^<!-- answers: (?P<chapter>[\w.-]+) -->$", re.MULTILINE)
"""A line of ``book/instructor.md`` replaced at build time by a chapter's answers."""
SOURCE_LABELS = {"computed": "Worked out", "record": "From the records",
                 "direction": "Direction only (no recorded run gives the number)"}
CHAPTERS = ("01_color_spaces", "02_quantization", "03_rescaled_bins", "04_architectures", "05_pretraining",
            "06_probes_and_finetuning", "07_denoising_baseline", "08_results")
CH2_CROPS, CH2_ERROR_CROPS = 400, 60
"""Chapter 2's crops under ``cpu``: for the class statistics, and the first ones for CIEDE2000."""
CH3_CROPS, CH3_ERROR_CROPS, DEMO_CROP = 500, 60, 2
"""Chapter 3's crops under ``cpu``, as chapter 2's, and the crop its demonstration tints."""
CH8_GRIDS = ["cifar-recipe", "cifar-cpu", "stl10-colab", "embedded-cpu", "cifar-quick"]
"""The grids chapter 8 reads, in order of preference."""
CORNERS = {(0, 0, 0): "black", (1, 1, 1): "white", (1, 0, 0): "red", (0, 1, 0): "green", (0, 0, 1): "blue",
           (1, 1, 0): "yellow", (1, 0, 1): "magenta", (0, 1, 1): "cyan"}


@dataclass(frozen=True)
class Answer:
    """One exercise's answer: ``text`` (Markdown, ``{name:format}`` placeholders filled from what
    ``compute`` returns), where its numbers come from (``source``, see the module's docstring)."""

    source: str
    text: str
    compute: Callable[[], dict[str, Any]]


@functools.lru_cache(maxsize=None)
def _cube(levels: int = 64):
    """sRGB cube samples (M, 3) in [0, 1] and their Lab values (M, 3), float64."""
    from .color import rgb_to_lab, srgb_cube_samples

    cube = srgb_cube_samples(levels).double()
    return cube, rgb_to_lab(cube.T.reshape(3, 1, -1))[:, 0].T


def _hex(rgb) -> str:
    return "#" + "".join(f"{round(255 * float(v)):02X}" for v in rgb)


def _name(rgb) -> str:
    """A cube corner's name, else the colour's hex code."""
    return CORNERS.get(tuple(round(float(v), 6) for v in rgb), _hex(rgb))


@functools.lru_cache(maxsize=None)
def _photos():
    import numpy as np
    import torch

    from .data import EMBEDDED_PHOTOS, load_embedded_photos

    return {name: torch.from_numpy(np.array(photo)).permute(2, 0, 1)
            for name, photo in zip(EMBEDDED_PHOTOS, load_embedded_photos())}


def _images(dataset, count: int | None = None):
    """The first ``count`` (default: all) images of ``dataset``, stacked."""
    import torch

    return torch.stack([dataset[i][0] for i in range(len(dataset) if count is None else count)])


@functools.lru_cache(maxsize=None)
def _crops(count: int):
    """The first ``count`` crops (N, 3, 96, 96) chapters 2 and 3 take from the embedded photographs (uint8)."""
    from .data import build_dataset

    return _images(build_dataset("embedded", split="train", image_size=96, augment=False, length=count))


@functools.lru_cache(maxsize=None)
def _split_lab(count: int):
    """(L\\* (N, 1, S, S), ab (N, 2, S, S)) of the first ``count`` crops, in Lab units."""
    from .color import get_color_space

    space = get_color_space("lab")
    return space.split(space.from_rgb(_crops(count)))


def _targets(count: int, quantizer):
    """The first ``count`` crops' ab on the 12 x 12 target grid: (classes (N, 12, 12), ranges)."""
    from .quantize import downsample_targets

    return downsample_targets(_split_lab(count)[1], quantizer, grid=12)


def _prior(count: int, quantizer):
    """The class frequencies (K,) of the first ``count`` crops' ab targets, summing to 1."""
    from .quantize import class_distribution

    return class_distribution(_targets(count, quantizer)[0], quantizer.num_classes)


def _classes_per_crop(classes) -> float:
    """How many distinct classes a crop's target (N, 12, 12) uses, on average."""
    return float(sum(int(c.unique().numel()) for c in classes) / len(classes))


@functools.lru_cache(maxsize=None)
def _run_records():
    from .comparisons import collect_run_records

    return tuple(collect_run_records(_results.SHIPPED_RESULTS))


def _zhang_table() -> dict[str, dict]:
    """Zhang et al.'s Table 2 (ImageNet linear probes): method -> {"conv1".."conv5": top-1 %}."""
    path = _results.SHIPPED_RESULTS / "reference" / "zhang2017_table2_imagenet_linear.csv"
    return {row["method"]: row for row in read_reference_csv(path)}


@functools.lru_cache(maxsize=None)
def _seen() -> dict:
    """notebook stem -> name -> {"what", "values", "preset", "seeds"} of the ``cpu`` run-time record."""
    record = next((r for r in runtime_records(_results.SHIPPED_RESULTS) if r["preset"] == PRESET), None)
    if record is None:
        return {}
    return {Path(notebook).stem: {name: {**item, "seeds": record["seeds"]} for name, item in values.items()}
            for notebook, values in record["seen"].items()}


def _seen_ranges(chapter: str, prefixes: dict[str, str]) -> dict[str, Any]:
    """{prefix_low, prefix_high, prefix_seeds} for each "you should see" number ``name`` of
    ``prefixes`` (name -> prefix): its range over the seeds."""
    out: dict[str, Any] = {}
    for name, prefix in prefixes.items():
        item = _seen()[chapter][name]
        out.update({f"{prefix}_low": min(item["values"]), f"{prefix}_high": max(item["values"]),
                    f"{prefix}_seeds": format_seeds(item["seeds"])})
    return out


def ch1_slices() -> dict[str, Any]:
    from .color import POSTER_A_RANGE, POSTER_B_RANGE, reachable_fractions

    shares = reachable_fractions([5, 50, 95], POSTER_A_RANGE, POSTER_B_RANGE, 1.0).tolist()
    cube, lab = _cube()
    band = (lab[:, 0] - 95).abs() <= 1.0
    chroma = lab[band, 1:].norm(dim=1)
    best = int(chroma.argmax())
    a, b = lab[band][best, 1:].tolist()
    return {"share_5": 100 * shares[0], "share_50": 100 * shares[1], "share_95": 100 * shares[2],
            "chroma_95": float(chroma.max()), "a_95": a, "b_95": b,
            "hue_95": math.degrees(math.atan2(b, a)) % 360, "colour_95": _hex(cube[band][best])}


def ch1_saturated() -> dict[str, Any]:
    cube, lab = _cube()
    chroma = lab[:, 1:].norm(dim=1)
    best = int(chroma.argmax())
    corners = ((cube == 0) | (cube == 1)).all(dim=1).nonzero().flatten().tolist()
    second = max((i for i in corners if _name(cube[i]) != _name(cube[best])), key=lambda i: float(chroma[i]))
    return {"colour": _name(cube[best]), "chroma": float(chroma[best]), "lightness": float(lab[best, 0]),
            "second": _name(cube[second]), "second_chroma": float(chroma[second]),
            "second_lightness": float(lab[second, 0]), "levels": 64}


def ch1_box() -> dict[str, Any]:
    from .color import POSTER_A_RANGE, POSTER_B_RANGE

    cube, lab = _cube()
    out: dict[str, Any] = {"levels": 64}
    for axis, key in ((1, "a"), (2, "b")):
        low, high = int(lab[:, axis].argmin()), int(lab[:, axis].argmax())
        out.update({f"{key}_min": float(lab[low, axis]), f"{key}_max": float(lab[high, axis]),
                    f"{key}_min_corner": _name(cube[low]), f"{key}_max_corner": _name(cube[high])})
    return {**out, "poster_a_low": POSTER_A_RANGE[0], "poster_a_high": POSTER_A_RANGE[1],
            "poster_b_low": POSTER_B_RANGE[0], "poster_b_high": POSTER_B_RANGE[1]}


def ch1_other_spaces() -> dict[str, Any]:
    import numpy as np
    import torch
    from skimage.color import rgb2hsv, rgb2ycbcr

    from .color import channel_correlation, get_color_space

    def coupling(values, brightness: int) -> float:
        """Mean |r| of the brightness channel with the two others."""
        r = channel_correlation(values).abs()
        first, second = (c for c in range(3) if c != brightness)
        return float((r[brightness, first] + r[brightness, second]) / 2)

    lab_space = get_color_space("lab")
    spaces = {"ycbcr": (rgb2ycbcr, 0), "hsv": (rgb2hsv, 2)}  # brightness: Y first, V last
    sums = {"ycbcr": [], "hsv": [], "lab": []}
    for photo in _photos().values():
        image = photo.permute(1, 2, 0).numpy().astype(np.float64) / 255
        for name, (convert, brightness) in spaces.items():
            values = torch.from_numpy(np.ascontiguousarray(convert(image).transpose(2, 0, 1)))
            sums[name].append(coupling(values, brightness))
        sums["lab"].append(coupling(lab_space.from_rgb(photo), 0))
    means = {name: sum(values) / len(values) for name, values in sums.items()}
    labels = {"ycbcr": "YCbCr", "hsv": "HSV", "lab": "Lab"}
    return {**means, "photos": len(_photos()), "best": labels[min(means, key=means.get)]}


def ch1_halves() -> dict[str, Any]:
    import torch

    from .color import get_color_space

    lab_space = get_color_space("lab")
    photo = _photos()["astronaut"]
    lab = lab_space.from_rgb(photo.unsqueeze(0)).double()
    lightness, ab = lab_space.split(lab)
    grey = lab_space.to_rgb(lab_space.merge(lightness, torch.zeros_like(ab)))
    flat = lab_space.to_rgb(lab_space.merge(torch.full_like(lightness, 50.0), ab))

    def edges(rgb):
        rgb = rgb.clamp(0, 1)[0]
        dx, dy = rgb[:, :-1, 1:] - rgb[:, :-1, :-1], rgb[:, 1:, :-1] - rgb[:, :-1, :-1]
        return (dx ** 2 + dy ** 2).sum(0).sqrt().flatten()

    original = edges(photo.unsqueeze(0).double() / 255)

    def edge_correlation(rgb) -> float:
        return float(torch.corrcoef(torch.stack([edges(rgb), original]))[0, 1])

    return {"grey_r": edge_correlation(grey), "flat_r": edge_correlation(flat)}


def ch2_bins() -> dict[str, Any]:
    from .quantize import delta_e_2000, poster_quantizers, quantization_error

    crops = _crops(CH2_CROPS)
    error_crops = crops[:CH2_ERROR_CROPS]
    _, lab = _cube()
    out: dict[str, Any] = {"crops": len(crops), "error_crops": len(error_crops)}
    for bins in (10, 16, 25):
        quantizer = poster_quantizers("lab", bins2=bins)[1]
        reachable = int(quantizer.encode(lab[:, 1:].T.reshape(1, 2, -1, 1).float()).unique().numel())
        out.update({f"classes_{bins}": quantizer.num_classes, f"reachable_{bins}": reachable,
                    f"used_{bins}": int((_prior(CH2_CROPS, quantizer) > 0).sum()),
                    f"pixel_{bins}": quantization_error(error_crops, quantizer, space="lab").mean,
                    f"grid_{bins}": quantization_error(error_crops, quantizer, grid=12, space="lab").mean})
    downsampled = quantization_error(error_crops, "lab", grid=12).downsampled
    out["downsample_only"] = float(delta_e_2000(error_crops, downsampled).mean())
    return out


def ch2_temperature() -> dict[str, Any]:
    import torch.nn.functional as F

    from .color import get_color_space
    from .quantize import delta_e_2000, downsample, example_logits, poster_quantizers

    space, quantizer = get_color_space("lab"), poster_quantizers("lab")[1]
    shown = _crops(CH2_CROPS)[:5]
    values = space.from_rgb(shown)
    lightness, _ = space.split(values)
    small = downsample(values, 12)
    logits = example_logits(small[:, 1:], quantizer.centres(), _prior(CH2_CROPS, quantizer), sigma=10.0,
                            prior_weight=0.5)
    target = space.to_rgb(space.merge(lightness, F.interpolate(small[:, 1:], size=96)))
    temperatures = [round(0.05 * k, 2) for k in range(1, 21)]
    errors = []
    for t in temperatures:
        decoded = quantizer.decode(logits, mode="annealed", temperature=t)
        image = space.to_rgb(space.merge(lightness, F.interpolate(decoded, size=96)))
        errors.append(float(delta_e_2000(target, image).mean()))
    best = errors.index(min(errors))
    return {"t_best": temperatures[best], "error_best": errors[best], "error_low": errors[0],
            "error_high": errors[-1], "error_038": errors[temperatures.index(0.4)],
            "shown": len(shown), "steps": len(temperatures)}


def ch2_nearest() -> dict[str, Any]:
    from .quantize import GamutQuantizer, quantization_error

    error_crops = _crops(CH2_CROPS)[:CH2_ERROR_CROPS]
    nearest, corners = GamutQuantizer.derived(rule="nearest"), GamutQuantizer.derived()
    out: dict[str, Any] = {"nearest": nearest.num_classes, "corners": corners.num_classes,
                           "error_crops": len(error_crops)}
    for key, quantizer in (("nearest", nearest), ("corners", corners)):
        out[f"pixel_{key}"] = quantization_error(error_crops, quantizer, space="lab").mean
        out[f"grid_{key}"] = quantization_error(error_crops, quantizer, grid=12, space="lab").mean
    return out


def ch2_lightness_bins() -> dict[str, Any]:
    from .color import get_color_space
    from .quantize import UniformQuantizer, delta_e_2000, poster_quantizers, quantization_error

    error_crops = _crops(CH2_CROPS)[:CH2_ERROR_CROPS]
    space = get_color_space("lab")
    lab = space.from_rgb(error_crops)
    lightness, ab = space.split(lab)
    rgb = error_crops.float() / 255

    def cost(quantizer) -> float:
        decoded = quantizer.centres()[quantizer.encode(lightness)].permute(0, 3, 1, 2).to(lab.dtype)
        return float(delta_e_2000(rgb, space.to_rgb(space.merge(decoded, ab)).clamp(0, 1)).mean())

    return {"l50": cost(UniformQuantizer([50], [0], [100])), "l100": cost(poster_quantizers("lab")[0]),
            "ab_pixel": quantization_error(error_crops, "lab").mean, "error_crops": len(error_crops)}


def ch2_rebalancing() -> dict[str, Any]:
    from .quantize import poster_quantizers, rebalancing_weights

    quantizer = poster_quantizers("lab")[1]
    prior, centres = _prior(CH2_CROPS, quantizer), quantizer.centres()
    weights = rebalancing_weights(prior, centres)
    common = int(prior.argmax())
    used = prior > 0
    rare = int(weights.masked_fill(~used, -1).argmax())
    return {"w_max": float(weights.max()), "w_common": float(weights[common]),
            "a_common": float(centres[common, 0]), "b_common": float(centres[common, 1]),
            "w_rare_used": float(weights[rare]), "a_rare": float(centres[rare, 0]), "b_rare": float(centres[rare, 1]),
            "chroma_rare": float(centres[rare].norm()),
            "capped": int((~used).sum()), "used": int(used.sum())}


def _demo_versions(kind: str):
    """The demonstration crop's Lab versions: original and tinted (``kind`` "lab": the chapter's
    shift in Lab; "rgb": the tinted Lab sent to sRGB and back; "rgb8": stored as an 8-bit image
    and read back) and saturated (x 1.5)."""
    import torch

    from .color import get_color_space

    space = get_color_space("lab")
    original = space.from_rgb(_crops(CH3_CROPS)[DEMO_CROP:DEMO_CROP + 1]).double()
    lightness, ab = space.split(original)
    shift = torch.tensor([15.0, -20.0], dtype=torch.float64).view(1, 2, 1, 1)
    tinted = space.merge(lightness, ab + shift)
    if kind == "rgb":
        tinted = space.from_rgb(space.to_rgb(tinted).clamp(0, 1)).double()
    elif kind == "rgb8":
        tinted = space.from_rgb((255 * space.to_rgb(tinted).clamp(0, 1)).round().to(torch.uint8)).double()
    return torch.cat([original, tinted, space.merge(lightness, ab * 1.5)])


def _changed(versions, quantizer) -> tuple[int, int]:
    """How many of the 144 target cells change class: tinted, saturated against the original."""
    from .color import get_color_space
    from .quantize import downsample_targets

    _, ab = get_color_space("lab").split(versions)
    classes, _ = downsample_targets(ab, quantizer, grid=12)
    return int((classes[1] != classes[0]).sum()), int((classes[2] != classes[0]).sum())


def ch3_margin() -> dict[str, Any]:
    from .quantize import RescaledQuantizer

    versions = _demo_versions("lab")
    out: dict[str, Any] = {"crops": len(_crops(CH3_CROPS))}
    for key, margin in (("m001", 0.01), ("m1", 1.0), ("m10", 10.0)):
        quantizer = RescaledQuantizer([10, 10], margin=margin)
        classes, ranges = _targets(CH3_CROPS, quantizer)
        flattest = int((ranges[:, :, 1] - ranges[:, :, 0]).sum(dim=1).argmin())
        out[f"saturation_{key}"] = _changed(versions, quantizer)[1]
        out[f"flat_{key}"] = int(classes[flattest].unique().numel())
        out[f"mean_{key}"] = _classes_per_crop(classes)
    return out


def ch3_lightness() -> dict[str, Any]:
    from .quantize import RescaledQuantizer, downsample_targets, poster_quantizers

    lightness, _ = _split_lab(CH3_CROPS)
    fixed, _ = downsample_targets(lightness, poster_quantizers("lab")[0], grid=12)
    rescaled, ranges = downsample_targets(lightness, RescaledQuantizer([100]), grid=12)
    means = lightness.mean(dim=(1, 2, 3))
    return {"fixed_used": _classes_per_crop(fixed), "rescaled_used": _classes_per_crop(rescaled),
            "mean_low": float(means.min()), "mean_high": float(means.max()),
            "range_median": float((ranges[:, 0, 1] - ranges[:, 0, 0]).median())}


def ch3_rgb_tint() -> dict[str, Any]:
    from .quantize import poster_quantizers

    fixed, rescaled = poster_quantizers("lab")[1], poster_quantizers("rescaled_lab")[1]
    lab_tint, rgb_tint, rgb8_tint = _demo_versions("lab"), _demo_versions("rgb"), _demo_versions("rgb8")
    return {"lab_rescaled": _changed(lab_tint, rescaled)[0], "rgb_rescaled": _changed(rgb_tint, rescaled)[0],
            "rgb8_rescaled": _changed(rgb8_tint, rescaled)[0],
            "rgb8_shift": float((rgb8_tint[1, 1:] - lab_tint[1, 1:]).norm(dim=0).mean()),
            "lab_fixed": _changed(lab_tint, fixed)[0], "rgb_fixed": _changed(rgb_tint, fixed)[0],
            "ab_shift": float((rgb_tint[1, 1:] - lab_tint[1, 1:]).norm(dim=0).mean())}


def ch3_rebalancing() -> dict[str, Any]:
    import torch

    from .quantize import poster_quantizers, rebalancing_weights

    out: dict[str, Any] = {}
    bin_units = torch.stack(torch.meshgrid(torch.arange(10.0), torch.arange(10.0), indexing="ij"), -1).reshape(-1, 2)
    for key, space_name in (("fixed", "lab"), ("rescaled", "rescaled_lab")):
        quantizer = poster_quantizers(space_name)[1]
        prior = _prior(CH3_CROPS, quantizer)
        # global bins smooth over their centres (5 ab units); rescaled ones have no fixed centres: none
        weights = (rebalancing_weights(prior, quantizer.centres()) if key == "fixed"
                   else rebalancing_weights(prior, bin_units, sigma=0.0))
        out[f"{key}_ratio"] = float(weights.max() / weights.min())
        out[f"{key}_common"] = float(weights[int(prior.argmax())])
        out[f"{key}_top_share"] = 100 * float(prior.max())
    return out


def ch3_ranking() -> dict[str, Any]:
    from .quantize import poster_quantizers, quantization_error

    error_crops = _crops(CH3_CROPS)[:CH3_ERROR_CROPS]
    out: dict[str, Any] = {"error_crops": len(error_crops)}
    for key, bins, upsample in (("nearest", 10, "nearest"), ("bilinear", 10, "bilinear"),
                                ("bins16", 16, "nearest")):
        errors = {space: quantization_error(error_crops, poster_quantizers(space, bins2=bins)[1], grid=12,
                                            space=space, upsample=upsample).mean for space in SPACE_LABELS}
        out.update({f"{key}_{space}": error for space, error in errors.items()})
        out[f"{key}_order"] = " < ".join(SPACE_LABELS[s] for s in sorted(errors, key=errors.get))
    return out


def ch4_receptive() -> dict[str, Any]:
    from .architecture import stage_receptive_fields
    from .models import build_trunk

    rows = stage_receptive_fields(build_trunk("simplenet", input_size=96, stem="stride2"))
    out: dict[str, Any] = {f"{row['layer']}_rf": row["rf"] for row in rows}
    out.update({f"{row['layer']}_jump": row["jump"] for row in rows})
    out["cells"] = rows[-1]["rf"] / (96 / 12)
    return out


def ch4_classifiers() -> dict[str, Any]:
    from .architecture import parameter_rows

    out: dict[str, Any] = {}
    for key, classes in (("zhang", (313, 50)), ("poster", (100, 100))):
        for row in parameter_rows(("fcalexnet", "simplenet"), input_size=180, num_classes=classes, grid=12):
            name = f"{key}_{row['arch']}_{row['width']}"
            out[f"{name}_classifiers"] = row["classifiers"]
            out[f"{name}_share"] = 100 * row["classifiers"] / row["total"]
    return out


def ch4_stems() -> dict[str, Any]:
    from .architecture import grid_rule_rows, stage_receptive_fields
    from .models import ARCHITECTURES, build_trunk

    out: dict[str, Any] = {}
    for row in grid_rule_rows(ARCHITECTURES, [64, 128], grid=12):
        name = f"{row['arch']}_{row['input_size']}"
        rf = stage_receptive_fields(build_trunk(row["arch"], input_size=row["input_size"], grid=12))[-1]["rf"]
        out.update({f"{name}_stem": row["stem"], f"{name}_map": row["map"], f"{name}_head": row["head"],
                    f"{name}_rf": rf})
    return out


def ch4_grouped() -> dict[str, Any]:
    import torch
    from torch import nn

    from .models import SplitBrainNet

    torch.manual_seed(0)
    pair = SplitBrainNet("fcalexnet", in_channels=(1, 2), num_classes=(100, 100), width="half", grid=12,
                         input_size=180)
    conv1, conv2 = pair.half1.trunk.stages["conv1"][0], pair.half2.trunk.stages["conv1"][0]
    c1, c2 = conv1.out_channels, conv2.out_channels
    grouped = nn.Conv2d(4, c1 + c2, conv1.kernel_size, stride=conv1.stride, padding=conv1.padding, groups=2,
                        bias=conv1.bias is not None)
    with torch.no_grad():
        grouped.weight.zero_()
        grouped.weight[:c1, :1] = conv1.weight  # group 1 reads (L, zero): half 1 on L, zeros on the zero channel
        grouped.weight[c1:] = conv2.weight  # group 2 reads (a, b)
        if grouped.bias is not None:
            grouped.bias.copy_(torch.cat([conv1.bias, conv2.bias]))
        x = torch.randn(2, 3, 64, 64)
        four = torch.cat([x[:, :1], torch.zeros_like(x[:, :1]), x[:, 1:]], dim=1)
        difference = float((grouped(four) - torch.cat([conv1(x[:, :1]), conv2(x[:, 1:])], dim=1)).abs().max())
    k = conv1.kernel_size[0] * conv1.kernel_size[1]
    total, used = grouped.weight.numel(), conv1.weight.numel() + conv2.weight.numel()
    return {"difference": difference, "total": total, "used": used, "wasted": total - used,
            "wasted_share": 100 * (total - used) / total, "kernel": conv1.kernel_size[0], "c1": c1, "k": k}


def ch4_imagenet_stem() -> dict[str, Any]:
    from .architecture import _head_action, stage_receptive_fields
    from .models import build_trunk

    out: dict[str, Any] = {}
    for key, stem in (("maxpool", "imagenet"), ("chosen", None)):
        trunk = build_trunk("fcresnet18", input_size=180, grid=12, stem=stem)
        side = type(trunk).map_size(trunk.stem, 180)
        last = stage_receptive_fields(trunk)[-1]
        out.update({f"{key}_stem": trunk.stem, f"{key}_map": side, f"{key}_head": _head_action(side, 12),
                    f"{key}_rf": last["rf"], f"{key}_jump": last["jump"]})
    return out


def ch5_seen() -> dict[str, Any]:
    return _seen_ranges("05_pretraining", {"delta_e_first": "first", "delta_e_last": "last",
                                           "fresh_loss1": "loss1", "fresh_loss2": "loss2",
                                           "improved_percent": "improved"})


def ch5_entropy() -> dict[str, Any]:
    from .data import STANDARD_SPLITS, build_dataset
    from .models import build_targets_for
    from .predict import prior_cross_entropy
    from .presets import get_preset
    from .runtime import seed_everything
    from .train import build_pretrain_dataset

    config = get_preset(PRESET, seed=0, out="runs/answers", progress=False)
    targets = build_targets_for(config)
    heldout = _images(build_dataset(config.data, root=config.data_root, image_size=config.image_size,
                                    split=STANDARD_SPLITS[config.data].evaluate, augment=False,
                                    download=False, length=200, seed=config.split_seed))
    train_set = build_pretrain_dataset(config)
    seed_everything(0)  # the training crops' augmentation draws random numbers
    train = _images(train_set)
    held, trained = prior_cross_entropy(targets, heldout), prior_cross_entropy(targets, train)
    return {"held1": held["loss1"], "held2": held["loss2"], "train1": trained["loss1"], "train2": trained["loss2"],
            "heldout": len(heldout), "train": len(train)}


def ch6_seen() -> dict[str, Any]:
    return _seen_ranges("06_probes_and_finetuning", {"probe_gap": "probe_gap", "finetune_gap": "finetune_gap",
                                                     "shipped_top1": "shipped", "shipped_gap": "shipped_gap"})


def ch6_epochs() -> dict[str, Any]:
    trials = {Path(r["path"]).stem: r["metrics"]
              for r in load_records(_results.SHIPPED_RESULTS / "label-search", kind="finetune")}

    def trial(network: str, epochs: int) -> dict:
        return trials[f"{network}-l800-last0.1-e{epochs}"]

    out: dict[str, Any] = {}
    for network in ("lab", "random"):
        for epochs in (60, 120):
            out[f"{network}_{epochs}"] = 100 * trial(network, epochs)["top1"]
            out[f"{network}_{epochs}_val"] = 100 * trial(network, epochs)["val_top1"]
    for key, epochs in (("epochs_short", 60), ("epochs_long", 120)):
        out[key] = trial("lab", epochs)["images_seen"] // trial("lab", epochs)["train_images"]
    out["gap_60"], out["gap_120"] = out["lab_60"] - out["random_60"], out["lab_120"] - out["random_120"]
    out["towards"] = "the random start" if out["gap_120"] < out["gap_60"] else "the pretrained start"
    rose = out["lab_120_val"] > out["lab_60_val"] and out["random_120_val"] > out["random_60_val"]
    out["val_trend"] = "still rose" if rose else "did not rise for both"
    if out["gap_120"] >= out["gap_60"]:
        out["conclusion"] = "more epochs favour the pretrained start"
    elif out["gap_60"] > 0:
        out["conclusion"] = "more epochs let the random start catch up"
    else:
        out["conclusion"] = "more epochs widen the random start's lead"
    return {**out, **ch6_seen()}


def ch6_halves() -> dict[str, Any]:
    rows = _zhang_table()
    out: dict[str, Any] = {}
    for key, method in (("l_ab", "L -> ab (cl)"), ("ab_l", "ab -> L (cl)"), ("both", "Split-Brain (cl,cl)"),
                        ("random", "Gaussian (random) init")):
        out[f"{key}_conv5"], out[f"{key}_conv4"] = float(rows[method]["conv5"]), float(rows[method]["conv4"])
    return out


def _probe_layers(record: dict) -> dict[str, float]:
    return {layer: values["top1"] for layer, values in record["metrics"]["probe"]["layers"].items()}


def ch6_layers() -> dict[str, Any]:
    record = next(r for r in _run_records() if r.get("run_id") == "cifar-recipe/simplenet-lab-seed0")
    layers = _probe_layers(record)
    best = max(layers, key=layers.get)
    chosen = record["metrics"]["probe"]["best_layer"]
    return {"chosen": chosen, "chosen_top1": 100 * layers[chosen], "best": best, "best_top1": 100 * layers[best],
            **_seen_ranges("06_probes_and_finetuning", {"shipped_top1": "shipped"})}


def ch6_few_labels() -> dict[str, Any]:
    gap = next(g for g in paired_gaps(curve_points(_run_records(), arch="simplenet"), "lab") if g["labels"] == 25)
    return {"gap25_mean": 100 * gap["finetune"], "gap25_std": 100 * (gap["finetune_std"] or 0.0),
            "gap25_n": gap["n"], **ch6_seen()}


def ch7_masking() -> dict[str, Any]:
    import torch

    from .color import get_color_space
    from .evaluate import build_eval_datasets
    from .models import corrupt
    from .predict import as_image_batch
    from .presets import get_eval_preset

    config = get_eval_preset(PRESET, max_train_images=600, max_test_images=300, seed=0, progress=False, verbose=False)
    _, test_set, _ = build_eval_datasets(config)
    held_out = _images(test_set, 6)
    clean = get_color_space("rgb").inputs(as_image_batch(held_out))
    out: dict[str, Any] = {"square": float((clean ** 2).mean()), "images": len(held_out)}
    for key, level in (("p25", 0.25), ("p75", 0.75)):
        noisy = corrupt(clean, "masking", level, generator=torch.Generator().manual_seed(0))
        out[f"mse_{key}"] = float(((noisy - clean) ** 2).mean())
        out[f"expected_{key}"] = level * out["square"]
    return out


def ch7_lab_extremes() -> dict[str, Any]:
    import torch

    from .color import get_color_space

    space = get_color_space("lab")
    out: dict[str, Any] = {}
    for key, value in (("pepper", -1.0), ("salt", 1.0)):
        lab = space.denormalize(torch.full((1, 3, 1, 1), value))
        out[f"{key}_lab"] = ", ".join(f"{v:g}" for v in lab.flatten().tolist())
        out[f"{key}_rgb"] = _hex(space.to_rgb(lab).clamp(0, 1).flatten())
    return out


def ch7_width() -> dict[str, Any]:
    from .models import DenoisingAutoencoder, count_parameters

    out: dict[str, Any] = {}
    for width in ("half", "full"):
        dae = DenoisingAutoencoder("simplenet", width=width, input_size=32, grid=8)
        out[f"{width}_encoder"] = count_parameters(dae.encoder)
    records = [r for r in _run_records() if r.get("grid") == "cifar-quick" and r["model"]["arch"] == "simplenet"]
    for key, run in (("dae_half", "simplenet-dae-salt_pepper-seed"), ("dae_full", "simplenet-dae-salt_pepper-full-seed"),
                     ("floor_half", "simplenet-random-rgb-seed")):
        scores = [100 * r["metrics"]["probe"]["top1"] for r in records
                  if str(r.get("run_id", "")).partition("/")[2].startswith(run)
                  and str(r["run_id"]).rpartition("seed")[2].isdigit()]
        out[key], out[f"{key}_n"] = mean_std(scores)[0], len(scores)
    return out


def ch7_best_layer() -> dict[str, Any]:
    grid = "cifar-recipe"
    rises: dict[str, list[float]] = {}
    for record in _run_records():
        if (record.get("grid") != grid or record["model"]["arch"] != "simplenet"
                or record["metrics"]["probe"].get("layer_chosen_on") != "validation"):
            continue
        layers = _probe_layers(record)
        chosen = layers[record["metrics"]["probe"]["best_layer"]]
        label = method_label(record["model"]) + ("" if record["model"]["method"] != "dae"
                                                  else f" ({record['config']['pretrain']['noise']})")
        if record["model"]["method"] in ("splitbrain", "random"):
            label += f" ({SPACE_LABELS[record['model']['color_space']]})"
        rises.setdefault(label, []).append(100 * (max(layers.values()) - chosen))
    means = {label: sum(v) / len(v) for label, v in rises.items()}
    return {"grid": grid, "rise_low": min(means.values()), "rise_high": max(means.values()),
            "unchanged": sum(all(x == 0 for x in v) for v in rises.values()), "networks": len(rises),
            "largest": max(means, key=means.get)}


def ch7_seen() -> dict[str, Any]:
    return _seen_ranges("07_denoising_baseline", {"probe_floor_top1": "floor", "probe_band_points": "band",
                                                  "probe_top1_splitbrain": "splitbrain"})


def _ch8_grid() -> str:
    from .comparisons import choose_grid

    return choose_grid(_run_records(), CH8_GRIDS)


def _ch8_scores(method: str) -> dict[int, float]:
    """Seed -> probe top-1 (a fraction) of SimpleNet ``method`` in chapter 8's grid."""
    from .comparisons import seed_scores

    return seed_scores(_run_records(), _ch8_grid(), "simplenet", method, "probe_top1")


def ch8_shipped() -> dict[str, Any]:
    return {"grid": _ch8_grid(), "lab_seed0": 100 * _ch8_scores("lab")[0],
            **_seen_ranges("08_results", {"gap_cifar10-simplenet-lab": "embedded_gap"})}


def ch8_seeds() -> dict[str, Any]:
    from .comparisons import paired_difference

    grid = _ch8_grid()
    d = paired_difference(list(_run_records()), grid, "simplenet", "rescaled_lab", "lab", "probe_top1")
    needed = (2 * d["std"] / d["mean"]) ** 2
    return {"mean": 100 * d["mean"], "std": 100 * d["std"], "n": d["n"], "bound": needed,
            "seeds_needed": math.floor(needed) + 1}


def ch8_paired() -> dict[str, Any]:
    method, floor = _ch8_scores("lab"), _ch8_scores("random-lab")
    seeds = sorted(set(method) & set(floor))
    _, method_std = mean_std([100 * method[s] for s in seeds])
    _, floor_std = mean_std([100 * floor[s] for s in seeds])
    _, paired_std = mean_std([100 * (method[s] - floor[s]) for s in seeds])
    unpaired = math.hypot(method_std, floor_std)
    verdict = ("smaller, as expected" if paired_std < unpaired else
               f"not smaller with these {len(seeds)} seeds: a standard deviation from so few seeds is itself uncertain")
    return {"method_std": method_std, "floor_std": floor_std, "unpaired": unpaired, "paired": paired_std,
            "n": len(seeds), "verdict": verdict}


def ch8_labels() -> dict[str, Any]:
    rows = curve_rows(curve_points(_run_records(), arch="simplenet"))
    out: dict[str, Any] = {"counts": ", ".join(str(c) for c in sorted({r["labels"] for r in rows}))}
    for key, method in (("lab", "lab"), ("random", "random-lab")):
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["labels"])
        first = next((r for r in mine if r["finetune"] > r["probe"]), None)
        out[f"{key}_first"] = first["labels"] if first else None
        out[f"{key}_when"] = (f"at {first['labels']} labels ({100 * first['finetune']:.1f}% against "
                              f"{100 * first['probe']:.1f}%)" if first else "at none of the recorded counts")
    earlier = (out["random_first"] is not None and
               (out["lab_first"] is None or out["random_first"] <= out["lab_first"]))
    out["reason"] = (": the random network's probe is the weaker one, so its fine-tuning overtakes it early"
                     if earlier else "")
    return out


def ch8_layers() -> dict[str, Any]:
    from .comparisons import layer_statistics

    grid = _ch8_grid()
    stats = layer_statistics(list(_run_records()), grid, "simplenet")
    lines = []
    for label, floor_label in (("Split-brain, RGB", "Random init, RGB"), ("Split-brain, Lab", "Random init, Lab"),
                               ("Split-brain, rescaled Lab", "Random init, Lab"),
                               ("DAE S&P 5%, RGB", "Random init, RGB")):
        if label not in stats or floor_label not in stats:
            continue
        layers = stats[label]
        best = max(layers, key=lambda layer: layers[layer][0])
        gaps = {layer: layers[layer][0] - stats[floor_label][layer][0] for layer in layers if layer in stats[floor_label]}
        widest = max(gaps, key=gaps.get)
        lines.append(f"{label}: best at {best} ({100 * layers[best][0]:.1f}%), widest gap at {widest} "
                     f"({100 * gaps[widest]:+.1f} points)")
    zhang = _zhang_table()
    ours, floor = zhang["Split-Brain (cl,cl)"], zhang["Gaussian (random) init"]
    conv = [f"conv{i}" for i in range(1, 6)]
    best = max(conv, key=lambda layer: float(ours[layer]))
    widest = max(conv, key=lambda layer: float(ours[layer]) - float(floor[layer]))
    return {"grid": grid, "lines": "; ".join(lines), "zhang_best": best, "zhang_widest": widest,
            "zhang_gap": float(ours[widest]) - float(floor[widest])}


ANSWERS: dict[str, list[Answer]] = {
    "01_color_spaces": [
        Answer("computed", "At L\\* = 5, 50 and 95 sRGB reaches {share_5:.1f}%, {share_50:.1f}% and "
               "{share_95:.1f}% of the poster's a/b box. Near black and white every channel is near 0 or "
               "near 1, so there is no room left for one channel to differ from the others: the slice shrinks to "
               "grey. At L\\* = 95 what survives lies near the yellow corner: the most saturated sampled "
               "colour within one unit of L\\* = 95 is {colour_95} (a\\* = {a_95:.1f}, b\\* = {b_95:.1f}, chroma "
               "{chroma_95:.1f}, hue {hue_95:.0f} degrees).", ch1_slices),
        Answer("computed", "Over a {levels}-level cube grid the most saturated sRGB colour is {colour}: chroma "
               "{chroma:.1f} at L\\* = {lightness:.1f}, a dark colour. The runner-up among the cube's corners is {second} (chroma "
               "{second_chroma:.1f} at L\\* = {second_lightness:.1f}).", ch1_saturated),
        Answer("computed", "Over a {levels}-level cube grid: a\\* in [{a_min:.1f}, {a_max:.1f}], b\\* in "
               "[{b_min:.1f}, {b_max:.1f}], against the poster's [{poster_a_low:g}, {poster_a_high:g}] and "
               "[{poster_b_low:g}, {poster_b_high:g}]: the poster's box is this tight box rounded outwards by "
               "about one unit. The edges are set by cube corners: a\\* low by {a_min_corner}, a\\* high by "
               "{a_max_corner}, b\\* low by {b_min_corner}, b\\* high by {b_max_corner}.", ch1_box),
        Answer("computed", "Mean \\|r\\| of the brightness channel with the two colour channels, averaged over "
               "the {photos} photographs at full resolution: YCbCr (Y with Cb, Cr) {ycbcr:.3f}, HSV (V with H, S) "
               "{hsv:.3f}, Lab (L\\* with a\\*, b\\*) {lab:.3f}. {best} decouples brightness from colour best on "
               "these photographs; hue is an angle, so its linear correlation is only a rough measure.",
               ch1_other_spaces),
        Answer("computed", "The grey version (a\\* = b\\* = 0) keeps the picture's edges: the strength of its "
               "edges (RGB gradient magnitude, pixel by pixel) correlates with the original's at r = {grey_r:.2f}, "
               "against r = {flat_r:.2f} for the constant-lightness version, which keeps flat patches of colour "
               "(astronaut photograph). Predicting colour "
               "from lightness (half 1, L to ab) starts from the recognisable picture; the ab-to-L half has to "
               "invent the edges and shading, the harder job.", ch1_halves),
    ],
    "02_quantization": [
        Answer("computed", "On the `cpu` preset's {crops} crops: 10, 16 and 25 bins per channel give "
               "{classes_10}, {classes_16} and {classes_25} classes, of which sRGB can reach {reachable_10}, "
               "{reachable_16} and {reachable_25} and the crops use {used_10}, {used_16} and {used_25}. "
               "The CIEDE2000 over the first {error_crops} crops falls from {pixel_10:.2f} to {pixel_16:.2f} "
               "and {pixel_25:.2f} per pixel, and from {grid_10:.2f} to {grid_16:.2f} and {grid_25:.2f} on "
               "the 12 x 12 target, where averaging over a cell alone costs "
               "{downsample_only:.2f}: most extra classes stay empty and the target gains little.", ch2_bins),
        Answer("computed", "For the chapter's hedging predictor on its {shown} shown crops, {steps} "
               "temperatures from 0.05 to 1: the mean CIEDE2000 is {error_low:.2f} at T = 0.05, lowest at "
               "T = {t_best:.2f} ({error_best:.2f}), {error_038:.2f} at T = 0.4 and {error_high:.2f} at T = 1. "
               "At T near 0 the decoding is the mode, which jumps to the most common grey class wherever the "
               "belief near the true colour is spread over several bins; some averaging helps, too much washes "
               "the colour out.", ch2_temperature),
        Answer("computed", "{nearest} grid points are the nearest point of some sRGB colour, against the "
               "{corners} corner points the chapter uses. Over the first {error_crops} crops the CIEDE2000 is "
               "{pixel_nearest:.2f} per pixel and {grid_nearest:.2f} on the 12 x 12 target with the nearest "
               "points, against {pixel_corners:.2f} and {grid_corners:.2f} with the corner points: no sRGB "
               "colour is nearest to the others, so dropping them changes nothing (deriving the nearest points "
               "converts all 2^24 sRGB colours, the slowest of these answers).", ch2_nearest),
        Answer("computed", "Quantizing only L\\* (first {error_crops} crops, ab kept) costs a CIEDE2000 of {l50:.2f} with "
               "50 bins of width 2 and {l100:.2f} with the poster's 100 bins, against {ab_pixel:.2f} for "
               "quantizing ab with the poster's 10 x 10 bins: the choice of L\\* bins hardly matters for image "
               "quality.", ch2_lightness_bins),
        Answer("computed", "The crops use {used} of the 100 classes. The most common class (a\\* = "
               "{a_common:.1f}, b\\* = {b_common:.1f}, near grey) gets weight {w_common:.2f}; the largest "
               "weight, {w_max:.2f}, goes to the {capped} classes the smoothed prior leaves empty, and among "
               "used classes to a\\* = {a_rare:.1f}, b\\* = {b_rare:.1f} (chroma {chroma_rare:.0f}, weight "
               "{w_rare_used:.2f}). Re-weighted, a network is pushed away from grey towards rare, saturated "
               "colours.", ch2_rebalancing),
    ],
    "03_rescaled_bins": [
        Answer("computed", "On the `cpu` preset's {crops} crops. Saturation test (rescaled classes of the "
               "144 cells that change when ab is scaled by 1.5): {saturation_m001} with margin 0.01, "
               "{saturation_m1} with 1, {saturation_m10} with 10. The flattest crop uses {flat_m001}, "
               "{flat_m1} and {flat_m10} rescaled classes, and a crop uses {mean_m001:.1f}, {mean_m1:.1f} and "
               "{mean_m10:.1f} on average. The margin keeps a nearly grey crop from stretching a few ab units "
               "over all 100 bins (noise becoming classes); a large margin puts every crop's colours into a "
               "few central bins and brings back the dependence on saturation.", ch3_margin),
        Answer("computed", "A crop's 12 x 12 L\\* target uses {fixed_used:.1f} of the 100 global L\\* classes "
               "on average, and {rescaled_used:.1f} rescaled ones (median L\\* range per crop "
               "{range_median:.1f} units; mean L\\* per crop from {mean_low:.0f} to {mean_high:.0f}). Rescaled, "
               "the ab-to-L half would learn where each cell sits within the crop's own lightness range, never "
               "whether the scene is dark or light. The poster kept L\\* global: lightness is the image's "
               "structure, and its absolute level is information worth predicting.", ch3_lightness),
        Answer("computed", "Tinted in Lab, {lab_rescaled} of the 144 rescaled classes of crop 2 change "
               "(global classes: {lab_fixed}). Sent to sRGB and back in floating point, {rgb_rescaled} change "
               "(ab moves by {ab_shift:.2f} units on average: clipping only acts on colours outside the gamut, "
               "and this crop's tinted colours stay inside it); stored as an 8-bit image and read back, "
               "{rgb8_rescaled} change (ab moves by {rgb8_shift:.2f} units). What can move a class is what "
               "makes the round trip more than a shift in Lab: rounding to 8 bits, and clipping where a tint "
               "pushes colours out of the gamut; cells near a bin edge then cross it.", ch3_rgb_tint),
        Answer("computed", "The most common global class holds {fixed_top_share:.1f}% of the cells and the "
               "weights span a factor {fixed_ratio:.0f} (largest over smallest); the most common rescaled class "
               "holds {rescaled_top_share:.1f}% and the weights span a factor {rescaled_ratio:.1f}. The global "
               "targets would need re-weighting, the rescaled ones hardly any.", ch3_rebalancing),
        Answer("computed", "Mean CIEDE2000 over the first {error_crops} crops, best first. Nearest upsampling "
               "(the chapter): {nearest_order} ({nearest_rescaled_lab:.2f}, {nearest_lab:.2f}, "
               "{nearest_rgb:.2f} for rescaled Lab, Lab, RGB). Bilinear: {bilinear_order} "
               "({bilinear_rescaled_lab:.2f}, {bilinear_lab:.2f}, {bilinear_rgb:.2f}). 16 bins: {bins16_order} "
               "({bins16_rescaled_lab:.2f}, {bins16_lab:.2f}, {bins16_rgb:.2f}).", ch3_ranking),
    ],
    "04_architectures": [
        Answer("computed", "With the `stride2` stem at 96 px, receptive field (jump) per layer: conv1 "
               "{conv1_rf} ({conv1_jump}), conv2 {conv2_rf} ({conv2_jump}), conv3 {conv3_rf} ({conv3_jump}), "
               "conv4 {conv4_rf} ({conv4_jump}), conv5 {conv5_rf} px ({conv5_jump}). A grid cell is 8 px, so "
               "the last layer sees {cells:.1f} cells across.", ch4_receptive),
        Answer("computed", "At 180 px with 313 and 50 classes, both classifiers hold {zhang_fcalexnet_half_classifiers:,} "
               "parameters for FC-AlexNet ({zhang_fcalexnet_half_share:.1f}% of the half-width pair) and "
               "{zhang_simplenet_half_classifiers:,} for SimpleNet ({zhang_simplenet_half_share:.1f}%); with the "
               "poster's 100 and 100 classes {poster_fcalexnet_half_classifiers:,} "
               "({poster_fcalexnet_half_share:.1f}%) and {poster_simplenet_half_classifiers:,} "
               "({poster_simplenet_half_share:.1f}%). Full width: FC-AlexNet {zhang_fcalexnet_full_share:.1f}%, "
               "SimpleNet {zhang_simplenet_full_share:.1f}%.", ch4_classifiers),
        Answer("computed", "At 64 px the rule picks SimpleNet `{simplenet_64_stem}` (map {simplenet_64_map}, "
               "{simplenet_64_head}, last receptive field {simplenet_64_rf} px), FC-AlexNet `{fcalexnet_64_stem}` "
               "(map {fcalexnet_64_map}, {fcalexnet_64_head}, {fcalexnet_64_rf} px), FC-ResNet18 "
               "`{fcresnet18_64_stem}` (map {fcresnet18_64_map}, {fcresnet18_64_head}, {fcresnet18_64_rf} px). "
               "At 128 px: SimpleNet `{simplenet_128_stem}` ({simplenet_128_map}, {simplenet_128_head}, "
               "{simplenet_128_rf} px), FC-AlexNet `{fcalexnet_128_stem}` ({fcalexnet_128_map}, "
               "{fcalexnet_128_head}, {fcalexnet_128_rf} px), FC-ResNet18 `{fcresnet18_128_stem}` "
               "({fcresnet18_128_map}, {fcresnet18_128_head}, {fcresnet18_128_rf} px). Where the last field is "
               "far wider than the input, a stem that downsamples less would keep more detail; where it is "
               "narrower, one that downsamples more would let each cell see the whole image.", ch4_stems),
        Answer("computed", "FC-AlexNet's conv1 at half width: {c1} filters of {kernel} x {kernel} per half. The "
               "`groups=2` convolution on (L, zero, a, b) has {total:,} weights; the halves need {used:,}; the "
               "{wasted:,} weights of half 1's filters on the zero channel ({wasted_share:.0f}%) are wasted. "
               "With those set to zero it computes both halves' conv1 exactly (largest difference "
               "{difference:.1g}).", ch4_grouped),
        Answer("computed", "With `stem=\"imagenet\"` (with the max pool) FC-ResNet18 at 180 px ends on a "
               "{maxpool_map} x {maxpool_map} map, and the head must {maxpool_head}; layer4's receptive field "
               "grows from {chosen_rf} px (jump {chosen_jump}, stem `{chosen_stem}`, map {chosen_map}) to "
               "{maxpool_rf} px (jump {maxpool_jump}), well over the 180 px input.", ch4_imagenet_stem),
    ],
    "05_pretraining": [
        Answer("direction", "No recorded run gives these numbers. Expect the mean to be greyish (higher "
               "CIEDE2000 on colourful crops, often lower on near-grey ones) and the centre patchy; the annealed "
               "mean is usually the best or close to it. Compare with the chapter's annealed-mean CIEDE2000, "
               "{first_low:.2f} to {first_high:.2f} after epoch 1 and {last_low:.2f} to {last_high:.2f} after "
               "the last (`cpu`, seeds {first_seeds}): after epoch 1 the predictions are close to the prior, so "
               "the three rules differ less.", ch5_seen),
        Answer("direction", "No recorded run gives the curve. Expect the held-out loss of both halves to "
               "flatten within a few more epochs while the training loss keeps falling: the `cpu` preset "
               "trains on crops of ten photographs, so it starts fitting them. Compare with the chapter's "
               "held-out losses after training, {loss1_low:.2f} to {loss1_high:.2f} (L to ab) and "
               "{loss2_low:.2f} to {loss2_high:.2f} (ab to L) over seeds {loss1_seeds}.", ch5_seen),
        Answer("direction", "No recorded run gives these numbers. The colourisations look closer (a CIEDE2000 "
               "well below the chapter's {last_low:.2f} to {last_high:.2f}), as chapter 3's reconstructions "
               "did, but the comparison is not fair: rescaled decoding uses each image's true ab range "
               "(`Batch.ranges2`), four numbers the network never predicted.", ch5_seen),
        Answer("direction", "No recorded run gives these numbers. Expect more saturated colourisations and "
               "not a lower CIEDE2000: the weights push rare, saturated classes, which are wrong where the "
               "network guesses (compare with the chapter's {last_low:.2f} to {last_high:.2f}, and with "
               "chapter 2's exercise 5 for which classes gain weight).", ch5_seen),
        Answer("computed", "Under `cpu` (seed 0): the entropy of the class frequencies is {held1:.3f} nats "
               "(L to ab) and {held2:.3f} (ab to L) on the {heldout} held-out crops, and {train1:.3f} and "
               "{train2:.3f} on the {train} training crops. They differ because they are different crops: the held-out split is "
               "its own part of the photographs, and training crops are augmented. The chapter's held-out "
               "losses (the crosses) belong against the held-out entropy, the training curve against the "
               "training crops'.", ch5_entropy),
    ],
    "06_probes_and_finetuning": [
        Answer("direction", "No recorded run gives these numbers. The pretrained network's numbers change "
               "more: its weights moved during pretraining while its running statistics, after a few hundred "
               "steps, still lag behind them; the random network's statistics match its weights. Compare with "
               "the chapter's probe gap, {probe_gap_low:+.1f} to {probe_gap_high:+.1f} points (`cpu`, seeds "
               "{probe_gap_seeds}): without the refresh it is usually smaller.", ch6_seen),
        Answer("direction", "No recorded run gives these numbers. Harder pooling lowers the deep layers' "
               "scores first (their maps are pooled the most); the random network's curve falls about as much, "
               "so the gap changes less than either curve. Compare with the gap of {probe_gap_low:+.1f} to "
               "{probe_gap_high:+.1f} points.", ch6_seen),
        Answer("direction", "No recorded run probes the epoch-1 checkpoint. Expect a positive gap after one "
               "epoch, smaller than the final {probe_gap_low:+.1f} to {probe_gap_high:+.1f} points (`cpu`, "
               "seeds {probe_gap_seeds}).", ch6_seen),
        Answer("record", "The chapter's own run is not recorded with twice the epochs, but the fine-tuning "
               "trials on CIFAR-10 with 800 labels per class (one seed) went from {epochs_short} to "
               "{epochs_long} epochs: the "
               "pretrained start from {lab_60:.1f}% to {lab_120:.1f}% held-out top-1, the random start from "
               "{random_60:.1f}% to {random_120:.1f}%; the gap from {gap_60:+.1f} to {gap_120:+.1f} points "
               "(towards {towards}), while validation top-1 {val_trend} ({lab_60_val:.1f} to {lab_120_val:.1f}, "
               "{random_60_val:.1f} to {random_120_val:.1f}). With few labels, as in the chapter "
               "(fine-tuning gap {finetune_gap_low:+.1f} to {finetune_gap_high:+.1f} points, seeds "
               "{finetune_gap_seeds}), expect the same direction: {conclusion}.", ch6_epochs),
        Answer("record", "No recorded run probes one half alone here. Zhang et al.'s Table 2 (ImageNet, "
               "FC-AlexNet): L to ab reaches {l_ab_conv4:.1f}% at conv4 and ab to L {ab_l_conv4:.1f}% "
               "(both together {both_conv4:.1f}%, random {random_conv4:.1f}%). Expect the same order: half 1 "
               "(L to ab), which sees the picture's structure, carries more of the useful features.",
               ch6_halves),
        Answer("direction", "No recorded run gives these numbers. Expect the pretrained start to lose more "
               "top-1: its BatchNorm statistics lag its pretrained weights most, so the fine-tuned gap shrinks "
               "(compare with the chapter's fine-tuning gap, {finetune_gap_low:+.1f} to "
               "{finetune_gap_high:+.1f} points over seeds {finetune_gap_seeds}).", ch6_seen),
        Answer("record", "On CIFAR-10 (its own run's record) the shipped network chose {chosen} on validation "
               "({chosen_top1:.2f}% held-out) and its best held-out layer is {best} ({best_top1:.2f}%). On the "
               "chapter's images no record holds every layer: the chapter prints {shipped_low:.1f}% to "
               "{shipped_high:.1f}% at the chosen layer (`cpu`, seeds {shipped_seeds}); expect a best layer at "
               "most a point or two above it, possibly a shallower one on these small, easy crops.", ch6_layers),
        Answer("record", "No recorded run fine-tunes with 3 crops per class. Expect both starts to fall and "
               "the pretrained start to lead by more than the chapter's {finetune_gap_low:+.1f} to "
               "{finetune_gap_high:+.1f} points; the figure's CIFAR-10 records give a fine-tuning gap of "
               "{gap25_mean:+.1f} ± {gap25_std:.1f} points at 25 labels per class ({gap25_n} seeds), the fewest "
               "labels recorded.", ch6_few_labels),
    ],
    "07_denoising_baseline": [
        Answer("computed", "Masking replaces a pixel x by 0 with probability p, so the corrupted input's "
               "expected MSE is p E[x^2]. On the chapter's {images} held-out crops (`cpu`) E[x^2] = "
               "{square:.4f}: the MSE of the corrupted input is {mse_p25:.4f} at p = 0.25 (expected "
               "{expected_p25:.4f}) and {mse_p75:.4f} at p = 0.75 (expected {expected_p75:.4f}). No recorded "
               "run gives the probe at 0.75; expect little change, within the floor's band.", ch7_masking),
        Answer("computed", "Salt and pepper set every channel to the normalised extremes together: Lab "
               "({pepper_lab}) and ({salt_lab}), which sRGB shows as {pepper_rgb} and {salt_rgb} after "
               "clipping: saturated colours, not black and white. No recorded run gives the probe in Lab.",
               ch7_lab_extremes),
        Answer("record", "The encoder has {half_encoder:,} parameters at half width and {full_encoder:,} at "
               "full width (SimpleNet, 32 px). On CIFAR-10 (grid cifar-quick) the half-width "
               "salt-and-pepper autoencoder probes at {dae_half:.1f}% ({dae_half_n} seeds), the full-width one "
               "at {dae_full:.1f}% ({dae_full_n} seeds), and the half-width random-init floor at "
               "{floor_half:.1f}% ({floor_half_n} seeds); no record holds a full-width random floor. Expect the "
               "parameter table to shrink about fourfold and the floor to fall with the features: fewer random "
               "features separate the classes less. The fair comparison is full width, as wide as the pair's "
               "two halves together.", ch7_width),
        Answer("record", "In the records of grid {grid} (SimpleNet on CIFAR-10, every layer probed, the layer "
               "chosen on validation; no record of the chapter's own crops holds that choice), picking each network's best layer on the held-out crops instead raises its score by "
               "{rise_low:.2f} to {rise_high:.2f} points on average over seeds ({unchanged} of {networks} "
               "networks not at all in any seed; most for {largest}). Choosing on the scored images can only "
               "raise a number: it picks whichever layer's noise is luckiest, so it flatters the networks whose "
               "best layer on validation is not their best on the scored images.", ch7_best_layer),
        Answer("direction", "No recorded run gives the curve. Expect the salt-and-pepper autoencoder to stay "
               "within or near the floor's band at the `cpu` budget (floor {floor_low:.1f}% to "
               "{floor_high:.1f}%, band {band_low:.1f} to {band_high:.1f} points, seeds {floor_seeds}; the "
               "split-brain pair reaches {splitbrain_low:.1f}% to {splitbrain_high:.1f}%).", ch7_seen),
    ],
    "08_results": [
        Answer("record", "The Lab seed-0 point of grid {grid} is {lab_seed0:.2f}%; with the JPEGs the "
               "pretrained row matches it to the hundredth of a percent, because the probe sees exactly the "
               "run's images. Without CIFAR-10 the chapter probes the embedded photographs instead (gap "
               "{embedded_gap_low:+.1f} to {embedded_gap_high:+.1f} points, `cpu`, seeds "
               "{embedded_gap_seeds}).", ch8_shipped),
        Answer("record", "Rescaled Lab minus Lab: {mean:+.2f} ± {std:.2f} points over {n} seeds. Twice the "
               "standard error is below the mean when n > (2 std / mean)^2 = {bound:.2f}, so at least "
               "{seeds_needed} seeds, if mean and spread stayed as measured.", ch8_seeds),
        Answer("record", "Lab split-brain over {n} seeds: the method's spread is {method_std:.2f} points and "
               "the floor's {floor_std:.2f}, {unpaired:.2f} in quadrature, against {paired:.2f} for the "
               "per-seed differences: {verdict}. The argument: the two runs of a seed share their "
               "initialisation and data order, so the part of their noise they share cancels in the difference; "
               "how much is shared is what the records measure.", ch8_paired),
        Answer("record", "The recorded label counts are {counts} per class. Fine-tuning first beats the "
               "probe {lab_when} for the pretrained network and {random_when} for the random one{reason}.",
               ch8_labels),
        Answer("record", "Grid {grid}, SimpleNet, mean over seeds: {lines}. Zhang et al.'s split-brain (cl,cl) "
               "row is best at {zhang_best} and its gap over Gaussian init is widest at {zhang_widest} "
               "({zhang_gap:+.1f} points, ImageNet).", ch8_layers),
    ],
}


def compute_answers(chapters: Sequence[str] = CHAPTERS) -> dict[str, Any]:
    """{"preset", "chapters": {chapter: [{"exercise", "source", "values"}]}}: every answer's numbers."""
    return {"preset": PRESET,
            "chapters": {chapter: [{"exercise": i + 1, "source": answer.source, "values": answer.compute()}
                                   for i, answer in enumerate(ANSWERS[chapter])] for chapter in chapters}}


def read_answers(results: Path | None = None) -> dict[str, Any] | None:
    """The stored answers' record of ``results`` (default: the shipped results), None when absent."""
    path = (_results.SHIPPED_RESULTS if results is None else results) / ANSWER_RECORD
    return json.loads(path.read_text()) if path.exists() else None


def answer_texts(chapter: str, record: dict[str, Any]) -> list[str]:
    """The chapter's answers with their numbers, one Markdown paragraph each, in exercise order."""
    stored = record["chapters"][chapter]
    if len(stored) != len(ANSWERS[chapter]):
        raise ValueError(f"{chapter}: the record holds {len(stored)} answers, the package {len(ANSWERS[chapter])}")
    return [f"*{SOURCE_LABELS[answer.source]}.* " + answer.text.format(**entry["values"])
            for answer, entry in zip(ANSWERS[chapter], stored)]


def answers_block(chapter: str, record: dict[str, Any] | None) -> str:
    """A collapsed block (sphinx-design's dropdown) with one numbered answer per exercise."""
    if record is None or chapter not in record.get("chapters", {}):
        return "No answers recorded yet (`python -m splitbrain.answers --write`)."
    items = "\n".join(f"{i}. {text}" for i, text in enumerate(answer_texts(chapter, record), 1))
    return (f":::{{dropdown}} Answers: what a student should get ({len(ANSWERS[chapter])} exercises)\n"
            f"{items}\n:::")


def render_answers(text: str, record: dict[str, Any] | None = None) -> str:
    """``text`` (``book/instructor.md``) with each ``<!-- answers: CHAPTER -->`` line replaced by the
    chapter's :func:`answers_block`; ``record``: the answers' record (default: the stored one)."""
    record = read_answers() if record is None else record
    return ANSWERS_MARKER.sub(lambda match: answers_block(match["chapter"], record), text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m splitbrain.answers", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="store the answers' record in the results folder")
    parser.add_argument("--chapter", action="append", choices=CHAPTERS, help="only these chapters (repeatable)")
    args = parser.parse_args(argv)
    record = compute_answers(args.chapter or CHAPTERS)
    if args.write:
        if args.chapter:  # merged into the stored record, in the chapters' order
            stored = read_answers() or {"preset": PRESET, "chapters": {}}
            chapters = {**stored["chapters"], **record["chapters"]}
            record = {**stored, "chapters": {c: chapters[c] for c in CHAPTERS if c in chapters}}
        path = atomic_write_text(_results.SHIPPED_RESULTS / ANSWER_RECORD, json.dumps(record, indent=2) + "\n")
        print(f"answers written to {path}")
    for chapter in record["chapters"]:
        print(f"\n{chapter}")
        for i, text in enumerate(answer_texts(chapter, record), 1):
            print(f"{i}. {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
