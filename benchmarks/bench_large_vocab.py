"""Issue 14.3: large target vocabularies: peak memory and speed of encoding and of a training step.

A SPLADE encoder's MLM logits are ``batch x length x vocab``: 32 x 256 x 250k float32 is 8.2 GB.
For vocabularies of 8k, 64k and 250k pieces (tiny random BERT, hidden 32, one layer, so the
logits dominate), each case runs in its own process and reports its peak resident memory
(``ru_maxrss``) and documents per second, with the logits bound of ``sembridge.encoding.splade_memory``
(the default of evaluate, export and finetune) and without it (``--no-bound`` baseline; cases
whose whole logits would not fit the machine are not run and say so):

- encode: ``SparseEncoder.encode`` of ``batch`` documents of ``length`` tokens (twice; the second
  is timed);
- train: one step (forward, backward through max pooling, AdamW update) on ``batch`` documents.

    python benchmarks/bench_large_vocab.py                 # 8k, 64k, 250k at batch 32 x 256
    python benchmarks/bench_large_vocab.py --quick         # 8k and 64k at batch 8 x 128, 250k bounded
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from typing import Any

from common import (
    apply_threads,
    base_parser,
    console,
    gb,
    header,
    max_rss,
    quiet_libraries,
    table,
    write_figures,
)

VOCABS = (8_000, 64_000, 250_002)
HIDDEN = 32
WORDS = ["book", "house", "river", "city", "red", "green", "paris", "france", "capital", "##s"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])  # --device: accepted, the figures are CPU ones
    parser.add_argument("--batch", type=int, default=None, help="documents per batch (default 32; quick 8)")
    parser.add_argument(
        "--length", type=int, default=None, help="tokens per document (default 256; quick 128)"
    )
    parser.add_argument("--vocabs", type=int, nargs="+", default=None, help="vocabulary sizes")
    parser.add_argument(
        "--budget-mb",
        type=int,
        default=256,
        help="bytes of logits per chunk, in MiB (sembridge's default 256)",
    )
    parser.add_argument(
        "--max-unbounded-gb",
        type=float,
        default=6.0,
        help="skip a baseline whose whole logits (x3 when training) exceed this (default 6 GB)",
    )
    parser.add_argument("--child", nargs=3, metavar=("VOCAB", "MODE", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.batch = args.batch or (8 if args.quick else 32)
    args.length = args.length or (128 if args.quick else 256)
    args.vocabs = args.vocabs or list(VOCABS)
    return args


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One case, in its own process: build the model, run the task, report time and peak memory."""
    quiet_libraries()
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from sembridge.encoding.encode import load_encoder
    from sembridge.loading import save_sparse_encoder
    from tests.helpers import wordpiece_tokenizer

    vocab, mode, task = int(args.child[0]), args.child[1], args.child[2]
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=HIDDEN,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max(512, args.length),
    )
    with tempfile.TemporaryDirectory(prefix="sembridge-bench-vocab-") as tmp:
        # A tokenizer of the vocabulary's size (the words, then filler pieces): a model folder
        # whose tokenizer is far smaller than its vocabulary is refused when it is loaded.
        pieces = [*WORDS, *(f"piece{i}" for i in range(vocab - 5 - len(WORDS)))]
        save_sparse_encoder(
            BertForMaskedLM(config), wordpiece_tokenizer(pieces), tmp, max_seq_length=args.length
        )
        budget = args.budget_mb * 1024 * 1024 if mode == "bounded" else None
        encoder = load_encoder(tmp, "cpu", logits_budget=budget)
    texts = [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(args.length)) for i in range(args.batch)]
    before = max_rss()
    if task == "encode":
        encoder.encode(texts, batch_size=args.batch)
        start = time.perf_counter()
        encoder.encode(texts, batch_size=args.batch)
        seconds = time.perf_counter() - start
    else:
        optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-4)
        features = {k: v for k, v in encoder.preprocess(texts).items() if isinstance(v, torch.Tensor)}
        encoder.train()
        start = time.perf_counter()
        vectors = encoder(features)["sentence_embedding"]
        loss = -vectors[:, :100].sum() + 1e-3 * (vectors.mean(0) ** 2).sum()  # a ranking term + FLOPS
        loss.backward()
        optimizer.step()
        seconds = time.perf_counter() - start
    return {
        "vocab": vocab,
        "mode": mode,
        "task": task,
        "seconds": seconds,
        "docs_per_s": args.batch / seconds,
        "peak_rss_gb": gb(max_rss()),
        "rss_before_gb": gb(before),
        "positions": int(features["input_ids"].shape[1]) if task == "train" else args.length,
    }


def run_case(args: argparse.Namespace, vocab: int, mode: str, task: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(vocab), mode, task]
    command += ["--batch", str(args.batch), "--length", str(args.length), "--budget-mb", str(args.budget_mb)]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"vocab": vocab, "mode": mode, "task": task, "error": (done.stderr or done.stdout)[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    apply_threads(args.threads)
    if args.child:
        figures = child(args)
        print(json.dumps(figures))
        return figures
    quiet_libraries()
    machine = header("large vocabularies: bounded MLM logits vs whole", "cpu")
    console.print(
        f"batch {args.batch} x {args.length} tokens; tiny BERT (hidden {HIDDEN}); chunk budget "
        f"{args.budget_mb} MiB; each case in its own process (peak = ru_maxrss)"
    )
    results = []
    rows = []
    for vocab in args.vocabs:
        whole_gb = args.batch * args.length * vocab * 4 / 1024**3
        for task in ("encode", "train"):
            for mode in ("bounded", "whole"):
                need = whole_gb * (1 if task == "encode" else 3)
                if mode == "whole" and need > args.max_unbounded_gb:
                    result = {"vocab": vocab, "mode": mode, "task": task, "skipped": f"needs > {need:.1f} GB"}
                else:
                    result = run_case(args, vocab, mode, task)
                result["whole_logits_gb"] = whole_gb
                results.append(result)
                rows.append(
                    [
                        f"{vocab:,} {task} {mode}",
                        whole_gb,
                        result.get("peak_rss_gb"),
                        result.get("docs_per_s"),
                        result.get("skipped") or result.get("error", "")[:60] or "",
                    ]
                )
    table(
        f"peak memory and speed at batch {args.batch} x {args.length}",
        ["vocab, task, logits", "whole logits GB", "peak RSS GB", "docs/s", "note"],
        rows,
    )
    figures = {"machine": machine, "batch": args.batch, "length": args.length, "results": results}
    write_figures(args.json, figures)
    return figures


if __name__ == "__main__":
    main()
