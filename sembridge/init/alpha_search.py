"""``--alpha auto``: choose SemBridge's Entmax alpha on development pairs.

For each candidate alpha (default 1.5, 2, 3, 4, 6, 8) the new rows are built from the same bridge
embeddings (the bridge cache serves every candidate after the first, so each extra alpha costs
only the similarity, Entmax and combine stages), the model is assembled in a temporary folder and
evaluated zero-shot on the development pairs by :func:`sembridge.evaluation.evaluate`. The
candidate with the highest nDCG@10 is kept (ties go to the candidate listed first); every
candidate's nDCG@10, R@100, support sizes, sparsity and time are recorded in
``sembridge_init.json`` under ``summary.method_info.alpha_search``.

The development pairs (query, positive) must not be the test set: the choice is a fit to them.
Fewer than 50 judged development queries (:data:`MIN_DEV_QUERIES`) are warned about: the
candidates' scores on so few differ by chance as much as by alpha.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sembridge.errors import SembridgeError, UsageError
from sembridge.methods.base import NewRows

logger = logging.getLogger("sembridge")

__all__ = [
    "DEFAULT_CANDIDATES",
    "METRIC",
    "MIN_DEV_QUERIES",
    "AlphaSearch",
    "CandidateResult",
    "check_alpha_options",
    "is_auto",
    "search_alpha",
]

DEFAULT_CANDIDATES = (1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
METRIC = "nDCG@10"
MIN_DEV_QUERIES = 50
"""Fewer judged development queries than this are warned about: on a few dozen queries the
candidates' nDCG@10 differ by chance more than by alpha (one query moves the mean by 1/n)."""
METRICS = (METRIC, "R@100")


def is_auto(options: Mapping[str, Any]) -> bool:
    """True when the method options ask for ``--alpha auto``."""
    return options.get("alpha") == "auto"


def check_alpha_options(options: Mapping[str, Any]) -> None:
    """Refuse ``--alpha auto`` without ``--dev-data``, and the search's options without ``--alpha auto``
    (:class:`UsageError`, exit status 2)."""
    if is_auto(options):
        if not options.get("dev_data"):
            raise UsageError(
                "--alpha auto needs --dev-data PAIRS to choose on",
                hint="give development query/positive pairs (not the test set), or a number: --alpha 4",
            )
        return
    for key, flag in (("dev_data", "--dev-data"), ("alpha_candidates", "--alpha-candidates")):
        if options.get(key) is not None:
            raise UsageError(
                f"{flag} is used only with --alpha auto, not with --alpha {options.get('alpha')!r:.20}",
                hint=f"add --alpha auto, or leave {flag} out",
            )


@dataclass
class CandidateResult:
    """One candidate alpha's zero-shot figures on the development pairs."""

    alpha: float
    metrics: dict[str, float]
    support_mean: float
    support_max: int
    query_terms: float
    doc_terms: float
    seconds: float


@dataclass
class AlphaSearch:
    """The chosen alpha, its rows, and every candidate's figures (``record()`` is what the report keeps)."""

    chosen: float
    rows: NewRows
    dev_data: str
    candidates: list[CandidateResult] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {
            "metric": METRIC,
            "dev_data": self.dev_data,
            "chosen": self.chosen,
            "candidates": [asdict(c) for c in self.candidates],
        }


def search_alpha(
    build: Callable[[float], NewRows],
    write: Callable[[NewRows, Path], None],
    dev_data: str | Path,
    candidates: Sequence[float] | None = None,
    device: str = "auto",
    batch_size: int = 32,
) -> AlphaSearch:
    """Build, write and evaluate each candidate alpha; keep the best by nDCG@10 on ``dev_data``.

    ``build(alpha)`` returns the new rows for one alpha; ``write(rows, folder)`` writes the whole
    model (loadable by sentence-transformers) to ``folder``. ``dev_data`` is anything
    :func:`sembridge.data.load_retrieval_data` reads (a file of query/positive pairs, a BEIR folder).
    """
    from sembridge.data import load_retrieval_data
    from sembridge.evaluation import evaluate

    alphas = [float(a) for a in (candidates or DEFAULT_CANDIDATES)]
    for alpha in alphas:
        if not (math.isfinite(alpha) and alpha >= 1):
            raise UsageError(f"--alpha-candidates must be numbers >= 1, got {alpha!r}")
    alphas = list(dict.fromkeys(alphas))  # each once, in the order given
    data = load_retrieval_data(dev_data)
    if len(data.queries) < MIN_DEV_QUERIES:
        logger.warning(
            "alpha auto: the development data %s holds only %d judged quer%s; with fewer than %d the "
            "candidates' %s differ by chance as much as by alpha, so the choice may not carry over "
            "(give a few hundred development pairs, or a fixed --alpha such as 4)",
            dev_data,
            len(data.queries),
            "y" if len(data.queries) == 1 else "ies",
            MIN_DEV_QUERIES,
            METRIC,
        )
    logger.info(
        "alpha auto: %d candidates (%s) on %s: %s queries, %s documents",
        len(alphas),
        ", ".join(f"{a:g}" for a in alphas),
        dev_data,
        f"{len(data.queries):,}",
        f"{len(data.corpus):,}",
    )
    results: list[CandidateResult] = []
    best: tuple[float, float, NewRows] | None = None
    with tempfile.TemporaryDirectory(prefix="sembridge-alpha-") as tmp:
        for alpha in alphas:
            start = time.perf_counter()
            rows = build(alpha)
            folder = Path(tmp) / f"alpha-{alpha:g}"
            write(rows, folder)
            report = evaluate(
                [str(folder)],
                data,
                metrics=list(METRICS),
                device=device,
                batch_size=batch_size,
                show_progress=False,
            )
            result = report["models"][0]["results"][0]
            sizes = rows.weights.support_sizes().float() if rows.weights is not None else None
            candidate = CandidateResult(
                alpha=alpha,
                metrics={k: round(float(v), 4) for k, v in result["metrics"].items()},
                support_mean=round(float(sizes.mean()), 2) if sizes is not None and len(sizes) else 0.0,
                support_max=int(sizes.max()) if sizes is not None and len(sizes) else 0,
                query_terms=round(float(result["query_terms"]), 2),
                doc_terms=round(float(result["doc_terms"]), 2),
                seconds=round(time.perf_counter() - start, 2),
            )
            results.append(candidate)
            score = float(result["metrics"][METRIC])
            logger.info(
                "alpha %g: %s %.4f, R@100 %.4f, support mean %.1f",
                alpha,
                METRIC,
                score,
                candidate.metrics.get("R@100", float("nan")),
                candidate.support_mean,
            )
            if best is None or score > best[1]:
                best = (alpha, score, rows)
    if best is None:  # pragma: no cover - alphas is never empty
        raise SembridgeError("--alpha auto had no candidate to try", hint="give --alpha-candidates 2,3,4")
    logger.info("alpha auto: chose %g (%s %.4f on the development pairs)", best[0], METRIC, best[1])
    rows = best[2]
    search = AlphaSearch(chosen=best[0], rows=rows, dev_data=str(dev_data), candidates=results)
    rows.info["alpha_search"] = search.record()
    return search
