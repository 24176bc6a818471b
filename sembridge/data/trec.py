"""TREC-style files: qrels (relevance judgements), topics (queries) and run files.

- qrels: TREC (``qid Q0 docid grade``), BEIR TSV (``query-id<TAB>corpus-id<TAB>score``, with or
  without its header) or JSON lines with the BEIR names; read into ``{qid: {docid: grade}}``.
  ``ir_measures.read_trec_qrels`` reads only the four-column form and names no line, so the
  three forms are read here.
- topics: ``qid<TAB>query`` per line (the MIRACL topics files).
- runs: ``qid Q0 docid rank score tag``, written atomically, read with ``ir_measures.read_trec_run``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sembridge.data.columns import QRELS_NAMES
from sembridge.data.readers import read_file, read_lines
from sembridge.errors import SembridgeError
from sembridge.io import atomic_file

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


def read_qrels(path: str | Path) -> Qrels:
    """Judgements from a TREC, BEIR TSV or JSONL qrels file: ``{qid: {docid: grade}}``."""
    path = Path(path)
    qrels: Qrels = {}
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        query_key, doc_key, score_key = QRELS_NAMES
        for where, record in read_file(path):
            try:
                qid, did, grade = record[query_key], record[doc_key], record[score_key]
                qrels.setdefault(str(qid), {})[str(did)] = int(grade)
            except (KeyError, TypeError, ValueError) as err:
                raise SembridgeError(
                    f"{where}: not a judgement",
                    hint='each line must be like {"query-id": "q1", "corpus-id": "d1", "score": 1}',
                ) from err
        return qrels
    for number, line in read_lines(path):
        fields = line.split()
        if not fields:
            continue
        if number == 1 and len(fields) in (3, 4) and not _is_number(fields[-1]):
            continue  # a header such as "query-id corpus-id score"
        where = f"{path.name} line {number}"
        if len(fields) == 4:
            qid, _, did, grade = fields
        elif len(fields) == 3:
            qid, did, grade = fields
        else:
            raise SembridgeError(
                f"{where}: not a judgement",
                hint="expected 'qid Q0 docid grade' (TREC) or 'query-id<TAB>corpus-id<TAB>score' (BEIR)",
            )
        if not _is_number(grade):
            raise SembridgeError(f"{where}: relevance '{grade}' is not a number")
        qrels.setdefault(qid, {})[did] = int(float(grade))
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
    scores, best first; a negative index ends the list.
    """
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


def read_trec_run(path: str | Path) -> Run:
    """Read a TREC run file back into ``{qid: {docid: score}}``."""
    from ir_measures import read_trec_run as read_run

    run: Run = {}
    try:
        for scored in read_run(str(path)):
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
