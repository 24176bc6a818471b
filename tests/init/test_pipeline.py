"""The init pipeline on tiny in-process models and a tiny random bridge."""

from __future__ import annotations

import json

import pytest
import torch

from sembridge.init.pipeline import REPORT_FILE, InitConfig, initialize
from tests.helpers import save_tiny_bridge, save_tiny_source, wordpiece_tokenizer

SOURCE_WORDS = ["the", "cat", "dog", "sat", "on", "mat", "##s", "##ing", "run", "house", "water", "1", "?"]
TARGET_WORDS = ["the", "кот", "собака", "##ы", "дом", "вода", "1", "?", "cat", "##ing"]
BRIDGE_WORDS = sorted(set(SOURCE_WORDS + TARGET_WORDS + ["к", "##о", "##т", "с", "д", "в", "##а"]))


@pytest.fixture
def tiny_setup(tmp_path):
    source = save_tiny_source(tmp_path / "source", "bert", SOURCE_WORDS, tie=True)
    untied = save_tiny_source(tmp_path / "source-untied", "bert", SOURCE_WORDS, tie=False)
    target = tmp_path / "target"
    wordpiece_tokenizer(TARGET_WORDS).save_pretrained(target)
    bridge = save_tiny_bridge(tmp_path / "bridge", BRIDGE_WORDS)
    return {"source": source, "untied": untied, "target": target, "bridge": bridge, "tmp": tmp_path}


def _config(setup, **kw):
    base = dict(
        source=str(setup["source"]),
        target_tokenizer=str(setup["target"]),
        bridge=str(setup["bridge"]),
        alpha=2.0,
        device="cpu",
        cache_dir=str(setup["tmp"] / "cache"),
        show_progress=False,
    )
    base.update(kw)
    return InitConfig(**base)


def _source_parts(path):
    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(path)
    out = model.get_output_embeddings()
    return model.get_input_embeddings().weight.detach(), out.weight.detach(), out.bias.detach()


def test_rows_copied_and_combined(tiny_setup):
    result = initialize(_config(tiny_setup))
    emb_src, _, bias_src = _source_parts(tiny_setup["source"])
    model = result.model
    emb = model.get_input_embeddings().weight.detach()
    bias = model.get_output_embeddings().bias.detach()
    # Overlapping tokens copy the source row and bias exactly.
    for m in result.overlap.matches:
        assert torch.equal(emb[m.target_id], emb_src[m.source_id])
        assert torch.equal(bias[m.target_id], bias_src[m.source_id])
    # New rows are convex combinations of source rows with the same weights for the bias.
    weights = result.new_rows.weights
    assert len(weights) == result.overlap.num_new > 0
    for row, target_id in enumerate(result.overlap.new_ids):
        ids, values = weights.row(row)
        assert values.min() > 0 and abs(float(values.sum()) - 1) < 1e-5
        torch.testing.assert_close(emb[target_id], (values[:, None] * emb_src[ids]).sum(0))
        torch.testing.assert_close(bias[target_id], (values * bias_src[ids]).sum())
    # Tied decoder stays tied.
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert model.config.vocab_size == len(wordpiece_tokenizer(TARGET_WORDS).get_vocab())


def test_untied_decoder_is_remapped(tiny_setup):
    result = initialize(_config(tiny_setup, source=str(tiny_setup["untied"])))
    _, dec_src, _ = _source_parts(tiny_setup["untied"])
    model = result.model
    dec = model.get_output_embeddings().weight.detach()
    assert dec.data_ptr() != model.get_input_embeddings().weight.data_ptr()
    for m in result.overlap.matches:
        assert torch.equal(dec[m.target_id], dec_src[m.source_id])
    for row, target_id in enumerate(result.overlap.new_ids):
        ids, values = result.new_rows.weights.row(row)
        torch.testing.assert_close(dec[target_id], (values[:, None] * dec_src[ids]).sum(0))


def test_deterministic_under_scrambled_global_state(tiny_setup):
    torch.manual_seed(1)
    first = initialize(_config(tiny_setup)).model.get_input_embeddings().weight.detach().clone()
    torch.manual_seed(12345)
    torch.rand(100)
    second = initialize(_config(tiny_setup)).model.get_input_embeddings().weight.detach()
    assert torch.equal(first, second)


def test_output_folder_and_report(tiny_setup):
    from sentence_transformers import SparseEncoder
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    out = tiny_setup["tmp"] / "out"
    result = initialize(_config(tiny_setup), output_dir=out)
    assert result.output_dir == out
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".out.")], "temporary folder left behind"
    model = AutoModelForMaskedLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.vocab_size == len(tokenizer.get_vocab())
    encoder = SparseEncoder(str(out), device="cpu")
    vector = encoder.encode(["кот дом"], convert_to_tensor=True)
    assert vector.shape[-1] == len(tokenizer.get_vocab())

    report = json.loads((out / REPORT_FILE).read_text())
    summary = report["summary"]
    assert summary["copied"] + summary["new"] == summary["target_vocab_size"]
    assert summary["copied_by_kind"]["special"] == 5
    assert set(summary["timings"]) >= {"load models", "overlap", "bridge embeddings", "similarity + entmax"}
    vocab = tokenizer.get_vocab()
    assert report["tokens"][str(vocab["the"])]["kind"] == "copied"
    new_record = report["tokens"][str(vocab["собака"])]
    assert new_record["kind"] == "new" and new_record["support"] >= 1
    assert abs(sum(w for _, w in new_record["sources"]) - 1) < 1e-4 or new_record["support"] > 10
    assert report["settings"]["alpha"] == 2.0


