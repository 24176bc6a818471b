"""Anserini export: quantisation, term strings, and a round trip on the real SPLADE-tiny (special
tokens left out)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from sembridge.encoding.encode import encode_texts, load_encoder, vocabulary_terms
from sembridge.encoding.pruning import Pruning
from sembridge.encoding.terms import drop_special_tokens, unique_terms
from sembridge.errors import OutputExistsError, SembridgeError
from sembridge.export import export_anserini, quantize, read_vector_collection


def test_quantize_rounds_and_drops_zeros():
    m = sp.csr_matrix(np.array([[0.004, 0.006, 1.234, 2.0]], dtype=np.float32))
    q = quantize(m, 100)
    assert q.indices.tolist() == [1, 2, 3] and q.data.tolist() == [1, 123, 200]
    assert quantize(m, 1000).data.tolist() == [4, 6, 1234, 2000]


def test_unique_terms():
    assert unique_terms(["a", "##b", "a", "c d", ""]) == ["a#0", "##b", "a#2", "c_d", "[id:4]"]


@pytest.mark.e2e
def test_export_round_trip(tmp_path, splade_dir, zh_pairs):
    corpus = {f"doc{i}": reply for i, (_, reply) in enumerate(zh_pairs[:40])}
    corpus["english"] = "what is the capital of france"
    queries = {"q1": "capital of france", "q2": "你好"}
    out = tmp_path / "vectors"
    pruning = Pruning(top_k=12)
    summary = export_anserini(
        splade_dir,
        corpus,
        out,
        scale=100,
        pruning=pruning,
        queries=queries,
        device="cpu",
        docs_per_file=16,
        show_progress=False,
    )
    assert summary["documents"] == len(corpus) and summary["files"] == 3
    assert sorted(p.name for p in out.iterdir()) == ["corpus", "export.json", "queries.tsv"]
    assert json.loads((out / "export.json").read_text())["pruning"] == {"mass": None, "top_k": 12}

    # Re-encode independently and compare every vector (special tokens are never terms).
    encoder = load_encoder(splade_dir, device="cpu")
    special = sorted(set(encoder.tokenizer.all_special_ids))
    ids = list(corpus)
    expected = quantize(
        pruning.apply(
            drop_special_tokens(encode_texts(encoder, [corpus[i] for i in ids], show_progress=False), special)
        ),
        100,
    )
    terms = unique_terms(vocabulary_terms(encoder, expected.shape[1]))
    vectors = read_vector_collection(out)
    assert list(vectors) == ids
    for row, doc_id in enumerate(ids):
        lo, hi = expected.indptr[row], expected.indptr[row + 1]
        want = {terms[j]: int(v) for j, v in zip(expected.indices[lo:hi], expected.data[lo:hi], strict=True)}
        assert vectors[doc_id] == want
        assert len(want) <= 12
    assert {"paris", "france"} & set(vectors["english"])
    line = json.loads((out / "corpus" / "docs-00000.jsonl").read_text().splitlines()[0])
    assert set(line) == {"id", "contents", "vector"} and line["contents"] == corpus["doc0"]

    # Queries: each term repeated round(w * 100) times.
    qid, text = (out / "queries.tsv").read_text().splitlines()[0].split("\t")
    q = quantize(
        drop_special_tokens(
            encode_texts(encoder, [queries["q1"]], kind="query", show_progress=False), special
        ),
        100,
    )
    assert qid == "q1"
    assert sorted(text.split()) == sorted(
        t for j, v in zip(q.indices, q.data, strict=True) for t in [terms[j]] * v
    )

    with pytest.raises(OutputExistsError):
        export_anserini(splade_dir, corpus, out, device="cpu", show_progress=False)


def test_export_refusals(tmp_path):
    with pytest.raises(SembridgeError, match="scale must be positive"):
        export_anserini("unused", {"d": "x"}, tmp_path / "o", scale=0)
    with pytest.raises(SembridgeError, match="corpus to export is empty"):
        export_anserini("unused", {}, tmp_path / "o")
    (tmp_path / "broken").mkdir()
    with pytest.raises(SembridgeError, match="has no config.json"):
        export_anserini(tmp_path / "broken", {"d": "x"}, tmp_path / "o", device="cpu")
    assert not (tmp_path / "o").exists()
