"""What every initialisation method receives and returns.

All methods share the loading, the overlap copying, the MLM-head remapping, the config fixing
and the output format: a method only builds the rows of the new (non-overlapping) tokens.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from sembridge.surgery import MLMParts
from sembridge.vocab import Overlap, VocabToken
from sembridge.weights import SparseWeights, combine

if TYPE_CHECKING:
    from sembridge.initialize import InitConfig


@dataclass
class InitContext:
    """Everything a method may use. ``parts`` are the source model's vocabulary-sized tensors."""

    config: InitConfig
    source_tokens: list[VocabToken]
    target_tokens: list[VocabToken]
    overlap: Overlap
    parts: MLMParts
    generator: torch.Generator
    device: torch.device
    timings: dict[str, float]

    @property
    def new_tokens(self) -> list[VocabToken]:
        by_id = {t.id: t for t in self.target_tokens}
        return [by_id[i] for i in self.overlap.new_ids]


@dataclass
class NewRows:
    """Rows for the new tokens, in the order of ``overlap.new_ids``.

    ``weights`` (over source token ids) is set by methods whose rows are weighted combinations
    of source rows; ``inspect-token`` shows it. ``bias_policy`` says how the MLM bias was built.
    """

    embeddings: torch.Tensor
    decoder: torch.Tensor | None
    bias: torch.Tensor | None
    weights: SparseWeights | None = None
    bias_policy: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    # How a row with no source weights (an empty row of ``weights``, or every row when
    # ``weights`` is None) was built; shown by inspect-token. Empty: the method's summary.
    unweighted_note: str = ""


def rows_from_weights(weights: SparseWeights, parts: MLMParts, **info: Any) -> NewRows:
    """Combine every vocabulary-sized part with the same weights (input rows, untied decoder, bias)."""
    return NewRows(
        embeddings=combine(weights, parts.embeddings),
        decoder=None if parts.decoder is None else combine(weights, parts.decoder),
        bias=None if parts.bias is None else combine(weights, parts.bias),
        weights=weights,
        bias_policy="combined with the same weights as the embedding rows",
        info=dict(info),
    )


class Initializer(ABC):
    """An initialisation method for the rows of new tokens."""

    name: ClassVar[str]
    summary: ClassVar[str]

    @abstractmethod
    def build(self, ctx: InitContext) -> NewRows: ...
