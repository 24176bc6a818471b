"""Qdrant: sparse vectors as ``indices``/``values``, with the vocabulary that maps ids to terms.

- ``collection.json``: the body that creates the collection (``PUT /collections/NAME``), one
  named sparse vector, ``sparse``;
- ``points/points-00000.jsonl``, ...: one point per line, in the fields of the client's
  ``PointStruct``: ``{"id": row, "vector": {"sparse": {"indices": [...], "values": [...]}},
  "payload": {"doc_id": ..., "text": ...}}`` (Qdrant ids are integers or UUIDs, so the row
  number, the document's place in the whole corpus from 0, is the point id, the same in a
  sharded export, and the document id travels in the payload);
- ``vocabulary.tsv``: ``id<TAB>term`` for every vocabulary id an index may hold (special tokens
  are left out), so a hit's indices read back as terms;
- ``queries.jsonl`` (when queries are given): ``{"id", "text", "indices", "values", "body"}``,
  ``body`` the REST body of ``POST /collections/NAME/points/query``:
  ``{"query": {"indices", "values"}, "using": "sparse", "limit": --hits, "with_payload": true}``.

Indices are the model's vocabulary ids; values are the integer impacts (stored as ``float32``
by Qdrant, exact below 2^24).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sembridge.export.base import VectorWriter, json_line
from sembridge.io import write_json

VECTOR_NAME = "sparse"


class QdrantWriter(VectorWriter):
    format = "qdrant"
    label = "Qdrant points (sparse indices/values)"
    impact_limit = 2**128 - 2**104  # the largest finite float32
    exact_impact_limit = 2**24  # float32 holds every integer up to 2^24

    parts_folder, part_prefix = "points", "points"

    def start(self) -> None:
        super().start()
        write_json(self.folder / "collection.json", {"sparse_vectors": {VECTOR_NAME: {}}})
        with (self.folder / "vocabulary.tsv").open("w", encoding="utf-8") as handle:
            for i, term in enumerate(self.terms):
                if i not in self.special_ids:
                    handle.write(f"{i}\t{term}\n")

    def document_lines(
        self, row: int, doc_id: str, text: str, ids: np.ndarray, impacts: np.ndarray
    ) -> tuple[str, ...]:
        sparse = {"indices": [int(j) for j in ids], "values": [int(v) for v in impacts]}
        point = {"id": row, "vector": {VECTOR_NAME: sparse}, "payload": {"doc_id": doc_id, "text": text}}
        return (json_line(point),)

    def query_record(self, query_id: str, text: str, ids: np.ndarray, impacts: np.ndarray) -> str:
        record = {
            "id": query_id,
            "text": text,
            "indices": [int(j) for j in ids],
            "values": [int(v) for v in impacts],
        }
        record["body"] = self.query_body(record["indices"], record["values"], self.hits)
        return json_line(record)

    @staticmethod
    def query_body(indices: list[int], values: list[int], hits: int) -> dict[str, Any]:
        """The REST body of a sparse search (``POST /collections/NAME/points/query``)."""
        query = {"indices": indices, "values": values}
        return {"query": query, "using": VECTOR_NAME, "limit": hits, "with_payload": True}

    def finish(self, parts: list[int], complete: bool) -> dict[str, Any]:
        return {**super().finish(parts, complete), "vector_name": VECTOR_NAME}

    @staticmethod
    def index_command(output: Path) -> str:
        return (
            f"create the collection with {output}/collection.json (PUT /collections/NAME), then "
            f"client.upload_points('NAME', (models.PointStruct(**json.loads(line)) for line in ...)) "
            f"over {output}/points/*.jsonl (README: Qdrant)"
        )
