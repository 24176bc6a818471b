"""``sembridge export``: write a corpus as sparse vectors for Lucene impact indexes (pyserini)."""

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
    str,
    typer.Option(
        "--corpus",
        "-c",
        help="corpus.jsonl (_id/docid + title/text), a file of query/positive pairs, or a data folder.",
    ),
]
Format = Annotated[str, typer.Option("--format", help="Output format: anserini (JsonVectorCollection).")]
Scale = Annotated[float, typer.Option("--scale", help="Impacts are round(weight x scale).")]
Queries = Annotated[
    Path | None,
    typer.Option(
        "--queries", help="Also write these queries (queries.jsonl, qid<TAB>text or pairs) as queries.tsv."
    ),
]
PruneMass = Annotated[
    float | None,
    typer.Option("--prune-mass", help="Keep each document's top terms up to this L1-mass fraction."),
]
PruneTopK = Annotated[int | None, typer.Option("--prune-top-k", help="Keep at most K terms per document.")]
DocsPerFile = Annotated[
    int, typer.Option("--docs-per-file", min=1, help="Documents per corpus/docs-*.jsonl file.")
]


def export(
    model: ModelDir,
    corpus: Corpus,
    output: OutputDir,
    fmt: Format = "anserini",
    scale: Scale = 100.0,
    queries: Queries = None,
    prune_mass: PruneMass = None,
    prune_top_k: PruneTopK = None,
    batch_size: BatchSize = 32,
    device: EncodeDevices = "auto",
    processes: Processes = 1,
    max_length: MaxLength = None,
    docs_per_file: DocsPerFile = 500_000,
    overwrite: Overwrite = False,
    json_output: JsonOutput = False,
) -> None:
    """Export a corpus as an Anserini/pyserini JsonVectorCollection for a Lucene impact index.

    Writes OUT/corpus/docs-*.jsonl ({"id", "contents", "vector": {term: impact}}, impact =
    round(w x --scale)), OUT/export.json and, with --queries, OUT/queries.tsv (pre-tokenised
    topics for pyserini's --impact search). --prune-mass and --prune-top-k may be combined:
    mass first, then the cap.

    [b]Example[/]:

      sembridge export -m out/ru-sembridge --corpus data/ru/corpus.jsonl -o ru-vectors

      python -m pyserini.index.lucene --collection JsonVectorCollection --input ru-vectors/corpus
      --index ru-index --generator DefaultLuceneDocumentGenerator --threads 8 --impact --pretokenized
    """
    from rich.table import Table

    from sembridge.data import load_corpus, load_queries
    from sembridge.errors import SembridgeError
    from sembridge.evaluation.export import EXPORT_FORMATS, export_anserini
    from sembridge.evaluation.pruning import Pruning
    from sembridge.io import check_output_dir
    from sembridge.log import console

    if fmt not in EXPORT_FORMATS:
        raise SembridgeError(
            f"unknown export format '{fmt}'", hint=f"use one of: {', '.join(EXPORT_FORMATS)}"
        )
    pruning = Pruning(mass=prune_mass, top_k=prune_top_k)
    check_output_dir(output, overwrite)
    documents = load_corpus(corpus)
    topics = load_queries(queries) if queries is not None else None
    summary = export_anserini(
        model,
        documents,
        output,
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
        ("format", "Anserini JsonVectorCollection"),
        ("files", f"{summary['files']:,}"),
        ("scale", f"{summary['scale']:g}"),
        ("pruning", pruning.label),
        ("mean terms / document", f"{summary['mean_document_terms']:.1f}"),
        ("empty documents", f"{summary['empty_documents']:,}"),
    ]
    if "queries" in summary:
        rows.append(("queries", f"{summary['queries']:,}"))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    console.print(
        "Index it: python -m pyserini.index.lucene --collection JsonVectorCollection "
        f"--input {output}/corpus --index {output}-index --generator DefaultLuceneDocumentGenerator "
        "--threads 8 --impact --pretokenized",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command("export")(export)
