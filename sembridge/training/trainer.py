"""Fine-tune a SPLADE model with InfoNCE + FLOPs on query-positive pairs, on one GPU or many.

The training loop is sentence-transformers' :class:`SparseEncoderTrainer` (the Hugging Face
Trainer): checkpoints, bf16, gradient accumulation, logging and several processes through
``torchrun`` or ``accelerate launch`` come from it. This module wires it up:

1. check the settings, the output folder and the checkpoint folder (cheap, before anything);
   ``--resume`` takes the newest complete checkpoint;
2. read and check the training (and evaluation) pairs, still before any model is loaded; on
   ``--resume`` compare the run's settings and data with the checkpoint's
   (:mod:`sembridge.training.run_settings`), refusing a difference unless ``resume_changed``;
3. load the model as a SparseEncoder and set the query and document token limits;
4. build the loss (:mod:`sembridge.training.losses`), NO_DUPLICATES batches (a query or
   document repeated inside a batch would otherwise become its own false negative) and the
   quadratic warm-up of the FLOPs weights;
5. record the settings beside the checkpoints, then train, resuming when asked (with
   ``resume_changed`` the new learning rate and weight decay are set on the restored optimizer);
6. on the first process only: measure sparsity on a sample of the training pairs, write the
   model (the same format as ``sembridge init``), ``training_args.json`` and
   ``sembridge_finetune.json`` into a temporary folder moved into place at the end, then
   remove the checkpoints (unless kept).

Layout on disk, for ``-o OUT``:

    OUT/                 the final model, written at once when training has finished
    OUT.checkpoints/     checkpoint-<step>/ folders (model, optimizer, scheduler, RNG, trainer
                         state) and sembridge_run.json (the settings) while training runs; kept
                         after a crash, reused by --resume (:mod:`sembridge.training.checkpoints`)
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from sembridge.data import DataOptions, load_pairs, validate_pairs
from sembridge.data.pairs import SCORES_COLUMN, numbered_negatives, paragraph_groups
from sembridge.device import is_main_process, launched_processes, resolve_device
from sembridge.encoding.encode import check_length, check_length_before_loading, length_limits, load_encoder
from sembridge.encoding.splade_memory import DEFAULT_LOGITS_BUDGET
from sembridge.errors import SembridgeError
from sembridge.io import atomic_output_dir, check_apart, check_output_dir, write_json
from sembridge.loading import load_tokenizer, locate
from sembridge.log import logger
from sembridge.model_card import INIT_REPORT, write_model_card
from sembridge.training.callbacks import ResumeSettings, regularizer_weights_in_history
from sembridge.training.checkpoints import (
    checkpoint_step,
    default_checkpoint_dir,
    plan_checkpoints,
    remove_checkpoints,
    remove_incomplete,
)
from sembridge.training.config import FinetuneConfig, FinetuneResult
from sembridge.training.losses import DISTILLATION_LOSSES, build_loss, build_regularizer_warmup
from sembridge.training.run_settings import (
    check_resume_settings,
    describe,
    read_run_settings,
    run_settings,
    write_run_settings,
)
from sembridge.training.sampler import paragraph_group_sampler
from sembridge.training.stats import measure_sparsity
from sembridge.version import library_versions

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SparseEncoder
    from transformers import TrainerCallback

REPORT_NAME = "sembridge_finetune.json"
TRAINING_ARGS_NAME = "training_args.json"


def _info(message: str, *args: Any) -> None:
    """Log from the first process only (under torchrun every process runs the same code)."""
    if is_main_process():
        logger.info(message, *args)


def warn_small_data(pairs: int, batch: int) -> None:
    """Warn when ``pairs`` cannot fill one batch of ``batch`` pairs (all processes together).

    The in-batch negatives of InfoNCE are the other pairs of the batch: with fewer pairs than a
    batch every step sees fewer negatives, and a single pair has none (its loss is 0).
    """
    if pairs < batch:
        logger.warning(
            "only %d training pair(s) for a batch of %d: every batch is short of in-batch negatives%s; "
            "lower --batch-size or give more pairs",
            pairs,
            batch,
            " (a single pair has none, and trains at loss 0)" if pairs == 1 else "",
        )


def check_precision(config: FinetuneConfig) -> None:
    """Refuse bf16/fp16 without a CUDA GPU (and bf16 on a GPU without it), before any loading."""
    device = resolve_device(config.device)
    if config.precision == "fp32":
        return
    flag = f"--{config.precision}"
    if device.type != "cuda":
        raise SembridgeError(
            f"{flag} needs a CUDA GPU, and this run is on the CPU",
            hint=f"drop {flag} (the CPU trains in fp32), or run on a machine with a GPU",
        )
    if config.precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise SembridgeError("this GPU does not support bf16", hint="use --fp16 instead")


def _as_dataset(data: Any, options: DataOptions | None, name: str) -> Any:
    """``data`` as checked pairs: a Dataset, or a dict of named ones (several training sets, with
    one loss for all or one each: ``finetune(loss={name: ...})``)."""
    from datasets import Dataset

    if isinstance(data, Mapping):
        if not data:
            raise SembridgeError(f"{name} data is an empty dict of datasets", hint="give at least one")
        return {str(key): _as_dataset(part, options, f"{name} '{key}'") for key, part in data.items()}
    if isinstance(data, Dataset):
        return validate_pairs(data, name)
    if isinstance(data, (str, Path)):
        return load_pairs(data, options)
    raise SembridgeError(f"{name} data must be a datasets.Dataset or a path, got {type(data).__name__}")


def each(data: Any, function: Any) -> Any:
    """``function`` applied to a Dataset, or to every Dataset of a dict of named ones."""
    return (
        {key: function(part) for key, part in data.items()} if isinstance(data, Mapping) else function(data)
    )


def parts(data: Any) -> list[Dataset]:
    """The Datasets of ``data`` (one, or the values of a dict of named ones)."""
    return list(data.values()) if isinstance(data, Mapping) else [data]


def _scored_by_teacher(train: Dataset, config: FinetuneConfig, model: Any) -> Dataset:
    """``train`` with ``config.teacher``'s scores (:mod:`sembridge.training.teacher`), BM25 over the
    student's own pieces; under torchrun the first process scores and the others read the cache."""
    from sembridge.training.teacher import parse_teacher, score_with_teacher

    tokenizer = None
    if parse_teacher(config.teacher)[0]:
        tokenizer = getattr(model, "tokenizer", None) or load_tokenizer(model, kind="tokenizer of the model")
    if not is_main_process():
        _barrier()
    scored = score_with_teacher(
        train, config.teacher, student=model, tokenizer=tokenizer, device=str(resolve_device(config.device)),
        show_progress=config.show_progress and is_main_process(),
    )  # fmt: skip
    if is_main_process():
        _barrier()
    return scored


