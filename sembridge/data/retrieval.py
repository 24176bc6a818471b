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
- **pairs**: query/positive pairs, read exactly as ``sembridge finetune`` reads them
  (:mod:`sembridge.data.pairs`: JSONL, JSON, CSV, TSV, Parquet, ``.gz``, folders, the same
  column names). The corpus is every distinct positive; each query's own positives are
  relevant. Identical texts share one id, so a reply given to two prompts is one document.
- **hub ids** (``owner/name`` or ``owner/name:subset``, when no local path has that name): the
  ``corpus``/``queries``/``qrels`` configs of the BEIR/MTEB convention, or
  ``<subset>-corpus``/``<subset>-queries``/``<subset>-qrels`` for multilingual sets such as
  ``PaDaS-Lab/webfaq-retrieval:rus``. Needs the ``datasets`` package and a reachable hub.

Every loader ends in :func:`validate_dataset`: qrels naming unknown queries or documents are
counted and refused (or dropped with ``drop_unknown=True``), and empty corpora are refused;
documents without text and qrels judging one query and document twice, differently, are warned
about.
:func:`load_corpus` and :func:`load_queries` read one side alone (for ``sembridge export``);
:func:`stream_corpus` reads a large corpus one document at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sembridge.data.columns import (
    DOC_ID_NAMES,
    QRELS_NAMES,
    QUERY_ID_NAMES,
    QUERY_TEXT_NAMES,
    document_text,
    pick_column,
    pick_text,
    pick_value,
)
from sembridge.data.hub import is_hub_id, load_hub_config
from sembridge.data.pairs import DataOptions, has_pair_columns, read_pairs
from sembridge.data.readers import data_files, first_record, is_data_file, is_saved_dataset, read_file
from sembridge.data.trec import QrelsConflicts, read_qrels, read_topics
from sembridge.errors import SembridgeError
from sembridge.log import logger

DataFormat = Literal["auto", "beir", "miracl", "webfaq", "pairs", "hub"]
DATA_FORMATS: tuple[str, ...] = ("auto", "beir", "miracl", "webfaq", "pairs", "hub")


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
    """Load and validate a retrieval data set from a local folder, a pairs file or a hub id."""
    if data_format not in DATA_FORMATS:
        raise SembridgeError(
            f"unknown data format '{data_format}'", hint=f"use one of: {', '.join(DATA_FORMATS)}"
        )
    text = str(source)
    path = Path(text).expanduser()
    if data_format == "hub" or (data_format == "auto" and is_hub_id(text)):
        dataset = load_hub_dataset(text, split)
    elif data_format == "pairs":
        dataset = load_pairs_data(source, split)
    elif not path.exists():
        raise SembridgeError(
            f"data source '{text}' does not exist",
            hint="pass a BEIR/MIRACL/WebFAQ folder, a file of query/positive pairs, or a hub id owner/name",
        )
    else:
        fmt = detect_format(path) if data_format == "auto" else data_format
        loader = {"beir": load_beir, "miracl": load_miracl, "webfaq": load_webfaq}.get(fmt)
        if fmt == "pairs":
            dataset = load_pairs_data(path, split)
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
        if is_data_file(path):
            return "pairs"
        raise SembridgeError(
            f"cannot tell the layout of file '{path}'",
            hint="a single file must hold query/positive pairs (.jsonl, .json, .csv, .tsv, .parquet, "
            "optionally .gz)",
        )
    if (path / "topics").is_dir() and (path / "qrels").is_dir():
        return "miracl"
    if _first_existing(path, "documents.jsonl") is not None:
        return "webfaq"
    if _first_existing(path, "corpus.jsonl") is not None:
        return "beir"
    if is_saved_dataset(path) or data_files(path):
        return "pairs"
    raise SembridgeError(
        f"'{path}' is not a known data layout",
        hint="expected corpus.jsonl + queries.jsonl + qrels/<split>.tsv (BEIR), topics/ + qrels/ (MIRACL), "
        "documents.jsonl + <split>/ (WebFAQ) or files of query/positive pairs; "
        "see `sembridge evaluate --help`",
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
        corpus=read_corpus(corpus_file),
        queries=read_queries(queries_file),
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
    corpus = _miracl_corpus(folder)
    queries: dict[str, str] = {}
    for file in topics:
        _merge_unique(queries, read_topics(file), file)
    qrels: dict[str, dict[str, int]] = {}
    conflicts = QrelsConflicts()  # between files (read_qrels warns of those inside one)
    for file in qrels_files:
        for qid, docs in read_qrels(file).items():
            for did, grade in docs.items():
                conflicts.add(qrels, qid, did, grade, file.name)
    conflicts.warn(f"the qrels of '{folder}'")
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
        corpus=read_corpus(_require(folder, "documents.jsonl", "WebFAQ documents")),
        queries=read_queries(_require(split_dir, "queries.jsonl", "WebFAQ queries")),
        qrels=read_qrels(qrels_file),
        name=folder.name,
        source=str(folder),
        format="webfaq",
        split=split,
    )


