"""``evaluate``: retrieval quality and sparsity of several sparse encoders on one data set.

For every model, in numbered steps:

1. load it (folder, hub id or an already loaded SparseEncoder);
2. encode the judged queries and the whole corpus into CSR matrices, and drop the special
   tokens' dimensions (:mod:`sembridge.encoding.terms`: they are never terms);
3. for every pruning setting (none, then each ``prune_mass``, then each ``prune_top_k``; applied
   to the documents only): prune, retrieve the exact top-k with an inverted index, compute the
   metrics and the sparsity figures.

Everything is checked (data, metric names, pruning values, model folders, run-file paths) before
the first model is loaded, and run files are written only once every model has been evaluated.

Baselines come after the sparse models, one row each, with the same metrics, run files and
report entries: BM25 over the word pieces of a tokenizer (:mod:`sembridge.evaluation.bm25`) and
dense sentence-transformers models (:mod:`sembridge.evaluation.dense`). Pruning does not apply
to them; BM25's sparsity figures count distinct word pieces, a dense model has none (``None``).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sembridge.data import (
    RetrievalDataset,
    load_retrieval_data,
    run_file_for_setting,
    validate_dataset,
    write_trec_run,
)
from sembridge.data.trec import check_trec_ids
from sembridge.encoding.encode import (
    check_length,
    check_length_before_loading,
    encode_texts,
    encoding_pool,
    iter_encoded,
    length_limits,
    load_encoder,
    resolve_devices,
    stacked_blocks,
)
from sembridge.encoding.pruning import Pruning, pruning_sweep
from sembridge.encoding.sparsity import SideAccumulator
from sembridge.encoding.terms import drop_special_tokens, special_token_ids
from sembridge.errors import SembridgeError, UsageError
from sembridge.evaluation.bm25 import BM25Index, BM25Params, tokenize
from sembridge.evaluation.dense import cosine_search, dense_prompts, encode_dense
from sembridge.evaluation.metrics import DEFAULT_METRICS, compute_metrics, parse_metrics
from sembridge.evaluation.report import plot_path_for, write_plot, write_report_json
from sembridge.evaluation.retrieval import DEFAULT_DOC_BLOCK, SearchResult, StreamingSearch
from sembridge.io import check_output_file
from sembridge.loading import check_model_source, load_bridge, load_failure, load_tokenizer, locate
from sembridge.log import logger
from sembridge.model_card import check_card_models, update_cards
from sembridge.version import __version__


@dataclass(frozen=True)
class _Context:
    """What every evaluated system shares: the data, in a fixed order, and how to score it."""

    dataset: RetrievalDataset
    query_ids: list[str]
    doc_ids: list[str]
    query_texts: list[str]
    doc_texts: list[str]
    metric_names: list[str]
    top_k: int
    per_query: bool


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
    bm25: bool = False,
    bm25_tokenizer: Any = None,
    bm25_params: BM25Params | None = None,
    dense: Sequence[Any] = (),
    output: str | Path | None = None,
    update_card: bool = False,
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
            :func:`~sembridge.data.trec.run_file_for_setting`).
        overwrite: replace existing run files (and the report and plot).
        bm25: add a BM25 row, over the word pieces of ``bm25_tokenizer`` (a name, a folder or a
            loaded tokenizer; default: the first model's tokenizer), with ``bm25_params``.
        dense: dense sentence-transformers models (names, folders or loaded models), one row each,
            encoded with their own query/document prompts. Run files: one per model, then one
            for BM25, then one per dense model.
        output: write the report as JSON there, and with a pruning sweep the metric-vs-sparsity
            plot beside it (``report.png`` for ``report.json``), as ``sembridge evaluate -o``.
        update_card: add the results to each evaluated model folder's ``README.md`` (model card),
            as ``sembridge evaluate --update-card``.

    The report holds ``dataset`` (counts), ``config``, and per model its ``kind`` (``sparse``,
    ``bm25`` or ``dense``) and ``results``: one entry per pruning setting with ``metrics``,
    ``query_terms``, ``doc_terms`` and ``flops`` (``None`` for a dense model).

    The steps: check every input (before any model is loaded), load the data, evaluate each
    model (:func:`evaluate_sparse`, then the BM25 and dense baselines), then write the run files
    and the report (:func:`write_report`).
    """
    # 0. Check everything that can be checked before any model is loaded.
    if not models and not bm25 and not dense:
        raise UsageError("no model to evaluate", hint="pass at least one --model, --bm25 or --dense")
    if top_k < 1:
        raise UsageError(f"top_k must be a positive integer, got {top_k}.", hint="e.g. --top-k 100")
    if batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size}.")
    measures = parse_metrics(metrics)
    metric_names = [str(m) for m in measures]
    settings = pruning_sweep(prune_mass, prune_top_k)
    inputs = {
        "model": list(models),
        "data": dataset,
        "dense model": list(dense),
        "BM25 tokenizer": bm25_tokenizer,
    }
    check_report_outputs(output, overwrite, sweep=len(settings) > 1, inputs=inputs)
    devices = resolve_devices(device, processes)
    for model in models:
        if isinstance(model, (str, Path)):
            check_model_source(model)
            check_length_before_loading(model, max_length)
    if bm25_tokenizer is not None and not bm25:
        raise UsageError(
            "a BM25 tokenizer was given without BM25", hint="add --bm25, or drop --bm25-tokenizer"
        )
    bm25_params = bm25_params or BM25Params()
    for model in dense:
        if isinstance(model, (str, Path)) and locate(model).kind == "missing":
            raise load_failure("dense model", locate(model))
    card_folders = check_card_models(models) if update_card else []
    baseline_labels = (["BM25"] if bm25 else []) + _dense_names(dense)
    labels = _model_names(models, names, extra=baseline_labels)
    systems = [settings] * len(models) + [pruning_sweep()] * len(baseline_labels)  # baselines: unpruned
    planned_runs = _plan_run_files(run_files, systems, overwrite, inputs)
    bm25_tok = _bm25_tokenizer(bm25_tokenizer, models) if bm25 else None

    # 1. The data.
    if isinstance(dataset, RetrievalDataset):
        dataset = validate_dataset(dataset, drop_unknown=drop_unknown)
    else:
        dataset = load_retrieval_data(
            dataset, split=split, data_format=data_format, drop_unknown=drop_unknown
        )
    context = _Context(
        dataset,
        list(dataset.queries),
        list(dataset.corpus),
        [dataset.queries[q] for q in dataset.queries],
        [dataset.corpus[d] for d in dataset.corpus],
        metric_names,
        top_k,
        per_query,
    )
    logger.info(
        "data: %s queries, %s documents, %d model(s), %d baseline(s), %d pruning setting(s)",
        f"{len(context.query_ids):,}",
        f"{len(context.doc_ids):,}",
        len(models),
        len(baseline_labels),
        len(settings),
    )
    if planned_runs is not None:  # refuse ids a run file cannot hold before any encoding
        check_trec_ids(context.query_ids, "query")
        check_trec_ids(context.doc_ids, "document")
    report = _new_report(dataset, measures, top_k, batch_size, devices, max_length, settings)

    # 2. Each model, then each baseline: one report entry and its runs each.
    runs: list[list[tuple[Path, Any]]] = []
    for i, (model, label) in enumerate(zip(models, labels[: len(models)], strict=True)):
        logger.info("%d. %s", i + 1, label)
        entry, model_runs = evaluate_sparse(
            model, label, context, settings, batch_size, devices, max_length, show_progress
        )
        report["models"].append(entry)
        runs.append(model_runs)
        gc.collect()
    baselines: list[tuple[str, Any]] = [("bm25", bm25_tok)] if bm25 else []
    baselines += [("dense", model) for model in dense]
    for i, ((kind, model), label) in enumerate(zip(baselines, labels[len(models) :], strict=True)):
        logger.info("%d. %s", len(models) + i + 1, label)
        if kind == "bm25":
            entry, model_runs = _evaluate_bm25(model, label, bm25_params, context, show_progress)
        else:
            entry, model_runs = _evaluate_dense(
                model, label, context, batch_size, devices, max_length, show_progress
            )
        report["models"].append(entry)
        runs.append(model_runs)
        gc.collect()

    # 3. Run files last: nothing is written unless every model was evaluated; then the report.
    if planned_runs is not None:
        report["run_files"] = _write_run_files(labels, planned_runs, runs, context)
    write_report(report, output, card_folders)
    return report


