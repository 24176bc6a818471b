"""Vocabulary surgery on a masked-LM model: new input rows, decoder rows and bias, config ids.

In a SPLADE model the MLM decoder defines the sparse vocabulary. Its weight is usually tied to
the input embeddings and it has a bias of vocabulary size; both must follow the new vocabulary
(the reference code only resizes, so target id i silently keeps source id i's bias).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedModel

from sembridge.errors import SembridgeError

logger = logging.getLogger("sembridge")


@dataclass
class MLMParts:
    """The vocabulary-sized parameters of a masked-LM model.

    ``decoder`` is None when the decoder weight is tied to ``embeddings``; ``bias`` is None when
    the decoder has no bias.
    """

    embeddings: torch.Tensor
    decoder: torch.Tensor | None
    bias: torch.Tensor | None

    @property
    def tied(self) -> bool:
        return self.decoder is None

    def named(self) -> dict[str, torch.Tensor]:
        """The parts that exist, by name (what a weighted method must combine)."""
        parts = {"embeddings": self.embeddings, "decoder": self.decoder, "bias": self.bias}
        return {k: v for k, v in parts.items() if v is not None}


def is_tied(model: PreTrainedModel) -> bool:
    out = model.get_output_embeddings()
    return out is not None and out.weight is model.get_input_embeddings().weight


def mlm_parts(model: PreTrainedModel) -> MLMParts:
    """Read (copies of) the vocabulary-sized parameters of ``model``."""
    out = model.get_output_embeddings()
    if out is None:
        raise SembridgeError(
            f"model {type(model).__name__} has no output (MLM decoder) layer",
            hint="the source must be a masked-LM model (BERT, DistilBERT or RoBERTa family)",
        )
    emb = model.get_input_embeddings().weight.detach().clone()
    decoder = None if is_tied(model) else out.weight.detach().clone()
    bias = out.bias.detach().clone() if getattr(out, "bias", None) is not None else None
    return MLMParts(emb, decoder, bias)


def rebuild_mlm(model: PreTrainedModel, parts: MLMParts, tokenizer: Any) -> PreTrainedModel:
    """Give ``model`` the vocabulary of ``tokenizer`` with the rows in ``parts`` (in place).

    Resizes the input embeddings, the decoder and its bias, writes the new rows, re-ties tied
    weights, and sets the config's vocab_size and special token ids from the tokenizer.
    """
    new_size = parts.embeddings.shape[0]
    was_tied = is_tied(model)
    if was_tied != parts.tied:
        raise ValueError(f"parts.tied={parts.tied} but the model's decoder tied={was_tied}.")
    # resize_token_embeddings draws the new rows from the global generator: keep it untouched.
    with torch.random.fork_rng(devices=[]):
        model.resize_token_embeddings(new_size, mean_resizing=False)
    inp = model.get_input_embeddings()
    out = model.get_output_embeddings()
    with torch.no_grad():
        inp.weight.copy_(parts.embeddings.to(inp.weight.dtype))
        if not parts.tied:
            out.weight.copy_(parts.decoder.to(out.weight.dtype))
        if parts.bias is not None:
            out.bias.copy_(parts.bias.to(out.bias.dtype))
    if was_tied:
        model.tie_weights()
    _sync_bias_aliases(model)
    _fix_config_ids(model, tokenizer)
    return model


def _sync_bias_aliases(model: PreTrainedModel) -> None:
    """Some heads keep the bias twice (``lm_head.bias`` and ``lm_head.decoder.bias``): keep them one."""
    out = model.get_output_embeddings()
    for head_name in ("lm_head", "cls"):
        head = getattr(model, head_name, None)
        if head is None:
            continue
        head = getattr(head, "predictions", head)
        if getattr(head, "bias", None) is not None and out.bias is not None and head.bias is not out.bias:
            head.bias = out.bias


def _fix_config_ids(model: PreTrainedModel, tokenizer: Any) -> None:
    config = model.config
    old_pad = config.pad_token_id
    config.vocab_size = model.get_input_embeddings().weight.shape[0]
    for role in ("pad", "bos", "eos", "cls", "sep"):
        token_id = getattr(tokenizer, f"{role}_token_id", None)
        if token_id is not None or hasattr(config, f"{role}_token_id"):
            setattr(config, f"{role}_token_id", token_id)
    new_pad = config.pad_token_id
    inp = model.get_input_embeddings()
    if hasattr(inp, "padding_idx"):
        inp.padding_idx = new_pad
    embeddings = getattr(getattr(model, model.base_model_prefix, None), "embeddings", None)
    if embeddings is not None and hasattr(embeddings, "padding_idx") and old_pad is not None:
        _shift_roberta_positions(embeddings, old_pad, new_pad)


def _shift_roberta_positions(embeddings: torch.nn.Module, old_pad: int, new_pad: int | None) -> None:
    """RoBERTa numbers positions from ``padding_idx + 1``: keep each position's row when the pad id moves.

    With the new pad id p', the token at position i (1-based) gets position id p' + i; it must
    see the row that the source model gave it, old row p + i. So new row r = old row r + (p - p').
    """
    if new_pad is None:
        raise SembridgeError(
            "the target tokenizer has no pad token, but the RoBERTa-family source derives positions from it",
            hint="use a target tokenizer with a pad token",
        )
    shift = old_pad - new_pad
    embeddings.padding_idx = new_pad
    table = getattr(embeddings, "position_embeddings", None)
    if table is None:
        return
    table.padding_idx = new_pad
    if shift == 0:
        return
    with torch.no_grad():
        old = table.weight.detach().clone()
        n = old.shape[0]
        rows = torch.arange(n) + shift
        rows = rows.clamp(0, n - 1)
        table.weight.copy_(old[rows])
    logger.info("RoBERTa position table shifted by %d rows for pad id %d -> %d", shift, old_pad, new_pad)
