"""Evaluation of sparse encoders: data loading, encoding, exact retrieval, metrics, pruning, reports, export.

From Python::

    from sembridge.evaluation import evaluate, load_retrieval_data

    data = load_retrieval_data("data/scifact", split="test")
    report = evaluate(["naver/splade-v3", "out/ru-sembridge"], data, prune_mass=[0.9, 0.8])
    print(report["models"][0]["results"][0]["metrics"]["nDCG@10"])

The command line wraps the same functions: ``sembridge evaluate`` and ``sembridge export``.
Heavy libraries (torch, sentence-transformers, ir-measures, matplotlib) are imported inside the
functions that need them, so importing this package stays cheap.
"""

from __future__ import annotations

from sembridge.evaluation.data import (
    RetrievalDataset,
    load_corpus,
    load_queries,
    load_retrieval_data,
    pairs_dataset,
    save_beir,
    validate_dataset,
    write_pairs_jsonl,
)
from sembridge.evaluation.export import export_anserini, read_vector_collection
from sembridge.evaluation.metrics import DEFAULT_METRICS, compute_metrics, flops, sparsity_stats
from sembridge.evaluation.pipeline import evaluate
from sembridge.evaluation.pruning import Pruning, prune_mass, prune_top_k, pruning_sweep
from sembridge.evaluation.report import results_table, write_plot, write_report_json
from sembridge.evaluation.retrieval import InvertedIndex, SearchResult, exact_search

__all__ = [
    "DEFAULT_METRICS",
    "InvertedIndex",
    "Pruning",
    "RetrievalDataset",
    "SearchResult",
    "compute_metrics",
    "evaluate",
    "exact_search",
    "export_anserini",
    "flops",
    "load_corpus",
    "load_queries",
    "load_retrieval_data",
    "pairs_dataset",
    "prune_mass",
    "prune_top_k",
    "pruning_sweep",
    "read_vector_collection",
    "results_table",
    "save_beir",
    "sparsity_stats",
    "validate_dataset",
    "write_pairs_jsonl",
    "write_plot",
    "write_report_json",
]
