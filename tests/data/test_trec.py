"""TREC files: run files written and read back, qrels in their three forms, topics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sembridge.data.trec import read_qrels, read_topics, read_trec_run, run_file_for_setting, write_trec_run
from sembridge.errors import SembridgeError


def test_trec_run_round_trip(tmp_path):
    indices = np.array([[2, 0, -1], [1, -1, -1]])
    scores = np.array([[3.5, 1.25, 0], [0.5, 0, 0]], dtype=np.float32)
    path = write_trec_run(
        tmp_path / "run.trec", ["q1", "q2"], ["a", "b", "c"], indices, scores, tag="my model"
    )
    lines = path.read_text().splitlines()
    assert lines[0] == "q1 Q0 c 1 3.500000 my_model"
    assert read_trec_run(path) == {"q1": {"c": 3.5, "a": 1.25}, "q2": {"b": 0.5}}
    assert run_file_for_setting(path, "none", first=True) == path
    assert run_file_for_setting(path, "mass=0.9", first=False).name == "run.mass0.9.trec"
    assert run_file_for_setting(path, "top-k=64", first=False).name == "run.top-k64.trec"


def test_bad_run_file_is_named(tmp_path):
    path = tmp_path / "run.trec"
    path.write_text("q1 Q0 d1 1\n")
    with pytest.raises(SembridgeError, match="'.*run.trec' is not a TREC run file"):
        read_trec_run(path)


def test_qrels_in_trec_beir_and_jsonl_forms_agree(tmp_path):
    expected = {"q1": {"d1": 1, "d2": 0}, "q2": {"d1": 2}}
    (tmp_path / "trec.txt").write_text("q1 Q0 d1 1\nq1 Q0 d2 0\n\nq2 0 d1 2\n")
    (tmp_path / "beir.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0.0\nq2\td1\t2\n")
    rows = [("q1", "d1", 1), ("q1", "d2", 0), ("q2", "d1", 2)]
    (tmp_path / "qrels.jsonl").write_text(
        "".join(json.dumps({"query-id": q, "corpus-id": d, "score": s}) + "\n" for q, d, s in rows)
    )
    for name in ("trec.txt", "beir.tsv", "qrels.jsonl"):
        assert read_qrels(tmp_path / name) == expected, name


def test_bad_qrels_and_topics_lines_are_located(tmp_path):
    (tmp_path / "q.tsv").write_text("q1\td1\t1\nq1\td2\tyes\n")
    with pytest.raises(SembridgeError, match=r"^q.tsv line 2: relevance 'yes' is not a number"):
        read_qrels(tmp_path / "q.tsv")
    (tmp_path / "q.jsonl").write_text('{"query-id": "q1", "corpus-id": "d1"}\n')
    with pytest.raises(SembridgeError, match=r"^q.jsonl line 1: not a judgement"):
        read_qrels(tmp_path / "q.jsonl")
    (tmp_path / "topics.tsv").write_text("1\tfirst\n2 second\n")
    with pytest.raises(SembridgeError, match=r"^topics.tsv line 2: not 'qid<TAB>query'"):
        read_topics(tmp_path / "topics.tsv")
    (tmp_path / "topics.tsv").write_text("1\tfirst\n1\tagain\n")
    with pytest.raises(SembridgeError, match=r"query id '1' appears twice .* topics.tsv line 2"):
        read_topics(tmp_path / "topics.tsv")


# Ids every reader/writer must keep as they are, and the ones a whitespace-separated run cannot hold.
IDS = ["doc 1", "d-1", "文档1", "123"]
RUN_SAFE = ["d-1", "文档1", "123"]


def test_tsv_qrels_are_split_on_tabs_only(tmp_path):
    rows = "".join(f"q {i}\t{doc}\t{i}\n" for i, doc in enumerate(IDS, start=1))
    (tmp_path / "beir.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows, encoding="utf-8")
    expected = {f"q {i}": {doc: i} for i, doc in enumerate(IDS, start=1)}
    assert read_qrels(tmp_path / "beir.tsv") == expected
    (tmp_path / "headless.tsv").write_text(rows, encoding="utf-8")
    assert read_qrels(tmp_path / "headless.tsv") == expected
    # TREC qrels with tabs (MIRACL) keep their spaces too; TREC qrels with spaces still split on them.
    (tmp_path / "miracl.tsv").write_text("q 1\tQ0\tdoc 1\t1\nq 1\tQ0\t文档1\t0\n", encoding="utf-8")
    assert read_qrels(tmp_path / "miracl.tsv") == {"q 1": {"doc 1": 1, "文档1": 0}}
    (tmp_path / "trec.txt").write_text("1 0 d-1 1\n1  Q0  123   2\n", encoding="utf-8")
    assert read_qrels(tmp_path / "trec.txt") == {"1": {"d-1": 1, "123": 2}}


def test_tsv_qrels_with_an_empty_id_or_a_missing_column_are_refused(tmp_path):
    (tmp_path / "q.tsv").write_text("q1\td1\t1\nq1\t\t1\n")
    with pytest.raises(SembridgeError, match=r"^q.tsv line 2: the document id is empty"):
        read_qrels(tmp_path / "q.tsv")
    (tmp_path / "q.tsv").write_text("q1\td1\t1\nq1 d 2 1\n")
    with pytest.raises(SembridgeError, match=r"^q.tsv line 2: not a judgement \(1 tab-separated fields\)"):
        read_qrels(tmp_path / "q.tsv")


def test_topics_ids_keep_their_spaces(tmp_path):
    (tmp_path / "topics.tsv").write_text("q 1\tfirst query\n文档1\tsecond\n", encoding="utf-8")
    assert read_topics(tmp_path / "topics.tsv") == {"q 1": "first query", "文档1": "second"}


def test_trec_run_round_trips_every_id_it_can_hold(tmp_path):
    indices = np.array([[2, 0, 1], [1, -1, -1]])
    scores = np.array([[3.0, 2.0, 1.0], [0.5, 0, 0]], dtype=np.float32)
    path = write_trec_run(tmp_path / "run.trec", ["q-1", "问题"], RUN_SAFE, indices, scores, tag="m")
    assert read_trec_run(path) == {"q-1": {"123": 3.0, "d-1": 2.0, "文档1": 1.0}, "问题": {"文档1": 0.5}}


@pytest.mark.parametrize(
    ("query_ids", "doc_ids", "message"),
    [
        (
            ["q1"],
            ["doc 1", "d2"],
            r"^document id 'doc 1' cannot be written in a TREC run file "
            r"\(ids may not contain whitespace\)",
        ),
        (["q1"], ["d\t1", "d2"], r"^document id 'd\\t1' cannot be written in a TREC run file"),
        (["q1"], ["d1", "d2\u3000x"], r"^document id 'd2\\u3000x' cannot be written"),  # ideographic space
        (["q 1"], ["d1", "d2"], r"^query id 'q 1' cannot be written in a TREC run file"),
        ([""], ["d1", "d2"], r"^query id '' cannot be written in a TREC run file \(ids may not be empty\)"),
    ],
)
def test_trec_run_refuses_ids_it_cannot_hold_before_writing(tmp_path, query_ids, doc_ids, message):
    path = tmp_path / "run.trec"
    indices, scores = np.array([[0, 1]]), np.array([[2.0, 1.0]])
    with pytest.raises(SembridgeError, match=message):
        write_trec_run(path, query_ids, doc_ids, indices, scores, tag="m")
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def test_evaluate_refuses_run_file_ids_before_encoding(tmp_path, monkeypatch):
    from sembridge.data import RetrievalDataset
    from sembridge.evaluation import evaluate, pipeline
    from tests.helpers import wordpiece_tokenizer

    def never(*args, **kwargs):
        raise AssertionError("the data was indexed before its ids were checked")

    monkeypatch.setattr(pipeline, "BM25Index", never)
    data = RetrievalDataset(
        corpus={"doc 1": "paris france", "d2": "cat mat"}, queries={"q1": "paris"}, qrels={"q1": {"doc 1": 1}}
    )
    tokenizer = wordpiece_tokenizer(["paris", "france", "cat", "mat"])
    run = tmp_path / "bm25.trec"
    with pytest.raises(SembridgeError, match=r"^document id 'doc 1' cannot be written in a TREC run file"):
        evaluate([], data, bm25=True, bm25_tokenizer=tokenizer, run_files=[run], show_progress=False)
    assert not run.exists()
    # Without run files the same data is evaluated: the ids only matter to the run file.
    monkeypatch.undo()
    report = evaluate([], data, bm25=True, bm25_tokenizer=tokenizer, show_progress=False)
    assert report["models"][0]["kind"] == "bm25"


@pytest.mark.parametrize("form", ["trec.txt", "beir.tsv", "qrels.jsonl"])
def test_conflicting_judgements_keep_the_last_with_one_warning(tmp_path, sembridge_warnings, form):
    rows = [
        ("q1", "d1", 1),
        ("q1", "d2", 0),
        ("q1", "d1", 1),
        ("q1", "d1", 0),
        ("q2", "d2", 2),
        ("q2", "d2", 1),
    ]
    path = tmp_path / form
    if form == "trec.txt":
        path.write_text("".join(f"{q} Q0 {d} {s}\n" for q, d, s in rows))
    elif form == "beir.tsv":
        path.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in rows))
    else:
        path.write_text(
            "".join(json.dumps({"query-id": q, "corpus-id": d, "score": s}) + "\n" for q, d, s in rows)
        )
    assert read_qrels(path) == {"q1": {"d1": 0, "d2": 0}, "q2": {"d2": 1}}
    line = 5 if form == "beir.tsv" else 4  # the header is line 1
    assert sembridge_warnings == [
        f"{form}: 2 judgement(s) give a query and document judged before a different relevance "
        f"(e.g. query 'q1', document 'd1': 1, then 0 at {form} line {line}); the last one is kept"
    ]


def test_the_same_judgement_twice_is_no_conflict(tmp_path, sembridge_warnings):
    (tmp_path / "q.tsv").write_text("q1\td1\t1\nq1\td1\t1\n")
    assert read_qrels(tmp_path / "q.tsv") == {"q1": {"d1": 1}}
    assert sembridge_warnings == []
