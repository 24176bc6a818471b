"""Sparse encoding through sentence-transformers' SparseEncoder, into scipy CSR matrices.

Texts are encoded chunk by chunk (``batch_size`` texts per forward pass, many batches per
chunk) with a rich progress bar, and each chunk is turned into CSR at once, so a large corpus
never exists as one dense matrix. Several devices (``"cuda:0,cuda:1"``) or several CPU
processes go through sentence-transformers' multi-process pool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from sembridge.errors import ModelLoadError, SembridgeError
from sembridge.log import logger, progress

TextKind = Literal["query", "document"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_MODEL_FILES = ("config.json", "modules.json")


def check_model_source(model: str | Path) -> str:
    """Refuse a model argument that is neither a loadable folder nor a hub id (before heavy work)."""
    text = str(model)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(
                f"model '{text}' is a file, not a model folder", hint="pass the folder that holds config.json"
            )
        if not any((path / name).is_file() for name in _MODEL_FILES):
            raise ModelLoadError(
                f"model folder '{text}' has no config.json or modules.json",
                hint="pass a folder written by `sembridge init`/`save_pretrained`, or a SPLADE model",
            )
        for name in _MODEL_FILES:
            if (path / name).is_file():
                try:
                    json.loads((path / name).read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                    raise ModelLoadError(
                        f"{name} of model folder '{text}' cannot be read: {err}",
                        hint="the folder is damaged: write it again, or pass another --model",
                    ) from err
        if not (path / "modules.json").is_file() and not _has_weights(path):
            raise ModelLoadError(
                f"model folder '{text}' has a config.json but no weights (*.safetensors or *.bin)",
                hint="the folder is incomplete: write it again, or pass another --model",
            )
        return str(path)
    if not _HUB_ID.match(text) or text.startswith((".", "/", "~")):
        raise ModelLoadError(f"model folder '{text}' does not exist", hint="check the path given to --model")
    return text


def _has_weights(path: Path) -> bool:
    return (
        any(path.glob("*.safetensors"))
        or any(path.glob("*.bin"))
        or any(path.glob("*.safetensors.index.json"))
    )


def resolve_devices(device: str = "auto", processes: int = 1) -> list[str]:
    """``"auto"``, ``"cpu"``, ``"cuda:0,cuda:1"``...; ``processes`` > 1 repeats a single device.

    More than one entry means sentence-transformers' multi-process pool is used.
    """
    from sembridge.device import resolve_device

    if processes < 1:
        raise SembridgeError(f"processes must be a positive integer, got {processes}.")
    names = [part.strip() for part in str(device).split(",") if part.strip()] or ["auto"]
    devices = [str(resolve_device(name)) for name in names]
    if processes > 1:
        if len(devices) > 1:
            raise SembridgeError(
                "give either a list of devices or --processes, not both",
                hint="e.g. --device cuda:0,cuda:1  or  --device cpu --processes 4",
            )
        devices = devices * processes
    return devices


def load_encoder(
    model: Any, device: str = "auto", max_length: int | None = None, trust_remote_code: bool = False
) -> Any:
    """Load a SparseEncoder from a folder or hub id (an already loaded one is used as it is).

    ``max_length`` caps the tokens per text (longer texts are truncated).
    """
    from sentence_transformers import SparseEncoder

    if max_length is not None and max_length < 1:
        raise SembridgeError(f"max_length must be a positive integer, got {max_length}.")
    if isinstance(model, SparseEncoder):
        encoder = model
    else:
        name = check_model_source(model)
        target = resolve_devices(device)[0]
        try:
            encoder = SparseEncoder(name, device=target, trust_remote_code=trust_remote_code)
        except Exception as err:
            if not Path(name).exists():
                raise ModelLoadError(
                    f"model '{name}' is not a local folder, and loading it from the hub failed: "
                    f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
                    hint="check the path given to --model; hub ids need network access",
                ) from err
            raise ModelLoadError(
                f"could not load '{name}' as a sparse encoder: {type(err).__name__}: {err}",
                hint="pass a SPLADE model folder (an *ForMaskedLM checkpoint with its tokenizer); "
                "hub ids need network access",
            ) from err
    if max_length is not None:
        encoder.max_seq_length = max_length
    return encoder


def vocabulary_terms(encoder: Any, dimension: int | None = None) -> list[str]:
    """The token string of every output dimension (``[id:N]`` for dimensions past the tokenizer)."""
    tokenizer = encoder.tokenizer
    size = dimension if dimension is not None else encoder.get_sentence_embedding_dimension()
    known = min(size, len(tokenizer))
    terms = [str(t) for t in tokenizer.convert_ids_to_tokens(list(range(known)))]
    terms += [f"[id:{i}]" for i in range(known, size)]
    return terms


@contextmanager
def encoding_pool(encoder: Any, devices: Sequence[str]) -> Iterator[Any]:
    """A multi-process pool when more than one device is given, else ``None``."""
    if len(devices) <= 1:
        yield None
        return
    logger.info("starting %d encoding processes on %s", len(devices), ", ".join(devices))
    pool = encoder.start_multi_process_pool(target_devices=list(devices))
    try:
        yield pool
    finally:
        encoder.stop_multi_process_pool(pool)


def iter_encoded(
    encoder: Any,
    texts: Sequence[str],
    kind: TextKind = "document",
    batch_size: int = 32,
    pool: Any = None,
    chunk_size: int | None = None,
    show_progress: bool = True,
    description: str | None = None,
) -> Iterator[sp.csr_matrix]:
    """Yield CSR matrices (float32) for consecutive chunks of ``texts``."""
    if batch_size < 1:
        raise SembridgeError(f"batch_size must be a positive integer, got {batch_size}.")
    if kind not in ("query", "document"):
        raise SembridgeError(f"kind must be 'query' or 'document', got {kind!r}.")
    n_workers = len(pool["processes"]) if pool else 1
    chunk_size = chunk_size or batch_size * 16 * n_workers
    encode = encoder.encode_query if kind == "query" else encoder.encode_document
    with progress(disable=not show_progress) as bar:
        task = bar.add_task(description or f"encoding {kind}s", total=len(texts))
        for start in range(0, len(texts), chunk_size):
            chunk = list(texts[start : start + chunk_size])
            embeddings = encode(
                chunk,
                batch_size=batch_size,
                show_progress_bar=False,
                convert_to_tensor=True,
                convert_to_sparse_tensor=True,
                save_to_cpu=True,
                pool=pool,
            )
            yield to_csr(embeddings)
            bar.advance(task, len(chunk))


def encode_texts(
    encoder: Any,
    texts: Sequence[str],
    kind: TextKind = "document",
    batch_size: int = 32,
    pool: Any = None,
    show_progress: bool = True,
    description: str | None = None,
) -> sp.csr_matrix:
    """Encode ``texts`` into one CSR matrix (rows in the order of ``texts``)."""
    if not texts:
        dimension = encoder.get_sentence_embedding_dimension() or 0
        return sp.csr_matrix((0, dimension), dtype=np.float32)
    parts = list(
        iter_encoded(
            encoder, texts, kind, batch_size, pool, show_progress=show_progress, description=description
        )
    )
    return sp.vstack(parts, format="csr") if len(parts) > 1 else parts[0]


def to_csr(embeddings: Any) -> sp.csr_matrix:
    """A 2-D torch tensor (sparse COO or dense) as a float32 CSR matrix without explicit zeros."""
    import torch

    if embeddings.dim() == 1:
        embeddings = embeddings.unsqueeze(0)
    shape = tuple(embeddings.shape)
    if embeddings.is_sparse:
        embeddings = embeddings.coalesce()
        rows, cols = embeddings.indices().cpu().numpy()
        values = embeddings.values().detach().to(torch.float32).cpu().numpy()
        matrix = sp.csr_matrix((values, (rows, cols)), shape=shape, dtype=np.float32)
    else:
        matrix = sp.csr_matrix(embeddings.detach().to(torch.float32).cpu().numpy())
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix
