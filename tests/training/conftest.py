"""Fixtures for the training tests: real dialogue pairs from chatterbot-corpus.

The model fixture ``splade_tiny`` (the real English SPLADE-tiny) comes from tests/conftest.py.
"""

from __future__ import annotations

import os

import pytest

from sembridge.errors import ModelLoadError


def _unique(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs whose texts all differ, so that every batch is a clean InfoNCE batch."""
    seen: set[str] = set()
    unique = []
    for query, answer in pairs:
        if query not in seen and answer not in seen:
            seen.update((query, answer))
            unique.append((query, answer))
    return unique


@pytest.fixture(scope="session")
def en_pairs() -> list[tuple[str, str]]:
    """English (prompt, reply) pairs with distinct texts (about 1,000)."""
    from offline_assets.datasets import chatterbot_pairs

    try:
        pairs = _unique(chatterbot_pairs("en"))
    except ModelLoadError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc.message} ({exc.hint})")
        pytest.skip(f"{exc.message} ({exc.hint})")
    assert len(pairs) >= 250, len(pairs)
    return pairs
