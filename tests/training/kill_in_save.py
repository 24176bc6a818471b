"""Run the sembridge CLI and ``kill -9`` it while it writes the trainer state of one checkpoint.

``SEMBRIDGE_TEST_KILL_AT=checkpoint-4`` makes the process write the first half of that
checkpoint's ``trainer_state.json`` (the trainer writes it last) and then send itself SIGKILL:
what a ``kill -9`` at that moment leaves, on every run, without racing a timer.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from transformers import TrainerState

from sembridge.cli.app import main

KILL_AT = os.environ["SEMBRIDGE_TEST_KILL_AT"]
_save_to_json = TrainerState.save_to_json


def _save_then_die(self: Any, json_path: str) -> None:
    if os.path.basename(os.path.dirname(json_path)) != KILL_AT:
        _save_to_json(self, json_path)
        return
    _save_to_json(self, json_path)
    with open(json_path, "rb") as handle:
        text = handle.read()
    with open(json_path, "wb") as handle:
        handle.write(text[: len(text) // 2])
        handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)


TrainerState.save_to_json = _save_then_die  # type: ignore[method-assign]

if __name__ == "__main__":
    main(sys.argv[1:])
