"""What every export format shares: integer impacts, the writer interface and sharded line files.

Every format stores the same numbers: for a weight ``w`` of a term that is not a special token,
the impact ``round(w * scale)`` (half to even; ``scale`` 100 by default, as pyserini's SPLADE
collections), and a term whose impact rounds to 0 is left out. Documents are pruned (mass first,
then the term cap) before they are quantised; queries are never pruned.

A format is a :class:`VectorWriter`: it is given each document and each query as parallel arrays
of vocabulary ids and impacts, writes them into the (temporary) output folder, and returns the
figures it adds to ``export.json``. Before anything is encoded, :meth:`VectorWriter.check_ids`
refuses an id the format's files cannot hold (JSON holds any string; a TSV id no tab nor line
break; a bulk ``_id`` at most 512 bytes).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from sembridge.encoding.terms import unique_terms
from sembridge.errors import SembridgeError

DEFAULT_DOCS_PER_FILE = 500_000
# Hits a query body asks for (``--hits``): a full evaluation depth, not an engine's default of 10.
DEFAULT_HITS = 1_000


def quantize(matrix: sp.csr_matrix, scale: float) -> sp.csr_matrix:
    """Integer impacts ``round(w * scale)`` (half to even), zeros and negatives dropped."""
    out = matrix.copy().astype(np.float64)
    out.data = np.rint(out.data * scale)
    out.data[out.data < 0] = 0
    out = out.astype(np.int64)
    out.eliminate_zeros()
    return out


class ShardedLines:
    """Text lines spread over ``folder/<prefix>-00000<suffix>``, ... with ``per_file`` records each.

    ``lines_per_record`` lines make one record (a bulk file's action and source lines), so a
    record is never split between two files.
    """

    def __init__(self, folder: Path, prefix: str, suffix: str, per_file: int) -> None:
        self.folder, self.prefix, self.suffix, self.per_file = folder, prefix, suffix, per_file
        self.records = 0
        self.files = 0
        self._handle: IO[str] | None = None

    def write(self, *lines: str) -> None:
        if self.records % self.per_file == 0:
            self.close()
            path = self.folder / f"{self.prefix}-{self.files:05d}{self.suffix}"
            self._handle = path.open("w", encoding="utf-8")
            self.files += 1
        assert self._handle is not None
        for line in lines:
            self._handle.write(line + "\n")
        self.records += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def json_line(record: Any) -> str:
    """One JSON line, UTF-8 kept as is."""
    return json.dumps(record, ensure_ascii=False)


class VectorWriter(ABC):
    """One export format, writing into ``folder`` (the temporary output folder).

    Subclasses set :attr:`format` and :attr:`label` (and :attr:`default_docs_per_file` when
    their files should be smaller), may override :meth:`make_terms` (how the
    vocabulary tokens are spelled for their engine), and implement the three ``add``/``finish``
    methods. :meth:`vector` gives a ``{term: impact}`` dict for formats that store one.
    """

    format: ClassVar[str]
    label: ClassVar[str]
    default_docs_per_file: ClassVar[int] = DEFAULT_DOCS_PER_FILE
    # The largest impact the format's files store, and the largest its engine keeps exactly.
    impact_limit: ClassVar[int]
    exact_impact_limit: ClassVar[int]

    def __init__(
        self,
        folder: Path,
        tokens: list[str],
        docs_per_file: int = DEFAULT_DOCS_PER_FILE,
        special_ids: frozenset[int] = frozenset(),
        hits: int = DEFAULT_HITS,
    ) -> None:
        self.folder = folder
        self.hits = hits  # the size of each query body, for the formats that write one
        self.tokens = tokens
        self.terms = self.make_terms(tokens)
        self.docs_per_file = docs_per_file
        self.special_ids = special_ids

    @classmethod
    def make_terms(cls, tokens: list[str]) -> list[str]:
        """The term string of every vocabulary id (unique, whitespace-free)."""
        return unique_terms(tokens)

    @classmethod
    def id_problem(cls, value: str, kind: str) -> str | None:
        """Why ``value`` cannot be a ``kind`` (``document``, ``query``) id of this format, or None.

        The default holds any string (ids are JSON strings); formats with stricter files override it.
        """
        return None

    @classmethod
    def check_ids(cls, ids: Iterable[str], kind: str) -> None:
        """Refuse, before anything is encoded or written, the first id the format cannot hold."""
        for value in map(str, ids):
            problem = cls.id_problem(value, kind)
            if problem is not None:
                shown = repr(value) if len(value) <= 80 else f"{value[:60]!r}..."
                raise SembridgeError(
                    f"{kind} id {shown} cannot be written in the {cls.format} export ({problem})",
                    hint=f"change that {kind} id in the input, or choose another --format",
                )

    def vector(self, ids: np.ndarray, impacts: np.ndarray) -> dict[str, int]:
        return {self.terms[j]: int(v) for j, v in zip(ids, impacts, strict=True)}

    @abstractmethod
    def add_document(self, doc_id: str, text: str, ids: np.ndarray, impacts: np.ndarray) -> None:
        """Write one document (``ids`` ascending vocabulary ids, ``impacts`` positive integers)."""

    @abstractmethod
    def add_query(self, query_id: str, text: str, ids: np.ndarray, impacts: np.ndarray) -> None:
        """Write one query."""

    @abstractmethod
    def finish(self) -> dict[str, Any]:
        """Close the files; return what the format adds to ``export.json`` (at least ``files``)."""

    @staticmethod
    @abstractmethod
    def index_command(output: Path) -> str:
        """The engine's own command (or API call) that indexes the export in ``output``."""
