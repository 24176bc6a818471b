"""``-q``/``--quiet`` on every command that works (and ``--json``, which implies it): sembridge's
own bars and the libraries' (weight loading, downloads, datasets, tqdm) are switched off."""

from __future__ import annotations

import pytest
import typer

import sembridge.log
from sembridge.cli.app import app, main

# Each command with arguments that make it stop early, after its options are read.
COMMANDS = {
    "init": ["init", "-s", "src", "-t", "tok", "--alpha", "0.5", "-o", "out"],
    "finetune": ["finetune", "-m", "m", "-d", "d.jsonl", "--lr", "0", "-o", "out"],
    "align": ["align", "-m", "m", "-p", "p.jsonl", "--lr", "0", "-o", "out"],
    "evaluate": ["evaluate", "-m", "m", "--data", "missing.jsonl"],
    "export": ["export", "-m", "m", "--format", "trec", "-o", "out"],
    "merge-shards": ["merge-shards", "missing-0", "missing-1", "-o", "out"],
    "mine": ["mine", "-d", "d.jsonl", "-t", "tok", "--negatives", "60", "-o", "out.jsonl"],
    "pairs": ["pairs", "missing.txt", "-o", "pairs.jsonl"],
    "tokenizer train": ["tokenizer", "train", "--text", "missing.txt", "-o", "tok"],
    "tokenizer cut": ["tokenizer", "cut", "--from", "x", "--text", "missing.txt", "-o", "tok"],
    "inspect-token": ["inspect-token", "--model", "missing", "cat"],
    "inspect-text": ["inspect-text", "--model", "missing", "a text"],
}


def _commands(group: typer.Typer) -> dict[str, object]:
    """Every command of the CLI by its full name (``tokenizer cut``)."""
    found = {}
    root = typer.main.get_command(group)
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        for sub, leaf in getattr(command, "commands", {name: command}).items():
            found[name if sub == name else f"{name} {sub}"] = leaf
    return found


def test_every_command_that_works_takes_quiet():
    commands = _commands(app)
    assert set(commands) - {"models"} == set(COMMANDS)  # a new command gets a row above
    for name in COMMANDS:
        opts = [o for p in commands[name].params for o in p.opts]  # type: ignore[attr-defined]
        assert "--quiet" in opts and "-q" in opts, name


@pytest.mark.parametrize("flag", ["-q", "--quiet", "--json"])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_quiet_and_json_switch_the_libraries_bars_off(tmp_path, monkeypatch, capsys, name, flag):
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(sembridge.log, "quiet_libraries", lambda: calls.append(True))
    with pytest.raises(SystemExit) as done:
        main([*COMMANDS[name], flag])
    err = capsys.readouterr().err
    assert done.value.code in (1, 2) and "No such option" not in err, err
    assert calls == [True]


def test_without_quiet_the_libraries_keep_their_bars(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(sembridge.log, "quiet_libraries", lambda: calls.append(True))
    with pytest.raises(SystemExit):
        main(COMMANDS["evaluate"])
    assert calls == []


def test_quiet_libraries_switches_the_bars_off(monkeypatch):
    import datasets
    import huggingface_hub.utils
    import transformers.utils.logging

    for name in sembridge.log.QUIET_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)  # restored after the test
    datasets.enable_progress_bars()  # an earlier --quiet run in this process may have switched them off
    transformers.utils.logging.enable_progress_bar()
    assert transformers.utils.logging.is_progress_bar_enabled()
    try:
        sembridge.log.quiet_libraries()
        assert huggingface_hub.utils.are_progress_bars_disabled()
        assert not transformers.utils.logging.is_progress_bar_enabled()
        assert datasets.are_progress_bars_disabled()
        import os

        # Libraries imported later and worker processes read these.
        assert {
            k: os.environ.get(k) for k in sembridge.log.QUIET_ENVIRONMENT
        } == sembridge.log.QUIET_ENVIRONMENT
    finally:
        huggingface_hub.utils.enable_progress_bars()
        transformers.utils.logging.enable_progress_bar()
        datasets.enable_progress_bars()
