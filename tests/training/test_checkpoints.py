"""The checkpoint folder: its default place, listing by step, resume/overwrite planning, clean-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from sembridge.errors import SembridgeError
from sembridge.training.checkpoints import (
    checkpoint_step,
    default_checkpoint_dir,
    list_checkpoints,
    plan_checkpoints,
    remove_checkpoints,
)
from sembridge.training.config import FinetuneConfig
from tests.training.checkpoint_files import write_checkpoint


def test_default_folder_is_beside_the_output(tmp_path: Path) -> None:
    assert default_checkpoint_dir(tmp_path / "ru-ft") == tmp_path / "ru-ft.checkpoints"


def test_checkpoints_are_listed_by_step(tmp_path: Path) -> None:
    assert list_checkpoints(tmp_path / "none") == []
    for name in ("checkpoint-100", "checkpoint-20", "checkpoint-x", "runs"):
        (tmp_path / name).mkdir()
    (tmp_path / "checkpoint-5").write_text("a file, not a checkpoint")
    found = list_checkpoints(tmp_path)
    assert [p.name for p in found] == ["checkpoint-20", "checkpoint-100"]
    assert [checkpoint_step(p) for p in found] == [20, 100]


def test_plan_resume_overwrite_or_refuse(tmp_path: Path) -> None:
    folder = tmp_path / "out.checkpoints"
    assert plan_checkpoints(folder, FinetuneConfig()) == (None, False)
    with pytest.raises(SembridgeError, match="nothing to resume: no checkpoint in"):
        plan_checkpoints(folder, FinetuneConfig(resume=True))
    for step in (3, 12):
        write_checkpoint(folder, step)
    assert plan_checkpoints(folder, FinetuneConfig(resume=True)) == (folder / "checkpoint-12", False)
    assert plan_checkpoints(folder, FinetuneConfig(overwrite=True)) == (None, True)
    with pytest.raises(
        SembridgeError, match=r"holds checkpoints of an earlier run \(last: checkpoint-12\)"
    ) as err:
        plan_checkpoints(folder, FinetuneConfig())
    assert "--resume" in (err.value.hint or "") and "--overwrite" in (err.value.hint or "")


def test_remove_keeps_other_files_and_drops_empty_folders(tmp_path: Path) -> None:
    folder = tmp_path / "out.checkpoints"
    (folder / "checkpoint-1" / "sub").mkdir(parents=True)
    (folder / "runs" / "empty").mkdir(parents=True)
    (folder / "notes.txt").write_text("kept")
    remove_checkpoints(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    (folder / "notes.txt").unlink()
    (folder / "checkpoint-2").mkdir()
    remove_checkpoints(folder)
    assert not folder.exists()
    remove_checkpoints(folder)  # nothing there: no error
