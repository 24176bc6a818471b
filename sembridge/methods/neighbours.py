"""Top-k neighbours in a shared word-vector space (OFA, WECHSEL): ``softmax(cos / T)`` weights.

Both methods put source and target tokens into one vector space, then give each new token with a
vector ``softmax(cos / T)`` weights over its ``k`` most similar source tokens; new tokens without a
vector get a Gaussian draw (:func:`~sembridge.methods.fallback.rows_with_gaussian_fallback`).
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from sembridge.methods.base import InitContext, NewRows
from sembridge.methods.fallback import rows_with_gaussian_fallback
from sembridge.methods.sparse_weights import SparseWeights
from sembridge.vocab import is_candidate_source

logger = logging.getLogger("sembridge")


def topk_softmax_weights(
    queries: torch.Tensor,
    keys: torch.Tensor,
    key_ids: torch.Tensor,
    top_k: int,
    temperature: float,
    num_columns: int,
    chunk_size: int = 1024,
    device: torch.device | str = "cpu",
) -> tuple[SparseWeights, torch.Tensor]:
    """``softmax(cos / temperature)`` over each query's ``top_k`` most similar keys (OFA, WECHSEL).

    Cosine similarity of every query to every key, in chunks of ``chunk_size`` queries; the top
    ``min(top_k, len(keys))`` keys of each row keep ``exp(s / T) / sum exp(s' / T)``, the others 0.
    Columns are source ids (``key_ids``). Also returns the best cosine of each query.
    """
    k = min(top_k, keys.shape[0])
    keys_n = torch.nn.functional.normalize(keys.float(), dim=1).to(device)
    parts: list[SparseWeights] = []
    best: list[torch.Tensor] = []
    for begin in range(0, queries.shape[0], chunk_size):
        q = torch.nn.functional.normalize(queries[begin : begin + chunk_size].float(), dim=1).to(device)
        sims, cols = (q @ keys_n.T).topk(k, dim=1)  # sorted, largest first
        weights = torch.softmax(sims / temperature, dim=1).cpu()
        indptr = torch.arange(q.shape[0] + 1, dtype=torch.long) * k
        parts.append(SparseWeights(indptr, key_ids[cols.cpu()].reshape(-1), weights.reshape(-1), num_columns))
        best.append(sims[:, 0].cpu())
    if not parts:
        return SparseWeights.empty(num_columns), torch.zeros(0)
    return SparseWeights.concat(parts), torch.cat(best)


def neighbour_rows(
    ctx: InitContext,
    source_vectors: torch.Tensor,
    source_has_vector: torch.Tensor,
    target_vectors: torch.Tensor,
    target_has_vector: torch.Tensor,
    top_k: int,
    temperature: float,
    **info: Any,
) -> NewRows:
    """OFA / WECHSEL rows: top-k softmax(cos / T) over the source tokens, in one shared vector space.

    ``source_vectors`` [source vocab, d] and ``target_vectors`` [target vocab, d] are subword
    vectors; ``*_has_vector`` mark the tokens that have one. The neighbours of a new token are the
    regular source tokens (no special, no ``[unusedN]``) with a vector; new tokens without a vector
    get a Gaussian draw.
    """
    num_source = ctx.parts.embeddings.shape[0]
    new_ids = ctx.overlap.new_ids
    candidates = torch.tensor(
        [
            t.id
            for t in ctx.source_tokens
            if is_candidate_source(t) and t.id < len(source_has_vector) and bool(source_has_vector[t.id])
        ],
        dtype=torch.long,
    )
    with_vector = torch.tensor(
        [
            pos
            for pos, tid in enumerate(new_ids)
            if tid < len(target_has_vector) and bool(target_has_vector[tid])
        ],
        dtype=torch.long,
    )
    if len(candidates) == 0:
        logger.warning("no source token has a subword vector: every new row is a Gaussian draw")
        with_vector = with_vector[:0]
    logger.info(
        "source tokens with a subword vector: %s; new tokens with one: %s of %s",
        f"{len(candidates):,}",
        f"{len(with_vector):,}",
        f"{len(new_ids):,}",
    )
    fallback_mask = torch.ones(len(new_ids), dtype=torch.bool)
    fallback_mask[with_vector] = False
    fallback = fallback_mask.nonzero().flatten()
    if len(with_vector):
        query_ids = torch.tensor(new_ids, dtype=torch.long)[with_vector]
        found, best = topk_softmax_weights(
            target_vectors[query_ids],
            source_vectors[candidates],
            candidates,
            top_k,
            temperature,
            num_source,
            chunk_size=ctx.chunk_size,
            device=ctx.device,
        )
        weights = SparseWeights.scatter([(with_vector, found)], len(new_ids), num_source)
        info["mean_best_cosine"] = round(float(best.mean()), 4)
    else:
        weights = SparseWeights.empty(num_source, rows=len(new_ids))
    info.update(top_k=top_k, temperature=temperature, source_tokens_with_vector=int(len(candidates)))
    return rows_with_gaussian_fallback(
        ctx, weights, fallback, f"top-{top_k} softmax(cos / {temperature:g})", **info
    )
