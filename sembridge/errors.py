"""Errors that the CLI turns into one line, a hint and exit status 1."""

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


class ModelLoadError(SembridgeError):
    """A model, tokenizer or data set could not be loaded."""


class OutputExistsError(SembridgeError):
    """The output folder exists and ``--overwrite`` was not given."""
