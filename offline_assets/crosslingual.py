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

The dev split (``--splits dev``; ``make data`` builds both) makes the same sets, named
``<set>-dev`` (``en-ru-dev``, ``ru-en-dev``, ``en-dev``), from the pages the Russian, Chinese and
Korean dev splits all hold out, less every page any language's dev split trains on or any
language's test split holds: a setting is chosen on them with models trained on the dev splits'
pairs, and the test pages are never read. Hindi's dev split holds too few help pages to share
(80, 4 of them with the others), and Arabic's dev split holds out 24 handbook sections, under
``MIN_PAGES``: neither gets a dev set.

Parallel help pages (``<cache>/parallel-help/<lang>/parallel.jsonl``, for ``sembridge align``): the same
page pairing over the pages no set reads, neither a test or dev set of any language (monolingual
or cross-lingual) nor its distractors, two ``{"english", "target"}`` records a page: the two
titles, and the two bodies cut as above. Unlike the UI catalogs' short strings, they are text of
the kind the cross-lingual sets search, a page long.

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
from offline_assets.corpora import (
    RECIPES,
    SPLITS,
    build_language,
    fetch_debian,
    in_script,
    libreoffice_documents,
    quality_dir,
)
from sembridge.cache import default_cache_dir
from sembridge.data.make_pairs import Document, truncate
from sembridge.errors import SembridgeError

logger = logging.getLogger("sembridge")

LANGUAGES = ("ru", "zh", "ko", "hi")  # LibreOffice help, pages aligned by file path
HANDBOOK_LANGUAGES = ("ar",)  # the Debian handbook, sections aligned by DocBook id
PACKAGES = {"ru": "ru", "zh": "zh-cn", "ko": "ko", "hi": "hi", "en": "en-us"}
ENGLISH_MAX_CHARS = 600
FORMAT = 2
MIN_PAGES = 30  # fewer held-out pages make no test set
DEV_LANGUAGES = ("ru", "zh", "ko")  # whose dev splits' held-out help pages the dev sets share


def crosslingual_dir(name: str, cache_dir: str | Path | None = None, split: str = "test") -> Path:
    """``<cache>/crosslingual/<name>`` (``en-ru``, ``ru-en``, ``en``; ``<name>-dev`` for the dev
    split), whether or not it is built."""
    if split not in SPLITS:
        raise SembridgeError(f"no split '{split}'", hint=f"use one of: {', '.join(SPLITS)}")
    return (
        Path(cache_dir or default_cache_dir())
        / "crosslingual"
        / (name if split == "test" else f"{name}-{split}")
    )


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


def _groups(language: str, cache_dir: str | Path | None, split: str = "test") -> dict[str, list[str]]:
    """``groups.json`` of ``language``'s monolingual set (of ``split``): its ``train`` and ``test`` groups."""
    folder = build_language(language, cache_dir, split)
    return json.loads((folder / "groups.json").read_text(encoding="utf-8"))


def _dev_excluded(cache_dir: str | Path | None) -> set[str]:
    """Every group a dev set must not hold: any language's dev training groups and test groups."""
    from offline_assets.corpora import LANGUAGES as ALL

    excluded: set[str] = set()
    for lang in ALL:
        excluded |= set(_groups(lang, cache_dir, "dev")["train"]) | set(_groups(lang, cache_dir)["test"])
    return excluded


def _handbook_pages(language: str, cache_dir: str | Path | None) -> dict[str, Document]:
    """The handbook sections of ``language`` by group, those with a title in its script and a body."""
    from offline_assets.corpora import _HANDBOOK, docbook_documents

    root = fetch_debian("debian-handbook", cache_dir) / "usr/share/doc/debian-handbook/html"
    return _titled(docbook_documents(root / _HANDBOOK[language], "handbook", language), language)


