"""Item 3: the whole ``sembridge init`` on the demo setting: wall time and peak memory.

The demo setting (``examples/offline_demo.py``): the real English SPLADE-tiny -> a Russian
WordPiece tokenizer (8,000 tokens, trained on wordfreq), the real multilingual-e5-small bridge,
alpha 4. The command runs as a user types it, in its own process, whose peak resident memory is
read from the kernel when it ends (``wait4``); the per-stage times come from the
``sembridge_init.json`` it writes.

Runs:

* cold: an empty bridge cache (``--cache-dir`` a new temporary folder): the ~30k source tokens and
  the new target tokens go through the bridge;
* warm: the same again with the embeddings cached (a second init, another alpha...).

``--quick`` runs the warm run only, on the default cache (``$SEMBRIDGE_CACHE`` or
``~/.cache/sembridge``, shared with the demo and the tests: only the very first run on a machine
embeds the source vocabulary).

    python benchmarks/bench_init.py               # cold + warm
    python benchmarks/bench_init.py --quick       # warm only
    python benchmarks/bench_init.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import base_parser, console, gb, header, quiet_libraries, resolve_device, table, write_figures


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--lang", default="ru", help="target language of the WordPiece tokenizer (demo: ru)")
    parser.add_argument("--vocab-size", type=int, default=8000, help="target vocabulary size (demo: 8,000)")
    parser.add_argument("--alpha", type=float, default=4.0, help="Entmax alpha (demo: 4)")
    parser.add_argument(
        "--runs",
        choices=["cold+warm", "warm", "cold"],
        default=None,
        help="which runs (default: cold+warm; quick: warm on the default cache)",
    )
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = "warm" if args.quick else "cold+warm"
    return args


def run_init(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``command``; its wall time and the peak resident memory of that process (from ``wait4``)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = (process.stdout.read() if process.stdout else b"").decode("utf-8", "replace")
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"sembridge init failed ({process.returncode}):\n{output[-4000:]}")
    peak = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    return {
        "wall_s": wall,
        "peak_rss_gb": gb(peak),
        "user_cpu_s": usage.ru_utime,
        "sys_cpu_s": usage.ru_stime,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    quiet_libraries()
    resolve_device(args.device)
    from offline_assets import e5_small_path, splade_tiny_path, wordpiece_tokenizer_path
    from sembridge.cache import default_cache_dir

    machine = header("sembridge init on the demo setting", args.device)
    source = splade_tiny_path()
    bridge = e5_small_path()
    tokenizer = wordpiece_tokenizer_path(args.lang, vocab_size=args.vocab_size)
    console.print(
        f"source SPLADE-tiny {source}\ntarget tokenizer {tokenizer} ({args.lang}, {args.vocab_size:,})\n"
        f"bridge multilingual-e5-small {bridge}; alpha {args.alpha:g}; device {args.device}"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if args.threads is not None:
        env["OMP_NUM_THREADS"] = str(args.threads)
    results = []
    with tempfile.TemporaryDirectory(prefix="sembridge-bench-init-") as tmp:
        cold_cache = Path(tmp) / "cache"
        plan = {
            "cold+warm": [("cold", cold_cache), ("warm", cold_cache)],
            "cold": [("cold", cold_cache)],
            "warm": [("warm", default_cache_dir())],
        }[args.runs]
        for name, cache in plan:
            out = Path(tmp) / f"{name}-model"
            command = [
                sys.executable,
                "-m",
                "sembridge",
                "init",
                "--source",
                str(source),
                "--target-tokenizer",
                str(tokenizer),
                "--bridge",
                str(bridge),
                "--alpha",
                repr(args.alpha),
                "--device",
                args.device,
                "--cache-dir",
                str(cache),
                "--output",
                str(out),
                "--overwrite",
                "--quiet",
            ]
            console.print(f"[dim]{name} run: sembridge init ... --cache-dir {cache}[/dim]")
            measured = run_init(command, env)
            report = json.loads((out / "sembridge_init.json").read_text(encoding="utf-8"))
            summary = report["summary"]
            info = summary.get("method_info", {})
            measured.update(
                {
                    "run": name,
                    "timings": summary.get("timings", {}),
                    "target_vocab": summary.get("target_vocab_size"),
                    "copied": summary.get("copied"),
                    "new": summary.get("new"),
                    "support_size": summary.get("support_size"),
                    "bridge_cache_hits": info.get("bridge_cache_hits"),
                    "bridge_cache_misses": info.get("bridge_cache_misses"),
                    "output_mb": sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20,
                }
            )
            results.append(measured)

    stages = sorted({stage for r in results for stage in r["timings"]}, key=_order)
    table(
        f"sembridge init, SPLADE-tiny -> {args.lang} ({args.vocab_size:,} tokens), e5-small bridge, "
        f"on {args.device}",
        [
            "run",
            "wall s",
            "peak RSS GB",
            "CPU s",
            "bridge cache hits/misses",
            *[f"{s} s" for s in stages],
            "other s",
        ],
        [
            [
                r["run"],
                r["wall_s"],
                r["peak_rss_gb"],
                r["user_cpu_s"] + r["sys_cpu_s"],
                f"{r['bridge_cache_hits']}/{r['bridge_cache_misses']}",
                *[r["timings"].get(s) for s in stages],
                r["wall_s"] - sum(r["timings"].values()),
            ]
            for r in results
        ],
    )
    first = results[0]
    console.print(
        f"[dim]{first['copied']:,} target tokens copied, {first['new']:,} built from the bridge; "
        f"support sizes {first['support_size']}; output folder {first['output_mb']:.1f} MB. "
        "Stage times come from sembridge_init.json; 'other' is the rest of the wall time: Python start, "
        "imports, writing the folder.[/dim]"
    )
    figures = {
        "benchmark": "init",
        "quick": args.quick,
        "device": args.device,
        "machine": machine,
        "lang": args.lang,
        "vocab_size": args.vocab_size,
        "alpha": args.alpha,
        "results": results,
    }
    write_figures(args.json, figures)
    return figures


_STAGES = (
    "load models",
    "overlap",
    "bridge embeddings",
    "similarity + entmax",
    "combine rows",
    "model surgery",
    "save",
)


def _order(stage: str) -> tuple[int, str]:
    """Pipeline order for the known stages, then the others by name."""
    return (_STAGES.index(stage) if stage in _STAGES else len(_STAGES), stage)


if __name__ == "__main__":
    main()
