"""sembridge mine --parallel: margin scoring between English and target texts (CRISS's mining step),
on hand-made neighbour lists, on the real Russian UI catalogs with the real e5 bridge, with a
sparse scorer (the real SPLADE-tiny), and on the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sembridge.cli.app import main
from sembridge.errors import SembridgeError, UsageError
from sembridge.evaluation.retrieval import SearchResult
from sembridge.training.align import read_parallel
from sembridge.training.parallel_mining import ParallelMineSettings, margin_pairs, mine_parallel


def neighbours(rows: list[list[tuple[int, float]]]) -> SearchResult:
    return SearchResult(
        indices=np.array([[i for i, _ in row] for row in rows], dtype=np.int64),
        scores=np.array([[s for _, s in row] for row in rows], dtype=np.float32),
    )


def test_the_margin_picks_each_texts_partner_over_a_hub_and_takes_each_text_once():
    # Cosines (English rows, target columns): target 0 is a hub, close to every English text.
    #   E0: 0.90 0.80 | E1: 0.84 0.30 | E2: 0.88 0.30 ; two neighbours a text.
    forward = neighbours([[(0, 0.90), (1, 0.80)], [(0, 0.84), (1, 0.30)], [(0, 0.88), (1, 0.30)]])
    backward = neighbours([[(0, 0.90), (2, 0.88)], [(0, 0.80), (1, 0.30)]])
    density_e, density_t = [0.85, 0.57, 0.59], [0.89, 0.55]
    cosine = {(0, 0): 0.90, (0, 1): 0.80, (1, 0): 0.84, (2, 0): 0.88, (2, 1): 0.30}
    margin = {(e, t): c / ((density_e[e] + density_t[t]) / 2) for (e, t), c in cosine.items()}
    kept, counts = margin_pairs(forward, backward, min_margin=0.0)
    # E0's nearest by cosine is the hub, but by margin target 1: the candidates are each text's
    # best by margin, (0, 1), (1, 0) and (2, 0); the greedy step gives target 0 to E2 (the best
    # margin), so E1 is left without a pair.
    assert margin[(0, 1)] > margin[(0, 0)] and margin[(2, 0)] > margin[(1, 0)] > margin[(0, 1)]
    assert counts == {"candidates": 3, "dropped_identical": 0, "below_margin": 0}
    assert [(e, t) for e, t, _ in kept] == [(2, 0), (0, 1)]
    assert [m for _, _, m in kept] == pytest.approx([margin[(2, 0)], margin[(0, 1)]], rel=1e-6)
    strict, counts = margin_pairs(forward, backward, min_margin=margin[(0, 1)] + 1e-4)
    assert [(e, t) for e, t, _ in strict] == [(2, 0)] and counts["below_margin"] == 1
    # The same string on both sides is no pair: E2's next best and target 0's next best come in.
    same, counts = margin_pairs(forward, backward, 0.0, ["a", "b", "x"], ["x", "c"])
    assert counts == {"candidates": 4, "dropped_identical": 1, "below_margin": 0}
    assert [(e, t) for e, t, _ in same] == [(1, 0), (0, 1)]


def test_a_pad_of_the_sparse_search_counts_as_a_cosine_of_zero():
    # E0 shares terms with target 0 only: its density is (0.5 + 0) / 2, not 0.5.
    forward = neighbours([[(0, 0.5), (-1, 0.0)], [(1, 0.6), (0, 0.2)]])
    backward = neighbours([[(0, 0.5), (1, 0.2)], [(1, 0.6), (-1, 0.0)]])
    kept, _ = margin_pairs(forward, backward, min_margin=0.0)
    found = {(e, t): m for e, t, m in kept}
    assert found == pytest.approx({(0, 0): 0.5 / ((0.25 + 0.35) / 2), (1, 1): 0.6 / ((0.4 + 0.3) / 2)})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"neighbours": 0}, "--neighbours must be a positive integer, got 0"),
        ({"min_margin": 0}, "--min-margin must be a positive number, got 0"),
        ({"batch_size": 0}, "--batch-size must be a positive integer"),
    ],
)
def test_settings_are_refused_by_flag(settings, message):
    with pytest.raises(UsageError, match=message):
        ParallelMineSettings(**settings)


@pytest.fixture(scope="module")
def catalog() -> list[tuple[str, str]]:
    from offline_assets.parallel import parallel_dir

    path = parallel_dir("ru") / "parallel.jsonl"
    if not path.is_file():
        pytest.skip(f"the Russian parallel text is not built ({path}): run `make data`")
    pairs = [pair for pair in read_parallel(path) if len(pair[0]) >= 20]
    return pairs[::97][:120]  # spread over the catalog


@pytest.mark.e2e
def test_the_bridge_finds_the_translations_among_texts_that_only_partly_overlap(catalog, e5_bridge, tmp_path):
    from sembridge.loading import load_bridge

    bridge = load_bridge(str(e5_bridge))
    # English strings 0-99 and Russian strings 20-119: 80 have their translation on the other side.
    english = [e for e, _ in catalog[:100]]
    target = [t for _, t in catalog[20:]]
    truth = {(e, t) for e, t in catalog[20:100]}
    out = tmp_path / "pseudo.jsonl"
    summary = mine_parallel(english, target, out, dense_model=bridge, show_progress=False)
    found = read_parallel(out)  # what align --parallel reads
    assert len(found) == summary.rows > 0
    precision = sum(pair in truth for pair in found) / len(found)
    recall = sum(pair in truth for pair in found) / len(truth)
    assert precision >= 0.9 and recall >= 0.5, (precision, recall)
    scores = [json.loads(line)["score"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert scores == sorted(scores, reverse=True) and min(scores) >= ParallelMineSettings().min_margin
    assert summary.candidates >= summary.rows + summary.below_margin
    # Without the margin, every text's best candidate is a pair.
    loose = mine_parallel(
        english,
        target,
        tmp_path / "loose.jsonl",
        dense_model=bridge,
        settings=ParallelMineSettings(min_margin=0.01),
        show_progress=False,
    )
    assert loose.rows > summary.rows and loose.below_margin == 0 < summary.below_margin


@pytest.mark.e2e
def test_a_sparse_model_scores_with_its_own_vectors(splade_tiny, catalog, tmp_path):
    from sembridge.encoding.encode import load_encoder

    # English against English reworded (lower case, no final punctuation): SPLADE-tiny's own terms.
    english = [e for e, _ in catalog[:40]]
    variants = [e.lower().rstrip(".:!?") + " option" for e in english[10:]]
    summary = mine_parallel(
        english, variants, tmp_path / "sparse.jsonl", sparse_model=load_encoder(str(splade_tiny), "cpu"),
        settings=ParallelMineSettings(min_margin=1.0), show_progress=False,
    )  # fmt: skip
    found = read_parallel(tmp_path / "sparse.jsonl")
    right = sum(variants.index(t) + 10 == english.index(e) for e, t in found)
    assert summary.rows == len(found) >= 20 and right >= 0.9 * len(found), (right, len(found))
    with pytest.raises(UsageError, match="give one scorer"):
        mine_parallel(english, variants, tmp_path / "none.jsonl")


@pytest.mark.e2e
def test_cli_mines_refuses_what_does_not_fit_and_keeps_an_existing_output(
    catalog, e5_bridge, tmp_path, capsys
):
    english, target = tmp_path / "en.txt", tmp_path / "ru.txt"
    english.write_text("\n".join(e for e, _ in catalog[:60]) + "\n", encoding="utf-8")
    target.write_text("\n".join(t for _, t in catalog[10:70]) + "\n", encoding="utf-8")
    out = tmp_path / "pseudo.jsonl"
    args = ["mine", "--parallel", "-e", str(english), "-d", str(target), "-b", str(e5_bridge), "-o", str(out),
            "--device", "cpu"]  # fmt: skip
    main([*args, "--json"])  # returns on success
    summary = json.loads(capsys.readouterr().out)
    assert summary["english"] == 60 and summary["target"] == 60 and summary["scorer"] == str(e5_bridge)
    assert summary["rows"] == len(read_parallel(out))

    def fails(argv: list[str]) -> tuple[int, str]:
        with pytest.raises(SystemExit) as done:
            main(argv)
        return done.value.code, capsys.readouterr().err

    before = out.read_bytes()
    code, err = fails(args)
    assert code == 1 and "exists" in err and out.read_bytes() == before
    assert fails([*args[:2], *args[4:], "--overwrite"]) == (
        2,
        "Error: --parallel needs --english: the English texts to pair with --data\n",
    )
    code, err = fails(["mine", "-e", str(english), "-d", str(target), "-o", str(tmp_path / "x.jsonl")])
    assert code == 2 and "--english and --model are for --parallel" in err
    code, err = fails(["mine", "-d", str(target), "-o", str(tmp_path / "x.jsonl")])
    assert code == 2 and "--tokenizer is required" in err
    code, err = fails([*args[:-4], "-o", str(english), "--overwrite"])  # the output is an input
    assert code == 1 and f"is the english '{english}'" in err
    assert english.read_text(encoding="utf-8").count("\n") == 60
    # What only mining negatives reads is refused, not ignored; so is --dense beside --model.
    code, err = fails([*args, "--overwrite", "-t", "rubert", "--negatives", "3"])
    assert (code, err.splitlines()[0]) == (
        2,
        "Error: --parallel does not read --tokenizer, --negatives: they are for hard negatives",
    )
    code, err = fails([*args, "--overwrite", "-m", str(tmp_path / "aligned")])
    assert code == 2 and "--parallel does not read --dense: --model scores instead" in err
    with pytest.raises(SembridgeError, match="hold no text"):
        from sembridge.training.parallel_mining import read_texts

        (tmp_path / "empty.txt").write_text("\n \n", encoding="utf-8")
        read_texts(tmp_path / "empty.txt")
    assert not (tmp_path / "x.jsonl").exists()
