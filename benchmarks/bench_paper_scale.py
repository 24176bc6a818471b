"""Issue 23.2: the whole pipeline at the paper's model sizes: wall time and peak memory per stage.

No weights of the paper's size can be downloaded here, so models of the paper's exact shapes are
built in-process with random weights (``build``, cached in ``--work-dir``):

* source: a BERT-base masked LM (12 layers, 768 wide, 30,522 pieces, 110M parameters: the shape
  of naver/splade-v3) with the real bert-base-uncased tokenizer of the offline SPLADE-tiny;
* target: a 100,000-piece Arabic WordPiece (ARBERT's size) trained on wordfreq's Arabic list;
* bridge: a bge-m3-shaped XLM-R encoder (24 layers, 1,024 wide, 16 heads, the XLM-R vocabulary
  of multilingual-e5, 567M parameters) as a sentence-transformers folder (mean pooling, unit norm).

Stages, each in its own process so that each peak resident set is its own (sampled while the
stage runs: a child's ``ru_maxrss`` starts at its parent's):

1. ``bridge``: the bridge embeds a uniform sample (``--bridge-sample``) of the strings ``init``
   embeds (the source's candidate pieces and the target's new pieces), per backend
   (``--backends``: torch, onnx; the ONNX graph is exported first, timed apart);
   projected to all of them;
2. ``init``: ``sembridge.initialize`` at full size, alpha 4, with the bridge's embeddings in the
   cache, as on a second ``init`` (a warm run): overlap, similarity + Entmax over 30k sources for
   every new piece, combination, surgery of BERT-base to 100k rows, save. The cached embeddings
   are the real multilingual-e5-small's for the same strings, lifted from 384 to 1,024 dimensions by
   a fixed matrix with orthonormal columns (cosines unchanged), so the Entmax supports are those of
   a trained bridge, not of the random one; the cold ``init`` is this run plus stage 1's projection;
3. ``finetune``: ``sembridge.training.finetune`` on the initialised model, ``--steps`` steps of
   InfoNCE + FLOPs at batch ``--batch-size`` x ``--max-length`` tokens (the paper's 64 x 512)
   with ``CachedSpladeLoss`` (``--mini-batch-size`` texts at a time), and a probe without it at
   batch ``--probe-batch-size``, whose peak memory per pair says what the uncached batch would need;
4. ``export``: ``sembridge.export.export`` of ``--export-docs`` synthetic Arabic passages of
   MIRACL's length (80-120 words) to Anserini JSON, projected to 100k and to MIRACL-ar's 2M. The
   initialised model's output bias is first set so that a passage keeps about 200 terms, as a
   trained SPLADE's do (a random head's sparsity is arbitrary).

Beside each stage, its arithmetic: the multiply-adds its matrices need (2 flops each) over the
float32 matrix-product rate of this machine, measured in the same process before the stages, so
"x floor" says how far a stage is from what its arithmetic allows.

    python benchmarks/bench_paper_scale.py                       # every stage, paper shapes (~1 CPU hour)
    python benchmarks/bench_paper_scale.py --stages bridge init  # some stages
    python benchmarks/bench_paper_scale.py --quick               # tiny shapes, the same code, about 2 minutes
    python benchmarks/bench_paper_scale.py --device cuda --export-docs 100000   # make bench-gpu
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common import (
    PeakMemory,
    apply_threads,
    base_parser,
    console,
    gb,
    header,
    quiet_libraries,
    resolve_device,
    table,
    write_figures,
)

STAGES = ("bridge", "init", "finetune", "export")
ALPHA = 4.0
# The paper's full data, for the projections: MIRACL-ar's passages and its training queries.
MIRACL_AR_PASSAGES = 2_061_414
MIRACL_AR_TRAIN_QUERIES = 3_495
TERMS_PER_DOCUMENT = 200  # the random source's output bias is set for about this many


@dataclass(frozen=True)
class Shapes:
    """The models' shapes: the paper's, or tiny ones for ``--quick`` (the same code runs)."""

    name: str
    source_layers: int = 12
    source_hidden: int = 768
    source_heads: int = 12
    source_ffn: int = 3072
    target_vocab: int = 100_000
    bridge_layers: int = 24
    bridge_hidden: int = 1024
    bridge_heads: int = 16
    bridge_ffn: int = 4096
    bridge_positions: int = 8194


PAPER = Shapes("paper")
QUICK = Shapes(
    "quick",
    source_layers=2,
    source_hidden=64,
    source_heads=2,
    source_ffn=128,
    target_vocab=2_000,
    bridge_layers=2,
    bridge_hidden=64,
    bridge_heads=2,
    bridge_ffn=128,
    bridge_positions=514,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES), help="stages to run")
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx"], help="bridge backends (stage 1)")
    parser.add_argument("--bridge-sample", type=int, default=None, help="strings embedded (default 1,024)")
    parser.add_argument("--steps", type=int, default=None, help="fine-tuning steps (default 3)")
    parser.add_argument("--batch-size", type=int, default=None, help="pairs per step (default 64)")
    parser.add_argument("--max-length", type=int, default=None, help="token limit of a text (default 512)")
    parser.add_argument(
        "--mini-batch-size", type=int, default=None, help="CachedSpladeLoss chunk (default 8)"
    )
    parser.add_argument("--probe-batch-size", type=int, default=None, help="uncached probe batch (default 8)")
    parser.add_argument("--export-docs", type=int, default=None, help="documents exported (default 500)")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="models and cache (default: $SEMBRIDGE_CACHE/paper-scale, or a temporary folder with --quick)",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # stage name, in a subprocess
    parser.add_argument("--child-args", default=None, help=argparse.SUPPRESS)  # its JSON settings
    args = parser.parse_args(argv)
    defaults = {
        "bridge_sample": (64, 1024),
        "steps": (1, 3),
        "batch_size": (8, 64),
        "max_length": (64, 512),
        "mini_batch_size": (4, 8),
        "probe_batch_size": (4, 8),
        "export_docs": (50, 500),
    }
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    args.shapes = QUICK if args.quick else PAPER
    return args


# ----------------------------------------------------------------------------------------------
# Models of the paper's shapes, random weights


def arabic_words() -> list[str]:
    import wordfreq

    return wordfreq.top_n_list("ar", 50_000)


def synthetic_text(rng: random.Random, words: list[str], low: int, high: int) -> str:
    """``low``-``high`` words drawn by Zipf-like rank (frequent words more often), seeded."""
    count = rng.randint(low, high)
    return " ".join(words[min(int(rng.paretovariate(0.9)) - 1, len(words) - 1)] for _ in range(count))


def build_models(work: Path, shapes: Shapes) -> dict[str, Any]:
    """The source, target tokenizer and bridge of ``shapes`` in ``work`` (built once, then reused)."""
    stamp = work / "built.json"
    if stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")).get("shapes") == asdict(shapes):
        return json.loads(stamp.read_text(encoding="utf-8"))
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, XLMRobertaConfig, XLMRobertaModel

    from offline_assets import e5_small_path, splade_tiny_path, wordpiece_tokenizer_path
    from sembridge.loading import save_sparse_encoder

    start = time.perf_counter()
    torch.manual_seed(0)
    source_tokenizer = AutoTokenizer.from_pretrained(splade_tiny_path())
    source = BertForMaskedLM(
        BertConfig(
            vocab_size=len(source_tokenizer),
            hidden_size=shapes.source_hidden,
            num_hidden_layers=shapes.source_layers,
            num_attention_heads=shapes.source_heads,
            intermediate_size=shapes.source_ffn,
            max_position_embeddings=512,
        )
    )
    source_dir = work / "source"
    save_sparse_encoder(source, source_tokenizer, source_dir, max_seq_length=512)
    source_params = sum(p.numel() for p in source.parameters())
    del source

    target_dir = wordpiece_tokenizer_path("ar", vocab_size=shapes.target_vocab, cache_dir=work)
    target_size = len(AutoTokenizer.from_pretrained(target_dir))

    bridge_tokenizer = AutoTokenizer.from_pretrained(e5_small_path())
    hf_dir = work / "bridge-hf"
    bridge = XLMRobertaModel(
        XLMRobertaConfig(
            vocab_size=len(bridge_tokenizer),
            hidden_size=shapes.bridge_hidden,
            num_hidden_layers=shapes.bridge_layers,
            num_attention_heads=shapes.bridge_heads,
            intermediate_size=shapes.bridge_ffn,
            max_position_embeddings=shapes.bridge_positions,
            type_vocab_size=1,
            pad_token_id=bridge_tokenizer.pad_token_id,
            bos_token_id=bridge_tokenizer.bos_token_id,
            eos_token_id=bridge_tokenizer.eos_token_id,
        ),
        add_pooling_layer=False,
    )
    bridge_params = sum(p.numel() for p in bridge.parameters())
    bridge.save_pretrained(hf_dir)
    bridge_tokenizer.save_pretrained(hf_dir)
    del bridge
    transformer = models.Transformer(str(hf_dir), max_seq_length=512)
    pooling = models.Pooling(transformer.get_word_embedding_dimension(), pooling_mode="mean")
    bridge_dir = work / "bridge"
    SentenceTransformer(modules=[transformer, pooling, models.Normalize()]).save(str(bridge_dir))
    shutil.rmtree(hf_dir)
    built = {
        "shapes": asdict(shapes),
        "source": str(source_dir),
        "source_params": source_params,
        "target_tokenizer": str(target_dir),
        "target_vocab": target_size,
        "bridge": str(bridge_dir),
        "bridge_params": bridge_params,
        "bridge_vocab": len(bridge_tokenizer),
        "build_s": time.perf_counter() - start,
    }
    stamp.write_text(json.dumps(built, indent=2), encoding="utf-8")
    return built


def set_output_bias(encoder: Any, texts: list[str], terms: int) -> None:
    """Shift the MLM output bias of a SPLADE ``encoder`` so that ``texts`` keep about ``terms``
    terms each (SPLADE max-pools log(1 + relu(logits)) over positions: a term is active when its
    largest logit is positive)."""
    import torch

    model = encoder[0].auto_model
    tokenizer = encoder.tokenizer
    batch = tokenizer(texts, truncation=True, max_length=512, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits.masked_fill(~batch["attention_mask"].bool()[..., None], -1e9)
        pooled = logits.amax(dim=1).float()  # [texts, vocab]
        threshold = torch.quantile(pooled, 1 - terms / pooled.shape[1], dim=1).mean()
        model.cls.predictions.bias.sub_(threshold)


# ----------------------------------------------------------------------------------------------
# Arithmetic


def matmul_rate(device: str, seconds: float = 3.0, dtype: str = "float32") -> float:
    """This machine's matrix-product rate (flop/s) in ``dtype``: the best of repeated 2048^3 products."""
    import torch

    a = torch.randn(2048, 2048, device=device, dtype=getattr(torch, dtype))
    b = torch.randn(2048, 2048, device=device, dtype=getattr(torch, dtype))
    best = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(4):
            a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = max(best, 4 * 2 * 2048**3 / (time.perf_counter() - t))
    return best


