"""Evaluation of sparse encoders: exact retrieval, metrics, reports, and the BM25 and dense
baselines they are compared with (encoding and pruning are :mod:`sembridge.encoding`).

From Python::

    from sembridge.data import load_retrieval_data
    from sembridge.evaluation import evaluate

    data = load_retrieval_data("data/scifact", split="test")
    report = evaluate(["naver/splade-v3", "out/ru-sembridge"], data, prune_mass=[0.9, 0.8])
    print(report["models"][0]["results"][0]["metrics"]["nDCG@10"])

The command line wraps the same function: ``sembridge evaluate``.
Data sets (corpus, queries, qrels, pairs, run files) are read and written by :mod:`sembridge.data`.
Heavy libraries (torch, sentence-transformers, ir-measures, matplotlib) are imported inside the
functions that need them, so importing this package stays cheap.
"""

from __future__ import annotations

from sembridge.evaluation.bm25 import BM25Index, BM25Params
from sembridge.evaluation.dense import cosine_search, encode_dense
from sembridge.evaluation.metrics import DEFAULT_METRICS, compute_metrics
from sembridge.evaluation.pipeline import evaluate
from sembridge.evaluation.report import results_table, write_plot, write_report_json
from sembridge.evaluation.retrieval import InvertedIndex, SearchResult, exact_search

__all__ = [
    "DEFAULT_METRICS",
    "BM25Index",
    "BM25Params",
    "InvertedIndex",
    "SearchResult",
    "compute_metrics",
    "cosine_search",
    "encode_dense",
    "evaluate",
    "exact_search",
    "results_table",
    "write_plot",
    "write_report_json",
]
