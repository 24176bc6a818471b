"""Tests for sembridge.methods.sparse_weights: building, reading, stacking and scattering CSR weight rows."""

from __future__ import annotations

import pytest
import torch

from sembridge.methods.sparse_weights import SparseWeights
from tests.methods.test_weights import _some_weights


def test_from_rows_row_to_dense_round_trip() -> None:
    rows = [([4, 1, 2], [0.25, 0.5, 0.25]), ([0], [1.0]), ([3, 5], [0.0, 1.0])]
    weights = SparseWeights.from_rows(rows, num_columns=6)
    assert len(weights) == 3 and weights.nnz == 5
    assert weights.support_sizes().tolist() == [3, 1, 1]
    columns, values = weights.row(0)
    assert columns.tolist() == [1, 2, 4]  # weight descending, tie 0.25/0.25 by lower id
    assert values.tolist() == [0.5, 0.25, 0.25]
    assert weights.row(2)[0].tolist() == [5]  # the zero weight is dropped
    dense = weights.to_dense()
    expected = torch.zeros(3, 6)
    expected[0, [4, 1, 2]] = torch.tensor([0.25, 0.5, 0.25])
    expected[1, 0] = 1.0
    expected[2, 5] = 1.0
    assert torch.equal(dense, expected)
    assert torch.equal(weights.to_torch_sparse().to_dense(), expected)
    rebuilt = SparseWeights.from_rows(
        [(weights.row(i)[0].tolist(), weights.row(i)[1].tolist()) for i in range(len(weights))], 6
    )
    assert torch.equal(rebuilt.to_dense(), dense)
    with pytest.raises(IndexError):
        weights.row(3)
    empty = SparseWeights.from_rows([], num_columns=4)
    assert len(empty) == 0 and empty.to_dense().shape == (0, 4)


def test_concat_round_trip() -> None:
    weights = _some_weights()
    parts = [
        SparseWeights.from_rows(
            [(weights.row(i)[0].tolist(), weights.row(i)[1].tolist()) for i in range(a, b)], 60
        )
        for a, b in [(0, 4), (4, 4), (4, 15)]
    ]
    joined = SparseWeights.concat(parts)
    assert torch.equal(joined.indptr, weights.indptr)
    assert torch.equal(joined.indices, weights.indices)
    assert torch.equal(joined.values, weights.values)
    assert torch.equal(joined.to_dense(), torch.cat([part.to_dense() for part in parts]))
    with pytest.raises(ValueError, match="num_columns=60"):
        SparseWeights.concat([weights, SparseWeights.from_rows([([0], [1.0])], 5)])
    with pytest.raises(ValueError, match="at least one"):
        SparseWeights.concat([])


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([([0, 7], [0.5, 0.5])], "outside"),
        ([([1, 1], [0.5, 0.5])], "repeats"),
        ([([0, 1], [1.5, -0.5])], "negative"),
        ([([0, 1], [0.5, 0.4])], "sum to 1"),
        ([([0, 1], [1.0])], "indices but"),
    ],
)
def test_from_rows_rejects_bad_rows(rows: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SparseWeights.from_rows(rows, num_columns=5)


def test_empty_has_the_rows_asked_for() -> None:
    none = SparseWeights.empty(7)
    assert len(none) == 0 and none.num_columns == 7
    three = SparseWeights.empty(7, rows=3)
    assert len(three) == 3 and three.nnz == 0
    assert torch.equal(three.to_dense(), torch.zeros(3, 7))
    with pytest.raises(ValueError, match="rows must be >= 0"):
        SparseWeights.empty(7, rows=-1)


def test_from_dense_keeps_non_zeros_weight_descending_with_column_ids() -> None:
    dense = torch.tensor([[0.0, 0.25, 0.5, 0.25], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    column_ids = torch.tensor([3, 5, 8, 9])
    weights = SparseWeights.from_dense(dense, num_columns=10, column_ids=column_ids)
    assert weights.support_sizes().tolist() == [3, 0, 1]
    columns, values = weights.row(0)
    assert columns.tolist() == [8, 5, 9]  # weight descending, tie 0.25/0.25 by the lower column
    assert values.tolist() == [0.5, 0.25, 0.25]
    assert weights.row(2)[0].tolist() == [3]
    expected = torch.zeros(3, 10)
    expected[:, column_ids] = dense
    assert torch.equal(weights.to_dense(), expected)
    # Without column ids, column j is source id j: from_dense undoes to_dense.
    some = _some_weights()
    again = SparseWeights.from_dense(some.to_dense(), some.num_columns)
    assert torch.equal(again.to_dense(), some.to_dense())
    assert torch.equal(again.support_sizes(), some.support_sizes())
    with pytest.raises(ValueError, match="column_ids must have 4"):
        SparseWeights.from_dense(dense, 10, column_ids=torch.tensor([1, 2]))


def test_scatter_puts_each_block_at_its_rows_and_leaves_the_others_empty() -> None:
    some = _some_weights()  # 15 rows over 60 columns
    first = SparseWeights.from_rows(
        [(some.row(i)[0].tolist(), some.row(i)[1].tolist()) for i in range(4)], 60
    )
    second = SparseWeights.from_rows(
        [(some.row(i)[0].tolist(), some.row(i)[1].tolist()) for i in range(4, 9)], 60
    )
    positions_first = torch.tensor([10, 2, 7, 0])
    positions_second = torch.tensor([1, 3, 11, 5, 12])
    scattered = SparseWeights.scatter([(positions_first, first), (positions_second, second)], 13, 60)
    assert len(scattered) == 13 and scattered.nnz == first.nnz + second.nnz
    expected = torch.zeros(13, 60)
    expected[positions_first] = first.to_dense()
    expected[positions_second] = second.to_dense()
    assert torch.equal(scattered.to_dense(), expected)
    for position, row in zip(positions_second.tolist(), range(5), strict=True):
        assert torch.equal(scattered.row(position)[0], second.row(row)[0])  # order within a row kept
    assert scattered.support_sizes()[[4, 6, 8, 9]].tolist() == [0, 0, 0, 0]
    assert len(SparseWeights.scatter([], 4, 60)) == 4
    with pytest.raises(ValueError, match="positions for"):
        SparseWeights.scatter([(torch.tensor([0]), first)], 13, 60)
    with pytest.raises(ValueError, match="num_columns=61"):
        SparseWeights.scatter([(positions_first, first)], 13, 61)
