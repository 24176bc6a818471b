"""Quality: does SemBridge's initialisation give a better retriever, before and after fine-tuning?

For each language, the same source (the real English SPLADE-tiny), the same target tokenizer
(a WordPiece of 8,000 pieces trained on the language's word frequencies), the same training pairs,
budget and seed for every initialisation:

- ``sembridge``: SemBridge with the bridge's prompt (multilingual-e5-small, 'query: ', alpha 4);
- ``sembridge-no-prompt``: the same with no prompt before each token;
- ``mean``, ``random``: the paper's simplest baselines;
- ``focus``: FOCUS, with fastText trained on the language's training text.

Each initialisation is evaluated on the language's test set (BEIR layout, built by
``make data`` from real text; see README "Training and test data") at step 0 and at several points
of training (a trainer callback evaluates the model in place; nothing is chosen by these figures).
BM25 (on the same tokenizer's pieces) and the dense bridge are the reference rows, with their
fusion, the teacher that ``--negatives`` mines with and the distillation losses learn from.

    python benchmarks/bench_quality.py                  # all five languages (long: see README "Quality")
    python benchmarks/bench_quality.py --quick          # one language, a short run: a few minutes
    python benchmarks/bench_quality.py --langs ru ko --steps 400 --plot-dir quality-out
    python benchmarks/bench_quality.py --recipe --langs ar   # the recipe chosen on dev (RECIPE)

The training settings are those of the small model on a CPU (stated in the output and the
README). They were chosen on development splits (``--dev``), never on a test set: ``--dev`` (or
``--dev groups``) is the language's dev split, built from held-out groups as the test set is;
``--dev pairs`` the earlier split of held-out training pairs, which the older tables used.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import apply_threads, base_parser, console, header, quiet_libraries, table, write_figures

LANGUAGES = ("ar", "zh", "hi", "ko", "ru")
INITS = (
    "sembridge",
    "sembridge-no-prompt",
    "mean",
    "random",
    "focus",
    "sembridge-position",
    "sembridge-alpha-auto",
    "sembridge-extend",
    "mean-extend",
    "random-extend",
    "focus-extend",
)
# The default rows; the others are asked for with --inits.
DEFAULT_INITS = ("sembridge", "sembridge-no-prompt", "mean", "random", "focus")
# Pairs held out of the training pairs' text for --alpha auto (never the test set, never the dev split).
ALPHA_DEV_PAIRS = 200
METRIC = "nDCG@10"

# Training settings of the small offline model (2 layers, hidden 128) on a CPU. The paper's
# settings (lr 2e-5, batch 64, length 512, one epoch, bf16) are the defaults of
# `sembridge finetune`, for BERT-base models on a GPU; these were chosen on the Russian dev split.
SMALL_MODEL = {
    "steps": 80,
    "batch_size": 32,
    "learning_rate": 3e-4,
    "query_max_length": 32,
    "doc_max_length": 128,
    "query_reg": 0.1,
    "doc_reg": 0.1,
    "warmup_ratio": 0.1,
    "seed": 42,
}
QUICK = {"steps": 30, "test_queries": 60, "test_documents": 300, "train_pairs": 1000}
# The fine-tuning recipe chosen on the dev splits (docs/results.md, "Toward BM25" and "Lexical
# weights"): the --extend start, FLOPs weights 0.01, InfoNCE beside KL from the fused BM25 + e5
# teacher on three mined negatives (--fill), 100 steps at lr 1e-4, then BM25's weights of each
# text's own pieces added 8 times. `--recipe` sets these; a flag given beside it wins.
RECIPE = {
    "inits": ["sembridge-extend"],
    "steps": 100,
    "points": 4,
    "lr": 1e-4,
    "query_reg": 0.01,
    "doc_reg": 0.01,
    "loss": "infonce+kl",
    "negatives": 3,
    "fill": True,
    "lexical": 8.0,
}


def parse_args(argv: Sequence[str] | None = None) -> Any:
    parser = base_parser(__doc__.splitlines()[0], device=True)
    parser.add_argument(
        "--langs", nargs="+", choices=LANGUAGES, default=None, help="languages (default: all)"
    )
    parser.add_argument(
        "--inits", nargs="+", choices=INITS, default=list(DEFAULT_INITS), help="initialisations"
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help=f"training steps (default {SMALL_MODEL['steps']}; 0: zero-shot only, no fine-tuning)",
    )
    parser.add_argument("--points", type=int, default=2, help="evaluation points after step 0 (default 2)")
    parser.add_argument("--lr", type=float, default=SMALL_MODEL["learning_rate"], help="peak learning rate")
    parser.add_argument(
        "--query-reg", type=float, default=SMALL_MODEL["query_reg"], help="FLOPs weight, queries"
    )
    parser.add_argument(
        "--doc-reg", type=float, default=SMALL_MODEL["doc_reg"], help="FLOPs weight, documents"
    )
    parser.add_argument(
        "--doc-max-length",
        type=int,
        default=SMALL_MODEL["doc_max_length"],
        help="finetune --doc-max-length: documents' token limit in training (evaluation reads whole "
        "documents at every point, as BM25 and the dense rows do)",
    )
    parser.add_argument("--batch-size", type=int, default=SMALL_MODEL["batch_size"])
    parser.add_argument(
        "--paragraph-groups",
        action="store_true",
        help="finetune --paragraph-groups: no two pairs whose positives share a paragraph in one batch",
    )
    parser.add_argument(
        "--loss",
        choices=("infonce", "kl", "margin-mse", "infonce+kl"),
        default="infonce",
        help="finetune --loss (the distillation losses need --negatives)",
    )
    parser.add_argument(
        "--negatives",
        type=int,
        default=0,
        help="mine this many hard negatives per training query first (sembridge mine: BM25 on the "
        "language's pieces and the e5 bridge, fused teacher; training pairs only); 0: in-batch only",
    )
    parser.add_argument(
        "--fill",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="sembridge mine --fill: a query short of negatives within the miner's top 50 takes the "
        "next survivors below them instead of being left out of training",
    )
    parser.add_argument(
        "--teacher-bm25-weight",
        type=float,
        default=None,
        help="BM25's share of the teacher row's fusion (default: sembridge mine's --bm25-weight)",
    )
    parser.add_argument(
        "--teacher-temperature", type=float, default=0.05, help="finetune --teacher-temperature (kl)"
    )
    parser.add_argument(
        "--lexical",
        type=float,
        default=None,
        metavar="C",
        help="finetune --lexical-weight C: BM25's weights of each text's own pieces added to the "
        "vectors after training (IDF over the training documents); every point is measured with "
        "them; default and 0: none",
    )
    parser.add_argument("--seed", type=int, default=SMALL_MODEL["seed"])
    parser.add_argument(
        "--dev",
        nargs="?",
        const="groups",
        default=None,
        choices=("groups", "pairs"),
        help="evaluate on a dev split instead of the test set: what settings are chosen on. "
        "groups (the default of a bare --dev): the language's dev split, built as the test set is "
        "from the groups outside it, so its queries come from pages no training pair comes from "
        "(make data); pairs: 10%% of the training pairs, held out with every pair sharing a query, "
        "a positive or a paragraph with them (the earlier dev split: its pages are also trained on)",
    )
    parser.add_argument("--no-baselines", action="store_true", help="skip the BM25, dense and teacher rows")
    parser.add_argument(
        "--plot-dir", type=Path, default=None, help="write one learning-curve PNG per language"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="keep the models here (default: a temp dir)"
    )
    parser.add_argument("--summary", type=Path, default=None, help="print the table of an earlier --json run")
    parser.add_argument("--markdown", action="store_true", help="with --summary: a Markdown table")
    parser.add_argument(
        "--recipe",
        action="store_true",
        help="the fine-tuning recipe chosen on the dev splits: "
        + ", ".join(f"--{k.replace('_', '-')}" + ("" if v is True else
                    f" {' '.join(map(str, v)) if isinstance(v, list) else v}") for k, v in RECIPE.items())
        + " (a flag given beside it wins; with --quick, --quick's steps)",
    )  # fmt: skip
    known, _ = parser.parse_known_args(argv)
    if known.recipe:
        parser.set_defaults(**{k: v for k, v in RECIPE.items() if not (known.quick and k == "steps")})
    args = parser.parse_args(argv)
    if args.lexical is not None and args.lexical <= 0:  # --lexical 0 takes the recipe's off
        args.lexical = None
    return args


# ----------------------------------------------------------------------------------------------
# Data


def apart_from(
    held_out: Sequence[tuple[str, str]], pairs: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """``pairs`` without those that share a query, a positive or a paragraph with ``held_out``:
    a dev score then measures pages the model has not been trained on, as the test set does."""
    from sembridge.data.pairs import paragraph_keys

    queries = {q for q, _ in held_out}
    positives = {p for _, p in held_out}
    paragraphs = set().union(*(paragraph_keys(p) for _, p in held_out))
    return [
        (q, p)
        for q, p in pairs
        if q not in queries and p not in positives and not paragraph_keys(p) & paragraphs
    ]


def load_language(lang: str, quick: bool, dev: str | None, seed: int) -> tuple[Any, Any, Path]:
    """(training pairs as a Dataset, the evaluation RetrievalDataset, the training text file).

    ``dev``: None evaluates on the test set; ``groups`` trains and evaluates on the language's dev
    split (``build_language(lang, split="dev")``); ``pairs`` holds 10% of the training pairs out.

    Beside the text file, ``alpha-dev.jsonl`` holds ``ALPHA_DEV_PAIRS`` seeded pairs drawn from the
    training pairs (never from the test set or the dev split) for ``sembridge-alpha-auto``.
    """
    from datasets import Dataset

    from offline_assets.corpora import build_language
    from sembridge.data import load_pairs, load_retrieval_data, pairs_dataset

    folder = build_language(lang, split="dev" if dev == "groups" else "test")
    train = load_pairs(folder / "train.jsonl")
    pairs = list(zip(train["query"], train["positive"], strict=True))
    if dev == "pairs":
        # A dev split held out from the training pairs: what the settings are chosen on.
        order = list(range(len(pairs)))
        random.Random(seed).shuffle(order)
        cut = max(1, len(pairs) // 10)
        held_out = [pairs[i] for i in order[:cut]]
        evaluation = pairs_dataset(held_out, name=f"{lang}-dev")
        pairs = apart_from(held_out, [pairs[i] for i in order[cut:]])
    else:
        evaluation = load_retrieval_data(folder / "test", split="test")
    if quick:
        pairs = pairs[: QUICK["train_pairs"]]
        evaluation = _subsample(evaluation, QUICK["test_queries"], QUICK["test_documents"], seed)
    text_file = Path(tempfile.mkdtemp(prefix=f"quality-{lang}-")) / "train.txt"
    text_file.write_text("\n".join(p for pair in pairs for p in pair) + "\n", encoding="utf-8")
    alpha_dev = random.Random(seed + 1).sample(pairs, min(ALPHA_DEV_PAIRS, len(pairs)))
    (text_file.parent / "alpha-dev.jsonl").write_text(
        "".join(json.dumps({"query": q, "positive": p}, ensure_ascii=False) + "\n" for q, p in alpha_dev),
        encoding="utf-8",
    )
    dataset = Dataset.from_dict({"query": [q for q, _ in pairs], "positive": [p for _, p in pairs]})
    return dataset, evaluation, text_file


def mined(lang: str, train: Any, negatives: int, work: Path, device: str, fill: bool = False) -> Any:
    """``train`` with ``negatives`` hard negatives per query and the fused teacher's scores, as
    ``sembridge mine`` writes them (drawn from the training positives only; cached)."""
    from offline_assets import e5_small_path, wordpiece_tokenizer_path
    from sembridge.data import load_pairs
    from sembridge.loading import load_bridge, load_tokenizer
    from sembridge.training.mining import MineSettings, mine

    work.mkdir(parents=True, exist_ok=True)
    out = work / f"mined-{negatives}{'-fill' if fill else ''}.jsonl"
    tokenizer, bridge = str(wordpiece_tokenizer_path(lang)), str(e5_small_path())
    summary = mine(
        train,
        out,
        tokenizer=load_tokenizer(tokenizer),
        dense_model=load_bridge(bridge, device),
        settings=MineSettings(negatives=negatives, fill=fill),
        overwrite=True,
        show_progress=False,
        names={"tokenizer": tokenizer, "dense": bridge},
    )
    console.print(
        f"  mined {negatives} negatives: {summary.rows:,} of {summary.pairs:,} queries kept"
        f" ({summary.queries_filled:,} filled from below the range)"
        f"{' (cached)' if summary.cached else ''}"
    )
    return load_pairs(out)


def _subsample(data: Any, queries: int, documents: int, seed: int) -> Any:
    """Keep ``queries`` queries, their judged documents and seeded distractors up to ``documents``."""
    from sembridge.data import RetrievalDataset

    rng = random.Random(seed)
    keep = sorted(data.qrels)
    rng.shuffle(keep)
    keep = sorted(keep[:queries])
    judged = {doc for q in keep for doc in data.qrels[q]}
    others = sorted(set(data.corpus) - judged)
    rng.shuffle(others)
    chosen = judged | set(others[: max(0, documents - len(judged))])
    return RetrievalDataset(
        corpus={doc: text for doc, text in data.corpus.items() if doc in chosen},
        queries={q: data.queries[q] for q in keep},
        qrels={q: data.qrels[q] for q in keep},
        name=data.name,
        source=data.source,
        format=data.format,
        split=data.split,
    )


# ----------------------------------------------------------------------------------------------
# Models


def init_model(name: str, lang: str, text_file: Path, out: Path, seed: int) -> Path:
    from offline_assets import e5_small_path, splade_tiny_path, wordpiece_tokenizer_path
    from sembridge.init.pipeline import InitConfig, initialize

    method, options = {
        "sembridge": ("sembridge", {"alpha": 4.0, "bridge": str(e5_small_path())}),
        "sembridge-no-prompt": (
            "sembridge",
            {"alpha": 4.0, "bridge": str(e5_small_path()), "bridge_prompt": ""},
        ),
        "mean": ("mean", {}),
        "random": ("random", {}),
        "focus": ("focus", {"target_text": str(text_file)}),
        "sembridge-position": (
            "sembridge",
            {"alpha": 4.0, "bridge": str(e5_small_path()), "position_aware": True},
        ),
        "sembridge-extend": ("sembridge", {"alpha": 4.0, "bridge": str(e5_small_path())}),
        # The recipe's start with a baseline's rows for the appended pieces: the fair comparison
        # for --recipe, whose English rows and vocabulary are the same in all four.
        "mean-extend": ("mean", {}),
        "random-extend": ("random", {}),
        "focus-extend": ("focus", {"target_text": str(text_file)}),
        "sembridge-alpha-auto": (
            "sembridge",
            {
                "alpha": "auto",
                "bridge": str(e5_small_path()),
                "dev_data": str(text_file.parent / "alpha-dev.jsonl"),
            },
        ),
    }[name]
    config = InitConfig(
        source=str(splade_tiny_path()),
        target_tokenizer=str(wordpiece_tokenizer_path(lang)),
        method=method,
        seed=seed,
        show_progress=False,
        extend=name.endswith("-extend"),  # source vocabulary kept, the target's pieces appended
        method_options=options,
    )
    initialize(config, output_dir=out, overwrite=True)
    return out


def evaluator(data: Any, device: str) -> Callable[[Any], dict[str, float]]:
    from sembridge.evaluation import evaluate

    def run(model: Any) -> dict[str, float]:
        report = evaluate([model], data, metrics=[METRIC, "R@100"], device=device, show_progress=False)
        result = report["models"][0]["results"][0]
        return {
            **result["metrics"],
            "query_terms": result["query_terms"],
            "doc_terms": result["doc_terms"],
            "flops": result["flops"],
            "query_own": own_pieces(model, list(data.queries.values()), "query"),
            "doc_own": own_pieces(model, list(data.corpus.values()), "document"),
        }

    return run


def with_lexical(measure: Callable, module: Any) -> Callable:
    """``measure`` of the model with ``module`` (LexicalWeights) after its pooling, as
    ``finetune --lexical-weight`` adds it after training; the model trains without it."""

    def run(model: Any) -> dict[str, float]:
        model.append(module.to(model.device))
        try:
            return measure(model)
        finally:
            del model[-1]

    return run


def own_pieces(model: Any, texts: list[str], kind: str) -> float:
    """The share of each text's own pieces active in its vector (``own_piece_share``): how much of
    BM25's exact matching the model keeps."""
    from sembridge.encoding import own_piece_share
    from sembridge.encoding.encode import encode_texts
    from sembridge.encoding.terms import special_token_ids

    tokenizer, limit = model.tokenizer, model.max_seq_length
    specials = set(special_token_ids(tokenizer).tolist())
    pieces = [
        [i for i in tokenizer(text, truncation=True, max_length=limit)["input_ids"] if i not in specials]
        for text in texts
    ]
    return own_piece_share(encode_texts(model, texts, kind, show_progress=False), pieces)


