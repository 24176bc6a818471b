"""Training pairs made from a user's own target-language text, which has documents and no queries.

This module owns ``sembridge pairs``: reading documents, turning them into query-positive
pairs, filtering the pairs and writing the JSONL that ``sembridge finetune`` reads.

Pairs, by the kind of text there is:

- ``title``: a titled document gives (title -> body);
- ``keywords``: each of its keywords gives (keyword -> page), the page being title and body;
- ``cloze`` (inverse cloze): a paragraph of at least two sentences gives (one sentence, drawn
  with a seeded ``random.Random``, -> the rest of the paragraph).

Filters, in this order: the positive is cut to ``max_positive_chars`` (at a space when one is
near the cut); a pair whose query or positive is shorter than ``min_query_chars`` /
``min_positive_chars`` is dropped; so is one whose query or positive has a share of letters in
the target script below ``min_script_share`` (:func:`script_share`); and so is a pair whose
normalised query and positive (:func:`normalise`) were already kept. Documents and paragraphs
are deduplicated the same way before any pair is made.

Input formats: ``titled`` (JSONL with ``title``, ``body``/``text``/``contents`` and optional
``keywords``, a list or a comma-separated string), ``text`` (plain text files, blank lines
separate paragraphs), ``jsonl`` (JSONL of ``{"text"}`` paragraphs) and ``auto`` (by file name,
then by the fields of the first record).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sembridge.data.columns import BODY_NAMES, KEYWORD_NAMES, TITLE_NAMES, pick_text, pick_value
from sembridge.data.pairs import shared_text_keys, sharing_a_paragraph
from sembridge.data.readers import read_file, read_lines
from sembridge.errors import SembridgeError
from sembridge.io import check_output_file

# Unicode blocks of each language's script (letters outside them count against the share).
SCRIPT_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "ar": ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
    "zh": (
        (0x3400, 0x4DBF),
        (0x4E00, 0x9FFF),
        (0xF900, 0xFAFF),
        (0x20000, 0x2A6DF),
        (0x2A700, 0x2EBEF),
        (0x2F800, 0x2FA1F),
    ),
    "hi": ((0x0900, 0x097F), (0xA8E0, 0xA8FF)),
    "ko": ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7AF), (0xD7B0, 0xD7FF)),
    "ru": ((0x0400, 0x04FF), (0x0500, 0x052F), (0x1C80, 0x1C8F), (0x2DE0, 0x2DFF), (0xA640, 0xA69F)),
}
SCRIPT_NAMES = {"ar": "Arabic", "zh": "Han", "hi": "Devanagari", "ko": "Hangul", "ru": "Cyrillic"}
LANGUAGES: tuple[str, ...] = tuple(SCRIPT_RANGES)

FORMATS: tuple[str, ...] = ("auto", "titled", "text", "jsonl")
MODES: tuple[str, ...] = ("title", "keywords", "cloze", "all")
# What make_pairs does with pairs whose positives are equal or share a paragraph (each is the
# other's false negative in a batch): keep them all, or keep the first of each and drop the rest.
SHARED_PARAGRAPHS: tuple[str, ...] = ("keep", "drop")
KINDS: tuple[str, ...] = ("title", "keywords", "cloze")

TEXT_SUFFIXES: tuple[str, ...] = (".txt", ".text", ".md", ".txt.gz")
_JSONL_SUFFIXES: tuple[str, ...] = (".jsonl", ".json", ".jsonl.gz")

# A sentence ends after 。！？ । ॥ (no space needed) or after . ! ? ؟ followed by a space or the end;
# closing quotes and brackets stay with the sentence they close.
_CLOSERS = re.escape("\"'”’»」』）)]")
_SENTENCE_END = re.compile(rf"[。！？।॥]+[{_CLOSERS}]*\s*|[.!?؟]+[{_CLOSERS}]*(?:\s+|$)")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Document:
    """A titled document or a plain paragraph; ``where`` names its file and line or paragraph."""

    text: str
    title: str = ""
    keywords: tuple[str, ...] = ()
    where: str = ""
    group: str = ""
    """Documents of one group (a page, an entry) must not be split between train and test."""

    @property
    def page(self) -> str:
        """Title and body (the title its own paragraph), the positive of a keyword."""
        return f"{self.title}\n\n{self.text}".strip() if self.title else self.text


@dataclass(frozen=True)
class Pair:
    """A query, its positive, the kind of pair and the passage and group it came from."""

    query: str
    positive: str
    kind: str
    doc: str = ""
    group: str = ""


@dataclass(frozen=True)
class PairFilter:
    """The checks a pair must pass; ``language=None`` switches the script filter off."""

    language: str | None = None
    min_script_share: float = 0.5
    min_query_chars: int = 3
    min_positive_chars: int = 20
    max_positive_chars: int | None = 1000

    def __post_init__(self) -> None:
        if self.language is not None:
            check_language(self.language)
        if not 0.0 <= self.min_script_share <= 1.0:
            raise SembridgeError(
                f"--min-script-share must lie in [0, 1], got {self.min_script_share}",
                hint="0.5 keeps text that is at least half in the target script",
            )
        for name in ("min_query_chars", "min_positive_chars"):
            if getattr(self, name) < 0:
                raise SembridgeError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_positive_chars is not None and self.max_positive_chars < max(1, self.min_positive_chars):
            raise SembridgeError(
                f"max_positive_chars ({self.max_positive_chars}) is below min_positive_chars "
                f"({self.min_positive_chars})",
                hint="raise --max-positive-chars or lower --min-positive-chars",
            )

    def reason(self, pair: Pair) -> str | None:
        """Why ``pair`` is dropped (``"too short"``, ``"script"``), or None when it passes."""
        if len(pair.query) < self.min_query_chars or len(pair.positive) < self.min_positive_chars:
            return "too short"
        if self.language is not None and self.min_script_share > 0:
            if min(script_share(pair.query, self.language), script_share(pair.positive, self.language)) < (
                self.min_script_share
            ):
                return "script"
        return None

    def apply(self, pairs: Iterable[Pair], counts: Counter[str] | None = None) -> Iterator[Pair]:
        """Truncate, filter and deduplicate ``pairs`` (lazily); ``counts`` gets one entry per drop."""
        counts = counts if counts is not None else Counter()
        seen: set[tuple[str, str]] = set()
        for pair in pairs:
            pair = Pair(
                clean(pair.query),
                truncate(clean(pair.positive), self.max_positive_chars),
                pair.kind,
                pair.doc,
                pair.group,
            )
            reason = self.reason(pair)
            if reason is None:
                key = (normalise(pair.query), normalise(pair.positive))
                if key in seen:
                    reason = "duplicate"
                else:
                    seen.add(key)
            if reason is not None:
                counts[reason] += 1
                continue
            yield pair


@dataclass
class PairsSummary:
    """What ``make_pairs`` read, made, dropped and wrote."""

    output: Path
    files: int
    documents: int
    candidates: int
    written: int
    by_kind: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    # Written pairs whose positive is equal to, or shares a paragraph with, another written one's.
    sharing_a_paragraph: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "files": self.files,
            "documents": self.documents,
            "candidates": self.candidates,
            "written": self.written,
            "by_kind": self.by_kind,
            "dropped": self.dropped,
            "sharing_a_paragraph": self.sharing_a_paragraph,
        }


# ----------------------------------------------------------------------------------------------
# Text


def check_language(language: str) -> str:
    """``language`` if its script is known, else a SembridgeError listing the codes."""
    if language not in SCRIPT_RANGES:
        raise SembridgeError(
            f"unknown language '{language}' for the script filter",
            hint=f"use one of: {', '.join(LANGUAGES)}, or leave --language out",
        )
    return language


def script_share(text: str, language: str) -> float:
    """The share of ``text``'s letters that are in ``language``'s script (0 for text without letters).

    Only letters count (``str.isalpha``), so digits, punctuation and spaces neither help nor hurt.
    """
    ranges = SCRIPT_RANGES[check_language(language)]
    letters = inside = 0
    for char in text:
        if not char.isalpha():
            continue
        letters += 1
        code = ord(char)
        if any(low <= code <= high for low, high in ranges):
            inside += 1
    return inside / letters if letters else 0.0


def clean(text: str) -> str:
    """NFC, each paragraph on one line (white space collapsed), paragraphs separated by one blank line."""
    return "\n\n".join(split_paragraphs(unicodedata.normalize("NFC", text)))


def normalise(text: str) -> str:
    """The key duplicates share: NFKC, case-folded, white space collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def truncate(text: str, max_chars: int | None) -> str:
    """``text`` cut to ``max_chars`` characters, at the last space of the final fifth when there is one."""
    if max_chars is None or len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= max_chars * 0.8:
        cut = cut[:space]
    return cut.rstrip()


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs separated by blank lines, each with its lines joined by spaces."""
    paragraphs = (_SPACES.sub(" ", part).strip() for part in _BLANK_LINE.split(text.replace("\r\n", "\n")))
    return [paragraph for paragraph in paragraphs if paragraph]


def split_sentences(text: str) -> list[str]:
    """Sentences of Chinese, Hindi, Arabic, Korean, Russian or English text.

    A sentence ends after 。！？ (Chinese), । ॥ (Hindi), or . ! ? ؟ (Arabic) followed by white space
    or the end of the text; a decimal point or an abbreviation glued to the next word never splits.
    """
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        sentence = text[start : match.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


# ----------------------------------------------------------------------------------------------
# Pairs


def title_pairs(document: Document) -> Iterator[Pair]:
    """(title -> body) when the document has both, then (keyword -> page) for each keyword."""
    group = document.group or document.where
    if document.title and document.text:
        yield Pair(document.title, document.text, "title", document.where, group)
    if document.text or document.title:
        for keyword in document.keywords:
            yield Pair(keyword, document.page, "keywords", document.where, group)


def inverse_cloze_pairs(
    document: Document, rng: random.Random, min_query_chars: int = 0, per_paragraph: int = 1
) -> Iterator[Pair]:
    """For each paragraph of at least two sentences: (one sentence -> the rest of the paragraph).

    ``per_paragraph`` sentences are drawn (without replacement) with ``rng`` (a local
    ``random.Random``; the global state is untouched) among those of at least ``min_query_chars``
    characters, so the same seed gives the same pairs. A pair's ``doc`` is
    ``"<where> paragraph <n> sentence <i>"``.
    """
    group = document.group or document.where
    for number, paragraph in enumerate(split_paragraphs(document.text), start=1):
        sentences = split_sentences(paragraph)
        if len(sentences) < 2:
            continue
        choices = [i for i, sentence in enumerate(sentences) if len(sentence) >= min_query_chars]
        for index in sorted(rng.sample(choices, min(per_paragraph, len(choices)))):
            rest = " ".join(sentences[:index] + sentences[index + 1 :])
            where = f"{document.where} paragraph {number} sentence {index + 1}"
            yield Pair(sentences[index], rest, "cloze", where, group)


def document_pairs(
    documents: Iterable[Document], mode: str = "all", seed: int = 42, min_query_chars: int = 0
) -> Iterator[Pair]:
    """Every pair of the kinds ``mode`` asks for, document by document, in input order."""
    kinds = check_mode(mode)
    rng = random.Random(seed)
    for document in documents:
        if "title" in kinds or "keywords" in kinds:
            for pair in title_pairs(document):
                if pair.kind in kinds:
                    yield pair
        if "cloze" in kinds:
            yield from inverse_cloze_pairs(document, rng, min_query_chars)


def check_mode(mode: str) -> tuple[str, ...]:
    """The kinds of pair ``mode`` makes."""
    if mode not in MODES:
        raise SembridgeError(f"unknown mode '{mode}'", hint=f"use one of: {', '.join(MODES)}")
    return KINDS if mode == "all" else (mode,)


def dedupe_documents(documents: Iterable[Document]) -> Iterator[Document]:
    """Documents whose normalised title and text were not seen before."""
    seen: set[tuple[str, str]] = set()
    for document in documents:
        key = (normalise(document.title), normalise(document.text))
        if key not in seen:
            seen.add(key)
            yield document


# ----------------------------------------------------------------------------------------------
# Reading


def detect_format(path: str | Path) -> str:
    """``text`` for .txt/.text/.md; for .jsonl/.json ``titled`` or ``jsonl`` by the first record's fields."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(TEXT_SUFFIXES) or "." not in name:
        return "text"
    if not name.endswith(_JSONL_SUFFIXES):
        raise SembridgeError(
            f"cannot tell the format of '{path}' from its name",
            hint="pass --format titled, text or jsonl",
        )
    for where, record in read_file(path):
        if not isinstance(record, dict):
            raise SembridgeError(
                f"{where}: expected a JSON object", hint="each line must hold one JSON object"
            )
        if pick_value(record, TITLE_NAMES) is not None:
            return "titled"
        if pick_value(record, BODY_NAMES) is not None:
            return "jsonl"
        raise SembridgeError(
            f"{where}: no title or text field (fields: {', '.join(record) or 'none'})",
            hint="titled records need 'title' and 'body'; paragraph records need 'text'",
        )
    raise SembridgeError(f"'{path}' is empty", hint="give a file with at least one document")


