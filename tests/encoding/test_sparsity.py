"""Sparsity figures of CSR matrices against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from sembridge.encoding.sparsity import (
    flops,
    mean_active_terms,
    own_piece_share,
    side_stats,
    sparsity_stats,
    term_presence,
    to_csr,
)
from sembridge.errors import SembridgeError


def test_sparsity_and_flops_by_hand():
    queries = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 3, 0]]))
    docs = sp.csr_matrix(np.array([[1.0, 1, 0], [0, 1, 0], [0, 0, 0], [4, 0, 0]]))
    np.testing.assert_allclose(term_presence(queries), [0.5, 0.5, 0.5])
    np.testing.assert_allclose(term_presence(docs), [0.5, 0.5, 0.0])
    assert flops(queries, docs) == pytest.approx(0.5 * 0.5 + 0.5 * 0.5 + 0.5 * 0.0)
    assert mean_active_terms(queries) == 1.5
    assert mean_active_terms(docs) == 1.0
    assert sparsity_stats(queries, docs).summary() == {"query_terms": 1.5, "doc_terms": 1.0, "flops": 0.5}


def test_flops_equals_mean_pairwise_overlap_for_independent_rows():
    # sum_j p_j(q) p_j(d) is the exact mean over all (query, doc) pairs of shared active terms.
    rng = np.random.default_rng(0)
    q = sp.random(7, 30, density=0.2, format="csr", random_state=rng)
    d = sp.random(11, 30, density=0.3, format="csr", random_state=rng)
    overlap = ((q != 0).astype(float) @ (d != 0).astype(float).T).toarray().mean()
    assert flops(q, d) == pytest.approx(overlap)


def test_side_stats_by_hand_and_input_untouched():
    # An explicit zero (row 1) is not an active term.
    matrix = sp.csr_matrix(
        (np.array([1.0, 2.0, 0.0, 3.0]), np.array([0, 3, 1, 3]), np.array([0, 2, 4])), shape=(2, 4)
    )
    before = matrix.copy()
    stats = side_stats(matrix)
    assert stats.texts == 2
    assert stats.active_terms_mean == 1.5 and stats.active_terms_max == 2
    # column means (0.5, 0, 0, 2.5) -> 0.25 + 6.25
    assert stats.flops_regularizer == pytest.approx(6.5)
    assert stats.l1_mean == pytest.approx(3.0)
    assert matrix.nnz == before.nnz and np.array_equal(matrix.data, before.data)


def test_empty_matrix_is_all_zero_and_dimensions_must_agree():
    empty = sp.csr_matrix((0, 5), dtype=np.float32)
    assert side_stats(empty).texts == 0 and side_stats(empty).active_terms_mean == 0.0
    assert mean_active_terms(empty) == 0.0
    np.testing.assert_array_equal(term_presence(empty), np.zeros(5))
    with pytest.raises(SembridgeError, match="queries have 5 dimensions but documents have 6"):
        flops(empty, sp.csr_matrix((1, 6)))


def test_to_csr_from_dense_and_sparse_tensors():
    dense = torch.tensor([[0.0, 1.5, 0.0], [2.0, 0.0, 0.0]])
    for tensor in (dense, dense.to_sparse(), dense[0]):
        matrix = to_csr(tensor)
        assert matrix.dtype == np.float32 and matrix.nnz == np.count_nonzero(matrix.toarray())
        np.testing.assert_array_equal(matrix.toarray(), np.atleast_2d(tensor.to_dense().numpy()))


def test_comparing_two_encoders_vectors():
    from sembridge.encoding.sparsity import mean_row_cosine, top_k_overlap

    reference = np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    same_order = np.array([[6.0, 4.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    swapped = np.array([[1.0, 2.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    assert top_k_overlap(reference, same_order, k=2) == 1.0
    assert top_k_overlap(reference, swapped, k=1) == 0.0  # top term 0 against top term 2
    assert mean_row_cosine(reference, same_order) == pytest.approx(1.0)  # an empty row counts as equal
    assert mean_row_cosine(reference, swapped) == pytest.approx((10 / 14 + 1) / 2)


def test_side_accumulator_equals_the_stacked_figures():
    """Chunks added one by one give the sparsity figures of the rows stacked."""
    import dataclasses

    from sembridge.encoding.sparsity import SideAccumulator, sparsity_stats

    rng = np.random.default_rng(3)
    docs = sp.random(40, 30, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    queries = sp.random(9, 30, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    side = SideAccumulator(30)
    for start, stop in [(0, 5), (5, 5), (5, 17), (17, 39), (39, 40)]:  # an empty chunk too
        side.add(docs[start:stop])
    got, want = side.sparsity_stats(queries), sparsity_stats(queries, docs)
    for name, value in dataclasses.asdict(want.documents).items():
        assert getattr(got.documents, name) == pytest.approx(value, rel=1e-9), name
    assert got.expected_flops == pytest.approx(want.expected_flops, rel=1e-12)
    assert got.queries == want.queries and got.documents.texts == 40


def test_own_piece_share_counts_each_texts_distinct_pieces_active_in_its_vector():
    # Row 0 keeps pieces 0 and 2 of its 0, 1, 2 (an explicit zero is not active); row 1 keeps
    # none of its piece 3, only an expansion; row 2 has no pieces and is left out of the mean.
    matrix = sp.csr_matrix(np.array([[1.0, 0, 2, 0, 0], [0, 0, 0, 0, 5], [0, 1, 0, 0, 0]]))
    matrix[0, 1] = 0.0  # stored, but zero
    share = own_piece_share(matrix, [[0, 1, 2, 2], [3], []])
    assert share == pytest.approx((2 / 3 + 0) / 2)
    assert own_piece_share(matrix[:1], [[4]]) == 0.0
    with pytest.raises(SembridgeError, match="3 vectors but 2 lists of pieces"):
        own_piece_share(matrix, [[0], [1]])
