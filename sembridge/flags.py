"""Command-line flags declared on the fields of a settings dataclass, once.

A settings class (:class:`~sembridge.training.FinetuneConfig`, :class:`~sembridge.data.DataOptions`)
says for each field that the command line sets which flag sets it, with its help and panel::

    learning_rate: float = field(default=2e-5, metadata=flag("--lr", "Peak learning rate (AdamW).", TRAIN))

The command's parameters are built from these declarations (:mod:`sembridge.cli.options`), and
whatever names a setting to the user (``--resume`` refusals, reports) reads the flag from here,
so a flag is spelled in one place. Importing this module loads neither typer nor torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["Flag", "declared_flags", "flag", "flag_name"]

KEY = "sembridge.flag"


@dataclass(frozen=True)
class Flag:
    """How one field is set on the command line.

    ``name`` is the flag (``--lr``); a bool field with ``negatable`` gets ``--name/--no-name``;
    ``invert`` makes a bool flag set the field to the opposite (``--quiet`` -> ``show_progress``).
    ``minimum`` is checked by the command line (usage error, exit 2).
    """

    name: str
    help: str
    panel: str | None = None
    short: str | None = None
    minimum: float | None = None
    negatable: bool = False
    invert: bool = False
    show_default: str | bool = True


def flag(name: str, help: str, panel: str | None = None, **options: Any) -> dict[str, Flag]:
    """The ``metadata`` of a dataclass field set by flag ``name`` (see :class:`Flag` for ``options``)."""
    return {KEY: Flag(name, help, panel, **options)}


def declared_flags(cls: type) -> dict[str, Flag]:
    """``{field name: Flag}`` for the fields of dataclass ``cls`` that declare a flag, in field order."""
    return {f.name: f.metadata[KEY] for f in dataclasses.fields(cls) if KEY in f.metadata}


def flag_name(cls: type, field_name: str) -> str:
    """The flag that sets ``field_name`` of ``cls`` (``learning_rate`` -> ``--lr``)."""
    return declared_flags(cls)[field_name].name
