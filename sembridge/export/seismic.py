"""Seismic: the JSONL that ``SeismicIndex.build`` reads.

- ``documents.jsonl``: one document per line, ``{"id": ..., "content": ..., "vector": {term: impact}}``
  (one file: Seismic's builder reads one ``.jsonl`` or ``.tar.gz``; while the export runs, and in
  one shard of a sharded export, the documents are parts ``documents/documents-00000.jsonl``, ...,
  joined in order at the end);
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
from sembridge.export.base import VectorWriter, concatenate_parts, json_line

SEISMIC_DOCUMENTS = "documents.jsonl"
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
    parts_folder, part_prefix = "documents", "documents"

    @classmethod
    def make_terms(cls, tokens: list[str]) -> list[str]:
        return unique_terms(tokens, max_chars=SEISMIC_MAX_CHARS)

    def document_lines(
        self, row: int, doc_id: str, text: str, ids: np.ndarray, impacts: np.ndarray
    ) -> tuple[str, ...]:
        return (json_line({"id": doc_id, "content": text, "vector": self.vector(ids, impacts)}),)

    def query_record(self, query_id: str, text: str, ids: np.ndarray, impacts: np.ndarray) -> str:
        return json_line({"id": query_id, "content": text, "vector": self.vector(ids, impacts)})

    def finish(self, parts: list[int], complete: bool) -> dict[str, Any]:
        """A whole export joins its parts, in order, into the one ``documents.jsonl`` Seismic reads
        (each part removed once copied, so the disk holds at most one part twice); a shard keeps
        its parts, to be joined with the other shards' (:func:`~sembridge.export.merge_shards`)."""
        summary = {**super().finish(parts, complete), "seismic_index": seismic_index_class(len(self.tokens))}
        if complete:
            concatenate_parts(self.folder, [self.part_name(p) for p in parts], SEISMIC_DOCUMENTS)
            (self.folder / self.parts_folder).rmdir()
            summary["files"] = 1
        return summary

    @staticmethod
    def index_command(output: Path) -> str:
        return (
            f'python -c "from seismic import SeismicIndex; '
            f"SeismicIndex.build('{output}/documents.jsonl').save('{output}-index')\""
            " (SeismicIndexLV above 65,535 terms)"
        )