def encoder_flops_per_token(layers: int, hidden: int, ffn: int, length: float) -> float:
    """Forward flops per token of a transformer encoder: its matrices (4h^2 + 2h*ffn per layer),
    and attention's two products over ``length`` positions."""
    return 2 * layers * (4 * hidden * hidden + 2 * hidden * ffn + 2 * length * hidden)


def mlm_head_flops_per_token(hidden: int, vocab: int) -> float:
    return 2 * (hidden * hidden + hidden * vocab)


# ----------------------------------------------------------------------------------------------
# Stages (each runs in its own process: ``--child NAME``)


def child_bridge(settings: dict[str, Any]) -> dict[str, Any]:
    """Embed a sample of the strings init embeds with the paper-shaped bridge, on one backend."""
    from sembridge.methods.bridge import BridgeEmbedder

    strings = json.loads(Path(settings["strings"]).read_text(encoding="utf-8"))
    sample = random.Random(0).sample(strings, min(settings["sample"], len(strings)))
    with tempfile.TemporaryDirectory(prefix="sembridge-paper-bridge-") as cache:
        embedder = BridgeEmbedder(
            settings["bridge"],
            device=settings["device"],
            batch_size=settings["batch_size"],
            cache_dir=cache,
            show_progress=False,
            backend=settings["backend"],
        )
        start = time.perf_counter()
        if settings["backend"] == "torch":
            embedder.model  # noqa: B018 - loading, timed apart
        else:
            embedder.runner  # noqa: B018 - loading and the ONNX export, timed apart
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        rows = embedder.embed(sample, "sampled strings")
        embed_s = time.perf_counter() - start
        tokenizer = embedder.model.tokenizer
        prompt = embedder.prompt or ""
        lengths = [len(ids) for ids in tokenizer([prompt + s for s in sample])["input_ids"]]
        graph_mb = sum(f.stat().st_size for f in Path(cache).rglob("*") if f.is_file()) / 2**20
    return {
        "backend": settings["backend"],
        "strings": len(sample),
        "all_strings": len(strings),
        "dim": int(rows.shape[1]),
        "load_s": load_s,
        "embed_s": embed_s,
        "strings_per_s": len(sample) / embed_s,
        "mean_tokens": sum(lengths) / len(lengths),
        "cache_mb": graph_mb,
    }


