"""The named pretraining recipes of the time-to-margin trials (``splitbrain margin --recipe``);
the ``cifar-recipe`` grid pretrains every method with ``cifar-20min``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Recipe:
    """A named pretraining recipe: ``pretrain`` / ``evaluate`` override the ``cpu`` presets."""

    description: str
    pretrain: Mapping[str, Any]
    evaluate: Mapping[str, Any] = field(default_factory=dict)


# Every recipe pretrains SimpleNet with half-width halves in Lab on 32 px images with 8 x 8
# targets (the grid a 32 px input reaches after SimpleNet's two stride-2 layers).
_SMALL_IMAGES = dict(arch="simplenet", width="half", color_space="lab", image_size=32, grid=8, batch_size=128)
# The efficient CPU recipe: images decoded once and held in memory as uint8, bfloat16 autocast
# with channels-last tensors (CPUs with bfloat16 matrix units run it about 3x faster than
# float32; elsewhere pass --set amp=off), a warm-up + cosine schedule that ends at 0 on the
# last step whatever the budget.
_FAST = dict(_SMALL_IMAGES, in_memory=True, amp="bf16", channels_last=True, lr_schedule="cosine", lr=2e-3)

RECIPES: dict[str, Recipe] = {
    # Epochs sized by the recipe's measured speed on a quiet 2-core Xeon with bf16 matrix units
    # (350-380 images/s): 14 epochs are 420k images in about 19 minutes, 40 epochs 1.2M in 55.
    "cifar-20min": Recipe("the CPU recipe, 14 epochs of the 30k pretraining images (420k images seen)",
                          dict(_FAST, epochs=14)),
    "cifar-60min": Recipe("the CPU recipe, 40 epochs of the 30k pretraining images (1.2M images seen)",
                          dict(_FAST, epochs=40)),
    "prototype": Recipe("the engine's first CIFAR recipe: float32, images decoded every epoch, Adam 1e-3 halved "
                        "after every epoch, 3 epochs", dict(_SMALL_IMAGES, lr=1e-3, lr_decay=0.5, epochs=3)),
    "embedded": Recipe("the embedded photographs (no dataset needed): 4 epochs of 10,240 crops, Adam 1e-3 halved "
                       "after every epoch", dict(_SMALL_IMAGES, data="embedded", train_length=10_240, lr=1e-3,
                                                 lr_decay=0.5, epochs=4)),
}
DEFAULT_RECIPE = "cifar-20min"
