"""Run the shards of one large ``sembridge export`` with Ray Data, then merge them.

Each Ray task calls the library's own export on one shard (``shard="I/N"``, ``resume=True``):
the task writes the parts whose number is I modulo N into its own folder, and a task that Ray
retries after a crash continues after its last whole part. ``merge_shards`` then joins the N
folders into one export, the same file for file as an unsharded run. On a cluster, point
``ray.init`` at it (``address="auto"``) and give each task a GPU (``--gpus-per-shard 1``); here
Ray runs in local mode on this machine's cores.

    pip install "sembridge[distributed]"
    python examples/ray_sharded_export.py -m out/ru-sembridge --corpus big.jsonl --shards 4 -o big
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any


def run_shards(
    model: str,
    corpus: str,
    output: Path,
    shards: int,
    *,
    export_format: str = "anserini",
    num_cpus: int = 2,
    gpus_per_shard: float = 0,
    docs_per_file: int | None = None,
    batch_size: int = 32,
) -> dict[str, Any]:
    import ray

    from sembridge.export import export, merge_shards

    folders = [output.with_name(f"{output.name}.shard-{i}-of-{shards}") for i in range(shards)]

    def one_shard(row: dict[str, Any]) -> dict[str, Any]:
        summary = export(
            model,
            folders[row["shard"]],
            format=export_format,
            corpus=corpus,
            shard=f"{row['shard']}/{shards}",
            resume=True,  # a retried task continues after its last whole part
            docs_per_file=docs_per_file,
            batch_size=batch_size,
            device="cuda" if gpus_per_shard else "cpu",
            show_progress=False,
        )
        return {"shard": row["shard"], "documents": summary["documents"], "parts": len(summary["parts"])}

    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        ignore_reinit_error=True,
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        tasks = ray.data.from_items([{"shard": i} for i in range(shards)], override_num_blocks=shards)
        done = tasks.map(one_shard, num_cpus=1, num_gpus=gpus_per_shard, max_retries=2).take_all()
    finally:
        ray.shutdown()
    summary = merge_shards(folders, output)
    summary["shard_runs"] = sorted(done, key=lambda row: row["shard"])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--format", default="anserini")
    parser.add_argument("--num-cpus", type=int, default=2, help="Ray's local CPUs (one shard task each)")
    parser.add_argument("--gpus-per-shard", type=float, default=0)
    parser.add_argument("--docs-per-file", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    summary = run_shards(
        args.model,
        args.corpus,
        args.output,
        args.shards,
        export_format=args.format,
        num_cpus=args.num_cpus,
        gpus_per_shard=args.gpus_per_shard,
        docs_per_file=args.docs_per_file,
        batch_size=args.batch_size,
    )
    for row in summary["shard_runs"]:
        print(f"shard {row['shard']}: {row['documents']:,} documents in {row['parts']} parts")
    print(f"merged {summary['documents']:,} documents into {args.output} ({summary['files']} files)")


if __name__ == "__main__":
    main()
