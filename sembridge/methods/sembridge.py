"""SemBridge: sparse Entmax weights over bridge similarities to ALL source tokens.

The bridge embeds every regular source token and every new target token (:mod:`sembridge.methods.bridge`);
each new token's weights are ``alpha-entmax`` of its cosines to all source tokens and its rows are
the convex combinations they give (:mod:`sembridge.methods.weights`). With ``position_aware`` each new
token draws only on the source tokens of its own position class (:mod:`sembridge.methods.position`).
``alpha`` is a number here: ``alpha="auto"`` is resolved by :mod:`sembridge.init.alpha_search`.
"""

from __future__ import annotations

import logging

import torch

from sembridge.log import progress, stage
from sembridge.methods.base import InitContext, Initializer, NewRows, rows_from_weights
from sembridge.methods.bridge import BridgeEmbedder
from sembridge.methods.catalogue import SEMBRIDGE
from sembridge.methods.position import position_aware_weights, position_class
from sembridge.methods.sparse_weights import SparseWeights
from sembridge.methods.weights import iter_entmax_weights, softmax_combine
from sembridge.vocab import is_candidate_source

logger = logging.getLogger("sembridge")

# alpha 1 rows are dense: the report keeps this many of the largest weights of each.
DENSE_ROWS_KEPT = 100


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
            backend=s.get("bridge_backend", "torch"),
        )
        with stage("bridge embeddings", ctx.timings):
            source_emb = embedder.embed([t.surface for t in candidates], "source tokens")
            target_emb = embedder.embed([t.surface for t in new_tokens], "new target tokens")

        candidate_ids = torch.tensor([t.id for t in candidates], dtype=torch.long)
        if alpha == 1 and not s.get("position_aware"):
            return self._dense_rows(ctx, target_emb, source_emb, candidate_ids, embedder)
        parts: list[SparseWeights] = []
        classes: dict[str, dict[str, int | bool]] = {}
        with stage("similarity + entmax", ctx.timings), progress(disable=not ctx.show_progress) as bar:
            task = bar.add_task(f"entmax alpha={alpha:g}", total=len(new_tokens))
            if s.get("position_aware"):
                # Each new token draws on the source tokens of its own position class only.
                local, classes = position_aware_weights(
                    target_emb,
                    source_emb,
                    [position_class(t) for t in new_tokens],
                    [position_class(t) for t in candidates],
                    alpha,
                    chunk_size=ctx.chunk_size,
                    device=ctx.device,
                    progress=lambda n: bar.advance(task, n),
                )
                parts.append(
                    SparseWeights(local.indptr, candidate_ids[local.indices], local.values, num_source)
                )
            else:
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
                bridge_backend=embedder.backend,
                bridge_cache_hits=embedder.cache_hits,
                bridge_cache_misses=embedder.cache_misses,
                candidate_source_tokens=len(candidates),
                position_aware=bool(s.get("position_aware")),
                **({"position_classes": classes} if classes else {}),
            )
        return rows

    def _dense_rows(
        self,
        ctx: InitContext,
        target_emb: torch.Tensor,
        source_emb: torch.Tensor,
        candidate_ids: torch.Tensor,
        embedder: BridgeEmbedder,
    ) -> NewRows:
        """alpha 1 (softmax): dense rows, combined chunk by chunk (``softmax_combine``), never all stored."""
        s = self.settings
        num_source = ctx.parts.embeddings.shape[0]
        parts = ctx.parts.named()
        with stage("similarity + entmax", ctx.timings), progress(disable=not ctx.show_progress) as bar:
            task = bar.add_task("softmax (alpha=1), combined in chunks", total=target_emb.shape[0])
            local, combined = softmax_combine(
                target_emb,
                source_emb,
                {name: part[candidate_ids.to(part.device)] for name, part in parts.items()},
                keep=DENSE_ROWS_KEPT,
                chunk_size=ctx.chunk_size,
                device=ctx.device,
                progress=lambda n: bar.advance(task, n),
            )
        # Columns index the candidate list: map them to source token ids.
        weights = local.with_columns(candidate_ids, num_source)
        weights.recombine = lambda matrix: local.recombine(matrix[candidate_ids.to(matrix.device)])
        logger.info("alpha 1: every row is dense over %d source tokens", len(candidate_ids))
        return NewRows(
            embeddings=combined["embeddings"],
            decoder=combined.get("decoder"),
            bias=combined.get("bias"),
            weights=weights,
            bias_policy="combined with the same weights as the embedding rows",
            info={
                "alpha": s["alpha"],
                "bridge": s["bridge"],
                "bridge_prompt": embedder.prompt,
                "bridge_backend": embedder.backend,
                "bridge_cache_hits": embedder.cache_hits,
                "bridge_cache_misses": embedder.cache_misses,
                "candidate_source_tokens": len(candidate_ids),
                "position_aware": False,
                "dense_rows": (
                    f"alpha 1 (softmax) gives every one of the {len(candidate_ids)} candidate source tokens "
                    f"a weight; rows were combined {ctx.chunk_size} at a time and the report keeps the "
                    f"{DENSE_ROWS_KEPT} largest weights of each"
                ),
            },
        )
