"""Gaussian baselines: new rows drawn from the moments of the source rows.

* ``gaussian``: per-dimension mean and standard deviation (a diagonal covariance);
* ``mv-gaussian``: mean and full covariance, factorised by a symmetric eigendecomposition
  (no inverse, no Cholesky: a singular covariance is fine).

The embedding row, the untied decoder row and the bias of a new token are one joint draw from the
moments of the source ``[embedding | decoder | bias]`` vectors, so the bias follows its row.
"""

from __future__ import annotations

import logging

from sembridge.methods.base import InitContext, NewRows
from sembridge.methods.common import STATISTICS_NOTE, BaselineInitializer, JointGaussian

logger = logging.getLogger("sembridge")


class GaussianInitializer(BaselineInitializer):
    """New rows ~ N(mu, diag(sigma^2)), mu and sigma per dimension of the source rows."""

    name = "gaussian"
    summary = "rows drawn from the per-dimension mean and std of the source rows"
    inputs = "nothing"
    example = "sembridge init -s splade-v3 -t ARBERT --method gaussian -o ar-gaussian"
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

    name = "mv-gaussian"
    summary = "rows drawn from the mean and full covariance of the source rows"
    example = "sembridge init -s splade-v3 -t ARBERT --method mv-gaussian -o ar-mvg"
    full_covariance = True
