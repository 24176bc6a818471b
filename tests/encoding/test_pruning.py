"""Pruning keeps exactly the requested L1 mass or term count, per document, without touching the input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sembridge.encoding.pruning import (
    Pruning,
    active_terms,
    parse_values,
    prune_mass,
    prune_top_k,
    pruning_sweep,
)
from sembridge.errors import SembridgeError


@pytest.fixture
def matrix() -> sp.csr_matrix:
    rng = np.random.default_rng(7)
    m = sp.random(40, 200, density=0.15, format="csr", random_state=rng, dtype=np.float32)
    m.data = (m.data * 3).astype(np.float32)
    m = sp.vstack([m, sp.csr_matrix((1, 200), dtype=np.float32)], format="csr")  # an empty row
    return m


def expected_mass_prefix(values: np.ndarray, ids: np.ndarray, fraction: float) -> set[int]:
    order = np.lexsort((ids, -np.abs(values)))
    target = fraction * np.abs(values).sum()
    kept, mass = set(), 0.0
    for i in order:
        if mass >= target:
            break
        kept.add(int(ids[i]))
        mass += abs(float(values[i]))
    return kept


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999, 1.0])
def test_mass_pruning_keeps_the_shortest_prefix_reaching_the_mass(matrix, fraction):
    before = matrix.copy()
    pruned = prune_mass(matrix, fraction)
    assert (matrix != before).nnz == 0  # input untouched
    for r in range(matrix.shape[0]):
        row, out = matrix.getrow(r), pruned.getrow(r)
        assert set(out.indices.tolist()) == expected_mass_prefix(row.data, row.indices, fraction)
        if row.nnz:
            total = float(np.abs(row.data.astype(np.float64)).sum())
            kept = float(np.abs(out.data.astype(np.float64)).sum())
            assert kept >= fraction * total * (1 - 1e-9)
            assert kept - float(np.abs(out.data).min()) < fraction * total  # one term fewer falls short
            # kept values are the original values
            np.testing.assert_array_equal(out.toarray()[0][out.indices], row.toarray()[0][out.indices])
    if fraction == 1.0:
        assert pruned.nnz == matrix.nnz


@pytest.mark.parametrize("k", [1, 3, 17, 1000])
def test_top_k_pruning_keeps_exactly_k_highest(matrix, k):
    pruned = prune_top_k(matrix, k)
    counts = np.diff(matrix.indptr)
    np.testing.assert_array_equal(active_terms(pruned), np.minimum(counts, k))
    for r in range(matrix.shape[0]):
        row, out = matrix.getrow(r), pruned.getrow(r)
        if out.nnz and out.nnz < row.nnz:
            dropped = np.setdiff1d(row.indices, out.indices)
            assert np.abs(out.data).min() >= np.abs(row[:, dropped].toarray()).max()


def test_ties_keep_the_lower_term_id():
    row = sp.csr_matrix(np.array([[1.0, 2.0, 1.0, 1.0, 0.0]], dtype=np.float32))
    assert prune_top_k(row, 2).indices.tolist() == [0, 1]
    # mass 0.5 of 5.0 = 2.5: 2.0 (id 1), then 1.0 (id 0) reaches 3.0
    assert sorted(prune_mass(row, 0.5).indices.tolist()) == [0, 1]


def test_pruning_settings_and_validation():
    both = Pruning(mass=0.9, top_k=2)
    assert both.label == "mass=0.9,top-k=2"
    m = sp.csr_matrix(np.array([[5.0, 4.0, 3.0, 0.1]], dtype=np.float32))
    assert both.apply(m).indices.tolist() == [0, 1]
    assert Pruning().apply(m) is not m and Pruning().label == "none"
    sweep = pruning_sweep([0.9, 0.8, 0.9], [64])
    assert [s.label for s in sweep] == ["none", "mass=0.9", "mass=0.8", "top-k=64"]
    with pytest.raises(SembridgeError, match=r"pruning mass must be in \(0, 1\], got 1.5"):
        Pruning(mass=1.5)
    with pytest.raises(SembridgeError, match="got 0"):
        Pruning(top_k=0)
    assert parse_values(["0.8,0.9", "0.95"], float, "--prune-mass") == [0.8, 0.9, 0.95]
    with pytest.raises(SembridgeError, match="--prune-top-k value 'x' is not a whole number"):
        parse_values(["32,x"], int, "--prune-top-k")


def test_chunked_rows_give_the_same_result(matrix, monkeypatch):
    from sembridge.encoding import pruning

    whole_mass, whole_top = prune_mass(matrix, 0.7), prune_top_k(matrix, 5)
    monkeypatch.setattr(pruning, "_CELLS", 60)  # a few rows per chunk
    assert (prune_mass(matrix, 0.7) != whole_mass).nnz == 0
    assert (prune_top_k(matrix, 5) != whole_top).nnz == 0
