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
