"""Metrics on a hand-made run equal hand-computed values."""

from __future__ import annotations

import math

import pytest

from sembridge.errors import SembridgeError
from sembridge.evaluation.metrics import compute_metrics, parse_metrics

QRELS = {
    "q1": {"d1": 1, "d2": 2, "d5": 0},
    "q2": {"d3": 1},
    "q3": {"d9": 1},  # judged but nothing retrieved: counts 0
    "q4": {"d4": 0},  # no relevant document: not evaluated
}
RUN = {
    "q1": {"d3": 0.9, "d2": 0.8, "d1": 0.7, "d4": 0.6},
    "q2": {"d1": 0.5, "d2": 0.4, "d3": 0.3},
    "q4": {"d4": 1.0},
}


def test_hand_computed_metrics():
    # q1 ranking: d3 (0), d2 (2), d1 (1), d4 (0); q2: d1, d2, d3 (1); q3: nothing.
    ndcg_q1 = (2 / math.log2(3) + 1 / math.log2(4)) / (2 / math.log2(2) + 1 / math.log2(3))
    ndcg_q2 = (1 / math.log2(4)) / 1.0
    expected = {
        "nDCG@10": (ndcg_q1 + ndcg_q2 + 0.0) / 3,
        "RR@10": (1 / 2 + 1 / 3 + 0.0) / 3,
        "R@100": (1.0 + 1.0 + 0.0) / 3,
        "R@2": (0.5 + 0.0 + 0.0) / 3,
    }
    result = compute_metrics(QRELS, RUN, list(expected), per_query=True)
    assert result["queries"] == 3
    for name, value in expected.items():
        assert result["metrics"][name] == pytest.approx(value, abs=1e-9), name
    assert result["per_query"]["nDCG@10"]["q1"] == pytest.approx(ndcg_q1)
    assert result["per_query"]["RR@10"]["q3"] == 0.0
    assert "q4" not in result["per_query"]["RR@10"]


def test_empty_run_scores_zero():
    result = compute_metrics(QRELS, {}, ["nDCG@10"])
    assert result["metrics"]["nDCG@10"] == 0.0


def test_unknown_metric_is_refused():
    with pytest.raises(SembridgeError, match="unknown metric 'foo@3'"):
        parse_metrics(["nDCG@10", "foo@3"])
    assert [str(m) for m in parse_metrics(["nDCG@10,R@100", "RR@10"])] == ["nDCG@10", "R@100", "RR@10"]
