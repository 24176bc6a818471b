"""The export loop: stream a corpus (and its queries) through the encoder once, prune, quantise,
and write each part of the corpus in the chosen format (:mod:`sembridge.export.base`), part by
part (:mod:`sembridge.export.parts`: shards, resuming); ``export.json`` records it."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from sembridge.data.retrieval import CorpusStream, report_empty_documents
from sembridge.encoding.encode import (
    default_chunk_size,
    encoding_pool,
    iter_encoded,
    load_encoder,
    resolve_devices,
    vocabulary_terms,
)
from sembridge.encoding.pruning import Pruning
from sembridge.encoding.terms import drop_special_tokens, special_token_ids
from sembridge.errors import OutputExistsError, SembridgeError, UsageError
from sembridge.export.anserini import AnseriniWriter
from sembridge.export.base import (
    DEFAULT_DOCS_PER_FILE,
    DEFAULT_HITS,
    VectorWriter,
    concatenate_parts,
    quantize,
)
from sembridge.export.elastic import ElasticsearchWriter, OpenSearchWriter
from sembridge.export.parts import IdSet, PartFile, PartLog, Shard, cut_parts, ids_digest
from sembridge.export.qdrant import QdrantWriter
from sembridge.export.seismic import SEISMIC_DOCUMENTS, SeismicWriter
from sembridge.io import (
    atomic_output_dir,
    check_output_dir,
    check_resumable_output,
    resumable_output_dir,
    write_json,
)
from sembridge.loading import check_model_source
from sembridge.log import logger, progress

WRITERS: dict[str, type[VectorWriter]] = {
    writer.format: writer
    for writer in (AnseriniWriter, SeismicWriter, OpenSearchWriter, ElasticsearchWriter, QdrantWriter)
}
EXPORT_FORMATS = tuple(WRITERS)

__all__ = ["EXPORT_FORMATS", "WRITERS", "check_scale", "export_anserini", "export_vectors", "merge_shards"]

# quantize() makes 64-bit integers: no format holds a larger impact, whatever its engine stores.
INT64_MAX = int(np.iinfo(np.int64).max)


def check_scale(scale: float) -> None:
    """Refuse a ``--scale`` that is not a finite number above 0 (before anything is read or encoded)."""
    if not scale > 0 or not math.isfinite(scale):
        raise UsageError(
            f"scale must be positive and finite, got {scale}", hint="the default is 100, as in pyserini"
        )


def impact_limits(writer_class: type[VectorWriter]) -> tuple[int, int]:
    """``(largest impact the format stores, largest its engine keeps exactly)``, from the writer
    class's ``impact_limit`` and ``exact_impact_limit`` (bounded by the 64-bit integers written)."""
    limit = min(int(writer_class.impact_limit), INT64_MAX)
    return limit, min(int(writer_class.exact_impact_limit), limit)


Corpus = Mapping[str, str] | CorpusStream | Iterable[tuple[str, str]]


