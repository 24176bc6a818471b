"""OpenSearch and Elasticsearch: bulk files for a sparse feature field, with the index mapping.

- ``mapping.json``: the index body, a ``text`` field and a ``vector`` field of type
  ``rank_features`` (OpenSearch) or ``sparse_vector`` (Elasticsearch 8.11+);
- ``bulk/bulk-00000.ndjson``, ...: ``_bulk`` request bodies, an action line
  ``{"index": {"_id": ...}}`` then ``{"text": ..., "vector": {term: impact}}`` per document,
  5,000 documents per file by default (a bulk request should stay well under the engines'
  100 MB ``http.max_content_length``);
- ``queries.jsonl`` (when queries are given): ``{"id", "text", "body"}``, ``body`` a search
  request for ``size`` hits (``--hits``, default 1,000, not the engines' default of 10):
  OpenSearch's ``neural_sparse`` query with raw ``query_tokens`` (neural-search plugin 2.14+;
  ``body_rank_feature`` is the same search for older clusters, a ``bool.should`` of one
  ``rank_feature`` clause per query term with the ``linear`` function and the query weight as
  ``boost``: without ``linear`` a ``rank_feature`` saturates), Elasticsearch's ``sparse_vector``
  query with ``query_vector`` and ``"prune": false`` (8.15+; since 8.19 and 9.1 new indices
  prune frequent low-weight query tokens unless told not to). Each scores a document by the dot
  product of the query weights and the stored impacts.

A document id is the bulk ``_id``, which both engines refuse when empty or longer than 512
bytes (UTF-8); such an id is refused before anything is encoded. Query ids are free (JSON).

Both engines refuse dots in feature names (``rank_features`` and, in some Elasticsearch
versions, ``sparse_vector``), so ``.`` inside a term is written as U+2024 (``․``), in the
documents and the queries alike. Both store feature values with 9 significant bits, so impacts
above 512 may come back rounded (``max_impact`` in ``export.json`` says whether that can happen).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sembridge.encoding.terms import DOT, unique_terms
from sembridge.export.base import DEFAULT_HITS, VectorWriter, json_line
from sembridge.io import write_json

BULK_DOCS_PER_FILE = 5_000
MAX_ID_BYTES = 512
FIELD = "vector"


class _BulkWriter(VectorWriter):
    field_type: ClassVar[str]
    default_docs_per_file = BULK_DOCS_PER_FILE
    impact_limit = 2**128 - 2**104  # Lucene's FeatureField takes any finite float32
    exact_impact_limit = 2**9  # it keeps 9 significant bits: every integer up to 512

    parts_folder, part_prefix, part_suffix = "bulk", "bulk", ".ndjson"

    def start(self) -> None:
        super().start()
        write_json(self.folder / "mapping.json", self.mapping())

    @classmethod
    def make_terms(cls, tokens: list[str]) -> list[str]:
        return unique_terms(tokens, dots=DOT)

    @classmethod
    def id_problem(cls, value: str, kind: str) -> str | None:
        if kind != "document":
            return None
        if not value:
            return "a bulk _id may not be empty"
        size = len(value.encode("utf-8"))
        if size > MAX_ID_BYTES:
            return f"a bulk _id is at most {MAX_ID_BYTES} bytes, this one has {size:,}"
        return None

    @classmethod
    def mapping(cls) -> dict[str, Any]:
        return {"mappings": {"properties": {"text": {"type": "text"}, FIELD: {"type": cls.field_type}}}}

    def document_lines(
        self, row: int, doc_id: str, text: str, ids: np.ndarray, impacts: np.ndarray
    ) -> tuple[str, ...]:
        return json_line({"index": {"_id": doc_id}}), json_line(
            {"text": text, FIELD: self.vector(ids, impacts)}
        )

    def query_record(self, query_id: str, text: str, ids: np.ndarray, impacts: np.ndarray) -> str:
        vector = self.vector(ids, impacts)
        record = {"id": query_id, "text": text, "body": self.query_body(vector, self.hits)}
        record.update(self.extra_bodies(vector, self.hits))
        return json_line(record)

    @staticmethod
    def query_body(vector: dict[str, int], hits: int = DEFAULT_HITS) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def extra_bodies(vector: dict[str, int], hits: int) -> dict[str, Any]:
        """Other forms of the same search, for older engine versions (by key in ``queries.jsonl``)."""
        return {}

    def finish(self, parts: list[int], complete: bool) -> dict[str, Any]:
        return {**super().finish(parts, complete), "field": FIELD, "field_type": self.field_type}

    @staticmethod
    def _commands(output: Path, host: str) -> str:
        return (
            f"curl -XPUT '{host}/INDEX' -H 'Content-Type: application/json' "
            f"--data-binary @{output}/mapping.json"
            f" && for f in {output}/bulk/*.ndjson; do curl -XPOST '{host}/INDEX/_bulk' "
            "-H 'Content-Type: application/x-ndjson' --data-binary @$f; done"
        )


class OpenSearchWriter(_BulkWriter):
    format = "opensearch"
    label = "OpenSearch bulk files (rank_features)"
    field_type = "rank_features"

    @staticmethod
    def query_body(vector: dict[str, int], hits: int = DEFAULT_HITS) -> dict[str, Any]:
        return {"size": hits, "query": {"neural_sparse": {FIELD: {"query_tokens": vector}}}}

    @staticmethod
    def extra_bodies(vector: dict[str, int], hits: int) -> dict[str, Any]:
        clauses = [
            {"rank_feature": {"field": f"{FIELD}.{term}", "linear": {}, "boost": weight}}
            for term, weight in vector.items()
        ]
        return {"body_rank_feature": {"size": hits, "query": {"bool": {"should": clauses}}}}

    @staticmethod
    def index_command(output: Path) -> str:
        return _BulkWriter._commands(output, "localhost:9200")


class ElasticsearchWriter(_BulkWriter):
    format = "elasticsearch"
    label = "Elasticsearch bulk files (sparse_vector)"
    field_type = "sparse_vector"

    @staticmethod
    def query_body(vector: dict[str, int], hits: int = DEFAULT_HITS) -> dict[str, Any]:
        query = {"field": FIELD, "query_vector": vector, "prune": False}
        return {"size": hits, "query": {"sparse_vector": query}}

    @staticmethod
    def index_command(output: Path) -> str:
        return _BulkWriter._commands(output, "localhost:9200")