def load_pairs_data(
    source: str | Path, split: str = "test", options: DataOptions | None = None
) -> RetrievalDataset:
    """Query/positive pairs read as ``sembridge finetune`` reads them; the corpus is every distinct positive.

    ``options`` (default: automatic columns, negatives unused) names columns and layout; ``split``
    picks the split of a hub or ``save_to_disk`` source when ``options`` is not given.
    """
    options = options or DataOptions(negatives=False, split=split)
    pairs = read_pairs(source, options)
    name = Path(source).stem if Path(source).expanduser().exists() else str(source)
    dataset = pairs_dataset(zip(pairs["query"], pairs["positive"], strict=True), name=name)
    dataset.source, dataset.format = str(source), "pairs"
    return dataset


def pairs_dataset(
    pairs: Iterable[tuple[str, str]], name: str = "pairs", negatives: Iterable[str] = ()
) -> RetrievalDataset:
    """Build a retrieval set from (query, positive) pairs, and optional extra documents.

    Documents are the distinct positives (``d0``, ``d1``, ... in order of first appearance), then
    the distinct ``negatives`` not already among them (documents no query is relevant to);
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
    for negative in negatives:
        negative = str(negative).strip()
        if negative and negative not in doc_ids:
            doc_ids[negative] = f"d{len(doc_ids)}"
            corpus[doc_ids[negative]] = negative
    return RetrievalDataset(corpus, queries, qrels, name=name, source=name, format="pairs", split="all")


def load_hub_dataset(hub_id: str, split: str = "test") -> RetrievalDataset:
    """Load ``owner/name[:subset]`` through ``datasets.load_dataset`` (BEIR/MTEB config names)."""
    repo, _, subset = hub_id.partition(":")
    prefix = f"{subset}-" if subset else ""

    def load(config: str, wanted: str | None) -> Any:
        loaded = load_hub_config(hub_id, config)
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
    qrel_rows = load(f"{prefix}qrels" if subset else "default", split)
    corpus = {
        str(pick_value(row, DOC_ID_NAMES)): document_text(row, f"{repo}[corpus] row {number}")
        for number, row in enumerate(corpus_rows, start=1)
    }
    queries = {
        str(pick_value(row, QUERY_ID_NAMES)): (
            pick_text(row, QUERY_TEXT_NAMES, f"{repo}[queries] row {number}") or ""
        )
        for number, row in enumerate(query_rows, start=1)
    }
    query_key, doc_key, score_key = QRELS_NAMES
    qrels: dict[str, dict[str, int]] = {}
    conflicts = QrelsConflicts()
    for number, row in enumerate(qrel_rows, start=1):
        where = f"{repo}[qrels] row {number}"
        conflicts.add(qrels, str(row[query_key]), str(row[doc_key]), int(row[score_key]), where)
    conflicts.warn(hub_id)
    return RetrievalDataset(corpus, queries, qrels, hub_id, hub_id, "hub", split)


# --------------------------------------------------------------------------------------------
# Validation


def validate_dataset(dataset: RetrievalDataset, drop_unknown: bool = False) -> RetrievalDataset:
    """Refuse empty or inconsistent data; keep only the queries that have judgements.

    Qrels naming queries or documents that do not exist are counted and refused, unless
    ``drop_unknown`` (then those judgements are dropped and the counts are recorded in ``notes``).
    Documents with empty text are kept, with a warning (:func:`warn_empty_documents`).
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
    warn_empty_documents(dataset.corpus, where)
    unjudged = len(dataset.queries) - len(dataset.qrels)
    if unjudged:
        logger.info(
            "%s: %d queries without judgements in split '%s' are left out", where, unjudged, dataset.split
        )
        dataset.queries = {qid: dataset.queries[qid] for qid in dataset.qrels}
    return dataset


