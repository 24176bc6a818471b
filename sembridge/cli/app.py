"""The Typer app: registers one module per command and owns the single error boundary."""

from __future__ import annotations

import logging
import os
import sys

import typer

app = typer.Typer(
    name="sembridge",
    help="Adapt English learned-sparse (SPLADE) encoders to new languages with SemBridge.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _register() -> None:
    # Each command lives in its own module; heavy imports stay inside the command bodies.
    from sembridge.cli import evaluate as evaluate_cmd
    from sembridge.cli import export as export_cmd
    from sembridge.cli import finetune as finetune_cmd
    from sembridge.cli import init as init_cmd
    from sembridge.cli import inspect as inspect_cmd
    from sembridge.cli import models as models_cmd
    from sembridge.cli import pairs as pairs_cmd

    for module in (init_cmd, inspect_cmd, finetune_cmd, evaluate_cmd, export_cmd, models_cmd, pairs_cmd):
        module.register(app)


_register()

TRACEBACK_ENV = "SEMBRIDGE_TRACEBACK"


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; known errors become one line plus a hint and exit status 1.

    Set SEMBRIDGE_TRACEBACK=1 to see the full traceback instead.
    """
    from sembridge.errors import SembridgeError
    from sembridge.log import console_err, setup_logging

    setup_logging()
    try:
        app(args=argv, standalone_mode=False)
    except SembridgeError as err:
        if os.environ.get(TRACEBACK_ENV):
            raise
        console_err.print(f"[bold red]Error:[/] {err.message}", highlight=False, soft_wrap=True)
        if err.hint:
            console_err.print(f"[dim]Hint:[/] {err.hint}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        console_err.print("[bold red]Interrupted.[/]")
        sys.exit(130)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except typer.Abort:
        console_err.print("[bold red]Aborted.[/]")
        sys.exit(1)
    except Exception as err:  # click's usage errors and anything unexpected
        import click

        if isinstance(err, click.exceptions.ClickException):
            err.show()
            sys.exit(err.exit_code if err.exit_code else 2)
        if os.environ.get(TRACEBACK_ENV):
            raise
        logging.getLogger("sembridge").debug("unexpected error", exc_info=True)
        console_err.print(f"[bold red]Error:[/] {type(err).__name__}: {err}", highlight=False, soft_wrap=True)
        console_err.print(f"[dim]Hint:[/] set {TRACEBACK_ENV}=1 for the full traceback.")
        sys.exit(1)


if __name__ == "__main__":
    main()
