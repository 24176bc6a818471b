"""Retrieval metrics through ir-measures.

Retrieval metrics are computed per query by ir-measures (trec_eval's definitions: nDCG uses
linear gains ``rel / log2(rank + 1)``; RR@k is the reciprocal rank of the first relevant
document in the top k; R@k is the fraction of the relevant documents found in the top k) and
averaged over **every query with at least one relevant judgement**: a query that retrieves
nothing counts as 0, unlike trec_eval's default mean over the queries present in the run.

Sparsity figures (active terms, FLOPs) are :mod:`sembridge.encoding.sparsity`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

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
