"""The BM25 and dense baselines: scores against hand-computed BM25 and brute-force cosine rankings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sembridge.errors import SembridgeError
from sembridge.evaluation.bm25 import BM25Index, BM25Params, presence_matrix, tokenize
from sembridge.evaluation.dense import cosine_search, dense_prompts, encode_dense
from tests.helpers import save_tiny_bridge, wordpiece_tokenizer

WORDS = ["cat", "dog", "fish", "the", "sat"]
# d0: 3 word pieces, d1: 2, d2: 4, so avgdl = 3 and N = 3.
DOCS = ["cat cat dog", "dog fish", "fish fish fish the"]


@pytest.fixture(scope="module")
def toy_index() -> BM25Index:
    return BM25Index(wordpiece_tokenizer(WORDS), DOCS)


def bm25_term(tf: int, df: int, doc_len: int, n_docs: int = 3, avgdl: float = 3.0) -> float:
    """Lucene BM25 (bm25s' default): IDF(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl)), k1=1.5, b=0.75,
    IDF(t) = ln(1 + (N - df + 0.5) / (df + 0.5))."""
    k1, b = 1.5, 0.75
    idf = math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + k1 * (1 - b + b * doc_len / avgdl))


def test_tokenize_gives_word_pieces_without_special_tokens():
    tokenizer = wordpiece_tokenizer(WORDS)
    vocab = tokenizer.get_vocab()
    assert tokenize(tokenizer, ["cat cat dog"]) == [[vocab["cat"], vocab["cat"], vocab["dog"]]]


def test_bm25_scores_match_the_hand_computed_formula(toy_index):
    result = toy_index.search(["cat dog", "fish"], top_k=3)
    # "cat dog" on d0: cat (tf=2, df=1) -> ln(8/3) * 2/3.5 = 0.560474,
    #                  dog (tf=1, df=2) -> ln(1.6) * 1/2.5 = 0.188001.
    d0 = bm25_term(tf=2, df=1, doc_len=3) + bm25_term(tf=1, df=2, doc_len=3)
    # "cat dog" on d1 (|d| = 2): dog only -> ln(1.6) * 1 / (1 + 1.5 * (0.25 + 0.75 * 2/3)) = 0.221179.
    d1 = bm25_term(tf=1, df=2, doc_len=2)
    assert d0 == pytest.approx(0.748475, abs=1e-6) and d1 == pytest.approx(0.221179, abs=1e-6)
    docs, scores = result.hits(0)
    assert docs.tolist() == [0, 1]  # d2 shares no token with the query: not retrieved
    assert scores.tolist() == pytest.approx([d0, d1], rel=1e-5)
    # "fish": d2 (tf=3, |d|=4) -> ln(1.6) * 3/4.875 = 0.289233 ranks above d1 (tf=1, |d|=2).
    docs, scores = result.hits(1)
    assert docs.tolist() == [2, 1]
    assert scores.tolist() == pytest.approx(
        [bm25_term(tf=3, df=2, doc_len=4), bm25_term(tf=1, df=2, doc_len=2)], rel=1e-5
    )
    assert scores[0] == pytest.approx(0.289233, abs=1e-6)


def test_bm25_repeated_query_token_counts_twice_and_unknown_text_finds_nothing(toy_index):
    result = toy_index.search(["cat cat", "cat", "sat", ""], top_k=2)
    assert result.hits(0)[1][0] == pytest.approx(2 * result.hits(1)[1][0], rel=1e-6)
    assert result.indices[2].tolist() == [-1, -1]  # "sat" is in no document
    assert result.indices[3].tolist() == [-1, -1]
    assert result.indices.shape == (4, 2)


def test_bm25_ties_go_to_the_lower_document_index():
    index = BM25Index(wordpiece_tokenizer(WORDS), ["dog cat", "fish", "cat dog", "cat dog"])
    docs, scores = index.search(["cat"], top_k=10).hits(0)
    assert docs.tolist() == [0, 2, 3] and len(set(scores.tolist())) == 1


def test_bm25_sparsity_counts_distinct_word_pieces(toy_index):
    queries = tokenize(toy_index.tokenizer, ["cat dog", "fish fish"])
    stats = toy_index.sparsity_stats(queries)
    assert stats["query_terms"] == 1.5  # {cat, dog} and {fish}
    assert stats["doc_terms"] == 2.0  # {cat, dog}, {dog, fish}, {fish, the}
    # p(q): cat 1/2, dog 1/2, fish 1/2; p(d): cat 1/3, dog 2/3, fish 2/3.
    assert stats["flops"] == pytest.approx(0.5 / 3 + 0.5 * 2 / 3 + 0.5 * 2 / 3)
    assert presence_matrix([[3, 3, 1]], 5).toarray().tolist() == [[0, 1, 0, 1, 0]]


def test_bm25_parameters_are_checked():
    assert BM25Params().to_dict() == {"k1": 1.5, "b": 0.75, "method": "lucene"}
    with pytest.raises(SembridgeError, match="got 1.5"):
        BM25Params(b=1.5)
    with pytest.raises(SembridgeError, match="got -1"):
        BM25Params(k1=-1)
    with pytest.raises(SembridgeError, match="unknown BM25 method 'okapi'"):
        BM25Params(method="okapi")
    with pytest.raises(SembridgeError, match="corpus is empty"):
        BM25Index(wordpiece_tokenizer(WORDS), [])


def test_cosine_search_matches_brute_force_with_chunks_and_ties():
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(5, 8)).astype(np.float32)
    documents = rng.normal(size=(9, 8)).astype(np.float32)
    documents[6] = documents[1]  # a duplicate of document 1: a tie, broken by the lower index
    result = cosine_search(queries, documents, top_k=4, doc_block=2, query_chunk=2)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    d = documents / np.linalg.norm(documents, axis=1, keepdims=True)
    scores = q @ d.T
    for row in range(len(queries)):
        expected = sorted(range(len(documents)), key=lambda j: (-round(float(scores[row, j]), 5), j))[:4]
        docs, got = cosine_search(queries[row : row + 1], documents, top_k=4).hits(0)
        assert result.hits(row)[0].tolist() == expected == docs.tolist()
        assert result.hits(row)[1] == pytest.approx(scores[row, expected], abs=1e-5)
    tied = cosine_search(documents[[1]], documents, top_k=2, doc_block=3)
    assert tied.indices[0].tolist() == [1, 6]
    # Fewer documents than top_k: every document, then -1 padding.
    assert cosine_search(queries, documents[:2], top_k=3).indices[0, 2] == -1
    with pytest.raises(SembridgeError, match="got 0"):
        cosine_search(queries, documents, top_k=0)
    with pytest.raises(SembridgeError, match="8 dimensions but documents have 3"):
        cosine_search(queries, documents[:, :3], top_k=1)


@pytest.fixture(scope="module")
def tiny_dense(tmp_path_factory):
    from sentence_transformers import SentenceTransformer

    folder = tmp_path_factory.mktemp("dense") / "tiny-dense"
    save_tiny_bridge(folder, [*WORDS, "query", "passage", ":", "bird", "runs"])
    model = SentenceTransformer(str(folder), device="cpu")
    model.prompts = {"query": "query: ", "passage": "passage: "}
    model.save(str(folder))
    # Loaded again, sentence-transformers adds an empty "document" prompt beside the saved ones.
    return SentenceTransformer(str(folder), device="cpu")


def test_dense_uses_the_model_prompts_and_ranks_by_cosine(tiny_dense):
    assert dense_prompts(tiny_dense) == {"query": "query: ", "document": "passage: "}
    queries = ["cat dog", "fish", "the bird runs"]
    documents = ["cat sat", "dog fish", "the fish", "bird runs", "cat cat dog", "sat"]
    q = encode_dense(tiny_dense, queries, "query", batch_size=2, show_progress=False)
    d = encode_dense(tiny_dense, documents, "document", batch_size=4, show_progress=False)
    # Brute force: the prompts written out by hand, plain encode, full cosine matrix.
    q_ref = tiny_dense.encode([f"query: {t}" for t in queries], convert_to_numpy=True)
    d_ref = tiny_dense.encode([f"passage: {t}" for t in documents], convert_to_numpy=True)
    q_ref /= np.linalg.norm(q_ref, axis=1, keepdims=True)
    d_ref /= np.linalg.norm(d_ref, axis=1, keepdims=True)
    assert q == pytest.approx(q_ref, abs=1e-5) and d == pytest.approx(d_ref, abs=1e-5)
    assert np.linalg.norm(d, axis=1) == pytest.approx(np.ones(len(documents)), abs=1e-5)
    scores = q_ref @ d_ref.T
    result = cosine_search(q, d, top_k=3, doc_block=4)
    for row in range(len(queries)):
        expected = np.argsort(-scores[row], kind="stable")[:3].tolist()
        assert result.hits(row)[0].tolist() == expected
        assert result.hits(row)[1] == pytest.approx(scores[row, expected], abs=1e-5)
    assert encode_dense(tiny_dense, [], "query").shape == (0, 16)
    with pytest.raises(SembridgeError, match="kind must be 'query' or 'document'"):
        encode_dense(tiny_dense, ["cat"], "passage")  # type: ignore[arg-type]


@pytest.mark.e2e
def test_dense_real_e5_gets_its_passage_prompt(e5_bridge):
    from sembridge.loading import load_bridge

    model = load_bridge(e5_bridge, "cpu", kind="dense model")
    assert dense_prompts(model) == {"query": "query: ", "document": "passage: "}
    documents = ["Paris is the capital of France.", "Der Hund schläft.", "Москва — столица России."]
    d = encode_dense(model, documents, "document", show_progress=False)
    d_ref = model.encode([f"passage: {t}" for t in documents], normalize_embeddings=True)
    assert d == pytest.approx(d_ref, abs=1e-5)
    q = encode_dense(model, ["capital of Russia"], "query", show_progress=False)
    assert cosine_search(q, d, top_k=1).indices[0].tolist() == [2]
