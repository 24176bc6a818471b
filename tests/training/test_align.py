"""``sembridge align``: an --extend model pulled towards its English source on real parallel text
(LibreOffice's Russian UI catalogs, ``make data``), with SPLADE-tiny as the teacher."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from sembridge.errors import SembridgeError, UsageError
from sembridge.training import FinetuneConfig
from sembridge.training.align import (
    AlignOptions,
    SparseAlignLoss,
    align,
    read_parallel,
    shared_columns,
    teacher_vectors,
)


@pytest.fixture(scope="module")
def ru_parallel() -> Path:
    from offline_assets.parallel import parallel_dir

    path = parallel_dir("ru") / "parallel.jsonl"
    if not path.is_file():
        message = f"the Russian parallel text is not built ({path}): run `make data`"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def pairs(ru_parallel) -> list[tuple[str, str]]:
    return read_parallel(ru_parallel)[::150][:96]  # spread over the catalog


@pytest.fixture(scope="module")
def extended_model(tmp_path_factory, splade_tiny, ru_tokenizer) -> Path:
    from sembridge.init.pipeline import InitConfig, initialize

    out = tmp_path_factory.mktemp("align") / "ru-en"
    config = InitConfig(str(splade_tiny), str(ru_tokenizer), method="mean", extend=True, show_progress=False)
    initialize(config, output_dir=out)
    return out


@pytest.fixture(scope="module")
def bridged_model(tmp_path_factory, splade_tiny, ru_tokenizer, e5_bridge) -> Path:
    """The product's own start: SemBridge rows (the e5 bridge) for the appended Russian pieces,
    which Russian text activates (mean rows stay below zero, so their columns are empty)."""
    from sembridge.init.pipeline import InitConfig, initialize

    out = tmp_path_factory.mktemp("align") / "ru-en-sembridge"
    config = InitConfig(
        str(splade_tiny), str(ru_tokenizer), bridge=str(e5_bridge), extend=True, show_progress=False
    )
    initialize(config, output_dir=out)
    return out


def test_the_parallel_text_is_real_and_clean(ru_parallel):
    records = [json.loads(line) for line in ru_parallel.read_text(encoding="utf-8").splitlines()]
    assert len(records) > 10_000
    english = [r["english"] for r in records]
    assert len(set(english)) == len(english)  # each English string once
    assert all(r["english"] != r["target"] and "~" not in r["english"] + r["target"] for r in records)
    cyrillic = sum(any("а" <= ch <= "я" for ch in r["target"].lower()) for r in records)
    assert cyrillic > 0.9 * len(records)


def test_read_parallel_skips_untranslated_and_names_a_missing_field(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [
        {"english": "Open", "target": "Открыть"},
        {"english": "OK", "target": "OK"},
        {"english": "Open", "target": "Открыть"},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    assert read_parallel(path) == [("Open", "Открыть")]
    with pytest.raises(SembridgeError, match="no field 'en'"):
        read_parallel(path, AlignOptions(english_column="en"))
    with pytest.raises(UsageError, match="--align-loss must be one of mse, kl"):
        AlignOptions(kind="l1")
    with pytest.raises(UsageError, match="--keep-weight must be a finite number >= 0, got -1"):
        AlignOptions(keep_weight=-1)
    empty = tmp_path / "no-report"
    empty.mkdir()
    with pytest.raises(SembridgeError, match="default teacher is the source .* holds no sembridge_init.json"):
        align(empty, [("Open", "Открыть")], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_shared_columns_of_an_extended_model_are_the_source_ids(extended_model, splade_tiny, ru_tokenizer):
    from transformers import AutoTokenizer

    teacher = AutoTokenizer.from_pretrained(splade_tiny)
    student_ids, teacher_ids = shared_columns(AutoTokenizer.from_pretrained(extended_model), teacher)
    assert torch.equal(student_ids, teacher_ids) and len(teacher_ids) == 30522
    replaced = AutoTokenizer.from_pretrained(ru_tokenizer)  # a replaced vocabulary shares its overlap only
    student_ids, teacher_ids = shared_columns(replaced, teacher)
    assert 0 < len(student_ids) < 8000
    student_text = replaced.convert_ids_to_tokens(student_ids.tolist())
    assert student_text == teacher.convert_ids_to_tokens(teacher_ids.tolist())


@pytest.mark.e2e
def test_teacher_vectors_are_the_teachers_and_cached(pairs, splade_tiny, tmp_path):
    from sentence_transformers import SparseEncoder

    teacher = SparseEncoder(str(splade_tiny), device="cpu")
    english = [e for e, _ in pairs[:20]]
    vectors = teacher_vectors(teacher, english, name="tiny", cache_dir=tmp_path, show_progress=False)
    expected = teacher.encode(english, convert_to_tensor=True).to_dense()
    rows = torch.arange(len(english))
    assert torch.allclose(vectors.dense(rows, torch.arange(30522)), expected, atol=1e-6)
    (cached,) = (tmp_path / "align").glob("*.pt")
    teacher.encode = None  # read back from the cache: the teacher encodes nothing
    again = teacher_vectors(teacher, english, name="tiny", cache_dir=tmp_path)
    assert torch.equal(again.values, vectors.values) and torch.equal(again.ids, vectors.ids)
    cached.unlink()


@pytest.mark.e2e
def test_the_loss_is_zero_for_the_english_side_of_an_extended_model_at_the_start(
    extended_model, pairs, splade_tiny, tmp_path
):
    from sentence_transformers import SparseEncoder

    teacher = SparseEncoder(str(splade_tiny), device="cpu")
    student = SparseEncoder(str(extended_model), device="cpu")
    english, target = [e for e, _ in pairs[:16]], [t for _, t in pairs[:16]]
    vectors = teacher_vectors(teacher, english, name="tiny", cache_dir=tmp_path, show_progress=False)
    columns = torch.arange(30522)
    loss = SparseAlignLoss(student, vectors, columns, columns, "mse", english_weight=1.0)
    embeddings = [student.encode(texts, convert_to_tensor=True).to_dense() for texts in (target, english)]
    parts = loss.compute_loss_from_embeddings(embeddings, torch.arange(16))
    assert float(parts["english_loss"]) < 1e-8  # --extend keeps English bit for bit
    assert float(parts["target_loss"]) > 1.0
    kl = SparseAlignLoss(student, vectors, columns, columns, "kl").compute_loss_from_embeddings(
        embeddings, torch.arange(16)
    )
    assert float(kl["english_loss"]) < 1e-4 < float(kl["target_loss"])


@pytest.mark.e2e
def test_the_keep_term_is_zero_at_the_start_and_grows_as_the_own_columns_move(
    bridged_model, pairs, splade_tiny, tmp_path
):
    """keep_weight: the translation's own columns against the model's vectors before alignment,
    which at the start are the model's vectors: the term is 0 there and grows when they move."""
    from sentence_transformers import SparseEncoder

    teacher = SparseEncoder(str(splade_tiny), device="cpu")
    student = SparseEncoder(str(bridged_model), device="cpu")
    english, target = [e for e, _ in pairs[:16]], [t for _, t in pairs[:16]]
    vectors = teacher_vectors(teacher, english, name="tiny", cache_dir=tmp_path, show_progress=False)
    columns = torch.arange(30522)
    embeddings = [student.encode(texts, convert_to_tensor=True).to_dense() for texts in (target, english)]
    start = teacher_vectors(
        student, target, name="start", cache_dir=tmp_path / "c", show_progress=False, cache=False
    )
    assert not (tmp_path / "c").exists()  # cache=False writes nothing
    own = torch.arange(30522, embeddings[0].shape[1])
    keep = SparseAlignLoss(
        student, vectors, columns, columns, "mse", start=start, keep_columns=own, keep_weight=2.0
    )
    parts = keep.compute_loss_from_embeddings(embeddings, torch.arange(16))
    assert float(parts["keep_loss"]) < 1e-8 and float(parts["target_loss"]) > 1.0
    assert float((embeddings[0][:, own] > 0).sum(1).float().mean()) > 2  # Russian activates its pieces
    moved = [embeddings[0] * 0.5, embeddings[1]]
    halved = keep.compute_loss_from_embeddings(moved, torch.arange(16))["keep_loss"]
    expected = 2.0 * (0.5 * embeddings[0][:, own]).pow(2).sum(1).mean()
    assert float(halved) > 0 and torch.allclose(halved, expected, rtol=1e-4)
    with pytest.raises(SembridgeError, match="keep_weight needs"):
        SparseAlignLoss(student, vectors, columns, columns, keep_weight=1.0)


