"""Exact top-k retrieval over sparse vectors with an inverted index, scored in bounded chunks.

The index keeps, per block of documents, the posting lists of every vocabulary term (the
transposed CSR block: row ``j`` lists the documents holding term ``j`` and their weights). A
chunk of queries is scored against one block at a time (``q @ postings``), so memory stays at
``query_chunk x doc_block`` scores however large the corpus is, and the running top-k of every
query is merged block by block.

Ranking is exact: the score of a document is the dot product of the sparse vectors; documents
are ordered by score (highest first) and ties by the lower document index. Documents sharing
no term with the query (score 0) are not retrieved, as in any inverted index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sembridge.errors import SembridgeError

DEFAULT_DOC_BLOCK = 65_536
DEFAULT_QUERY_CHUNK = 128
# Dense score buffer per step: query_chunk x doc_block floats (128 x 65,536 x 4 bytes = 32 MiB).


@dataclass
class SearchResult:
    """Top-k per query: ``indices[i]`` are document rows (-1 pads), ``scores[i]`` their scores."""

    indices: np.ndarray  # (n_queries, k) int64
    scores: np.ndarray  # (n_queries, k) float32

    def hits(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """The retrieved document rows and scores of query ``row`` (padding removed)."""
        valid = self.indices[row] >= 0
        return self.indices[row][valid], self.scores[row][valid]


class InvertedIndex:
    """An exact inverted index over sparse document vectors (rows of a CSR matrix)."""

    def __init__(self, documents: sp.spmatrix, doc_block: int = DEFAULT_DOC_BLOCK) -> None:
        if doc_block < 1:
            raise SembridgeError(f"doc_block must be a positive integer, got {doc_block}.")
        documents = sp.csr_matrix(documents, dtype=np.float32)
        documents.eliminate_zeros()
        self.n_docs, self.vocab_size = documents.shape
        self.doc_block = doc_block
        # postings[b]: (vocab x block) CSR = per-term posting lists of the documents of block b.
        self._blocks: list[tuple[int, sp.csr_matrix]] = [
            (start, documents[start : start + doc_block].T.tocsr())
            for start in range(0, self.n_docs, doc_block)
        ]

    @property
    def nnz(self) -> int:
        return sum(postings.nnz for _, postings in self._blocks)

    def search(
        self, queries: sp.spmatrix, top_k: int, query_chunk: int = DEFAULT_QUERY_CHUNK
    ) -> SearchResult:
        """The exact ``top_k`` documents of every query row."""
        if top_k < 1:
            raise SembridgeError(f"top_k must be a positive integer, got {top_k}.")
        if query_chunk < 1:
            raise SembridgeError(f"query_chunk must be a positive integer, got {query_chunk}.")
        queries = sp.csr_matrix(queries, dtype=np.float32)
        if queries.shape[1] != self.vocab_size:
            raise SembridgeError(
                f"query vectors have {queries.shape[1]:,} dimensions but the index has {self.vocab_size:,}",
                hint="encode queries and documents with the same model",
            )
        n_queries = queries.shape[0]
        indices = np.full((n_queries, top_k), -1, dtype=np.int64)
        scores = np.zeros((n_queries, top_k), dtype=np.float32)
        for q_start in range(0, n_queries, query_chunk):
            q_stop = min(q_start + query_chunk, n_queries)
            best_rows = np.empty(0, dtype=np.int64)
            best_docs = np.empty(0, dtype=np.int64)
            best_scores = np.empty(0, dtype=np.float32)
            chunk = queries[q_start:q_stop]
            for d_start, postings in self._blocks:
                block_scores = (chunk @ postings).toarray()
                rows, docs, vals = _block_candidates(block_scores, top_k)
                best_rows, best_docs, best_scores = _merge_top_k(
                    np.concatenate([best_rows, rows]),
                    np.concatenate([best_docs, docs + d_start]),
                    np.concatenate([best_scores, vals]),
                    top_k,
                )
            rank = _rank_within_rows(best_rows)
            indices[q_start + best_rows, rank] = best_docs
            scores[q_start + best_rows, rank] = best_scores
        return SearchResult(indices=indices, scores=scores)


class StreamingSearch:
    """Exact top-k of fixed queries over documents that arrive in blocks (a corpus encoded chunk
    by chunk and never held whole): each block is indexed and searched on its own, and the
    running top-k of every query is merged with the block's, so the result equals one
    :class:`InvertedIndex` over all blocks stacked (the same order: score, then document row)."""

    def __init__(self, queries: sp.spmatrix, top_k: int, query_chunk: int = DEFAULT_QUERY_CHUNK) -> None:
        if top_k < 1:
            raise SembridgeError(f"top_k must be a positive integer, got {top_k}.")
        self.queries = sp.csr_matrix(queries, dtype=np.float32)
        self.top_k, self.query_chunk = top_k, query_chunk
        self.n_docs = 0
        self._rows = np.empty(0, dtype=np.int64)
        self._docs = np.empty(0, dtype=np.int64)
        self._scores = np.empty(0, dtype=np.float32)

    def add(self, documents: sp.spmatrix) -> None:
        """Search the next block of documents (their rows follow the blocks added before)."""
        if documents.shape[0] == 0:
            return
        found = InvertedIndex(documents, doc_block=max(1, documents.shape[0])).search(
            self.queries, self.top_k, self.query_chunk
        )
        rows, ranks = np.nonzero(found.indices >= 0)
        self._rows, self._docs, self._scores = _merge_top_k(
            np.concatenate([self._rows, rows.astype(np.int64)]),
            np.concatenate([self._docs, found.indices[rows, ranks] + self.n_docs]),
            np.concatenate([self._scores, found.scores[rows, ranks]]),
            self.top_k,
        )
        self.n_docs += documents.shape[0]

    def result(self) -> SearchResult:
        n_queries = self.queries.shape[0]
        indices = np.full((n_queries, self.top_k), -1, dtype=np.int64)
        scores = np.zeros((n_queries, self.top_k), dtype=np.float32)
        rank = _rank_within_rows(self._rows)
        indices[self._rows, rank] = self._docs
        scores[self._rows, rank] = self._scores
        return SearchResult(indices=indices, scores=scores)


def exact_search(
    queries: sp.spmatrix,
    documents: sp.spmatrix,
    top_k: int,
    doc_block: int = DEFAULT_DOC_BLOCK,
    query_chunk: int = DEFAULT_QUERY_CHUNK,
) -> SearchResult:
    """Build an :class:`InvertedIndex` over ``documents`` and search it with ``queries``."""
    return InvertedIndex(documents, doc_block=doc_block).search(queries, top_k, query_chunk=query_chunk)


def _block_candidates(block_scores: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of a dense (queries x docs) score block that can be in a row's top-k.

    Keeps every positive score at or above the row's k-th largest score (ties included, so the
    tie-break by document index in :func:`_merge_top_k` stays exact).
    """
    n_docs = block_scores.shape[1]
    if n_docs > top_k:
        kth = np.partition(block_scores, n_docs - top_k, axis=1)[:, n_docs - top_k]
        mask = (block_scores >= kth[:, None]) & (block_scores > 0)
    else:
        mask = block_scores > 0
    rows, docs = np.nonzero(mask)
    return rows.astype(np.int64), docs.astype(np.int64), block_scores[rows, docs].astype(np.float32)


def _merge_top_k(
    rows: np.ndarray, docs: np.ndarray, scores: np.ndarray, top_k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort (row, -score, doc) and keep the first ``top_k`` entries of every row."""
    order = np.lexsort((docs, -scores, rows))
    rows, docs, scores = rows[order], docs[order], scores[order]
    keep = _rank_within_rows(rows) < top_k
    return rows[keep], docs[keep], scores[keep]


def _rank_within_rows(sorted_rows: np.ndarray) -> np.ndarray:
    """Position of each entry within its row, for entries already grouped by row."""
    if sorted_rows.size == 0:
        return sorted_rows.copy()
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    lengths = np.diff(np.r_[starts, sorted_rows.size])
    return np.arange(sorted_rows.size) - np.repeat(starts, lengths)
