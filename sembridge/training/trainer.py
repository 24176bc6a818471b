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
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from sembridge.data import DataOptions, load_pairs, validate_pairs
from sembridge.errors import SembridgeError
from sembridge.io import atomic_output_dir, check_output_dir, library_versions, write_json
from sembridge.loading import load_sparse_encoder
from sembridge.log import logger
from sembridge.model_card import write_model_card
from sembridge.splade_memory import DEFAULT_LOGITS_BUDGET
from sembridge.training.checkpoints import (
    checkpoint_step,
    default_checkpoint_dir,
    plan_checkpoints,
    remove_checkpoints,
    remove_incomplete,
)
from sembridge.training.config import FinetuneConfig, FinetuneResult
from sembridge.training.losses import build_loss, build_regularizer_warmup
from sembridge.training.run_settings import (
    check_resume_settings,
    describe,
    read_run_settings,
    run_settings,
    write_run_settings,
)
from sembridge.training.stats import measure_sparsity

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SparseEncoder
    from transformers import TrainerCallback

REPORT_NAME = "sembridge_finetune.json"
TRAINING_ARGS_NAME = "training_args.json"


def _info(message: str, *args: Any) -> None:
    """Log from the first process only (under torchrun every process runs the same code)."""
    if os.environ.get("RANK", "0") == "0":
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
    from sembridge.device import resolve_device

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


def _as_dataset(data: Any, options: DataOptions | None, name: str) -> Dataset:
    from datasets import Dataset

    if isinstance(data, Dataset):
        return validate_pairs(data, name)
    if isinstance(data, (str, Path)):
        return load_pairs(data, options)
    raise SembridgeError(f"{name} data must be a datasets.Dataset or a path, got {type(data).__name__}")


def _position_limit(encoder: SparseEncoder) -> int | None:
    config = getattr(getattr(encoder[0], "auto_model", None), "config", None)
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int) or limit <= 0:
        return None
    model_type = str(getattr(config, "model_type", ""))
    if "roberta" in model_type or model_type == "camembert":  # positions start after padding_idx
        limit -= int(getattr(config, "pad_token_id", 1) or 0) + 1
    return limit


def apply_lengths(encoder: SparseEncoder, config: FinetuneConfig) -> dict[str, str]:
    """Set the token limits on the model; return the router mapping that applies them per column."""
    query, document = config.query_length, config.document_length
    limit = _position_limit(encoder)
    if limit is not None:
        for name, value in (("query length", query), ("document length", document)):
            if value > limit:
                raise SembridgeError(
                    f"{name} {value} is more than the model's {limit} positions",
                    hint=f"use --max-length (or --query-max-length / --doc-max-length) {limit} or less",
                )
    first = encoder[0]
    routes = getattr(first, "sub_modules", None)
    if routes is not None and "query" in routes and "document" in routes:  # an inference-free Router
        routes["query"][0].max_seq_length = query
        routes["document"][0].max_seq_length = document
        return {"query": "query", "positive": "document", "negative": "document"}
    first.max_seq_length = max(query, document)
    if hasattr(first, "query_length") and hasattr(first, "document_length"):
        first.query_length = query
        first.document_length = document
        return {"query": "query", "positive": "document", "negative": "document"}
    if query != document:
        raise SembridgeError(
            "separate query and document lengths need sentence-transformers >= 6",
            hint="use --max-length alone, or upgrade sentence-transformers",
        )
    return {}


