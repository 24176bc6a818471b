"""Statistics of the source rows that the baselines build new rows from.

The MLM head follows the embedding rows in every method: :func:`joint_source_rows` puts each
source token's ``[embedding | decoder | bias]`` into one vector (the decoder only when untied,
the bias only when present), so the statistical baselines take the moments of those joint
vectors and :func:`split_joint` cuts a joint row back into its parts. The statistics are taken
over the regular source tokens (:func:`statistics_ids`).
"""

from __future__ import annotations

import torch

from sembridge.methods.base import InitContext
from sembridge.surgery import MLMParts
from sembridge.vocab import is_candidate_source

STATISTICS_NOTE = "regular source tokens (special tokens and unusedN placeholders left out)"

# Rows handled at a time when reading statistics and drawing (bounds float64 temporaries).
ROW_CHUNK = 4096


def statistics_ids(ctx: InitContext) -> torch.Tensor:
    """Ids of the source rows the statistics are taken over: every regular source token.

    Special tokens and BERT's never-trained ``[unusedN]`` rows are left out; a vocabulary with no
    regular token falls back to every row.
    """
    num_rows = ctx.parts.embeddings.shape[0]
    ids = [t.id for t in ctx.source_tokens if is_candidate_source(t) and t.id < num_rows]
    if not ids:
        return torch.arange(num_rows)
    return torch.tensor(ids, dtype=torch.long)


def joint_source_rows(parts: MLMParts, ids: torch.Tensor | None = None) -> torch.Tensor:
    """``[embedding | decoder | bias]`` of the given source ids (all rows if None), float64 [n, D]."""
    pieces = [parts.embeddings]
    if parts.decoder is not None:
        pieces.append(parts.decoder)
    if parts.bias is not None:
        pieces.append(parts.bias[:, None])
    if ids is not None:
        pieces = [p[ids] for p in pieces]
    return torch.cat([p.double() for p in pieces], dim=1)


def split_joint(
    joint: torch.Tensor, parts: MLMParts
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Undo :func:`joint_source_rows`: (embeddings, decoder or None, bias or None) in the parts' dtypes."""
    hidden = parts.embeddings.shape[1]
    embeddings = joint[:, :hidden].to(parts.embeddings.dtype)
    offset = hidden
    decoder = None
    if parts.decoder is not None:
        decoder = joint[:, offset : offset + parts.decoder.shape[1]].to(parts.decoder.dtype)
        offset += parts.decoder.shape[1]
    bias = None if parts.bias is None else joint[:, offset].to(parts.bias.dtype)
    return embeddings, decoder, bias


def source_mean(parts: MLMParts, ids: torch.Tensor) -> torch.Tensor:
    """Mean of the joint source rows of ``ids`` (float64 [D]), accumulated in chunks of rows."""
    total = None
    for begin in range(0, len(ids), ROW_CHUNK):
        chunk = joint_source_rows(parts, ids[begin : begin + ROW_CHUNK]).sum(0)
        total = chunk if total is None else total + chunk
    if total is None:
        raise ValueError("source statistics need at least one row, got 0.")
    return total / len(ids)
