"""``sembridge export``: write a corpus as sparse vectors for a search engine, or the model as ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sembridge.cli.options import (
    BatchSize,
    EncodeDevices,
    JsonOutput,
    MaxLength,
    ModelDir,
    OutputDir,
    Overwrite,
    Processes,
)

Corpus = Annotated[
    str | None,
    typer.Option(
        "--corpus",
        "-c",
        help="corpus.jsonl (_id/docid + title/text), a file of query/positive pairs, or a data folder "
        "(every format but onnx).",
    ),
]
Format = Annotated[
    str,
    typer.Option(
        "--format",
        help="anserini (JsonVectorCollection), seismic (JSONL), opensearch / elasticsearch (bulk files "
        "+ mapping), qdrant (indices/values + vocabulary), or onnx (the model itself).",
    ),
]
Scale = Annotated[float, typer.Option("--scale", help="Impacts are round(weight x scale).")]
Queries = Annotated[
    Path | None,
    typer.Option(
        "--queries",
        help="Also write these queries (queries.jsonl, qid<TAB>text or pairs), in the format's query file.",
    ),
]
PruneMass = Annotated[
    float | None,
    typer.Option("--prune-mass", help="Keep each document's top terms up to this L1-mass fraction."),
]
PruneTopK = Annotated[int | None, typer.Option("--prune-top-k", help="Keep at most K terms per document.")]
DocsPerFile = Annotated[
    int | None,
    typer.Option(
        "--docs-per-file", min=1, help="Documents per output file (default 500,000; 5,000 for bulk files)."
    ),
]
Quantize = Annotated[
    bool, typer.Option("--quantize", help="onnx only: also write an int8 dynamically quantised model.")
]


def export(
    model: ModelDir,
    output: OutputDir,
    corpus: Corpus = None,
    fmt: Format = "anserini",
    scale: Scale = 100.0,
    queries: Queries = None,
    prune_mass: PruneMass = None,
    prune_top_k: PruneTopK = None,
    batch_size: BatchSize = 32,
    device: EncodeDevices = "auto",
    processes: Processes = 1,
    max_length: MaxLength = None,
    docs_per_file: DocsPerFile = None,
    quantize: Quantize = False,
    overwrite: Overwrite = False,
    json_output: JsonOutput = False,
) -> None:
    """Export a corpus as sparse vectors for a search engine, or the encoder as an ONNX model.

    Every vector format holds the same numbers: special tokens dropped, documents pruned
    (--prune-mass then --prune-top-k), integer impacts round(w x --scale), zeros left out.
    OUT/export.json records the settings and counts; --queries adds the format's query file.
    The README's export section gives each engine's indexing command.

    [b]Examples[/]:

      sembridge export -m out/ru-sembridge --corpus data/ru/corpus.jsonl -o ru-vectors

      python -m pyserini.index.lucene --collection JsonVectorCollection --input ru-vectors/corpus
      --index ru-index --generator DefaultLuceneDocumentGenerator --threads 8 --impact --pretokenized

      sembridge export -m out/ru-sembridge --corpus data/ru/corpus.jsonl --format seismic -o ru-seismic

      sembridge export -m out/ru-sembridge --format onnx --quantize -o ru-onnx
    """
    from rich.table import Table

    from sembridge.data import load_corpus, load_queries
    from sembridge.errors import SembridgeError
    from sembridge.evaluation.export import EXPORT_FORMATS, WRITERS, export_vectors
    from sembridge.evaluation.pruning import Pruning
    from sembridge.io import check_output_dir
    from sembridge.log import console

    if fmt != "onnx" and fmt not in EXPORT_FORMATS:
        raise SembridgeError(
            f"unknown export format '{fmt}'", hint=f"use one of: {', '.join((*EXPORT_FORMATS, 'onnx'))}"
        )
    if quantize and fmt != "onnx":
        raise SembridgeError(f"--quantize applies to --format onnx only, not '{fmt}'")
    check_output_dir(output, overwrite)
    if fmt == "onnx":
        _export_onnx(model, output, quantize, overwrite, json_output)
        return
    if corpus is None:
        raise SembridgeError(f"--format {fmt} needs --corpus", hint="give the documents to encode")
    pruning = Pruning(mass=prune_mass, top_k=prune_top_k)
    documents = load_corpus(corpus)
    topics = load_queries(queries) if queries is not None else None
    summary = export_vectors(
        model,
        documents,
        output,
        format=fmt,
        scale=scale,
        pruning=pruning,
        queries=topics,
        batch_size=batch_size,
        device=device,
        processes=processes,
        max_length=max_length,
        overwrite=overwrite,
        docs_per_file=docs_per_file,
        show_progress=not json_output,
    )
    if json_output:
        import json

        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"Exported {summary['documents']:,} documents to {output}", title_justify="left")
    table.add_column("")
    table.add_column("value", justify="right")
    rows = [
        ("format", WRITERS[fmt].label),
        ("files", f"{summary['files']:,}"),
        ("scale", f"{summary['scale']:g}"),
        ("pruning", pruning.label),
        ("mean terms / document", f"{summary['mean_document_terms']:.1f}"),
        ("largest impact", f"{summary['max_impact']:,}"),
        ("empty documents", f"{summary['empty_documents']:,}"),
        ("special tokens left out", f"{len(summary['special_tokens_excluded']):,}"),
    ]
    if "seismic_index" in summary:
        rows.append(("Seismic class", summary["seismic_index"]))
    if "queries" in summary:
        rows.append(("queries", f"{summary['queries']:,}"))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    console.print(f"Index it: {WRITERS[fmt].index_command(output)}", highlight=False, soft_wrap=True)


def _export_onnx(model: str, output: Path, quantize: bool, overwrite: bool, json_output: bool) -> None:
    from sembridge.log import console
    from sembridge.onnx_export import export_onnx

    summary = export_onnx(
        model, output, quantize=quantize, overwrite=overwrite, show_progress=not json_output
    )
    if json_output:
        import json

        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    console.print(f"Exported {model} as ONNX to {output}", highlight=False)
    for name in sorted(p.name for p in Path(output).glob("*.onnx")):
        console.print(f"  {name}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
