"""Cross-lingual test sets from LibreOffice's help, whose pages align one to one across languages.

``libreoffice-help-en-us`` has the same file paths as each ``libreoffice-help-<L>`` (ru, zh-cn, ko,
hi), so a page's English title finds its translated page and back. The pages are those every
language's test split holds out (``groups.json``'s ``test`` groups of ``make data``'s sets,
intersected over the four languages), so no page, in any language, is a training pair of any of
them: a model trained on all the languages' pairs has never seen these pages. Built once into
``<cache>/crosslingual/<set>/`` as BEIR folders (``corpus.jsonl``, ``queries.jsonl``,
``qrels/test.tsv``, grade 1):

- ``en-<L>``: the English title of each page -> its ``<L>`` page (English query, target documents);
- ``<L>-en``: the ``<L>`` title -> the English page;
- ``en``: the English title -> the English page, to show that English retrieval is kept.

Hindi gets none: its held-out pages keep their English titles (Hindi's help is mostly
untranslated). Arabic has no LibreOffice help; its sets come from the Debian handbook instead,
whose ``en-US`` and ``ar-MA`` folders hold the same sections under the same DocBook ids: the
sections Arabic's test split holds out and no language trains on (the other sets read the
handbook too), English title -> Arabic section (``en-ar``) and back (``ar-en``). The English
set stays LibreOffice's.

A page is kept when it has a title and a body in both languages (the title in the language's
script: some Hindi pages keep their English title) and its title is unique in both (a repeated
title has several right answers). Bodies are cut as the language's test documents are
(``Recipe.max_chars``; English at Russian's 600 characters).

Run ``python -m offline_assets.crosslingual`` (``make data`` does, after the monolingual sets).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from offline_assets.assets import _cached_build
from offline_assets.corpora import RECIPES, build_language, fetch_debian, in_script, libreoffice_documents
from sembridge.cache import default_cache_dir
from sembridge.data.make_pairs import Document, truncate

logger = logging.getLogger("sembridge")

LANGUAGES = ("ru", "zh", "ko", "hi")  # LibreOffice help, pages aligned by file path
HANDBOOK_LANGUAGES = ("ar",)  # the Debian handbook, sections aligned by DocBook id
PACKAGES = {"ru": "ru", "zh": "zh-cn", "ko": "ko", "hi": "hi", "en": "en-us"}
ENGLISH_MAX_CHARS = 600
FORMAT = 2
MIN_PAGES = 30  # fewer held-out pages make no test set


def crosslingual_dir(name: str, cache_dir: str | Path | None = None) -> Path:
    """``<cache>/crosslingual/<name>`` (``en-ru``, ``ru-en``, ``en``), whether or not it is built."""
    return Path(cache_dir or default_cache_dir()) / "crosslingual" / name


def _titled(documents: Iterable[Document], language: str) -> dict[str, Document]:
    """``documents`` by group, those with a title in ``language``'s script and a body."""
    return {
        d.group: d for d in documents if d.title.strip() and d.text.strip() and in_script(d.title, language)
    }


def _pages(language: str, cache_dir: str | Path | None) -> dict[str, Document]:
    """The help pages of ``language`` by group, those with a title in the language's script and a body."""
    return _titled(
        libreoffice_documents(fetch_debian(f"libreoffice-help-{PACKAGES[language]}", cache_dir), language),
        language,
    )


def _groups(language: str, cache_dir: str | Path | None) -> dict[str, list[str]]:
    """``groups.json`` of ``language``'s monolingual set: its ``train`` and ``test`` groups."""
    return json.loads((build_language(language, cache_dir) / "groups.json").read_text(encoding="utf-8"))


def _handbook_pages(language: str, cache_dir: str | Path | None) -> dict[str, Document]:
    """The handbook sections of ``language`` by group, those with a title in its script and a body."""
    from offline_assets.corpora import _HANDBOOK, docbook_documents

    root = fetch_debian("debian-handbook", cache_dir) / "usr/share/doc/debian-handbook/html"
    return _titled(docbook_documents(root / _HANDBOOK[language], "handbook", language), language)


def held_out_sections(language: str, cache_dir: str | Path | None = None) -> set[str]:
    """The handbook sections ``language``'s test split holds out that no language trains on (the
    Russian, Chinese and Korean sets read the handbook too: a multilingual model trained on their
    pairs must not have seen a translation of a test page)."""
    from offline_assets.corpora import LANGUAGES as ALL

    trained = set().union(*(_groups(lang, cache_dir)["train"] for lang in ALL))
    return {g for g in _groups(language, cache_dir)["test"] if g.startswith("handbook:")} - trained


