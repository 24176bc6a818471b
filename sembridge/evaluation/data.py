"""Retrieval data sets: a corpus, queries and relevance judgements (qrels), checked before any work.

Four layouts are read from local paths, and hub data set ids go through the ``datasets`` package:

- **beir**: a folder with ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
  (``_id``, ``text``) and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``, ``score``, with a
  header) or ``qrels/<split>.jsonl``. Files may be gzipped (``.jsonl.gz``).
- **miracl**: a folder with ``topics/*-<split>.tsv`` (``qid<TAB>query``), ``qrels/*-<split>.tsv``
  (TREC qrels: ``qid Q0 docid relevance``) and the corpus as ``docs-*.jsonl(.gz)`` or
  ``corpus/*.jsonl(.gz)`` (``docid``, ``title``, ``text``), as in the MIRACL releases.
- **webfaq**: the ir_datasets WebFAQ archive of one language: ``documents.jsonl`` (``doc_id``,
  ``text``), ``<split>/queries.jsonl`` (``query_id``, ``text``) and ``<split>/qrels`` (TREC
  qrels); the splits are ``training`` (``train`` is accepted) and ``test``. The hub's
  ``PaDaS-Lab/webfaq-retrieval`` files of one language follow the beir layout.
- **pairs**: a JSONL file of ``{"query": ..., "positive": ...}`` lines (``anchor`` is accepted
  for ``query``). The corpus is every distinct positive; each query's own positives are
  relevant. Identical texts share one id, so a reply given to two prompts is one document.
- **hub ids** (``owner/name`` or ``owner/name:subset``, when no local path has that name): the
  ``corpus``/``queries``/``qrels`` configs of the BEIR/MTEB convention, or
  ``<subset>-corpus``/``<subset>-queries``/``<subset>-qrels`` for multilingual sets such as
  ``PaDaS-Lab/webfaq-retrieval:rus``. Needs the ``datasets`` package and a reachable hub.

Every loader ends in :func:`validate_dataset`: qrels naming unknown queries or documents are
counted and refused (or dropped with ``drop_unknown=True``), and empty corpora are refused.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sembridge.errors import ModelLoadError, SembridgeError
from sembridge.log import logger

DataFormat = Literal["auto", "beir", "miracl", "webfaq", "pairs", "hub"]
DATA_FORMATS: tuple[str, ...] = ("auto", "beir", "miracl", "webfaq", "pairs", "hub")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(:[\w./-]+)?$")
_DOC_ID_KEYS = ("_id", "docid", "doc_id", "id")
_QUERY_ID_KEYS = ("_id", "query_id", "qid", "id")
_QUERY_TEXT_KEYS = ("text", "query", "title")
_PAIR_QUERY_KEYS = ("query", "anchor", "question")
_PAIR_POSITIVE_KEYS = ("positive", "answer", "document")


@dataclass
class RetrievalDataset:
    """A corpus (doc id -> text), queries (query id -> text) and qrels (query id -> doc id -> grade)."""

    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    name: str = ""
    source: str = ""
    format: str = ""
    split: str = ""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Counts and provenance, as stored in the evaluation report."""
        return {
            "name": self.name,
            "source": self.source,
            "format": self.format,
            "split": self.split,
            "documents": len(self.corpus),
            "queries": len(self.queries),
            "judgements": sum(len(docs) for docs in self.qrels.values()),
            "relevant": sum(1 for docs in self.qrels.values() for grade in docs.values() if grade > 0),
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------------------
# Entry point


def load_retrieval_data(
    source: str | Path,
    split: str = "test",
    data_format: DataFormat | str = "auto",
    drop_unknown: bool = False,
) -> RetrievalDataset:
    """Load and validate a retrieval data set from a local folder, a pairs JSONL file or a hub id."""
    if data_format not in DATA_FORMATS:
        raise SembridgeError(
            f"unknown data format '{data_format}'", hint=f"use one of: {', '.join(DATA_FORMATS)}"
        )
    text = str(source)
    path = Path(text).expanduser()
    if data_format == "hub" or (data_format == "auto" and not path.exists() and _HUB_ID.match(text)):
        dataset = load_hub_dataset(text, split)
    elif not path.exists():
        raise SembridgeError(
            f"data source '{text}' does not exist",
            hint="pass a BEIR/MIRACL/WebFAQ folder, a JSONL of query/positive pairs, or a hub id owner/name",
        )
    else:
        fmt = detect_format(path) if data_format == "auto" else data_format
        loader = {"beir": load_beir, "miracl": load_miracl, "webfaq": load_webfaq}.get(fmt)
        if fmt == "pairs":
            dataset = load_pairs_jsonl(path)
        elif loader is not None:
            if not path.is_dir():
                raise SembridgeError(f"the {fmt} layout needs a folder, but '{path}' is a file")
            dataset = loader(path, split)
        else:  # pragma: no cover - detect_format only returns known names
            raise SembridgeError(f"unknown data format '{fmt}'")
    return validate_dataset(dataset, drop_unknown=drop_unknown)


def detect_format(path: Path) -> str:
    """Name the layout of a local data source: beir, miracl, webfaq or pairs."""
    if path.is_file():
        if _is_jsonl(path):
            return "pairs"
        raise SembridgeError(
            f"cannot tell the layout of file '{path}'",
            hint="a single file must be a JSONL of query/positive pairs (.jsonl or .jsonl.gz)",
        )
    if (path / "topics").is_dir() and (path / "qrels").is_dir():
        return "miracl"
    if _first_existing(path, "documents.jsonl") is not None:
        return "webfaq"
    if _first_existing(path, "corpus.jsonl") is not None:
        return "beir"
    raise SembridgeError(
        f"'{path}' is not a known data layout",
        hint="expected corpus.jsonl + queries.jsonl + qrels/<split>.tsv (BEIR), topics/ + qrels/ (MIRACL) "
        "or documents.jsonl + <split>/ (WebFAQ); see `sembridge evaluate --help`",
    )


# --------------------------------------------------------------------------------------------
# Layouts


def load_beir(folder: Path, split: str = "test") -> RetrievalDataset:
    """BEIR layout: corpus.jsonl, queries.jsonl and qrels/<split>.tsv (or .jsonl)."""
    corpus_file = _require(folder, "corpus.jsonl", "BEIR corpus")
    queries_file = _require(folder, "queries.jsonl", "BEIR queries")
    candidates = [
        folder / "qrels" / f"{split}.tsv",
        folder / "qrels" / f"{split}.jsonl",
        folder / "qrels" / f"{split}.jsonl.gz",
        folder / f"{split}.tsv",
        folder / f"{split}.jsonl",
    ]
    qrels_file = next((c for c in candidates if c.is_file()), None)
    if qrels_file is None:
        raise SembridgeError(
            f"no qrels for split '{split}' in '{folder}' "
            f"(looked for qrels/{split}.tsv and qrels/{split}.jsonl)",
            hint=f"pass the split that exists with --split (found: {_available_splits(folder) or 'none'})",
        )
    return RetrievalDataset(
        corpus=read_corpus_jsonl(corpus_file),
        queries=read_queries_jsonl(queries_file),
        qrels=read_qrels(qrels_file),
        name=folder.name,
        source=str(folder),
        format="beir",
        split=split,
    )


def load_miracl(folder: Path, split: str = "dev") -> RetrievalDataset:
    """MIRACL layout: topics/*-<split>.tsv, qrels/*-<split>.tsv and docs-*.jsonl(.gz) corpus files."""
    topics = sorted((folder / "topics").glob(f"*{split}.tsv"))
    qrels_files = sorted((folder / "qrels").glob(f"*{split}.tsv"))
    if not topics or not qrels_files:
        found = sorted(p.name for p in (folder / "topics").glob("*.tsv"))
        raise SembridgeError(
            f"no MIRACL topics/qrels for split '{split}' in '{folder}'",
            hint=f"pass an existing split with --split (topics found: {', '.join(found) or 'none'})",
        )
    corpus_files = sorted(
        {*folder.rglob("docs-*.jsonl"), *folder.rglob("docs-*.jsonl.gz")}
        | {*(folder / "corpus").glob("*.jsonl"), *(folder / "corpus").glob("*.jsonl.gz")}
    )
    if not corpus_files:
        raise SembridgeError(
            f"no MIRACL corpus files in '{folder}'",
            hint="put the miracl-corpus docs-*.jsonl.gz files (or corpus/*.jsonl) inside the folder",
        )
    corpus: dict[str, str] = {}
    for file in corpus_files:
        _merge_unique(corpus, read_corpus_jsonl(file), file)
    queries: dict[str, str] = {}
    for file in topics:
        _merge_unique(queries, read_topics_tsv(file), file)
    qrels: dict[str, dict[str, int]] = {}
    for file in qrels_files:
        for qid, docs in read_qrels(file).items():
            qrels.setdefault(qid, {}).update(docs)
    return RetrievalDataset(corpus, queries, qrels, folder.name, str(folder), "miracl", split)


def load_webfaq(folder: Path, split: str = "test") -> RetrievalDataset:
    """WebFAQ layout (ir_datasets archive): documents.jsonl, <split>/queries.jsonl, <split>/qrels."""
    split_dir_name = "training" if split == "train" else split
    split_dir = folder / split_dir_name
    if not split_dir.is_dir():
        found = sorted(p.name for p in folder.iterdir() if p.is_dir())
        raise SembridgeError(
            f"no WebFAQ split folder '{split_dir_name}' in '{folder}'",
            hint=f"pass an existing split with --split (found: {', '.join(found) or 'none'})",
        )
    qrels_file = next(
        (p for p in (split_dir / "qrels", split_dir / "qrels.tsv", split_dir / "qrels.txt") if p.is_file()),
        None,
    )
    if qrels_file is None:
        raise SembridgeError(f"no qrels file in '{split_dir}'", hint="expected <split>/qrels in TREC format")
    return RetrievalDataset(
        corpus=read_corpus_jsonl(_require(folder, "documents.jsonl", "WebFAQ documents")),
        queries=read_queries_jsonl(_require(split_dir, "queries.jsonl", "WebFAQ queries")),
        qrels=read_qrels(qrels_file),
        name=folder.name,
        source=str(folder),
        format="webfaq",
        split=split,
    )


def load_pairs_jsonl(path: Path) -> RetrievalDataset:
    """A JSONL of query/positive pairs: the corpus is every distinct positive."""
    pairs: list[tuple[str, str]] = []
    for line_no, record in _read_jsonl(path):
        query = _pick(record, _PAIR_QUERY_KEYS)
        positive = _pick(record, _PAIR_POSITIVE_KEYS)
        if not isinstance(query, str) or not isinstance(positive, str):
            raise SembridgeError(
                f"line {line_no} of '{path}' is not a query/positive pair",
                hint='each line must be {"query": "...", "positive": "..."}',
            )
        pairs.append((query, positive))
    dataset = pairs_dataset(pairs, name=path.stem)
    dataset.source, dataset.format = str(path), "pairs"
    return dataset


def pairs_dataset(pairs: Iterable[tuple[str, str]], name: str = "pairs") -> RetrievalDataset:
    """Build a retrieval set from (query, positive) pairs.

    Documents are the distinct positives (``d0``, ``d1``, ... in order of first appearance);
    queries are the distinct query texts (``q0``, ``q1``, ...); a query is relevant (grade 1) to
    every positive it was paired with.
    """
    corpus: dict[str, str] = {}
    queries: dict[str, str] = {}
    doc_ids: dict[str, str] = {}
    query_ids: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for query, positive in pairs:
        query, positive = str(query).strip(), str(positive).strip()
        if not query or not positive:
            continue
        if positive not in doc_ids:
            doc_ids[positive] = f"d{len(doc_ids)}"
            corpus[doc_ids[positive]] = positive
        if query not in query_ids:
            query_ids[query] = f"q{len(query_ids)}"
            queries[query_ids[query]] = query
        qrels.setdefault(query_ids[query], {})[doc_ids[positive]] = 1
    return RetrievalDataset(corpus, queries, qrels, name=name, source=name, format="pairs", split="all")


def write_pairs_jsonl(pairs: Iterable[tuple[str, str]], path: str | Path) -> Path:
    """Write (query, positive) pairs as the JSONL that ``sembridge evaluate --data`` reads."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for query, positive in pairs:
            out.write(json.dumps({"query": query, "positive": positive}, ensure_ascii=False) + "\n")
    return path


def save_beir(dataset: RetrievalDataset, folder: str | Path, split: str = "test") -> Path:
    """Write a data set in the BEIR layout (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."""
    folder = Path(folder)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for doc_id, text in dataset.corpus.items():
            out.write(json.dumps({"_id": doc_id, "title": "", "text": text}, ensure_ascii=False) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as out:
        for query_id, text in dataset.queries.items():
            out.write(json.dumps({"_id": query_id, "text": text}, ensure_ascii=False) + "\n")
    with (folder / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for query_id, docs in dataset.qrels.items():
            for doc_id, grade in docs.items():
                out.write(f"{query_id}\t{doc_id}\t{grade}\n")
    return folder


# --------------------------------------------------------------------------------------------
# Hub


def load_hub_dataset(hub_id: str, split: str = "test") -> RetrievalDataset:
    """Load ``owner/name[:subset]`` through ``datasets.load_dataset`` (BEIR/MTEB config names)."""
    try:
        import datasets  # noqa: F401
    except ImportError as err:
        raise ModelLoadError(
            f"'{hub_id}' is not a local file or folder, and reading it as a hub data set needs the "
            "'datasets' package, which is not installed",
            hint="pip install datasets (the hub must be reachable), "
            "or download the data and pass the local folder",
        ) from err
    from datasets import load_dataset

    repo, _, subset = hub_id.partition(":")
    prefix = f"{subset}-" if subset else ""

    def load(config: str, wanted: str | None) -> Any:
        try:
            loaded = load_dataset(repo, config)
        except Exception as err:  # network, missing config, ...
            raise ModelLoadError(
                f"could not load config '{config}' of hub data set '{repo}': {err}",
                hint="is the hub reachable (HF_HUB_OFFLINE unset)? "
                "Otherwise download the data and pass the local folder",
            ) from err
        names = list(loaded.keys())
        if wanted is not None and wanted in loaded:
            return loaded[wanted]
        if wanted is not None and len(names) > 1 and config.endswith("qrels"):
            raise SembridgeError(
                f"hub data set '{repo}' has no split '{wanted}' in config '{config}'",
                hint=f"pass one of: {', '.join(names)} with --split",
            )
        return loaded[names[0]]

    corpus_rows = load(f"{prefix}corpus", None)
    query_rows = load(f"{prefix}queries", split)
    qrels_config = f"{prefix}qrels" if subset else "default"
    qrel_rows = load(qrels_config, split)
    corpus = {}
    for row in corpus_rows:
        doc_id = _pick(row, _DOC_ID_KEYS)
        corpus[str(doc_id)] = _doc_text(row)
    queries = {str(_pick(row, _QUERY_ID_KEYS)): str(_pick(row, _QUERY_TEXT_KEYS) or "") for row in query_rows}
    qrels: dict[str, dict[str, int]] = {}
    for row in qrel_rows:
        qrels.setdefault(str(row["query-id"]), {})[str(row["corpus-id"])] = int(row["score"])
    return RetrievalDataset(corpus, queries, qrels, hub_id, hub_id, "hub", split)


# --------------------------------------------------------------------------------------------
# Validation


def validate_dataset(dataset: RetrievalDataset, drop_unknown: bool = False) -> RetrievalDataset:
    """Refuse empty or inconsistent data; keep only the queries that have judgements.

    Qrels naming queries or documents that do not exist are counted and refused, unless
    ``drop_unknown`` (then those judgements are dropped and the counts are recorded in ``notes``).
    """
    where = dataset.source or dataset.name or "the data set"
    if not dataset.corpus:
        raise SembridgeError(f"the corpus of '{where}' is empty", hint="check the corpus file")
    if not dataset.queries:
        raise SembridgeError(f"'{where}' has no queries", hint="check the queries file")
    if not dataset.qrels:
        raise SembridgeError(
            f"'{where}' has no relevance judgements for split '{dataset.split}'", hint="check the qrels file"
        )
    unknown_queries = sorted(q for q in dataset.qrels if q not in dataset.queries)
    unknown_docs = sorted({d for docs in dataset.qrels.values() for d in docs if d not in dataset.corpus})
    if unknown_queries or unknown_docs:
        parts = []
        if unknown_queries:
            parts.append(
                f"{len(unknown_queries):,} of {len(dataset.qrels):,} judged queries are not in the queries "
                f"(e.g. {_examples(unknown_queries)})"
            )
        if unknown_docs:
            parts.append(
                f"{len(unknown_docs):,} judged documents are not in the corpus "
                f"(e.g. {_examples(unknown_docs)})"
            )
        message = f"the qrels of '{where}' name unknown ids: " + "; ".join(parts)
        if not drop_unknown:
            raise SembridgeError(
                message,
                hint="check that the qrels, queries and corpus belong together, or pass --drop-unknown-qrels",
            )
        logger.warning("%s; dropping those judgements", message)
        dataset.notes.append(message + " (dropped)")
        unknown_doc_set = set(unknown_docs)
        dataset.qrels = {
            qid: {d: g for d, g in docs.items() if d not in unknown_doc_set}
            for qid, docs in dataset.qrels.items()
            if qid in dataset.queries
        }
        dataset.qrels = {qid: docs for qid, docs in dataset.qrels.items() if docs}
        if not dataset.qrels:
            raise SembridgeError(f"no judgement of '{where}' is left after dropping unknown ids")
    if not any(grade > 0 for docs in dataset.qrels.values() for grade in docs.values()):
        raise SembridgeError(f"the qrels of '{where}' mark no document relevant (every grade is <= 0)")
    unjudged = len(dataset.queries) - len(dataset.qrels)
    if unjudged:
        logger.info(
            "%s: %d queries without judgements in split '%s' are left out", where, unjudged, dataset.split
        )
        dataset.queries = {qid: dataset.queries[qid] for qid in dataset.qrels}
    return dataset


# --------------------------------------------------------------------------------------------
# File readers


def read_corpus_jsonl(path: Path) -> dict[str, str]:
    """Documents keyed by ``_id``/``docid``/``doc_id``/``id``; text: ``title`` + ``text``, or ``contents``."""
    corpus: dict[str, str] = {}
    for line_no, record in _read_jsonl(path):
        doc_id = _pick(record, _DOC_ID_KEYS)
        if doc_id is None:
            raise SembridgeError(
                f"line {line_no} of '{path}' has no document id",
                hint=f"each line needs one of the keys {', '.join(_DOC_ID_KEYS)}",
            )
        doc_id = str(doc_id)
        if doc_id in corpus:
            raise SembridgeError(
                f"document id '{doc_id}' appears twice in '{path}' (again on line {line_no})"
            )
        corpus[doc_id] = _doc_text(record)
    return corpus


def read_queries_jsonl(path: Path) -> dict[str, str]:
    """Queries keyed by ``_id``/``query_id``/``qid``/``id`` with ``text`` (or ``query``)."""
    queries: dict[str, str] = {}
    for line_no, record in _read_jsonl(path):
        query_id = _pick(record, _QUERY_ID_KEYS)
        text = _pick(record, _QUERY_TEXT_KEYS)
        if query_id is None or not isinstance(text, str):
            raise SembridgeError(
                f"line {line_no} of '{path}' is not a query",
                hint='each line must be like {"_id": "q1", "text": "..."}',
            )
        query_id = str(query_id)
        if query_id in queries:
            raise SembridgeError(f"query id '{query_id}' appears twice in '{path}' (again on line {line_no})")
        queries[query_id] = text
    return queries


def read_topics_tsv(path: Path) -> dict[str, str]:
    """MIRACL topics: ``qid<TAB>query`` per line."""
    queries: dict[str, str] = {}
    for line_no, line in enumerate(_open_text(path), start=1):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        qid, sep, text = line.partition("\t")
        if not sep:
            raise SembridgeError(f"line {line_no} of '{path}' is not 'qid<TAB>query'")
        if qid in queries:
            raise SembridgeError(f"query id '{qid}' appears twice in '{path}' (again on line {line_no})")
        queries[qid] = text
    return queries


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Qrels as TREC (``qid Q0 docid grade``), BEIR TSV (``query-id corpus-id score``) or JSONL."""
    qrels: dict[str, dict[str, int]] = {}
    if _is_jsonl(path):
        for line_no, record in _read_jsonl(path):
            try:
                qid, did, grade = record["query-id"], record["corpus-id"], record["score"]
                qrels.setdefault(str(qid), {})[str(did)] = int(grade)
            except (KeyError, TypeError, ValueError) as err:
                raise SembridgeError(
                    f"line {line_no} of '{path}' is not a judgement",
                    hint='each line must be like {"query-id": "q1", "corpus-id": "d1", "score": 1}',
                ) from err
        return qrels
    for line_no, line in enumerate(_open_text(path), start=1):
        fields = line.split()
        if not fields:
            continue
        if line_no == 1 and len(fields) in (3, 4) and not _is_int(fields[-1]):
            continue  # a header such as "query-id corpus-id score"
        if len(fields) == 4:
            qid, _, did, grade = fields
        elif len(fields) == 3:
            qid, did, grade = fields
        else:
            raise SembridgeError(
                f"line {line_no} of '{path}' is not a judgement",
                hint="expected 'qid Q0 docid grade' (TREC) or 'query-id<TAB>corpus-id<TAB>score' (BEIR)",
            )
        if not _is_int(grade):
            raise SembridgeError(f"line {line_no} of '{path}': relevance '{grade}' is not a number")
        qrels.setdefault(qid, {})[did] = int(float(grade))
    return qrels


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for line_no, line in enumerate(_open_text(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise SembridgeError(f"line {line_no} of '{path}' is not valid JSON: {err.msg}") from err
        if not isinstance(record, dict):
            raise SembridgeError(f"line {line_no} of '{path}' is not a JSON object")
        yield line_no, record


def _open_text(path: Path) -> Iterator[str]:
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            yield from handle
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise SembridgeError(
            f"cannot read '{path}': {err}", hint="check that the file is UTF-8 text"
        ) from err


# --------------------------------------------------------------------------------------------
# Helpers


def _doc_text(record: dict[str, Any]) -> str:
    if isinstance(record.get("contents"), str):
        return record["contents"]
    title = record.get("title") or ""
    text = record.get("text") or ""
    if isinstance(text, dict):  # some MTEB sets nest {"title", "text"}
        title, text = text.get("title") or title, text.get("text") or ""
    return f"{title} {text}".strip() if title else str(text)


def _pick(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in record and record[key] is not None:
            return record[key]
    return None


def _is_jsonl(path: Path) -> bool:
    return path.name.endswith((".jsonl", ".jsonl.gz"))


def _is_int(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _first_existing(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _require(folder: Path, name: str, what: str) -> Path:
    found = _first_existing(folder, name)
    if found is None:
        raise SembridgeError(f"{what} file '{name}' is missing in '{folder}'")
    return found


def _available_splits(folder: Path) -> str:
    qrels_dir = folder / "qrels"
    if not qrels_dir.is_dir():
        return ""
    return ", ".join(sorted(p.name.split(".")[0] for p in qrels_dir.iterdir() if p.is_file()))


def _merge_unique(into: dict[str, str], new: dict[str, str], file: Path) -> None:
    for key, value in new.items():
        if key in into:
            raise SembridgeError(f"id '{key}' of '{file}' already appears in another file of the data set")
        into[key] = value


def _examples(ids: list[str], n: int = 3) -> str:
    shown = ", ".join(f"'{i}'" for i in ids[:n])
    return shown + (", ..." if len(ids) > n else "")


# --------------------------------------------------------------------------------------------
# Corpus or queries alone (for export)


def load_corpus(source: str | Path) -> dict[str, str]:
    """Only the documents of a source: a corpus JSONL, a pairs JSONL (its positives) or a data folder."""
    path = Path(source).expanduser()
    if not path.exists():
        raise SembridgeError(
            f"corpus '{source}' does not exist", hint="pass a corpus.jsonl file or a data folder"
        )
    if path.is_dir():
        fmt = detect_format(path)
        if fmt == "beir":
            corpus = read_corpus_jsonl(_require(path, "corpus.jsonl", "BEIR corpus"))
        elif fmt == "webfaq":
            corpus = read_corpus_jsonl(_require(path, "documents.jsonl", "WebFAQ documents"))
        else:  # miracl
            files = sorted({*path.rglob("docs-*.jsonl"), *path.rglob("docs-*.jsonl.gz")})
            files += sorted({*(path / "corpus").glob("*.jsonl"), *(path / "corpus").glob("*.jsonl.gz")})
            corpus = {}
            for file in files:
                _merge_unique(corpus, read_corpus_jsonl(file), file)
    elif _is_jsonl(path) and _looks_like_pairs(path):
        corpus = load_pairs_jsonl(path).corpus
    elif _is_jsonl(path):
        corpus = read_corpus_jsonl(path)
    else:
        raise SembridgeError(
            f"cannot read a corpus from '{path}'",
            hint="pass a .jsonl corpus (one document per line) or a data folder",
        )
    if not corpus:
        raise SembridgeError(f"the corpus of '{source}' is empty", hint="check the corpus file")
    return corpus


def load_queries(source: str | Path) -> dict[str, str]:
    """Only the queries of a source: queries JSONL, topics TSV (``qid<TAB>text``) or a pairs JSONL."""
    path = Path(source).expanduser()
    if not path.is_file():
        raise SembridgeError(
            f"queries file '{source}' does not exist", hint="pass a queries.jsonl or topics .tsv"
        )
    if _is_jsonl(path):
        queries = load_pairs_jsonl(path).queries if _looks_like_pairs(path) else read_queries_jsonl(path)
    else:
        queries = read_topics_tsv(path)
    if not queries:
        raise SembridgeError(f"'{source}' holds no query")
    return queries


def _looks_like_pairs(path: Path) -> bool:
    for _, record in _read_jsonl(path):
        return _pick(record, _PAIR_QUERY_KEYS) is not None and _pick(record, _PAIR_POSITIVE_KEYS) is not None
    return False
