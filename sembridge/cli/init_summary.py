"""The table ``sembridge init`` prints: the figures of the report it has just written."""

from __future__ import annotations

from pathlib import Path

# Method details worth a line in the summary table, when the method reports them.
SUMMARY_INFO = (
    "std",
    "statistics_rows",
    "weighted_rows",
    "random_fallback_rows",
    "dictionary_pairs_with_vectors",
    "pair_cosine_before_alignment",
    "pair_cosine_after_alignment",
)


def print_summary(report: dict, output: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    from sembridge.log import console

    summary = report["summary"]
    table = Table(title=f"sembridge init -> {output}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("method", summary["method"])
    table.add_row("source vocabulary", f"{summary['source_vocab_size']:,}")
    table.add_row("target vocabulary", f"{summary['target_vocab_size']:,}")
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(summary["copied_by_kind"].items()))
    table.add_row("copied (overlap)", f"{summary['copied']:,}" + (f"  ({kinds})" if kinds else ""))
    table.add_row("new tokens", f"{summary['new']:,}")
    if summary["support_size"]:
        s = summary["support_size"]
        table.add_row("support size", f"mean {s['mean']:.1f}, median {s['median']:.0f}, max {s['max']}")
    table.add_row("decoder", summary["decoder"])
    table.add_row("decoder bias", escape(summary["bias"]))
    info = summary.get("method_info") or {}
    for key in SUMMARY_INFO:
        if key in info:
            value = info[key]
            text = (
                f"{value:,}"
                if isinstance(value, int)
                else f"{value:g}"
                if isinstance(value, float)
                else str(value)
            )
            table.add_row(key.replace("_", " "), escape(text))
    for name, seconds in summary["timings"].items():
        table.add_row(f"time: {name}", f"{seconds:.2f} s")
    console.print(table)
