"""Retrieval metrics through ir-measures, and sparsity figures of sparse vectors.

Retrieval metrics are computed per query by ir-measures (trec_eval's definitions: nDCG uses
linear gains ``rel / log2(rank + 1)``; RR@k is the reciprocal rank of the first relevant
document in the top k; R@k is the fraction of the relevant documents found in the top k) and
averaged over **every query with at least one relevant judgement**: a query that retrieves
nothing counts as 0, unlike trec_eval's default mean over the queries present in the run.

Sparsity:

- active terms: the mean number of non-zero weights per query and per document;
- FLOPs: the expected number of multiply-adds to score one query against one document with an
  inverted index (Paria et al. 2020, used by SPLADE),
  ``FLOPs = sum_j p_j(q) * p_j(d)``, where ``p_j(q)`` (``p_j(d)``) is the fraction of queries
  (documents) whose vector has a non-zero weight on vocabulary term ``j``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from sembridge.errors import SembridgeError

DEFAULT_METRICS: tuple[str, ...] = ("nDCG@10", "R@100", "RR@10")

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]


def parse_metrics(names: Iterable[str]) -> list[Any]:
    """ir-measures measure objects for names like ``nDCG@10``, ``R@100``, ``RR@10``, ``AP``."""
    import ir_measures

    measures = []
    for name in names:
        for part in str(name).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                measures.append(ir_measures.parse_measure(part))
            except Exception as err:  # NameError / ValueError from the parser
                raise SembridgeError(
                    f"unknown metric '{part}' ({err})",
                    hint="use ir-measures names such as nDCG@10, R@100, RR@10, AP, P@5, Judged@10",
                ) from err
    if not measures:
        raise SembridgeError("no metric was given", hint="e.g. --metrics nDCG@10,R@100")
    return measures


def compute_metrics(
    qrels: Qrels, run: Run, metrics: Sequence[str] = DEFAULT_METRICS, per_query: bool = False
) -> dict[str, Any]:
    """Mean of each metric over the judged queries with a relevant document (absent queries count 0).

    Returns ``{"metrics": {name: mean}, "queries": n}`` and, with ``per_query``,
    ``"per_query": {name: {query_id: value}}``.
    """
    import ir_measures

    measures = parse_metrics(metrics)
    evaluated = sorted(qid for qid, docs in qrels.items() if any(grade > 0 for grade in docs.values()))
    if not evaluated:
        raise SembridgeError("no query has a relevant judgement, so no metric can be computed")
    qrels_in = {qid: {did: int(g) for did, g in qrels[qid].items()} for qid in evaluated}
    run_in = {
        qid: {did: float(s) for did, s in run.get(qid, {}).items()} for qid in evaluated if run.get(qid)
    }
    values: dict[str, dict[str, float]] = {str(m): {} for m in measures}
    if run_in:
        for metric in ir_measures.iter_calc(measures, qrels_in, run_in):
            values[str(metric.measure)][metric.query_id] = float(metric.value)
    means = {
        name: float(sum(by_query.get(q, 0.0) for q in evaluated) / len(evaluated))
        for name, by_query in values.items()
    }
    result: dict[str, Any] = {"metrics": means, "queries": len(evaluated)}
    if per_query:
        result["per_query"] = {
            name: {q: by_query.get(q, 0.0) for q in evaluated} for name, by_query in values.items()
        }
    return result


def term_presence(matrix: sp.spmatrix) -> np.ndarray:
    """``p_j``: the fraction of rows with a non-zero weight on each column ``j``."""
    matrix = sp.csr_matrix(matrix)
    if matrix.shape[0] == 0:
        return np.zeros(matrix.shape[1], dtype=np.float64)
    nonzero_cols = matrix.indices[matrix.data != 0]
    return np.bincount(nonzero_cols, minlength=matrix.shape[1]).astype(np.float64) / matrix.shape[0]


def flops(queries: sp.spmatrix, documents: sp.spmatrix) -> float:
    """``sum_j p_j(q) * p_j(d)``: expected multiply-adds per query-document pair."""
    if queries.shape[1] != documents.shape[1]:
        raise SembridgeError(
            f"queries have {queries.shape[1]:,} dimensions but documents have {documents.shape[1]:,}"
        )
    return float(term_presence(queries) @ term_presence(documents))


def mean_active_terms(matrix: sp.spmatrix) -> float:
    """Mean number of non-zero weights per row."""
    matrix = sp.csr_matrix(matrix)
    if matrix.shape[0] == 0:
        return 0.0
    return float(np.count_nonzero(matrix.data) / matrix.shape[0])


def sparsity_stats(queries: sp.spmatrix, documents: sp.spmatrix) -> dict[str, float]:
    """Active terms of queries and documents and the FLOPs figure."""
    return {
        "query_terms": mean_active_terms(queries),
        "doc_terms": mean_active_terms(documents),
        "flops": flops(queries, documents),
    }
