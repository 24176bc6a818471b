"""Concurrent runs on one output, refusals before any heavy work, and leftovers of killed runs.

- a folder that appears while a run writes the same output is never replaced without
  ``overwrite``: the loser exits 1, says so, and keeps its result beside it;
- an output under a file, or in a folder that cannot be written, and non-finite numbers are
  refused before the models are loaded;
- temporaries of killed runs (``.OUT.tmp-<host>-<pid>-*``, cache entries' ``.KEY.tmp-*``) are
  removed by a later run, never those of a live process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sembridge.cli.app import main
from sembridge.errors import OutputExistsError, SembridgeError
from sembridge.io import (
    atomic_file,
    atomic_output_dir,
    check_output_dir,
    check_output_location,
    remove_stale_temporaries,
    temporary_prefix,
)
from tests.cli.test_init import _error_lines, _init_args, _run
from tests.helpers import save_tiny_bridge, save_tiny_source, wordpiece_tokenizer
from tests.init.test_pipeline import BRIDGE_WORDS, SOURCE_WORDS, TARGET_WORDS


@pytest.fixture
def paths(tmp_path, monkeypatch):
    """Tiny source, target tokenizer and bridge folders, as in tests/cli/test_init.py."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SEMBRIDGE_CACHE", str(tmp_path / "cache"))
    source = save_tiny_source(tmp_path / "source", "bert", SOURCE_WORDS)
    target = tmp_path / "target"
    wordpiece_tokenizer(TARGET_WORDS).save_pretrained(target)
    bridge = save_tiny_bridge(tmp_path / "bridge", BRIDGE_WORDS)
    return {"source": str(source), "target": str(target), "bridge": str(bridge), "tmp": tmp_path}


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _hidden(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}."))


def _age(path: Path, seconds: float = 7200) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


# ---------------------------------------------------------------------------------------------
# 5. Concurrent runs


def test_folder_that_appears_during_the_run_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "model"
    with pytest.raises(OutputExistsError, match="appeared while this run was working") as err:
        with atomic_output_dir(out) as tmp:
            (tmp / "mine.txt").write_text("mine")
            out.mkdir()  # another run finished first
            (out / "theirs.txt").write_text("theirs")
    assert [p.name for p in out.iterdir()] == ["theirs.txt"]
    kept = tmp_path / f"model.sembridge-{os.getpid()}"
    assert "--overwrite" in err.value.hint and str(kept) in err.value.hint
    assert [p.name for p in kept.iterdir()] == ["mine.txt"]
    assert _hidden(tmp_path, "model") == []


def test_checked_run_keeps_its_result_when_the_folder_exists_at_the_end(tmp_path: Path) -> None:
    out = tmp_path / "model"
    check_output_dir(out, overwrite=False)  # what a command does when it starts
    out.mkdir()
    (out / "theirs.txt").write_text("theirs")
    with pytest.raises(OutputExistsError, match="'.*model' appeared while this run was working"):
        with atomic_output_dir(out, checked=True) as tmp:
            (tmp / "mine.txt").write_text("mine")
    assert [p.name for p in out.iterdir()] == ["theirs.txt"]
    assert [p.name for p in (tmp_path / f"model.sembridge-{os.getpid()}").iterdir()] == ["mine.txt"]
    # Not checked at the start: the folder is refused before anything is written.
    with pytest.raises(OutputExistsError, match="already exists"), atomic_output_dir(out):
        raise AssertionError("not reached")


def test_overwrite_replaces_a_folder_that_appeared(tmp_path: Path) -> None:
    out = tmp_path / "model"
    with atomic_output_dir(out, overwrite=True) as tmp:
        (tmp / "mine.txt").write_text("mine")
        out.mkdir()
        (out / "theirs.txt").write_text("theirs")
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


# `init` on the tiny models, held inside its output folder's atomic write until the file named
# by GO exists (or killed there).
_HELD_INIT = """
import os, sys, time
from pathlib import Path
import sembridge.init.pipeline
from sembridge.cli.app import main

def held_write_report(path, report):
    path.write_text('{"writer": "held"}', encoding="utf-8")
    print("writing", flush=True)
    go = Path(os.environ["GO"])
    deadline = time.monotonic() + 120
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.05)

sembridge.init.pipeline.write_report = held_write_report
main(sys.argv[1:])
"""