def export_vectors(
    model: Any,
    corpus: Corpus,
    out_dir: str | Path,
    *,
    format: str = "anserini",
    scale: float = 100.0,
    pruning: Pruning | None = None,
    queries: Mapping[str, str] | None = None,
    batch_size: int = 32,
    device: str = "auto",
    processes: int = 1,
    max_length: int | None = None,
    overwrite: bool = False,
    docs_per_file: int | None = None,
    show_progress: bool = True,
    hits: int = DEFAULT_HITS,
    shard: str | tuple[int, int] | Shard | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Encode ``corpus`` (and ``queries``) with a sparse encoder and write them in ``format``.

    ``corpus``: id -> text, a :class:`~sembridge.data.CorpusStream` (:func:`~sembridge.data.stream_corpus`:
    files read one document at a time, so memory stays flat whatever their size), or any iterable
    of ``(id, text)`` pairs (read once; ids are then checked as they come, and a repeated id is
    found only at the end). ``hits``: the number of results each written query body asks for
    (OpenSearch, Elasticsearch, Qdrant), a full evaluation depth by default.

    ``pruning`` applies to the documents (mass first, then the term cap). The documents are
    written in parts of ``docs_per_file`` (default: the format's own, 100,000; 5,000 for bulk
    files), each renamed into place when it is whole (:mod:`sembridge.export.parts`); the output
    folder is built as ``OUT.partial`` and moved onto ``out_dir`` at the end. ``resume``: continue
    the ``OUT.partial`` a killed or failed run left, after its last whole part (a finished
    ``out_dir`` with the same settings is returned as it is). ``shard``: ``"I/N"`` writes only
    the parts whose number is I modulo N, under their global numbers (queries go with shard 0);
    :func:`~sembridge.export.merge_shards` joins the shards' folders. Returns the summary that
    is also written to ``export.json``.
    """
    if format not in WRITERS:
        raise SembridgeError(
            f"unknown export format '{format}'", hint=f"use one of: {', '.join(EXPORT_FORMATS)}"
        )
    writer_class = WRITERS[format]
    check_scale(scale)
    limit, exact_limit = impact_limits(writer_class)
    docs_per_file = writer_class.default_docs_per_file if docs_per_file is None else docs_per_file
    if isinstance(hits, bool) or not isinstance(hits, int) or hits < 1:
        raise UsageError(f"--hits must be a positive integer, got {hits!r}")
    if isinstance(docs_per_file, bool) or not isinstance(docs_per_file, int) or docs_per_file < 1:
        raise SembridgeError(f"docs_per_file must be a positive integer, got {docs_per_file}.")
    shard = Shard.parse(shard)
    if isinstance(corpus, Mapping) and not corpus:
        raise SembridgeError("the corpus to export is empty", hint="check --corpus")
    if isinstance(corpus, Mapping):
        writer_class.check_ids(corpus, "document")  # before the slow encoding, nothing written yet
    if queries:
        writer_class.check_ids(queries, "query")
    pruning = pruning or Pruning()
    devices = resolve_devices(device, processes)
    if isinstance(model, (str, Path)):
        check_model_source(model)
    out_dir = Path(out_dir)
    if resume and not overwrite and (out_dir / "export.json").is_file():
        return _finished(out_dir, format, scale, pruning, docs_per_file, shard, model)
    check_resumable_output(out_dir, overwrite, resume, {"model": model})
    documents = _checked_stream(corpus, writer_class, show_progress)

    start = time.perf_counter()
    encoder = load_encoder(model, device=devices[0], max_length=max_length)
    special = special_token_ids(encoder.tokenizer)
    tokens = vocabulary_terms(encoder, _output_dimension(encoder))
    special = special[special < len(tokens)]
    settings = {
        "format": format,
        "model": _model_name(model),
        "scale": scale,
        "pruning": pruning.to_dict(),
        "max_length": encoder.max_seq_length,
        "docs_per_file": docs_per_file,
        "shard": str(shard),
        "vocab_size": len(tokens),
    }
    with (
        resumable_output_dir(out_dir, overwrite, resume, {"model": model}) as work,
        encoding_pool(encoder, devices) as pool,
    ):
        writer = writer_class(work.path, tokens, frozenset(int(i) for i in special), hits=hits)
        writer.start()
        log = PartLog(work.path, settings, work.resumed)
        if log.parts:
            logger.info("resuming %s: %d part(s) already written", work.path, len(log.parts))
        ids_seen = IdSet() if documents.once else None
        encode = partial(
            _iter_impacts, encoder, special=special, pruning=pruning, scale=scale, batch_size=batch_size,
            pool=pool, max_impact=limit, format=format,
        )  # fmt: skip
        with progress(disable=not show_progress) as bar:
            task = bar.add_task(f"documents (shard {shard})" if not shard.whole else "documents",
                                total=documents.size if shard.whole else None)  # fmt: skip
            parts = 0
            for number, records in cut_parts(documents, docs_per_file):
                parts += 1
                if not shard.owns(number):
                    if ids_seen is not None:
                        for doc_id, _ in records:
                            ids_seen.add(doc_id)
                    continue
                if number in log.parts:
                    log.check_ids(number, ids_digest(doc_id for doc_id, _ in records))
                    bar.advance(task, log.parts[number]["documents"])
                    continue
                part = PartFile(work.path / writer.part_name(number))
                try:
                    figures = _write_part(
                        part, writer, encode, records, number * docs_per_file, writer_class,
                        ids_seen, lambda n: bar.advance(task, n), docs_per_file,
                    )  # fmt: skip
                except BaseException:
                    part.discard()
                    raise
                part.commit()
                log.add(number, figures)
                work.keep = True
        if parts == 0:
            raise SembridgeError("the corpus to export is empty", hint="check --corpus")
        if ids_seen is not None and (repeated := ids_seen.repeated()):
            work.keep = False  # the input has to change: nothing to resume
            raise SembridgeError(
                f"{len(repeated)} document id(s) appear more than once in the corpus",
                hint="give every document its own id",
            )
        counts: dict[str, Any] = log.totals()
        if queries and shard.index == 0:
            counts.update(queries=0, empty_queries=0)
            omitted: list[str] = []
            query_ids = list(queries)
            for query_id, text, ids, impacts in encode(
                query_ids,
                [queries[i] for i in query_ids],
                "query",
                pruning=Pruning(),
                show_progress=show_progress,
            ):
                if len(ids) == 0:  # no engine takes a query without a term (Anserini drops the file)
                    omitted.append(query_id)
                    continue
                writer.add_query(query_id, text, ids, impacts)
                counts["queries"] += 1
            counts["empty_queries"] = len(omitted)
            counts["empty_queries_omitted"] = omitted
        extra = writer.finish(sorted(log.parts), complete=shard.whole)
        summary = {
            **{key: settings[key] for key in ("format", "model", "scale", "pruning", "max_length")},
            "hits": hits,
            **counts,
            **extra,
            "mean_document_terms": round(counts["postings"] / max(counts["documents"], 1), 3),
            "vocab_size": len(tokens),
            "special_tokens_excluded": [tokens[i] for i in special],
            "docs_per_file": docs_per_file,
            "shard": str(shard),
            "parts": sorted(log.parts),
            "total_parts": parts,
            "seconds": round(time.perf_counter() - start, 3),
        }
        log.remove()
        write_json(work.path / "export.json", summary)
    _warn(summary, exact_limit, scale, format)
    summary["output"] = str(out_dir)
    return summary


# What each shard's export.json holds of its own: summed, or taken from the shard with the queries.
_PER_SHARD = ("parts", "seconds", "queries", "empty_queries", "empty_queries_omitted")
# What the shards of one export share, and so what merge_shards checks is the same in each.
_SHARED_SETTINGS = (
    "format",
    "model",
    "scale",
    "pruning",
    "max_length",
    "docs_per_file",
    "vocab_size",
    "total_parts",
)


def merge_shards(
    shards: Iterable[str | Path], out_dir: str | Path, *, overwrite: bool = False
) -> dict[str, Any]:
    """Join the folders of the N shards of one export (``--shard 0/N`` ... ``N-1/N``) into one
    export folder, the same file for file as an unsharded export of the corpus; return its summary.

    The shards must agree on the settings and hold between them every part exactly once. Part
    files are hard-linked where the file system allows it (copied otherwise), so the shards'
    folders stay as they are; a Seismic export's parts are joined into its ``documents.jsonl``.
    """
    folders = [Path(folder) for folder in shards]
    if not folders:
        raise UsageError("no shard folders to merge", hint="give the output folder of every shard")
    summaries = []
    for folder in folders:
        record = folder / "export.json"
        if not record.is_file():
            raise SembridgeError(
                f"'{folder}' is not a finished export (no export.json)",
                hint="finish that shard first (sembridge export ... --resume)",
            )
        summaries.append(json.loads(record.read_text(encoding="utf-8")))
    first = summaries[0]
    for folder, summary in zip(folders[1:], summaries[1:], strict=True):
        changed = [key for key in _SHARED_SETTINGS if summary.get(key) != first.get(key)]
        if changed:
            raise SembridgeError(
                f"'{folder}' and '{folders[0]}' are not shards of one export "
                f"(their {', '.join(changed)} differ)"
            )
    owner: dict[int, Path] = {}
    for folder, summary in zip(folders, summaries, strict=True):
        for number in summary["parts"]:
            if number in owner:
                raise SembridgeError(f"part {number} is in both '{owner[number]}' and '{folder}'")
            owner[number] = folder
    missing = sorted(set(range(first["total_parts"])) - set(owner))
    if missing:
        raise SembridgeError(
            f"{len(missing)} of the {first['total_parts']} parts are in none of the folders "
            f"(e.g. part {missing[0]})",
            hint="give the folder of every shard",
        )
    writer_class = WRITERS[first["format"]]
    with_queries = next((f for f, s in zip(folders, summaries, strict=True) if "queries" in s), None)
    check_output_dir(out_dir, overwrite, {f"shard {i}": folder for i, folder in enumerate(folders)})
    with atomic_output_dir(out_dir, overwrite, checked=True) as tmp:
        base = with_queries or folders[0]
        for item in base.iterdir():  # the format's own files (mapping, vocabulary, queries)
            if item.is_file() and item.name != "export.json":
                _link_or_copy(item, tmp / item.name)
        (tmp / writer_class.parts_folder).mkdir()
        names = [writer_class.part_name(number) for number in sorted(owner)]
        for number, name in zip(sorted(owner), names, strict=True):
            _link_or_copy(owner[number] / name, tmp / name)
        counts = {key: sum(s[key] for s in summaries) for key in ("documents", "postings", "empty_documents")}
        summary = {
            **{key: value for key, value in first.items() if key not in _PER_SHARD},
            **counts,
            "max_impact": max(s["max_impact"] for s in summaries),
            "mean_document_terms": round(counts["postings"] / max(counts["documents"], 1), 3),
            "files": len(names),
            "shard": "0/1",
            "parts": sorted(owner),
            "merged_from": [str(folder) for folder in folders],
        }  # fmt: skip
        if with_queries is not None:
            queried = summaries[folders.index(with_queries)]
            summary.update(
                {key: queried[key] for key in ("queries", "empty_queries", "empty_queries_omitted")}
            )
        if writer_class is SeismicWriter:
            concatenate_parts(tmp, names, SEISMIC_DOCUMENTS)
            (tmp / writer_class.parts_folder).rmdir()
            summary["files"] = 1
        write_json(tmp / "export.json", summary)
    summary["output"] = str(out_dir)
    return summary


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _model_name(model: Any) -> str:
    return str(model) if isinstance(model, (str, Path)) else type(model).__name__


def _output_dimension(encoder: Any) -> int:
    """The size of the encoder's output vectors, read from one encoded text (the modules' own
    figure can name the tokenizer's size, not the output's)."""
    return int(encoder.encode_document(["."], convert_to_sparse_tensor=True, save_to_cpu=True).shape[-1])


def _finished(
    out_dir: Path, format: str, scale: float, pruning: Pruning, docs_per_file: int, shard: Shard, model: Any
) -> dict[str, Any]:
    """``--resume`` of an export that is already whole: its summary, if it was made with these settings."""
    summary = json.loads((out_dir / "export.json").read_text(encoding="utf-8"))
    asked = {
        "format": format,
        "scale": scale,
        "pruning": pruning.to_dict(),
        "docs_per_file": docs_per_file,
        "shard": str(shard),
        "model": _model_name(model),
    }
    changed = [key for key, value in asked.items() if summary.get(key) != value]
    if changed:
        raise OutputExistsError(
            f"output folder '{out_dir}' already holds a finished export with other settings "
            f"({', '.join(changed)})",
            hint="choose another --output, or pass --overwrite to replace it",
        )
    logger.info("%s is already a finished export with these settings: nothing to resume", out_dir)
    return {**summary, "output": str(out_dir)}


@dataclass
class _Documents:
    """The corpus as the export loop reads it: ``(id, text)`` records, their number when known
    (``size``), and ``once`` when they can be read only once (their ids are checked as they come)."""

    records: Iterable[tuple[str, str]]
    size: int | None
    once: bool

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.records)


def _checked_stream(corpus: Corpus, writer_class: type[VectorWriter], show_progress: bool) -> _Documents:
    """Read a corpus that can be read twice once before anything is encoded: its ids checked
    (what the format holds, no repeats: 8 bytes a document) and counted, empty texts warned about."""
    if isinstance(corpus, Mapping):
        return _Documents(corpus.items(), len(corpus), once=False)
    if not isinstance(corpus, CorpusStream):
        return _Documents(((str(i), t) for i, t in corpus), None, once=True)
    seen = IdSet()
    empty: list[str] = []  # the first few ids, and their count
    empty_count = 0
    with progress(disable=not show_progress) as bar:
        task = bar.add_task(f"checking the ids of {corpus}", total=None)
        for _, doc_id, text in corpus.located():
            problem = writer_class.id_problem(doc_id, "document")
            if problem is not None:
                writer_class.check_ids([doc_id], "document")
            seen.add(doc_id)
            if not text.strip():
                empty_count += 1
                empty += [doc_id] if len(empty) < 3 else []
            bar.advance(task)
    if not len(seen):
        raise SembridgeError(f"the corpus of '{corpus}' is empty", hint="check the corpus file")
    repeated = seen.repeated()
    if repeated:
        first: dict[str, str] = {}
        for where, doc_id, _ in corpus.located():
            if IdSet.digest(doc_id) not in repeated:
                continue
            if doc_id in first:
                raise SembridgeError(
                    f"document id '{doc_id}' appears twice in '{corpus}' ({first[doc_id]}, again at {where})"
                )
            first[doc_id] = where
    report_empty_documents(empty, empty_count, str(corpus))
    return _Documents(corpus, len(seen), once=False)


def _write_part(
    part: PartFile,
    writer: VectorWriter,
    encode: Any,
    records: Iterable[tuple[str, str]],
    first_row: int,
    writer_class: type[VectorWriter],
    ids_seen: IdSet | None,
    advance: Any,
    docs_per_file: int,
) -> dict[str, Any]:
    """Encode one part's records and write their lines into ``part``; return the part's figures."""
    ids: list[str] = []
    figures = {"documents": 0, "postings": 0, "empty_documents": 0, "max_impact": 0}
    row = first_row
    chunk_size = max(
        1, min(docs_per_file, default_chunk_size(encode.keywords["batch_size"], encode.keywords["pool"]))
    )
    for chunk in _chunks(records, chunk_size):
        chunk_ids = [doc_id for doc_id, _ in chunk]
        if ids_seen is not None:
            writer_class.check_ids(chunk_ids, "document")
            for doc_id in chunk_ids:
                ids_seen.add(doc_id)
        for doc_id, text, term_ids, impacts in encode(chunk_ids, [text for _, text in chunk], "document"):
            part.write(writer.document_lines(row, doc_id, text, term_ids, impacts))
            row += 1
            figures["documents"] += 1
            figures["postings"] += len(term_ids)
            figures["empty_documents"] += int(len(term_ids) == 0)
            figures["max_impact"] = max(figures["max_impact"], int(impacts.max(initial=0)))
        ids += chunk_ids
        advance(len(chunk))
    figures["ids"] = ids_digest(ids)
    return figures


def _chunks(records: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    chunk: list[tuple[str, str]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _warn(summary: dict[str, Any], exact_limit: int, scale: float, format: str) -> None:
    if summary["empty_documents"]:
        logger.warning("%d documents have no term left after quantisation", summary["empty_documents"])
    if summary.get("empty_queries"):
        logger.warning(
            "%d quer%s had no term left after quantisation and %s left out of the query file "
            "(listed in export.json under empty_queries_omitted), e.g. %r",
            summary["empty_queries"],
            "y" if summary["empty_queries"] == 1 else "ies",
            "was" if summary["empty_queries"] == 1 else "were",
            summary["empty_queries_omitted"][0],
        )
    if summary["max_impact"] > exact_limit:
        logger.warning(
            "the largest impact, %s, is above %s, the largest --format %s keeps exactly: larger "
            "impacts may come back rounded (a --scale of at most %s avoids it)",
            f"{summary['max_impact']:,}",
            f"{exact_limit:,}",
            format,
            _at_most(scale * exact_limit / summary["max_impact"]),
        )


def export_anserini(
    model: Any,
    corpus: Mapping[str, str],
    out_dir: str | Path,
    *,
    docs_per_file: int = DEFAULT_DOCS_PER_FILE,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`export_vectors` in the ``anserini`` format (a JsonVectorCollection)."""
    return export_vectors(model, corpus, out_dir, format="anserini", docs_per_file=docs_per_file, **kwargs)


