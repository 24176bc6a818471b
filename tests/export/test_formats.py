"""Every export format: a round trip on the real SPLADE-tiny, read back by an independent reader,
and special tokens never emitted (nor counted by ``evaluate``) on a model that favours them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from sembridge.encoding.encode import encode_texts, load_encoder
from sembridge.encoding.pruning import Pruning
from sembridge.encoding.terms import DOT, drop_special_tokens, special_token_ids, unique_terms
from sembridge.errors import SembridgeError
from sembridge.export import EXPORT_FORMATS, export_vectors, seismic_index_class
from tests.export.readers import READERS

CORPUS = {
    "d1": "what is the capital of france? paris is.",
    "d2": "www.example.com sells 3.5 kg of apples for u.s. dollars",
    "d3": "the cat sat on the mat . . .",
    "d4": "sparse retrieval with inverted indexes, e.g. lucene and pisa",
}
QUERIES = {"q1": "capital of france", "q2": "example.com apples", "q3": "inverted index"}
# How each engine's files spell a vocabulary token (no BERT token has whitespace or >30 chars).
SPELLING = {
    "anserini": lambda t: t,
    "seismic": lambda t: t,
    "opensearch": lambda t: t.replace(".", "\u2024"),
    "elasticsearch": lambda t: t.replace(".", "\u2024"),
    "qdrant": lambda t: t,
}


def expected_vectors(model, texts: dict[str, str], kind: str, pruning: Pruning, scale: float, spell):
    """Encode, zero the special tokens' columns, prune, round: computed here, not by the exporter."""
    encoder = load_encoder(model, device="cpu")
    tokenizer = encoder.tokenizer
    matrix = encode_texts(encoder, list(texts.values()), kind=kind, show_progress=False).toarray()
    matrix[:, sorted(set(tokenizer.all_special_ids))] = 0
    if pruning.active:
        matrix = pruning.apply(sp.csr_matrix(matrix)).toarray()
    impacts = np.rint(matrix.astype(np.float64) * scale)
    tokens = tokenizer.convert_ids_to_tokens(list(range(matrix.shape[1])))
    return {
        key: {spell(tokens[j]): int(impacts[row, j]) for j in np.flatnonzero(impacts[row] > 0)}
        for row, key in enumerate(texts)
    }


