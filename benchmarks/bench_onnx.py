"""ONNX export: documents encoded per second by PyTorch, ONNX Runtime fp32 and ONNX Runtime int8, on CPU.

Model: the real English SPLADE-tiny (or ``--model DIR``), exported by ``sembridge.export.onnx``
(fp32 and dynamic int8). Text: the real English chatterbot-corpus replies as documents, repeated
to reach ``--docs``. The same texts, batch size and token limit go through the three encoders:
PyTorch (``SparseEncoder.encode``), and ``OnnxSparseEncoder`` on each ONNX file. Ratios are
against PyTorch measured in the same run; the agreement of each ONNX model with PyTorch (largest
absolute difference, top-10 overlap, cosine) is printed beside its speed.

    python benchmarks/bench_onnx.py                # 2,000 documents
    python benchmarks/bench_onnx.py --quick        # 200 documents
    python benchmarks/bench_onnx.py --model out/ru-sembridge
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from common import apply_threads, base_parser, console, header, quiet_libraries, table, write_figures


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="SPLADE model folder (default: the real SPLADE-tiny)")
    parser.add_argument("--docs", type=int, default=None, help="documents (default 2,000; quick 200)")
    parser.add_argument("--batch-size", type=int, default=32, help="encoding batch size")
    parser.add_argument("--max-length", type=int, default=128, help="token limit per text")
    args = parser.parse_args(argv)
    if args.docs is None:
        args.docs = 200 if args.quick else 2_000
    for name in ("docs", "batch_size", "max_length"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    if args.device != "cpu":
        parser.error("this benchmark measures CPU speed: use --device cpu")
    return args


def documents(n: int) -> list[str]:
    from offline_assets.datasets import chatterbot_pairs

    replies = sorted({reply for _, reply in chatterbot_pairs("en")})
    return [replies[i % len(replies)] for i in range(n)]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    quiet_libraries()
    apply_threads(args.threads)
    import numpy as np
    from sentence_transformers import SparseEncoder

    from offline_assets import splade_tiny_path
    from sembridge.encoding.sparsity import mean_row_cosine, top_k_overlap
    from sembridge.export.onnx import OnnxSparseEncoder, export_onnx

    machine = header("ONNX export: CPU encoding speed", args.device)
    model = args.model or str(splade_tiny_path())
    docs = documents(args.docs)
    console.print(
        f"model: {model}; {len(docs):,} documents (chatterbot English replies); "
        f"batch {args.batch_size}, max length {args.max_length}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "onnx"
        start = time.perf_counter()
        summary = export_onnx(model, out, quantize=True, show_progress=False)
        export_s = time.perf_counter() - start

        encoder = SparseEncoder(model, device="cpu")
        encoder.max_seq_length = args.max_length

        def torch_encode(texts: list[str]) -> Any:
            vectors = encoder.encode(texts, batch_size=args.batch_size, convert_to_tensor=True)
            return vectors.to_dense().numpy()

        runners = {"torch": torch_encode}
        for name, int8 in (("onnx fp32", False), ("onnx int8", True)):
            onnx = OnnxSparseEncoder(out, int8=int8, max_length=args.max_length)
            runners[name] = lambda texts, onnx=onnx: onnx.encode(texts, batch_size=args.batch_size)

        vectors, seconds = {}, {}
        for name, run in runners.items():
            run(docs[: args.batch_size])  # warm-up
            start = time.perf_counter()
            vectors[name] = run(docs)
            seconds[name] = time.perf_counter() - start

    reference = vectors["torch"]
    rows, results = [], []
    for name in runners:
        docs_per_s = len(docs) / seconds[name]
        ratio = seconds["torch"] / seconds[name]
        diff = float(np.abs(vectors[name] - reference).max())
        overlap = top_k_overlap(reference, vectors[name])
        cosine = mean_row_cosine(reference, vectors[name])
        rows.append([name, docs_per_s, f"{ratio:.2f}x", diff, overlap, cosine])
        results.append(
            {
                "encoder": name,
                "seconds": seconds[name],
                "docs_per_s": docs_per_s,
                "speed_vs_torch": ratio,
                "max_abs_diff": diff,
                "top10_overlap": overlap,
                "cosine": cosine,
            }
        )
    table(
        f"{len(docs):,} documents on CPU (export {export_s:.1f} s)",
        ["encoder", "docs/s", "vs torch", "max |diff|", "top-10 overlap", "cosine"],
        rows,
    )
    figures = {
        "machine": machine,
        "model": model,
        "docs": len(docs),
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "export_s": export_s,
        "export_check": summary["check"],
        "results": results,
    }
    write_figures(args.json, figures)
    return figures


if __name__ == "__main__":
    main()
