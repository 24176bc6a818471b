"""`sembridge evaluate --bm25 / --dense`: baseline rows share the table, run files and JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sembridge.data import load_retrieval_data, read_trec_run, write_pairs_jsonl
from sembridge.errors import ModelLoadError
from sembridge.evaluation.bm25 import BM25Index
from tests.cli.test_evaluate import error_of, invoke
from tests.helpers import save_tiny_bridge


@pytest.fixture
def pairs_file(tmp_path, zh_pairs) -> Path:
    return write_pairs_jsonl(zh_pairs[:30], tmp_path / "pairs.jsonl")


@pytest.fixture(scope="module")
def dense_dir(tmp_path_factory, zh_pairs) -> Path:
    """A tiny random sentence-transformers model over the characters of the pairs, with e5 prompts."""
    from sentence_transformers import SentenceTransformer

    folder = tmp_path_factory.mktemp("dense") / "tiny-dense"
    characters = sorted({c for pair in zh_pairs[:30] for text in pair for c in text if not c.isspace()})
    save_tiny_bridge(folder, [*characters, "query", "passage", ":"])
    model = SentenceTransformer(str(folder), device="cpu")
    model.prompts = {"query": "query: ", "passage": "passage: "}
    model.save(str(folder))
    return folder


def test_baseline_options_are_checked_before_any_work(tmp_path, pairs_file, splade_dir):
    out = tmp_path / "r.json"
    err = error_of(invoke("evaluate", "--data", pairs_file, "-o", out))
    assert "no model to evaluate" in str(err) and "--bm25" in err.hint
    err = error_of(invoke("evaluate", "--data", pairs_file, "--bm25", "-o", out))
    assert "BM25 needs a tokenizer" in str(err) and "--bm25-tokenizer" in err.hint
    err = error_of(invoke("evaluate", "-m", splade_dir, "--data", pairs_file, "--bm25-tokenizer", splade_dir))
    assert "without BM25" in str(err)
    err = error_of(invoke("evaluate", "--data", pairs_file, "--dense", tmp_path / "no-such-dense", "-o", out))
    assert isinstance(err, ModelLoadError) and "dense model" in str(err) and "no-such-dense" in str(err)
    err = error_of(invoke("evaluate", "--data", pairs_file, "--bm25-tokenizer", tmp_path / "nope", "--bm25"))
    assert isinstance(err, ModelLoadError) and "BM25 tokenizer" in str(err)
    args = ("evaluate", "-m", splade_dir, "--data", pairs_file, "--bm25", "--run-file", tmp_path / "a.trec")
    err = error_of(invoke(*args))
    assert "1 run file(s) for 2 model(s)" in str(err) and "--bm25" in err.hint
    assert not out.exists() and not (tmp_path / "a.trec").exists()


def test_baselines_alone_fill_the_table_runs_and_report(tmp_path, pairs_file, splade_dir, dense_dir):
    out = tmp_path / "report.json"
    runs = [tmp_path / "runs" / "bm25.trec", tmp_path / "runs" / "dense.trec"]
    args = ["evaluate", "--data", pairs_file, "--bm25", "--bm25-tokenizer", splade_dir, "--dense", dense_dir]
    args += ["--device", "cpu", "--top-k", "10", "-o", out, "--run-file", runs[0], "--run-file", runs[1]]
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert json.loads(result.stdout)["models"] == report["models"]
    bm25, dense = report["models"]
    assert (bm25["name"], bm25["kind"], bm25["tokenizer"]) == ("BM25", "bm25", str(splade_dir))
    assert bm25["parameters"] == {"k1": 1.5, "b": 0.75, "method": "lucene"}
    assert (dense["name"], dense["kind"]) == ("dense:tiny-dense", "dense")
    assert dense["prompts"] == {"query": "query: ", "document": "passage: "}
    for entry in (bm25, dense):
        (row,) = entry["results"]
        assert row["setting"] == "none" and set(row["metrics"]) == {"nDCG@10", "R@100", "RR@10"}
        assert row["evaluated_queries"] == report["dataset"]["queries"]
    assert bm25["results"][0]["query_terms"] > 0 and bm25["results"][0]["flops"] > 0
    assert dense["results"][0]["query_terms"] is None and dense["results"][0]["flops"] is None
    assert report["run_files"] == [str(p) for p in runs]
    # The BM25 run file holds exactly what BM25Index scores on the same data.
    from transformers import AutoTokenizer

    data = load_retrieval_data(pairs_file)
    doc_ids, query_ids = list(data.corpus), list(data.queries)
    expected = BM25Index(AutoTokenizer.from_pretrained(splade_dir), [data.corpus[d] for d in doc_ids])
    search = expected.search([data.queries[q] for q in query_ids], top_k=10)
    bm25_run = read_trec_run(runs[0])
    for row, qid in enumerate(query_ids):
        docs, scores = search.hits(row)
        got = bm25_run.get(qid, {})
        assert list(got) == [doc_ids[i] for i in docs]
        assert list(got.values()) == pytest.approx(scores.tolist(), abs=1e-5)
    dense_run = read_trec_run(runs[1])
    assert all(len(dense_run[q]) == 10 for q in query_ids)  # every document has a cosine score
    # The rich table: one row each, "-" for the dense model's sparsity columns.
    result = invoke(*args, "--overwrite")
    assert result.exit_code == 0, result.output
    table = [line for line in result.output.splitlines() if "│" in line]
    bm25_line = next(line for line in table if "BM25" in line)
    dense_line = next(line for line in table if line.startswith("│ dense:"))  # the name may be cut
    assert [cell.strip() for cell in dense_line.split("│")[-4:-1]] == ["-", "-", "-"]
    assert "-" not in [cell.strip() for cell in bm25_line.split("│")[-4:-1]]


@pytest.mark.e2e
def test_sparse_model_and_baselines_share_one_report(tmp_path, pairs_file, splade_dir, dense_dir):
    out = tmp_path / "report.json"
    runs = [tmp_path / name for name in ("splade.trec", "bm25.trec", "dense.trec")]
    args = ["evaluate", "-m", splade_dir, "--data", pairs_file, "--bm25", "--dense", dense_dir]
    args += ["--device", "cpu", "--top-k", "20", "--prune-top-k", "8", "-o", out]
    for run in runs:
        args += ["--run-file", run]
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert [m["kind"] for m in report["models"]] == ["sparse", "bm25", "dense"]
    assert [r["setting"] for r in report["models"][0]["results"]] == ["none", "top-k=8"]
    assert [len(m["results"]) for m in report["models"][1:]] == [1, 1]  # no pruning for baselines
    assert report["models"][1]["tokenizer"] == str(splade_dir)  # the first model's word pieces
    assert report["plot"] == str(out.with_suffix(".png")) and out.with_suffix(".png").is_file()
    assert sorted(p.name for p in tmp_path.glob("*.trec")) == [
        "bm25.trec",
        "dense.trec",
        "splade.top-k8.trec",
        "splade.trec",
    ]
    assert all(len(read_trec_run(run)) > 0 for run in runs)
