"""Readers, the column table and the hub-id rule: the pieces every command's data goes through."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from sembridge.data.columns import DOC_ID_NAMES, QUERY_NAMES, document_text, pick_column, pick_value
from sembridge.data.hub import is_hub_id, split_hub_id
from sembridge.data.readers import first_record, read_file, read_source
from sembridge.errors import SembridgeError


def test_gzipped_csv_and_tsv_are_located_by_line(tmp_path: Path) -> None:
    for name, text in (("p.csv.gz", "query,positive\n\nq1,p1\n"), ("p.tsv.gz", "query\tpositive\nq1\tp1\n")):
        with gzip.open(tmp_path / name, "wt", encoding="utf-8") as out:
            out.write(text)
    assert list(read_file(tmp_path / "p.csv.gz")) == [("p.csv.gz line 3", {"query": "q1", "positive": "p1"})]
    assert list(read_file(tmp_path / "p.tsv.gz")) == [("p.tsv.gz line 2", {"query": "q1", "positive": "p1"})]


def test_text_that_is_not_utf8_is_refused_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes('{"query": "caf\u00e9"}\n'.encode("latin-1"))
    with pytest.raises(SembridgeError, match="cannot read '.*latin.jsonl'") as err:
        list(read_file(path))
    assert "UTF-8" in (err.value.hint or "")


def test_first_record_of_empty_or_odd_files(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n")
    (tmp_path / "list.jsonl").write_text("[1, 2]\n")
    (tmp_path / "ok.json").write_text('[{"a": 1}]')
    assert first_record(tmp_path / "empty.jsonl") is None
    assert first_record(tmp_path / "list.jsonl") is None
    assert first_record(tmp_path / "ok.json") == {"a": 1}


def test_missing_path_is_not_taken_for_a_hub_id(tmp_path: Path) -> None:
    with pytest.raises(SembridgeError, match="data file 'data/pairs.jsonl' does not exist"):
        list(read_source("data/pairs.jsonl"))
    with pytest.raises(SembridgeError, match="does not exist"):
        list(read_source(tmp_path / "nope"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PaDaS-Lab/webfaq-retrieval", True),
        ("PaDaS-Lab/webfaq-retrieval:rus", True),
        ("miracl/miracl-corpus:ru", True),
        ("data/pairs.jsonl", False),
        ("./org/name", False),
        ("/abs/org/name", False),
        ("~/org/name", False),
        ("squad", False),
        ("a/b/c", False),
    ],
)
def test_hub_id_rule(text: str, expected: bool) -> None:
    assert is_hub_id(text) is expected


def test_hub_id_rule_prefers_an_existing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert not is_hub_id("org/name")
    assert split_hub_id("org/name:sub") == ("org/name", "sub") and split_hub_id("org/name") == (
        "org/name",
        None,
    )


def test_column_table_and_picker() -> None:
    assert pick_column(QUERY_NAMES, ["Question", "Answer"]) == "Question"
    assert pick_column(QUERY_NAMES, ["text"]) is None
    assert pick_value({"_id": None, "docid": 7}, DOC_ID_NAMES) == 7
    assert document_text({"title": "Paris", "text": "capital"}) == "Paris capital"
    assert document_text({"contents": "all of it", "text": "ignored"}) == "all of it"


def test_read_text_lines_is_the_one_text_line_reader(tmp_path):
    import gzip

    from sembridge.data.readers import read_text_lines

    plain = tmp_path / "ru.txt"
    plain.write_text("  первая строка \n\n\tвторая\n", encoding="utf-8")
    assert read_text_lines(plain) == ["первая строка", "вторая"]
    packed = tmp_path / "ru.txt.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_text_lines(packed) == ["первая строка", "вторая"]
    with pytest.raises(SembridgeError, match="--target-text '.*missing.txt' does not exist"):
        read_text_lines(tmp_path / "missing.txt", "--target-text")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n" + b"\xff\xfe broken\n")
    with pytest.raises(SembridgeError, match="line 2: not UTF-8"):
        read_text_lines(bad)


def test_focus_query_weights_and_the_tokenizer_read_text_through_it():
    import inspect

    import sembridge.init.pipeline as pipeline
    import sembridge.methods.focus as focus
    import sembridge.tokenizer_training as tokenizer_training
    from sembridge.data.readers import read_text_lines

    for module in (focus, pipeline, tokenizer_training):
        assert module.read_text_lines is read_text_lines
        assert ".splitlines()" not in inspect.getsource(module)
