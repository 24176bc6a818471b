"""finetune --loss: InfoNCE or distillation of the data's teacher scores, inside SpladeLoss with
both FLOPs terms; n-tuples with numbered negatives and scores read by the one pairs reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sembridge.data import DataOptions, load_pairs, validate_pairs
from sembridge.errors import SembridgeError
from sembridge.training import FinetuneConfig, finetune
from sembridge.training.losses import LossSum, build_loss
from sembridge.training.trainer import teacher_scores_for


def write_ntuples(path: Path, count: int = 12, k: int = 2, scores: bool = True) -> Path:
    lines = []
    for i in range(count):
        row = {"query": f"question {i} about topic {i % 3}", "positive": f"answer {i}: topic {i % 3} text"}
        for j in range(1, k + 1):
            row[f"negative_{j}"] = f"unrelated passage {i}-{j}"
        if scores:
            row["scores"] = [0.9, *[0.5 - 0.1 * j for j in range(k)]]
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_reader_keeps_numbered_negatives_and_scores(tmp_path):
    data = load_pairs(write_ntuples(tmp_path / "m.jsonl", k=3))
    assert data.column_names == ["query", "positive", "negative_1", "negative_2", "negative_3", "scores"]
    assert data[0]["scores"] == pytest.approx([0.9, 0.5, 0.4, 0.3])
    two = load_pairs(tmp_path / "m.jsonl", DataOptions(max_negatives=2))
    assert two.column_names == ["query", "positive", "negative_1", "negative_2", "scores"]
    assert two[0]["scores"] == pytest.approx([0.9, 0.5, 0.4])
    none = load_pairs(tmp_path / "m.jsonl", DataOptions(negatives=False))
    assert none.column_names == ["query", "positive"]
    assert validate_pairs(data).column_names == data.column_names


def test_bad_scores_are_refused_with_the_line(tmp_path):
    path = write_ntuples(tmp_path / "m.jsonl", count=2)
    lines = path.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[1])
    row["scores"] = [0.9]
    path.write_text(lines[0] + "\n" + json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(SembridgeError, match="line 2: field 'scores' holds 1 scores for 3 texts"):
        load_pairs(path)
    row["scores"] = [0.9, "high", 0.1]
    path.write_text(lines[0] + "\n" + json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(SembridgeError, match="line 2: field 'scores' must be a list of 3 finite numbers"):
        load_pairs(path)


def test_distillation_needs_teacher_scores_before_any_model_is_loaded(tmp_path):
    plain = write_ntuples(tmp_path / "plain.jsonl", scores=False)
    with pytest.raises(SembridgeError, match="--loss kl learns from a teacher's scores"):
        finetune(str(tmp_path / "no-model"), plain, tmp_path / "out", FinetuneConfig(loss="kl", device="cpu"))
    assert not (tmp_path / "out").exists()


def test_margin_mse_scales_the_teacher_and_infonce_leaves_the_scores_out(tmp_path):
    data = load_pairs(write_ntuples(tmp_path / "m.jsonl"))
    scaled = teacher_scores_for(data, FinetuneConfig(loss="margin-mse", margin_scale=10.0), "train")
    assert scaled[0]["scores"] == pytest.approx([9.0, 5.0, 4.0])
    assert "scores" not in teacher_scores_for(data, FinetuneConfig(), "train").column_names


@pytest.mark.parametrize(
    ("kind", "base"),
    [
        ("infonce", "SparseMultipleNegativesRankingLoss"),
        ("kl", "SparseDistillKLDivLoss"),
        ("margin-mse", "SparseMarginMSELoss"),
        ("infonce+kl", "LossSum"),
    ],
)
def test_each_loss_sits_inside_splade_loss_with_both_flops_terms(splade_tiny, kind, base):
    from sentence_transformers import SparseEncoder

    model = SparseEncoder(str(splade_tiny), device="cpu")
    loss = build_loss(model, 1e-3, 2e-3, kind=kind, teacher_temperature=0.1, student_temperature=2.0)
    assert type(loss).__name__ == "SpladeLoss" and type(loss.loss).__name__ == base
    assert loss.query_regularizer_weight == 1e-3 and loss.document_regularizer_weight == 2e-3
    if kind == "kl":
        assert loss.loss.teacher_temperature == 0.1 and loss.loss.student_temperature == 2.0
    cached = build_loss(model, 1e-3, 2e-3, kind=kind, cached=True, mini_batch_size=4)
    assert type(cached).__name__ == "CachedSpladeLoss" and cached.mini_batch_size == 4


def test_the_sum_reports_each_part():
    class Constant(torch.nn.Module):
        def __init__(self, value: float) -> None:
            super().__init__()
            self.value = value

        def compute_loss_from_embeddings(self, embeddings, labels):
            return torch.tensor(self.value)

    out = LossSum({"a": Constant(1.0), "b": Constant(2.0)}).compute_loss_from_embeddings([], None)
    assert {k: float(v) for k, v in out.items()} == {"a_loss": 1.0, "b_loss": 2.0}


@pytest.mark.parametrize("kind", ["kl", "infonce+kl", "margin-mse"])
def test_a_distillation_run_trains_and_records_the_loss(splade_tiny, tmp_path, kind):
    data = write_ntuples(tmp_path / "m.jsonl", count=16)
    config = FinetuneConfig(
        loss=kind, max_steps=2, batch_size=8, max_length=32, device="cpu", logging_steps=1,
        save_steps=1000, stats_sample_size=8, show_progress=False, teacher_temperature=0.1,
    )  # fmt: skip
    result = finetune(str(splade_tiny), data, tmp_path / "out", config)
    assert result.global_step == 2 and result.written
    report = json.loads((tmp_path / "out" / "sembridge_finetune.json").read_text(encoding="utf-8"))
    assert report["config"]["loss"] == kind and report["data"]["columns"][-1] == "scores"
    keys = set().union(*(entry.keys() for entry in result.loss_curve))
    if kind == "infonce+kl":
        assert {"infonce_loss", "kl_loss"} <= keys, keys


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"loss": "listnet"}, "unknown loss 'listnet'"),
        ({"teacher_temperature": 0.0}, "--teacher-temperature must be a finite number > 0"),
        ({"margin_scale": float("nan")}, "--margin-scale must be a finite number > 0"),
        ({"mini_batch_size": 0}, "--mini-batch-size must be a positive integer"),
    ],
)
def test_loss_settings_are_refused_by_flag(overrides, message):
    with pytest.raises(SembridgeError, match=message):
        FinetuneConfig(**overrides)


def test_any_sparse_loss_can_be_given_from_python(splade_tiny, tmp_path, en_pairs):
    from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss

    calls = []

    class Recording(SparseMultipleNegativesRankingLoss):
        def compute_loss_from_embeddings(self, embeddings, labels):
            calls.append(len(embeddings))
            return super().compute_loss_from_embeddings(embeddings, labels)

    def build(model):
        return SpladeLoss(model, loss=Recording(model, scale=5.0), document_regularizer_weight=0.0,
                          query_regularizer_weight=0.0)  # fmt: skip

    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"query": q, "positive": p}) + "\n" for q, p in en_pairs[:16]))
    config = FinetuneConfig(
        max_steps=2, batch_size=8, max_length=32, device="cpu", logging_steps=1, save_steps=1000,
        stats_sample_size=8, show_progress=False,
    )  # fmt: skip
    finetune(str(splade_tiny), data, tmp_path / "out", config, loss=build)
    assert calls == [2, 2]  # the given loss ran each step, on queries and positives
    report = json.loads((tmp_path / "out" / "sembridge_finetune.json").read_text(encoding="utf-8"))
    assert report["loss"] == "SpladeLoss(Recording)"
    with pytest.raises(SembridgeError, match="loss= must give a torch module, got str"):
        finetune(str(splade_tiny), data, tmp_path / "out2", config, loss=lambda model: "kl")


def test_several_training_sets_train_with_one_loss_each(splade_tiny, tmp_path, en_pairs):
    """``finetune({name: data}, loss={name: loss})``: each batch comes from one set and is scored
    by that set's loss (sentence-transformers' multi-dataset training)."""
    from datasets import Dataset
    from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss

    calls: list[str] = []

    def recording(name):
        class Recording(SparseMultipleNegativesRankingLoss):
            def compute_loss_from_embeddings(self, embeddings, labels):
                calls.append(name)
                return super().compute_loss_from_embeddings(embeddings, labels)

        return lambda model: SpladeLoss(model, loss=Recording(model), document_regularizer_weight=0.0,
                                        query_regularizer_weight=0.0)  # fmt: skip

    def dataset(rows):
        return Dataset.from_dict({"query": [q for q, _ in rows], "positive": [p for _, p in rows]})

    data = {"first": dataset(en_pairs[:24]), "second": dataset(en_pairs[24:32])}
    config = FinetuneConfig(
        epochs=1, batch_size=8, max_length=32, device="cpu", logging_steps=1, save_steps=1000,
        stats_sample_size=8, show_progress=False,
    )  # fmt: skip
    result = finetune(str(splade_tiny), data, tmp_path / "out", config,
                      loss={"first": recording("first"), "second": recording("second")})  # fmt: skip
    assert result.global_step == 3 + 1 and sorted(calls) == ["first"] * 3 + ["second"]
    report = json.loads((tmp_path / "out" / "sembridge_finetune.json").read_text(encoding="utf-8"))
    assert report["loss"] == "first: SpladeLoss(Recording), second: SpladeLoss(Recording)"
    assert report["data"]["train_pairs"] == 32
    with pytest.raises(
        SembridgeError, match=r"loss= names \['first'\], the training data \['first', 'second'\]"
    ):
        finetune(str(splade_tiny), data, tmp_path / "out2", config, loss={"first": recording("first")})
    assert (
        finetune(str(splade_tiny), data, tmp_path / "one-loss", config).global_step == 4
    )  # config.loss for both
    with pytest.raises(SembridgeError, match="paragraph groups sample one training set"):
        finetune(str(splade_tiny), data, tmp_path / "out4", FinetuneConfig(paragraph_groups=True))
    assert not any((tmp_path / name).exists() for name in ("out2", "out4"))
