"""``sembridge mine``: hard negatives for a pairs file, with a teacher's scores (BM25 and the bridge);
with ``--parallel``, pseudo-parallel pairs between English and target-language texts."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from sembridge.cli.options import BatchSize, CacheDir, Device, JsonOutput, Quiet

Data = Annotated[
    str,
    typer.Option(
        "--data", "-d", help="Query/positive pairs: any file, folder or hub id finetune --data reads."
    ),
]
OutputFile = Annotated[
    Path, typer.Option("--output", "-o", help="JSONL file to write: mined n-tuples (or pairs, --parallel).")
]
Tokenizer = Annotated[
    str | None,
    typer.Option(
        "--tokenizer",
        "-t",
        help="Target tokenizer whose pieces BM25 counts: short name, hub id or folder (required "
        "unless --parallel).",
    ),
]
DEFAULT_DENSE = "bge-m3"
Dense = Annotated[
    str | None,
    typer.Option(
        "--dense",
        "-b",
        help=f"Dense model (the bridge): short name, hub id or folder [default: {DEFAULT_DENSE}].",
        show_default=False,
    ),
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
Fill = Annotated[
    bool,
    typer.Option(
        "--fill/--no-fill",
        help="A query with fewer than --negatives survivors within --range-max takes the next ones "
        "below it (same guards) instead of being left out.",
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
PARALLEL = "Pseudo-parallel pairs (--parallel)"
Parallel = Annotated[
    bool,
    typer.Option(
        "--parallel",
        help="Mine pseudo-parallel pairs by margin scoring between --english texts and --data "
        "(target-language texts) instead of negatives; writes what align --parallel reads.",
        rich_help_panel=PARALLEL,
    ),
]
English = Annotated[
    str | None,
    typer.Option(
        "--english",
        "-e",
        help="English texts: a .txt file (one per line) or a corpus (corpus.jsonl, a pairs file).",
        rich_help_panel=PARALLEL,
    ),
]
Scorer = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Score with this sparse model (an aligned model's folder) instead of --dense.",
        rich_help_panel=PARALLEL,
    ),
]
Neighbours = Annotated[
    int,
    typer.Option(
        "--neighbours",
        min=1,
        help="Neighbours whose mean cosine is a text's density.",
        rich_help_panel=PARALLEL,
    ),
]
MinMargin = Annotated[
    float,
    typer.Option(
        "--min-margin",
        min=0.0,
        help="Keep a pair whose cosine is at least this many times its two densities' mean "
        "(chosen with multilingual-e5-small; above 1 needs --neighbours 2 or more).",
        rich_help_panel=PARALLEL,
    ),
]
OverwriteFile = Annotated[bool, typer.Option("--overwrite", help="Replace the output file if it exists.")]


def mine(
    data: Data,
    output: OutputFile,
    tokenizer: Tokenizer = None,
    dense: Dense = None,
    miner: Miner = "bm25+dense",
    teacher: Teacher = "bm25+dense",
    negatives: Negatives = 7,
    range_min: RangeMin = 0,
    range_max: RangeMax = 50,
    relative_margin: Margin = 0.05,
    bm25_weight: Weight = 0.3,
    fill: Fill = False,
    corpus: Corpus = None,
    batch_size: BatchSize = 64,
    device: Device = "auto",
    cache_dir: CacheDir = None,
    parallel: Parallel = False,
    english: English = None,
    model: Scorer = None,
    neighbours: Neighbours = 4,
    min_margin: MinMargin = 1.02,
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

      sembridge mine --parallel -e en-help.txt -d ru-help.txt -b multilingual-e5-small -o pseudo.jsonl
    """
    from sembridge.errors import UsageError
    from sembridge.log import quiet_libraries

    if quiet or json_output:
        quiet_libraries()  # before the libraries are imported: they read its settings then
    if parallel:
        if english is None:
            raise UsageError("--parallel needs --english: the English texts to pair with --data")
        # Flags only mining negatives reads: refused when set to anything but their default.
        negatives_only = {
            "tokenizer": tokenizer,
            "corpus": corpus,
            "cache_dir": cache_dir,
            "miner": miner,
            "teacher": teacher,
            "negatives": negatives,
            "range_min": range_min,
            "range_max": range_max,
            "relative_margin": relative_margin,
            "bm25_weight": bm25_weight,
            "fill": fill,
            **({"dense": dense} if model is not None else {}),
        }
        defaults = inspect.signature(mine).parameters
        given = [
            "--" + name.replace("_", "-")
            for name, value in negatives_only.items()
            if value != defaults[name].default
        ]
        if given:
            what = "--model scores instead" if given == ["--dense"] else "they are for hard negatives"
            raise UsageError(f"--parallel does not read {', '.join(given)}: {what}", hint="leave it out")
        mine_parallel(
            data,
            english,
            output,
            dense or DEFAULT_DENSE,
            model,
            neighbours,
            min_margin,
            batch_size,
            device,
            overwrite,
            quiet or json_output,
            json_output,
        )
        return
    if english is not None or model is not None:
        raise UsageError("--english and --model are for --parallel; add --parallel to mine pairs")
    if tokenizer is None:
        raise UsageError("--tokenizer is required: the target tokenizer whose pieces BM25 counts")
    dense = dense or DEFAULT_DENSE
    from sembridge.data import load_corpus, load_pairs
    from sembridge.device import resolve_device
    from sembridge.loading import load_bridge, load_tokenizer
    from sembridge.training.mining import MineSettings, mine_inputs
    from sembridge.training.mining import mine as run_mine

    settings = MineSettings(
        miner, teacher, negatives, range_min, range_max, relative_margin, bm25_weight, batch_size, fill
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
    rows = (
        ("pairs read", f"{summary.pairs:,}"),
        ("corpus documents", f"{summary.corpus:,}"),
        ("negatives per row", f"{negatives}"),
        ("dropped: equal to a positive", f"{summary.dropped_equal:,}"),
        ("dropped: sharing a paragraph with the positive", f"{summary.dropped_shared_paragraph:,}"),
        ("dropped: within the teacher's margin", f"{summary.dropped_margin:,}"),
        ("queries short of negatives (left out)", f"{summary.queries_short_of_negatives:,}"),
        ("queries filled from below --range-max", f"{summary.queries_filled:,}"),
        ("teacher scores the positive above negative_1", f"{summary.teacher_prefers_positive:.1%}"),
        ("from the cache", "yes" if summary.cached else "no"),
    )
    _report(summary, json_output, f"Wrote {summary.rows:,} n-tuples to {output}", rows)


def mine_parallel(
    data: str,
    english: str,
    output: Path,
    dense: str,
    model: str | None,
    neighbours: int,
    min_margin: float,
    batch_size: int,
    device: str,
    overwrite: bool,
    quiet: bool,
    json_output: bool,
) -> None:
    """``mine --parallel``: one call to :func:`sembridge.training.parallel_mining.mine_parallel`."""
    from sembridge.device import resolve_device
    from sembridge.io import check_output_file
    from sembridge.training.parallel_mining import ParallelMineSettings, read_texts
    from sembridge.training.parallel_mining import mine_parallel as run_mine_parallel

    settings = ParallelMineSettings(neighbours, min_margin, batch_size)
    inputs = {"english": english, "data": data, **({"model": model} if model else {"dense": dense})}
    check_output_file(output, overwrite, inputs=inputs)  # before any model is loaded
    english_texts = read_texts(english, "--english")
    target_texts = read_texts(data, "--data")
    if model is not None:
        from sembridge.encoding.encode import load_encoder

        scorers = {"sparse_model": load_encoder(model, device)}
    else:
        from sembridge.loading import load_bridge

        scorers = {"dense_model": load_bridge(dense, resolve_device(device), kind="dense model")}
    summary = run_mine_parallel(
        english_texts,
        target_texts,
        output,
        settings=settings,
        overwrite=overwrite,
        inputs=inputs,
        show_progress=not quiet,
        scorer_name=str(model or dense),
        **scorers,
    )
    rows = (
        ("English texts", f"{summary.english:,}"),
        ("target texts", f"{summary.target:,}"),
        ("scored by", summary.scorer),
        ("candidates (each text's best)", f"{summary.candidates:,}"),
        ("dropped: the same text on both sides", f"{summary.dropped_identical:,}"),
        (f"dropped: margin below {min_margin}", f"{summary.below_margin:,}"),
        ("mean margin of the pairs kept", f"{summary.mean_margin:.3f}"),
    )
    _report(summary, json_output, f"Wrote {summary.rows:,} pseudo-parallel pairs to {output}", rows)


def _report(summary: Any, json_output: bool, title: str, rows: tuple[tuple[str, str], ...]) -> None:
    """The summary as JSON (``--json``), or as a table under ``title``."""
    from sembridge.cli.output import print_json, print_summary_table

    if json_output:
        print_json(summary.to_dict())
    else:
        print_summary_table(title, rows)


def register(app: typer.Typer) -> None:
    app.command("mine", no_args_is_help=True)(mine)
