"""The checkpoint folder of a fine-tuning run: where it is, what it holds, resuming and clean-up.

For ``-o OUT`` the trainer writes ``checkpoint-<step>/`` folders (model, optimizer, scheduler,
RNG, trainer state) into ``OUT.checkpoints`` beside the output while training runs. They are
kept after a crash and reused by ``--resume``; an earlier run's checkpoints are refused unless
``--resume`` or ``--overwrite`` says what to do with them; they are removed once the model is
written (unless kept).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sembridge.errors import SembridgeError
from sembridge.training.config import FinetuneConfig

CHECKPOINT_PREFIX = "checkpoint-"


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


def resume_note(checkpoint_dir: str | Path) -> str | None:
    """What an interrupted run leaves: the newest checkpoint ``--resume`` continues from, or None."""
    existing = list_checkpoints(checkpoint_dir)
    if not existing:
        return None
    return f"the model was not written; --resume continues from {existing[-1]}"


def plan_checkpoints(checkpoint_dir: Path, config: FinetuneConfig) -> tuple[Path | None, bool]:
    """(checkpoint to resume from, whether old checkpoints must be removed first)."""
    existing = list_checkpoints(checkpoint_dir)
    if config.resume:
        if not existing:
            raise SembridgeError(
                f"nothing to resume: no checkpoint in '{checkpoint_dir}'",
                hint="run without --resume to start a new training",
            )
        return existing[-1], False
    if existing:
        if not config.overwrite:
            raise SembridgeError(
                f"'{checkpoint_dir}' holds checkpoints of an earlier run (last: {existing[-1].name})",
                hint="pass --resume to continue it, or --overwrite to start over (removes them)",
            )
        return None, True
    return None, False


def remove_checkpoints(checkpoint_dir: Path) -> None:
    """Remove the checkpoint-<step> folders, then any empty folders left (the trainer makes some)."""
    for path in list_checkpoints(checkpoint_dir):
        shutil.rmtree(path, ignore_errors=True)
    if not checkpoint_dir.is_dir():
        return
    for folder in sorted((p for p in checkpoint_dir.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()
    if not any(checkpoint_dir.iterdir()):
        checkpoint_dir.rmdir()
