"""Independent readers of every export format, for the round-trip and engine tests.

Each reads the files with plain ``json`` / text parsing, as the engine's documentation says it
reads them, and returns ``(documents, queries)``: ``{id: {term: impact}}`` dicts. Qdrant's
indices are turned into terms through its ``vocabulary.tsv``. Nothing here imports sembridge.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

Vectors = dict[str, dict[str, int]]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_anserini(folder: Path) -> tuple[Vectors, Vectors]:
    docs = {}
    for file in sorted((folder / "corpus").glob("docs-*.jsonl")):
        for doc in _jsonl(file):
            assert set(doc) == {"id", "contents", "vector"}
            docs[doc["id"]] = doc["vector"]
    queries = {}
    if (folder / "queries.tsv").exists():
        for line in (folder / "queries.tsv").read_text(encoding="utf-8").splitlines():
            qid, _, words = line.partition("\t")
            queries[qid] = dict(Counter(words.split()))
    return docs, queries


def read_seismic(folder: Path) -> tuple[Vectors, Vectors]:
    docs = {}
    for doc in _jsonl(folder / "documents.jsonl"):
        assert set(doc) == {"id", "content", "vector"}
        docs[doc["id"]] = doc["vector"]
    path = folder / "queries.jsonl"
    queries = {q["id"]: q["vector"] for q in _jsonl(path)} if path.exists() else {}
    return docs, queries


def read_bulk(folder: Path) -> tuple[Vectors, Vectors]:
    mapping = json.loads((folder / "mapping.json").read_text(encoding="utf-8"))
    field_type = mapping["mappings"]["properties"]["vector"]["type"]
    assert field_type in ("rank_features", "sparse_vector")
    docs = {}
    for file in sorted((folder / "bulk").glob("bulk-*.ndjson")):
        lines = file.read_text(encoding="utf-8").splitlines()
        assert len(lines) % 2 == 0
        for action, source in zip(lines[::2], lines[1::2], strict=True):
            doc_id = json.loads(action)["index"]["_id"]
            docs[doc_id] = json.loads(source)["vector"]
    queries = {}
    path = folder / "queries.jsonl"
    for q in _jsonl(path) if path.exists() else []:
        query = q["body"]["query"]
        assert isinstance(q["body"]["size"], int) and q["body"]["size"] >= 1  # not the engine's 10
        if "neural_sparse" in query:
            queries[q["id"]] = query["neural_sparse"]["vector"]["query_tokens"]
            # Before neural-search 2.14: one linear rank_feature clause per term, boosted by its weight.
            fallback = q["body_rank_feature"]
            assert fallback["size"] == q["body"]["size"]
            clauses = [c["rank_feature"] for c in fallback["query"]["bool"]["should"]]
            assert all(c["linear"] == {} and c["field"].startswith("vector.") for c in clauses)
            assert {c["field"].removeprefix("vector."): c["boost"] for c in clauses} == queries[q["id"]]
        else:
            assert query["sparse_vector"]["field"] == "vector"
            assert query["sparse_vector"]["prune"] is False  # 8.19 / 9.1 prune by default
            queries[q["id"]] = query["sparse_vector"]["query_vector"]
    return docs, queries


def read_qdrant(folder: Path) -> tuple[Vectors, Vectors]:
    vocabulary = {}
    for line in (folder / "vocabulary.tsv").read_text(encoding="utf-8").splitlines():
        index, term = line.split("\t")
        vocabulary[int(index)] = term
    docs = {}
    for file in sorted((folder / "points").glob("points-*.jsonl")):
        for point in _jsonl(file):
            sparse = point["vector"]["sparse"]
            assert isinstance(point["id"], int)
            docs[point["payload"]["doc_id"]] = {
                vocabulary[i]: v for i, v in zip(sparse["indices"], sparse["values"], strict=True)
            }
    queries = {}
    path = folder / "queries.jsonl"
    for q in _jsonl(path) if path.exists() else []:
        queries[q["id"]] = {vocabulary[i]: v for i, v in zip(q["indices"], q["values"], strict=True)}
        body = q["body"]  # POST /collections/NAME/points/query
        assert body["query"] == {"indices": q["indices"], "values": q["values"]}
        assert body["using"] == "sparse" and body["limit"] >= 1 and body["with_payload"] is True
    return docs, queries


READERS = {
    "anserini": read_anserini,
    "seismic": read_seismic,
    "opensearch": read_bulk,
    "elasticsearch": read_bulk,
    "qdrant": read_qdrant,
}