def held_out_sections(language: str, cache_dir: str | Path | None = None, split: str = "test") -> set[str]:
    """The handbook sections ``language``'s test split holds out that no language trains on (the
    Russian, Chinese and Korean sets read the handbook too: a multilingual model trained on their
    pairs must not have seen a translation of a test page); with ``split="dev"``, those its dev
    split holds out, less :func:`_dev_excluded`."""
    from offline_assets.corpora import LANGUAGES as ALL

    sections = {g for g in _groups(language, cache_dir, split)["test"] if g.startswith("handbook:")}
    if split == "dev":
        return sections - _dev_excluded(cache_dir)
    trained = set().union(*(_groups(lang, cache_dir)["train"] for lang in ALL))
    return sections - trained


def held_out_groups(cache_dir: str | Path | None = None, split: str = "test") -> set[str]:
    """The LibreOffice pages every language's test split holds out; with ``split="dev"``, those
    the dev splits of ``DEV_LANGUAGES`` all hold out, less :func:`_dev_excluded`."""
    if split == "dev":
        shared = set.intersection(
            *(
                {g for g in _groups(lang, cache_dir, "dev")["test"] if g.startswith("libreoffice:")}
                for lang in DEV_LANGUAGES
            )
        )
        return shared - _dev_excluded(cache_dir)
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


def build_crosslingual(cache_dir: str | Path | None = None, split: str = "test") -> list[Path]:
    """Build (once) ``en``, and ``en-<L>`` and ``<L>-en`` for each language, of ``split``; return
    their folders."""
    english_dir = crosslingual_dir("en", cache_dir, split)  # refuses an unknown split
    held = held_out_groups(cache_dir, split)
    english = {g: d for g, d in _pages("en", cache_dir).items() if g in held}
    english = {g: english[g] for g in _unique_titles(english)}
    folders = []
    stamp = {"format": FORMAT, "held_out": len(held), "recipes": repr([RECIPES[lang] for lang in LANGUAGES])}
    if split != "test":  # the test sets' stamps stay as they were: a built test set is kept
        stamp["split"] = split
    sources = [(language, english, _pages(language, cache_dir), stamp) for language in LANGUAGES]
    for language in HANDBOOK_LANGUAGES:
        sections = held_out_sections(language, cache_dir, split)
        pages = {g: d for g, d in _handbook_pages("en", cache_dir).items() if g in sections}
        pages = {g: pages[g] for g in _unique_titles(pages)}
        book = {"format": FORMAT, "source": "handbook", "held_out": len(sections)}
        if split != "test":
            book["split"] = split
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
        forward = crosslingual_dir(f"en-{language}", cache_dir, split)
        backward = crosslingual_dir(f"{language}-en", cache_dir, split)
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

    folders.append(_cached_build(english_dir, {**stamp, "set": english_dir.name}, monolingual))
    return folders


def help_parallel_path(language: str, cache_dir: str | Path | None = None) -> Path:
    """``<cache>/parallel-help/<lang>/parallel.jsonl``, whether or not it is built."""
    return Path(cache_dir or default_cache_dir()) / "parallel-help" / language / "parallel.jsonl"


def read_pages(language: str, cache_dir: str | Path | None = None) -> list[dict[str, str]]:
    """The records of :func:`help_parallel_path` (titles and bodies), each with its page's ``group``."""
    path = help_parallel_path(language, cache_dir)
    if not path.is_file():
        raise SembridgeError(f"{path} is not built", hint="run `python -m offline_assets.crosslingual`")
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def build_help_parallel(cache_dir: str | Path | None = None) -> list[Path]:
    """Build (once) each LibreOffice language's parallel help pages (module docstring); return the files."""
    from offline_assets.corpora import LANGUAGES as ALL

    # Every group a test or dev set holds, as a query or a distractor; the cross-lingual sets'
    # pages are among them (held_out_groups and held_out_sections take them from these).
    read: set[str] = set()
    for lang in ALL:
        for split in SPLITS:
            read |= set(_groups(lang, cache_dir, split)["test"])
    english = _pages("en", cache_dir)
    files = []
    for language in LANGUAGES:
        target = _pages(language, cache_dir)
        shared = sorted(g for g in target if g in english and g not in read)
        if len(shared) < MIN_PAGES:  # Hindi: its pages keep their English titles
            continue
        cut = RECIPES[language].max_chars

        def build(
            tmp: Path, shared: list[str] = shared, target: dict[str, Document] = target, cut: int = cut
        ) -> None:
            with open(tmp / "parallel.jsonl", "w", encoding="utf-8") as handle:
                for group in shared:
                    for english_text, target_text in (
                        (english[group].title.strip(), target[group].title.strip()),
                        (truncate(english[group].text, ENGLISH_MAX_CHARS), truncate(target[group].text, cut)),
                    ):
                        record = {"english": english_text, "target": target_text, "group": group}
                        handle.write(json.dumps(record, ensure_ascii=False) + "\n")

        path = help_parallel_path(language, cache_dir)
        stamp = {"format": FORMAT, "set": "help", "pages": len(shared), "recipe": repr(RECIPES[language])}
        files.append(_cached_build(path.parent, stamp, build) / path.name)
    return files


