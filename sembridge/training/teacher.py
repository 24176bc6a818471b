"""A teacher's scores for training n-tuples (``finetune --teacher``), computed once and cached.

The rows hold ``query``, ``positive`` and ``negative_1`` ... ``negative_k`` (as ``sembridge mine``
writes them); the teacher gives each query's texts a score, written to the ``scores`` column
(positive first), which the distillation losses learn from. A teacher is:

- ``bm25``: BM25 over the student's word pieces (bm25s), divided by the query's best score over
  every text of the data;
- a dense bi-encoder (a sentence-transformers model, its own query/document prompts): the cosine;
  ``bridge`` names the bridge the model was initialised with (from its ``sembridge_init.json``);
- a cross-encoder (a model saved as ``*ForSequenceClassification``): its score of each pair;
- ``bm25+MODEL``: the fusion ``sembridge mine`` uses, ``w * bm25 / max + (1 - w) * min-max(cos)``
  per query over every text of the data, with ``w`` = :data:`BM25_WEIGHT`.

The scores are cached under the cache folder by a SHA-256 of the rows' texts and the teacher, so
a second run (or ``--resume``) reads them at once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from sembridge.cache import default_cache_dir, hash_texts
from sembridge.data.pairs import SCORES_COLUMN, numbered_negatives
from sembridge.errors import SembridgeError, UsageError
from sembridge.io import atomic_file
from sembridge.log import logger
from sembridge.training.mining import CorpusScores, MineSettings

__all__ = ["BM25_WEIGHT", "parse_teacher", "score_with_teacher"]

BM25_WEIGHT = MineSettings().bm25_weight  # as `sembridge mine --bm25-weight`
FORMAT = 1


def parse_teacher(teacher: str) -> tuple[bool, str | None]:
    """``(uses BM25, the model or None)`` of a ``--teacher`` value; refuses an empty one."""
    text = str(teacher).strip()
    parts = [part.strip() for part in text.split("+")] if "+" in text else [text]
    if not text or any(not part for part in parts) or len(parts) > 2:
        raise UsageError(
            f"--teacher must be bm25, a model, or bm25+MODEL, got {teacher!r}",
            hint="e.g. --teacher bm25+bridge, --teacher intfloat/multilingual-e5-small",
        )
    bm25 = "bm25" in parts
    models = [part for part in parts if part != "bm25"]
    if len(parts) == 2 and (not bm25 or len(models) != 1):
        raise UsageError(f"--teacher fuses BM25 with one model (bm25+MODEL), got {teacher!r}")
    return bm25, (models[0] if models else None)


def recorded_settings(student: Any, needs: str, hint: str) -> tuple[Path, dict[str, Any]]:
    """The settings of the student folder's ``sembridge_init.json`` (``finetune`` and ``align``
    copy it along), and its path; ``needs`` says what reads them, for the error when there is none."""
    from sembridge.model_card import INIT_REPORT as REPORT_FILE

    report = Path(str(student)).expanduser() / REPORT_FILE if isinstance(student, (str, Path)) else None
    if report is None or not report.is_file():
        raise SembridgeError(f"{needs}, and '{student}' holds no {REPORT_FILE}", hint=hint)
    return report, json.loads(report.read_text(encoding="utf-8")).get("settings", {})


def _bridge_of(student: Any) -> str:
    """The bridge recorded in the student folder's ``sembridge_init.json`` (``--teacher bridge``)."""
    report, settings = recorded_settings(
        student,
        "--teacher bridge names the bridge the model was initialised with",
        "name the teacher model itself, e.g. --teacher bm25+intfloat/multilingual-e5-small",
    )
    bridge = settings.get("bridge") or (settings.get("method_options") or {}).get("bridge")
    if not bridge:
        raise SembridgeError(f"{report} records no bridge", hint="name the teacher model itself")
    return str(bridge)


def _is_cross_encoder(model: str) -> bool:
    from transformers import AutoConfig

    try:
        architectures = AutoConfig.from_pretrained(model).architectures or []
    except Exception:  # a sentence-transformers folder without a root config: a bi-encoder
        return False
    return any(name.endswith("ForSequenceClassification") for name in architectures)


