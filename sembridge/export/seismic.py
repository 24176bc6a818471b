"""Seismic: the JSONL that ``SeismicIndex.build`` reads.

- ``documents.jsonl``: one document per line, ``{"id": ..., "content": ..., "vector": {term: impact}}``
  (one file: Seismic's builder reads one ``.jsonl`` or ``.tar.gz``);
- ``queries.jsonl`` (when queries are given): the same fields for each query.

Seismic stores a term as a NumPy ``U30`` string, so terms are capped at 30 characters (a longer
one keeps its start and ends with ``#<id>``), and it numbers terms with ``u16`` ids: a vocabulary
above 65,535 terms needs the large-vocabulary classes (``SeismicIndexLV``, ``u32`` ids), named in
``export.json`` as ``seismic_index``. Values are stored as ``f16``, exact for impacts up to 2,048.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sembridge.encoding.terms import unique_terms
from sembridge.export.base import VectorWriter, json_line

SEISMIC_MAX_CHARS = 30
U16_TERMS = 65_535


def seismic_index_class(vocab_size: int) -> str:
    """``SeismicIndex`` (``u16`` term ids) up to 65,535 terms, ``SeismicIndexLV`` (``u32``) above."""
    return "SeismicIndex" if vocab_size <= U16_TERMS else "SeismicIndexLV"


class SeismicWriter(VectorWriter):
    format = "seismic"
    label = "Seismic JSONL"
    impact_limit = 65_504  # the largest finite f16
    exact_impact_limit = 2_048  # f16 holds every integer up to 2^11

    def __init__(
        self,
        folder: Path,
        tokens: list[str],
        docs_per_file: int,
        special_ids: frozenset[int] = frozenset(),
        **options: Any,
    ) -> None:
        super().__init__(folder, tokens, docs_per_file, special_ids, **options)
        self._docs = (folder / "documents.jsonl").open("w", encoding="utf-8")
        self._queries = None

    @classmethod
    def make_terms(cls, tokens: list[str]) -> list[str]:
        return unique_terms(tokens, max_chars=SEISMIC_MAX_CHARS)

    def add_document(self, doc_id: str, text: str, ids: np.ndarray, impacts: np.ndarray) -> None:
        self._docs.write(
            json_line({"id": doc_id, "content": text, "vector": self.vector(ids, impacts)}) + "\n"
        )

    def add_query(self, query_id: str, text: str, ids: np.ndarray, impacts: np.ndarray) -> None:
        if self._queries is None:
            self._queries = (self.folder / "queries.jsonl").open("w", encoding="utf-8")
        self._queries.write(
            json_line({"id": query_id, "content": text, "vector": self.vector(ids, impacts)}) + "\n"
        )

    def finish(self) -> dict[str, Any]:
        self._docs.close()
        if self._queries is not None:
            self._queries.close()
        return {"files": 1, "seismic_index": seismic_index_class(len(self.tokens))}

    @staticmethod
    def index_command(output: Path) -> str:
        return (
            f'python -c "from seismic import SeismicIndex; '
            f"SeismicIndex.build('{output}/documents.jsonl').save('{output}-index')\""
            " (SeismicIndexLV above 65,535 terms)"
        )
