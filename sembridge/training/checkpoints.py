"""The checkpoint folder of a fine-tuning run: where it is, what it holds, resuming and clean-up.

For ``-o OUT`` the trainer writes ``checkpoint-<step>/`` folders (model, optimizer, scheduler,
RNG, trainer state) into ``OUT.checkpoints`` beside the output while training runs. They are
kept after a crash and reused by ``--resume``; an earlier run's checkpoints are refused unless
``--resume`` or ``--overwrite`` says what to do with them; they are removed once the model is
written (unless kept).

A checkpoint counts only once it is complete. The trainer writes a checkpoint's files in turn
(weights, optimizer, scheduler, RNG) and ``trainer_state.json`` last, so a folder whose
``trainer_state.json`` reads as JSON and that holds weights, optimizer and scheduler was written
to the end; a run killed while writing one leaves a folder without it (or with a cut-short one).
``--resume`` takes the newest complete checkpoint, says which, and removes the incomplete ones.
The settings the checkpoints were trained with are kept beside them
(:mod:`sembridge.training.run_settings`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sembridge.device import is_main_process
from sembridge.errors import SembridgeError
from sembridge.log import logger
from sembridge.training.config import FinetuneConfig
from sembridge.training.run_settings import RUN_SETTINGS_NAME

CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE_NAME = "trainer_state.json"  # the trainer writes it last
REQUIRED_FILES = ("optimizer.pt", "scheduler.pt")
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")


def default_checkpoint_dir(output_dir: str | Path) -> Path:
    """``OUT.checkpoints`` beside the output folder."""
    output_dir = Path(output_dir)
    return output_dir.with_name(output_dir.name + ".checkpoints")


def checkpoint_step(checkpoint: Path) -> int:
    """The step of a ``checkpoint-<step>`` folder."""
    return int(checkpoint.name[len(CHECKPOINT_PREFIX) :])


def list_checkpoints(checkpoint_dir: str | Path) -> list[Path]:
    """The ``checkpoint-<step>`` folders in ``checkpoint_dir``, by step."""
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        return []
    found = [
        p
        for p in checkpoint_dir.iterdir()
        if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and p.name[len(CHECKPOINT_PREFIX) :].isdigit()
    ]
    return sorted(found, key=checkpoint_step)


def incomplete_reason(checkpoint: str | Path) -> str | None:
    """Why ``checkpoint`` cannot be resumed from (a file missing or cut short), or None if complete."""
    checkpoint = Path(checkpoint)
    state = checkpoint / TRAINER_STATE_NAME
    if not state.is_file():
        return f"no {TRAINER_STATE_NAME}"
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return f"{TRAINER_STATE_NAME} is cut short"
    if not isinstance(data, dict) or "global_step" not in data:
        return f"{TRAINER_STATE_NAME} is cut short"
    for name in REQUIRED_FILES:
        if not (checkpoint / name).is_file():
            return f"no {name}"
    if not any(any(checkpoint.rglob(pattern)) for pattern in WEIGHT_PATTERNS):
        return "no model weights"
    return None


def complete_checkpoints(checkpoint_dir: str | Path) -> list[Path]:
    """The complete ``checkpoint-<step>`` folders in ``checkpoint_dir``, by step."""
    return [p for p in list_checkpoints(checkpoint_dir) if incomplete_reason(p) is None]


def resume_note(checkpoint_dir: str | Path) -> str | None:
    """What an interrupted run leaves: the newest complete checkpoint ``--resume`` continues from.

    None when there is no checkpoint folder at all.
    """
    existing = list_checkpoints(checkpoint_dir)
    if not existing:
        return None
    complete = [p for p in existing if incomplete_reason(p) is None]
    if not complete:
        return "the model was not written, and no checkpoint is complete yet (start over with --overwrite)"
    return f"the model was not written; --resume continues from {complete[-1]}"


def plan_checkpoints(checkpoint_dir: Path, config: FinetuneConfig) -> tuple[Path | None, bool]:
    """(checkpoint to resume from, whether old checkpoints must be removed first).

    With ``resume``: the newest complete checkpoint; newer incomplete ones are named in a warning.
    """
    existing = list_checkpoints(checkpoint_dir)
    if config.resume:
        if not existing:
            raise SembridgeError(
                f"nothing to resume: no checkpoint in '{checkpoint_dir}'",
                hint="run without --resume to start a new training",
            )
        reasons = {p: incomplete_reason(p) for p in existing}
        complete = [p for p in existing if reasons[p] is None]
        if not complete:
            names = ", ".join(f"{p.name} ({reasons[p]})" for p in existing)
            raise SembridgeError(
                f"nothing to resume: no complete checkpoint in '{checkpoint_dir}' (incomplete: {names})",
                hint="the run was stopped while writing its first checkpoint; start over with --overwrite",
            )
        chosen = complete[-1]
        if is_main_process():
            for path in existing:
                if checkpoint_step(path) > checkpoint_step(chosen):
                    logger.warning(
                        "%s is incomplete (%s: the run was stopped while writing it); resuming from %s",
                        path.name,
                        reasons[path],
                        chosen.name,
                    )
        return chosen, False
    if existing:
        if not config.overwrite:
            raise SembridgeError(
                f"'{checkpoint_dir}' holds checkpoints of an earlier run (last: {existing[-1].name})",
                hint="pass --resume to continue it, or --overwrite to start over (removes them)",
            )
        return None, True
    return None, False


def remove_incomplete(checkpoint_dir: Path) -> list[Path]:
    """Remove the incomplete checkpoint folders (what a killed run left half-written); return them."""
    removed = [p for p in list_checkpoints(checkpoint_dir) if incomplete_reason(p) is not None]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def remove_checkpoints(checkpoint_dir: Path) -> None:
    """Remove the checkpoint-<step> folders and the run's settings, then any empty folders left
    (the trainer makes some)."""
    for path in list_checkpoints(checkpoint_dir):
        shutil.rmtree(path, ignore_errors=True)
    if not checkpoint_dir.is_dir():
        return
    (checkpoint_dir / RUN_SETTINGS_NAME).unlink(missing_ok=True)
    for folder in sorted((p for p in checkpoint_dir.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()
    if not any(checkpoint_dir.iterdir()):
        checkpoint_dir.rmdir()
