"""Every baseline through `sembridge init`: shared pipeline, same overlap rows, reproducible, explained."""

from __future__ import annotations

import json

import pytest
import torch

from sembridge.cli import init as init_cmd
from sembridge.init.inspection import explain_token
from sembridge.init.pipeline import InitConfig, initialize
from sembridge.methods import METHODS, declared_options
from tests.cli.support import error_of
from tests.cli.support import invoke as cli_invoke
from tests.methods.support import save_tiny_pair, write_method_inputs

BASELINES = ["random", "mean", "gaussian", "mv-gaussian", "focus", "ofa", "wechsel"]
WEIGHTED = ["focus", "ofa", "wechsel"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    source_dir, target_dir = save_tiny_pair(root, tie=False)
    return source_dir, target_dir, write_method_inputs(root / "inputs")


def run(tiny, method: str, seed: int = 42, output=None):
    source_dir, target_dir, inputs = tiny
    config = InitConfig(
        source=str(source_dir),
        target_tokenizer=str(target_dir),
        method=method,
        seed=seed,
        show_progress=False,
        method_options=inputs[method],
    )
    return initialize(config, output_dir=output)


def vocab_tensors(result) -> dict[str, torch.Tensor]:
    model = result.model
    out = model.get_output_embeddings()
    return {
        "embeddings": model.get_input_embeddings().weight.detach().clone(),
        "decoder": out.weight.detach().clone(),
        "bias": out.bias.detach().clone(),
    }


@pytest.fixture(scope="module")
def results(tiny):
    return {method: run(tiny, method) for method in BASELINES}


def test_every_baseline_is_registered():
    assert set(BASELINES) | {"sembridge"} == set(METHODS)


def test_overlapping_rows_are_identical_across_methods(results):
    overlap = results["mean"].overlap
    copied = torch.tensor([m.target_id for m in overlap.matches])
    new = torch.tensor(overlap.new_ids)
    reference = vocab_tensors(results["mean"])
    for method, result in results.items():
        assert [m.target_id for m in result.overlap.matches] == copied.tolist()
        tensors = vocab_tensors(result)
        for name in ("embeddings", "decoder", "bias"):
            assert torch.equal(tensors[name][copied], reference[name][copied]), (method, name)
        if method != "mean":
            assert not torch.equal(tensors["embeddings"][new], reference["embeddings"][new]), method


@pytest.mark.parametrize("method", BASELINES)
def test_same_seed_same_output(tiny, results, method):
    torch.manual_seed(12345)  # the global state must not matter
    torch.rand(10)
    again = vocab_tensors(run(tiny, method))
    first = vocab_tensors(results[method])
    for name in first:
        assert torch.equal(first[name], again[name]), name


@pytest.mark.parametrize("method", ["random", "gaussian", "focus"])
def test_another_seed_another_output(tiny, results, method):
    other = vocab_tensors(run(tiny, method, seed=7))
    assert not torch.equal(other["embeddings"], vocab_tensors(results[method])["embeddings"])


def test_report_says_how_the_bias_was_built(results):
    expected = {
        "random": "zeros",
        "mean": "mean bias",
        "gaussian": "per-dimension",
        "mv-gaussian": "full covariance",
        "focus": "sparsemax",
        "ofa": "softmax",
        "wechsel": "softmax",
    }
    for method, fragment in expected.items():
        summary = results[method].report["summary"]
        assert summary["method"] == method
        assert fragment in summary["bias"], (method, summary["bias"])
        assert summary["decoder"] == "untied, remapped"
    assert results["wechsel"].report["summary"]["method_info"]["dictionary_pairs_with_vectors"] == 8
    assert results["ofa"].report["settings"]["method_options"]["temperature"] == 0.1
    # Settings list the chosen method's options only (SemBridge's alpha is no setting of ofa).
    assert results["ofa"].report["settings"]["top_k"] == 3
    assert "alpha" not in results["ofa"].report["settings"]


@pytest.mark.parametrize("method", WEIGHTED)
def test_inspect_token_shows_the_source_tokens_of_weighted_rows(tiny, tmp_path, method):
    out = tmp_path / method
    run(tiny, method, output=out)
    report = json.loads((out / "sembridge_init.json").read_text(encoding="utf-8"))
    assert report["summary"]["method"] == method
    piece = explain_token(out, "кот")["pieces"][0]
    assert piece["kind"] == "new" and piece["support"] >= 1
    sources = [s for s, _ in piece["sources"]]
    if method == "focus":  # overlapping tokens only
        assert set(sources) <= {m.source_token for m in run(tiny, "mean").overlap.matches}
    else:
        assert sources[0] == "cat"
    assert abs(sum(w for _, w in piece["sources"]) - 1) < 1e-4


# ------------------------------------------------------------------------------- CLI


def invoke(*args: object):
    return cli_invoke([init_cmd], *args, env={"COLUMNS": "250"})


def test_help_lists_every_method_with_its_inputs_and_an_example():
    result = invoke("init", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for method in METHODS:
        assert f"{method}:" in text, method
        assert f"--method {method}" in text or method == "sembridge", method
        for option in declared_options(method):
            assert option.flag in text, option.flag


def test_cli_refuses_unused_and_missing_options(tiny, tmp_path):
    source_dir, target_dir, inputs = tiny
    base = ("init", "-s", source_dir, "-t", target_dir, "-o", tmp_path / "out")
    err = error_of(invoke(*base, "--method", "mean", "--temperature", "0.2"))
    assert "--temperature is not used by method 'mean'" in str(err) and "ofa, wechsel" in err.hint
    err = error_of(invoke(*base, "--method", "focus"))
    assert "needs --target-text FILE" in str(err) and "--method focus" in err.hint
    err = error_of(
        invoke(
            *base, "--method", "wechsel", "--source-word-vectors", inputs["wechsel"]["source_word_vectors"]
        )
    )
    assert "needs --target-word-vectors" in str(err)
    err = error_of(invoke(*base, "--method", "gaussian", "--alpha", "2"))
    assert "--alpha is used only by method 'sembridge'" in str(err)
    err = error_of(invoke(*base, "--method", "ofa", "--word-vectors", tmp_path / "missing.vec"))
    assert "is not a file" in str(err)
    err = error_of(
        invoke(*base, "--method", "ofa", "--word-vectors", inputs["ofa"]["word_vectors"], "--top-k", "0")
    )
    assert "--top-k must be a positive integer, got 0" in str(err)
    err = error_of(invoke(*base, "--temperature", "0.2"))
    assert "not used by method 'sembridge'" in str(err)
    assert not (tmp_path / "out").exists()


def test_cli_runs_a_baseline(tiny, tmp_path):
    source_dir, target_dir, inputs = tiny
    out = tmp_path / "ofa"
    result = invoke(
        "init", "-s", source_dir, "-t", target_dir, "-o", out, "--method", "ofa", "-q",
        "--word-vectors", inputs["ofa"]["word_vectors"], "--top-k", "2", "--temperature", "0.5",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "sembridge_init.json").read_text(encoding="utf-8"))
    assert report["settings"]["method_options"]["top_k"] == 2
    assert report["summary"]["support_size"]["max"] <= 2
