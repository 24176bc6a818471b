"""Sparse encoding through sentence-transformers' SparseEncoder, into scipy CSR matrices.

Texts are encoded chunk by chunk (``batch_size`` texts per forward pass, many batches per
chunk) with a rich progress bar, and each chunk is turned into CSR at once, so a large corpus
never exists as one dense matrix; the MLM logits of a batch are made and pooled a bounded
number of bytes at a time (:mod:`sembridge.encoding.splade_memory`). Several devices
(``"cuda:0,cuda:1"``) or several CPU processes go through sentence-transformers' multi-process
pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from sembridge.encoding.sparsity import to_csr
from sembridge.encoding.splade_memory import DEFAULT_LOGITS_BUDGET, bound_logits_memory
from sembridge.errors import SembridgeError, UsageError
from sembridge.loading import load_sparse_encoder
from sembridge.log import logger, progress

TextKind = Literal["query", "document"]


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


def position_limit(config: Any) -> int | None:
    """The tokens a text may have in a model of ``config`` (a transformers config or its
    ``config.json`` as a dict): its position embeddings, less RoBERTa's offset past the padding id."""
    get = config.get if isinstance(config, dict) else lambda key, default=None: getattr(config, key, default)
    limit = get("max_position_embeddings")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        return None
    model_type = str(get("model_type", ""))
    if "roberta" in model_type or model_type == "camembert":  # positions start after padding_idx
        limit -= int(get("pad_token_id", 1) or 0) + 1
    return limit


def length_limits(encoder: Any) -> tuple[int, int | None]:
    """The smallest and largest token limit that work for ``encoder``: at least its special tokens
    and one more (a tokenizer cannot cut a text below its special tokens and leaves it whole
    instead), at most its positions (None: no bound known)."""
    smallest, largest = 2, None
    for module in encoder.modules():  # the MLM of a SPLADE model, or of a Router's document side
        tokenizer, auto_model = getattr(module, "tokenizer", None), getattr(module, "auto_model", None)
        if tokenizer is None or auto_model is None:
            continue
        smallest = max(smallest, int(tokenizer.num_special_tokens_to_add(pair=False)) + 1)
        limit = position_limit(auto_model.config)
        if limit is not None:
            largest = limit if largest is None else min(largest, limit)
    return smallest, largest


def check_length(value: int | None, limits: tuple[int, int | None], what: str = "--max-length") -> None:
    """Refuse a token limit outside ``limits`` (:func:`length_limits`), naming the flag."""
    if value is None:
        return
    smallest, largest = limits
    if value < smallest:
        raise UsageError(
            f"{what} {value} is below {smallest}: the model adds {smallest - 1} special token(s) "
            "to every text, so it would be ignored",
            hint=f"use {what} {smallest} or more",
        )
    if largest is not None and value > largest:
        raise UsageError(
            f"{what} {value} is more than the model's {largest} positions",
            hint=f"use {what} {largest} or less",
        )


def check_length_before_loading(model: Any, max_length: int | None, what: str = "--max-length") -> None:
    """For a local model folder, refuse a ``max_length`` above its positions from its
    ``config.json`` alone, before anything is loaded (the full check follows the loading)."""
    from sembridge.loading import mlm_config

    if max_length is None or not isinstance(model, (str, Path)):
        return
    config = mlm_config(model)
    check_length(max_length, (1, position_limit(config) if config else None), what)


def load_encoder(
    model: Any,
    device: str = "auto",
    max_length: int | None = None,
    trust_remote_code: bool = False,
    logits_budget: int | None = DEFAULT_LOGITS_BUDGET,
    *,
    require_splade: bool = False,
) -> Any:
    """A SparseEncoder loaded by :func:`sembridge.loading.load_sparse_encoder` on the first of ``device``.

    ``max_length`` caps the tokens per text (longer texts are truncated); one the model cannot
    honour (above its positions, or not above its special tokens) is refused. ``logits_budget``
    bounds the bytes of MLM logits held at once (:mod:`sembridge.encoding.splade_memory`; None: no
    bound): a large target vocabulary never holds ``batch x length x vocab`` floats at once.
    ``require_splade`` refuses a model without SpladePooling, as fine-tuning does.
    """
    if max_length is not None and max_length < 1:
        raise SembridgeError(f"max_length must be a positive integer, got {max_length}.")
    check_length_before_loading(model, max_length)
    target = resolve_devices(device)[0] if isinstance(model, (str, Path)) else "cpu"
    encoder = load_sparse_encoder(
        model, target, require_splade=require_splade, trust_remote_code=trust_remote_code
    )
    if logits_budget is not None:
        bound_logits_memory(encoder, logits_budget)
    if max_length is not None:
        check_length(max_length, length_limits(encoder))
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


def default_chunk_size(batch_size: int, pool: Any = None) -> int:
    """Texts handed to one encode call: ``batch_size x 16`` per worker, so that a multi-process
    ``pool`` gets work for every process."""
    return batch_size * 16 * (len(pool["processes"]) if pool else 1)


def encode_chunks(
    model: Any,
    texts: Sequence[str],
    kind: TextKind = "document",
    batch_size: int = 32,
    pool: Any = None,
    chunk_size: int | None = None,
    show_progress: bool = True,
    description: str | None = None,
    **encode_kwargs: Any,
) -> Iterator[Any]:
    """Yield ``model.encode_query`` / ``encode_document`` outputs for consecutive chunks of ``texts``.

    One progress bar over all texts; a chunk is ``batch_size x 16`` texts per worker, so a
    multi-process ``pool`` gets work for every process. ``encode_kwargs`` go to the encode call.
    """
    if batch_size < 1:
        raise SembridgeError(f"batch_size must be a positive integer, got {batch_size}.")
    if kind not in ("query", "document"):
        raise SembridgeError(f"kind must be 'query' or 'document', got {kind!r}.")
    chunk_size = chunk_size or default_chunk_size(batch_size, pool)
    encode = model.encode_query if kind == "query" else model.encode_document
    with progress(disable=not show_progress) as bar:
        task = bar.add_task(description or f"encoding {kind}s", total=len(texts))
        for start in range(0, len(texts), chunk_size):
            chunk = list(texts[start : start + chunk_size])
            yield encode(chunk, batch_size=batch_size, show_progress_bar=False, pool=pool, **encode_kwargs)
            bar.advance(task, len(chunk))


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
    for embeddings in encode_chunks(
        encoder, texts, kind, batch_size, pool, chunk_size, show_progress, description,
        convert_to_tensor=True, convert_to_sparse_tensor=True, save_to_cpu=True,
    ):  # fmt: skip
        yield to_csr(embeddings)


def stacked_blocks(chunks: Iterable[sp.csr_matrix], rows: int) -> Iterator[sp.csr_matrix]:
    """Consecutive CSR chunks stacked into blocks of at least ``rows`` rows (the last may be
    smaller): a corpus searched block by block without holding all its vectors."""
    held: list[sp.csr_matrix] = []
    count = 0
    for chunk in chunks:
        held.append(chunk)
        count += chunk.shape[0]
        if count >= rows:
            yield sp.vstack(held, format="csr") if len(held) > 1 else held[0]
            held, count = [], 0
    if held:
        yield sp.vstack(held, format="csr") if len(held) > 1 else held[0]


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
