"""Where sembridge caches what it builds (bridge embeddings, converted offline assets).

Entries are written atomically (:func:`sembridge.io.atomic_file`); a writer removes the stale
temporaries that killed runs left in its folder (:func:`sembridge.io.remove_stale_temporaries`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CACHE_ENV = "SEMBRIDGE_CACHE"


def default_cache_dir() -> Path:
    """``$SEMBRIDGE_CACHE`` if set, else ``~/.cache/sembridge``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sembridge"


def hash_texts(digest: Any, texts: Iterable[str]) -> None:
    """Feed ``texts`` to a hashlib ``digest``, each after its UTF-8 length (8 bytes, little-endian),
    so that two different lists of texts never feed the same bytes (the cache keys' text part)."""
    for text in texts:
        encoded = text.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
