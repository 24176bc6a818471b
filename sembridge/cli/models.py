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

    Any hub id or local folder works too.

    [b]Example[/]: sembridge models --role bridge
    """
    from rich.table import Table

    from sembridge.errors import SembridgeError
    from sembridge.log import console
    from sembridge.registry import entries

    if role is not None and role not in ("source", "target", "bridge"):
        raise SembridgeError(f"unknown role '{role}'", hint="use source, target or bridge")
    if json_output:
        import dataclasses

        from sembridge.cli.output import print_json

        print_json([dataclasses.asdict(entry) for entry in entries(role)])  # type: ignore[arg-type]
        return
    table = Table(title="sembridge registry")
    for column in ("name", "role", "hub id", "language", "description"):
        table.add_column(column)
    for entry in entries(role):  # type: ignore[arg-type]
        table.add_row(entry.name, entry.role, entry.hub_id, entry.language or "", entry.description)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
