"""What the package is and where it lives: its version and its repository's addresses."""

__version__ = "0.1.0"

REPOSITORY_URL = "https://github.com/splitbrain-book/splitbrain"
"""The project's repository."""
RAW_URL = REPOSITORY_URL.replace("https://github.com/", "https://raw.githubusercontent.com/") + "/main"
"""Its files on the main branch, as served to a download."""
