"""`sembridge evaluate` and `sembridge export` through Typer: bad input refused, files written once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sembridge.cli import evaluate as evaluate_cmd
from sembridge.cli import export as export_cmd
from sembridge.data import read_trec_run, save_beir, write_pairs_jsonl
from sembridge.errors import ModelLoadError, OutputExistsError
from tests.cli.support import error_of
from tests.cli.support import invoke as cli_invoke


def invoke(*args: object):
    return cli_invoke([evaluate_cmd, export_cmd], *args)


@pytest.fixture
def pairs_file(tmp_path, zh_pairs) -> Path:
    return write_pairs_jsonl(zh_pairs[:30], tmp_path / "pairs.jsonl")


def test_help_has_examples():
    for command in ("evaluate", "export"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Example" in result.output


def test_existing_report_refused_before_any_work(tmp_path, pairs_file):
    report = tmp_path / "report.json"
    report.write_text("{}")
    err = error_of(invoke("evaluate", "-m", tmp_path / "no-such-model", "--data", pairs_file, "-o", report))
    assert isinstance(err, OutputExistsError) and "--overwrite" in err.hint
    assert report.read_text() == "{}"


def test_bad_values_are_named(tmp_path, pairs_file, splade_dir):
    out = tmp_path / "r.json"
    base = ("evaluate", "-m", splade_dir, "--data", pairs_file, "-o", out)
    assert "unknown metric 'nDCG@x'" in str(error_of(invoke(*base, "--metrics", "nDCG@10,nDCG@x")))
    assert "got 1.5" in str(error_of(invoke(*base, "--prune-mass", "0.9,1.5")))
    assert "'ten' is not a whole number" in str(error_of(invoke(*base, "--prune-top-k", "ten")))
    err = error_of(invoke(*base, "--run-file", tmp_path / "a.trec", "--run-file", tmp_path / "b.trec"))
    assert "2 run file(s) for 1 model(s)" in str(err)
    assert "unknown data format" in str(error_of(invoke(*base, "--data-format", "csv")))
    assert not out.exists() and not (tmp_path / "a.trec").exists()


def test_unknown_qrels_ids_refused_with_counts(tmp_path, splade_dir):
    from sembridge.data import pairs_dataset

    data = pairs_dataset([("q text", "d text"), ("q2", "d2")])
    data.qrels["q0"]["d999"] = 1
    data.qrels["nope"] = {"d0": 1}
    folder = save_beir(data, tmp_path / "beir")
    err = error_of(invoke("evaluate", "-m", splade_dir, "--data", folder, "-o", tmp_path / "r.json"))
    assert "1 of 3 judged queries are not in the queries" in str(err)
    assert "1 judged documents are not in the corpus (e.g. 'd999')" in str(err)
    assert not (tmp_path / "r.json").exists()


def test_unreadable_model_folder(tmp_path, pairs_file, splade_dir):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    out = tmp_path / "r.json"
    err = error_of(invoke("evaluate", "-m", splade_dir, "-m", broken, "--data", pairs_file, "-o", out))
    assert isinstance(err, ModelLoadError) and "broken-model" in str(err)
    assert not out.exists()
    corrupt = tmp_path / "corrupt-model"
    corrupt.mkdir()
    (corrupt / "config.json").write_text((splade_dir / "config.json").read_text())
    (corrupt / "model.safetensors").write_bytes(b"not a safetensors file")
    (corrupt / "tokenizer.json").write_bytes((splade_dir / "tokenizer.json").read_bytes())
    err = error_of(invoke("evaluate", "-m", corrupt, "--data", pairs_file, "-o", out))
    assert isinstance(err, ModelLoadError) and "could not load" in str(err) and "corrupt-model" in str(err)
    assert not out.exists()
    empty = tmp_path / "empty-model"
    empty.mkdir()
    err = error_of(invoke("evaluate", "-m", empty, "--data", pairs_file))
    assert "has no config.json or modules.json" in str(err)


@pytest.mark.e2e
def test_evaluate_writes_report_plot_and_runs(tmp_path, pairs_file, splade_dir):
    out = tmp_path / "reports" / "report.json"
    run = tmp_path / "runs" / "source.trec"
    args = ["evaluate", "-m", splade_dir, "--data", pairs_file, "--device", "cpu", "--top-k", "20"]
    args += ["--prune-mass", "0.9", "--prune-top-k", "4", "-o", out, "--run-file", run, "--per-query"]
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    report = json.loads(out.read_text())
    assert report["models"][0]["results"][0]["metrics"] == printed["models"][0]["results"][0]["metrics"]
    assert [r["setting"] for r in report["models"][0]["results"]] == ["none", "mass=0.9", "top-k=4"]
    assert report["plot"] == str(out.with_suffix(".png")) and out.with_suffix(".png").is_file()
    assert sorted(p.name for p in run.parent.iterdir()) == [
        "source.mass0.9.trec",
        "source.top-k4.trec",
        "source.trec",
    ]
    assert len(read_trec_run(run)) > 0
    assert "per_query" in report["models"][0]["results"][0]
    # Running again without --overwrite is refused; with it, the table is printed.
    assert isinstance(error_of(invoke(*args)), OutputExistsError)
    result = invoke(*args, "--overwrite")
    assert result.exit_code == 0 and "nDCG@10" in result.output


@pytest.mark.e2e
def test_export_command(tmp_path, pairs_file, splade_dir):
    out = tmp_path / "vectors"
    result = invoke(
        "export",
        "-m",
        splade_dir,
        "--corpus",
        pairs_file,
        "-o",
        out,
        "--device",
        "cpu",
        "--prune-mass",
        "0.9",
        "--queries",
        pairs_file,
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["pruning"] == {"mass": 0.9, "top_k": None} and summary["queries"] > 0
    assert (out / "corpus" / "docs-00000.jsonl").is_file() and (out / "queries.tsv").is_file()
    assert "unknown export format 'trec'" in str(
        error_of(
            invoke(
                "export", "-m", splade_dir, "--corpus", pairs_file, "-o", tmp_path / "x", "--format", "trec"
            )
        )
    )
    assert not (tmp_path / "x").exists()
