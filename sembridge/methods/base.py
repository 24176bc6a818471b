"""What every initialisation method declares, receives and returns.

All methods share the loading, the overlap copying, the MLM-head remapping, the config fixing
and the output format: a method only builds the rows of the new (non-overlapping) tokens. A
method's declaration (:class:`~sembridge.methods.catalogue.MethodSpec`) lists its options; it gets
their checked values, the loaded objects it may need (:class:`MethodResources`) and the vocabularies
and tensors of one run (:class:`InitContext`); it never sees the orchestrator's configuration.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from sembridge.errors import SembridgeError
from sembridge.methods.catalogue import MethodSpec
from sembridge.methods.options import check_method_options
from sembridge.methods.sparse_weights import SparseWeights
from sembridge.methods.weights import combine
from sembridge.surgery import MLMParts
from sembridge.vocab import Overlap, VocabToken


@dataclass
class InitContext:
    """One run's inputs. ``parts`` are the source model's vocabulary-sized tensors.

    ``chunk_size`` bounds the rows of a similarity block; ``show_progress`` shows progress bars.
    """

    source_tokens: list[VocabToken]
    target_tokens: list[VocabToken]
    overlap: Overlap
    parts: MLMParts
    generator: torch.Generator
    device: torch.device
    timings: dict[str, float]
    chunk_size: int = 1024
    show_progress: bool = True

    @property
    def new_tokens(self) -> list[VocabToken]:
        by_id = {t.id: t for t in self.target_tokens}
        return [by_id[i] for i in self.overlap.new_ids]


@dataclass
class MethodResources:
    """Loaded objects some methods need beyond :class:`InitContext`: tokenizers and the source config."""

    source_tokenizer: Any = None
    target_tokenizer: Any = None
    source_config: Any = None


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
    """An initialisation method for the rows of new tokens.

    ``spec`` is the method's declaration in :mod:`sembridge.methods.catalogue` (name, options, ...);
    ``settings`` holds the checked values of its options, defaults filled in.
    """

    spec: ClassVar[MethodSpec]

    def __init__(
        self, options: Mapping[str, Any] | None = None, resources: MethodResources | None = None
    ) -> None:
        spec = self.spec
        self.settings = check_method_options(
            spec.name, options, {spec.name: spec.options}, {spec.name: spec.example}
        )
        self.resources = resources or MethodResources()

    @property
    def name(self) -> str:
        return self.spec.name

    def need(self, what: str) -> Any:
        """The loaded object ``what`` of :class:`MethodResources`, or an error naming it."""
        value = getattr(self.resources, what)
        if value is None:
            raise SembridgeError(
                f"method '{self.name}' needs the {what.replace('_', ' ')}",
                hint="pass MethodResources to the initializer (sembridge.methods.create_initializer does it)",
            )
        return value

    @abstractmethod
    def build(self, ctx: InitContext) -> NewRows: ...
