"""Where sembridge caches what it builds (bridge embeddings, converted offline assets).

Entries are written atomically (:func:`sembridge.io.atomic_file`); a writer removes the stale
temporaries that killed runs left in its folder (:func:`sembridge.io.remove_stale_temporaries`).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SEMBRIDGE_CACHE"


def default_cache_dir() -> Path:
    """``$SEMBRIDGE_CACHE`` if set, else ``~/.cache/sembridge``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sembridge"
