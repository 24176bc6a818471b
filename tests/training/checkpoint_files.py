"""Checkpoint folders on disk for the tests: complete ones (what the trainer writes) or cut short,
and a crash at a given step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_checkpoint(checkpoint_dir: Path, step: int, *, missing: str | None = None) -> Path:
    """A ``checkpoint-<step>`` folder with the files a resume needs (empty stand-ins but for the
    trainer state); ``missing`` leaves one out, as a run killed while writing it does."""
    folder = Path(checkpoint_dir) / f"checkpoint-{step}"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
        if name != missing:
            (folder / name).write_bytes(b"")
    if missing != "trainer_state.json":
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}), encoding="utf-8")
    return folder


def crash_at(step: int) -> Any:
    """A TrainerCallback that raises once the given step has been taken (before it is saved)."""
    from transformers import TrainerCallback

    class Crash(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == step:
                raise RuntimeError(f"simulated crash at step {step}")

    return Crash()
