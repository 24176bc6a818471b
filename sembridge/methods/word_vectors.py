"""Word vectors for OFA and WECHSEL: word2vec files, subword vectors, dictionary alignment.

* :func:`read_word_vectors` / :func:`write_word_vectors`: the word2vec text format (also
  fastText ``.vec`` files, and GloVe files without a header line) and the word2vec binary format,
  told apart by content.
* :func:`subword_vectors`: a vector per token of a tokenizer, built from the vectors of the words
  whose tokenisation contains it.
* :func:`read_dictionary` and :func:`align_with_dictionary`: orthogonal Procrustes on the vectors
  of bilingual dictionary pairs (WECHSEL).
"""

from __future__ import annotations

import codecs
import logging
import mmap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from sembridge.errors import SembridgeError

logger = logging.getLogger("sembridge")


@dataclass
class WordVectors:
    """Words, most frequent first (the order of word2vec files), and their vectors [n, dim]."""

    words: list[str]
    vectors: torch.Tensor
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ValueError(
                f"vectors must be [len(words), dim]: {tuple(self.vectors.shape)} for {len(self.words)} words"
            )
        for i, word in enumerate(self.words):
            self._index.setdefault(word, i)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def get(self, word: str) -> int | None:
        """The row of ``word``, or None."""
        return self._index.get(word)


# ------------------------------------------------------------------------------- reading files


def _parse_header(line: bytes) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _looks_binary(line: bytes, dim: int) -> bool:
    """Whether the first record after the header is not a text line ``word v1 ... vdim``."""
    try:
        fields = line.decode("utf-8").split()
        [float(v) for v in fields[1:]]
    except (UnicodeDecodeError, ValueError):
        return True
    return len(fields) != dim + 1


