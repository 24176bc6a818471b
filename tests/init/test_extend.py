"""``--extend``: SPLADE-tiny's vocabulary plus the Russian WordPiece-8k's new tokens, on the real assets."""

from __future__ import annotations

import json

import pytest
import torch

from sembridge.errors import SembridgeError
from sembridge.init.extend import check_mergeable, merge_tokenizers
from sembridge.init.pipeline import REPORT_FILE, InitConfig, initialize
from tests.helpers import bytelevel_tokenizer, sentencepiece_tokenizer, wordpiece_tokenizer

ENGLISH = [
    "the quick brown fox jumps over the lazy dog",
    "What is the capital of France? Paris, of course.",
    "iPhone 15 Pro review: battery life and camera (2023)",
    "Café résumé naïve coöperate",
]


@pytest.fixture(scope="module")
def extended(tmp_path_factory, splade_tiny, ru_tokenizer, e5_bridge, offline_cache):
    out = tmp_path_factory.mktemp("extend") / "ru-en-splade"
    config = InitConfig(
        source=str(splade_tiny),
        target_tokenizer=str(ru_tokenizer),
        bridge=str(e5_bridge),
        extend=True,
        device="cpu",
        cache_dir=str(offline_cache),
        show_progress=False,
    )
    return out, initialize(config, output_dir=out)


def test_english_gets_the_source_ids_and_the_source_vector(extended, splade_tiny):
    from sentence_transformers import SparseEncoder

    out, result = extended
    source = SparseEncoder(str(splade_tiny), device="cpu")
    model = SparseEncoder(str(out), device="cpu")
    assert model.tokenizer(ENGLISH)["input_ids"] == source.tokenizer(ENGLISH)["input_ids"]
    before = source.encode(ENGLISH, convert_to_tensor=True).to_dense()
    size = before.shape[1]
    assert size == len(source.tokenizer.get_vocab()) == 30522
    after = model.encode(ENGLISH, convert_to_tensor=True).to_dense()
    assert after.shape == (len(ENGLISH), result.model.config.vocab_size)
    assert torch.equal(after[:, :size], before)  # the source's terms: bit-identical
    # The appended terms' logits are convex combinations of source logits, so each appended
    # term's value is at most the largest value of its support on the source terms.
    weights = result.new_rows.weights
    row_of = {target_id: row for row, target_id in enumerate(result.overlap.new_ids)}
    extension = result.report["tokens"]
    for column in (after[:, size:] > 0).nonzero()[:, 1].unique().tolist():
        target_id = extension[str(size + column)]["target_id"]
        ids, _ = weights.row(row_of[target_id])
        assert (after[:, size + column] <= before[:, ids].amax(1) + 1e-5).all()


def test_source_rows_are_bit_identical_and_new_rows_are_replace_modes(extended, splade_tiny):
    from transformers import AutoModelForMaskedLM

    out, result = extended
    source = AutoModelForMaskedLM.from_pretrained(splade_tiny)
    model = AutoModelForMaskedLM.from_pretrained(out)
    size = source.config.vocab_size
    emb, src_emb = model.get_input_embeddings().weight, source.get_input_embeddings().weight
    bias, src_bias = model.get_output_embeddings().bias, source.get_output_embeddings().bias
    assert torch.equal(emb[:size], src_emb) and torch.equal(bias[:size], src_bias)
    assert model.get_output_embeddings().weight.data_ptr() == emb.data_ptr()  # still tied

    copied = {m.target_id: m.source_id for m in result.overlap.matches}
    row_of = {target_id: row for row, target_id in enumerate(result.overlap.new_ids)}
    records = result.report["tokens"]
    kinds = set()
    for extended_id, record in records.items():
        target_id = record["target_id"]
        if target_id in copied:  # copied in replace mode: the matched source row
            kinds.add("copied")
            assert torch.equal(emb[int(extended_id)], src_emb[copied[target_id]])
        else:  # built by the method in replace mode
            kinds.add("new")
            row = result.new_rows.embeddings[row_of[target_id]]
            assert torch.equal(emb[int(extended_id)], row.to(emb.dtype))
            assert torch.equal(bias[int(extended_id)], result.new_rows.bias[row_of[target_id]])
    assert kinds == {"new"} or kinds == {"copied", "new"}
    assert len(records) == result.report["summary"]["extend"]["added"] > 5000