def read_documents(paths: Sequence[str | Path], fmt: str = "auto") -> list[Document]:
    """The documents of every file in ``paths``, read as ``fmt`` (see the module docstring)."""
    if fmt not in FORMATS:
        raise SembridgeError(f"unknown format '{fmt}'", hint=f"use one of: {', '.join(FORMATS)}")
    if not paths:
        raise SembridgeError("no input file given", hint="name one or more text or JSONL files")
    documents: list[Document] = []
    for path in map(Path, paths):
        if not path.is_file():
            raise SembridgeError(f"input file '{path}' does not exist", hint="check the path")
        if path.stat().st_size == 0:
            raise SembridgeError(
                f"input file '{path}' is empty", hint="give a file with at least one document"
            )
        file_format = detect_format(path) if fmt == "auto" else fmt
        before = len(documents)
        if file_format == "text":
            documents.extend(_read_text(path))
        else:
            documents.extend(_read_records(path, titled=file_format == "titled"))
        if len(documents) == before:
            raise SembridgeError(
                f"input file '{path}' holds no text", hint="give a file with at least one document"
            )
    return documents


def _read_text(path: Path) -> Iterator[Document]:
    text = "\n".join(line for _, line in read_lines(path))
    for number, paragraph in enumerate(split_paragraphs(text), start=1):
        yield Document(paragraph, where=f"{path.name} paragraph {number}")


