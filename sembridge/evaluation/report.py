"""Evaluation reports: a rich comparison table, the JSON file, the metric-vs-sparsity plot, TREC runs.

Every file is written to a temporary name beside its destination and renamed into place, so a
failure never leaves a half-written report, plot or run behind.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from sembridge.errors import OutputExistsError, SembridgeError
from sembridge.log import logger


def check_output_file(path: str | Path, overwrite: bool, what: str = "output file") -> Path:
    """Refuse an existing file unless ``overwrite`` (and refuse a folder); call before heavy work."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise SembridgeError(f"{what} '{path}' is a folder", hint="give a file name, e.g. report.json")
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{what} '{path}' already exists", hint="choose another name, or pass --overwrite to replace it"
        )
    return path


@contextmanager
def atomic_text_file(path: str | Path) -> Iterator[TextIO]:
    """Open a temporary file beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report_json(report: dict[str, Any], path: str | Path) -> Path:
    """Write the report as indented JSON, atomically."""
    with atomic_text_file(path) as handle:
        json.dump(report, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    return Path(path)


def plot_path_for(report_path: str | Path) -> Path:
    """The plot written next to a report: ``report.json`` -> ``report.png``."""
    return Path(report_path).with_suffix(".png")


def write_plot(report: dict[str, Any], path: str | Path, metric: str | None = None) -> Path | None:
    """Plot ``metric`` (default: the first one) against mean active document terms, one line per model.

    Returns the path, or ``None`` (with a logged message) when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: the plot is skipped (pip install matplotlib)")
        return None
    metric = metric or report["config"]["metrics"][0]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for model in report["models"]:
        points = sorted((r["doc_terms"], r["metrics"][metric], r["setting"]) for r in model["results"])
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        ax.plot(xs, ys, marker="o", label=model["name"])
        for x, y, label in points:
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6, alpha=0.7)
    ax.set_xscale("log")
    ax.set_xlabel("mean active terms per document (log scale)")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} against document sparsity: {report['dataset'].get('name', '')}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)
    return path


def results_table(report: dict[str, Any]) -> Any:
    """A rich table: one row per model and pruning setting, metrics then sparsity."""
    from rich.table import Table

    metrics = report["config"]["metrics"]
    dataset = report["dataset"]
    table = Table(
        title=f"Retrieval on {dataset.get('name') or dataset.get('source')} "
        f"({dataset['queries']:,} queries, {dataset['documents']:,} documents)",
        title_justify="left",
    )
    table.add_column("model")
    table.add_column("pruning")
    for name in metrics:
        table.add_column(name, justify="right")
    for name in ("q terms", "d terms", "FLOPs"):
        table.add_column(name, justify="right")
    best = {m: max(r["metrics"][m] for model in report["models"] for r in model["results"]) for m in metrics}
    for model in report["models"]:
        for i, result in enumerate(model["results"]):
            cells = [model["name"] if i == 0 else "", result["setting"]]
            for m in metrics:
                value = f"{result['metrics'][m]:.4f}"
                cells.append(f"[bold]{value}[/]" if result["metrics"][m] == best[m] else value)
            cells += [f"{result['query_terms']:.1f}", f"{result['doc_terms']:.1f}", f"{result['flops']:.2f}"]
            table.add_row(*cells, end_section=i == len(model["results"]) - 1)
    return table


def run_file_for_setting(path: str | Path, setting: str, first: bool) -> Path:
    """The run file of a pruning setting: the given path for no pruning, a sibling otherwise.

    ``run.trec`` + ``mass=0.9`` -> ``run.mass0.9.trec``.
    """
    path = Path(path)
    if first:
        return path
    tag = re.sub(r"[^A-Za-z0-9._\-]+", "", setting.replace(",", "_")) or "setting"
    return path.with_name(f"{path.stem}.{tag}{path.suffix}")


def write_trec_run(
    path: str | Path,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    indices: Any,
    scores: Any,
    tag: str,
) -> Path:
    """TREC run lines ``qid Q0 docid rank score tag`` (rank from 1), atomically."""
    tag = re.sub(r"\s+", "_", tag) or "sembridge"
    with atomic_text_file(path) as handle:
        for row, qid in enumerate(query_ids):
            rank = 0
            for index, score in zip(indices[row], scores[row], strict=True):
                if index < 0:
                    break
                rank += 1
                handle.write(f"{qid} Q0 {doc_ids[index]} {rank} {float(score):.6f} {tag}\n")
    return Path(path)


def read_trec_run(path: str | Path) -> dict[str, dict[str, float]]:
    """Read a TREC run file back into ``{qid: {docid: score}}``."""
    run: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) >= 5:
                run.setdefault(fields[0], {})[fields[2]] = float(fields[4])
    return run
