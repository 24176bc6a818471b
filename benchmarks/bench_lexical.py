"""Lexical weights: a trained model with BM25's weights of each text's own pieces added, for several C.

``finetune --lexical-weight C`` adds the lexical part after training, so C can be chosen after
training too: this script takes a written model (its own lexical part, if any, left out), fits
the IDF on the training documents of a pairs file, and evaluates on a language's dev split (or
test set, to report, never to choose):

- the learned part alone, and the model with the lexical part at each C;
- the lexical part alone (the same for every C, up to each query's scale);
- BM25 over the target tokenizer's pieces and over the model's own.

    python benchmarks/bench_lexical.py --model ar-ft --train mined.jsonl --langs ar --weights 1 2 4 8
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import apply_threads, base_parser, console, header, quiet_libraries, table, write_figures

METRIC = "nDCG@10"


def parse_args(argv: Sequence[str] | None = None) -> Any:
    parser = base_parser(__doc__.splitlines()[0], device=True)
    parser.add_argument("--model", type=Path, required=True, help="a SPLADE model folder (a fine-tuned one)")
    parser.add_argument(
        "--train", type=Path, default=None, help="pairs whose positives and negatives the IDF is fitted on "
        "(default: the language's train.jsonl of the split)",
    )  # fmt: skip
    parser.add_argument("--langs", nargs=1, choices=("ar", "zh", "hi", "ko", "ru"), default=["ar"])
    parser.add_argument("--weights", nargs="+", type=float, default=[0.5, 1, 2, 4, 8, 16, 32, 128])
    parser.add_argument(
        "--split", choices=("dev", "test"), default="dev", help="dev (default: what C is chosen on) or test"
    )
    return parser.parse_args(argv)


def evaluate_rows(models: dict[str, Any], data: Any, device: str) -> dict[str, dict[str, float]]:
    from sembridge.evaluation import evaluate

    report = evaluate(
        list(models.values()), data, metrics=[METRIC, "R@100"], device=device, show_progress=False
    )
    return {
        name: {**entry["results"][0]["metrics"], "query_terms": entry["results"][0]["query_terms"],
               "doc_terms": entry["results"][0]["doc_terms"]}
        for name, entry in zip(models, report["models"], strict=True)
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    apply_threads(args.threads)
    quiet_libraries()
    from bench_quality import bm25_row, lexical_alone

    from offline_assets import wordpiece_tokenizer_path
    from offline_assets.corpora import build_language
    from sembridge.data import load_pairs, load_retrieval_data
    from sembridge.loading import load_sparse_encoder
    from sembridge.training.lexical import LexicalWeights, fit_lexical_weights
    from sembridge.training.trainer import training_documents

    machine = header(
        "lexical weights: a trained model with BM25's weights of its texts' own pieces", args.device
    )
    lang = args.langs[0]
    folder = build_language(lang, split=args.split)
    data = load_retrieval_data(folder / "test", split="test")
    documents = training_documents(load_pairs(args.train or folder / "train.jsonl"))
    model = load_sparse_encoder(args.model, args.device)
    if isinstance(model[-1], LexicalWeights):
        del model[-1]  # the learned part alone
    console.print(
        f"{lang} {args.split}: {len(data.queries):,} queries, {len(data.corpus):,} documents; "
        f"IDF over {len(documents):,} training documents"
    )
    start = time.perf_counter()
    rows = evaluate_rows({"learned part alone": model}, data, args.device)
    module = fit_lexical_weights(model, documents, 1.0)
    for weight in args.weights:
        module.weight = float(weight)
        model.append(module)
        rows[f"+ lexical part, C = {weight:g}"] = evaluate_rows({"m": model}, data, args.device)["m"]
        del model[-1]
    rows["lexical part alone"] = evaluate_rows(
        {"m": lexical_alone(model, module, args.device)}, data, args.device
    )["m"]
    rows["BM25"] = bm25_row(data, wordpiece_tokenizer_path(lang), args.device)
    rows["BM25 (model pieces)"] = bm25_row(data, args.model, args.device)
    table(
        f"{METRIC} on the {lang} {args.split} split: {args.model}",
        ["vectors", METRIC, "R@100", "q terms", "d terms"],
        [[name, row[METRIC], row["R@100"], row.get("query_terms", "-"), row.get("doc_terms", "-")]
         for name, row in rows.items()],
    )  # fmt: skip
    figures = {"machine": machine, "lang": lang, "split": args.split, "model": str(args.model),
               "train_documents": len(documents), "rows": rows,
               "seconds": time.perf_counter() - start}  # fmt: skip
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
