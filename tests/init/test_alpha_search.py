"""--alpha auto: candidates evaluated on dev pairs, the best kept, every candidate recorded."""

from __future__ import annotations

import json

import pytest
import torch

from sembridge.cli.app import main
from sembridge.errors import SembridgeError
from sembridge.init.alpha_search import DEFAULT_CANDIDATES, METRIC, MIN_DEV_QUERIES, search_alpha
from sembridge.init.pipeline import REPORT_FILE, initialize
from tests.cli.test_init import _error_lines, _init_args, _run, paths  # noqa: F401 (fixture)
from tests.init.test_pipeline import _config, tiny_setup  # noqa: F401 (fixture)

DEV_PAIRS = [
    ("кот", "кот sat on the mat"),
    ("собака", "собака run house"),
    ("дом", "дом water"),
    ("вода", "вода 1 ?"),
]


def _dev_file(tmp_path):
    path = tmp_path / "dev.jsonl"
    path.write_text(
        "".join(json.dumps({"query": q, "positive": p}, ensure_ascii=False) + "\n" for q, p in DEV_PAIRS),
        encoding="utf-8",
    )
    return path


def test_auto_keeps_the_best_candidate_and_records_all(tiny_setup, tmp_path):  # noqa: F811
    dev = _dev_file(tmp_path)
    out = tmp_path / "auto"
    result = initialize(
        _config(tiny_setup, alpha="auto", dev_data=str(dev), alpha_candidates="1.5, 4"), output_dir=out
    )
    report = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    assert report["settings"]["alpha"] == "auto"
    search = report["summary"]["method_info"]["alpha_search"]
    assert search["metric"] == METRIC and search["dev_data"] == str(dev)
    assert [c["alpha"] for c in search["candidates"]] == [1.5, 4.0]
    scores = [c["metrics"][METRIC] for c in search["candidates"]]
    best = search["candidates"][scores.index(max(scores))]["alpha"]  # ties: the first listed
    assert search["chosen"] == best == report["summary"]["method_info"]["alpha"]
    assert all(c["support_mean"] >= 1 and "R@100" in c["metrics"] for c in search["candidates"])
    # The kept rows are exactly those of a run with the chosen alpha.
    plain = initialize(_config(tiny_setup, alpha=best))
    assert torch.equal(result.model.get_input_embeddings().weight, plain.model.get_input_embeddings().weight)


def test_default_candidates():
    assert DEFAULT_CANDIDATES == (1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alpha": "auto"}, "--alpha auto needs --dev-data"),
        ({"alpha": 4.0, "dev_data": "DEV"}, "--dev-data is used only with --alpha auto"),
        ({"alpha": 4.0, "alpha_candidates": "2,4"}, "--alpha-candidates is used only with --alpha auto"),
        ({"alpha": "auto", "dev_data": "DEV", "alpha_candidates": "2,0.5"}, r"must be >= 1, got '?0.5"),
        ({"alpha": "auto", "dev_data": "DEV", "alpha_candidates": "2,x"}, r"must be a number, got '?x"),
        ({"alpha": "automatic"}, "--alpha must be a number or 'auto'"),
    ],
)
def test_refused_before_any_work(tiny_setup, tmp_path, options, message):  # noqa: F811
    dev = _dev_file(tmp_path)
    options = {k: (str(dev) if v == "DEV" else v) for k, v in options.items()}
    with pytest.raises(SembridgeError, match=message):
        _config(tiny_setup, **options)


def test_cli_auto_then_inspect_shows_the_chosen_alpha(paths, capsys):  # noqa: F811
    dev = _dev_file(paths["tmp"])
    out = paths["tmp"] / "auto"
    main(_init_args(paths, out, **{"--alpha": "auto", "--dev-data": str(dev), "--alpha-candidates": "2,4"}))
    stdout = capsys.readouterr().out
    assert "alpha 2 on dev" in stdout and "alpha 4 on dev" in stdout and "(chosen)" in stdout
    chosen = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))["summary"]["method_info"]["alpha"]
    main(["inspect-token", "--model", str(out), "собака"])
    assert f"alpha {chosen:g} (chosen by --alpha auto)" in capsys.readouterr().out
    main(["inspect-token", "--model", str(out), "собака", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["alpha"] == chosen and data["alpha_setting"] == "auto"


def test_cli_auto_without_dev_data_exits_2_and_writes_nothing(paths, capsys):  # noqa: F811
    out = paths["tmp"] / "auto"
    code, _, err = _run(_init_args(paths, out, **{"--alpha": "auto"}), capsys)
    assert code == 2
    (line,) = _error_lines(err)
    assert "--alpha auto needs --dev-data" in line
    assert not out.exists()


@pytest.mark.e2e
def test_real_russian_auto_alpha_on_training_pairs(
    tmp_path, splade_tiny, ru_tokenizer, e5_bridge, offline_cache
):
    from offline_assets.corpora import build_language
    from sembridge.data import load_pairs
    from sembridge.init.pipeline import InitConfig

    train = load_pairs(build_language("ru") / "train.jsonl")
    dev = tmp_path / "dev.jsonl"
    with dev.open("w", encoding="utf-8") as handle:
        for query, positive in list(zip(train["query"], train["positive"], strict=True))[:80]:
            handle.write(json.dumps({"query": query, "positive": positive}, ensure_ascii=False) + "\n")
    config = InitConfig(
        source=str(splade_tiny),
        target_tokenizer=str(ru_tokenizer),
        bridge=str(e5_bridge),
        alpha="auto",
        dev_data=str(dev),
        alpha_candidates=[3, 4],
        device="cpu",
        cache_dir=str(offline_cache),
        show_progress=False,
    )
    result = initialize(config)
    search = result.report["summary"]["method_info"]["alpha_search"]
    scores = {c["alpha"]: c["metrics"][METRIC] for c in search["candidates"]}
    assert set(scores) == {3.0, 4.0} and all(0 < s <= 1 for s in scores.values())
    assert search["chosen"] == max(scores, key=lambda a: (scores[a], -[3.0, 4.0].index(a)))
    # Support shrinks as alpha grows: the candidates really differ.
    supports = {c["alpha"]: c["support_mean"] for c in search["candidates"]}
    assert supports[3.0] > supports[4.0]


class _Stop(Exception):
    pass


def _stop(alpha):
    raise _Stop  # the warning comes before any candidate is built


@pytest.mark.parametrize(("pairs", "warned"), [(4, True), (MIN_DEV_QUERIES, False)])
def test_too_few_dev_queries_are_warned(tmp_path, sembridge_warnings, pairs, warned):
    dev = tmp_path / "dev.jsonl"
    dev.write_text(
        "".join(json.dumps({"query": f"q{i}", "positive": f"p{i}"}) + "\n" for i in range(pairs)),
        encoding="utf-8",
    )
    with pytest.raises(_Stop):
        search_alpha(_stop, lambda rows, folder: None, dev, [2.0])
    found = [m for m in sembridge_warnings if m.startswith("alpha auto:")]
    if warned:
        assert found == [
            f"alpha auto: the development data {dev} holds only 4 judged queries; with fewer than 50 the "
            f"candidates' {METRIC} differ by chance as much as by alpha, so the choice may not carry over "
            "(give a few hundred development pairs, or a fixed --alpha such as 4)"
        ]
    else:
        assert found == []
