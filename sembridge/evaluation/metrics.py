"""Retrieval metrics through ir-measures.

Retrieval metrics are computed per query by ir-measures (trec_eval's definitions: nDCG uses
linear gains ``rel / log2(rank + 1)``; RR@k is the reciprocal rank of the first relevant
document in the top k; R@k is the fraction of the relevant documents found in the top k) and
averaged over **every query with at least one relevant judgement**: a query that retrieves
nothing counts as 0, unlike trec_eval's default mean over the queries present in the run.

Sparsity figures (active terms, FLOPs) are :mod:`sembridge.encoding.sparsity`'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sembridge.errors import SembridgeError, UsageError

DEFAULT_METRICS: tuple[str, ...] = ("nDCG@10", "R@100", "RR@10")

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]


_METRIC_HINT = "use ir-measures names such as nDCG@10, R@100, RR@10, AP, P@5, Judged@10"

# "nDCG@-1": the ir-measures parser refuses a negative value without saying which; the head is
# parsed again with a valid cutoff so that the refusal can name the cutoff.
_NEGATIVE_AT = re.compile(r"^(?P<head>.+?)@\s*(?P<value>-.*)$")


def parse_metrics(names: Iterable[str]) -> list[Any]:
    """ir-measures measure objects for names like ``nDCG@10``, ``R@100``, ``RR@10``, ``AP``.

    Every name is checked here, before anything is encoded, for what the evaluators would
    otherwise fail on late (or abort the process on: pytrec_eval asserts on ``nDCG@0``): an
    unknown name or parameter, a cutoff that is not a whole number of at least 1, a relevance
    level (``rel=``) below 1, and a measure no installed provider computes.
    """
    import ir_measures

    measures = []
    for name in names:
        for part in str(name).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                measure = ir_measures.parse_measure(part)
            except Exception as err:  # NameError / ValueError from the parser
                _refuse_negative_at(part)
                raise UsageError(f"unknown metric '{part}' ({err})", hint=_METRIC_HINT) from err
            check_measure(measure, part)
            measures.append(measure)
    if not measures:
        raise UsageError("no metric was given", hint="e.g. --metrics nDCG@10,R@100")
    return measures


def check_measure(measure: Any, name: str | None = None) -> None:
    """Refuse a parsed ir-measures measure that the evaluators cannot compute (``name``: as typed)."""
    from ir_measures import DefaultPipeline

    name = name or str(measure)
    params = dict(measure.params)
    if "cutoff" in params and not _whole_at_least_one(params["cutoff"]):
        raise _cutoff_error(name, repr(params["cutoff"]))
    if "rel" in params and not _whole_at_least_one(params["rel"]):
        raise UsageError(
            f"metric '{name}' has rel={params['rel']!r}; "
            "a relevance level must be a whole number of at least 1",
            hint="e.g. P(rel=2)@10, or leave rel= out (grades of at least 1 are relevant)",
        )
    try:
        measure.validate_params()
    except AssertionError as err:
        raise UsageError(f"metric '{name}' is not valid: {err}", hint=_METRIC_HINT) from err
    if not DefaultPipeline.supports(measure):
        raise SembridgeError(
            f"metric '{name}' cannot be computed: no installed ir-measures provider supports it",
            hint=_METRIC_HINT,
        )


def _whole_at_least_one(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _refuse_negative_at(part: str) -> None:
    """Name the cutoff of a metric such as ``nDCG@-1`` that the parser refused; else return."""
    import ir_measures

    match = _NEGATIVE_AT.match(part)
    if match is None:
        return
    try:
        measure = ir_measures.parse_measure(f"{match['head']}@1")
    except Exception:
        return
    if measure.AT_PARAM == "cutoff":
        raise _cutoff_error(part, match["value"].strip())


def _cutoff_error(name: str, cutoff: str) -> UsageError:
    return UsageError(
        f"metric '{name}' has cutoff {cutoff}; a cutoff must be a whole number of at least 1",
        hint="e.g. nDCG@10, R@100",
    )


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
