"""Bridge embeddings: the cache key, cache hits without loading the model, bad entries healed,
prompts, refusals.

The bridge is a tiny random sentence-transformers folder saved in ``tmp_path``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save

from sembridge.methods.bridge import BridgeEmbedder, cache_key
from tests.helpers import save_tiny_bridge

WORDS = ["book", "house", "##s", "river", "кни", "##га"]


@pytest.fixture
def bridge_dir(tmp_path: Path) -> Path:
    return save_tiny_bridge(tmp_path / "bridge", WORDS)


def test_cache_key_changes_with_bridge_prompt_and_strings(bridge_dir: Path) -> None:
    key = cache_key("owner/bridge", None, ["a", "b"])
    assert key == cache_key("owner/bridge", "", ["a", "b"])  # no prompt is the empty prompt
    others = {
        cache_key("owner/other", None, ["a", "b"]),
        cache_key("owner/bridge", "query: ", ["a", "b"]),
        cache_key("owner/bridge", None, ["b", "a"]),
        cache_key("owner/bridge", None, ["ab"]),  # strings are separated, not concatenated
        cache_key("owner/bridge", None, ["a", "b", "c"]),
    }
    assert key not in others and len(others) == 5
    # A local bridge is identified by its absolute path and its weights' modification times.
    local = cache_key(str(bridge_dir), None, ["a"])
    weights = next(bridge_dir.rglob("*.safetensors"))
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert cache_key(str(bridge_dir), None, ["a"]) != local


def test_second_call_is_served_from_the_cache(tmp_path: Path, bridge_dir: Path) -> None:
    cache = tmp_path / "cache"
    first = BridgeEmbedder(str(bridge_dir), cache_dir=cache, show_progress=False)
    embeddings = first.embed(WORDS)
    assert (first.cache_hits, first.cache_misses) == (0, 1)
    assert embeddings.shape == (len(WORDS), 16) and embeddings.dtype == torch.float32
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(len(WORDS)))
    assert [p.name for p in (cache / "bridge").iterdir()] == [first.cache_path(WORDS).name]

    second = BridgeEmbedder(str(bridge_dir), cache_dir=cache, show_progress=False)
    torch.testing.assert_close(second.embed(WORDS), embeddings, rtol=0, atol=0)
    assert (second.cache_hits, second.cache_misses) == (1, 0)
    assert second._model is None  # a hit never loads the bridge

    prompted = BridgeEmbedder(str(bridge_dir), cache_dir=cache, prompt="query: ", show_progress=False)
    assert prompted.cache_path(WORDS) != first.cache_path(WORDS)
    prompted.embed(WORDS)
    assert prompted.cache_misses == 1 and len(list((cache / "bridge").iterdir())) == 2


def test_prompt_explicit_then_registry_then_folder(tmp_path: Path, bridge_dir: Path) -> None:
    assert BridgeEmbedder("multilingual-e5-small", cache_dir=tmp_path).prompt == "query: "
    assert BridgeEmbedder("multilingual-e5-small", cache_dir=tmp_path, prompt="").prompt is None
    assert BridgeEmbedder("bge-m3", cache_dir=tmp_path).prompt is None
    assert BridgeEmbedder(str(bridge_dir), cache_dir=tmp_path).prompt is None
    config = bridge_dir / "config_sentence_transformers.json"
    settings = json.loads(config.read_text(encoding="utf-8"))
    settings["prompts"] = {"query": "q: ", "document": "d: "}
    config.write_text(json.dumps(settings), encoding="utf-8")
    assert BridgeEmbedder(str(bridge_dir), cache_dir=tmp_path).prompt == "q: "
    assert BridgeEmbedder(str(bridge_dir), cache_dir=tmp_path, prompt="x ").prompt == "x "


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0."):
        BridgeEmbedder("bge-m3", batch_size=0, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="no strings to embed."):
        BridgeEmbedder("bge-m3", cache_dir=tmp_path).embed([])


def _damage_by_truncating(path: Path, embedder: BridgeEmbedder) -> None:
    path.write_bytes(path.read_bytes()[:40])


def _damage_by_dropping_rows(path: Path, embedder: BridgeEmbedder) -> None:
    tensors, metadata = _read_entry(path)
    path.write_bytes(save({"embeddings": tensors["embeddings"][:-2].contiguous()}, metadata=metadata))


def _damage_by_other_key(path: Path, embedder: BridgeEmbedder) -> None:
    # Another vocabulary's entry of the same length under this entry's name.
    other = embedder.cache_path(list(reversed(WORDS)))
    embedder.embed(list(reversed(WORDS)))
    other.replace(path)


def _read_entry(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt") as handle:
        return {"embeddings": handle.get_tensor("embeddings")}, handle.metadata()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_damage_by_truncating, "unreadable"),
        (_damage_by_dropping_rows, f"{len(WORDS) - 2} rows, expected {len(WORDS)}"),
        (_damage_by_other_key, "written for the key"),
    ],
)
def test_bad_cache_entry_is_reported_discarded_and_recomputed(
    tmp_path: Path, bridge_dir: Path, sembridge_warnings: list[str], damage, reason: str
) -> None:
    cache = tmp_path / "cache"
    first = BridgeEmbedder(str(bridge_dir), cache_dir=cache, show_progress=False)
    expected = first.embed(WORDS)
    path = first.cache_path(WORDS)
    _, metadata = _read_entry(path)
    assert (metadata["key"], metadata["rows"], metadata["dim"]) == (path.stem, str(len(WORDS)), "16")
    damage(path, first)

    rerun = BridgeEmbedder(str(bridge_dir), cache_dir=cache, show_progress=False)
    torch.testing.assert_close(rerun.embed(WORDS), expected)
    assert (rerun.cache_hits, rerun.cache_misses) == (0, 1)
    bad = [m for m in sembridge_warnings if "bad bridge-cache entry" in m]
    assert len(bad) == 1 and str(path) in bad[0] and reason in bad[0]

    # The entry was rewritten: the next run is a clean hit.
    healed = BridgeEmbedder(str(bridge_dir), cache_dir=cache, show_progress=False)
    torch.testing.assert_close(healed.embed(WORDS), expected, rtol=0, atol=0)
    assert (healed.cache_hits, healed.cache_misses) == (1, 0)
    assert len([m for m in sembridge_warnings if "bad bridge-cache entry" in m]) == 1
