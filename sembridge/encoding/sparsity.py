"""Sparsity of sparse vectors held as CSR matrices: active terms, FLOPs and the FLOPs regulariser.

The one place these figures are computed; evaluation measures its encoded corpora with it, and
fine-tuning (:mod:`sembridge.training.stats`) encodes a sample of its pairs and measures them
with it too. For N vectors w_i over a vocabulary of size V (rows of a CSR matrix):

- active terms of a vector: ``|{k : w_ik != 0}|``; :func:`mean_active_terms` averages it over
  the N vectors;
- term presence: ``p_k = |{i : w_ik != 0}| / N``, the fraction of vectors active on term k;
- FLOPs of scoring (Paria et al. 2020, used by SPLADE): ``FLOPs = sum_k p_k(q) * p_k(d)``, the
  expected number of terms a query and a document are both active on, i.e. the multiply-adds an
  inverted index does per query-document pair (exactly the mean over all pairs of their shared
  active terms when queries and documents are drawn independently);
- FLOPs regulariser (the quantity training penalises): ``sum_k (mean_i |w_ik|)^2``;
- L1: ``sum_k |w_ik|``, averaged over the N vectors.

Two encoders of the same texts (the ONNX graph against torch, a bridge backend against
another) are compared with :func:`top_k_overlap` and :func:`mean_row_cosine` on dense rows.

A matrix with no rows has zero for every figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from sembridge.errors import SembridgeError


@dataclass(frozen=True)
class SideStats:
    """Sparsity of one side (queries or documents)."""

    texts: int
    active_terms_mean: float
    active_terms_max: int
    flops_regularizer: float
    l1_mean: float


@dataclass(frozen=True)
class SparsityStats:
    """Sparsity of queries and documents, and the expected FLOPs of scoring one against the other."""

    queries: SideStats
    documents: SideStats
    expected_flops: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, float]:
        """The three figures of an evaluation row: ``query_terms``, ``doc_terms`` and ``flops``."""
        return {
            "query_terms": self.queries.active_terms_mean,
            "doc_terms": self.documents.active_terms_mean,
            "flops": self.expected_flops,
        }


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


def _nonzero(matrix: sp.spmatrix) -> sp.csr_matrix:
    """A CSR copy of ``matrix`` without explicit zeros (the input is never modified)."""
    matrix = sp.csr_matrix(matrix, copy=True)
    matrix.eliminate_zeros()
    return matrix


def term_presence(matrix: sp.spmatrix) -> np.ndarray:
    """``p_k``: the fraction of rows with a non-zero weight on each column ``k``."""
    matrix = sp.csr_matrix(matrix)
    if matrix.shape[0] == 0:
        return np.zeros(matrix.shape[1], dtype=np.float64)
    nonzero_cols = matrix.indices[matrix.data != 0]
    return np.bincount(nonzero_cols, minlength=matrix.shape[1]).astype(np.float64) / matrix.shape[0]


def mean_active_terms(matrix: sp.spmatrix) -> float:
    """Mean number of non-zero weights per row."""
    matrix = sp.csr_matrix(matrix)
    if matrix.shape[0] == 0:
        return 0.0
    return float(np.count_nonzero(matrix.data) / matrix.shape[0])


def own_piece_share(matrix: sp.spmatrix, pieces: Sequence[Sequence[int]]) -> float:
    """Mean over rows of the share of a text's own distinct pieces (``pieces[i]``: the ids its
    tokenizer gives text ``i``, special tokens left out) that are active in its vector.

    The part of exact lexical matching a model keeps: BM25 scores every piece of a text, a sparse
    encoder only the pieces its vector keeps. Rows without pieces are left out of the mean.
    """
    matrix = _nonzero(matrix)
    if matrix.shape[0] != len(pieces):
        raise SembridgeError(f"{matrix.shape[0]:,} vectors but {len(pieces):,} lists of pieces")
    shares = []
    for row, ids in enumerate(pieces):
        own = set(ids)
        if own:
            active = matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]]
            shares.append(len(own.intersection(active.tolist())) / len(own))
    return float(np.mean(shares)) if shares else 0.0


def flops(queries: sp.spmatrix, documents: sp.spmatrix) -> float:
    """``sum_k p_k(q) * p_k(d)``: expected multiply-adds per query-document pair."""
    if queries.shape[1] != documents.shape[1]:
        raise SembridgeError(
            f"queries have {queries.shape[1]:,} dimensions but documents have {documents.shape[1]:,}"
        )
    return float(term_presence(queries) @ term_presence(documents))


def side_stats(matrix: sp.spmatrix) -> SideStats:
    """Active terms (mean and max), FLOPs regulariser and mean L1 of the rows of ``matrix``."""
    matrix = _nonzero(matrix)
    rows, columns = matrix.shape
    if rows == 0:
        return SideStats(0, 0.0, 0, 0.0, 0.0)
    weights = np.abs(matrix.data).astype(np.float64)
    column_mean = np.bincount(matrix.indices, weights=weights, minlength=columns) / rows
    return SideStats(
        texts=rows,
        active_terms_mean=mean_active_terms(matrix),
        active_terms_max=int(np.diff(matrix.indptr).max()),
        flops_regularizer=float((column_mean**2).sum()),
        l1_mean=float(weights.sum() / rows),
    )


class SideAccumulator:
    """:func:`side_stats` and :func:`term_presence` of many matrices' rows taken together, added
    one matrix (a chunk of a corpus) at a time: the same figures as for the rows stacked, without
    holding them."""

    def __init__(self, columns: int) -> None:
        self.columns = columns
        self.rows = 0
        self.nonzero = 0
        self.max_terms = 0
        self.l1 = 0.0
        self.presence = np.zeros(columns, dtype=np.int64)
        self.column_sum = np.zeros(columns, dtype=np.float64)

    def add(self, matrix: sp.spmatrix) -> None:
        matrix = _nonzero(matrix)
        if matrix.shape[1] != self.columns:
            raise SembridgeError(f"a chunk has {matrix.shape[1]:,} dimensions, not {self.columns:,}")
        if matrix.shape[0] == 0:
            return
        weights = np.abs(matrix.data).astype(np.float64)
        self.rows += matrix.shape[0]
        self.nonzero += matrix.nnz
        self.max_terms = max(self.max_terms, int(np.diff(matrix.indptr).max()))
        self.l1 += float(weights.sum())
        self.presence += np.bincount(matrix.indices, minlength=self.columns)
        self.column_sum += np.bincount(matrix.indices, weights=weights, minlength=self.columns)

    def side_stats(self) -> SideStats:
        if self.rows == 0:
            return SideStats(0, 0.0, 0, 0.0, 0.0)
        column_mean = self.column_sum / self.rows
        return SideStats(
            texts=self.rows,
            active_terms_mean=float(self.nonzero / self.rows),
            active_terms_max=self.max_terms,
            flops_regularizer=float((column_mean**2).sum()),
            l1_mean=self.l1 / self.rows,
        )

    def term_presence(self) -> np.ndarray:
        return self.presence / self.rows if self.rows else np.zeros(self.columns, dtype=np.float64)

    def sparsity_stats(self, queries: sp.spmatrix) -> SparsityStats:
        """The :func:`sparsity_stats` of ``queries`` against the rows added (the documents)."""
        if queries.shape[1] != self.columns:
            raise SembridgeError(
                f"queries have {queries.shape[1]:,} dimensions but documents have {self.columns:,}"
            )
        return SparsityStats(
            side_stats(queries), self.side_stats(), float(term_presence(queries) @ self.term_presence())
        )


def sparsity_stats(queries: sp.spmatrix, documents: sp.spmatrix) -> SparsityStats:
    """Both sides' :class:`SideStats` and the FLOPs of scoring ``queries`` against ``documents``."""
    return SparsityStats(side_stats(queries), side_stats(documents), flops(queries, documents))


def top_k_overlap(reference: Any, other: Any, k: int = 10) -> float:
    """Mean over rows of |top-k(reference) ∩ top-k(other)| / k, over each row's non-zero top terms."""
    import numpy as np

    overlaps = []
    for ref, oth in zip(reference, other, strict=True):
        kk = min(k, int((ref > 0).sum()))
        if kk == 0:
            continue
        a = set(np.argsort(-ref, kind="stable")[:kk].tolist())
        b = set(np.argsort(-oth, kind="stable")[:kk].tolist())
        overlaps.append(len(a & b) / kk)
    return float(np.mean(overlaps)) if overlaps else 1.0


def mean_row_cosine(reference: Any, other: Any) -> float:
    """Mean cosine similarity of matching rows."""
    import numpy as np

    num = (reference * other).sum(1)
    den = np.linalg.norm(reference, axis=1) * np.linalg.norm(other, axis=1)
    return float(np.mean(np.where(den > 0, num / np.maximum(den, 1e-30), 1.0)))
