"""examples/ray_sharded_export.py: Ray Data in local mode runs the library's export on each
shard, and the merged folder equals one unsharded export (issue 23)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sembridge.data import stream_corpus
from sembridge.export import export_vectors
from tests.export.test_parts import files_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_ray_runs_the_shards_and_the_merge_equals_one_export(tmp_path, splade_dir, zh_pairs, monkeypatch):
    pytest.importorskip("ray", reason="the distributed extra (ray[data]) is not installed")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"_id": f"d{i}", "text": t}, ensure_ascii=False) + "\n"
            for i, (_, t) in enumerate(zh_pairs[:30])
        ),
        encoding="utf-8",
    )
    whole = tmp_path / "whole"
    export_vectors(
        splade_dir, stream_corpus(corpus), whole, docs_per_file=4, device="cpu", show_progress=False
    )
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}:{ROOT / 'examples'}")  # for Ray's worker processes
    from ray_sharded_export import run_shards

    out = tmp_path / "merged"
    summary = run_shards(str(splade_dir), str(corpus), out, 3, num_cpus=2, docs_per_file=4, batch_size=8)
    assert [row["parts"] for row in summary["shard_runs"]] == [3, 3, 2]  # parts 0,3,6 / 1,4,7 / 2,5
    assert sum(row["documents"] for row in summary["shard_runs"]) == 30
    assert files_of(out) == files_of(whole)
    del sys.modules["ray_sharded_export"]
