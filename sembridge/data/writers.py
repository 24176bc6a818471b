"""Writing data sets: pairs as JSON lines, retrieval sets in the BEIR layout, each file atomically."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sembridge.data.columns import PAIR_COLUMNS, QRELS_NAMES
from sembridge.errors import SembridgeError
from sembridge.io import atomic_file

if TYPE_CHECKING:
    from sembridge.data.retrieval import RetrievalDataset


def write_pairs_jsonl(pairs: Iterable[tuple[str, ...]], path: str | Path) -> Path:
    """Write (query, positive[, negative]) tuples as JSON lines with those field names.

    Every command reads the file back: ``sembridge finetune --data``, ``sembridge evaluate
    --data`` and ``sembridge export --corpus`` / ``--queries``.
    """
    with atomic_file(path) as handle:
        for pair in pairs:
            handle.write(json.dumps(dict(zip(PAIR_COLUMNS, pair, strict=False)), ensure_ascii=False) + "\n")
    return Path(path)


# What splits a line of a TSV file into cells and lines (read_qrels reads the cells of a TSV
# line split on tabs, and a file's lines split on \n and \r).
TSV_BREAKERS = ("\t", "\n", "\r")


def save_beir(dataset: RetrievalDataset, folder: str | Path, split: str = "test") -> Path:
    """Write a data set in the BEIR layout (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).

    JSON lines hold any id, but the qrels TSV cannot hold an id that is empty or holds a tab or
    a line break: such an id of a judgement is refused before any file is written.
    """
    folder = Path(folder)
    for query_id, docs in dataset.qrels.items():
        check_tsv_id(query_id, "query")
        for doc_id in docs:
            check_tsv_id(doc_id, "document")
    with atomic_file(folder / "corpus.jsonl") as out:
        for doc_id, text in dataset.corpus.items():
            out.write(json.dumps({"_id": doc_id, "title": "", "text": text}, ensure_ascii=False) + "\n")
    with atomic_file(folder / "queries.jsonl") as out:
        for query_id, text in dataset.queries.items():
            out.write(json.dumps({"_id": query_id, "text": text}, ensure_ascii=False) + "\n")
    with atomic_file(folder / "qrels" / f"{split}.tsv") as out:
        out.write("\t".join(QRELS_NAMES) + "\n")
        for query_id, docs in dataset.qrels.items():
            for doc_id, grade in docs.items():
                out.write(f"{query_id}\t{doc_id}\t{grade}\n")
    return folder


def check_tsv_id(value: str, kind: str) -> None:
    """Refuse an id that the BEIR qrels TSV cannot hold: an empty one, or one with a tab or a line
    break. ``kind`` (``query``, ``document``) names the id in the error."""
    value = str(value)
    if value and not any(c in value for c in TSV_BREAKERS):
        return
    rule = "ids may not be empty" if not value else "ids may not contain tabs or line breaks"
    how = "give it a non-empty id" if not value else "e.g. replace its tabs and line breaks with '_'"
    raise SembridgeError(
        f"{kind} id {value!r} cannot be written in BEIR qrels TSV ({rule})",
        hint=f"change that {kind} id in the data ({how})",
    )
