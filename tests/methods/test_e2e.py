"""Every baseline end to end on the real offline assets: SPLADE-tiny -> a Russian WordPiece vocabulary.

Inputs: Russian text (chatterbot-corpus, CLDR names, wordfreq sentences) for FOCUS, and
multilingual-e5-small word vectors for OFA and WECHSEL (see ``tests/methods/assets.py``; built
once, ~1 minute, then cached). Each output folder must load in sentence-transformers'
SparseEncoder and encode Russian text.
"""

from __future__ import annotations

import json
import time

import pytest
import torch

from sembridge.init.inspection import explain_token
from sembridge.init.pipeline import InitConfig, initialize

pytestmark = pytest.mark.e2e

BASELINES = ["random", "mean", "gaussian", "mv-gaussian", "focus", "ofa", "wechsel"]
QUERY = "Какая столица России? Москва — большой город на реке."


@pytest.fixture(scope="module")
def inputs(offline_cache, e5_bridge):
    from tests.methods.assets import baseline_inputs

    files = baseline_inputs(offline_cache, e5_bridge)
    return {
        "random": {},
        "mean": {},
        "gaussian": {},
        "mv-gaussian": {},
        "focus": {"target_text": str(files["text"]), "fasttext_min_count": 5},
        "ofa": {"word_vectors": str(files["multilingual"])},
        "wechsel": {
            "source_word_vectors": str(files["english"]),
            "target_word_vectors": str(files["russian"]),
            "dictionary": str(files["dictionary"]),
        },
    }


@pytest.fixture(scope="module")
def source_rows(splade_tiny):
    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(str(splade_tiny))
    return (
        model.get_input_embeddings().weight.detach().clone(),
        model.get_output_embeddings().bias.detach().clone(),
    )


@pytest.mark.parametrize("method", BASELINES)
def test_baseline_on_real_assets(method, inputs, splade_tiny, ru_tokenizer, source_rows, tmp_path):
    from sentence_transformers import SparseEncoder

    out = tmp_path / method
    config = InitConfig(
        source=str(splade_tiny),
        target_tokenizer=str(ru_tokenizer),
        method=method,
        show_progress=False,
        method_options=inputs[method],
    )
    start = time.perf_counter()
    result = initialize(config, output_dir=out)
    seconds = time.perf_counter() - start
    summary = result.report["summary"]
    assert summary["method"] == method and summary["new"] > 1000

    # Copied rows are the source rows, whatever the method; new rows are finite.
    embeddings, bias = source_rows
    model = result.model
    target_emb = model.get_input_embeddings().weight.detach()
    target_bias = model.get_output_embeddings().bias.detach()
    copied_t = torch.tensor([m.target_id for m in result.overlap.matches])
    copied_s = torch.tensor([m.source_id for m in result.overlap.matches])
    assert torch.equal(target_emb[copied_t], embeddings[copied_s])
    assert torch.equal(target_bias[copied_t], bias[copied_s])
    assert torch.isfinite(target_emb).all() and torch.isfinite(target_bias).all()

    report = json.loads((out / "sembridge_init.json").read_text(encoding="utf-8"))
    assert report["summary"]["bias"] == summary["bias"]
    if method in ("focus", "ofa", "wechsel"):
        info = summary["method_info"]
        # ~1,700 Russian words in the vector files cover ~20% of the pieces; FOCUS's text far more.
        assert info["weighted_rows"] > 0.15 * summary["new"], info
        support = summary["support_size"]
        if method != "focus":
            assert support["max"] <= 10
        weighted = [r for r in report["tokens"].values() if r["kind"] == "new" and r.get("support")]
        assert weighted and all(
            abs(sum(w for _, w in r["sources"]) - 1) < 1e-3 for r in weighted if r["support"] <= 10
        )
        piece = explain_token(out, "##ова")["pieces"][0]
        assert piece["kind"] in ("new", "copied")
    if method in ("ofa", "wechsel"):  # both vector files hold "book" and "книга"
        assert explain_token(out, "книга")["pieces"][0]["sources"][0][0] == "book"
    if method == "wechsel":
        info = summary["method_info"]
        assert info["pair_cosine_after_alignment"] > info["pair_cosine_before_alignment"] + 0.3

    encoder = SparseEncoder(str(out), device="cpu")
    vector = encoder.encode([QUERY], convert_to_tensor=True)
    dense = vector.to_dense()[0] if vector.is_sparse else vector[0]
    assert dense.shape[0] == summary["target_vocab_size"]
    assert torch.isfinite(dense).all()  # the mean baseline may leave a Russian query with no active term
    active = int((dense > 0).sum())
    info = {k: v for k, v in summary["method_info"].items() if not isinstance(v, str)}
    print(f"\n{method}: init {seconds:.1f} s, {active} active terms; {info}")
