"""examples/one_index.py, the docs' worked example (issue 21): the one corpus it indexes, and how
it reads Lucene's run (each English title's Russian page, among all documents and among the
Russian ones)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def example(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    import one_index

    yield one_index
    del sys.modules["one_index"]


def test_one_corpus_holds_every_language_and_each_russian_page_once(example, tmp_path):
    from offline_assets.crosslingual import crosslingual_dir

    if not (crosslingual_dir("en-ru") / "queries.jsonl").is_file():
        message = "the cross-lingual sets are not built: run `make data`"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    corpus, queries, judged, language, text = example.index_files(tmp_path)
    counts = {lang: sum(v == lang for v in language.values()) for lang in example.LANGUAGES}
    assert all(counts[lang] > 500 for lang in example.LANGUAGES)  # every language's test documents
    assert len(queries.read_text(encoding="utf-8").splitlines()) == len(judged) == 100
    assert all(language[page] == "ru" and page.startswith("ru-page-") for page in judged.values())
    assert all(any("а" <= ch <= "я" for ch in text[page].lower()) for page in judged.values())
    # The Russian test split holds these pages too, cut a few characters apart: left out, so
    # each page is in the index once and is the only copy a title can find.
    openings = [" ".join(text[page].split())[:60] for page in judged.values()]
    others = [" ".join(text[doc].split())[:60] for doc in language if not doc.startswith("ru-page-")]
    assert not set(openings) & set(others)
    assert len(text) == len(language) == len(corpus.read_text(encoding="utf-8").splitlines())


def test_the_summary_ranks_each_page_among_all_and_among_the_russian_documents(example, capsys):
    language = {f"ru-page-p{n}": "ru" for n in (1, 2, 3, 4)} | {"ko-d1": "ko", "ru-d1": "ru"}
    for lang in ("zh", "ar", "hi"):
        language[f"{lang}-d1"] = lang
    text = {doc: f"text of {doc}" for doc in language}
    text["ru-page-p2"] = "Функции LibreOffice Calc"  # found first by a Latin word: not the example
    titles = ["Insert Controls", "Calc Functions", "Fill", "Hide"]
    queries = [{"_id": f"q{n}", "text": title} for n, title in enumerate(titles, start=1)]
    hits = {
        "q1": [("ko-d1", 9.0), ("ru-page-p1", 8.0)],  # second overall, first among the Russian
        "q2": [("ru-page-p2", 8.0)],  # first, by "Calc"
        "q3": [("ru-page-p3", 7.0), ("ru-d1", 3.0)],  # first
        "q4": [("ru-d1", 5.0)],  # its page is not in the run
    }
    judged = {f"q{n}": f"ru-page-p{n}" for n in (1, 2, 3, 4)}
    summary = example.summarise(queries, hits, judged, language, text, show=2)
    assert summary["all_documents"] == {"first": 2, "top10": 3, "not_found": 1}
    assert summary["russian_documents"] == {"first": 3, "top10": 3, "not_found": 1}
    assert summary["example"]["query"] == "Fill"  # the first page found first with no shared word
    assert [hit["id"] for hit in summary["example"]["hits"]] == ["ru-page-p3", "ru-d1"]
    assert "first for 2 of 4" in capsys.readouterr().out
    assert example.shared_words("Calc Functions", text["ru-page-p2"]) == {"calc"}
