"""The one table of accepted column names, and the picker that finds them in a record.

Every reader of every command looks names up here, so a file that one command accepts, every
command accepts. Names are matched exactly first, then ignoring case; the first name of a
tuple that a record has wins.

- training pairs: query (query, question, anchor), positive (positive, answer, passage,
  document, pos), negative (negative, hard_negative, neg), language (language, lang); MIRACL
  training records carry ``positive_passages`` / ``negative_passages`` lists instead;
- corpus and queries files: document ids (_id, docid, doc_id, id), query ids (_id, query_id,
  qid, id), query texts (text, then the query names, then title); a document's text is
  ``contents``, or ``title`` + ``text``;
- qrels records: ``query-id``, ``corpus-id``, ``score`` (the BEIR names).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sembridge.errors import SembridgeError

QUERY_NAMES: tuple[str, ...] = ("query", "question", "anchor")
POSITIVE_NAMES: tuple[str, ...] = ("positive", "answer", "passage", "document", "pos")
NEGATIVE_NAMES: tuple[str, ...] = ("negative", "hard_negative", "neg")
LANGUAGE_NAMES: tuple[str, ...] = ("language", "lang")
MIRACL_POSITIVES = "positive_passages"
MIRACL_NEGATIVES = "negative_passages"

DOC_ID_NAMES: tuple[str, ...] = ("_id", "docid", "doc_id", "id")
QUERY_ID_NAMES: tuple[str, ...] = ("_id", "query_id", "qid", "id")
QUERY_TEXT_NAMES: tuple[str, ...] = ("text", *QUERY_NAMES, "title")
QRELS_NAMES: tuple[str, str, str] = ("query-id", "corpus-id", "score")

PAIR_COLUMNS: tuple[str, ...] = ("query", "positive", "negative")
"""The columns of normalised pairs, in the order the contrastive loss reads them."""

# Documents without queries (``sembridge pairs``): a title, a body and optional keywords.
TITLE_NAMES: tuple[str, ...] = ("title", "name", "heading")
BODY_NAMES: tuple[str, ...] = ("body", "text", "contents")
KEYWORD_NAMES: tuple[str, ...] = ("keywords", "tags")


def pick_column(names: Iterable[str], keys: Sequence[str]) -> str | None:
    """The first of ``names`` among ``keys`` (exactly, else ignoring case), as spelled in ``keys``."""
    lowered = {key.lower(): key for key in keys}
    for name in names:
        if name in keys:
            return name
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def pick_value(record: dict[str, Any], names: Iterable[str]) -> Any:
    """The value of the first of ``names`` that ``record`` holds and is not None; None otherwise."""
    keys = list(record)
    for name in names:
        column = pick_column((name,), keys)
        if column is not None and record[column] is not None:
            return record[column]
    return None


def pick_text(record: dict[str, Any], names: Iterable[str], where: str) -> str | None:
    """Like :func:`pick_value`, but the value must be text: anything else is refused naming
    ``where`` and the column."""
    keys = list(record)
    for name in names:
        column = pick_column((name,), keys)
        if column is not None and record[column] is not None:
            return _text_field(record[column], column, where)
    return None


def document_text(record: dict[str, Any], where: str = "record") -> str:
    """A document's text: ``contents``, or ``title`` and ``text`` joined by a space.

    The fields must hold text: ``contents`` when present, else ``text`` (required; a missing or
    null ``title`` is no title). Anything else (a list, a number, null) is refused naming
    ``where`` (``"corpus.jsonl line 3"``) and the field, rather than indexed as its ``str()``.
    """
    if record.get("contents") is not None:
        return _text_field(record["contents"], "contents", where)
    title, text, field = record.get("title"), record.get("text"), "text"
    if isinstance(text, dict):  # some MTEB sets nest {"title", "text"}
        title, text, field = text.get("title") or title, text.get("text"), "text.text"
    text = _text_field(text, field, where)
    title = "" if title is None else _text_field(title, "title", where)
    return f"{title} {text}".strip() if title else text


def _text_field(value: Any, field: str, where: str) -> str:
    if value is None:
        raise SembridgeError(
            f"{where}: field '{field}' is missing or null",
            hint="each document needs its text in 'text' (with an optional 'title') or 'contents'",
        )
    if not isinstance(value, str):
        raise SembridgeError(
            f"{where}: field '{field}' must be text, got {type(value).__name__}",
            hint="give each document's text as one string",
        )
    return value
