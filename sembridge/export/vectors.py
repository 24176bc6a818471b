"""The export loop: encode a corpus (and its queries) once, prune, quantise, and hand each
vector to the chosen format's writer (:mod:`sembridge.export.base`); ``export.json`` records it."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sembridge.encoding.encode import (
    encoding_pool,
    iter_encoded,
    load_encoder,
    resolve_devices,
    vocabulary_terms,
)
from sembridge.encoding.pruning import Pruning
from sembridge.encoding.terms import drop_special_tokens, special_token_ids
from sembridge.errors import SembridgeError, UsageError
from sembridge.export.anserini import AnseriniWriter
from sembridge.export.base import DEFAULT_DOCS_PER_FILE, DEFAULT_HITS, VectorWriter, quantize
from sembridge.export.elastic import ElasticsearchWriter, OpenSearchWriter
from sembridge.export.qdrant import QdrantWriter
from sembridge.export.seismic import SeismicWriter
from sembridge.io import atomic_output_dir, check_output_dir, write_json
from sembridge.loading import check_model_source
from sembridge.log import logger

WRITERS: dict[str, type[VectorWriter]] = {
    writer.format: writer
    for writer in (AnseriniWriter, SeismicWriter, OpenSearchWriter, ElasticsearchWriter, QdrantWriter)
}
EXPORT_FORMATS = tuple(WRITERS)

__all__ = ["EXPORT_FORMATS", "WRITERS", "check_scale", "export_anserini", "export_vectors"]

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


def export_vectors(
    model: Any,
    corpus: Mapping[str, str],
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
) -> dict[str, Any]:
    """Encode ``corpus`` (and ``queries``) with a sparse encoder and write them in ``format``.

    ``hits``: the number of results each written query body asks for (OpenSearch,
    Elasticsearch, Qdrant), a full evaluation depth by default.

    ``pruning`` applies to the documents (mass first, then the term cap). ``docs_per_file``
    defaults to the format's own (500,000; 5,000 for bulk files). Returns the summary that is
    also written to ``export.json``.
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
    if docs_per_file < 1:
        raise SembridgeError(f"docs_per_file must be a positive integer, got {docs_per_file}.")
    if not corpus:
        raise SembridgeError("the corpus to export is empty", hint="check --corpus")
    writer_class.check_ids(corpus, "document")  # before the slow encoding, nothing written yet
    if queries:
        writer_class.check_ids(queries, "query")
    pruning = pruning or Pruning()
    devices = resolve_devices(device, processes)
    if isinstance(model, (str, Path)):
        check_model_source(model)
    check_output_dir(out_dir, overwrite, {"model": model})

    start = time.perf_counter()
    encoder = load_encoder(model, device=devices[0], max_length=max_length)
    special = special_token_ids(encoder.tokenizer)
    tokens: list[str] = []
    counts = {"documents": 0, "postings": 0, "empty_documents": 0, "max_impact": 0}
    with atomic_output_dir(out_dir, overwrite) as tmp, encoding_pool(encoder, devices) as pool:
        writer: VectorWriter | None = None
        for dimension, doc_id, text, ids, impacts in _iter_impacts(
            encoder,
            list(corpus),
            corpus,
            "document",
            special,
            pruning,
            scale,
            batch_size,
            pool,
            show_progress,
            max_impact=limit,
            format=format,
        ):
            if writer is None:  # the output dimension is known once the first chunk is encoded
                tokens = vocabulary_terms(encoder, dimension)
                special = special[special < dimension]
                special_ids = frozenset(int(i) for i in special)
                writer = writer_class(tmp, tokens, docs_per_file, special_ids, hits=hits)
            writer.add_document(doc_id, text, ids, impacts)
            counts["documents"] += 1
            counts["postings"] += len(ids)
            counts["empty_documents"] += int(len(ids) == 0)
            counts["max_impact"] = max(counts["max_impact"], int(impacts.max(initial=0)))
        assert writer is not None  # the corpus is not empty
        if queries:
            counts.update(queries=0, empty_queries=0)
            omitted: list[str] = []
            for _, query_id, text, ids, impacts in _iter_impacts(
                encoder,
                list(queries),
                queries,
                "query",
                special,
                Pruning(),
                scale,
                batch_size,
                pool,
                show_progress,
                max_impact=limit,
                format=format,
            ):
                if len(ids) == 0:  # no engine takes a query without a term (Anserini drops the file)
                    omitted.append(query_id)
                    continue
                writer.add_query(query_id, text, ids, impacts)
                counts["queries"] += 1
            counts["empty_queries"] = len(omitted)
            counts["empty_queries_omitted"] = omitted
        extra = writer.finish()
        summary = {
            "format": format,
            "model": str(model) if isinstance(model, (str, Path)) else type(model).__name__,
            "scale": scale,
            "pruning": pruning.to_dict(),
            "max_length": encoder.max_seq_length,
            "hits": hits,
            **counts,
            **extra,
            "mean_document_terms": round(counts["postings"] / max(counts["documents"], 1), 3),
            "vocab_size": len(tokens),
            "special_tokens_excluded": [tokens[i] for i in special],
            "seconds": round(time.perf_counter() - start, 3),
        }
        write_json(tmp / "export.json", summary)
    if counts["empty_documents"]:
        logger.warning("%d documents have no term left after quantisation", counts["empty_documents"])
    if counts.get("empty_queries"):
        logger.warning(
            "%d quer%s had no term left after quantisation and %s left out of the query file "
            "(listed in export.json under empty_queries_omitted), e.g. %r",
            counts["empty_queries"],
            "y" if counts["empty_queries"] == 1 else "ies",
            "was" if counts["empty_queries"] == 1 else "were",
            counts["empty_queries_omitted"][0],
        )
    if counts["max_impact"] > exact_limit:
        logger.warning(
            "the largest impact, %s, is above %s, the largest --format %s keeps exactly: larger "
            "impacts may come back rounded (a --scale of at most %s avoids it)",
            f"{counts['max_impact']:,}",
            f"{exact_limit:,}",
            format,
            _at_most(scale * exact_limit / counts["max_impact"]),
        )
    summary["output"] = str(out_dir)
    return summary


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
    texts: Mapping[str, str],
    kind: str,
    special: np.ndarray,
    pruning: Pruning,
    scale: float,
    batch_size: int,
    pool: Any,
    show_progress: bool,
    max_impact: int = INT64_MAX,
    format: str = "sparse",
):
    """Yield ``(dimension, id, text, vocabulary ids, impacts)`` per text: specials dropped, pruned,
    quantised (``dimension``: the encoder's output size). A text with an impact above ``max_impact``
    (the largest ``format`` holds) is refused; nothing is written, the output folder being atomic."""
    ordered = [texts[i] for i in ids]
    row = 0
    for chunk in iter_encoded(
        encoder, ordered, kind, batch_size, pool, show_progress=show_progress, description=f"{kind}s"
    ):
        chunk = drop_special_tokens(chunk, special)
        if pruning.active:
            chunk = pruning.apply(chunk)
        _check_impacts(chunk, scale, max_impact, format, ids, row, kind)
        impacts = quantize(chunk, scale)
        impacts.sort_indices()
        for i in range(impacts.shape[0]):
            lo, hi = impacts.indptr[i], impacts.indptr[i + 1]
            yield impacts.shape[1], ids[row], ordered[row], impacts.indices[lo:hi], impacts.data[lo:hi]
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
