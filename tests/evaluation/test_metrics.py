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


@pytest.mark.parametrize(
    ("name", "cutoff"),
    [
        ("nDCG@0", "0"),
        ("P@0", "0"),
        ("R@0", "0"),
        ("AP@0", "0"),
        ("Judged@0", "0"),
        ("nDCG@-1", "-1"),
        ("R@ -5", "-5"),
        ("nDCG@1.5", "1.5"),
        ("R@1e3", "1000.0"),
        ("P@True", "True"),
    ],
)
def test_cutoff_below_one_or_not_whole_is_refused(name, cutoff):
    # pytrec_eval aborts the process (a C assertion) on nDCG@0: refused while parsing instead.
    with pytest.raises(SembridgeError) as err:
        parse_metrics(["nDCG@10", name])
    assert str(err.value) == (
        f"metric '{name}' has cutoff {cutoff}; a cutoff must be a whole number of at least 1"
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("AP(rel=0)", "metric 'AP(rel=0)' has rel=0; a relevance level must be a whole number of at least 1"),
        ("P(foo=1)@5", "metric 'P(foo=1)@5' is not valid: unsupported params found: ['foo']"),
        ('nDCG(dcg="bogus")@5', "metric 'nDCG(dcg=\"bogus\")@5' is not valid: invalid param dcg='bogus'"),
        ("IPrec@2", "metric 'IPrec@2' is not valid: invalid param recall=2"),
        ("alpha_nDCG@5", "metric 'alpha_nDCG@5' cannot be computed: no installed ir-measures provider"),
    ],
)
def test_parameters_the_evaluators_cannot_take_are_refused(name, message):
    with pytest.raises(SembridgeError) as err:
        parse_metrics([name])
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_valid_parameters_still_parse():
    names = ["nDCG@1", "IPrec@0.5", "RR(rel=2)@10", "AP", 'nDCG(dcg="exp-log2")@5', "R@100000"]
    assert [str(m) for m in parse_metrics(names)] == [
        "nDCG@1",
        "IPrec@0.5",
        "RR(rel=2)@10",
        "AP",
        "nDCG(dcg='exp-log2')@5",
        "R@100000",
    ]


def test_evaluate_refuses_a_zero_cutoff_before_any_work(monkeypatch, tmp_path):
    from sembridge.data import pairs_dataset
    from sembridge.evaluation import pipeline

    def no_work(*args, **kwargs):
        raise AssertionError("reached the data or a model before the metrics were checked")

    for name in ("load_retrieval_data", "validate_dataset", "load_encoder", "encode_texts"):
        monkeypatch.setattr(pipeline, name, no_work)
    data = pairs_dataset([("q text", "d text")])
    with pytest.raises(SembridgeError, match=r"^metric 'nDCG@0' has cutoff 0;"):
        pipeline.evaluate([str(tmp_path / "model")], data, metrics=["R@100", "nDCG@0"])
    with pytest.raises(SembridgeError, match=r"^metric 'P@0' has cutoff 0;"):
        pipeline.evaluate([str(tmp_path / "model")], tmp_path / "data", metrics=["P@0"])


@pytest.mark.parametrize("metrics", ["nDCG@0", "R@100,P@0", "R@0"])
def test_cli_refuses_a_zero_cutoff_with_exit_1(tmp_path, capsys, metrics):
    from sembridge.cli.app import main

    bad = metrics.split(",")[-1]
    with pytest.raises(SystemExit) as done:
        main(
            [
                "evaluate",
                "-m",
                str(tmp_path / "model"),
                "--data",
                str(tmp_path / "d.jsonl"),
                "--metrics",
                metrics,
            ]
        )
    assert done.value.code == 2  # a usage error, like Typer's range checks
    err = capsys.readouterr().err
    assert f"Error: metric '{bad}' has cutoff 0; a cutoff must be a whole number of at least 1" in err
    assert "Traceback" not in err
