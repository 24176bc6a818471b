"""Pseudo-parallel mining (`sembridge mine --parallel`): how many of the pairs it keeps are translations.

For each language, a comparable set is cut from `make data`'s parallel UI catalogs (LibreOffice;
strings of at least 20 characters with a translation of their own, shuffled with seed 0): the
English side holds strings 0 .. N-1, the target side the translations of strings N-S .. 2N-S-1,
so S of the N texts on each side have their translation on the other side and N - S do not.
The e5 bridge scores both sides once
(:func:`~sembridge.training.parallel_mining.nearest_neighbours`), and the margin rule is
applied at each `--margins` threshold: pairs kept, precision (kept pairs that are the catalog's
translation) and recall (of the S). This is where `--min-margin`'s default came from; the
catalogs are training text (`align --parallel`), not a test set.

    python benchmarks/bench_parallel_mining.py                 # the table of docs/commands/mine.md
    python benchmarks/bench_parallel_mining.py --quick         # ru, 300 strings a side
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import apply_threads, base_parser, header, quiet_libraries, table, write_figures  # noqa: E402

MARGINS = (0.01, 1.0, 1.01, 1.02, 1.03, 1.04, 1.06)


def comparable_set(lang: str, size: int, shared: int) -> tuple[list[str], list[str], set[tuple[int, int]]]:
    """English strings, target strings and the (English row, target row) pairs that translate."""
    from offline_assets.parallel import parallel_dir

    path = parallel_dir(lang) / "parallel.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run `make data`")
    pairs = [json.loads(line) for line in open(path, encoding="utf-8")]
    random.Random(0).shuffle(pairs)
    seen: set[str] = set()  # a translation two English strings share would be one text
    pairs = [
        p for p in pairs if len(p["english"]) >= 20 and not (p["target"] in seen or seen.add(p["target"]))
    ]
    pairs = pairs[: 2 * size - shared]
    start = size - shared
    english = [p["english"] for p in pairs[:size]]
    target = [p["target"] for p in pairs[start:]]
    return english, target, {(i, i - start) for i in range(start, size)}


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--langs", nargs="+", default=["ru", "zh", "ko", "ar", "hi"])
    parser.add_argument("--size", type=int, default=1500, help="strings on each side")
    parser.add_argument("--shared", type=int, default=1000, help="of them, with a translation opposite")
    parser.add_argument("--margins", type=float, nargs="+", default=list(MARGINS))
    parser.add_argument("--neighbours", type=int, default=4)
    parser.add_argument("--bridge", default=None, help="dense model (default: the offline e5-small)")
    args = parser.parse_args()
    if args.quick:
        args.langs, args.size, args.shared = ["ru"], 300, 200
    if not 0 < args.shared <= args.size:
        raise SystemExit("--shared must be between 1 and --size")
    apply_threads(args.threads)
    quiet_libraries()
    from offline_assets import e5_small_path
    from sembridge.loading import load_bridge
    from sembridge.training.parallel_mining import ParallelMineSettings, margin_pairs, nearest_neighbours

    machine = header("mine --parallel: precision and recall of the margin rule", args.device)
    bridge = load_bridge(args.bridge or str(e5_small_path()), args.device)
    settings = ParallelMineSettings(neighbours=args.neighbours)
    figures: dict = {"machine": machine, "size": args.size, "shared": args.shared, "languages": {}}
    rows = []
    for lang in args.langs:
        english, target, truth = comparable_set(lang, args.size, args.shared)
        start = time.perf_counter()
        forward, backward = nearest_neighbours(
            english, target, dense_model=bridge, settings=settings, show_progress=False
        )
        seconds = time.perf_counter() - start
        results = []
        for threshold in args.margins:
            kept, _ = margin_pairs(forward, backward, threshold, english, target)
            right = sum((e, t) in truth for e, t, _ in kept)
            precision = right / len(kept) if kept else 0.0
            result = {"min_margin": threshold, "kept": len(kept), "precision": precision,
                      "recall": right / len(truth)}  # fmt: skip
            results.append(result)
            rows.append([lang, threshold, len(kept), round(precision, 3), round(result["recall"], 3)])
        figures["languages"][lang] = {"seconds": round(seconds, 1), "results": results}
    table(
        f"{args.size:,} strings a side, {args.shared:,} with their translation opposite",
        ["lang", "min margin", "pairs kept", "precision", "recall"],
        rows,
    )
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
