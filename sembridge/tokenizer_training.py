"""Target tokenizers for users who have none: train one on text, or cut a multilingual one down.

* :func:`train_tokenizer`: a WordPiece (BERT-style: ``[CLS]``, ``##x``) or Unigram
  (SentencePiece-style: ``<s>``, ``▁x``) tokenizer of a given size, trained with the ``tokenizers``
  library on target-language text files (one passage per line);
* :func:`cut_tokenizer`: a multilingual WordPiece or Unigram tokenizer (for example the bridge's
  own) cut down to the pieces a target-language corpus uses: its special tokens, every piece the
  corpus is tokenised into, and every single character of the corpus (with its ``##`` form for
  WordPiece), so unseen words still split into characters. The corpus is tokenised exactly as
  before the cut (greedy WordPiece and Viterbi Unigram both keep the pieces they chose);
* :func:`corpus_coverage`: the vocabulary size, the share of the corpus's word occurrences
  tokenised without the unknown token (coverage) and the share of unknown tokens (UNK rate).

:func:`make_tokenizer` writes either kind to a folder (atomically) that ``AutoTokenizer`` loads and
``sembridge init --target-tokenizer`` takes, with ``sembridge_tokenizer.json`` holding the settings
and the coverage report. Byte-level BPE tokenizers cannot be cut this way (their merges build
pieces from pieces the corpus never shows), and are refused.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from sembridge.data.readers import read_text_lines
from sembridge.errors import SembridgeError
from sembridge.io import atomic_output_dir, check_output_dir, write_json
from sembridge.version import __version__

logger = logging.getLogger("sembridge")

__all__ = [
    "REPORT_FILE",
    "Coverage",
    "TokenizerResult",
    "corpus_coverage",
    "cut_tokenizer",
    "make_tokenizer",
    "read_corpus",
    "train_tokenizer",
]

ModelKind = Literal["wordpiece", "unigram"]
MODEL_KINDS: tuple[str, ...] = ("wordpiece", "unigram")
REPORT_FILE = "sembridge_tokenizer.json"
WORDPIECE_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
UNIGRAM_SPECIALS = ("<pad>", "<unk>", "<s>", "</s>", "<mask>")
MAX_LENGTH = 512


@dataclass(frozen=True)
class Coverage:
    """How well a tokenizer covers a corpus.

    ``coverage`` = word occurrences tokenised without the unknown token / all word occurrences;
    ``unk_rate`` = unknown tokens / all tokens of the corpus (special tokens not counted).
    """

    vocab_size: int
    words: int
    distinct_words: int
    tokens: int
    unk_tokens: int
    coverage: float
    unk_rate: float
    tokens_per_word: float


@dataclass
class TokenizerResult:
    tokenizer: Any
    coverage: Coverage
    report: dict[str, Any]
    output_dir: Path | None = None


# --------------------------------------------------------------------------- corpus


def read_corpus(files: Sequence[str | Path]) -> list[str]:
    """The non-empty lines of ``files`` (UTF-8 text, one passage per line), or an error naming a bad file."""
    if not files:
        raise SembridgeError("no text file given", hint="pass --text FILE (one passage per line)")
    lines: list[str] = []
    for name in files:
        lines.extend(read_text_lines(name, "text file"))
    if not lines:
        raise SembridgeError(
            f"the text files hold no text: {', '.join(map(str, files))}", hint="give files with text"
        )
    return lines


def _word_counts(tokenizer: Any, lines: Iterable[str]) -> Counter[str]:
    """Occurrences of each word, split by the tokenizer's own normaliser and pre-tokenizer."""
    backend = tokenizer.backend_tokenizer
    counts: Counter[str] = Counter()
    for line in lines:
        text = backend.normalizer.normalize_str(line) if backend.normalizer is not None else line
        if backend.pre_tokenizer is not None:
            counts.update(word for word, _ in backend.pre_tokenizer.pre_tokenize_str(text))
        else:
            counts.update(text.split())
    return counts


def _encode_words(tokenizer: Any, words: Sequence[str]) -> list[list[int]]:
    backend = tokenizer.backend_tokenizer
    return [e.ids for e in backend.encode_batch(list(words), add_special_tokens=False)]


