"""Item 4b: fine-tuning speed: training steps per second of ``sembridge.training.finetune``.

The real English SPLADE-tiny fine-tuned with InfoNCE (in-batch negatives) + FLOPs on the real
English chatterbot-corpus dialogue pairs (distinct texts only), through the same ``finetune``
call as ``sembridge finetune``; checkpoints are not written during the timed steps.

Figures: steps per second and pairs per second as the trainer measures them, the wall time of
the whole call (loading, sparsity statistics, saving included), and the loss before and after.

    python benchmarks/bench_training.py                       # 50 steps, batch 32, length 64
    python benchmarks/bench_training.py --steps 200 --batch-size 64 --max-length 128
    python benchmarks/bench_training.py --quick
    python benchmarks/bench_training.py --device cuda --precision bf16
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    apply_threads,
    base_parser,
    console,
    header,
    quiet_libraries,
    resolve_device,
    table,
    write_figures,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps (default 50; quick 5)")
    parser.add_argument("--batch-size", type=int, default=None, help="pairs per step (default 32; quick 16)")
    parser.add_argument("--max-length", type=int, default=None, help="token limit (default 64; quick 32)")
    parser.add_argument(
        "--precision", choices=["fp32", "bf16", "fp16"], default="fp32", help="bf16/fp16: GPU"
    )
    args = parser.parse_args(argv)
    defaults = {"steps": (5, 50), "batch_size": (16, 32), "max_length": (32, 64)}
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    return args


def distinct_pairs() -> list[tuple[str, str]]:
    """English (prompt, reply) pairs whose texts all differ (clean in-batch negatives)."""
    from offline_assets import chatterbot_pairs

    seen: set[str] = set()
    pairs = []
    for query, answer in chatterbot_pairs("en"):
        if query not in seen and answer not in seen:
            seen.update((query, answer))
            pairs.append((query, answer))
    return pairs


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    quiet_libraries()
    resolve_device(args.device)
    apply_threads(args.threads)
    machine = header("fine-tuning: training steps per second", args.device)
    figures: dict[str, Any] = {
        "benchmark": "training",
        "quick": args.quick,
        "device": args.device,
        "machine": machine,
    }
    try:
        from sembridge.data import pairs_to_dataset
        from sembridge.training import FinetuneConfig, finetune
    except ImportError as err:  # the fine-tuning module is optional in this benchmark
        console.print(f"skipped: sembridge.training is not available ({err})")
        figures["skipped"] = str(err)
        write_figures(args.json, figures)
        return figures
    from offline_assets import splade_tiny_path

    pairs = distinct_pairs()
    needed = args.steps * args.batch_size
    data = pairs_to_dataset([pairs[i % len(pairs)] for i in range(min(needed, len(pairs)))])
    config = FinetuneConfig(
        max_steps=args.steps,
        batch_size=args.batch_size,
        max_length=args.max_length,
        device=args.device,
        precision=args.precision,
        warmup_ratio=0.0,
        logging_steps=1,
        save_steps=10**9,
        stats_sample_size=min(64, len(data)),
        show_progress=False,
        seed=0,
    )
    console.print(
        f"model: SPLADE-tiny ({splade_tiny_path()}); {len(data):,} distinct chatterbot pairs; "
        f"{args.steps} steps, batch {args.batch_size}, max length {args.max_length}, {args.precision}, "
        f"device {args.device}"
    )
    chatter = io.StringIO()  # the trainer's per-step log lines and the model card's progress bar
    with tempfile.TemporaryDirectory(prefix="sembridge-bench-training-") as tmp:
        start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
                result = finetune(str(splade_tiny_path()), data, Path(tmp) / "out", config)
        except Exception:
            console.print(chatter.getvalue()[-4000:], markup=False)
            raise
        wall = time.perf_counter() - start
    losses = [entry["loss"] for entry in result.loss_curve if "loss" in entry]
    steps_per_s = result.steps_per_second or (result.global_step / result.runtime_s)
    figures.update(
        {
            "steps": result.global_step,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "precision": args.precision,
            "train_runtime_s": result.runtime_s,
            "steps_per_s": steps_per_s,
            "pairs_per_s": steps_per_s * args.batch_size,
            "wall_s": wall,
            "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None,
        }
    )
    table(
        f"finetune SPLADE-tiny on {args.device}: {result.global_step} steps of {args.batch_size} pairs",
        ["steps/s", "pairs/s", "training s", "whole call s", "first loss", "last loss"],
        [
            [
                figures["steps_per_s"],
                figures["pairs_per_s"],
                result.runtime_s,
                wall,
                figures["first_loss"],
                figures["last_loss"],
            ]
        ],
    )
    write_figures(args.json, figures)
    return figures


if __name__ == "__main__":
    main()
