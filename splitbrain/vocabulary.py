"""The package's names for things, written once: every module that builds, configures or labels
one of them imports its tuple from here, and this module imports nothing."""

ARCHITECTURES = ("simplenet", "fcalexnet", "fcresnet18")
"""The trunks (:mod:`splitbrain.models`)."""
WIDTHS = ("half", "full")
"""A half's width: "half" (the paper's halves, together as wide as one network) or "full"."""
NOISE_TYPES = ("masking", "salt_pepper", "gaussian")
"""The denoising autoencoder's corruptions."""
COLOR_SPACE_NAMES = ("lab", "rescaled_lab", "rgb")
"""The colour spaces (:data:`splitbrain.color.COLOR_SPACES`): CIE-Lab with the global bins, Lab with
the poster's per-image rescaled ab bins, and RGB."""
DATASET_NAMES = ("embedded", "stl10", "cifar10", "folder")
"""The datasets (:mod:`splitbrain.data`)."""
BAD_IMAGE_POLICIES = ("skip", "fail")
"""What a folder dataset does with a file that does not decode: leave it out (counted, and the
first few named in one line on stderr) or stop with an error naming it."""
