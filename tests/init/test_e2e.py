"""End to end on the real offline assets: SPLADE-tiny -> Russian with the real e5-small bridge.

The bridge embeddings of the 30k source tokens are cached in the offline cache, so only the first
run on a machine pays for them (about a minute on 2 cores).
"""

from __future__ import annotations

import json

import pytest
import torch

from sembridge.init.pipeline import REPORT_FILE, InitConfig, initialize

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ru_model(tmp_path_factory, splade_tiny, ru_tokenizer, e5_bridge, offline_cache):
    out = tmp_path_factory.mktemp("e2e") / "ru-splade"
    config = InitConfig(
        source=str(splade_tiny),
        target_tokenizer=str(ru_tokenizer),
        bridge=str(e5_bridge),
        alpha=4.0,
        device="cpu",
        cache_dir=str(offline_cache),
        show_progress=False,
    )
    result = initialize(config, output_dir=out)
    return out, result


def test_loads_in_transformers_and_sparse_encoder(ru_model, ru_tokenizer):
    from sentence_transformers import SparseEncoder
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    out, _ = ru_model
    model = AutoModelForMaskedLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.get_vocab() == AutoTokenizer.from_pretrained(ru_tokenizer).get_vocab()
    assert model.config.vocab_size == len(tokenizer.get_vocab()) == 8000
    assert model.config.pad_token_id == tokenizer.pad_token_id

    encoder = SparseEncoder(str(out), device="cpu")
    text = "история России"
    vector = encoder.encode([text], convert_to_tensor=True).to_dense()[0]
    assert vector.shape == (8000,)
    active = vector.nonzero().flatten()
    assert len(active) > 0
    terms = tokenizer.convert_ids_to_tokens(active.tolist())
    # The representation is in the target vocabulary: Russian pieces, including the query's own.
    cyrillic = [t for t in terms if any("а" <= ch.lower() <= "я" for ch in t)]
    assert len(cyrillic) >= len(terms) // 2
    own = set(tokenizer.tokenize(text))
    assert own & set(terms)


def test_overlapping_rows_equal_source_rows(ru_model, splade_tiny):
    from transformers import AutoModelForMaskedLM

    out, result = ru_model
    source = AutoModelForMaskedLM.from_pretrained(splade_tiny)
    target = AutoModelForMaskedLM.from_pretrained(out)
    src_emb = source.get_input_embeddings().weight
    tgt_emb = target.get_input_embeddings().weight
    src_bias = source.get_output_embeddings().bias
    tgt_bias = target.get_output_embeddings().bias
    matches = result.overlap.matches
    assert len(matches) > 100
    t = torch.tensor([m.target_id for m in matches])
    s = torch.tensor([m.source_id for m in matches])
    assert torch.equal(tgt_emb[t], src_emb[s])
    assert torch.equal(tgt_bias[t], src_bias[s])
    # Tied in the source, tied in the output.
    assert target.get_output_embeddings().weight.data_ptr() == tgt_emb.data_ptr()


def test_report_and_translations(ru_model):
    out, _ = ru_model
    report = json.loads((out / REPORT_FILE).read_text())
    summary = report["summary"]
    assert summary["copied"] + summary["new"] == 8000
    assert 1 <= summary["support_size"]["mean"] <= 20  # alpha 4 on e5 cosines: a handful of sources
    by_token = {r["token"]: r for r in report["tokens"].values()}
    # Common Russian words are built from their English translations.
    pairs = {
        "вода": "water",
        "город": "city",
        "год": "year",
        "время": "time",
        "книга": "book",
        "война": "war",
    }
    present = {ru: en for ru, en in pairs.items() if ru in by_token and by_token[ru]["kind"] == "new"}
    assert len(present) >= 4
    hits = [ru for ru, en in present.items() if en in [s for s, _ in by_token[ru]["sources"][:3]]]
    assert len(hits) >= len(present) // 2, (hits, {ru: by_token[ru]["sources"][:3] for ru in present})
