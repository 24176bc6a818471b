"""Paragraph groups and the batch sampler that keeps each group's pairs in different batches."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from sembridge.data import paragraph_groups
from sembridge.training import FinetuneConfig, finetune
from sembridge.training.sampler import ParagraphGroupBatchSampler

BOILERPLATE = "Choose Tools - Options - LibreOffice Writer - General to change the measurement unit."


def test_groups_link_shared_paragraphs_transitively():
    texts = [
        f"page one\n\n{BOILERPLATE}",
        "a page of its own, with nothing in common with the others at all",
        f"page two\n\n{BOILERPLATE}\n\nand a second paragraph long enough to count as one",
        "and a second paragraph long enough to count as one\n\npage three",
        "a page of its own, with nothing in common with the others at all",  # equal text
    ]
    assert paragraph_groups(texts) == [0, 1, 0, 0, 1]
    assert paragraph_groups([]) == []


def dataset(groups: list[int]) -> Dataset:
    return Dataset.from_dict(
        {"query": [f"q{i}" for i in range(len(groups))], "positive": [f"p{i}" for i in range(len(groups))]}
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_batch_holds_two_pairs_of_a_group_and_every_row_comes_once(seed):
    groups = [i % 7 if i < 28 else i for i in range(60)]  # 7 groups of 4, then 32 loners
    sampler = ParagraphGroupBatchSampler(dataset(groups), 8, False, seed=seed, groups=groups)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(60))
    for batch in batches:
        assert len({groups[i] for i in batch}) == len(batch) <= 8
    assert len(sampler) == len(batches)
    sampler.set_epoch(1)
    assert list(sampler) != batches  # another shuffle each epoch


def test_repeated_texts_are_kept_apart_too():
    data = Dataset.from_dict({"query": ["same", "same", "other"], "positive": ["a", "b", "c"]})
    batches = list(ParagraphGroupBatchSampler(data, 3, False, groups=[0, 1, 2]))
    assert all(not ({0, 1} <= set(b)) for b in batches)


def test_a_run_with_paragraph_groups_trains_and_records_the_setting(splade_tiny, tmp_path, en_pairs):
    pairs = en_pairs[:24]
    data = tmp_path / "pairs.jsonl"
    data.write_text(
        "".join(json.dumps({"query": q, "positive": p}) + "\n" for q, p in pairs), encoding="utf-8"
    )
    config = FinetuneConfig(
        paragraph_groups=True, max_steps=2, batch_size=8, max_length=32, device="cpu", logging_steps=1,
        save_steps=1000, stats_sample_size=8, show_progress=False,
    )  # fmt: skip
    result = finetune(str(splade_tiny), data, tmp_path / "out", config)
    assert result.global_step == 2
    report = json.loads((tmp_path / "out" / "sembridge_finetune.json").read_text(encoding="utf-8"))
    assert report["config"]["paragraph_groups"] is True
