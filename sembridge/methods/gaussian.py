"""The Gaussian of the joint source rows, and the baselines that draw new rows from it.

* :class:`JointGaussian`: per-dimension (diagonal) or full-covariance Gaussian of the source
  ``[embedding | decoder | bias]`` vectors (:mod:`sembridge.methods.statistics`), drawn from the
  run's seeded generator; FOCUS, OFA and WECHSEL draw from it for tokens without a vector;
* ``gaussian``: new rows from the per-dimension mean and standard deviation;
* ``mv-gaussian``: new rows from the mean and full covariance, factorised by a symmetric
  eigendecomposition (no inverse, no Cholesky: a singular covariance is fine).

The embedding row, the untied decoder row and the bias of a new token are one joint draw, so the
bias follows its row.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from sembridge.methods.base import InitContext, Initializer, NewRows
from sembridge.methods.catalogue import GAUSSIAN, MV_GAUSSIAN
from sembridge.methods.statistics import (
    ROW_CHUNK,
    STATISTICS_NOTE,
    joint_source_rows,
    source_mean,
    split_joint,
    statistics_ids,
)
from sembridge.surgery import MLMParts

logger = logging.getLogger("sembridge")


def gaussian_factor(
    parts: MLMParts, ids: torch.Tensor, full_covariance: bool
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Mean and a factor ``L`` of the covariance (``L L^T = Sigma``) of the joint source rows of ``ids``.

    Univariate: ``L`` is the vector of per-dimension standard deviations (diagonal covariance).
    Multivariate: ``Sigma = X_c^T X_c / (n - 1)`` is factorised by its symmetric eigendecomposition
    ``Sigma = V diag(lambda) V^T``, ``L = V diag(sqrt(max(lambda, 0)))``: exact for a singular or
    rank-deficient covariance, which a Cholesky factorisation or an inverse would refuse. Both
    passes (mean, then centred second moments) run in float64 over chunks of rows.
    """
    n = len(ids)
    mean = source_mean(parts, ids)
    dim = mean.shape[0]
    if n < 2:
        zeros = torch.zeros(dim, dim, dtype=torch.float64) if full_covariance else torch.zeros_like(mean)
        return mean, zeros, ({"covariance_rank": 0, "covariance_dim": dim} if full_covariance else {})
    scatter = torch.zeros(dim, dim, dtype=torch.float64) if full_covariance else torch.zeros_like(mean)
    for begin in range(0, n, ROW_CHUNK):
        centred = joint_source_rows(parts, ids[begin : begin + ROW_CHUNK]) - mean
        scatter += centred.T @ centred if full_covariance else centred.pow(2).sum(0)
    if not full_covariance:
        return mean, scatter.div(n - 1).sqrt(), {}
    covariance = scatter / (n - 1)
    covariance = (covariance + covariance.T) / 2
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    tolerance = eigenvalues.abs().max().clamp_min(1e-300) * dim * torch.finfo(torch.float64).eps
    rank = int((eigenvalues > tolerance).sum())
    factor = eigenvectors * eigenvalues.clamp_min(0).sqrt()[None, :]
    return mean, factor, {"covariance_rank": rank, "covariance_dim": dim}


def gaussian_draws(
    mean: torch.Tensor, factor: torch.Tensor, count: int, generator: torch.Generator
) -> torch.Tensor:
    """``count`` draws ``mean + L z`` with ``z ~ N(0, I)`` from ``generator`` (float64 [count, D])."""
    z = torch.randn(count, mean.shape[0], generator=generator, dtype=torch.float64)
    if factor.ndim == 1:
        return mean + z * factor
    return mean + z @ factor.T


class JointGaussian:
    """Per-dimension (or full-covariance) Gaussian of the joint source rows, drawn from lazily."""

    def __init__(self, ctx: InitContext, full_covariance: bool = False) -> None:
        self.ctx = ctx
        self.full_covariance = full_covariance
        self.ids = statistics_ids(ctx)
        self._moments: tuple[torch.Tensor, torch.Tensor, dict[str, Any]] | None = None

    def moments(self) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        if self._moments is None:
            self._moments = gaussian_factor(self.ctx.parts, self.ids, self.full_covariance)
        return self._moments

    def draw(self, count: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``count`` joint draws, split into (embeddings, decoder or None, bias or None) rows."""
        mean, factor, _ = self.moments()
        parts = self.ctx.parts
        embeddings = torch.empty(count, parts.embeddings.shape[1], dtype=parts.embeddings.dtype)
        decoder = (
            None
            if parts.decoder is None
            else torch.empty(count, parts.decoder.shape[1], dtype=parts.decoder.dtype)
        )
        bias = None if parts.bias is None else torch.empty(count, dtype=parts.bias.dtype)
        for begin in range(0, count, ROW_CHUNK):
            rows = gaussian_draws(mean, factor, min(ROW_CHUNK, count - begin), self.ctx.generator)
            e, d, b = split_joint(rows, parts)
            end = begin + rows.shape[0]
            embeddings[begin:end] = e
            if decoder is not None:
                decoder[begin:end] = d
            if bias is not None:
                bias[begin:end] = b
        return embeddings, decoder, bias


class GaussianInitializer(Initializer):
    """New rows ~ N(mu, diag(sigma^2)), mu and sigma per dimension of the source rows."""

    spec = GAUSSIAN
    full_covariance = False

    def build(self, ctx: InitContext) -> NewRows:
        gaussian = JointGaussian(ctx, full_covariance=self.full_covariance)
        count = len(ctx.overlap.new_ids)
        embeddings, decoder, bias = gaussian.draw(count)
        _, _, stats = gaussian.moments()
        kind = "full covariance" if self.full_covariance else "per-dimension mean and std"
        logger.info(
            "%s: %s rows drawn (%s of %s source rows)",
            self.name,
            f"{count:,}",
            kind,
            f"{len(gaussian.ids):,}",
        )
        return NewRows(
            embeddings=embeddings,
            decoder=decoder,
            bias=bias,
            weights=None,
            bias_policy=(
                f"drawn jointly with the embedding row from the {kind} of the concatenated "
                f"(embedding, decoder, bias) rows "
                f"over the {len(gaussian.ids):,} {STATISTICS_NOTE}"
            ),
            info={
                "statistics_rows": int(len(gaussian.ids)),
                "statistics_over": STATISTICS_NOTE,
                "joint_dimensions": ["embedding"]
                + (["decoder"] if ctx.parts.decoder is not None else [])
                + (["bias"] if ctx.parts.bias is not None else []),
                **stats,
            },
        )


class MultivariateGaussianInitializer(GaussianInitializer):
    """New rows ~ N(mu, Sigma) with the full covariance of the source rows."""

    spec = MV_GAUSSIAN
    full_covariance = True
