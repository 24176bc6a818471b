"""Mean: every new row is the mean of the source rows."""

from __future__ import annotations

import logging

from sembridge.methods.base import InitContext, Initializer, NewRows
from sembridge.methods.catalogue import MEAN
from sembridge.methods.statistics import STATISTICS_NOTE, source_mean, split_joint, statistics_ids

logger = logging.getLogger("sembridge")


class MeanInitializer(Initializer):
    """Every new row = the mean of the source rows; the decoder row and the bias likewise.

    The mean is taken over the regular source tokens (special tokens and BERT's never-trained
    ``[unusedN]`` rows left out), for ``[embedding | decoder | bias]`` alike, so a new token's
    bias is the mean source bias.
    """

    spec = MEAN

    def build(self, ctx: InitContext) -> NewRows:
        ids = statistics_ids(ctx)
        mean = source_mean(ctx.parts, ids)[None, :]
        count = len(ctx.overlap.new_ids)
        embeddings, decoder, bias = split_joint(mean.expand(count, -1), ctx.parts)
        logger.info("mean: %s rows = the mean of %s source rows", f"{count:,}", f"{len(ids):,}")
        return NewRows(
            embeddings=embeddings.clone(),
            decoder=None if decoder is None else decoder.clone(),
            bias=None if bias is None else bias.clone(),
            weights=None,
            bias_policy=f"the mean bias of the {len(ids):,} {STATISTICS_NOTE}",
            info={"statistics_rows": int(len(ids)), "statistics_over": STATISTICS_NOTE},
        )
