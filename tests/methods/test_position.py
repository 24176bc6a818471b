"""Position classes per tokenizer family, position-aware weights, and --position-aware end to end."""

from __future__ import annotations

import json

import pytest
import torch

from sembridge.cli.app import main
from sembridge.init.pipeline import REPORT_FILE, InitConfig, initialize
from sembridge.methods.position import position_aware_weights, position_class
from sembridge.methods.weights import entmax_weights
from sembridge.vocab import vocab_tokens
from tests.helpers import bytelevel_tokenizer, sentencepiece_tokenizer, wordpiece_tokenizer
from tests.init.test_pipeline import _config, tiny_setup  # noqa: F401 (fixture)


def _classes(tokenizer):
    return {t.token: position_class(t) for t in vocab_tokens(tokenizer) if t.special_role is None}


def test_position_class_per_tokenizer_family():
    wp = _classes(wordpiece_tokenizer(["book", "##book", "?"]))
    assert wp["book"] == "word-initial" and wp["##book"] == "continuation" and wp["?"] == "word-initial"
    sp = _classes(sentencepiece_tokenizer(["▁book", "book"]))
    assert sp["▁book"] == "word-initial" and sp["book"] == "continuation"
    bl = _classes(bytelevel_tokenizer(["Ġbook", "book"]))
    assert bl["Ġbook"] == "word-initial" and bl["book"] == "continuation"


def _embeddings(rows, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(rows, dim, generator=g), dim=1)


def test_weights_stay_in_class_and_equal_entmax_over_the_class():
    target, source = _embeddings(6, seed=1), _embeddings(10, seed=2)
    t_classes = ["word-initial", "continuation"] * 3
    s_classes = ["word-initial"] * 6 + ["continuation"] * 4
    weights, info = position_aware_weights(target, source, t_classes, s_classes, alpha=1.5, chunk_size=2)
    assert len(weights) == 6 and weights.num_columns == 10
    assert info["word-initial"] == {"target_tokens": 3, "source_tokens": 6, "fallback": False}
    for label, columns in (("word-initial", list(range(6))), ("continuation", list(range(6, 10)))):
        rows = [i for i, c in enumerate(t_classes) if c == label]
        expected = entmax_weights(target[rows], source[columns], 1.5)
        for a, i in enumerate(rows):
            ids, values = weights.row(i)
            assert set(ids.tolist()) <= set(columns)  # only its own class
            exp_ids, exp_values = expected.row(a)
            assert ids.tolist() == [columns[j] for j in exp_ids.tolist()]
            torch.testing.assert_close(values, exp_values)
    # Without the restriction the same rows draw on the other class too (the test can fail).
    full = entmax_weights(target, source, 1.5)
    crossing = [i for i in range(6) if {c for c in full.row(i)[0].tolist() if s_classes[c] != t_classes[i]}]
    assert crossing


def test_a_class_without_source_tokens_falls_back_to_all():
    target, source = _embeddings(3, seed=3), _embeddings(5, seed=4)
    weights, info = position_aware_weights(
        target, source, ["continuation"] * 3, ["word-initial"] * 5, alpha=2.0
    )
    assert info["continuation"]["fallback"] is True
    expected = entmax_weights(target, source, 2.0)
    assert torch.equal(weights.indices, expected.indices)
    torch.testing.assert_close(weights.values, expected.values)


def test_position_aware_init_and_inspect(tiny_setup, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "model"
    result = initialize(_config(tiny_setup, position_aware=True), output_dir=out)
    report = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    assert report["settings"]["position_aware"] is True
    info = report["summary"]["method_info"]
    assert info["position_aware"] is True and set(info["position_classes"]) <= {
        "word-initial",
        "continuation",
    }
    by_token = {t.token: t for t in vocab_tokens(result.tokenizer)}
    for record in report["tokens"].values():
        if record["kind"] != "new" or "sources" not in record:
            continue
        own = position_class(by_token[record["token"]])
        fallback = info["position_classes"][own]["fallback"]
        source_classes = {
            "continuation" if s.startswith("##") else "word-initial" for s, _ in record["sources"]
        }
        assert fallback or source_classes == {own}, record

    main(["inspect-token", "--model", str(out), "##ы", "--json"])
    piece = json.loads(capsys.readouterr().out)["pieces"][0]
    assert piece["position_class"] == "continuation"
    main(["inspect-token", "--model", str(out), "собака"])
    shown = capsys.readouterr().out
    assert "position-aware" in shown and "class word-initial" in shown


def test_position_aware_is_off_unless_asked(tiny_setup):  # noqa: F811
    config = _config(tiny_setup)
    assert config.method_options["position_aware"] is False
    with pytest.raises(Exception, match="position-aware must be True or False"):
        _config(tiny_setup, position_aware="yes")


@pytest.mark.e2e
def test_real_russian_word_initial_pieces_draw_on_word_initial_english(
    tmp_path, splade_tiny, ru_tokenizer, e5_bridge, offline_cache
):
    out = tmp_path / "ru-position"
    config = InitConfig(
        source=str(splade_tiny),
        target_tokenizer=str(ru_tokenizer),
        bridge=str(e5_bridge),
        alpha=4.0,
        position_aware=True,
        device="cpu",
        cache_dir=str(offline_cache),
        show_progress=False,
    )
    initialize(config, output_dir=out)
    report = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    new = [r for r in report["tokens"].values() if r["kind"] == "new" and "sources" in r]
    assert len(new) > 7000
    for record in new:
        initial = not record["token"].startswith("##")
        assert all(s.startswith("##") != initial for s, _ in record["sources"]), record
    from sembridge.init.inspection import explain_token

    piece = explain_token(out, "книга")["pieces"][0]
    assert piece["position_class"] == "word-initial"
    assert piece["sources"] and not any(s.startswith("##") for s, _ in piece["sources"])
