"""Evaluation of sparse encoders: encoding, exact retrieval, metrics, pruning, reports, export,
and the BM25 and dense baselines they are compared with.

From Python::

    from sembridge.data import load_retrieval_data
    from sembridge.evaluation import evaluate

    data = load_retrieval_data("data/scifact", split="test")
    report = evaluate(["naver/splade-v3", "out/ru-sembridge"], data, prune_mass=[0.9, 0.8])
    print(report["models"][0]["results"][0]["metrics"]["nDCG@10"])

The command line wraps the same functions: ``sembridge evaluate`` and ``sembridge export``.
Data sets (corpus, queries, qrels, pairs, run files) are read and written by :mod:`sembridge.data`.
Heavy libraries (torch, sentence-transformers, ir-measures, matplotlib) are imported inside the
functions that need them, so importing this package stays cheap.
"""

from __future__ import annotations

from sembridge.evaluation.bm25 import BM25Index, BM25Params
from sembridge.evaluation.dense import cosine_search, encode_dense
from sembridge.evaluation.export import (
    EXPORT_FORMATS,
    export_anserini,
    export_vectors,
    read_vector_collection,
)
from sembridge.evaluation.metrics import DEFAULT_METRICS, compute_metrics
from sembridge.evaluation.pipeline import evaluate
from sembridge.evaluation.pruning import Pruning, prune_mass, prune_top_k, pruning_sweep
from sembridge.evaluation.report import results_table, write_plot, write_report_json
from sembridge.evaluation.retrieval import InvertedIndex, SearchResult, exact_search
from sembridge.sparsity import flops, sparsity_stats

__all__ = [
    "DEFAULT_METRICS",
    "EXPORT_FORMATS",
    "BM25Index",
    "BM25Params",
    "InvertedIndex",
    "Pruning",
    "SearchResult",
    "compute_metrics",
    "cosine_search",
    "encode_dense",
    "evaluate",
    "exact_search",
    "export_anserini",
    "export_vectors",
    "flops",
    "prune_mass",
    "prune_top_k",
    "pruning_sweep",
    "read_vector_collection",
    "results_table",
    "sparsity_stats",
    "write_plot",
    "write_report_json",
]
