"""The dense baseline: a sentence-transformers model, its own prompts, exact cosine top-k.

Queries go through ``encode_query`` and documents through ``encode_document``, each with the
prompt the model was saved with: ``prompts["query"]``, and the first non-empty one of
``"document"``, ``"passage"``, ``"corpus"`` (e5 models: ``"query: "`` and ``"passage: "``). The
prompt is passed explicitly because sentence-transformers fills in an empty ``"document"``
prompt on loading, which its ``encode_document`` would pick before a saved ``"passage"``.
Embeddings are L2-normalised, so the score of a document is the cosine similarity
``q . d / (|q| |d|)``.

Search is exact and bounded in memory: a chunk of queries is scored against one block of
documents at a time (``query_chunk x doc_block`` floats), keeping the running top-k of every
query. Ranking follows the sparse path: highest score first, ties by the lower document index.
Unlike the inverted index, every document has a score, so each query gets ``min(top_k, N)``
documents (negative cosines included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sembridge.encoding.encode import TextKind, encode_chunks
from sembridge.errors import SembridgeError
from sembridge.evaluation.retrieval import DEFAULT_DOC_BLOCK, DEFAULT_QUERY_CHUNK, SearchResult

DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")  # sentence-transformers' order


def dense_prompts(model: Any) -> dict[str, str | None]:
    """The text put before queries and before documents (``None``: no prompt)."""
    prompts = dict(getattr(model, "prompts", None) or {})
    document = next((prompts[name] for name in DOCUMENT_PROMPT_NAMES if prompts.get(name)), None)
    return {"query": prompts.get("query") or None, "document": document}


def encode_dense(
    model: Any,
    texts: Sequence[str],
    kind: TextKind = "document",
    batch_size: int = 32,
    pool: Any = None,
    show_progress: bool = True,
    description: str | None = None,
) -> np.ndarray:
    """L2-normalised float32 embeddings (one row per text) through the model's query/document prompt."""
    prompt = dense_prompts(model).get(kind) or ""
    parts = [
        np.asarray(embeddings, dtype=np.float32)
        for embeddings in encode_chunks(
            model,
            texts,
            kind,
            batch_size=batch_size,
            pool=pool,
            show_progress=show_progress,
            description=description,
            prompt=prompt,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
    ]
    if not parts:  # no text (encode_chunks has still checked the arguments)
        dimension = getattr(model, "get_embedding_dimension", model.get_sentence_embedding_dimension)()
        return np.zeros((0, dimension or 0), dtype=np.float32)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def cosine_search(
    queries: np.ndarray,
    documents: np.ndarray,
    top_k: int,
    doc_block: int = DEFAULT_DOC_BLOCK,
    query_chunk: int = DEFAULT_QUERY_CHUNK,
) -> SearchResult:
    """The exact ``top_k`` documents of every query row by cosine similarity (rows are normalised here)."""
    for name, value in (("top_k", top_k), ("doc_block", doc_block), ("query_chunk", query_chunk)):
        if value < 1:
            raise SembridgeError(f"{name} must be a positive integer, got {value}.")
    queries = _normalised(queries)
    documents = _normalised(documents)
    if queries.shape[1] != documents.shape[1]:
        raise SembridgeError(
            f"query embeddings have {queries.shape[1]} dimensions but documents have {documents.shape[1]}",
            hint="encode queries and documents with the same model",
        )
    n_queries, n_docs = queries.shape[0], documents.shape[0]
    k = min(top_k, n_docs)
    indices = np.full((n_queries, top_k), -1, dtype=np.int64)
    scores = np.zeros((n_queries, top_k), dtype=np.float32)
    if k == 0:
        return SearchResult(indices=indices, scores=scores)
    for q_start in range(0, n_queries, query_chunk):
        chunk = queries[q_start : q_start + query_chunk]
        best_docs = np.empty((chunk.shape[0], 0), dtype=np.int64)
        best_scores = np.empty((chunk.shape[0], 0), dtype=np.float32)
        for d_start in range(0, n_docs, doc_block):
            block = chunk @ documents[d_start : d_start + doc_block].T  # (chunk, block)
            keep = _block_top_k(block, k)
            docs = np.concatenate([best_docs, keep + d_start], axis=1)
            vals = np.concatenate([best_scores, np.take_along_axis(block, keep, axis=1)], axis=1)
            order = np.lexsort((docs, -vals), axis=1)[:, :k]
            best_docs = np.take_along_axis(docs, order, axis=1)
            best_scores = np.take_along_axis(vals, order, axis=1)
        indices[q_start : q_start + chunk.shape[0], :k] = best_docs
        scores[q_start : q_start + chunk.shape[0], :k] = best_scores
    return SearchResult(indices=indices, scores=scores)


def _block_top_k(block: np.ndarray, k: int) -> np.ndarray:
    """Columns of the ``k`` best scores of every row, ties by the lower column (in column order).

    With ``t`` the k-th largest score of a row, every score above ``t`` is kept and the first
    columns scoring exactly ``t`` fill the remaining places: linear time, no full sort.
    """
    n_rows, n_cols = block.shape
    if n_cols <= k:
        return np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    kth = -np.partition(-block, k - 1, axis=1)[:, k - 1 : k]
    above = block > kth
    at = block == kth
    places = k - above.sum(axis=1, keepdims=True)
    selected = above | (at & (np.cumsum(at, axis=1) <= places))
    return np.nonzero(selected)[1].reshape(n_rows, k)


def _normalised(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2:
        raise SembridgeError(f"embeddings must be a 2-D array, got {matrix.ndim} dimension(s).")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, np.finfo(np.float32).tiny)
