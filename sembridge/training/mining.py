"""Hard negatives for a pairs file, with a teacher's score for every text (``sembridge mine``).

For pairs (q_i, p_i), the corpus D is their distinct positives (and any extra documents). In
numbered steps:

1. every query is scored against the whole corpus by BM25 (bm25s, over the target tokenizer's
   pieces, :mod:`sembridge.evaluation.bm25`) and by a dense model (the bridge by default, with its
   own query and document prompts, :mod:`sembridge.evaluation.dense`);
2. the teacher's score is a fusion of the two, normalised per query over the whole corpus so the
   scales meet: ``t(q, d) = w * bm25(q, d) / max_d' bm25(q, d') + (1 - w) * (cos(q, d) - min_q) /
   (max_q - min_q)`` (``--teacher bm25+dense``, ``w`` = ``bm25_weight``), or one of them alone
   (``bm25``: divided by its maximum; ``dense``: the cosine);
3. the miner ranks the candidates of each query (``bm25``, ``dense``, or ``bm25+dense``: by the
   teacher) and keeps ranks ``range_min`` to ``range_max``, dropping, and counting:
   - a candidate whose text equals a positive of the query;
   - a candidate that shares a paragraph with the positive (the first 80 characters of a paragraph
     of at least 40: pages that repeat a paragraph are one document for this purpose);
   - a candidate the teacher scores within ``relative_margin`` of the positive
     (``t(q, d) > (1 - relative_margin) * t(q, p)``): likely another relevant document;
4. the first ``negatives`` survivors are the row's negatives; a query with fewer is left out
   (counted), or with ``fill`` (``--fill``) takes the next survivors below ``range_max`` in the
   miner's ranking, under the same guards (counted): such a query is one whose positive the
   teacher ranks low, so leaving it out drops the queries the model most needs to learn.
   Each row holds ``query``, ``positive``, ``negative_1`` ... ``negative_k`` and
   ``scores`` = ``[t(q, p), t(q, n_1), ..., t(q, n_k)]``: the n-tuple format of
   sentence-transformers' ``mine_hard_negatives``, which ``sembridge finetune --data`` reads and
   its distillation losses learn from.

The written file is cached under the cache folder by a SHA-256 of the pairs' texts and every
setting (models included), so the same command a second time copies it at once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sembridge.cache import default_cache_dir, hash_texts
from sembridge.data.pairs import paragraph_keys
from sembridge.errors import SembridgeError, UsageError
from sembridge.io import atomic_file, check_output_file
from sembridge.log import logger, progress

__all__ = ["MINERS", "TEACHERS", "CorpusScores", "MineSettings", "MineSummary", "mine", "paragraph_keys"]

MINERS = ("bm25", "dense", "bm25+dense")
TEACHERS = ("bm25", "dense", "bm25+dense")
FORMAT = 1
# Queries scored against the whole corpus at a time (a chunk holds chunk x corpus floats per system).
QUERY_CHUNK = 256


@dataclass(frozen=True)
class MineSettings:
    """How candidates are found, scored and kept (see the module docstring for each step)."""

    miner: str = "bm25+dense"
    teacher: str = "bm25+dense"
    negatives: int = 7
    range_min: int = 0
    range_max: int = 50
    relative_margin: float = 0.05
    bm25_weight: float = 0.3
    batch_size: int = 64
    fill: bool = False

    def __post_init__(self) -> None:
        # Each refusal is a usage error naming the flag of ``sembridge mine`` that sets the value.
        if self.miner not in MINERS:
            raise UsageError(f"--miner must be one of {', '.join(MINERS)}, got {self.miner!r}")
        if self.teacher not in TEACHERS:
            raise UsageError(f"--teacher must be one of {', '.join(TEACHERS)}, got {self.teacher!r}")
        for flag, value, least in (
            ("--negatives", self.negatives, 1),
            ("--range-min", self.range_min, 0),
            ("--range-max", self.range_max, 1),
            ("--batch-size", self.batch_size, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise UsageError(f"{flag} must be an integer >= {least}, got {value!r}.")
        if self.range_max - self.range_min < self.negatives:
            raise UsageError(
                f"--range-min {self.range_min} to --range-max {self.range_max} leaves fewer than "
                f"--negatives {self.negatives} candidates",
                hint="widen the range or ask for fewer negatives",
            )
        if not 0 <= self.relative_margin < 1:
            raise UsageError(f"--relative-margin must lie in [0, 1), got {self.relative_margin}.")
        if not 0 <= self.bm25_weight <= 1:
            raise UsageError(f"--bm25-weight must lie in [0, 1], got {self.bm25_weight}.")


@dataclass
class MineSummary:
    """What mining did: counts of rows, candidates dropped by each guard, and the teacher's view."""

    output: str
    pairs: int
    rows: int
    corpus: int
    settings: dict[str, Any]
    dropped_equal: int = 0
    dropped_shared_paragraph: int = 0
    dropped_margin: int = 0
    queries_short_of_negatives: int = 0
    queries_filled: int = 0
    teacher_prefers_positive: float = 0.0
    cached: bool = False
    models: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def minmax_rows(scores: np.ndarray) -> np.ndarray:
    """Each row mapped onto [0, 1] by its own minimum and maximum."""
    low = scores.min(axis=1, keepdims=True)
    high = scores.max(axis=1, keepdims=True)
    return (scores - low) / np.maximum(high - low, 1e-12)


