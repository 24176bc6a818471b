"""finetune --teacher: the data's negatives scored once by BM25, a dense model, a cross-encoder, the
model's own bridge or a fusion, cached, and refused where it cannot work."""

from __future__ import annotations

import json

import pytest
import torch
from datasets import Dataset

from sembridge.errors import SembridgeError, UsageError
from sembridge.training import FinetuneConfig
from sembridge.training import teacher as teacher_module
from sembridge.training.teacher import parse_teacher, score_with_teacher
from tests.helpers import save_tiny_bridge, wordpiece_tokenizer

WORDS = ["cat", "dog", "house", "river", "tree", "red", "green", "##s"]


def ntuples() -> Dataset:
    return Dataset.from_dict(
        {
            "query": ["cat house", "river tree", "red dog"],
            "positive": ["cat house cat", "river tree green", "red dog dog"],
            "negative_1": ["tree green", "dog house", "green river"],
            "negative_2": ["green green", "red cat", "house tree"],
        }
    )


def test_teacher_values_are_parsed_and_bad_ones_refused():
    assert parse_teacher("bm25") == (True, None)
    assert parse_teacher("intfloat/multilingual-e5-small") == (False, "intfloat/multilingual-e5-small")
    assert parse_teacher("bm25+bridge") == (True, "bridge")
    assert parse_teacher("bridge + bm25") == (True, "bridge")
    for bad in ("", "bm25+", "a+b", "bm25+a+b"):
        with pytest.raises(UsageError):
            parse_teacher(bad)
    with pytest.raises(UsageError, match="--teacher scores the data for a distillation loss"):
        FinetuneConfig(teacher="bm25", loss="infonce")
    assert FinetuneConfig(teacher="bm25+bridge", loss="kl").teacher == "bm25+bridge"


def test_bm25_scores_every_text_and_are_cached(tmp_path, monkeypatch):
    tokenizer = wordpiece_tokenizer(WORDS)
    data = ntuples().add_column("scores", [[0.0, 0.0, 0.0]] * 3)
    scored = score_with_teacher(data, "bm25", student=None, tokenizer=tokenizer, cache_dir=tmp_path)
    scores = scored["scores"]
    assert len(scores) == 3 and all(len(row) == 3 for row in scores)
    assert all(row[0] == max(row) and 0 <= min(row) and max(row) <= 1 for row in scores)  # positive first
    assert scored.column_names == [*ntuples().column_names, "scores"]
    assert len(list((tmp_path / "teacher").glob("*.json"))) == 1
    monkeypatch.setattr(teacher_module, "_score", lambda *a, **k: pytest.fail("scored again"))
    again = score_with_teacher(ntuples(), "bm25", student=None, tokenizer=tokenizer, cache_dir=tmp_path)
    assert again["scores"] == scores


def test_a_dense_teacher_the_models_bridge_and_the_fusion(tmp_path):
    bridge = save_tiny_bridge(tmp_path / "bridge", WORDS)
    student = tmp_path / "student"
    student.mkdir()
    (student / "sembridge_init.json").write_text(json.dumps({"settings": {"bridge": str(bridge)}}))
    tokenizer = wordpiece_tokenizer(WORDS)
    dense = score_with_teacher(ntuples(), str(bridge), student=student, cache_dir=tmp_path)
    own = score_with_teacher(ntuples(), "bridge", student=student, cache_dir=tmp_path / "other")
    assert [pytest.approx(row) for row in dense["scores"]] == list(own["scores"])
    assert all(-1 <= s <= 1 for row in dense["scores"] for s in row)
    fused = score_with_teacher(
        ntuples(), "bm25+bridge", student=student, tokenizer=tokenizer, cache_dir=tmp_path
    )["scores"]
    assert all(0 <= s <= 1 for row in fused for s in row) and fused != dense["scores"]
    with pytest.raises(SembridgeError, match="--teacher bridge names the bridge .* holds no sembridge_init"):
        score_with_teacher(ntuples(), "bridge", student=tmp_path / "bridge", cache_dir=tmp_path)


def test_a_cross_encoder_scores_each_pair(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = wordpiece_tokenizer(WORDS)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=1,
    )  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(tmp_path / "reranker")
    tokenizer.save_pretrained(str(tmp_path / "reranker"))
    scored = score_with_teacher(ntuples(), str(tmp_path / "reranker"), student=None, cache_dir=tmp_path)
    assert [len(row) for row in scored["scores"]] == [3, 3, 3]
    with pytest.raises(UsageError, match="a cross-encoder scores pairs"):
        score_with_teacher(
            ntuples(), f"bm25+{tmp_path / 'reranker'}", student=None, tokenizer=tokenizer, cache_dir=tmp_path
        )


def test_data_without_negatives_is_refused(tmp_path):
    pairs = Dataset.from_dict({"query": ["cat"], "positive": ["cat house"]})
    with pytest.raises(SembridgeError, match="the data has no negatives"):
        score_with_teacher(pairs, "bm25", student=None, tokenizer=wordpiece_tokenizer(WORDS))


def test_finetune_with_a_teacher_trains_on_its_scores(tmp_path, monkeypatch):
    """From the command's settings to the trainer: the teacher's scores replace the data's."""
    from sembridge.loading import save_sparse_encoder
    from sembridge.training import finetune
    from tests.helpers import tiny_mlm

    tokenizer = wordpiece_tokenizer(WORDS)
    save_sparse_encoder(tiny_mlm("bert", len(tokenizer)), tokenizer, tmp_path / "m")
    monkeypatch.setenv("SEMBRIDGE_CACHE", str(tmp_path / "cache"))
    seen = []
    real = teacher_module.score_with_teacher

    def recording(*args, **kwargs):
        scored = real(*args, **kwargs)
        seen.append(scored["scores"])
        return scored

    monkeypatch.setattr(teacher_module, "score_with_teacher", recording)
    config = FinetuneConfig(
        loss="kl", teacher="bm25", max_steps=1, batch_size=3, max_length=16, device="cpu",
        save_steps=100, logging_steps=1, stats_sample_size=2, show_progress=False, warmup_ratio=0.0,
    )  # fmt: skip
    result = finetune(str(tmp_path / "m"), ntuples(), tmp_path / "ft", config)
    assert result.written and len(seen) == 1 and len(seen[0]) == 3
    assert list((tmp_path / "cache" / "teacher").glob("*.json"))
