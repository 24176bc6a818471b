"""Sparsity of a SPLADE model on a sample of texts, measured before and after fine-tuning.

The texts are encoded batch by batch (queries with ``encode_query``, documents with
``encode_document``) into CSR matrices, and measured by :mod:`sembridge.encoding.sparsity`: active terms
(mean and max), the FLOPs regulariser, mean L1 of each side, and the expected FLOPs of scoring
a query against a document. The figures are rounded for the fine-tuning report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import scipy.sparse as sp
import torch

from sembridge.encoding.sparsity import SideStats, SparsityStats, sparsity_stats, to_csr

if TYPE_CHECKING:
    from sentence_transformers import SparseEncoder


def _encode(model: SparseEncoder, texts: Sequence[str], kind: str, batch_size: int) -> sp.csr_matrix:
    if not texts:
        raise ValueError("sparsity statistics need at least one text.")
    encode = model.encode_query if kind == "query" else model.encode_document
    parts = []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        vectors = encode(chunk, batch_size=batch_size, convert_to_tensor=True, convert_to_sparse_tensor=False)
        parts.append(to_csr(vectors))
    return sp.vstack(parts, format="csr")


def _rounded(side: SideStats) -> SideStats:
    return replace(
        side,
        active_terms_mean=round(side.active_terms_mean, 3),
        flops_regularizer=round(side.flops_regularizer, 6),
        l1_mean=round(side.l1_mean, 4),
    )


@torch.no_grad()
def measure_sparsity(
    model: SparseEncoder, queries: Sequence[str], documents: Sequence[str], batch_size: int = 32
) -> SparsityStats:
    """Encode ``queries`` as queries and ``documents`` as documents and measure their sparsity.

    The model is put in evaluation mode while it encodes, then back in the mode it was in.
    """
    was_training = model.training
    model.eval()
    try:
        stats = sparsity_stats(
            _encode(model, queries, "query", batch_size), _encode(model, documents, "document", batch_size)
        )
    finally:
        model.train(was_training)
    return SparsityStats(_rounded(stats.queries), _rounded(stats.documents), round(stats.expected_flops, 4))
