"""The BM25 baseline: lexical retrieval over the word pieces of a Hugging Face tokenizer, by bm25s.

Texts are cut into the word pieces of a tokenizer (the evaluated model's, or any other), with no
special tokens and no length cap, so BM25 sees the same vocabulary as the sparse encoders it is
compared with. `bm25s <https://github.com/xhluca/bm25s>`_ builds the index and scores it; with
its default ``method="lucene"`` (Lucene's variant in Kamphuis et al., ECIR 2020) the score of a
document ``d`` for a query ``q`` is

    score(q, d) = sum over the tokens t of q of IDF(t) * tf(t, d) / (tf(t, d) + k1 * L(d))
    L(d)        = 1 - b + b * |d| / avgdl
    IDF(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

where ``tf(t, d)`` counts ``t`` in ``d``, ``|d|`` is the length of ``d`` in word pieces, ``avgdl``
the mean length over the corpus, ``N`` the number of documents and ``df(t)`` the number of
documents holding ``t``. A token repeated in the query counts once per occurrence, as in a
Lucene boolean query; query tokens absent from the corpus add nothing.

Ranking follows the sparse path (:mod:`sembridge.evaluation.retrieval`): highest score first,
ties by the lower document index, and documents scoring 0 (no token in common) not retrieved.
Sparsity figures count distinct word pieces: a query (document) "activates" each distinct
token it holds, which gives the same active-terms and FLOPs figures as for a sparse encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from sembridge.encoding.sparsity import sparsity_stats
from sembridge.errors import SembridgeError
from sembridge.evaluation.retrieval import SearchResult
from sembridge.log import progress

BM25_METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
TOKENIZE_CHUNK = 1024


@dataclass(frozen=True)
class BM25Params:
    """BM25's parameters (bm25s' defaults); checked at construction."""

    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"

    def __post_init__(self) -> None:
        if not self.k1 >= 0:
            raise SembridgeError(f"BM25 k1 must be a number >= 0, got {self.k1}.")
        if not 0 <= self.b <= 1:
            raise SembridgeError(f"BM25 b must be between 0 and 1, got {self.b}.")
        if self.method not in BM25_METHODS:
            raise SembridgeError(
                f"unknown BM25 method '{self.method}'", hint=f"use one of {', '.join(BM25_METHODS)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tokenize(
    tokenizer: Any, texts: Sequence[str], show_progress: bool = False, description: str = "tokenizing"
) -> list[list[int]]:
    """The word-piece ids of every text: no special tokens, no truncation."""
    ids: list[list[int]] = []
    with progress(disable=not show_progress) as bar:
        task = bar.add_task(description, total=len(texts))
        for start in range(0, len(texts), TOKENIZE_CHUNK):
            chunk = list(texts[start : start + TOKENIZE_CHUNK])
            encoded = tokenizer(
                chunk,
                add_special_tokens=False,
                truncation=False,
                return_attention_mask=False,
                return_token_type_ids=False,
                verbose=False,
            )
            ids.extend(list(row) for row in encoded["input_ids"])
            bar.advance(task, len(chunk))
    return ids


def bm25_idf(df: np.ndarray, n: int, special_ids: Sequence[int] = ()) -> np.ndarray:
    """BM25's (Lucene's) IDF, ``log(1 + (n - df + 0.5) / (df + 0.5))``, of each vocabulary row from
    its document frequency ``df`` over ``n`` documents; ``special_ids`` (special tokens) get 0."""
    df = np.asarray(df, dtype=np.float64)
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    special = np.asarray([i for i in special_ids if 0 <= i < len(idf)], dtype=np.int64)
    idf[special] = 0.0
    return idf


def presence_matrix(token_ids: Sequence[Sequence[int]], vocab_size: int) -> sp.csr_matrix:
    """A (texts x vocabulary) CSR matrix with 1 where a text holds a token (distinct tokens only)."""
    indptr = np.zeros(len(token_ids) + 1, dtype=np.int64)
    columns = []
    for row, ids in enumerate(token_ids):
        unique = np.unique(np.asarray(ids, dtype=np.int64))
        columns.append(unique)
        indptr[row + 1] = indptr[row] + unique.size
    indices = np.concatenate(columns) if columns else np.empty(0, dtype=np.int64)
    data = np.ones(indices.size, dtype=np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(token_ids), vocab_size))


class BM25Index:
    """A bm25s index over the word pieces of ``documents``; :meth:`search` gives the top-k per query."""

    def __init__(
        self,
        tokenizer: Any,
        documents: Sequence[str],
        params: BM25Params | None = None,
        show_progress: bool = False,
    ) -> None:
        import bm25s

        self.tokenizer = tokenizer
        self.params = params or BM25Params()
        self.n_docs = len(documents)
        if self.n_docs == 0:
            raise SembridgeError("the corpus is empty: there is nothing to index for BM25")
        self.vocab_size = _vocab_size(tokenizer)
        self.doc_ids = tokenize(tokenizer, documents, show_progress, "BM25: tokenizing documents")
        self._retriever = bm25s.BM25(k1=self.params.k1, b=self.params.b, method=self.params.method)
        self._retriever.index(self._token_strings(self.doc_ids), show_progress=False)

    def search(self, queries: Sequence[str], top_k: int, show_progress: bool = False) -> SearchResult:
        """The ``top_k`` best documents of every query (rows of ``indices``; -1 pads)."""
        if top_k < 1:
            raise SembridgeError(f"top_k must be a positive integer, got {top_k}.")
        query_ids = tokenize(self.tokenizer, queries, show_progress, "BM25: tokenizing queries")
        return self.search_ids(query_ids, top_k)

    def search_ids(self, query_ids: Sequence[Sequence[int]], top_k: int) -> SearchResult:
        """:meth:`search` on already tokenized queries (word-piece ids)."""
        n_queries = len(query_ids)
        indices = np.full((n_queries, top_k), -1, dtype=np.int64)
        scores = np.zeros((n_queries, top_k), dtype=np.float32)
        if n_queries == 0:
            return SearchResult(indices=indices, scores=scores)
        k = min(top_k, self.n_docs)
        found_docs, found_scores = self._retriever.retrieve(
            self._token_strings(query_ids), k=k, show_progress=False, n_threads=0
        )
        for row in range(n_queries):
            docs = np.asarray(found_docs[row], dtype=np.int64)
            vals = np.asarray(found_scores[row], dtype=np.float32)
            keep = vals > 0
            docs, vals = docs[keep], vals[keep]
            order = np.lexsort((docs, -vals))
            indices[row, : order.size] = docs[order]
            scores[row, : order.size] = vals[order]
        return SearchResult(indices=indices, scores=scores)

    def scores(self, query_ids: Sequence[int]) -> np.ndarray:
        """The BM25 score of every document (in index order) for one query given as word-piece ids."""
        vocabulary = self._retriever.vocab_dict
        known = [vocabulary[token] for token in self._token_strings([query_ids])[0] if token in vocabulary]
        if not known:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(known), dtype=np.float32)

    def sparsity_stats(self, query_ids: Sequence[Sequence[int]]) -> dict[str, float]:
        """Mean distinct word pieces per query (given as ids) and per document, and the FLOPs figure."""
        return sparsity_stats(
            presence_matrix(query_ids, self.vocab_size), presence_matrix(self.doc_ids, self.vocab_size)
        ).summary()

    def _token_strings(self, token_ids: Sequence[Sequence[int]]) -> list[list[str]]:
        # bm25s indexes strings; the decimal id keeps every word piece distinct and never empty.
        return [[str(i) for i in ids] for ids in token_ids]


def _vocab_size(tokenizer: Any) -> int:
    try:
        return max(len(tokenizer), max(tokenizer.get_vocab().values(), default=-1) + 1)
    except (TypeError, AttributeError, NotImplementedError) as err:
        raise SembridgeError(
            f"the BM25 tokenizer ({type(tokenizer).__name__}) has no vocabulary",
            hint="give a Hugging Face tokenizer with --bm25-tokenizer",
        ) from err
