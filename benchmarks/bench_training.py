"""Item 4b: fine-tuning speed: training steps per second of ``sembridge.training.finetune``.

The real English SPLADE-tiny fine-tuned with InfoNCE (in-batch negatives) + FLOPs on the real
English chatterbot-corpus dialogue pairs (distinct texts only), through the same ``finetune``
call as ``sembridge finetune``; checkpoints are not written during the timed steps.

Figures: steps per second and pairs per second as the trainer measures them, the wall time of
the whole call (loading, sparsity statistics, saving included), and the loss before and after.
Two runs in the same process: the bounded MLM logits as they were (every batch's logits
recomputed in the backward pass) and as they are (recomputed only when a batch needs more than
one chunk of the budget, :mod:`sembridge.encoding.splade_memory`); the ratio is their speed-up.

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
    runs = {}
    for label, recompute in (
        ("recompute every batch (before)", True),
        ("recompute only when chunked", False),
    ):
        runs[label] = _timed_run(finetune, str(splade_tiny_path()), data, config, recompute)
    before, after = runs.values()
    result, wall = after
    losses = [entry["loss"] for entry in result.loss_curve if "loss" in entry]
    steps_per_s = result.steps_per_second or (result.global_step / result.runtime_s)
    before_steps_per_s = before[0].steps_per_second or (before[0].global_step / before[0].runtime_s)
    figures.update(
        {
            "steps": result.global_step,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "precision": args.precision,
            "train_runtime_s": result.runtime_s,
            "steps_per_s": steps_per_s,
            "steps_per_s_recompute_every_batch": before_steps_per_s,
            "speedup_vs_recompute_every_batch": steps_per_s / before_steps_per_s,
            "pairs_per_s": steps_per_s * args.batch_size,
            "wall_s": wall,
            "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None,
        }
    )
    rows = []
    for label, (run, run_wall) in runs.items():
        run_losses = [entry["loss"] for entry in run.loss_curve if "loss" in entry]
        speed = run.steps_per_second or (run.global_step / run.runtime_s)
        first, last = (run_losses[0], run_losses[-1]) if run_losses else (None, None)
        ratio = speed / before_steps_per_s
        rows.append([label, speed, ratio, speed * args.batch_size, run.runtime_s, run_wall, first, last])
    table(
        f"finetune SPLADE-tiny on {args.device}: {result.global_step} steps of {args.batch_size} pairs",
        [
            "MLM logits",
            "steps/s",
            "x before",
            "pairs/s",
            "training s",
            "whole call s",
            "first loss",
            "last loss",
        ],
        rows,
    )
    write_figures(args.json, figures)
    return figures


def _timed_run(
    finetune: Any, model: str, data: Any, config: Any, recompute_single_chunk: bool
) -> tuple[Any, float]:
    """One ``finetune`` call, its logits bound with or without the single-chunk recomputation."""
    from unittest import mock

    import sembridge.training.trainer as trainer_module
    from sembridge.encoding.encode import load_encoder
    from sembridge.encoding.splade_memory import bound_logits_memory

    def load(*args: Any, **kwargs: Any) -> Any:
        encoder = load_encoder(*args, **kwargs)
        bound_logits_memory(encoder, kwargs["logits_budget"], recompute_single_chunk=recompute_single_chunk)
        return encoder

    chatter = io.StringIO()  # the trainer's per-step log lines and the model card's progress bar
    with tempfile.TemporaryDirectory(prefix="sembridge-bench-training-") as tmp:
        start = time.perf_counter()
        try:
            with (
                mock.patch.object(trainer_module, "load_encoder", load),
                contextlib.redirect_stdout(chatter),
                contextlib.redirect_stderr(chatter),
            ):
                result = finetune(model, data, Path(tmp) / "out", config)
        except Exception:
            console.print(chatter.getvalue()[-4000:], markup=False)
            raise
        return result, time.perf_counter() - start


if __name__ == "__main__":
    main()
