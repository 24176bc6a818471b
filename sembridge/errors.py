"""Errors that the CLI turns into one line and a hint: exit status 1, or 2 for a bad option value
(:class:`UsageError`); interrupts (130, 143)."""

from __future__ import annotations


class SembridgeError(Exception):
    """A problem with the user's input or environment, explained in one line.

    ``hint`` says what to do about it; the CLI prints it after the message.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(SembridgeError):
    """An option's value is out of range or malformed (``--alpha 0.5``, ``--lr 0``), or options
    that do not go together (``--dev-data`` without ``--alpha auto``).

    The CLI prints it like any :class:`SembridgeError` (one line, then the hint) but exits with
    status 2, as for Typer's own range checks (``min=1``); library callers that catch
    :class:`SembridgeError` catch it too.
    """


class ModelLoadError(SembridgeError):
    """A model, tokenizer or data set could not be loaded."""


class OutputExistsError(SembridgeError):
    """The output folder exists and ``--overwrite`` was not given."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: the CLI stops, says what was interrupted, and exits 128 + signal.

    A ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception`` swallows it.
    ``detail`` replaces "nothing was written" in the message when a command leaves something
    to resume from (``finetune`` names its newest checkpoint).
    """

    def __init__(self, signum: int, detail: str | None = None) -> None:
        super().__init__(signum)
        self.signum = signum
        self.detail = detail

    @property
    def signal_name(self) -> str:
        import signal

        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
