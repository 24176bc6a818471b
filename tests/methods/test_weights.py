"""Tests for sembridge.methods.weights: chunked cosine, exact top-k entmax, convex combinations."""

from __future__ import annotations

import pytest
import torch
from entmax import entmax_bisect

from sembridge.methods.sparse_weights import SparseWeights
from sembridge.methods.weights import (
    combine,
    entmax_rows,
    entmax_weights,
    iter_entmax_weights,
    iter_similarity,
    reference_entmax_weights,
)

ALPHAS = (1.0, 1.5, 2.0, 2.5, 4.0)


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_scores(rows: int = 24, width: int = 400, seed: int = 0) -> torch.Tensor:
    """Cosine-like scores: unit vectors in 16 dimensions, so a few clear neighbours per row."""
    gen = _generator(seed)
    target = torch.nn.functional.normalize(torch.randn(rows, 16, generator=gen), dim=-1)
    source = torch.nn.functional.normalize(torch.randn(width, 16, generator=gen), dim=-1)
    return target @ source.T


def _compressed_scores(rows: int = 24, width: int = 400, seed: int = 1) -> torch.Tensor:
    """All scores in [0.8, 0.9], as from a bridge with compressed cosines: large supports."""
    return 0.8 + 0.1 * torch.rand(rows, width, generator=_generator(seed))


def _full_row_reference(scores: torch.Tensor, alpha: float, n_iter: int = 50) -> torch.Tensor:
    if alpha == 1:
        return torch.softmax(scores, dim=-1)
    return entmax_bisect(scores, alpha, dim=-1, n_iter=n_iter)


def _unit_vectors(rows: int, dim: int, seed: int) -> torch.Tensor:
    return torch.randn(rows, dim, generator=_generator(seed))


# --- entmax_rows: exactness -------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("kind", ["random", "compressed"])
@pytest.mark.parametrize("initial_k", [2, 64])
def test_topk_entmax_equals_full_row_entmax_bisect(alpha: float, kind: str, initial_k: int) -> None:
    scores = _random_scores() if kind == "random" else _compressed_scores()
    weights = entmax_rows(scores, alpha, initial_k=initial_k)
    expected = _full_row_reference(scores, alpha)
    assert (weights.to_dense() - expected).abs().max() <= 1e-6
    # The support is exactly the reference's non-zeros.
    assert torch.equal(weights.support_sizes(), (expected > 0).sum(-1))


def test_k_grows_beyond_initial_k() -> None:
    scores = _compressed_scores()
    expected = entmax_bisect(scores, 2.0, dim=-1)
    supports = (expected > 0).sum(-1)
    assert int(supports.min()) > 16  # every row needs k to grow from 2 several times
    weights = entmax_rows(scores, 2.0, initial_k=2)
    assert torch.equal(weights.support_sizes(), supports)
    assert (weights.to_dense() - expected).abs().max() <= 1e-6


@pytest.mark.parametrize("alpha", [1.5, 2.0, 4.0])
def test_full_row_support(alpha: float) -> None:
    # Equal scores: every column is in the support, weights 1 / V.
    width = 50
    scores = torch.full((3, width), 0.25)
    scores[1] = 0.8 + 1e-6 * torch.rand(width, generator=_generator(2))  # nearly equal: full support too
    weights = entmax_rows(scores, alpha, initial_k=4)
    expected = entmax_bisect(scores, alpha, dim=-1)
    assert torch.equal((expected > 0).sum(-1), torch.full((3,), width))
    assert torch.equal(weights.support_sizes(), torch.full((3,), width))
    assert (weights.to_dense() - expected).abs().max() <= 1e-6
    assert torch.allclose(weights.row(0)[1], torch.full((width,), 1 / width))


