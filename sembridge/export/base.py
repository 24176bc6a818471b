"""What every export format shares: integer impacts, the writer interface and sharded line files.

Every format stores the same numbers: for a weight ``w`` of a term that is not a special token,
the impact ``round(w * scale)`` (half to even; ``scale`` 100 by default, as pyserini's SPLADE
collections), and a term whose impact rounds to 0 is left out. Documents are pruned (mass first,
then the term cap) before they are quantised; queries are never pruned.

A format is a :class:`VectorWriter`: it turns each document, given as parallel arrays of
vocabulary ids and impacts, into the lines of its part files (:mod:`sembridge.export.parts` cuts
the corpus into parts and writes them), writes each query into its query file, and returns the
figures it adds to ``export.json``. Before anything is encoded, :meth:`VectorWriter.check_ids`
refuses an id the format's files cannot hold (JSON holds any string; a TSV id no tab nor line
break; a bulk ``_id`` at most 512 bytes).
"""

from __future__ import annotations

import json
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from sembridge.encoding.terms import unique_terms
from sembridge.errors import SembridgeError

DEFAULT_DOCS_PER_FILE = 100_000
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


def concatenate_parts(folder: Path, names: list[str], target: str) -> None:
    """Join the files ``folder / name`` (in the order given) into ``folder / target``, removing
    each once it is copied."""
    with (folder / target).open("wb") as out:
        for name in names:
            with (folder / name).open("rb") as part:
                shutil.copyfileobj(part, out, 1 << 20)
            (folder / name).unlink()


def json_line(record: Any) -> str:
    """One JSON line, UTF-8 kept as is."""
    return json.dumps(record, ensure_ascii=False)


class VectorWriter(ABC):
    """One export format, writing into ``folder`` (the output's work folder).

    Subclasses set :attr:`format`, :attr:`label`, where the documents' part files go
    (:attr:`parts_folder`, :attr:`part_prefix`, :attr:`part_suffix`) and
    :attr:`default_docs_per_file` when their files should be smaller; they may override
    :meth:`make_terms` (how the vocabulary tokens are spelled for their engine), :meth:`start`
    (the files every export of the format holds) and :meth:`finish`, and implement
    :meth:`document_lines` and :meth:`add_query`. :meth:`vector` gives a ``{term: impact}`` dict
    for formats that store one.
    """

    format: ClassVar[str]
    label: ClassVar[str]
    default_docs_per_file: ClassVar[int] = DEFAULT_DOCS_PER_FILE
    # The largest impact the format's files store, and the largest its engine keeps exactly.
    impact_limit: ClassVar[int]
    exact_impact_limit: ClassVar[int]
    # Part p of the documents is folder / parts_folder / f"{part_prefix}-{p:05d}{part_suffix}".
    parts_folder: ClassVar[str]
    part_prefix: ClassVar[str]
    part_suffix: ClassVar[str] = ".jsonl"

    def __init__(
        self,
        folder: Path,
        tokens: list[str],
        special_ids: frozenset[int] = frozenset(),
        hits: int = DEFAULT_HITS,
    ) -> None:
        self.folder = folder
        self.hits = hits  # the size of each query body, for the formats that write one
        self.tokens = tokens
        self.terms = self.make_terms(tokens)
        self.special_ids = special_ids
        self._queries: IO[str] | None = None

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

    @classmethod
    def part_name(cls, number: int) -> str:
        """The path of part ``number``'s file, relative to the output folder."""
        return f"{cls.parts_folder}/{cls.part_prefix}-{number:05d}{cls.part_suffix}"

    def vector(self, ids: np.ndarray, impacts: np.ndarray) -> dict[str, int]:
        return {self.terms[j]: int(v) for j, v in zip(ids, impacts, strict=True)}

    def start(self) -> None:
        """Write the files every export of the format holds beside its parts (idempotent: a
        resumed run writes them again)."""
        (self.folder / self.parts_folder).mkdir(exist_ok=True)

    @abstractmethod
    def document_lines(
        self, row: int, doc_id: str, text: str, ids: np.ndarray, impacts: np.ndarray
    ) -> tuple[str, ...]:
        """The lines of one document in its part file (``row``: its place in the whole corpus,
        from 0; ``ids`` ascending vocabulary ids, ``impacts`` positive integers). The lines of a
        document are never split between two part files."""

    @abstractmethod
    def query_record(self, query_id: str, text: str, ids: np.ndarray, impacts: np.ndarray) -> str:
        """One query's line of the query file."""

    query_file: ClassVar[str] = "queries.jsonl"

    def add_query(self, query_id: str, text: str, ids: np.ndarray, impacts: np.ndarray) -> None:
        """Write one query (the query file is opened on the first)."""
        if self._queries is None:
            self._queries = (self.folder / self.query_file).open("w", encoding="utf-8")
        self._queries.write(self.query_record(query_id, text, ids, impacts) + "\n")

    def finish(self, parts: list[int], complete: bool) -> dict[str, Any]:
        """Close the files; return what the format adds to ``export.json``.

        ``parts``: the part numbers this export holds, ascending; ``complete``: whether they are
        the whole corpus (False for one shard of several).
        """
        if self._queries is not None:
            self._queries.close()
            self._queries = None
        return {"files": len(parts)}

    @staticmethod
    @abstractmethod
    def index_command(output: Path) -> str:
        """The engine's own command (or API call) that indexes the export in ``output``."""
