"""Files that start with a UTF-8 byte-order mark (as Windows tools write them) read like any other.

Every reader of user files goes through :func:`sembridge.data.readers.open_text` (``utf-8-sig``),
except the word-vector files, read as bytes; the first record must not keep the mark.
"""

from __future__ import annotations

import gzip
import json

import pytest

from sembridge.data.make_pairs import read_documents
from sembridge.data.pairs import load_pairs, read_pairs
from sembridge.data.readers import read_text_lines
from sembridge.methods.word_vectors import read_dictionary, read_word_vectors
from sembridge.tokenizer_training import read_corpus

BOM = "\ufeff"
PAIRS = [("what is the capital of france", "paris"), ("how tall is the tower", "330 metres")]


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


@pytest.mark.parametrize("name", ["pairs.jsonl", "pairs.json", "pairs.jsonl.gz", "pairs.csv", "pairs.tsv"])
def test_pairs_file_with_a_byte_order_mark(tmp_path, name):
    path = tmp_path / name
    if name.endswith((".csv", ".tsv")):
        sep = "," if name.endswith(".csv") else "\t"
        text = f"query{sep}positive\n" + "".join(f"{q}{sep}{p}\n" for q, p in PAIRS)
    elif name == "pairs.json":
        text = json.dumps([{"query": q, "positive": p} for q, p in PAIRS])
    else:
        text = _jsonl([{"query": q, "positive": p} for q, p in PAIRS])
    if name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as out:
            out.write(BOM + text)
    else:
        path.write_text(BOM + text, encoding="utf-8")
    pairs = read_pairs(path)
    assert pairs["query"] == [q for q, _ in PAIRS] and pairs["positive"] == [p for _, p in PAIRS]
    assert load_pairs(path)[0] == {"query": PAIRS[0][0], "positive": PAIRS[0][1]}


def test_text_files_with_a_byte_order_mark(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text(BOM + "первая строка\nвторая\n", encoding="utf-8")
    assert read_text_lines(text, "--target-text") == ["первая строка", "вторая"]  # --target-text
    assert read_corpus([text]) == ["первая строка", "вторая"]  # tokenizer train --text
    assert read_documents([text])[0].text.startswith("первая")  # make-pairs, plain text
    records = tmp_path / "docs.jsonl"
    records.write_text(BOM + _jsonl([{"title": "Заголовок", "body": "текст"}]), encoding="utf-8")
    assert read_documents([records])[0].title == "Заголовок"  # make-pairs, titled JSONL


@pytest.mark.parametrize("header", [True, False])
def test_word_vectors_and_dictionary_with_a_byte_order_mark(tmp_path, header):
    path = tmp_path / "vectors.vec"
    lines = ["кот 1.0 0.0", "пёс 0.0 1.0"]
    path.write_text(BOM + ("2 2\n" if header else "") + "\n".join(lines) + "\n", encoding="utf-8")
    vectors = read_word_vectors(path)
    assert vectors.words == ["кот", "пёс"] and tuple(vectors.vectors.shape) == (2, 2)
    dictionary = tmp_path / "dict.txt"
    dictionary.write_text(BOM + "cat\tкот\ndog пёс\n", encoding="utf-8")
    assert read_dictionary(dictionary) == [("cat", "кот"), ("dog", "пёс")]
