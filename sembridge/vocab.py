"""Canonical token forms and the overlap between a source and a target vocabulary.

Vocabularies of different tokenizer families mark word boundaries differently:

* WordPiece: ``##x`` is a word-internal piece, every other token starts a word;
* SentencePiece: ``▁x`` starts a word, other pieces are word-internal;
* byte-level BPE: ``Ġx`` starts a word, other tokens are word-internal, and every
  character stands for one byte of UTF-8.

:func:`canonical_form` maps each token to ``(text, word_start)`` so that tokens of any two
families can be compared. :func:`find_overlap` matches target tokens to source tokens:
special tokens by role (``<s>`` plays ``[CLS]``), then exactly on the canonical form, then
optionally numbers/punctuation ignoring the word-start mark ("symbols") and everything
ignoring case and the word-start mark ("fuzzy"). Among several candidate source tokens the
exact canonical one wins, then the lowest id.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from sembridge.errors import SembridgeError

logger = logging.getLogger("sembridge")

Scheme = Literal["wordpiece", "sentencepiece", "bytelevel"]
MatchKind = Literal["special", "exact", "symbol", "fuzzy"]

SPECIAL_ROLES = ("cls", "sep", "pad", "mask", "unk", "bos", "eos")
# A role may be played by the token of an equivalent role: RoBERTa's <s> is both bos and cls.
ROLE_EQUIVALENTS = {
    "cls": ("cls", "bos"),
    "bos": ("bos", "cls"),
    "sep": ("sep", "eos"),
    "eos": ("eos", "sep"),
}

_UNUSED = re.compile(r"^(\[unused\d+\]|<unused\d+>)$")


@dataclass(frozen=True)
class CanonicalToken:
    """A token's text without its boundary mark, and whether it starts a word."""

    text: str
    word_start: bool


@dataclass(frozen=True)
class VocabToken:
    id: int
    token: str
    canonical: CanonicalToken
    special_role: str | None = None
    # False when the text could not be decoded (a byte-level token holding part of a character).
    decodable: bool = True

    @property
    def surface(self) -> str:
        """The string a bridge model embeds: the decoded text, or the raw token when that is empty."""
        text = self.canonical.text.strip()
        return text if text and self.decodable else self.token


@dataclass(frozen=True)
class TokenMatch:
    """A target token that copies the row of a source token."""

    target_id: int
    target_token: str
    source_id: int
    source_token: str
    kind: MatchKind


@dataclass
class Overlap:
    """The partition of the target vocabulary into copied (matched) and new tokens."""

    matches: list[TokenMatch]
    new_ids: list[int]
    target_size: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def num_copied(self) -> int:
        return len(self.matches)

    @property
    def num_new(self) -> int:
        return len(self.new_ids)


@dataclass(frozen=True)
class MatchOptions:
    exact: bool = True
    symbols: bool = True
    fuzzy: bool = False


# --------------------------------------------------------------------------- canonical forms


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's bytes-to-unicode table used by byte-level BPE vocabularies."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, codes, strict=True)}


def _decode_bytelevel(token: str) -> tuple[str, bool]:
    decoder = _byte_decoder()
    if any(ch not in decoder for ch in token):
        return token, False
    raw = bytes(decoder[ch] for ch in token)
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return token, False


def canonical_form(token: str, scheme: Scheme) -> tuple[CanonicalToken, bool]:
    """Return the canonical form of ``token`` and whether its text could be decoded."""
    if scheme == "wordpiece":
        if token.startswith("##") and len(token) > 2:
            return CanonicalToken(token[2:], False), True
        return CanonicalToken(token, True), True
    if scheme == "sentencepiece":
        if token.startswith("▁"):
            return CanonicalToken(token[1:], True), True
        return CanonicalToken(token, False), True
    text, ok = _decode_bytelevel(token)
    if not ok:
        return CanonicalToken(token, False), False
    if text.startswith(" "):
        return CanonicalToken(text[1:], True), True
    return CanonicalToken(text, False), True


def detect_scheme(tokenizer: Any) -> Scheme:
    """Tell WordPiece, SentencePiece and byte-level BPE apart from the fast tokenizer's description."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        model_type = (spec.get("model") or {}).get("type")
        parts = json.dumps([spec.get("pre_tokenizer"), spec.get("decoder")])
        if model_type == "WordPiece":
            return "wordpiece"
        if '"ByteLevel"' in parts:
            return "bytelevel"
        if model_type == "Unigram" or '"Metaspace"' in parts:
            return "sentencepiece"
    # No fast tokenizer description: judge by the vocabulary's marks.
    vocab = list(tokenizer.get_vocab())
    marks = Counter(
        "wordpiece" if t.startswith("##") else "sentencepiece" if t.startswith("▁") else "bytelevel"
        for t in vocab
        if t.startswith(("##", "▁", "Ġ"))
    )
    if not marks:
        return "wordpiece"
    return marks.most_common(1)[0][0]  # type: ignore[return-value]


def special_roles(tokenizer: Any) -> dict[int, str]:
    """Map the ids of the tokenizer's role tokens (cls, sep, pad, ...) to their role.

    A token playing two roles (``<s>`` as bos and cls) gets the first in SPECIAL_ROLES order.
    """
    roles: dict[int, str] = {}
    for role in SPECIAL_ROLES:
        token = getattr(tokenizer, f"{role}_token", None)
        if token is None:
            continue
        token_id = tokenizer.convert_tokens_to_ids(str(token))
        if token_id is None or token_id in roles:
            continue
        roles[int(token_id)] = role
    return roles


def vocab_tokens(tokenizer: Any) -> list[VocabToken]:
    """Every token of the tokenizer's vocabulary, sorted by id, with its canonical form."""
    vocab = tokenizer.get_vocab()
    scheme = detect_scheme(tokenizer)
    roles = special_roles(tokenizer)
    other_special = set(getattr(tokenizer, "all_special_ids", []) or []) - set(roles)
    tokens = []
    for token, token_id in sorted(vocab.items(), key=lambda item: item[1]):
        canonical, ok = canonical_form(token, scheme)
        role = roles.get(token_id)
        if role is None and token_id in other_special:
            role = "other"
        tokens.append(VocabToken(token_id, token, canonical, role, ok))
    return tokens


