"""Cross-lingual quality: one --extend model for several languages, zero-shot and after `sembridge align`.

For the languages given (default ru, zh, ko; ar's sets come from the Debian handbook), it builds one
model (`sembridge init --extend -t <each language's WordPiece-8k>`, SemBridge with e5-small,
alpha 4), aligns it on each language's parallel UI strings (`--align-pairs` per language, one
epoch), and evaluates both on the cross-lingual sets of `make data` (en, en-<L>, <L>-en) and on
each language's monolingual test set, with BM25 (on the model's pieces) and the dense bridge as
reference rows and the English source on the English set. One index of every language's documents,
searched with Lucene, is `examples/one_index.py`.

    python benchmarks/bench_crosslingual.py --work-dir runs       # the table of docs/results.md
    python benchmarks/bench_crosslingual.py --langs ru zh ko ar hi --align-pairs 1000 --mix-pairs 1000 \
        --by-language --keep-weight 4 --keep-only --single     # the test-set run of docs/multilingual.md
    python benchmarks/bench_crosslingual.py --quick              # ru only, 64 pairs, a few minutes
    python benchmarks/bench_crosslingual.py --work-dir runs --mix-pairs 3000   # align --pairs too

`--mix-pairs N` adds a model aligned with N of each language's monolingual training pairs trained
beside the parallel text (`sembridge align --pairs`: InfoNCE batches among the alignment's).
`--help-pages` adds each language's parallel help pages (`offline_assets.crosslingual`: the titles
and bodies of the LibreOffice help pages that no test or dev set reads) to the parallel text;
Russian, Chinese and Korean have them (Arabic has no LibreOffice help, Hindi too few translated
pages), the other languages keep the UI strings alone.
`--keep-weight K` adds a model aligned with `sembridge align --keep-weight K`, which keeps each
translation's vector on its own language's columns where the model had it before alignment
(with the `--mix-pairs` beside it, where given).
`--by-language` trains those pairs as one set a language (`align --pairs ru.jsonl --pairs
zh.jsonl ...`), so each batch holds one language's pairs.
`--keep-only` trains only that model, the one with the pairs and the keep term (neither the
alignment alone nor the pairs without the keep term).
`--single` adds each language's own `--extend` model (zero-shot) on its monolingual set, the
figure the multilingual model's monolingual score is held to; with `--mix-pairs N` also that
model fine-tuned on the same N pairs of its language the mixed model trains on (the same settings),
the figure the mixed model is held to.

`--dev` measures on the dev splits instead, what settings are chosen on: the cross-lingual dev
sets (`en-ru-dev`, ..., `en-dev`: Russian, Chinese and Korean only), each language's monolingual
dev set, and `--mix-pairs` drawn from the dev splits' training pairs (which never hold a dev page):

    python benchmarks/bench_crosslingual.py --dev --work-dir dev --align-pairs 1000 --mix-pairs 1000 --single

Models kept in ``--work-dir`` (``multi-<langs>``, ``multi-<langs>-aligned-<N>``) are reused.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import apply_threads, base_parser, header, quiet_libraries, table, write_figures  # noqa: E402


def _ndcg(report: dict[str, Any]) -> dict[str, float]:
    return {m["name"]: round(m["results"][0]["metrics"]["nDCG@10"], 4) for m in report["models"]}


def main() -> None:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--langs", nargs="+", default=["ru", "zh", "ko"], choices=["ru", "zh", "ko", "ar", "hi"]
    )
    parser.add_argument(
        "--align-pairs", type=int, default=3000, help="parallel pairs per language (0: no align)"
    )
    parser.add_argument(
        "--help-pages",
        action="store_true",
        help="align on each language's parallel help pages too (titles and bodies of the pages no set "
        "reads; ru, zh and ko have them)",
    )
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--reg", type=float, default=0.01, help="both FLOPs weights of align")
    parser.add_argument(
        "--mix-pairs",
        type=int,
        default=0,
        help="also align with this many monolingual training pairs per language beside the parallel "
        "text (align --pairs; 0: not)",
    )
    parser.add_argument(
        "--by-language",
        action="store_true",
        help="the --mix-pairs as one set a language (align --pairs, named sets): each batch holds one "
        "language's pairs, so a query's in-batch negatives are in its own language",
    )
    parser.add_argument(
        "--keep-weight",
        type=float,
        default=0.0,
        help="also a model aligned with align --keep-weight K (the translations' own columns kept; 0: not)",
    )
    parser.add_argument(
        "--keep-only",
        action="store_true",
        help="with --mix-pairs and --keep-weight, only the model with both (neither the alignment alone "
        "nor with the pairs alone)",
    )
    parser.add_argument(
        "--single",
        action="store_true",
        help="also each language's own --extend model, on its monolingual set",
    )
    parser.add_argument(
        "--dev",
        action="store_true",
        help="the dev splits (cross-lingual, monolingual, and the --mix-pairs), not the test sets",
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="keep the models here (default: a temp dir)"
    )
    args = parser.parse_args()
    if args.quick:
        args.langs, args.align_pairs, args.mix_pairs = ["ru"], 64, min(args.mix_pairs, 64)
    apply_threads(args.threads)
    quiet_libraries()
    figures: dict[str, Any] = {
        "machine": header("Cross-lingual quality", args.device),
        "settings": vars(args),
    }
    figures["settings"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    split = figures["split"] = "dev" if args.dev else "test"

    from datasets import Dataset

    from offline_assets import e5_small_path, splade_tiny_path, wordpiece_tokenizer_path
    from offline_assets.corpora import quality_dir
    from offline_assets.crosslingual import crosslingual_dir, help_parallel_path
    from offline_assets.parallel import parallel_path
    from sembridge.data import load_pairs
    from sembridge.evaluation import evaluate
    from sembridge.init.pipeline import InitConfig, initialize
    from sembridge.training import FinetuneConfig, finetune
    from sembridge.training.align import AlignOptions, align, read_parallel

    if not (crosslingual_dir("en", split=split) / "queries.jsonl").is_file():
        raise SystemExit(f"{crosslingual_dir('en', split=split)} is not built: run `make data`")
    # Languages with cross-lingual sets (Hindi has none; Arabic no dev set: offline_assets.crosslingual).
    crossing = [
        lang
        for lang in args.langs
        if (crosslingual_dir(f"en-{lang}", split=split) / "queries.jsonl").is_file()
    ]
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="sembridge-crosslingual-"))
    work.mkdir(parents=True, exist_ok=True)
    source = str(splade_tiny_path())
    multi = work / ("multi-" + "-".join(args.langs))
    started = time.perf_counter()
    if not multi.exists():  # a model kept in --work-dir is reused
        tokenizers = [str(wordpiece_tokenizer_path(lang)) for lang in args.langs]
        config = InitConfig(source, tokenizers, bridge=str(e5_small_path()), extend=True, device=args.device)
        initialize(config, output_dir=multi)
    figures["init_seconds"] = round(time.perf_counter() - started, 1)
    models = {"multilingual": multi}

    def as_pairs(rows: list[tuple[str, str]]) -> Dataset:  # (query, positive) rows, as finetune reads them
        return Dataset.from_dict({"query": [q for q, _ in rows], "positive": [p for _, p in rows]})

    def train_config() -> FinetuneConfig:  # one epoch, every trained model alike
        return FinetuneConfig(
            epochs=1, batch_size=32, learning_rate=args.lr, query_reg=args.reg, doc_reg=args.reg,
            device=args.device, overwrite=True, show_progress=False,
        )  # fmt: skip

    # --keep-only: the model with the pairs and the keep term is the only one trained.
    kept_only = bool(args.keep_only and args.keep_weight and args.mix_pairs)
    if args.align_pairs:
        pairs: list[tuple[str, str]] = []
        help_pages: dict[str, int] = {}  # language -> pages, where it has them
        for lang in args.langs:
            found = read_parallel(parallel_path(lang))
            random.Random(0).shuffle(found)
            pairs += found[: args.align_pairs]
            help_path = help_parallel_path(lang)
            if args.help_pages and help_path.is_file():  # every page (--quick: as many records as UI strings)
                pages = read_parallel(help_path)
                pairs += pages[: args.align_pairs] if args.quick else pages
                help_pages[lang] = len(pages) // 2  # a title and a body a page
        if args.help_pages:  # Arabic has no LibreOffice help, Hindi too few translated pages
            figures["help_pages"] = help_pages
            missing = [lang for lang in args.langs if lang not in help_pages]
            if missing:
                print(f"no parallel help pages for {', '.join(missing)}: UI strings only there")
        random.Random(1).shuffle(pairs)
        aligned = work / f"{multi.name}-aligned-{args.align_pairs}{'-help' if args.help_pages else ''}"
        figures["align_pairs"] = len(pairs)
        if not kept_only:
            if not (aligned / "sembridge_finetune.json").is_file():  # a model kept in --work-dir is reused
                config = train_config()
                started = time.perf_counter()
                align(multi, pairs, aligned, config)
                figures["align_seconds"] = round(time.perf_counter() - started, 1)
            models["aligned"] = aligned
    if args.align_pairs and args.mix_pairs:
        # Trained on the split's own pairs: a dev-split model is never reused for the test sets.
        mixed = aligned.with_name(
            f"{aligned.name}-pairs-{args.mix_pairs}{'-by-language' if args.by_language else ''}"
            f"{'-dev' if args.dev else ''}"
        )
        monolingual = []
        own_pairs: dict[str, list[tuple[str, str]]] = {}
        for lang in args.langs:
            # training pairs only, never a page of the sets measured here
            train = load_pairs(quality_dir(lang, split=split) / "train.jsonl")
            rows = list(zip(train["query"], train["positive"], strict=True))
            random.Random(0).shuffle(rows)
            own_pairs[lang] = rows[: args.mix_pairs]
            monolingual += own_pairs[lang]
        random.Random(2).shuffle(monolingual)
        by_language = {lang: as_pairs(rows) for lang, rows in own_pairs.items()}
        data = by_language if args.by_language else as_pairs(monolingual)
        figures["mix_pairs"] = len(monolingual)
        if not kept_only:
            if not (mixed / "sembridge_finetune.json").is_file():  # a model kept in --work-dir is reused
                config = train_config()
                started = time.perf_counter()
                align(multi, pairs, mixed, config, pairs=data)
                figures["mixed_seconds"] = round(time.perf_counter() - started, 1)
            models["aligned + pairs"] = mixed
    if args.align_pairs and args.keep_weight:  # with the --mix-pairs too, where given
        base = mixed if args.mix_pairs else aligned
        kept = base.with_name(f"{base.name}-keep-{args.keep_weight:g}")
        if not (kept / "sembridge_finetune.json").is_file():  # a model kept in --work-dir is reused
            started = time.perf_counter()
            options = AlignOptions(keep_weight=args.keep_weight)
            align(multi, pairs, kept, train_config(), options, pairs=data if args.mix_pairs else None)
            figures["keep_seconds"] = round(time.perf_counter() - started, 1)
        models["aligned + pairs + keep" if args.mix_pairs else "aligned + keep"] = kept

    singles: dict[str, Path] = {}
    tuned_singles: dict[str, Path] = {}
    if args.single:  # each language's own --extend model, kept in --work-dir
        for lang in args.langs:
            singles[lang] = work / f"single-{lang}"
            if not singles[lang].exists():
                config = InitConfig(
                    source, [str(wordpiece_tokenizer_path(lang))], bridge=str(e5_small_path()), extend=True,
                    device=args.device,
                )  # fmt: skip
                initialize(config, output_dir=singles[lang])
            if args.mix_pairs and args.align_pairs:  # the same pairs, alone: what mixing is held to
                tuned = work / f"single-{lang}-pairs-{args.mix_pairs}{'-dev' if args.dev else ''}"
                if not (tuned / "sembridge_finetune.json").is_file():
                    finetune(singles[lang], as_pairs(own_pairs[lang]), tuned, train_config())
                tuned_singles[lang] = tuned
    sets = ["en"] + [f"{a}-{b}" for lang in crossing for a, b in (("en", lang), (lang, "en"))]
    rows, results = [], {}
    names = list(models)
    for name in sets:
        report = evaluate(
            [str(m) for m in models.values()], crosslingual_dir(name, split=split), names=names, bm25=True,
            bm25_tokenizer=str(multi), dense=[str(e5_small_path())], device=args.device, show_progress=False,
        )  # fmt: skip
        scores = _ndcg(report)
        if name == "en":
            scores["source"] = _ndcg(
                evaluate([source], crosslingual_dir("en", split=split), names=["source"], show_progress=False)
            )["source"]
        results[name] = scores
    for lang in args.langs:
        extra = {"single": singles.get(lang), "single + pairs": tuned_singles.get(lang)}
        extra = {name: path for name, path in extra.items() if path is not None}
        report = evaluate(
            [str(m) for m in [*models.values(), *extra.values()]], quality_dir(lang, split=split) / "test",
            names=[*names, *extra], show_progress=False,
        )  # fmt: skip
        results[f"{lang} (monolingual)"] = _ndcg(report)
    alone = [name for name in ("single", "single + pairs") if any(name in r for r in results.values())]
    columns = [*names, "BM25", "dense", "source", *alone]
    for name, scores in results.items():
        dense = next((v for k, v in scores.items() if k.startswith("dense")), None)
        row = [name, *(scores.get(c) for c in names), scores.get("BM25"), dense, scores.get("source")]
        rows.append(row + [scores.get(c) for c in alone])
    table("nDCG@10", ["set", *columns], rows)
    figures["ndcg@10"] = results
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
