"""Tiny in-process tokenizers and masked-LM models for unit tests."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    BertConfig,
    BertForMaskedLM,
    DistilBertConfig,
    DistilBertForMaskedLM,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaForMaskedLM,
)

from sembridge.tokenizer_training import wordpiece_pipeline, wrap_sentencepiece, wrap_wordpiece

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def wordpiece_tokenizer(
    tokens: Sequence[str], specials: Sequence[str] = BERT_SPECIALS
) -> PreTrainedTokenizerFast:
    vocab = {t: i for i, t in enumerate([*specials, *tokens])}
    model = models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##")
    return wrap_wordpiece(wordpiece_pipeline(model), model_max_length=None)


def sentencepiece_tokenizer(pieces: Sequence[str]) -> PreTrainedTokenizerFast:
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    vocab = [(t, 0.0) for t in specials] + [(p, -float(i + 1)) for i, p in enumerate(pieces)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=3))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    return wrap_sentencepiece(tok, model_max_length=None, template=False)


def bytelevel_tokenizer(tokens: Sequence[str]) -> PreTrainedTokenizerFast:
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    vocab = {t: i for i, t in enumerate([*specials, *tokens])}
    tok = Tokenizer(models.BPE(vocab, [], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return wrap_sentencepiece(tok, model_max_length=None, template=False)


def tiny_mlm(family: str, vocab_size: int, pad_token_id: int = 0, tie: bool = True, seed: int = 0):
    """A small random masked-LM model (bert, distilbert or roberta) with a non-zero decoder bias."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if family == "bert":
            config = BertConfig(
                vocab_size=vocab_size,
                hidden_size=16,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=32,
                pad_token_id=pad_token_id,
                tie_word_embeddings=tie,
            )
            model = BertForMaskedLM(config)
        elif family == "distilbert":
            config = DistilBertConfig(
                vocab_size=vocab_size,
                dim=16,
                n_layers=1,
                n_heads=2,
                hidden_dim=32,
                pad_token_id=pad_token_id,
                tie_word_embeddings=tie,
            )
            model = DistilBertForMaskedLM(config)
        elif family == "roberta":
            config = RobertaConfig(
                vocab_size=vocab_size,
                hidden_size=16,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=32,
                pad_token_id=pad_token_id,
                max_position_embeddings=40,
                tie_word_embeddings=tie,
            )
            model = RobertaForMaskedLM(config)
        else:
            raise ValueError(family)
        with torch.no_grad():
            model.get_output_embeddings().bias.normal_()
            if not tie:
                model.get_output_embeddings().weight.normal_()
    model.eval()
    return model


def save_tiny_source(path, family: str = "bert", words: Sequence[str] = (), tie: bool = True):
    """Save a tiny random masked-LM model and its WordPiece tokenizer as a source folder."""
    tok = wordpiece_tokenizer(list(words))
    model = tiny_mlm(family, len(tok.get_vocab()), tie=tie)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def save_tiny_bridge(path, words: Sequence[str], seed: int = 0):
    """Save a tiny random sentence-transformers model (BERT + mean pooling) as a bridge folder."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertModel

    tok = wordpiece_tokenizer(list(words))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = BertConfig(
            vocab_size=len(tok.get_vocab()),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        )
        BertModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    transformer = Transformer(str(path))
    model = SentenceTransformer(modules=[transformer, Pooling(16, "mean"), Normalize()], device="cpu")
    model.save(str(path))
    return path
