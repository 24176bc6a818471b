"""Exact retrieval through the inverted index returns the same top-k as a brute-force dot product."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sembridge.errors import SembridgeError
from sembridge.evaluation.retrieval import InvertedIndex, exact_search


def brute_force(queries: sp.csr_matrix, docs: sp.csr_matrix, k: int) -> tuple[list, list]:
    """Dense float64 scores; order by score, then lower document index; positive scores only."""
    scores = queries.toarray().astype(np.float64) @ docs.toarray().astype(np.float64).T
    ids, vals = [], []
    for row in scores:
        positive = np.flatnonzero(row > 0)
        order = positive[np.lexsort((positive, -row[positive]))][:k]
        ids.append(order.tolist())
        vals.append(row[order].tolist())
    return ids, vals


def random_sparse(rng, rows, cols, density, integer):
    matrix = sp.random(rows, cols, density=density, format="csr", random_state=rng, dtype=np.float64)
    if integer:  # small integer weights: exact sums and many ties
        matrix.data = rng.integers(1, 4, size=matrix.nnz).astype(np.float64)
    return matrix.astype(np.float32)


@pytest.mark.parametrize("integer", [True, False])
@pytest.mark.parametrize(("doc_block", "query_chunk", "k"), [(7, 4, 10), (1000, 100, 5), (3, 1, 40)])
def test_inverted_index_matches_brute_force(integer, doc_block, query_chunk, k):
    rng = np.random.default_rng(42)
    docs = random_sparse(rng, 53, 40, 0.12, integer)
    queries = random_sparse(rng, 11, 40, 0.2, integer)
    result = InvertedIndex(docs, doc_block=doc_block).search(queries, k, query_chunk=query_chunk)
    want_ids, want_scores = brute_force(queries, docs, k)
    for row in range(queries.shape[0]):
        got_ids, got_scores = result.hits(row)
        assert got_ids.tolist() == want_ids[row]
        np.testing.assert_allclose(got_scores, want_scores[row], rtol=1e-6)
        assert (result.indices[row][len(want_ids[row]) :] == -1).all()


def test_ties_break_by_lower_document_index():
    docs = sp.csr_matrix(np.array([[1.0, 0], [0, 1], [1, 0], [1, 0], [0, 0]], dtype=np.float32))
    queries = sp.csr_matrix(np.array([[1.0, 0], [0, 0]], dtype=np.float32))
    result = exact_search(queries, docs, top_k=2, doc_block=2)
    assert result.indices[0].tolist() == [0, 2]
    assert result.indices[1].tolist() == [-1, -1]  # an empty query retrieves nothing
    assert result.scores.dtype == np.float32


def test_bad_arguments():
    docs = sp.csr_matrix(np.eye(3, dtype=np.float32))
    with pytest.raises(SembridgeError, match="top_k must be a positive integer"):
        exact_search(docs, docs, top_k=0)
    with pytest.raises(SembridgeError, match="3 dimensions but the index has 4"):
        InvertedIndex(sp.csr_matrix((2, 4), dtype=np.float32)).search(docs, 1)


@pytest.mark.parametrize("integer", [True, False])
@pytest.mark.parametrize("blocks", [[53], [7] * 7 + [4], [1] * 53, [20, 0, 33]])
def test_streaming_search_over_blocks_equals_one_index(integer, blocks):
    """A corpus searched block by block (never stacked) gives one index's exact top-k, ties too."""
    from sembridge.evaluation.retrieval import StreamingSearch

    rng = np.random.default_rng(7)
    docs = random_sparse(rng, 53, 40, 0.12, integer)
    queries = random_sparse(rng, 11, 40, 0.2, integer)
    search = StreamingSearch(queries, 10, query_chunk=4)
    start = 0
    for size in blocks:
        search.add(docs[start : start + size])
        start += size
    got, want = search.result(), InvertedIndex(docs).search(queries, 10)
    assert search.n_docs == 53
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-6)
