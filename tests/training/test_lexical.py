"""LexicalWeights: BM25's weights of a text's own pieces in its sparse vector (finetune --lexical-weight).

On the real SPLADE-tiny and its tokenizer: the lexical part of q . d is BM25's score (the
baseline's bm25s index over the same documents) times each query's own constant; the module
survives a save and a load through sembridge's loader; finetune fits it on the training documents
and trains with it in place.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sembridge.errors import SembridgeError

DOCUMENTS = [
    "the river flows past the old mill and the river bank is green",
    "a mill grinds grain into flour",
    "green fields and a quiet river",
    "flour, water and salt make bread",
    "the old town has a market every friday",
    "bread from the market is fresh in the morning",
]
QUERIES = ["river mill", "fresh bread market", "green grain"]


@pytest.fixture(scope="module")
def encoder(splade_tiny: Path):
    from sembridge.loading import load_sparse_encoder

    return load_sparse_encoder(splade_tiny, "cpu")


def vectors(encoder, texts: list[str]) -> torch.Tensor:
    return encoder.encode(texts, convert_to_tensor=True, show_progress_bar=False).to_dense()


def test_the_lexical_part_of_a_dot_product_is_bm25_times_a_query_constant(encoder) -> None:
    from sembridge.evaluation.bm25 import BM25Index, BM25Params, tokenize
    from sembridge.training.lexical import add_lexical_weights

    learned_q, learned_d = vectors(encoder, QUERIES), vectors(encoder, DOCUMENTS)
    try:
        module = add_lexical_weights(encoder, DOCUMENTS, weight=2.0)
        both_q, both_d = vectors(encoder, QUERIES), vectors(encoder, DOCUMENTS)
    finally:
        del encoder[-1]
    lexical_q, lexical_d = both_q - learned_q, both_d - learned_d
    # Only a text's own pieces move, and every one of them does.
    for text, row in zip(DOCUMENTS, lexical_d, strict=True):
        own = set(tokenize(encoder.tokenizer, [text])[0])
        assert set(row.nonzero().flatten().tolist()) == own
    assert module.avg_length == pytest.approx(
        np.mean([len(p) for p in tokenize(encoder.tokenizer, DOCUMENTS)])
    )

    index = BM25Index(encoder.tokenizer, DOCUMENTS, BM25Params())
    k1, b = BM25Params().k1, BM25Params().b
    for query, row in zip(QUERIES, lexical_q, strict=True):
        pieces = tokenize(encoder.tokenizer, [query])[0]
        assert len(set(pieces)) == len(pieces)  # each piece once: the query's factor is one constant
        constant = 1.0 / (1.0 + k1 * (1 - b + b * len(pieces) / module.avg_length))
        expected = 2.0 * constant * index.scores(pieces)
        assert (row @ lexical_d.T).numpy() == pytest.approx(expected, rel=1e-4, abs=1e-6)
        assert expected.max() > 0


def test_a_model_with_lexical_weights_saves_and_loads_through_sembridge(encoder, tmp_path: Path) -> None:
    from sembridge.loading import load_sparse_encoder
    from sembridge.training.lexical import LexicalWeights, add_lexical_weights, lexical_module

    try:
        add_lexical_weights(encoder, DOCUMENTS, weight=0.5)
        before = vectors(encoder, QUERIES)
        encoder.save(str(tmp_path / "model"))
    finally:
        del encoder[-1]
    types = [m["type"] for m in json.loads((tmp_path / "model" / "modules.json").read_text())]
    assert types[-1] == "sembridge.training.lexical.LexicalWeights"
    loaded = load_sparse_encoder(tmp_path / "model", "cpu")
    module = lexical_module(loaded)
    assert isinstance(module, LexicalWeights) and module.weight == 0.5
    assert torch.equal(vectors(loaded, QUERIES), before)


@pytest.mark.parametrize("weight", [0.0, -1.0, float("nan"), float("inf"), True])
def test_a_bad_lexical_weight_is_refused(weight) -> None:
    from sembridge.training.lexical import check_lexical_weight

    with pytest.raises(SembridgeError, match="the lexical weight must be a finite number > 0"):
        check_lexical_weight(weight)


def test_finetune_refuses_a_bad_lexical_weight_naming_the_flag() -> None:
    from sembridge.training import FinetuneConfig

    with pytest.raises(SembridgeError) as err:
        FinetuneConfig(lexical_weight=0.0)
    assert err.value.message == "--lexical-weight must be a finite number > 0, got 0.0."


def test_training_documents_are_the_distinct_positives_and_negatives() -> None:
    from datasets import Dataset

    from sembridge.training.trainer import training_documents

    data = Dataset.from_dict(
        {"query": ["q1", "q2"], "positive": ["a", "b"], "negative_1": ["b", "c"], "scores": [[1, 0], [1, 0]]}
    )
    assert training_documents(data) == ["a", "b", "c"]
    assert training_documents({"x": data, "y": Dataset.from_dict({"query": ["q"], "positive": ["d"]})}) == [
        "a", "b", "c", "d",
    ]  # fmt: skip


@pytest.mark.e2e
def test_finetune_adds_lexical_weights_after_training_and_keeps_a_models_own(
    tmp_path: Path, splade_tiny: Path, en_pairs: list[tuple[str, str]]
) -> None:
    from transformers import TrainerCallback

    from sembridge.data import write_pairs_jsonl
    from sembridge.evaluation.bm25 import tokenize
    from sembridge.loading import load_sparse_encoder
    from sembridge.training import FinetuneConfig, finetune
    from sembridge.training.lexical import LexicalWeights, lexical_module

    class Trained(TrainerCallback):  # what the model holds while it trains
        def __init__(self) -> None:
            self.last: list[str] = []

        def on_step_end(self, args, state, control, model=None, **kwargs) -> None:
            self.last.append(type(model[-1]).__name__)

    pairs = en_pairs[:32]
    train = write_pairs_jsonl(pairs, tmp_path / "pairs.jsonl")
    settings = {"batch_size": 16, "max_length": 32, "max_steps": 2, "device": "cpu", "save_steps": 1000,
                "stats_sample_size": 16, "show_progress": False, "seed": 7}  # fmt: skip
    finetune(splade_tiny, train, tmp_path / "plain", FinetuneConfig(**settings))
    assert lexical_module(load_sparse_encoder(tmp_path / "plain", "cpu")) is None

    seen = Trained()
    finetune(
        splade_tiny, train, tmp_path / "lex", FinetuneConfig(lexical_weight=3.0, **settings), callbacks=[seen]
    )
    assert seen.last == ["SpladePooling", "SpladePooling"]  # trained without them
    model = load_sparse_encoder(tmp_path / "lex", "cpu")
    module = lexical_module(model)
    assert module is not None and module.weight == 3.0
    documents = list(dict.fromkeys(p for _, p in pairs))
    lengths = [len(p) for p in tokenize(model.tokenizer, documents)]
    assert module.avg_length == pytest.approx(np.mean(lengths))  # fitted on the training documents
    saved = json.loads((tmp_path / "lex" / "sembridge_finetune.json").read_text())
    assert saved["config"]["lexical_weight"] == 3.0
    # The written vectors hold every own piece of a document.
    vector = model.encode([documents[0]], convert_to_tensor=True, show_progress_bar=False).to_dense()[0]
    assert set(tokenize(model.tokenizer, [documents[0]])[0]) <= set(vector.nonzero().flatten().tolist())

    # A model that has them trains without them and is written with the same module.
    again = Trained()
    finetune(tmp_path / "lex", train, tmp_path / "again", FinetuneConfig(**settings), callbacks=[again])
    assert again.last == ["SpladePooling", "SpladePooling"]
    kept = lexical_module(load_sparse_encoder(tmp_path / "again", "cpu"))
    assert isinstance(kept, LexicalWeights) and kept.weight == 3.0
    assert torch.equal(kept.idf, module.idf)


def test_onnx_export_refuses_a_model_with_lexical_weights(encoder) -> None:
    from sembridge.export.onnx import _parts
    from sembridge.training.lexical import add_lexical_weights

    assert _parts(encoder)["mlm"] is not None
    try:
        add_lexical_weights(encoder, DOCUMENTS)
        with pytest.raises(SembridgeError, match=r"modules the ONNX graph does not carry \(LexicalWeights\)"):
            _parts(encoder)
    finally:
        del encoder[-1]


def test_the_model_card_names_the_lexical_weight_and_how_to_load_it() -> None:
    from sembridge.model_card import finetune_block

    report = {"config": {"lexical_weight": 1.5}, "data": {}}
    text = "\n".join(finetune_block(report))
    assert "| lexical weight (BM25 of each text's own pieces) | 1.5 |" in text
    assert "trust_remote_code=True" in text
    assert "LexicalWeights" not in "\n".join(finetune_block({"config": {}, "data": {}}))


def test_the_loader_resolves_only_sembridges_own_module_names(tmp_path: Path) -> None:
    from sembridge.errors import ModelLoadError
    from sembridge.loading import sembridge_modules
    from sembridge.training.lexical import LexicalWeights

    folder = tmp_path / "model"
    folder.mkdir()
    modules = [
        {
            "idx": 0,
            "name": "0",
            "path": "",
            "type": "sentence_transformers.sparse_encoder.modules.MLMTransformer",
        },
        {"idx": 1, "name": "1", "path": "1", "type": "sembridge.training.lexical.LexicalWeights"},
        {"idx": 2, "name": "2", "path": "2", "type": "somebody_else.modules.Custom"},  # left to the flag
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    assert sembridge_modules(str(folder)) == {"sembridge.training.lexical.LexicalWeights": LexicalWeights}
    assert sembridge_modules(str(tmp_path / "missing")) == {}
    modules[1]["type"] = "sembridge.training.lexical.NoSuchModule"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ModelLoadError, match="names the module sembridge.training.lexical.NoSuchModule"):
        sembridge_modules(str(folder))
