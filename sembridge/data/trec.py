"""TREC-style files: qrels (relevance judgements), topics (queries) and run files.

- qrels: TREC (``qid Q0 docid grade``), BEIR TSV (``query-id<TAB>corpus-id<TAB>score``, with or
  without its header) or JSON lines with the BEIR names; read into ``{qid: {docid: grade}}``.
  ``ir_measures.read_trec_qrels`` reads only the four-column form and names no line, so the
  three forms are read here. A file whose first line holds a tab is split on tabs only (its ids
  may hold spaces, ``doc 1``); any other on whitespace.
- topics: ``qid<TAB>query`` per line (the MIRACL topics files).
- runs: ``qid Q0 docid rank score tag``, written atomically, read with ``ir_measures.read_trec_run``.
  The columns are separated by spaces, so an id holding whitespace (or an empty one) cannot be
  written: :func:`check_trec_ids` refuses it, before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sembridge.data.columns import QRELS_NAMES
from sembridge.data.readers import open_text, read_file, read_lines
from sembridge.errors import SembridgeError
from sembridge.io import atomic_file
from sembridge.log import logger

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


class QrelsConflicts:
    """Judgements that give a query and document judged before a different relevance.

    :meth:`add` keeps the last grade (as a later judgement replaces an earlier one) and counts
    each conflict, keeping the first as the example; :meth:`warn` says so once. The same grade
    twice is no conflict.
    """

    def __init__(self) -> None:
        self.count = 0
        self.example: str | None = None

    def add(self, qrels: Qrels, qid: str, did: str, grade: int, where: str) -> None:
        """Set ``qrels[qid][did] = grade``, ``where`` naming the judgement (``qrels.tsv line 7``)."""
        docs = qrels.setdefault(qid, {})
        before = docs.get(did)
        if before is not None and before != grade:
            self.count += 1
            if self.example is None:
                self.example = f"query '{qid}', document '{did}': {before}, then {grade} at {where}"
        docs[did] = grade

    def warn(self, name: str) -> None:
        """One warning for ``name`` (a file or data set) when a conflict was found."""
        if self.count:
            logger.warning(
                "%s: %d judgement(s) give a query and document judged before a different relevance "
                "(e.g. %s); the last one is kept",
                name,
                self.count,
                self.example,
            )


def read_qrels(path: str | Path) -> Qrels:
    """Judgements from a TREC, BEIR TSV or JSONL qrels file: ``{qid: {docid: grade}}``.

    A query and document judged twice with different grades keep the last one, with a warning
    (:class:`QrelsConflicts`).
    """
    path = Path(path)
    qrels: Qrels = {}
    conflicts = QrelsConflicts()
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        query_key, doc_key, score_key = QRELS_NAMES
        for where, record in read_file(path):
            try:
                qid, did, grade = record[query_key], record[doc_key], record[score_key]
                conflicts.add(qrels, str(qid), str(did), int(grade), where)
            except (KeyError, TypeError, ValueError) as err:
                raise SembridgeError(
                    f"{where}: not a judgement",
                    hint='each line must be like {"query-id": "q1", "corpus-id": "d1", "score": 1}',
                ) from err
        conflicts.warn(path.name)
        return qrels
    tabbed: bool | None = None  # BEIR TSV, split on tabs; else TREC, split on whitespace
    for number, line in read_lines(path):
        if not line.strip():
            continue
        first = tabbed is None
        if first:
            tabbed = "\t" in line
        fields = line.split("\t") if tabbed else line.split()
        if first and len(fields) in (3, 4) and not _is_number(fields[-1]):
            continue  # a header such as "query-id corpus-id score"
        where = f"{path.name} line {number}"
        if len(fields) == 4:
            qid, _, did, grade = fields
        elif len(fields) == 3:
            qid, did, grade = fields
        else:
            raise SembridgeError(
                f"{where}: not a judgement ({len(fields)} {'tab-separated ' if tabbed else ''}fields)",
                hint="expected 'qid Q0 docid grade' (TREC) or 'query-id<TAB>corpus-id<TAB>score' (BEIR)",
            )
        if not qid or not did:
            raise SembridgeError(
                f"{where}: the {'query' if not qid else 'document'} id is empty",
                hint="each judgement names a query id, a document id and a relevance",
            )
        if not _is_number(grade):
            raise SembridgeError(f"{where}: relevance '{grade}' is not a number")
        conflicts.add(qrels, qid, did, int(float(grade)), where)
    conflicts.warn(path.name)
    return qrels


def read_topics(path: str | Path) -> dict[str, str]:
    """Queries from a topics file: ``qid<TAB>query`` per line."""
    path = Path(path)
    queries: dict[str, str] = {}
    for number, line in read_lines(path):
        if not line.strip():
            continue
        qid, sep, text = line.partition("\t")
        where = f"{path.name} line {number}"
        if not sep:
            raise SembridgeError(f"{where}: not 'qid<TAB>query'")
        if qid in queries:
            raise SembridgeError(f"query id '{qid}' appears twice in '{path}' (again at {where})")
        queries[qid] = text
    return queries


def write_trec_run(
    path: str | Path,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    indices: Any,
    scores: Any,
    tag: str,
) -> Path:
    """TREC run lines ``qid Q0 docid rank score tag`` (rank from 1), atomically.

    ``indices[i]`` and ``scores[i]`` are query ``i``'s documents (positions in ``doc_ids``) and
    scores, best first; a negative index ends the list. Ids the format cannot hold are refused
    before the file is opened (:func:`check_trec_ids`); whitespace in ``tag`` becomes ``_``.
    """
    check_trec_ids(query_ids, "query")
    check_trec_ids(doc_ids, "document")
    tag = re.sub(r"\s+", "_", tag) or "sembridge"
    with atomic_file(path) as handle:
        for row, qid in enumerate(query_ids):
            rank = 0
            for index, score in zip(indices[row], scores[row], strict=True):
                if index < 0:
                    break
                rank += 1
                handle.write(f"{qid} Q0 {doc_ids[index]} {rank} {float(score):.6f} {tag}\n")
    return Path(path)


def check_trec_ids(ids: Iterable[str], kind: str) -> None:
    """Refuse an id a TREC run file cannot hold: an empty one, or one holding whitespace.

    The columns of a run line are separated by whitespace, so such an id would add or remove a
    column. ``kind`` (``query``, ``document``) names the id in the error.
    """
    for value in map(str, ids):
        if value.split() != [value]:
            rule = "ids may not contain whitespace" if value else "ids may not be empty"
            raise SembridgeError(
                f"{kind} id {value!r} cannot be written in a TREC run file ({rule})",
                hint=f"change that {kind} id in the data (e.g. 'doc_1' for 'doc 1'), or leave out --run-file",
            )


def read_trec_run(path: str | Path) -> Run:
    """Read a TREC run file (UTF-8, ``.gz`` too) back into ``{qid: {docid: score}}``."""
    from ir_measures import read_trec_run as read_run

    run: Run = {}
    try:
        with open_text(path) as handle:
            for scored in read_run(handle):
                run.setdefault(scored.query_id, {})[scored.doc_id] = scored.score
    except ValueError as err:
        raise SembridgeError(
            f"'{path}' is not a TREC run file ({err})", hint="each line must be 'qid Q0 docid rank score tag'"
        ) from err
    return run


def run_file_for_setting(path: str | Path, setting: str, first: bool) -> Path:
    """The run file of a pruning setting: the given path for no pruning, a sibling otherwise.

    ``run.trec`` + ``mass=0.9`` -> ``run.mass0.9.trec``.
    """
    path = Path(path)
    if first:
        return path
    tag = re.sub(r"[^A-Za-z0-9._\-]+", "", setting.replace(",", "_")) or "setting"
    return path.with_name(f"{path.stem}.{tag}{path.suffix}")


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
