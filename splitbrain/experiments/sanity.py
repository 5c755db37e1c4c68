"""Proof that split-brain pretraining learns: pretrained vs random features, same linear probe.

    python -m splitbrain.experiments.sanity                      # embedded photographs, minutes
    python -m splitbrain.experiments.sanity --data folder --data-root cifar10/train

1. Pretrain a split-brain SimpleNet (half-width halves, Lab, the poster's 100 / 10 bins) on
   the dataset's pretraining images, without labels.
2. Probe it: frozen features of every layer, standardised, a linear classifier trained on the
   labelled probe-training images, top-1 / top-5 on held-out images.
3. Probe the same architecture at random initialisation through exactly the same code and
   data: random conv features are a strong baseline on small images, so the margin is what
   shows that pretraining learned something.

Data splits (all disjoint, fixed by ``split_seed``): for the embedded photographs, crops of the
first two thirds of each photograph for pretraining and probe training, crops of the last
third held out (10 classes = which photograph); for an ImageFolder such as the CIFAR-10
JPEGs (50k images), 60 % pretraining (30k), 20 % probe training (10k), 20 % held out (10k).

Defaults suit a 2-core CPU: 32 px inputs, 8x8 targets (12x12 is for 96 px inputs), Adam lr 1e-3
halved after every epoch, batch 128; about 5 minutes of pretraining on the embedded photographs
and 10 on the CIFAR-10 JPEGs, plus a minute or two of probing. Records go to ``--results`` (one
per run: pretrain, probe, random-init probe) and the printed table compares the two probes
layer by layer.
"""
from __future__ import annotations

import argparse
import sys
import time

from ..presets import get_eval_preset, get_preset

# Per-dataset pretraining defaults. SimpleNet with half-width halves at 32 px costs about
# 0.11 GMAC per image forward; a 2-core CPU trains roughly 150 images/s, so:
DEFAULTS = {
    "embedded": dict(train_length=10_240, epochs=4),  # 41k crops of 10 photographs: ~5 min
    "folder": dict(train_length=None, epochs=3),  # 3 x 30k CIFAR-10 images: ~10 min
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m splitbrain.experiments.sanity",
        description="Pretrain on real photographs, then compare pretrained and random-init features "
                    "through the same linear probe on held-out images.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", default="embedded", choices=("embedded", "folder", "cifar10", "stl10"))
    parser.add_argument("--data-root", default=None, help="for --data folder: an ImageFolder tree root/<class>/<image>")
    parser.add_argument("--arch", default="simplenet", choices=("simplenet", "fcalexnet", "fcresnet18"))
    parser.add_argument("--width", default="half", choices=("half", "full"))
    parser.add_argument("--color-space", default="lab", choices=("lab", "rescaled_lab", "rgb"))
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--grid", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=None, help="pretraining epochs (default: per dataset)")
    parser.add_argument("--train-length", type=int, default=None, help="embedded crops per epoch (default: per dataset)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lr-decay", type=float, default=0.5, help="lr multiplier after every epoch")
    parser.add_argument("--max-steps-per-epoch", type=int, default=None)
    parser.add_argument("--probe-epochs", type=int, default=30)
    parser.add_argument("--max-train-images", type=int, default=None, help="labelled probe-training images (default: all)")
    parser.add_argument("--max-test-images", type=int, default=None, help="held-out images (default: all)")
    parser.add_argument("--layers", default=None, help="comma-separated layers to probe (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--out", default="runs/sanity", help="pretraining run directory")
    parser.add_argument("--results", default="results", help="directory for the JSON records ('none': no records)")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    return parser


def run(args: argparse.Namespace) -> dict:
    """Run the experiment; returns {"pretrain", "probe", "random"} results and the margin."""
    from ..evaluate import build_eval_datasets, linear_probe
    from ..train import pretrain

    defaults = DEFAULTS["embedded" if args.data == "embedded" else "folder"]
    record_dir = None if args.results.lower() == "none" else args.results
    progress = True if args.progress else False
    overrides = dict(
        arch=args.arch, width=args.width, color_space=args.color_space, data=args.data, data_root=args.data_root,
        image_size=args.image_size, grid=args.grid, batch_size=args.batch_size, lr=args.lr, lr_decay=args.lr_decay,
        epochs=args.epochs if args.epochs is not None else defaults["epochs"],
        max_steps_per_epoch=args.max_steps_per_epoch, seed=args.seed, device=args.device,
        num_workers=args.num_workers, out=args.out, record_dir=record_dir, progress=progress, log_every=20,
    )
    train_length = args.train_length if args.train_length is not None else defaults["train_length"]
    if train_length is not None:
        overrides["train_length"] = train_length
    config = get_preset("cpu", **overrides)
    eval_config = get_eval_preset(
        "cpu", data=args.data, data_root=args.data_root, image_size=args.image_size, seed=args.seed,
        device=args.device, num_workers=args.num_workers, probe_epochs=args.probe_epochs,
        max_train_images=args.max_train_images, max_test_images=args.max_test_images,
        layers=tuple(args.layers.split(",")) if args.layers else None, record_dir=record_dir, progress=progress,
        verbose=False,
    )

    print(f"1/3 pretraining {config.arch} ({config.width} width, {config.color_space}) on {config.data}: "
          f"{config.epochs} epochs, batch {config.batch_size}, lr {config.lr:g}, {config.grid}x{config.grid} targets",
          flush=True)
    trained = pretrain(config)
    print(f"    {trained.steps} steps in {trained.wall_time_s:.0f} s ({trained.images_per_s:.0f} img/s), "
          f"final loss {trained.final_loss:.3f}", flush=True)

    datasets = build_eval_datasets(eval_config)
    print(f"2/3 linear probe of the pretrained network ({len(datasets[0])} labelled / {len(datasets[1])} held-out "
          f"images, {datasets[2]} classes)", flush=True)
    probe = linear_probe(eval_config, trained.checkpoint, datasets=datasets)
    print("3/3 the same probe on the same network at random initialisation", flush=True)
    random = linear_probe(eval_config, trained.checkpoint, random_init=True, datasets=datasets)

    print()
    print(f"{'layer':>8} | {'split-brain':>11} | {'random init':>11} | {'margin':>7}")
    print(f"{'-' * 8}-+-{'-' * 11}-+-{'-' * 11}-+-{'-' * 7}")
    for layer, scores in probe.metrics["layers"].items():
        floor = random.metrics["layers"][layer]["top1"]
        print(f"{layer:>8} | {scores['top1']:>11.4f} | {floor:>11.4f} | {scores['top1'] - floor:>+7.4f}")
    margin = probe.metrics["top1"] - random.metrics["top1"]
    print(f"\nbest layer, top-1: split-brain {probe.metrics['top1']:.4f} ({probe.metrics['best_layer']}), "
          f"random init {random.metrics['top1']:.4f} ({random.metrics['best_layer']}), margin {margin:+.4f}")
    print(f"best layer, top-5: split-brain {probe.metrics['top5']:.4f}, random init {random.metrics['top5']:.4f}")
    for result in (trained, probe, random):
        if result.record_path is not None:
            print(f"record: {result.record_path}")
    return {"pretrain": trained, "probe": probe, "random": random, "margin": margin}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"sanity: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
