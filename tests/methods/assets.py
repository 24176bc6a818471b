"""Real offline inputs for the baseline methods, built once and cached (test-only).

* Russian text for FOCUS: chatterbot-corpus dialogues, CLDR names from ``babel`` and sentences
  sampled from wordfreq's Russian list by word frequency.
* Word vectors for OFA and WECHSEL: multilingual-e5-small embeddings (``query: word``) of frequent
  English and Russian words, centred per language, as one multilingual word2vec file (OFA) and as
  two separate spaces
  (WECHSEL), the Russian one turned by a random orthogonal matrix so that only the alignment on
  the bilingual dictionary (English/Russian CLDR names of countries, languages, months and days)
  can bring the spaces together.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import tempfile
from pathlib import Path

import torch

from sembridge.methods.word_vectors import write_word_vectors

FORMAT = 2
STAMP = "assets.json"


def _single_word(text: str) -> str | None:
    word = text.strip().lower()
    return word if word and word.replace("-", "").isalpha() and " " not in word else None


def cldr_dictionary(lang: str = "ru") -> list[tuple[str, str]]:
    """(English, target) pairs of one-word CLDR names: countries, languages, months, days; lower-cased."""
    from babel import Locale

    en, target = Locale("en"), Locale(lang)
    pairs: dict[str, str] = {}
    for table in ("territories", "languages"):
        source_names, target_names = getattr(en, table), getattr(target, table)
        for code in sorted(source_names):
            if code in target_names:
                s, t = _single_word(source_names[code]), _single_word(target_names[code])
                if s and t:
                    pairs.setdefault(s, t)
    for table in ("months", "days"):
        source_names = getattr(en, table)["stand-alone"]["wide"]
        target_names = getattr(target, table)["stand-alone"]["wide"]
        for key in sorted(source_names):
            s, t = _single_word(source_names[key]), _single_word(target_names[key])
            if s and t:
                pairs.setdefault(s, t)
    return sorted(pairs.items())


def russian_text(path: Path, sentences: int = 20_000, words_per_sentence: int = 10, seed: int = 0) -> Path:
    """Russian lines: chatterbot-corpus turns, CLDR names, and frequency-sampled wordfreq sentences."""
    import wordfreq
    from babel import Locale

    from offline_assets import chatterbot_pairs

    lines: list[str] = []
    for prompt, reply in chatterbot_pairs("ru"):
        lines += [prompt, reply]
    ru = Locale("ru")
    for table in ("territories", "languages"):
        names = getattr(ru, table)
        lines += [names[code] for code in sorted(names)]
    lines.append(" ".join(ru.months["format"]["wide"][m] for m in range(1, 13)))
    lines.append(" ".join(ru.days["format"]["wide"][d] for d in range(7)))
    words = wordfreq.top_n_list("ru", 20_000)
    cumulative = list(itertools.accumulate(wordfreq.word_frequency(w, "ru") for w in words))
    rng = random.Random(seed)
    for _ in range(sentences):
        lines.append(" ".join(rng.choices(words, cum_weights=cumulative, k=words_per_sentence)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _frequent_words(lang: str, count: int) -> list[str]:
    import wordfreq

    return [w for w in wordfreq.top_n_list(lang, 3 * count) if w.isalpha()][:count]


def _embed(e5_path: Path, words: list[str]) -> torch.Tensor:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(e5_path), device="cpu")
    return model.encode(
        [f"query: {w}" for w in words], batch_size=128, convert_to_tensor=True, normalize_embeddings=True
    ).float()


def _centred(vectors: torch.Tensor) -> torch.Tensor:
    """Vectors less their mean, at unit length.

    e5's ``query: word`` vectors share a large common direction (unrelated words have cosine
    ~0.8), so averages of many words (the subword vectors of frequent pieces) come close to
    everything; removing each language's mean makes the spaces behave like fastText ones.
    """
    return torch.nn.functional.normalize(vectors - vectors.mean(0), dim=1)


def baseline_inputs(cache_dir: Path, e5_path: Path, words_per_language: int = 1000) -> dict[str, Path]:
    """Build (once) and return the input files of focus, ofa and wechsel for SPLADE-tiny -> Russian.

    Keys: ``text`` (Russian text), ``multilingual`` (binary word2vec, English + Russian words),
    ``english`` (text word2vec), ``russian`` (binary word2vec, rotated space), ``dictionary``
    (English<TAB>Russian CLDR names).
    """
    folder = cache_dir / f"baseline-test-inputs-{words_per_language}"
    files = {
        "text": folder / "ru.txt",
        "multilingual": folder / "en-ru.bin",
        "english": folder / "en.vec",
        "russian": folder / "ru-rotated.bin",
        "dictionary": folder / "en-ru.tsv",
    }
    stamp = {"format": FORMAT, "words_per_language": words_per_language}
    try:
        if json.loads((folder / STAMP).read_text()) == stamp and all(p.is_file() for p in files.values()):
            return files
    except (OSError, ValueError):
        pass

    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".baseline-inputs-", dir=cache_dir))
    try:
        russian_text(tmp / files["text"].name)
        pairs = cldr_dictionary("ru")
        (tmp / files["dictionary"].name).write_text(
            "".join(f"{e}\t{r}\n" for e, r in pairs), encoding="utf-8"
        )
        english = list(dict.fromkeys(_frequent_words("en", words_per_language) + [e for e, _ in pairs]))
        russian = list(dict.fromkeys(_frequent_words("ru", words_per_language) + [r for _, r in pairs]))
        vectors = _embed(e5_path, english + russian)
        en_vectors, ru_vectors = _centred(vectors[: len(english)]), _centred(vectors[len(english) :])
        seen = set(english)
        multilingual = english + [w for w in russian if w not in seen]
        multi_vectors = torch.cat(
            [en_vectors, ru_vectors[[i for i, w in enumerate(russian) if w not in seen]]]
        )
        write_word_vectors(tmp / files["multilingual"].name, multilingual, multi_vectors, binary=True)
        write_word_vectors(tmp / files["english"].name, english, en_vectors, binary=False)
        g = torch.Generator().manual_seed(0)
        rotation = torch.linalg.qr(torch.randn(vectors.shape[1], vectors.shape[1], generator=g))[0]
        write_word_vectors(tmp / files["russian"].name, russian, ru_vectors @ rotation, binary=True)
        (tmp / STAMP).write_text(json.dumps(stamp))
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return files