def corpus_coverage(tokenizer: Any, lines: Sequence[str]) -> Coverage:
    """Vocabulary size, coverage of the corpus's words and unknown-token rate (see :class:`Coverage`)."""
    counts = _word_counts(tokenizer, lines)
    words = list(counts)
    unk = tokenizer.unk_token_id
    total_words = sum(counts.values())
    tokens = unk_tokens = covered = 0
    for word, ids in zip(words, _encode_words(tokenizer, words), strict=True):
        n = counts[word]
        unknown = sum(1 for i in ids if i == unk) if unk is not None else 0
        tokens += n * len(ids)
        unk_tokens += n * unknown
        covered += n if unknown == 0 else 0
    return Coverage(
        vocab_size=len(tokenizer.get_vocab()),
        words=total_words,
        distinct_words=len(words),
        tokens=tokens,
        unk_tokens=unk_tokens,
        coverage=round(covered / total_words, 6) if total_words else 0.0,
        unk_rate=round(unk_tokens / tokens, 6) if tokens else 0.0,
        tokens_per_word=round(tokens / total_words, 4) if total_words else 0.0,
    )


# --------------------------------------------------------------------------- building


def wordpiece_pipeline(model: Any, lowercase: bool = False) -> Any:
    """A ``tokenizers.Tokenizer`` around a WordPiece ``model`` with BERT's normaliser (accents kept,
    CJK ideographs split), pre-tokenizer and ``##`` decoder: the one BERT-style pipeline."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers

    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=lowercase
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return tokenizer


def unigram_pipeline(model: Any, lowercase: bool = False) -> Any:
    """A ``tokenizers.Tokenizer`` around a Unigram ``model``, SentencePiece-style: NFKC (and
    lower case), ``▁`` marking word starts, in the pre-tokenizer and the decoder."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers

    tokenizer = Tokenizer(model)
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    return tokenizer


def wrap_wordpiece(tokenizer: Any, lowercase: bool = False, model_max_length: int | None = MAX_LENGTH) -> Any:
    """``tokenizer`` (a WordPiece pipeline) with ``[CLS] $A [SEP]`` added, as a ``BertTokenizerFast``."""
    from tokenizers import processors
    from transformers import BertTokenizerFast

    vocab = tokenizer.get_vocab()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    length = {"model_max_length": model_max_length} if model_max_length is not None else {}
    return BertTokenizerFast(
        tokenizer_object=tokenizer,
        do_lower_case=lowercase,
        strip_accents=False,
        tokenize_chinese_chars=True,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        **length,
    )