def score_with_teacher(
    dataset: Any,
    teacher: str,
    *,
    student: Any,
    tokenizer: Any = None,
    device: str = "cpu",
    batch_size: int = 64,
    cache_dir: str | Path | None = None,
    show_progress: bool = True,
) -> Any:
    """``dataset`` (n-tuples) with its ``scores`` column replaced by ``teacher``'s (module docstring).

    ``student``: the model being trained (its folder names ``bridge``); ``tokenizer``: the pieces
    BM25 counts (the student's).
    """
    bm25, model = parse_teacher(teacher)
    negatives = numbered_negatives(dataset.column_names)
    if not negatives:
        raise SembridgeError(
            f"--teacher scores each query's positive and negatives, and the data has no negatives "
            f"(columns: {', '.join(dataset.column_names)})",
            hint="mine them first (sembridge mine), or give n-tuples with negative_1 ... negative_k",
        )
    if model == "bridge":
        model = _bridge_of(student)
    queries = [str(q) for q in dataset["query"]]
    columns = [dataset[c] for c in ["positive", *negatives]]
    rows = [[str(t) for t in texts] for texts in zip(*columns, strict=True)]
    tokenizer_name = ""
    if bm25 and tokenizer is not None:  # BM25 counts this tokenizer's pieces: part of the key
        tokenizer_name = f"{getattr(tokenizer, 'name_or_path', '')}:{len(tokenizer)}"
    key = _cache_key(queries, rows, bm25, model, tokenizer_name)
    cached = Path(cache_dir or default_cache_dir()) / "teacher" / f"{key}.json"
    if cached.is_file():
        scores = json.loads(cached.read_text(encoding="utf-8"))
        logger.info("teacher scores found in the cache (%s)", cached)
    else:
        scores = _score(queries, rows, bm25, model, tokenizer, device, batch_size, show_progress)
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(cached) as handle:
            handle.write(json.dumps(scores))
    prefers = sum(row[0] > max(row[1:]) for row in scores) / max(1, len(scores))
    logger.info(
        "teacher %s: %s rows scored; it scores the positive above every negative in %.1f%% of them",
        teacher,
        f"{len(scores):,}",
        100 * prefers,
    )
    if SCORES_COLUMN in dataset.column_names:
        dataset = dataset.remove_columns([SCORES_COLUMN])
    return dataset.add_column(SCORES_COLUMN, scores)


def _score(
    queries: list[str],
    rows: list[list[str]],
    bm25: bool,
    model: str | None,
    tokenizer: Any,
    device: str,
    batch_size: int,
    show_progress: bool,
) -> list[list[float]]:
    from sembridge.loading import load_bridge

    if model is not None and _is_cross_encoder(model):
        if bm25:
            raise UsageError(
                f"--teacher bm25+{model}: a cross-encoder scores pairs, not the whole corpus, so it "
                "is not fused with BM25",
                hint=f"use --teacher {model} alone, or a dense model in the fusion",
            )
        from sentence_transformers import CrossEncoder

        encoder = CrossEncoder(model, device=device)
        pairs = [(q, text) for q, texts in zip(queries, rows, strict=True) for text in texts]
        flat = encoder.predict(pairs, batch_size=batch_size, show_progress_bar=show_progress)
        width = len(rows[0])
        return [[float(s) for s in flat[i : i + width]] for i in range(0, len(flat), width)]

    documents = sorted({text for texts in rows for text in texts})
    position = {text: i for i, text in enumerate(documents)}
    columns = np.array([[position[t] for t in texts] for texts in rows])
    if bm25 and tokenizer is None:
        raise SembridgeError("a BM25 teacher needs the student's tokenizer")
    scorer = CorpusScores(
        queries,
        documents,
        tokenizer=tokenizer if bm25 else None,
        dense_model=load_bridge(model, device, kind="teacher model") if model is not None else None,
        batch_size=batch_size,
        show_progress=show_progress,
        label="teacher",
    )
    scores: list[list[float]] = []
    for start, stop in scorer.chunks():
        picked = np.take_along_axis(scorer.teacher(start, stop, BM25_WEIGHT), columns[start:stop], axis=1)
        scores.extend([[float(s) for s in row] for row in picked])
    return scores


def _cache_key(
    queries: list[str], rows: list[list[str]], bm25: bool, model: str | None, tokenizer: str
) -> str:
    digest = hashlib.sha256(json.dumps([FORMAT, bm25, model, tokenizer, BM25_WEIGHT]).encode())
    hash_texts(digest, (text for query, texts in zip(queries, rows, strict=True) for text in (query, *texts)))
    return digest.hexdigest()[:32]
