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

**Several targets** (``-t ru-tok -t zh-tok``): the targets' pieces are appended in the order given,
each by the rule above, so a piece is appended once. A piece that two targets share (``москва``
in a Russian and a Ukrainian vocabulary, after normalisation) is one id whose row is the first
target's; :attr:`ExtendedVocab.origins` says which target brought each appended piece and
:attr:`ExtendedVocab.shared` which later targets hold it too. English keeps the source's ids for
the same reason as with one target: every appended piece holds a non-ASCII character.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
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
    built from id ``target_ids[k]`` of target ``origins[k]`` (an index into ``targets``, the
    targets' names in the order given). ``shared[k]`` lists the later targets that hold the same
    piece (absent when none). ``dropped`` counts target tokens left out, by reason, over all
    targets; :meth:`summary` gives them per target too.
    """

    tokenizer: Any
    source_size: int
    target_ids: list[int]
    pieces: list[str]
    changed_by_normalizer: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    origins: list[int] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    shared: dict[int, list[int]] = field(default_factory=dict)
    dropped_by_target: list[dict[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.origins:  # one target
            self.origins = [0] * len(self.target_ids)

    @property
    def size(self) -> int:
        return self.source_size + len(self.target_ids)

    def target_of(self, offset: int) -> str | None:
        """The name of the target that brought appended piece ``offset`` (None if unnamed)."""
        index = self.origins[offset]
        return self.targets[index] if index < len(self.targets) else None

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "source_vocab_size": self.source_size,
            "added": len(self.target_ids),
            "extended_vocab_size": self.size,
            "changed_by_source_normalizer": self.changed_by_normalizer,
            "dropped": dict(self.dropped),
        }
        if len(self.targets) > 1:
            added = [0] * len(self.targets)
            for index in self.origins:
                added[index] += 1
            summary["targets"] = [
                {
                    "target": name,
                    "added": added[i],
                    "shared_with_earlier": self.dropped_by_target[i].get("shared with an earlier target", 0),
                    "dropped": self.dropped_by_target[i],
                }
                for i, name in enumerate(self.targets)
            ]
        return summary


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
    source_tokenizer: Any,
    target_tokenizer: Any | Sequence[Any],
    source_size: int | None = None,
    names: Sequence[str] | None = None,
) -> ExtendedVocab:
    """The union tokenizer of a WordPiece source and one or several WordPiece targets (module docstring).

    ``target_tokenizer`` is one tokenizer or a list, appended in that order; ``names`` names them
    in the report (default ``target 1``, ``target 2``, ...). ``source_size`` is the source model's
    vocabulary size (its embedding rows), where appended ids start; by default, the source
    tokenizer's size.
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    targets = list(target_tokenizer) if isinstance(target_tokenizer, (list, tuple)) else [target_tokenizer]
    if not targets:
        raise ValueError("merge_tokenizers needs at least one target tokenizer")
    names = list(names) if names is not None else [f"target {i + 1}" for i in range(len(targets))]
    if len(names) != len(targets):
        raise ValueError(f"{len(targets)} target tokenizers but {len(names)} names")
    for target in targets:
        check_mergeable(source_tokenizer, target)
    spec = _backend(source_tokenizer, "source")
    vocab: dict[str, int] = spec["model"]["vocab"]
    prefix = spec["model"].get("continuing_subword_prefix", "##")
    normalizer = source_tokenizer.backend_tokenizer.normalizer
    source_size = max(source_size or 0, len(source_tokenizer), max(vocab.values()) + 1)
    reasons = ("special", "in source vocabulary", "ascii only", "not one word", "duplicate")
    dropped = dict.fromkeys(reasons, 0)
    by_target: list[dict[str, int]] = []
    changed = 0
    target_ids: list[int] = []
    pieces: list[str] = []
    origins: list[int] = []
    shared: dict[int, list[int]] = {}
    offset_of: dict[str, int] = {}  # appended piece -> its offset
    for index, target in enumerate(targets):
        mine = {**dict.fromkeys(reasons, 0), "shared with an earlier target": 0}
        special = set(target.all_special_ids)
        seen_here: set[str] = set()
        for piece, target_id in sorted(target.get_vocab().items(), key=lambda item: item[1]):
            if target_id in special:
                mine["special"] += 1
                continue
            internal = piece.startswith(prefix) and len(piece) > len(prefix)
            body = piece[len(prefix) :] if internal else piece
            normalised = normalizer.normalize_str(body).strip() if normalizer is not None else body
            changed += normalised != body
            merged = (prefix if internal else "") + normalised
            if not normalised or any(ch.isspace() for ch in normalised):
                mine["not one word"] += 1
            elif merged in vocab and merged not in offset_of:
                mine["in source vocabulary"] += 1
            elif normalised.isascii():
                mine["ascii only"] += 1
            elif merged in seen_here:
                mine["duplicate"] += 1
            elif merged in offset_of:  # appended for an earlier target: one row, the earlier one's
                seen_here.add(merged)
                mine["shared with an earlier target"] += 1
                shared.setdefault(offset_of[merged], []).append(index)
            else:
                seen_here.add(merged)
                offset_of[merged] = len(pieces)
                vocab[merged] = source_size + len(pieces)
                target_ids.append(target_id)
                pieces.append(merged)
                origins.append(index)
        for reason in reasons:
            dropped[reason] += mine[reason]
        by_target.append(mine)
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
    extended = ExtendedVocab(
        tokenizer, source_size, target_ids, pieces, changed, dropped, origins, names, shared, by_target
    )
    logger.info(
        "extended vocabulary: %s source tokens + %s target tokens = %s (dropped: %s)",
        f"{source_size:,}",
        f"{len(pieces):,}",
        f"{extended.size:,}",
        ", ".join(f"{k} {v:,}" for k, v in dropped.items() if v),
    )
    return extended


def extend_vector(
    source: torch.Tensor, target: torch.Tensor | Sequence[torch.Tensor], extended: ExtendedVocab
) -> torch.Tensor:
    """``source`` (source-vocabulary sized, kept as is) followed by the appended tokens' entries of
    ``target`` (target-vocabulary sized, as replace mode builds it; one tensor per target, in the
    order they were merged, when there are several)."""
    if source.shape[0] != extended.source_size:
        raise ValueError(f"source must have {extended.source_size} rows, got {source.shape[0]}.")
    targets = list(target) if isinstance(target, (list, tuple)) else [target]
    if len(targets) <= max(extended.origins, default=0):
        raise ValueError(f"the extension draws on {max(extended.origins) + 1} targets, got {len(targets)}.")
    appended = source.new_empty((len(extended.target_ids), *source.shape[1:]))
    origins = torch.tensor(extended.origins, dtype=torch.long)
    ids = torch.tensor(extended.target_ids, dtype=torch.long)
    for index, rows in enumerate(targets):
        where = (origins == index).nonzero().flatten()
        if len(where):
            picked = rows.index_select(0, ids[where].to(rows.device)).to(source.dtype)
            appended[where.to(source.device)] = picked.to(source.device)
    return torch.cat([source, appended], dim=0)


def extend_parts(
    source: MLMParts, target: MLMParts | Sequence[MLMParts], extended: ExtendedVocab
) -> MLMParts:
    """The extended model's vocabulary-sized tensors: source rows, then the appended tokens' rows
    (``target``: replace mode's tensors of each target, in merge order)."""
    targets = list(target) if isinstance(target, (list, tuple)) else [target]

    def join(a: torch.Tensor | None, parts: list[torch.Tensor | None]) -> torch.Tensor | None:
        if a is None or any(b is None for b in parts):
            return None
        return extend_vector(a, parts, extended)  # type: ignore[arg-type]

    return MLMParts(
        embeddings=extend_vector(source.embeddings, [t.embeddings for t in targets], extended),
        decoder=join(source.decoder, [t.decoder for t in targets]),
        bias=join(source.bias, [t.bias for t in targets]),
    )