def bm25_rows(index: Any, query_ids: Sequence[Sequence[int]]) -> np.ndarray:
    """BM25 scores of each query against every document, divided by the query's best (0 when none)."""
    rows = np.stack([index.scores(ids) for ids in query_ids]).astype(np.float32)
    return rows / np.maximum(rows.max(axis=1, keepdims=True), 1e-12)


def fused_rows(bm25: np.ndarray, cosine: np.ndarray, bm25_weight: float) -> np.ndarray:
    """The teacher ``bm25+dense`` (step 2 of the module docstring): ``bm25`` as :func:`bm25_rows`
    gives it, ``cosine`` min-max normalised per query, weighted ``bm25_weight`` and the rest."""
    return bm25_weight * bm25 + (1 - bm25_weight) * minmax_rows(cosine)


class CorpusScores:
    """Steps 1 and 2 of the module docstring: every query against every document, by BM25 over
    ``tokenizer``'s pieces and by ``dense_model``'s cosine (either may be None), and their fusion.

    The texts are indexed and encoded once; :meth:`systems` gives a chunk of queries' rows, so a
    large corpus is never held as one queries x documents matrix. ``mine``, the ``--teacher`` of
    ``finetune`` and the quality benchmark's teacher row all score through it.
    """

    def __init__(
        self,
        queries: Sequence[str],
        documents: Sequence[str],
        *,
        tokenizer: Any = None,
        dense_model: Any = None,
        batch_size: int = 64,
        show_progress: bool = False,
        label: str = "dense",
    ) -> None:
        from sembridge.evaluation.bm25 import BM25Index, tokenize
        from sembridge.evaluation.dense import encode_dense

        if tokenizer is None and dense_model is None:
            raise SembridgeError("scoring needs a tokenizer for BM25, a dense model, or both")
        self.size = len(queries)
        self.index = self.query_ids = self.query_vectors = self.doc_vectors = None
        if tokenizer is not None:
            self.index = BM25Index(tokenizer, documents, show_progress=show_progress)
            self.query_ids = tokenize(tokenizer, queries, show_progress, "BM25: tokenizing queries")
        if dense_model is not None:
            self.query_vectors = encode_dense(
                dense_model, queries, "query", batch_size, None, show_progress, f"{label}: queries"
            )
            self.doc_vectors = encode_dense(
                dense_model, documents, "document", batch_size, None, show_progress, f"{label}: documents"
            )

    def systems(self, start: int, stop: int, bm25_weight: float) -> dict[str, np.ndarray]:
        """Rows ``start:stop`` of ``bm25`` (:func:`bm25_rows`), ``dense`` (the cosine) and, where
        both are there, ``bm25+dense`` (:func:`fused_rows` with ``bm25_weight``)."""
        rows: dict[str, np.ndarray] = {}
        if self.index is not None:
            rows["bm25"] = bm25_rows(self.index, self.query_ids[start:stop])
        if self.query_vectors is not None:
            rows["dense"] = self.query_vectors[start:stop] @ self.doc_vectors.T
        if len(rows) == 2:
            rows["bm25+dense"] = fused_rows(rows["bm25"], rows["dense"], bm25_weight)
        return rows

    def teacher(self, start: int, stop: int, bm25_weight: float) -> np.ndarray:
        """Rows ``start:stop`` of the teacher: the fusion where there are both systems, else the one."""
        rows = self.systems(start, stop, bm25_weight)
        return rows.get("bm25+dense", next(iter(rows.values())))

    def chunks(self, size: int = QUERY_CHUNK) -> list[tuple[int, int]]:
        """``(start, stop)`` of each chunk of ``size`` queries."""
        return [(start, min(start + size, self.size)) for start in range(0, self.size, size)]


