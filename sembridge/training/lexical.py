"""BM25's weights of a text's own word pieces, added to its learned sparse vector.

A fine-tuned student keeps few of a text's own pieces active (see
:func:`sembridge.encoding.own_piece_share`): on the Arabic dev split, after training, a document's
vector holds 12-18% of its own pieces, and BM25's exact matching is what it loses to. This module
gives the vector that matching back, in the same vocabulary and the same dot product, so a single
inverted index scores both at once. After the SPLADE pooling, the vector ``w`` of a text becomes

    w'(t) = w(t) + sqrt(c * IDF(t)) * tf(t) / (tf(t) + k1 * L)     for every piece t of the text

with ``tf``, ``L = 1 - b + b * |text| / avgdl`` and ``IDF`` exactly as in the BM25 baseline
(:mod:`sembridge.evaluation.bm25`, bm25s' Lucene variant, its ``k1`` and ``b``), ``IDF`` and
``avgdl`` fitted once on a set of documents (the training documents), and ``c`` the weight of the
lexical part. Queries and documents get the same function, so for a query whose pieces occur
once each the lexical part of ``q' . d'`` is ``c`` times BM25's score up to the query's own
constant; the learned part and the cross terms are the model's. Special tokens have IDF 0. The
lexical part has no parameters. ``finetune --lexical-weight`` adds it after training: with it in
place from the start, on the Arabic dev split, the ranking loss switched the learned part off
within 25 steps (docs/commands/finetune.md), so a model that has it trains without it.

The module is an ordinary sentence-transformers module after ``SpladePooling``: it is saved in
the model folder (``modules.json`` names ``sembridge.training.lexical.LexicalWeights``) and every
encode, evaluation and vector export of the model includes it. Loading such a folder needs
sembridge installed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from sentence_transformers.base.modules.module import Module

from sembridge.errors import SembridgeError
from sembridge.evaluation.bm25 import BM25Params, bm25_idf, tokenize


class LexicalWeights(Module):
    """Adds BM25's weights of a text's own pieces to its sparse vector (see the module docstring).

    Args:
        idf: one IDF per vocabulary row (0 for special tokens and pieces never to count).
        avg_length: the mean length in pieces of the documents the IDF was fitted on.
        weight: ``c``, the weight of the lexical part against the learned one (> 0).
        k1, b: BM25's parameters.
    """

    config_keys: list[str] = ["vocab_size", "avg_length", "weight", "k1", "b"]
    config_file_name = "config.json"

    def __init__(
        self,
        idf: torch.Tensor | None = None,
        avg_length: float = 1.0,
        weight: float = 1.0,
        k1: float = BM25Params.k1,
        b: float = BM25Params.b,
        vocab_size: int | None = None,
    ) -> None:
        super().__init__()
        check_lexical_weight(weight)
        BM25Params(k1=k1, b=b)  # the BM25 baseline's own checks
        if idf is None:
            if vocab_size is None:
                raise SembridgeError(
                    "LexicalWeights needs its IDF table or the vocabulary size to load one into"
                )
            idf = torch.zeros(vocab_size)
        if not (np.isfinite(avg_length) and avg_length > 0):
            raise SembridgeError(f"the documents' mean length must be a number > 0, got {avg_length}.")
        self.register_buffer("idf", idf.detach().float().clone())
        self.vocab_size = int(self.idf.numel())
        self.avg_length = float(avg_length)
        self.weight = float(weight)
        self.k1 = float(k1)
        self.b = float(b)

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        ids = features["input_ids"]
        mask = features["attention_mask"].to(self.idf.dtype)
        embedding = features["sentence_embedding"]
        counted = mask * (self.idf[ids] > 0).to(mask.dtype)  # special tokens and padding count nothing
        tf = torch.zeros(ids.shape[0], self.vocab_size, dtype=self.idf.dtype, device=ids.device)
        tf.scatter_add_(1, ids, counted)
        length = counted.sum(dim=1, keepdim=True)
        norm = self.k1 * (1 - self.b + self.b * length / self.avg_length)
        lexical = torch.sqrt(self.weight * self.idf) * tf / (tf + norm).clamp_min(1e-9)
        features["sentence_embedding"] = embedding + lexical.to(embedding.dtype)
        return features

    def get_embedding_dimension(self) -> int:
        return self.vocab_size

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs: Any) -> LexicalWeights:
        hub = {
            key: kwargs[key]
            for key in ("token", "cache_folder", "revision", "local_files_only")
            if key in kwargs
        }
        config = cls.load_config(model_name_or_path=model_name_or_path, subfolder=subfolder, **hub)
        module = cls(**config)
        return cls.load_torch_weights(
            model_name_or_path=model_name_or_path, subfolder=subfolder, model=module, **hub
        )

    def __repr__(self) -> str:
        return (
            f"LexicalWeights(weight={self.weight}, k1={self.k1}, b={self.b}, "
            f"avg_length={self.avg_length:.1f}, vocab_size={self.vocab_size})"
        )


def check_lexical_weight(weight: float, name: str = "the lexical weight") -> None:
    """Refuse a lexical weight that is not a finite number > 0 (``name`` says which setting)."""
    if (
        isinstance(weight, bool)
        or not isinstance(weight, (int, float))
        or not (np.isfinite(weight) and weight > 0)
    ):
        raise SembridgeError(
            f"{name} must be a finite number > 0, got {weight!r}.",
            hint="8 is the weight chosen on the Arabic dev split (docs/commands/finetune.md)",
        )


def fit_idf(
    tokenizer: Any, documents: Sequence[str], vocab_size: int, show_progress: bool = False
) -> tuple[torch.Tensor, float]:
    """BM25's IDF of every vocabulary row over ``documents`` and their mean length in pieces.

    Documents are cut as the BM25 baseline cuts them (:func:`sembridge.evaluation.bm25.tokenize`);
    special tokens get IDF 0, so the module never counts them. A piece no document holds gets the
    IDF of ``df = 0``, the highest.
    """
    from sembridge.encoding.terms import special_token_ids

    documents = list(documents)
    if not documents:
        raise SembridgeError(
            "no documents to fit the lexical weights' IDF on", hint="give a non-empty corpus"
        )
    pieces = tokenize(tokenizer, documents, show_progress, "lexical weights: tokenizing documents")
    df = np.zeros(vocab_size, dtype=np.float64)
    for ids in pieces:
        df[np.unique(np.asarray(ids, dtype=np.int64))] += 1
    idf = bm25_idf(df, len(documents), special_token_ids(tokenizer).tolist())
    lengths = [sum(1 for i in ids if idf[i] > 0) for ids in pieces]
    return torch.from_numpy(idf).float(), max(float(np.mean(lengths)), 1.0)


def lexical_module(encoder: Any) -> LexicalWeights | None:
    """The encoder's LexicalWeights module, or None."""
    found = [module for module in encoder if isinstance(module, LexicalWeights)]
    return found[0] if found else None