def child_prefill(settings: dict[str, Any]) -> dict[str, Any]:
    """Put init's bridge embeddings in the cache: the real e5-small's, lifted to the bridge's width.

    ``BridgeEmbedder.embed`` of the paper-shaped bridge is wrapped: on a miss it writes the lifted
    e5 rows under the bridge's own cache key, then reads them back as init would. The strings are
    recorded (stage 1 samples them); init is stopped once both sides are embedded.
    """
    import torch
    from torch.nn.functional import normalize

    from offline_assets import e5_small_path
    from sembridge.init import initialize
    from sembridge.methods import bridge as bridge_module

    e5 = bridge_module.BridgeEmbedder(str(e5_small_path()), show_progress=False)
    generator = torch.Generator().manual_seed(0)
    lift: list[torch.Tensor] = []
    strings: list[str] = []
    original = bridge_module.BridgeEmbedder.embed

    class Embedded(Exception):
        pass

    def embed(self: Any, texts: Any, label: str = "tokens") -> Any:
        texts = list(texts)
        path = self.cache_path(texts)
        if not path.is_file():
            rows = original(e5, texts, label)
            if not lift:
                # [1024, 384] with orthonormal columns: cosines are kept exactly (a narrower
                # --quick bridge gets a random projection, which keeps them roughly)
                matrix = torch.randn(settings["dim"], rows.shape[1], generator=generator)
                lift.append(torch.linalg.qr(matrix)[0] if settings["dim"] >= rows.shape[1] else matrix)
            self._write(path, normalize(rows @ lift[0].T, dim=1).contiguous(), label)
        strings.extend(texts)
        result = original(self, texts, label)
        if label == "new target tokens":
            raise Embedded
        return result

    bridge_module.BridgeEmbedder.embed = embed
    start = time.perf_counter()
    try:
        initialize(init_config(settings))
    except Embedded:
        pass
    Path(settings["strings"]).write_text(json.dumps(strings, ensure_ascii=False), encoding="utf-8")
    return {"strings": len(strings), "prefill_s": time.perf_counter() - start}


