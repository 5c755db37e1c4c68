"""Faults in the data, injected on purpose: image folders with links, loops, FIFOs, hidden tool
folders, one class, or files of every pixel format and extension PIL knows; probes and fine-tunes
whose images overlap what their network was pretrained on. Every image is read right or skipped
and counted, every split stays apart from pretraining, and every refusal is one line."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from splitbrain.checkpoint import read_pretraining_manifest
from splitbrain.data import build_dataset
from splitbrain.imagefolder import FolderLayoutError, image_key
from splitbrain.images import decode_rgb, rgb_pixels
from splitbrain.leaks import SplitLeakError, check_unseen
from splitbrain.presets import get_eval_preset
from splitbrain.train import pretrain
from test_cli import assert_one_line_error, run
from test_train import tiny


@pytest.fixture(autouse=True)
def in_a_scratch_folder(tmp_path, monkeypatch):
    """The commands' default folders are the scratch folder's; each test starts as a new process would."""
    from splitbrain import imagefolder, leaks

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(imagefolder, "_REPORTED", set())
    monkeypatch.setattr(leaks, "_NOTED", set())


def write_tree(root, per_class=20, classes=("ant", "bee"), seed=0):
    """``per_class`` distinct random 20 px PNG images in each class folder of ``root``."""
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(root / name / f"{i:02d}.png")
    return root


def one_summary_line(err):
    lines = [line for line in err.splitlines() if line.startswith("splitbrain: under ")]
    assert len(lines) == 1, err
    return lines[0]


# ----------------------------------------------------------------------------------------------
# Links, loops and special files inside an image folder


def test_a_link_loop_and_repeated_links_in_an_image_folder_list_each_file_once(tmp_path, capsys):
    tree = write_tree(tmp_path / "tree", per_class=5)
    (tmp_path / "tree" / "ant" / "sub").mkdir()
    Image.new("RGB", (20, 20), (9, 9, 9)).save(tree / "ant" / "sub" / "deep.png")
    (tree / "ant" / "sub" / "loop").symlink_to(tree / "ant")  # a folder that contains itself
    (tree / "ant" / "again").symlink_to(tree / "ant" / "sub")  # a second name for a folder
    (tree / "bee" / "twin.png").symlink_to(tree / "bee" / "00.png")  # a second name for a file
    os.link(tree / "bee" / "01.png", tree / "bee" / "hard.png")  # and a hard link
    dataset = build_dataset("folder", root=tree, split="all", image_size=8, augment=False)
    assert len(dataset) == 11 and np.bincount(dataset.labels).tolist() == [6, 5]
    assert "ant/sub/deep.png" in dataset.item_names and len(set(dataset.item_keys)) == 11
    assert "counted once 4 file or folder name(s)" in one_summary_line(capsys.readouterr().err)


@pytest.mark.parametrize("link, target", [("bee/stolen.png", "ant/00.png"), ("bee/ants", "ant"), ("ant/up", ".")],
                         ids=["a file link into another class", "a folder link into another class",
                              "a link back to the root"])
def test_a_file_that_would_sit_in_two_classes_is_refused_in_one_line(tmp_path, capsys, link, target):
    tree = write_tree(tmp_path / "tree", per_class=5)
    (tree / link).symlink_to(tree / target)
    with pytest.raises(FolderLayoutError, match="are the same file, which would be labelled both 'ant' and 'bee'"):
        build_dataset("folder", root=tree, split="all", image_size=8)
    status, _, err = run(["pretrain", "--preset", "smoke", "--data", "folder", "--data-root", str(tree), "--out",
                          str(tmp_path / "run"), "--set", "image_size=16", "--set", "epochs=0"], capsys)
    assert_one_line_error(status, err, "are the same file", "remove the link")


SCAN_IN_A_CHILD = """
import sys
from splitbrain.data import build_dataset
dataset = build_dataset("folder", root=sys.argv[1], split="all", image_size=8)
print(len(dataset))
"""


def test_a_fifo_or_a_socket_in_an_image_folder_is_skipped_unopened_and_counted(tmp_path):
    import socket

    tree = write_tree(tmp_path / "tree", per_class=3)
    os.mkfifo(tree / "ant" / "pipe.jpg")  # opening it for reading would wait for a writer forever
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tree / "bee" / "socket.png"))
    try:
        child = subprocess.run([sys.executable, "-c", SCAN_IN_A_CHILD, str(tree)], capture_output=True, text=True,
                               timeout=60, env={**os.environ, "OMP_NUM_THREADS": "1"})
    finally:
        listener.close()
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["6"]
    line = one_summary_line(child.stderr)
    assert "skipped 2 special file(s), never opened: FIFO ant/pipe.jpg, socket bee/socket.png" in line


# ----------------------------------------------------------------------------------------------
# What a checkpoint was pretrained on, and evaluations that overlap it


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """(a two-class image folder, the checkpoint of a tiny run pretrained on its "pretrain" part)."""
    base = tmp_path_factory.mktemp("pretrained")
    tree = write_tree(base / "tree")
    result = pretrain(tiny(base, data="folder", data_root=str(tree), epochs=1))
    return tree, result.checkpoint


def probe_args(checkpoint, tmp_path, *extra):
    return ["probe", "--preset", "smoke", "--checkpoint", str(checkpoint), "--epochs", "1",
            "--results", str(tmp_path / "records"), *extra]


def test_the_checkpoint_records_the_images_it_was_pretrained_on(pretrained):
    tree, checkpoint = pretrained
    manifest = read_pretraining_manifest(checkpoint)
    part = build_dataset("folder", root=tree, split="pretrain", image_size=16)
    assert {k: manifest[k] for k in ("data", "split", "split_seed", "images", "root_name")} == {
        "data": "folder", "split": "pretrain", "split_seed": 0, "images": 24, "root_name": "tree"}
    assert manifest["image_keys"].tolist() == sorted(part.item_keys.tolist())
    name = part.item_names[0]
    from hashlib import blake2b

    digest = blake2b((tree / name).read_bytes(), digest_size=8).digest()
    assert image_key(name, digest) in manifest["image_keys"].tolist()


def test_a_network_exported_for_shipping_keeps_what_it_was_pretrained_on(pretrained, tmp_path):
    from splitbrain.weights import export

    _, checkpoint = pretrained
    shipped = export(checkpoint, "tiny-net", folder=tmp_path)
    assert read_pretraining_manifest(shipped)["image_keys"].tolist() == \
        read_pretraining_manifest(checkpoint)["image_keys"].tolist()


def test_the_same_folder_and_split_seed_evaluate_and_a_random_init_is_not_checked(pretrained, tmp_path, capsys):
    tree, checkpoint = pretrained
    status, out, err = run(probe_args(checkpoint, tmp_path), capsys)
    assert status == 0 and "probe: top-1" in out, err
    status, out, err = run(probe_args(checkpoint, tmp_path, "--random-init", "--set", "split_seed=1"), capsys)
    assert status == 0, err  # a random initialisation has seen no image


def test_probing_with_another_split_seed_is_refused_in_one_line(pretrained, tmp_path, capsys):
    _, checkpoint = pretrained
    status, _, err = run(probe_args(checkpoint, tmp_path, "--set", "split_seed=1"), capsys)
    assert_one_line_error(status, err, "image(s) that checkpoint", "was pretrained on", "split_seed=1",
                          "evaluate with split_seed=0")
    assert not (tmp_path / "records").exists() or not list((tmp_path / "records").rglob("*.json"))


def test_images_added_after_pretraining_are_refused_for_probes_and_fine_tunes(pretrained, tmp_path, capsys):
    tree, checkpoint = pretrained
    grown = shutil.copytree(tree, tmp_path / "grown")
    write_tree(grown, per_class=30, seed=1)  # 00..19 replaced by new images, 20..29 added
    write_tree(tmp_path / "old", per_class=20)
    for name in ("ant", "bee"):  # the pretraining images back in place, the new ones beside them
        for path in (tmp_path / "old" / name).iterdir():
            shutil.copy(path, grown / name / path.name)
    for command in ("probe", "finetune"):
        args = [command, "--preset", "smoke", "--checkpoint", str(checkpoint), "--epochs", "1",
                "--data-root", str(grown), "--results", str(tmp_path / "records")]
        status, _, err = run(args, capsys)
        assert_one_line_error(status, err, "was pretrained on", "of a folder named 'tree'")


def test_another_folder_that_holds_the_pretraining_images_is_refused(pretrained, tmp_path):
    from splitbrain.evaluate import linear_probe
    from splitbrain.networks import load_network

    tree, checkpoint = pretrained
    pretraining = build_dataset("folder", root=tree, split="pretrain", image_size=16)
    copy = tmp_path / "copy"
    for name in pretraining.item_names:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tree / name, copy / name)
    config = get_eval_preset("smoke", data="folder", data_root=str(copy), image_size=16, probe_epochs=1,
                             verbose=False, progress=False)
    with pytest.raises(SplitLeakError, match="probe-training part .* holds"):
        linear_probe(config, *load_network(checkpoint), checkpoint=checkpoint)


def test_a_resumed_run_records_the_images_of_every_invocation(tmp_path):
    tree = write_tree(tmp_path / "tree")
    first = pretrain(tiny(tmp_path, data="folder", data_root=str(tree), epochs=1))
    before = set(read_pretraining_manifest(first.checkpoint)["image_keys"].tolist())
    write_tree(tree, per_class=30, seed=1)  # the folder changes between the invocations
    resumed = pretrain(tiny(tmp_path, data="folder", data_root=str(tree), epochs=2), resume=True)
    after = set(read_pretraining_manifest(resumed.checkpoint)["image_keys"].tolist())
    now = set(build_dataset("folder", root=tree, split="pretrain", image_size=16).item_keys.tolist())
    assert after == before | now and len(after) > len(now)


def test_a_checkpoint_that_records_no_pretraining_images_still_evaluates_with_one_note(pretrained, tmp_path,
                                                                                         capsys):
    _, checkpoint = pretrained
    saved = torch.load(checkpoint, weights_only=True)
    del saved["pretrained_on"]
    older = tmp_path / "older" / "checkpoint.pt"
    older.parent.mkdir()
    torch.save(saved, older)
    status, out, err = run(probe_args(older, tmp_path), capsys)
    assert status == 0, err
    notes = [line for line in err.splitlines() if "does not record which images" in line]
    assert len(notes) == 1 and str(older) in notes[0]


def test_a_malformed_record_of_the_pretraining_images_is_one_line(pretrained, tmp_path, capsys):
    _, checkpoint = pretrained
    saved = torch.load(checkpoint, weights_only=True)
    saved["pretrained_on"]["image_keys"] = saved["pretrained_on"]["image_keys"].tolist()
    broken = tmp_path / "broken" / "checkpoint.pt"
    broken.parent.mkdir()
    torch.save(saved, broken)
    status, _, err = run(probe_args(broken, tmp_path), capsys)
    assert_one_line_error(status, err, "broken", "pretrained_on", "image_keys")


def test_a_built_in_held_out_split_that_is_the_pretraining_split_is_refused():
    from splitbrain.leaks import pretraining_manifest

    train = build_dataset("embedded", split="train", image_size=16, length=10)
    test = build_dataset("embedded", split="test", image_size=16, length=10)
    manifest = pretraining_manifest(train)
    assert manifest == {"data": "embedded", "split": "train", "split_seed": 0, "images": 10}
    check_unseen(manifest, {"probe-training": train, "held-out": test}, "checkpoint c.pt")
    with pytest.raises(SplitLeakError, match="held-out part is embedded's 'train' split"):
        check_unseen(manifest, {"probe-training": train, "held-out": train}, "checkpoint c.pt")


# ----------------------------------------------------------------------------------------------
# Pixel formats, extensions, hidden folders, one class

RAMP = np.arange(16, dtype=np.float64).reshape(4, 4) / 15  # 0 .. 1, a known gradient


def grey(values):
    """Expected RGB (H, W, 3) uint8 of grey values already in [0, 255]."""
    return np.repeat(np.clip(np.round(values), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def over_white(colour, alpha):
    """Expected RGB of ``colour`` (3,) at ``alpha`` (H, W) in [0, 255] composited over white."""
    a = np.asarray(alpha, dtype=np.float64)[..., None] / 255
    return np.round(np.asarray(colour) * a + 255 * (1 - a)).astype(np.uint8)


ALPHAS = np.array([[0, 64], [128, 255]], dtype=np.uint8)


def save(image, path, **options):
    image.save(path, **options)
    return path


def palette_image():
    image = Image.fromarray(np.array([[0, 1], [2, 1]], dtype=np.uint8), "P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    return image


def with_transparency(image):
    image.info["transparency"] = 1
    return image


def lab_image():
    """L = 100, 50 and 0 with a = b = 0 (white, mid-grey, black), and CIE-Lab red (53.24, 80.09, 67.20)."""
    values = np.array([[[255, 128, 128], [128, 128, 128]], [[0, 128, 128], [136, 208, 195]]], dtype=np.uint8)
    return Image.merge("LAB", [Image.fromarray(values[..., i]) for i in range(3)])


PIXEL_FORMATS = {
    # mode: (make the source from a folder: a file path or an image, expected RGB, tolerance)
    "1": (lambda d: save(Image.fromarray(np.array([[1, 0], [0, 1]], dtype=bool)), d / "a.png"),
          grey(np.array([[255, 0], [0, 255]])), 0),
    "L": (lambda d: save(Image.fromarray(np.round(RAMP * 255).astype(np.uint8)), d / "a.png"), grey(RAMP * 255), 0),
    "LA": (lambda d: save(Image.merge("LA", (Image.new("L", (2, 2), 100), Image.fromarray(ALPHAS))), d / "a.png"),
           over_white((100, 100, 100), ALPHAS), 1),
    "La": (lambda d: Image.merge("La", (Image.fromarray((100 * ALPHAS.astype(int) // 255).astype(np.uint8)),
                                        Image.fromarray(ALPHAS))),
           over_white((100, 100, 100), ALPHAS), 2),
    "P": (lambda d: save(palette_image(), d / "a.png"), np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255],
                                                                                                [0, 255, 0]]]), 0),
    "P with a transparent entry": (lambda d: save(with_transparency(palette_image()), d / "a.gif"),
                                   np.array([[[255, 0, 0], [255, 255, 255]], [[0, 0, 255], [255, 255, 255]]]), 0),
    "PA": (lambda d: save(Image.merge("PA", (palette_image().convert("L").point(lambda v: 0),
                                             Image.fromarray(ALPHAS))).copy(), d / "a.tif"), None, 1),
    "RGB": (lambda d: save(Image.new("RGB", (2, 2), (200, 30, 90)), d / "a.png"),
            np.full((2, 2, 3), (200, 30, 90)), 0),
    "RGBX": (lambda d: Image.new("RGBX", (2, 2), (200, 30, 90, 0)), np.full((2, 2, 3), (200, 30, 90)), 0),
    "RGBA": (lambda d: save(Image.merge("RGBA", [Image.new("L", (2, 2), v) for v in (255, 0, 0)]
                                       + [Image.fromarray(ALPHAS)]), d / "a.png"),
             over_white((255, 0, 0), ALPHAS), 1),
    "RGBa": (lambda d: Image.merge("RGBa", [Image.fromarray(ALPHAS), Image.new("L", (2, 2), 0),
                                            Image.new("L", (2, 2), 0), Image.fromarray(ALPHAS)]),
             over_white((255, 0, 0), ALPHAS), 2),
    "CMYK": (lambda d: save(Image.new("CMYK", (2, 2), (0, 255, 255, 0)), d / "a.tif"),
             np.full((2, 2, 3), (255, 0, 0)), 0),
    "YCbCr": (lambda d: save(Image.new("RGB", (2, 2), (255, 0, 0)).convert("YCbCr"), d / "a.tif"),
              np.full((2, 2, 3), (255, 0, 0)), 2),
    "LAB": (lambda d: save(lab_image(), d / "a.tif"),
            np.array([[[255, 255, 255], [119, 119, 119]], [[0, 0, 0], [255, 0, 0]]]), 12),
    "HSV": (lambda d: Image.merge("HSV", [Image.fromarray(np.array([[0, 85], [170, 0]], dtype=np.uint8)),
                                          Image.new("L", (2, 2), 255), Image.fromarray(np.array(
                                              [[255, 255], [255, 128]], dtype=np.uint8))]),
            np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [128, 0, 0]]]), 1),
    "I (a 16-bit PGM)": (lambda d: save(Image.fromarray(np.round(RAMP * 65535).astype(np.uint16)), d / "a.pgm"),
                         grey(RAMP * 255), 0),
    "I (32-bit values)": (lambda d: save(Image.fromarray(np.round(RAMP * (2**31 - 1)).astype(np.int32)), d / "a.tif"),
                          grey(RAMP * 255), 0),
    "I;16": (lambda d: save(Image.fromarray(np.round(RAMP * 65535).astype(np.uint16)), d / "a.png"),
             grey(RAMP * 255), 0),
    "I;16B": (lambda d: save(Image.frombytes("I;16B", (4, 4), np.round(RAMP * 65535).astype(">u2").tobytes()),
                             d / "a.tif"), grey(RAMP * 255), 0),
    "I;16L": (lambda d: Image.frombytes("I;16L", (4, 4), np.round(RAMP * 65535).astype("<u2").tobytes()),
              grey(RAMP * 255), 0),
    "F (floats in [0, 1])": (lambda d: save(Image.fromarray(RAMP.astype(np.float32)), d / "a.tif"),
                             grey(RAMP * 255), 0),
    "F (8-bit values as floats)": (lambda d: save(Image.fromarray((RAMP * 255).astype(np.float32)), d / "a.tif"),
                                   grey(RAMP * 255), 0),
    "F (NaN and infinities)": (lambda d: Image.fromarray(np.array([[np.nan, np.inf], [-np.inf, 0.5]], np.float32)),
                               grey(np.array([[0, 255], [0, 127.5]])), 1),
}


@pytest.mark.parametrize("name", list(PIXEL_FORMATS))
def test_every_pixel_format_decodes_to_the_expected_8_bit_srgb(tmp_path, name):
    make, expected, tolerance = PIXEL_FORMATS[name]
    source = make(tmp_path)
    mode = name.split(" ")[0]
    if isinstance(source, Image.Image):
        assert source.mode == mode
        decoded = rgb_pixels(source)
    else:
        with Image.open(source) as image:
            assert image.mode == mode, f"{source.name} opens as {image.mode}"
        decoded = decode_rgb(source).permute(1, 2, 0).numpy()
    if expected is None:  # PA: every palette entry is black
        expected = over_white((0, 0, 0), ALPHAS)
    assert decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - np.asarray(expected)).max() <= tolerance, decoded.tolist()


def test_files_of_every_pixel_format_are_read_by_an_image_folder_none_skipped(tmp_path, capsys):
    tree = tmp_path / "tree"
    made = 0
    for index, (name, (make, _, _)) in enumerate(PIXEL_FORMATS.items()):
        folder = tmp_path / "made" / str(index)
        folder.mkdir(parents=True)
        source = make(folder)
        if not isinstance(source, Image.Image):
            (tree / "formats").mkdir(parents=True, exist_ok=True)
            shutil.copy(source, tree / "formats" / f"{index:02d}{source.suffix}")
            made += 1
    dataset = build_dataset("folder", root=tree, split="all", image_size=2, augment=False)
    assert len(dataset) == made >= 15
    assert "splitbrain: under" not in capsys.readouterr().err


def test_a_pixel_mode_that_is_not_converted_is_skipped_and_counted_with_its_reason(tmp_path, capsys, monkeypatch):
    from splitbrain import imagefolder

    monkeypatch.setattr(imagefolder, "DECODED_MODES", tuple(m for m in imagefolder.DECODED_MODES if m != "CMYK"))
    monkeypatch.setattr(imagefolder, "_INSPECTED", {})
    tree = write_tree(tmp_path / "tree", per_class=3)
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(tree / "ant" / "print.tif")
    assert len(build_dataset("folder", root=tree, split="all", image_size=8)) == 6
    line = one_summary_line(capsys.readouterr().err)
    assert "skipped 1 of 7 image files that do not decode: ant/print.tif (pixel mode CMYK is not supported)" in line


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # formats PIL deprecates are still read meanwhile
def test_every_image_extension_pil_knows_is_read_or_counted(tmp_path, capsys):
    from splitbrain.imagefolder import image_extensions

    Image.init()
    formats = Image.registered_extensions()
    tree = tmp_path / "tree"
    (tree / "all").mkdir(parents=True)
    written = []
    for index, extension in enumerate(sorted(image_extensions())):
        path = tree / "all" / f"{index:02d}{extension}"
        try:
            Image.new("RGB", (8, 8), (200, 30, 30)).save(path, format=formats[extension])
        except Exception:  # a format PIL cannot write from RGB: bytes that are no image
            path.write_bytes(b"\x01\x02 not an image")
        written.append(path.relative_to(tree).as_posix())
    (tree / "all" / "notes.txt").write_text("not an image extension")
    dataset = build_dataset("folder", root=tree, split="all", image_size=8, augment=False)
    line = one_summary_line(capsys.readouterr().err)
    read = len(dataset)
    skipped = int(line.split("skipped ")[1].split(" of ")[0])
    assert f"skipped {skipped} of {len(written)} image files" in line  # every extension was tried
    assert read + skipped == len(written) and read >= 20
    assert "ignored 1 file(s)" in line and "all/notes.txt" in line
    assert set(dataset.item_names) <= set(written)
    for index in range(read):  # every file read shows the colour it was written with
        image, _ = dataset[index]
        assert np.abs(image.float().mean((1, 2)).numpy() - (200, 30, 30)).max() <= 16, dataset.item_names[index]


def test_hidden_folders_are_not_classes(tmp_path):
    tree = write_tree(tmp_path / "tree", per_class=3)
    write_tree(tree / ".ipynb_checkpoints", per_class=2, classes=("x",))
    write_tree(tree / "ant" / ".thumbnails", per_class=2, classes=("y",))
    dataset = build_dataset("folder", root=tree, split="all", image_size=8)
    assert dataset.classes == ("ant", "bee") and len(dataset) == 6


def test_a_folder_of_one_class_is_refused_for_probes_and_fine_tunes_in_one_line(tmp_path, capsys):
    tree = write_tree(tmp_path / "tree", classes=("ant",))
    write_tree(tree / ".ipynb_checkpoints", per_class=2, classes=("x",))  # a tool folder is no second class
    for command in ("probe", "finetune"):
        status, _, err = run([command, "--preset", "smoke", "--random-init", "--data", "folder", "--data-root",
                              str(tree), "--set", "image_size=16", "--epochs", "1", "--results",
                              str(tmp_path / "records")], capsys)
        assert_one_line_error(status, err, "has 1 class(es)", "(ant)", "needs at least two")
