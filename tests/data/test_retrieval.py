"""Loaders for the BEIR, MIRACL, WebFAQ and pairs layouts, and the refusals of bad input."""

from __future__ import annotations

import gzip
import json
import sys
import types
from pathlib import Path

import pytest

from sembridge.data import (
    RetrievalDataset,
    detect_format,
    load_corpus,
    load_queries,
    load_retrieval_data,
    pairs_dataset,
    save_beir,
    write_pairs_jsonl,
)
from sembridge.errors import ModelLoadError, SembridgeError

PAIRS = [
    ("what is the capital of france", "paris is the capital of france"),
    ("how tall is the eiffel tower", "the eiffel tower is 330 metres tall"),
    ("capital city of france?", "paris is the capital of france"),  # shares a positive
    ("what is the capital of france", "the capital of france is paris"),  # a second positive
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def test_pairs_dataset_dedupes_texts():
    data = pairs_dataset(PAIRS)
    assert len(data.corpus) == 3 and len(data.queries) == 3
    assert data.qrels["q0"] == {"d0": 1, "d2": 1}
    assert data.qrels["q2"] == {"d0": 1}


def test_pairs_jsonl_and_beir_round_trip(tmp_path):
    pairs_file = write_pairs_jsonl(PAIRS, tmp_path / "pairs.jsonl")
    assert detect_format(pairs_file) == "pairs"
    data = load_retrieval_data(pairs_file)
    assert data.format == "pairs" and data.summary()["relevant"] == 4
    folder = save_beir(data, tmp_path / "beir", split="test")
    again = load_retrieval_data(folder, split="test")
    assert again.format == "beir"
    assert (again.corpus, again.queries, again.qrels) == (data.corpus, data.queries, data.qrels)
    assert load_corpus(folder) == data.corpus == load_corpus(pairs_file)
    assert load_queries(pairs_file) == data.queries


def test_beir_title_text_queries_filtered_and_jsonl_qrels(tmp_path):
    write_jsonl(
        tmp_path / "corpus.jsonl.gz",
        [{"_id": "d1", "title": "Paris", "text": "capital"}, {"_id": 2, "text": "x"}],
    )
    write_jsonl(
        tmp_path / "queries.jsonl", [{"_id": "q1", "text": "capital?"}, {"_id": "q2", "text": "other split"}]
    )
    write_jsonl(tmp_path / "qrels" / "dev.jsonl", [{"query-id": "q1", "corpus-id": "d1", "score": 1}])
    data = load_retrieval_data(tmp_path, split="dev")
    assert data.corpus == {"d1": "Paris capital", "2": "x"}
    assert data.queries == {"q1": "capital?"}  # queries of other splits are left out
    with pytest.raises(SembridgeError, match="no qrels for split 'test'") as err:
        load_retrieval_data(tmp_path, split="test")
    assert "dev" in err.value.hint


def test_miracl_layout(tmp_path):
    (tmp_path / "topics").mkdir()
    (tmp_path / "qrels").mkdir()
    (tmp_path / "topics" / "topics.miracl-v1.0-ru-dev.tsv").write_text("1\tстолица франции\n2\tбашня\n")
    (tmp_path / "qrels" / "qrels.miracl-v1.0-ru-dev.tsv").write_text("1 Q0 a#0 1\n1 Q0 b#1 0\n2 Q0 b#1 1\n")
    write_jsonl(
        tmp_path / "corpus" / "docs-0.jsonl.gz", [{"docid": "a#0", "title": "Париж", "text": "столица"}]
    )
    write_jsonl(tmp_path / "corpus" / "docs-1.jsonl.gz", [{"docid": "b#1", "title": "", "text": "башня"}])
    assert detect_format(tmp_path) == "miracl"
    data = load_retrieval_data(tmp_path, split="dev")
    assert data.corpus == {"a#0": "Париж столица", "b#1": "башня"}
    assert data.qrels == {"1": {"a#0": 1, "b#1": 0}, "2": {"b#1": 1}}


def test_webfaq_layout(tmp_path):
    write_jsonl(
        tmp_path / "documents.jsonl", [{"doc_id": "d1", "text": "ответ"}, {"doc_id": "d2", "text": "два"}]
    )
    write_jsonl(tmp_path / "training" / "queries.jsonl", [{"query_id": "t1", "text": "вопрос"}])
    (tmp_path / "training" / "qrels").write_text("t1 0 d1 1\n")
    data = load_retrieval_data(tmp_path, split="train")
    assert data.format == "webfaq" and data.qrels == {"t1": {"d1": 1}}
    with pytest.raises(SembridgeError, match="no WebFAQ split folder 'test'"):
        load_retrieval_data(tmp_path, split="test")


def make_beir(tmp_path: Path, qrels: str) -> Path:
    write_jsonl(tmp_path / "corpus.jsonl", [{"_id": "d1", "text": "a"}, {"_id": "d2", "text": "b"}])
    write_jsonl(tmp_path / "queries.jsonl", [{"_id": "q1", "text": "a?"}])
    (tmp_path / "qrels").mkdir(exist_ok=True)
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return tmp_path


def test_unknown_ids_are_counted_and_refused(tmp_path):
    folder = make_beir(tmp_path, "q1\td1\t1\nq1\td7\t1\nq1\td8\t1\nqx\td1\t1\nqy\td2\t1\n")
    with pytest.raises(SembridgeError) as err:
        load_retrieval_data(folder)
    message = str(err.value)
    assert "2 of 3 judged queries are not in the queries (e.g. 'qx', 'qy')" in message
    assert "2 judged documents are not in the corpus (e.g. 'd7', 'd8')" in message
    assert "--drop-unknown-qrels" in err.value.hint
    data = load_retrieval_data(folder, drop_unknown=True)
    assert data.qrels == {"q1": {"d1": 1}} and data.notes


def test_mismatched_ids_everything_unknown(tmp_path):
    folder = make_beir(tmp_path, "1\t1\t1\n")
    with pytest.raises(SembridgeError, match="1 of 1 judged queries are not in the queries"):
        load_retrieval_data(folder)
    with pytest.raises(SembridgeError, match="no judgement .* is left"):
        load_retrieval_data(folder, drop_unknown=True)


def test_empty_corpus_duplicates_and_bad_lines(tmp_path):
    folder = make_beir(tmp_path, "q1\td1\t1\n")
    (folder / "corpus.jsonl").write_text("")
    with pytest.raises(SembridgeError, match="corpus of .* is empty"):
        load_retrieval_data(folder)
    write_jsonl(folder / "corpus.jsonl", [{"_id": "d1", "text": "a"}, {"_id": "d1", "text": "b"}])
    with pytest.raises(SembridgeError, match="document id 'd1' appears twice .* corpus.jsonl line 2"):
        load_retrieval_data(folder)
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "text": "a"}\n{oops\n')
    with pytest.raises(SembridgeError, match="^corpus.jsonl line 2: not valid JSON"):
        load_retrieval_data(folder)
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "text": "a"}\n')
    (folder / "qrels" / "test.tsv").write_text("q1\td1\n")
    with pytest.raises(SembridgeError, match="^test.tsv line 1: not a judgement"):
        load_retrieval_data(folder)
    (folder / "qrels" / "test.tsv").write_text("q1\td1\t0\n")
    with pytest.raises(SembridgeError, match="mark no document relevant"):
        load_retrieval_data(folder)


