"""``sembridge finetune`` on the command line, in one process and in two (torchrun, gloo, CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sembridge.cli.finetune import register
from sembridge.data import write_pairs_jsonl
from sembridge.errors import SembridgeError
from sembridge.training import REPORT_NAME
from tests.training.checkpoint_files import write_checkpoint

REPO = Path(__file__).resolve().parents[2]
DDP_SCRIPT = REPO / "tests" / "training" / "ddp_cli.py"


def make_app() -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.callback()
    def _root() -> None:
        """test app"""

    register(app)
    return app


def invoke(*args: str) -> object:
    return CliRunner().invoke(make_app(), ["finetune", *args])


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(make_app(), ["finetune", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--model", "--data", "--output", "--epochs", "--batch-size", "--max-length", "--lr", "--warmup-ratio",
        "--query-reg", "--doc-reg", "--temperature", "--bf16", "--fp16", "--grad-accum", "--eval-data",
        "--eval-steps", "--save-steps", "--resume", "--seed", "--max-steps", "--overwrite", "--layout",
        "--query-column", "--positive-column", "--negative-column", "--language",
    ):  # fmt: skip
        assert option in result.output, option
    assert "torchrun" in result.output


def test_bad_data_is_reported_with_file_and_line(tmp_path: Path) -> None:
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"query": "q1", "positive": "p1"}\n{"query": "q2", "positive": ""}\n', encoding="utf-8")
    result = invoke("-m", str(tmp_path / "no-model"), "-d", str(data), "-o", str(tmp_path / "out"))
    assert isinstance(result.exception, SembridgeError)
    assert result.exception.message == "pairs.jsonl line 2: field 'positive' is empty"
    assert not (tmp_path / "out").exists()


def test_precision_flags_are_checked(tmp_path: Path) -> None:
    args = ["-m", str(tmp_path / "m"), "-d", str(tmp_path / "d.jsonl"), "-o", str(tmp_path / "out")]
    result = invoke(*args, "--bf16", "--fp16")
    assert isinstance(result.exception, SembridgeError)
    assert result.exception.message == "--bf16 and --fp16 exclude each other"
    result = invoke(*args, "--fp16", "--device", "cpu")
    assert isinstance(result.exception, SembridgeError)
    assert result.exception.message == "--fp16 needs a CUDA GPU, and this run is on the CPU"


def test_bad_layout_is_refused(tmp_path: Path) -> None:
    result = invoke("-m", "x", "-d", "y.jsonl", "-o", str(tmp_path / "out"), "--layout", "xml")
    assert isinstance(result.exception, SembridgeError)
    assert "--layout must be one of auto, pairs, miracl, webfaq, got 'xml'" in result.exception.message


@pytest.mark.parametrize("checkpoints", [["checkpoint-20", "checkpoint-40"], []])
def test_interrupt_names_the_checkpoint_to_resume_from(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    checkpoints: list[str],
) -> None:
    import signal

    import sembridge.training
    from sembridge.cli.app import main

    out = tmp_path / "out"

    def interrupted_training(*args: object, **kwargs: object) -> None:
        for name in checkpoints:  # complete ones, as the trainer writes them
            write_checkpoint(tmp_path / "out.checkpoints", int(name.split("-")[1]))
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: the CLI's handler raises here
        time.sleep(5)
        raise AssertionError("SIGINT did not stop the command")

    monkeypatch.setattr(sembridge.training, "finetune", interrupted_training)
    with pytest.raises(SystemExit) as stopped:
        main(["finetune", "-m", "model", "-d", "pairs.jsonl", "-o", str(out)])
    assert stopped.value.code == 130
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Interrupted:")]
    if checkpoints:
        resume = tmp_path / "out.checkpoints" / "checkpoint-40"
        detail = f"the model was not written; --resume continues from {resume}"
    else:
        detail = "nothing was written"
    assert lines == [f"Interrupted: sembridge finetune stopped by SIGINT; {detail}."]
    assert not out.exists()


@pytest.mark.e2e
def test_two_processes_with_gloo_write_one_loadable_result(
    tmp_path: Path, splade_tiny: Path, en_pairs: list[tuple[str, str]]
) -> None:
    """``torchrun --nproc_per_node 2 ... finetune`` on CPU: the output is written once and loads."""
    data = write_pairs_jsonl(en_pairs[:64], tmp_path / "pairs.jsonl")
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(DDP_SCRIPT), "finetune", "-m", str(splade_tiny), "-d", str(data), "-o", str(out),
        "--max-steps", "3", "--batch-size", "8", "--max-length", "32", "--device", "cpu",
        "--save-steps", "2", "--logging-steps", "1", "--stats-sample", "16", "--quiet",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env["OMP_NUM_THREADS"] = "1"
    started = time.perf_counter()
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - started
    assert run.returncode == 0, run.stderr[-4000:]
    # Written once, by the first process: one summary, one "written" line, no leftovers.
    assert run.stdout.count("sembridge finetune ->") == 1, run.stdout
    assert (run.stdout + run.stderr).count("model written to") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "pairs.jsonl"]
    report = json.loads((out / REPORT_NAME).read_text(encoding="utf-8"))
    assert report["world_size"] == 2 and report["effective_batch_size"] == 16
    assert report["global_step"] == 3
    assert [e["step"] for e in report["loss_curve"]] == [1, 2, 3]

    from sentence_transformers import SparseEncoder

    encoder = SparseEncoder(str(out), device="cpu")
    assert encoder.encode_document(["hello there"], convert_to_tensor=True).shape[-1] == 30522
    print(f"2-process gloo run: {seconds:.1f} s")
