"""``sembridge init`` as a library call: steps 1-8 of the method, written as one folder.

1. load the source encoder and the target tokenizer;
2. overlap: copy the rows of target tokens found in the source vocabulary;
3-6. the chosen method builds the rows of the new tokens (SemBridge: bridge embeddings,
   cosine similarity to every source token, Entmax weights, convex combinations);
7. the MLM decoder rows and bias follow the same mapping; tied weights are re-tied;
8. the config's vocabulary size and special ids come from the target tokenizer.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from sembridge import __version__
from sembridge.device import resolve_device
from sembridge.io import atomic_output_dir, check_output_dir, save_sparse_encoder
from sembridge.loading import load_source, load_tokenizer
from sembridge.log import stage
from sembridge.methods import METHODS, InitContext, NewRows, check_options, create_initializer
from sembridge.surgery import MLMParts, mlm_parts, rebuild_mlm
from sembridge.vocab import MatchOptions, Overlap, VocabToken, find_overlap, vocab_tokens, vocabulary_size

logger = logging.getLogger("sembridge")

REPORT_FILE = "sembridge_init.json"


@dataclass
class InitConfig:
    """Settings of one initialisation. Every field is a ``sembridge init`` option."""

    source: str
    target_tokenizer: str
    method: str = "sembridge"
    alpha: float = 4.0
    bridge: str = "bge-m3"
    bridge_prompt: str | None = None
    device: str = "auto"
    batch_size: int = 256
    cache_dir: str | None = None
    exact: bool = True
    symbols: bool = True
    fuzzy: bool = False
    seed: int = 42
    chunk_size: int = 1024
    top_sources: int = 10
    show_progress: bool = True
    method_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from sembridge.errors import SembridgeError

        if self.method not in METHODS:
            raise SembridgeError(
                f"unknown method '{self.method}'", hint=f"choose one of: {', '.join(sorted(METHODS))}"
            )
        if not self.alpha >= 1:
            raise SembridgeError(
                f"alpha must be >= 1, got {self.alpha}",
                hint="1 is softmax, 1.5 entmax15, 2 sparsemax; the paper uses 2 and 4",
            )
        for name in ("batch_size", "chunk_size", "top_sources"):
            if getattr(self, name) < 1:
                raise SembridgeError(f"{name} must be a positive integer, got {getattr(self, name)}")
        # Refuses options the method does not use, names a missing required input, fills in defaults.
        self.method_options = check_options(self.method, self.method_options)
        if self.cache_dir is not None:
            self.cache_dir = str(self.cache_dir)


@dataclass
class InitResult:
    model: Any
    tokenizer: Any
    overlap: Overlap
    new_rows: NewRows
    report: dict[str, Any]
    output_dir: Path | None = None


def _assemble(parts: MLMParts, overlap: Overlap, new_rows: NewRows, size: int) -> MLMParts:
    """Full target-vocabulary tensors: copied rows from the source, new rows from the method."""
    copy_target = torch.tensor([m.target_id for m in overlap.matches], dtype=torch.long)
    copy_source = torch.tensor([m.source_id for m in overlap.matches], dtype=torch.long)
    new_ids = torch.tensor(overlap.new_ids, dtype=torch.long)

    def build(source: torch.Tensor | None, new: torch.Tensor | None) -> torch.Tensor | None:
        if source is None:
            return None
        # Ids the tokenizer never uses (holes in its vocabulary) get the mean source row.
        out = source.float().mean(0, keepdim=True).expand(size, *source.shape[1:]).clone().to(source.dtype)
        if len(copy_target):
            out[copy_target] = source[copy_source]
        if len(new_ids):
            out[new_ids] = new.to(source.dtype)
        return out

    return MLMParts(
        embeddings=build(parts.embeddings, new_rows.embeddings),
        decoder=build(parts.decoder, new_rows.decoder),
        bias=build(parts.bias, new_rows.bias),
    )


def _library_versions() -> dict[str, str]:
    import entmax
    import sentence_transformers
    import tokenizers
    import transformers

    return {
        "sembridge": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "entmax": getattr(entmax, "__version__", "unknown"),
    }


def _token_records(
    target_tokens: list[VocabToken],
    source_tokens: list[VocabToken],
    overlap: Overlap,
    new_rows: NewRows,
    top: int,
    method_summary: str,
) -> dict[str, dict[str, Any]]:
    """Per target token: how its row was built (copied from which source token, or combined from which)."""
    source_text = {t.id: t.token for t in source_tokens}
    target_text = {t.id: t.token for t in target_tokens}
    records: dict[str, dict[str, Any]] = {}
    for m in overlap.matches:
        records[str(m.target_id)] = {
            "token": m.target_token,
            "kind": "copied",
            "match": m.kind,
            "sources": [[m.source_token, 1.0]],
            "source_ids": [m.source_id],
        }
    for row, target_id in enumerate(overlap.new_ids):
        record: dict[str, Any] = {"token": target_text[target_id], "kind": "new"}
        ids, values = new_rows.weights.row(row) if new_rows.weights is not None else ([], [])
        if len(ids) == 0:
            record["note"] = new_rows.unweighted_note or method_summary
        else:
            record["support"] = int(ids.numel())
            record["sources"] = [
                [source_text.get(int(i), f"<{int(i)}>"), round(float(v), 6)]
                for i, v in zip(ids[:top].tolist(), values[:top].tolist(), strict=True)
            ]
            record["source_ids"] = [int(i) for i in ids[:top].tolist()]
        records[str(target_id)] = record
    return dict(sorted(records.items(), key=lambda item: int(item[0])))


def write_report(path: Path, report: dict[str, Any]) -> None:
    """JSON with the settings and summary indented and one line per token record."""
    head = {k: v for k, v in report.items() if k != "tokens"}
    text = json.dumps(head, indent=2, ensure_ascii=False)[:-2]
    lines = [
        f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in report.get("tokens", {}).items()
    ]
    text += ',\n  "tokens": {\n' + ",\n".join("  " + line for line in lines) + "\n  }\n}\n"
    path.write_text(text, encoding="utf-8")


def read_report(model_dir: str | Path) -> dict[str, Any]:
    from sembridge.errors import SembridgeError

    path = Path(model_dir) / REPORT_FILE
    if not path.is_file():
        raise SembridgeError(
            f"'{model_dir}' has no {REPORT_FILE}", hint="give a folder written by `sembridge init`"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def initialize(
    config: InitConfig, output_dir: str | Path | None = None, overwrite: bool = False
) -> InitResult:
    """Build a target-language sparse encoder from ``config``; write it to ``output_dir`` if given."""
    if output_dir is not None:
        check_output_dir(output_dir, overwrite)  # refuse before any heavy work
    timings: dict[str, float] = {}
    device = resolve_device(config.device)
    generator = torch.Generator().manual_seed(config.seed)

    with stage("load models", timings):
        source = load_source(config.source, device="cpu")
        target_tokenizer = load_tokenizer(config.target_tokenizer)

    with stage("overlap", timings):
        source_tokens = vocab_tokens(source.tokenizer)
        target_tokens = vocab_tokens(target_tokenizer)
        options = MatchOptions(exact=config.exact, symbols=config.symbols, fuzzy=config.fuzzy)
        target_size = vocabulary_size(target_tokenizer)
        overlap = find_overlap(source_tokens, target_tokens, options, target_size=target_size)

    parts = mlm_parts(source.model)
    ctx = InitContext(
        config=config,
        source_tokens=source_tokens,
        target_tokens=target_tokens,
        overlap=overlap,
        parts=parts,
        generator=generator,
        device=device,
        timings=timings,
    )
    method = create_initializer(
        config.method,
        config.method_options,
        source_tokenizer=source.tokenizer,
        target_tokenizer=target_tokenizer,
        source_config=source.model.config,
    )
    new_rows = method.build(ctx)

    with stage("model surgery", timings):
        new_parts = _assemble(parts, overlap, new_rows, target_size)
        model = rebuild_mlm(source.model, new_parts, target_tokenizer)
        # The target tokenizer must feed the source architecture (DistilBERT takes no token_type_ids).
        target_tokenizer.model_input_names = list(source.tokenizer.model_input_names)
        max_len = getattr(source.tokenizer, "model_max_length", None)
        if max_len and max_len < 1_000_000:
            target_tokenizer.model_max_length = max_len

    report = _build_report(config, source, target_tokenizer, source_tokens, target_tokens, overlap, new_rows)
    report["summary"]["timings"] = timings
    result = InitResult(model, target_tokenizer, overlap, new_rows, report)
    if output_dir is not None:
        with stage("save", timings), atomic_output_dir(output_dir, overwrite) as tmp:
            save_sparse_encoder(
                model,
                target_tokenizer,
                tmp,
                pooling_strategy=source.pooling_strategy,
                activation_function=source.activation_function,
            )
            report["summary"]["timings"] = timings
            write_report(tmp / REPORT_FILE, report)
        result.output_dir = Path(output_dir)
    return result


def _build_report(
    config: InitConfig,
    source: Any,
    target_tokenizer: Any,
    source_tokens: list[VocabToken],
    target_tokens: list[VocabToken],
    overlap: Overlap,
    new_rows: NewRows,
) -> dict[str, Any]:
    support: dict[str, float] = {}
    if new_rows.weights is not None and len(new_rows.weights):
        sizes = new_rows.weights.support_sizes().float()
        support = {
            "mean": round(float(sizes.mean()), 3),
            "median": float(sizes.median()),
            "max": int(sizes.max()),
            "min": int(sizes.min()),
        }
    settings = asdict(config)
    settings["source_resolved"] = source.path_or_id
    settings["target_tokenizer_resolved"] = getattr(target_tokenizer, "name_or_path", config.target_tokenizer)
    return {
        "sembridge_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": settings,
        "versions": _library_versions(),
        "summary": {
            "method": config.method,
            "source_vocab_size": len(source_tokens),
            "target_vocab_size": len(target_tokens),
            "copied": overlap.num_copied,
            "copied_by_kind": overlap.counts,
            "new": overlap.num_new,
            "support_size": support,
            "decoder": "tied to the input embeddings" if new_rows.decoder is None else "untied, remapped",
            "bias": new_rows.bias_policy if new_rows.bias is not None else "no decoder bias",
            "method_info": new_rows.info,
        },
        "tokens": _token_records(
            target_tokens,
            source_tokens,
            overlap,
            new_rows,
            config.top_sources,
            METHODS[config.method].summary,
        ),
    }
