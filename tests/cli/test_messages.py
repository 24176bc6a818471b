"""What the CLI prints shows paths, ids and values as they are: nothing from the user or the file
system is read as rich markup (in errors, hints, tables, progress labels and inspect lines)."""

from __future__ import annotations

import pytest
import typer

from sembridge.cli import app as app_module
from sembridge.errors import SembridgeError

MARKUP_LIKE = ["data/[test].jsonl", "odd/[/]/corpus.jsonl", "[bold red]x[/]"]


def _failing_app(message: str, hint: str) -> typer.Typer:
    app = typer.Typer()

    @app.command("fail")
    def fail() -> None:
        raise SembridgeError(message, hint=hint)

    app.command("other")(lambda: None)
    return app


@pytest.mark.parametrize("value", MARKUP_LIKE)
def test_error_and_hint_show_values_as_they_are(value, monkeypatch, capsys):
    monkeypatch.setattr(app_module, "app", _failing_app(f"data source '{value}' does not exist", value))
    with pytest.raises(SystemExit) as done:
        app_module.main(["fail"])
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert f"Error: data source '{value}' does not exist" in err
    assert f"Hint: {value}" in err
    assert "Traceback" not in err


def test_install_hint_keeps_its_extra(monkeypatch, capsys):
    monkeypatch.setattr(
        app_module, "app", _failing_app("onnx is not installed", "pip install 'sembridge[onnx]'")
    )
    with pytest.raises(SystemExit):
        app_module.main(["fail"])
    assert "pip install 'sembridge[onnx]'" in capsys.readouterr().err


def test_real_command_error_keeps_the_path(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        app_module.main(["evaluate", "--model", "m", "--data", "data/[/]x.jsonl"])
    assert done.value.code == 1
    assert "data source 'data/[/]x.jsonl' does not exist" in capsys.readouterr().err


def test_tables_and_progress_labels_show_values_as_they_are(capsys):
    from sembridge.cli.output import print_summary_table
    from sembridge.log import progress

    print_summary_table("Exported 3 documents to out/[x]", [("corpus", "[bold]c[/].jsonl")])
    out = capsys.readouterr().out
    assert "out/[x]" in out and "[bold]c[/].jsonl" in out
    with progress() as bar:
        task = bar.add_task("reading data/[test].jsonl", total=1)
        bar.advance(task)
    assert "reading data/[test].jsonl" in capsys.readouterr().err