@pytest.mark.parametrize("n_iter", [4, 10, 50])
def test_exact_for_any_number_of_bisection_steps(n_iter: int) -> None:
    # The bracket is the full row's, so even an unconverged bisection matches entmax_bisect.
    scores = _random_scores(seed=3)
    for alpha in (1.5, 2.0, 4.0):
        weights = entmax_rows(scores, alpha, initial_k=4, n_iter=n_iter)
        assert (weights.to_dense() - entmax_bisect(scores, alpha, dim=-1, n_iter=n_iter)).abs().max() <= 1e-6


def test_support_below_k_is_the_exactness_condition() -> None:
    # Scores with a support of 10 under sparsemax.
    scores = torch.cat([torch.linspace(0.30, 0.25, 10), torch.linspace(0.05, 0.0, 90)]).unsqueeze(0)
    full = entmax_bisect(scores, 2.0, dim=-1)
    support = int((full > 0).sum())
    assert support == 10
    top_scores, top_columns = scores.topk(12, dim=-1)
    on_top_12 = entmax_bisect(top_scores, 2.0, dim=-1)
    assert on_top_12[0, -1] == 0  # the k-th weight is 0 ...
    assert torch.allclose(on_top_12, full.gather(1, top_columns), atol=1e-6)  # ... so top-k is exact
    top_scores, top_columns = scores.topk(5, dim=-1)
    on_top_5 = entmax_bisect(top_scores, 2.0, dim=-1)
    assert on_top_5[0, -1] > 0  # support reaches k: not exact ...
    assert (on_top_5 - full.gather(1, top_columns)).abs().max() > 1e-3
    weights = entmax_rows(scores, 2.0, initial_k=5)  # ... so entmax_rows grows k
    assert (weights.to_dense() - full).abs().max() <= 1e-6


@pytest.mark.parametrize("alpha", ALPHAS)
def test_rows_are_distributions_sorted_by_weight(alpha: float) -> None:
    weights = entmax_rows(_random_scores(seed=4), alpha, initial_k=3)
    assert bool((weights.values > 0).all())
    row_ids = torch.repeat_interleave(torch.arange(len(weights)), weights.support_sizes())
    sums = torch.zeros(len(weights)).index_add_(0, row_ids, weights.values)
    assert torch.allclose(sums, torch.ones(len(weights)), atol=1e-5)
    for i in range(len(weights)):
        columns, values = weights.row(i)
        assert bool((values[:-1] >= values[1:]).all())
        assert torch.unique(columns).numel() == columns.numel()


def test_ties_are_ordered_by_lower_column_id() -> None:
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.9, 0.5, 0.0]])
    for alpha in (1.0, 1.5, 2.0):
        columns, values = entmax_rows(scores, alpha, initial_k=2).row(0)
        assert columns[:4].tolist() == [1, 3, 2, 4]
        assert values[0] == values[1] and values[2] == values[3]


@pytest.mark.parametrize("alpha", [0.5, 0.999, -1.0, float("nan")])
def test_alpha_below_one_raises(alpha: float) -> None:
    scores = _random_scores(rows=2, width=10)
    with pytest.raises(ValueError, match="alpha must be >= 1"):
        entmax_rows(scores, alpha)
    with pytest.raises(ValueError, match="alpha must be >= 1"):
        iter_entmax_weights(scores, scores, alpha)
    with pytest.raises(ValueError, match="alpha must be >= 1"):
        reference_entmax_weights(scores, scores, alpha)


def test_bad_arguments_raise() -> None:
    scores = _random_scores(rows=2, width=10)
    with pytest.raises(ValueError, match="initial_k must be >= 1, got 0"):
        entmax_rows(scores, 2.0, initial_k=0)
    with pytest.raises(ValueError, match="n_iter must be >= 1, got 0"):
        entmax_rows(scores, 2.0, n_iter=0)
    with pytest.raises(ValueError, match="2-D"):
        entmax_rows(scores[0], 2.0)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="must not contain NaN"):
            entmax_rows(torch.tensor([[0.1, 0.3, 0.2], [0.1, bad, 0.2]]), 2.0)
    # -inf only masks a column out.
    masked = torch.tensor([[0.3, float("-inf"), 0.1, 0.2]])
    for alpha in (1.0, 2.0):
        weights = entmax_rows(masked, alpha, initial_k=1)
        assert 1 not in weights.row(0)[0].tolist()
        assert (weights.to_dense() - _full_row_reference(masked, alpha)).abs().max() <= 1e-6
    with pytest.raises(ValueError, match="chunk_size must be >= 1, got 0"):
        iter_similarity(scores, scores, chunk_size=0)
    with pytest.raises(ValueError, match="same dimension"):
        iter_similarity(torch.zeros(2, 3), torch.zeros(4, 5))


