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

With mined n-tuples (query, positive, negative_1..k) and a teacher's scores t_0 (the positive's),
t_1..t_k, ``L_rank`` can instead, or as well, distil the teacher (sentence-transformers' losses,
inside the same SpladeLoss with the same two FLOPs terms):

- ``kl`` (:class:`SparseDistillKLDivLoss`): ``KL(softmax(t / T_t) || softmax(s / T_s))`` over the
  k + 1 candidates of each query, s the student's dot products;
- ``margin-mse`` (:class:`SparseMarginMSELoss`): ``mean_j ((s_0 - s_j) - c (t_0 - t_j))^2``, the
  teacher's margins scaled by ``c`` (``margin_scale``) to the size of SPLADE dot products;
- ``infonce+kl``: the sum of InfoNCE (in-batch and mined negatives) and ``kl``.

``cached`` wraps the same loss in :class:`CachedSpladeLoss` (GradCache): a large batch, and so
many in-batch negatives, in the memory of ``mini_batch_size`` texts.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from torch import nn

from sembridge.errors import SembridgeError

if TYPE_CHECKING:
    from sentence_transformers import SparseEncoder


LOSSES = ("infonce", "margin-mse", "kl", "infonce+kl")
DISTILLATION_LOSSES = ("margin-mse", "kl", "infonce+kl")


class LossSum(nn.Module):
    """The sum of several losses on the same embeddings; each part is logged under its own name."""

    def __init__(self, parts: dict[str, nn.Module]) -> None:
        super().__init__()
        self.parts = nn.ModuleDict(parts)

    def compute_loss_from_embeddings(self, embeddings: list[Any], labels: Any) -> dict[str, Any]:
        return {
            f"{name}_loss": part.compute_loss_from_embeddings(embeddings, labels)
            for name, part in self.parts.items()
        }

    def get_config_dict(self) -> dict[str, Any]:
        return {name: type(part).__name__ for name, part in self.parts.items()}


def build_loss(
    model: SparseEncoder,
    query_reg: float,
    doc_reg: float,
    temperature: float = 1.0,
    gather_across_devices: bool = False,
    *,
    kind: str = "infonce",
    teacher_temperature: float = 1.0,
    student_temperature: float = 1.0,
    cached: bool = False,
    mini_batch_size: int = 32,
) -> Any:
    """The base loss ``kind`` inside SpladeLoss (or CachedSpladeLoss) with the two FLOPs weights.

    Args:
        model: the SparseEncoder being trained.
        query_reg: lambda_q, the weight of the FLOPs regulariser on query vectors (>= 0).
        doc_reg: lambda_d, the weight of the FLOPs regulariser on document vectors (>= 0).
        temperature: InfoNCE's T > 0; scores are divided by it (1.0: plain dot products, as SPLADE does).
        gather_across_devices: gather the vectors of every process before InfoNCE, so that the
            in-batch negatives span all GPUs (useful with several processes).
        kind: one of :data:`LOSSES` (see the module docstring); the distillation losses need
            teacher scores in the data (a ``scores`` column).
        teacher_temperature / student_temperature: ``kl``'s T_t and T_s.
        cached: CachedSpladeLoss (GradCache), embedding ``mini_batch_size`` texts at a time, so a
            large batch fits in the memory of a small one (any ``kind``).
    """
    from sentence_transformers.sparse_encoder import losses

    check_loss_settings(query_reg, doc_reg, temperature)
    check_loss_kind(kind, teacher_temperature, student_temperature, mini_batch_size)

    def infonce() -> nn.Module:
        return losses.SparseMultipleNegativesRankingLoss(
            model, scale=1.0 / temperature, gather_across_devices=gather_across_devices
        )

    def kl() -> nn.Module:
        return losses.SparseDistillKLDivLoss(
            model, student_temperature=student_temperature, teacher_temperature=teacher_temperature
        )

    base = {
        "infonce": infonce,
        "kl": kl,
        "margin-mse": lambda: losses.SparseMarginMSELoss(model),
        "infonce+kl": lambda: LossSum({"infonce": infonce(), "kl": kl()}),
    }[kind]()
    weights = {"document_regularizer_weight": doc_reg, "query_regularizer_weight": query_reg}
    if cached:
        return losses.CachedSpladeLoss(model, loss=base, mini_batch_size=mini_batch_size, **weights)
    return losses.SpladeLoss(model, loss=base, **weights)


def check_loss_kind(
    kind: str, teacher_temperature: float, student_temperature: float, mini_batch_size: int
) -> None:
    """Refuse an unknown loss, non-positive temperatures and a mini-batch that is not a positive integer."""
    if kind not in LOSSES:
        raise SembridgeError(f"unknown loss '{kind}'", hint=f"use one of: {', '.join(LOSSES)}")
    for flag, value in (
        ("--teacher-temperature", teacher_temperature),
        ("--student-temperature", student_temperature),
    ):
        if not (math.isfinite(value) and value > 0):
            raise SembridgeError(f"{flag} must be a finite number > 0, got {value}.")
    if isinstance(mini_batch_size, bool) or not isinstance(mini_batch_size, int) or mini_batch_size < 1:
        raise SembridgeError(f"--mini-batch-size must be a positive integer, got {mini_batch_size!r}.")


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