def vocabulary_size(tokenizer: Any) -> int:
    """Number of rows an embedding matrix needs for this tokenizer (largest id + 1)."""
    vocab = tokenizer.get_vocab()
    return max(vocab.values()) + 1 if vocab else 0


def regular_tokens(tokenizer: Any) -> list[str]:
    """The tokens that are not special (no role, not in ``all_special_ids``) nor ``[unusedN]``, by id."""
    vocab = tokenizer.get_vocab()
    special = set(special_roles(tokenizer)) | set(getattr(tokenizer, "all_special_ids", []) or [])
    return [
        token
        for token, token_id in sorted(vocab.items(), key=lambda item: item[1])
        if token_id not in special and not _UNUSED.match(token)
    ]


def check_regular_tokens(tokenizer: Any, name: Any, kind: str = "target tokenizer") -> None:
    """Refuse a tokenizer whose vocabulary holds no regular token (only special ones)."""
    if regular_tokens(tokenizer):
        return
    vocab = tokenizer.get_vocab()
    shown = ", ".join(sorted(vocab, key=vocab.__getitem__)[:8]) + (", ..." if len(vocab) > 8 else "")
    raise SembridgeError(
        f"{kind} '{name}' has no regular token: its {len(vocab):,} token(s) are all special ({shown})",
        hint="give a tokenizer trained on target-language text: "
        "sembridge tokenizer train --text FILE --vocab-size 8000",
    )


def is_candidate_source(token: VocabToken) -> bool:
    """Source tokens that new rows may be built from: not special, not ``[unusedN]``, decodable."""
    return token.special_role is None and token.decodable and not _UNUSED.match(token.token)


def _is_symbol(text: str) -> bool:
    return bool(text) and all(unicodedata.category(ch)[0] in "NPS" for ch in text)


# --------------------------------------------------------------------------- overlap


def find_overlap(
    source: Sequence[VocabToken],
    target: Sequence[VocabToken],
    options: MatchOptions = MatchOptions(),
    target_size: int | None = None,
) -> Overlap:
    """Partition ``target`` into tokens matched to a source token and new tokens.

    Passes, in order: special tokens by role; exact canonical form; numbers and punctuation
    ignoring the word-start mark (``options.symbols``); case and word-start mark ignored
    (``options.fuzzy``). Each target token takes the first pass that matches it; among several
    candidates the exact canonical form wins, then the same text, then the same word-start
    mark, then the lowest source id.
    """
    regular_source = [t for t in source if t.special_role is None and t.decodable]
    by_role = {t.special_role: t for t in source if t.special_role not in (None, "other")}

    exact_index: dict[CanonicalToken, VocabToken] = {}
    text_index: dict[str, list[VocabToken]] = {}
    fold_index: dict[str, list[VocabToken]] = {}
    for tok in regular_source:  # sorted by id, so the first stored is the lowest id
        exact_index.setdefault(tok.canonical, tok)
        text_index.setdefault(tok.canonical.text, []).append(tok)
        fold_index.setdefault(tok.canonical.text.casefold(), []).append(tok)

    def best(target_tok: VocabToken, candidates: list[VocabToken]) -> VocabToken:
        c = target_tok.canonical
        return min(
            candidates,
            key=lambda s: (
                s.canonical != c,
                s.canonical.text != c.text,
                s.canonical.word_start != c.word_start,
                s.id,
            ),
        )

    matches: list[TokenMatch] = []
    new_ids: list[int] = []
    for tok in target:
        match: tuple[VocabToken, MatchKind] | None = None
        if tok.special_role not in (None, "other"):
            for role in ROLE_EQUIVALENTS.get(tok.special_role, (tok.special_role,)):
                if role in by_role:
                    match = (by_role[role], "special")
                    break
        elif tok.special_role is None and tok.decodable and tok.canonical.text:
            text = tok.canonical.text
            if options.exact and tok.canonical in exact_index:
                match = (exact_index[tok.canonical], "exact")
            elif options.symbols and _is_symbol(text) and text in text_index:
                match = (best(tok, text_index[text]), "symbol")
            elif options.fuzzy and text.casefold() in fold_index:
                match = (best(tok, fold_index[text.casefold()]), "fuzzy")
        if match is None:
            new_ids.append(tok.id)
        else:
            src, kind = match
            matches.append(TokenMatch(tok.id, tok.token, src.id, src.token, kind))

    counts = dict(Counter(m.kind for m in matches))
    size = target_size if target_size is not None else (max((t.id for t in target), default=-1) + 1)
    overlap = Overlap(matches=matches, new_ids=new_ids, target_size=size, counts=counts)
    logger.info(
        "overlap: %s copied (%s), %s new of %s target tokens",
        f"{overlap.num_copied:,}",
        ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none",
        f"{overlap.num_new:,}",
        f"{len(target):,}",
    )
    return overlap
