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
