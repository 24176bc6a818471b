"""An option value sembridge refuses as out of range or malformed is a usage error: one line naming
the flag (not the field behind it), the hint, and exit status 2, as for Typer's own range checks;
``--format onnx`` refuses the vector options it would ignore."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from sembridge.cli import app as app_module
from sembridge.cli.app import main
from sembridge.data import DataOptions
from sembridge.errors import SembridgeError, UsageError
from sembridge.flags import flag_name
from sembridge.training import FinetuneConfig
from sembridge.training.mining import MineSettings


def _run(argv: list[str], capsys) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return done.value.code, [line for line in err.splitlines() if line.startswith(("Error:", "Hint:"))]


def test_a_usage_error_is_a_sembridge_error_printed_alike_with_exit_2(monkeypatch, capsys):
    assert issubclass(UsageError, SembridgeError)  # library callers still catch SembridgeError
    fails = typer.Typer()

    @fails.command("fail")
    def fail() -> None:
        raise UsageError("--thing must be >= 1, got 0", hint="e.g. --thing 4")

    fails.command("other")(lambda: None)
    monkeypatch.setattr(app_module, "app", fails)
    assert _run(["fail"], capsys) == (2, ["Error: --thing must be >= 1, got 0", "Hint: e.g. --thing 4"])


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["init", "-s", "src", "-t", "tok", "--alpha", "0.5"], "Error: --alpha must be >= 1, got 0.5"),
        (["init", "-s", "src", "-t", "tok", "--seed", str(2**64)], "Error: --seed must be an integer in"),
        (["init", "-s", "src", "-t", "tok", "--method", "nope"], "Error: --method must be one of "),
        (["finetune", "-m", "m", "-d", "d.jsonl", "--lr", "0"], "Error: --lr must be > 0, got 0.0."),
        (
            ["finetune", "-m", "m", "-d", "d.jsonl", "--warmup-ratio", "1"],
            "Error: --warmup-ratio must lie in",
        ),
        (["finetune", "-m", "m", "-d", "d.jsonl", "--query-reg", "-1"], "Error: --query-reg must be >= 0"),
        (["finetune", "-m", "m", "-d", "d.jsonl", "--layout", "xml"], "Error: --layout must be one of "),
        (
            ["finetune", "-m", "m", "-d", "d.jsonl", "--resume-changed"],
            "Error: --resume-changed needs --resume",
        ),
        (["export", "-m", "m", "--corpus", "c.jsonl", "--scale", "0"], "Error: scale must be positive"),
        (
            ["evaluate", "-m", "m", "--data", "d.jsonl", "--metrics", "nDCG@0"],
            "Error: metric 'nDCG@0' has cutoff",
        ),
        (["evaluate", "--data", "d.jsonl"], "Error: no model to evaluate"),
        (
            ["mine", "-d", "d.jsonl", "-t", "tok", "--negatives", "60"],
            "Error: --range-min 0 to --range-max 50",
        ),
        (
            ["models", "--role", "teacher"],
            "Error: --role must be one of source, target, bridge, got 'teacher'",
        ),
    ],
)
def test_out_of_range_values_exit_2_with_one_line(tmp_path, monkeypatch, capsys, argv, line):
    monkeypatch.chdir(tmp_path)  # nothing named exists: each is refused before anything is read
    out = ["-o", str(tmp_path / ("out.jsonl" if argv[0] == "mine" else "out"))] if argv[0] != "models" else []
    code, lines = _run([*argv, *out], capsys)
    assert code == 2
    assert lines[0].startswith(line), lines
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.jsonl").exists()


def test_a_bad_input_file_still_exits_1(tmp_path, capsys):
    code, lines = _run(["evaluate", "-m", "m", "--data", str(tmp_path / "missing.jsonl")], capsys)
    assert code == 1 and "does not exist" in lines[0]


@pytest.mark.parametrize(
    ("cls", "settings", "field"),
    [
        (FinetuneConfig, {"epochs": 0.0}, "epochs"),
        (FinetuneConfig, {"epochs": float("nan")}, "epochs"),
        (FinetuneConfig, {"max_steps": 0}, "max_steps"),
        (FinetuneConfig, {"batch_size": 0}, "batch_size"),
        (FinetuneConfig, {"grad_accum": 0}, "grad_accum"),
        (FinetuneConfig, {"max_length": 0}, "max_length"),
        (FinetuneConfig, {"query_max_length": 0}, "query_max_length"),
        (FinetuneConfig, {"doc_max_length": 0}, "doc_max_length"),
        (FinetuneConfig, {"learning_rate": -1.0}, "learning_rate"),
        (FinetuneConfig, {"learning_rate": float("inf")}, "learning_rate"),
        (FinetuneConfig, {"warmup_ratio": -0.1}, "warmup_ratio"),
        (FinetuneConfig, {"weight_decay": -1.0}, "weight_decay"),
        (FinetuneConfig, {"reg_warmup_ratio": 2.0}, "reg_warmup_ratio"),
        (FinetuneConfig, {"query_reg": -1.0}, "query_reg"),
        (FinetuneConfig, {"doc_reg": float("nan")}, "doc_reg"),
        (FinetuneConfig, {"temperature": 0.0}, "temperature"),
        (FinetuneConfig, {"teacher_temperature": 0.0}, "teacher_temperature"),
        (FinetuneConfig, {"margin_scale": 0.0}, "margin_scale"),
        (FinetuneConfig, {"mini_batch_size": 0}, "mini_batch_size"),
        (FinetuneConfig, {"eval_steps": 0}, "eval_steps"),
        (FinetuneConfig, {"save_steps": 0}, "save_steps"),
        (FinetuneConfig, {"save_total_limit": 0}, "save_total_limit"),
        (FinetuneConfig, {"logging_steps": 0}, "logging_steps"),
        (FinetuneConfig, {"dataloader_workers": -1}, "dataloader_workers"),
        (FinetuneConfig, {"stats_sample_size": 0}, "stats_sample_size"),
        (FinetuneConfig, {"resume_changed": True}, "resume_changed"),
        (DataOptions, {"layout": "xml"}, "layout"),
        (DataOptions, {"limit": 0}, "limit"),
        (DataOptions, {"max_negatives": -1}, "max_negatives"),
    ],
)
def test_settings_are_refused_by_their_flag(cls, settings, field):
    with pytest.raises(UsageError) as refused:
        cls(**settings)
    flag = flag_name(cls, field)
    assert refused.value.message.startswith(f"{flag} "), refused.value.message
    assert field not in refused.value.message.replace(flag, "")  # the field's own name is not shown


@pytest.mark.parametrize(
    "settings",
    [
        {"miner": "splade"},
        {"teacher": "oracle"},
        {"negatives": 0},
        {"relative_margin": 1.0},
        {"bm25_weight": 2.0},
    ],
)
def test_mine_settings_are_usage_errors_naming_the_flag(settings):
    (field,) = settings
    with pytest.raises(UsageError, match=f"^--{field.replace('_', '-')} must "):
        MineSettings(**settings)


def test_init_settings_are_usage_errors_naming_the_flag():
    from sembridge.init.pipeline import InitConfig

    with pytest.raises(UsageError, match=r"^--chunk-size must be a positive integer, got 0$"):
        InitConfig("s", "t", chunk_size=0)
    with pytest.raises(UsageError, match=r"^--seed must be an integer"):
        InitConfig("s", "t", seed=-(2**63) - 1)
    with pytest.raises(UsageError, match=r"^top_sources must be a positive integer"):  # it has no flag
        InitConfig("s", "t", top_sources=0)


# --format onnx writes the model itself: the vector formats' options would be ignored.


@pytest.fixture
def fake_onnx(monkeypatch) -> list[dict]:
    import sembridge.export.pipeline as pipeline

    calls: list[dict] = []

    def export_onnx(model, output_dir, *, quantize=False, overwrite=False, show_progress=True):
        calls.append({"model": model, "quantize": quantize})
        Path(output_dir).mkdir()
        return {"model": model}

    monkeypatch.setattr(pipeline, "export_onnx", export_onnx)
    return calls


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--corpus", "c.jsonl"], "--corpus"),
        (["--queries", "q.jsonl"], "--queries"),
        (["--scale", "50"], "--scale"),
        (["--prune-mass", "0.9"], "--prune-mass"),
        (["--prune-top-k", "64"], "--prune-top-k"),
        (["--docs-per-file", "10"], "--docs-per-file"),
        (["--max-length", "128"], "--max-length"),
        (["--batch-size", "8"], "--batch-size"),
        (["--processes", "2"], "--processes"),
        (["--corpus", "c.jsonl", "--scale", "50", "--processes", "2"], "--corpus, --scale, --processes"),
    ],
)
def test_onnx_refuses_the_vector_options_it_ignores(tmp_path, capsys, fake_onnx, extra, named):
    out = tmp_path / "onnx"
    code, lines = _run(["export", "-m", "m", "--format", "onnx", *extra, "-o", str(out)], capsys)
    assert code == 2
    assert lines[0] == f"Error: --format onnx exports the model only and does not use {named}"
    assert lines[1].startswith("Hint: leave ") and "anserini" in lines[1]
    assert fake_onnx == [] and not out.exists()


def test_onnx_takes_the_vector_options_at_their_defaults(tmp_path, capsys, fake_onnx):
    out = tmp_path / "onnx"
    argv = [
        "export",
        "-m",
        "m",
        "--format",
        "onnx",
        "--scale",
        "100",
        "--batch-size",
        "32",
        "--processes",
        "1",
    ]
    main([*argv, "--quantize", "--json", "-o", str(out)])
    assert json.loads(capsys.readouterr().out) == {"model": "m"}
    assert fake_onnx == [{"model": "m", "quantize": True}]


def test_onnx_refusal_from_python_names_the_flags(tmp_path, fake_onnx):
    from sembridge.encoding.pruning import Pruning
    from sembridge.export import export

    with pytest.raises(UsageError, match=r"does not use --corpus, --prune-top-k$"):
        export("m", tmp_path / "o", format="onnx", corpus={"d1": "text"}, pruning=Pruning(top_k=4))
    assert fake_onnx == []
