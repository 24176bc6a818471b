"""Tiny in-process vocabularies, models and contexts for the baseline-method tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sembridge.init.pipeline import InitConfig
from sembridge.methods.base import InitContext, MethodResources
from sembridge.methods.initializers import create_initializer
from sembridge.surgery import mlm_parts
from sembridge.vocab import Overlap, find_overlap, vocab_tokens, vocabulary_size
from tests.helpers import tiny_mlm, wordpiece_tokenizer

SOURCE_WORDS = [
    "the", "cat", "cats", "dog", "house", "city", "river", "red", "big", "small", "run", "water",
    "moscow", "book", "##s", "##ing", "##ed", "##er", "a", "of", "1", "2", "?", ".",
]  # fmt: skip
# Overlapping: the, cat, city, ##s, a, 1, 2, ?, . ; new: the Cyrillic tokens and "Haus".
TARGET_WORDS = [
    "the", "cat", "city", "##s", "a", "1", "2", "?", ".", "кот", "##ы", "город", "река", "##а",
    "собака", "дом", "красный", "вода", "книга", "Haus", "москва", "##ов", "коты",
]  # fmt: skip


def source_tokenizer():
    return wordpiece_tokenizer(SOURCE_WORDS)


def target_tokenizer():
    return wordpiece_tokenizer(TARGET_WORDS)


def source_model(tie: bool = False, seed: int = 0, initializer_range: float = 0.05):
    model = tiny_mlm("bert", len(source_tokenizer().get_vocab()), tie=tie, seed=seed)
    model.config.initializer_range = initializer_range
    return model


def make_context(
    method: str,
    options: dict[str, Any] | None = None,
    *,
    tie: bool = False,
    seed: int = 42,
    model: Any = None,
    source_tok: Any = None,
    target_tok: Any = None,
    overlap: Overlap | None = None,
) -> tuple[InitContext, Any]:
    """A context on the tiny vocabularies and the initializer for ``method`` (options checked)."""
    source_tok = source_tok or source_tokenizer()
    target_tok = target_tok or target_tokenizer()
    model = model or source_model(tie=tie)
    config = InitConfig(
        source="tiny", target_tokenizer="tiny", method=method, seed=seed, method_options=options or {}
    )
    source_tokens, target_tokens = vocab_tokens(source_tok), vocab_tokens(target_tok)
    if overlap is None:
        overlap = find_overlap(source_tokens, target_tokens, target_size=vocabulary_size(target_tok))
    ctx = InitContext(
        source_tokens=source_tokens,
        target_tokens=target_tokens,
        overlap=overlap,
        parts=mlm_parts(model),
        generator=torch.Generator().manual_seed(seed),
        device=torch.device("cpu"),
        timings={},
        chunk_size=config.chunk_size,
        show_progress=config.show_progress,
    )
    method_obj = create_initializer(
        method,
        config.method_options,
        source_tokenizer=source_tok,
        target_tokenizer=target_tok,
        source_config=model.config,
    )
    assert isinstance(method_obj.resources, MethodResources)
    return ctx, method_obj


def regular_source_ids() -> torch.Tensor:
    """Ids of the non-special source tokens (what the statistics are taken over)."""
    tok = source_tokenizer()
    special = set(tok.all_special_ids)
    return torch.tensor(sorted(i for i in tok.get_vocab().values() if i not in special))


def joint(parts, ids: torch.Tensor) -> torch.Tensor:
    pieces = [parts.embeddings[ids].double()]
    if parts.decoder is not None:
        pieces.append(parts.decoder[ids].double())
    if parts.bias is not None:
        pieces.append(parts.bias[ids].double()[:, None])
    return torch.cat(pieces, dim=1)


def save_tiny_pair(root: Path, tie: bool = False) -> tuple[Path, Path]:
    """Write the tiny source model (+ tokenizer) and target tokenizer as folders; return their paths."""
    source_dir, target_dir = root / "source", root / "target"
    model = source_model(tie=tie)
    model.save_pretrained(source_dir)
    source_tokenizer().save_pretrained(source_dir)
    target_tokenizer().save_pretrained(target_dir)
    return source_dir, target_dir


# Translation pairs (English source word, target word) of the tiny vocabularies.
TRANSLATIONS = [
    ("cat", "кот"),
    ("cats", "коты"),
    ("dog", "собака"),
    ("house", "дом"),
    ("city", "город"),
    ("river", "река"),
    ("red", "красный"),
    ("water", "вода"),
    ("book", "книга"),
    ("moscow", "москва"),
]
TEXT_WORDS = [
    "кот",
    "коты",
    "город",
    "река",
    "собака",
    "дом",
    "красный",
    "вода",
    "москва",
    "городов",
    "the",
    "cats",
]


def write_target_text(path: Path, lines: int = 400, seed: int = 0) -> Path:
    """Lines of target words (never "книга" or "Haus": those tokens get no auxiliary vector)."""
    import random

    rng = random.Random(seed)
    text = "\n".join(" ".join(rng.choice(TEXT_WORDS) for _ in range(8)) for _ in range(lines))
    path.write_text(text + "\n", encoding="utf-8")
    return path


def word_spaces(dim: int = 6, seed: int = 0, noise: float = 0.05):
    """English and target word vectors; a translation is its English word's vector plus noise."""
    from sembridge.methods.word_vectors import WordVectors

    g = torch.Generator().manual_seed(seed)
    english = [w for w in SOURCE_WORDS if w.isalpha()]
    en_vectors = torch.randn(len(english), dim, generator=g)
    index = {w: i for i, w in enumerate(english)}
    target_words = [t for _, t in TRANSLATIONS]
    target_vectors = torch.stack([en_vectors[index[e]] for e, _ in TRANSLATIONS])
    target_vectors = target_vectors + noise * torch.randn(target_vectors.shape, generator=g)
    return WordVectors(english, en_vectors), WordVectors(target_words, target_vectors)


def write_method_inputs(root: Path, binary: bool = True) -> dict[str, dict[str, Any]]:
    """Input files for focus, ofa and wechsel on the tiny vocabularies; method_options per method."""
    from sembridge.methods.word_vectors import write_word_vectors

    root.mkdir(parents=True, exist_ok=True)
    english, target = word_spaces()
    multilingual = write_word_vectors(
        root / "multi.bin", english.words + target.words, torch.cat([english.vectors, target.vectors]), binary
    )
    # WECHSEL: the target space is rotated, so only the dictionary can align it.
    g = torch.Generator().manual_seed(5)
    rotation = torch.linalg.qr(torch.randn(english.dim, english.dim, generator=g))[0]
    en_file = write_word_vectors(root / "en.vec", english.words, english.vectors)
    ru_file = write_word_vectors(root / "ru.bin", target.words, target.vectors @ rotation, binary)
    dictionary = root / "en-ru.tsv"
    dictionary.write_text("".join(f"{e}\t{t}\n" for e, t in TRANSLATIONS[:8]), encoding="utf-8")
    return {
        "random": {},
        "mean": {},
        "gaussian": {},
        "mv-gaussian": {},
        "focus": {
            "target_text": str(write_target_text(root / "ru.txt")),
            "fasttext_dim": 8,
            "fasttext_epochs": 5,
            "fasttext_min_count": 2,
        },
        "ofa": {"word_vectors": str(multilingual), "top_k": 3},
        "wechsel": {
            "source_word_vectors": str(en_file),
            "target_word_vectors": str(ru_file),
            "dictionary": str(dictionary),
            "top_k": 3,
        },
    }
