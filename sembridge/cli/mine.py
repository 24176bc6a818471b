"""``sembridge mine``: hard negatives for a pairs file, with a teacher's scores (BM25 and the bridge)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sembridge.cli.options import BatchSize, CacheDir, Device, JsonOutput, Quiet

Data = Annotated[
    str,
    typer.Option(
        "--data", "-d", help="Query/positive pairs: any file, folder or hub id finetune --data reads."
    ),
]
OutputFile = Annotated[Path, typer.Option("--output", "-o", help="JSONL file of mined n-tuples to write.")]
Tokenizer = Annotated[
    str,
    typer.Option(
        "--tokenizer", "-t", help="Target tokenizer whose pieces BM25 counts: short name, hub id or folder."
    ),
]
Dense = Annotated[
    str, typer.Option("--dense", "-b", help="Dense model (the bridge): short name, hub id or folder.")
]
Miner = Annotated[
    str, typer.Option("--miner", help="Ranks the candidates: bm25, dense or bm25+dense (the teacher).")
]
Teacher = Annotated[
    str,
    typer.Option("--teacher", help="Scores every text: bm25, dense or bm25+dense (normalised, weighted)."),
]
Negatives = Annotated[int, typer.Option("--negatives", "-k", min=1, help="Negatives per query.")]
RangeMin = Annotated[int, typer.Option("--range-min", min=0, help="Skip the miner's first N candidates.")]
RangeMax = Annotated[int, typer.Option("--range-max", min=1, help="Look no deeper than the miner's top N.")]
Margin = Annotated[
    float,
    typer.Option(
        "--relative-margin",
        min=0.0,
        max=0.999,
        help="Drop a candidate the teacher scores above (1 - margin) x the positive's: likely relevant.",
    ),
]
Weight = Annotated[
    float, typer.Option("--bm25-weight", min=0.0, max=1.0, help="BM25's share of the fused teacher.")
]
Corpus = Annotated[
    str | None,
    typer.Option(
        "--corpus", "-c", help="More documents to draw negatives from (corpus.jsonl or a pairs file)."
    ),
]
OverwriteFile = Annotated[bool, typer.Option("--overwrite", help="Replace the output file if it exists.")]


def mine(
    data: Data,
    output: OutputFile,
    tokenizer: Tokenizer,
    dense: Dense = "bge-m3",
    miner: Miner = "bm25+dense",
    teacher: Teacher = "bm25+dense",
    negatives: Negatives = 7,
    range_min: RangeMin = 0,
    range_max: RangeMax = 50,
    relative_margin: Margin = 0.05,
    bm25_weight: Weight = 0.3,
    corpus: Corpus = None,
    batch_size: BatchSize = 64,
    device: Device = "auto",
    cache_dir: CacheDir = None,
    overwrite: OverwriteFile = False,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Mine hard negatives for query/positive pairs, each scored by a teacher, for distillation.

    Candidates come from the pairs' own positives (and --corpus); a candidate equal to the
    positive, sharing a paragraph with it, or scored by the teacher within --relative-margin of
    it is dropped as a likely false negative, and counted. The output holds query, positive,
    negative_1..negative_K and scores (the teacher's, positive first): what
    [b]sembridge finetune --loss kl[/] (or margin-mse, infonce+kl) reads.

    [b]Examples[/]:

      sembridge mine -d pairs.jsonl -t rubert -o mined.jsonl

      sembridge mine -d pairs.jsonl -t ./ru-tokenizer -b multilingual-e5-small --negatives 3 -o mined.jsonl
    """
    from sembridge.log import quiet_libraries

    if quiet or json_output:
        quiet_libraries()  # before the libraries are imported: they read its settings then
    from sembridge.data import load_corpus, load_pairs
    from sembridge.device import resolve_device
    from sembridge.loading import load_bridge, load_tokenizer
    from sembridge.training.mining import MineSettings, mine_inputs
    from sembridge.training.mining import mine as run_mine

    settings = MineSettings(
        miner, teacher, negatives, range_min, range_max, relative_margin, bm25_weight, batch_size
    )
    from sembridge.io import check_output_file

    inputs = mine_inputs(data=data, corpus=corpus, tokenizer=tokenizer, dense=dense, cache_dir=cache_dir)
    check_output_file(output, overwrite, inputs=inputs)  # before any model is loaded
    pairs = load_pairs(data)
    extra = list(load_corpus(corpus).values()) if corpus is not None else []
    summary = run_mine(
        pairs,
        output,
        tokenizer=load_tokenizer(tokenizer),
        dense_model=load_bridge(dense, resolve_device(device), kind="dense model"),
        settings=settings,
        corpus=extra,
        overwrite=overwrite,
        cache_dir=cache_dir,
        show_progress=not (quiet or json_output),
        names={"tokenizer": str(tokenizer), "dense": str(dense), "data": str(data), "corpus": str(corpus)},
    )
    from sembridge.cli.output import print_json, print_summary_table

    if json_output:
        print_json(summary.to_dict())
        return
    rows = (
        ("pairs read", f"{summary.pairs:,}"),
        ("corpus documents", f"{summary.corpus:,}"),
        ("negatives per row", f"{negatives}"),
        ("dropped: equal to a positive", f"{summary.dropped_equal:,}"),
        ("dropped: sharing a paragraph with the positive", f"{summary.dropped_shared_paragraph:,}"),
        ("dropped: within the teacher's margin", f"{summary.dropped_margin:,}"),
        ("queries short of negatives (left out)", f"{summary.queries_short_of_negatives:,}"),
        ("teacher scores the positive above negative_1", f"{summary.teacher_prefers_positive:.1%}"),
        ("from the cache", "yes" if summary.cached else "no"),
    )
    print_summary_table(f"Wrote {summary.rows:,} n-tuples to {output}", rows)


def register(app: typer.Typer) -> None:
    app.command("mine", no_args_is_help=True)(mine)
