"""Inference-free sources (a Router: static query weights + SPLADE documents), on the real assets.

The source is built in-process from the real SPLADE-tiny: query route SparseStaticEmbedding with
seeded IDF-like weights, document route SPLADE-tiny + SpladePooling.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from sembridge.errors import SembridgeError
from sembridge.init.pipeline import REPORT_FILE, InitConfig, initialize
from sembridge.loading import load_source

pytestmark = pytest.mark.e2e

RUSSIAN = [
    "история россии",
    "москва столица россии",
    "история москвы",
    "погода в москве сегодня",
]


@pytest.fixture(scope="module")
def inference_free_source(tmp_path_factory, splade_tiny):
    """(folder, weights): an inference-free SparseEncoder built from SPLADE-tiny."""
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import (
        MLMTransformer,
        Router,
        SparseStaticEmbedding,
        SpladePooling,
    )

    mlm = MLMTransformer(str(splade_tiny))
    size = mlm.auto_model.config.vocab_size
    weights = 0.5 + 3 * torch.rand(size, generator=torch.Generator().manual_seed(0))
    static = SparseStaticEmbedding(mlm.tokenizer, weight=weights.clone(), frozen=True)
    router = Router.for_query_document(query_modules=[static], document_modules=[mlm, SpladePooling("max")])
    folder = tmp_path_factory.mktemp("if-source") / "if-splade-tiny"
    SparseEncoder(modules=[router], device="cpu").save(str(folder))
    return folder, weights


@pytest.fixture(scope="module")
def adapted(tmp_path_factory, inference_free_source, ru_tokenizer, e5_bridge, offline_cache):
    folder, _ = inference_free_source
    out = tmp_path_factory.mktemp("if-out") / "ru-if"
    config = InitConfig(
        source=str(folder),
        target_tokenizer=str(ru_tokenizer),
        bridge=str(e5_bridge),
        device="cpu",
        cache_dir=str(offline_cache),
        show_progress=False,
    )
    return out, initialize(config, output_dir=out)


def test_load_source_reads_the_static_query_weights(inference_free_source, splade_tiny):
    folder, weights = inference_free_source
    source = load_source(str(folder))
    assert source.inference_free and source.query_frozen
    assert torch.equal(source.query_weights, weights)
    assert source.model.config.vocab_size == weights.shape[0]
    plain = load_source(str(splade_tiny))
    assert not plain.inference_free


def test_copied_token_keeps_its_weight(adapted, inference_free_source):
    _, weights = inference_free_source
    _, result = adapted
    matches = result.overlap.matches
    assert len(matches) > 100
    target = torch.tensor([m.target_id for m in matches])
    source = torch.tensor([m.source_id for m in matches])
    assert torch.equal(result.query_weights[target], weights[source])


def test_new_token_weight_is_the_convex_combination_of_its_row(adapted, inference_free_source):
    _, weights = inference_free_source
    _, result = adapted
    rows = result.new_rows.weights
    assert rows is not None and len(rows) == len(result.overlap.new_ids) > 1000
    for row in (0, len(rows) // 2, len(rows) - 1):
        ids, values = rows.row(row)
        assert math.isclose(float(values.sum()), 1.0, rel_tol=1e-5)
        expected = float((values.double() * weights[ids].double()).sum())
        got = float(result.query_weights[result.overlap.new_ids[row]])
        assert got == pytest.approx(expected, rel=1e-5)
        assert float(weights[ids].min()) - 1e-6 <= got <= float(weights[ids].max()) + 1e-6


def test_saved_model_reloads_as_inference_free_with_identical_outputs(adapted):
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import Router, SparseStaticEmbedding

    out, result = adapted
    encoder = SparseEncoder(str(out), device="cpu")
    assert isinstance(encoder[0], Router)
    static = encoder[0].sub_modules["query"][0]
    assert isinstance(static, SparseStaticEmbedding) and static.frozen
    assert torch.equal(static.weight.detach(), result.query_weights)

    # Queries: the weight of each of the query's own pieces, nothing else.
    query = encoder.encode_query(RUSSIAN[:2], convert_to_tensor=True).to_dense()
    tokenizer = result.tokenizer
    for text, vector in zip(RUSSIAN[:2], query, strict=True):
        ids = sorted(set(tokenizer(text, add_special_tokens=False)["input_ids"]))
        assert vector.nonzero().flatten().tolist() == ids
        assert torch.equal(vector[ids], result.query_weights[ids])

    # Documents: SPLADE of the in-memory model, max over tokens of log(1 + relu(logits)).
    documents = encoder.encode_document(RUSSIAN, convert_to_tensor=True).to_dense()
    batch = tokenizer(RUSSIAN, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = result.model.eval()(**batch).logits
    expected = (torch.log1p(torch.relu(logits)) * batch["attention_mask"].unsqueeze(-1)).amax(1)
    assert torch.allclose(documents, expected, atol=1e-5)

    report = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    assert report["summary"]["query_weights"]["policy"] == "combine"
    assert report["summary"]["vocabulary"] == "replace"


def test_idf_query_weights_from_target_text(tmp_path, inference_free_source, ru_tokenizer):
    folder, _ = inference_free_source
    text = tmp_path / "ru.txt"
    text.write_text("\n".join(RUSSIAN) + "\n\n", encoding="utf-8")
    config = InitConfig(
        source=str(folder),
        target_tokenizer=str(ru_tokenizer),
        method="mean",
        query_weights="idf",
        target_text=str(text),
        show_progress=False,
    )
    result = initialize(config, output_dir=tmp_path / "out")
    tokenizer = result.tokenizer
    n = len(RUSSIAN)
    passages = [set(tokenizer(line, add_special_tokens=False)["input_ids"]) for line in RUSSIAN]
    for token_id in sorted(set().union(*passages))[:5]:
        df = sum(token_id in p for p in passages)
        assert float(result.query_weights[token_id]) == pytest.approx(
            math.log(1 + (n - df + 0.5) / (df + 0.5))
        )
    unseen = next(i for i in range(1000, 8000) if not any(i in p for p in passages))
    assert float(result.query_weights[unseen]) == pytest.approx(math.log(1 + (n + 0.5) / 0.5))
    assert float(result.query_weights[tokenizer.cls_token_id]) == 0.0
    assert result.report["summary"]["query_weights"]["policy"] == "idf"


def test_idf_needs_target_text_and_target_text_needs_a_reader(tmp_path):
    with pytest.raises(SembridgeError, match="--query-weights idf needs --target-text"):
        InitConfig("src", "tgt", method="mean", query_weights="idf")
    text = tmp_path / "t.txt"
    text.write_text("x\n", encoding="utf-8")
    with pytest.raises(SembridgeError, match="--target-text is read only by method 'focus'"):
        InitConfig("src", "tgt", method="mean", target_text=str(text))
    with pytest.raises(SembridgeError, match="--query-weights must be one of"):
        InitConfig("src", "tgt", method="mean", query_weights="bm25")
    assert InitConfig("src", "tgt", method="mean", query_weights="idf", target_text=str(text)).target_text


def test_query_weights_refused_for_a_splade_source(tmp_path, splade_tiny, ru_tokenizer):
    config = InitConfig(str(splade_tiny), str(ru_tokenizer), method="mean", query_weights="combine")
    with pytest.raises(SembridgeError, match="applies to inference-free sources"):
        initialize(config, output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_finetune_accepts_the_router_model_and_maps_columns_to_routes(adapted):
    from sembridge.loading import load_sparse_encoder
    from sembridge.training.config import FinetuneConfig
    from sembridge.training.trainer import apply_lengths, length_settings, restore_lengths

    out, _ = adapted
    encoder = load_sparse_encoder(out, "cpu", require_splade=True)
    routes = encoder[0].sub_modules
    own = [routes["query"][0].max_seq_length, routes["document"][0].max_seq_length]
    saved = length_settings(encoder)
    config = FinetuneConfig(query_max_length=16, doc_max_length=64)
    mapping = apply_lengths(encoder, config)
    assert mapping == {"query": "query", "positive": "document", "negative": "document"}
    assert routes["query"][0].max_seq_length == 16
    assert routes["document"][0].max_seq_length == 64
    # What finetune does before writing: each route gets its own limit back.
    restore_lengths(encoder, saved)
    assert [routes["query"][0].max_seq_length, routes["document"][0].max_seq_length] == own != [16, 64]


def test_cli_init_with_idf_query_weights(tmp_path, inference_free_source, ru_tokenizer, capsys):
    from sembridge.cli.app import main

    folder, _ = inference_free_source
    text = tmp_path / "ru.txt"
    text.write_text("\n".join(RUSSIAN) + "\n", encoding="utf-8")
    out = tmp_path / "cli-out"
    argv = ["init", "-s", str(folder), "-t", str(ru_tokenizer), "--method", "mean"]
    argv += ["--query-weights", "idf", "--target-text", str(text), "-o", str(out), "--quiet"]
    try:
        main(argv)
    except SystemExit as exit_info:  # success returns, or exits with 0
        assert exit_info.code in (0, None), capsys.readouterr().err
    report = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    assert report["settings"]["query_weights"] == "idf"
    assert report["settings"]["target_text"] == str(text)
    assert (out / "router_config.json").is_file()


RU_PAIRS = [
    ("погода в москве", "Сегодня в Москве дождь и ветер."),
    ("как установить пакет", "Пакет устанавливается командой apt install."),
    ("где найти справку", "Справка открывается клавишей F1 в любом окне."),
    ("сохранить документ", "Чтобы сохранить документ, нажмите Ctrl+S."),
    ("печать страницы", "Страницу можно напечатать из меню Файл."),
    ("размер шрифта", "Размер шрифта меняется на панели форматирования."),
    ("новая таблица", "Новая таблица создаётся из меню Вставка."),
    ("проверка орфографии", "Орфография проверяется автоматически при вводе."),
]


def test_evaluate_export_and_finetune_work_on_the_adapted_router(adapted, tmp_path):
    from sentence_transformers import SparseEncoder

    from sembridge.data import pairs_dataset, pairs_to_dataset
    from sembridge.evaluation import evaluate
    from sembridge.export import export_vectors
    from sembridge.training import FinetuneConfig, finetune

    out, _ = adapted
    data = pairs_dataset(RU_PAIRS, name="ru-help")
    report = evaluate([out], data, metrics=["nDCG@10"], device="cpu", show_progress=False)
    result = report["models"][0]["results"][0]
    assert 0.0 <= result["metrics"]["nDCG@10"] <= 1.0 and result["doc_terms"] > 0

    exported = export_vectors(
        out, data.corpus, tmp_path / "vectors", queries=data.queries, device="cpu", show_progress=False
    )
    assert exported["documents"] == len(data.corpus)

    config = FinetuneConfig(
        max_steps=2, batch_size=4, query_max_length=16, doc_max_length=32, device="cpu",
        save_steps=100, logging_steps=1, stats_sample_size=4, show_progress=False,
    )  # fmt: skip
    trained = tmp_path / "ru-if-ft"
    finetune(str(out), pairs_to_dataset(RU_PAIRS), trained, config)
    reloaded = SparseEncoder(str(trained), device="cpu")
    assert type(reloaded[0]).__name__ == "Router"
    assert reloaded.encode_query(["погода"]).shape[-1] == reloaded.encode_document(["дождь"]).shape[-1]


def test_a_hub_router_source_is_fetched_as_a_folder(monkeypatch, inference_free_source):
    """A hub id whose modules.json holds a Router is read from its (cached) snapshot, and the
    report still names the hub id; hub ids without a Router are left to from_pretrained."""
    import huggingface_hub

    from sembridge.loading import load_source

    folder, weights = inference_free_source
    asked: list[str] = []

    def download(repo_id, filename, **kwargs):
        asked.append(f"{repo_id}:{filename}")
        return str(folder / filename)

    def snapshot(repo_id, **kwargs):
        asked.append(f"{repo_id}:snapshot")
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot)
    source = load_source("someone/inference-free-doc-model")
    assert asked == [
        "someone/inference-free-doc-model:modules.json",
        "someone/inference-free-doc-model:snapshot",
    ]
    assert source.inference_free and source.path_or_id == "someone/inference-free-doc-model"
    assert torch.equal(source.query_weights, weights)
