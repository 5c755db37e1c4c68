"""splitbrain: split-brain autoencoders (Zhang, Isola, Efros 2017) with rescaled Lab bins.

Modules: ``color`` (RGB <-> CIE-Lab, colour spaces and channel splits), ``quantize`` (bins,
encode/decode, rescaled bins, rebalancing), ``targets`` (the device-side target pipeline),
``models``, ``data``, ``images`` (image files to 8-bit sRGB), ``imagefolder`` (ImageFolder trees
scanned and their files inspected), ``leaks`` (what a checkpoint was pretrained on, and parts
that must not overlap it), ``vocabulary`` and ``presets`` (names and configurations), ``train``,
``runfolder`` (what a run folder holds, and holding it while a run writes), ``networks`` (a
network to evaluate), ``evaluate`` (linear probes), ``finetune``, ``results``, ``label_curve``,
``weights`` (the shipped pretrained networks: ``splitbrain.pretrained(name)``), ``cli``.
"""

from .about import RAW_URL, REPOSITORY_URL, __version__

__all__ = ["RAW_URL", "REPOSITORY_URL", "__version__", "pretrained"]


def pretrained(name: str, device: str = "cpu", cache_dir=None, download: bool = True):
    """(model, PretrainConfig): a shipped pretrained network in eval mode (see :mod:`splitbrain.weights`)."""
    from .weights import pretrained as load

    return load(name, device=device, cache_dir=cache_dir, download=download)
