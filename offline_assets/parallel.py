"""Real parallel text (English -> ar, zh, hi, ko, ru), fetched once through the registries.

LibreOffice's UI catalogs (``libreoffice-l10n-{ru,ar,zh-cn,ko,hi}``, MPL-2.0): gettext ``.mo``
files whose message ids are the English strings and whose messages are their translations. The
package is fetched with ``apt-get download`` and unpacked once (:func:`offline_assets.corpora.fetch_debian`);
each language's pairs are built once into ``<cache>/parallel/<lang>/parallel.jsonl``, one
``{"english", "target"}`` record per line, what ``sembridge align --parallel`` reads.

Cleaning: the menu mnemonics (``~`` and ``_``) are removed, whitespace is collapsed, and a pair
is kept when its English holds at least three letters and differs from its translation (an
untranslated string teaches nothing). Each English string is kept once, with the first of its
translations in sorted order, so the build is deterministic.

Run ``python -m offline_assets.parallel [--langs ru zh ...]`` (``make data`` does).
"""

from __future__ import annotations

import argparse
import gettext
import json
import re
from pathlib import Path

from offline_assets.assets import _cached_build
from offline_assets.corpora import DEBIAN_PACKAGES, fetch_debian
from sembridge.cache import default_cache_dir

LANGUAGES = {"ru": "ru", "ar": "ar", "zh": "zh-cn", "ko": "ko", "hi": "hi"}
FORMAT = 1
_MNEMONIC = re.compile(r"[~_]")
_SPACE = re.compile(r"\s+")
_LETTERS = re.compile(r"[A-Za-z]")


def clean(text: str) -> str:
    """A UI string without its mnemonic marks, on one line."""
    return _SPACE.sub(" ", _MNEMONIC.sub("", text)).strip()


def catalog_pairs(folder: Path) -> list[tuple[str, str]]:
    """The (English, translation) pairs of every ``.mo`` catalog under ``folder``, cleaned, deduplicated."""
    translations: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.mo")):
        with open(path, "rb") as handle:
            catalog = gettext.GNUTranslations(handle)._catalog  # the parsed message table
        for key, value in catalog.items():
            message = key[0] if isinstance(key, tuple) else key  # plural forms: (msgid, n)
            english = clean(message.split("\x04", 1)[-1])  # "context\x04msgid"
            target = clean(value)
            if len(_LETTERS.findall(english)) >= 3 and target and target != english:
                translations.setdefault(english, set()).add(target)
    return [(english, min(targets)) for english, targets in sorted(translations.items())]


def parallel_dir(language: str, cache_dir: str | Path | None = None) -> Path:
    """Where :func:`parallel_path` builds the language's pairs (nothing is fetched or built here)."""
    if language not in LANGUAGES:
        raise ValueError(f"no parallel text for '{language}' (have: {', '.join(LANGUAGES)})")
    return Path(cache_dir or default_cache_dir()) / "parallel" / language


def parallel_path(language: str, cache_dir: str | Path | None = None) -> Path:
    """``<cache>/parallel/<lang>/parallel.jsonl``, built from the language's LibreOffice catalogs once."""
    target = parallel_dir(language, cache_dir)
    package = f"libreoffice-l10n-{LANGUAGES[language]}"
    sources = fetch_debian(package, cache_dir)
    folder = sources / DEBIAN_PACKAGES[package][0]

    def build(tmp: Path) -> None:
        pairs = catalog_pairs(folder)
        with open(tmp / "parallel.jsonl", "w", encoding="utf-8") as handle:
            for english, translation in pairs:
                handle.write(
                    json.dumps({"english": english, "target": translation}, ensure_ascii=False) + "\n"
                )

    _cached_build(target, {"format": FORMAT, "package": package}, build)
    return target / "parallel.jsonl"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--langs", nargs="+", choices=sorted(LANGUAGES), default=sorted(LANGUAGES))
    args = parser.parse_args(argv)
    for language in args.langs:
        path = parallel_path(language)
        with open(path, encoding="utf-8") as handle:
            count = sum(1 for _ in handle)
        print(f"{language}: {count:,} parallel pairs in {path}")


if __name__ == "__main__":
    main()