def test_union_tokenizer_reads_russian_with_the_added_pieces(extended, ru_tokenizer):
    out, result = extended
    tokenizer = result.tokenizer
    size = result.report["summary"]["extend"]["source_vocab_size"]
    ids = tokenizer("погода в москве сегодня", add_special_tokens=False)["input_ids"]
    assert any(i >= size for i in ids)
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert "".join(p.removeprefix("##") for p in pieces) == "погодавмосквесегодня"
    report = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    assert report["summary"]["vocabulary"] == "extend"
    assert report["settings"]["extend"] is True
    assert report["summary"]["extend"]["extended_vocab_size"] == len(tokenizer.get_vocab())


def test_ascii_only_target_pieces_are_left_out(splade_tiny):
    from transformers import AutoTokenizer

    source = AutoTokenizer.from_pretrained(splade_tiny)
    # "googlex" would win WordPiece's longest match inside "googlexample"; "##блок" cannot.
    target = wordpiece_tokenizer(["googlex", "##xq", "блок", "##блок", "Блок", "the"])
    extended = merge_tokenizers(source, target)
    assert extended.pieces == ["блок", "##блок"]
    assert extended.dropped["ascii only"] == 2
    assert extended.dropped["duplicate"] == 1  # "Блок" is "блок" after the uncased normaliser
    assert extended.dropped["in source vocabulary"] == 1
    text = ["googlexample thexq", "блокнот"]
    for line in text[:1]:
        assert extended.tokenizer(line)["input_ids"] == source(line)["input_ids"]
    assert "блок" in extended.tokenizer.tokenize(text[1])


def test_sentencepiece_and_byte_level_targets_are_refused(splade_tiny):
    from transformers import AutoTokenizer

    source = AutoTokenizer.from_pretrained(splade_tiny)
    with pytest.raises(SembridgeError, match="cannot extend a WordPiece vocabulary with SentencePiece"):
        check_mergeable(source, sentencepiece_tokenizer(["▁блок", "а"]))
    with pytest.raises(SembridgeError, match="with byte-level BPE pieces faithfully") as info:
        check_mergeable(source, bytelevel_tokenizer(["a", "b", "ab"]))
    assert "leave out --extend" in info.value.hint