def check_report_outputs(
    output: str | Path | None, overwrite: bool, sweep: bool, inputs: Mapping[str, Any] | None = None
) -> None:
    """Refuse, before any work, a report path that exists (unless ``overwrite``), is not JSON or
    is one of the ``inputs`` (or inside one), and with a pruning ``sweep`` the plot beside it."""
    if output is None:
        return
    output = Path(output)
    check_output_file(output, overwrite, what="report", inputs=inputs)
    if output.suffix.lower() == ".png":
        raise SembridgeError(f"report '{output}' must be a JSON file", hint="e.g. --output report.json")
    if sweep:
        check_output_file(plot_path_for(output), overwrite, what="plot", inputs=inputs)


def write_report(
    report: dict[str, Any], output: str | Path | None, card_folders: Sequence[Path] = ()
) -> None:
    """Write the report JSON (and, with a pruning sweep, its plot) to ``output``, and add the
    results to the model cards of ``card_folders`` (see :func:`sembridge.model_card.update_cards`)."""
    sweep = len(report["config"]["pruning"]) > 1
    if output is not None:
        output = Path(output)
        if sweep:
            plot = write_plot(report, plot_path_for(output))
            report["plot"] = str(plot) if plot is not None else None
        write_report_json(report, output)
        logger.info("report written to %s", output)
        if report.get("plot"):
            logger.info("plot written to %s", report["plot"])
    elif sweep:
        logger.info("no --output given: the metric-vs-sparsity plot is not written")
    for card in update_cards(report, list(card_folders)):
        logger.info("model card updated: %s", card)