def read_word_vectors(path: str | Path, max_words: int | None = None) -> WordVectors:
    """Read a word2vec file, text or binary (detected from the content), keeping file order.

    Text: an optional header ``count dim``, then one ``word v1 ... vdim`` line per word (fastText
    ``.vec`` and GloVe files are of this kind). Binary: the header line, then per word its UTF-8
    bytes, a space and ``dim`` little-endian float32 (an optional newline between records).
    The file is streamed (text) or memory-mapped (binary), so ``max_words`` reads only the first
    words of a large file. A word listed twice keeps its first vector.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            first = handle.readline()
            bom = len(codecs.BOM_UTF8) if first.startswith(codecs.BOM_UTF8) else 0  # Windows tools
            first = first[bom:]
            header = _parse_header(first)
            if header is not None:
                dim, start = header[1], handle.tell()
                if dim < 1:
                    raise SembridgeError(f"word vectors '{path}': the header gives dimension {dim}")
                binary = _looks_binary(handle.readline(), dim)
            else:
                dim, start, binary = len(first.split()) - 1, bom, False
                if dim < 1:
                    raise SembridgeError(
                        f"'{path}' is not a word2vec file",
                        hint="expected 'count dim' then one 'word v1 ... vdim' line per word",
                    )
            limit = max_words if max_words is not None else (header[0] if header else None)
            handle.seek(start)
            if binary:
                words, rows = _read_binary(handle, start, dim, limit, path)
            else:
                words, rows = _read_text(handle, 2 if header else 1, dim, limit, path)
    except OSError as err:
        raise SembridgeError(f"cannot read word vectors '{path}': {err.strerror or err}") from err
    if not words:
        raise SembridgeError(f"word vectors '{path}' hold no word")
    vectors = torch.from_numpy(np.stack(rows).astype(np.float32))
    logger.info(
        "word vectors %s: %s words, dim %d (%s)",
        path.name,
        f"{len(words):,}",
        dim,
        "binary" if binary else "text",
    )
    return WordVectors(words, vectors)


def _read_text(
    handle: BinaryIO, first_lineno: int, dim: int, limit: int | None, path: Path
) -> tuple[list[str], list[np.ndarray]]:
    words: list[str] = []
    rows: list[np.ndarray] = []
    for lineno, raw in enumerate(handle, start=first_lineno):
        if limit is not None and len(words) >= limit:
            break
        line = raw.decode("utf-8", errors="replace").rstrip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        values = np.array(rest.split(), dtype=np.float32) if rest else np.empty(0, np.float32)
        if values.shape[0] != dim:
            raise SembridgeError(
                f"'{path}', line {lineno}: '{word[:40]}' has {values.shape[0]} values, not {dim}",
                hint="a word2vec text line is 'word v1 ... vdim', words without spaces",
            )
        words.append(word)
        rows.append(values)
    return words, rows


def _read_binary(
    handle: BinaryIO, start: int, dim: int, limit: int | None, path: Path
) -> tuple[list[str], list[np.ndarray]]:
    words: list[str] = []
    rows: list[np.ndarray] = []
    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        pos, size, width = start, len(data), 4 * dim
        while pos < size and (limit is None or len(words) < limit):
            space = data.find(b" ", pos)
            if space < 0 or space + 1 + width > size:
                if data[pos:].strip():
                    raise SembridgeError(
                        f"word vectors '{path}': truncated binary record after {len(words):,} words"
                    )
                break
            words.append(data[pos:space].lstrip(b"\n").decode("utf-8", errors="replace"))
            rows.append(np.frombuffer(data[space + 1 : space + 1 + width], dtype="<f4").copy())
            pos = space + 1 + width
    return words, rows


def write_word_vectors(
    path: str | Path, words: Sequence[str], vectors: torch.Tensor | np.ndarray, binary: bool = False
) -> Path:
    """Write a word2vec file (text or binary, with the ``count dim`` header)."""
    array = np.asarray(vectors.detach().cpu() if isinstance(vectors, torch.Tensor) else vectors, dtype="<f4")
    if array.ndim != 2 or array.shape[0] != len(words):
        raise ValueError(f"vectors must be [len(words), dim], got {array.shape} for {len(words)} words.")
    for word in words:
        if not word or any(ch.isspace() for ch in word):
            raise ValueError(f"word2vec words must be non-empty and without whitespace, got {word!r}.")
    path = Path(path)
    with path.open("wb") as out:
        out.write(f"{array.shape[0]} {array.shape[1]}\n".encode())
        for word, row in zip(words, array, strict=True):
            if binary:
                out.write(word.encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                out.write((word + " " + " ".join(f"{v:.6g}" for v in row) + "\n").encode("utf-8"))
    return path


# ------------------------------------------------------------------------------- subword vectors


def _token_word_pairs(
    tokenizer: Any, words: Sequence[str], batch: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """(token id, word index) for every token in the tokenisation of ``word`` or ``" " + word``, deduplicated.

    Both spellings are tokenised (as WECHSEL does) so that byte-level BPE vocabularies, whose
    word-start tokens carry the space, get both their word-start and word-internal tokens.
    """
    token_ids: list[np.ndarray] = []
    word_ids: list[np.ndarray] = []
    for begin in range(0, len(words), batch):
        chunk = list(words[begin : begin + batch])
        for texts in (chunk, [" " + w for w in chunk]):
            encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
            for offset, ids in enumerate(encoded):
                if ids:
                    token_ids.append(np.asarray(ids, dtype=np.int64))
                    word_ids.append(np.full(len(ids), begin + offset, dtype=np.int64))
    if not token_ids:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pairs = np.unique(np.stack([np.concatenate(token_ids), np.concatenate(word_ids)], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def zipf_weights(count: int) -> torch.Tensor:
    """Frequency estimates for words listed most frequent first: 1 / rank (Zipf's law)."""
    return 1.0 / torch.arange(1, count + 1, dtype=torch.float64)


def subword_vectors(
    tokenizer: Any,
    word_vectors: WordVectors,
    num_tokens: int,
    word_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A vector for every token id of ``tokenizer`` from the vectors of the words containing it.

    With ``W(t)`` the words whose tokenisation contains token ``t`` and ``f_w`` a word weight,

        v(t) = sum_{w in W(t)} f_w * v(w) / sum_{w in W(t)} f_w

    ``word_weights=None`` gives every word weight 1: the plain average (OFA); WECHSEL weights
    each word by its frequency (see :func:`zipf_weights`). Returns ``(vectors [num_tokens, dim],
    words [num_tokens])``: tokens contained in no word have a zero vector and a count of 0.
    """
    token_ids, word_ids = _token_word_pairs(tokenizer, word_vectors.words)
    keep = (token_ids >= 0) & (token_ids < num_tokens)
    token_ids, word_ids = torch.from_numpy(token_ids[keep]), torch.from_numpy(word_ids[keep])
    weights = (
        torch.ones(len(word_vectors), dtype=torch.float64) if word_weights is None else word_weights.double()
    )
    if weights.shape != (len(word_vectors),):
        raise ValueError(
            f"word_weights must have one weight per word ({len(word_vectors)}), got {tuple(weights.shape)}."
        )
    values = weights[word_ids]
    incidence = torch.sparse_coo_tensor(
        torch.stack([token_ids, word_ids]), values, (num_tokens, len(word_vectors)), check_invariants=True
    ).coalesce()
    sums = torch.sparse.mm(incidence, word_vectors.vectors.double())
    mass = torch.zeros(num_tokens, dtype=torch.float64).index_add_(0, token_ids, values)
    counts = torch.bincount(token_ids, minlength=num_tokens)
    vectors = torch.where(mass[:, None] > 0, sums / mass.clamp_min(1e-300)[:, None], torch.zeros_like(sums))
    return vectors.float(), counts


# ------------------------------------------------------------------------------- alignment


def read_dictionary(path: str | Path) -> list[tuple[str, str]]:
    """Bilingual dictionary pairs (source word, target word), one per line, two tab-separated columns.

    Blank lines and lines starting with ``#`` are skipped; a line without a tab may separate its
    two words by spaces (MUSE dictionaries do).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise SembridgeError(f"cannot read the dictionary '{path}': {err}") from err
    pairs: list[tuple[str, str]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")] if "\t" in line else line.split()
        if len(fields) != 2 or not all(fields):
            raise SembridgeError(
                f"dictionary '{path}', line {lineno}: expected two columns, got {raw[:80]!r}",
                hint="one 'source word<TAB>target word' pair per line",
            )
        pairs.append((fields[0], fields[1]))
    if not pairs:
        raise SembridgeError(
            f"the dictionary '{path}' holds no pair", hint="one 'source word<TAB>target word' per line"
        )
    return pairs


def orthogonal_procrustes(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The orthogonal ``W`` minimising ``||a W - b||_F``: ``W = U V^T`` with ``U S V^T = svd(a^T b)``."""
    u, _, vt = torch.linalg.svd(a.double().T @ b.double())
    return u @ vt


@dataclass
class Alignment:
    """An orthogonal map from the source word space into the target word space."""

    matrix: torch.Tensor
    pairs_used: int
    pairs_given: int
    cosine_before: float
    cosine_after: float

    def info(self) -> dict[str, Any]:
        return {
            "dictionary_pairs": self.pairs_given,
            "dictionary_pairs_with_vectors": self.pairs_used,
            "pair_cosine_before_alignment": round(self.cosine_before, 4),
            "pair_cosine_after_alignment": round(self.cosine_after, 4),
        }


def _lookup(vectors: WordVectors, word: str) -> int | None:
    for variant in (word, word.lower(), word.title()):
        row = vectors.get(variant)
        if row is not None:
            return row
    return None


def _mean_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a, b, dim=1).mean())


def align_with_dictionary(
    source: WordVectors, target: WordVectors, pairs: Sequence[tuple[str, str]]
) -> Alignment:
    """Orthogonal Procrustes from the source space to the target space on the dictionary pairs.

    A pair counts when both words have vectors (tried as given, lower-cased and title-cased, as
    WECHSEL does). The map ``W`` minimises ``sum ||s W - t||^2`` over the pairs (``W^T W = I``).
    """
    if source.dim != target.dim:
        raise SembridgeError(
            f"the source word vectors have dimension {source.dim}, the target ones {target.dim}",
            hint="--source-word-vectors and --target-word-vectors must have the same dimension",
        )
    rows: set[tuple[int, int]] = set()
    for source_word, target_word in pairs:
        s, t = _lookup(source, source_word), _lookup(target, target_word)
        if s is not None and t is not None:
            rows.add((s, t))
    if not rows:
        raise SembridgeError(
            "no dictionary pair has vectors on both sides",
            hint="--dictionary's columns must be words of --source-word-vectors and of --target-word-vectors",
        )
    index = torch.tensor(sorted(rows), dtype=torch.long)
    a = source.vectors[index[:, 0]].double()
    b = target.vectors[index[:, 1]].double()
    if len(index) < source.dim:
        logger.warning(
            "only %d dictionary pairs with vectors for %d dimensions: the alignment is underdetermined",
            len(index),
            source.dim,
        )
    matrix = orthogonal_procrustes(a, b)
    return Alignment(
        matrix=matrix,
        pairs_used=len(index),
        pairs_given=len(pairs),
        cosine_before=_mean_cosine(a, b),
        cosine_after=_mean_cosine(a @ matrix, b),
    )


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length (zero rows stay zero)."""
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


__all__ = [
    "Alignment",
    "WordVectors",
    "align_with_dictionary",
    "l2_normalise",
    "orthogonal_procrustes",
    "read_dictionary",
    "read_word_vectors",
    "subword_vectors",
    "write_word_vectors",
    "zipf_weights",
]
