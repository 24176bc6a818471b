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
from rich.text import Text

# Tables printed to a file or a pipe (a log, `make demo`) are not cut at rich's default 80 columns.
# Neither console reads markup: what is printed holds paths, ids and values from the user and the
# file system (``data/[test].jsonl``, a hint naming ``sembridge[onnx]``), which must show as they
# are; styled parts are ``rich.text.Text`` objects (:func:`styled`).
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120, markup=False)
console_err = Console(stderr=True, markup=False)
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


def styled(*parts: str | tuple[str, str]) -> Text:
    """One line of plain text and ``(text, style)`` parts, none of it read as markup."""
    return Text.assemble(*parts)


def progress(disable: bool = False) -> Progress:
    """A rich progress bar on standard error (hidden when ``disable`` or not a terminal)."""
    return Progress(
        TextColumn("{task.description}", style="progress.description", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console_err,
        disable=disable,
        transient=False,
    )


# Read by huggingface_hub (and transformers through it), datasets and tqdm when they are imported.
QUIET_ENVIRONMENT = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
}


def quiet_libraries() -> None:
    """Hide the progress bars of the libraries sembridge calls: weight loading and downloads
    (transformers, huggingface_hub), datasets' and any other tqdm bar (``-q``, ``--json``).

    For a command of the CLI: it lasts for the rest of the process. The environment variables of
    :data:`QUIET_ENVIRONMENT` silence the libraries imported later and the worker processes started
    later (encoding pools, data-loader workers); those already imported are switched off here.
    Nothing is imported that was not already.
    """
    import warnings

    os.environ.update(QUIET_ENVIRONMENT)
    with warnings.catch_warnings():  # "HF_HUB_DISABLE_PROGRESS_BARS=0 has priority": -q asked otherwise
        warnings.simplefilter("ignore")
        if "huggingface_hub" in sys.modules:
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        if "transformers" in sys.modules:
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        if "datasets" in sys.modules:
            import datasets

            datasets.disable_progress_bars()


@contextmanager
def stage(name: str, timings: dict[str, float]) -> Iterator[None]:
    """Time a pipeline stage, log it, and record the seconds in ``timings[name]`` (added up when
    the stage runs more than once: one run per target tokenizer)."""
    start = time.perf_counter()
    yield  # a failed stage is neither timed nor logged: its error speaks for it
    seconds = time.perf_counter() - start
    timings[name] = round(timings.get(name, 0.0) + seconds, 3)
    logger.info("%s: %.2f s", name, seconds)
