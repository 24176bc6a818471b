"""Settings of a fine-tuning run and what it returns, as small typed dataclasses."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from sembridge.errors import SembridgeError, UsageError
from sembridge.flags import declared_flags, flag, flag_name

Precision = Literal["fp32", "bf16", "fp16"]

# The panels of `sembridge finetune --help`.
TRAIN = "Training"
RUN = "Checkpoints and run"


@dataclass
class FinetuneConfig:
    """Hyper-parameters of ``sembridge finetune``; the defaults follow the paper where it says.

    Each field the command line sets declares its flag, help and panel in its metadata
    (:mod:`sembridge.flags`): ``sembridge finetune`` builds its options from them.

    Batch and steps:
        epochs: passes over the training pairs (paper: 1).
        max_steps: stop after this many optimisation steps (overrides ``epochs``); None: no cap.
        batch_size: pairs per process and step (paper: 64). In-batch negatives come from the
            same batch; the effective batch is batch_size x processes x grad_accum.
        grad_accum: gradient accumulation steps (this does not add in-batch negatives).
        max_length: token limit of queries and documents in training (paper: 512).
        query_max_length / doc_max_length: separate limits; None: ``max_length``. They bound
            training only: the written model keeps the limits it came with (512 positions for
            BERT), so that it reads whole documents, as BM25 and dense models do; ``evaluate`` and
            ``export`` take their own ``--max-length``.

    Optimisation:
        learning_rate: peak AdamW learning rate.
        warmup_ratio: fraction of the steps for the linear learning-rate warm-up, in [0, 1).
        weight_decay: AdamW weight decay.
        temperature: InfoNCE temperature T (scores / T); 1.0 keeps plain dot products.
        loss: ``infonce``, or a distillation of the data's teacher scores (``kl``, ``margin-mse``,
            ``infonce+kl``; :mod:`sembridge.training.losses`).
        teacher_temperature / student_temperature: ``kl``'s temperatures.
        margin_scale: ``margin-mse``: the factor on the teacher's margins.
        teacher: score the data's negatives before training (:mod:`sembridge.training.teacher`):
            ``bm25``, a dense model or a cross-encoder, ``bridge``, or ``bm25+MODEL``; cached.
        cached / mini_batch_size: CachedSpladeLoss, embedding that many texts at a time.
        paragraph_groups: batches hold at most one pair of each paragraph group
            (:mod:`sembridge.training.sampler`); off: only exact repeats are kept apart.
        lexical_weight: after training, add BM25's weights of each text's own pieces to the
            written model's vectors, this many times (:mod:`sembridge.training.lexical`, IDF
            fitted on the training documents); None: none added. A model that already has them
            trains without them and gets them back (or, with a weight, newly fitted ones).
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

    # Batch and steps
    epochs: float = field(default=1.0, metadata=flag("--epochs", "Passes over the training pairs.", TRAIN))
    max_steps: int | None = field(
        default=None,
        metadata=flag(
            "--max-steps", "Stop after N optimisation steps (overrides --epochs).", TRAIN, minimum=1
        ),
    )
    batch_size: int = field(
        default=64,
        metadata=flag(
            "--batch-size", "Pairs per process and step; in-batch negatives come from it.", TRAIN, minimum=1
        ),
    )
    grad_accum: int = field(
        default=1, metadata=flag("--grad-accum", "Gradient accumulation steps.", TRAIN, minimum=1)
    )
    max_length: int = field(
        default=512,
        metadata=flag(
            "--max-length",
            "Token limit of queries and documents in training (the written model keeps its own).",
            TRAIN,
            minimum=1,
        ),
    )
    query_max_length: int | None = field(
        default=None,
        metadata=flag(
            "--query-max-length",
            "Token limit of queries in training (default: --max-length).",
            TRAIN,
            minimum=1,
        ),
    )
    doc_max_length: int | None = field(
        default=None,
        metadata=flag(
            "--doc-max-length",
            "Token limit of documents in training (default: --max-length).",
            TRAIN,
            minimum=1,
        ),
    )
    # Optimisation
    learning_rate: float = field(default=2e-5, metadata=flag("--lr", "Peak learning rate (AdamW).", TRAIN))
    warmup_ratio: float = field(
        default=0.1, metadata=flag("--warmup-ratio", "Fraction of steps of linear LR warm-up.", TRAIN)
    )
    weight_decay: float = field(default=0.0, metadata=flag("--weight-decay", "AdamW weight decay.", TRAIN))
    temperature: float = field(
        default=1.0,
        metadata=flag("--temperature", "InfoNCE temperature (scale = 1/T); 1 = plain dot products.", TRAIN),
    )
    query_reg: float = field(
        default=5e-5, metadata=flag("--query-reg", "FLOPs weight on query vectors.", TRAIN)
    )
    doc_reg: float = field(
        default=3e-5, metadata=flag("--doc-reg", "FLOPs weight on document vectors.", TRAIN)
    )
    reg_warmup_ratio: float = field(
        default=1 / 3,
        metadata=flag(
            "--reg-warmup-ratio",
            "Fraction of steps over which the FLOPs weights rise quadratically from 0.",
            TRAIN,
            show_default="1/3",
        ),
    )
    # The loss (sembridge.training.losses)
    loss: str = field(
        default="infonce",
        metadata=flag(
            "--loss",
            "infonce (in-batch and mined negatives), or distillation of the data's teacher scores: "
            "kl, margin-mse, infonce+kl (need mined n-tuples with scores, see sembridge mine).",
            TRAIN,
        ),
    )
    teacher_temperature: float = field(
        default=1.0, metadata=flag("--teacher-temperature", "kl: the teacher scores' temperature.", TRAIN)
    )
    student_temperature: float = field(
        default=1.0, metadata=flag("--student-temperature", "kl: the student scores' temperature.", TRAIN)
    )
    teacher: str | None = field(
        default=None,
        metadata=flag(
            "--teacher",
            "Score the data's negatives with a teacher before training (cached): bm25, a dense model "
            "or cross-encoder, bridge (the model's own bridge), or bm25+MODEL (their fusion).",
            TRAIN,
        ),
    )
    margin_scale: float = field(
        default=1.0,
        metadata=flag("--margin-scale", "margin-mse: teacher margins are multiplied by this.", TRAIN),
    )
    cached: bool = field(
        default=False,
        metadata=flag(
            "--cached", "CachedSpladeLoss: a large --batch-size in the memory of --mini-batch-size.", TRAIN
        ),
    )
    mini_batch_size: int = field(
        default=32,
        metadata=flag("--mini-batch-size", "--cached: texts embedded at a time.", TRAIN, minimum=1),
    )
    paragraph_groups: bool = field(
        default=False,
        metadata=flag(
            "--paragraph-groups",
            "Never put two pairs whose positives share a paragraph in one batch (each would be the "
            "other's false in-batch negative).",
            TRAIN,
            negatable=True,
        ),
    )
    lexical_weight: float | None = field(
        default=None,
        metadata=flag(
            "--lexical-weight",
            "After training, add BM25's weights of each text's own pieces to the written model's "
            "vectors, C times (IDF fitted on the training documents; sembridge.training.lexical). "
            "Off by default; a model that has them trains without them and keeps them.",
            TRAIN,
        ),
    )
    # Set on the command line by --bf16 / --fp16 (cli/finetune.py), which exclude each other.
    precision: Precision = "fp32"
    seed: int = field(default=42, metadata=flag("--seed", "Seed of the run.", TRAIN))
    # Evaluation, checkpoints, logging
    eval_steps: int = field(
        default=500,
        metadata=flag("--eval-steps", "Evaluate every N steps (with --eval-data).", RUN, minimum=1),
    )
    save_steps: int = field(
        default=500, metadata=flag("--save-steps", "Write a checkpoint every N steps.", RUN, minimum=1)
    )
    save_total_limit: int | None = field(
        default=2, metadata=flag("--save-total-limit", "Keep at most N checkpoints.", RUN, minimum=1)
    )
    logging_steps: int = field(
        default=10, metadata=flag("--logging-steps", "Log the loss every N steps.", RUN, minimum=1)
    )
    checkpoint_dir: Path | None = field(
        default=None,
        metadata=flag("--checkpoint-dir", "Checkpoint folder (default: OUT.checkpoints beside OUT).", RUN),
    )
    resume: bool = field(
        default=False,
        metadata=flag(
            "--resume",
            "Continue from the newest complete checkpoint of an interrupted run (same settings).",
            RUN,
        ),
    )
    resume_changed: bool = field(
        default=False,
        metadata=flag(
            "--resume-changed",
            "With --resume: continue although lr, batch, steps, FLOPs weights or data differ "
            "from the checkpoint's (the new values apply from its step on; the report records both).",
            RUN,
        ),
    )
    overwrite: bool = field(
        default=False, metadata=flag("--overwrite", "Replace the output folder if it exists.")
    )
    keep_checkpoints: bool = field(
        default=False, metadata=flag("--keep-checkpoints", "Keep the checkpoints after success.", RUN)
    )
    # Hardware
    device: str = field(
        default="auto",
        metadata=flag("--device", "auto (cuda when available, else cpu), cpu, cuda or cuda:N."),
    )
    gather_across_devices: bool | None = None
    dataloader_workers: int = field(
        default=0, metadata=flag("--workers", "Data-loader worker processes.", RUN, minimum=0)
    )
    find_unused_parameters: bool = False
    # Reporting
    stats_sample_size: int = field(
        default=512,
        metadata=flag("--stats-sample", "Pairs encoded to measure FLOPs and active terms.", RUN, minimum=1),
    )
    show_progress: bool = field(
        default=True,
        metadata=flag(
            "--quiet",
            "No progress bars, sembridge's or its libraries' (as with --json).",
            RUN,
            short="-q",
            invert=True,
        ),
    )

    def __post_init__(self) -> None:
        # Each refusal is a usage error naming the flag that sets the value (--lr, not learning_rate).
        for name in ("batch_size", "grad_accum", "max_length", "eval_steps", "save_steps", "logging_steps"):
            _positive_int(_flag(name), getattr(self, name))
        for name in ("query_max_length", "doc_max_length", "max_steps", "save_total_limit"):
            if getattr(self, name) is not None:
                _positive_int(_flag(name), getattr(self, name))
        for name in ("epochs", "learning_rate", "weight_decay"):  # nan and inf refused before loading
            if not math.isfinite(getattr(self, name)):
                raise UsageError(f"{_flag(name)} must be a finite number, got {getattr(self, name)}.")
        if not self.epochs > 0:
            raise UsageError(f"{_flag('epochs')} must be > 0, got {self.epochs}.")
        if not self.learning_rate > 0:
            raise UsageError(f"{_flag('learning_rate')} must be > 0, got {self.learning_rate}.")
        if not 0 <= self.warmup_ratio < 1:
            raise UsageError(f"{_flag('warmup_ratio')} must lie in [0, 1), got {self.warmup_ratio}.")
        if self.weight_decay < 0:
            raise UsageError(f"{_flag('weight_decay')} must be >= 0, got {self.weight_decay}.")
        if not 0 <= self.reg_warmup_ratio <= 1:
            raise UsageError(f"{_flag('reg_warmup_ratio')} must lie in [0, 1], got {self.reg_warmup_ratio}.")
        if self.precision not in ("fp32", "bf16", "fp16"):  # set by --bf16 / --fp16
            raise UsageError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}.")
        if self.dataloader_workers < 0:
            raise UsageError(f"{_flag('dataloader_workers')} must be >= 0, got {self.dataloader_workers}.")
        if self.resume_changed and not self.resume:
            raise UsageError(f"{_flag('resume_changed')} needs {_flag('resume')}", hint="add --resume")
        if self.stats_sample_size < 1:
            raise UsageError(
                f"{_flag('stats_sample_size')} must be a positive integer, got {self.stats_sample_size}."
            )
        from sembridge.training.losses import check_loss_kind, check_loss_settings

        try:
            check_loss_settings(self.query_reg, self.doc_reg, self.temperature)
            check_loss_kind(
                self.loss, self.teacher_temperature, self.student_temperature, self.mini_batch_size
            )
        except SembridgeError as err:  # a loss setting out of range, refused like the others
            raise UsageError(_flag_message(err.message), hint=err.hint) from None
        if self.teacher is not None:
            from sembridge.training.losses import DISTILLATION_LOSSES
            from sembridge.training.teacher import parse_teacher

            parse_teacher(self.teacher)
            if self.loss not in DISTILLATION_LOSSES:
                raise UsageError(
                    f"--teacher scores the data for a distillation loss, and --loss is {self.loss}",
                    hint="add --loss kl, margin-mse or infonce+kl",
                )
        if not math.isfinite(self.margin_scale) or self.margin_scale <= 0:
            raise UsageError(f"{_flag('margin_scale')} must be a finite number > 0, got {self.margin_scale}.")
        if self.lexical_weight is not None:
            from sembridge.training.lexical import check_lexical_weight

            try:
                check_lexical_weight(self.lexical_weight, _flag("lexical_weight"))
            except SembridgeError as err:
                raise UsageError(err.message, hint=err.hint) from None
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


