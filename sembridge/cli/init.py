"""``sembridge init``: build a target-language sparse encoder from an English one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sembridge.cli.options import BatchSize, CacheDir, Device, OutputDir, Overwrite, Seed

BASELINES = "Baseline methods (see --method)"
METHOD_HELP = (
    "How the rows of new tokens are built. "
    "sembridge: Entmax over bridge similarities (--alpha, --bridge); "
    "random: N(0, initializer_range), zero bias (optional --init-std); "
    "mean: the mean source row and bias; "
    "gaussian: per-dimension mean and std of the source rows; "
    "mv-gaussian: mean and full covariance of the source rows; "
    "focus: needs --target-text; "
    "ofa: needs --word-vectors; "
    "wechsel: needs --source-word-vectors, --target-word-vectors, --dictionary."
)


def init(
    source: Annotated[
        str, typer.Option("--source", "-s", help="Source sparse encoder: short name, hub id or folder.")
    ],
    target_tokenizer: Annotated[
        str,
        typer.Option(
            "--target-tokenizer", "-t", help="Target-language tokenizer: short name, hub id or folder."
        ),
    ],
    output: OutputDir,
    method: Annotated[str, typer.Option("--method", help=METHOD_HELP)] = "sembridge",
    alpha: Annotated[
        float | None,
        typer.Option(
            "--alpha",
            help="sembridge: Entmax alpha (>= 1): 1 softmax, 2 sparsemax, 4 the paper's. \\[default: 4]",
        ),
    ] = None,
    bridge: Annotated[
        str | None,
        typer.Option(
            "--bridge",
            "-b",
            help="sembridge: multilingual dense bridge (sentence-transformers model). \\[default: bge-m3]",
        ),
    ] = None,
    bridge_prompt: Annotated[
        str | None,
        typer.Option(
            "--bridge-prompt",
            help="sembridge: text put before each token when embedding (e5 registry default: 'query: ').",
        ),
    ] = None,
    exact: Annotated[
        bool, typer.Option("--exact/--no-exact", help="Copy rows of tokens whose canonical form matches.")
    ] = True,
    symbols: Annotated[
        bool,
        typer.Option(
            "--symbols/--no-symbols", help="Match numbers and punctuation ignoring the word-start mark."
        ),
    ] = True,
    fuzzy: Annotated[
        bool, typer.Option("--fuzzy/--no-fuzzy", help="Also match ignoring case and the word-start mark.")
    ] = False,
    init_std: Annotated[
        float | None,
        typer.Option(
            "--init-std",
            help="random: std of the new rows. \\[default: the source config's initializer_range]",
            rich_help_panel=BASELINES,
        ),
    ] = None,
    target_text: Annotated[
        Path | None,
        typer.Option(
            "--target-text",
            metavar="FILE",
            help="focus: target-language text, one passage per line, for the auxiliary fastText vectors.",
            rich_help_panel=BASELINES,
        ),
    ] = None,
    fasttext_dim: Annotated[
        int | None,
        typer.Option(
            "--fasttext-dim", help="focus: fastText dimension. \\[default: 100]", rich_help_panel=BASELINES
        ),
    ] = None,
    fasttext_epochs: Annotated[
        int | None,
        typer.Option(
            "--fasttext-epochs", help="focus: fastText epochs. \\[default: 3]", rich_help_panel=BASELINES
        ),
    ] = None,
    fasttext_min_count: Annotated[
        int | None,
        typer.Option(
            "--fasttext-min-count",
            help="focus: occurrences a token needs to get a fastText vector. \\[default: 10]",
            rich_help_panel=BASELINES,
        ),
    ] = None,
    word_vectors: Annotated[
        Path | None,
        typer.Option(
            "--word-vectors",
            metavar="FILE",
            help="ofa: multilingual word vectors covering both languages (word2vec text or binary).",
            rich_help_panel=BASELINES,
        ),
    ] = None,
    source_word_vectors: Annotated[
        Path | None,
        typer.Option(
            "--source-word-vectors",
            metavar="FILE",
            help="wechsel: source-language word vectors (word2vec text or binary).",
            rich_help_panel=BASELINES,
        ),
    ] = None,
    target_word_vectors: Annotated[
        Path | None,
        typer.Option(
            "--target-word-vectors",
            metavar="FILE",
            help="wechsel: target-language word vectors of the same dimension.",
            rich_help_panel=BASELINES,
        ),
    ] = None,
    dictionary: Annotated[
        Path | None,
        typer.Option(
            "--dictionary",
            metavar="FILE",
            help="wechsel: bilingual dictionary, 'source word<TAB>target word' per line.",
            rich_help_panel=BASELINES,
        ),
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option(
            "--temperature",
            help="ofa, wechsel: softmax temperature. \\[default: 0.1]",
            rich_help_panel=BASELINES,
        ),
    ] = None,
    top_k: Annotated[
        int | None,
        typer.Option(
            "--top-k",
            help="ofa, wechsel: nearest source tokens combined. \\[default: 10]",
            rich_help_panel=BASELINES,
        ),
    ] = None,
    max_word_vectors: Annotated[
        int | None,
        typer.Option(
            "--max-word-vectors",
            help="ofa, wechsel: read only the first (most frequent) N words of each vector file.",
            rich_help_panel=BASELINES,
        ),
    ] = None,
    device: Device = "auto",
    batch_size: BatchSize = 256,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="New tokens per similarity chunk (bounds memory).")
    ] = 1024,
    cache_dir: CacheDir = None,
    seed: Seed = 42,
    overwrite: Overwrite = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Initialise a target-language sparse encoder with SemBridge (or a baseline) and write it to --output.

    The folder loads in transformers (AutoModelForMaskedLM, AutoTokenizer) and in
    sentence-transformers' SparseEncoder; sembridge_init.json records how each token was built.
    Every --method shares the loading, overlap copying, MLM-head remapping and output format:
    only the rows of new tokens differ.

    [b]Examples[/], one per method

      sembridge init --source splade-v3 --target-tokenizer ARBERT --alpha 4 -o ar-splade

      sembridge init -s naver/splade-v3 -t ./my-tokenizer --bridge multilingual-minilm --fuzzy -o out

      sembridge init -s splade-v3 -t ARBERT --method random -o ar-random

      sembridge init -s splade-v3 -t ARBERT --method mean -o ar-mean

      sembridge init -s splade-v3 -t ARBERT --method gaussian -o ar-gaussian

      sembridge init -s splade-v3 -t ARBERT --method mv-gaussian -o ar-mvg

      sembridge init -s splade-v3 -t ARBERT --method focus --target-text ar.txt -o ar-focus

      sembridge init -s splade-v3 -t ARBERT --method ofa --word-vectors multilingual.vec -o ar-ofa

      sembridge init -s splade-v3 -t ARBERT --method wechsel --source-word-vectors en.vec
      --target-word-vectors ar.vec --dictionary en-ar.tsv -o ar-wechsel
    """
    from sembridge.errors import SembridgeError
    from sembridge.initialize import InitConfig, initialize
    from sembridge.io import check_output_dir

    check_output_dir(output, overwrite)
    if method != "sembridge":
        for flag, value in (("--alpha", alpha), ("--bridge", bridge), ("--bridge-prompt", bridge_prompt)):
            if value is not None:
                raise SembridgeError(
                    f"{flag} is used only by method 'sembridge', not by '{method}'",
                    hint=f"leave {flag} out, or use --method sembridge",
                )
    method_options = {
        "init_std": init_std,
        "target_text": target_text,
        "fasttext_dim": fasttext_dim,
        "fasttext_epochs": fasttext_epochs,
        "fasttext_min_count": fasttext_min_count,
        "word_vectors": word_vectors,
        "source_word_vectors": source_word_vectors,
        "target_word_vectors": target_word_vectors,
        "dictionary": dictionary,
        "temperature": temperature,
        "top_k": top_k,
        "max_word_vectors": max_word_vectors,
    }
    config = InitConfig(
        source=source,
        target_tokenizer=target_tokenizer,
        method=method,
        alpha=4.0 if alpha is None else alpha,
        bridge="bge-m3" if bridge is None else bridge,
        bridge_prompt=bridge_prompt,
        device=device,
        batch_size=batch_size,
        cache_dir=str(cache_dir) if cache_dir else None,
        exact=exact,
        symbols=symbols,
        fuzzy=fuzzy,
        seed=seed,
        chunk_size=chunk_size,
        show_progress=not quiet,
        method_options={
            k: str(v) if isinstance(v, Path) else v for k, v in method_options.items() if v is not None
        },
    )
    result = initialize(config, output_dir=output, overwrite=overwrite)
    print_summary(result.report, output)


