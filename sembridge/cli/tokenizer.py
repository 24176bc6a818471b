"""``sembridge tokenizer train`` and ``sembridge tokenizer cut``: make a target tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sembridge.cli.options import JsonOutput, OutputDir, Overwrite, Quiet

app = typer.Typer(
    help="Make a target tokenizer for `sembridge init --target-tokenizer`: train one on text, or cut a "
    "multilingual one down to the pieces the text uses.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

TextFiles = Annotated[
    list[Path],
    typer.Option("--text", help="Target-language text file, one passage per line (repeat for several)."),
]


@app.command("train", no_args_is_help=True)
def train(
    text: TextFiles,
    output: OutputDir,
    vocab_size: Annotated[int, typer.Option("--vocab-size", min=10, help="Vocabulary size.")] = 8000,
    model: Annotated[
        str, typer.Option("--model", help="wordpiece (BERT-style, ##x) or unigram (SentencePiece-style, ▁x).")
    ] = "wordpiece",
    lowercase: Annotated[bool, typer.Option("--lowercase", help="Lower-case the text first.")] = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Train a WordPiece or Unigram tokenizer of --vocab-size pieces on target-language text.

    [b]Examples[/]

      sembridge tokenizer train --text ru.txt --vocab-size 8000 -o ru-tokenizer

      sembridge tokenizer train --text a.txt --text b.txt --model unigram --vocab-size 16000 -o tok
    """
    from sembridge.log import quiet_libraries

    if quiet or json_output:
        quiet_libraries()  # before the libraries are imported: they read its settings then
    from sembridge.tokenizer_training import make_tokenizer

    result = make_tokenizer(
        text, output, vocab_size=vocab_size, model=model, lowercase=lowercase, overwrite=overwrite
    )  # type: ignore[arg-type]
    _summary(result.report, output, json_output)


@app.command("cut", no_args_is_help=True)
def cut(
    source: Annotated[
        str,
        typer.Option(
            "--from", help="Multilingual WordPiece or Unigram tokenizer: short name, hub id or folder."
        ),
    ],
    text: TextFiles,
    output: OutputDir,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Cut a multilingual tokenizer down to the pieces a target-language text uses.

    Keeps the special tokens, every piece the text is tokenised into and every single character
    of the text; the text tokenises exactly as before.

    [b]Example[/]: sembridge tokenizer cut --from intfloat/multilingual-e5-small --text ru.txt -o ru-cut
    """
    from sembridge.log import quiet_libraries

    if quiet or json_output:
        quiet_libraries()  # before the libraries are imported: they read its settings then
    from sembridge.tokenizer_training import make_tokenizer

    result = make_tokenizer(text, output, cut_from=source, overwrite=overwrite)
    _summary(result.report, output, json_output)


def _summary(report: dict[str, Any], output: Path, json_output: bool = False) -> None:
    from rich.table import Table

    from sembridge.cli.output import print_json
    from sembridge.log import console

    if json_output:
        print_json(report)
        return

    settings, coverage = report["settings"], report["coverage"]
    table = Table(title=f"sembridge tokenizer {settings['action']} -> {output}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    if settings["action"] == "cut":
        table.add_row("cut from", f"{settings['cut_from']} ({settings['original_vocab_size']:,} pieces)")
    else:
        table.add_row("model", settings["model"])
    table.add_row("vocabulary size", f"{coverage['vocab_size']:,}")
    table.add_row("text", f"{settings['lines']:,} lines, {coverage['words']:,} words")
    table.add_row("coverage", f"{coverage['coverage']:.2%} of word occurrences without the unknown token")
    table.add_row("UNK rate", f"{coverage['unk_rate']:.3%} of tokens")
    table.add_row("tokens per word", f"{coverage['tokens_per_word']:.2f}")
    table.add_row("time", f"{report['seconds']:.1f} s")
    console.print(table)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="tokenizer")
