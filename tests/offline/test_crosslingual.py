"""The cross-lingual test sets and the parallel text of ``make data`` (built once, read here)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from offline_assets.corpora import in_script, quality_dir
from offline_assets.crosslingual import (
    DEV_LANGUAGES,
    HANDBOOK_LANGUAGES,
    LANGUAGES,
    MIN_PAGES,
    crosslingual_dir,
    help_parallel_path,
    read_pages,
)
from offline_assets.parallel import clean
from sembridge.errors import SembridgeError


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


@pytest.mark.parametrize("language", DEV_LANGUAGES)
def test_crosslingual_dev_sets_hold_pages_no_dev_training_pair_and_no_test_set_holds(language):
    forward = _built(crosslingual_dir(f"en-{language}", split="dev"))
    backward = _built(crosslingual_dir(f"{language}-en", split="dev"))
    assert forward.name == f"en-{language}-dev"
    for folder, query_language, document_language in ((forward, "en", language), (backward, language, "en")):
        queries, corpus, qrels = _read(folder)
        assert len(queries) == len(corpus) == len(qrels) >= MIN_PAGES
        assert all(in_script(text, query_language) for text in queries.values())
        assert all(in_script(text, document_language) for text in corpus.values())
        assert set(qrels.values()) == set(corpus)
    pages = set(json.loads((forward / "groups.json").read_text(encoding="utf-8")))
    english = set(
        json.loads((_built(crosslingual_dir("en", split="dev")) / "groups.json").read_text(encoding="utf-8"))
    )
    assert pages <= english and all(page.startswith("libreoffice:") for page in pages)
    for other in ("ru", "zh", "ko", "hi", "ar"):
        dev_train = json.loads((quality_dir(other, split="dev") / "groups.json").read_text(encoding="utf-8"))[
            "train"
        ]
        test = json.loads((quality_dir(other) / "groups.json").read_text(encoding="utf-8"))["test"]
        assert not english & (set(dev_train) | set(test))  # never trained on in dev, never a test page
    for name in ("en", f"en-{language}", f"{language}-en"):  # the test sets share no page with them
        test_pages = set(json.loads((crosslingual_dir(name) / "groups.json").read_text(encoding="utf-8")))
        assert not test_pages & english


@pytest.mark.parametrize("language", DEV_LANGUAGES)
def test_parallel_help_pages_are_translations_of_pages_no_set_reads(language):
    from sembridge.training.align import read_parallel

    path = help_parallel_path(language)
    if not path.is_file():
        message = f"{path} is not built: run `make data`"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    records = read_pages(language)
    groups = [r["group"] for r in records]
    assert len(records) >= 2 * 300 and groups[::2] == groups[1::2]  # a page's title, then its body
    titles, bodies = records[::2], records[1::2]
    assert all(in_script(r["target"], language) and in_script(r["english"], "en") for r in titles)
    assert sum(len(r["target"]) for r in bodies) > 5 * sum(len(r["target"]) for r in titles)
    read = set()  # every page a test or dev set holds, in any language, monolingual or cross-lingual
    for other in ("ru", "zh", "ko", "hi", "ar"):
        for split in ("test", "dev"):
            read |= set(
                json.loads((quality_dir(other, split=split) / "groups.json").read_text(encoding="utf-8"))[
                    "test"
                ]
            )
    for split in ("test", "dev"):
        for name in ("en", *(f"en-{lang}" for lang in DEV_LANGUAGES)):
            read |= set(
                json.loads((crosslingual_dir(name, split=split) / "groups.json").read_text(encoding="utf-8"))
            )
    assert not set(groups) & read
    assert len(read_parallel(path)) >= 0.95 * len(records)  # align reads them


def test_crosslingual_dir_names_the_split():
    assert crosslingual_dir("en-ru", "/c").as_posix() == "/c/crosslingual/en-ru"
    assert crosslingual_dir("en-ru", "/c", split="dev").as_posix() == "/c/crosslingual/en-ru-dev"
    with pytest.raises(SembridgeError, match="no split 'val'"):
        crosslingual_dir("en-ru", "/c", split="val")


def test_hindi_has_no_crosslingual_set():
    assert not crosslingual_dir("en-hi").exists()
