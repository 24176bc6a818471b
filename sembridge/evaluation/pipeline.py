"""``evaluate``: retrieval quality and sparsity of several sparse encoders on one data set.

For every model, in numbered steps:

1. load it (folder, hub id or an already loaded SparseEncoder);
2. encode the judged queries and the whole corpus into CSR matrices;
3. for every pruning setting (none, then each ``prune_mass``, then each ``prune_top_k``; applied
   to the documents only): prune, retrieve the exact top-k with an inverted index, compute the
   metrics and the sparsity figures.

Everything is checked (data, metric names, pruning values, model folders, run-file paths) before
the first model is loaded, and run files are written only once every model has been evaluated.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sembridge import __version__
from sembridge.errors import SembridgeError
from sembridge.evaluation.data import RetrievalDataset, load_retrieval_data, validate_dataset
from sembridge.evaluation.encode import (
    check_model_source,
    encode_texts,
    encoding_pool,
    load_encoder,
    resolve_devices,
)
from sembridge.evaluation.metrics import DEFAULT_METRICS, compute_metrics, parse_metrics, sparsity_stats
from sembridge.evaluation.pruning import Pruning, pruning_sweep
from sembridge.evaluation.report import check_output_file, run_file_for_setting, write_trec_run
from sembridge.evaluation.retrieval import InvertedIndex
from sembridge.log import logger


def evaluate(
    models: Sequence[Any],
    dataset: RetrievalDataset | str | Path,
    *,
    names: Sequence[str] | None = None,
    split: str = "test",
    data_format: str = "auto",
    drop_unknown: bool = False,
    metrics: Sequence[str] = DEFAULT_METRICS,
    top_k: int = 100,
    batch_size: int = 32,
    device: str = "auto",
    processes: int = 1,
    max_length: int | None = None,
    prune_mass: Sequence[float] = (),
    prune_top_k: Sequence[int] = (),
    per_query: bool = False,
    run_files: Sequence[str | Path] | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Evaluate sparse encoders on a retrieval set; returns the report as a plain dict.

    Args:
        models: model folders, hub ids or loaded ``SparseEncoder`` objects.
        dataset: a :class:`RetrievalDataset`, or a source for :func:`load_retrieval_data` (read
            with ``split``, ``data_format`` and ``drop_unknown``).
        names: display names (default: the folder names).
        metrics: ir-measures names; the first one is the headline (and the plot's y axis).
        top_k: retrieval depth per query.
        device: ``auto``, ``cpu``, ``cuda:N`` or a comma-separated list for a multi-process pool.
        processes: copies of a single device in a multi-process pool.
        max_length: token cap per text (default: the model's own).
        prune_mass, prune_top_k: document pruning settings to sweep (no pruning is always included).
        per_query: also store every query's metric values.
        run_files: one TREC run path per model (pruned settings go to siblings, see
            :func:`~sembridge.evaluation.report.run_file_for_setting`).
        overwrite: replace existing run files.

    The report holds ``dataset`` (counts), ``config``, and per model its ``results``: one entry
    per pruning setting with ``metrics``, ``query_terms``, ``doc_terms`` and ``flops``.
    """
    # 0. Check everything that can be checked before any model is loaded.
    if not models:
        raise SembridgeError("no model to evaluate", hint="pass at least one --model")
    if top_k < 1:
        raise SembridgeError(f"top_k must be a positive integer, got {top_k}.", hint="e.g. --top-k 100")
    if batch_size < 1:
        raise SembridgeError(f"batch_size must be a positive integer, got {batch_size}.")
    measures = parse_metrics(metrics)
    metric_names = [str(m) for m in measures]
    settings = pruning_sweep(prune_mass, prune_top_k)
    devices = resolve_devices(device, processes)
    for model in models:
        if isinstance(model, (str, Path)):
            check_model_source(model)
    labels = _model_names(models, names)
    planned_runs = _plan_run_files(run_files, len(models), settings, overwrite)
    if isinstance(dataset, RetrievalDataset):
        dataset = validate_dataset(dataset, drop_unknown=drop_unknown)
    else:
        dataset = load_retrieval_data(
            dataset, split=split, data_format=data_format, drop_unknown=drop_unknown
        )
    notes = list(dataset.notes)
    for measure in measures:
        cutoff = measure.params.get("cutoff") if hasattr(measure, "params") else None
        if cutoff is not None and cutoff > top_k:
            note = f"{measure} looks deeper than the retrieval depth --top-k {top_k}: it is capped by it"
            logger.warning(note)
            notes.append(note)

    query_ids = list(dataset.queries)
    doc_ids = list(dataset.corpus)
    query_texts = [dataset.queries[q] for q in query_ids]
    doc_texts = [dataset.corpus[d] for d in doc_ids]
    logger.info(
        "data: %s queries, %s documents, %d model(s), %d pruning setting(s)",
        f"{len(query_ids):,}",
        f"{len(doc_ids):,}",
        len(models),
        len(settings),
    )

    report: dict[str, Any] = {
        "sembridge_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": dataset.summary(),
        "config": {
            "metrics": metric_names,
            "top_k": top_k,
            "batch_size": batch_size,
            "devices": devices,
            "max_length": max_length,
            "pruning": [s.label for s in settings],
            "pruning_applies_to": "documents",
            "metric_mean": "over queries with a relevant judgement; a query with no hit counts 0",
        },
        "notes": notes,
        "models": [],
    }
    runs: list[list[tuple[Path, Any]]] = []
    for i, (model, label) in enumerate(zip(models, labels, strict=True)):
        logger.info("%d. %s", i + 1, label)
        entry, model_runs = _evaluate_one(
            model,
            label,
            dataset,
            query_ids,
            doc_ids,
            query_texts,
            doc_texts,
            settings,
            metric_names,
            top_k,
            batch_size,
            devices,
            max_length,
            per_query,
            show_progress,
        )
        report["models"].append(entry)
        runs.append(model_runs)
        gc.collect()

    # Run files last: nothing is written unless every model was evaluated.
    if planned_runs is not None:
        written = []
        for label, paths, model_runs in zip(labels, planned_runs, runs, strict=True):
            for path, (_, result) in zip(paths, model_runs, strict=True):
                write_trec_run(path, query_ids, doc_ids, result.indices, result.scores, tag=label)
                written.append(str(path))
        report["run_files"] = written
    return report