def teacher_scores_for(dataset: Dataset, config: FinetuneConfig, name: str) -> Dataset:
    """The pairs as ``config.loss`` reads them: a distillation loss needs mined n-tuples with the
    teacher's ``scores`` (refused before any model is loaded), ``margin-mse`` scales them by
    ``margin_scale``; InfoNCE leaves the scores out (it learns from the texts alone)."""
    columns = dataset.column_names
    if config.loss not in DISTILLATION_LOSSES:
        return dataset.remove_columns([SCORES_COLUMN]) if SCORES_COLUMN in columns else dataset
    if not numbered_negatives(columns) or SCORES_COLUMN not in columns:
        raise SembridgeError(
            f"--loss {config.loss} learns from a teacher's scores, and the {name} data has none "
            f"(columns: {', '.join(columns)})",
            hint="mine n-tuples with scores first (sembridge mine), or use --loss infonce",
        )
    if config.loss == "margin-mse" and config.margin_scale != 1.0:
        scale = config.margin_scale
        dataset = dataset.map(lambda row: {SCORES_COLUMN: [s * scale for s in row[SCORES_COLUMN]]})
    return dataset


def _describe_loss(loss: Any) -> str | None:
    """The loss module and its base loss, by class name (``SpladeLoss(SparseDistillKLDivLoss)``);
    with one loss per training set, ``name: ...`` for each, joined by commas."""
    if loss is None:
        return None
    if isinstance(loss, Mapping):
        return ", ".join(f"{name}: {_describe_loss(part)}" for name, part in loss.items())
    base = getattr(loss, "loss", None)
    return f"{type(loss).__name__}({type(base).__name__})" if base is not None else type(loss).__name__


