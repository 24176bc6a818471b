"""The fine-tuning objective: InfoNCE with in-batch negatives plus FLOPs regularisation.

For a batch of B queries q_i with positives d_i (and optional hard negatives), with SPLADE
vectors and dot-product scores s(q, d) = q . d, the contrastive part is

    L_rank = -1/B sum_i log( exp(s(q_i, d_i) / T) / sum_j exp(s(q_i, d_j) / T) )

over every document d_j of the batch (all positives and negatives), with temperature T
(sentence-transformers' ``scale`` = 1 / T). The FLOPs regulariser of a batch of vectors w is

    FLOPs(w) = sum_over_vocabulary_k ( mean_over_batch_i |w_ik| )^2

(Paria et al., 2020), applied separately to queries and to documents:

    L = L_rank + lambda_q * FLOPs(queries) + lambda_d * FLOPs(documents)

Both lambdas rise quadratically from 0 over the first part of training
(:class:`SpladeRegularizerWeightSchedulerCallback`), as in SPLADE's training recipes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sembridge.errors import SembridgeError

if TYPE_CHECKING:
    from sentence_transformers import SparseEncoder


def build_loss(
    model: SparseEncoder,
    query_reg: float,
    doc_reg: float,
    temperature: float = 1.0,
    gather_across_devices: bool = False,
) -> Any:
    """SpladeLoss(SparseMultipleNegativesRankingLoss(scale=1/temperature)) with the two FLOPs weights.

    Args:
        model: the SparseEncoder being trained.
        query_reg: lambda_q, the weight of the FLOPs regulariser on query vectors (>= 0).
        doc_reg: lambda_d, the weight of the FLOPs regulariser on document vectors (>= 0).
        temperature: T > 0; scores are divided by it (1.0: plain dot products, as SPLADE does).
        gather_across_devices: gather the vectors of every process before the loss, so that the
            in-batch negatives span all GPUs (useful with several processes).
    """
    from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss

    check_loss_settings(query_reg, doc_reg, temperature)
    ranking = SparseMultipleNegativesRankingLoss(
        model, scale=1.0 / temperature, gather_across_devices=gather_across_devices
    )
    return SpladeLoss(
        model,
        loss=ranking,
        document_regularizer_weight=doc_reg,
        query_regularizer_weight=query_reg,
    )


def build_regularizer_warmup(loss: Any, warmup_ratio: float) -> Any:
    """The callback that raises both FLOPs weights quadratically from 0 to their value.

    ``warmup_ratio`` is the fraction of the training steps the rise takes; 0 puts the full
    weights from the second optimisation step on.
    """
    from sentence_transformers.sparse_encoder.callbacks.splade_callbacks import (
        SpladeRegularizerWeightSchedulerCallback,
    )

    if not 0 <= warmup_ratio <= 1:
        raise SembridgeError(f"reg_warmup_ratio must lie in [0, 1], got {warmup_ratio}.")
    # The callback refuses 0; a tiny ratio gives a one-step warm-up (weights 0, then full).
    return SpladeRegularizerWeightSchedulerCallback(
        loss, scheduler_type="quadratic", warmup_ratio=max(warmup_ratio, 1e-9)
    )


def check_loss_settings(query_reg: float, doc_reg: float, temperature: float) -> None:
    """Refuse negative or non-finite FLOPs weights and a non-positive or infinite temperature."""
    for name, value in (("query_reg", query_reg), ("doc_reg", doc_reg)):
        if not math.isfinite(value):
            raise SembridgeError(f"{name} must be a finite number >= 0, got {value}.", hint="e.g. 5e-05")
        if value < 0:
            raise SembridgeError(f"{name} must be >= 0, got {value}.", hint="use 0 to switch it off")
    if not (math.isfinite(temperature) and temperature > 0):
        finite = "a finite number " if not math.isfinite(temperature) else ""
        raise SembridgeError(
            f"temperature must be {finite}> 0, got {temperature}.", hint="1.0 keeps plain dot products"
        )
