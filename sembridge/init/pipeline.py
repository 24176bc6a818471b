"""``sembridge init`` as a library call: steps 1-8 of the method, written as one folder.

1. load the source encoder and the target tokenizer;
2. overlap: copy the rows of target tokens found in the source vocabulary;
3-6. the chosen method builds the rows of the new tokens (SemBridge: bridge embeddings,
   cosine similarity to every source token, Entmax weights, convex combinations);
7. the MLM decoder rows and bias follow the same mapping; tied weights are re-tied;
8. the config's vocabulary size and special ids come from the target tokenizer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sembridge.data.readers import read_text_lines
from sembridge.device import resolve_device
from sembridge.errors import SembridgeError
from sembridge.init.alpha_search import is_auto, search_alpha
from sembridge.init.config import InitConfig, InitResult, TargetRows
from sembridge.init.extend import check_mergeable, extend_parts, extend_vector, merge_tokenizers
from sembridge.init.query_weights import (
    combine_query_weights,
    idf_query_weights,
)
from sembridge.init.report import (
    REPORT_FILE,
    build_report,
    merge_target_reports,
    record_query_weights,
    record_vocabulary,
    write_report,
)
from sembridge.io import atomic_output_dir, check_output_dir
from sembridge.loading import load_source, load_tokenizer, save_sparse_encoder
from sembridge.log import stage
from sembridge.methods.base import InitContext, NewRows
from sembridge.methods.initializers import create_initializer
from sembridge.model_card import write_model_card
from sembridge.surgery import MLMParts, mlm_parts, rebuild_mlm
from sembridge.vocab import (
    MatchOptions,
    Overlap,
    VocabToken,
    check_regular_tokens,
    find_overlap,
    vocab_tokens,
    vocabulary_size,
)

logger = logging.getLogger("sembridge")

__all__ = ["REPORT_FILE", "initialize"]


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


def _search_alpha(
    config: InitConfig, ctx: InitContext, source: Any, target_tokenizer: Any, target_size: int
) -> NewRows:
    """``--alpha auto``: the rows of the alpha that scores best on ``--dev-data`` (see alpha_search)."""
    import copy

    options = {k: v for k, v in config.method_options.items() if k not in ("dev_data", "alpha_candidates")}

    def build(alpha: float) -> NewRows:
        method = create_initializer(config.method, {**options, "alpha": alpha})
        return method.build(ctx)

    def write(rows: NewRows, folder: Path) -> None:
        new_parts = _assemble(ctx.parts, ctx.overlap, rows, target_size)
        model = rebuild_mlm(copy.deepcopy(source.model), new_parts, target_tokenizer)
        tokenizer = copy.deepcopy(target_tokenizer)
        tokenizer.model_input_names = list(source.tokenizer.model_input_names)
        max_len = getattr(source.tokenizer, "model_max_length", None)
        if max_len and max_len < 1_000_000:
            tokenizer.model_max_length = max_len
        save_sparse_encoder(
            model,
            tokenizer,
            folder,
            pooling_strategy=source.pooling_strategy,
            activation_function=source.activation_function,
        )

    with stage("alpha search", ctx.timings):
        search = search_alpha(
            build,
            write,
            config.method_options["dev_data"],
            config.method_options.get("alpha_candidates"),
            device=config.device,
        )
    return search.rows


@dataclass
class _Target:
    """One target tokenizer of a run, and the rows replace mode builds for it."""

    name: str
    tokenizer: Any
    tokens: list[VocabToken]
    overlap: Overlap
    size: int
    new_rows: NewRows | None = None
    parts: MLMParts | None = None


def _load_targets(config: InitConfig) -> list[tuple[str, Any]]:
    """Load every target tokenizer (``-t`` given several times under ``--extend``) and check it."""
    loaded = []
    for name in config.target_tokenizers:
        tokenizer = load_tokenizer(name)
        check_regular_tokens(tokenizer, name)  # before the bridge loads
        loaded.append((name, tokenizer))
    return loaded


def initialize(
    config: InitConfig, output_dir: str | Path | None = None, overwrite: bool = False
) -> InitResult:
    """Build a target-language sparse encoder from ``config``; write it to ``output_dir`` if given.

    Under ``--extend`` with several target tokenizers, each target's rows are built as replace
    mode builds them, then the targets' new pieces are appended in the order given
    (:func:`~sembridge.init.extend.merge_tokenizers`); the result's ``overlap`` and ``new_rows``
    are the first target's, and ``targets`` holds every target's.
    """
    if output_dir is not None:
        check_output_dir(output_dir, overwrite, config.inputs())  # refuse before any heavy work
    timings: dict[str, float] = {}
    device = resolve_device(config.device)
    generator = torch.Generator().manual_seed(config.seed)

    with stage("load models", timings):
        source = load_source(config.source, device="cpu")
        loaded = _load_targets(config)
    if config.query_weights is not None and not source.inference_free:
        raise SembridgeError(
            f"--query-weights applies to inference-free sources; '{config.source}' has no query weights",
            hint="leave --query-weights out (a SPLADE source encodes queries with its MLM)",
        )
    if config.extend:
        for _, target_tokenizer in loaded:
            check_mergeable(source.tokenizer, target_tokenizer)  # refuse before any heavy work

    with stage("overlap", timings):
        source_tokens = vocab_tokens(source.tokenizer)
        options = MatchOptions(exact=config.exact, symbols=config.symbols, fuzzy=config.fuzzy)
        targets = []
        for name, target_tokenizer in loaded:
            target_tokens = vocab_tokens(target_tokenizer)
            target_size = vocabulary_size(target_tokenizer)
            overlap = find_overlap(source_tokens, target_tokens, options, target_size=target_size)
            targets.append(_Target(name, target_tokenizer, target_tokens, overlap, target_size))

    parts = mlm_parts(source.model)
    for target in targets:
        if len(targets) > 1:
            logger.info(
                "target %s: building the rows of %s new tokens", target.name, f"{target.overlap.num_new:,}"
            )
        ctx = InitContext(
            source_tokens=source_tokens,
            target_tokens=target.tokens,
            overlap=target.overlap,
            parts=parts,
            generator=generator,
            device=device,
            timings=timings,
            chunk_size=config.chunk_size,
            show_progress=config.show_progress,
        )
        method = create_initializer(
            config.method,
            config.method_options,
            source_tokenizer=source.tokenizer,
            target_tokenizer=target.tokenizer,
            source_config=source.model.config,
        )
        if is_auto(config.method_options):  # one target: InitConfig refuses auto with several
            target.new_rows = _search_alpha(config, ctx, source, target.tokenizer, target.size)
        else:
            target.new_rows = method.build(ctx)
        target.parts = _assemble(parts, target.overlap, target.new_rows, target.size)

    first = targets[0]
    with stage("model surgery", timings):
        extended, tokenizer, new_parts = None, first.tokenizer, first.parts
        if config.extend:  # source rows kept, target tokens the source lacks appended
            extended = merge_tokenizers(
                source.tokenizer,
                [t.tokenizer for t in targets],
                parts.embeddings.shape[0],
                names=[t.name for t in targets],
            )
            new_parts = extend_parts(parts, [t.parts for t in targets], extended)
            tokenizer = extended.tokenizer
        model = rebuild_mlm(source.model, new_parts, tokenizer)
        # The target tokenizer must feed the source architecture (DistilBERT takes no token_type_ids).
        tokenizer.model_input_names = list(source.tokenizer.model_input_names)
        max_len = getattr(source.tokenizer, "model_max_length", None)
        if max_len and max_len < 1_000_000:
            tokenizer.model_max_length = max_len

    query = None
    if source.inference_free:
        with stage("query weights", timings):
            if config.query_weights == "idf":
                lines = read_text_lines(config.target_text, "--target-text")
                query = idf_query_weights(tokenizer, lines, len(new_parts.embeddings))
            else:
                combined = [
                    combine_query_weights(source.query_weights, t.overlap, t.new_rows, t.size)
                    for t in targets
                ]
                query = combined[0]
                if extended is not None:
                    query = extend_vector(source.query_weights.float(), combined, extended)

    reports = [
        build_report(
            config,
            source.path_or_id,
            getattr(t.tokenizer, "name_or_path", t.name),
            source_tokens,
            t.tokens,
            t.overlap,
            t.new_rows,
        )
        for t in targets
    ]
    report = merge_target_reports(reports, [t.name for t in targets]) if len(reports) > 1 else reports[0]
    record_vocabulary(report, extended, [r["tokens"] for r in reports])
    if query is not None:
        record_query_weights(report, config.query_weights or "combine", query)
    report["summary"]["timings"] = timings
    result = InitResult(
        model,
        tokenizer,
        first.overlap,
        first.new_rows,
        report,
        query_weights=query,
        targets=[TargetRows(t.name, t.tokenizer, t.overlap, t.new_rows) for t in targets],
    )
    if output_dir is not None:
        with stage("save", timings), atomic_output_dir(output_dir, overwrite, checked=True) as tmp:
            save_sparse_encoder(
                model,
                tokenizer,
                tmp,
                pooling_strategy=source.pooling_strategy,
                activation_function=source.activation_function,
                query_weights=query,
                query_frozen=source.query_frozen,
            )
            report["summary"]["timings"] = timings
            write_report(tmp / REPORT_FILE, report)
            write_model_card(tmp, init_report=report)
        result.output_dir = Path(output_dir)
    return result
