"""The query side of an inference-free sparse encoder: one static weight per vocabulary token.

Inference-free models (OpenSearch neural-sparse "doc" models, sentence-transformers' inference-free
SPLADE) encode a query as ``q_t = w_t * [t occurs in the query]`` (``SparseStaticEmbedding``) and
only documents with the masked-LM encoder. Adapting one means building ``w`` for the target
vocabulary. This module owns the two ways:

- :func:`combine_query_weights` (``--query-weights combine``, the default): a copied token keeps
  its source weight, ``w'_t = w_s``; a new token whose row is the convex combination
  ``sum_i a_ti * E_i`` gets ``w'_t = sum_i a_ti * w_i`` with the same weights ``a_t``, exactly as
  the MLM bias is remapped. Methods whose rows are not combinations (random, gaussian...) and ids
  the tokenizer never uses get the mean source weight.
- :func:`idf_query_weights` (``--query-weights idf``): every weight is recomputed from
  target-language text as BM25's IDF, ``w_t = ln(1 + (N - df_t + 0.5) / (df_t + 0.5))`` with
  ``N`` passages and ``df_t`` the passages that contain token ``t`` (the target tokenizer, no
  special tokens); a token the text never uses gets the largest value, ``ln(1 + (N + 0.5) / 0.5)``,
  and special tokens get 0. Only ratios between weights matter to a query's ranking, so no
  rescaling to the source's scale is needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from sembridge.errors import SembridgeError
from sembridge.evaluation.bm25 import bm25_idf
from sembridge.methods.base import NewRows
from sembridge.methods.weights import combine
from sembridge.vocab import Overlap

__all__ = [
    "QUERY_WEIGHTS",
    "check_query_weights",
    "combine_query_weights",
    "idf_query_weights",
    "query_weight_summary",
]

QUERY_WEIGHTS = ("combine", "idf")

_TOKENIZE_BATCH = 1024


def check_query_weights(
    query_weights: str | None, target_text: str | Path | None, method_reads_text: bool
) -> str | None:
    """``--query-weights`` checked against ``--target-text`` (before any loading).

    None means the default: ``combine`` when the source is inference-free. ``idf`` needs
    ``--target-text``; a ``--target-text`` that neither the method nor ``idf`` reads is refused.
    """
    if query_weights is not None and query_weights not in QUERY_WEIGHTS:
        raise SembridgeError(
            f"--query-weights must be one of {', '.join(QUERY_WEIGHTS)}, got {query_weights!r}",
            hint="combine: copied and combined like the rows; idf: recomputed on --target-text",
        )
    if query_weights == "idf":
        if target_text is None:
            raise SembridgeError(
                "--query-weights idf needs --target-text FILE (target-language text, one passage per line)",
                hint="give --target-text, or use --query-weights combine",
            )
        if not Path(target_text).expanduser().is_file():
            raise SembridgeError(
                f"--target-text '{target_text}' is not a file",
                hint="--query-weights idf reads target-language text, one passage per line",
            )
        return query_weights
    if target_text is not None and not method_reads_text:
        raise SembridgeError(
            "--target-text is read only by method 'focus' and by --query-weights idf",
            hint="leave --target-text out, or add --query-weights idf (inference-free sources)",
        )
    return query_weights


def combine_query_weights(
    source_weights: torch.Tensor, overlap: Overlap, new_rows: NewRows, size: int
) -> torch.Tensor:
    """Target-vocabulary query weights: copied for overlapping tokens, combined for new ones.

    ``size`` is the target vocabulary size; the result is float32 of shape ``(size,)``.
    """
    source = source_weights.detach().float().cpu()
    out = torch.full((size,), float(source.mean()))
    if overlap.matches:
        target_ids = torch.tensor([m.target_id for m in overlap.matches], dtype=torch.long)
        source_ids = torch.tensor([m.source_id for m in overlap.matches], dtype=torch.long)
        out[target_ids] = source[source_ids]
    if overlap.new_ids and new_rows.weights is not None:
        new_ids = torch.tensor(overlap.new_ids, dtype=torch.long)
        out[new_ids] = combine(new_rows.weights, source)
    return out


def document_frequencies(tokenizer: Any, lines: Iterable[str], size: int) -> tuple[torch.Tensor, int]:
    """``(df, N)``: per token id, the number of passages of ``lines`` that contain it, and ``N``."""
    df = torch.zeros(size, dtype=torch.long)
    batch: list[str] = []
    count = 0

    def flush() -> None:
        for ids in tokenizer(batch, add_special_tokens=False)["input_ids"]:
            if ids:
                df[torch.tensor(sorted(set(ids)), dtype=torch.long)] += 1
        batch.clear()

    for line in lines:
        batch.append(line)
        count += 1
        if len(batch) >= _TOKENIZE_BATCH:
            flush()
    if batch:
        flush()
    return df, count


def idf_query_weights(tokenizer: Any, lines: Iterable[str], size: int) -> torch.Tensor:
    """BM25 IDF of every token id on ``lines`` (module docstring); special tokens get 0."""
    df, n = document_frequencies(tokenizer, lines, size)
    return torch.from_numpy(bm25_idf(df.numpy(), n, getattr(tokenizer, "all_special_ids", []))).float()


def query_weight_summary(weights: torch.Tensor) -> dict[str, float]:
    """Figures of a query weight table for the init report."""
    w = weights.float()
    return {
        "size": int(w.numel()),
        "nonzero": int((w != 0).sum()),
        "mean": round(float(w.mean()), 6),
        "max": round(float(w.max()), 6),
    }
