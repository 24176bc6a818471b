"""A bound on the memory of SPLADE's MLM logits, for encoding and for training.

A SPLADE encoder computes MLM logits ``batch x length x vocab`` and max-pools
``log(1 + relu(logits))`` over the positions. With a large target vocabulary the logits dominate
everything: 32 x 256 x 250k float32 is 8.2 GB, before the pooling's own copies (and, in training,
their gradients). sentence-transformers' ``SpladePooling(chunk_size=...)`` chunks the pooling,
but the logits it pools are already whole. :func:`bound_logits_memory` computes them a chunk of
positions at a time instead:

1. the MLM decoder (the model's output embeddings, ``hidden -> vocab``) passes its input through
   while the encoder's transformer module runs, so that module outputs the decoder's input,
   ``batch x length x hidden``;
2. the ``SpladePooling`` module applies the decoder to ``c`` positions at a time, with
   ``c = max(1, budget // (batch x vocab x bytes per value))``, pools each chunk with its own
   ``forward`` and combines the chunks (``max`` or sum): the result equals the unchunked one,
   since padded positions give 0 in both;
3. in training, when a batch needs more than one chunk, each chunk runs under
   ``torch.utils.checkpoint``: its logits are freed after the forward pass and recomputed during
   the backward pass, so a step holds one chunk's logits (and their few temporaries) at a time.
   A batch whose logits fit in one chunk is pooled as it is, with no recomputation: it already
   holds no more than the budget (``recompute_single_chunk`` restores the recomputation, for the
   benchmark that measures what skipping it saves).

Nothing is renamed or replaced in the module tree: the override lives on three module
instances, the weights and the saved folder are the same, and :func:`unbind_logits_memory`
removes it. Models whose output embeddings are not a linear layer are left as they are.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.utils.checkpoint
from torch.nn import functional as F

logger = logging.getLogger("sembridge")

# Bytes of one chunk of logits. Encoding holds about two chunks at a time (the logits and their
# masked copy), a training step about five (with the recomputation and the gradients).
DEFAULT_LOGITS_BUDGET = 256 * 1024 * 1024


class _DecoderState:
    """Whether the transformer module is running (the decoder then passes its input through)."""

    def __init__(self, decoder: torch.nn.Linear, budget: int, recompute_single_chunk: bool = False) -> None:
        self.decoder = decoder
        self.budget = budget
        self.recompute_single_chunk = recompute_single_chunk
        self.deferred = False


class _TransformerForward:
    """The transformer module's forward with the decoder deferred (its output: the decoder's input)."""

    def __init__(self, module: torch.nn.Module, state: _DecoderState) -> None:
        self.module = module
        self.state = state

    def __call__(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        self.state.deferred = True
        try:
            return type(self.module).forward(self.module, features, **kwargs)
        finally:
            self.state.deferred = False


class _DecoderForward:
    """The decoder: identity while deferred, else the ordinary linear layer."""

    def __init__(self, state: _DecoderState) -> None:
        self.state = state

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        decoder = self.state.decoder
        return hidden if self.state.deferred else F.linear(hidden, decoder.weight, decoder.bias)


class _PoolingForward:
    """``SpladePooling`` over the decoder's input: logits made and pooled ``c`` positions at a time."""

    def __init__(self, module: torch.nn.Module, state: _DecoderState) -> None:
        self.module = module
        self.state = state

    def positions_per_chunk(self, batch: int, vocab: int, element_size: int) -> int:
        return max(1, self.state.budget // max(1, batch * vocab * element_size))

    def _pool(
        self, hidden: torch.Tensor, mask: torch.Tensor, previous: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The chunk's pooled vectors, combined with the ``previous`` chunks' (max or sum)."""
        decoder = self.state.decoder
        logits = F.linear(hidden, decoder.weight, decoder.bias)
        pooled = type(self.module).forward(self.module, {"token_embeddings": logits, "attention_mask": mask})
        part = pooled["sentence_embedding"]
        if previous is None:
            return part
        if self.module.pooling_strategy == "max":
            # Ties go to the earlier chunk, as torch.max gives them to the first position
            # (torch.maximum would split their gradient between the two).
            return torch.where(part > previous, part, previous)
        return previous + part

    def __call__(self, features: dict[str, Any]) -> dict[str, Any]:
        module, decoder = self.module, self.state.decoder
        hidden = features["token_embeddings"]
        if "cu_seq_lens_q" in features or hidden.shape[-1] != decoder.in_features:
            return type(module).forward(module, features)  # logits already (an unpadded batch)
        mask = features["attention_mask"]
        batch, length, _ = hidden.shape
        size = torch.finfo(hidden.dtype).bits // 8 if hidden.dtype.is_floating_point else 4
        step = self.positions_per_chunk(batch, decoder.out_features, size)
        # One chunk holds the whole batch: its logits fit in the budget, recomputing them saves nothing.
        several = step < length or self.state.recompute_single_chunk
        checkpoint = torch.is_grad_enabled() and module.training and several
        pooled: torch.Tensor | None = None
        for start in range(0, length, step):
            args = (hidden[:, start : start + step], mask[:, start : start + step], pooled)
            if checkpoint:  # the combination too: a chunk keeps only its inputs for the backward pass
                pooled = torch.utils.checkpoint.checkpoint(self._pool, *args, use_reentrant=False)
            else:
                pooled = self._pool(*args)
        features["sentence_embedding"] = pooled
        return features


def _splade_pair(encoder: Any) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Linear] | None:
    """The encoder's fill-mask transformer module, its SpladePooling and its linear MLM decoder."""
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sparse_encoder.modules import SpladePooling

    transformers = [m for m in encoder.modules() if isinstance(m, Transformer)]
    poolings = [m for m in encoder.modules() if isinstance(m, SpladePooling)]
    if len(transformers) != 1 or len(poolings) != 1:
        return None
    transformer = transformers[0]
    hf_model = getattr(transformer, "model", None) or getattr(transformer, "auto_model", None)
    get_decoder = getattr(hf_model, "get_output_embeddings", None)
    decoder = get_decoder() if get_decoder is not None else None
    if type(decoder) is not torch.nn.Linear:
        return None
    return transformer, poolings[0], decoder


def bound_logits_memory(
    encoder: Any, budget: int | None = DEFAULT_LOGITS_BUDGET, *, recompute_single_chunk: bool = False
) -> bool:
    """Make ``encoder`` (a SPLADE SparseEncoder) compute its logits ``budget`` bytes at a time.

    Returns whether the bound is in place (False for ``budget=None`` and for encoders without a
    fill-mask transformer, a SpladePooling and a linear decoder). Calling it again changes the budget.
    ``recompute_single_chunk`` recomputes in the backward pass even a batch that fits in one chunk
    (the behaviour before it was skipped; only the training benchmark asks for it).
    """
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        raise ValueError(f"budget must be a positive number of bytes or None, got {budget!r}.")
    unbind_logits_memory(encoder)
    found = _splade_pair(encoder)
    if budget is None or found is None:
        return False
    transformer, pooling, decoder = found
    state = _DecoderState(decoder, budget, recompute_single_chunk)
    transformer.forward = _TransformerForward(transformer, state)
    decoder.forward = _DecoderForward(state)
    pooling.forward = _PoolingForward(pooling, state)
    return True


def logits_budget(encoder: Any) -> int | None:
    """The bound :func:`bound_logits_memory` set on ``encoder``, or None."""
    found = _splade_pair(encoder)
    forward = found[1].__dict__.get("forward") if found else None
    return forward.state.budget if isinstance(forward, _PoolingForward) else None


def unbind_logits_memory(encoder: Any) -> None:
    """Remove the bound: the modules' own ``forward`` methods apply again."""
    found = _splade_pair(encoder)
    if found is None:
        return
    for module in found:
        module.__dict__.pop("forward", None)
