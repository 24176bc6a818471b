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
from sembridge.export import export_anserini, export_vectors, quantize, read_vector_collection


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


def test_every_format_declares_the_impacts_it_holds():
    from sembridge.export import WRITERS
    from sembridge.export.vectors import INT64_MAX, impact_limits

    assert {fmt: impact_limits(writer) for fmt, writer in WRITERS.items()} == {
        "anserini": (2**31 - 1, 2**31 - 1),  # Lucene impacts are 32-bit term frequencies
        "seismic": (65_504, 2_048),  # f16
        "opensearch": (INT64_MAX, 512),  # float32 with 9 significant bits; 64-bit ints written
        "elasticsearch": (INT64_MAX, 512),
        "qdrant": (INT64_MAX, 2**24),  # float32
    }


@pytest.mark.parametrize("scale", [0, -1, float("nan"), float("inf")])
def test_scale_not_finite_or_not_positive_refused_before_any_work(tmp_path, scale):
    from sembridge.export import export

    with pytest.raises(SembridgeError, match=r"^scale must be positive and finite, got "):
        export_anserini("unused", {"d": "x"}, tmp_path / "o", scale=scale)
    # export() checks it before the corpus is read (this one does not exist)
    with pytest.raises(SembridgeError, match=r"^scale must be positive and finite, got "):
        export("unused", tmp_path / "o", format="seismic", corpus=tmp_path / "none.jsonl", scale=scale)
    assert not (tmp_path / "o").exists()


CORPUS = {"d1": "what is the capital of france? paris is.", "d2": "the cat sat on the mat"}


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("fmt", "scale", "limit"),
    [("anserini", 1e300, "2,147,483,647"), ("anserini", 1e9, "2,147,483,647"), ("seismic", 1e5, "65,504")],
)
def test_impact_above_the_format_limit_refused_and_nothing_written(tmp_path, splade_dir, fmt, scale, limit):
    out = tmp_path / "o"
    with pytest.raises(SembridgeError) as err:
        export_vectors(splade_dir, CORPUS, out, format=fmt, scale=scale, device="cpu", show_progress=False)
    message = str(err.value)
    assert message.startswith("document 'd1' has impact ") and "\n" not in message
    assert f"x scale {scale:g}), above {limit}, the largest impact --format {fmt} holds" in message
    assert "smaller --scale" in err.value.hint
    assert not out.exists()


@pytest.mark.e2e
def test_impact_overflowing_64_bits_refused(tmp_path, splade_dir):
    # qdrant stores float32, but the impacts are written as 64-bit integers: 1e19 would wrap
    out = tmp_path / "o"
    with pytest.raises(SembridgeError, match=r"above 9,223,372,036,854,775,807, the largest impact"):
        export_vectors(
            splade_dir, CORPUS, out, format="qdrant", scale=1e19, device="cpu", show_progress=False
        )
    assert not out.exists()


@pytest.mark.e2e
def test_seismic_warns_once_above_what_f16_keeps_exactly(tmp_path, splade_dir, sembridge_warnings):
    queries = {"q1": "capital of france"}
    summary = export_vectors(
        splade_dir,
        CORPUS,
        tmp_path / "big",
        format="seismic",
        scale=1000,
        queries=queries,
        device="cpu",
        show_progress=False,
    )
    written = [
        v
        for line in (tmp_path / "big" / "documents.jsonl").read_text().splitlines()
        for v in json.loads(line)["vector"].values()
    ]
    assert summary["max_impact"] == max(written) > 2_048
    warned = [m for m in sembridge_warnings if "keeps exactly" in m]
    assert warned == [
        f"the largest impact, {summary['max_impact']:,}, is above 2,048, the largest --format seismic "
        "keeps exactly: larger impacts may come back rounded (a --scale of at most "
        f"{int(1000 * 2048 / summary['max_impact'])} avoids it)"
    ]
    sembridge_warnings.clear()
    normal = export_vectors(
        splade_dir, CORPUS, tmp_path / "normal", format="seismic", device="cpu", show_progress=False
    )
    assert 0 < normal["max_impact"] <= 2_048 and normal["scale"] == 100
    assert not [m for m in sembridge_warnings if "keeps exactly" in m]


@pytest.mark.e2e
def test_cli_refuses_an_overflowing_scale_with_exit_1(tmp_path, splade_dir, capsys):
    from sembridge.cli import app as app_module

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in CORPUS.items()))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as done:
        app_module.main(
            [
                "export",
                "-m",
                str(splade_dir),
                "--corpus",
                str(corpus),
                "-o",
                str(out),
                "--scale",
                "1e300",
                "--device",
                "cpu",
            ]
        )
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert "Error: document 'd1' has impact 2.72e+300" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["anserini", "seismic", "opensearch", "elasticsearch", "qdrant"])
def test_a_query_without_a_term_is_left_out_of_every_format(tmp_path, fmt, caplog):
    """A model whose every weight is 0 (its MLM bias far below zero): no query keeps a term, and
    none is written (Anserini refuses a whole topics file for one empty line); export.json says
    which were left out."""
    import logging

    import torch

    from sembridge.loading import save_sparse_encoder
    from tests.helpers import tiny_mlm, wordpiece_tokenizer

    tokenizer = wordpiece_tokenizer(["cat", "dog", "house"])
    model = tiny_mlm("bert", len(tokenizer))
    with torch.no_grad():
        model.get_output_embeddings().bias.fill_(-1e4)
    save_sparse_encoder(model, tokenizer, tmp_path / "dead")
    out = tmp_path / fmt
    sembridge_logger = logging.getLogger("sembridge")
    sembridge_logger.addHandler(caplog.handler)
    try:
        summary = export_vectors(
            tmp_path / "dead", {"d1": "cat house"}, out, format=fmt, queries={"q1": "cat", "q2": "dog"},
            device="cpu", show_progress=False,
        )  # fmt: skip
    finally:
        sembridge_logger.removeHandler(caplog.handler)
    assert summary["empty_queries"] == 2 and summary["empty_queries_omitted"] == ["q1", "q2"]
    assert summary["queries"] == 0
    written = json.loads((out / "export.json").read_text())
    assert written["empty_queries_omitted"] == ["q1", "q2"]
    query_files = [p for p in out.iterdir() if p.name.startswith("queries")]
    assert all(p.read_text(encoding="utf-8") == "" for p in query_files)
    assert any("2 queries had no term left" in r.getMessage() for r in caplog.records)