# --------------------------------------------------------------------------------------------
# Corpus and queries files


def iter_corpus_file(path: Path) -> Iterator[tuple[str, str, str]]:
    """``(where, document id, text)`` for each record of a corpus file, in file order, one at a
    time; ids are ``_id``/``docid``/``doc_id``/``id``, text ``title`` + ``text``, or ``contents``."""
    for where, record in read_file(path):
        doc_id = pick_value(record, DOC_ID_NAMES) if isinstance(record, dict) else None
        if doc_id is None:
            raise SembridgeError(
                f"{where}: no document id",
                hint=f"each record needs one of the keys {', '.join(DOC_ID_NAMES)}",
            )
        yield where, str(doc_id), document_text(record, where)


def read_corpus(path: Path) -> dict[str, str]:
    """Documents keyed by ``_id``/``docid``/``doc_id``/``id``; text: ``title`` + ``text``, or ``contents``."""
    corpus: dict[str, str] = {}
    for where, doc_id, text in iter_corpus_file(path):
        if doc_id in corpus:
            raise SembridgeError(f"document id '{doc_id}' appears twice in '{path}' (again at {where})")
        corpus[doc_id] = text
    return corpus


@dataclass(frozen=True)
class CorpusStream:
    """The documents of corpus files, read one at a time each time it is iterated: the corpus of
    an export too large to hold (:func:`stream_corpus`). Iterating yields ``(id, text)`` in file
    order; :meth:`located` also gives where each record is. Ids are not checked for repeats here
    (that needs every id at once): :func:`sembridge.export.export_vectors` checks them with 8 bytes
    a document."""

    files: tuple[Path, ...]

    def located(self) -> Iterator[tuple[str, str, str]]:
        for file in self.files:
            yield from iter_corpus_file(file)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for _, doc_id, text in self.located():
            yield doc_id, text

    def __str__(self) -> str:
        return (
            str(self.files[0])
            if len(self.files) == 1
            else f"{self.files[0].parent} ({len(self.files)} files)"
        )


def stream_corpus(source: str | Path) -> CorpusStream | None:
    """The corpus of ``source`` as a :class:`CorpusStream`, or None when it cannot be streamed.

    A corpus file and the corpus of a BEIR, WebFAQ or MIRACL folder stream; a pairs file or
    folder does not (its documents are its distinct positives, found by reading every pair):
    read it with :func:`load_corpus`.
    """
    path = Path(source).expanduser()
    if not path.exists():
        load_corpus(source)  # raises its error for a missing path
    if path.is_dir():
        fmt = detect_format(path)
        if fmt == "beir":
            return CorpusStream((_require(path, "corpus.jsonl", "BEIR corpus"),))
        if fmt == "webfaq":
            return CorpusStream((_require(path, "documents.jsonl", "WebFAQ documents"),))
        if fmt == "miracl":
            files = _miracl_files(path)
            return CorpusStream(tuple(files)) if files else None
        return None
    if is_data_file(path) and not _holds_pairs(path):
        return CorpusStream((path,))
    return None


def read_queries(path: Path) -> dict[str, str]:
    """Queries keyed by ``_id``/``query_id``/``qid``/``id`` with ``text`` (or ``query``, ``question``)."""
    queries: dict[str, str] = {}
    for where, record in read_file(path):
        query_id = pick_value(record, QUERY_ID_NAMES) if isinstance(record, dict) else None
        text = pick_text(record, QUERY_TEXT_NAMES, where) if isinstance(record, dict) else None
        if query_id is None or not isinstance(text, str):
            raise SembridgeError(
                f"{where}: not a query", hint='each record must be like {"_id": "q1", "text": "..."}'
            )
        query_id = str(query_id)
        if query_id in queries:
            raise SembridgeError(f"query id '{query_id}' appears twice in '{path}' (again at {where})")
        queries[query_id] = text
    return queries