def test_unknown_sources(tmp_path):
    with pytest.raises(SembridgeError, match="does not exist"):
        load_retrieval_data(tmp_path / "missing-folder")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SembridgeError, match="cannot tell the layout"):
        load_retrieval_data(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SembridgeError, match="not a known data layout"):
        load_retrieval_data(tmp_path / "empty")
    with pytest.raises(SembridgeError, match="unknown data format 'trec'"):
        load_retrieval_data(tmp_path, data_format="trec")


def test_hub_id_without_datasets_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails, as when not installed
    with pytest.raises(ModelLoadError, match="'org/some-set' is not a local file or folder.*'datasets'"):
        load_retrieval_data("org/some-set")


def test_hub_id_through_datasets_configs(monkeypatch):
    calls = []

    def load_dataset(repo, config):
        calls.append((repo, config))
        tables = {
            "rus-corpus": {"corpus": [{"_id": "d1", "title": "", "text": "ответ"}]},
            "rus-queries": {"train": [{"_id": "q0", "text": "x"}], "test": [{"_id": "q1", "text": "вопрос"}]},
            "rus-qrels": {"train": [], "test": [{"query-id": "q1", "corpus-id": "d1", "score": 1.0}]},
        }
        return tables[config]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    data = load_retrieval_data("PaDaS-Lab/webfaq-retrieval:rus", split="test")
    assert isinstance(data, RetrievalDataset) and data.format == "hub"
    assert data.queries == {"q1": "вопрос"} and data.qrels == {"q1": {"d1": 1}}
    assert calls[0] == ("PaDaS-Lab/webfaq-retrieval", "rus-corpus")


