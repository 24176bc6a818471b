"""SemBridge: sparse Entmax weights over bridge similarities to ALL source tokens.

The bridge embeds every regular source token and every new target token (:mod:`sembridge.bridge`);
each new token's weights are ``alpha-entmax`` of its cosines to all source tokens and its rows are
the convex combinations they give (:mod:`sembridge.weights`).
"""

from __future__ import annotations

import logging

import torch

from sembridge.bridge import BridgeEmbedder
from sembridge.log import progress, stage
from sembridge.methods.base import InitContext, Initializer, NewRows, rows_from_weights
from sembridge.methods.catalogue import SEMBRIDGE
from sembridge.sparse_weights import SparseWeights
from sembridge.vocab import is_candidate_source
from sembridge.weights import iter_entmax_weights

logger = logging.getLogger("sembridge")


class SemBridgeInitializer(Initializer):
    """SemBridge: Entmax(alpha) over the bridge's cosine similarities to every source token."""

    spec = SEMBRIDGE

    def build(self, ctx: InitContext) -> NewRows:
        s = self.settings
        alpha = s["alpha"]
        candidates = [t for t in ctx.source_tokens if is_candidate_source(t)]
        new_tokens = ctx.new_tokens
        num_source = ctx.parts.embeddings.shape[0]
        if not new_tokens:
            return rows_from_weights(SparseWeights.empty(num_source), ctx.parts, alpha=alpha)

        embedder = BridgeEmbedder(
            s["bridge"],
            device=ctx.device,
            batch_size=s["batch_size"],
            cache_dir=s.get("cache_dir"),
            prompt=s.get("bridge_prompt"),
            show_progress=ctx.show_progress,
        )
        with stage("bridge embeddings", ctx.timings):
            source_emb = embedder.embed([t.surface for t in candidates], "source tokens")
            target_emb = embedder.embed([t.surface for t in new_tokens], "new target tokens")

        candidate_ids = torch.tensor([t.id for t in candidates], dtype=torch.long)
        parts: list[SparseWeights] = []
        with stage("similarity + entmax", ctx.timings), progress(disable=not ctx.show_progress) as bar:
            task = bar.add_task(f"entmax alpha={alpha:g}", total=len(new_tokens))
            for _, chunk in iter_entmax_weights(
                target_emb,
                source_emb,
                alpha,
                chunk_size=ctx.chunk_size,
                device=ctx.device,
                progress=lambda n: bar.advance(task, n),
            ):
                # Columns index the candidate list: map them to source token ids.
                parts.append(
                    SparseWeights(
                        chunk.indptr, candidate_ids[chunk.indices.cpu()], chunk.values.cpu(), num_source
                    )
                )
        weights = SparseWeights.concat(parts)
        sizes = weights.support_sizes().float()
        logger.info(
            "support sizes: mean %.1f, median %.0f, max %d", sizes.mean(), sizes.median(), int(sizes.max())
        )
        with stage("combine rows", ctx.timings):
            rows = rows_from_weights(
                weights,
                ctx.parts,
                alpha=alpha,
                bridge=s["bridge"],
                bridge_prompt=embedder.prompt,
                bridge_cache_hits=embedder.cache_hits,
                bridge_cache_misses=embedder.cache_misses,
                candidate_source_tokens=len(candidates),
            )
        return rows
