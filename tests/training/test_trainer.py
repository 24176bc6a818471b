"""Fine-tuning the real SPLADE-tiny on real dialogue pairs: loss, FLOPs, outputs, resume, refusals,
warnings."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from sembridge.data import pairs_to_dataset, write_pairs_jsonl
from sembridge.errors import OutputExistsError, SembridgeError
from sembridge.training import (
    REPORT_NAME,
    TRAINING_ARGS_NAME,
    FinetuneConfig,
    default_checkpoint_dir,
    finetune,
    list_checkpoints,
)
from tests.training.checkpoint_files import crash_at


def small(**overrides: Any) -> FinetuneConfig:
    """Settings for a quick CPU run on SPLADE-tiny."""
    settings: dict[str, Any] = {
        "batch_size": 16,
        "max_length": 32,
        "device": "cpu",
        "logging_steps": 1,
        "warmup_ratio": 0.0,
        "save_steps": 1000,
        "stats_sample_size": 32,
        "show_progress": False,
        "seed": 7,
    }
    settings.update(overrides)
    return FinetuneConfig(**settings)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


# ------------------------------------------------------------------------------------------------
# Refusals: all happen before the model is loaded (the model path here does not even exist).


def test_bf16_on_cpu_is_refused_before_loading(tmp_path: Path) -> None:
    with pytest.raises(SembridgeError) as err:
        finetune(tmp_path / "no-model", tmp_path / "no-data.jsonl", tmp_path / "out", small(precision="bf16"))
    assert err.value.message == "--bf16 needs a CUDA GPU, and this run is on the CPU"
    assert "fp32" in (err.value.hint or "")


def test_existing_output_is_refused_before_loading(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(OutputExistsError):
        finetune(tmp_path / "no-model", tmp_path / "no-data.jsonl", tmp_path / "out", small())


def test_bad_data_is_refused_before_loading(tmp_path: Path) -> None:
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"query": "q", "answer": "a"}\n{"query": "q2"}\n', encoding="utf-8")
    with pytest.raises(SembridgeError) as err:
        finetune(tmp_path / "no-model", data, tmp_path / "out", small())
    assert err.value.message == "pairs.jsonl line 2: field 'answer' is missing (columns: query)"


@pytest.mark.parametrize(("pairs", "world_size", "warned"), [(1, "1", True), (3, "2", True), (4, "2", False)])
def test_data_that_cannot_fill_one_batch_is_warned_before_loading(
    tmp_path: Path, sembridge_warnings: list[str], monkeypatch: pytest.MonkeyPatch, pairs, world_size, warned
) -> None:
    monkeypatch.setenv("WORLD_SIZE", world_size)
    data = tmp_path / "pairs.jsonl"
    data.write_text(
        "".join(f'{{"query": "q{i}", "positive": "p{i}"}}\n' for i in range(pairs)), encoding="utf-8"
    )
    with pytest.raises(SembridgeError, match="no-model"):  # the model is loaded after the warning
        finetune(tmp_path / "no-model", data, tmp_path / "out", small(batch_size=2))
    start = f"only {pairs} training pair(s) for a batch of {2 * int(world_size)}:"
    expected = [message for message in sembridge_warnings if message.startswith(start)]
    assert len(expected) == (1 if warned else 0), sembridge_warnings
    if pairs == 1:
        assert "loss 0" in expected[0] and "--batch-size" in expected[0]


def test_checkpoints_of_an_earlier_run_need_resume_or_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (default_checkpoint_dir(out) / "checkpoint-20").mkdir(parents=True)
    with pytest.raises(SembridgeError, match="holds checkpoints of an earlier run") as err:
        finetune(tmp_path / "no-model", tmp_path / "none.jsonl", out, small())
    assert "--resume" in (err.value.hint or "")


def test_resume_without_checkpoints_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SembridgeError, match="nothing to resume"):
        finetune(tmp_path / "no-model", tmp_path / "none.jsonl", tmp_path / "out", small(resume=True))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"batch_size": 0}, "--batch-size must be a positive integer, got 0."),
        ({"temperature": 0.0}, "--temperature must be > 0, got 0.0."),
        ({"doc_reg": -1.0}, "--doc-reg must be >= 0, got -1.0."),
        ({"warmup_ratio": 1.0}, "--warmup-ratio must lie in [0, 1), got 1.0."),
        ({"precision": "int8"}, "precision must be fp32, bf16 or fp16, got 'int8'."),
    ],
)
def test_config_names_the_bad_value(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SembridgeError) as err:
        small(**overrides)
    assert err.value.message == message


# ------------------------------------------------------------------------------------------------
# Real training on SPLADE-tiny.


@pytest.mark.e2e
def test_loss_falls_on_a_fixed_batch(
    tmp_path: Path, splade_tiny: Path, en_pairs: list[tuple[str, str]]
) -> None:
    # 16 pairs and batch 16: every step sees the same batch.
    data = pairs_to_dataset(en_pairs[:16])
    config = small(max_steps=10, learning_rate=2e-4, query_reg=0.0, doc_reg=0.0)
    result = finetune(splade_tiny, data, tmp_path / "out", config)
    losses = [entry["loss"] for entry in result.loss_curve]
    assert [entry["step"] for entry in result.loss_curve] == list(range(1, 11))
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.e2e
def test_document_flops_fall_as_the_weight_rises(
    tmp_path: Path, splade_tiny: Path, en_pairs: list[tuple[str, str]]
) -> None:
    data = pairs_to_dataset(en_pairs[:64])
    flops = {}
    for weight in (0.0, 0.1, 1.0):
        config = small(
            batch_size=8, max_length=24, max_steps=5, learning_rate=1e-4, query_reg=0.0, doc_reg=weight,
            reg_warmup_ratio=0.0,
        )  # fmt: skip
        result = finetune(splade_tiny, data, tmp_path / f"out-{weight}", config)
        flops[weight] = result.stats_after["documents"]["flops_regularizer"]
        if weight == 1.0:
            # The run's own report says the same, and the weight reached its full value.
            report = json.loads((tmp_path / "out-1.0" / REPORT_NAME).read_text(encoding="utf-8"))
            assert report["sparsity"]["after"]["documents"]["flops_regularizer"] == flops[weight]
            assert report["loss_curve"][-1]["document_regularizer_weight"] == 1.0
            after = report["sparsity"]["after"]["documents"]["active_terms_mean"]
            assert after < report["sparsity"]["before"]["documents"]["active_terms_mean"]
    print(f"document FLOPs regulariser by weight: {flops}")
    assert flops[0.0] > flops[0.1] > flops[1.0], flops


@pytest.mark.e2e
def test_outputs_load_and_match_the_init_format(
    tmp_path: Path, splade_tiny: Path, en_pairs: list[tuple[str, str]]
) -> None:
    from sentence_transformers import SparseEncoder
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from sembridge.loading import save_sparse_encoder

    # The input model in the format `sembridge init` writes (transformers files + modules.json).
    reference = tmp_path / "init-model"
    save_sparse_encoder(
        AutoModelForMaskedLM.from_pretrained(splade_tiny),
        AutoTokenizer.from_pretrained(splade_tiny),
        reference,
    )
    train = write_pairs_jsonl(en_pairs[:48], tmp_path / "pairs.jsonl")
    evaluation = write_pairs_jsonl(en_pairs[200:216], tmp_path / "eval.jsonl")
    out = tmp_path / "out"
    config = small(max_steps=3, query_max_length=16, save_steps=2, eval_steps=3)
    result = finetune(reference, train, out, config, eval_data=evaluation)

    assert result.written and result.global_step == 3
    # The final folder only; no checkpoints or temporary folders left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.jsonl", "init-model", "out", "pairs.jsonl"]

    # The same format comes out.
    modules = json.loads((out / "modules.json").read_text())
    expected = json.loads((reference / "modules.json").read_text())
    assert [(m["path"], m["type"]) for m in modules] == [(m["path"], m["type"]) for m in expected]
    assert json.loads((out / "1_SpladePooling" / "config.json").read_text()) == json.loads(
        (reference / "1_SpladePooling" / "config.json").read_text()
    )

    mlm = AutoModelForMaskedLM.from_pretrained(out)
    assert mlm.config.vocab_size == 30522
    AutoTokenizer.from_pretrained(out)
    encoder = SparseEncoder(str(out), device="cpu")
    # The training lengths (16 / 32) were a training setting: the written model keeps the limits
    # it came with and reads whole documents (the run's lengths are in its report).
    started = SparseEncoder(str(reference), device="cpu")
    assert encoder.max_seq_length == started.max_seq_length == 512
    assert (encoder[0].query_length, encoder[0].document_length) == (
        started[0].query_length,
        started[0].document_length,
    )
    long_document = " ".join(["retrieval"] * 100)
    assert encoder.preprocess([long_document], task="document")["input_ids"].shape[1] == 102
    vector = encoder.encode_query(["what is the capital of france"], convert_to_tensor=True)
    assert 0 < int((vector.to_dense() > 0).sum()) < 200
    # The weights did change.
    trained = weights(out)
    assert not torch.equal(
        trained["bert.embeddings.word_embeddings.weight"],
        weights(reference)["bert.embeddings.word_embeddings.weight"],
    )

    report = json.loads((out / REPORT_NAME).read_text(encoding="utf-8"))
    assert report["global_step"] == 3 and report["world_size"] == 1
    assert [e["step"] for e in report["loss_curve"]] == [1, 2, 3]
    assert {"loss", "base_loss", "document_regularizer_loss", "query_regularizer_loss"} <= set(
        report["loss_curve"][0]
    )
    assert report["eval_curve"] and "eval_dot_ndcg@10" in report["eval_curve"][-1]
    for moment in ("before", "after"):
        stats = report["sparsity"][moment]
        assert stats["queries"]["texts"] == 32 and stats["documents"]["active_terms_mean"] > 0
        assert stats["expected_flops"] > 0 and stats["documents"]["flops_regularizer"] > 0
    assert report["data"]["train_pairs"] == 48 and report["data"]["eval_pairs"] == 16
    assert (report["config"]["query_max_length"], report["config"]["max_length"]) == (16, 32)
    args = json.loads((out / TRAINING_ARGS_NAME).read_text(encoding="utf-8"))
    assert args["per_device_train_batch_size"] == 16 and args["max_steps"] == 3
    assert args["batch_sampler"] == "no_duplicates"


class _OptimizerAtStart:
    """A TrainerCallback that records the optimizer state when training (re)starts."""

    def __new__(cls) -> Any:
        from transformers import TrainerCallback

        class Record(TrainerCallback):
            state_dict: dict[str, Any] | None = None
            step: int | None = None

            def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                # A deep copy: the state's tensors are updated in place as training goes on.
                Record.state_dict = copy.deepcopy(kwargs["optimizer"].state_dict())
                Record.step = state.global_step

        return Record()


@pytest.mark.e2e
def test_resume_continues_from_the_saved_step(
    tmp_path: Path, splade_tiny: Path, en_pairs: list[tuple[str, str]]
) -> None:
    data = pairs_to_dataset(en_pairs[:96])
    config = small(
        max_steps=4, save_steps=2, learning_rate=1e-4, query_reg=1e-3, doc_reg=1e-3, reg_warmup_ratio=0.5
    )

    # Run A: straight through.
    straight = finetune(splade_tiny, data, tmp_path / "a", config)

    # Run B: crashes at step 3, after checkpoint-2 was written; nothing is written to OUT.
    out = tmp_path / "b"
    with pytest.raises(RuntimeError, match="simulated crash at step 3"):
        finetune(splade_tiny, data, out, config, callbacks=[crash_at(3)])
    assert not out.exists()
    checkpoints = list_checkpoints(default_checkpoint_dir(out))
    assert [p.name for p in checkpoints] == ["checkpoint-2"]
    saved_optimizer = torch.load(checkpoints[0] / "optimizer.pt", weights_only=False)

    # Without --resume the old checkpoints are refused.
    with pytest.raises(SembridgeError, match="holds checkpoints of an earlier run"):
        finetune(splade_tiny, data, out, config)

    # Resume: same step, same optimizer state, same result as the straight run.
    recorder = _OptimizerAtStart()
    resumed = finetune(
        splade_tiny, data, out, small(**{**config.to_dict(), "resume": True}), callbacks=[recorder]
    )
    assert resumed.resumed_from_step == 2 and resumed.global_step == 4
    assert type(recorder).step == 2
    restored = type(recorder).state_dict
    assert restored["state"].keys() == saved_optimizer["state"].keys()
    for key, state in saved_optimizer["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(restored["state"][key][name]), torch.as_tensor(value)), (
                key,
                name,
            )
    assert [e["step"] for e in resumed.loss_curve] == [1, 2, 3, 4]
    assert [round(e["loss"], 4) for e in resumed.loss_curve] == [
        round(e["loss"], 4) for e in straight.loss_curve
    ]
    final_a, final_b = weights(tmp_path / "a"), weights(out)
    for name, tensor in final_a.items():
        torch.testing.assert_close(final_b[name], tensor, rtol=1e-4, atol=1e-5)
    report = json.loads((out / REPORT_NAME).read_text(encoding="utf-8"))
    assert report["resumed_from_step"] == 2
    assert not default_checkpoint_dir(out).exists()


@pytest.mark.e2e
def test_query_and_document_lengths_apply_per_column(splade_tiny: Path) -> None:
    from sentence_transformers.sparse_encoder.data_collator import SparseEncoderDataCollator

    from sembridge.encoding.encode import check_length_before_loading
    from sembridge.loading import load_sparse_encoder
    from sembridge.training.trainer import apply_lengths

    encoder = load_sparse_encoder(splade_tiny, require_splade=True)
    mapping = apply_lengths(encoder, small(max_length=24, query_max_length=8))
    collator = SparseEncoderDataCollator(preprocess_fn=encoder.preprocess, router_mapping=mapping)
    long_text = " ".join(["retrieval"] * 100)
    batch = collator([{"query": long_text, "positive": long_text, "negative": long_text}])
    assert batch["query_input_ids"].shape[1] == 8
    assert batch["positive_input_ids"].shape[1] == 24
    assert batch["negative_input_ids"].shape[1] == 24
    with pytest.raises(SembridgeError, match="--max-length 600 is more than the model's 512 positions"):
        apply_lengths(encoder, small(max_length=600, query_max_length=32))
    with pytest.raises(SembridgeError, match="--query-max-length 2 is below 3: the model adds 2 special"):
        apply_lengths(encoder, small(max_length=24, query_max_length=2))
    with pytest.raises(SembridgeError, match="--max-length 513 is more than the model.s 512 positions"):
        check_length_before_loading(splade_tiny, 513)
    check_length_before_loading(splade_tiny, 512)