def test_pairs_dataset_adds_negatives_as_unjudged_documents():
    from sembridge.data import pairs_dataset

    data = pairs_dataset([("q a", "pos a"), ("q b", "pos b")], "eval", negatives=["neg", "pos a", " ", "neg"])
    assert data.corpus == {"d0": "pos a", "d1": "pos b", "d2": "neg"}
    assert data.qrels == {"q0": {"d0": 1}, "q1": {"d1": 1}}


def test_beir_round_trip_keeps_ids_with_spaces_and_other_scripts(tmp_path):
    ids = ["doc 1", "d-1", "文档1", "123"]
    data = RetrievalDataset(
        corpus={doc: f"text of {doc}" for doc in ids},
        queries={"q 1": "first", "问题": "second", "7": "third"},
        qrels={"q 1": {"doc 1": 1, "d-1": 0}, "问题": {"文档1": 2}, "7": {"123": 1}},
    )
    folder = save_beir(data, tmp_path / "beir", split="test")
    again = load_retrieval_data(folder, split="test")
    assert (again.corpus, again.queries, again.qrels) == (data.corpus, data.queries, data.qrels)


BOM = "\ufeff"


def test_beir_files_starting_with_a_byte_order_mark(tmp_path):
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    corpus = [{"_id": "d1", "title": "", "text": "paris"}, {"_id": "d2", "title": "", "text": "rome"}]
    (folder / "corpus.jsonl").write_text(
        BOM + "".join(json.dumps(r) + "\n" for r in corpus), encoding="utf-8"
    )
    with gzip.open(folder / "queries.jsonl.gz", "wt", encoding="utf-8") as out:  # gzipped too
        out.write(BOM + json.dumps({"_id": "q1", "text": "capital"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text(
        BOM + "query-id\tcorpus-id\tscore\nq1\td1\t1\n", encoding="utf-8"
    )
    data = load_retrieval_data(folder, split="test")
    assert list(data.corpus) == ["d1", "d2"] and data.corpus["d1"] == "paris"
    assert data.queries == {"q1": "capital"} and data.qrels == {"q1": {"d1": 1}}
    # A header-less qrels file: the first judgement keeps a clean query id.
    (folder / "qrels" / "test.tsv").write_text(BOM + "q1\td1\t1\n", encoding="utf-8")
    assert load_retrieval_data(folder, split="test").qrels == {"q1": {"d1": 1}}
    # MIRACL topics and TREC qrels.
    miracl = tmp_path / "miracl"
    (miracl / "topics").mkdir(parents=True)
    (miracl / "qrels").mkdir()
    (miracl / "corpus").mkdir()
    (miracl / "topics" / "topics.x-dev.tsv").write_text(BOM + "1\tcapital\n", encoding="utf-8")
    (miracl / "qrels" / "qrels.x-dev.tsv").write_text(BOM + "1 Q0 d1 1\n", encoding="utf-8")
    (miracl / "corpus" / "docs.jsonl").write_text(
        BOM + json.dumps({"docid": "d1", "title": "", "text": "paris"}) + "\n", encoding="utf-8"
    )
    data = load_retrieval_data(miracl, split="dev")
    assert data.queries == {"1": "capital"} and data.qrels == {"1": {"d1": 1}} and list(data.corpus) == ["d1"]


def _miracl(folder: Path, qrels: dict[str, str]) -> Path:
    (folder / "topics").mkdir(parents=True)
    (folder / "qrels").mkdir()
    (folder / "topics" / "topics.x-dev.tsv").write_text("1\tcapital\n", encoding="utf-8")
    for name, text in qrels.items():
        (folder / "qrels" / name).write_text(text, encoding="utf-8")
    write_jsonl(folder / "corpus" / "docs.jsonl", [{"docid": "a", "text": "x"}, {"docid": "b", "text": "y"}])
    return folder


def test_miracl_qrels_files_that_disagree_keep_the_last_with_a_warning(tmp_path, sembridge_warnings):
    folder = _miracl(
        tmp_path / "miracl",
        {"qrels.x-dev.tsv": "1 Q0 a 1\n1 Q0 b 1\n", "qrels.y-dev.tsv": "1 Q0 a 0\n1 Q0 b 1\n"},
    )
    data = load_retrieval_data(folder, split="dev", data_format="miracl")
    assert data.qrels == {"1": {"a": 0, "b": 1}}
    assert sembridge_warnings == [
        f"the qrels of '{folder}': 1 judgement(s) give a query and document judged before a different "
        "relevance (e.g. query '1', document 'a': 1, then 0 at qrels.y-dev.tsv); the last one is kept"
    ]


def test_hub_qrels_that_disagree_keep_the_last_with_a_warning(monkeypatch, sembridge_warnings):
    def load_dataset(repo, config):
        return {
            "corpus": {"corpus": [{"_id": "d1", "text": "ответ"}]},
            "queries": {"test": [{"_id": "q1", "text": "вопрос"}]},
            "default": {"test": [{"query-id": "q1", "corpus-id": "d1", "score": s} for s in (0, 1)]},
        }[config]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    assert load_retrieval_data("org/set", split="test").qrels == {"q1": {"d1": 1}}
    assert sembridge_warnings == [
        "org/set: 1 judgement(s) give a query and document judged before a different relevance "
        "(e.g. query 'q1', document 'd1': 0, then 1 at org/set[qrels] row 2); the last one is kept"
    ]


def test_documents_with_empty_text_are_kept_with_one_warning(tmp_path, sembridge_warnings):
    folder = tmp_path / "beir"
    write_jsonl(
        folder / "corpus.jsonl",
        [
            {"_id": "d1", "title": "", "text": "paris"},
            {"_id": "d2", "title": "", "text": ""},
            {"_id": "d3", "text": "  \n"},
        ],
    )
    write_jsonl(folder / "queries.jsonl", [{"_id": "q1", "text": "capital"}])
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("q1\td1\t1\nq1\td2\t0\n", encoding="utf-8")
    data = load_retrieval_data(folder, split="test")
    assert list(data.corpus) == ["d1", "d2", "d3"]
    assert sembridge_warnings == [
        f"the corpus of '{folder}' holds 2 document(s) with empty text (e.g. 'd2', 'd3'); they are kept, "
        "but hold nothing a query can match"
    ]
    sembridge_warnings.clear()
    assert len(load_corpus(folder / "corpus.jsonl")) == 3  # export reads the corpus alone
    assert sembridge_warnings == [
        f"the corpus of '{folder / 'corpus.jsonl'}' holds 2 document(s) with empty text (e.g. 'd2', 'd3'); "
        "they are kept, but hold nothing a query can match"
    ]


TSV_RULE = "ids may not contain tabs or line breaks"


@pytest.mark.parametrize(
    ("kind", "bad", "rule"),
    [
        ("document", "d\t1", TSV_RULE),
        ("query", "q\n1", TSV_RULE),
        ("document", "d\r1", TSV_RULE),
        ("query", "", "ids may not be empty"),
    ],
)
def test_save_beir_refuses_ids_its_qrels_tsv_cannot_hold_before_writing(tmp_path, kind, bad, rule):
    query, doc = (bad, "d1") if kind == "query" else ("q1", bad)
    data = RetrievalDataset(corpus={doc: "text"}, queries={query: "query"}, qrels={query: {doc: 1}})
    with pytest.raises(SembridgeError) as err:
        save_beir(data, tmp_path / "beir")
    assert err.value.message == f"{kind} id {bad!r} cannot be written in BEIR qrels TSV ({rule})"
    assert f"change that {kind} id" in (err.value.hint or "")
    assert not (tmp_path / "beir").exists()  # refused before any file is written


def test_save_beir_writes_unjudged_ids_any_json_line_holds(tmp_path):
    data = RetrievalDataset(
        corpus={"doc 1": "paris", "文档1": "巴黎", "odd\tid": "an unjudged document"},
        queries={"q 1": "capital"},
        qrels={"q 1": {"doc 1": 1, "文档1": 0}},
    )
    again = load_retrieval_data(save_beir(data, tmp_path / "beir"), split="test")
    assert (again.corpus, again.queries, again.qrels) == (data.corpus, data.queries, data.qrels)