def _loss_module(loss: Any, encoder: SparseEncoder) -> torch.nn.Module:
    """``loss`` as a module: itself, or what a function of the loaded model returns."""
    if not isinstance(loss, torch.nn.Module):
        loss = loss(encoder)
        if not isinstance(loss, torch.nn.Module):
            raise SembridgeError(f"loss= must give a torch module, got {type(loss).__name__}")
    return loss


def _has_flops_weights(loss: Any) -> bool:
    from sentence_transformers.sparse_encoder.losses import SpladeLoss

    return isinstance(loss, SpladeLoss)


def _for_eval_loss(evaluation: Dataset | None, config: FinetuneConfig) -> Dataset | None:
    """The evaluation pairs the loss can score (a distillation loss: only with teacher scores);
    without them the evaluation loss is left out, and the retrieval evaluation still runs."""
    if evaluation is None:
        return None
    if config.loss in DISTILLATION_LOSSES and SCORES_COLUMN not in evaluation.column_names:
        return None
    return teacher_scores_for(evaluation, config, "evaluation")


def _routes(encoder: SparseEncoder) -> Any:
    """The query and document routes of an inference-free Router, or None for one shared module."""
    routes = getattr(encoder[0], "sub_modules", None)
    return routes if routes is not None and "query" in routes and "document" in routes else None


def _length_modules(encoder: SparseEncoder) -> list[Any]:
    """The modules that hold the token limits: the first one, or each route of a Router."""
    routes = _routes(encoder)
    return [routes["query"][0], routes["document"][0]] if routes is not None else [encoder[0]]


def length_settings(encoder: SparseEncoder) -> list[dict[str, Any]]:
    """The encoder's token limits as they are (``max_seq_length``, and the per-task
    ``query_length`` / ``document_length`` where the module has them), for :func:`restore_lengths`."""
    names = ("max_seq_length", "query_length", "document_length")
    return [{n: getattr(m, n) for n in names if hasattr(m, n)} for m in _length_modules(encoder)]


def restore_lengths(encoder: SparseEncoder, settings: list[dict[str, Any]]) -> None:
    """Put back the limits :func:`length_settings` took. The training lengths are a training
    setting: the written model keeps the limits it came with, so that it encodes whole documents
    as BM25 and dense models read them (they are recorded in ``sembridge_finetune.json``)."""
    for module, values in zip(_length_modules(encoder), settings, strict=True):
        for name, value in values.items():
            setattr(module, name, value)


def apply_lengths(
    encoder: SparseEncoder, config: FinetuneConfig, columns: Sequence[str] = ("query", "positive", "negative")
) -> dict[str, str]:
    """Set the token limits on the model; return the router mapping that applies them per column
    (``query`` is a query, every other text column a document)."""
    routes_by_column = {c: "query" if c == "query" else "document" for c in columns if c != SCORES_COLUMN}
    query, document = config.query_length, config.document_length
    limits = length_limits(encoder)
    flag = "--max-length"
    check_length(query, limits, "--query-max-length" if config.query_max_length else flag)
    check_length(document, limits, "--doc-max-length" if config.doc_max_length else flag)
    first = encoder[0]
    routes = _routes(encoder)
    if routes is not None:  # an inference-free Router
        routes["query"][0].max_seq_length = query
        routes["document"][0].max_seq_length = document
        return routes_by_column
    first.max_seq_length = max(query, document)
    if hasattr(first, "query_length") and hasattr(first, "document_length"):
        first.query_length = query
        first.document_length = document
        return routes_by_column
    if query != document:
        raise SembridgeError(
            "separate query and document lengths need sentence-transformers >= 6",
            hint="use --max-length alone, or upgrade sentence-transformers",
        )
    return {}