def wrap_sentencepiece(
    tokenizer: Any, model_max_length: int | None = MAX_LENGTH, template: bool = True
) -> Any:
    """``tokenizer`` (a Unigram or byte-level pipeline) as a ``PreTrainedTokenizerFast`` with the
    ``<s> <pad> </s> <unk> <mask>`` special tokens; ``template`` adds ``<s> $A </s>``."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    if template:
        vocab = tokenizer.get_vocab()
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<s>:0 $A:0 </s>:0",
            pair="<s>:0 $A:0 </s>:0 </s>:0 $B:0 </s>:0",
            special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])],
        )
    length = {"model_max_length": model_max_length} if model_max_length is not None else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
        **length,
    )


# --------------------------------------------------------------------------- training


def train_tokenizer(
    lines: Sequence[str],
    vocab_size: int,
    model: ModelKind = "wordpiece",
    lowercase: bool = False,
    min_frequency: int = 2,
) -> Any:
    """A WordPiece or Unigram tokenizer of ``vocab_size`` entries trained on ``lines``.

    WordPiece is BERT-style (BERT normaliser and pre-tokenizer, ``##`` continuations, every
    character of the text in the vocabulary, ``[CLS] $A [SEP]``); Unigram is SentencePiece-style
    (NFKC, ``▁`` word starts, ``<s> $A </s>``). Returns a ``PreTrainedTokenizerFast``.
    """
    from tokenizers import trainers
    from tokenizers.models import Unigram, WordPiece

    if model not in MODEL_KINDS:
        raise SembridgeError(
            f"unknown tokenizer model '{model}'", hint=f"use one of: {', '.join(MODEL_KINDS)}"
        )
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 10:
        raise SembridgeError(f"vocab_size must be an integer >= 10, got {vocab_size!r}", hint="e.g. 8000")
    if model == "wordpiece":
        tokenizer = wordpiece_pipeline(
            WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"), lowercase
        )
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(WORDPIECE_SPECIALS),
            continuing_subword_prefix="##",
            show_progress=False,
        )
        tokenizer.train_from_iterator(lines, trainer=trainer, length=len(lines))
        return wrap_wordpiece(tokenizer, lowercase)
    tokenizer = unigram_pipeline(Unigram(), lowercase)
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=list(UNIGRAM_SPECIALS),
        unk_token="<unk>",
        show_progress=False,
    )
    tokenizer.train_from_iterator(lines, trainer=trainer, length=len(lines))
    return wrap_sentencepiece(tokenizer)


# --------------------------------------------------------------------------- cutting


def _kept_pieces(tokenizer: Any, lines: Sequence[str], continuation: str | None) -> set[str]:
    """Special tokens, the pieces the corpus is tokenised into, and its single characters."""
    counts = _word_counts(tokenizer, lines)
    vocab = tokenizer.get_vocab()
    by_id = {i: t for t, i in vocab.items()}
    kept = {str(t) for t in tokenizer.all_special_tokens if str(t) in vocab}
    for ids in _encode_words(tokenizer, list(counts)):
        kept.update(by_id[i] for i in ids if i in by_id)
    chars = {c for word in counts for c in word}
    for char in chars:
        for form in (char, f"{continuation}{char}" if continuation else None, f"▁{char}"):
            if form is not None and form in vocab:
                kept.add(form)
    return kept


def cut_tokenizer(tokenizer: Any, lines: Sequence[str]) -> Any:
    """``tokenizer`` (WordPiece or Unigram, fast) keeping only what ``lines`` need, renumbered in order.

    The corpus tokenises to the same pieces before and after the cut.
    """
    from tokenizers import Tokenizer

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise SembridgeError(
            "the tokenizer to cut has no fast (tokenizer.json) form",
            hint="give a tokenizer folder with tokenizer.json",
        )
    spec = json.loads(backend.to_str())
    model = spec["model"]
    kind = model.get("type")
    if kind not in ("WordPiece", "Unigram"):
        raise SembridgeError(
            f"cannot cut a {kind} tokenizer: only WordPiece and Unigram vocabularies can be cut",
            hint="train one instead: sembridge tokenizer train --text FILE --vocab-size 8000",
        )
    prefix = model.get("continuing_subword_prefix", "##") if kind == "WordPiece" else None
    kept = _kept_pieces(tokenizer, lines, prefix)
    if kind == "WordPiece":
        order = sorted(model["vocab"].items(), key=lambda item: item[1])
        tokens = [t for t, _ in order if t in kept]
        new_ids = {t: i for i, t in enumerate(tokens)}
        model["vocab"] = new_ids
    else:
        pieces = [p for p in model["vocab"] if p[0] in kept]
        unk = model["vocab"][model["unk_id"]][0] if model.get("unk_id") is not None else None
        new_ids = {p[0]: i for i, p in enumerate(pieces)}
        model["vocab"] = pieces
        if unk is not None:
            model["unk_id"] = new_ids[unk]
    for added in spec.get("added_tokens") or []:
        if added["content"] not in new_ids:
            raise SembridgeError(f"special token {added['content']!r} was lost in the cut")
        added["id"] = new_ids[added["content"]]
    _renumber_post_processor(spec.get("post_processor"), new_ids)
    cut = Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))
    wrapped = _wrap_like(tokenizer, cut)
    logger.info("cut %s: %s -> %s pieces", kind, f"{len(tokenizer.get_vocab()):,}", f"{len(new_ids):,}")
    return wrapped


def _renumber_post_processor(node: Any, new_ids: dict[str, int]) -> None:
    """Point the post-processor's special-token ids (TemplateProcessing, BertProcessing...) at the new ids."""
    if isinstance(node, dict):
        if node.get("type") in ("BertProcessing", "RobertaProcessing"):
            for key in ("sep", "cls"):
                if key in node:
                    node[key] = [node[key][0], new_ids[node[key][0]]]
        for key, value in node.items():
            if key == "special_tokens" and isinstance(value, dict):
                for special in value.values():
                    special["ids"] = [new_ids[t] for t in special.get("tokens", [])]
            else:
                _renumber_post_processor(value, new_ids)
    elif isinstance(node, list):
        for item in node:
            _renumber_post_processor(item, new_ids)


def _wrap_like(original: Any, backend: Any) -> Any:
    """A fast tokenizer of ``original``'s class family around ``backend``, with ``original``'s roles."""
    from transformers import BertTokenizerFast, PreTrainedTokenizerFast

    roles = {
        f"{role}_token": str(getattr(original, f"{role}_token"))
        for role in ("unk", "pad", "bos", "eos", "cls", "sep", "mask")
        if getattr(original, f"{role}_token", None) is not None
    }
    max_len = getattr(original, "model_max_length", MAX_LENGTH)
    if not max_len or max_len > 1_000_000:
        max_len = MAX_LENGTH
    cls = BertTokenizerFast if isinstance(original, BertTokenizerFast) else PreTrainedTokenizerFast
    return cls(tokenizer_object=backend, model_max_length=max_len, **roles)


