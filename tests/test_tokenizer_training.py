"""sembridge tokenizer: train WordPiece / Unigram on text, cut a multilingual tokenizer to a corpus."""

from __future__ import annotations

import json

import pytest

from sembridge.cli.app import main
from sembridge.errors import SembridgeError
from sembridge.tokenizer_training import (
    REPORT_FILE,
    corpus_coverage,
    cut_tokenizer,
    make_tokenizer,
    train_tokenizer,
)
from sembridge.vocab import detect_scheme
from tests.helpers import bytelevel_tokenizer, wordpiece_tokenizer

TEXT = [
    "кошка сидит на окне и смотрит на улицу",
    "собака бежит по улице за кошкой",
    "в доме живут кошка и собака",
    "окно открыто, на улице тепло",
    "кошки и собаки любят тепло и дом",
] * 20


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "ru.txt"
    path.write_text("\n".join(TEXT) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("model", "scheme"), [("wordpiece", "wordpiece"), ("unigram", "sentencepiece")])
def test_trained_tokenizer_loads_with_autotokenizer_and_covers_its_text(text_file, tmp_path, model, scheme):
    from transformers import AutoTokenizer

    out = tmp_path / f"tok-{model}"
    result = make_tokenizer([text_file], out, vocab_size=120, model=model)
    loaded = AutoTokenizer.from_pretrained(out)
    assert detect_scheme(loaded) == scheme
    assert len(loaded.get_vocab()) == result.coverage.vocab_size <= 120
    assert loaded.cls_token_id is not None and loaded.unk_token_id is not None
    assert loaded("кошка дома")["input_ids"][0] == loaded.cls_token_id
    assert result.coverage.coverage == 1.0 and result.coverage.unk_rate == 0.0
    report = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    assert report["settings"]["model"] == model and report["coverage"]["vocab_size"] == len(
        loaded.get_vocab()
    )


def test_coverage_and_unk_rate_count_unknown_words():
    tok = wordpiece_tokenizer(["a", "b", "##b"])
    coverage = corpus_coverage(tok, ["ab ab c", "a"])
    # Words: ab, ab, c, a -> c is unknown; tokens: a ##b a ##b [UNK] a.
    assert coverage.words == 4 and coverage.coverage == 0.75
    assert coverage.tokens == 6 and coverage.unk_tokens == 1 and coverage.unk_rate == round(1 / 6, 6)


def test_cut_wordpiece_keeps_used_pieces_and_characters_and_tokenises_the_same():
    words = ["cat", "##s", "dog", "house", "##house", "c", "a", "t", "##a", "##t", "d", "o", "g", "x", "##x"]
    tok = wordpiece_tokenizer(words)
    corpus = ["cats dog", "cat"]
    cut = cut_tokenizer(tok, corpus)
    vocab = cut.get_vocab()
    assert "house" not in vocab and "##house" not in vocab and "x" not in vocab
    assert {"cat", "##s", "dog", "c", "a", "t", "##a", "##t", "[CLS]", "[UNK]"} <= set(vocab)
    assert sorted(vocab.values()) == list(range(len(vocab)))
    for line in corpus:
        assert cut.tokenize(line) == tok.tokenize(line)
    assert cut("cat")["input_ids"][0] == cut.cls_token_id == vocab["[CLS]"]


def test_cut_refuses_byte_level_bpe():
    with pytest.raises(SembridgeError, match="cannot cut a BPE tokenizer"):
        cut_tokenizer(bytelevel_tokenizer(["Ġcat", "cat"]), ["cat"])


def test_train_refuses_bad_settings():
    with pytest.raises(SembridgeError, match="unknown tokenizer model 'bpe'"):
        train_tokenizer(TEXT, 100, model="bpe")  # type: ignore[arg-type]
    with pytest.raises(SembridgeError, match="vocab_size must be an integer >= 10, got 3"):
        train_tokenizer(TEXT, 3)


