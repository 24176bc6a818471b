"""The Typer app: registers one module per command and owns the single error boundary."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from sembridge.errors import Interrupted

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
    from sembridge.cli import align as align_cmd
    from sembridge.cli import evaluate as evaluate_cmd
    from sembridge.cli import export as export_cmd
    from sembridge.cli import finetune as finetune_cmd
    from sembridge.cli import init as init_cmd
    from sembridge.cli import inspect as inspect_cmd
    from sembridge.cli import mine as mine_cmd
    from sembridge.cli import models as models_cmd
    from sembridge.cli import pairs as pairs_cmd
    from sembridge.cli import tokenizer as tokenizer_cmd

    commands = (
        init_cmd,
        inspect_cmd,
        finetune_cmd,
        align_cmd,
        evaluate_cmd,
        export_cmd,
        models_cmd,
        pairs_cmd,
        mine_cmd,
    )
    for module in commands:
        module.register(app)
    tokenizer_cmd.register(app)


_register()

TRACEBACK_ENV = "SEMBRIDGE_TRACEBACK"


def keep_flags_whole() -> None:
    """In ``--help``, flags show whole at any terminal width (not ``--position-awa…``): the help
    text beside them wraps instead.

    Typer lays out an options panel as a rich table (``typer.rich_utils.Table``) whose columns all
    shrink alike when the terminal is narrow. That name is set to a table whose columns, but the
    last two (type and help), never wrap, so rich takes the width from the help text. A commands
    panel (name, description) is laid out as before. Idempotent.
    """
    import typer.rich_utils
    from rich.table import Table

    if getattr(typer.rich_utils.Table, "keeps_flags_whole", False):
        return

    class FlagsWholeTable(Table):
        keeps_flags_whole = True

        def add_row(self, *renderables: Any, **options: Any) -> None:
            super().add_row(*renderables, **options)
            for column in self.columns[:-2]:  # required mark, flags, short flags, --no- flags
                column.no_wrap = True

    typer.rich_utils.Table = FlagsWholeTable  # type: ignore[misc]


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; known errors become one line plus a hint and exit status 1.

    Usage errors get Typer's usage message (the option's flag, the rule) and exit status 2; an
    option value that sembridge itself refuses as out of range or malformed
    (:class:`~sembridge.errors.UsageError`, ``--alpha 0.5``) gets its one line and hint, and
    exit status 2 too.
    SIGINT and SIGTERM stop the command with one line saying what was interrupted and exit
    status 130 or 143. Set SEMBRIDGE_TRACEBACK=1 to see the full traceback instead.
    """
    from sembridge.errors import Interrupted, SembridgeError, UsageError
    from sembridge.log import console_err, setup_logging, styled

    setup_logging()
    keep_flags_whole()
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        with _signals_interrupt():
            # Standalone mode: Typer itself reports usage errors and turns success into exit 0.
            app(args=args, standalone_mode=True)
    except SystemExit as done:
        if done.code not in (0, None):
            raise
    except SembridgeError as err:
        if os.environ.get(TRACEBACK_ENV):
            raise
        console_err.print(styled(("Error:", "bold red"), f" {err.message}"), highlight=False, soft_wrap=True)
        if err.hint:
            console_err.print(styled(("Hint:", "dim"), f" {err.hint}"), highlight=False, soft_wrap=True)
        sys.exit(2 if isinstance(err, UsageError) else 1)
    except Interrupted as stop:
        console_err.print(
            styled(("Interrupted:", "bold red"), f" {interrupted_line(args, stop)}"),
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(stop.exit_code)
    except Exception as err:  # anything unexpected
        if os.environ.get(TRACEBACK_ENV):
            raise
        logging.getLogger("sembridge").debug("unexpected error", exc_info=True)
        console_err.print(
            styled(("Error:", "bold red"), f" {type(err).__name__}: {err}"), highlight=False, soft_wrap=True
        )
        console_err.print(styled(("Hint:", "dim"), f" set {TRACEBACK_ENV}=1 for the full traceback."))
        sys.exit(1)


def interrupted_line(args: list[str], stop: Interrupted) -> str:
    """'sembridge init stopped by SIGINT; nothing was written.' (or the command's own detail)."""
    command = next((a for a in args if not a.startswith("-")), None)
    what = f"sembridge {command}" if command else "sembridge"
    return f"{what} stopped by {stop.signal_name}; {stop.detail or 'nothing was written'}."


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """While the CLI runs, SIGINT and SIGTERM raise :class:`Interrupted` in this process.

    Child processes (data-loader workers) that inherit the handler keep the default behaviour.
    """
    from sembridge.errors import Interrupted

    owner = os.getpid()
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() == owner:
            raise Interrupted(signum)
        old = previous.get(signum) or signal.SIG_DFL  # a forked child: what it would have done
        if callable(old):
            old(signum, frame)
            return
        signal.signal(signum, old)
        os.kill(os.getpid(), signum)

    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread: signals stay as they are
        pass
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)


if __name__ == "__main__":
    main()
