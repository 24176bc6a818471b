"""sembridge mine: candidates from BM25 and a dense model, a fused teacher, the false-negative
guards, the n-tuple format finetune reads, the cache, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sembridge.cli.app import app
from sembridge.data import load_pairs
from sembridge.errors import SembridgeError
from sembridge.training.mining import MineSettings, mine, paragraph_keys
from tests.helpers import save_tiny_bridge, wordpiece_tokenizer

WORDS = ["red", "green", "blue", "house", "river", "city", "book", "paris", "capital", "france", "##s"]
SHARED = "green river city book paris capital france house red blue green river city"  # >= 40 chars


def rows() -> list[dict[str, str]]:
    texts = [
        ("red house", "red house blue"),
        ("green river", "green river city"),
        ("blue book", "blue book paris"),
        ("capital france", "capital france paris city"),
        ("city book", f"city book red\n\n{SHARED}"),
        ("paris river", f"paris river house\n\n{SHARED}"),  # shares a paragraph with the one above
        ("house city", "house city river book"),
        ("red capital", "red capital green"),
    ]
    return [{"query": q, "positive": p} for q, p in texts]


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("mine")
    data = tmp / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows()), encoding="utf-8")
    tokenizer_dir = tmp / "tokenizer"
    wordpiece_tokenizer(WORDS).save_pretrained(tokenizer_dir)
    dense = save_tiny_bridge(tmp / "dense", WORDS)
    return {"tmp": tmp, "data": data, "tokenizer": tokenizer_dir, "dense": dense}


def run(assets, out: Path, corpus=(), **settings):
    from sembridge.loading import load_bridge, load_tokenizer

    return mine(
        load_pairs(assets["data"]),
        out,
        tokenizer=load_tokenizer(str(assets["tokenizer"])),
        dense_model=load_bridge(str(assets["dense"])),
        settings=MineSettings(**{"negatives": 2, "relative_margin": 0.0, **settings}),
        corpus=corpus,
        cache_dir=assets["tmp"] / "cache",
        show_progress=False,
    )


# Extra documents: every combination of three words, so each query has many candidates.
EXTRA = [f"{a} {b} {c}" for a in WORDS[:6] for b in WORDS[3:9] for c in WORDS[6:10] if len({a, b, c}) == 3]


def test_rows_are_n_tuples_with_teacher_scores_that_finetune_reads(assets, tmp_path):
    out = tmp_path / "mined.jsonl"
    # 8 documents: every other one a candidate, so each query looks at all 7 of them.
    summary = run(assets, out, negatives=6)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    negatives = [f"negative_{k}" for k in range(1, 7)]
    assert summary.pairs == 8 and summary.corpus == 8
    # The two queries whose positives share a paragraph skip that document (every candidate is
    # looked at: 6 are asked for of 7); a query left with fewer than 6 is left out and counted.
    assert summary.dropped_shared_paragraph == 2 and summary.dropped_equal == 8
    assert summary.rows == len(lines) == 8 - summary.queries_short_of_negatives > 0
    for line in lines:
        assert list(line) == ["query", "positive", *negatives, "scores"]
        assert len(line["scores"]) == 7 and all(np.isfinite(line["scores"]))
        assert line["positive"] not in [line[n] for n in negatives]  # guard 1
        assert not any(
            paragraph_keys(line["positive"]) & paragraph_keys(line[n]) for n in negatives
        )  # guard 2
    # finetune --data reads them as they are: numbered negatives and the teacher's scores.
    read = load_pairs(out)
    assert read.column_names == ["query", "positive", *negatives, "scores"]


def test_fill_keeps_a_query_short_within_the_range_with_the_next_survivors_below_it(assets, tmp_path):
    # A range of 3 candidates leaves every query short of 3 negatives (the guards drop some of
    # them, its own positive first), so each is left out, unless --fill looks further down.
    with pytest.raises(SembridgeError, match="no query kept 3 negatives"):
        run(assets, tmp_path / "short.jsonl", negatives=3, range_max=3)
    filled = run(assets, tmp_path / "filled.jsonl", negatives=3, range_max=3, fill=True)
    whole = run(assets, tmp_path / "whole.jsonl", negatives=3, range_max=8)
    assert filled.queries_short_of_negatives == whole.queries_short_of_negatives
    assert filled.rows == whole.rows == 8 - whole.queries_short_of_negatives > 0
    assert filled.queries_filled == filled.rows
    # The next survivors below the range are the ones a deeper range finds, in the same order,
    # under the same guards.
    read = [(tmp_path / n).read_text(encoding="utf-8") for n in ("filled.jsonl", "whole.jsonl")]
    assert read[0] == read[1]


def test_the_margin_drops_candidates_the_teacher_scores_near_the_positive(assets, tmp_path):
    loose = run(assets, tmp_path / "a.jsonl", relative_margin=0.0, negatives=1)
    strict = run(assets, tmp_path / "b.jsonl", relative_margin=0.5, negatives=1)
    assert strict.dropped_margin > loose.dropped_margin
    # Margin 0 still drops what the teacher scores above the positive; 0.5 what is above half of it.
    for name, share in (("a.jsonl", 1.0), ("b.jsonl", 0.5)):
        for line in (tmp_path / name).read_text(encoding="utf-8").splitlines():
            scores = json.loads(line)["scores"]
            assert scores[1] <= share * scores[0] + 1e-6


def test_a_second_run_comes_from_the_cache_and_the_output_is_never_replaced(assets, tmp_path):
    out = tmp_path / "mined.jsonl"
    first = run(assets, out, bm25_weight=0.7)
    out.unlink()
    second = run(assets, out, bm25_weight=0.7)
    assert not first.cached and second.cached and second.rows == first.rows
    with pytest.raises(SembridgeError, match="exists"):
        run(assets, out, bm25_weight=0.7)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"miner": "splade"}, r"--miner must be one of bm25, dense, bm25\+dense, got 'splade'"),
        ({"teacher": "oracle"}, r"--teacher must be one of bm25, dense, bm25\+dense, got 'oracle'"),
        ({"negatives": 0}, "--negatives must be an integer >= 1"),
        ({"range_min": 5, "range_max": 6, "negatives": 2}, "leaves fewer than --negatives 2"),
        ({"relative_margin": 1.0}, "--relative-margin must lie in"),
        ({"bm25_weight": 2.0}, "--bm25-weight must lie in"),
    ],
)
def test_settings_are_refused_by_name(settings, message):
    with pytest.raises(SembridgeError, match=message):
        MineSettings(**settings)


def test_cli_writes_the_file_prints_the_counts_and_refuses_an_existing_output(assets, tmp_path):
    out = tmp_path / "cli.jsonl"
    args = ["mine", "-d", str(assets["data"]), "-t", str(assets["tokenizer"]), "-b", str(assets["dense"]),
            "-o", str(out), "--negatives", "2", "--relative-margin", "0", "--cache-dir", str(tmp_path / "c"),
            "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == len(out.read_text(encoding="utf-8").splitlines())
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "exists" in str(again.exception)
    filled = CliRunner().invoke(app, [*args[:-2], "--range-max", "2", "--fill", "--overwrite", "--json"])
    assert filled.exit_code == 0, filled.output
    assert json.loads(filled.stdout)["queries_filled"] > 0


def test_the_teacher_the_miner_and_the_range_do_what_they_say(assets, tmp_path):
    from sembridge.evaluation.dense import encode_dense
    from sembridge.loading import load_bridge

    dense_model = load_bridge(str(assets["dense"]))
    pairs = load_pairs(assets["data"])
    documents = sorted(set(pairs["positive"]) | set(EXTRA))
    queries = encode_dense(dense_model, pairs["query"], "query", show_progress=False)
    docs = encode_dense(dense_model, documents, "document", show_progress=False)
    cosine = queries @ docs.T

    # --teacher dense: the scores are the cosines; --miner dense: ranks 2.. of the cosine order.
    run(assets, tmp_path / "d.jsonl", EXTRA, teacher="dense", miner="dense", negatives=1, range_min=2)
    for line in (tmp_path / "d.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        i = pairs["query"].index(row["query"])
        j = documents.index(row["negative_1"])
        assert row["scores"][1] == pytest.approx(float(cosine[i, j]), abs=1e-5)
        order = [k for k in np.argsort(-cosine[i], kind="stable")]
        assert order.index(j) >= 2  # the miner's first two ranks are skipped
    # --bm25-weight moves the fused teacher between the two systems.
    low = run(assets, tmp_path / "w0.jsonl", EXTRA, bm25_weight=0.0, negatives=1)
    high = run(assets, tmp_path / "w1.jsonl", EXTRA, bm25_weight=1.0, negatives=1)
    assert low.rows and high.rows
    first = [
        json.loads(x)["scores"] for x in (tmp_path / "w1.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert all(0 <= s <= 1 + 1e-6 for scores in first for s in scores)  # BM25 over its per-query maximum
    assert (tmp_path / "w0.jsonl").read_text() != (tmp_path / "w1.jsonl").read_text()


def test_corpus_scores_give_each_system_by_chunk_as_the_whole_and_the_fusion_of_both(assets):
    from sembridge.loading import load_bridge, load_tokenizer
    from sembridge.training.mining import CorpusScores, fused_rows

    pairs = load_pairs(assets["data"])
    queries, documents = list(pairs["query"]), sorted(set(pairs["positive"]) | set(EXTRA))
    tokenizer, dense = load_tokenizer(str(assets["tokenizer"])), load_bridge(str(assets["dense"]))
    both = CorpusScores(queries, documents, tokenizer=tokenizer, dense_model=dense)
    whole = both.systems(0, len(queries), 0.3)
    assert set(whole) == {"bm25", "dense", "bm25+dense"}
    assert whole["bm25+dense"] == pytest.approx(fused_rows(whole["bm25"], whole["dense"], 0.3))
    assert both.teacher(0, len(queries), 0.3) == pytest.approx(whole["bm25+dense"])
    # Chunks of three queries: the same rows as the whole, every query once.
    chunks = both.chunks(3)
    assert [start for start, _ in chunks] == list(range(0, len(queries), 3)) and chunks[-1][1] == len(queries)
    stacked = np.concatenate([both.systems(a, b, 0.3)["bm25+dense"] for a, b in chunks])
    assert stacked == pytest.approx(whole["bm25+dense"])
    # One system alone is its own teacher; a scorer with neither is refused.
    lexical = CorpusScores(queries, documents, tokenizer=tokenizer)
    assert set(lexical.systems(0, 2, 0.3)) == {"bm25"}
    assert lexical.teacher(0, 2, 0.3) == pytest.approx(whole["bm25"][:2])
    cosine = CorpusScores(queries, documents, dense_model=dense)
    assert cosine.teacher(0, 2, 0.3) == pytest.approx(whole["dense"][:2])
    with pytest.raises(SembridgeError, match="tokenizer for BM25, a dense model"):
        CorpusScores(queries, documents)