def _flag(name: str) -> str:
    """The flag that sets field ``name`` of :class:`FinetuneConfig` (``learning_rate`` -> ``--lr``)."""
    return flag_name(FinetuneConfig, name)


def _flag_message(message: str) -> str:
    """``message`` with the field it starts with (``query_reg must be ...``) named by its flag."""
    field_name, _, rest = message.partition(" ")
    if field_name in declared_flags(FinetuneConfig):
        return f"{_flag(field_name)} {rest}"
    return message


def _positive_int(flag: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{flag} must be a positive integer, got {value!r}.")


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


ALIGN = "Alignment"
ALIGN_LOSSES = ("mse", "kl")


@dataclass
class AlignOptions:
    """What ``sembridge align`` adds to the fine-tuning settings (:mod:`sembridge.training.align`)."""

    teacher: str | None = field(
        default=None,
        metadata=flag(
            "--teacher",
            "English sparse encoder whose vectors the model learns (short name, hub id or folder; "
            "default: the source the model was initialised from, read from its sembridge_init.json).",
            ALIGN,
            show_default=False,
        ),
    )
    kind: str = field(
        default="mse",
        metadata=flag(
            "--align-loss", "mse (squared error on the vectors) or kl (on the L1-normalised vectors).", ALIGN
        ),
    )
    english_weight: float = field(
        default=1.0,
        metadata=flag(
            "--english-weight",
            "Weight of the English side's own term: keeps the model's English vectors at the "
            "teacher's (0: the target side only).",
            ALIGN,
            minimum=0,
        ),
    )
    keep_weight: float = field(
        default=0.0,
        metadata=flag(
            "--keep-weight",
            "Weight of a term that keeps each translation's vector, on the columns the teacher "
            "lacks (the target-language pieces), at the model's own vector before alignment "
            "(0: none).",
            ALIGN,
            minimum=0,
        ),
    )
    english_column: str = field(
        default="english", metadata=flag("--english-column", "Field of the English text.", ALIGN)
    )
    target_column: str = field(
        default="target", metadata=flag("--target-column", "Field of its translation.", ALIGN)
    )

    def __post_init__(self) -> None:
        if self.kind not in ALIGN_LOSSES:
            raise UsageError(f"--align-loss must be one of {', '.join(ALIGN_LOSSES)}, got {self.kind!r}")
        if not (isinstance(self.english_weight, (int, float)) and 0 <= self.english_weight < float("inf")):
            raise UsageError(f"--english-weight must be a finite number >= 0, got {self.english_weight!r}")
        if not (isinstance(self.keep_weight, (int, float)) and 0 <= self.keep_weight < float("inf")):
            raise UsageError(f"--keep-weight must be a finite number >= 0, got {self.keep_weight!r}")
        if self.english_column == self.target_column:
            raise UsageError(
                f"--english-column and --target-column are both '{self.english_column}'",
                hint="name the two fields of each parallel record",
            )