def test_empty_input() -> None:
    weights = entmax_rows(torch.zeros(0, 7), 2.0)
    assert len(weights) == 0 and weights.num_columns == 7
    weights = entmax_weights(torch.zeros(0, 4), torch.randn(7, 4, generator=_generator()), 2.0)
    assert len(weights) == 0 and weights.num_columns == 7


# --- similarity, chunking, reference ----------------------------------------------------------------


def test_iter_similarity_is_cosine_in_chunks() -> None:
    target, source = _unit_vectors(10, 8, seed=5) * 3, _unit_vectors(30, 8, seed=6)
    target[4] = 0  # a zero row has similarity 0
    chunks = list(iter_similarity(target, source, chunk_size=4))
    assert [start for start, _ in chunks] == [0, 4, 8]
    sim = torch.cat([chunk for _, chunk in chunks])
    assert sim.dtype == torch.float32 and sim.shape == (10, 30)
    expected = torch.nn.functional.cosine_similarity(target.unsqueeze(1), source.unsqueeze(0), dim=-1)
    expected[4] = 0
    assert torch.allclose(sim, expected, atol=1e-6)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_chunked_equals_one_chunk(alpha: float) -> None:
    target, source = _unit_vectors(23, 12, seed=7), _unit_vectors(150, 12, seed=8)
    whole = entmax_weights(target, source, alpha, chunk_size=1024, initial_k=3)
    seen: list[int] = []
    parts = list(iter_entmax_weights(target, source, alpha, chunk_size=5, initial_k=3, progress=seen.append))
    assert [start for start, _ in parts] == [0, 5, 10, 15, 20]
    assert seen == [5, 5, 5, 5, 3]
    chunked = SparseWeights.concat([weights for _, weights in parts])
    assert torch.equal(chunked.indptr, whole.indptr)
    assert torch.equal(chunked.indices, whole.indices)
    assert torch.equal(chunked.values, whole.values)
    # The starting k changes the work done, not the result.
    other_k = entmax_weights(target, source, alpha, initial_k=64)
    assert torch.equal(other_k.indices, whole.indices)
    assert (other_k.values - whole.values).abs().max() <= 1e-7


@pytest.mark.parametrize("alpha", ALPHAS)
def test_reference_matches_entmax_weights(alpha: float) -> None:
    target, source = _unit_vectors(12, 10, seed=9), _unit_vectors(200, 10, seed=10)
    reference = reference_entmax_weights(target, source, alpha)
    assert reference.shape == (12, 200) and reference.dtype == torch.float32
    weights = entmax_weights(target, source, alpha, chunk_size=5, initial_k=2)
    assert (weights.to_dense() - reference).abs().max() <= 1e-6


def test_inputs_are_not_modified() -> None:
    target, source = _unit_vectors(9, 6, seed=11) * 2, _unit_vectors(40, 6, seed=12) * 3
    target_copy, source_copy = target.clone(), source.clone()
    list(iter_similarity(target, source, chunk_size=4))
    weights = entmax_weights(target, source, 2.0, chunk_size=4)
    reference_entmax_weights(target, source, 4.0)
    scores = _compressed_scores(rows=4, width=30)
    scores_copy = scores.clone()
    entmax_rows(scores, 1.5, initial_k=2)
    matrix = torch.randn(40, 3, generator=_generator(13))
    matrix_copy = matrix.clone()
    values_copy = weights.values.clone()
    combine(weights, matrix)
    assert torch.equal(target, target_copy) and torch.equal(source, source_copy)
    assert torch.equal(scores, scores_copy)
    assert torch.equal(matrix, matrix_copy) and torch.equal(weights.values, values_copy)