def test_cli_train_prints_coverage_and_refuses_existing_output(text_file, tmp_path, capsys):
    out = tmp_path / "tok"
    main(["tokenizer", "train", "--text", str(text_file), "--vocab-size", "100", "-o", str(out)])
    stdout = capsys.readouterr().out
    assert "vocabulary size" in stdout and "coverage" in stdout and "UNK rate" in stdout
    with pytest.raises(SystemExit) as done:
        main(["tokenizer", "train", "--text", str(text_file), "-o", str(out)])
    assert done.value.code == 1
    with pytest.raises(SystemExit) as done:
        main(["tokenizer", "train", "--text", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "x")])
    assert done.value.code == 1 and "missing.txt" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_trained_tokenizer_feeds_init(text_file, tmp_path):
    from sembridge.init.pipeline import InitConfig, initialize
    from tests.helpers import save_tiny_bridge, save_tiny_source

    target = tmp_path / "tok"
    make_tokenizer([text_file], target, vocab_size=80)
    source = save_tiny_source(tmp_path / "source", "bert", ["cat", "dog", "house", "##s"])
    bridge = save_tiny_bridge(tmp_path / "bridge", ["cat", "dog", "кошка", "дом"])
    config = InitConfig(
        source=str(source), target_tokenizer=str(target), bridge=str(bridge), alpha=2.0, device="cpu",
        cache_dir=str(tmp_path / "cache"), show_progress=False,
    )  # fmt: skip
    result = initialize(config, output_dir=tmp_path / "model")
    assert result.model.config.vocab_size == len(result.tokenizer.get_vocab())


@pytest.mark.e2e
def test_real_cut_of_the_bridge_tokenizer_to_russian_text(tmp_path, e5_bridge):
    from transformers import AutoTokenizer

    from offline_assets.corpora import build_language
    from sembridge.data import load_pairs

    train = load_pairs(build_language("ru") / "train.jsonl")
    text = tmp_path / "ru.txt"
    text.write_text("\n".join(list(train["query"])[:2000]) + "\n", encoding="utf-8")
    out = tmp_path / "ru-cut"
    result = make_tokenizer([text], out, cut_from=str(e5_bridge))
    original = AutoTokenizer.from_pretrained(e5_bridge)
    cut = AutoTokenizer.from_pretrained(out)
    assert detect_scheme(cut) == "sentencepiece"
    assert 1000 < len(cut.get_vocab()) < len(original.get_vocab()) // 10
    before = result.report["settings"]["original_coverage"]
    assert result.coverage.coverage == before["coverage"] and result.coverage.tokens == before["tokens"]
    for line in list(train["query"])[:200]:
        assert cut.tokenize(line) == original.tokenize(line)


def test_cli_json_prints_the_report(text_file, tmp_path, capsys):
    import json

    out = tmp_path / "tok"
    main(["tokenizer", "train", "--text", str(text_file), "--vocab-size", "100", "-o", str(out), "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["coverage"]["vocab_size"] == len(
        json.loads((out / "tokenizer.json").read_text())["model"]["vocab"]
    )


NO_WORDS = {
    "control characters": "\x00\x01 \x02\n\ufffd\n" * 5,  # BERT's normaliser drops them all
    "punctuation": "!!! ... ,,, ?\n-- ;; :\n" * 5,
}


@pytest.mark.parametrize("model", ["wordpiece", "unigram"])
@pytest.mark.parametrize("kind", list(NO_WORDS))
def test_train_refuses_text_without_words(tmp_path, model, kind):
    path = tmp_path / "no-words.txt"
    path.write_text(NO_WORDS[kind], encoding="utf-8")
    out = tmp_path / "tok"
    with pytest.raises(SembridgeError) as err:
        make_tokenizer([path], out, vocab_size=100, model=model)
    message = str(err.value)
    assert message.startswith(f"text file '{path}' held no words: the tokenizer made from it has ")
    assert "\n" not in message and not out.exists()


def test_train_without_words_names_every_file_and_the_cli_exits_1(tmp_path, capsys):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text(NO_WORDS["control characters"], encoding="utf-8")
    second.write_text("\x00\n", encoding="utf-8")
    with pytest.raises(SembridgeError) as err:
        make_tokenizer([first, second], vocab_size=100)
    assert str(err.value) == (
        f"text files '{first}', '{second}' held no words: the tokenizer made from them has only its "
        "5 special token(s)"
    )
    out = tmp_path / "tok"
    with pytest.raises(SystemExit) as done:
        main(["tokenizer", "train", "--text", str(first), "--vocab-size", "100", "-o", str(out)])
    assert done.value.code == 1
    assert f"text file '{first}' held no words" in capsys.readouterr().err
    assert not out.exists()


def test_one_word_is_enough(tmp_path):
    path = tmp_path / "one.txt"
    path.write_text("!!! ... кот ,,,\n" * 5, encoding="utf-8")
    result = make_tokenizer([path], vocab_size=100)
    assert "кот" in result.tokenizer.get_vocab() or "к" in result.tokenizer.get_vocab()