COPY_PREFIX = 60  # characters: a test document that opens as a page does is that page, cut otherwise


def one_index(
    languages: Iterable[str], cache_dir: str | Path | None = None
) -> tuple[list[dict[str, str]], list[dict[str, str]], dict[str, str]]:
    """One corpus for every language, for the one-index search of ``examples/one_index.py``.

    Each language's test documents (ids ``<lang>-<id>``) and the Russian help pages of ``en-ru``
    (``ru-page-<id>``), each record with its ``lang``; the English titles of those pages as the
    queries; and each query's page. The Russian test split already holds these pages, cut a few
    characters apart: its documents whose whitespace-normalised text opens with a page's first
    ``COPY_PREFIX`` characters are left out, so each page is in the index once.
    """
    from sembridge.data.retrieval import load_beir, read_corpus

    def opening(text: str) -> str:
        return " ".join(text.split())[:COPY_PREFIX]

    folder = crosslingual_dir("en-ru", cache_dir)
    if not (folder / "queries.jsonl").is_file():
        raise SembridgeError(f"{folder} is not built", hint="run `make data`")
    pages = load_beir(folder)
    openings = {opening(text) for text in pages.corpus.values()}
    corpus = []
    for lang in languages:
        documents = read_corpus(quality_dir(lang, cache_dir) / "test" / "corpus.jsonl")
        corpus += [
            {"_id": f"{lang}-{doc_id}", "text": text, "lang": lang}
            for doc_id, text in documents.items()
            if not (lang == "ru" and opening(text) in openings)
        ]
    corpus += [
        {"_id": f"ru-page-{doc_id}", "text": text, "lang": "ru"} for doc_id, text in pages.corpus.items()
    ]
    queries = [{"_id": query_id, "text": text} for query_id, text in pages.queries.items()]
    judged = {query_id: f"ru-page-{page}" for query_id, grades in pages.qrels.items() for page in grades}
    return corpus, queries, judged


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", default=None, help="default: $SEMBRIDGE_CACHE or ~/.cache/sembridge")
    parser.add_argument(
        "--splits",
        nargs="+",
        default=list(SPLITS),
        choices=SPLITS,
        help="test: the test sets; dev: the dev sets settings are chosen on (default: both)",
    )
    args = parser.parse_args(argv)
    folders = [folder for split in args.splits for folder in build_crosslingual(args.cache_dir, split)]
    for path in build_help_parallel(args.cache_dir):
        pages = sum(1 for _ in open(path, encoding="utf-8")) // 2
        print(f"help pages, {path.parent.name}: {pages:,} parallel pages -> {path}")
    for folder in folders:
        queries = sum(1 for _ in open(folder / "queries.jsonl", encoding="utf-8"))
        documents = sum(1 for _ in open(folder / "corpus.jsonl", encoding="utf-8"))
        print(f"{folder.name}: {queries:,} queries, {documents:,} documents -> {folder}")


if __name__ == "__main__":
    main()
