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
    Quiet,
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
        "--docs-per-file",
        min=1,
        help="Documents per part file (default 100,000; 5,000 for bulk files): the unit of --resume "
        "and --shard.",
    ),
]
Shard = Annotated[
    str | None,
    typer.Option(
        "--shard",
        help="I/N: write only the parts whose number is I modulo N (0 <= I < N), for N jobs or GPUs; "
        "'sembridge merge-shards' joins their folders.",
    ),
]
Resume = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Continue the OUT.partial folder a killed or failed run left, after its last whole part.",
    ),
]
Hits = Annotated[
    int,
    typer.Option(
        "--hits",
        min=1,
        help="Results each written query body asks for (opensearch, elasticsearch, qdrant).",
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
    hits: Hits = 1000,
    shard: Shard = None,
    resume: Resume = False,
    quantize: Quantize = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Export a corpus as sparse vectors for a search engine, or the encoder as an ONNX model.

    Every vector format holds the same numbers: special tokens dropped, documents pruned
    (--prune-mass then --prune-top-k), integer impacts round(w x --scale), zeros left out.
    OUT/export.json records the settings and counts; --queries adds the format's query file.
    The corpus is read one document at a time and written in parts into OUT.partial, moved onto
    OUT at the end: --resume continues a killed run, --shard I/N splits the work over N runs.
    The README's export section gives each engine's indexing command.

    [b]Examples[/]:

      sembridge export -m out/ru-sembridge --corpus data/ru/corpus.jsonl -o ru-vectors

      python -m pyserini.index.lucene --collection JsonVectorCollection --input ru-vectors/corpus
      --index ru-index --generator DefaultLuceneDocumentGenerator --threads 8 --impact --pretokenized

      sembridge export -m out/ru-sembridge --corpus data/ru/corpus.jsonl --format seismic -o ru-seismic

      sembridge export -m out/ru-sembridge --corpus big.jsonl --shard 0/4 --resume -o big-0

      sembridge export -m out/ru-sembridge --format onnx --quantize -o ru-onnx
    """
    from sembridge.log import quiet_libraries

    if quiet or json_output:
        quiet_libraries()  # before the libraries are imported: they read its settings then
    from sembridge.cli.output import print_json, print_summary_table
    from sembridge.encoding.pruning import Pruning
    from sembridge.export import WRITERS
    from sembridge.export.pipeline import export as run_export
    from sembridge.log import console

    pruning = Pruning(mass=prune_mass, top_k=prune_top_k)
    summary = run_export(
        model,
        output,
        format=fmt,
        corpus=corpus,
        queries=queries,
        scale=scale,
        pruning=pruning,
        quantize=quantize,
        batch_size=batch_size,
        device=device,
        processes=processes,
        max_length=max_length,
        docs_per_file=docs_per_file,
        hits=hits,
        shard=shard,
        resume=resume,
        overwrite=overwrite,
        show_progress=not (quiet or json_output),
    )
    if json_output:
        print_json(summary)
        return
    if fmt == "onnx":
        console.print(f"Exported {model} as ONNX to {output}", highlight=False)
        for name in sorted(p.name for p in Path(output).glob("*.onnx")):
            console.print(f"  {name}", highlight=False)
        return
    rows = [
        ("format", WRITERS[fmt].label),
        ("files", f"{summary['files']:,}"),
        *(
            [("shard", f"{summary['shard']}: parts {_parts(summary['parts'])} of {summary['total_parts']:,}")]
            if summary.get("shard", "0/1") != "0/1"
            else []
        ),
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
    print_summary_table(f"Exported {summary['documents']:,} documents to {output}", rows)
    console.print(f"Index it: {WRITERS[fmt].index_command(output)}", highlight=False, soft_wrap=True)


ShardFolders = Annotated[
    list[Path],
    typer.Argument(
        metavar="SHARD", help="The output folders of the shards (--shard 0/N ... N-1/N), in any order."
    ),
]


def merge_shards(
    shards: ShardFolders,
    output: OutputDir,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Join the folders of a sharded export (sembridge export --shard I/N) into one export.

    The result is the same, file for file, as one unsharded export of the corpus. Every part must
    be in exactly one folder and the shards must share their settings; the shards' folders are
    left as they are (their part files are hard-linked where possible, else copied).

    [b]Example[/]:

      sembridge merge-shards big-0 big-1 big-2 big-3 -o big
    """
    from sembridge.log import quiet_libraries

    if quiet or json_output:
        quiet_libraries()
    from sembridge.cli.output import print_json, print_summary_table
    from sembridge.export import WRITERS
    from sembridge.export import merge_shards as run_merge
    from sembridge.log import console

    summary = run_merge(shards, output, overwrite=overwrite)
    if json_output:
        print_json(summary)
        return
    rows = [
        ("format", WRITERS[summary["format"]].label),
        ("shards", f"{len(shards):,}"),
        ("files", f"{summary['files']:,}"),
        ("postings", f"{summary['postings']:,}"),
    ]
    print_summary_table(f"Merged {summary['documents']:,} documents into {output}", rows)
    console.print(
        f"Index it: {WRITERS[summary['format']].index_command(output)}", highlight=False, soft_wrap=True
    )


def _parts(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:6])
    return shown + (", ..." if len(numbers) > 6 else "") if numbers else "none"


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("merge-shards")(merge_shards)
