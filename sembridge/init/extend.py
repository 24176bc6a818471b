"""Extended vocabularies (``sembridge init --extend``): the source's tokens plus the target's new ones.

The extended model keeps every source token at its source id, with bit-identical rows, and appends
the target tokens that the source lacks, ids ``V_s, V_s + 1, ...``. Their rows are the rows replace
mode gives them (copied from a matched source token, or built by the method), so one model reads
English and the target language.

The tokenizer is the union, built by :func:`merge_tokenizers`. Only WordPiece + WordPiece with the
same continuation prefix and pre-tokenizer can be merged faithfully; any other pair is refused
(:func:`check_mergeable`), rather than produce a tokenizer that silently splits differently.

**The rule that keeps English tokenised as the source did.** The merged tokenizer is the source's
(normaliser, pre-tokenizer, post-processor, special tokens, ids) with pieces appended to its
WordPiece vocabulary. Each target piece is first put through the source normaliser (an uncased
source lowercases and strips accents: ``Москва`` -> ``москва``, ``й`` -> ``и``), since text reaches
WordPiece normalised and an unnormalised piece could never match. A piece is appended only when

1. its normalised body is one pre-tokenized word (no whitespace: the source splits CJK ideographs
   apart, so a two-ideograph piece could never match) and not empty;
2. it contains at least one non-ASCII character; and
3. it is not in the source vocabulary (nor appended already: among target pieces with the same
   normalised form the lowest target id wins).

Why 2 suffices: WordPiece's greedy longest-match-first only ever considers substrings of the word
being split, so a piece holding a non-ASCII character is never a candidate inside a word of ASCII
characters; for such words the candidates, hence the pieces and ids, are exactly the source's. Text
whose normalised words are ASCII (English, after an uncased source's accent stripping) therefore
gets the same ids. Target pieces made of ASCII characters only (Latin words, digits, punctuation)
that the source lacks are left out: they could win the longest match inside an English word.
Target text is read with the source normaliser, so an uncased source reads it lowercased; the
report counts the pieces the normaliser changed and those dropped by each rule.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from sembridge.errors import SembridgeError
from sembridge.surgery import MLMParts

logger = logging.getLogger("sembridge")

__all__ = ["ExtendedVocab", "check_mergeable", "extend_parts", "extend_vector", "merge_tokenizers"]


@dataclass
class ExtendedVocab:
    """The union vocabulary: the merged tokenizer and which target token each appended id comes from.

    Ids ``0 .. source_size - 1`` are the source's; id ``source_size + k`` is the piece ``pieces[k]``,
    built from target id ``target_ids[k]``. ``dropped`` counts target tokens left out, by reason.
    """

    tokenizer: Any
    source_size: int
    target_ids: list[int]
    pieces: list[str]
    changed_by_normalizer: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.source_size + len(self.target_ids)

    def summary(self) -> dict[str, Any]:
        return {
            "source_vocab_size": self.source_size,
            "added": len(self.target_ids),
            "extended_vocab_size": self.size,
            "changed_by_source_normalizer": self.changed_by_normalizer,
            "dropped": dict(self.dropped),
        }


def _backend(tokenizer: Any, role: str) -> dict[str, Any]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise SembridgeError(
            f"cannot extend: the {role} tokenizer ({type(tokenizer).__name__}) is not a fast tokenizer",
            hint="give a tokenizer folder with a tokenizer.json, or leave out --extend",
        )
    return json.loads(backend.to_str())


def _family(spec: dict[str, Any]) -> str:
    model = spec.get("model") or {}
    kind = model.get("type") or "unknown"
    if kind == "BPE" and "ByteLevel" in json.dumps(spec.get("pre_tokenizer")):
        return "byte-level BPE"
    if kind == "Unigram" or "Metaspace" in json.dumps(spec.get("pre_tokenizer")):
        return "SentencePiece"
    return kind


def check_mergeable(source_tokenizer: Any, target_tokenizer: Any) -> None:
    """Refuse a pair whose union would not tokenise as its parts do (module docstring)."""
    source, target = _backend(source_tokenizer, "source"), _backend(target_tokenizer, "target")
    source_family, target_family = _family(source), _family(target)
    if source_family != "WordPiece" or target_family != "WordPiece":
        raise SembridgeError(
            f"cannot extend a {source_family} vocabulary with {target_family} pieces faithfully",
            hint="--extend merges WordPiece with WordPiece only; leave out --extend to replace it",
        )
    source_prefix = source["model"].get("continuing_subword_prefix", "##")
    target_prefix = target["model"].get("continuing_subword_prefix", "##")
    if source_prefix != target_prefix:
        raise SembridgeError(
            f"cannot extend: the source marks word-internal pieces with '{source_prefix}', "
            f"the target with '{target_prefix}'",
            hint="use a target WordPiece tokenizer with the source's prefix, or leave out --extend",
        )
    source_pre = (source.get("pre_tokenizer") or {}).get("type")
    target_pre = (target.get("pre_tokenizer") or {}).get("type")
    if source_pre != target_pre:
        raise SembridgeError(
            f"cannot extend: the source splits words with {source_pre}, the target with {target_pre}",
            hint="the target's pieces would not match the source's words; leave out --extend",
        )


def merge_tokenizers(
    source_tokenizer: Any, target_tokenizer: Any, source_size: int | None = None
) -> ExtendedVocab:
    """The union tokenizer of a WordPiece source and a WordPiece target (module docstring's rule).

    ``source_size`` is the source model's vocabulary size (its embedding rows), where appended ids
    start; by default, the source tokenizer's size.
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    check_mergeable(source_tokenizer, target_tokenizer)
    spec = _backend(source_tokenizer, "source")
    vocab: dict[str, int] = spec["model"]["vocab"]
    prefix = spec["model"].get("continuing_subword_prefix", "##")
    normalizer = source_tokenizer.backend_tokenizer.normalizer
    source_size = max(source_size or 0, len(source_tokenizer), max(vocab.values()) + 1)
    special = set(target_tokenizer.all_special_ids)
    dropped = {"special": 0, "in source vocabulary": 0, "ascii only": 0, "not one word": 0, "duplicate": 0}
    changed = 0
    target_ids: list[int] = []
    pieces: list[str] = []
    seen = set(vocab)
    for piece, target_id in sorted(target_tokenizer.get_vocab().items(), key=lambda item: item[1]):
        if target_id in special:
            dropped["special"] += 1
            continue
        internal = piece.startswith(prefix) and len(piece) > len(prefix)
        body = piece[len(prefix) :] if internal else piece
        normalised = normalizer.normalize_str(body).strip() if normalizer is not None else body
        changed += normalised != body
        merged = (prefix if internal else "") + normalised
        if not normalised or any(ch.isspace() for ch in normalised):
            dropped["not one word"] += 1
        elif merged in vocab:
            dropped["in source vocabulary"] += 1
        elif normalised.isascii():
            dropped["ascii only"] += 1
        elif merged in seen:
            dropped["duplicate"] += 1
        else:
            seen.add(merged)
            target_ids.append(target_id)
            pieces.append(merged)
    for offset, piece in enumerate(pieces):
        vocab[piece] = source_size + offset
    backend = Tokenizer.from_str(json.dumps(spec))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        **{
            key: value
            for key, value in source_tokenizer.special_tokens_map.items()
            if key != "additional_special_tokens"
        },
        model_max_length=source_tokenizer.model_max_length,
        padding_side=source_tokenizer.padding_side,
        truncation_side=source_tokenizer.truncation_side,
    )
    tokenizer.model_input_names = list(source_tokenizer.model_input_names)
    extended = ExtendedVocab(tokenizer, source_size, target_ids, pieces, changed, dropped)
    logger.info(
        "extended vocabulary: %s source tokens + %s target tokens = %s (dropped: %s)",
        f"{source_size:,}",
        f"{len(pieces):,}",
        f"{extended.size:,}",
        ", ".join(f"{k} {v:,}" for k, v in dropped.items() if v),
    )
    return extended


def extend_vector(source: torch.Tensor, target: torch.Tensor, extended: ExtendedVocab) -> torch.Tensor:
    """``source`` (source-vocabulary sized, kept as is) followed by the appended tokens' entries of
    ``target`` (target-vocabulary sized, as replace mode builds it)."""
    if source.shape[0] != extended.source_size:
        raise ValueError(f"source must have {extended.source_size} rows, got {source.shape[0]}.")
    index = torch.tensor(extended.target_ids, dtype=torch.long, device=target.device)
    return torch.cat([source, target.index_select(0, index).to(source.dtype)], dim=0)


def extend_parts(source: MLMParts, target: MLMParts, extended: ExtendedVocab) -> MLMParts:
    """The extended model's vocabulary-sized tensors: source rows, then the appended tokens' rows."""

    def join(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
        return None if a is None or b is None else extend_vector(a, b, extended)

    return MLMParts(
        embeddings=extend_vector(source.embeddings, target.embeddings, extended),
        decoder=join(source.decoder, target.decoder),
        bias=join(source.bias, target.bias),
    )