def test_refused_before_any_heavy_work(tmp_path, splade_tiny):
    sentencepiece_tokenizer(["▁блок"]).save_pretrained(tmp_path / "sp")
    config = InitConfig(str(splade_tiny), str(tmp_path / "sp"), method="mean", extend=True)
    with pytest.raises(SembridgeError, match="cannot extend"):
        initialize(config, output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_extend(tmp_path, splade_tiny, ru_tokenizer, capsys):
    from transformers import AutoTokenizer

    from sembridge.cli.app import main

    out = tmp_path / "cli-extend"
    argv = ["init", "-s", str(splade_tiny), "-t", str(ru_tokenizer), "--method", "mean", "--extend"]
    try:
        main([*argv, "-o", str(out), "--quiet"])
    except SystemExit as exit_info:  # success returns, or exits with 0
        assert exit_info.code in (0, None), capsys.readouterr().err
    tokenizer = AutoTokenizer.from_pretrained(out)
    source = AutoTokenizer.from_pretrained(splade_tiny)
    vocab = tokenizer.get_vocab()
    assert all(vocab[token] == i for token, i in source.get_vocab().items())
    assert len(vocab) > len(source.get_vocab())


# Several target tokenizers in one model (--extend -t ru -t ar).

MIXED = ["погода в москве сегодня", "الطقس في القاهرة اليوم"]


def test_merge_appends_each_piece_once_and_names_its_target(splade_tiny):
    from transformers import AutoTokenizer

    source = AutoTokenizer.from_pretrained(splade_tiny)
    first = wordpiece_tokenizer(["блок", "##нот", "дом"])
    second = wordpiece_tokenizer(["хата", "дом", "##нот", "Хата", "##qzx"])  # "Хата": "хата" uncased
    extended = merge_tokenizers(source, [first, second], names=["ru", "uk"])
    assert extended.pieces == ["блок", "##нот", "дом", "хата"]
    assert extended.origins == [0, 0, 0, 1]
    assert [extended.target_of(k) for k in range(4)] == ["ru", "ru", "ru", "uk"]
    assert extended.shared == {1: [1], 2: [1]}  # "##нот" and "дом": one id each, the first target's
    assert extended.target_ids == [5, 6, 7, 5]
    summary = extended.summary()["targets"]
    assert [t["added"] for t in summary] == [3, 1]
    assert summary[1]["shared_with_earlier"] == 2 and summary[1]["dropped"]["duplicate"] == 1
    assert summary[1]["dropped"]["ascii only"] == 1
    vocab = extended.tokenizer.get_vocab()
    assert all(vocab[token] == i for token, i in source.get_vocab().items())
    assert [vocab[p] for p in extended.pieces] == list(range(30522, 30526))
    for line in ENGLISH:
        assert extended.tokenizer(line)["input_ids"] == source(line)["input_ids"]


def test_extend_vector_takes_each_row_from_its_target():
    from sembridge.init.extend import ExtendedVocab, extend_vector

    extended = ExtendedVocab(None, 2, target_ids=[1, 0, 2], pieces=["a", "b", "c"], origins=[0, 1, 0])
    source = torch.tensor([[0.0], [1.0]])
    first, second = torch.tensor([[10.0], [11.0], [12.0]]), torch.tensor([[20.0], [21.0]])
    out = extend_vector(source, [first, second], extended)
    assert out.flatten().tolist() == [0.0, 1.0, 11.0, 20.0, 12.0]
    with pytest.raises(ValueError, match="draws on 2 targets, got 1"):
        extend_vector(source, [first], extended)


@pytest.fixture(scope="module")
def multi(tmp_path_factory, splade_tiny, ru_tokenizer, e5_bridge, offline_cache):
    from offline_assets import wordpiece_tokenizer_path

    ar_tokenizer = wordpiece_tokenizer_path("ar", vocab_size=8000, cache_dir=offline_cache)
    out = tmp_path_factory.mktemp("extend-multi") / "ru-ar-en-splade"
    config = InitConfig(
        source=str(splade_tiny),
        target_tokenizer=[str(ru_tokenizer), str(ar_tokenizer)],
        bridge=str(e5_bridge),
        extend=True,
        device="cpu",
        cache_dir=str(offline_cache),
        show_progress=False,
    )
    return out, initialize(config, output_dir=out)


@pytest.mark.e2e
def test_several_targets_keep_english_and_take_sembridge_rows_of_their_own_target(multi, splade_tiny):
    from sentence_transformers import SparseEncoder
    from transformers import AutoModelForMaskedLM

    out, result = multi
    assert [t.name for t in result.targets] == result.report["settings"]["target_tokenizer"]
    source = SparseEncoder(str(splade_tiny), device="cpu")
    model = SparseEncoder(str(out), device="cpu")
    assert model.tokenizer(ENGLISH)["input_ids"] == source.tokenizer(ENGLISH)["input_ids"]
    size = 30522
    before = source.encode(ENGLISH, convert_to_tensor=True).to_dense()
    after = model.encode(ENGLISH, convert_to_tensor=True).to_dense()
    assert torch.equal(after[:, :size], before)

    emb = AutoModelForMaskedLM.from_pretrained(out).get_input_embeddings().weight
    records = result.report["tokens"]
    names = [t.name for t in result.targets]
    by_target = {name: 0 for name in names}
    for extended_id, record in records.items():
        target = result.targets[names.index(record["target"])]
        by_target[record["target"]] += 1
        rows = {target_id: row for row, target_id in enumerate(target.overlap.new_ids)}
        if record["kind"] == "new":  # SemBridge's row for that target, as replace mode builds it
            assert torch.equal(emb[int(extended_id)], target.new_rows.embeddings[rows[record["target_id"]]])
            assert record["sources"] and record["support"] >= 1
    assert all(count > 5000 for count in by_target.values())  # both languages brought their pieces
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "(2 languages, in one extended vocabulary)" in card and "wordpiece-ar-8000" in card
    assert result.report["summary"]["new"] == sum(t.overlap.num_new for t in result.targets)
    ids = [model.tokenizer(line, add_special_tokens=False)["input_ids"] for line in MIXED]
    for line_ids, name in zip(ids, names, strict=True):  # Russian text reads Russian pieces, and so on
        brought = {records[str(i)]["target"] for i in line_ids if i >= size}
        assert brought == {name}


@pytest.mark.e2e
def test_inspect_token_says_which_target_brought_a_piece(multi, capsys):
    from sembridge.cli.app import main

    out, result = multi
    try:
        main(["inspect-token", "--model", str(out), "القاهرة"])
    except SystemExit as exit_info:
        assert exit_info.code in (0, None), capsys.readouterr().err
    printed = capsys.readouterr().out
    assert f"brought by {result.targets[1].name}" in printed.replace("\n", "")
    assert result.targets[0].name not in printed.replace("\n", "")


def test_several_targets_need_extend_and_a_numeric_alpha(splade_tiny, ru_tokenizer, tmp_path):
    from sembridge.errors import UsageError

    targets = [str(ru_tokenizer), str(tmp_path)]
    with pytest.raises(UsageError, match="need --extend"):
        InitConfig(str(splade_tiny), targets)
    dev = tmp_path / "dev.jsonl"
    dev.write_text('{"query": "q", "positive": "p"}\n', encoding="utf-8")
    with pytest.raises(UsageError, match="--alpha auto chooses on one language"):
        InitConfig(str(splade_tiny), targets, extend=True, alpha="auto", dev_data=str(dev))
    with pytest.raises(UsageError, match="given twice"):
        InitConfig(str(splade_tiny), [str(ru_tokenizer)] * 2, extend=True)
    assert InitConfig(str(splade_tiny), [str(ru_tokenizer)]).target_tokenizer == str(ru_tokenizer)


@pytest.mark.e2e
def test_cli_takes_target_tokenizer_once_per_language(tmp_path, splade_tiny, ru_tokenizer, offline_cache):
    from transformers import AutoTokenizer

    from offline_assets import wordpiece_tokenizer_path
    from sembridge.cli.app import main

    ar_tokenizer = wordpiece_tokenizer_path("ar", vocab_size=8000, cache_dir=offline_cache)
    out = tmp_path / "cli-multi"
    argv = ["init", "-s", str(splade_tiny), "-t", str(ru_tokenizer), "-t", str(ar_tokenizer)]
    with pytest.raises(SystemExit) as refused:  # several targets without --extend: a usage error
        main([*argv, "--method", "mean", "-o", str(out), "--quiet"])
    assert refused.value.code == 2 and not out.exists()
    try:
        main([*argv, "--method", "mean", "--extend", "-o", str(out), "--quiet"])
    except SystemExit as exit_info:
        assert exit_info.code in (0, None)
    report = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    assert report["settings"]["target_tokenizer"] == [str(ru_tokenizer), str(ar_tokenizer)]
    added = [t["added"] for t in report["summary"]["extend"]["targets"]]
    assert len(AutoTokenizer.from_pretrained(out)) == 30522 + sum(added)