def test_existing_output_is_refused_before_loading(tiny_setup):
    from sembridge.errors import OutputExistsError

    out = tiny_setup["tmp"] / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="already exists"):
        initialize(_config(tiny_setup, source="/nonexistent/model"), output_dir=out)
    assert (out / "keep.txt").read_text() == "mine"
    initialize(_config(tiny_setup), output_dir=out, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / REPORT_FILE).is_file()


def test_second_run_reads_bridge_cache(tiny_setup):
    first = initialize(_config(tiny_setup, alpha=4.0))
    assert first.new_rows.info["bridge_cache_misses"] == 2
    second = initialize(_config(tiny_setup, alpha=1.5))
    assert second.new_rows.info["bridge_cache_hits"] == 2
    assert second.new_rows.info["bridge_cache_misses"] == 0


@pytest.mark.parametrize("alpha", [0.5, 0.99, float("nan")])
def test_alpha_below_one_refused(tiny_setup, alpha):
    from sembridge.errors import SembridgeError

    expected = "alpha must be >= 1" if alpha == alpha else "alpha must be a finite number >= 1"  # nan != nan
    with pytest.raises(SembridgeError, match=expected):
        _config(tiny_setup, alpha=alpha)


def test_sembridge_options_given_as_keywords_are_method_options():
    by_keyword = InitConfig(source="s", target_tokenizer="t", bridge="bge-m3", alpha=4)
    by_mapping = InitConfig(source="s", target_tokenizer="t", method_options={"bridge": "bge-m3", "alpha": 4})
    assert by_keyword == by_mapping
    assert by_keyword.method_options == {
        "alpha": 4.0,
        "bridge": "bge-m3",
        "batch_size": 256,
        "bridge_backend": "torch",
        "position_aware": False,
    }
    assert not hasattr(by_keyword, "alpha")


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        ({"alpha": 2}, "--alpha"),
        ({"bridge": "nonsense"}, "--bridge"),
        ({"cache_dir": "/tmp/c"}, "--cache-dir"),
    ],
)
def test_sembridge_options_refused_for_another_method(options, flag):
    from sembridge.errors import SembridgeError

    for config in ({**options}, {"method_options": options}):
        with pytest.raises(SembridgeError) as refused:
            InitConfig(source="s", target_tokenizer="t", method="random", **config)
        assert str(refused.value) == f"{flag} is used only by method 'sembridge', not by 'random'"
        assert refused.value.hint == f"leave {flag} out, or use --method sembridge"


def test_option_given_twice_or_unknown_refused():
    from sembridge.errors import SembridgeError

    with pytest.raises(SembridgeError, match="'alpha' is given twice"):
        InitConfig(source="s", target_tokenizer="t", alpha=2, method_options={"alpha": 3})
    with pytest.raises(SembridgeError, match="unknown method option 'alhpa'") as refused:
        InitConfig(source="s", target_tokenizer="t", alhpa=2)
    assert "alpha" in refused.value.hint
    with pytest.raises(SembridgeError, match="--chunk-size must be a positive integer, got 0"):
        InitConfig(source="s", target_tokenizer="t", chunk_size=0)


def test_report_settings_list_the_method_options(tiny_setup):
    settings = initialize(_config(tiny_setup)).report["settings"]
    assert settings["bridge"] == str(tiny_setup["bridge"]) and settings["bridge_prompt"] is None
    assert settings["method_options"]["alpha"] == 2.0 and "bridge_prompt" not in settings["method_options"]
    assert settings["cache_dir"] == str(tiny_setup["tmp"] / "cache")


@pytest.mark.parametrize("specials_only", ["wordpiece", "sentencepiece"])
def test_target_tokenizer_with_only_special_tokens_refused_before_the_bridge(tiny_setup, specials_only):
    from sembridge.errors import SembridgeError
    from tests.helpers import sentencepiece_tokenizer

    target = tiny_setup["tmp"] / f"specials-{specials_only}"
    tokenizer = wordpiece_tokenizer([]) if specials_only == "wordpiece" else sentencepiece_tokenizer([])
    tokenizer.save_pretrained(target)
    out = tiny_setup["tmp"] / "out"
    config = _config(tiny_setup, target_tokenizer=str(target), bridge=str(tiny_setup["tmp"] / "no-bridge"))
    with pytest.raises(SembridgeError) as err:
        initialize(config, output_dir=out)
    assert str(err.value).startswith(
        f"target tokenizer '{target}' has no regular token: its 5 token(s) are all special ("
    )
    assert "sembridge tokenizer train" in err.value.hint
    assert not out.exists()
