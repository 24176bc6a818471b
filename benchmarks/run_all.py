"""``make bench``: run every benchmark script in sequence, each in its own process.

Each script prints its own tables; a separate process per script keeps its peak memory its own.
The scripts print figures, never pass/fail: this exits non-zero only when a script crashed.

    python benchmarks/run_all.py                      # full sizes (long: see README "Performance")
    python benchmarks/run_all.py --quick              # each script in a minute or two
    python benchmarks/run_all.py --device cuda --only weights bridge
    python benchmarks/run_all.py --quick --json-dir bench-out
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from common import console, table

HERE = Path(__file__).resolve().parent

# Name -> script, in the order of the issue: weights, bridge, init, retrieval, training.
SCRIPTS = {
    "weights": "bench_weights.py",
    "bridge": "bench_bridge.py",
    "init": "bench_init.py",
    "retrieval": "bench_retrieval.py",
    "training": "bench_training.py",
    "allocator": "bench_allocator.py",  # the training benchmark under glibc malloc and tcmalloc (CPU)
    "onnx": "bench_onnx.py",
    "bridge-backends": "bench_bridge_backends.py",  # torch / ONNX / OpenVINO bridge (CPU)
    "large-vocab": "bench_large_vocab.py",  # bounded MLM logits, 8k-250k vocabularies (CPU)
    "export-stream": "bench_export_stream.py",  # a streamed export's memory, 100k-2M documents (CPU)
    "paper-scale": "bench_paper_scale.py",  # init, finetune, export at the paper's model shapes
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (each script in a minute or two)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda, passed to every script (default: cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads, passed to every script")
    parser.add_argument("--only", nargs="+", choices=list(SCRIPTS), default=None, help="run only these")
    parser.add_argument("--json-dir", type=Path, default=None, help="write each script's figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.only or list(SCRIPTS)
    rows = []
    failed = []
    for name in names:
        command = [sys.executable, str(HERE / SCRIPTS[name]), "--device", args.device]
        if args.quick:
            command.append("--quick")
        if args.threads is not None:
            command += ["--threads", str(args.threads)]
        if args.json_dir is not None:
            command += ["--json", str(args.json_dir / f"{name}.json")]
        console.print(f"\n[bold]$ {' '.join(command[1:])}[/bold]")
        start = time.perf_counter()
        status = subprocess.run(command).returncode
        seconds = time.perf_counter() - start
        rows.append([name, seconds, "ok" if status == 0 else f"FAILED (exit {status})"])
        if status != 0:
            failed.append(name)
    console.print()
    table(
        f"benchmarks ({'quick' if args.quick else 'full'} sizes, {args.device})",
        ["script", "wall s", "status"],
        rows,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