def _training_arguments(
    config: FinetuneConfig,
    checkpoint_dir: Path,
    router_mapping: dict[str, str],
    has_eval: bool,
    groups: Sequence[int] | None = None,
) -> Any:
    import dataclasses

    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sparse_encoder import SparseEncoderTrainingArguments
    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    kwargs: dict[str, Any] = {
        "output_dir": str(checkpoint_dir),
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps if config.max_steps is not None else -1,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.grad_accum,
        "learning_rate": config.learning_rate,
        "weight_decay": config.weight_decay,
        "bf16": config.precision == "bf16",
        "fp16": config.precision == "fp16",
        "batch_sampler": paragraph_group_sampler(groups)
        if groups is not None
        else BatchSamplers.NO_DUPLICATES,
        "logging_steps": config.logging_steps,
        "logging_first_step": True,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": config.eval_steps if has_eval else None,
        "seed": config.seed,
        "report_to": "none",
        "use_cpu": config.device == "cpu",
        "dataloader_num_workers": config.dataloader_workers,
        "disable_tqdm": not config.show_progress,
        # SPLADE masked-LM models use every parameter; True would cost a graph traversal per step.
        "ddp_find_unused_parameters": config.find_unused_parameters,
    }
    if router_mapping:
        kwargs["router_mapping"] = router_mapping
    # transformers 5 folded warmup_ratio into warmup_steps (a float below 1 is a ratio).
    if "warmup_ratio" in names:
        kwargs["warmup_ratio"] = config.warmup_ratio
    else:
        kwargs["warmup_steps"] = config.warmup_ratio
    if "eval_strategy" not in names:
        kwargs["evaluation_strategy"] = kwargs.pop("eval_strategy")
    return SparseEncoderTrainingArguments(**kwargs)


def _ir_evaluator(eval_dataset: Dataset, batch_size: int) -> Any:
    """nDCG@10 and friends: each eval query against all eval positives (and negatives)."""
    from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator

    from sembridge.data import pairs_dataset

    columns = eval_dataset.column_names
    negatives = [
        text
        for name in ("negative", *numbered_negatives(columns))
        if name in columns
        for text in eval_dataset[name]
    ]
    data = pairs_dataset(zip(eval_dataset["query"], eval_dataset["positive"], strict=True), "eval", negatives)
    return SparseInformationRetrievalEvaluator(
        queries=data.queries,
        corpus=data.corpus,
        relevant_docs={qid: set(docs) for qid, docs in data.qrels.items()},
        name="eval",
        batch_size=batch_size,
        write_csv=False,
        show_progress_bar=False,
    )


def _stats_sample(dataset: Dataset, size: int) -> tuple[list[str], list[str]]:
    n = len(dataset)
    count = min(size, n)
    indices = sorted({round(i * (n - 1) / max(count - 1, 1)) for i in range(count)})
    rows = dataset.select(indices)
    return list(rows["query"]), list(rows["positive"])


