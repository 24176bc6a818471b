"""benchmarks/bench_gpu.py (``make bench-gpu``) on the CPU: its arguments, the commands it plans,
and its refusal without a CUDA GPU (nothing runs). The figures need a GPU."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gpu.py"


@pytest.fixture(scope="module")
def bench_gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_arguments_and_planned_commands(bench_gpu, tmp_path: Path) -> None:
    args = bench_gpu.parse_args([])
    assert (args.device, args.quick, args.only) == ("cuda", False, None)
    args = bench_gpu.parse_args(["--only", "training", "weights", "--quick", "--json-dir", str(tmp_path)])
    planned = dict(bench_gpu.commands(args))
    assert list(planned) == ["training", "weights"]
    training = planned["training"]
    assert training[training.index("--precision") + 1] == "bf16"
    assert training[training.index("--batch-size") + 1] == "64"
    assert training[training.index("--max-length") + 1] == "256"
    assert training[-3:] == ["--quick", "--json", str(tmp_path / "gpu-training.json")]
    assert "240000" in planned["weights"] and planned["weights"][2:4] == ["--device", "cuda"]
    ((name, paper),) = bench_gpu.commands(bench_gpu.parse_args(["--only", "paper-scale"]))
    assert name == "paper-scale" and paper[1].endswith("bench_paper_scale.py")
    assert paper[2:4] == ["--device", "cuda"]  # the paper's 100k passages and a 64-pair uncached batch
    assert paper[paper.index("--export-docs") + 1] == "100000"
    assert paper[paper.index("--probe-batch-size") + 1] == "64"


def test_init_runs_cold_then_cached_on_one_cache(
    bench_gpu, tmp_path: Path, splade_tiny: Path, e5_bridge: Path
) -> None:
    args = bench_gpu.parse_args(["--only", "init", "--device", "cuda:1", "--work-dir", str(tmp_path)])
    planned = dict(bench_gpu.commands(args))
    assert list(planned) == ["init-cold", "init-cached"]
    cold, cached = planned["init-cold"], planned["init-cached"]
    for command in (cold, cached):
        assert command[1:4] == ["-m", "sembridge", "init"]
        assert command[command.index("--device") + 1] == "cuda:1"
        assert command[command.index("--cache-dir") + 1] == str(tmp_path / "cache")
        assert command[command.index("-t") + 1] == command[command.index("-b") + 1]  # the e5 vocabulary


@pytest.mark.parametrize("argv", [["--device", "cpu"], ["--only", "bridge"]])
def test_bad_arguments_are_refused(bench_gpu, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_gpu.parse_args(argv)
    assert exit_info.value.code == 2
    assert argv[-1] in capsys.readouterr().err


def test_without_cuda_it_refuses_and_runs_nothing(
    bench_gpu, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def no_run(*args, **kwargs):
        raise AssertionError("a stage ran")

    monkeypatch.setattr(subprocess, "run", no_run)
    assert bench_gpu.main(["--only", "training"]) == 1
    err = capsys.readouterr().err
    assert "bench-gpu needs a CUDA GPU: no CUDA GPU is visible" in err and "nothing was run" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_the_script_exits_1_without_a_gpu() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--only", "encoding"], capture_output=True, text=True)
    assert done.returncode == 1 and "needs a CUDA GPU" in done.stderr
