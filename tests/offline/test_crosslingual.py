"""The cross-lingual test sets and the parallel text of ``make data`` (built once, read here)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from offline_assets.corpora import in_script, quality_dir
from offline_assets.crosslingual import HANDBOOK_LANGUAGES, LANGUAGES, MIN_PAGES, crosslingual_dir
from offline_assets.parallel import clean


def _built(folder: Path) -> Path:
    if not (folder / "queries.jsonl").is_file():
        message = f"{folder} is not built: run `make data`"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    return folder


def _read(folder: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    queries = {r["_id"]: r["text"] for r in map(json.loads, open(folder / "queries.jsonl", encoding="utf-8"))}
    corpus = {r["_id"]: r["text"] for r in map(json.loads, open(folder / "corpus.jsonl", encoding="utf-8"))}
    lines = (folder / "qrels/test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    qrels = dict(line.split("\t")[:2] for line in lines)
    return queries, corpus, qrels


def test_in_script_reads_latin_for_english():
    assert in_script("Insert Controls", "en") and not in_script("Вставить элементы", "en")
    assert in_script("Вставить элементы (IDE)", "ru") and not in_script("Basic IDE", "ru")


def test_clean_drops_menu_mnemonics():
    assert clean("~Open  a\n_File") == "Open a File"


@pytest.mark.parametrize("language", [lang for lang in (*LANGUAGES, *HANDBOOK_LANGUAGES) if lang != "hi"])
def test_crosslingual_sets_pair_a_page_with_its_translation_and_hold_out_every_training_page(language):
    forward = _built(crosslingual_dir(f"en-{language}"))
    backward = _built(crosslingual_dir(f"{language}-en"))
    for folder, query_language, document_language in ((forward, "en", language), (backward, language, "en")):
        queries, corpus, qrels = _read(folder)
        assert len(queries) == len(corpus) == len(qrels) >= MIN_PAGES
        assert all(in_script(text, query_language) for text in queries.values())
        assert sum(in_script(text, document_language) for text in corpus.values()) == len(corpus)
        assert set(qrels.values()) == set(corpus)  # one judged page per query, each page once
    pages = set(json.loads((forward / "groups.json").read_text(encoding="utf-8")))
    assert pages == set(json.loads((backward / "groups.json").read_text(encoding="utf-8")))
    for other in ("ru", "zh", "ko", "hi", "ar"):  # no language's training pairs come from these pages
        train = set(json.loads((quality_dir(other) / "groups.json").read_text(encoding="utf-8"))["train"])
        assert not pages & train
    if language in HANDBOOK_LANGUAGES:  # the handbook's sections the language's test split holds out
        test = set(json.loads((quality_dir(language) / "groups.json").read_text(encoding="utf-8"))["test"])
        assert pages <= test and all(page.startswith("handbook:") for page in pages)
        return
    english = set(json.loads((_built(crosslingual_dir("en")) / "groups.json").read_text(encoding="utf-8")))
    assert pages <= english


def test_hindi_has_no_crosslingual_set():
    assert not crosslingual_dir("en-hi").exists()