def fit_lexical_weights(
    encoder: Any,
    documents: Iterable[str],
    weight: float = 1.0,
    params: BM25Params | None = None,
    show_progress: bool = False,
) -> LexicalWeights:
    """A LexicalWeights module for ``encoder``'s tokenizer and vocabulary, IDF fitted on ``documents``
    (not added to the encoder: :func:`add_lexical_weights` does that)."""
    check_lexical_weight(weight)
    params = params or BM25Params()
    mlm = [m for m in encoder if hasattr(m, "auto_model")]
    if not mlm:
        raise SembridgeError(
            "lexical weights need a SPLADE model (a masked LM and SpladePooling)",
            hint="inference-free Router models are not supported",
        )
    vocab_size = int(mlm[0].auto_model.config.vocab_size)
    idf, avg_length = fit_idf(encoder.tokenizer, list(documents), vocab_size, show_progress)
    return LexicalWeights(idf, avg_length, weight=weight, k1=params.k1, b=params.b).to(encoder.device)


def add_lexical_weights(
    encoder: Any,
    documents: Iterable[str],
    weight: float = 1.0,
    params: BM25Params | None = None,
    show_progress: bool = False,
) -> LexicalWeights:
    """Fit BM25's IDF on ``documents`` and add (or replace) the encoder's lexical part.

    ``encoder`` is a SPLADE SparseEncoder (a masked LM and SpladePooling); the module goes after
    the pooling. Returns the module.
    """
    from sentence_transformers.sparse_encoder.modules import SpladePooling

    if not isinstance(encoder[-1], (SpladePooling, LexicalWeights)):
        raise SembridgeError(
            f"lexical weights go after SpladePooling, but this model ends in {type(encoder[-1]).__name__}",
            hint="give a SPLADE model (a masked LM and SpladePooling); Router models are not supported",
        )
    module = fit_lexical_weights(encoder, documents, weight, params, show_progress)
    if isinstance(encoder[-1], LexicalWeights):
        encoder[-1] = module
    else:
        encoder.append(module)
    return module


__all__ = [
    "LexicalWeights",
    "add_lexical_weights",
    "check_lexical_weight",
    "fit_idf",
    "fit_lexical_weights",
    "lexical_module",
]