def _training_arguments(
    config: FinetuneConfig, checkpoint_dir: Path, router_mapping: dict[str, str], has_eval: bool
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
        "batch_sampler": BatchSamplers.NO_DUPLICATES,
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

    query_ids: dict[str, str] = {}
    doc_ids: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    columns = eval_dataset.column_names
    for row in eval_dataset:
        qid = query_ids.setdefault(row["query"], f"q{len(query_ids)}")
        did = doc_ids.setdefault(row["positive"], f"d{len(doc_ids)}")
        relevant.setdefault(qid, set()).add(did)
        if "negative" in columns:
            doc_ids.setdefault(row["negative"], f"d{len(doc_ids)}")
    return SparseInformationRetrievalEvaluator(
        queries={qid: text for text, qid in query_ids.items()},
        corpus={did: text for text, did in doc_ids.items()},
        relevant_docs=relevant,
        name="eval",
        batch_size=batch_size,
        write_csv=False,
        show_progress_bar=False,
    )


def _weights_into_history() -> Any:
    """A callback that copies the FLOPs weights logged by the warm-up callback into log_history.

    The warm-up callback adds them to the printed logs only; the loss curve should show them too.
    """
    from transformers import TrainerCallback

    keys = ("query_regularizer_weight", "document_regularizer_weight")

    class RegularizerWeightsInHistory(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and state.log_history:
                state.log_history[-1].update({k: logs[k] for k in keys if logs.get(k) is not None})

    return RegularizerWeightsInHistory()


class _ResumeSettings:
    """A callback that, when training resumes, reads the learning rate and weight decay in effect
    on the restored optimizer and scheduler, and with ``apply`` first sets the run's own values.

    The trainer restores the optimizer's parameter groups (learning rate, weight decay) and the
    scheduler's base learning rate from the checkpoint; the schedule's shape (warm-up, total
    steps) follows the run's arguments. ``apply`` sets the peak rate and weight decay to the
    run's, so that the schedule continues from the checkpoint's step with the new values.
    """

    def __new__(cls, config: FinetuneConfig, apply: bool) -> Any:
        from transformers import TrainerCallback

        class ResumeSettings(TrainerCallback):
            def __init__(self) -> None:
                self.decay_params: set[int] = set()  # ids of the parameters with weight decay
                self.in_effect: dict[str, float] | None = None

            def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                optimizer, lr_scheduler = kwargs.get("optimizer"), kwargs.get("lr_scheduler")
                if state.global_step == 0 or optimizer is None or lr_scheduler is None:
                    return
                scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate wraps it
                groups = optimizer.param_groups
                if apply:
                    old = list(scheduler.base_lrs)
                    scheduler.base_lrs = [config.learning_rate for _ in old]
                    lambdas = getattr(scheduler, "lr_lambdas", None)
                    for i, group in enumerate(groups):
                        group["initial_lr"] = config.learning_rate
                        if lambdas is not None:
                            group["lr"] = config.learning_rate * lambdas[i](scheduler.last_epoch)
                        elif old[i]:
                            group["lr"] *= config.learning_rate / old[i]
                        if any(id(p) in self.decay_params for p in group["params"]):
                            group["weight_decay"] = config.weight_decay
                self.in_effect = {
                    "--lr": float(max(scheduler.base_lrs)),
                    "--weight-decay": float(max(g.get("weight_decay", 0.0) for g in groups)),
                    "lr_at_resume": float(groups[0]["lr"]),
                }
                if self.in_effect["--lr"] != config.learning_rate and args.process_index == 0:
                    logger.warning(
                        "the learning rate follows the checkpoint's (%s), not --lr (%s)",
                        self.in_effect["--lr"],
                        config.learning_rate,
                    )

        return ResumeSettings()


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
) -> FinetuneResult:
    """Fine-tune ``model`` on query-positive pairs with InfoNCE + FLOPs and write it to ``output_dir``.

    Args:
        model: a SparseEncoder folder (as ``sembridge init`` writes it), a hub id, or a SparseEncoder.
        train_data: a Dataset with columns query, positive[, negative], or a file, folder or hub
            dataset id read with :func:`~sembridge.data.load_pairs` and ``data_options``.
        output_dir: the folder to write; refused if it exists unless ``config.overwrite``.
        config: hyper-parameters and run settings (:class:`FinetuneConfig`).
        eval_data: optional evaluation pairs (same forms as ``train_data``): evaluation loss and
            nDCG@10 of each query against all evaluation documents every ``eval_steps``.
        data_options / eval_data_options: how to read path sources (eval defaults to data_options).
        callbacks: extra ``transformers.TrainerCallback`` objects.

    Under ``torchrun`` every process calls this; only the first writes the output.
    """
    config = config or FinetuneConfig()
    output_dir = Path(output_dir)

    # 1. Settings and folders, before anything heavy.
    check_precision(config)
    check_output_dir(output_dir, config.overwrite)
    checkpoint_dir = (
        Path(config.checkpoint_dir) if config.checkpoint_dir else default_checkpoint_dir(output_dir)
    )
    if checkpoint_dir.resolve() == output_dir.resolve():
        raise SembridgeError(
            "the checkpoint folder must differ from the output folder", hint="change --checkpoint-dir"
        )
    resume_from, remove_old = plan_checkpoints(checkpoint_dir, config)

    # 2. Data, still before the model.
    train = _as_dataset(train_data, data_options, "train")
    evaluation = (
        _as_dataset(eval_data, eval_data_options or data_options, "eval") if eval_data is not None else None
    )
    _info("1. training pairs: %s (%s)", f"{len(train):,}", ", ".join(train.column_names))
    if evaluation is not None:
        _info("   evaluation pairs: %s", f"{len(evaluation):,}")
    processes = max(int(os.environ.get("WORLD_SIZE", "1")), 1)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, every process reads its share of one batch
        warn_small_data(len(train), config.batch_size * processes)
    settings = run_settings(config, train, processes)
    changes: dict[str, dict[str, Any]] = {}
    if resume_from is not None:
        recorded = read_run_settings(checkpoint_dir)
        if recorded is None:
            if os.environ.get("RANK", "0") == "0":
                logger.warning(
                    "%s holds no record of the settings its checkpoints were trained with; "
                    "they cannot be compared with this run's",
                    checkpoint_dir,
                )
        else:
            changes = check_resume_settings(recorded, settings, resume_from.name, config.resume_changed)
            for key, change in changes.items():
                _info(
                    "   %s changed (--resume-changed): checkpoint %s, now %s",
                    key,
                    describe(change["checkpoint"]),
                    describe(change["now"]),
                )

    # 3. Model.
    encoder = load_sparse_encoder(model, "cpu", require_splade=True, logits_budget=DEFAULT_LOGITS_BUDGET)
    router_mapping = apply_lengths(encoder, config)
    _info(
        "2. model: %s (query length %d, document length %d)",
        model,
        config.query_length,
        config.document_length,
    )

    # 4. Loss, arguments, trainer.
    args = _training_arguments(config, checkpoint_dir, router_mapping, evaluation is not None)
    world_size = max(int(args.world_size), 1)
    is_main = args.process_index == 0
    gather = config.gather_across_devices if config.gather_across_devices is not None else world_size > 1
    loss = build_loss(
        encoder, config.query_reg, config.doc_reg, config.temperature, gather_across_devices=gather
    )
    if remove_old and is_main:
        _info("removing the checkpoints of an earlier run in %s", checkpoint_dir)
        remove_checkpoints(checkpoint_dir)
    removed: list[Path] = []
    if is_main:
        if resume_from is not None:
            removed = remove_incomplete(checkpoint_dir)
            for path in removed:
                _info("removed the incomplete %s", path.name)
        write_run_settings(
            checkpoint_dir, settings, str(train_data) if isinstance(train_data, (str, Path)) else None
        )
    _barrier()

    from sentence_transformers.sparse_encoder import SparseEncoderTrainer

    trainer = SparseEncoderTrainer(
        model=encoder,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        loss=loss,
        evaluator=_ir_evaluator(evaluation, config.batch_size) if evaluation is not None else None,
        callbacks=[
            build_regularizer_warmup(loss, config.reg_warmup_ratio),
            _weights_into_history(),
            *callbacks,
        ],
    )
    resume_settings = _ResumeSettings(config, apply=bool(changes))
    decay_names = set(trainer.get_decay_parameter_names(trainer.model))
    resume_settings.decay_params = {id(p) for n, p in trainer.model.named_parameters() if n in decay_names}
    trainer.add_callback(resume_settings)
    sample_queries, sample_documents = _stats_sample(train, config.stats_sample_size)
    stats_before = None
    if is_main and resume_from is None:
        stats_before = measure_sparsity(
            trainer.model, sample_queries, sample_documents, config.batch_size
        ).to_dict()
    _barrier()

    # 5. Train.
    effective = config.batch_size * world_size * config.grad_accum
    _info(
        "3. training: %d process(es), batch %d per process, effective batch %d, %s",
        world_size,
        config.batch_size,
        effective,
        f"resuming from {resume_from.name}" if resume_from else "from the start",
    )
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    runtime = time.perf_counter() - started
    metrics = dict(output.metrics)
    loss_curve, eval_curve = _curves(trainer.state.log_history)
    result = FinetuneResult(
        output_dir=output_dir,
        checkpoint_dir=checkpoint_dir,
        global_step=int(trainer.state.global_step),
        epochs_done=float(trainer.state.epoch or 0.0),
        train_loss=metrics.get("train_loss"),
        runtime_s=round(runtime, 3),
        steps_per_second=metrics.get("train_steps_per_second"),
        resumed_from_step=checkpoint_step(resume_from) if resume_from else None,
        world_size=world_size,
        loss_curve=loss_curve,
        eval_curve=eval_curve,
        stats_before=stats_before,
    )
    if resume_from is not None:
        result.resume = {
            "checkpoint": resume_from.name,
            "step": checkpoint_step(resume_from),
            "incomplete_removed": [p.name for p in removed],
            "changed": changes,
            "in_effect": resume_settings.in_effect,
            "note": (
                f"steps up to {checkpoint_step(resume_from)} ran with the checkpoint's values, later steps "
                "with the new ones (the peak learning rate and weight decay were set on the restored "
                "optimizer; the random state continues from the checkpoint)"
                if changes
                else None
            ),
        }

    # 6. Output, from the first process only.
    if is_main:
        result.stats_after = measure_sparsity(
            trainer.model, sample_queries, sample_documents, config.batch_size
        ).to_dict()
        report = {
            "model": str(model) if isinstance(model, (str, Path)) else "<SparseEncoder>",
            "output": str(output_dir),
            "data": {
                "train": str(train_data) if isinstance(train_data, (str, Path)) else "<Dataset>",
                "train_pairs": len(train),
                "columns": train.column_names,
                "eval": str(eval_data) if isinstance(eval_data, (str, Path)) else None,
                "eval_pairs": len(evaluation) if evaluation is not None else 0,
            },
            "config": config.to_dict(),
            "world_size": world_size,
            "effective_batch_size": effective,
            "global_step": result.global_step,
            "epochs_done": result.epochs_done,
            "resumed_from_step": result.resumed_from_step,
            "resume": result.resume,
            "runtime_s": result.runtime_s,
            "steps_per_second": result.steps_per_second,
            "train_loss": result.train_loss,
            "loss_curve": loss_curve,
            "eval_curve": eval_curve,
            "sparsity": {
                "sample_pairs": len(sample_queries),
                "before": stats_before,
                "after": result.stats_after,
            },
            "versions": library_versions(),
        }
        with atomic_output_dir(output_dir, config.overwrite, checked=True) as tmp:
            trainer.model.save(str(tmp))
            write_json(tmp / TRAINING_ARGS_NAME, json.loads(args.to_json_string()))
            write_json(tmp / REPORT_NAME, report)
            write_model_card(tmp, finetune_report=report)
        result.written = True
        if not config.keep_checkpoints:
            remove_checkpoints(checkpoint_dir)
        _info("4. model written to %s", output_dir)
    _barrier()
    return result
