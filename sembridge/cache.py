"""Where sembridge caches what it builds (bridge embeddings, converted offline assets)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SEMBRIDGE_CACHE"


def default_cache_dir() -> Path:
    """``$SEMBRIDGE_CACHE`` if set, else ``~/.cache/sembridge``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sembridge"
