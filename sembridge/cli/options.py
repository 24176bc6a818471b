"""Options shared by several commands, defined once, and the options built from declarations:
the flags declared on a settings dataclass's fields (:mod:`sembridge.flags`) become a command's
parameters through Typer's public API (a command's ``__signature__``)."""

from __future__ import annotations

import inspect
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any

import typer

OutputDir = Annotated[
    Path, typer.Option("--output", "-o", help="Folder to write. Refused if it exists, unless --overwrite.")
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace the output folder if it exists.")]
Device = Annotated[
    str, typer.Option("--device", help="auto (cuda when available, else cpu), cpu, cuda or cuda:N.")
]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Batch size for encoding.")]
CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Where bridge embeddings are cached. Default: $SEMBRIDGE_CACHE or ~/.cache/sembridge.",
    ),
]
Seed = Annotated[
    int, typer.Option("--seed", help="Random seed (local generator; the global state is untouched).")
]
ModelDir = Annotated[
    str, typer.Option("--model", "-m", help="A model folder written by sembridge (or any SPLADE model).")
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Quiet = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress bars, sembridge's or its libraries' (as with --json)."),
]
EncodeDevices = Annotated[
    str,
    typer.Option(
        "--device",
        help="auto, cpu, cuda or cuda:N; a comma-separated list (cuda:0,cuda:1) encodes in parallel.",
    ),
]
Processes = Annotated[
    int,
    typer.Option("--processes", min=1, help="Encoding processes on the one --device (multi-process pool)."),
]
MaxLength = Annotated[
    int | None,
    typer.Option("--max-length", min=1, help="Truncate texts to this many tokens (default: the model's)."),
]


def flag_parameters(cls: type, exclude: Collection[str] = ()) -> list[inspect.Parameter]:
    """One keyword parameter per field of dataclass ``cls`` that declares a flag (:mod:`sembridge.flags`).

    The parameter is named after the field, so :func:`settings_of` maps the values back; its
    annotation is ``Annotated[type, typer.Option(...)]`` with the declared flag, help, panel and
    minimum, and its default is the field's (``--quiet``-style flags: the opposite). Fields named
    in ``exclude`` get no flag (a command that does not use them).
    """
    import dataclasses
    import typing

    from sembridge.flags import declared_flags

    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    parameters = []
    for name, declared in declared_flags(cls).items():
        if name in exclude:
            continue
        kind = hints[name]
        if typing.get_origin(kind) is typing.Literal:  # Typer takes the text; the class checks it
            kind = str
        default = fields[name].default
        if declared.invert:
            default = not default
        names = (declared.name, declared.short) if declared.short else (declared.name,)
        if declared.negatable:
            names = (f"{declared.name}/--no-{declared.name.removeprefix('--')}",)
        option = typer.Option(
            *names,
            help=declared.help,
            rich_help_panel=declared.panel,
            min=declared.minimum,
            show_default=declared.show_default,
        )
        parameters.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, option]
            )
        )
    return parameters


def settings_of(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``cls`` from a command's values (inverted flags turned back)."""
    from sembridge.flags import declared_flags

    return {
        name: (not values[name]) if declared.invert else values[name]
        for name, declared in declared_flags(cls).items()
        if name in values
    }


def with_parameters(
    signature: inspect.Signature, after: str, extra: list[inspect.Parameter]
) -> inspect.Signature:
    """``signature`` with ``extra`` parameters after parameter ``after`` instead of its ``**`` catch-all."""
    shared = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for p in signature.parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    at = [p.name for p in shared].index(after) + 1
    return signature.replace(parameters=[*shared[:at], *extra, *shared[at:]])
