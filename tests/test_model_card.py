"""The model card of init and finetune folders, `evaluate --update-card`, and output permissions."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from sembridge.errors import SembridgeError
from sembridge.init.pipeline import REPORT_FILE, InitConfig, initialize
from sembridge.model_card import (
    CARD_FILE,
    check_card_models,
    render_card,
    update_card_evaluation,
    update_cards,
    write_model_card,
)
from tests.helpers import save_tiny_bridge, save_tiny_source, wordpiece_tokenizer

SOURCE_WORDS = ["the", "cat", "dog", "sat", "on", "mat", "##s", "##ing", "run", "house", "water", "1", "?"]
TARGET_WORDS = ["the", "кот", "собака", "##ы", "дом", "вода", "1", "?", "cat", "##ing"]
BRIDGE_WORDS = sorted(set(SOURCE_WORDS + TARGET_WORDS + ["к", "##о", "##т", "с", "д", "в", "##а"]))

ST_CARD = """---
tags:
- sentence-transformers
- sparse-encoder
library_name: sentence-transformers
---

# SPLADE Sparse Encoder

This is a SPLADE Sparse Encoder model trained using the sentence-transformers library.
## Model Details

- **Output Dimensionality:** 15 dimensions

## Usage

```python
from sentence_transformers import SparseEncoder
model = SparseEncoder("sparse_encoder_model_id")
```
"""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.fixture(scope="module")
def init_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("card")
    source = save_tiny_source(tmp / "source", "bert", SOURCE_WORDS, tie=True)
    target = tmp / "target"
    wordpiece_tokenizer(TARGET_WORDS).save_pretrained(target)
    bridge = save_tiny_bridge(tmp / "bridge", BRIDGE_WORDS)
    config = InitConfig(
        source=str(source),
        target_tokenizer=str(target),
        bridge=str(bridge),
        bridge_prompt="query: ",
        alpha=2.0,
        device="cpu",
        cache_dir=str(tmp / "cache"),
        show_progress=False,
    )
    out = tmp / "ru-model"
    initialize(config, output_dir=out)
    return out


def _report(folder):
    return json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))


def test_init_card_names_the_real_figures(init_dir):
    report = _report(init_dir)
    summary, settings = report["summary"], report["settings"]
    card = (init_dir / CARD_FILE).read_text(encoding="utf-8")
    # A local path is shown by its last component: a card travels, a machine's path does not.
    assert f"| source model | `{Path(settings['source_resolved']).name}` |" in card
    assert settings["source_resolved"] not in card
    assert f"| target tokenizer | `{Path(settings['target_tokenizer_resolved']).name}` |" in card
    assert "| method | `sembridge` |" in card
    assert f"| bridge | `{Path(summary['method_info']['bridge']).name}` |" in card
    assert "| bridge prompt | `'query: '` |" in card
    assert "| Entmax alpha | 2 |" in card
    copied = summary["copied"]
    assert f"| rows copied (overlap) | {copied:,} (" in card
    for kind, count in summary["copied_by_kind"].items():
        assert f"{kind} {count:,}" in card
    assert f"| rows built by the method | {summary['new']:,} |" in card
    support = summary["support_size"]
    assert f"mean {support['mean']:g}, median {support['median']:g}" in card
    # Cyrillic new tokens: the language is a guess from the script, and the card says so.
    assert "| target language | `ru` (guessed from the script of the new tokens) |" in card
    assert "has **not been trained**" in card
    # sentence-transformers' card is kept: its usage section and architecture, not its false opening.
    assert "## Usage" in card and 'SparseEncoder("sparse_encoder_model_id")' in card
    assert "## Model Details" in card
    assert "trained using" not in card
    assert "- sembridge" in card.split("---")[1]


def test_card_is_rewritten_in_place_not_duplicated(init_dir):
    report = _report(init_dir)
    once = render_card(ST_CARD, init_report=report)
    twice = render_card(once, init_report=report)
    assert once == twice
    assert once.count("## How this model was made (sembridge)") == 1
    assert "trained using the sentence-transformers library" not in once
    assert "## Usage" in once


def test_registry_language_goes_into_the_front_matter():
    report = {
        "settings": {
            "source": "splade-v3",
            "source_resolved": "naver/splade-v3",
            "target_tokenizer": "ARBERT",
        },
        "summary": {"method": "mean", "copied": 10, "target_vocab_size": 100, "new": 90},
    }
    card = render_card(ST_CARD, init_report=report)
    front = card.split("---")[1]
    assert "language:\n- ar" in front
    assert "base_model: naver/splade-v3" in front
    assert "| target language | `ar` |" in card


def test_local_source_is_no_base_model(init_dir):
    card = (init_dir / CARD_FILE).read_text(encoding="utf-8")
    assert "base_model" not in card.split("---")[1]


def test_finetune_card(init_dir, tmp_path):
    finetune = {
        "model": str(init_dir),
        "data": {"train": "pairs.jsonl", "train_pairs": 5000, "eval": None, "eval_pairs": 0},
        "config": {"learning_rate": 3e-4, "batch_size": 32, "query_reg": 0.1, "doc_reg": 0.1, "seed": 42},
        "world_size": 1,
        "effective_batch_size": 32,
        "global_step": 120,
        "train_loss": 2.177,
        "runtime_s": 574.1,
        "sparsity": {
            "sample_pairs": 512,
            "before": {"queries": {"active_terms_mean": 6.205}, "documents": {"active_terms_mean": 40.32}},
            "after": {"queries": {"active_terms_mean": 18.436}, "documents": {"active_terms_mean": 66.898}},
        },
    }
    folder = tmp_path / "ft"
    folder.mkdir()
    (folder / CARD_FILE).write_text(ST_CARD, encoding="utf-8")
    write_model_card(folder, finetune_report=finetune)
    card = (folder / CARD_FILE).read_text(encoding="utf-8")
    assert f"| started from | `{init_dir.name}` |" in card and str(init_dir) not in card
    assert "| training data | `pairs.jsonl`, 5,000 pairs |" in card
    assert "| learning rate | 0.0003 |" in card
    assert "| FLOPs weight, queries | 0.1 |" in card
    assert "| steps done | 120 |" in card
    assert "| active query terms, mean (before -> after) | 6.2 -> 18.4 |" in card
    assert "| active document terms, mean (before -> after) | 40.3 -> 66.9 |" in card
    assert "then fine-tuned by `sembridge finetune`" in card
    # The init figures come from the folder it started from.
    assert "| method | `sembridge` |" in card
    # A figure the report lacks is said to be missing, not made up.
    assert "| expected FLOPs per query-document pair (before -> after) | not recorded |" in card


def _eval_report(source, ndcg):
    row = {
        "setting": "none",
        "metrics": {"nDCG@10": ndcg, "R@100": 0.9},
        "query_terms": 8.5,
        "doc_terms": 41.3,
        "flops": 0.82,
    }
    return {
        "sembridge_version": "0.1.0",
        "created": "2026-11-30T00:00:00+00:00",
        "dataset": {"source": source, "split": "test", "format": "beir", "queries": 297, "documents": 863},
        "config": {"metrics": ["nDCG@10", "R@100"], "top_k": 100},
        "models": [
            {"name": "m", "kind": "sparse", "results": [row]},
            {
                "name": "BM25",
                "kind": "bm25",
                "results": [{**row, "metrics": {"nDCG@10": 0.58, "R@100": 0.91}}],
            },
        ],
    }


def test_update_card_adds_replaces_and_keeps(init_dir, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    for name in (CARD_FILE, REPORT_FILE):
        (folder / name).write_text((init_dir / name).read_text(encoding="utf-8"), encoding="utf-8")
    first = _eval_report("data/ru", 0.2096)
    update_cards(first, check_card_models([str(folder)]))
    card = (folder / CARD_FILE).read_text(encoding="utf-8")
    assert card.count("## Evaluation") == 1
    assert "| this model | none | 0.2096 | 0.9000 | 8.5 | 41.3 | 0.82 |" in card
    assert "| BM25 (bm25, reference) | none | 0.5800 |" in card

    # The same data set again: its table is replaced, not repeated.
    update_card_evaluation(folder, _eval_report("data/ru", 0.4296), first["models"][0] | {"results": []})
    again = _eval_report("data/ru", 0.4296)
    update_card_evaluation(folder, again, again["models"][0])
    card = (folder / CARD_FILE).read_text(encoding="utf-8")
    assert "0.2096" not in card and "| this model | none | 0.4296 |" in card
    assert card.count("### `data/ru` (test split)") == 1

    # Another data set: a second table; the first stays, and so does the rest of the card.
    other = _eval_report("data/ko", 0.3333)
    update_card_evaluation(folder, other, other["models"][0])
    card = (folder / CARD_FILE).read_text(encoding="utf-8")
    assert "### `data/ru` (test split)" in card and "### `data/ko` (test split)" in card
    assert card.count("## Evaluation") == 1
    assert card.index("## How this model was made") < card.index("## Evaluation") < card.index("## Usage")


def test_update_card_refuses_a_hub_id(tmp_path):
    with pytest.raises(SembridgeError, match="not a local folder"):
        check_card_models(["naver/splade-v3"])
    with pytest.raises(SembridgeError, match="not a local folder"):
        check_card_models([str(tmp_path / "missing")])


def test_update_card_refuses_a_folder_sembridge_did_not_write(init_dir, tmp_path):
    folder = tmp_path / "third-party"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / CARD_FILE).write_text("# Someone's model\n\nTheir own words.\n")
    with pytest.raises(SembridgeError, match="updates only cards that sembridge wrote") as refused:
        check_card_models([str(folder)])
    assert str(folder) in refused.value.message
    assert (folder / CARD_FILE).read_text() == "# Someone's model\n\nTheir own words.\n"
    (folder / REPORT_FILE).write_text((init_dir / REPORT_FILE).read_text(encoding="utf-8"), encoding="utf-8")
    assert check_card_models([str(folder)]) == [folder]


def test_outputs_have_the_users_normal_permissions(init_dir):
    mask = _umask()
    assert stat.S_IMODE(init_dir.stat().st_mode) == 0o777 & ~mask
    for name in ("model.safetensors", REPORT_FILE, CARD_FILE, "config.json"):
        assert stat.S_IMODE((init_dir / name).stat().st_mode) == 0o666 & ~mask, name


def test_atomic_file_has_normal_permissions(tmp_path):
    from sembridge.io import write_json

    path = write_json(tmp_path / "report.json", {"a": 1})
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()


def _pairs_file(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    rows = [("кот", "кот sat on the mat"), ("собака", "собака run house"), ("дом", "дом water")]
    pairs.write_text(
        "".join(json.dumps({"query": q, "positive": p}, ensure_ascii=False) + "\n" for q, p in rows),
        encoding="utf-8",
    )
    return pairs


def test_evaluate_cli_updates_the_card_only_when_asked(init_dir, tmp_path):
    import shutil

    from typer.testing import CliRunner

    from sembridge.cli.app import app

    folder = tmp_path / "model"
    shutil.copytree(init_dir, folder)
    pairs = _pairs_file(tmp_path)
    before = (folder / CARD_FILE).read_text(encoding="utf-8")
    plain = CliRunner().invoke(app, ["evaluate", "-m", str(folder), "--data", str(pairs), "--device", "cpu"])
    assert plain.exit_code == 0, plain.output
    assert (folder / CARD_FILE).read_text(encoding="utf-8") == before

    updated = CliRunner().invoke(
        app, ["evaluate", "-m", str(folder), "--data", str(pairs), "--device", "cpu", "--update-card"]
    )
    assert updated.exit_code == 0, updated.output
    card = (folder / CARD_FILE).read_text(encoding="utf-8")
    assert card.count("## Evaluation") == 1 and "| this model | none |" in card
    assert card.index("## How this model was made") < card.index("## Evaluation")


def test_evaluate_from_python_writes_the_report_plot_and_card_as_the_cli_does(init_dir, tmp_path):
    import shutil

    from sembridge.evaluation import evaluate

    folder = tmp_path / "model"
    shutil.copytree(init_dir, folder)
    pairs = _pairs_file(tmp_path)
    output = tmp_path / "report.json"
    report = evaluate(
        [str(folder)],
        str(pairs),
        device="cpu",
        prune_mass=[0.9],
        output=output,
        update_card=True,
        show_progress=False,
    )
    assert json.loads(output.read_text(encoding="utf-8"))["models"][0]["name"] == report["models"][0]["name"]
    assert report["plot"] == str(tmp_path / "report.png") and (tmp_path / "report.png").is_file()
    card = (folder / CARD_FILE).read_text(encoding="utf-8")
    assert card.count("## Evaluation") == 1 and "| this model | none |" in card
    # The checks come first: an existing report is refused before any model is loaded.
    from sembridge.errors import SembridgeError

    with pytest.raises(SembridgeError, match="exists"):
        evaluate([str(folder)], str(pairs), device="cpu", output=output)


def _yaml_header(card: str) -> dict:
    import yaml

    return yaml.safe_load(card.split("---")[1])


def test_the_hub_reads_language_lineage_data_license_and_results(tmp_path):
    """The card's YAML, parsed: what the Hub indexes a model by, and its evaluation results."""
    source = tmp_path / "english-splade"
    source.mkdir()
    (source / CARD_FILE).write_text("---\nlicense: apache-2.0\ntags: [splade]\n---\n# A SPLADE\n")
    init = {
        "settings": {"source": str(source), "target_tokenizer": "ARBERT"},
        "summary": {"method": "sembridge", "copied": 10, "target_vocab_size": 100, "new": 90},
    }
    header = _yaml_header(render_card(ST_CARD, init_report=init))
    assert header["language"] == ["ar"] and header["license"] == "apache-2.0"
    assert "base_model" not in header  # a local folder is no hub lineage
    hub = {**init, "settings": {**init["settings"], "source": "naver/splade-v3"}}
    assert _yaml_header(render_card(ST_CARD, init_report=hub))["base_model"] == "naver/splade-v3"

    finetune = {
        "model": str(tmp_path / "ar-init"),
        "data": {"train": "org/arabic-pairs:ar", "train_pairs": 10, "eval": None, "eval_pairs": 0},
        "config": {"loss": "infonce+kl", "teacher": str(tmp_path / "teachers" / "e5")},
    }
    folder = tmp_path / "ar-ft"
    folder.mkdir()
    (folder / "sembridge_finetune.json").write_text(json.dumps(finetune))
    write_model_card(folder, init_report=hub, finetune_report=finetune)
    card = (folder / CARD_FILE).read_text(encoding="utf-8")
    header = _yaml_header(card)
    assert header["datasets"] == ["org/arabic-pairs"] and header["language"] == ["ar"]
    assert "| objective | InfoNCE + KL divergence to the teacher's scores (teacher `e5`)" in card
    assert str(tmp_path) not in card  # no machine path anywhere

    first = _eval_report(str(tmp_path / "data" / "ar-test"), 0.3125)
    update_cards(first, check_card_models([str(folder)]))
    again = _eval_report(str(tmp_path / "data" / "ar-test"), 0.3500)
    update_card_evaluation(folder, again, again["models"][0])
    other = _eval_report("org/miracl-ar", 0.2)
    update_card_evaluation(folder, other, other["models"][0])
    card = (folder / CARD_FILE).read_text(encoding="utf-8")
    header = _yaml_header(card)
    (entry,) = header["model-index"]
    assert entry["name"] == "ar-ft"
    results = {r["dataset"]["name"]: r for r in entry["results"]}
    assert set(results) == {"ar-test", "org/miracl-ar"}  # the same data set again: replaced
    result = results["ar-test"]
    assert result["task"] == {"type": "text-retrieval", "name": "Retrieval"}
    assert result["dataset"] == {"name": "ar-test", "type": "ar-test", "split": "test"}
    assert {m["type"]: m["value"] for m in result["metrics"]}["ndcg_at_10"] == 0.35
    assert header["datasets"] == ["org/arabic-pairs"] and "sembridge" in header["tags"]
    assert str(tmp_path) not in card
