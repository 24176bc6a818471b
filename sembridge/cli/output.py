"""What the commands print: one helper for JSON (``--json``) and the tables they print when they
finish, with the figures of what they have just written."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on standard output, non-ASCII text kept as it is (``--json``)."""
    import json

    import typer

    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def print_summary_table(title: str, rows: Any) -> None:
    """A two-column table (what, value) under a left-aligned title: what a writing command did."""
    from rich.table import Table

    from sembridge.log import console

    table = Table(title=title, title_justify="left")
    table.add_column("")
    table.add_column("value", justify="right")
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


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


def print_init_summary(report: dict, output: Path) -> None:
    """``sembridge init``: overlap, support sizes, decoder, bias and stage timings."""
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
    table.add_row("decoder bias", summary["bias"])
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
            table.add_row(key.replace("_", " "), text)
    if "alpha" in info and isinstance(info["alpha"], float):
        table.add_row("alpha", f"{info['alpha']:g}")
    if info.get("position_aware"):
        table.add_row("position-aware", "each new token drew on source tokens of its own position class")
    search = info.get("alpha_search")
    if search:
        for c in search["candidates"]:
            chosen = "  (chosen)" if c["alpha"] == search["chosen"] else ""
            table.add_row(
                f"alpha {c['alpha']:g} on dev",
                f"{search['metric']} {c['metrics'][search['metric']]:.4f}, support mean "
                f"{c['support_mean']:.1f}{chosen}",
            )
    extend = summary.get("extend") or {}
    if extend:
        table.add_row(
            "vocabulary",
            f"extended: {extend['source_vocab_size']:,} source + "
            f"{extend['added']:,} appended = {extend['extended_vocab_size']:,}",
        )
    for target in extend.get("targets", []):
        shared = target["shared_with_earlier"]
        table.add_row(
            f"  from {target['target']}",
            f"{target['added']:,} appended"
            + (f", {shared:,} shared with an earlier target" if shared else ""),
        )
    for name, seconds in summary["timings"].items():
        table.add_row(f"time: {name}", f"{seconds:.2f} s")
    console.print(table)


def print_finetune_summary(result: Any) -> None:
    """``sembridge finetune``: steps, time, loss, and the sparsity before and after."""
    from rich.table import Table

    from sembridge.log import console

    table = Table(title=f"sembridge finetune -> {result.output_dir}", show_header=True)
    table.add_column("")
    table.add_column("value", justify="right")
    steps_per_second = f"{result.steps_per_second:.2f}" if result.steps_per_second else "-"
    table.add_row(
        "steps",
        f"{result.global_step:,}"
        + (f" (resumed at {result.resumed_from_step})" if result.resumed_from_step else ""),
    )
    table.add_row("epochs", f"{result.epochs_done:.2f}")
    table.add_row("processes", str(result.world_size))
    table.add_row("time", f"{result.runtime_s:.1f} s ({steps_per_second} steps/s)")
    if result.loss_curve:
        table.add_row(
            "loss (first -> last log)",
            f"{result.loss_curve[0]['loss']:.4f} -> {result.loss_curve[-1]['loss']:.4f}",
        )
    for entry in result.eval_curve[-1:]:
        for key in sorted(k for k in entry if k.endswith("ndcg@10")):
            table.add_row(key, f"{entry[key]:.4f}")
    after = result.stats_after or {}
    before = result.stats_before or {}

    def pair(side: str, key: str) -> str:
        now = after.get(side, {}).get(key)
        then = before.get(side, {}).get(key)
        text = f"{now:.2f}" if now is not None else "-"
        return f"{then:.2f} -> {text}" if then is not None else text

    table.add_row("active terms, queries", pair("queries", "active_terms_mean"))
    table.add_row("active terms, documents", pair("documents", "active_terms_mean"))
    table.add_row("FLOPs regulariser, documents", pair("documents", "flops_regularizer"))
    flops_before = before.get("expected_flops")
    flops_after = after.get("expected_flops")
    if flops_after is not None:
        table.add_row(
            "expected FLOPs per pair",
            f"{flops_before:.2f} -> {flops_after:.2f}" if flops_before is not None else f"{flops_after:.2f}",
        )
    console.print(table)
