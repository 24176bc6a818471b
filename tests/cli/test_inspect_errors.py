"""``inspect-token`` / ``inspect-text`` on a model folder that does not exist: one clear line, exit 1."""

from __future__ import annotations

import pytest

from sembridge.cli import inspect
from sembridge.cli.app import main
from tests.cli.support import error_of, invoke


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("command", [["inspect-token", "cat"], ["inspect-text", "a cat"]])
@pytest.mark.parametrize("folder", ["./no-such-model", "out/a/no-such-model", "~/no-such-sembridge-model"])
def test_missing_model_folder_is_named(tmp_path, monkeypatch, command, folder):
    monkeypatch.chdir(tmp_path)
    error = error_of(invoke([inspect], command[0], "--model", folder, command[1]))
    assert str(error) == f"model folder '{folder}' does not exist"


def test_a_hub_like_name_that_is_no_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # inspect-token reads the folder's sembridge_init.json: only a local folder will do.
    error = error_of(invoke([inspect], "inspect-token", "--model", "owner/model", "cat"))
    assert str(error) == "model folder 'owner/model' does not exist"
    assert "sembridge init" in error.hint
    # inspect-text also loads hub models: the hub error says why it could not.
    error = error_of(invoke([inspect], "inspect-text", "--model", "owner/model", "a cat"))
    assert str(error).startswith("could not load model 'owner/model': it is not a local folder")


@pytest.mark.parametrize("command", ["inspect-token", "inspect-text"])
def test_missing_model_folder_exits_with_status_1(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--model", "./no-such-model", "cat"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("Error:")] == [
        "Error: model folder './no-such-model' does not exist"
    ]
