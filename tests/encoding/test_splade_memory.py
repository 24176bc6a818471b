"""The bound on SPLADE's MLM logits (sembridge.encoding.splade_memory): same vectors and gradients, and no
operation ever holds ``batch x length x vocab`` floats.

The model is a tiny random BERT with a 16,000-row vocabulary: its whole logits for 8 texts of
48 positions are 24.6 MB, a chunk under the test's 256 KiB budget one or two positions.
Memory is read from the torch profiler: the largest allocation a single operation makes.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from sembridge.encoding.encode import load_encoder
from sembridge.encoding.splade_memory import bound_logits_memory, logits_budget, unbind_logits_memory
from sembridge.loading import load_sparse_encoder, save_sparse_encoder
from tests.helpers import tiny_mlm, wordpiece_tokenizer

VOCAB = 16_000
WORDS = ["book", "house", "river", "city", "##s", "red", "green", "paris", "france", "capital"]
BUDGET = 256 * 1024
BATCH, LENGTH = 8, 48
WHOLE_LOGITS = BATCH * LENGTH * VOCAB * 4  # 24.6 MB
# What any encoding holds anyway: the pooled vectors (batch x vocab) and a few copies of them
# (sparse conversion), and in training the vocabulary-sized gradients (vocab x hidden).
ALLOWED = max(2 * BUDGET, 4 * BATCH * VOCAB * 4)  # 2 MB


def texts(count: int = BATCH) -> list[str]:
    # Different lengths: padding positions must not count, the longest fills LENGTH positions.
    return [" ".join(WORDS[j % len(WORDS)] for j in range(i, i + LENGTH - 2 - 5 * i)) for i in range(count)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("large-vocab") / "model"
    # The words, then filler pieces up to the vocabulary (a far smaller tokenizer is refused).
    tokenizer = wordpiece_tokenizer([*WORDS, *(f"piece{i}" for i in range(VOCAB - 5 - len(WORDS)))])
    model = tiny_mlm("bert", VOCAB, seed=3)
    save_sparse_encoder(model, tokenizer, path, max_seq_length=LENGTH)
    return path


def largest_allocation(run) -> int:
    """The most bytes one operation allocated (itself, not its children) while ``run()`` ran."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    return max(event.self_cpu_memory_usage for event in prof.events())


def encode(encoder) -> torch.Tensor:
    return encoder.encode(texts(), batch_size=BATCH, convert_to_tensor=True).to_dense()


def train_step(encoder) -> dict[str, torch.Tensor]:
    """One forward/backward pass on a fixed loss; the gradient of every parameter."""
    encoder.train()
    encoder.zero_grad()
    features = encoder.preprocess(texts())
    features = {k: v for k, v in features.items() if isinstance(v, torch.Tensor)}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the same dropout masks in both runs
        vectors = encoder(features)["sentence_embedding"]
        weights = torch.linspace(0.5, 1.5, VOCAB)
        (vectors * weights).sum().backward()
    encoder.eval()
    return {name: p.grad.clone() for name, p in encoder.named_parameters() if p.grad is not None}


def test_bounded_encoding_equals_unbounded_and_never_holds_the_whole_logits(model_dir: Path) -> None:
    whole = load_encoder(str(model_dir), device="cpu", logits_budget=None)
    bounded = load_encoder(str(model_dir), device="cpu", logits_budget=BUDGET)
    assert logits_budget(whole) is None and logits_budget(bounded) == BUDGET
    expected = encode(whole)
    assert expected.shape == (BATCH, VOCAB) and (expected > 0).sum() > 0
    torch.testing.assert_close(encode(bounded), expected, rtol=1e-5, atol=1e-6)

    assert largest_allocation(lambda: encode(whole)) >= WHOLE_LOGITS  # the measurement sees it
    # Each chunk: BUDGET bytes of logits (a few positions), never the whole.
    assert largest_allocation(lambda: encode(bounded)) <= ALLOWED