def _evaluate_one(
    model: Any,
    label: str,
    dataset: RetrievalDataset,
    query_ids: list[str],
    doc_ids: list[str],
    query_texts: list[str],
    doc_texts: list[str],
    settings: list[Pruning],
    metric_names: list[str],
    top_k: int,
    batch_size: int,
    devices: list[str],
    max_length: int | None,
    per_query: bool,
    show_progress: bool,
) -> tuple[dict[str, Any], list[tuple[Pruning, Any]]]:
    timings: dict[str, float] = {}
    start = time.perf_counter()
    encoder = load_encoder(model, device=devices[0], max_length=max_length)
    timings["load_s"] = round(time.perf_counter() - start, 3)

    with encoding_pool(encoder, devices) as pool:
        start = time.perf_counter()
        queries = encode_texts(
            encoder, query_texts, "query", batch_size, pool, show_progress, f"{label}: queries"
        )
        timings["encode_queries_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        documents = encode_texts(
            encoder, doc_texts, "document", batch_size, pool, show_progress, f"{label}: documents"
        )
        timings["encode_documents_s"] = round(time.perf_counter() - start, 3)

    entry: dict[str, Any] = {
        "name": label,
        "model": str(model) if isinstance(model, (str, Path)) else type(model).__name__,
        "vocab_size": int(documents.shape[1]),
        "max_length": encoder.max_seq_length,
        "timings": timings,
        "results": [],
    }
    model_runs: list[tuple[Pruning, Any]] = []
    for setting in settings:
        pruned = setting.apply(documents) if setting.active else documents
        start = time.perf_counter()
        result = InvertedIndex(pruned).search(queries, top_k)
        retrieval_s = round(time.perf_counter() - start, 3)
        run = {}
        for row, qid in enumerate(query_ids):
            indices, scores = result.hits(row)
            run[qid] = {doc_ids[i]: float(s) for i, s in zip(indices, scores, strict=True)}
        scored = compute_metrics(dataset.qrels, run, metric_names, per_query=per_query)
        stats = sparsity_stats(queries, pruned)
        row_entry: dict[str, Any] = {
            "setting": setting.label,
            "pruning": setting.to_dict(),
            "metrics": scored["metrics"],
            "evaluated_queries": scored["queries"],
            **stats,
            "retrieval_s": retrieval_s,
        }
        if per_query:
            row_entry["per_query"] = scored["per_query"]
        entry["results"].append(row_entry)
        model_runs.append((setting, result))
        headline = metric_names[0]
        logger.info(
            "   %s: %s %.4f, %.1f query / %.1f document terms, FLOPs %.2f",
            setting.label,
            headline,
            scored["metrics"][headline],
            stats["query_terms"],
            stats["doc_terms"],
            stats["flops"],
        )
    del encoder
    return entry, model_runs


def _model_names(models: Sequence[Any], names: Sequence[str] | None) -> list[str]:
    if names is not None:
        if len(names) != len(models):
            raise SembridgeError(f"{len(names)} names were given for {len(models)} models")
        labels = [str(n) for n in names]
    else:
        labels = []
        for i, model in enumerate(models):
            if isinstance(model, (str, Path)):
                labels.append(Path(str(model)).name or str(model))
            else:
                labels.append(f"model{i + 1}")
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return unique


def _plan_run_files(
    run_files: Sequence[str | Path] | None, n_models: int, settings: list[Pruning], overwrite: bool
) -> list[list[Path]] | None:
    if not run_files:
        return None
    if len(run_files) != n_models:
        raise SembridgeError(
            f"{len(run_files)} run file(s) for {n_models} model(s)",
            hint="give one --run-file per --model, in the same order",
        )
    planned = []
    for path in run_files:
        paths = [run_file_for_setting(path, s.label, first=i == 0) for i, s in enumerate(settings)]
        for p in paths:
            check_output_file(p, overwrite, what="run file")
        planned.append(paths)
    flat = [p for paths in planned for p in paths]
    if len(set(flat)) != len(flat):
        raise SembridgeError("two run files have the same path", hint="give each --run-file its own name")
    return planned
