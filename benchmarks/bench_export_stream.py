"""Issue 23.1: corpus-scale export: peak memory of a streamed export at 100k, 1M and 2M documents.

A synthetic corpus (JSONL of 6 to 24 words drawn from 3,000, seeded) is exported by
``sembridge.export.export`` (the corpus path read one document at a time, written in parts of
100,000) with a tiny random SPLADE encoder (BERT, one layer, hidden 32, a WordPiece of about 450
pieces, its output bias set so that a document keeps a few dozen terms, as a trained SPLADE's do:
the model is not what is measured), each size in its own process, so each peak resident
set (``ru_maxrss``) is that export's own. The baseline, in the same process after the export, is
what the export did before it streamed: the corpus read into memory whole (``load_corpus``), its
growth of the resident set reported beside the export's.

    python benchmarks/bench_export_stream.py                 # 100k, 1M, 2M documents (~10 CPU minutes)
    python benchmarks/bench_export_stream.py --quick         # 2k and 20k documents
    python benchmarks/bench_export_stream.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    apply_threads,
    base_parser,
    console,
    current_rss,
    header,
    max_rss,
    mb,
    quiet_libraries,
    table,
    write_figures,
)

SIZES = (100_000, 1_000_000, 2_000_000)
QUICK_SIZES = (2_000, 20_000)
WORDS = 3_000
PIECES = 800


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])  # --device: accepted, the figures are CPU ones
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="corpus sizes (documents)")
    parser.add_argument("--format", default="anserini", help="export format (default anserini)")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the corpora and model here")
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)  # model corpus out
    return parser.parse_args(argv)


def vocabulary() -> list[str]:
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(WORDS)]


def write_corpus(path: Path, size: int) -> None:
    words = vocabulary()
    rng = random.Random(size)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(size):
            text = " ".join(rng.choice(words) for _ in range(rng.randint(6, 24)))
            handle.write(json.dumps({"_id": f"doc{i}", "text": text}) + "\n")


def build_model(folder: Path) -> None:
    quiet_libraries()
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from sembridge.loading import save_sparse_encoder
    from tests.helpers import wordpiece_tokenizer

    torch.manual_seed(0)
    words = vocabulary()
    pieces = list(dict.fromkeys([*words[: PIECES // 2], *"abcdefghijklmnopqrstuvwxyz"]))
    pieces += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    tokenizer = wordpiece_tokenizer(pieces)
    config = BertConfig(
        vocab_size=len(tokenizer.get_vocab()),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    model = BertForMaskedLM(config)
    with torch.no_grad():  # logits of std ~0.1: a bias of -0.25 leaves a few dozen terms
        model.cls.predictions.bias.fill_(-0.25)
    save_sparse_encoder(model, tokenizer, folder, max_seq_length=128)


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One export, in its own process: its peak resident set, then the in-memory baseline's."""
    quiet_libraries()
    from sembridge.data import load_corpus
    from sembridge.export import export

    model, corpus, out = args.child
    start = time.perf_counter()
    summary = export(
        model, out, format=args.format, corpus=corpus, device="cpu", batch_size=64, show_progress=False
    )
    seconds = time.perf_counter() - start
    export_peak = max_rss()
    before = current_rss()
    held = load_corpus(corpus)
    in_memory = current_rss() - before
    return {
        "documents": summary["documents"],
        "files": summary["files"],
        "mean_document_terms": summary["mean_document_terms"],
        "seconds": seconds,
        "docs_per_s": summary["documents"] / seconds,
        "export_peak_rss_mb": mb(export_peak),
        "in_memory_corpus_mb": mb(in_memory),
        "in_memory_documents": len(held),
        "corpus_file_mb": mb(Path(corpus).stat().st_size),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    apply_threads(args.threads)
    if args.child:
        figures = child(args)
        print(json.dumps(figures))
        return figures
    info = header("corpus-scale export: peak memory of a streamed export", "cpu")
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    with tempfile.TemporaryDirectory(prefix="sembridge-bench-stream-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        model = work / "model"
        if not (model / "config.json").is_file():
            build_model(model)
        results = []
        for size in sizes:
            corpus = work / f"corpus-{size}.jsonl"
            if not corpus.is_file():
                write_corpus(corpus, size)
            out = work / f"out-{size}"
            for stale in (out, out.with_name(out.name + ".partial")):  # a killed run's leftovers
                shutil.rmtree(stale, ignore_errors=True)
            command = [
                sys.executable,
                __file__,
                "--child",
                str(model),
                str(corpus),
                str(out),
                "--format",
                args.format,
            ]
            if args.threads:
                command += ["--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"the {size:,}-document export failed:\n{done.stderr[-3000:]}")
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            results.append({"size": size, **figures})
            shutil.rmtree(out, ignore_errors=True)
    smallest = results[0]
    rows = [
        [
            f"{r['size']:,}",
            r["export_peak_rss_mb"],
            r["export_peak_rss_mb"] / smallest["export_peak_rss_mb"],
            r["in_memory_corpus_mb"],
            r["corpus_file_mb"],
            r["docs_per_s"],
            r["seconds"],
            r["files"],
            r["mean_document_terms"],
        ]
        for r in results
    ]
    table(
        f"export --format {args.format} of a synthetic corpus (a process each; baseline: the corpus "
        "held in memory)",
        [
            "documents",
            "peak RSS MB",
            "x smallest",
            "corpus in memory MB",
            "file MB",
            "docs/s",
            "seconds",
            "parts",
            "terms/doc",
        ],
        rows,
    )
    console.print(
        "[dim]peak RSS: the whole export process (torch, the model, one part's chunk); the corpus in "
        "memory: what reading it whole (the export before 2026-12-02) adds to the resident set[/dim]"
    )
    figures = {"machine": info, "format": args.format, "results": results}
    write_figures(args.json, figures)
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
