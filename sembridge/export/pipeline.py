"""``sembridge export`` as one library call: vectors for a search engine, or the model as ONNX."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sembridge.encoding.pruning import Pruning
from sembridge.errors import SembridgeError
from sembridge.export.onnx import export_onnx
from sembridge.export.vectors import EXPORT_FORMATS, export_vectors
from sembridge.io import check_output_dir

__all__ = ["FORMATS", "export"]

FORMATS = (*EXPORT_FORMATS, "onnx")


def export(
    model: Any,
    output_dir: str | Path,
    *,
    format: str = "anserini",
    corpus: str | Path | Mapping[str, str] | None = None,
    queries: str | Path | Mapping[str, str] | None = None,
    scale: float = 100.0,
    pruning: Pruning | None = None,
    quantize: bool = False,
    batch_size: int = 32,
    device: str = "auto",
    processes: int = 1,
    max_length: int | None = None,
    docs_per_file: int | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Write ``model``'s output for serving into ``output_dir``; return the summary it records.

    Args:
        model: a model folder, short name or hub id (or a SparseEncoder, for the vector formats).
        output_dir: the folder to write; refused if it exists unless ``overwrite``.
        format: one of :data:`FORMATS`: a vector format (:data:`~sembridge.export.EXPORT_FORMATS`)
            or ``onnx``, the model itself as an ONNX graph.
        corpus: the documents (a path :func:`~sembridge.data.load_corpus` reads, or id -> text);
            required by every vector format.
        queries: optional queries written in the format's query file (path or id -> text).
        scale, pruning, batch_size, device, processes, max_length, docs_per_file: as
            :func:`~sembridge.export.export_vectors` takes them.
        quantize: ``onnx`` only: also write an int8 dynamically quantised model.
    """
    if format not in FORMATS:
        raise SembridgeError(f"unknown export format '{format}'", hint=f"use one of: {', '.join(FORMATS)}")
    if quantize and format != "onnx":
        raise SembridgeError(f"--quantize applies to --format onnx only, not '{format}'")
    check_output_dir(output_dir, overwrite)
    if format == "onnx":
        return export_onnx(
            model, Path(output_dir), quantize=quantize, overwrite=overwrite, show_progress=show_progress
        )
    if corpus is None:
        raise SembridgeError(f"--format {format} needs --corpus", hint="give the documents to encode")
    from sembridge.data import load_corpus, load_queries

    documents = corpus if isinstance(corpus, Mapping) else load_corpus(corpus)
    topics = queries if queries is None or isinstance(queries, Mapping) else load_queries(queries)
    return export_vectors(
        model,
        documents,
        output_dir,
        format=format,
        scale=scale,
        pruning=pruning,
        queries=topics,
        batch_size=batch_size,
        device=device,
        processes=processes,
        max_length=max_length,
        overwrite=overwrite,
        docs_per_file=docs_per_file,
        show_progress=show_progress,
    )
