"""Dialogue pairs from the chatterbot-corpus package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from offline_assets import datasets
from offline_assets.datasets import chatterbot_pairs
from sembridge.errors import ModelLoadError


def _require_corpus() -> None:
    try:
        datasets.chatterbot_data_dir()
    except ModelLoadError as exc:
        pytest.skip(f"{exc.message} ({exc.hint})")


def _write_corpus(root: Path) -> None:
    folder = root / "chatterbot_corpus" / "data" / "russian"
    folder.mkdir(parents=True)
    (folder / "b.yml").write_text(
        "conversations:\n- - Привет\n  - Привет!\n  - Как дела?\n- - Привет\n  - Привет!\n", encoding="utf-8"
    )
    (folder / "a.yml").write_text(
        "conversations:\n- - Кто ты?\n  - ''\n  - Я бот.\n- - Один\n", encoding="utf-8"
    )


def test_pairs_are_consecutive_turns_deduplicated_without_empty_sides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _write_corpus(tmp_path)
    monkeypatch.setattr(datasets, "chatterbot_data_dir", lambda: tmp_path / "chatterbot_corpus" / "data")
    assert chatterbot_pairs("ru") == [("Привет", "Привет!"), ("Привет!", "Как дела?")]
    assert chatterbot_pairs("russian") == chatterbot_pairs("RU")


def test_missing_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(ModelLoadError) as info:
        chatterbot_pairs("ru")
    assert info.value.hint == "pip install --no-deps chatterbot-corpus==1.3.3"


def test_unknown_language_lists_the_available_ones() -> None:
    _require_corpus()
    with pytest.raises(ModelLoadError, match="no conversations for language 'ar'") as info:
        chatterbot_pairs("ar")
    assert "ru" in (info.value.hint or "")


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("lang", "minimum"), [("ru", 50), ("zh", 500), ("ko", 600), ("hi", 30), ("en", 1000)]
)
def test_real_pairs(lang: str, minimum: int) -> None:
    _require_corpus()
    pairs = chatterbot_pairs(lang)
    assert len(pairs) >= minimum
    assert len(set(pairs)) == len(pairs)
    assert all(prompt and reply for prompt, reply in pairs)
    assert all(isinstance(prompt, str) and isinstance(reply, str) for prompt, reply in pairs)
