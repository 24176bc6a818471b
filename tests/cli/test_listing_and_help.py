"""What is printed whole: ``sembridge models`` prints full hub ids (piped or in a narrow terminal)
and JSON; ``--help`` shows every flag whole in an 80-column terminal."""

from __future__ import annotations

import dataclasses
import io
import json
import re

import pytest
import typer
from rich.console import Console

import sembridge.log
from sembridge.cli.app import app, main
from sembridge.registry import entries


def test_models_piped_prints_each_hub_id_whole_on_its_line(monkeypatch, capsys):
    # Not a terminal, and narrower than the longest id: the table keeps its own width.
    monkeypatch.setattr(sembridge.log, "console", Console(width=60, markup=False))
    main(["models"])
    lines = capsys.readouterr().out.splitlines()
    assert "…" not in "\n".join(lines)
    for entry in entries():
        (line,) = [line for line in lines if f" {entry.name} " in line]
        assert f" {entry.hub_id} " in line


def test_models_in_a_narrow_terminal_folds_hub_ids_instead_of_cutting_them(monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(
        sembridge.log, "console", Console(file=screen, width=72, force_terminal=True, color_system=None)
    )
    main(["models"])
    rows = [line.split("│") for line in screen.getvalue().splitlines() if line.startswith("│")]
    assert (
        all(len(line) == 7 for line in rows)
        and max(len(line) for line in screen.getvalue().splitlines()) <= 72
    )
    hub_ids = "".join(row[3].strip() for row in rows)  # the column's lines, in order
    for entry in entries():
        assert entry.hub_id in hub_ids
    assert "…" not in hub_ids


def test_models_json_lists_the_registry_entries(capsys):
    main(["models", "--json", "--role", "bridge"])
    assert json.loads(capsys.readouterr().out) == [dataclasses.asdict(e) for e in entries("bridge")]


def _commands() -> dict[str, object]:
    found = {}
    for name, command in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
        for sub, leaf in getattr(command, "commands", {name: command}).items():
            found[name if sub == name else f"{name} {sub}"] = leaf
    return found


@pytest.mark.parametrize("name", sorted(_commands()))
def test_help_shows_every_flag_whole_at_80_columns(monkeypatch, capsys, name):
    monkeypatch.setenv("COLUMNS", "80")
    main([*name.split(), "--help"])
    text = capsys.readouterr().out
    assert max(len(line) for line in text.splitlines()) <= 80
    command = _commands()[name]
    flags = [flag for p in command.params for flag in (*p.opts, *p.secondary_opts) if flag.startswith("-")]  # type: ignore[attr-defined]
    assert flags
    for flag in flags:
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w…-])", text), f"{flag} is cut in {name} --help"
