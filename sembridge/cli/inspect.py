"""``sembridge inspect-token`` and ``sembridge inspect-text``."""

from __future__ import annotations

from typing import Annotated

import typer

from sembridge.cli.options import JsonOutput, ModelDir, Quiet


def inspect_token(
    token: Annotated[str, typer.Argument(help="A word or a vocabulary entry of the target tokenizer.")],
    model: ModelDir,
    top: Annotated[int, typer.Option("--top", min=1, help="Source tokens shown per piece.")] = 10,
    quiet: Quiet = False,
    as_json: JsonOutput = False,
) -> None:
    """Show how a target token's row was built: copied from a source token, or combined from several.

    Words that split into several pieces show each piece.

    [b]Examples[/]

      sembridge inspect-token --model ar-splade كتاب

      sembridge inspect-token --model ru-splade "##ова" --json
    """
    from sembridge.log import quiet_libraries

    if quiet or as_json:
        quiet_libraries()  # before the libraries are imported: they read its settings then
    from rich.table import Table

    from sembridge.cli.output import print_json
    from sembridge.init.inspection import explain_token
    from sembridge.log import console, styled

    result = explain_token(model, token, top=top)
    if as_json:
        print_json(result)
        return
    pieces = result["pieces"]
    line = f" -> {len(pieces)} piece(s), method: {result['method']}"
    if "alpha" in result:
        auto = " (chosen by --alpha auto)" if result.get("alpha_setting") == "auto" else ""
        line += f", alpha {result['alpha']:g}{auto}"
        line += ", position-aware" if result.get("position_aware") else ""
    console.print(styled((token, "bold"), line), highlight=False)
    if result.get("note"):  # a fine-tuned folder: the rows were built so, then trained
        console.print(f"  {result['note']}", highlight=False, soft_wrap=True)
    for piece in pieces:
        kind = piece.get("kind", "")
        # A model extended with several targets: which target brought the piece (and shares it).
        origin = f", brought by {piece['target']}" if piece.get("target") else ""
        if piece.get("shared_with"):
            origin += f" (also in {', '.join(piece['shared_with'])})"
        if kind == "copied":
            console.print(
                styled(
                    "  ",
                    (piece["token"], "cyan"),
                    f" (id {piece['id']}): copied from source token ",
                    (piece["sources"][0][0], "green"),
                    f" ({piece.get('match', '')} match){origin}",
                ),
                highlight=False,
            )
            continue
        header = f" (id {piece['id']}): {kind}{origin}"
        if "support" in piece:
            header += f", combined from {piece['support']} source token(s)"
            if result.get("position_aware"):
                position = piece["position_class"]
                if position in result.get("position_fallback", []):
                    header += f" (class {position} has no source token: drew on all)"
                else:
                    header += f" of class {position}"
        elif piece.get("note"):
            header += f": {piece['note']}"
        console.print(styled("  ", (piece["token"], "cyan"), header), highlight=False)
        if piece.get("sources"):
            table = Table(show_header=True, box=None, padding=(0, 2))
            table.add_column("source token")
            table.add_column("weight", justify="right")
            for source_token, weight in piece["sources"]:
                table.add_row(source_token, f"{weight:.4f}")
            console.print(table)


def inspect_text(
    text: Annotated[str, typer.Argument(help="Text to encode.")],
    model: ModelDir,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Number of terms shown.")] = 20,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N.")] = "cpu",
    quiet: Quiet = False,
    as_json: JsonOutput = False,
) -> None:
    """Show the most activated vocabulary terms of a text's sparse representation.

    [b]Example[/]: sembridge inspect-text --model ru-splade "Столица Франции"
    """
    from sembridge.log import quiet_libraries

    if quiet or as_json:
        quiet_libraries()  # before the libraries are imported: they read its settings then
    from rich.table import Table

    from sembridge.cli.output import print_json
    from sembridge.init.inspection import top_terms
    from sembridge.log import console

    result = top_terms(model, text, top_k=top_k, device=device)
    if as_json:
        print_json(result)
        return
    table = Table(title=f"{text!r}: {result['active_terms']} active terms")
    table.add_column("term")
    table.add_column("weight", justify="right")
    table.add_column("row")
    table.add_column("built from")
    for term in result["terms"]:
        table.add_row(term["term"], f"{term['weight']:.3f}", term["kind"], ", ".join(term["built_from"]))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("inspect-token", no_args_is_help=True)(inspect_token)
    app.command("inspect-text", no_args_is_help=True)(inspect_text)
