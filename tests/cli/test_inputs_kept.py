"""An output never replaces, holds or lies inside an input, ``--overwrite`` or not: every writing
command refuses it before any work, naming both paths, and the inputs stay as they were."""

from __future__ import annotations

from pathlib import Path

import pytest

from sembridge.cli import evaluate as evaluate_cmd
from sembridge.cli import export as export_cmd
from sembridge.cli import finetune as finetune_cmd
from sembridge.cli import init as init_cmd
from sembridge.cli import mine as mine_cmd
from sembridge.cli import pairs as pairs_cmd
from sembridge.cli import tokenizer as tokenizer_cmd
from sembridge.errors import SembridgeError
from sembridge.io import check_apart
from tests.cli.support import error_of, invoke

COMMANDS = [init_cmd, finetune_cmd, evaluate_cmd, export_cmd, pairs_cmd, mine_cmd, tokenizer_cmd]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def tree(tmp_path):
    """parent/ holding a model folder, a data file and a text file (contents are never read)."""
    parent = tmp_path / "parent"
    model = parent / "m"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"weights")
    (model / "config.json").write_text("{}")
    (model / "tokenizer.json").write_text("{}")
    (parent / "pairs.jsonl").write_text('{"query": "q", "positive": "p"}\n')
    (parent / "ru.txt").write_text("кошка и собака\n")
    (parent / "other.txt").write_text("kept")
    return parent


def _refused(tree: Path, *args: object, relation: str, role: str) -> str:
    before = _snapshot(tree.parent)
    message = str(error_of(invoke(COMMANDS, *args, "--overwrite")))
    assert relation in message and f"the {role} '" in message, message
    assert _snapshot(tree.parent) == before  # nothing deleted, nothing written
    return message


def test_export_onnx_into_its_own_model_folder(tree):
    m = tree / "m"
    message = _refused(tree, "export", "-m", m, "--format", "onnx", "-o", m, relation="is", role="model")
    assert message.count(str(m)) == 2  # both paths named


def test_export_into_the_folder_holding_the_model(tree):
    m = tree / "m"
    args = ("export", "-m", m, "--corpus", tree / "pairs.jsonl", "-o", tree)
    message = _refused(tree, *args, relation="contains", role="model")
    assert f"'{tree}'" in message and f"'{m}'" in message


def test_export_inside_the_model_folder(tree):
    m = tree / "m"
    args = ("export", "-m", m, "--corpus", tree / "pairs.jsonl", "-o", m / "vectors")
    _refused(tree, *args, relation="lies inside", role="model")


def test_export_over_the_corpus_file(tree):
    args = ("export", "-m", tree / "m", "--corpus", tree / "pairs.jsonl", "-o", tree / "pairs.jsonl")
    _refused(tree, *args, relation="is", role="corpus")


def test_init_over_its_source_or_target_tokenizer(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("SEMBRIDGE_CACHE", str(tmp_path / "cache"))
    m = tree / "m"
    base = ("init", "--source", m, "--target-tokenizer", "bert-base-uncased")
    _refused(tree, *base, "-o", m, relation="is", role="source")
    _refused(tree, *base, "-o", tree, relation="contains", role="source")
    swapped = ("init", "--source", "splade-v3", "--target-tokenizer", m, "-o", tree)
    _refused(tree, *swapped, relation="contains", role="target tokenizer")


def test_init_inside_the_bridge_cache(tree, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("SEMBRIDGE_CACHE", str(cache))
    args = ("init", "--source", tree / "m", "--target-tokenizer", "bert-base-uncased", "-o", cache / "out")
    message = str(error_of(invoke(COMMANDS, *args)))
    assert "lies inside the bridge cache" in message


def test_finetune_over_its_model_or_data(tree):
    m, data = tree / "m", tree / "pairs.jsonl"
    _refused(tree, "finetune", "-m", m, "-d", data, "-o", m, relation="is", role="model")
    _refused(tree, "finetune", "-m", m, "-d", data, "-o", tree, relation="contains", role="model")
    checkpoints = ("--checkpoint-dir", m / "ckpt")
    args = ("finetune", "-m", m, "-d", data, "-o", tree.parent / "ft", *checkpoints)
    message = _refused(tree, *args, relation="lies inside", role="model")
    assert message.startswith("checkpoint folder")


def test_evaluate_report_and_run_files_stay_apart_from_inputs(tree):
    m, data = tree / "m", tree / "pairs.jsonl"
    _refused(tree, "evaluate", "-m", m, "--data", data, "-o", data, relation="is", role="data")
    args = ("evaluate", "-m", m, "--data", data, "--run-file", m / "run.trec")
    _refused(tree, *args, relation="lies inside", role="model")


def test_pairs_tokenizer_and_mine_outputs_over_their_inputs(tree):
    text, data = tree / "ru.txt", tree / "pairs.jsonl"
    _refused(tree, "pairs", text, "-o", text, relation="is", role="input")
    args = ("tokenizer", "train", "--text", text, "--vocab-size", "100", "-o", tree)
    _refused(tree, *args, relation="contains", role="text")
    args = ("tokenizer", "cut", "--from", tree / "m", "--text", text, "-o", tree / "m" / "cut")
    _refused(tree, *args, relation="lies inside", role="tokenizer")
    args = ("mine", "-d", data, "-t", tree / "m", "-o", data)
    _refused(tree, *args, relation="is", role="data")


def test_check_apart_follows_links_and_ignores_hub_ids(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    link = tmp_path / "link"
    link.symlink_to(model, target_is_directory=True)
    with pytest.raises(SembridgeError, match="is the model"):
        check_apart(link, {"model": model})
    check_apart(tmp_path / "elsewhere", {"model": model, "source": "naver/splade-v3", "data": None})
    # What is no path (a loaded model, an in-memory corpus) is skipped, not read as one.
    check_apart(model, {"encoder": object(), "corpus": {str(model): "text"}, "pairs": [None, 3]})
    check_apart(tmp_path / "model-ft", {"model": model})  # a shared name prefix is not containment
