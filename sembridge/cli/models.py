"""``sembridge models``: list the short names of the registry."""

from __future__ import annotations

from typing import Annotated

import typer

from sembridge.cli.options import JsonOutput


def models(
    role: Annotated[
        str | None, typer.Option("--role", help="Only this role: source, target or bridge.")
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """List the short names accepted by --source, --target-tokenizer and --bridge.

    Any hub id or local folder works too. Hub ids are printed whole: piped, each entry on one
    line; in a narrow terminal, folded. --json prints the registry entries as a list.

    [b]Example[/]: sembridge models --role bridge
    """
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    from sembridge.errors import UsageError
    from sembridge.log import console
    from sembridge.registry import entries

    if role is not None and role not in ("source", "target", "bridge"):
        raise UsageError(f"--role must be one of source, target, bridge, got {role!r}")
    if json_output:
        import dataclasses

        from sembridge.cli.output import print_json

        print_json([dataclasses.asdict(entry) for entry in entries(role)])  # type: ignore[arg-type]
        return
    table = Table(title="sembridge registry")
    for column in ("name", "role", "hub id", "language"):
        table.add_column(column, overflow="fold")  # whole, over two lines if the terminal is narrow
    table.add_column("description")
    for entry in entries(role):  # type: ignore[arg-type]
        table.add_row(entry.name, entry.role, entry.hub_id, entry.language or "", entry.description)
    if console.is_terminal:
        console.print(table)
        return
    # Piped or redirected: the table at its own width, nothing cut or folded (grep finds each id).
    width = Measurement.get(console, console.options.update_width(10_000), table).maximum
    Console(width=max(width, console.width), markup=False).print(table)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
