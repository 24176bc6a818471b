"""Pseudo-parallel pairs mined from two languages' text (``sembridge mine --parallel``): CRISS's step.

Given English texts E and target-language texts T that are not translations of each other (two
languages' help pages, forums, product descriptions), the pairs most likely to say the same thing
are found by margin scoring (Artetxe and Schwenk, 2019), the criterion of LASER's WikiMatrix and
CCMatrix, and what CRISS mines with its own model between rounds. In numbered steps:

1. both sides are encoded by one scorer and L2-normalised, so every score is a cosine: the dense
   bridge (its query prompt on both sides, as e5 asks for symmetric tasks) or a sparse model (the
   aligned model: its sparse vectors, exact dot products over an inverted index);
2. every text's ``neighbours`` nearest texts on the other side are found (exact), and their mean
   cosine is the text's neighbourhood density ``m(x)``: a text close to everything (a short
   generic string) has a high one;
3. every neighbour pair gets the ratio margin ``margin(e, t) = cos(e, t) / ((m(e) + m(t)) / 2)``
   (how much closer the two are than their neighbourhoods), and each text's best partner by
   margin among its neighbours is a candidate;
4. candidates are taken by margin, highest first, when neither text is taken yet and the margin
   is at least ``min_margin`` (the "max-score" strategy: one pair per text); a candidate whose
   two texts are equal (an untranslated string, a command) is dropped and counted.

The output holds ``english``, ``target`` and ``score`` (the margin) per line, best first: what
``sembridge align --parallel`` reads. Align on it, and mine again with the aligned model
(``--model``): CRISS's rounds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sembridge.errors import SembridgeError, UsageError
from sembridge.evaluation.retrieval import SearchResult
from sembridge.io import atomic_file, check_output_file
from sembridge.log import logger

__all__ = [
    "ParallelMineSettings",
    "ParallelMineSummary",
    "margin_pairs",
    "mine_parallel",
    "nearest_neighbours",
    "read_texts",
]


@dataclass(frozen=True)
class ParallelMineSettings:
    """How pseudo-parallel pairs are scored and kept (see the module docstring for each step)."""

    neighbours: int = 4
    min_margin: float = 1.02
    batch_size: int = 64

    def __post_init__(self) -> None:
        # Each refusal names the flag of ``sembridge mine --parallel`` that sets the value.
        for flag, value in (("--neighbours", self.neighbours), ("--batch-size", self.batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{flag} must be a positive integer, got {value!r}")
        if not isinstance(self.min_margin, (int, float)) or not self.min_margin > 0:
            raise UsageError(f"--min-margin must be a positive number, got {self.min_margin!r}")


@dataclass
class ParallelMineSummary:
    """What a mining run read and wrote."""

    output: str
    english: int
    target: int
    rows: int
    candidates: int = 0
    dropped_identical: int = 0
    below_margin: int = 0
    mean_margin: float = 0.0
    scorer: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_texts(source: str | Path, what: str = "texts") -> list[str]:
    """The distinct non-empty texts of ``source``, in order: a text file (``.txt``, ``.text``,
    ``.md``, ``.txt.gz``; one text per line) or any
    corpus :func:`~sembridge.data.load_corpus` reads (corpus.jsonl, a pairs file's positives, a
    data folder)."""
    from sembridge.data import load_corpus
    from sembridge.data.make_pairs import TEXT_SUFFIXES
    from sembridge.data.readers import read_text_lines

    if str(source).lower().endswith(TEXT_SUFFIXES):
        texts = read_text_lines(source, what)
    else:
        texts = [text.strip() for text in load_corpus(source).values()]
    distinct = list(dict.fromkeys(text for text in texts if text))
    if not distinct:
        raise SembridgeError(f"{what} '{source}' hold no text", hint="pass a file with one text per line")
    return distinct


def margin_pairs(
    english_to_target: SearchResult,
    target_to_english: SearchResult,
    min_margin: float,
    english: Sequence[str] | None = None,
    target: Sequence[str] | None = None,
) -> tuple[list[tuple[int, int, float]], dict[str, int]]:
    """Steps 2-4 on the two directions' nearest neighbours (cosines, best first; -1 pads).

    Returns ``(english row, target row, margin)`` triples, best first, one per text at most, and
    the counts of candidates, identical texts dropped (when the texts are given) and candidates
    below ``min_margin``.
    """
    n_english, n_target = english_to_target.indices.shape[0], target_to_english.indices.shape[0]
    density_e = _density(english_to_target, n_target)
    density_t = _density(target_to_english, n_english)

    def margin(e: int, t: int, cosine: float) -> float:
        denominator = (density_e[e] + density_t[t]) / 2
        return float(cosine / denominator) if denominator > 0 else 0.0

    # Each text's best partner by margin among its neighbours (the two directions' lists).
    candidates: dict[tuple[int, int], float] = {}
    identical: set[tuple[int, int]] = set()
    for result, english_rows in ((english_to_target, True), (target_to_english, False)):
        for row in range(result.indices.shape[0]):
            best: tuple[float, int, int] | None = None
            for column, cosine in zip(result.indices[row], result.scores[row], strict=True):
                if column < 0:
                    continue
                e, t = (row, int(column)) if english_rows else (int(column), row)
                if english is not None and target is not None and english[e] == target[t]:
                    identical.add((e, t))
                    continue
                value = margin(e, t, float(cosine))
                if best is None or value > best[0]:
                    best = (value, e, t)
            if best is not None:
                candidates[(best[1], best[2])] = best[0]
    counts = {"candidates": len(candidates), "dropped_identical": len(identical), "below_margin": 0}
    scored = []
    for (e, t), value in candidates.items():
        if value < min_margin:
            counts["below_margin"] += 1
            continue
        scored.append((e, t, value))
    scored.sort(key=lambda item: (-item[2], item[0], item[1]))
    taken_e: set[int] = set()
    taken_t: set[int] = set()
    kept = []
    for e, t, value in scored:
        if e in taken_e or t in taken_t:
            continue
        taken_e.add(e)
        taken_t.add(t)
        kept.append((e, t, value))
    return kept, counts


def mine_parallel(
    english: Sequence[str],
    target: Sequence[str],
    output: str | Path,
    *,
    dense_model: Any = None,
    sparse_model: Any = None,
    settings: ParallelMineSettings | None = None,
    overwrite: bool = False,
    inputs: dict[str, Any] | None = None,
    show_progress: bool = True,
    scorer_name: str = "",
) -> ParallelMineSummary:
    """Mine pseudo-parallel pairs between ``english`` and ``target`` texts and write them to ``output``.

    Args:
        english, target: the two sides' texts (repeats are scored once).
        output: the JSONL file to write (``english``, ``target``, ``score``); refused if it exists
            unless ``overwrite``.
        dense_model: a SentenceTransformer that scores (the bridge); or
        sparse_model: a SparseEncoder that scores (an aligned model); exactly one of the two.
        settings: :class:`ParallelMineSettings`.
        inputs: paths the output must stay apart from, by role (the command's inputs).
        scorer_name: how the scorer is named in the summary (its id or folder).
    """
    settings = settings or ParallelMineSettings()
    _check_scorer(dense_model, sparse_model)
    output = Path(output)
    check_output_file(output, overwrite, inputs=inputs)
    english = list(dict.fromkeys(str(text) for text in english))
    target = list(dict.fromkeys(str(text) for text in target))
    if not english or not target:
        raise SembridgeError("both sides need texts to mine pairs from")
    logger.info(
        "1. %s English and %s target texts; encoding with %s",
        f"{len(english):,}",
        f"{len(target):,}",
        scorer_name or "the scorer",
    )
    forward, backward = nearest_neighbours(
        english,
        target,
        dense_model=dense_model,
        sparse_model=sparse_model,
        settings=settings,
        show_progress=show_progress,
    )
    kept, counts = margin_pairs(forward, backward, settings.min_margin, english, target)
    if not kept:
        raise SembridgeError(
            f"no pair reached a margin of {settings.min_margin} ({counts['candidates']:,} candidates)",
            hint="lower --min-margin, or give texts that talk about the same things",
        )
    with atomic_file(output) as handle:
        for e, t, margin in kept:
            record = {"english": english[e], "target": target[t], "score": round(margin, 6)}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    summary = ParallelMineSummary(
        output=str(output),
        english=len(english),
        target=len(target),
        rows=len(kept),
        mean_margin=round(float(np.mean([margin for _, _, margin in kept])), 4),
        scorer=scorer_name,
        settings=asdict(settings),
        **counts,
    )
    logger.info(
        "2. %s pairs kept of %s candidates (%s identical, %s below the margin)",
        f"{summary.rows:,}",
        f"{summary.candidates:,}",
        f"{summary.dropped_identical:,}",
        f"{summary.below_margin:,}",
    )
    return summary


def nearest_neighbours(
    english: Sequence[str],
    target: Sequence[str],
    *,
    dense_model: Any = None,
    sparse_model: Any = None,
    settings: ParallelMineSettings | None = None,
    show_progress: bool = True,
) -> tuple[SearchResult, SearchResult]:
    """Steps 1-2: each English text's ``settings.neighbours`` nearest target texts by cosine, and
    each target text's nearest English texts, scored by ``dense_model`` or ``sparse_model``."""
    settings = settings or ParallelMineSettings()
    _check_scorer(dense_model, sparse_model)
    from sembridge.encoding.encode import encode_texts
    from sembridge.evaluation.dense import cosine_search, encode_dense
    from sembridge.evaluation.retrieval import exact_search

    def encode(texts: Sequence[str], side: str) -> Any:
        if dense_model is not None:
            return encode_dense(
                dense_model, texts, "query", settings.batch_size, None, show_progress, f"dense: {side}"
            )
        vectors = encode_texts(
            sparse_model, texts, "document", settings.batch_size, None, show_progress, f"sparse: {side}"
        )
        return _unit_rows(vectors)

    search = cosine_search if dense_model is not None else exact_search
    english_vectors, target_vectors = encode(english, "English"), encode(target, "target")
    k = settings.neighbours
    return search(english_vectors, target_vectors, k), search(target_vectors, english_vectors, k)


def _check_scorer(dense_model: Any, sparse_model: Any) -> None:
    if (dense_model is None) == (sparse_model is None):
        raise UsageError("give one scorer: a dense model (the bridge) or a sparse model (--model)")


def _density(result: SearchResult, n_other: int) -> np.ndarray:
    """Mean cosine of each row's ``k`` nearest texts on the other side (``k`` the result's width,
    at most ``n_other``). A pad of the sparse search is a text sharing no term: cosine 0."""
    valid = result.indices >= 0
    totals = np.where(valid, result.scores, 0.0).sum(axis=1)
    return totals / max(1, min(result.indices.shape[1], n_other))


def _unit_rows(matrix: Any) -> Any:
    """A CSR matrix with every row scaled to length 1 (a zero row stays zero)."""
    import scipy.sparse as sp

    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1))).ravel()
    return sp.diags(1 / np.maximum(norms, np.finfo(np.float32).tiny)) @ matrix
