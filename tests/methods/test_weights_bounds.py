"""The weights stage's two guarantees beyond exactness: bounded memory at alpha 1, exact float32 scoring.

* alpha 1 (softmax) rows are dense: the SemBridge method combines them chunk by chunk and never holds
  ``n_new x n_source`` weights (issue 11 item 9);
* alpha > 1: the full-width product runs in float32 and only candidates are rescored in float64, with
  the reference's result to 1e-6 at every chunk size (issue 14 item 2).
"""

from __future__ import annotations

import pytest
import torch
from torch.overrides import TorchFunctionMode

import sembridge.methods.sembridge as sembridge_method
from sembridge.methods.sparse_weights import SparseWeights
from sembridge.methods.weights import (
    _CandidateScores,
    combine,
    entmax_weights,
    iter_entmax_weights,
    reference_entmax_weights,
    softmax_combine,
)
from tests.helpers import tiny_mlm, wordpiece_tokenizer
from tests.methods.support import make_context

# --- alpha 1: bounded memory ------------------------------------------------------------------------

N_SOURCE_WORDS = 1000
N_TARGET_WORDS = 400
CHUNK = 8


class LargestTensor(TorchFunctionMode):
    """Records the largest number of elements of any tensor a torch call returns."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(value, torch.Tensor) and not value.is_sparse and value.layout == torch.strided:
                self.largest = max(self.largest, value.numel())
        return out


class FakeBridge:
    """Stands for BridgeEmbedder: fixed random 8-dimensional vectors per surface string."""

    def __init__(self, *args, **kwargs) -> None:
        self.prompt, self.backend, self.cache_hits, self.cache_misses = "", "torch", 0, 0

    def embed(self, texts, what):
        rows = []
        for text in texts:
            gen = torch.Generator().manual_seed(sum(ord(c) * (i + 1) for i, c in enumerate(text)) % (2**31))
            rows.append(torch.randn(8, generator=gen))
        return torch.nn.functional.normalize(torch.stack(rows), dim=-1)


def _wide_context(alpha: float, tie: bool = False):
    source_words = [f"w{i}" for i in range(N_SOURCE_WORDS)]
    target_words = [f"ц{i}" for i in range(N_TARGET_WORDS)]
    source_tok, target_tok = wordpiece_tokenizer(source_words), wordpiece_tokenizer(target_words)
    model = tiny_mlm("bert", len(source_tok.get_vocab()), tie=tie)
    ctx, method = make_context(
        "sembridge",
        {"bridge": "fake-bridge", "alpha": alpha},
        model=model,
        source_tok=source_tok,
        target_tok=target_tok,
    )
    ctx.chunk_size = CHUNK
    ctx.show_progress = False
    return ctx, method


@pytest.fixture
def fake_bridge(monkeypatch):
    monkeypatch.setattr(sembridge_method, "BridgeEmbedder", FakeBridge)


def test_alpha_one_never_holds_all_dense_weights(fake_bridge) -> None:
    ctx, method = _wide_context(1.0)
    n_new, n_source = len(ctx.overlap.new_ids), N_SOURCE_WORDS
    assert n_new == N_TARGET_WORDS
    with LargestTensor() as watch:
        rows = method.build(ctx)
    # Every row is dense: n_new x n_source = 400,000 weights. No tensor may come near that: a chunk
    # of dense weights is CHUNK x n_source = 8,000, the weights kept for the report n_new x 100 =
    # 40,000 and the model's largest tensor (the embeddings) 1,005 x 16.
    kept = n_new * sembridge_method.DENSE_ROWS_KEPT
    assert watch.largest <= kept < n_new * n_source // 8, watch.largest
    assert rows.embeddings.shape == (n_new, 16) and rows.bias.shape == (n_new,)
    assert rows.decoder is not None and rows.decoder.shape == (n_new, 16)
    weights = rows.weights
    assert weights.truncated
    assert weights.support_sizes().tolist() == [n_source] * n_new
    assert int(weights.stored_sizes().max()) == sembridge_method.DENSE_ROWS_KEPT
    assert "every one of the 1000 candidate source tokens" in rows.info["dense_rows"]


def test_alpha_one_rows_equal_the_unchunked_combination(fake_bridge) -> None:
    ctx, method = _wide_context(1.0)
    rows = method.build(ctx)
    # The whole dense weight matrix, once, on these small sizes: softmax of the same similarities.
    bridge = FakeBridge()
    candidates = [t for t in ctx.source_tokens if sembridge_method.is_candidate_source(t)]
    target = bridge.embed([t.surface for t in ctx.new_tokens], "")
    source = bridge.embed([t.surface for t in candidates], "")
    full = entmax_weights(target, source, 1.0)
    assert not full.truncated and int(full.support_sizes().min()) == len(candidates)
    ids = torch.tensor([t.id for t in candidates])
    full = full.with_columns(ids, ctx.parts.embeddings.shape[0])
    for name, part in ctx.parts.named().items():
        expected = combine(full, part)
        assert torch.allclose(getattr(rows, name), expected, atol=1e-6, rtol=0), name
    # The stored weights are the full rows' largest, in the full rows' order.
    dense = full.to_dense()
    for i in (0, 17, N_TARGET_WORDS - 1):
        columns, values = rows.weights.row(i)
        top_values, _ = dense[i].sort(descending=True)
        assert torch.equal(values, top_values[: len(values)])
        assert torch.equal(dense[i, columns], values)
    # combine() on the truncated weights recomputes the full rows (an untied part, as a 1-D table).
    table = torch.randn(ctx.parts.embeddings.shape[0], generator=torch.Generator().manual_seed(3))
    assert torch.allclose(combine(rows.weights, table), combine(full, table), atol=1e-6, rtol=0)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
def test_softmax_combine_is_independent_of_chunk_size(chunk_size: int) -> None:
    gen = torch.Generator().manual_seed(5)
    target, source = torch.randn(40, 12, generator=gen), torch.randn(90, 12, generator=gen)
    matrix, bias = torch.randn(90, 5, generator=gen), torch.randn(90, generator=gen)
    full = entmax_weights(target, source, 1.0)
    seen: list[int] = []
    kept, out = softmax_combine(
        target, source, {"m": matrix, "b": bias}, keep=7, chunk_size=chunk_size, progress=seen.append
    )
    assert sum(seen) == 40
    assert torch.allclose(out["m"], combine(full, matrix), atol=1e-6, rtol=0)
    assert torch.allclose(out["b"], combine(full, bias), atol=1e-6, rtol=0)
    assert out["b"].shape == (40,)
    assert kept.truncated and kept.stored_sizes().tolist() == [7] * 40
    assert kept.support_sizes().tolist() == [90] * 40
    # The kept entries are exactly the full rows' first 7 (weight descending, ties by lower id).
    for i in range(40):
        columns, values = full.row(i)
        assert torch.equal(kept.row(i)[0], columns[:7]) and torch.equal(kept.row(i)[1], values[:7])


def test_truncated_weights_without_recombine_refuse_to_combine() -> None:
    dense = torch.softmax(torch.randn(3, 10, generator=torch.Generator().manual_seed(1)), dim=-1)
    kept = SparseWeights.largest_of_dense(dense, 4, 10)
    with pytest.raises(ValueError, match="largest entries"):
        combine(kept, torch.zeros(10, 2))


def test_largest_of_dense_ties_and_zeros() -> None:
    dense = torch.tensor([[0.1, 0.3, 0.1, 0.3, 0.2, 0.0], [0.0, 0.0, 0.0, 0.0, 0.5, 0.5]])
    kept = SparseWeights.largest_of_dense(dense, 3, 10, column_ids=torch.tensor([9, 8, 7, 6, 5, 4]))
    assert kept.support_sizes().tolist() == [5, 2]
    assert kept.row(0)[0].tolist() == [8, 6, 5]  # 0.3 at j=1, 0.3 at j=3, then 0.2
    assert kept.row(1)[0].tolist() == [5, 4]  # zeros are not stored
    # Ties at the cut keep the lower j: 0.1 at j=0 before 0.1 at j=2.
    kept = SparseWeights.largest_of_dense(dense, 4, 10)
    assert kept.row(0)[0].tolist() == [1, 3, 4, 0]
    both = SparseWeights.concat([kept, SparseWeights.from_rows([([2], [1.0])], 10)])
    assert both.support_sizes().tolist() == [5, 2, 1] and both.truncated


# --- alpha > 1: float32 candidates, exact result ----------------------------------------------------


def _clustered(rows: int, width: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Compressed cosines (as from e5: near neighbours within ~1e-3 of each other) and exact ties."""
    gen = torch.Generator().manual_seed(seed)
    centre = torch.randn(dim, generator=gen)
    source = centre + 0.05 * torch.randn(width, dim, generator=gen)
    source[width // 2 :] = source[: width - width // 2]  # duplicated rows: tied scores
    target = centre + 0.05 * torch.randn(rows, dim, generator=gen)
    target[3] = 0  # a zero row: every score 0, full support
    return target, source


@pytest.mark.parametrize("alpha", [1.5, 2.0, 4.0, 8.0])
@pytest.mark.parametrize("chunk_size", [1, 5, 16, 1024])
def test_float32_path_equals_the_reference_at_every_chunk_size(alpha: float, chunk_size: int) -> None:
    target, source = _clustered(30, 300, 48, seed=11)
    reference = reference_entmax_weights(target, source, alpha)
    weights = entmax_weights(target, source, alpha, chunk_size=chunk_size, initial_k=4)
    assert torch.equal(weights.support_sizes(), (reference > 0).sum(-1))
    assert (weights.to_dense() - reference).abs().max() <= 1e-6
    # Chunking changes the float32 estimates (and so the candidates), not the result.
    whole = entmax_weights(target, source, alpha, chunk_size=1024, initial_k=4)
    assert torch.equal(weights.indices, whole.indices) and torch.equal(weights.values, whole.values)


def test_exact_scores_do_not_depend_on_which_pairs_are_asked_together() -> None:
    target, source = _clustered(12, 200, 32, seed=12)
    unit_t = torch.nn.functional.normalize(target.double(), dim=-1)
    unit_s = torch.nn.functional.normalize(source.double(), dim=-1)
    scores = _CandidateScores(unit_t, unit_s, unit_s.float())
    rows = torch.arange(12)
    full = scores.exact_rows(rows)
    columns = torch.randint(0, 200, (12, 9), generator=torch.Generator().manual_seed(0))
    assert torch.equal(scores.exact_at(rows, columns), full.gather(1, columns))
    assert torch.equal(scores.exact_at(rows[5:7], columns[5:7, :3]), full[5:7].gather(1, columns[5:7, :3]))
    # The float32 estimates are within the stated margin of the exact scores.
    assert float((scores.approx - full).abs().max()) <= scores.margin
    # ... and the exact scores are the reference's: the float64 product rounded to float32 once.
    assert torch.equal(full, (unit_t @ unit_s.T).float())


def test_float32_path_never_forms_the_float64_product(monkeypatch) -> None:
    """Only candidates are scored in float64: no float64 block of chunk x n_source is ever made."""
    target, source = _clustered(40, 500, 16, seed=13)
    shapes: list[tuple[int, ...]] = []

    class Float64Blocks(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.dim() >= 2:
                shapes.append(tuple(out.shape))
            return out

    with Float64Blocks():
        weights = list(iter_entmax_weights(target, source, 4.0, chunk_size=20, initial_k=8))
    assert len(weights) == 2
    # float64: unit vectors, candidate blocks [rows, k, dim] and [rows, k]; never [rows, n_source].
    assert (500, 16) in shapes and any(len(shape) == 3 and shape[-1] == 16 for shape in shapes)
    assert not [shape for shape in shapes if shape[-1] == 500], set(shapes)


@pytest.mark.parametrize(("alpha", "candidates"), [(1.5, False), (2.0, False), (2.5, True), (4.0, True)])
def test_large_supports_take_the_float64_product(monkeypatch, alpha: float, candidates: bool) -> None:
    """At alpha <= 2 (supports of hundreds of sources) rescoring candidates costs more than the float64
    product: those alphas never build candidate scores; larger alphas always do."""
    import sembridge.methods.weights as weights_module

    built: list[int] = []
    real = weights_module._CandidateScores

    def counting(*args, **kwargs):
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(weights_module, "_CandidateScores", counting)
    target, source = _clustered(20, 200, 16, seed=14)
    weights = entmax_weights(target, source, alpha, chunk_size=8)
    assert bool(built) is candidates
    assert (weights.to_dense() - reference_entmax_weights(target, source, alpha)).abs().max() <= 1e-6
