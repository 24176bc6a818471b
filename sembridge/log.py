"""Logging and progress bars through rich, on standard error."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Tables printed to a file or a pipe (a log, `make demo`) are not cut at rich's default 80 columns.
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120)
console_err = Console(stderr=True)
logger = logging.getLogger("sembridge")


def setup_logging(level: int = logging.INFO) -> None:
    """Send sembridge's log records to standard error through rich (idempotent)."""
    if any(isinstance(h, RichHandler) for h in logger.handlers):
        return
    handler = RichHandler(console=console_err, show_path=False, show_time=False, markup=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def progress(disable: bool = False) -> Progress:
    """A rich progress bar on standard error (hidden when ``disable`` or not a terminal)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console_err,
        disable=disable,
        transient=False,
    )


@contextmanager
def stage(name: str, timings: dict[str, float]) -> Iterator[None]:
    """Time a pipeline stage, log it, and record the seconds in ``timings[name]``."""
    start = time.perf_counter()
    yield  # a failed stage is neither timed nor logged: its error speaks for it
    seconds = time.perf_counter() - start
    timings[name] = round(seconds, 3)
    logger.info("%s: %.2f s", name, seconds)