def _new_report(
    dataset: RetrievalDataset,
    measures: Sequence[Any],
    top_k: int,
    batch_size: int,
    devices: Sequence[str],
    max_length: int | None,
    settings: Sequence[Pruning],
) -> dict[str, Any]:
    """The report before any model: the data's counts, the settings, and notes on the metrics."""
    notes = list(dataset.notes)
    for measure in measures:
        cutoff = measure.params.get("cutoff") if hasattr(measure, "params") else None
        if cutoff is not None and cutoff > top_k:
            note = f"{measure} looks deeper than the retrieval depth --top-k {top_k}: it is capped by it"
            logger.warning(note)
            notes.append(note)
    return {
        "sembridge_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": dataset.summary(),
        "config": {
            "metrics": [str(m) for m in measures],
            "top_k": top_k,
            "batch_size": batch_size,
            "devices": list(devices),
            "max_length": max_length,
            "pruning": [s.label for s in settings],
            "pruning_applies_to": "documents",
            "metric_mean": "over queries with a relevant judgement; a query with no hit counts 0",
        },
        "notes": notes,
        "models": [],
    }


def _write_run_files(
    labels: Sequence[str],
    planned: Sequence[Sequence[Path]],
    runs: Sequence[Sequence[tuple[Path, Any]]],
    context: Any,
) -> list[str]:
    written = []
    for label, paths, model_runs in zip(labels, planned, runs, strict=True):
        for path, (_, result) in zip(paths, model_runs, strict=True):
            write_trec_run(path, context.query_ids, context.doc_ids, result.indices, result.scores, tag=label)
            written.append(str(path))
    return written


