"""``sembridge export`` as one library call: vectors for a search engine, or the model as ONNX."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sembridge.encoding.pruning import Pruning
from sembridge.errors import UsageError
from sembridge.export.base import DEFAULT_HITS
from sembridge.export.onnx import export_onnx
from sembridge.export.vectors import EXPORT_FORMATS, check_scale, export_vectors
from sembridge.io import check_apart, check_output_dir

__all__ = ["FORMATS", "check_onnx_options", "export"]

FORMATS = (*EXPORT_FORMATS, "onnx")


def export(
    model: Any,
    output_dir: str | Path,
    *,
    format: str = "anserini",
    corpus: str | Path | Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
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
    hits: int = DEFAULT_HITS,
    shard: str | tuple[int, int] | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Write ``model``'s output for serving into ``output_dir``; return the summary it records.

    Args:
        model: a model folder, short name or hub id (or a SparseEncoder, for the vector formats).
        output_dir: the folder to write; refused if it exists unless ``overwrite``.
        format: one of :data:`FORMATS`: a vector format (:data:`~sembridge.export.EXPORT_FORMATS`)
            or ``onnx``, the model itself as an ONNX graph.
        corpus: the documents, required by every vector format: a path (a corpus file and the
            corpus of a BEIR, WebFAQ or MIRACL folder are streamed, :func:`~sembridge.data.stream_corpus`;
            a pairs file's positives are read with :func:`~sembridge.data.load_corpus`), id -> text,
            or an iterable of ``(id, text)``.
        queries: optional queries written in the format's query file (path or id -> text).
        scale, pruning, batch_size, device, processes, max_length, docs_per_file, hits, shard, resume: as
            :func:`~sembridge.export.export_vectors` takes them.
        quantize: ``onnx`` only: also write an int8 dynamically quantised model.

    ``onnx`` exports the model alone: a vector option given with it is refused
    (:func:`check_onnx_options`), as is ``quantize`` with a vector format.
    """
    if format not in FORMATS:
        raise UsageError(f"unknown export format '{format}'", hint=f"use one of: {', '.join(FORMATS)}")
    if quantize and format != "onnx":
        raise UsageError(f"--quantize applies to --format onnx only, not '{format}'")
    if format == "onnx":
        check_onnx_options(
            corpus=corpus,
            queries=queries,
            scale=scale,
            pruning=pruning,
            docs_per_file=docs_per_file,
            max_length=max_length,
            batch_size=batch_size,
            processes=processes,
            hits=hits,
            shard=shard,
            resume=resume,
        )
    if not (resume and format != "onnx"):  # a finished export is resumed as it is
        check_output_dir(output_dir, overwrite, {"model": model, "corpus": corpus, "queries": queries})
    else:
        check_apart(output_dir, {"model": model, "corpus": corpus, "queries": queries})
    if format == "onnx":
        return export_onnx(
            model, Path(output_dir), quantize=quantize, overwrite=overwrite, show_progress=show_progress
        )
    if corpus is None:
        raise UsageError(f"--format {format} needs --corpus", hint="give the documents to encode")
    check_scale(scale)  # before the corpus is read
    from sembridge.data import load_corpus, load_queries, stream_corpus

    documents = corpus
    if isinstance(corpus, (str, Path)):
        documents = stream_corpus(corpus) or load_corpus(corpus)
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
        hits=hits,
        shard=shard,
        resume=resume,
    )


# The settings only the vector formats use (argument of :func:`export`, flag); pruning's two are
# Pruning's fields.
_VECTOR_OPTIONS = (
    ("corpus", "--corpus"),
    ("queries", "--queries"),
    ("scale", "--scale"),
    ("prune_mass", "--prune-mass"),
    ("prune_top_k", "--prune-top-k"),
    ("docs_per_file", "--docs-per-file"),
    ("max_length", "--max-length"),
    ("batch_size", "--batch-size"),
    ("processes", "--processes"),
    ("hits", "--hits"),
    ("shard", "--shard"),
    ("resume", "--resume"),
)


def check_onnx_options(*, pruning: Pruning | None = None, **values: Any) -> None:
    """Refuse, naming them, the vector options that ``--format onnx`` would ignore (a :class:`UsageError`).

    ``values`` holds any of ``corpus``, ``queries``, ``scale``, ``docs_per_file``, ``max_length``,
    ``batch_size``, ``processes``, ``hits``, ``shard`` and ``resume`` as :func:`export` takes
    them; one at :func:`export`'s default counts as not given.
    """
    import inspect

    defaults = {name: p.default for name, p in inspect.signature(export).parameters.items()}
    pruning = pruning or Pruning()
    given = {**values, "prune_mass": pruning.mass, "prune_top_k": pruning.top_k}
    ignored = [flag for key, flag in _VECTOR_OPTIONS if key in given and given[key] != defaults.get(key)]
    if ignored:
        raise UsageError(
            f"--format onnx exports the model only and does not use {', '.join(ignored)}",
            hint=f"leave {'it' if len(ignored) == 1 else 'them'} out, or choose a vector format: "
            f"{', '.join(EXPORT_FORMATS)}",
        )
