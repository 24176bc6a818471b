"""``sembridge pairs``: make training pairs from target-language documents that have no queries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sembridge.cli.options import JsonOutput, Quiet, Seed

Inputs = Annotated[
    list[Path],
    typer.Argument(help="Text files (blank lines separate paragraphs) or JSONL files of documents."),
]
OutputFile = Annotated[
    Path, typer.Option("--output", "-o", help="JSONL file of query/positive pairs to write.")
]
OverwriteFile = Annotated[bool, typer.Option("--overwrite", help="Replace the output file if it exists.")]
Format = Annotated[
    str,
    typer.Option(
        "--format",
        help="auto (by file name and fields), titled (JSONL title/body/keywords), text, or jsonl ({'text'}).",
    ),
]
Mode = Annotated[
    str,
    typer.Option(
        "--mode",
        help="title (title -> body), keywords (keyword -> page), cloze (sentence -> rest of paragraph), all.",
    ),
]
Language = Annotated[
    str | None,
    typer.Option("--language", "-l", help="ar, zh, hi, ko or ru: drop text mostly outside this script."),
]
MinScriptShare = Annotated[
    float,
    typer.Option("--min-script-share", min=0.0, max=1.0, help="Least share of letters in the target script."),
]
MinQueryChars = Annotated[
    int, typer.Option("--min-query-chars", min=0, help="Shortest query, in characters.")
]
MinPositiveChars = Annotated[
    int, typer.Option("--min-positive-chars", min=0, help="Shortest positive, in characters.")
]
MaxPositiveChars = Annotated[
    int, typer.Option("--max-positive-chars", min=1, help="Longer positives are cut to this many characters.")
]
Limit = Annotated[int | None, typer.Option("--limit", min=1, help="Write at most this many pairs.")]
SharedParagraphs = Annotated[
    str,
    typer.Option(
        "--shared-paragraphs",
        help="keep: write every pair (finetune --paragraph-groups keeps those sharing a paragraph out of "
        "one batch); drop: keep only the first of pairs whose positives are equal or share a paragraph.",
    ),
]


def pairs(
    inputs: Inputs,
    output: OutputFile,
    fmt: Format = "auto",
    mode: Mode = "all",
    language: Language = None,
    min_script_share: MinScriptShare = 0.5,
    min_query_chars: MinQueryChars = 3,
    min_positive_chars: MinPositiveChars = 20,
    max_positive_chars: MaxPositiveChars = 1000,
    seed: Seed = 42,
    limit: Limit = None,
    shared_paragraphs: SharedParagraphs = "keep",
    overwrite: OverwriteFile = False,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Make query/positive training pairs from your own target-language text.

    Titled documents give title -> body and keyword -> page pairs; plain paragraphs give
    inverse-cloze pairs (one sentence -> the rest of its paragraph). Pairs are deduplicated,
    filtered by length and, with --language, by the share of the target script. The output is
    the JSONL that `sembridge finetune --data` reads.

    [b]Examples[/]:

      sembridge pairs docs.txt -o pairs.jsonl --language ru

      sembridge pairs pages.jsonl --format titled --mode title -o pairs.jsonl --language zh

      sembridge pairs help-pages.jsonl -o pairs.jsonl --language ar --shared-paragraphs drop
    """
    from sembridge.log import quiet_libraries

    if quiet or json_output:
        quiet_libraries()  # no bar of its own; the libraries' bars, as for every command
    from sembridge.data.make_pairs import PairFilter, make_pairs
    from sembridge.io import check_output_location

    check_output_location(output)  # before reading the inputs
    summary = make_pairs(
        inputs,
        output,
        fmt=fmt,
        mode=mode,
        pair_filter=PairFilter(
            language=language,
            min_script_share=min_script_share,
            min_query_chars=min_query_chars,
            min_positive_chars=min_positive_chars,
            max_positive_chars=max_positive_chars,
        ),
        seed=seed,
        limit=limit,
        shared_paragraphs=shared_paragraphs,
        overwrite=overwrite,
    )
    from sembridge.cli.output import print_json, print_summary_table

    if json_output:
        print_json(summary.to_dict())
        return
    rows = [("documents", f"{summary.documents:,}"), ("candidate pairs", f"{summary.candidates:,}")]
    rows += [(f"kept: {kind}", f"{count:,}") for kind, count in sorted(summary.by_kind.items())]
    rows += [(f"dropped: {reason}", f"{count:,}") for reason, count in sorted(summary.dropped.items())]
    if summary.sharing_a_paragraph:
        rows.append(
            (
                "sharing a positive or paragraph (train with --paragraph-groups)",
                f"{summary.sharing_a_paragraph:,}",
            )
        )
    print_summary_table(f"Wrote {summary.written:,} pairs to {output}", rows)


def register(app: typer.Typer) -> None:
    app.command("pairs")(pairs)