def mine_inputs(cache_dir: str | Path | None = None, **paths: Any) -> dict[str, Any]:
    """What mining reads from disk, by role (the data, corpus, tokenizer and dense model where they
    are paths, and the cache of mined files): the output must stay apart from each."""
    return {
        **{role: str(path) for role, path in paths.items() if path is not None},
        "cache": Path(cache_dir or default_cache_dir()),
    }


def mine(
    pairs: Any,
    output: str | Path,
    *,
    tokenizer: Any,
    dense_model: Any,
    settings: MineSettings | None = None,
    corpus: Sequence[str] = (),
    overwrite: bool = False,
    cache_dir: str | Path | None = None,
    show_progress: bool = True,
    names: dict[str, str] | None = None,
) -> MineSummary:
    """Mine hard negatives for ``pairs`` and write the n-tuples with teacher scores to ``output``.

    Args:
        pairs: a Dataset (or mapping) with columns ``query`` and ``positive``, as
            :func:`~sembridge.data.load_pairs` reads them.
        output: the JSONL file to write; refused if it exists unless ``overwrite``.
        tokenizer: the target tokenizer whose pieces BM25 counts (a loaded tokenizer).
        dense_model: the dense SentenceTransformer (the bridge), with its prompts.
        settings: :class:`MineSettings`.
        corpus: extra documents to draw negatives from, beside the positives.
        cache_dir: where mined files are cached (default: the sembridge cache).
        names: how the models are named in the cache key and the summary (their ids or folders).
    """
    settings = settings or MineSettings()
    output = Path(output)
    check_output_file(output, overwrite, inputs=mine_inputs(cache_dir=cache_dir, **(names or {})))
    queries, positives = [str(q) for q in pairs["query"]], [str(p) for p in pairs["positive"]]
    if not queries:
        raise SembridgeError("no pairs to mine negatives for")
    documents = sorted(set(positives) | {str(d) for d in corpus if str(d).strip()})
    names = dict(names or {})
    key = _cache_key(queries, positives, documents, settings, names)
    cached = Path(cache_dir or default_cache_dir()) / "mine" / f"{key}.jsonl"
    summary_file = cached.with_suffix(".json")
    if cached.is_file() and summary_file.is_file():
        summary = MineSummary(**json.loads(summary_file.read_text(encoding="utf-8")))
        with atomic_file(output, "wb") as handle, open(cached, "rb") as source:
            shutil.copyfileobj(source, handle)
        summary.output, summary.cached = str(output), True
        logger.info("mined n-tuples found in the cache (%s): copied to %s", cached, output)
        return summary

    position = {text: i for i, text in enumerate(documents)}
    positive_ids = np.array([position[p] for p in positives])
    positives_of: dict[str, set[int]] = {}
    for query, doc in zip(queries, positive_ids, strict=True):
        positives_of.setdefault(query, set()).add(int(doc))
    paragraphs = [paragraph_keys(text) for text in documents]
    logger.info(
        "1. %s pairs, %s documents; scoring with BM25 and the dense model",
        f"{len(queries):,}",
        f"{len(documents):,}",
    )

    scorer = CorpusScores(
        queries,
        documents,
        tokenizer=tokenizer,
        dense_model=dense_model,
        batch_size=settings.batch_size,
        show_progress=show_progress,
    )

    summary = MineSummary(
        output=str(output),
        pairs=len(queries),
        rows=0,
        corpus=len(documents),
        settings=asdict(settings),
        models=names,
    )
    rows: list[dict[str, Any]] = []
    prefers = 0
    with progress(disable=not show_progress) as bar:
        task = bar.add_task("mining negatives", total=len(queries))
        for start, stop in scorer.chunks():
            systems = scorer.systems(start, stop, settings.bm25_weight)
            teacher, ranking = systems[settings.teacher], systems[settings.miner]
            for row in range(stop - start):
                i = start + row
                found = _negatives(
                    i,
                    row,
                    queries,
                    positive_ids,
                    positives_of,
                    paragraphs,
                    teacher,
                    ranking,
                    settings,
                    summary,
                )
                if found is None:
                    continue
                scores = [float(teacher[row, positive_ids[i]])] + [float(teacher[row, j]) for j in found]
                prefers += scores[0] > scores[1]
                rows.append(
                    {
                        "query": queries[i],
                        "positive": positives[i],
                        **{f"negative_{k}": documents[j] for k, j in enumerate(found, start=1)},
                        "scores": scores,
                    }
                )
            bar.advance(task, stop - start)
    if not rows:
        raise SembridgeError(
            f"no query kept {settings.negatives} negatives (corpus of {len(documents):,} documents)",
            hint="ask for fewer --negatives, lower --relative-margin, or add documents with --corpus",
        )
    summary.rows = len(rows)
    summary.teacher_prefers_positive = round(prefers / len(rows), 4)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(cached) as handle:
        for record in rows:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    with atomic_file(summary_file) as handle:
        handle.write(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
    with atomic_file(output, "wb") as handle, open(cached, "rb") as source:
        shutil.copyfileobj(source, handle)
    logger.info(
        "2. %s rows with %d negatives each; dropped: %s equal to a positive, %s sharing a paragraph, "
        "%s within the margin; %s queries short of negatives, %s filled from below the range",
        f"{summary.rows:,}",
        settings.negatives,
        f"{summary.dropped_equal:,}",
        f"{summary.dropped_shared_paragraph:,}",
        f"{summary.dropped_margin:,}",
        f"{summary.queries_short_of_negatives:,}",
        f"{summary.queries_filled:,}",
    )
    return summary


def _negatives(
    i: int,
    row: int,
    queries: Sequence[str],
    positive_ids: np.ndarray,
    positives_of: dict[str, set[int]],
    paragraphs: Sequence[set[str]],
    teacher: np.ndarray,
    ranking: np.ndarray,
    settings: MineSettings,
    summary: MineSummary,
) -> list[int] | None:
    """The negatives of query ``i`` (step 3 of the module docstring), or None when too few are left."""
    positive = int(positive_ids[i])
    limit = (1 - settings.relative_margin) * teacher[row, positive]
    order = np.argsort(-ranking[row], kind="stable")
    chosen: list[int] = []
    for rank, j in enumerate(order if settings.fill else order[: settings.range_max]):
        j = int(j)
        if j in positives_of[queries[i]]:
            summary.dropped_equal += rank < settings.range_max
            continue
        if rank < settings.range_min:
            continue
        if paragraphs[j] & paragraphs[positive]:
            summary.dropped_shared_paragraph += rank < settings.range_max
            continue
        if teacher[row, j] > limit:
            summary.dropped_margin += rank < settings.range_max
            continue
        chosen.append(j)
        if len(chosen) == settings.negatives:
            summary.queries_filled += rank >= settings.range_max
            return chosen
    summary.queries_short_of_negatives += 1
    return None


def _cache_key(
    queries: Sequence[str],
    positives: Sequence[str],
    documents: Sequence[str],
    settings: MineSettings,
    names: dict[str, str],
) -> str:
    digest = hashlib.sha256(json.dumps([FORMAT, asdict(settings), sorted(names.items())]).encode())
    for texts in (queries, positives, documents):
        digest.update(len(texts).to_bytes(8, "little"))
        hash_texts(digest, texts)
    return digest.hexdigest()[:32]