def _distance(model: Path, teacher: Path, pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """Mean squared distance of the model's target and English vectors to the teacher's English ones."""
    from sentence_transformers import SparseEncoder

    reference = SparseEncoder(str(teacher), device="cpu").encode(
        [e for e, _ in pairs], convert_to_tensor=True
    )
    student = SparseEncoder(str(model), device="cpu")
    size = reference.shape[1]
    result = []
    for texts in ([t for _, t in pairs], [e for e, _ in pairs]):
        vectors = student.encode(texts, convert_to_tensor=True).to_dense()[:, :size]
        result.append(float((vectors - reference.to_dense()).pow(2).sum(1).mean()))
    return result[0], result[1]


@pytest.mark.e2e
def test_align_pulls_translations_to_the_teacher_and_keeps_english(
    extended_model, pairs, splade_tiny, tmp_path
):
    config = FinetuneConfig(
        max_steps=12, batch_size=16, learning_rate=5e-4, query_reg=0.01, doc_reg=0.01, show_progress=False
    )
    out = tmp_path / "aligned"
    result = align(extended_model, pairs, out, config)  # the teacher: the init report's source
    assert result.written and result.global_step == 12
    report = json.loads((out / "sembridge_finetune.json").read_text(encoding="utf-8"))
    assert report["loss"] == "SpladeLoss(SparseAlignLoss)"
    target_before, english_before = _distance(extended_model, splade_tiny, pairs)
    target_after, english_after = _distance(out, splade_tiny, pairs)
    assert target_after < 0.8 * target_before  # the translations moved towards the English vectors
    assert english_before < 1e-8 and english_after < 0.2 * target_after  # English stays near the teacher
    with pytest.raises(UsageError, match="--loss is finetune's"):
        align(extended_model, pairs, tmp_path / "other", FinetuneConfig(loss="kl"))


def _own_columns_distance(model: Path, start: Path, texts: list[str]) -> float:
    """Mean squared distance of ``model``'s vectors of ``texts`` to ``start``'s, on the appended columns."""
    from sentence_transformers import SparseEncoder

    before, after = (
        SparseEncoder(str(m), device="cpu").encode(texts, convert_to_tensor=True).to_dense()[:, 30522:]
        for m in (start, model)
    )
    return float((after - before).pow(2).sum(1).mean())


@pytest.mark.e2e
def test_align_keep_weight_keeps_the_translations_own_pieces(bridged_model, pairs, splade_tiny, tmp_path):
    """--keep-weight: the translations' vectors on the target-language columns stay nearer the
    model's own before alignment, and they still move towards the teacher's English vectors."""
    config = FinetuneConfig(max_steps=12, batch_size=16, learning_rate=5e-4, query_reg=0.01, doc_reg=0.01,
                            show_progress=False)  # fmt: skip
    plain = align(bridged_model, pairs, tmp_path / "plain", config)
    kept = align(bridged_model, pairs, tmp_path / "kept", config, AlignOptions(keep_weight=4.0))
    assert plain.global_step == kept.global_step == 12
    targets = [t for _, t in pairs]
    free = _own_columns_distance(tmp_path / "plain", bridged_model, targets)
    held = _own_columns_distance(tmp_path / "kept", bridged_model, targets)
    assert 0 < held < 0.5 * free
    target_before, _ = _distance(bridged_model, splade_tiny, pairs)
    target_after, _ = _distance(tmp_path / "kept", splade_tiny, pairs)
    assert target_after < 0.9 * target_before


@pytest.mark.e2e
def test_align_with_pairs_trains_the_alignment_and_infonce_together(extended_model, pairs, tmp_path):
    """``pairs``: batches of monolingual pairs (InfoNCE + FLOPs) beside the parallel batches, in
    proportion to the two sets' sizes; one epoch is both sets' batches."""
    from datasets import Dataset

    from offline_assets.corpora import quality_dir
    from sembridge.data import load_pairs

    train = quality_dir("ru") / "train.jsonl"
    if not train.is_file():
        message = f"the Russian training pairs are not built ({train}): run `make data`"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    monolingual = load_pairs(train).select(range(40))
    config = FinetuneConfig(epochs=1, batch_size=16, learning_rate=5e-4, query_reg=0.01, doc_reg=0.01,
                            show_progress=False)  # fmt: skip
    out = tmp_path / "aligned-mixed"
    result = align(extended_model, pairs, out, config, pairs=monolingual)
    # 96 parallel pairs and 40 monolingual ones in batches of 16: 6 + 3 batches (the last one short).
    assert result.written and result.global_step == 6 + 3
    report = json.loads((out / "sembridge_finetune.json").read_text(encoding="utf-8"))
    assert report["loss"] == (
        "align: SpladeLoss(SparseAlignLoss), pairs: SpladeLoss(SparseMultipleNegativesRankingLoss)"
    )
    assert report["data"]["train_pairs"] == 96 + 40
    assert report["data"]["columns"] == {
        "align": ["query", "positive", "label"],
        "pairs": ["query", "positive"],
    }
    alone = align(extended_model, pairs, tmp_path / "aligned-alone", config)
    assert alone.global_step == 6
    # Named sets (one a language): each batch holds one set's pairs. Two sets of 20 are 2 + 2
    # batches of 16 (each last one short), where the same 40 pairs as one set are 3.
    halves = {"first": monolingual.select(range(20)), "second": monolingual.select(range(20, 40))}
    named = align(extended_model, pairs, tmp_path / "aligned-named", config, pairs=halves)
    assert named.global_step == 6 + 2 + 2
    report = json.loads((tmp_path / "aligned-named" / "sembridge_finetune.json").read_text(encoding="utf-8"))
    assert set(report["data"]["columns"]) == {"align", "pairs-first", "pairs-second"}
    assert report["loss"].count("SparseMultipleNegativesRankingLoss") == 2
    with pytest.raises(UsageError, match="empty"):
        align(extended_model, pairs, tmp_path / "bad", config, pairs={})
    with pytest.raises(SembridgeError, match="no training pairs|no query|columns"):
        align(extended_model, pairs, tmp_path / "bad", config, pairs=Dataset.from_dict({"text": ["a"]}))
    assert not (tmp_path / "bad").exists()


@pytest.mark.e2e
def test_cli_align(extended_model, ru_parallel, pairs, tmp_path, capsys):
    from sembridge.cli.app import main

    data = tmp_path / "parallel.jsonl"
    data.write_text(
        "".join(json.dumps({"en": e, "ru": t}, ensure_ascii=False) + "\n" for e, t in pairs[:32]),
        encoding="utf-8",
    )
    out = tmp_path / "cli-aligned"
    argv = ["align", "-m", str(extended_model), "-p", str(data), "-o", str(out), "--max-steps", "2",
            "--batch-size", "16", "--english-column", "en", "--target-column", "ru", "--quiet"]  # fmt: skip
    try:
        main(argv)
    except SystemExit as exit_info:
        assert exit_info.code in (0, None), capsys.readouterr().err
    assert (out / "sembridge_finetune.json").is_file()
    with pytest.raises(SystemExit) as again:  # an existing output is refused
        main(argv)
    assert again.value.code == 1 and "--overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit) as missing:  # the default fields are not in this file
        main(["align", "-m", str(extended_model), "-p", str(data), "-o", str(tmp_path / "x"), "--quiet"])
    assert missing.value.code == 1 and "no field 'english'" in capsys.readouterr().err
    mono = tmp_path / "pairs.jsonl"  # --pairs: monolingual pairs trained beside the alignment
    mono.write_text("".join(json.dumps({"query": t, "positive": f"{t}. {e}"}, ensure_ascii=False) + "\n"
                            for e, t in pairs[32:64]), encoding="utf-8")  # fmt: skip
    mixed = tmp_path / "cli-mixed"
    try:
        main([*argv, "-o", str(mixed), "--pairs", str(mono), "--keep-weight", "1", "--logging-steps", "1"])
    except SystemExit as exit_info:
        assert exit_info.code in (0, None), capsys.readouterr().err
    report = json.loads((mixed / "sembridge_finetune.json").read_text(encoding="utf-8"))
    assert report["loss"].startswith("align: ") and report["data"]["train_pairs"] == 32 + 32
    card = (mixed / "README.md").read_text(encoding="utf-8")  # sentence-transformers' card names the loss
    assert "keep_weight=1.0" in card  # --keep-weight reached the loss
    second = tmp_path / "more-pairs.jsonl"  # --pairs twice: one set each, batches apart
    second.write_text(mono.read_text(encoding="utf-8"), encoding="utf-8")
    try:
        main([*argv, "-o", str(tmp_path / "cli-two"), "--pairs", str(mono), "--pairs", str(second)])
    except SystemExit as exit_info:
        assert exit_info.code in (0, None), capsys.readouterr().err
    report = json.loads((tmp_path / "cli-two" / "sembridge_finetune.json").read_text(encoding="utf-8"))
    assert set(report["data"]["columns"]) == {"align", "pairs-pairs", "pairs-more-pairs"}
    with pytest.raises(SystemExit) as negative:
        main([*argv[:7], "--keep-weight", "-1", "-o", str(tmp_path / "z")])
    assert negative.value.code == 2 and not (tmp_path / "z").exists()
    with pytest.raises(SystemExit) as usage:
        main([*argv[:7], "--align-loss", "l1", "-o", str(tmp_path / "y")])
    assert usage.value.code == 2 and not (tmp_path / "y").exists()


def test_pair_sets_names_each_pairs_file():
    from sembridge.cli.align import pair_sets

    assert pair_sets([]) is None
    assert pair_sets(["a/ru.jsonl"]) == "a/ru.jsonl"  # one file: the one set, as before
    assert pair_sets(["a/ru.jsonl", "b/zh.jsonl"]) == {"ru": "a/ru.jsonl", "zh": "b/zh.jsonl"}
    two = pair_sets(["a/train.jsonl", "b/train.jsonl"])  # the same file name twice: by place
    assert two == {"train-1": "a/train.jsonl", "train-2": "b/train.jsonl"}
