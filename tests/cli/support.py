"""Running commands in-process for the CLI tests: one app holding the commands under test."""

from __future__ import annotations

from types import ModuleType

import typer
from typer.testing import CliRunner

from sembridge.errors import SembridgeError


def invoke(commands: list[ModuleType], *args: object, env: dict[str, str] | None = None):
    """Run ``args`` on an app of ``commands`` (each a ``sembridge.cli`` module with ``register``).

    A second command is always there, so the first word is parsed as a command name.
    """
    app = typer.Typer(pretty_exceptions_show_locals=False)
    for command in commands:
        command.register(app)
    app.command("version")(lambda: None)
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def error_of(result) -> SembridgeError:
    """The SembridgeError a failed run raised (the app's error boundary is not in the way)."""
    assert result.exit_code != 0
    assert isinstance(result.exception, SembridgeError), result.output
    return result.exception