def _barrier() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def _curves(history: Sequence[dict[str, Any]]) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    losses, evals = [], []
    for entry in history:
        numbers = {k: v for k, v in entry.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if "loss" in entry:
            losses.append(numbers)
        elif any(key.startswith("eval_") for key in entry):
            evals.append(numbers)
    return losses, evals


@dataclass
class _Prepared:
    """Step 1-2's outcome: the checked settings and folders, the pairs, and what resuming changes."""

    config: FinetuneConfig
    output_dir: Path
    checkpoint_dir: Path
    resume_from: Path | None
    remove_old: bool
    train: Dataset
    evaluation: Dataset | None
    train_source: str | None
    settings: dict[str, Any]
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Run:
    """Step 3-4's outcome: the trainer and what the report needs of its set-up."""

    trainer: Any
    args: Any
    resume_settings: Any
    removed: list[Path]
    sample_queries: list[str]
    sample_documents: list[str]
    stats_before: dict[str, Any] | None
    inference_lengths: list[dict[str, Any]]  # the model's own limits, put back before writing
    lexical: Any = None  # the model's own LexicalWeights, taken out for training, put back before writing

    @property
    def world_size(self) -> int:
        return max(int(self.args.world_size), 1)

    @property
    def is_main(self) -> bool:
        return self.args.process_index == 0


def prepare(
    train_data: Dataset | str | Path,
    output_dir: str | Path,
    config: FinetuneConfig,
    eval_data: Dataset | str | Path | None = None,
    data_options: DataOptions | None = None,
    eval_data_options: DataOptions | None = None,
    model: Any = None,
) -> _Prepared:
    """Steps 1-2: check the settings and folders, read and check the pairs, compare with the checkpoint's.

    ``model`` (its folder, when it is one) is an input the output and checkpoint folders must stay
    apart from, like the data files.
    """
    output_dir = Path(output_dir)
    check_precision(config)
    inputs = {"model": model, "training data": train_data, "evaluation data": eval_data}
    check_output_dir(output_dir, config.overwrite, inputs)
    check_length_before_loading(model, config.query_length, "--query-max-length or --max-length")
    check_length_before_loading(model, config.document_length, "--doc-max-length or --max-length")
    checkpoint_dir = (
        Path(config.checkpoint_dir) if config.checkpoint_dir else default_checkpoint_dir(output_dir)
    )
    check_apart(checkpoint_dir, inputs, what="checkpoint folder")
    if checkpoint_dir.resolve() == output_dir.resolve():
        raise SembridgeError(
            "the checkpoint folder must differ from the output folder", hint="change --checkpoint-dir"
        )
    resume_from, remove_old = plan_checkpoints(checkpoint_dir, config)

    train = _as_dataset(train_data, data_options, "train")
    evaluation = (
        _as_dataset(eval_data, eval_data_options or data_options, "eval") if eval_data is not None else None
    )
    if config.teacher is not None:
        train = each(train, lambda part: _scored_by_teacher(part, config, model))
    train = each(train, lambda part: teacher_scores_for(part, config, "train"))
    if isinstance(train, Mapping) and config.paragraph_groups:
        raise SembridgeError(
            "paragraph groups sample one training set, and this run has several",
            hint="leave out --paragraph-groups",
        )
    for name, part in train.items() if isinstance(train, Mapping) else [("", train)]:
        _info("1. training pairs%s: %s (%s)", f" '{name}'" if name else "", f"{len(part):,}",
              ", ".join(part.column_names))  # fmt: skip
    if evaluation is not None:
        _info("   evaluation pairs: %s", f"{len(evaluation):,}")
    processes = launched_processes()
    if is_main_process():  # under torchrun, every process reads its share of one batch
        for part in parts(train):
            warn_small_data(len(part), config.batch_size * processes)
    prepared = _Prepared(
        config=config,
        output_dir=output_dir,
        checkpoint_dir=checkpoint_dir,
        resume_from=resume_from,
        remove_old=remove_old,
        train=train,
        evaluation=evaluation,
        train_source=str(train_data) if isinstance(train_data, (str, Path)) else None,
        settings=run_settings(config, train, processes),
    )
    if resume_from is not None:
        prepared.changes = _resume_changes(prepared)
    return prepared


def _resume_changes(prepared: _Prepared) -> dict[str, dict[str, Any]]:
    """The settings that differ from those the checkpoints were trained with (refused unless allowed)."""
    recorded = read_run_settings(prepared.checkpoint_dir)
    if recorded is None:
        if is_main_process():
            logger.warning(
                "%s holds no record of the settings its checkpoints were trained with; "
                "they cannot be compared with this run's",
                prepared.checkpoint_dir,
            )
        return {}
    assert prepared.resume_from is not None
    changes = check_resume_settings(
        recorded, prepared.settings, prepared.resume_from.name, prepared.config.resume_changed
    )
    for key, change in changes.items():
        _info(
            "   %s changed (--resume-changed): checkpoint %s, now %s",
            key,
            describe(change["checkpoint"]),
            describe(change["now"]),
        )
    return changes


def training_documents(train: Any) -> list[str]:
    """Every distinct positive and negative text of the training data, in first-seen order."""
    texts: dict[str, None] = {}
    for part in parts(train):
        for name in part.column_names:
            if name == "positive" or name == "negative" or name in numbered_negatives(part.column_names):
                texts.update(dict.fromkeys(part[name]))
    return list(texts)


def take_lexical(encoder: SparseEncoder) -> Any:
    """Take the model's LexicalWeights out for training (see :func:`add_lexical`); None when it has none."""
    from sembridge.training.lexical import LexicalWeights

    if len(encoder) and isinstance(encoder[-1], LexicalWeights):
        module = encoder[-1]
        del encoder[-1]
        _info("   lexical weights (%s): left out in training, written back after", module)
        return module
    return None


def add_lexical(encoder: SparseEncoder, train: Any, config: FinetuneConfig) -> None:
    """``--lexical-weight``: after training, BM25's weights of a text's own pieces (IDF fitted on the
    training documents) added to the model that is written.

    After, not before: on the Arabic dev split, training with them in place let the ranking loss
    switch the learned part off (every learned weight below zero within 25 steps, the model BM25
    alone); added after training, the learned part stays and adds to them (docs/results.md).
    """
    from sembridge.training.lexical import add_lexical_weights

    documents = training_documents(train)
    module = add_lexical_weights(
        encoder, documents, config.lexical_weight, show_progress=config.show_progress
    )
    _info(
        "   lexical weights: BM25 x %s, IDF over %s training documents (mean length %.0f pieces)",
        config.lexical_weight,
        f"{len(documents):,}",
        module.avg_length,
    )


def build_trainer(
    model: str | Path | SparseEncoder,
    prepared: _Prepared,
    callbacks: Sequence[TrainerCallback] = (),
    loss: Any = None,
) -> _Run:
    """Steps 3-4: load the model, build the loss, the arguments and the trainer; record the settings."""
    config, checkpoint_dir = prepared.config, prepared.checkpoint_dir
    encoder = load_encoder(model, "cpu", logits_budget=DEFAULT_LOGITS_BUDGET, require_splade=True)
    lexical = take_lexical(encoder)
    inference_lengths = length_settings(encoder)
    columns = dict.fromkeys(name for part in parts(prepared.train) for name in part.column_names)
    router_mapping = apply_lengths(encoder, config, list(columns))
    _info(
        "2. model: %s (query length %d, document length %d)",
        model,
        config.query_length,
        config.document_length,
    )

    groups = paragraph_groups(prepared.train["positive"]) if config.paragraph_groups else None
    if groups is not None:
        _info("   paragraph groups: %s pairs in %s groups", f"{len(groups):,}", f"{len(set(groups)):,}")
    args = _training_arguments(
        config, checkpoint_dir, router_mapping, prepared.evaluation is not None, groups
    )
    world_size = max(int(args.world_size), 1)
    is_main = args.process_index == 0
    gather = config.gather_across_devices if config.gather_across_devices is not None else world_size > 1
    if isinstance(loss, Mapping):  # one loss per named training set
        if not isinstance(prepared.train, Mapping) or set(loss) != set(prepared.train):
            names = sorted(prepared.train) if isinstance(prepared.train, Mapping) else ["one Dataset"]
            raise SembridgeError(
                f"loss= names {sorted(loss)}, the training data {names}",
                hint="give one loss for each named training set",
            )
        loss = {name: _loss_module(part, encoder) for name, part in loss.items()}
    elif loss is None:  # config.loss, for every training set when there are several
        loss = build_loss(
            encoder,
            config.query_reg,
            config.doc_reg,
            config.temperature,
            gather_across_devices=gather,
            kind=config.loss,
            teacher_temperature=config.teacher_temperature,
            student_temperature=config.student_temperature,
            cached=config.cached,
            mini_batch_size=config.mini_batch_size,
        )
    else:
        loss = _loss_module(loss, encoder)
    if prepared.remove_old and is_main:
        _info("removing the checkpoints of an earlier run in %s", checkpoint_dir)
        remove_checkpoints(checkpoint_dir)
    removed: list[Path] = []
    if is_main:
        if prepared.resume_from is not None:
            removed = remove_incomplete(checkpoint_dir)
            for path in removed:
                _info("removed the incomplete %s", path.name)
        write_run_settings(checkpoint_dir, prepared.settings, prepared.train_source)
    _barrier()

    from sentence_transformers.sparse_encoder import SparseEncoderTrainer

    evaluation = prepared.evaluation
    trainer = SparseEncoderTrainer(
        model=encoder,
        args=args,
        train_dataset=prepared.train,
        # With one loss per training set the evaluation pairs are scored by the retrieval evaluator only.
        eval_dataset=None if isinstance(loss, Mapping) else _for_eval_loss(evaluation, config),
        loss=loss,
        evaluator=_ir_evaluator(evaluation, config.batch_size) if evaluation is not None else None,
        callbacks=[
            # The FLOPs weights' warm-up, for a loss that has them (SpladeLoss and its cached twin).
            *[
                build_regularizer_warmup(part, config.reg_warmup_ratio)
                for part in (loss.values() if isinstance(loss, Mapping) else [loss])
                if _has_flops_weights(part)
            ],
            regularizer_weights_in_history(),
            *callbacks,
        ],
    )
    resume_settings = ResumeSettings(config, apply=bool(prepared.changes))
    decay_names = set(trainer.get_decay_parameter_names(trainer.model))
    resume_settings.decay_params = {id(p) for n, p in trainer.model.named_parameters() if n in decay_names}
    trainer.add_callback(resume_settings)
    sample_queries, sample_documents = _stats_sample(parts(prepared.train)[0], config.stats_sample_size)
    stats_before = None
    if is_main and prepared.resume_from is None:
        stats_before = measure_sparsity(
            trainer.model, sample_queries, sample_documents, config.batch_size
        ).to_dict()
    _barrier()
    return _Run(
        trainer,
        args,
        resume_settings,
        removed,
        sample_queries,
        sample_documents,
        stats_before,
        inference_lengths,
        lexical,
    )


def train(prepared: _Prepared, run: _Run) -> FinetuneResult:
    """Step 5: train (resuming when asked) and collect the curves and figures of the run."""
    config, resume_from = prepared.config, prepared.resume_from
    effective = config.batch_size * run.world_size * config.grad_accum
    _info(
        "3. training: %d process(es), batch %d per process, effective batch %d, %s",
        run.world_size,
        config.batch_size,
        effective,
        f"resuming from {resume_from.name}" if resume_from else "from the start",
    )
    started = time.perf_counter()
    output = run.trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    runtime = time.perf_counter() - started
    metrics = dict(output.metrics)
    loss_curve, eval_curve = _curves(run.trainer.state.log_history)
    result = FinetuneResult(
        output_dir=prepared.output_dir,
        checkpoint_dir=prepared.checkpoint_dir,
        global_step=int(run.trainer.state.global_step),
        epochs_done=float(run.trainer.state.epoch or 0.0),
        train_loss=metrics.get("train_loss"),
        runtime_s=round(runtime, 3),
        steps_per_second=metrics.get("train_steps_per_second"),
        resumed_from_step=checkpoint_step(resume_from) if resume_from else None,
        world_size=run.world_size,
        loss_curve=loss_curve,
        eval_curve=eval_curve,
        stats_before=run.stats_before,
    )
    if resume_from is not None:
        result.resume = {
            "checkpoint": resume_from.name,
            "step": checkpoint_step(resume_from),
            "incomplete_removed": [p.name for p in run.removed],
            "changed": prepared.changes,
            "in_effect": run.resume_settings.in_effect,
            "note": (
                f"steps up to {checkpoint_step(resume_from)} ran with the checkpoint's values, later steps "
                "with the new ones (the peak learning rate and weight decay were set on the restored "
                "optimizer; the random state continues from the checkpoint)"
                if prepared.changes
                else None
            ),
        }
    return result


def write(
    model: str | Path | SparseEncoder,
    prepared: _Prepared,
    run: _Run,
    result: FinetuneResult,
    eval_data: Dataset | str | Path | None = None,
) -> None:
    """Step 6, on the first process: sparsity after training, then the model and its reports, atomically.

    The reports are ``training_args.json``, ``sembridge_finetune.json`` and, when the folder the
    run started from has one, a copy of its ``sembridge_init.json`` (how the rows were initialised).
    """
    config, train_data, evaluation = prepared.config, prepared.train, prepared.evaluation
    if config.lexical_weight is not None:  # the written model's vectors, so its sparsity too
        add_lexical(run.trainer.model, train_data, config)
    elif run.lexical is not None:
        run.trainer.model.append(run.lexical)
    result.stats_after = measure_sparsity(
        run.trainer.model, run.sample_queries, run.sample_documents, config.batch_size
    ).to_dict()
    report = {
        "model": str(model) if isinstance(model, (str, Path)) else "<SparseEncoder>",
        "output": str(prepared.output_dir),
        "data": {
            "train": prepared.train_source or "<Dataset>",
            "train_pairs": sum(len(part) for part in parts(train_data)),
            "columns": each(train_data, lambda part: part.column_names),
            "eval": str(eval_data) if isinstance(eval_data, (str, Path)) else None,
            "eval_pairs": len(evaluation) if evaluation is not None else 0,
        },
        "config": config.to_dict(),
        "loss": _describe_loss(run.trainer.loss if hasattr(run.trainer, "loss") else None),
        "world_size": run.world_size,
        "effective_batch_size": config.batch_size * run.world_size * config.grad_accum,
        "global_step": result.global_step,
        "epochs_done": result.epochs_done,
        "resumed_from_step": result.resumed_from_step,
        "resume": result.resume,
        "runtime_s": result.runtime_s,
        "steps_per_second": result.steps_per_second,
        "train_loss": result.train_loss,
        "loss_curve": result.loss_curve,
        "eval_curve": result.eval_curve,
        "sparsity": {
            "sample_pairs": len(run.sample_queries),
            "before": result.stats_before,
            "after": result.stats_after,
        },
        "versions": library_versions(),
    }
    # The lineage: the init report of the folder the run started from travels with the model, so
    # that `sembridge inspect-token` still explains its rows (as initialised, since fine-tuned).
    local = isinstance(model, (str, Path)) and locate(model).kind == "local"  # not a hub id
    started = Path(model).expanduser() / INIT_REPORT if local else None
    with atomic_output_dir(prepared.output_dir, config.overwrite, checked=True) as tmp:
        restore_lengths(run.trainer.model, run.inference_lengths)
        run.trainer.model.save(str(tmp))
        write_json(tmp / TRAINING_ARGS_NAME, json.loads(run.args.to_json_string()))
        write_json(tmp / REPORT_NAME, report)
        if started is not None and started.is_file():
            shutil.copyfile(started, tmp / INIT_REPORT)
        write_model_card(tmp, finetune_report=report)
    result.written = True
    if not config.keep_checkpoints:
        remove_checkpoints(prepared.checkpoint_dir)
    _info("4. model written to %s", prepared.output_dir)


def finetune(
    model: str | Path | SparseEncoder,
    train_data: Dataset | str | Path,
    output_dir: str | Path,
    config: FinetuneConfig | None = None,
    *,
    eval_data: Dataset | str | Path | None = None,
    data_options: DataOptions | None = None,
    eval_data_options: DataOptions | None = None,
    callbacks: Sequence[TrainerCallback] = (),
    loss: Any = None,
) -> FinetuneResult:
    """Fine-tune ``model`` on query-positive pairs with InfoNCE + FLOPs and write it to ``output_dir``.

    Args:
        model: a SparseEncoder folder (as ``sembridge init`` writes it), a hub id, or a SparseEncoder.
        train_data: a Dataset with columns query, positive[, negative], or a file, folder or hub
            dataset id read with :func:`~sembridge.data.load_pairs` and ``data_options``; or a
            dict of named ones: every batch is drawn from one of them, in proportion to their
            sizes (sentence-transformers' multi-dataset training, as ``sembridge align --pairs``
            uses it), scored by ``loss`` (one for all, or a dict with the same names).
        output_dir: the folder to write; refused if it exists unless ``config.overwrite``.
        config: hyper-parameters and run settings (:class:`FinetuneConfig`).
        eval_data: optional evaluation pairs (same forms as ``train_data``): evaluation loss and
            nDCG@10 of each query against all evaluation documents every ``eval_steps``.
        data_options / eval_data_options: how to read path sources (eval defaults to data_options).
        callbacks: extra ``transformers.TrainerCallback`` objects.
        loss: any sentence-transformers sparse loss instead of the one ``config.loss`` names: a
            loss module built on ``model`` (a SparseEncoder), or a function that takes the loaded
            SparseEncoder and returns one; or a dict of these, one per named training set. The
            trainer's own settings (batches, schedule, checkpoints, reports) apply as they are;
            each ``SpladeLoss`` gets the FLOPs weights' warm-up (``config.reg_warmup_ratio``).

    The steps are :func:`prepare`, :func:`build_trainer`, :func:`train` and :func:`write`.
    Under ``torchrun`` every process calls this; only the first writes the output.
    """
    config = config or FinetuneConfig()
    prepared = prepare(
        train_data, output_dir, config, eval_data, data_options, eval_data_options, model=model
    )
    run = build_trainer(model, prepared, callbacks, loss)
    result = train(prepared, run)
    if run.is_main:
        write(model, prepared, run, result, eval_data)
    _barrier()
    return result
