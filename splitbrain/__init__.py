"""splitbrain: split-brain autoencoders (Zhang, Isola, Efros 2017) with rescaled Lab bins.

Modules: ``color`` (RGB <-> CIE-Lab, colour spaces and channel splits), ``quantize`` (bins,
encode/decode, rescaled bins, rebalancing), ``targets`` (the device-side target pipeline),
``models``, ``data``, ``train``, ``evaluate``, ``presets``, ``results``, ``cli``.
"""

__version__ = "0.1.0"
