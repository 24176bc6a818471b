"""Position classes of vocabulary tokens, and SemBridge weights drawn within a position class.

The bridge embeds a token's surface string, so ``book`` and ``##book`` get one vector and the
weights of a new token split between the two. A token's *position class* says where in a word
it may stand, whatever the tokenizer family (see :func:`sembridge.vocab.canonical_form`):

* ``word-initial``: WordPiece tokens without ``##``; SentencePiece ``▁x``; byte-level BPE ``Ġx``;
* ``continuation``: WordPiece ``##x``; SentencePiece and byte-level tokens without the mark.

Position-aware weights (``sembridge init --position-aware``): a new token ``i`` of class ``c``
draws only on the source tokens ``S_c`` of the same class,

    ``w_i = alpha-entmax(cos(t_i, e_j) for j in S_c)``, zero outside ``S_c``,

falling back to every candidate source token when ``S_c`` is empty. The weights of each class
are computed by the ordinary :func:`sembridge.methods.weights.iter_entmax_weights` on the class's source
subset; their columns are mapped back to the full candidate list and the rows put back in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch

from sembridge.methods.sparse_weights import SparseWeights
from sembridge.methods.weights import iter_entmax_weights
from sembridge.vocab import VocabToken

__all__ = ["POSITION_CLASSES", "PositionClass", "position_class", "position_aware_weights"]

PositionClass = Literal["word-initial", "continuation"]
POSITION_CLASSES: tuple[PositionClass, ...] = ("word-initial", "continuation")


def position_class(token: VocabToken) -> PositionClass:
    """``word-initial`` when the token starts a word (its canonical form says so), else ``continuation``."""
    return "word-initial" if token.canonical.word_start else "continuation"


def position_aware_weights(
    target: torch.Tensor,
    source: torch.Tensor,
    target_classes: Sequence[str],
    source_classes: Sequence[str],
    alpha: float,
    chunk_size: int = 1024,
    device: torch.device | str | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[SparseWeights, dict[str, dict[str, int | bool]]]:
    """Entmax weights of each target row over the source rows of its own position class.

    ``target`` [n_target, dim] and ``source`` [n_source, dim] are bridge embeddings; the classes
    are one label per row. Columns of the result index ``source``'s rows. Returns the weights and,
    per class present in the target, the number of target and source rows and whether it fell
    back to every source row (no source row of that class).
    """
    if len(target_classes) != target.shape[0] or len(source_classes) != source.shape[0]:
        raise ValueError(
            f"need one class per row: {len(target_classes)} for {target.shape[0]} target rows, "
            f"{len(source_classes)} for {source.shape[0]} source rows."
        )
    n_source = source.shape[0]
    everything = torch.arange(n_source, dtype=torch.long)
    blocks: list[tuple[torch.Tensor, SparseWeights]] = []
    info: dict[str, dict[str, int | bool]] = {}
    for label in sorted(set(target_classes)):
        rows = torch.tensor([i for i, c in enumerate(target_classes) if c == label], dtype=torch.long)
        columns = torch.tensor([j for j, c in enumerate(source_classes) if c == label], dtype=torch.long)
        fallback = len(columns) == 0
        if fallback:
            columns = everything
        info[label] = {"target_tokens": len(rows), "source_tokens": len(columns), "fallback": fallback}
        parts = [
            chunk
            for _, chunk in iter_entmax_weights(
                target[rows], source[columns], alpha, chunk_size=chunk_size, device=device, progress=progress
            )
        ]
        weights = SparseWeights.concat(parts).to("cpu")
        # Columns index the class's subset: map them back to rows of ``source``.
        weights = SparseWeights(weights.indptr, columns[weights.indices], weights.values, n_source)
        blocks.append((rows, weights))
    if not blocks:
        return SparseWeights.empty(n_source), info
    return SparseWeights.scatter(blocks, target.shape[0], n_source), info
