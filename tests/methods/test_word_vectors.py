"""word2vec files, subword vectors, dictionaries and the Procrustes alignment."""

from __future__ import annotations

import pytest
import torch

from sembridge.errors import SembridgeError
from sembridge.methods.word_vectors import (
    WordVectors,
    align_with_dictionary,
    orthogonal_procrustes,
    read_dictionary,
    read_word_vectors,
    subword_vectors,
    write_word_vectors,
    zipf_weights,
)
from tests.helpers import wordpiece_tokenizer

WORDS = ["кот", "москва", "the", "cats", "dogs", "Haus"]


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_round_trip(tmp_path, binary):
    vectors = torch.randn(len(WORDS), 7, generator=torch.Generator().manual_seed(0))
    path = write_word_vectors(tmp_path / "v.bin", WORDS, vectors, binary=binary)
    read = read_word_vectors(path)
    assert read.words == WORDS
    torch.testing.assert_close(read.vectors, vectors, rtol=1e-5, atol=1e-5)
    assert read_word_vectors(path, max_words=2).words == WORDS[:2]


def test_text_without_header_and_c_style_binary(tmp_path):
    glove = tmp_path / "glove.txt"
    glove.write_text("кот 1 2 3\nthe 4 5 6\n", encoding="utf-8")
    read = read_word_vectors(glove)
    assert read.words == ["кот", "the"] and read.vectors.tolist() == [[1, 2, 3], [4, 5, 6]]
    # The original word2vec C tool writes a newline after each binary vector.
    c_style = tmp_path / "c.bin"
    rows = torch.tensor([[1.5, -2.0], [0.25, 8.0]])
    c_style.write_bytes(
        b"2 2\n"
        + "кот ".encode() + rows[0].numpy().astype("<f4").tobytes() + b"\n"
        + b"the " + rows[1].numpy().astype("<f4").tobytes() + b"\n"
    )  # fmt: skip
    read = read_word_vectors(c_style)
    assert read.words == ["кот", "the"]
    assert torch.equal(read.vectors, rows)


def test_bad_word_vector_files_are_refused(tmp_path):
    bad = tmp_path / "bad.vec"
    bad.write_text("2 3\nкот 1 2 3\nthe 4 5\n", encoding="utf-8")
    with pytest.raises(SembridgeError, match="line 3"):
        read_word_vectors(bad)


def test_subword_vector_is_the_average_of_the_words_containing_it():
    tok = wordpiece_tokenizer(["cat", "dog", "##s", "the"])
    vocab = tok.get_vocab()
    vectors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    words = WordVectors(["cats", "dogs", "the"], vectors)
    result, counts = subword_vectors(tok, words, len(vocab))
    torch.testing.assert_close(result[vocab["##s"]], torch.tensor([0.5, 0.5]))  # in cats and dogs
    torch.testing.assert_close(result[vocab["cat"]], torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(result[vocab["the"]], torch.tensor([2.0, 2.0]))
    assert counts[vocab["##s"]] == 2 and counts[vocab["[PAD]"]] == 0
    assert torch.equal(result[vocab["[PAD]"]], torch.zeros(2))
    # WECHSEL's frequency weighting: 1 / rank, so "cats" (rank 1) weighs twice "dogs" (rank 2).
    weighted, _ = subword_vectors(tok, words, len(vocab), zipf_weights(3))
    torch.testing.assert_close(weighted[vocab["##s"]], torch.tensor([2 / 3, 1 / 3]))


def test_dictionary_reader(tmp_path):
    path = tmp_path / "en-ru.tsv"
    path.write_text(
        "# comment\nRussia\tРоссия\nUnited Kingdom\tВеликобритания\n\ncat кот\n", encoding="utf-8"
    )
    assert read_dictionary(path) == [
        ("Russia", "Россия"),
        ("United Kingdom", "Великобритания"),
        ("cat", "кот"),
    ]
    path.write_text("one\ttwo\tthree\n", encoding="utf-8")
    with pytest.raises(SembridgeError, match="line 1"):
        read_dictionary(path)


def test_procrustes_map_is_orthogonal_and_brings_pairs_closer():
    g = torch.Generator().manual_seed(0)
    dim, n = 12, 200
    rotation = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))[0]
    source = torch.randn(n, dim, generator=g)
    target = (
        source.double() @ rotation + 0.05 * torch.randn(n, dim, generator=g, dtype=torch.float64)
    ).float()
    words_s = [f"s{i}" for i in range(n)]
    words_t = [f"t{i}" for i in range(n)]
    pairs = [(f"s{i}", f"T{i}") for i in range(0, n, 2)]  # title-case lookups like WECHSEL
    alignment = align_with_dictionary(WordVectors(words_s, source), WordVectors(words_t, target), pairs)
    w = alignment.matrix
    torch.testing.assert_close(w.T @ w, torch.eye(dim, dtype=torch.float64), rtol=0, atol=1e-10)
    assert alignment.pairs_used == n // 2
    assert alignment.cosine_after > 0.99 > alignment.cosine_before + 0.5
    torch.testing.assert_close(w, rotation, rtol=0, atol=0.05)
    # Pairs left out of the dictionary come closer too.
    held_out = torch.arange(1, n, 2)
    before = torch.nn.functional.cosine_similarity(
        source[held_out].double(), target[held_out].double()
    ).mean()
    after = torch.nn.functional.cosine_similarity(
        source[held_out].double() @ w, target[held_out].double()
    ).mean()
    assert after > 0.99 and after > before


def test_procrustes_minimises_the_distance_over_orthogonal_maps():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(30, 5, generator=g), torch.randn(30, 5, generator=g)
    best = orthogonal_procrustes(a, b)
    loss = float(((a.double() @ best - b.double()) ** 2).sum())
    for _ in range(20):
        other = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))[0]
        assert loss <= float(((a.double() @ other - b.double()) ** 2).sum()) + 1e-9


def test_alignment_refuses_mismatched_spaces():
    a = WordVectors(["x"], torch.ones(1, 3))
    with pytest.raises(SembridgeError, match="dimension"):
        align_with_dictionary(a, WordVectors(["y"], torch.ones(1, 4)), [("x", "y")])
    with pytest.raises(SembridgeError, match="no dictionary pair"):
        align_with_dictionary(a, WordVectors(["y"], torch.ones(1, 3)), [("x", "z")])