def evaluate_sparse(
    model: Any,
    label: str,
    context: _Context,
    settings: Sequence[Pruning],
    batch_size: int,
    devices: Sequence[str],
    max_length: int | None,
    show_progress: bool,
) -> tuple[dict[str, Any], list[tuple[Pruning, Any]]]:
    """One sparse model: load, encode queries and corpus, then per pruning setting retrieve and score.

    Returns its report entry and its ``(setting, search result)`` runs.
    """
    query_texts, doc_texts, top_k = context.query_texts, context.doc_texts, context.top_k
    devices = list(devices)
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
        # The corpus is encoded and searched block by block, never held whole: each pruning
        # setting keeps its running top-k (exact) and its sparsity figures.
        start = time.perf_counter()
        searches: list[StreamingSearch] = []
        sides: list[SideAccumulator] = []
        retrieval_s = [0.0] * len(settings)
        chunks = iter_encoded(
            encoder, doc_texts, "document", batch_size, pool, show_progress=show_progress,
            description=f"{label}: documents",
        )  # fmt: skip
        for block in stacked_blocks(chunks, DEFAULT_DOC_BLOCK):
            if not searches:
                # Special tokens ([CLS], [SEP], <s>...) are not terms: never scored nor counted,
                # as in `export`.
                special = special_token_ids(encoder.tokenizer, block.shape[1])
                queries = drop_special_tokens(queries, special)
                searches = [StreamingSearch(queries, top_k) for _ in settings]
                sides = [SideAccumulator(block.shape[1]) for _ in settings]
            block = drop_special_tokens(block, special)
            for i, setting in enumerate(settings):
                pruned = setting.apply(block) if setting.active else block
                started = time.perf_counter()
                searches[i].add(pruned)
                retrieval_s[i] += time.perf_counter() - started
                sides[i].add(pruned)
        timings["encode_documents_s"] = round(time.perf_counter() - start - sum(retrieval_s), 3)

    entry: dict[str, Any] = {
        "name": label,
        "kind": "sparse",
        "model": str(model) if isinstance(model, (str, Path)) else type(model).__name__,
        "vocab_size": int(queries.shape[1]),
        "max_length": encoder.max_seq_length,
        "timings": timings,
        "results": [],
    }
    model_runs: list[tuple[Pruning, Any]] = []
    for setting, search, side, seconds in zip(settings, searches, sides, retrieval_s, strict=True):
        result = search.result()
        stats = side.sparsity_stats(queries).summary()
        entry["results"].append(_result_row(setting, result, stats, round(seconds, 3), context))
        model_runs.append((setting, result))
    del encoder
    return entry, model_runs


def _result_row(
    setting: Pruning,
    result: SearchResult,
    stats: dict[str, float | None],
    retrieval_s: float,
    context: _Context,
) -> dict[str, Any]:
    """One row of the report: the metrics of ``result`` and its sparsity figures (logged too)."""
    run = {}
    for row, qid in enumerate(context.query_ids):
        indices, scores = result.hits(row)
        run[qid] = {context.doc_ids[i]: float(s) for i, s in zip(indices, scores, strict=True)}
    scored = compute_metrics(context.dataset.qrels, run, context.metric_names, per_query=context.per_query)
    row_entry: dict[str, Any] = {
        "setting": setting.label,
        "pruning": setting.to_dict(),
        "metrics": scored["metrics"],
        "evaluated_queries": scored["queries"],
        **stats,
        "retrieval_s": retrieval_s,
    }
    if context.per_query:
        row_entry["per_query"] = scored["per_query"]
    headline = context.metric_names[0]
    if stats["query_terms"] is None:
        logger.info("   %s: %s %.4f", setting.label, headline, scored["metrics"][headline])
    else:
        logger.info(
            "   %s: %s %.4f, %.1f query / %.1f document terms, FLOPs %.2f",
            setting.label,
            headline,
            scored["metrics"][headline],
            stats["query_terms"],
            stats["doc_terms"],
            stats["flops"],
        )
    return row_entry


def _evaluate_bm25(
    tokenizer: tuple[Any, str],
    label: str,
    params: BM25Params,
    context: _Context,
    show_progress: bool,
) -> tuple[dict[str, Any], list[tuple[Pruning, Any]]]:
    tokenizer_object, tokenizer_name = tokenizer
    timings: dict[str, float] = {}
    start = time.perf_counter()
    index = BM25Index(tokenizer_object, context.doc_texts, params, show_progress=show_progress)
    timings["index_s"] = round(time.perf_counter() - start, 3)
    query_tokens = tokenize(tokenizer_object, context.query_texts)
    start = time.perf_counter()
    result = index.search_ids(query_tokens, context.top_k)
    retrieval_s = round(time.perf_counter() - start, 3)
    setting = Pruning()
    entry: dict[str, Any] = {
        "name": label,
        "kind": "bm25",
        "model": "bm25s",
        "tokenizer": tokenizer_name,
        "parameters": params.to_dict(),
        "vocab_size": index.vocab_size,
        "max_length": None,
        "timings": timings,
        "results": [_result_row(setting, result, index.sparsity_stats(query_tokens), retrieval_s, context)],
    }
    return entry, [(setting, result)]