def test_bounded_training_step_has_the_same_gradients_in_bounded_memory(model_dir: Path) -> None:
    whole = load_sparse_encoder(str(model_dir), require_splade=True)
    bounded = load_encoder(str(model_dir), "cpu", logits_budget=BUDGET, require_splade=True)
    expected = train_step(whole)
    got = train_step(bounded)
    assert set(got) == set(expected) and "0.model.bert.embeddings.word_embeddings.weight" in got
    for name, grad in expected.items():
        # float32 sums in another order: elements may differ by ~1e-7 of the gradient's largest value.
        scale = max(1.0, float(grad.abs().max()))
        torch.testing.assert_close(got[name], grad, rtol=1e-4, atol=1e-6 * scale, msg=name)

    assert largest_allocation(lambda: train_step(whole)) >= WHOLE_LOGITS
    assert largest_allocation(lambda: train_step(bounded)) <= ALLOWED


def test_the_bound_is_removable_picklable_and_leaves_the_saved_folder_alone(
    model_dir: Path, tmp_path: Path
) -> None:
    encoder = load_encoder(str(model_dir), "cpu", logits_budget=BUDGET)
    expected = encode(encoder)
    # The multi-process pool pickles the encoder: the bound goes with it.
    copy = pickle.loads(pickle.dumps(encoder))
    assert logits_budget(copy) == BUDGET
    torch.testing.assert_close(encode(copy), expected)
    # The folder it saves is the folder any sentence-transformers loads: same modules, same weights.
    encoder.save(str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "modules.json").read_text() == (model_dir / "modules.json").read_text()
    torch.testing.assert_close(encode(load_sparse_encoder(str(tmp_path / "saved"))), expected)
    # The HF model under the encoder still gives logits when called directly.
    hf_model = encoder[0].model
    ids = encoder.tokenizer(["book house"], return_tensors="pt")
    assert hf_model(**ids).logits.shape[-1] == VOCAB
    unbind_logits_memory(encoder)
    assert logits_budget(encoder) is None and "forward" not in vars(encoder[1])
    assert bound_logits_memory(encoder, None) is False


@pytest.mark.parametrize("budget", [0, -5, 1.5, True, "1GB"])
def test_a_bad_budget_is_refused(model_dir: Path, budget: object) -> None:
    encoder = load_sparse_encoder(str(model_dir))
    with pytest.raises(ValueError, match="budget must be a positive number of bytes"):
        bound_logits_memory(encoder, budget)  # type: ignore[arg-type]


@pytest.mark.parametrize(("budget", "recompute", "expect_recomputed"), [
    (WHOLE_LOGITS * 2, False, False),  # one chunk holds the batch: pooled once, no recomputation
    (WHOLE_LOGITS * 2, True, True),  # the behaviour before: recomputed all the same
    (BUDGET, False, True),  # several chunks: each is recomputed in the backward pass
])  # fmt: skip
def test_logits_are_recomputed_only_when_the_batch_needs_several_chunks(
    model_dir: Path, monkeypatch, budget: int, recompute: bool, expect_recomputed: bool
) -> None:
    from sembridge.encoding import splade_memory

    whole = load_sparse_encoder(str(model_dir), require_splade=True)
    encoder = load_sparse_encoder(str(model_dir), require_splade=True)
    bound_logits_memory(encoder, budget, recompute_single_chunk=recompute)
    calls = {"forward": 0, "total": 0}
    original = splade_memory._PoolingForward._pool

    def counting(self, *args):
        calls["total"] += 1
        return original(self, *args)

    monkeypatch.setattr(splade_memory._PoolingForward, "_pool", counting)
    encoder.train()
    encoder.zero_grad()
    features = {k: v for k, v in encoder.preprocess(texts()).items() if isinstance(v, torch.Tensor)}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vectors = encoder(features)["sentence_embedding"]
    calls["forward"] = calls["total"]
    (vectors * torch.linspace(0.5, 1.5, VOCAB)).sum().backward()
    assert (calls["total"] > calls["forward"]) is expect_recomputed, calls
    # The gradients are those of the unbounded model either way.
    expected = train_step(whole)
    got = {n: p.grad for n, p in encoder.named_parameters() if p.grad is not None}
    for name, grad in expected.items():
        scale = max(1.0, float(grad.abs().max()))
        torch.testing.assert_close(got[name], grad, rtol=1e-4, atol=1e-6 * scale, msg=name)