def init_config(settings: dict[str, Any]) -> Any:
    from sembridge.init import InitConfig

    return InitConfig(
        settings["source"],
        settings["target_tokenizer"],
        bridge=settings["bridge"],
        alpha=ALPHA,
        device=settings["device"],
        cache_dir=settings["cache"],
        show_progress=False,
    )


def child_init(settings: dict[str, Any]) -> dict[str, Any]:
    """``initialize`` at full size, the bridge's embeddings read from the cache."""
    from sembridge.init import initialize

    start = time.perf_counter()
    result = initialize(init_config(settings), settings["out"], overwrite=True)
    wall = time.perf_counter() - start
    summary = result.report["summary"]
    info = summary.get("method_info", {})
    out = Path(settings["out"])
    return {
        "wall_s": wall,
        "timings": summary.get("timings", {}),
        "new": summary.get("new"),
        "copied": summary.get("copied"),
        "support_size": summary.get("support_size"),
        "bridge_cache_hits": info.get("bridge_cache_hits"),
        "bridge_cache_misses": info.get("bridge_cache_misses"),
        "output_gb": gb(sum(f.stat().st_size for f in out.rglob("*") if f.is_file())),
    }


def synthetic_pairs(count: int, seed: int) -> list[tuple[str, str]]:
    """(query, passage) pairs of Arabic words: queries of 3-8 words, passages of 500-600 (past
    512 pieces, so every passage fills ``--max-length``)."""
    rng = random.Random(seed)
    words = arabic_words()
    return [(synthetic_text(rng, words, 3, 8), synthetic_text(rng, words, 500, 600)) for _ in range(count)]


