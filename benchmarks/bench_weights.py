"""Item 1: the weights stage (similarity, Entmax, combination) at full vocabulary size, against the reference.

Inputs (real by default):

* source: the candidate tokens of the real SPLADE-tiny vocabulary (30,522 wordpieces, less the
  special and ``[unusedN]`` ones), its 30,522 x 128 input embedding matrix;
* new tokens: the real multilingual-e5-small vocabulary (XLM-R, 250,002 pieces), less its special
  tokens and the pieces that overlap the source (what ``sembridge init`` would build), sampled
  with a fixed seed (``--new-tokens``, default 100,000; ``all`` for the ~240k);
* bridge: the real multilingual-e5-small, through ``BridgeEmbedder``: embeddings are cached in
  ``default_cache_dir()`` in blocks of ``--block`` pieces, so a later run (or a smaller one, which
  uses a prefix of the same sample) costs no bridge time.

``--inputs demo`` takes the demo setting's real vectors instead: the 7,678 new tokens of the Russian
WordPiece 8,000 tokenizer (``sembridge init``'s demo) x the same 29,523 source tokens.

The stage itself runs in a fresh subprocess that holds only these tensors, so its peak resident
memory is its own. Per ``--alpha``: the time of the similarity and Entmax (``iter_entmax_weights``:
the float32 product, timed apart, then exact candidates and Entmax) and of the combination into the
source embedding matrix (alpha 1: ``softmax_combine``, chunk by chunk), tokens per second and peak
memory. Beside it, in the same process: the arithmetic floor, a plain float32 product of the same
unit vectors chunk by chunk followed by a top-``FLOOR_K`` (timed before and after the stage, the
faster kept), and the previous float64 path (``iter_similarity`` then ``entmax_rows``); then, on the first
``--reference-rows`` rows of the sample (random rows of the vocabulary), the reference algorithm
(``reference_entmax_weights``: one row at a time, ``entmax_bisect`` over the full row), ours on the
same rows, the speed ratio and the largest absolute difference between the two weight matrices.

    python benchmarks/bench_weights.py                      # 100k new tokens, alpha 4
    python benchmarks/bench_weights.py --new-tokens all --alpha 4 2
    python benchmarks/bench_weights.py --quick              # under a minute
    python benchmarks/bench_weights.py --inputs demo --alpha 4 2   # 7,678 x 29,523 real rows
    python benchmarks/bench_weights.py --device cuda        # stage and reference on the GPU
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    PeakMemory,
    Stopwatch,
    apply_threads,
    base_parser,
    console,
    cuda_sync,
    gb,
    header,
    quiet_libraries,
    resolve_device,
    table,
    write_figures,
)

QUICK_NEW_TOKENS = 2_000
QUICK_REFERENCE_ROWS = 100
DEFAULT_NEW_TOKENS = 100_000
DEFAULT_REFERENCE_ROWS = 2_000
# The floor's top-k: what any weights stage must at least do is one float32 product and a small top-k.
FLOOR_K = 16


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--new-tokens",
        default=None,
        help=f"new tokens sampled from the e5 vocabulary, or 'all' (default {DEFAULT_NEW_TOKENS:,}; "
        f"quick {QUICK_NEW_TOKENS:,})",
    )
    parser.add_argument("--alpha", type=float, nargs="+", default=[4.0], help="Entmax alphas (default: 4)")
    parser.add_argument(
        "--reference-rows",
        type=int,
        default=None,
        help=f"rows run through the reference algorithm (default {DEFAULT_REFERENCE_ROWS:,}; "
        f"quick {QUICK_REFERENCE_ROWS})",
    )
    parser.add_argument("--chunk-size", type=int, default=1024, help="new tokens per similarity chunk")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new-token sample")
    parser.add_argument("--block", type=int, default=2_000, help="new tokens per cached bridge block")
    parser.add_argument("--bridge-batch-size", type=int, default=256, help="bridge encoding batch size")
    parser.add_argument(
        "--inputs",
        choices=["auto", "real", "random", "demo"],
        default="auto",
        help="real bridge embeddings, random unit vectors, or auto: real, except that --quick falls back "
        "to random vectors when the source embeddings are not cached yet; demo: the real new tokens of "
        "the demo's Russian WordPiece 8,000 tokenizer (--new-tokens ignored)",
    )
    # Internal: run one alpha's stage on prepared inputs (in a fresh process) and write its figures.
    parser.add_argument("--stage-worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.new_tokens is None:
        args.new_tokens = QUICK_NEW_TOKENS if args.quick else DEFAULT_NEW_TOKENS
    elif args.new_tokens != "all":
        args.new_tokens = int(args.new_tokens)
        if args.new_tokens < 1:
            parser.error(f"--new-tokens must be a positive integer or 'all', got {args.new_tokens}")
    if args.reference_rows is None:
        args.reference_rows = QUICK_REFERENCE_ROWS if args.quick else DEFAULT_REFERENCE_ROWS
    for name in ("chunk_size", "block", "bridge_batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    if args.reference_rows < 0:
        parser.error(f"--reference-rows must be >= 0, got {args.reference_rows}")
    return args


# ----------------------------------------------------------------------------------------------
# Inputs


def prepare_inputs(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    """Write target, source and matrix tensors to ``path``; return a description of them."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    from offline_assets import e5_small_path, splade_tiny_path
    from sembridge.methods.bridge import BridgeEmbedder
    from sembridge.surgery import mlm_parts
    from sembridge.vocab import find_overlap, is_candidate_source, vocab_tokens

    started = time.perf_counter()
    source_dir = splade_tiny_path()
    source_tokenizer = AutoTokenizer.from_pretrained(source_dir)
    source_tokens = vocab_tokens(source_tokenizer)
    candidates = [t for t in source_tokens if is_candidate_source(t)]
    candidate_ids = torch.tensor([t.id for t in candidates], dtype=torch.long)

    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(source_dir)
    matrix = mlm_parts(model).embeddings.detach().float()[candidate_ids].contiguous()
    del model

    bridge_dir = e5_small_path()
    if args.inputs == "demo":
        from offline_assets import wordpiece_tokenizer_path
        from sembridge.vocab import vocabulary_size

        demo_tokenizer = AutoTokenizer.from_pretrained(wordpiece_tokenizer_path("ru", vocab_size=8000))
        target_tokens = vocab_tokens(demo_tokenizer)
        overlap = find_overlap(source_tokens, target_tokens, target_size=vocabulary_size(demo_tokenizer))
    else:
        target_tokens = vocab_tokens(AutoTokenizer.from_pretrained(bridge_dir))
        overlap = find_overlap(source_tokens, target_tokens)
    by_id = {t.id: t for t in target_tokens}
    new_tokens = [by_id[i] for i in overlap.new_ids]
    order = torch.randperm(len(new_tokens), generator=torch.Generator().manual_seed(args.seed))
    if args.inputs == "demo":
        order = torch.arange(len(new_tokens))  # the demo's tokens, in the demo's order (its cache entry)
        args.new_tokens, args.block = "all", len(new_tokens)
    n = len(new_tokens) if args.new_tokens == "all" else min(args.new_tokens, len(new_tokens))
    # Whole blocks of the same permutation, so that any sample size reuses the cached blocks.
    covered = min(-(-n // args.block) * args.block, len(new_tokens))
    sample = [new_tokens[i] for i in order[:covered].tolist()]
    prep_seconds = time.perf_counter() - started

    embedder = BridgeEmbedder(
        str(bridge_dir),
        device=args.device,
        batch_size=args.bridge_batch_size,
        show_progress=False,
    )
    source_texts = [t.surface for t in candidates]
    blocks = [[t.surface for t in sample[i : i + args.block]] for i in range(0, covered, args.block)]
    source_cached = embedder.cache_path(source_texts).is_file()
    kind = args.inputs
    if kind == "auto":
        kind = "random" if args.quick and not source_cached else "real"

    started = time.perf_counter()
    if kind in ("real", "demo"):
        blocks_cached = sum(embedder.cache_path(block).is_file() for block in blocks)
        from sembridge.log import progress

        source = embedder.embed(source_texts, "source tokens")
        parts = []
        with progress(disable=blocks_cached == len(blocks)) as bar:
            task = bar.add_task("bridge embeddings of the new tokens", total=covered)
            for block in blocks:
                parts.append(embedder.embed(block, "new tokens"))
                bar.advance(task, len(block))
        target = torch.cat(parts)[:n]
        cache_note = (
            f"source {'cached' if source_cached else 'computed'}, "
            f"{blocks_cached}/{len(blocks)} new-token blocks cached"
        )
    else:
        generator = torch.Generator().manual_seed(args.seed)
        dim = 384
        source = torch.nn.functional.normalize(torch.randn(len(candidates), dim, generator=generator), dim=-1)
        target = torch.nn.functional.normalize(torch.randn(n, dim, generator=generator), dim=-1)
        cache_note = "random unit vectors (the real source embeddings are not cached yet)"
    embed_seconds = time.perf_counter() - started
    del embedder

    save_file({"target": target.contiguous(), "source": source.contiguous(), "matrix": matrix}, str(path))
    return {
        "inputs": kind,
        "source_vocab": len(source_tokens),
        "source_candidates": len(candidates),
        "target_vocab": len(target_tokens),
        "target_new_total": len(new_tokens),
        "new_tokens": n,
        "dim": int(target.shape[1]),
        "matrix_shape": list(matrix.shape),
        "bridge": str(bridge_dir),
        "bridge_cache": cache_note,
        "prepare_seconds": round(prep_seconds, 2),
        "bridge_seconds": round(embed_seconds, 2),
    }


# ----------------------------------------------------------------------------------------------
# The stage, in a fresh process


def count_full_width_rows() -> list[int]:
    """Count the rows ``entmax_rows`` redoes with ``entmax_bisect`` over the full row (a diagnostic).

    Wraps the private ``sembridge.methods.weights._full_rows``; returns a one-element list that the wrapper
    updates, or an empty list when that function does not exist (the figure is then not reported).
    """
    import sembridge.methods.weights as weights_module

    full_rows = getattr(weights_module, "_full_rows", None)
    if full_rows is None:
        return []
    counter = [0]

    def counting(scores: Any, *rest: Any) -> Any:
        counter[0] += int(scores.shape[0])
        return full_rows(scores, *rest)

    weights_module._full_rows = counting
    return counter


def stage_worker(args: argparse.Namespace) -> None:
    """Run the stage for one alpha on the tensors in ``--stage-worker`` and print its figures as JSON."""
    import torch
    from safetensors.torch import load_file

    import sembridge.methods.weights as weights_module
    from sembridge.methods.sparse_weights import SparseWeights
    from sembridge.methods.weights import (
        combine,
        entmax_rows,
        entmax_weights,
        iter_entmax_weights,
        iter_similarity,
        reference_entmax_weights,
        softmax_combine,
    )

    device = torch.device(args.device)
    alpha = args.alpha[0]
    full_rows = count_full_width_rows()
    tensors = load_file(str(args.stage_worker))
    target, source, matrix = tensors["target"], tensors["source"], tensors["matrix"]
    if device.type == "cuda":
        target, source, matrix = target.to(device), source.to(device), matrix.to(device)
    sync = cuda_sync(device)
    n = target.shape[0]
    # The bridge's vectors are unit vectors already; the floor starts from them.
    unit_target = torch.nn.functional.normalize(target, dim=-1)
    unit_source = torch.nn.functional.normalize(source, dim=-1)

    def floor() -> float:
        started = time.perf_counter()
        for start in range(0, n, args.chunk_size):
            (unit_target[start : start + args.chunk_size] @ unit_source.T).topk(FLOOR_K + 1, dim=-1)
        if sync is not None:
            sync()
        return time.perf_counter() - started

    # The float32 product inside iter_entmax_weights, timed apart (the rest is Entmax and exact rescoring).
    watch = Stopwatch(sync)
    product = weights_module._float32_product

    def timed_product(*tensors_: Any) -> Any:
        with watch.part("similarity"):
            out = product(*tensors_)
            if sync is not None:
                sync()
        return out

    floor_s = floor()
    weights_module._float32_product = timed_product
    with PeakMemory(cuda_device=device if device.type == "cuda" else None) as memory:
        with watch.part("weights"):
            if alpha == 1:
                weights, combined = softmax_combine(
                    target, source, {"matrix": matrix}, chunk_size=args.chunk_size, device=device
                )
            else:
                chunks = iter_entmax_weights(target, source, alpha, chunk_size=args.chunk_size, device=device)
                weights = SparseWeights.concat([chunk for _, chunk in chunks])
        with watch.part("combine"):
            rows = combined["matrix"] if alpha == 1 else combine(weights, matrix)
        del rows
    weights_module._float32_product = product
    floor_s = min(floor_s, floor())
    # The previous path: float64 similarity, then entmax_rows on each chunk.
    previous = Stopwatch(sync)
    with previous.part("previous"):
        for _, sim in iter_similarity(target, source, chunk_size=args.chunk_size, device=device):
            entmax_rows(sim, alpha)
            del sim
    if alpha == 1:
        watch.seconds["similarity"] = watch.seconds["weights"]  # softmax_combine: the float64 product
    sizes = weights.support_sizes().float()
    figures: dict[str, Any] = {
        "alpha": alpha,
        "rows": n,
        "similarity_s": watch.seconds["similarity"],
        "entmax_s": watch.seconds["weights"] - watch.seconds["similarity"],
        "weights_s": watch.seconds["weights"],
        "floor_s": floor_s,
        "floor_k": FLOOR_K,
        "x_floor": watch.seconds["weights"] / floor_s,
        "previous_s": previous.seconds["previous"],
        "previous_x_floor": previous.seconds["previous"] / floor_s,
        "combine_s": watch.seconds["combine"],
        "stage_s": watch.total("weights", "combine"),
        "support_mean": float(sizes.mean()),
        "support_max": int(sizes.max()),
        "full_width_rows": full_rows[0] if full_rows else None,
        "rss_before_gb": gb(memory.before),
        "peak_rss_gb": gb(memory.peak),
        "peak_rss_delta_gb": gb(memory.delta),
        "cuda_peak_gb": gb(memory.cuda_peak),
    }
    if full_rows:
        figures["full_width_share"] = full_rows[0] / n
    figures["tokens_per_s"] = n / figures["stage_s"]
    figures["ours_ms_per_row"] = 1e3 * watch.seconds["weights"] / n

    r = min(args.reference_rows, n)
    if r:
        head_target = target[:r]
        watch = Stopwatch(sync)
        with watch.part("ours"):
            same_rows = entmax_weights(head_target, source, alpha, chunk_size=args.chunk_size, device=device)
        with watch.part("reference"):
            reference = reference_entmax_weights(head_target, source, alpha)
        if weights.truncated:  # alpha 1 keeps only the largest weights: compare the full rows
            ours_dense = same_rows.to_dense()
        else:
            end = int(weights.indptr[r])
            ours_dense = SparseWeights(
                weights.indptr[: r + 1], weights.indices[:end], weights.values[:end], weights.num_columns
            ).to_dense()
        figures.update(
            {
                "reference_rows": r,
                "reference_s": watch.seconds["reference"],
                "reference_ms_per_row": 1e3 * watch.seconds["reference"] / r,
                "ours_same_rows_s": watch.seconds["ours"],
                "ours_same_rows_ms_per_row": 1e3 * watch.seconds["ours"] / r,
                "max_abs_diff": float((ours_dense - reference).abs().max()),
                "max_abs_diff_same_rows": float((same_rows.to_dense() - reference).abs().max()),
            }
        )
        figures["speedup_same_rows"] = figures["reference_ms_per_row"] / figures["ours_same_rows_ms_per_row"]
        figures["speedup_full_run"] = figures["reference_ms_per_row"] / figures["ours_ms_per_row"]
        figures["reference_projected_s"] = figures["reference_ms_per_row"] * n / 1e3
        figures["reference_x_floor"] = figures["reference_ms_per_row"] * n / 1e3 / floor_s
    print("STAGE-FIGURES " + json.dumps(figures), flush=True)


def run_stage(args: argparse.Namespace, inputs: Path, alpha: float) -> dict[str, Any]:
    """One alpha's stage in a fresh Python process; its figures."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--stage-worker",
        str(inputs),
        "--alpha",
        repr(alpha),
        "--chunk-size",
        str(args.chunk_size),
        "--reference-rows",
        str(args.reference_rows),
        "--device",
        args.device,
    ]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("STAGE-FIGURES "):
            return json.loads(line[len("STAGE-FIGURES ") :])
    raise RuntimeError(f"the stage worker for alpha {alpha} failed:\n{done.stdout}\n{done.stderr}")


# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    quiet_libraries()
    resolve_device(args.device)
    apply_threads(args.threads)
    if args.stage_worker is not None:
        stage_worker(args)
        return {}

    machine = header("weights stage: similarity + Entmax + combination, against the reference", args.device)
    with tempfile.TemporaryDirectory(prefix="sembridge-bench-weights-") as tmp:
        inputs_path = Path(tmp) / "inputs.safetensors"
        described = prepare_inputs(args, inputs_path)
        console.print(
            f"inputs: [bold]{described['inputs']}[/bold] ({described['bridge_cache']}); "
            f"{described['new_tokens']:,} new tokens sampled from {described['target_new_total']:,} "
            f"({'Russian WordPiece' if described['inputs'] == 'demo' else 'e5'} vocabulary "
            f"{described['target_vocab']:,}, seed {args.seed}) x "
            f"{described['source_candidates']:,} source tokens (SPLADE-tiny {described['source_vocab']:,}); "
            f"matrix {described['matrix_shape'][0]:,} x {described['matrix_shape'][1]}; "
            f"bridge {described['bridge_seconds']:.1f} s, vocabularies {described['prepare_seconds']:.1f} s"
        )
        results = []
        for alpha in args.alpha:
            console.print(f"[dim]alpha {alpha:g}: running the stage in a fresh process...[/dim]")
            results.append(run_stage(args, inputs_path, alpha))

    table(
        f"weights stage on {args.device}: {described['new_tokens']:,} new tokens x "
        f"{described['source_candidates']:,} source tokens",
        [
            "alpha",
            "similarity s",
            "entmax s",
            "combine s",
            "total s",
            "tokens/s",
            "support mean",
            "support max",
            "full-row share",
            "peak RSS GB",
            "RSS rise GB",
            "GPU peak GB",
        ],
        [
            [
                r["alpha"],
                r["similarity_s"],
                r["entmax_s"],
                r["combine_s"],
                r["stage_s"],
                r["tokens_per_s"],
                r["support_mean"],
                r["support_max"],
                r.get("full_width_share"),
                r["peak_rss_gb"],
                r["peak_rss_delta_gb"],
                r["cuda_peak_gb"],
            ]
            for r in results
        ],
    )
    table(
        f"against the arithmetic floor: a float32 product of the same unit vectors, {args.chunk_size} rows "
        f"at a time, and a top-{FLOOR_K}, timed in the same process",
        [
            "alpha",
            "floor s",
            "similarity + Entmax s",
            "x floor",
            "float64 path s",
            "x floor",
            "reference projected s",
            "x floor",
        ],
        [
            [
                r["alpha"],
                r["floor_s"],
                r["weights_s"],
                r["x_floor"],
                r["previous_s"],
                r["previous_x_floor"],
                r.get("reference_projected_s"),
                r.get("reference_x_floor"),
            ]
            for r in results
        ],
    )
    with_reference = [r for r in results if r.get("reference_rows")]
    if with_reference:
        table(
            f"reference (one row at a time, entmax_bisect over the full row) on the first "
            f"{with_reference[0]['reference_rows']:,} sampled rows",
            [
                "alpha",
                "reference ms/row",
                "ours ms/row (same rows)",
                "ours ms/row (full run)",
                "speed-up (same rows)",
                "speed-up (full run)",
                "reference projected s",
                "max |diff|",
            ],
            [
                [
                    r["alpha"],
                    r["reference_ms_per_row"],
                    r["ours_same_rows_ms_per_row"],
                    r["ours_ms_per_row"],
                    r["speedup_same_rows"],
                    r["speedup_full_run"],
                    r["reference_projected_s"],
                    max(r["max_abs_diff"], r["max_abs_diff_same_rows"]),
                ]
                for r in with_reference
            ],
        )
    console.print(
        "[dim]full-row share: rows that entmax_rows handed to entmax_bisect over all source tokens "
        "(its fallback); each costs about what the reference costs per row.[/dim]"
    )
    console.print(
        "[dim]float64 path: the previous stage (float64 similarity, then entmax_rows), same rows.[/dim]"
    )
    console.print(
        "[dim]targets: speed-up >= 20x on the same rows, max |diff| <= 1e-6, "
        "peak memory of the stage < 3 GB at 250k new tokens, similarity + Entmax <= 1.3x the floor.[/dim]"
    )
    figures = {
        "benchmark": "weights",
        "quick": args.quick,
        "device": args.device,
        "machine": machine,
        **described,
        "chunk_size": args.chunk_size,
        "results": results,
    }
    write_figures(args.json, figures)
    return figures


if __name__ == "__main__":
    main()
