"""``sembridge init``: build a target-language sparse encoder from an English one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sembridge.cli.options import BatchSize, CacheDir, Device, OutputDir, Overwrite, Seed


def init(
    source: Annotated[str, typer.Option("--source", "-s", help="Source sparse encoder: short name, hub id or folder.")],
    target_tokenizer: Annotated[
        str, typer.Option("--target-tokenizer", "-t", help="Target-language tokenizer: short name, hub id or folder.")
    ],
    output: OutputDir,
    method: Annotated[str, typer.Option("--method", help="How new rows are built: sembridge.")] = "sembridge",
    alpha: Annotated[
        float, typer.Option("--alpha", help="Entmax alpha (>= 1): 1 softmax, 2 sparsemax, 4 the paper's default.")
    ] = 4.0,
    bridge: Annotated[
        str, typer.Option("--bridge", "-b", help="Multilingual dense bridge (sentence-transformers model).")
    ] = "bge-m3",
    bridge_prompt: Annotated[
        str | None,
        typer.Option("--bridge-prompt", help="Text put before each token when embedding (e5 registry default: 'query: ')."),
    ] = None,
    exact: Annotated[bool, typer.Option("--exact/--no-exact", help="Copy rows of tokens whose canonical form matches.")] = True,
    symbols: Annotated[
        bool, typer.Option("--symbols/--no-symbols", help="Match numbers and punctuation ignoring the word-start mark.")
    ] = True,
    fuzzy: Annotated[
        bool, typer.Option("--fuzzy/--no-fuzzy", help="Also match ignoring case and the word-start mark.")
    ] = False,
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
    """Initialise a target-language sparse encoder with SemBridge and write it to --output.

    The folder loads in transformers (AutoModelForMaskedLM, AutoTokenizer) and in
    sentence-transformers' SparseEncoder; sembridge_init.json records how each token was built.

    [b]Examples[/]

      sembridge init --source splade-v3 --target-tokenizer ARBERT --alpha 4 -o ar-splade

      sembridge init -s naver/splade-v3 -t ./my-tokenizer --bridge multilingual-minilm --fuzzy -o out
    """
    from sembridge.initialize import InitConfig, initialize
    from sembridge.io import check_output_dir

    check_output_dir(output, overwrite)
    config = InitConfig(
        source=source,
        target_tokenizer=target_tokenizer,
        method=method,
        alpha=alpha,
        bridge=bridge,
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
    )
    result = initialize(config, output_dir=output, overwrite=overwrite)
    print_summary(result.report, output)


def print_summary(report: dict, output: Path) -> None:
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
    table.add_row("decoder bias", summary["bias"])
    for name, seconds in summary["timings"].items():
        table.add_row(f"time: {name}", f"{seconds:.2f} s")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("init", no_args_is_help=True)(init)