def load_corpus(source: str | Path) -> dict[str, str]:
    """Only the documents of a source: a corpus file, a pairs file (its positives) or a data folder."""
    path = Path(source).expanduser()
    if not path.exists():
        raise SembridgeError(
            f"corpus '{source}' does not exist",
            hint="pass a corpus.jsonl file, a pairs file or a data folder",
        )
    if path.is_dir():
        fmt = detect_format(path)
        if fmt == "beir":
            corpus = read_corpus(_require(path, "corpus.jsonl", "BEIR corpus"))
        elif fmt == "webfaq":
            corpus = read_corpus(_require(path, "documents.jsonl", "WebFAQ documents"))
        elif fmt == "miracl":
            corpus = _miracl_corpus(path, required=False)
        else:
            corpus = load_pairs_data(path).corpus
    elif _holds_pairs(path):
        corpus = load_pairs_data(path).corpus
    elif is_data_file(path):
        corpus = read_corpus(path)
    else:
        raise SembridgeError(
            f"cannot read a corpus from '{path}'",
            hint="pass a .jsonl corpus (one document per line), a pairs file or a data folder",
        )
    if not corpus:
        raise SembridgeError(f"the corpus of '{source}' is empty", hint="check the corpus file")
    warn_empty_documents(corpus, str(source))
    return corpus


def warn_empty_documents(corpus: dict[str, str], where: str) -> None:
    """Warn once when documents of ``corpus`` have no text (empty or white space): they are kept
    (their ids stay valid in the qrels), but hold nothing a query can match."""
    empty = [doc_id for doc_id, text in corpus.items() if not text.strip()]
    report_empty_documents(empty, len(empty), where)


def report_empty_documents(examples: list[str], count: int, where: str) -> None:
    """The warning of :func:`warn_empty_documents` for ``count`` documents without text, named by
    ``examples`` (the first of their ids; a corpus read as a stream keeps only a few)."""
    if count:
        logger.warning(
            "the corpus of '%s' holds %d document(s) with empty text (e.g. %s); they are kept, but "
            "hold nothing a query can match",
            where,
            count,
            _examples(examples) + (", ..." if count > len(examples) else ""),
        )


def load_queries(source: str | Path) -> dict[str, str]:
    """Only the queries of a source: a queries file, a pairs file or a topics file (``qid<TAB>text``)."""
    path = Path(source).expanduser()
    if not path.is_file():
        raise SembridgeError(
            f"queries file '{source}' does not exist",
            hint="pass a queries.jsonl, a pairs file or a topics .tsv",
        )
    first = first_record(path) if is_data_file(path) else None
    topics = path.name.lower().endswith((".tsv", ".tsv.gz")) and not _has_query_columns(first)
    if first is not None and has_pair_columns(first):
        queries = load_pairs_data(path).queries
    elif is_data_file(path) and not topics:
        queries = read_queries(path)
    else:
        queries = read_topics(path)
    if not queries:
        raise SembridgeError(f"'{source}' holds no query")
    return queries


# --------------------------------------------------------------------------------------------
# Helpers


def _holds_pairs(path: Path) -> bool:
    first = first_record(path) if is_data_file(path) else None
    return first is not None and has_pair_columns(first)


def _has_query_columns(record: dict[str, Any] | None) -> bool:
    if record is None:
        return False
    keys = list(record)
    return pick_column(QUERY_ID_NAMES, keys) is not None and pick_column(QUERY_TEXT_NAMES, keys) is not None


def _miracl_files(folder: Path) -> list[Path]:
    return sorted(
        {*folder.rglob("docs-*.jsonl"), *folder.rglob("docs-*.jsonl.gz")}
        | {*(folder / "corpus").glob("*.jsonl"), *(folder / "corpus").glob("*.jsonl.gz")}
    )


def _miracl_corpus(folder: Path, required: bool = True) -> dict[str, str]:
    files = _miracl_files(folder)
    if not files and required:
        raise SembridgeError(
            f"no MIRACL corpus files in '{folder}'",
            hint="put the miracl-corpus docs-*.jsonl.gz files (or corpus/*.jsonl) inside the folder",
        )
    corpus: dict[str, str] = {}
    for file in files:
        _merge_unique(corpus, read_corpus(file), file)
    return corpus


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
