"""Token limits a model cannot honour are refused in one line, before encoding: above its
positions (before loading, for a local folder) and at or below its special tokens (which a
tokenizer leaves untruncated); what is recorded is what was used."""

from __future__ import annotations

import json

import pytest

from sembridge.cli import evaluate as evaluate_cmd
from sembridge.cli import export as export_cmd
from sembridge.encoding.encode import length_limits, load_encoder, position_limit
from sembridge.errors import SembridgeError
from sembridge.loading import save_sparse_encoder
from tests.cli.support import error_of, invoke
from tests.helpers import tiny_mlm, wordpiece_tokenizer

WORDS = ["book", "house", "river", "##s"]


@pytest.fixture
def model_dir(tmp_path):
    tokenizer = wordpiece_tokenizer(WORDS)
    save_sparse_encoder(tiny_mlm("roberta", len(tokenizer)), tokenizer, tmp_path / "m")
    return tmp_path / "m"


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"_id": f"d{i}", "text": w}) + "\n" for i, w in enumerate(WORDS)))
    return path


def test_limits_of_a_model(model_dir):
    assert position_limit({"max_position_embeddings": 40, "model_type": "roberta", "pad_token_id": 0}) == 39
    assert position_limit({"max_position_embeddings": 512, "model_type": "bert"}) == 512
    encoder = load_encoder(model_dir, "cpu")
    assert length_limits(encoder) == (3, 39)  # [CLS] text [SEP]; 40 positions less the padding offset


@pytest.mark.parametrize(
    ("value", "first_line"),
    [
        ("1", "--max-length 1 is below 3: the model adds 2 special token(s) to every text"),
        ("2", "--max-length 2 is below 3"),
        ("4096", "--max-length 4096 is more than the model's 39 positions"),
    ],
)
def test_export_and_evaluate_refuse_a_length_the_model_cannot_honour(value, first_line, model_dir, corpus):
    out = model_dir.parent / "vectors"
    args = (
        "export",
        "-m",
        model_dir,
        "--corpus",
        corpus,
        "-o",
        out,
        "--device",
        "cpu",
        "--max-length",
        value,
    )
    assert first_line in str(error_of(invoke([export_cmd], *args)))
    assert not out.exists()
    pairs = corpus.with_name("pairs.jsonl")
    pairs.write_text("".join(json.dumps({"query": w, "positive": f"{w} {w}"}) + "\n" for w in WORDS))
    args = ("evaluate", "-m", model_dir, "--data", pairs, "--device", "cpu", "--max-length", value)
    assert first_line in str(error_of(invoke([evaluate_cmd], *args)))


def test_the_length_used_is_the_one_recorded(model_dir, corpus):
    out = model_dir.parent / "vectors"
    args = ("export", "-m", model_dir, "--corpus", corpus, "-o", out, "--device", "cpu", "--max-length", "3")
    result = invoke([export_cmd], *args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "export.json").read_text())["max_length"] == 3


def test_a_length_above_the_positions_is_refused_before_loading(model_dir, monkeypatch):
    import sembridge.encoding.encode as encode

    monkeypatch.setattr(encode, "load_sparse_encoder", lambda *a, **k: pytest.fail("loaded"))
    with pytest.raises(SembridgeError, match="--max-length 40 is more than the model's 39 positions"):
        load_encoder(model_dir, "cpu", max_length=40)
