"""``sembridge evaluate``: retrieval quality (nDCG@10, ...) and sparsity of one or more models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sembridge.cli.options import BatchSize, EncodeDevices, JsonOutput, MaxLength, Processes, Quiet

Models = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        "-m",
        help="A SPLADE model folder or hub id; repeat to compare models (source, inits, checkpoints).",
    ),
]
BM25 = Annotated[
    bool,
    typer.Option(
        "--bm25",
        help="Add a BM25 row (bm25s, k1=1.5, b=0.75) over the word pieces of the first --model's "
        "tokenizer or of --bm25-tokenizer; its q/d terms count distinct word pieces.",
    ),
]
BM25Tokenizer = Annotated[
    str | None,
    typer.Option(
        "--bm25-tokenizer", help="Tokenizer folder, hub id or short name that cuts texts for --bm25."
    ),
]
Dense = Annotated[
    list[str] | None,
    typer.Option(
        "--dense",
        help="Add a dense retrieval row: any sentence-transformers model, with its own query/passage "
        "prompts and exact cosine search; repeatable. Its sparsity columns show '-'.",
    ),
]
Names = Annotated[
    list[str] | None,
    typer.Option("--name", help="Display name of each --model, in the same order (default: folder name)."),
]
Data = Annotated[
    str,
    typer.Option(
        "--data",
        "-d",
        help="BEIR, MIRACL or WebFAQ folder, a file of query/positive pairs (as for finetune), or a hub id.",
    ),
]
Split = Annotated[str, typer.Option("--split", help="Qrels split to evaluate (BEIR/MIRACL/WebFAQ/hub).")]
DataFormat = Annotated[
    str, typer.Option("--data-format", help="auto, beir, miracl, webfaq, pairs or hub (auto detects it).")
]
TopK = Annotated[int, typer.Option("--top-k", min=1, help="Retrieval depth: documents kept per query.")]
Metrics = Annotated[
    list[str] | None,
    typer.Option(
        "--metrics", help="ir-measures names, repeated or comma-separated. Default: nDCG@10,R@100,RR@10."
    ),
]
PruneMass = Annotated[
    list[str] | None,
    typer.Option(
        "--prune-mass",
        help="Keep each document's top terms up to this fraction of its L1 mass; "
        "a list sweeps (0.8,0.9,0.95).",
    ),
]
PruneTopK = Annotated[
    list[str] | None,
    typer.Option("--prune-top-k", help="Keep at most K terms per document; a list sweeps (32,64,128)."),
]
ReportFile = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write the JSON report here (a sweep also writes a .png plot next to it)."
    ),
]
RunFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--run-file",
        help="TREC run file, one per --model, then one for --bm25 and one per --dense, in that order; "
        "pruned settings go to siblings.",
    ),
]
PerQuery = Annotated[
    bool, typer.Option("--per-query", help="Store every query's metric values in the report.")
]
Overwrite = Annotated[
    bool, typer.Option("--overwrite", help="Replace the report, its plot and the run files if they exist.")
]
UpdateCard = Annotated[
    bool,
    typer.Option(
        "--update-card",
        help="Write each --model's results into an Evaluation table of its folder's README.md model card "
        "(one table per data set and split, replaced when evaluated again).",
    ),
]
DropUnknown = Annotated[
    bool,
    typer.Option(
        "--drop-unknown-qrels", help="Drop judgements naming unknown queries/documents instead of failing."
    ),
]


def evaluate(
    data: Data,
    model: Models = None,
    name: Names = None,
    split: Split = "test",
    data_format: DataFormat = "auto",
    batch_size: BatchSize = 32,
    device: EncodeDevices = "auto",
    processes: Processes = 1,
    top_k: TopK = 100,
    max_length: MaxLength = None,
    metrics: Metrics = None,
    prune_mass: PruneMass = None,
    prune_top_k: PruneTopK = None,
    output: ReportFile = None,
    run_file: RunFiles = None,
    per_query: PerQuery = False,
    drop_unknown_qrels: DropUnknown = False,
    overwrite: Overwrite = False,
    bm25: BM25 = False,
    bm25_tokenizer: BM25Tokenizer = None,
    dense: Dense = None,
    update_card: UpdateCard = False,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Evaluate sparse encoders: nDCG@10, R@100, RR@10, active terms and FLOPs, side by side.

    Retrieval is exact (an inverted index over the document vectors). Pruning (--prune-mass,
    --prune-top-k) applies to documents after encoding, as in MILCO; every listed value is one
    more row of the table, beside the unpruned one.

    Baselines share the table, metrics, run files and report: --bm25 (BM25 on word pieces) and
    --dense MODEL (a dense sentence-transformers model); pruning does not apply to them. With
    baselines only, --model may be left out.

    [b]Examples[/]:

      sembridge evaluate -m naver/splade-v3 -m out/ru-sembridge --data data/miracl-ru --split dev

      sembridge evaluate -m out/ru-sembridge --data pairs.jsonl --prune-mass 0.8,0.9,0.95 -o report.json

      sembridge evaluate -m out/ru-sembridge --data data/miracl-ru --bm25 --dense multilingual-e5-small

      sembridge evaluate -m out/ru-sembridge --data data/miracl-ru --split dev --update-card
    """
    from sembridge.log import quiet_libraries

    if quiet or json_output:
        quiet_libraries()  # before the libraries are imported: they read its settings then
    from sembridge.encoding.pruning import parse_values
    from sembridge.errors import UsageError
    from sembridge.evaluation.metrics import DEFAULT_METRICS, parse_metrics
    from sembridge.evaluation.pipeline import evaluate as run_evaluation
    from sembridge.evaluation.report import results_table
    from sembridge.log import console

    model = model or []
    if name and len(name) != len(model):
        raise UsageError(
            f"{len(name)} --name value(s) for {len(model)} --model value(s)",
            hint="give one --name per --model, in the same order, or none",
        )
    report = run_evaluation(
        model,
        data,
        names=name or None,
        split=split,
        data_format=data_format,
        metrics=[str(m) for m in parse_metrics(metrics or DEFAULT_METRICS)],
        top_k=top_k,
        batch_size=batch_size,
        device=device,
        processes=processes,
        max_length=max_length,
        prune_mass=parse_values(prune_mass, float, "--prune-mass"),
        prune_top_k=parse_values(prune_top_k, int, "--prune-top-k"),
        per_query=per_query,
        run_files=run_file,
        overwrite=overwrite,
        show_progress=not (quiet or json_output),
        drop_unknown=drop_unknown_qrels,
        bm25=bm25,
        bm25_tokenizer=bm25_tokenizer,
        dense=dense or [],
        output=output,
        update_card=update_card,
    )
    if json_output:
        from sembridge.cli.output import print_json

        print_json(report)
    else:
        console.print(results_table(report))


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
