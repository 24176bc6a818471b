"""Rows of the auxiliary-vector methods (FOCUS, OFA, WECHSEL): weights, else a Gaussian draw.

A new token with an auxiliary vector gets a weighted combination of source rows; one without
gets a joint per-dimension Gaussian draw of ``[embedding | decoder | bias]``
(:class:`~sembridge.methods.gaussian.JointGaussian`).
"""

from __future__ import annotations

from typing import Any

import torch

from sembridge.methods.base import InitContext, NewRows, rows_from_weights
from sembridge.methods.gaussian import JointGaussian
from sembridge.methods.sparse_weights import SparseWeights
from sembridge.methods.statistics import STATISTICS_NOTE


def rows_with_gaussian_fallback(
    ctx: InitContext,
    weights: SparseWeights,
    fallback: torch.Tensor,
    weighting: str,
    **info: Any,
) -> NewRows:
    """Weighted rows for the new tokens, and Gaussian draws for the rows at positions ``fallback``.

    ``weights`` has one row per new token; the rows at ``fallback`` (tokens without an auxiliary
    vector) are empty there and get a joint per-dimension Gaussian draw of
    ``[embedding | decoder | bias]`` instead (FOCUS's and WECHSEL's fallback).
    """
    rows = rows_from_weights(weights, ctx.parts, **info)
    gaussian = JointGaussian(ctx)
    if len(fallback):
        embeddings, decoder, bias = gaussian.draw(len(fallback))
        rows.embeddings[fallback] = embeddings
        if rows.decoder is not None and decoder is not None:
            rows.decoder[fallback] = decoder
        if rows.bias is not None and bias is not None:
            rows.bias[fallback] = bias
    rows.unweighted_note = "no auxiliary vector: drawn from the per-dimension Gaussian of the source rows"
    rows.info["random_fallback_rows"] = int(len(fallback))
    rows.info["weighted_rows"] = int(len(weights) - len(fallback))
    rows.bias_policy = (
        f"combined with the same {weighting} weights as the embedding rows; the {len(fallback):,} rows "
        "without an auxiliary vector drew their bias jointly with their embedding row from the "
        f"per-dimension Gaussian of the concatenated (embedding, decoder, bias) rows of the {STATISTICS_NOTE}"
    )
    return rows