def _iter_impacts(
    encoder: Any,
    ids: list[str],
    texts: list[str],
    kind: str,
    *,
    special: np.ndarray,
    pruning: Pruning,
    scale: float,
    batch_size: int,
    pool: Any,
    show_progress: bool = False,
    max_impact: int = INT64_MAX,
    format: str = "sparse",
):
    """Yield ``(id, text, vocabulary ids, impacts)`` per text of ``texts`` (ids ``ids``): specials
    dropped, pruned, quantised. A text with an impact above ``max_impact`` (the largest ``format``
    holds) is refused before its chunk is written."""
    row = 0
    for chunk in iter_encoded(
        encoder, texts, kind, batch_size, pool, show_progress=show_progress, description=f"{kind}s"
    ):
        chunk = drop_special_tokens(chunk, special)
        if pruning.active:
            chunk = pruning.apply(chunk)
        _check_impacts(chunk, scale, max_impact, format, ids, row, kind)
        impacts = quantize(chunk, scale)
        impacts.sort_indices()
        for i in range(impacts.shape[0]):
            lo, hi = impacts.indptr[i], impacts.indptr[i + 1]
            yield ids[row], texts[row], impacts.indices[lo:hi], impacts.data[lo:hi]
            row += 1


def _check_impacts(
    chunk: Any, scale: float, largest: int, format: str, ids: list[str], first: int, kind: str
) -> None:
    """Refuse the first row of ``chunk`` (the texts ``ids[first:]``, in order) with an impact
    ``round(w * scale)`` above ``largest``, the largest impact ``format`` holds."""
    if not chunk.nnz:
        return
    weights = np.asarray(chunk.max(axis=1).todense(), dtype=np.float64).ravel()
    with np.errstate(over="ignore"):
        impacts = np.rint(weights * scale)
    too_large = ~np.isfinite(impacts) | (impacts >= float(largest))  # then compared exactly
    for i in np.flatnonzero(too_large):
        impact = float(impacts[i])
        if math.isfinite(impact) and int(impact) <= largest:  # the float of 2^63 - 1 is 2^63
            continue
        shown = f"{int(impact):,}" if math.isfinite(impact) and impact < 1e15 else f"{impact:.3g}"
        raise SembridgeError(
            f"{kind} {ids[first + i]!r} has impact {shown} (weight {weights[i]:.4g} x scale {scale:g}), "
            f"above {largest:,}, the largest impact --format {format} holds; nothing was written",
            hint=f"use a smaller --scale: at most {_at_most(largest / weights[i])} for this {kind}",
        )


def _at_most(value: float) -> str:
    """``value`` rounded down to 3 significant digits (a scale that stays within a limit)."""
    if not value > 0 or not math.isfinite(value):
        return f"{value:g}"
    step = 10.0 ** (math.floor(math.log10(value)) - 2)
    return f"{math.floor(value / step) * step:g}"
