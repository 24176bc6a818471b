"""The init / inspect CLI: one-line errors with exit status 1, usage errors with exit status 2,
interrupts with 130 / 143, and nothing written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from sembridge.cli.app import main
from tests.helpers import save_tiny_bridge, save_tiny_source, wordpiece_tokenizer
from tests.init.test_pipeline import BRIDGE_WORDS, SOURCE_WORDS, TARGET_WORDS


@pytest.fixture
def paths(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SEMBRIDGE_CACHE", str(tmp_path / "cache"))
    source = save_tiny_source(tmp_path / "source", "bert", SOURCE_WORDS)
    target = tmp_path / "target"
    wordpiece_tokenizer(TARGET_WORDS).save_pretrained(target)
    bridge = save_tiny_bridge(tmp_path / "bridge", BRIDGE_WORDS)
    return {"source": str(source), "target": str(target), "bridge": str(bridge), "tmp": tmp_path}


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def _init_args(paths, out, **overrides):
    args = {
        "--source": paths["source"],
        "--target-tokenizer": paths["target"],
        "--bridge": paths["bridge"],
        "--alpha": "2",
        "--device": "cpu",
        "--output": str(out),
    }
    args.update(overrides)
    return ["init", "--quiet", *[x for kv in args.items() for x in kv]]


def _error_lines(err):
    return [line for line in err.splitlines() if line.startswith("Error:")]


def _assert_nothing_written(tmp, out):
    assert not out.exists()
    assert not [p for p in tmp.iterdir() if p.name.startswith(f".{out.name}.")]


def test_init_then_inspect(paths, capsys):
    out = paths["tmp"] / "model"
    main(_init_args(paths, out))
    stdout = capsys.readouterr().out
    assert "copied (overlap)" in stdout and "new tokens" in stdout
    assert (out / "sembridge_init.json").is_file()

    main(["inspect-token", "--model", str(out), "собака", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["pieces"][0]["kind"] == "new" and data["pieces"][0]["sources"]

    main(["inspect-token", "--model", str(out), "the"])
    assert "copied from source token" in capsys.readouterr().out

    # A word the tokenizer splits into several pieces shows each piece.
    main(["inspect-token", "--model", str(out), "котing", "--json"])
    pieces = json.loads(capsys.readouterr().out)["pieces"]
    assert [p["token"] for p in pieces] == ["кот", "##ing"]
    assert pieces[0]["kind"] == "new" and pieces[1]["kind"] == "copied"

    main(["inspect-text", "--model", str(out), "кот собака дом", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["active_terms"] > 0 and len(result["terms"]) <= 20


def test_unknown_short_name_or_unreachable_hub_id(paths, capsys):
    out = paths["tmp"] / "model"
    code, _, err = _run(_init_args(paths, out, **{"--source": "no-such-org/no-such-model"}), capsys)
    assert code == 1
    (line,) = _error_lines(err)
    assert "no-such-org/no-such-model" in line and "hub" in line
    _assert_nothing_written(paths["tmp"], out)


def test_mistyped_short_name(paths, capsys):
    out = paths["tmp"] / "model"
    code, _, err = _run(_init_args(paths, out, **{"--target-tokenizer": "ARBRT"}), capsys)
    assert code == 1
    (line,) = _error_lines(err)
    assert "'ARBRT'" in line and "not a short name of the registry" in line and "hub" in line
    assert "sembridge models" in err
    _assert_nothing_written(paths["tmp"], out)


def test_missing_local_folder(paths, capsys):
    out = paths["tmp"] / "model"
    code, _, err = _run(_init_args(paths, out, **{"--target-tokenizer": "./no/such/folder"}), capsys)
    assert code == 1
    (line,) = _error_lines(err)
    assert "./no/such/folder" in line and "no such local folder" in line
    _assert_nothing_written(paths["tmp"], out)


def test_source_without_mlm_head(paths, capsys):
    from transformers import BertConfig, BertModel

    plain = paths["tmp"] / "plain-bert"
    BertModel(
        BertConfig(
            vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8
        )
    ).save_pretrained(plain)
    wordpiece_tokenizer(SOURCE_WORDS).save_pretrained(plain)
    out = paths["tmp"] / "model"
    code, _, err = _run(_init_args(paths, out, **{"--source": str(plain)}), capsys)
    assert code == 1
    (line,) = _error_lines(err)
    assert "masked-LM" in line and "BertModel" in line
    _assert_nothing_written(paths["tmp"], out)


def test_source_without_mlm_head_and_without_architectures(paths, capsys):
    # Without `architectures` the config does not say BertModel: the missing head weights must.
    from transformers import BertConfig, BertModel

    plain = paths["tmp"] / "plain-bert"
    BertModel(
        BertConfig(
            vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8
        )
    ).save_pretrained(plain)
    config = json.loads((plain / "config.json").read_text(encoding="utf-8"))
    del config["architectures"]
    (plain / "config.json").write_text(json.dumps(config), encoding="utf-8")
    wordpiece_tokenizer(SOURCE_WORDS).save_pretrained(plain)
    out = paths["tmp"] / "model"
    code, _, err = _run(_init_args(paths, out, **{"--source": str(plain)}), capsys)
    assert code == 1
    (line,) = _error_lines(err)
    assert str(plain) in line and "masked-LM head" in line and "cls.predictions" in line
    _assert_nothing_written(paths["tmp"], out)


def test_alpha_below_one(paths, capsys):
    out = paths["tmp"] / "model"
    code, _, err = _run(_init_args(paths, out, **{"--alpha": "0.5"}), capsys)
    assert code == 2  # a usage error, as for Typer's own range checks
    (line,) = _error_lines(err)
    assert line == "Error: --alpha must be >= 1, got 0.5"
    _assert_nothing_written(paths["tmp"], out)


def test_existing_output_refused(paths, capsys):
    out = paths["tmp"] / "model"
    out.mkdir()
    code, _, err = _run(_init_args(paths, out), capsys)
    assert code == 1
    (line,) = _error_lines(err)
    assert str(out) in line and "already exists" in line
    assert "--overwrite" in err
    assert list(out.iterdir()) == []


def test_target_tokenizer_without_vocabulary(paths, capsys):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    empty = paths["tmp"] / "empty-tokenizer"
    PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({}, unk_token=None))).save_pretrained(
        empty
    )
    out = paths["tmp"] / "model"
    code, _, err = _run(_init_args(paths, out, **{"--target-tokenizer": str(empty)}), capsys)
    assert code == 1
    (line,) = _error_lines(err)
    assert "has no vocabulary" in line and "empty-tokenizer" in line
    _assert_nothing_written(paths["tmp"], out)


@pytest.mark.parametrize(
    ("change", "flag"),
    [({"--chunk-size": "0"}, "'--chunk-size'"), ({"--target-tokenizer": None}, "'--target-tokenizer'")],
)
def test_usage_errors_name_the_option_and_exit_2(paths, capsys, change, flag):
    out = paths["tmp"] / "model"
    args = _init_args(paths, out, **change)
    if None in change.values():  # the option left out
        at = args.index(next(iter(change)))
        del args[at : at + 2]
    code, _, err = _run(args, capsys)
    assert code == 2
    assert "Usage: " in err and flag in err and "Traceback" not in err and "Hint:" not in err
    if "--chunk-size" in change:
        assert "greater than or equal to 1" in err
    else:
        assert "Missing option" in err
    _assert_nothing_written(paths["tmp"], out)


# `init` on the tiny models, held inside its output folder's atomic write until signalled.
_SLOW_INIT = """
import sys, time
import sembridge.init.pipeline
from sembridge.cli.app import main

