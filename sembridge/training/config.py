"""Settings of a fine-tuning run and what it returns, as small typed dataclasses."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from sembridge.errors import SembridgeError

Precision = Literal["fp32", "bf16", "fp16"]


@dataclass
class FinetuneConfig:
    """Hyper-parameters of ``sembridge finetune``; the defaults follow the paper where it says.

    Batch and steps:
        epochs: passes over the training pairs (paper: 1).
        max_steps: stop after this many optimisation steps (overrides ``epochs``); None: no cap.
        batch_size: pairs per process and step (paper: 64). In-batch negatives come from the
            same batch; the effective batch is batch_size x processes x grad_accum.
        grad_accum: gradient accumulation steps (this does not add in-batch negatives).
        max_length: token limit of queries and documents (paper: 512).
        query_max_length / doc_max_length: separate limits; None: ``max_length``. Both are
            saved with the model, so ``encode_query`` / ``encode_document`` keep them.

    Optimisation:
        learning_rate: peak AdamW learning rate.
        warmup_ratio: fraction of the steps for the linear learning-rate warm-up, in [0, 1).
        weight_decay: AdamW weight decay.
        temperature: InfoNCE temperature T (scores / T); 1.0 keeps plain dot products.
        query_reg / doc_reg: the FLOPs weights lambda_q and lambda_d (sentence-transformers'
            documented defaults 5e-5 and 3e-5; SPLADE++ used far larger ones with long warm-ups).
        reg_warmup_ratio: fraction of the steps over which both FLOPs weights rise
            quadratically from 0 (sentence-transformers' default 1/3).
        precision: fp32, bf16 or fp16 (bf16/fp16 need a CUDA GPU; the paper trains in bf16).
        seed: seed of the run (data order, dropout, initial state).

    Evaluation, checkpoints, logging:
        eval_steps: evaluate every this many steps when evaluation data is given.
        save_steps: write a checkpoint every this many steps.
        save_total_limit: keep at most this many checkpoints (None: all).
        logging_steps: log the loss every this many steps (the loss curve's resolution).
        checkpoint_dir: where checkpoints go; None: ``<OUT>.checkpoints`` beside the output
            folder. It survives a crash; ``resume`` continues from its last checkpoint, and a
            finished run removes it unless ``keep_checkpoints``.
        resume: continue from the newest complete checkpoint in ``checkpoint_dir``. The settings
            that change the optimisation must equal the checkpoint's
            (:mod:`sembridge.training.run_settings`).
        resume_changed: with ``resume``, continue although such settings differ; the new values
            apply from the checkpoint's step on (learning rate and weight decay are set on the
            restored optimizer) and the report records both.
        overwrite: replace an existing output folder (and, without ``resume``, old checkpoints).
        keep_checkpoints: keep the checkpoint folder after a successful run.

    Hardware:
        device: auto (cuda when available), cpu or cuda. Several GPUs: launch with torchrun.
        gather_across_devices: with several processes, gather all processes' vectors so the
            in-batch negatives span every GPU; None: on when there is more than one process.
        dataloader_workers: worker processes for the data loader.
        find_unused_parameters: let DDP look for parameters without gradient (only needed for
            models with parts the loss does not reach; costs time every step).

    Reporting:
        stats_sample_size: pairs (evenly spaced over the training data) encoded before and after
            training to measure FLOPs and active terms.
        show_progress: show the trainer's progress bar.
    """

    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 64
    grad_accum: int = 1
    max_length: int = 512
    query_max_length: int | None = None
    doc_max_length: int | None = None
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    temperature: float = 1.0
    query_reg: float = 5e-5
    doc_reg: float = 3e-5
    reg_warmup_ratio: float = 1 / 3
    precision: Precision = "fp32"
    seed: int = 42
    eval_steps: int = 500
    save_steps: int = 500
    save_total_limit: int | None = 2
    logging_steps: int = 10
    checkpoint_dir: Path | None = None
    resume: bool = False
    resume_changed: bool = False
    overwrite: bool = False
    keep_checkpoints: bool = False
    device: str = "auto"
    gather_across_devices: bool | None = None
    dataloader_workers: int = 0
    find_unused_parameters: bool = False
    stats_sample_size: int = 512
    show_progress: bool = True

    def __post_init__(self) -> None:
        for name in ("batch_size", "grad_accum", "max_length", "eval_steps", "save_steps", "logging_steps"):
            _positive_int(name, getattr(self, name))
        for name in ("query_max_length", "doc_max_length", "max_steps", "save_total_limit"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        for name in ("epochs", "learning_rate", "weight_decay"):  # nan and inf refused before loading
            if not math.isfinite(getattr(self, name)):
                raise SembridgeError(f"{name} must be a finite number, got {getattr(self, name)}.")
        if not self.epochs > 0:
            raise SembridgeError(f"epochs must be > 0, got {self.epochs}.")
        if not self.learning_rate > 0:
            raise SembridgeError(f"learning_rate must be > 0, got {self.learning_rate}.")
        if not 0 <= self.warmup_ratio < 1:
            raise SembridgeError(f"warmup_ratio must lie in [0, 1), got {self.warmup_ratio}.")
        if self.weight_decay < 0:
            raise SembridgeError(f"weight_decay must be >= 0, got {self.weight_decay}.")
        if not 0 <= self.reg_warmup_ratio <= 1:
            raise SembridgeError(f"reg_warmup_ratio must lie in [0, 1], got {self.reg_warmup_ratio}.")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise SembridgeError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}.")
        if self.dataloader_workers < 0:
            raise SembridgeError(f"dataloader_workers must be >= 0, got {self.dataloader_workers}.")
        if self.resume_changed and not self.resume:
            raise SembridgeError("resume_changed (--resume-changed) needs resume", hint="add --resume")
        if self.stats_sample_size < 1:
            raise SembridgeError(
                f"stats_sample_size must be a positive integer, got {self.stats_sample_size}."
            )
        from sembridge.training.losses import check_loss_settings

        check_loss_settings(self.query_reg, self.doc_reg, self.temperature)
        if self.checkpoint_dir is not None:
            self.checkpoint_dir = Path(self.checkpoint_dir)

    @property
    def query_length(self) -> int:
        return self.query_max_length or self.max_length

    @property
    def document_length(self) -> int:
        return self.doc_max_length or self.max_length

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["checkpoint_dir"] = str(self.checkpoint_dir) if self.checkpoint_dir else None
        return data


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SembridgeError(f"{name} must be a positive integer, got {value!r}.")


@dataclass
class FinetuneResult:
    """What a run did. On processes other than the first, ``written`` is False and stats are None."""

    output_dir: Path
    checkpoint_dir: Path
    global_step: int
    epochs_done: float
    train_loss: float | None
    runtime_s: float
    steps_per_second: float | None
    resumed_from_step: int | None
    world_size: int
    loss_curve: list[dict[str, float]] = field(default_factory=list)
    eval_curve: list[dict[str, float]] = field(default_factory=list)
    stats_before: dict[str, Any] | None = None
    stats_after: dict[str, Any] | None = None
    written: bool = False
    resume: dict[str, Any] | None = None
    """When resumed: the checkpoint, the settings that differed from its, the values in effect."""
