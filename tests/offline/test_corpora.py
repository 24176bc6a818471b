"""The real target-language sets: split by group, never by pair; the built sets (when cached) obey it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from offline_assets.corpora import (
    LANGUAGES,
    RECIPES,
    Recipe,
    check_disjoint,
    dev_documents,
    dev_recipe,
    quality_dir,
    sharing_a_paragraph,
    split_sets,
    write_sets,
)
from sembridge.data.make_pairs import Document, normalise

RU_BODY = "Это первое предложение страницы номер {n}. Это второе предложение страницы номер {n}."


def ru_documents(count: int) -> list[Document]:
    return [
        Document(
            RU_BODY.format(n=n),
            f"Заголовок страницы {n}",
            (f"ключевое слово {n}",),
            where=f"page{n}.html",
            group=f"libreoffice:page{n}.html",
        )
        for n in range(count)
    ]


def test_split_keeps_groups_on_one_side_and_judges_every_query():
    recipe = Recipe("ru", ("libreoffice",), ("title", "keywords"), 600, test_queries=20, corpus_documents=60)
    sets = split_sets(recipe, ru_documents(200))
    assert len(sets.queries) == 20
    assert sets.train and not sets.train_groups & sets.test_groups
    assert set(sets.qrels) == set(sets.queries)
    assert all(doc in sets.corpus for docs in sets.qrels.values() for doc in docs)
    check_disjoint(sets)  # raises on a leak
    again = split_sets(recipe, ru_documents(200))
    assert again.queries == sets.queries and again.train == sets.train


def test_cloze_split_uses_each_paragraph_once():
    recipe = Recipe("ru", ("handbook",), ("cloze",), 600, test_queries=10, queries_per_group=2)
    sets = split_sets(recipe, ru_documents(60))
    test_texts = {normalise(t) for t in (*sets.queries.values(), *sets.corpus.values())}
    for query in sets.queries.values():
        # the sentence asked for is in no corpus document: it was cut out of its paragraph
        assert not any(query in text for text in sets.corpus.values())
    assert not any(normalise(p.query) in test_texts for p in sets.train)


def test_dev_split_is_built_as_the_test_split_from_the_groups_outside_it():
    recipe = Recipe("ru", ("libreoffice",), ("title", "keywords"), 600, test_queries=20, corpus_documents=60)
    documents = ru_documents(300)
    test = split_sets(recipe, documents)
    rest = dev_documents(recipe, documents)
    assert rest and {d.group for d in rest} == {d.group for d in documents} - test.test_groups
    dev = split_sets(recipe, rest)
    assert len(dev.queries) == 20 and set(dev.qrels) == set(dev.queries)
    check_disjoint(dev)  # the dev queries' pages give no dev training pair
    # Nothing of the dev split, queries, documents or training pairs, comes from a test group.
    assert not (dev.test_groups | dev.train_groups) & test.test_groups
    assert not set(dev.queries.values()) & set(test.queries.values())
    # The dev training pairs come from the test split's training groups, less the dev groups.
    assert dev.train_groups and dev.train_groups <= test.train_groups - dev.test_groups


def test_check_disjoint_raises_on_a_shared_group():
    recipe = Recipe("ru", ("libreoffice",), ("title",), 600, test_queries=5)
    sets = split_sets(recipe, ru_documents(50))
    sets.train_groups.add(next(iter(sets.test_groups)))
    with pytest.raises(RuntimeError, match="both sides"):
        check_disjoint(sets)


def test_written_sets_have_the_beir_layout(tmp_path):
    recipe = Recipe("ru", ("libreoffice",), ("title",), 600, test_queries=5)
    sets = split_sets(recipe, ru_documents(50))
    write_sets(sets, tmp_path)
    check_built_set(tmp_path)


def test_make_data_counts_the_pairs_sharing_a_positive_or_a_paragraph(tmp_path):
    shared = "Общий абзац справки, который повторяют многие страницы этого раздела."
    rows = [
        {"query": "первый", "positive": f"Страница один.\n\n{shared}"},
        {"query": "второй", "positive": f"Страница два.\n\n{shared}"},
        {"query": "третий", "positive": "Страница три, своя."},
        {"query": "ещё третий", "positive": "Страница три, своя."},
        {"query": "четвёртый", "positive": "Страница четыре."},
    ]
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    assert sharing_a_paragraph(tmp_path) == 4


def check_built_set(folder: Path) -> None:
    train = [json.loads(line) for line in (folder / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert train and all(set(r) == {"query", "positive"} for r in train)
    corpus = {
        r["_id"]: r["text"]
        for r in map(json.loads, (folder / "test/corpus.jsonl").read_text(encoding="utf-8").splitlines())
    }
    queries = {
        r["_id"]: r["text"]
        for r in map(json.loads, (folder / "test/queries.jsonl").read_text(encoding="utf-8").splitlines())
    }
    with open(folder / "test/qrels/test.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert {r["query-id"] for r in rows} == set(queries)
    assert all(r["corpus-id"] in corpus and r["score"] == "1" for r in rows)
    groups = json.loads((folder / "groups.json").read_text(encoding="utf-8"))
    assert not set(groups["train"]) & set(groups["test"])
    test_texts = {normalise(t) for t in (*queries.values(), *corpus.values())}
    assert not [
        r for r in train if normalise(r["query"]) in test_texts or normalise(r["positive"]) in test_texts
    ]
    stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
    assert stats["train_pairs"] == len(train) and stats["test_queries"] == len(queries)
    assert stats["test_documents"] == len(corpus)


@pytest.mark.parametrize("split", ["test", "dev"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_built_sets_never_share_a_group(language, split):
    folder = quality_dir(language, split=split)
    if not (folder / "stats.json").is_file():
        pytest.skip(f"the {language} {split} sets are not built in {folder}: run `make data` to build them")
    check_built_set(folder)
    if split == "dev":  # and the dev split holds no group of the test split, on either side
        test = json.loads((quality_dir(language) / "groups.json").read_text(encoding="utf-8"))["test"]
        dev = json.loads((folder / "groups.json").read_text(encoding="utf-8"))
        assert not set(test) & set(dev["train"] + dev["test"])
    stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
    recipe = RECIPES[language] if split == "test" else dev_recipe(RECIPES[language])
    assert 0.5 * recipe.test_queries <= stats["test_queries"] <= recipe.test_queries + 100
    assert stats["test_documents"] <= RECIPES[language].corpus_documents + 100
