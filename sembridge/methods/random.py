"""Random: every new row drawn from N(0, initializer_range), as a freshly initialised model would be."""

from __future__ import annotations

import logging

import torch

from sembridge.methods.base import InitContext, Initializer, NewRows
from sembridge.methods.catalogue import RANDOM

logger = logging.getLogger("sembridge")

DEFAULT_STD = 0.02


class RandomInitializer(Initializer):
    """New input rows (and untied decoder rows) ~ N(0, sigma^2) per entry; new biases 0.

    ``sigma`` is ``--init-std`` if given, else the source config's ``initializer_range`` (0.02
    when the config has none): the draw that ``transformers`` gives a freshly initialised
    embedding or decoder row. A fresh MLM head starts its bias at zero, so new tokens do too.
    """

    spec = RANDOM

    def std(self) -> tuple[float, str]:
        if "init_std" in self.settings:
            return float(self.settings["init_std"]), "--init-std"
        config = self.resources.source_config
        value = getattr(config, "initializer_range", None) if config is not None else None
        if value is None:
            return DEFAULT_STD, "default 0.02 (the source config has no initializer_range)"
        return float(value), "initializer_range of the source config"

    def build(self, ctx: InitContext) -> NewRows:
        parts = ctx.parts
        count = len(ctx.overlap.new_ids)
        std, origin = self.std()
        hidden = parts.embeddings.shape[1]
        embeddings = torch.randn(count, hidden, generator=ctx.generator, dtype=torch.float64) * std
        decoder = None
        if parts.decoder is not None:
            decoder = (
                torch.randn(count, parts.decoder.shape[1], generator=ctx.generator, dtype=torch.float64) * std
            )
            decoder = decoder.to(parts.decoder.dtype)
        bias = None if parts.bias is None else torch.zeros(count, dtype=parts.bias.dtype)
        logger.info("random: %s rows from N(0, %g^2) (%s)", f"{count:,}", std, origin)
        return NewRows(
            embeddings=embeddings.to(parts.embeddings.dtype),
            decoder=decoder,
            bias=bias,
            weights=None,
            bias_policy="zeros, as in a freshly initialised MLM head (rows drawn from N(0, std^2))",
            info={"std": std, "std_from": origin},
        )