def _evaluate_dense(
    model: Any,
    label: str,
    context: _Context,
    batch_size: int,
    devices: list[str],
    max_length: int | None,
    show_progress: bool,
) -> tuple[dict[str, Any], list[tuple[Pruning, Any]]]:
    if max_length is not None and max_length < 1:
        raise SembridgeError(f"max_length must be a positive integer, got {max_length}.")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    encoder = load_bridge(model, devices[0], kind="dense model") if isinstance(model, (str, Path)) else model
    if max_length is not None:
        check_length(max_length, length_limits(encoder))
        encoder.max_seq_length = max_length
    timings["load_s"] = round(time.perf_counter() - start, 3)
    with encoding_pool(encoder, devices) as pool:
        start = time.perf_counter()
        queries = encode_dense(
            encoder, context.query_texts, "query", batch_size, pool, show_progress, f"{label}: queries"
        )
        timings["encode_queries_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        documents = encode_dense(
            encoder, context.doc_texts, "document", batch_size, pool, show_progress, f"{label}: documents"
        )
        timings["encode_documents_s"] = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    result = cosine_search(queries, documents, context.top_k)
    retrieval_s = round(time.perf_counter() - start, 3)
    setting = Pruning()
    no_sparsity: dict[str, float | None] = {"query_terms": None, "doc_terms": None, "flops": None}
    entry: dict[str, Any] = {
        "name": label,
        "kind": "dense",
        "model": str(model) if isinstance(model, (str, Path)) else type(model).__name__,
        "prompts": dense_prompts(encoder),
        "dimension": int(documents.shape[1]),
        "max_length": encoder.max_seq_length,
        "timings": timings,
        "results": [_result_row(setting, result, no_sparsity, retrieval_s, context)],
    }
    del encoder
    return entry, [(setting, result)]


def _bm25_tokenizer(tokenizer: Any, models: Sequence[Any]) -> tuple[Any, str]:
    """The tokenizer BM25 cuts texts with, and its name: the one given, else the first model's."""
    if tokenizer is None:
        if not models:
            raise SembridgeError(
                "BM25 needs a tokenizer and no model was given",
                hint="pass --bm25-tokenizer NAME (a tokenizer folder, hub id or short name), or a --model",
            )
        tokenizer = models[0]
        if not isinstance(tokenizer, (str, Path)):  # a loaded SparseEncoder
            return tokenizer.tokenizer, type(tokenizer).__name__
    if isinstance(tokenizer, (str, Path)):
        return load_tokenizer(tokenizer, kind="BM25 tokenizer"), str(tokenizer)
    return tokenizer, type(tokenizer).__name__


def _dense_names(models: Sequence[Any]) -> list[str]:
    names = []
    for i, model in enumerate(models):
        if isinstance(model, (str, Path)):
            names.append(f"dense:{Path(str(model)).name or model}")
        else:
            names.append(f"dense{i + 1}")
    return names


def _model_names(models: Sequence[Any], names: Sequence[str] | None, extra: Sequence[str] = ()) -> list[str]:
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
    labels += list(extra)
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return unique


def _plan_run_files(
    run_files: Sequence[str | Path] | None,
    systems: list[list[Pruning]],
    overwrite: bool,
    inputs: Mapping[str, Any] | None = None,
) -> list[list[Path]] | None:
    """The run files of every system (model, then baseline) and setting; ``systems`` lists the
    settings of each system."""
    if not run_files:
        return None
    if len(run_files) != len(systems):
        raise SembridgeError(
            f"{len(run_files)} run file(s) for {len(systems)} model(s)",
            hint="give one --run-file per --model, then one for --bm25 and one per --dense, in that order",
        )
    planned = []
    for path, settings in zip(run_files, systems, strict=True):
        paths = [run_file_for_setting(path, s.label, first=i == 0) for i, s in enumerate(settings)]
        for p in paths:
            check_output_file(p, overwrite, what="run file", inputs=inputs)
        planned.append(paths)
    flat = [p for paths in planned for p in paths]
    if len(set(flat)) != len(flat):
        raise SembridgeError("two run files have the same path", hint="give each --run-file its own name")
    return planned
