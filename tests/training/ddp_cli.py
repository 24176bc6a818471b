"""Run ``sembridge finetune`` from the finetune command module alone (used under torchrun by the tests).

Equivalent to ``torchrun ... -m sembridge finetune ...`` once the command is registered in the app.
"""

from __future__ import annotations

import sys

import typer

from sembridge.cli.finetune import register
from sembridge.errors import SembridgeError
from sembridge.log import setup_logging

app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)


@app.callback()
def _root() -> None:
    """sembridge (finetune only)."""


register(app)

if __name__ == "__main__":
    setup_logging()
    try:
        app(standalone_mode=False)
    except SembridgeError as err:
        print(f"Error: {err.message}", file=sys.stderr)
        sys.exit(1)
