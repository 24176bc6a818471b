"""The version of sembridge, in one place, and the version stamp that every report records."""

from __future__ import annotations

import platform
from importlib import metadata

__version__ = "0.1.0"

# Version stamp key -> distribution name.
_STAMPED_DISTRIBUTIONS = {
    "torch": "torch",
    "transformers": "transformers",
    "sentence_transformers": "sentence-transformers",
    "tokenizers": "tokenizers",
    "entmax": "entmax",
}


def library_versions() -> dict[str, str]:
    """The version stamp of a report: Python, sembridge and the libraries that shape its numbers.

    Versions are read from the installed distributions (nothing is imported); a library that is
    not installed is stamped ``"unknown"``.
    """
    versions = {"sembridge": __version__, "python": platform.python_version()}
    for key, distribution in _STAMPED_DISTRIBUTIONS.items():
        try:
            versions[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[key] = "unknown"
    return versions
