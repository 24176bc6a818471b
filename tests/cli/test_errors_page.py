"""The Errors page's table of refusals is what the commands print today.

Each case runs the real command line (``sembridge.cli.app.main``) in a folder of tiny models
and files, and its exit status and first line must stand in ``docs/troubleshooting.md`` as a
row of the table. ``python -m tests.cli.test_errors_page`` prints the rows.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "troubleshooting.md"
WORDS = ["book", "house", "river", "##s", "кошка", "собака"]

# (command line after `sembridge`, as typed in the workspace folder)
CASES: list[str] = [
    "export -m m --format onnx -o m --overwrite",
    "export -m m --corpus corpus.jsonl -o . --overwrite",
    "finetune -m m -d pairs.jsonl -o m/ft",
    "evaluate -m m-without-tokenizer --data pairs.jsonl",
    "evaluate -m m-tokenizer-too-large --data pairs.jsonl",
    "evaluate -m m-tokenizer-too-small --data pairs.jsonl",
    "evaluate -m m-config-mismatch --data pairs.jsonl",
    "evaluate -m m --data data/[test].jsonl",
    "evaluate -m m --data pairs.jsonl --metrics nDCG@0",
    "evaluate -m third-party --data pairs.jsonl --update-card",
    "evaluate -m m --data beir --run-file run.trec",
    "export -m m --corpus corpus.jsonl --queries tabbed-queries.jsonl -o vectors",
    "export -m m --corpus corpus.jsonl --scale 1e300 -o vectors",
    "export -m m --corpus corpus.jsonl --max-length 1 -o vectors",
    "export -m m --corpus corpus.jsonl --max-length 4096 -o vectors",
    "tokenizer train --text punctuation.txt --vocab-size 100 -o tokenizer",
    "init -s m -t specials-only -o out",
    "init -s m -t m --alpha 0.5 -o out",
    "export -m m --format onnx --corpus corpus.jsonl -o out",
    "inspect-token --model ./no-such-model кошка",
]


def build_workspace(folder: Path) -> Path:
    """Tiny models and files for every case, in ``folder``."""
    from sembridge.loading import TOKENIZER_FILES, save_sparse_encoder
    from tests.helpers import tiny_mlm, wordpiece_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = wordpiece_tokenizer(WORDS)
    size = len(tokenizer)
    save_sparse_encoder(tiny_mlm("bert", size), tokenizer, folder / "m")
    shutil.copytree(folder / "m", folder / "m-without-tokenizer")
    for path in (folder / "m-without-tokenizer").rglob("*"):
        if path.name in (*TOKENIZER_FILES, "tokenizer_config.json", "special_tokens_map.json"):
            path.unlink()
    save_sparse_encoder(tiny_mlm("bert", size - 3), tokenizer, folder / "m-tokenizer-too-large")
    save_sparse_encoder(tiny_mlm("bert", 4 * size), tokenizer, folder / "m-tokenizer-too-small")
    shutil.copytree(folder / "m", folder / "m-config-mismatch")
    config = folder / "m-config-mismatch" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "vocab_size": size + 100}))
    shutil.copytree(folder / "m", folder / "third-party")
    (folder / "third-party" / "README.md").write_text("# Someone else's model\n")
    specials = wordpiece_tokenizer([])
    specials.save_pretrained(str(folder / "specials-only"))

    def jsonl(name: str, rows: list[dict]) -> None:
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    jsonl("corpus.jsonl", [{"_id": f"d{i}", "text": f"{w} {w}"} for i, w in enumerate(WORDS[:3])])
    jsonl("pairs.jsonl", [{"query": w, "positive": f"{w} and more"} for w in ("book", "house", "river")])
    jsonl("tabbed-queries.jsonl", [{"_id": "q\t1", "text": "book"}])
    beir = folder / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(json.dumps({"_id": "doc 1", "title": "", "text": "book house"}) + "\n")
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "book"}) + "\n")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tdoc 1\t1\n")
    (folder / "punctuation.txt").write_text("!!! ??? ... ,,,\n" * 20)
    return folder


def run_case(command: str) -> tuple[int, str]:
    """Run ``sembridge COMMAND`` in the current folder: (exit status, first line it printed)."""
    from sembridge.cli.app import main

    err, out = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            main(command.split(" "))
        except SystemExit as done:
            code = int(done.code or 0)
    lines = [line.strip(" │╭╰─") for line in err.getvalue().splitlines()]
    first = next((line for line in lines if line.startswith(("Error:", "WARNING"))), "")
    return code, first


def row(command: str, code: int, first: str) -> str:
    cells = [f"`sembridge {command}`", str(code), f"`{first}`"]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return build_workspace(tmp_path_factory.mktemp("errors-page"))


@pytest.mark.parametrize("command", CASES)
def test_the_errors_page_shows_what_the_command_prints(command, workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("SEMBRIDGE_CACHE", str(workspace / "cache"))
    code, first = run_case(command)
    assert code in (1, 2) and first.startswith("Error:"), (code, first)
    assert row(command, code, first) in PAGE.read_text(encoding="utf-8"), row(command, code, first)
    for name in ("out", "vectors", "tokenizer", "run.trec", "m/ft"):
        assert not (workspace / name).exists(), name  # refused: nothing written


if __name__ == "__main__":  # print the rows for the page
    import tempfile

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEMBRIDGE_CACHE"] = str(Path(tmp) / "cache")
        os.chdir(build_workspace(Path(tmp) / "w"))
        print("| command | exit | first line |\n| --- | --- | --- |")
        for case in CASES:
            print(row(case, *run_case(case)))
            sys.stdout.flush()
