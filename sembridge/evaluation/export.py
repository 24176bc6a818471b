"""Export sparse document vectors for Lucene impact indexes (Anserini / pyserini).

The output folder holds:

- ``corpus/docs-00000.jsonl``, ...: a JsonVectorCollection, one document per line,
  ``{"id": ..., "contents": ..., "vector": {term: impact}}``, where ``impact = round(w * scale)``
  (``scale`` 100 by default, as pyserini's SPLADE collections) and terms whose impact rounds to
  0 are left out;
- ``queries.tsv`` (when queries are given): pre-tokenised topics, ``qid<TAB>terms``, each term
  repeated ``round(w * scale)`` times, which is how pyserini's ``--impact`` search weighs them;
- ``export.json``: the model, scale, pruning and counts.

Terms are the model's vocabulary tokens (``##ing`` stays ``##ing``). Whitespace inside a token is
replaced by ``_`` and a token string that occurs twice gets ``#<id>`` appended, so every
dimension has its own whitespace-free term.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from sembridge.errors import SembridgeError
from sembridge.evaluation.encode import (
    encoding_pool,
    iter_encoded,
    load_encoder,
    resolve_devices,
    vocabulary_terms,
)
from sembridge.evaluation.pruning import Pruning
from sembridge.io import atomic_output_dir, check_output_dir, write_json
from sembridge.loading import check_model_source
from sembridge.log import logger

EXPORT_FORMATS = ("anserini",)
DEFAULT_DOCS_PER_FILE = 500_000


def export_anserini(
    model: Any,
    corpus: Mapping[str, str],
    out_dir: str | Path,
    *,
    scale: float = 100.0,
    pruning: Pruning | None = None,
    queries: Mapping[str, str] | None = None,
    batch_size: int = 32,
    device: str = "auto",
    processes: int = 1,
    max_length: int | None = None,
    overwrite: bool = False,
    docs_per_file: int = DEFAULT_DOCS_PER_FILE,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Encode ``corpus`` (and ``queries``) with a sparse encoder and write a JsonVectorCollection.

    ``pruning`` applies to the documents (mass first, then the term cap). Returns the summary
    that is also written to ``export.json``.
    """
    if not scale > 0:
        raise SembridgeError(
            f"scale must be positive, got {scale}", hint="the default is 100, as in pyserini"
        )
    if docs_per_file < 1:
        raise SembridgeError(f"docs_per_file must be a positive integer, got {docs_per_file}.")
    if not corpus:
        raise SembridgeError("the corpus to export is empty", hint="check --corpus")
    pruning = pruning or Pruning()
    devices = resolve_devices(device, processes)
    if isinstance(model, (str, Path)):
        check_model_source(model)
    check_output_dir(out_dir, overwrite)

    start = time.perf_counter()
    encoder = load_encoder(model, device=devices[0], max_length=max_length)
    doc_ids = list(corpus)
    texts = [corpus[d] for d in doc_ids]
    terms: list[str] | None = None
    counts = {"documents": 0, "files": 0, "postings": 0, "empty_documents": 0}
    with atomic_output_dir(out_dir, overwrite) as tmp, encoding_pool(encoder, devices) as pool:
        corpus_dir = tmp / "corpus"
        corpus_dir.mkdir()
        handle = None
        row = 0
        try:
            for chunk in iter_encoded(
                encoder,
                texts,
                "document",
                batch_size,
                pool,
                show_progress=show_progress,
                description="documents",
            ):
                if terms is None:
                    terms = unique_terms(vocabulary_terms(encoder, chunk.shape[1]))
                if pruning.active:
                    chunk = pruning.apply(chunk)
                impacts = quantize(chunk, scale)
                for i in range(impacts.shape[0]):
                    if row % docs_per_file == 0:
                        if handle is not None:
                            handle.close()
                        handle = (corpus_dir / f"docs-{counts['files']:05d}.jsonl").open(
                            "w", encoding="utf-8"
                        )
                        counts["files"] += 1
                    lo, hi = impacts.indptr[i], impacts.indptr[i + 1]
                    vector = {
                        terms[j]: int(v)
                        for j, v in zip(impacts.indices[lo:hi], impacts.data[lo:hi], strict=True)
                    }
                    counts["postings"] += int(hi - lo)
                    counts["empty_documents"] += int(hi == lo)
                    doc = {"id": doc_ids[row], "contents": texts[row], "vector": vector}
                    handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
                    row += 1
        finally:
            if handle is not None:
                handle.close()
        counts["documents"] = row
        if queries:
            query_counts = _write_queries(
                encoder, queries, tmp / "queries.tsv", scale, batch_size, pool, show_progress
            )
            counts.update(query_counts)
        summary = {
            "format": "anserini",
            "model": str(model) if isinstance(model, (str, Path)) else type(model).__name__,
            "scale": scale,
            "pruning": pruning.to_dict(),
            "max_length": encoder.max_seq_length,
            **counts,
            "mean_document_terms": round(counts["postings"] / max(row, 1), 3),
            "seconds": round(time.perf_counter() - start, 3),
        }
        write_json(tmp / "export.json", summary)
    if counts["empty_documents"]:
        logger.warning("%d documents have no term left after quantisation", counts["empty_documents"])
    summary["output"] = str(out_dir)
    return summary