def shown(point: dict[str, Any]) -> dict[str, Any]:
    """``point``, printed as it is measured: a long run shows its curve while it runs."""
    console.print(
        f"    step {point['step']}: {METRIC} {point[METRIC]:.3f}, R@100 {point['R@100']:.3f}, "
        f"terms q {point['query_terms']:.0f} / d {point['doc_terms']:.0f}, "
        f"own pieces active q {point['query_own']:.2f} / d {point['doc_own']:.2f}"
    )
    return point


def train_with_curve(
    model_dir: Path, train: Any, out: Path, args: Any, steps: int, points: list[int], measure: Callable
) -> list[dict[str, Any]]:
    """Fine-tune and evaluate in place at each step of ``points`` (a callback; nothing is selected)."""
    from transformers import TrainerCallback

    from sembridge.loading import load_sparse_encoder
    from sembridge.training import FinetuneConfig, finetune
    from sembridge.training.lexical import fit_lexical_weights
    from sembridge.training.trainer import length_settings, restore_lengths, training_documents

    start = load_sparse_encoder(model_dir, args.device)
    if args.lexical is not None:  # every point as finetune --lexical-weight writes the model
        measure = with_lexical(measure, fit_lexical_weights(start, training_documents(train), args.lexical))
    inference = length_settings(start)  # every point is measured at these, as the written model is
    curve = [shown({"step": 0, **measure(start)})]
    del start
    if steps == 0:
        return curve

    class Curve(TrainerCallback):
        def on_step_end(self, targs: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            if state.global_step in points:
                was_training, training = model.training, length_settings(model)
                restore_lengths(model, inference)
                curve.append(shown({"step": state.global_step, **measure(model)}))
                restore_lengths(model, training)
                model.train(was_training)

    config = FinetuneConfig(
        max_steps=steps,
        batch_size=args.batch_size,
        query_max_length=SMALL_MODEL["query_max_length"],
        doc_max_length=args.doc_max_length,
        max_length=max(SMALL_MODEL["query_max_length"], args.doc_max_length),
        learning_rate=args.lr,
        warmup_ratio=SMALL_MODEL["warmup_ratio"],
        query_reg=args.query_reg,
        doc_reg=args.doc_reg,
        seed=args.seed,
        device=args.device,
        save_steps=10 * steps,
        logging_steps=max(1, steps // 10),
        stats_sample_size=64,
        overwrite=True,
        show_progress=False,
        paragraph_groups=args.paragraph_groups,
        loss=args.loss,
        teacher_temperature=args.teacher_temperature,
        lexical_weight=args.lexical,
    )
    finetune(str(model_dir), train, out, config, callbacks=[Curve()])
    return curve


def baselines(
    lang: str, data: Any, device: str, bm25_weight: float | None = None
) -> dict[str, dict[str, float]]:
    """BM25 on the target tokenizer's pieces, the dense bridge with its prompts, and their fusion,
    the teacher of ``--negatives`` (:func:`teacher_row`)."""
    from offline_assets import e5_small_path, wordpiece_tokenizer_path
    from sembridge.evaluation import evaluate

    report = evaluate(
        [], data, metrics=[METRIC, "R@100"], device=device, show_progress=False,
        bm25=True, bm25_tokenizer=str(wordpiece_tokenizer_path(lang)), dense=[str(e5_small_path())],
    )  # fmt: skip
    rows = {}
    for entry in report["models"]:
        kind = "BM25" if entry.get("kind") == "bm25" else "dense"
        rows[kind] = dict(entry["results"][0]["metrics"])
    rows["teacher"] = teacher_row(lang, data, device, bm25_weight)
    return rows


def bm25_row(data: Any, tokenizer: Path, device: str) -> dict[str, float]:
    """BM25 over the pieces of another tokenizer (a model folder's): the --extend models cut text
    with the English vocabulary beside the target's, which BM25 can use as well."""
    from sembridge.evaluation import evaluate

    report = evaluate(
        [], data, metrics=[METRIC, "R@100"], device=device, show_progress=False,
        bm25=True, bm25_tokenizer=str(tokenizer),
    )  # fmt: skip
    return dict(report["models"][0]["results"][0]["metrics"])


def lexical_alone(model: Any, module: Any, device: str) -> Any:
    """A SparseEncoder of ``module`` (LexicalWeights) alone: after a static embedding of zeros
    over ``model``'s tokenizer, so its vectors are the lexical part without the learned one."""
    import torch
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SparseStaticEmbedding

    zeros = SparseStaticEmbedding(model.tokenizer, weight=torch.zeros(module.vocab_size), frozen=True)
    return SparseEncoder(modules=[zeros, module], device=device)


def lexical_rows(model_dir: Path, data: Any, device: str) -> dict[str, dict[str, float]]:
    """The two parts of a model written with ``--lexical-weight``, each on its own: its
    LexicalWeights after a static embedding of zeros, and the model with them left out."""

    from sembridge.evaluation import evaluate
    from sembridge.loading import load_sparse_encoder
    from sembridge.training.lexical import lexical_module

    model = load_sparse_encoder(model_dir, device)
    lexical = lexical_alone(model, lexical_module(model), device)
    del model[-1]  # the learned part alone
    report = evaluate([lexical, model], data, metrics=[METRIC, "R@100"], device=device, show_progress=False)
    return {
        part: dict(entry["results"][0]["metrics"])
        for part, entry in zip(("lexical part alone", "learned part alone"), report["models"], strict=True)
    }


def teacher_row(lang: str, data: Any, device: str, bm25_weight: float | None = None) -> dict[str, float]:
    """The fused teacher of ``sembridge mine`` (``bm25+dense``; ``bm25_weight`` None: its default)
    as a retriever of its own: what the distillation losses learn from, a bound on what they teach."""
    import numpy as np

    from offline_assets import e5_small_path, wordpiece_tokenizer_path
    from sembridge.evaluation.metrics import compute_metrics
    from sembridge.loading import load_bridge, load_tokenizer
    from sembridge.training.mining import CorpusScores, MineSettings

    doc_ids, qids = list(data.corpus), list(data.queries)
    scorer = CorpusScores(
        [data.queries[q] for q in qids],
        [data.corpus[d] for d in doc_ids],
        tokenizer=load_tokenizer(str(wordpiece_tokenizer_path(lang))),
        dense_model=load_bridge(str(e5_small_path()), device),
    )
    weight = MineSettings().bm25_weight if bm25_weight is None else bm25_weight
    scores = scorer.teacher(0, len(qids), weight)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :100]
    run = {q: {doc_ids[j]: float(scores[i, j]) for j in top[i]} for i, q in enumerate(qids)}
    return dict(compute_metrics(data.qrels, run, [METRIC, "R@100"])["metrics"])


# ----------------------------------------------------------------------------------------------
# Output


def plot(
    lang: str, curves: dict[str, list[dict[str, Any]]], refs: dict[str, dict[str, float]], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for name, curve in curves.items():
        ax.plot([p["step"] for p in curve], [p[METRIC] for p in curve], marker="o", label=name)
    styles = iter(["--", ":", "-."])
    for name, figures in refs.items():
        ax.axhline(figures[METRIC], linestyle=next(styles, "-."), color="grey", label=name)
    ax.set_xlabel("training steps")
    ax.set_ylabel(f"{METRIC} (test)")
    ax.set_title(f"{lang}: SPLADE-tiny -> {lang} WordPiece 8k, same training for every init")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.summary is not None:  # print the table (and plots) of an earlier run, run nothing
        figures = json.loads(args.summary.read_text(encoding="utf-8"))
        for lang, result in figures["languages"].items():
            if args.plot_dir is not None:
                plot(lang, result["curves"], result["baselines"], args.plot_dir / f"quality-{lang}.png")
        summary(figures, markdown=args.markdown)
        return
    apply_threads(args.threads)
    quiet_libraries()
    machine = header("quality: initialisations before and after fine-tuning", args.device)
    langs = args.langs or (["ru"] if args.quick else list(LANGUAGES))
    steps = args.steps if args.steps is not None else (QUICK["steps"] if args.quick else SMALL_MODEL["steps"])
    if steps < 0:
        raise SystemExit(f"--steps must be >= 0, got {steps}")
    points = (
        sorted({max(1, round(steps * (i + 1) / args.points)) for i in range(args.points)}) if steps else []
    )
    settings = {**SMALL_MODEL, "steps": steps, "learning_rate": args.lr, "query_reg": args.query_reg,
                "doc_reg": args.doc_reg, "batch_size": args.batch_size, "seed": args.seed,
                "paragraph_groups": args.paragraph_groups, "loss": args.loss, "negatives": args.negatives,
                "fill": args.fill, "lexical": args.lexical,
                "doc_max_length": args.doc_max_length,
                "teacher_temperature": args.teacher_temperature}  # fmt: skip
    console.print(f"settings: {settings}; evaluated at steps {', '.join(map(str, [0, *points]))}")
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="sembridge-quality-"))
    figures: dict[str, Any] = {"machine": machine, "settings": settings, "dev": args.dev, "languages": {}}
    for lang in langs:
        start = time.perf_counter()
        train, data, text_file = load_language(lang, args.quick, args.dev, args.seed)
        console.print(
            f"\n[bold]{lang}[/bold]: {len(train):,} training pairs; "
            f"evaluation {len(data.queries):,} queries, {len(data.corpus):,} documents"
        )
        if args.negatives:
            train = mined(lang, train, args.negatives, work / lang, args.device, args.fill)
        measure = evaluator(data, args.device)
        refs = {} if args.no_baselines else baselines(lang, data, args.device, args.teacher_bm25_weight)
        curves: dict[str, list[dict[str, Any]]] = {}
        run_seconds: dict[str, float] = {}
        for name in args.inits:
            started = time.perf_counter()
            model_dir = init_model(name, lang, text_file, work / lang / name, args.seed)
            curves[name] = train_with_curve(
                model_dir, train, work / lang / f"{name}-ft", args, steps, points, measure
            )
            run_seconds[name] = round(time.perf_counter() - started, 1)  # init, training, evaluations
            own_pieces = "BM25 (extended pieces)"  # the -extend starts share one tokenizer
            if not args.no_baselines and name.endswith("-extend") and own_pieces not in refs:
                refs[own_pieces] = bm25_row(data, model_dir, args.device)  # English and target pieces
            if args.lexical is not None and steps:  # what each part brings (also under --no-baselines)
                for part, row in lexical_rows(work / lang / f"{name}-ft", data, args.device).items():
                    refs[f"{part} ({name})"] = row
            first, last = curves[name][0], curves[name][-1]
            console.print(
                f"  {name:<20} {METRIC} {first[METRIC]:.3f} -> {last[METRIC]:.3f}   "
                f"doc terms {first['doc_terms']:.0f} -> {last['doc_terms']:.0f}"
            )
        figures["languages"][lang] = {
            "train_pairs": len(train),
            "queries": len(data.queries),
            "documents": len(data.corpus),
            "curves": curves,
            "run_seconds": run_seconds,
            "baselines": refs,
            "seconds": time.perf_counter() - start,
        }
        if args.plot_dir is not None:
            plot(lang, curves, refs, args.plot_dir / f"quality-{lang}.png")
    write_figures(args.json, figures)
    summary(figures)