def slow_write_report(path, report):
    path.write_text("{}", encoding="utf-8")
    print("writing", flush=True)
    time.sleep(30)

sembridge.init.pipeline.write_report = slow_write_report
main(sys.argv[1:])
"""


@pytest.mark.parametrize(("signum", "name"), [(signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")])
def test_interrupt_exits_128_plus_signal_and_writes_nothing(paths, signum, name):
    out = paths["tmp"] / "model"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SEMBRIDGE_CACHE": str(paths["tmp"] / "cache")}
    process = subprocess.Popen(
        [sys.executable, "-c", _SLOW_INIT, *_init_args(paths, out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    watchdog = threading.Timer(300, process.kill)
    watchdog.start()
    try:
        assert process.stdout.readline().strip() == "writing"
        process.send_signal(signum)
        _, err = process.communicate(timeout=120)
    finally:
        watchdog.cancel()
        process.kill()
    assert process.returncode == 128 + signum
    lines = [line for line in err.splitlines() if line.startswith("Interrupted:")]
    assert lines == [f"Interrupted: sembridge init stopped by {name}; nothing was written."]
    assert "Traceback" not in err
    _assert_nothing_written(paths["tmp"], out)


def test_inspect_folder_without_report(paths, capsys):
    code, _, err = _run(["inspect-token", "--model", paths["source"], "cat"], capsys)
    assert code == 1
    assert "sembridge_init.json" in _error_lines(err)[0]


def test_models_lists_registry(capsys):
    main(["models", "--role", "bridge"])
    out = capsys.readouterr().out
    assert "bge-m3" in out and "BAAI/bge-m3" in out and "splade-v3" not in out


@pytest.mark.parametrize(("flag", "value"), [("--alpha", "2"), ("--bridge", "nonsense")])
def test_unused_option_refused_with_the_library_message(tmp_path, capsys, flag, value):
    from sembridge.errors import SembridgeError
    from sembridge.init.pipeline import InitConfig

    out = tmp_path / "model"
    argv = ["init", "-s", "src", "-t", "tok", "--method", "random", flag, value, "-o", str(out)]
    code, _, err = _run(argv, capsys)
    assert code == 2
    with pytest.raises(SembridgeError) as refused:
        InitConfig(source="src", target_tokenizer="tok", method="random", **{flag[2:]: value})
    assert _error_lines(err) == [f"Error: {refused.value}"]
    assert f"Hint: {refused.value.hint}" in err
    _assert_nothing_written(tmp_path, out)


def test_help_lists_each_declared_option_with_the_methods_that_use_it(capsys, monkeypatch):
    from sembridge.methods import options_by_key

    monkeypatch.setenv("COLUMNS", "250")
    main(["init", "--help"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("│")]  # option rows
    for option, owners in options_by_key().values():
        (line,) = [line for line in lines if f" {option.flag} " in line]
        assert f"{', '.join(owners)}: {option.help}" in line, line
        if option.short:
            assert f" {option.short} " in line


def test_help_loads_no_torch():
    import subprocess
    import sys

    code = (
        "import sys, typer; from sembridge.cli.app import app; typer.main.get_command(app); "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_json_prints_the_summary_and_settings(paths, capsys):
    out = paths["tmp"] / "out-json"
    main([*_init_args(paths, out), "--json"])
    printed = json.loads(capsys.readouterr().out)
    report = json.loads((out / "sembridge_init.json").read_text(encoding="utf-8"))
    assert printed["output"] == str(out) and printed["settings"] == report["settings"]
    timings = ("timings",)  # the file is written inside the "save" stage, so it lacks that stage's time
    assert {k: v for k, v in printed["summary"].items() if k not in timings} == {
        k: v for k, v in report["summary"].items() if k not in timings
    }
