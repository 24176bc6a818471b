"""``--resume`` is safe: only complete checkpoints count, and changed settings are refused.

Issue 11: a run killed while writing a checkpoint left a folder without ``trainer_state.json``
that ``--resume`` then chose and failed on; a run resumed with another ``--lr`` followed the old
schedule while its reports recorded the new value.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sembridge.data import pairs_to_dataset, write_pairs_jsonl
from sembridge.errors import SembridgeError
from sembridge.training import REPORT_NAME, FinetuneConfig, default_checkpoint_dir, finetune
from sembridge.training.checkpoints import (
    complete_checkpoints,
    incomplete_reason,
    list_checkpoints,
    plan_checkpoints,
    remove_checkpoints,
    remove_incomplete,
    resume_note,
)
from sembridge.training.run_settings import (
    RUN_SETTINGS_NAME,
    changed_settings,
    check_resume_settings,
    data_fingerprint,
    read_run_settings,
    run_settings,
    write_run_settings,
)
from tests.training.checkpoint_files import crash_at, write_checkpoint

REPO = Path(__file__).resolve().parents[2]
KILL_SCRIPT = Path(__file__).with_name("kill_in_save.py")


def small(**overrides: Any) -> FinetuneConfig:
    """Settings for a quick CPU run on SPLADE-tiny."""
    settings: dict[str, Any] = {
        "batch_size": 16,
        "max_length": 32,
        "device": "cpu",
        "logging_steps": 1,
        "warmup_ratio": 0.0,
        "save_steps": 1000,
        "stats_sample_size": 16,
        "show_progress": False,
        "seed": 7,
    }
    settings.update(overrides)
    return FinetuneConfig(**settings)


# ------------------------------------------------------------------------------------------------
# Item 2: a checkpoint counts once complete.


@pytest.mark.parametrize(
    ("missing", "reason"),
    [
        ("trainer_state.json", "no trainer_state.json"),
        ("optimizer.pt", "no optimizer.pt"),
        ("scheduler.pt", "no scheduler.pt"),
        ("model.safetensors", "no model weights"),
    ],
)
def test_a_checkpoint_missing_a_file_is_incomplete(tmp_path: Path, missing: str, reason: str) -> None:
    assert incomplete_reason(write_checkpoint(tmp_path, 2)) is None
    assert incomplete_reason(write_checkpoint(tmp_path, 4, missing=missing)) == reason
    assert [p.name for p in complete_checkpoints(tmp_path)] == ["checkpoint-2"]


def test_a_cut_short_trainer_state_is_incomplete(tmp_path: Path) -> None:
    folder = write_checkpoint(tmp_path, 4)
    text = (folder / "trainer_state.json").read_text(encoding="utf-8")
    (folder / "trainer_state.json").write_text(text[: len(text) // 2], encoding="utf-8")
    assert incomplete_reason(folder) == "trainer_state.json is cut short"


def test_resume_takes_the_newest_complete_checkpoint_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "out.checkpoints"
    write_checkpoint(folder, 20)
    write_checkpoint(folder, 40, missing="trainer_state.json")
    with caplog.at_level(logging.WARNING, logger="sembridge"):
        assert plan_checkpoints(folder, FinetuneConfig(resume=True)) == (folder / "checkpoint-20", False)
    assert (
        "checkpoint-40 is incomplete (no trainer_state.json: the run was stopped while writing it); "
        "resuming from checkpoint-20"
    ) in caplog.text
    assert (
        resume_note(folder)
        == f"the model was not written; --resume continues from {folder / 'checkpoint-20'}"
    )
    # Without --resume, the half-written folder still counts as an earlier run's.
    with pytest.raises(SembridgeError, match=r"earlier run \(last: checkpoint-40\)"):
        plan_checkpoints(folder, FinetuneConfig())
    assert remove_incomplete(folder) == [folder / "checkpoint-40"]
    assert [p.name for p in list_checkpoints(folder)] == ["checkpoint-20"]


def test_resume_with_only_incomplete_checkpoints_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "out.checkpoints"
    write_checkpoint(folder, 20, missing="optimizer.pt")
    with pytest.raises(
        SembridgeError, match=r"no complete checkpoint in .*checkpoint-20 \(no optimizer.pt\)"
    ) as err:
        plan_checkpoints(folder, FinetuneConfig(resume=True))
    assert "--overwrite" in (err.value.hint or "")
    assert "no checkpoint is complete yet" in (resume_note(folder) or "")


@pytest.mark.e2e
def test_kill_while_writing_a_checkpoint_then_resume(
    tmp_path: Path, splade_tiny: Path, en_pairs: list[tuple[str, str]]
) -> None:
    """A real ``sembridge finetune`` killed (SIGKILL) while writing checkpoint-4 resumes from checkpoint-2."""
    data = write_pairs_jsonl(en_pairs[:64], tmp_path / "pairs.jsonl")
    out = tmp_path / "out"
    args = [
        "finetune", "-m", str(splade_tiny), "-d", str(data), "-o", str(out), "--max-steps", "4",
        "--save-steps", "2", "--batch-size", "8", "--max-length", "32", "--device", "cpu",
        "--stats-sample", "8", "--quiet", "--lr", "1e-4",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.update(OMP_NUM_THREADS="1", SEMBRIDGE_TEST_KILL_AT="checkpoint-4")
    killed = subprocess.run(
        [sys.executable, str(KILL_SCRIPT), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-4000:]
    checkpoints = default_checkpoint_dir(out)
    assert [p.name for p in list_checkpoints(checkpoints)] == ["checkpoint-2", "checkpoint-4"]
    assert incomplete_reason(checkpoints / "checkpoint-4") == "trainer_state.json is cut short"

    del env["SEMBRIDGE_TEST_KILL_AT"]
    resumed = subprocess.run(
        [sys.executable, "-m", "sembridge", *args, "--resume"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = " ".join((resumed.stdout + resumed.stderr).split())  # rich wraps long log lines
    assert resumed.returncode == 0, log[-4000:]
    assert "checkpoint-4 is incomplete" in log and "resuming from checkpoint-2" in log
    report = json.loads((out / REPORT_NAME).read_text(encoding="utf-8"))
    assert report["resumed_from_step"] == 2 and report["global_step"] == 4
    assert report["resume"]["checkpoint"] == "checkpoint-2"
    assert report["resume"]["incomplete_removed"] == ["checkpoint-4"]
    assert report["resume"]["changed"] == {}
    assert report["resume"]["in_effect"]["--lr"] == pytest.approx(1e-4)
    assert not checkpoints.exists()


# ------------------------------------------------------------------------------------------------
# Item 3: settings that change the optimisation are compared with the checkpoint's.


def test_data_fingerprint_follows_the_texts_not_the_source() -> None:
    pairs = [("a question", "an answer"), ("another question", "another answer")]
    first = data_fingerprint(pairs_to_dataset(pairs))
    assert first == data_fingerprint(pairs_to_dataset(list(pairs)))
    assert first["pairs"] == 2 and first["columns"] == ["positive", "query"]
    edited = data_fingerprint(pairs_to_dataset([pairs[0], ("another question", "another answer!")]))
    assert edited["sha256"] != first["sha256"]
    # The length prefix keeps a text boundary from moving unseen.
    moved = data_fingerprint(pairs_to_dataset([("a questio", "n an answer"), pairs[1]]))
    assert moved["sha256"] != first["sha256"]


def test_changed_settings_are_named_each_in_one_line() -> None:
    data = pairs_to_dataset([("a question", "an answer"), ("another question", "another answer")])
    recorded = run_settings(small(learning_rate=1e-4), data, 1)
    current = run_settings(small(learning_rate=5e-5, batch_size=8), data, 1)
    assert changed_settings(recorded, recorded) == {}
    with pytest.raises(SembridgeError) as err:
        check_resume_settings(recorded, current, "checkpoint-20", allow_changed=False)
    assert err.value.message == (
        "--resume with settings that differ from those checkpoint-20 was trained with: "
        "--batch-size: checkpoint 16, now 8; --lr: checkpoint 0.0001, now 5e-05"
    )
    assert "--resume-changed" in (err.value.hint or "")
    allowed = check_resume_settings(recorded, current, "checkpoint-20", allow_changed=True)
    assert allowed == {
        "--batch-size": {"checkpoint": 16, "now": 8},
        "--lr": {"checkpoint": 1e-4, "now": 5e-5},
    }


def test_run_settings_survive_the_file_and_go_with_the_checkpoints(tmp_path: Path) -> None:
    data = pairs_to_dataset([("a question", "an answer"), ("another question", "another answer")])
    settings = run_settings(small(reg_warmup_ratio=1 / 3), data, 2)
    folder = tmp_path / "out.checkpoints"
    assert read_run_settings(folder) is None
    write_run_settings(folder, settings, "pairs.jsonl")
    assert read_run_settings(folder) == settings  # floats such as 1/3 come back equal
    write_checkpoint(folder, 2)
    remove_checkpoints(folder)
    assert not folder.exists()


def test_resume_changed_needs_resume() -> None:
    with pytest.raises(SembridgeError, match="--resume-changed needs --resume"):
        FinetuneConfig(resume_changed=True)


def test_changed_lr_on_resume_is_refused_before_loading(tmp_path: Path) -> None:
    pairs = [(f"question {i}", f"answer {i}") for i in range(8)]
    data = write_pairs_jsonl(pairs, tmp_path / "pairs.jsonl")
    out = tmp_path / "out"
    folder = default_checkpoint_dir(out)
    write_checkpoint(folder, 20)
    write_run_settings(folder, run_settings(small(learning_rate=1e-4), pairs_to_dataset(pairs), 1), str(data))
    with pytest.raises(SembridgeError, match=r"--lr: checkpoint 0\.0001, now 5e-05$"):
        # The model does not exist: the refusal comes first.
        finetune(tmp_path / "no-model", data, out, small(learning_rate=5e-5, resume=True))
    assert (folder / RUN_SETTINGS_NAME).is_file() and not out.exists()


class _LearningRates:
    """A TrainerCallback that records, before each step, the learning rate and weight decays in use."""

    def __new__(cls) -> Any:
        from transformers import TrainerCallback

        class Record(TrainerCallback):
            def __init__(self) -> None:
                self.seen: dict[int, tuple[float, list[float]]] = {}

            def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                groups = kwargs["optimizer"].param_groups
                self.seen[state.global_step] = (groups[0]["lr"], sorted(g["weight_decay"] for g in groups))

        return Record()


@pytest.mark.e2e
def test_resume_with_changed_settings_is_refused_then_applied_with_the_flag(
    tmp_path: Path, splade_tiny: Path, en_pairs: list[tuple[str, str]]
) -> None:
    data = pairs_to_dataset(en_pairs[:96])
    config = small(max_steps=4, save_steps=2, learning_rate=1e-4)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated crash at step 3"):
        finetune(splade_tiny, data, out, config, callbacks=[crash_at(3)])

    changed = {**config.to_dict(), "resume": True, "learning_rate": 5e-5, "weight_decay": 0.01}
    with pytest.raises(SembridgeError) as err:
        finetune(splade_tiny, data, out, small(**changed))
    assert err.value.message.endswith(
        "checkpoint-2 was trained with: --lr: checkpoint 0.0001, now 5e-05; "
        "--weight-decay: checkpoint 0.0, now 0.01"
    )
    with pytest.raises(
        SembridgeError, match=r"data: checkpoint 96 pairs \(positive, query; sha256 \w+\), now 95"
    ):
        finetune(splade_tiny, data.select(range(95)), out, small(**{**config.to_dict(), "resume": True}))

    recorder = _LearningRates()
    result = finetune(
        splade_tiny, data, out, small(**{**changed, "resume_changed": True}), callbacks=[recorder]
    )
    assert result.resumed_from_step == 2 and result.global_step == 4
    # The linear schedule over 4 steps continues with the new peak rate and weight decay.
    assert recorder.seen[2] == (pytest.approx(5e-5 * 2 / 4), [0.0, 0.01])
    assert recorder.seen[3] == (pytest.approx(5e-5 * 1 / 4), [0.0, 0.01])
    report = json.loads((out / REPORT_NAME).read_text(encoding="utf-8"))
    resume = report["resume"]
    assert resume["checkpoint"] == "checkpoint-2"
    assert resume["changed"] == {
        "--lr": {"checkpoint": 1e-4, "now": 5e-5},
        "--weight-decay": {"checkpoint": 0.0, "now": 0.01},
    }
    assert resume["in_effect"]["--lr"] == pytest.approx(5e-5)
    assert resume["in_effect"]["--weight-decay"] == pytest.approx(0.01)
    assert "steps up to 2 ran with the checkpoint's values" in resume["note"]
    assert report["config"]["learning_rate"] == 5e-5 and report["config"]["resume_changed"] is True
