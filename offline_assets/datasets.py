"""Tiny real text data that needs no download: dialogue pairs from the ``chatterbot-corpus`` package.

Each conversation in the corpus is a list of turns; every turn and the turn that answers it make a
(prompt, reply) pair, usable as a query and its positive in fine-tuning smoke runs. Sizes:
zh 552, ko 696, hi 66, ru 63, en 2,393 pairs before deduplication; there is no Arabic.
"""

from __future__ import annotations

import importlib.util
import logging
from itertools import pairwise
from pathlib import Path

from sembridge.errors import ModelLoadError

logger = logging.getLogger("sembridge")

CHATTERBOT_PIN = "chatterbot-corpus==1.3.3"
_HINT = f"pip install --no-deps {CHATTERBOT_PIN}"

# ISO 639-1 code -> folder name in chatterbot_corpus/data (folder names are accepted as well).
CHATTERBOT_LANGUAGES: dict[str, str] = {
    "bn": "bengali",
    "de": "german",
    "en": "english",
    "es": "spanish",
    "fa": "persian",
    "fr": "french",
    "he": "hebrew",
    "hi": "hindi",
    "id": "indonesian",
    "it": "italian",
    "ja": "japanese",
    "ko": "korean",
    "mr": "marathi",
    "nl": "dutch",
    "or": "oriya",
    "pt": "portuguese",
    "ru": "russian",
    "sv": "swedish",
    "ta": "tamil",
    "te": "telugu",
    "th": "thai",
    "tr": "turkish",
    "uk": "ukrainian",
    "ur": "urdu",
    "yo": "yoruba",
    "zh": "chinese",
    "zh-tw": "traditionalchinese",
}


def chatterbot_data_dir() -> Path:
    """The ``data`` folder of the installed ``chatterbot_corpus`` package (found without importing it)."""
    try:
        spec = importlib.util.find_spec("chatterbot_corpus")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("the chatterbot-corpus package is not installed", hint=_HINT)
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    if not data.is_dir():
        raise ModelLoadError(f"chatterbot-corpus has no data folder at '{data}'", hint=_HINT)
    return data


def chatterbot_pairs(lang: str) -> list[tuple[str, str]]:
    """(prompt, reply) pairs of consecutive turns for ``lang`` (an ISO code such as ``ru`` or a folder name).

    Turns are stripped; pairs with an empty side are skipped and duplicates removed, keeping the
    first occurrence (files in name order, conversations in file order).
    """
    import yaml

    data = chatterbot_data_dir()
    key = lang.strip().lower()
    folder = data / CHATTERBOT_LANGUAGES.get(key, key)
    if not key or not folder.is_dir():
        available = sorted(p.name for p in data.iterdir() if p.is_dir())
        raise ModelLoadError(
            f"chatterbot-corpus has no conversations for language '{lang}'",
            hint="use one of: "
            + ", ".join(sorted(CHATTERBOT_LANGUAGES))
            + " (folders: "
            + ", ".join(available)
            + ")",
        )

    pairs: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    for path in files:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ModelLoadError(
                f"cannot parse '{path}': {exc}",
                hint=f"pip install --no-deps --force-reinstall {CHATTERBOT_PIN}",
            ) from exc
        for conversation in document.get("conversations") or []:
            turns = [_turn_text(turn) for turn in conversation or []]
            for prompt, reply in pairwise(turns):
                pair = (prompt, reply)
                if not prompt or not reply or pair in seen:
                    continue
                seen.add(pair)
                pairs.append(pair)
    logger.debug("chatterbot-corpus %s: %d pairs from %d files", folder.name, len(pairs), len(files))
    return pairs


def _turn_text(turn: object) -> str:
    return "" if turn is None else str(turn).strip()