def test_explicit_device() -> None:
    target, source = _unit_vectors(5, 6, seed=14), _unit_vectors(20, 6, seed=15)
    weights = entmax_weights(target, source, 2.0, device="cpu")
    assert weights.device == torch.device("cpu")
    assert torch.equal(weights.values, entmax_weights(target, source, 2.0).values)


# --- combine ----------------------------------------------------------------------------------------


def _some_weights() -> SparseWeights:
    return entmax_weights(_unit_vectors(15, 8, seed=16), _unit_vectors(60, 8, seed=17), 1.5)


def test_combine_equals_dense_product_2d_and_1d() -> None:
    weights = _some_weights()
    matrix = torch.randn(60, 7, generator=_generator(18))
    bias = torch.randn(60, generator=_generator(19))
    dense = weights.to_dense()
    out = combine(weights, matrix)
    assert out.shape == (15, 7) and out.dtype == torch.float32
    assert torch.allclose(out, dense @ matrix, atol=1e-6)
    out_bias = combine(weights, bias)
    assert out_bias.shape == (15,)
    assert torch.allclose(out_bias, dense @ bias, atol=1e-6)


def test_combine_gives_convex_combinations() -> None:
    weights = _some_weights()
    matrix = torch.randn(60, 7, generator=_generator(20))
    out = combine(weights, matrix)
    for i in range(len(weights)):
        columns, _ = weights.row(i)
        rows = matrix[columns]
        assert bool((out[i] >= rows.min(0).values - 1e-6).all())
        assert bool((out[i] <= rows.max(0).values + 1e-6).all())
    # One-hot rows copy source rows exactly.
    copies = SparseWeights.from_rows([([3], [1.0]), ([59], [1.0])], num_columns=60)
    assert torch.equal(combine(copies, matrix), matrix[[3, 59]])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_combine_keeps_dtype(dtype: torch.dtype) -> None:
    weights = _some_weights()
    matrix = torch.randn(60, 4, generator=_generator(21)).to(dtype)
    out = combine(weights, matrix)
    assert out.dtype == dtype
    expected = weights.to_dense() @ matrix.float()
    assert torch.allclose(out.float(), expected, atol=1e-2 if dtype == torch.bfloat16 else 1e-6)


def test_combine_checks_shapes() -> None:
    weights = _some_weights()
    with pytest.raises(ValueError, match="must have 60 rows"):
        combine(weights, torch.zeros(59, 3))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        combine(weights, torch.zeros(60, 3, 2))


@pytest.mark.parametrize("alpha", [1.5, 2.0, 4.0])
@pytest.mark.parametrize("chunk_size", [1, 3, 8, 1024])
def test_float32_similarity_path_is_exact_at_several_chunk_sizes(alpha: float, chunk_size: int) -> None:
    # Compressed cosines (all near one centre, as from e5), where float32 rounding of the scores is
    # of the size of the gaps that decide the support: the exactness test of the weights stage.
    gen = _generator(30)
    centre = torch.randn(24, generator=gen)
    target = centre + 0.03 * torch.randn(17, 24, generator=gen)
    source = centre + 0.03 * torch.randn(250, 24, generator=gen)
    reference = reference_entmax_weights(target, source, alpha)
    weights = entmax_weights(target, source, alpha, chunk_size=chunk_size, initial_k=2)
    assert torch.equal(weights.support_sizes(), (reference > 0).sum(-1))
    assert (weights.to_dense() - reference).abs().max() <= 1e-6
    assert torch.equal(weights.values, entmax_weights(target, source, alpha, chunk_size=1024).values)