def quantize(matrix: sp.csr_matrix, scale: float) -> sp.csr_matrix:
    """Integer impacts ``round(w * scale)`` (half to even), zeros and negatives dropped."""
    out = matrix.copy().astype(np.float64)
    out.data = np.rint(out.data * scale)
    out.data[out.data < 0] = 0
    out = out.astype(np.int64)
    out.eliminate_zeros()
    return out


def unique_terms(tokens: list[str]) -> list[str]:
    """Whitespace-free, unique term strings, one per vocabulary id."""
    cleaned = [re.sub(r"\s", "_", token) or f"[id:{i}]" for i, token in enumerate(tokens)]
    seen: dict[str, int] = {}
    for token in cleaned:
        seen[token] = seen.get(token, 0) + 1
    return [token if seen[token] == 1 else f"{token}#{i}" for i, token in enumerate(cleaned)]


def read_vector_collection(folder: str | Path) -> dict[str, dict[str, int]]:
    """Read an exported JsonVectorCollection back: ``{doc id: {term: impact}}``."""
    folder = Path(folder)
    corpus_dir = folder / "corpus" if (folder / "corpus").is_dir() else folder
    vectors: dict[str, dict[str, int]] = {}
    for file in sorted(corpus_dir.glob("*.jsonl")):
        with file.open(encoding="utf-8") as handle:
            for line in handle:
                doc = json.loads(line)
                vectors[doc["id"]] = doc["vector"]
    return vectors


def _write_queries(
    encoder: Any,
    queries: Mapping[str, str],
    path: Path,
    scale: float,
    batch_size: int,
    pool: Any,
    show_progress: bool,
) -> dict[str, int]:
    query_ids = list(queries)
    texts = [queries[q] for q in query_ids]
    terms: list[str] | None = None
    row = 0
    empty = 0
    with path.open("w", encoding="utf-8") as handle:
        for chunk in iter_encoded(
            encoder, texts, "query", batch_size, pool, show_progress=show_progress, description="queries"
        ):
            if terms is None:
                terms = unique_terms(vocabulary_terms(encoder, chunk.shape[1]))
            impacts = quantize(chunk, scale)
            for i in range(impacts.shape[0]):
                lo, hi = impacts.indptr[i], impacts.indptr[i + 1]
                words = [
                    " ".join([terms[j]] * int(v))
                    for j, v in zip(impacts.indices[lo:hi], impacts.data[lo:hi], strict=True)
                ]
                empty += int(hi == lo)
                text = " ".join(words)
                handle.write(f"{query_ids[row]}\t{text}\n")
                row += 1
    return {"queries": row, "empty_queries": int(empty)}
