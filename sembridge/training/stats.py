"""Sparsity of a SPLADE model on a sample of texts: active terms and FLOPs.

For N vectors w_i over a vocabulary of size V:

- active terms: the number of k with w_ik > 0, averaged over the N vectors;
- FLOPs regulariser: sum_k (mean_i w_ik)^2, the quantity the training penalises;
- expected FLOPs of scoring: sum_k P(q_k > 0) P(d_k > 0), the expected number of
  vocabulary entries where a query and a document are both active (Formal et al., SPLADE),
  i.e. the multiplications an inverted index does per query-document pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from sentence_transformers import SparseEncoder


@dataclass(frozen=True)
class SideStats:
    """Sparsity of one side (queries or documents) of a sample."""

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


@dataclass
class _Accumulator:
    count: int
    active_total: float
    active_max: int
    l1_total: float
    weight_sum: torch.Tensor  # sum_i w_ik
    active_sum: torch.Tensor  # sum_i [w_ik > 0]

    def side(self) -> SideStats:
        n = max(self.count, 1)
        return SideStats(
            texts=self.count,
            active_terms_mean=round(self.active_total / n, 3),
            active_terms_max=self.active_max,
            flops_regularizer=round(float(((self.weight_sum / n) ** 2).sum()), 6),
            l1_mean=round(self.l1_total / n, 4),
        )


def _encode_stats(model: SparseEncoder, texts: Sequence[str], kind: str, batch_size: int) -> _Accumulator:
    encode = model.encode_query if kind == "query" else model.encode_document
    acc: _Accumulator | None = None
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        vectors = encode(chunk, batch_size=batch_size, convert_to_tensor=True, convert_to_sparse_tensor=False)
        vectors = vectors.detach().float().cpu()
        active = vectors > 0
        per_text = active.sum(dim=1)
        if acc is None:
            dim = vectors.shape[1]
            acc = _Accumulator(0, 0.0, 0, 0.0, torch.zeros(dim, dtype=torch.float64), torch.zeros(dim))
        acc.count += len(chunk)
        acc.active_total += float(per_text.sum())
        acc.active_max = max(acc.active_max, int(per_text.max()))
        acc.l1_total += float(vectors.abs().sum())
        acc.weight_sum += vectors.abs().sum(dim=0, dtype=torch.float64)
        acc.active_sum += active.sum(dim=0)
    if acc is None:
        raise ValueError("sparsity statistics need at least one text.")
    return acc


@torch.no_grad()
def sparsity_stats(
    model: SparseEncoder, queries: Sequence[str], documents: Sequence[str], batch_size: int = 32
) -> SparsityStats:
    """Encode ``queries`` as queries and ``documents`` as documents and measure their sparsity."""
    was_training = model.training
    model.eval()
    try:
        q = _encode_stats(model, queries, "query", batch_size)
        d = _encode_stats(model, documents, "document", batch_size)
    finally:
        model.train(was_training)
    p_q = q.active_sum / max(q.count, 1)
    p_d = d.active_sum / max(d.count, 1)
    return SparsityStats(q.side(), d.side(), round(float((p_q * p_d).sum()), 4))
