"""Anserini / pyserini: a JsonVectorCollection for a Lucene impact index.

- ``corpus/docs-00000.jsonl``, ...: one document per line,
  ``{"id": ..., "contents": ..., "vector": {term: impact}}``;
- ``queries.tsv`` (when queries are given): pre-tokenised topics, ``qid<TAB>terms``, each term
  repeated ``impact`` times, which is how pyserini's ``--impact`` search weighs them.

A document id may be any string (it is a JSON string). A query id holding a tab or a line break
would break its ``queries.tsv`` line, so it is refused before anything is encoded. The query
text itself is not written: the second column holds only terms, which never hold whitespace
(:func:`~sembridge.encoding.terms.unique_terms`), so tabs and line breaks in a text are harmless.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sembridge.data.writers import TSV_BREAKERS
from sembridge.export.base import VectorWriter, json_line


class AnseriniWriter(VectorWriter):
    format = "anserini"
    label = "Anserini JsonVectorCollection"
    impact_limit = 2**31 - 1  # Lucene stores an impact as a term frequency, a 32-bit int
    exact_impact_limit = 2**31 - 1
    parts_folder, part_prefix = "corpus", "docs"
    query_file = "queries.tsv"

    @classmethod
    def id_problem(cls, value: str, kind: str) -> str | None:
        if kind == "query" and any(c in value for c in TSV_BREAKERS):
            return "queries.tsv ids may not contain tabs or line breaks"
        return None

    def document_lines(
        self, row: int, doc_id: str, text: str, ids: np.ndarray, impacts: np.ndarray
    ) -> tuple[str, ...]:
        return (json_line({"id": doc_id, "contents": text, "vector": self.vector(ids, impacts)}),)

    def query_record(self, query_id: str, text: str, ids: np.ndarray, impacts: np.ndarray) -> str:
        words = " ".join(" ".join([self.terms[j]] * int(v)) for j, v in zip(ids, impacts, strict=True))
        return f"{query_id}\t{words}"

    @staticmethod
    def index_command(output: Path) -> str:
        return (
            "python -m pyserini.index.lucene --collection JsonVectorCollection "
            f"--input {output}/corpus --index {output}-index --generator DefaultLuceneDocumentGenerator "
            "--threads 8 --impact --pretokenized"
        )


def read_vector_collection(folder: str | Path) -> dict[str, dict[str, int]]:
    """Read an exported JsonVectorCollection back: ``{doc id: {term: impact}}``."""
    folder = Path(folder)
    corpus_dir = folder / "corpus" if (folder / "corpus").is_dir() else folder
    vectors: dict[str, dict[str, int]] = {}
    for file in sorted(corpus_dir.glob("*.jsonl")):
        with file.open(encoding="utf-8") as handle:
            for line in handle:
                doc = json.loads(line)
                vectors[doc["id"]] = doc["vector"]
    return vectors
