"""`sembridge export --format ...` through Typer: each vector format, the onnx dispatch, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sembridge.cli import export as export_cmd
from sembridge.data import write_pairs_jsonl
from tests.cli.support import error_of
from tests.cli.support import invoke as cli_invoke


def invoke(*args: object):
    return cli_invoke([export_cmd], *args)


@pytest.fixture
def pairs_file(tmp_path, zh_pairs) -> Path:
    return write_pairs_jsonl(zh_pairs[:12], tmp_path / "pairs.jsonl")


def test_refusals_come_before_any_work(tmp_path):
    out = tmp_path / "out"
    assert "--quantize applies to --format onnx only" in str(
        error_of(invoke("export", "-m", "unused", "--corpus", "c.jsonl", "-o", out, "--quantize"))
    )
    assert "--format qdrant needs --corpus" in str(
        error_of(invoke("export", "-m", "unused", "-o", out, "--format", "qdrant"))
    )
    message = str(error_of(invoke("export", "-m", "unused", "-o", out, "--format", "trec")))
    assert "unknown export format 'trec'" in message
    assert not out.exists()


def test_onnx_is_dispatched_to_export_onnx(tmp_path, monkeypatch):
    import sembridge.export.pipeline as onnx_export

    calls = []

    def fake_export_onnx(model, output_dir, *, quantize=False, overwrite=False, show_progress=True):
        calls.append((model, Path(output_dir), quantize, overwrite, show_progress))
        return {"model": model, "quantize": quantize}

    monkeypatch.setattr(onnx_export, "export_onnx", fake_export_onnx)
    out = tmp_path / "onnx"
    result = invoke("export", "-m", "some-model", "-o", out, "--format", "onnx", "--quantize", "--json")
    assert result.exit_code == 0, result.output
    assert calls == [("some-model", out, True, False, False)]
    assert json.loads(result.stdout) == {"model": "some-model", "quantize": True}


@pytest.mark.e2e
@pytest.mark.parametrize("fmt", ["seismic", "opensearch", "elasticsearch", "qdrant"])
def test_vector_formats_from_the_command_line(fmt, tmp_path, pairs_file, splade_dir):
    out = tmp_path / fmt
    args = ("export", "-m", splade_dir, "--corpus", pairs_file, "--queries", pairs_file, "-o", out)
    result = invoke(*args, "--format", fmt, "--device", "cpu", "--prune-top-k", "16")
    assert result.exit_code == 0, result.output
    assert "Index it:" in result.output
    summary = json.loads((out / "export.json").read_text())
    assert summary["format"] == fmt and summary["documents"] > 0 and summary["queries"] > 0
    assert summary["pruning"] == {"mass": None, "top_k": 16}
    assert "[CLS]" in summary["special_tokens_excluded"]
    expected = {
        "seismic": {"documents.jsonl", "queries.jsonl"},
        "opensearch": {"mapping.json", "bulk", "queries.jsonl"},
        "elasticsearch": {"mapping.json", "bulk", "queries.jsonl"},
        "qdrant": {"collection.json", "points", "vocabulary.tsv", "queries.jsonl"},
    }[fmt]
    assert {p.name for p in out.iterdir()} == expected | {"export.json"}