def _start_held_init(paths, out: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "SEMBRIDGE_CACHE": str(paths["tmp"] / "cache"),
        "GO": str(paths["tmp"] / "go"),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", _HELD_INIT, *_init_args(paths, out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    watchdog = threading.Timer(300, process.kill)
    watchdog.start()
    process.watchdog = watchdog  # type: ignore[attr-defined]
    assert process.stdout.readline().strip() == "writing"
    return process


def test_two_inits_on_one_output_the_second_to_finish_refuses(paths, capsys):
    out = paths["tmp"] / "model"
    held = _start_held_init(paths, out)  # started first, finishes last
    try:
        main(_init_args(paths, out))  # started second, finishes first
        assert (out / "sembridge_init.json").is_file()
        (paths["tmp"] / "go").touch()
        _, held_err = held.communicate(timeout=120)
    finally:
        held.watchdog.cancel()
        held.kill()
    assert held.returncode == 1
    (line,) = _error_lines(held_err)
    assert f"'{out}' appeared while this run was working (another run?)" in line
    assert "--overwrite" in held_err and "Traceback" not in held_err
    assert '"writer": "held"' not in (out / "sembridge_init.json").read_text(encoding="utf-8")
    kept = paths["tmp"] / f"model.sembridge-{held.pid}"
    assert '"writer": "held"' in (kept / "sembridge_init.json").read_text(encoding="utf-8")
    assert _hidden(paths["tmp"], "model") == []


# ---------------------------------------------------------------------------------------------
# 11. Leftovers of killed runs


def test_killed_init_leaves_a_temporary_that_the_next_run_removes(paths, monkeypatch):
    import sembridge.io

    out = paths["tmp"] / "model"
    held = _start_held_init(paths, out)
    try:
        held.send_signal(signal.SIGKILL)
        held.wait(timeout=60)
    finally:
        held.watchdog.cancel()
    (left,) = _hidden(paths["tmp"], "model")
    assert left.startswith(".model.tmp-") and f"-{held.pid}-" in left
    # The next run (here in this process, as if it had started now, after the kill).
    monkeypatch.setattr(sembridge.io, "_RUN_STARTED", time.time())
    main(_init_args(paths, out))
    assert (out / "sembridge_init.json").is_file()
    assert _hidden(paths["tmp"], "model") == []


def _owned_by(pid: int, name: str, kind: str = "tmp", rand: str = "x1y2z3ab") -> str:
    """The name sembridge gives a temporary of ``name`` made by the process ``pid`` on this host."""
    return temporary_prefix(name, kind).replace(f"-{os.getpid()}-", f"-{pid}-") + rand  # type: ignore[arg-type]


def test_only_stale_temporaries_of_sembridge_are_removed(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getppid()
    stale = [_owned_by(dead, "model"), _owned_by(dead, "model", "old")]
    kept = [
        _owned_by(alive, "model"),  # a live run's
        _owned_by(os.getpid(), "model"),  # this run's own
        _owned_by(dead, "other"),  # another output's
        _owned_by(dead, "model").replace(".tmp-", ".tmp-otherhost"),  # another host's
        ".model.tmp-abcd1234",  # an older version's, without its owner
        ".model.tmp-notes",  # not a name sembridge makes
        "model.tmp-x-1-y",
    ]
    for name in stale + kept:
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text("x")
        _age(tmp_path / name)
    fresh = _owned_by(dead, "model", rand="fresh123")
    (tmp_path / fresh).mkdir()  # modified after this run began: left alone
    removed = remove_stale_temporaries(tmp_path, "model")
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, fresh])
    # Names without an owner go only when asked for (the bridge cache) and old enough.
    removed = remove_stale_temporaries(tmp_path, "model", legacy_after=3600)
    assert [p.name for p in removed] == [".model.tmp-abcd1234"]