def held_out_groups(cache_dir: str | Path | None = None) -> set[str]:
    """The LibreOffice pages every language's test split holds out."""
    held: set[str] | None = None
    for language in LANGUAGES:
        groups = _groups(language, cache_dir)
        test = {g for g in groups["test"] if g.startswith("libreoffice:")}
        train = set(groups["train"])
        held = (test if held is None else held & test) - train
    return held or set()


def _unique_titles(pages: dict[str, Document]) -> set[str]:
    counts = Counter(d.title.strip() for d in pages.values())
    return {group for group, d in pages.items() if counts[d.title.strip()] == 1}


def _write(out: Path, queries: dict[str, str], corpus: dict[str, str]) -> None:
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    ids = {group: f"p{number}" for number, group in enumerate(sorted(corpus), 1)}
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as handle:
        for group in sorted(corpus):
            handle.write(
                json.dumps({"_id": ids[group], "title": "", "text": corpus[group]}, ensure_ascii=False) + "\n"
            )
    with open(out / "queries.jsonl", "w", encoding="utf-8") as handle:
        for group in sorted(queries):
            handle.write(
                json.dumps({"_id": "q" + ids[group][1:], "text": queries[group]}, ensure_ascii=False) + "\n"
            )
    with open(out / "qrels/test.tsv", "w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for group in sorted(queries):
            handle.write(f"q{ids[group][1:]}\t{ids[group]}\t1\n")
    (out / "groups.json").write_text(
        json.dumps(sorted(corpus), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )


def build_crosslingual(cache_dir: str | Path | None = None) -> list[Path]:
    """Build (once) ``en``, and ``en-<L>`` and ``<L>-en`` for each language; return their folders."""
    held = held_out_groups(cache_dir)
    english = {g: d for g, d in _pages("en", cache_dir).items() if g in held}
    english = {g: english[g] for g in _unique_titles(english)}
    folders = []
    stamp = {"format": FORMAT, "held_out": len(held), "recipes": repr([RECIPES[lang] for lang in LANGUAGES])}
    sources = [(language, english, _pages(language, cache_dir), stamp) for language in LANGUAGES]
    for language in HANDBOOK_LANGUAGES:
        sections = held_out_sections(language, cache_dir)
        pages = {g: d for g, d in _handbook_pages("en", cache_dir).items() if g in sections}
        pages = {g: pages[g] for g in _unique_titles(pages)}
        book = {"format": FORMAT, "source": "handbook", "held_out": len(sections)}
        book["recipe"] = repr(RECIPES[language])
        sources.append((language, pages, _handbook_pages(language, cache_dir), book))
    for language, originals, target, set_stamp in sources:  # originals: that source's English pages
        target = {g: target[g] for g in _unique_titles(target) if g in originals}
        cut = RECIPES[language].max_chars

        def pair(
            tmp: Path,
            target: dict[str, Document] = target,
            cut: int = cut,
            forward: bool = True,
            english: dict[str, Document] = originals,
        ) -> None:
            if forward:  # English title -> the target page
                queries = {g: english[g].title for g in target}
                corpus = {g: truncate(d.text, cut) for g, d in target.items()}
            else:
                queries = {g: d.title for g, d in target.items()}
                corpus = {g: truncate(english[g].text, ENGLISH_MAX_CHARS) for g in target}
            _write(tmp, queries, corpus)

        if len(target) < MIN_PAGES:  # Hindi: the held-out pages keep their English titles
            logger.warning(
                "%s: %d held-out pages with a title in its script; no cross-lingual sets",
                language,
                len(target),
            )
            continue
        forward = crosslingual_dir(f"en-{language}", cache_dir)
        backward = crosslingual_dir(f"{language}-en", cache_dir)
        folders.append(_cached_build(forward, {**set_stamp, "set": forward.name}, pair))
        folders.append(
            _cached_build(
                backward,
                {**set_stamp, "set": backward.name},
                lambda tmp, t=target, c=cut, e=originals: pair(tmp, t, c, forward=False, english=e),
            )
        )

    def monolingual(tmp: Path) -> None:
        _write(
            tmp,
            {g: d.title for g, d in english.items()},
            {g: truncate(d.text, ENGLISH_MAX_CHARS) for g, d in english.items()},
        )

    folders.append(_cached_build(crosslingual_dir("en", cache_dir), {**stamp, "set": "en"}, monolingual))
    return folders


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", default=None, help="default: $SEMBRIDGE_CACHE or ~/.cache/sembridge")
    args = parser.parse_args(argv)
    for folder in build_crosslingual(args.cache_dir):
        queries = sum(1 for _ in open(folder / "queries.jsonl", encoding="utf-8"))
        documents = sum(1 for _ in open(folder / "corpus.jsonl", encoding="utf-8"))
        print(f"{folder.name}: {queries:,} queries, {documents:,} documents -> {folder}")


if __name__ == "__main__":
    main()
