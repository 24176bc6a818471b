"""Item 4a: sparse encoding and retrieval speed: documents encoded per second, queries retrieved per second.

Model: the real English SPLADE-tiny (30,522-term vocabulary), loaded as a SparseEncoder by
``sembridge.evaluation.load_encoder``. Text: the real English chatterbot-corpus dialogue pairs
(prompts as queries, replies as documents), and, to reach ``--docs``, synthetic documents of
``--doc-words`` words drawn from wordfreq's English frequency list (Zipf-distributed, like text).

Figures: documents and queries encoded per second (``encode_texts``), the inverted index's build
time and queries per second (``InvertedIndex.search``, exact top-k), and the same queries scored
by brute force (every query against every document, ``documents @ query``, then a top-k sort),
with the share of queries whose top-k lists are identical in both.

    python benchmarks/bench_retrieval.py                 # 20,000 documents, 2,000 queries
    python benchmarks/bench_retrieval.py --docs 100000
    python benchmarks/bench_retrieval.py --quick
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from common import (
    apply_threads,
    base_parser,
    console,
    header,
    quiet_libraries,
    resolve_device,
    table,
    write_figures,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=None, help="documents (default 20,000; quick 1,000)")
    parser.add_argument("--queries", type=int, default=None, help="queries (default 2,000; quick 200)")
    parser.add_argument("--doc-words", type=int, default=48, help="words per synthetic document (mean)")
    parser.add_argument("--top-k", type=int, default=10, help="documents retrieved per query")
    parser.add_argument("--batch-size", type=int, default=32, help="encoding batch size")
    parser.add_argument("--max-length", type=int, default=128, help="token limit per text")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic documents")
    args = parser.parse_args(argv)
    if args.docs is None:
        args.docs = 1_000 if args.quick else 20_000
    if args.queries is None:
        args.queries = 200 if args.quick else 2_000
    for name in ("docs", "queries", "doc_words", "top_k", "batch_size", "max_length"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    return args


def texts(n_docs: int, n_queries: int, doc_words: int, seed: int) -> tuple[list[str], list[str], int]:
    """Documents and queries: real dialogue pairs first, synthetic word-frequency documents after."""
    import numpy as np
    from wordfreq import top_n_list, word_frequency

    from offline_assets import chatterbot_pairs

    pairs = chatterbot_pairs("en")
    queries = list(dict.fromkeys(q.strip() for q, _ in pairs if q.strip()))
    replies = list(dict.fromkeys(a.strip() for _, a in pairs if a.strip()))
    rng = np.random.default_rng(seed)
    queries = [queries[i % len(queries)] for i in range(n_queries)]  # repeats only past ~2k
    docs = replies[:n_docs]
    real = len(docs)
    if len(docs) < n_docs:
        words = top_n_list("en", 20_000)
        freq = np.array([word_frequency(w, "en") for w in words], dtype=np.float64)
        freq /= freq.sum()
        lengths = rng.integers(max(doc_words // 2, 1), doc_words * 3 // 2 + 1, size=n_docs - len(docs))
        drawn = rng.choice(len(words), size=int(lengths.sum()), p=freq)
        start = 0
        for length in lengths.tolist():
            docs.append(" ".join(words[i] for i in drawn[start : start + length]))
            start += length
    return docs, queries, real


def brute_force(queries: Any, documents: Any, top_k: int, chunk: int = 128) -> tuple[Any, Any]:
    """Exact top-k by scoring every document: ``documents @ q`` for dense query chunks.

    Same ranking rules as the inverted index: positive scores only, highest first, ties by the lower
    document index; -1 pads.
    """
    import numpy as np

    n_queries, n_docs = queries.shape[0], documents.shape[0]
    indices = np.full((n_queries, top_k), -1, dtype=np.int64)
    scores = np.zeros((n_queries, top_k), dtype=np.float32)
    k = min(top_k, n_docs)
    for start in range(0, n_queries, chunk):
        dense = queries[start : start + chunk].toarray()
        block = np.asarray(documents @ dense.T).T  # (chunk, n_docs): every document scored
        if n_docs > k:
            candidates = np.argpartition(-block, k - 1, axis=1)[:, :k]
            kth = np.take_along_axis(block, candidates, axis=1).min(axis=1, keepdims=True)
        else:
            kth = block.min(axis=1, keepdims=True)
        for row in range(block.shape[0]):
            docs = np.flatnonzero((block[row] >= kth[row]) & (block[row] > 0))
            order = np.lexsort((docs, -block[row, docs]))[:k]
            indices[start + row, : len(order)] = docs[order]
            scores[start + row, : len(order)] = block[row, docs[order]]
    return indices, scores


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    quiet_libraries()
    resolve_device(args.device)
    apply_threads(args.threads)
    import numpy as np

    from offline_assets import splade_tiny_path
    from sembridge.encoding.encode import encode_texts, load_encoder
    from sembridge.evaluation import InvertedIndex

    machine = header("sparse encoding and retrieval", args.device)
    docs, queries, real = texts(args.docs, args.queries, args.doc_words, args.seed)
    console.print(
        f"model: SPLADE-tiny ({splade_tiny_path()}); {len(docs):,} documents "
        f"({real:,} real chatterbot replies, {len(docs) - real:,} synthetic), "
        f"{len(queries):,} queries (chatterbot prompts); "
        f"batch {args.batch_size}, max length {args.max_length}, top-{args.top_k}"
    )
    encoder = load_encoder(str(splade_tiny_path()), device=args.device, max_length=args.max_length)
    encode_texts(encoder, docs[:64], "document", batch_size=args.batch_size, show_progress=False)  # warm-up

    start = time.perf_counter()
    doc_matrix = encode_texts(encoder, docs, "document", batch_size=args.batch_size, show_progress=False)
    docs_s = time.perf_counter() - start
    start = time.perf_counter()
    query_matrix = encode_texts(encoder, queries, "query", batch_size=args.batch_size, show_progress=False)
    queries_s = time.perf_counter() - start

    start = time.perf_counter()
    index = InvertedIndex(doc_matrix)
    index_s = time.perf_counter() - start
    start = time.perf_counter()
    result = index.search(query_matrix, args.top_k)
    search_s = time.perf_counter() - start
    start = time.perf_counter()
    brute_indices, brute_scores = brute_force(query_matrix, doc_matrix, args.top_k)
    brute_s = time.perf_counter() - start

    same = float(np.mean(np.all(result.indices == brute_indices, axis=1)))
    score_diff = float(np.abs(result.scores - brute_scores).max()) if len(queries) else 0.0
    figures: dict[str, Any] = {
        "benchmark": "retrieval",
        "quick": args.quick,
        "device": args.device,
        "machine": machine,
        "docs": len(docs),
        "real_docs": real,
        "queries": len(queries),
        "top_k": args.top_k,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "doc_terms_mean": doc_matrix.nnz / max(len(docs), 1),
        "query_terms_mean": query_matrix.nnz / max(len(queries), 1),
        "encode_docs_s": docs_s,
        "docs_per_s": len(docs) / docs_s,
        "encode_queries_s": queries_s,
        "queries_encoded_per_s": len(queries) / queries_s,
        "index_build_s": index_s,
        "index_search_s": search_s,
        "index_queries_per_s": len(queries) / search_s,
        "brute_force_s": brute_s,
        "brute_force_queries_per_s": len(queries) / brute_s,
        "index_speedup": brute_s / search_s,
        "same_top_k_share": same,
        "max_score_diff": score_diff,
    }
    table(
        f"SPLADE-tiny on {args.device}: {len(docs):,} documents, {len(queries):,} queries",
        ["step", "seconds", "per second", "notes"],
        [
            ["encode documents", docs_s, figures["docs_per_s"], f"{figures['doc_terms_mean']:.0f} terms/doc"],
            [
                "encode queries",
                queries_s,
                figures["queries_encoded_per_s"],
                f"{figures['query_terms_mean']:.0f} terms/query",
            ],
            ["build inverted index", index_s, None, f"{index.nnz:,} postings"],
            ["search (inverted index)", search_s, figures["index_queries_per_s"], f"exact top-{args.top_k}"],
            [
                "search (brute force)",
                brute_s,
                figures["brute_force_queries_per_s"],
                f"same top-{args.top_k}: {100 * same:.1f}% of queries",
            ],
        ],
    )
    write_figures(args.json, figures)
    return figures


if __name__ == "__main__":
    main()
