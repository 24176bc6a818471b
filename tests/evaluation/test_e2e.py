"""End to end on real assets: the real SPLADE-tiny and models derived from it, on real Chinese dialogue."""

from __future__ import annotations

import time

import pytest
from rich.console import Console

from sembridge.data import pairs_dataset
from sembridge.evaluation import evaluate, results_table

pytestmark = pytest.mark.e2e

N_PAIRS = 150  # keeps the test well under a minute on 2 busy cores


@pytest.fixture(scope="module")
def zh_set(zh_pairs):
    return pairs_dataset(zh_pairs[:N_PAIRS], name="chatterbot-zh")


def test_source_copy_and_mean_init_side_by_side(zh_set, splade_dir, saved_copy_dir, mean_init_dir):
    start = time.perf_counter()
    report = evaluate(
        [splade_dir, saved_copy_dir, mean_init_dir],
        zh_set,
        names=["source", "saved-copy", "mean-cjk"],
        prune_mass=[0.8],
        prune_top_k=[8],
        top_k=50,
        batch_size=64,
        device="cpu",
        metrics=["nDCG@10", "R@50", "RR@10"],
        show_progress=False,
    )
    seconds = time.perf_counter() - start
    assert report["dataset"]["queries"] == len(zh_set.queries) and report["dataset"]["documents"] > 100
    source, copy, mean = report["models"]
    assert [r["setting"] for r in source["results"]] == ["none", "mass=0.8", "top-k=8"]
    # A sembridge-written folder of the same weights retrieves exactly as the original.
    assert copy["results"][0]["metrics"] == source["results"][0]["metrics"]
    assert copy["results"][0]["doc_terms"] == source["results"][0]["doc_terms"]
    # The real English model does find Chinese replies through shared characters, better than chance
    # (a random ranking's expected RR@10 is H_10 / documents; special tokens such as [UNK] are not
    # terms, so an [UNK] shared by query and reply does not count as a match)...
    full = source["results"][0]
    assert 0.0 < full["metrics"]["nDCG@10"] <= 1.0
    chance_rr10 = sum(1 / rank for rank in range(1, 11)) / report["dataset"]["documents"]
    assert full["metrics"]["RR@10"] > 1.4 * chance_rr10
    # ...and loses that when the CJK rows are reset to the mean.
    assert mean["results"][0]["metrics"]["nDCG@10"] < full["metrics"]["nDCG@10"]
    # Pruning keeps fewer terms; the query side is untouched.
    assert source["results"][1]["doc_terms"] < full["doc_terms"]
    assert source["results"][2]["doc_terms"] <= 8
    assert source["results"][1]["query_terms"] == full["query_terms"]
    assert full["flops"] > source["results"][1]["flops"] > 0
    console = Console(record=True, width=140)
    console.print(results_table(report))
    assert "mean-cjk" in console.export_text()
    sizes = f"{len(zh_set.corpus)} docs / {len(zh_set.queries)} queries"
    print(f"\ne2e evaluate: 3 models x {sizes} in {seconds:.1f} s")


def test_the_corpus_is_encoded_and_searched_in_blocks_with_the_same_results(zh_set, splade_dir, monkeypatch):
    """evaluate never stacks the encoded corpus: small blocks give the report of one block."""
    import sembridge.evaluation.pipeline as pipeline

    options = dict(prune_top_k=[8], top_k=20, batch_size=8, device="cpu", show_progress=False)
    whole = evaluate([splade_dir], zh_set, **options)["models"][0]["results"]
    sizes: list[int] = []
    add = pipeline.StreamingSearch.add
    monkeypatch.setattr(
        pipeline.StreamingSearch, "add", lambda self, docs: (sizes.append(docs.shape[0]), add(self, docs))[1]
    )
    monkeypatch.setattr(pipeline, "DEFAULT_DOC_BLOCK", 16)
    blocks = evaluate([splade_dir], zh_set, **options)["models"][0]["results"]
    # Blocks of at least 16 documents, stacked from encoded chunks of batch x 16 = 128: never the whole.
    assert max(sizes) <= 128 < len(zh_set.corpus) and sum(sizes) == 2 * len(zh_set.corpus)  # two settings
    for got, want in zip(blocks, whole, strict=True):
        assert got["metrics"] == want["metrics"]
        for key in ("query_terms", "doc_terms", "flops"):
            assert got[key] == pytest.approx(want[key], rel=1e-9)