def test_special_token_ids_and_dropping():
    from tests.helpers import wordpiece_tokenizer

    tokenizer = wordpiece_tokenizer(["hello", "world"])
    special = special_token_ids(tokenizer)
    names = set(tokenizer.convert_ids_to_tokens(special.tolist()))
    assert {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"} <= names
    assert "hello" not in names
    matrix = sp.csr_matrix(np.array([[0.0, 2.0, 1.0, 3.0, 5.0, 0.5, 0.7]] * 2, dtype=np.float32))
    before = matrix.copy()
    dropped = drop_special_tokens(matrix, [1, 4])
    assert dropped.shape == matrix.shape and dropped.nnz == 2 * 4
    assert dropped[0].toarray().tolist()[0] == pytest.approx([0, 0, 1, 3, 0, 0.5, 0.7])
    assert (matrix != before).nnz == 0  # the input is not modified


def test_term_spellings():
    assert unique_terms(["a.b", "a\u2024b", "x"], dots=DOT) == ["a\u2024b#0", "a\u2024b#1", "x"]
    long = "x" * 40
    capped = unique_terms([long, "ok", long], max_chars=30)
    assert [len(t) for t in capped] == [30, 2, 30] and len(set(capped)) == 3
    assert seismic_index_class(30_522) == "SeismicIndex"
    assert seismic_index_class(65_535) == "SeismicIndex"
    assert seismic_index_class(250_002) == "SeismicIndexLV"


@pytest.mark.e2e
@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_round_trip(fmt, tmp_path, splade_dir):
    out = tmp_path / fmt
    pruning = Pruning(top_k=20)
    summary = export_vectors(
        splade_dir,
        CORPUS,
        out,
        format=fmt,
        scale=50,
        pruning=pruning,
        queries=QUERIES,
        device="cpu",
        docs_per_file=3,
        show_progress=False,
        hits=25,
    )
    spell = SPELLING[fmt]
    docs, queries = READERS[fmt](out)
    assert docs == expected_vectors(splade_dir, CORPUS, "document", pruning, 50, spell)
    assert queries == expected_vectors(splade_dir, QUERIES, "query", Pruning(), 50, spell)
    assert all(len(v) <= 20 for v in docs.values())
    assert list(docs) == list(CORPUS)
    written = json.loads((out / "export.json").read_text())
    assert written["format"] == fmt and written["documents"] == 4 and written["queries"] == 3
    assert written["max_impact"] == max(v for d in docs.values() for v in d.values())
    assert summary["special_tokens_excluded"] == written["special_tokens_excluded"]
    if fmt in ("opensearch", "elasticsearch"):
        # a dot-bearing token was written, escaped, and no feature name holds a dot
        assert any(DOT in term for d in docs.values() for term in d)
        assert not any("." in term for d in (*docs.values(), *queries.values()) for term in d)
        assert written["files"] == 2  # 3 documents per bulk file
    if fmt == "seismic":
        assert written["seismic_index"] == "SeismicIndex" and written["files"] == 1
    assert written["hits"] == 25
    if fmt in ("opensearch", "elasticsearch", "qdrant"):  # every query body asks for --hits results
        lines = (out / "queries.jsonl").read_text(encoding="utf-8").splitlines()
        bodies = [json.loads(line)["body"] for line in lines]
        assert [b.get("size", b.get("limit")) for b in bodies] == [25] * len(QUERIES)
    with pytest.raises(SembridgeError, match="exists"):
        export_vectors(splade_dir, CORPUS, out, format=fmt, device="cpu", show_progress=False)


def test_unknown_format_refused_before_loading(tmp_path):
    with pytest.raises(SembridgeError, match="unknown export format 'trec'"):
        export_vectors("unused", {"d": "x"}, tmp_path / "o", format="trec")
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def special_heavy_dir(splade_dir, tmp_path_factory):
    """SPLADE-tiny whose MLM bias makes every special token's logit high in every text."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from sembridge.loading import save_sparse_encoder

    model = AutoModelForMaskedLM.from_pretrained(splade_dir)
    tokenizer = AutoTokenizer.from_pretrained(splade_dir)
    with torch.no_grad():
        model.get_output_embeddings().bias[sorted(set(tokenizer.all_special_ids))] += 30.0
    out = tmp_path_factory.mktemp("models") / "special-heavy"
    save_sparse_encoder(model, tokenizer, out)
    return out


@pytest.mark.e2e
def test_special_tokens_never_exported_nor_counted(tmp_path, special_heavy_dir):
    from sembridge.data import RetrievalDataset
    from sembridge.evaluation import evaluate

    encoder = load_encoder(special_heavy_dir, device="cpu")
    special = sorted(set(encoder.tokenizer.all_special_ids))
    special_names = set(encoder.tokenizer.convert_ids_to_tokens(special))
    raw = encode_texts(encoder, list(CORPUS.values()), show_progress=False)
    raw_queries = encode_texts(encoder, list(QUERIES.values()), kind="query", show_progress=False)
    # The model really puts its weight on the special tokens: every text is active on all of them.
    assert (raw[:, special].toarray() > 1).all() and (raw_queries[:, special].toarray() > 1).all()

    for fmt in EXPORT_FORMATS:
        out = tmp_path / fmt
        export_vectors(
            special_heavy_dir, CORPUS, out, format=fmt, queries=QUERIES, device="cpu", show_progress=False
        )
        docs, queries = READERS[fmt](out)
        terms = {t for v in (*docs.values(), *queries.values()) for t in v}
        assert terms and not terms & special_names, fmt
        if fmt == "qdrant":
            listed = {int(line.split("\t")[0]) for line in (out / "vocabulary.tsv").read_text().splitlines()}
            assert not listed & set(special)

    data = RetrievalDataset(
        corpus=dict(CORPUS), queries=dict(QUERIES), qrels={"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d4": 1}}
    )
    report = evaluate([special_heavy_dir], data, device="cpu", top_k=4, show_progress=False)
    row = report["models"][0]["results"][0]
    keep = np.setdiff1d(np.arange(raw.shape[1]), special)
    assert row["doc_terms"] == pytest.approx(float((raw[:, keep] != 0).sum(axis=1).mean()))
    assert row["query_terms"] == pytest.approx(float((raw_queries[:, keep] != 0).sum(axis=1).mean()))
    assert row["doc_terms"] < float((raw != 0).sum(axis=1).mean())


# Ids of every form a format may be given; which ones each format's files cannot hold.
ODD_CORPUS = {"doc 1": CORPUS["d1"], "d-1": CORPUS["d2"], "文档1": CORPUS["d3"], "123": CORPUS["d4"]}
ODD_QUERIES = {"q 1": QUERIES["q1"], "问题": QUERIES["q2"], "7": QUERIES["q3"]}
REFUSED = {
    # (format, kind, id): the reason in the error
    ("anserini", "query", "q\t1"): "queries.tsv ids may not contain tabs or line breaks",
    ("anserini", "query", "q\n1"): "queries.tsv ids may not contain tabs or line breaks",
    ("anserini", "query", "q\r1"): "queries.tsv ids may not contain tabs or line breaks",
    ("opensearch", "document", ""): "a bulk _id may not be empty",
    ("elasticsearch", "document", "文" * 200): "a bulk _id is at most 512 bytes, this one has 600",
}


def test_query_bodies_use_each_engines_documented_fields():
    """The search request each engine documents: Elasticsearch's sparse_vector query (8.15+) with
    pruning off, OpenSearch's neural_sparse with raw query_tokens (2.14+) and its rank_feature
    form for older clusters, Qdrant's points/query body; each asks for --hits results."""
    from sembridge.export.elastic import ElasticsearchWriter, OpenSearchWriter
    from sembridge.export.qdrant import QdrantWriter

    vector = {"кошка": 120, "животное": 50}
    assert ElasticsearchWriter.query_body(vector, 7) == {
        "size": 7,
        "query": {"sparse_vector": {"field": "vector", "query_vector": vector, "prune": False}},
    }
    assert OpenSearchWriter.query_body(vector, 7) == {
        "size": 7,
        "query": {"neural_sparse": {"vector": {"query_tokens": vector}}},
    }
    assert OpenSearchWriter.extra_bodies(vector, 7) == {
        "body_rank_feature": {
            "size": 7,
            "query": {
                "bool": {
                    "should": [
                        {"rank_feature": {"field": "vector.кошка", "linear": {}, "boost": 120}},
                        {"rank_feature": {"field": "vector.животное", "linear": {}, "boost": 50}},
                    ]
                }
            },
        }
    }
    assert QdrantWriter.query_body([3, 9], [120, 50], 7) == {
        "query": {"indices": [3, 9], "values": [120, 50]},
        "using": "sparse",
        "limit": 7,
        "with_payload": True,
    }


def test_ids_each_format_can_hold():
    from sembridge.export import WRITERS

    held = [*ODD_CORPUS, *ODD_QUERIES, "d\t1", "line\nbreak", '"quoted"', "x" * 512]
    for fmt, writer in WRITERS.items():
        for kind in ("document", "query"):
            ids = [i for i in held if (fmt, kind, i) not in REFUSED]
            if fmt == "anserini" and kind == "query":
                ids = [i for i in ids if not any(c in i for c in "\t\n\r")]
            writer.check_ids(ids, kind)  # no error
    for (fmt, kind, value), reason in REFUSED.items():
        shown = repr(value) if len(value) <= 80 else f"{value[:60]!r}..."
        with pytest.raises(SembridgeError) as info:
            WRITERS[fmt].check_ids(["fine", value], kind)
        assert str(info.value) == f"{kind} id {shown} cannot be written in the {fmt} export ({reason})"


def test_id_a_format_cannot_hold_is_refused_before_the_model_is_loaded(tmp_path):
    out = tmp_path / "o"
    with pytest.raises(SembridgeError, match=r"^query id 'q\\t1' cannot be written in the anserini export"):
        export_vectors("no-such-model-folder/", {"d1": "x"}, out, format="anserini", queries={"q\t1": "y"})
    with pytest.raises(SembridgeError, match=r"^document id '' cannot be written in the opensearch export"):
        export_vectors("no-such-model-folder/", {"": "x"}, out, format="opensearch")
    assert not out.exists()


@pytest.mark.e2e
def test_round_trip_of_ids_with_spaces_and_other_scripts(tmp_path, splade_dir):
    for fmt in EXPORT_FORMATS:
        out = tmp_path / fmt
        export_vectors(
            splade_dir, ODD_CORPUS, out, format=fmt, queries=ODD_QUERIES, device="cpu", show_progress=False
        )
        docs, queries = READERS[fmt](out)
        assert list(docs) == list(ODD_CORPUS) and list(queries) == list(ODD_QUERIES), fmt
