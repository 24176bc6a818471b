"""Token surface strings embedded by a multilingual dense bridge, cached on disk.

A vocabulary's embeddings are stored once per (bridge, prompt, list of strings): a second
``sembridge init`` with another alpha, or another target tokenizer over the same source,
costs no bridge time for what was already embedded.

An entry records in its safetensors metadata the key it was written for and its row and
column counts. It is checked on every read: an entry that cannot be read (a truncated file),
was written for another key, or has the wrong shape is reported once as a warning naming the
file, discarded and recomputed, so a bad entry heals on the next run instead of failing or
feeding wrong rows into the initialisation.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save

from sembridge.cache import default_cache_dir
from sembridge.io import atomic_file, remove_stale_temporaries

logger = logging.getLogger("sembridge")


def _bridge_identity(name: str) -> str:
    path = Path(name).expanduser()
    if path.is_dir():
        # A local folder: its absolute path and the weights' modification times.
        stamps = sorted(
            f"{p.name}:{p.stat().st_mtime_ns}"
            for p in path.rglob("*")
            if p.suffix in {".safetensors", ".bin"}
        )
        return f"{path.resolve()}|{'|'.join(stamps)}"
    return name


def cache_key(bridge: str, prompt: str | None, texts: Sequence[str], backend: str = "torch") -> str:
    """The cache entry's name: the bridge's identity, the prompt, the backend and the strings.

    The ``torch`` backend keeps the key it always had, so existing entries stay valid; another
    backend (ONNX, OpenVINO, int8) gives other embeddings, hence its own entries.
    """
    digest = hashlib.sha256()
    identity = [_bridge_identity(bridge), prompt or ""] + ([] if backend == "torch" else [backend])
    digest.update(json.dumps(identity, ensure_ascii=False).encode())
    for text in texts:
        digest.update(b"\0")
        digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


class BridgeEmbedder:
    """Embeds strings with a sentence-transformers model, unit-normalised, with a disk cache.

    The model is loaded lazily, on the first cache miss. ``backend`` says where its transformer
    runs (:mod:`sembridge.methods.bridge_backends`): ``torch`` (sentence-transformers' ``encode``),
    ``onnx``, ``onnx-int8``, ``openvino`` or ``openvino-int8`` (on the CPU, whatever ``device``).
    """

    def __init__(
        self,
        name: str,
        device: Any = "cpu",
        batch_size: int = 256,
        cache_dir: str | Path | None = None,
        prompt: str | None = None,
        show_progress: bool = True,
        backend: str = "torch",
    ) -> None:
        from sembridge.methods.bridge_backends import check_backend

        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        self.backend = check_backend(backend)
        self.name = name
        self.device = device
        self.batch_size = batch_size
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.explicit_prompt = prompt
        self.show_progress = show_progress
        self._model: Any = None
        self._runner: Any = None
        self._prompt: str | None = None
        self.cache_hits = 0
        self.cache_misses = 0

    @property
    def model(self) -> Any:
        if self._model is None:
            from sembridge.loading import load_bridge

            self._model = load_bridge(self.name, self.device)
        return self._model

    @property
    def runner(self) -> Any:
        """The ONNX Runtime / OpenVINO runner of a non-torch backend (exported on first use)."""
        if self._runner is None:
            from sembridge.loading import load_bridge
            from sembridge.methods.bridge_backends import onnx_runner

            if self._model is None:
                self._model = load_bridge(self.name, "cpu")
            self._runner = onnx_runner(self._model, self.backend, self.cache_dir, _bridge_identity(self.name))
        return self._runner

    @property
    def prompt(self) -> str | None:
        """The prompt put before each string: --bridge-prompt, else the registry's (e5: 'query: '),
        else a local folder's own ``query`` prompt, else none."""
        if self._prompt is None:
            self._prompt = self._resolve_prompt()
        return self._prompt or None

    def _resolve_prompt(self) -> str:
        from sembridge.loading import bridge_prompt

        if self.explicit_prompt is not None:
            return self.explicit_prompt
        registered = bridge_prompt(self.name)
        if registered:
            return registered
        config = Path(self.name).expanduser() / "config_sentence_transformers.json"
        if config.is_file():
            prompts = json.loads(config.read_text(encoding="utf-8")).get("prompts") or {}
            return prompts.get("query") or ""
        return ""

    def cache_path(self, texts: Sequence[str]) -> Path:
        key = cache_key(self.name, self.prompt, texts, self.backend)
        return self.cache_dir / "bridge" / f"{key}.safetensors"

    def embed(self, texts: Sequence[str], label: str = "tokens") -> torch.Tensor:
        """Unit-length float32 embeddings [len(texts), dim], served from the cache when possible."""
        texts = list(texts)
        if not texts:
            raise ValueError("no strings to embed.")
        path = self.cache_path(texts)
        cached = read_cache_entry(path, path.stem, len(texts)) if path.is_file() else None
        if cached is not None:
            self.cache_hits += 1
            logger.info("bridge embeddings of %s %s read from the cache %s", f"{len(texts):,}", label, path)
            return cached
        self.cache_misses += 1
        prompt = self.prompt
        logger.info(
            "embedding %s %s with the bridge %s%s",
            f"{len(texts):,}",
            label,
            self.name,
            f" (prompt {prompt!r})" if prompt else "",
        )
        if self.backend == "torch":
            embeddings = self.model.encode(
                texts,
                prompt=prompt or "",
                batch_size=self.batch_size,
                convert_to_tensor=True,
                normalize_embeddings=True,
                show_progress_bar=self.show_progress,
            )
        else:
            embeddings = self.runner.encode(texts, prompt or "", self.batch_size, self.show_progress)
        embeddings = embeddings.float().cpu().contiguous()
        self._write(path, embeddings, label)
        return embeddings

    def _write(self, path: Path, embeddings: torch.Tensor, label: str) -> None:
        metadata = {
            "bridge": self.name,
            "prompt": self.prompt or "",
            "label": label,
            "backend": self.backend,
            "key": path.stem,
            "rows": str(embeddings.shape[0]),
            "dim": str(embeddings.shape[1]),
        }
        # Temporaries of entries whose writer was killed (a write lasts seconds: older ones of
        # earlier versions, which do not name their writer, go after an hour).
        remove_stale_temporaries(path.parent, legacy_after=3600)
        with atomic_file(path, "wb") as handle:
            handle.write(save({"embeddings": embeddings}, metadata=metadata))


def read_cache_entry(path: Path, key: str, rows: int) -> torch.Tensor | None:
    """The embeddings cached in ``path``, or None after a warning when the entry is bad.

    A bad entry (unreadable, written for another key, or not ``rows`` finite float32 rows of
    the dimension its metadata records) is deleted so that the caller recomputes and rewrites it.
    """
    try:
        return _load_entry(path, key, rows)
    except _BadEntry as bad:
        logger.warning("discarding the bad bridge-cache entry %s (%s); recomputing it", path, bad)
        path.unlink(missing_ok=True)
        return None


class _BadEntry(Exception):
    """Why a cache entry cannot be used."""


def _load_entry(path: Path, key: str, rows: int) -> torch.Tensor:
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if "embeddings" not in handle.keys():
                raise _BadEntry("no 'embeddings' tensor")
            embeddings = handle.get_tensor("embeddings")
    except _BadEntry:
        raise
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise _BadEntry(f"unreadable: {err}") from err
    if metadata.get("key") != key:
        raise _BadEntry(f"written for the key {metadata.get('key')!r}, expected {key!r}")
    if embeddings.ndim != 2 or embeddings.dtype != torch.float32:
        raise _BadEntry(
            f"a {embeddings.dtype} tensor of shape {tuple(embeddings.shape)}, expected a float32 matrix"
        )
    if embeddings.shape[0] != rows or str(rows) != metadata.get("rows"):
        raise _BadEntry(f"{embeddings.shape[0]} rows, expected {rows}")
    if str(embeddings.shape[1]) != metadata.get("dim"):
        raise _BadEntry(f"dimension {embeddings.shape[1]}, its metadata records {metadata.get('dim')}")
    if not torch.isfinite(embeddings).all():
        raise _BadEntry("non-finite values")
    return embeddings