# --------------------------------------------------------------------------- writing


def make_tokenizer(
    text_files: Sequence[str | Path],
    output_dir: str | Path | None = None,
    *,
    vocab_size: int | None = None,
    model: ModelKind = "wordpiece",
    lowercase: bool = False,
    cut_from: str | None = None,
    overwrite: bool = False,
) -> TokenizerResult:
    """Train (``vocab_size``) or cut (``cut_from``) a tokenizer on ``text_files``; write it if ``output_dir``.

    Exactly one of ``vocab_size`` and ``cut_from`` is given. The folder holds the tokenizer
    (``AutoTokenizer.from_pretrained`` loads it) and ``sembridge_tokenizer.json`` (settings and
    the coverage of the text files).
    """
    from sembridge.loading import load_tokenizer

    if (vocab_size is None) == (cut_from is None):
        raise SembridgeError(
            "give either a vocabulary size to train or a tokenizer to cut, not both or neither",
            hint="use sembridge tokenizer train --vocab-size N, or sembridge tokenizer cut --from TOKENIZER",
        )
    if output_dir is not None:
        # Refuse before any work, and an output that is, holds or lies in an input.
        check_output_dir(output_dir, overwrite, {"text": list(text_files), "tokenizer": cut_from})
    start = time.perf_counter()
    lines = read_corpus(text_files)
    settings: dict[str, Any] = {"text_files": [str(f) for f in text_files], "lines": len(lines)}
    if cut_from is not None:
        original = load_tokenizer(cut_from, kind="tokenizer to cut")
        tokenizer = cut_tokenizer(original, lines)
        settings.update(action="cut", cut_from=str(cut_from), original_vocab_size=len(original.get_vocab()))
        before = corpus_coverage(original, lines)
        settings["original_coverage"] = asdict(before)
    else:
        tokenizer = train_tokenizer(lines, int(vocab_size), model=model, lowercase=lowercase)  # type: ignore[arg-type]
        settings.update(action="train", model=model, vocab_size=vocab_size, lowercase=lowercase)
    check_has_words(tokenizer, text_files)
    coverage = corpus_coverage(tokenizer, lines)
    report = {
        "sembridge_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": settings,
        "coverage": asdict(coverage),
        "seconds": round(time.perf_counter() - start, 2),
    }
    result = TokenizerResult(tokenizer, coverage, report)
    if output_dir is not None:
        with atomic_output_dir(output_dir, overwrite) as tmp:
            _save(tokenizer, tmp)
            write_json(tmp / REPORT_FILE, report)
        result.output_dir = Path(output_dir)
    return result


def check_has_words(tokenizer: Any, text_files: Sequence[str | Path]) -> None:
    """Refuse a tokenizer made from ``text_files`` that learned no word piece from them: none of
    its regular (not special) tokens holds a letter or a digit, so the text held no words (only
    whitespace, punctuation, symbols or characters the normaliser drops)."""
    from sembridge.vocab import regular_tokens

    regular = regular_tokens(tokenizer)
    if any(ch.isalnum() for token in regular for ch in token):
        return
    named = ", ".join(f"'{f}'" for f in text_files)
    what = f"text file {named}" if len(text_files) == 1 else f"text files {named}"
    special = len(tokenizer.get_vocab()) - len(regular)
    if regular:
        shown = ", ".join(repr(t) for t in regular[:5]) + (", ..." if len(regular) > 5 else "")
        held = f"{special} special token(s) and {len(regular)} without a letter or digit ({shown})"
    else:
        held = f"only its {special} special token(s)"
    raise SembridgeError(
        f"{what} held no words: the tokenizer made from {'it' if len(text_files) == 1 else 'them'} "
        f"has {held}",
        hint="give target-language text, one passage per line",
    )


def _save(tokenizer: Any, folder: Path) -> None:
    """Save so that AutoTokenizer loads it anywhere (the class pinned, no files of the original)."""
    with tempfile.TemporaryDirectory() as scratch:  # save_pretrained may leave helper files
        tokenizer.save_pretrained(scratch)
        for path in Path(scratch).iterdir():
            if path.is_file():
                (folder / path.name).write_bytes(path.read_bytes())
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = type(tokenizer).__name__
    write_json(config_path, config)
