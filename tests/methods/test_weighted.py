"""focus, ofa, wechsel: weights over source rows that satisfy each method's definition."""

from __future__ import annotations

import math

import pytest
import torch

from sembridge.methods.word_vectors import read_word_vectors, subword_vectors
from tests.methods.support import make_context, source_tokenizer, target_tokenizer, write_method_inputs


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_method_inputs(tmp_path_factory.mktemp("inputs"))


def new_position(ctx, token: str) -> int:
    target_id = target_tokenizer().get_vocab()[token]
    return ctx.overlap.new_ids.index(target_id)


def dense_weights(rows) -> torch.Tensor:
    return rows.weights.to_dense().double()


def check_rows_are_weighted_sums(ctx, rows, positions):
    """Embedding, decoder and bias rows of ``positions`` equal the weights times the source rows."""
    dense = dense_weights(rows)[positions]
    parts = ctx.parts
    torch.testing.assert_close(
        rows.embeddings[positions].double(), dense @ parts.embeddings.double(), atol=1e-5, rtol=0
    )
    if parts.decoder is not None:
        torch.testing.assert_close(
            rows.decoder[positions].double(), dense @ parts.decoder.double(), atol=1e-5, rtol=0
        )
    torch.testing.assert_close(rows.bias[positions].double(), dense @ parts.bias.double(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("tie", [True, False])
def test_focus_weights_fall_on_overlapping_tokens_and_sum_to_one(inputs, tie):
    ctx, method = make_context("focus", inputs["focus"], tie=tie)
    rows = method.build(ctx)
    overlapping_sources = {m.source_id for m in ctx.overlap.matches if m.kind != "special"}
    sizes = rows.weights.support_sizes()
    weighted = [i for i in range(len(ctx.overlap.new_ids)) if sizes[i] > 0]
    assert len(weighted) >= 5
    for i in weighted:
        ids, values = rows.weights.row(i)
        assert set(ids.tolist()) <= overlapping_sources
        assert torch.all(values > 0)
        assert math.isclose(float(values.sum()), 1.0, abs_tol=1e-5)
        assert torch.all(values[:-1] >= values[1:]), "largest weight first"
    check_rows_are_weighted_sums(ctx, rows, torch.tensor(weighted))
    # "книга" never occurs in the text: no auxiliary vector, so a Gaussian draw and no weights.
    book = new_position(ctx, "книга")
    assert sizes[book] == 0
    assert float(rows.embeddings[book].abs().sum()) > 0 and float(rows.bias[book]) != 0
    assert rows.info["random_fallback_rows"] == int((sizes == 0).sum())
    assert "sparsemax" in rows.bias_policy


def test_focus_is_reproducible(inputs):
    ctx_a, a = make_context("focus", inputs["focus"], seed=3)
    torch.manual_seed(0)
    rows_a = a.build(ctx_a)
    ctx_b, b = make_context("focus", inputs["focus"], seed=3)
    torch.manual_seed(1)
    rows_b = b.build(ctx_b)
    assert torch.equal(rows_a.embeddings, rows_b.embeddings)
    assert torch.equal(rows_a.weights.values, rows_b.weights.values)


@pytest.mark.parametrize("top_k", [1, 3, 50])
def test_ofa_uses_at_most_k_neighbours_with_softmax_weights(inputs, top_k):
    options = dict(inputs["ofa"], top_k=top_k, temperature=0.1)
    ctx, method = make_context("ofa", options)
    rows = method.build(ctx)
    sizes = rows.weights.support_sizes()
    assert int(sizes.max()) <= top_k
    candidates = rows.info["source_tokens_with_vector"]
    weighted = (sizes > 0).nonzero().flatten()
    assert torch.all(sizes[weighted] == min(top_k, candidates))
    check_rows_are_weighted_sums(ctx, rows, weighted)

    # Softmax of cos / T: the weight ratio of two neighbours is exp((cos_i - cos_j) / T).
    vectors = read_word_vectors(options["word_vectors"])
    source_vectors, _ = subword_vectors(source_tokenizer(), vectors, ctx.parts.embeddings.shape[0])
    target_vectors, _ = subword_vectors(target_tokenizer(), vectors, ctx.overlap.target_size)
    cat = new_position(ctx, "кот")
    ids, values = rows.weights.row(cat)
    assert source_tokenizer().convert_ids_to_tokens(int(ids[0])) == "cat"
    query = target_vectors[ctx.overlap.new_ids[cat]]
    cos = torch.nn.functional.cosine_similarity(source_vectors[ids], query[None, :])
    expected = torch.softmax(cos / 0.1, dim=0)
    torch.testing.assert_close(values, expected.float(), atol=1e-5, rtol=1e-4)


def test_ofa_tokens_without_vectors_get_gaussian_draws(inputs):
    ctx, method = make_context("ofa", inputs["ofa"])
    rows = method.build(ctx)
    haus = new_position(ctx, "Haus")  # in no word of the vector file
    assert rows.weights.support_sizes()[haus] == 0
    assert float(rows.embeddings[haus].abs().sum()) > 0
    assert rows.info["random_fallback_rows"] >= 1


def test_wechsel_aligns_and_reaches_the_full_source_vocabulary(inputs):
    ctx, method = make_context("wechsel", inputs["wechsel"])
    rows = method.build(ctx)
    info = rows.info
    assert info["dictionary_pairs_with_vectors"] == 8
    assert info["pair_cosine_after_alignment"] > 0.95 > info["pair_cosine_before_alignment"] + 0.3
    source_vocab = source_tokenizer().get_vocab()
    overlapping_sources = {m.source_id for m in ctx.overlap.matches}
    # "собака" -> dog: a source token that no target token overlaps (FOCUS could not reach it).
    dog = new_position(ctx, "собака")
    ids, values = rows.weights.row(dog)
    assert int(ids[0]) == source_vocab["dog"] and source_vocab["dog"] not in overlapping_sources
    assert len(ids) <= 3 and math.isclose(float(values.sum()), 1.0, abs_tol=1e-5)
    # "книга" -> book: book was left out of the dictionary, the alignment still finds it.
    book = new_position(ctx, "книга")
    assert int(rows.weights.row(book)[0][0]) == source_vocab["book"]
    sizes = rows.weights.support_sizes()
    check_rows_are_weighted_sums(ctx, rows, (sizes > 0).nonzero().flatten())


def test_wechsel_without_alignment_would_miss(inputs, tmp_path):
    """With a dictionary that pairs nothing useful the map is arbitrary: the alignment is what matters."""
    ctx, method = make_context("wechsel", inputs["wechsel"])
    aligned = method.build(ctx)
    wrong = tmp_path / "wrong.tsv"
    wrong.write_text("cat\tдом\ndog\tрека\nhouse\tкот\ncity\tвода\nriver\tгород\n", encoding="utf-8")
    options = dict(inputs["wechsel"], dictionary=str(wrong))
    ctx2, method2 = make_context("wechsel", options)
    misaligned = method2.build(ctx2)
    dog = new_position(ctx, "собака")
    dog_id = source_tokenizer().get_vocab()["dog"]
    assert int(aligned.weights.row(dog)[0][0]) == dog_id
    assert misaligned.info["pair_cosine_after_alignment"] < aligned.info["pair_cosine_after_alignment"]
