"""Evaluation reports: a rich comparison table, the JSON file and the metric-vs-sparsity plot.

Every file is written through :func:`sembridge.io.atomic_file` (a temporary name beside its
destination, renamed into place), so a failure never leaves a half-written report or plot
behind. TREC run files are written by :mod:`sembridge.data.trec`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sembridge.io import atomic_file, write_json
from sembridge.log import logger


def write_report_json(report: dict[str, Any], path: str | Path) -> Path:
    """Write the report as indented JSON, atomically."""
    return write_json(path, report)


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
        points = sorted(
            (r["doc_terms"], r["metrics"][metric], r["setting"])
            for r in model["results"]
            if r["doc_terms"] is not None  # a dense baseline has no sparsity: not plotted
        )
        if not points:
            continue
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
    try:
        with atomic_file(path, "wb") as handle:
            fig.savefig(handle, format="png")
    finally:
        plt.close(fig)
    return path


def results_table(report: dict[str, Any]) -> Any:
    """A rich table: one row per model and pruning setting, metrics then sparsity."""
    from rich.table import Table
    from rich.text import Text

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
                cells.append(Text(value, style="bold") if result["metrics"][m] == best[m] else value)
            cells += [
                _figure(result["query_terms"], ".1f"),
                _figure(result["doc_terms"], ".1f"),
                _figure(result["flops"], ".2f"),
            ]
            table.add_row(*cells, end_section=i == len(model["results"]) - 1)
    return table


def _figure(value: float | None, spec: str) -> str:
    """A sparsity figure, or "-" for a system that has none (a dense baseline)."""
    return "-" if value is None else format(value, spec)
