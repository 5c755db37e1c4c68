"""The package's names for things, written once: every module that builds, configures or labels
one of them imports its tuple from here, with :func:`check_one_of`; :func:`check_int` is the
package's one rule for integers. This module imports nothing of the package."""
import numbers

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


def check_one_of(value: object, name: str, choices: tuple | dict, where: str = ""):
    """``value`` if it is in ``choices`` (a dict: its keys), else ValueError naming ``name``;
    ``where`` follows the list of choices."""
    try:
        found = value in choices
    except (TypeError, ValueError):  # an unhashable value (no key of a dict), an array (no truth value)
        found = False
    if not found:
        raise ValueError(f"{name} must be one of {tuple(choices)}{where}, got {value!r}")
    return value


def check_int(value: object, name: str, minimum: int = 0) -> int:
    """``value`` as an int if it is an integer (numpy's too, bools not) >= ``minimum``, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)
