"""Text that is not text: undecodable bytes and list, number or null text fields are refused
with the file, the line and the field, by the reader of every command (finetune, evaluate,
export, pairs)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sembridge.data import load_corpus, load_queries, load_retrieval_data, read_pairs
from sembridge.data.columns import document_text
from sembridge.data.make_pairs import read_documents
from sembridge.errors import SembridgeError


def _lines(path: Path, rows: list[bytes]) -> Path:
    data = b"".join(row + b"\n" for row in rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def _json(row: dict[str, Any]) -> bytes:
    return json.dumps(row, ensure_ascii=False).encode("utf-8")


def _beir(folder: Path, corpus: list[bytes], queries: list[bytes] | None = None) -> Path:
    _lines(folder / "corpus.jsonl", corpus)
    _lines(folder / "queries.jsonl", queries or [_json({"_id": "q1", "text": "capital?"})])
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n", encoding="utf-8")
    return folder


GOOD_PAIR = _json({"query": "capital of france", "positive": "paris"})
GOOD_DOC = _json({"_id": "d1", "title": "Paris", "text": "capital of France"})
LATIN = '{"_id": "d2", "text": "caf\u00e9"}'.encode("latin-1")


@pytest.mark.parametrize(
    ("command", "name", "read"),
    [
        ("finetune", "pairs.jsonl", lambda p: read_pairs(_lines(p, [GOOD_PAIR, GOOD_PAIR, LATIN]))),
        ("finetune", "pairs.jsonl.gz", lambda p: read_pairs(_lines(p, [GOOD_PAIR, GOOD_PAIR, LATIN]))),
        ("export", "corpus.jsonl", lambda p: load_corpus(_lines(p, [GOOD_DOC, GOOD_DOC, LATIN]))),
        (
            "evaluate",
            "corpus.jsonl",
            lambda p: load_retrieval_data(_beir(p.parent, [GOOD_DOC, GOOD_DOC, LATIN])),
        ),
        ("pairs", "docs.jsonl", lambda p: read_documents([_lines(p, [GOOD_DOC, GOOD_DOC, LATIN])])),
        ("evaluate", "queries.tsv", lambda p: load_queries(_lines(p, [b"q1\tcapital?", b"q2\tok", LATIN]))),
    ],
)
def test_bytes_that_are_not_utf8_are_refused_with_file_and_line(
    tmp_path: Path, command: str, name: str, read: Callable[[Path], Any]
) -> None:
    path = tmp_path / "data" / name
    with pytest.raises(SembridgeError) as err:
        read(path)
    assert err.value.message.startswith(f"cannot read '{path}' line 3: not UTF-8 text (byte 0xe9"), command
    assert "UTF-8" in (err.value.hint or "")


@pytest.mark.parametrize(
    ("record", "field", "problem"),
    [
        ({"_id": "d2", "text": ["x", "y"]}, "text", "must be text, got list"),
        ({"_id": "d2", "text": None}, "text", "is missing or null"),
        ({"_id": "d2", "title": "Paris"}, "text", "is missing or null"),
        ({"_id": "d2", "text": 7}, "text", "must be text, got int"),
        ({"_id": "d2", "title": ["a"], "text": "x"}, "title", "must be text, got list"),
        ({"_id": "d2", "contents": ["x"], "text": "y"}, "contents", "must be text, got list"),
        ({"_id": "d2", "text": {"title": "t", "text": None}}, "text.text", "is missing or null"),
    ],
)
def test_corpus_fields_that_are_not_text_are_refused_by_export_and_evaluate(
    tmp_path: Path, record: dict[str, Any], field: str, problem: str
) -> None:
    expected = f"corpus.jsonl line 2: field '{field}' {problem}"
    corpus = _lines(tmp_path / "export" / "corpus.jsonl", [GOOD_DOC, _json(record)])
    with pytest.raises(SembridgeError) as err:
        load_corpus(corpus)
    assert err.value.message == expected
    with pytest.raises(SembridgeError) as err:
        load_retrieval_data(_beir(tmp_path / "evaluate", [GOOD_DOC, _json(record)]))
    assert err.value.message == expected


def test_query_text_that_is_not_text_names_the_field(tmp_path: Path) -> None:
    queries = [_json({"_id": "q1", "text": "capital?"}), _json({"_id": "q2", "text": ["a", "b"]})]
    with pytest.raises(SembridgeError) as err:
        load_retrieval_data(_beir(tmp_path, [GOOD_DOC], queries))
    assert err.value.message == "queries.jsonl line 2: field 'text' must be text, got list"


def test_document_body_that_is_not_text_is_refused_by_pairs(tmp_path: Path) -> None:
    path = _lines(tmp_path / "docs.jsonl", [_json({"text": "a paragraph"}), _json({"text": ["x", "y"]})])
    with pytest.raises(SembridgeError) as err:
        read_documents([path])
    assert err.value.message == "docs.jsonl line 2: field 'text' must be text, got list"


def test_document_text_accepts_what_it_did() -> None:
    assert document_text({"title": "Paris", "text": "capital"}) == "Paris capital"
    assert document_text({"title": None, "text": "capital"}) == "capital"
    assert document_text({"title": "", "text": ""}) == ""
    assert document_text({"contents": "all of it", "text": ["ignored"]}) == "all of it"
    assert document_text({"title": "outer", "text": {"title": "inner", "text": "body"}}) == "inner body"
    with pytest.raises(SembridgeError, match=r"^hub\[corpus\] row 4: field 'text' is missing or null$"):
        document_text({"_id": "d"}, "hub[corpus] row 4")
