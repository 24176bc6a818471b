"""Report files: refused when they exist, written atomically, plot written or skipped."""

from __future__ import annotations

import json
import sys

import pytest
from rich.console import Console

from sembridge.errors import OutputExistsError, SembridgeError
from sembridge.evaluation.report import plot_path_for, results_table, write_plot, write_report_json
from sembridge.io import check_output_file


def fake_report() -> dict:
    def result(setting, ndcg, terms):
        return {
            "setting": setting,
            "metrics": {"nDCG@10": ndcg, "R@100": 0.9},
            "query_terms": 9.0,
            "doc_terms": terms,
            "flops": 1.5,
        }

    return {
        "dataset": {"name": "toy", "source": "toy", "queries": 3, "documents": 10},
        "config": {"metrics": ["nDCG@10", "R@100"]},
        "models": [
            {"name": "source", "results": [result("none", 0.5, 80.0), result("mass=0.9", 0.45, 30.0)]},
            {"name": "sembridge", "results": [result("none", 0.6, 70.0), result("mass=0.9", 0.58, 25.0)]},
        ],
    }


def test_report_json_is_written_atomically_and_refused_when_it_exists(tmp_path):
    path = tmp_path / "sub" / "report.json"
    check_output_file(path, overwrite=False)
    write_report_json(fake_report(), path)
    assert json.loads(path.read_text())["models"][1]["name"] == "sembridge"
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temp file left
    with pytest.raises(OutputExistsError, match="already exists"):
        check_output_file(path, overwrite=False)
    check_output_file(path, overwrite=True)
    with pytest.raises(SembridgeError, match="is a folder"):
        check_output_file(tmp_path, overwrite=True)


def test_plot_is_a_png(tmp_path):
    path = write_plot(fake_report(), plot_path_for(tmp_path / "report.json"))
    assert path == tmp_path / "report.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.png"]  # no temp file left


def test_failed_plot_keeps_the_old_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    path = tmp_path / "report.png"
    path.write_bytes(b"old")

    def fail(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        write_plot(fake_report(), path)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["report.png"]


def test_plot_skipped_without_matplotlib(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert write_plot(fake_report(), tmp_path / "report.png") is None
    assert not (tmp_path / "report.png").exists()


def test_table_lists_every_model_and_setting():
    console = Console(record=True, width=160)
    console.print(results_table(fake_report()))
    text = console.export_text()
    for word in ("source", "sembridge", "mass=0.9", "0.6000", "nDCG@10", "FLOPs"):
        assert word in text
