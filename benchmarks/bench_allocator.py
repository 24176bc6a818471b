"""CPU training under glibc's malloc and under tcmalloc: one training benchmark, two processes.

A SPLADE training step on a CPU allocates and frees blocks of tens to hundreds of MB: the MLM
logits (``batch x length x vocabulary`` floats, in chunks of up to 256 MiB,
:mod:`sembridge.encoding.splade_memory`), their activations and their gradients. glibc's malloc
maps every block above 32 MB from the kernel afresh and unmaps it when it is freed, so each step
pays for the page faults and the zeroing of all of it again (it shows as system CPU time).
tcmalloc (Debian's ``libtcmalloc-minimal4``) keeps freed memory for the next block.

This script runs ``bench_training.py`` twice with the same arguments, as it is and with tcmalloc
preloaded (``LD_PRELOAD``), and prints each run's steps per second, the user and system CPU
seconds of its process, and their ratio. Only the allocator differs: the losses are the same.

    python benchmarks/bench_allocator.py                         # bench_training's defaults
    python benchmarks/bench_allocator.py --steps 10 --batch-size 32 --max-length 128
    python benchmarks/bench_allocator.py --tcmalloc /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import base_parser, console, header, table, tcmalloc_path, write_figures

HERE = Path(__file__).resolve().parent
KEPT = ("steps_per_s", "user_s", "system_s", "first_loss", "last_loss")  # each run's figures in the JSON


def parse_args(argv: list[str] | None) -> Any:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="bench_training --steps")
    parser.add_argument("--batch-size", type=int, default=None, help="bench_training --batch-size")
    parser.add_argument("--max-length", type=int, default=None, help="bench_training --max-length")
    parser.add_argument(
        "--tcmalloc",
        type=Path,
        default=None,
        help="the tcmalloc library to preload (default: Debian's libtcmalloc_minimal.so.4 where it is)",
    )
    return parser.parse_args(argv)


def timed(arguments: list[str], preload: Path | None, work: Path, label: str) -> dict[str, Any]:
    """One ``bench_training.py`` process: its figures, and the CPU seconds it used."""
    out = work / f"{label}.json"
    env = {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}
    if preload is not None:
        env["LD_PRELOAD"] = str(preload)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, str(HERE / "bench_training.py"), *arguments, "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        console.print(done.stdout[-3000:], done.stderr[-3000:], markup=False)
        raise SystemExit(f"bench_training.py failed under {label} (exit {done.returncode})")
    figures = json.loads(out.read_text(encoding="utf-8"))
    figures["user_s"] = round(after.ru_utime - before.ru_utime, 1)
    figures["system_s"] = round(after.ru_stime - before.ru_stime, 1)
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    machine = header("training on a CPU: glibc malloc against tcmalloc", "cpu")
    figures: dict[str, Any] = {"benchmark": "allocator", "quick": args.quick, "machine": machine}
    preload = args.tcmalloc or tcmalloc_path()
    reason = None
    if args.device != "cpu":
        reason = f"the host allocator is what a CPU run waits on, not a {args.device} one"
    elif preload is None or not Path(preload).is_file():
        reason = f"no tcmalloc library at {preload}" if preload else "no tcmalloc library found"
        reason += " (Debian: apt-get install libtcmalloc-minimal4)"
    if reason is not None:
        console.print(f"skipped: {reason}")
        figures["skipped"] = reason
        write_figures(args.json, figures)
        return figures
    arguments = ["--quick"] if args.quick else []
    for flag, value in (
        ("--steps", args.steps),
        ("--batch-size", args.batch_size),
        ("--max-length", args.max_length),
        ("--threads", args.threads),
    ):
        if value is not None:
            arguments += [flag, str(value)]
    console.print(f"bench_training.py {' '.join(arguments)}; tcmalloc: {preload}")
    with tempfile.TemporaryDirectory(prefix="sembridge-bench-allocator-") as tmp:
        runs = {
            "glibc malloc": timed(arguments, None, Path(tmp), "glibc"),
            "tcmalloc": timed(arguments, Path(preload), Path(tmp), "tcmalloc"),
        }
    base, tc = runs["glibc malloc"]["steps_per_s"], runs["tcmalloc"]
    rows = [
        [
            label,
            run["steps_per_s"],
            run["steps_per_s"] / base,
            run["user_s"],
            run["system_s"],
            run["last_loss"],
        ]
        for label, run in runs.items()
    ]
    table(
        f"finetune SPLADE-tiny on the CPU: {tc['steps']} steps of {tc['batch_size']} pairs, "
        f"length {tc['max_length']}",
        ["allocator", "steps/s", "x glibc", "user CPU s", "system CPU s", "last loss"],
        rows,
    )
    figures.update(
        {
            "tcmalloc": str(preload),
            "runs": {label: {key: run[key] for key in KEPT} for label, run in runs.items()},
            "speedup": tc["steps_per_s"] / base,
            # The same arithmetic: equal up to the order of float sums that memory alignment may change.
            "last_loss_difference": abs(tc["last_loss"] - runs["glibc malloc"]["last_loss"]),
        }
    )
    write_figures(args.json, figures)
    return figures


if __name__ == "__main__":
    main()
