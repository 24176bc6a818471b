"""Issue 14.1: the bridge on the CPU: torch vs ONNX Runtime vs OpenVINO (fp32 and int8), in one run.

The real multilingual-e5-small bridge embeds, through ``BridgeEmbedder`` as ``sembridge init``
does, a sample of the real SPLADE-tiny source tokens and of the new tokens of the real Russian
WordPiece-8k tokenizer, once per backend, into a fresh cache folder (nothing is served from the
cache; the ONNX export and int8 quantisation, done once per bridge, are timed apart). Reported:

- tokens per second of each backend, and its ratio to torch measured in the same run;
- agreement with torch: the cosine of each string's two embeddings (mean and minimum);
- the share of new rows whose Entmax support (alpha 4, ``sembridge.methods.weights.entmax_weights``) is
  the same set of source tokens as with torch's embeddings, and the mean Jaccard overlap.

    python benchmarks/bench_bridge_backends.py                      # 2,000 new + 8,000 source tokens
    python benchmarks/bench_bridge_backends.py --quick              # 300 + 1,200
    python benchmarks/bench_bridge_backends.py --backends torch onnx-int8
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from typing import Any

from common import apply_threads, base_parser, console, header, quiet_libraries, table, write_figures

BACKENDS = ("torch", "onnx", "onnx-int8", "openvino", "openvino-int8")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])  # --device: accepted, the figures are CPU ones
    parser.add_argument("--new-tokens", type=int, default=None, help="new Russian tokens (default 2,000)")
    parser.add_argument("--source-tokens", type=int, default=None, help="source tokens (default 8,000)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--batch-size", type=int, default=256, help="bridge batch size (init's default)")
    parser.add_argument("--alpha", type=float, default=4.0, help="Entmax alpha of the support comparison")
    args = parser.parse_args(argv)
    args.new_tokens = args.new_tokens or (300 if args.quick else 2_000)
    args.source_tokens = args.source_tokens or (1_200 if args.quick else 8_000)
    if "torch" not in args.backends:
        args.backends.insert(0, "torch")  # the baseline
    return args


def sample_tokens(new: int, source: int) -> tuple[list[str], list[str]]:
    """Surface strings of a seeded sample of new Russian tokens and of SPLADE-tiny source candidates."""
    import torch
    from transformers import AutoTokenizer

    from offline_assets import splade_tiny_path, wordpiece_tokenizer_path
    from sembridge.vocab import find_overlap, is_candidate_source, vocab_tokens

    source_tokens = vocab_tokens(AutoTokenizer.from_pretrained(splade_tiny_path()))
    target_tokens = vocab_tokens(
        AutoTokenizer.from_pretrained(wordpiece_tokenizer_path("ru", vocab_size=8000))
    )
    by_id = {t.id: t for t in target_tokens}
    new_pool = [by_id[i] for i in find_overlap(source_tokens, target_tokens).new_ids]
    source_pool = [t for t in source_tokens if is_candidate_source(t)]
    generator = torch.Generator().manual_seed(0)

    def pick(pool: list[Any], n: int) -> list[str]:
        order = torch.randperm(len(pool), generator=generator)[: min(n, len(pool))]
        return [pool[i].surface for i in order.tolist()]

    return pick(new_pool, new), pick(source_pool, source)


def supports(target: Any, source: Any, alpha: float) -> list[frozenset[int]]:
    from sembridge.methods.weights import entmax_weights

    weights = entmax_weights(target, source, alpha)
    indptr, indices = weights.indptr.tolist(), weights.indices.tolist()
    return [frozenset(indices[indptr[i] : indptr[i + 1]]) for i in range(len(indptr) - 1)]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    quiet_libraries()
    apply_threads(args.threads)
    from offline_assets import e5_small_path
    from sembridge.methods.bridge import BridgeEmbedder

    machine = header("bridge backends on the CPU: speed and agreement with torch", "cpu")
    bridge = str(e5_small_path())
    new, source = sample_tokens(args.new_tokens, args.source_tokens)
    console.print(
        f"bridge: multilingual-e5-small ({bridge}), prompt 'query: '; {len(new):,} new Russian tokens "
        f"+ {len(source):,} SPLADE-tiny source tokens; batch {args.batch_size}"
    )
    results: dict[str, dict[str, Any]] = {}
    embeddings: dict[str, tuple[Any, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="sembridge-bench-backends-") as cache:
        for backend in args.backends:
            runtime = "openvino" if backend.startswith("openvino") else "onnxruntime"
            if backend != "torch" and importlib.util.find_spec(runtime) is None:
                results[backend] = {"skipped": f"{runtime} is not installed"}
                continue
            embedder = BridgeEmbedder(
                bridge, batch_size=args.batch_size, cache_dir=cache, show_progress=False, backend=backend
            )
            start = time.perf_counter()
            if backend == "torch":
                _ = embedder.model
            else:
                _ = embedder.runner  # export / quantise (cached per bridge) and compile
            prepare_s = time.perf_counter() - start
            # A warm-up batch, so one-time costs (thread pools, graph optimisation) are not timed.
            embedder.embed(new[:8], "warm-up")
            start = time.perf_counter()
            target_emb = embedder.embed(new, "new tokens")
            source_emb = embedder.embed(source, "source tokens")
            seconds = time.perf_counter() - start
            embeddings[backend] = (target_emb, source_emb)
            results[backend] = {
                "prepare_s": prepare_s,
                "seconds": seconds,
                "tokens_per_s": (len(new) + len(source)) / seconds,
            }
    base = results["torch"]
    reference = embeddings["torch"]
    reference_support = supports(*reference, args.alpha)
    rows = []
    for backend, result in results.items():
        if "skipped" not in result:
            target_emb, source_emb = embeddings[backend]
            cos = (target_emb * reference[0]).sum(1).tolist() + (source_emb * reference[1]).sum(1).tolist()
            support = supports(target_emb, source_emb, args.alpha)
            same = [a == b for a, b in zip(support, reference_support, strict=True)]
            jaccard = [len(a & b) / len(a | b) for a, b in zip(support, reference_support, strict=True)]
            result.update(
                speedup=result["tokens_per_s"] / base["tokens_per_s"],
                cosine_mean=sum(cos) / len(cos),
                cosine_min=min(cos),
                support_unchanged=sum(same) / len(same),
                support_jaccard=sum(jaccard) / len(jaccard),
                mean_support=sum(len(s) for s in support) / len(support),
            )
        rows.append(
            [
                backend,
                result.get("prepare_s"),
                result.get("tokens_per_s"),
                result.get("speedup"),
                result.get("cosine_mean"),
                result.get("cosine_min"),
                result.get("support_unchanged"),
                result.get("support_jaccard"),
                result.get("skipped", ""),
            ]
        )
    table(
        f"bridge backends ({len(new) + len(source):,} strings; agreement with torch, "
        f"Entmax alpha {args.alpha:g})",
        [
            "backend",
            "export/load s",
            "tokens/s",
            "x torch",
            "cosine mean",
            "cosine min",
            "support same",
            "Jaccard",
            "note",
        ],
        rows,
    )
    figures = {
        "machine": machine,
        "new_tokens": len(new),
        "source_tokens": len(source),
        "alpha": args.alpha,
        "results": results,
    }
    write_figures(args.json, figures)
    return figures


if __name__ == "__main__":
    main()
