"""A file that one command accepts, every command accepts: finetune, evaluate and export.

The same pairs are written as a ``{"question", "passage"}`` JSONL, a CSV, a TSV and a gzipped
JSONL; each is read the way every command reads it (training pairs, a retrieval set, a corpus
and its queries), and the end-to-end tests run the three commands on each file.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sembridge.cli import evaluate as evaluate_cmd
from sembridge.cli import export as export_cmd
from sembridge.data import (
    detect_format,
    load_corpus,
    load_pairs,
    load_queries,
    load_retrieval_data,
    read_pairs,
)

PAIRS = [(f"what is item {i}?", f"item {i}, in short, is thing number {i}") for i in range(24)]
FORMATS = ("question-passage.jsonl", "pairs.csv", "pairs.tsv", "pairs.jsonl.gz")


def write_same_pairs(folder: Path, name: str) -> Path:
    """The same PAIRS in one of FORMATS, each with its own accepted column names."""
    path = folder / name
    if name.endswith(".jsonl"):
        rows = [{"question": q, "passage": p} for q, p in PAIRS]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif name.endswith(".jsonl.gz"):
        with gzip.open(path, "wt", encoding="utf-8") as out:
            out.writelines(json.dumps({"query": q, "positive": p}) + "\n" for q, p in PAIRS)
    else:
        delimiter = "," if name.endswith(".csv") else "\t"
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, delimiter=delimiter)
            writer.writerow(["anchor", "answer"] if delimiter == "," else ["query", "document"])
            writer.writerows(PAIRS)
    return path


@pytest.fixture(params=FORMATS)
def pairs_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return write_same_pairs(tmp_path, request.param)


def test_every_reader_sees_the_same_pairs(pairs_file: Path) -> None:
    expected_queries = sorted(q for q, _ in PAIRS)
    expected_docs = sorted(p for _, p in PAIRS)
    # finetune
    train = load_pairs(pairs_file)
    assert train.column_names == ["query", "positive"]
    assert list(zip(train["query"], train["positive"], strict=True)) == PAIRS
    # evaluate
    assert detect_format(pairs_file) == "pairs"
    data = load_retrieval_data(pairs_file)
    assert data.format == "pairs"
    assert sorted(data.queries.values()) == expected_queries
    assert sorted(data.corpus.values()) == expected_docs
    assert data.summary()["relevant"] == len(PAIRS)
    # export
    assert sorted(load_corpus(pairs_file).values()) == expected_docs
    assert sorted(load_queries(pairs_file).values()) == expected_queries


def test_the_four_files_give_identical_data(tmp_path: Path) -> None:
    files = [write_same_pairs(tmp_path, name) for name in FORMATS]
    assert all(read_pairs(f) == read_pairs(files[0]) for f in files)
    sets = [load_retrieval_data(f) for f in files]
    assert all(
        (d.corpus, d.queries, d.qrels) == (sets[0].corpus, sets[0].queries, sets[0].qrels) for d in sets
    )


def invoke(*args: Any):
    app = typer.Typer(pretty_exceptions_show_locals=False)
    evaluate_cmd.register(app)
    export_cmd.register(app)
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.e2e
def test_finetune_evaluate_and_export_accept_each_file(pairs_file: Path, splade_tiny: Path, tmp_path: Path):
    from sembridge.training import REPORT_NAME, FinetuneConfig, finetune

    config = FinetuneConfig(
        max_steps=1,
        batch_size=8,
        max_length=16,
        device="cpu",
        warmup_ratio=0.0,
        stats_sample_size=8,
        show_progress=False,
    )
    out = tmp_path / "ft"
    finetune(splade_tiny, pairs_file, out, config)
    assert json.loads((out / REPORT_NAME).read_text())["data"]["train_pairs"] == len(PAIRS)

    result = invoke(
        "evaluate", "-m", splade_tiny, "--data", pairs_file, "--device", "cpu", "--top-k", "5", "--json"
    )
    assert result.exit_code == 0, result.output
    dataset = json.loads(result.stdout)["dataset"]
    assert (dataset["queries"], dataset["documents"], dataset["format"]) == (len(PAIRS), len(PAIRS), "pairs")

    vectors = tmp_path / "vectors"
    args = ("export", "-m", splade_tiny, "--corpus", pairs_file, "--queries", pairs_file, "-o", vectors)
    result = invoke(*args, "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["documents"], summary["queries"]) == (len(PAIRS), len(PAIRS))