def _read_records(path: Path, titled: bool) -> Iterator[Document]:
    for where, record in read_file(path):
        if not isinstance(record, dict):
            raise SembridgeError(
                f"{where}: expected a JSON object", hint="each line must hold one JSON object"
            )
        body = pick_text(record, BODY_NAMES, where)
        title = pick_text(record, TITLE_NAMES, where) if titled else None
        if titled and title is None:
            raise SembridgeError(
                f"{where}: field 'title' is missing (fields: {', '.join(record) or 'none'})",
                hint="titled records need 'title' and 'body' (or 'text'); use --format jsonl for paragraphs",
            )
        if not titled and body is None:
            raise SembridgeError(
                f"{where}: field 'text' is missing (fields: {', '.join(record) or 'none'})",
                hint="paragraph records need 'text'; use --format titled for title/body records",
            )
        keywords = _keywords(pick_value(record, KEYWORD_NAMES), where) if titled else ()
        yield Document(clean(str(body or "")), clean(str(title or "")), keywords, where)


def _keywords(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        raise SembridgeError(
            f"{where}: 'keywords' must be a list or a comma-separated string, got {type(value).__name__}"
        )
    return tuple(keyword for keyword in (clean(str(item)) for item in value) if keyword)


# ----------------------------------------------------------------------------------------------
# The command


def make_pairs(
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    fmt: str = "auto",
    mode: str = "all",
    pair_filter: PairFilter | None = None,
    seed: int = 42,
    limit: int | None = None,
    shared_paragraphs: str = "keep",
    overwrite: bool = False,
) -> PairsSummary:
    """Read ``inputs``, make, filter and deduplicate pairs, write them to ``output`` as JSONL.

    Each line of the output is ``{"query": ..., "positive": ...}``; the file is written atomically
    and only when at least one pair is kept. ``shared_paragraphs="drop"`` keeps only the first
    of the pairs whose positives are equal or share a paragraph (no two written positives do);
    ``"keep"`` writes them all and counts them (``finetune --paragraph-groups`` then keeps them out
    of one batch). Raises SembridgeError on bad input.
    """
    from sembridge.data.writers import write_pairs_jsonl

    output = Path(output)
    pair_filter = pair_filter or PairFilter()
    check_mode(mode)
    if shared_paragraphs not in SHARED_PARAGRAPHS:
        raise SembridgeError(
            f"unknown --shared-paragraphs '{shared_paragraphs}'",
            hint=f"use one of: {', '.join(SHARED_PARAGRAPHS)}",
        )
    if limit is not None and limit < 1:
        raise SembridgeError(f"--limit must be a positive integer, got {limit}")
    check_output_file(output, overwrite, inputs={"input": list(inputs)})
    documents = list(dedupe_documents(read_documents(inputs, fmt)))
    dropped: Counter[str] = Counter()
    candidates = list(document_pairs(documents, mode, seed, pair_filter.min_query_chars))
    kept: list[Pair] = []
    taken: set[str] = set()  # the shared-text keys of the kept positives, when dropping
    for pair in pair_filter.apply(candidates, dropped):
        if shared_paragraphs == "drop":
            keys = shared_text_keys(pair.positive)
            if keys & taken:
                dropped["shared paragraph"] += 1
                continue
            taken |= keys
        kept.append(pair)
        if limit is not None and len(kept) >= limit:
            break
    if not kept:
        drops = ", ".join(f"{reason} {count:,}" for reason, count in sorted(dropped.items())) or "none"
        raise SembridgeError(
            f"no usable pair in {len(documents):,} documents "
            f"({len(candidates):,} candidates; dropped: {drops})",
            hint=_no_pair_hint(mode, pair_filter),
        )
    write_pairs_jsonl(((pair.query, pair.positive) for pair in kept), output)
    return PairsSummary(
        output=output,
        files=len(inputs),
        documents=len(documents),
        candidates=len(candidates),
        written=len(kept),
        by_kind=dict(Counter(pair.kind for pair in kept)),
        dropped=dict(dropped),
        sharing_a_paragraph=sharing_a_paragraph([pair.positive for pair in kept]),
    )


def _no_pair_hint(mode: str, pair_filter: PairFilter) -> str:
    if mode in ("title", "keywords"):
        return (
            "title and keyword pairs need titled documents (--format titled); try --mode cloze for paragraphs"
        )
    if pair_filter.language is not None:
        return (
            "cloze pairs need paragraphs of two or more sentences; check --language, "
            "or lower --min-script-share and the --min-*-chars limits"
        )
    return "cloze pairs need paragraphs of two or more sentences; lower the --min-*-chars limits"
