from __future__ import annotations

import pytest
import torch

from sembridge.surgery import MLMParts, is_tied, mlm_parts, rebuild_mlm
from sembridge.vocab import find_overlap, vocab_tokens
from tests.helpers import sentencepiece_tokenizer, tiny_mlm, wordpiece_tokenizer

WORDS = ["the", "cat", "sat", "on", "mat", "##s", "dog", "a", "##ing", "run"]


def _permuted_parts(parts: MLMParts, target_to_source: torch.Tensor) -> MLMParts:
    return MLMParts(
        embeddings=parts.embeddings[target_to_source],
        decoder=None if parts.decoder is None else parts.decoder[target_to_source],
        bias=None if parts.bias is None else parts.bias[target_to_source],
    )


def _target_to_source(source_tok, target_tok) -> torch.Tensor:
    """For a target vocabulary that fully overlaps the source one: the source id of each target id."""
    overlap = find_overlap(vocab_tokens(source_tok), vocab_tokens(target_tok))
    assert overlap.num_new == 0
    target_to_source = torch.empty(len(target_tok.get_vocab()), dtype=torch.long)
    for m in overlap.matches:
        target_to_source[m.target_id] = m.source_id
    return target_to_source


@pytest.mark.parametrize("family", ["bert", "distilbert"])
@pytest.mark.parametrize("tie", [True, False])
def test_permuted_vocabulary_gives_identical_logits(family, tie):
    """A target vocabulary that is a permutation of the source one must give the same outputs."""
    source_tok = wordpiece_tokenizer(WORDS)
    target_tok = wordpiece_tokenizer(list(reversed(WORDS)))
    model = tiny_mlm(family, len(source_tok.get_vocab()), tie=tie)
    assert is_tied(model) == tie
    text = "the cats sat on a mat running"
    src_ids = source_tok(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        src_logits = model(input_ids=src_ids).logits

    target_to_source = _target_to_source(source_tok, target_tok)
    parts = mlm_parts(model)
    bias_before = parts.bias.clone()
    rebuild_mlm(model, _permuted_parts(parts, target_to_source), target_tok)

    tgt_ids = target_tok(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        tgt_logits = model(input_ids=tgt_ids).logits
    # Target logit of id t equals the source logit of the source id it copies.
    torch.testing.assert_close(tgt_logits, src_logits[..., target_to_source])
    assert is_tied(model) == tie
    out = model.get_output_embeddings()
    torch.testing.assert_close(out.bias.detach(), bias_before[target_to_source])
    assert torch.equal(parts.bias, bias_before), "mlm_parts must return copies"


def test_roberta_pad_id_change_keeps_positions():
    """RoBERTa derives positions from the pad id: moving it from 1 to 0 must not shift positions."""
    pieces = ["▁the", "▁cat", "s", "▁sat"]
    source_tok = sentencepiece_tokenizer(pieces)  # <pad> has id 1
    target_tok = wordpiece_tokenizer(["the", "cat", "##s", "sat"])  # [PAD] has id 0
    model = tiny_mlm("roberta", len(source_tok.get_vocab()), pad_token_id=1)
    src = source_tok("the cats sat")
    src_ids = torch.tensor([[0, *src["input_ids"], 2]])  # <s> ... </s>
    with torch.no_grad():
        src_logits = model(input_ids=src_ids).logits

    target_to_source = _target_to_source(source_tok, target_tok)
    rebuild_mlm(model, _permuted_parts(mlm_parts(model), target_to_source), target_tok)
    assert model.config.pad_token_id == 0
    tgt_ids = target_tok("the cats sat", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        tgt_logits = model(input_ids=tgt_ids).logits
    torch.testing.assert_close(tgt_logits, src_logits[..., target_to_source])


def test_config_ids_and_vocab_size_follow_target():
    source_tok = wordpiece_tokenizer(WORDS)
    target_tok = sentencepiece_tokenizer(["▁x", "▁y"])
    model = tiny_mlm("bert", len(source_tok.get_vocab()))
    n = len(target_tok.get_vocab())
    parts = MLMParts(torch.zeros(n, 16), None, torch.zeros(n))
    rebuild_mlm(model, parts, target_tok)
    assert model.config.vocab_size == n
    assert model.config.pad_token_id == target_tok.pad_token_id
    assert model.get_output_embeddings().weight.shape[0] == n


def test_rebuild_keeps_global_random_state():
    source_tok = wordpiece_tokenizer(WORDS)
    model = tiny_mlm("bert", len(source_tok.get_vocab()))
    target_tok = wordpiece_tokenizer(["x"])
    n = len(target_tok.get_vocab())
    state = torch.random.get_rng_state()
    rebuild_mlm(model, MLMParts(torch.zeros(n, 16), None, torch.zeros(n)), target_tok)
    assert torch.equal(state, torch.random.get_rng_state())
