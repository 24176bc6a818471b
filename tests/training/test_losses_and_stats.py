"""The loss wiring, the FLOPs warm-up and the sparsity statistics (against hand-computed values)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from sembridge.errors import SembridgeError
from sembridge.training.losses import build_loss, build_regularizer_warmup
from sembridge.training.stats import measure_sparsity


class FakeEncoder:
    """Returns fixed vectors, so that the statistics can be checked by hand."""

    def __init__(self, queries: torch.Tensor, documents: torch.Tensor) -> None:
        self.vectors = {"query": queries, "document": documents}
        self.training = True

    def eval(self) -> None:
        self.training = False

    def train(self, mode: bool = True) -> None:
        self.training = mode

    def _encode(self, kind: str, texts: list[str]) -> torch.Tensor:
        return torch.stack([self.vectors[kind][int(t)] for t in texts])

    def encode_query(self, texts: list[str], **_: Any) -> torch.Tensor:
        return self._encode("query", texts)

    def encode_document(self, texts: list[str], **_: Any) -> torch.Tensor:
        return self._encode("document", texts)


def test_measure_sparsity_by_hand() -> None:
    queries = torch.tensor([[1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 2.0]])
    documents = torch.tensor([[1.0, 1.0, 0.0, 0.0], [3.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 3.0]])
    model = FakeEncoder(queries, documents)
    stats = measure_sparsity(model, ["0", "1"], ["0", "1", "2"], batch_size=2)  # type: ignore[arg-type]
    assert model.training  # the training mode is restored
    # queries: active 2 and 1 -> mean 1.5; column means (0.5, 0, 0, 2) -> FLOPs 0.25 + 4 = 4.25
    assert stats.queries.active_terms_mean == 1.5 and stats.queries.active_terms_max == 2
    assert stats.queries.flops_regularizer == pytest.approx(4.25)
    assert stats.queries.l1_mean == pytest.approx(2.5)
    # documents: column means (4/3, 1/3, 1/3, 1) -> 16/9 + 1/9 + 1/9 + 1 = 3
    assert stats.documents.active_terms_mean == pytest.approx(5 / 3, abs=1e-3)
    assert stats.documents.flops_regularizer == pytest.approx(3.0)
    # P(q active) = (0.5, 0, 0, 1); P(d active) = (2/3, 1/3, 1/3, 1/3) -> 1/3 + 1/3 = 2/3
    assert stats.expected_flops == pytest.approx(2 / 3, abs=1e-4)
    with pytest.raises(ValueError, match="at least one text"):
        measure_sparsity(model, [], ["0"])  # type: ignore[arg-type]


@pytest.mark.e2e
def test_loss_wiring_and_gradients(splade_tiny: Path) -> None:
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss

    model = SparseEncoder(str(splade_tiny), device="cpu")
    loss = build_loss(model, query_reg=5e-3, doc_reg=3e-3, temperature=0.05)
    assert isinstance(loss, SpladeLoss) and isinstance(loss.loss, SparseMultipleNegativesRankingLoss)
    assert loss.loss.scale == pytest.approx(20.0)
    assert (loss.query_regularizer_weight, loss.document_regularizer_weight) == (5e-3, 3e-3)

    queries = ["what is the capital of france", "how do magnets work"]
    documents = ["paris is the capital of france", "magnets attract iron through a magnetic field"]
    features = [model.preprocess(queries), model.preprocess(documents)]
    before = [{k: v.clone() for k, v in f.items() if torch.is_tensor(v)} for f in features]
    parts = loss(features, None)
    assert set(parts) == {"base_loss", "document_regularizer_loss", "query_regularizer_loss"}
    assert parts["query_regularizer_loss"].item() > 0 and parts["document_regularizer_loss"].item() > 0
    assert torch.isfinite(parts["base_loss"]) and parts["base_loss"].item() >= 0
    torch.stack(list(parts.values())).sum().backward()
    embeddings = model[0].auto_model.get_input_embeddings().weight
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0
    for original, used in zip(before, features, strict=True):  # inputs are not modified in place
        assert all(torch.equal(original[k], used[k]) for k in original)


@pytest.mark.e2e
def test_warmup_is_quadratic(splade_tiny: Path) -> None:
    from sentence_transformers import SparseEncoder
    from transformers import TrainerControl, TrainerState

    model = SparseEncoder(str(splade_tiny), device="cpu")
    loss = build_loss(model, query_reg=0.4, doc_reg=0.2)
    callback = build_regularizer_warmup(loss, warmup_ratio=0.5)
    state = TrainerState()
    state.max_steps = 20
    callback.on_train_begin(None, state, TrainerControl())
    seen = []
    for step in (0, 5, 10, 15):
        state.global_step = step
        callback.on_step_begin(None, state, TrainerControl())
        seen.append((loss.query_regularizer_weight, loss.document_regularizer_weight))
    assert seen == [(0.0, 0.0), (pytest.approx(0.1), pytest.approx(0.05)), (0.4, 0.2), (0.4, 0.2)]


def test_bad_loss_settings_are_refused() -> None:
    with pytest.raises(SembridgeError, match="temperature must be > 0, got -1"):
        build_loss(None, 0.0, 0.0, temperature=-1)  # type: ignore[arg-type]
    with pytest.raises(SembridgeError, match="query_reg must be >= 0, got -0.1"):
        build_loss(None, -0.1, 0.0)  # type: ignore[arg-type]
    with pytest.raises(SembridgeError, match=r"reg_warmup_ratio must lie in \[0, 1\], got 2"):
        build_regularizer_warmup(None, 2)
