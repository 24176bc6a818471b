"""Issue 14.4: the GPU benchmarks, ready to run on one CUDA GPU (``make bench-gpu``).

Runs, in order, each as the CPU scripts run it, with ``--device cuda`` (figures printed and, with
``--json-dir``, written per stage):

1. ``sembridge init`` at about 240k new tokens: source SPLADE-tiny, target tokenizer the
   250k-piece XLM-R vocabulary of the e5 bridge, bridge multilingual-e5-small; cold (empty
   bridge cache in ``--work-dir``), then cached; wall time of each (stage times are in each
   output's ``sembridge_init.json``);
2. the weights stage alone (similarity, Entmax, combination) at that size (``bench_weights.py``);
3. a bf16 fine-tuning run: steps per second and peak GPU memory at batch 64, length 256
   (``bench_training.py``);
4. encoding throughput, documents per second (``bench_retrieval.py``);
5. the pipeline at the paper's model shapes (``bench_paper_scale.py``: a BERT-base source, a
   100k-piece target, a bge-m3-shaped bridge; the bridge on all of init's ~130k strings, 3 bf16
   steps at batch 64 x 512, the export of 100,000 passages).

Without a CUDA GPU it refuses at once (exit status 1) and runs nothing.

    python benchmarks/bench_gpu.py                         # everything, full sizes
    python benchmarks/bench_gpu.py --only init weights     # some stages
    python benchmarks/bench_gpu.py --quick --json-dir gpu-out
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# Stage -> (script, its arguments on the GPU). ``gpu_init.py``-less: the init stage is
# :func:`init_commands` below (the e5 (XLM-R) vocabulary as the target: about 240k new tokens).
STAGES: dict[str, tuple[str, list[str]]] = {
    "init": ("", []),
    "weights": ("bench_weights.py", ["--new-tokens", "240000"]),
    "training": ("bench_training.py", ["--precision", "bf16", "--batch-size", "64", "--max-length", "256"]),
    "encoding": ("bench_retrieval.py", ["--batch-size", "256"]),
    "paper-scale": (
        "bench_paper_scale.py",
        ["--bridge-sample", "200000", "--mini-batch-size", "32", "--probe-batch-size", "64"]
        + ["--export-docs", "100000"],
    ),
}


def init_commands(device: str, cache: Path, out: Path) -> list[tuple[str, list[str]]]:
    """``sembridge init`` SPLADE-tiny -> the e5 tokenizer (~240k new tokens), cold then cached."""
    from offline_assets import e5_small_path, splade_tiny_path

    e5 = str(e5_small_path())
    base = [sys.executable, "-m", "sembridge", "init", "-s", str(splade_tiny_path()), "-t", e5, "-b", e5]
    base += ["--device", device, "--batch-size", "1024", "--cache-dir", str(cache), "--quiet", "--overwrite"]
    return [(f"init-{run}", [*base, "-o", str(out / run)]) for run in ("cold", "cached")]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(STAGES), default=None, help="run only these stages")
    parser.add_argument("--quick", action="store_true", help="pass --quick to every stage (smaller sizes)")
    parser.add_argument("--device", default="cuda", help="a CUDA device: cuda or cuda:N (default cuda)")
    parser.add_argument("--json-dir", type=Path, default=None, help="write each stage's figures here")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path("bench-gpu-work"),
        help="bridge cache and init outputs (default ./bench-gpu-work; removed by you)",
    )
    args = parser.parse_args(argv)
    if not args.device.startswith("cuda"):
        parser.error(f"--device must be cuda or cuda:N, got {args.device!r}")
    return args


def commands(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """Each stage's command line, as it will run."""
    out = []
    for name in args.only or list(STAGES):
        script, extra = STAGES[name]
        if name == "init":
            out.extend(init_commands(args.device, args.work_dir / "cache", args.work_dir / "init"))
            continue
        command = [sys.executable, str(HERE / script), "--device", args.device, *extra]
        if args.quick:
            command.append("--quick")
        if args.json_dir is not None:
            command += ["--json", str(args.json_dir / f"gpu-{name}.json")]
        out.append((name, command))
    return out


def cuda_problem(device: str) -> str | None:
    """Why ``device`` cannot run here (no CUDA build, no GPU, no such index), or None."""
    import torch

    if not torch.cuda.is_available():
        return f"no CUDA GPU is visible to torch {torch.__version__}"
    index = torch.device(device).index or 0
    if index >= torch.cuda.device_count():
        return f"{device} does not exist: torch sees {torch.cuda.device_count()} GPU(s)"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    planned = commands(args)
    if args.dry_run:
        for name, command in planned:
            print(f"{name}: {' '.join(command[1:])}")
        return 0
    problem = cuda_problem(args.device)
    if problem is not None:
        print(
            f"error: bench-gpu needs a CUDA GPU: {problem}; nothing was run.\n"
            "hint: run it on a machine with a GPU and the CUDA build of torch "
            "(`make bench` runs the CPU benchmarks)",
            file=sys.stderr,
        )
        return 1
    import torch

    print(f"GPU: {torch.cuda.get_device_name(torch.device(args.device))}")
    failed = []
    for name, command in planned:
        print(f"\n$ {' '.join(command[1:])}", flush=True)
        start = time.perf_counter()
        status = subprocess.run(command).returncode
        print(f"{name}: {time.perf_counter() - start:.1f} s, {'ok' if status == 0 else f'FAILED ({status})'}")
        if status != 0:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