def child_finetune(settings: dict[str, Any]) -> dict[str, Any]:
    """``finetune`` for a few steps (cached or not) on the initialised model; steps/s and peak memory."""
    from transformers import AutoTokenizer

    from sembridge.data import pairs_to_dataset
    from sembridge.training import FinetuneConfig, finetune

    batch = settings["batch_size"]
    pairs = synthetic_pairs(batch * settings["steps"], seed=batch)
    data = pairs_to_dataset(pairs)
    tokenizer = AutoTokenizer.from_pretrained(settings["model"])
    query_lengths = [
        len(ids) for ids in tokenizer([q for q, _ in pairs], truncation=True, max_length=64)["input_ids"]
    ]
    padded_query = (
        sum(max(query_lengths[i : i + batch]) for i in range(0, len(pairs), batch)) / settings["steps"]
    )
    config = FinetuneConfig(
        max_steps=settings["steps"],
        batch_size=batch,
        max_length=settings["max_length"],
        query_max_length=64,
        doc_max_length=settings["max_length"],
        cached=settings["cached"],
        mini_batch_size=settings["mini_batch_size"],
        device=settings["device"],
        precision=settings["precision"],
        warmup_ratio=0.0,
        logging_steps=1,
        save_steps=10**9,
        stats_sample_size=8,
        show_progress=False,
        seed=0,
    )
    with tempfile.TemporaryDirectory(prefix="sembridge-paper-finetune-") as tmp:
        start = time.perf_counter()
        result = finetune(settings["model"], data, Path(tmp) / "out", config)
        wall = time.perf_counter() - start
    step_s = result.runtime_s / max(result.global_step, 1)
    figures = {
        "batch_size": batch,
        "cached": settings["cached"],
        "mini_batch_size": settings["mini_batch_size"] if settings["cached"] else None,
        "steps": result.global_step,
        "padded_query_tokens": padded_query,
        "train_runtime_s": result.runtime_s,
        "step_s": step_s,
        "wall_s": wall,
    }
    return figures


def child_export(settings: dict[str, Any]) -> dict[str, Any]:
    """``export`` of synthetic passages of MIRACL's length (80-120 words) to Anserini JSON."""
    from sembridge.encoding.encode import load_encoder
    from sembridge.export import export

    rng = random.Random(1)
    words = arabic_words()
    encoder = load_encoder(settings["model"], device=settings["device"])
    set_output_bias(encoder, [synthetic_text(rng, words, 80, 120) for _ in range(4)], TERMS_PER_DOCUMENT)
    with tempfile.TemporaryDirectory(prefix="sembridge-paper-export-") as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        with corpus.open("w", encoding="utf-8") as handle:
            for i in range(settings["docs"]):
                handle.write(json.dumps({"_id": f"d{i}", "text": synthetic_text(rng, words, 80, 120)}) + "\n")
        start = time.perf_counter()
        summary = export(
            encoder,
            Path(tmp) / "out",
            format="anserini",
            corpus=corpus,
            device=settings["device"],
            batch_size=settings["batch_size"],
            show_progress=False,
        )
        seconds = time.perf_counter() - start
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(settings["model"])
        texts = [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines()[:200]]
        lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=512)["input_ids"]]
    return {
        "documents": summary["documents"],
        "seconds": seconds,
        "docs_per_s": summary["documents"] / seconds,
        "mean_tokens": sum(lengths) / len(lengths),
        "mean_document_terms": summary["mean_document_terms"],
    }


def child_build(settings: dict[str, Any]) -> dict[str, Any]:
    return build_models(Path(settings["work"]), Shapes(**settings["shapes"]))


CHILDREN = {
    "build": child_build,
    "bridge": child_bridge,
    "prefill": child_prefill,
    "init": child_init,
    "finetune": child_finetune,
    "export": child_export,
}


def run_child(name: str, settings: dict[str, Any], threads: int | None) -> dict[str, Any]:
    """Run stage ``name`` in a fresh process; its figures (the last line it prints, JSON)."""
    command = [sys.executable, __file__, "--child", name, "--child-args", json.dumps(settings)]
    if threads:
        command += ["--threads", str(threads)]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"stage {name} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_s"] = time.perf_counter() - start
    return figures


# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    apply_threads(args.threads)
    if args.child:
        quiet_libraries()
        with PeakMemory() as peak:  # not ru_maxrss alone: a child starts with its parent's
            figures = CHILDREN[args.child](json.loads(args.child_args))
        figures["peak_rss_gb"] = gb(peak.peak)
        import torch

        if torch.cuda.is_initialized():  # the stage ran on the GPU: its peak there is the figure
            figures["cuda_peak_gb"] = gb(torch.cuda.max_memory_allocated())
        print(json.dumps(figures))
        return figures
    quiet_libraries()
    device = resolve_device(args.device)
    machine = header(f"the pipeline at the paper's sizes ({args.shapes.name} shapes)", device)
    with tempfile.TemporaryDirectory(prefix="sembridge-bench-paper-") as tmp:
        return run(args, device, machine, args.work_dir or default_work_dir(args, Path(tmp)))


def default_work_dir(args: argparse.Namespace, tmp: Path) -> Path:
    if args.quick:
        return tmp
    from sembridge.cache import default_cache_dir

    return default_cache_dir() / "paper-scale"


def run(args: argparse.Namespace, device: str, machine: dict[str, Any], work: Path) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    shapes = args.shapes
    rate = matmul_rate(device)
    console.print(f"float32 matrix products: {rate / 1e9:,.0f} GFLOP/s on {device} (the floor below)")
    cuda = device.startswith("cuda")
    # Training on a GPU runs in bf16: its floor is the bf16 rate.
    train_rate = matmul_rate(device, dtype="bfloat16") if cuda else rate
    if cuda:
        console.print(f"bfloat16 matrix products: {train_rate / 1e9:,.0f} GFLOP/s (the training floor)")

    def memory(result: dict[str, Any]) -> Any:
        """The peak resident set; on a GPU, that and the GPU's peak allocation."""
        return (
            f"{result['peak_rss_gb']:.2f} / {result.get('cuda_peak_gb', 0.0):.2f}"
            if cuda
            else result["peak_rss_gb"]
        )

    built = run_child("build", {"work": str(work), "shapes": asdict(shapes)}, args.threads)
    console.print(
        f"models (built in {built['build_s']:.0f} s, cached in {work}): source BERT "
        f"{shapes.source_layers}x{shapes.source_hidden}, {built['source_params'] / 1e6:.0f}M parameters; "
        f"target WordPiece {built['target_vocab']:,} pieces; bridge XLM-R {shapes.bridge_layers}x"
        f"{shapes.bridge_hidden}, {built['bridge_params'] / 1e6:.0f}M parameters, "
        f"{built['bridge_vocab']:,} pieces"
    )
    common = {
        "source": built["source"],
        "target_tokenizer": built["target_tokenizer"],
        "bridge": built["bridge"],
        "device": device,
        "cache": str(work / "cache"),
        "strings": str(work / "strings.json"),
        "dim": shapes.bridge_hidden,
    }
    model_dir = work / "init-out"
    figures: dict[str, Any] = {
        "benchmark": "paper-scale",
        "quick": args.quick,
        "device": device,
        "machine": machine,
        "shapes": asdict(shapes),
        "built": built,
        "matmul_gflops": rate / 1e9,
        "train_matmul_gflops": train_rate / 1e9,
    }
    rows: list[list[Any]] = []
    if not Path(common["strings"]).is_file() or "init" in args.stages:
        figures["prefill"] = run_child("prefill", common, args.threads)
    strings = len(json.loads(Path(common["strings"]).read_text(encoding="utf-8")))

    if "bridge" in args.stages:
        per_string = encoder_flops_per_token  # the bridge's matrices: its layers, per token
        figures["bridge"] = []
        for backend in args.backends:
            result = run_child(
                "bridge",
                {**common, "backend": backend, "sample": args.bridge_sample, "batch_size": 128},
                args.threads,
            )
            flops = (
                result["strings"]
                * result["mean_tokens"]
                * per_string(
                    shapes.bridge_layers, shapes.bridge_hidden, shapes.bridge_ffn, result["mean_tokens"]
                )
            )
            result["floor_s"] = flops / rate
            result["projected_all_s"] = strings / result["strings_per_s"]
            figures["bridge"].append(result)
            rows.append(
                [
                    f"bridge ({backend}): {result['strings']:,} of {strings:,} strings",
                    result["embed_s"],
                    result["embed_s"] / result["floor_s"],
                    memory(result),
                    f"all {strings:,} strings: {result['projected_all_s'] / 60:,.1f} min "
                    f"(+ load{' and ONNX export' if backend != 'torch' else ''} {result['load_s']:.0f} s)",
                ]
            )

    if "init" in args.stages or not (model_dir / "config.json").is_file():
        result = run_child("init", {**common, "out": str(model_dir)}, args.threads)
        figures["init"] = result
        timings = result["timings"]
        # The similarity product: every new piece against every source candidate (the strings
        # embedded are the candidates, then the new pieces).
        weights_flops = 2 * result["new"] * (strings - result["new"]) * shapes.bridge_hidden
        weights_s = timings.get("similarity + entmax", 0.0)
        rows.append(
            [
                f"init, bridge cached: {result['new']:,} new rows x {shapes.source_hidden}",
                result["wall_s"],
                None,
                memory(result),
                ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
                + f"; similarity at {weights_s / (weights_flops / rate):.1f}x its floor",
            ]
        )

    source_token_flops = encoder_flops_per_token(
        shapes.source_layers, shapes.source_hidden, shapes.source_ffn, args.max_length
    ) + mlm_head_flops_per_token(shapes.source_hidden, built["target_vocab"])
    if "finetune" in args.stages:
        base = {
            "model": str(model_dir),
            "device": device,
            "steps": args.steps,
            "max_length": args.max_length,
            "precision": "bf16" if device.startswith("cuda") else "fp32",
        }
        probe = run_child(
            "finetune",
            {**base, "batch_size": args.probe_batch_size, "cached": False, "mini_batch_size": 1},
            args.threads,
        )
        cached = run_child(
            "finetune",
            {**base, "batch_size": args.batch_size, "cached": True, "mini_batch_size": args.mini_batch_size},
            args.threads,
        )
        figures["finetune"] = {"probe": probe, "cached": cached}
        for label, result in (
            ("uncached", probe),
            (f"CachedSpladeLoss, mini-batch {args.mini_batch_size}", cached),
        ):
            tokens = result["batch_size"] * (args.max_length + result["padded_query_tokens"])
            step_flops = 3 * tokens * source_token_flops * (4 / 3 if result["cached"] else 1)
            epoch = MIRACL_AR_TRAIN_QUERIES / result["batch_size"] * result["step_s"]
            rows.append(
                [
                    f"finetune {label}: batch {result['batch_size']} x {args.max_length}",
                    result["step_s"],
                    result["step_s"] / (step_flops / train_rate),
                    memory(result),
                    f"s per step; one epoch of MIRACL-ar train ({MIRACL_AR_TRAIN_QUERIES:,} queries): "
                    f"{epoch / 3600:,.1f} h",
                ]
            )

    if "export" in args.stages:
        result = run_child(
            "export",
            {"model": str(model_dir), "device": device, "docs": args.export_docs, "batch_size": 32},
            args.threads,
        )
        figures["export"] = result
        flops = (
            result["documents"]
            * result["mean_tokens"]
            * (
                encoder_flops_per_token(
                    shapes.source_layers, shapes.source_hidden, shapes.source_ffn, result["mean_tokens"]
                )
                + mlm_head_flops_per_token(shapes.source_hidden, built["target_vocab"])
            )
        )
        result["projected_100k_s"] = 100_000 / result["docs_per_s"]
        result["projected_miracl_ar_s"] = MIRACL_AR_PASSAGES / result["docs_per_s"]
        rows.append(
            [
                f"export: {result['documents']:,} passages of {result['mean_tokens']:.0f} pieces",
                result["seconds"],
                result["seconds"] / (flops / rate),
                memory(result),
                f"{result['docs_per_s']:.2f} docs/s; 100k: {result['projected_100k_s'] / 3600:,.1f} h; "
                f"MIRACL-ar's {MIRACL_AR_PASSAGES:,}: {result['projected_miracl_ar_s'] / 3600:,.0f} h",
            ]
        )
    table(
        f"the pipeline at {shapes.name} shapes on {device} (each stage in its own process)",
        ["stage", "wall s", "x floor", "peak RSS / GPU GB" if cuda else "peak RSS GB", "projection / detail"],
        rows,
    )
    console.print(
        "[dim]x floor: the stage's time over its matrix products at this machine's float32 rate "
        f"({rate / 1e9:,.0f} GFLOP/s); init's bridge embeddings are cached (the bridge rows give the "
        "cold run's extra time)[/dim]"
    )
    write_figures(args.json, figures)
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