def summary(figures: dict[str, Any], markdown: bool = False) -> None:
    """The table: every init at step 0 and at the end (with its sparsity), BM25 and dense.

    ``markdown``: print it as a Markdown table (for the README) instead of a rich table.
    """
    steps = figures["settings"]["steps"]
    rows = []

    def moved(first: dict[str, Any], last: dict[str, Any], key: str, digits: int) -> str:
        if key not in first:  # figures of a run before the figure was measured
            return "-"
        return f"{first[key]:.{digits}f} -> {last[key]:.{digits}f}"

    for lang, result in figures["languages"].items():
        for name, curve in result["curves"].items():
            first, last = curve[0], curve[-1]
            sparsity = [moved(first, last, "query_terms", 1), moved(first, last, "doc_terms", 1),
                        moved(first, last, "doc_own", 2), moved(first, last, "flops", 2)]  # fmt: skip
            rows.append([lang, name, first[METRIC], last[METRIC], last["R@100"], *sparsity])
        for name, ref in result["baselines"].items():
            rows.append([lang, name, "-", ref[METRIC], ref["R@100"], "-", "-", "-", "-"])
    dev = figures.get("dev")
    split = {None: "test set", "groups": "dev split (held-out groups)"}.get(
        dev,
        "dev split of the training pairs",  # "pairs", or True in figures of earlier runs
    )
    columns = ["lang", "model", "step 0", f"step {steps}", f"R@100 ({steps})", "q terms", "d terms",
               "d own pieces", "FLOPs"]  # fmt: skip
    if markdown:
        cells = [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
        print("\n".join("| " + " | ".join(line) + " |" for line in [columns, ["---"] * len(columns), *cells]))
        return
    title = f"{METRIC} on the {split}: step 0 and after {steps} steps; sparsity from step 0 to the end"
    table(title, columns, rows)


if __name__ == "__main__":
    main()