# Method details worth a line in the summary table, when the method reports them.
SUMMARY_INFO = (
    "std",
    "statistics_rows",
    "weighted_rows",
    "random_fallback_rows",
    "dictionary_pairs_with_vectors",
    "pair_cosine_before_alignment",
    "pair_cosine_after_alignment",
)


def print_summary(report: dict, output: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    from sembridge.log import console

    summary = report["summary"]
    table = Table(title=f"sembridge init -> {output}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("method", summary["method"])
    table.add_row("source vocabulary", f"{summary['source_vocab_size']:,}")
    table.add_row("target vocabulary", f"{summary['target_vocab_size']:,}")
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(summary["copied_by_kind"].items()))
    table.add_row("copied (overlap)", f"{summary['copied']:,}" + (f"  ({kinds})" if kinds else ""))
    table.add_row("new tokens", f"{summary['new']:,}")
    if summary["support_size"]:
        s = summary["support_size"]
        table.add_row("support size", f"mean {s['mean']:.1f}, median {s['median']:.0f}, max {s['max']}")
    table.add_row("decoder", summary["decoder"])
    table.add_row("decoder bias", escape(summary["bias"]))
    info = summary.get("method_info") or {}
    for key in SUMMARY_INFO:
        if key in info:
            value = info[key]
            text = (
                f"{value:,}"
                if isinstance(value, int)
                else f"{value:g}"
                if isinstance(value, float)
                else str(value)
            )
            table.add_row(key.replace("_", " "), escape(text))
    for name, seconds in summary["timings"].items():
        table.add_row(f"time: {name}", f"{seconds:.2f} s")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("init", no_args_is_help=True)(init)