def test_atomic_writes_remove_their_own_stale_temporaries(tmp_path: Path) -> None:
    dead = _dead_pid()
    stale_dir = tmp_path / _owned_by(dead, "model")
    stale_file = tmp_path / _owned_by(dead, "r.json")
    stale_dir.mkdir()
    stale_file.write_text("half")
    _age(stale_dir)
    _age(stale_file)
    with atomic_output_dir(tmp_path / "model") as tmp:
        (tmp / "a").write_text("a")
    with atomic_file(tmp_path / "r.json") as handle:
        handle.write("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "r.json"]


def test_bridge_cache_write_removes_stale_temporaries(tmp_path: Path) -> None:
    import torch

    from sembridge.methods.bridge import BridgeEmbedder

    folder = tmp_path / "cache" / "bridge"
    folder.mkdir(parents=True)
    key = "0123456789abcdef0123456789abcdef.safetensors"
    dead_entry = folder / _owned_by(_dead_pid(), key)
    legacy_entry = folder / f".{key}.tmp-dddd4444"
    recent_legacy = folder / f".{key}.tmp-eeee5555"
    for path in (dead_entry, legacy_entry, recent_legacy):
        path.write_bytes(b"half")
    _age(dead_entry)
    _age(legacy_entry)
    embedder = BridgeEmbedder("unused", cache_dir=tmp_path / "cache")
    embedder._prompt = ""
    embedder._write(folder / "entry.safetensors", torch.ones(2, 3), "tokens")
    assert sorted(p.name for p in folder.iterdir()) == sorted(["entry.safetensors", recent_legacy.name])


# ---------------------------------------------------------------------------------------------
# 6. Refusals before any heavy work


def test_output_under_a_file_is_refused_up_front(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a").write_text("not a folder")
    for check in (
        lambda: check_output_dir("a/b/model", overwrite=False),
        lambda: check_output_location("a/b/report.json"),
    ):
        with pytest.raises(SembridgeError, match="'a' is a file, not a folder") as err:
            check()
        assert "--output" in err.value.hint
    with pytest.raises(SembridgeError, match="'a' is a file, not a folder"), atomic_file("a/b/r.json") as h:
        h.write("x")
    from sembridge.io import check_output_file

    with pytest.raises(SembridgeError, match="'a' is a file, not a folder"):
        check_output_file("a/report.json", overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_folder_is_refused_up_front(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(SembridgeError, match="cannot write in '.*locked' \\(permission denied\\)"):
            check_output_dir(locked / "sub" / "model", overwrite=False)
    finally:
        locked.chmod(0o755)


def test_init_under_a_file_is_refused_before_loading(paths, capsys, monkeypatch):
    import sembridge.init.pipeline

    def no_loading(*args, **kwargs):
        raise AssertionError("the source was loaded before the refusal")

    monkeypatch.setattr(sembridge.init.pipeline, "load_source", no_loading)
    (paths["tmp"] / "file").write_text("x")
    out = paths["tmp"] / "file" / "model"
    code, _, err = _run(_init_args(paths, out), capsys)
    assert code == 1
    (line,) = _error_lines(err)
    assert f"'{paths['tmp'] / 'file'}' is a file, not a folder" in line


_OFA = {"--method": "ofa", "--bridge": None, "--alpha": None}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"--alpha": "inf"}, "--alpha must be a finite number >= 1, got inf"),
        ({"--alpha": "-inf"}, "--alpha must be a finite number >= 1, got -inf"),
        ({**_OFA, "--temperature": "inf"}, "--temperature must be a finite positive number, got inf"),
        ({**_OFA, "--temperature": "nan"}, "--temperature must be a finite positive number, got nan"),
        ({"--method": "random", "--bridge": None, "--alpha": None, "--init-std": "inf"}, "--init-std must"),
    ],
)
def test_non_finite_numbers_are_refused_before_loading(paths, capsys, flags, message):
    out = paths["tmp"] / "model"
    vectors = paths["tmp"] / "vectors.vec"
    vectors.write_text("1 1\nbook 1\n", encoding="utf-8")
    flags = {**flags, "--source": str(paths["tmp"] / "no-such-source")}
    if flags.get("--method") == "ofa":
        flags["--word-vectors"] = str(vectors)
    args = _init_args(paths, out, **{k: v for k, v in flags.items() if v is not None})
    for flag in [k for k, v in flags.items() if v is None]:  # options the method does not take
        at = args.index(flag)
        del args[at : at + 2]
    code, _, err = _run(args, capsys)
    assert code == 2  # a usage error, like Typer's own range checks
    (line,) = _error_lines(err)
    assert message in line  # not a complaint about the missing source: nothing was loaded
    assert not out.exists()


@pytest.mark.parametrize(
    ("method", "options", "message"),
    [
        ("random", {"init_std": float("inf")}, "--init-std must be a finite positive number, got inf"),
        ("random", {"init_std": float("nan")}, "--init-std must be a finite positive number, got nan"),
        ("ofa", {"temperature": float("inf")}, "--temperature must be a finite positive number, got inf"),
        ("sembridge", {"alpha": "inf"}, "--alpha must be a finite number >= 1, got inf"),
    ],
)
def test_init_config_refuses_non_finite_method_options(tmp_path, method, options, message):
    from sembridge.init.pipeline import InitConfig

    if method == "ofa":
        vectors = tmp_path / "v.vec"
        vectors.write_text("1 1\na 1\n")
        options = {**options, "word_vectors": str(vectors)}
    with pytest.raises(SembridgeError) as err:
        InitConfig("source", "target", method, **options)
    assert str(err.value) == message


def test_init_config_refuses_a_seed_torch_cannot_take():
    from sembridge.init.pipeline import InitConfig

    for seed in (2**64, 1.5, True):
        with pytest.raises(SembridgeError, match="seed must be an integer"):
            InitConfig("source", "target", seed=seed)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"learning_rate": float("inf")}, "--lr must be a finite number, got inf"),
        ({"epochs": float("inf")}, "--epochs must be a finite number, got inf"),
        ({"weight_decay": float("nan")}, "--weight-decay must be a finite number, got nan"),
        ({"query_reg": float("nan")}, "--query-reg must be a finite number >= 0, got nan"),
        ({"doc_reg": float("inf")}, "--doc-reg must be a finite number >= 0, got inf"),
        ({"temperature": float("inf")}, "--temperature must be a finite number > 0, got inf"),
    ],
)
def test_finetune_config_refuses_non_finite_numbers(setting, message):
    from sembridge.training import FinetuneConfig

    with pytest.raises(SembridgeError, match=message.replace("(", "\\(")):
        FinetuneConfig(**setting)


def test_pairs_output_under_a_file_is_refused_before_reading(tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    argv = ["pairs", str(tmp_path / "no-such-docs.txt"), "-o", str(tmp_path / "file" / "pairs.jsonl")]
    code, _, err = _run(argv, capsys)
    assert code == 1
    (line,) = _error_lines(err)
    assert f"'{tmp_path / 'file'}' is a file, not a folder" in line
