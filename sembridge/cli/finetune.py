"""``sembridge finetune``: InfoNCE + FLOPs fine-tuning on query-positive pairs, one GPU or many."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from sembridge.cli.options import Device, ModelDir, OutputDir, Overwrite

DATA_PANEL = "Data"
TRAIN_PANEL = "Training"
RUN_PANEL = "Checkpoints and run"


def finetune(
    model: ModelDir,
    data: Annotated[
        str,
        typer.Option(
            "--data",
            "-d",
            help="Training pairs: a JSONL/JSON/CSV/TSV/Parquet file, a folder of them, or a hub dataset id.",
            rich_help_panel=DATA_PANEL,
        ),
    ],
    output: OutputDir,
    eval_data: Annotated[
        str | None,
        typer.Option(
            "--eval-data", help="Evaluation pairs (same forms as --data).", rich_help_panel=DATA_PANEL
        ),
    ] = None,
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            help="auto, pairs, miracl or webfaq (auto: miracl if records have positive_passages).",
            rich_help_panel=DATA_PANEL,
        ),
    ] = "auto",
    query_column: Annotated[
        str | None,
        typer.Option(
            "--query-column",
            help="Query field (default: query, question, anchor).",
            rich_help_panel=DATA_PANEL,
        ),
    ] = None,
    positive_column: Annotated[
        str | None,
        typer.Option(
            "--positive-column",
            help="Positive field (default: positive, answer, passage, document, pos).",
            rich_help_panel=DATA_PANEL,
        ),
    ] = None,
    negative_column: Annotated[
        str | None,
        typer.Option(
            "--negative-column",
            help="Hard-negative field, then required in every row (default: negative, hard_negative, neg).",
            rich_help_panel=DATA_PANEL,
        ),
    ] = None,
    negatives: Annotated[
        bool,
        typer.Option(
            "--negatives/--no-negatives",
            help="Use hard negatives when the data has them.",
            rich_help_panel=DATA_PANEL,
        ),
    ] = True,
    language: Annotated[
        str | None,
        typer.Option(
            "--language",
            help="Keep rows of this language (language/lang column); for a WebFAQ hub id its config (rus).",
            rich_help_panel=DATA_PANEL,
        ),
    ] = None,
    language_column: Annotated[
        str | None, typer.Option("--language-column", help="Language field.", rich_help_panel=DATA_PANEL)
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="Split of a hub (or saved) dataset.", rich_help_panel=DATA_PANEL)
    ] = "train",
    eval_split: Annotated[
        str | None,
        typer.Option(
            "--eval-split", help="Split of --eval-data (default: --split).", rich_help_panel=DATA_PANEL
        ),
    ] = None,
    data_config: Annotated[
        str | None,
        typer.Option("--data-config", help="Configuration of a hub dataset.", rich_help_panel=DATA_PANEL),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=1, help="Use only the first N training pairs.", rich_help_panel=DATA_PANEL
        ),
    ] = None,
    epochs: Annotated[
        float, typer.Option("--epochs", help="Passes over the training pairs.", rich_help_panel=TRAIN_PANEL)
    ] = 1.0,
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps",
            min=1,
            help="Stop after N optimisation steps (overrides --epochs).",
            rich_help_panel=TRAIN_PANEL,
        ),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            min=1,
            help="Pairs per process and step; in-batch negatives come from it.",
            rich_help_panel=TRAIN_PANEL,
        ),
    ] = 64,
    grad_accum: Annotated[
        int,
        typer.Option("--grad-accum", min=1, help="Gradient accumulation steps.", rich_help_panel=TRAIN_PANEL),
    ] = 1,
    max_length: Annotated[
        int,
        typer.Option(
            "--max-length", min=1, help="Token limit of queries and documents.", rich_help_panel=TRAIN_PANEL
        ),
    ] = 512,
    query_max_length: Annotated[
        int | None,
        typer.Option(
            "--query-max-length",
            min=1,
            help="Token limit of queries (default: --max-length).",
            rich_help_panel=TRAIN_PANEL,
        ),
    ] = None,
    doc_max_length: Annotated[
        int | None,
        typer.Option(
            "--doc-max-length",
            min=1,
            help="Token limit of documents (default: --max-length).",
            rich_help_panel=TRAIN_PANEL,
        ),
    ] = None,
    lr: Annotated[
        float, typer.Option("--lr", help="Peak learning rate (AdamW).", rich_help_panel=TRAIN_PANEL)
    ] = 2e-5,
    warmup_ratio: Annotated[
        float,
        typer.Option(
            "--warmup-ratio", help="Fraction of steps of linear LR warm-up.", rich_help_panel=TRAIN_PANEL
        ),
    ] = 0.1,
    weight_decay: Annotated[
        float, typer.Option("--weight-decay", help="AdamW weight decay.", rich_help_panel=TRAIN_PANEL)
    ] = 0.0,
    temperature: Annotated[
        float,
        typer.Option(
            "--temperature",
            help="InfoNCE temperature (scale = 1/T); 1 = plain dot products.",
            rich_help_panel=TRAIN_PANEL,
        ),
    ] = 1.0,
    query_reg: Annotated[
        float, typer.Option("--query-reg", help="FLOPs weight on query vectors.", rich_help_panel=TRAIN_PANEL)
    ] = 5e-5,
    doc_reg: Annotated[
        float,
        typer.Option("--doc-reg", help="FLOPs weight on document vectors.", rich_help_panel=TRAIN_PANEL),
    ] = 3e-5,
    reg_warmup_ratio: Annotated[
        float,
        typer.Option(
            "--reg-warmup-ratio",
            help="Fraction of steps over which the FLOPs weights rise quadratically from 0.",
            show_default="1/3",
            rich_help_panel=TRAIN_PANEL,
        ),
    ] = 1 / 3,
    bf16: Annotated[
        bool,
        typer.Option(
            "--bf16",
            help="bf16 mixed precision (CUDA GPU only; refused on CPU).",
            rich_help_panel=TRAIN_PANEL,
        ),
    ] = False,
    fp16: Annotated[
        bool,
        typer.Option(
            "--fp16",
            help="fp16 mixed precision (CUDA GPU only; refused on CPU).",
            rich_help_panel=TRAIN_PANEL,
        ),
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the run.", rich_help_panel=TRAIN_PANEL)] = 42,
    eval_steps: Annotated[
        int,
        typer.Option(
            "--eval-steps",
            min=1,
            help="Evaluate every N steps (with --eval-data).",
            rich_help_panel=RUN_PANEL,
        ),
    ] = 500,
    save_steps: Annotated[
        int,
        typer.Option(
            "--save-steps", min=1, help="Write a checkpoint every N steps.", rich_help_panel=RUN_PANEL
        ),
    ] = 500,
    save_total_limit: Annotated[
        int,
        typer.Option(
            "--save-total-limit", min=1, help="Keep at most N checkpoints.", rich_help_panel=RUN_PANEL
        ),
    ] = 2,
    logging_steps: Annotated[
        int,
        typer.Option("--logging-steps", min=1, help="Log the loss every N steps.", rich_help_panel=RUN_PANEL),
    ] = 10,
    checkpoint_dir: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint-dir",
            help="Checkpoint folder (default: OUT.checkpoints beside OUT).",
            rich_help_panel=RUN_PANEL,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue from the newest complete checkpoint of an interrupted run (same settings).",
            rich_help_panel=RUN_PANEL,
        ),
    ] = False,
    resume_changed: Annotated[
        bool,
        typer.Option(
            "--resume-changed",
            help="With --resume: continue although lr, batch, steps, FLOPs weights or data differ "
            "from the checkpoint's (the new values apply from its step on; the report records both).",
            rich_help_panel=RUN_PANEL,
        ),
    ] = False,
    keep_checkpoints: Annotated[
        bool,
        typer.Option(
            "--keep-checkpoints", help="Keep the checkpoints after success.", rich_help_panel=RUN_PANEL
        ),
    ] = False,
    overwrite: Overwrite = False,
    device: Device = "auto",
    workers: Annotated[
        int, typer.Option("--workers", min=0, help="Data-loader worker processes.", rich_help_panel=RUN_PANEL)
    ] = 0,
    stats_sample: Annotated[
        int,
        typer.Option(
            "--stats-sample",
            min=1,
            help="Pairs encoded to measure FLOPs and active terms.",
            rich_help_panel=RUN_PANEL,
        ),
    ] = 512,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="No progress bar.", rich_help_panel=RUN_PANEL)
    ] = False,
) -> None:
    """Fine-tune a SPLADE model with InfoNCE + FLOPs regularisation on query-positive pairs.

    Writes OUT (same format as [b]sembridge init[/]) with training_args.json and
    sembridge_finetune.json (loss curve, FLOPs, active terms). Checkpoints go to
    OUT.checkpoints; after a crash, run the same command with --resume.

    [b]Example[/]: sembridge finetune -m ru-model -d pairs.jsonl -o ru-model-ft --max-steps 2000

    [b]Several GPUs[/]: torchrun --nproc_per_node 4 -m sembridge finetune -m ru -d pairs.jsonl -o ft --bf16
    """
    from sembridge.data import DataOptions
    from sembridge.errors import Interrupted, SembridgeError
    from sembridge.training import FinetuneConfig
    from sembridge.training import finetune as run_finetune
    from sembridge.training.checkpoints import default_checkpoint_dir, resume_note

    if bf16 and fp16:
        raise SembridgeError("--bf16 and --fp16 exclude each other", hint="choose one")
    config = FinetuneConfig(
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        grad_accum=grad_accum,
        max_length=max_length,
        query_max_length=query_max_length,
        doc_max_length=doc_max_length,
        learning_rate=lr,
        warmup_ratio=warmup_ratio,
        weight_decay=weight_decay,
        temperature=temperature,
        query_reg=query_reg,
        doc_reg=doc_reg,
        reg_warmup_ratio=reg_warmup_ratio,
        precision="bf16" if bf16 else "fp16" if fp16 else "fp32",
        seed=seed,
        eval_steps=eval_steps,
        save_steps=save_steps,
        save_total_limit=save_total_limit,
        logging_steps=logging_steps,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        resume_changed=resume_changed,
        overwrite=overwrite,
        keep_checkpoints=keep_checkpoints,
        device=device,
        dataloader_workers=workers,
        stats_sample_size=stats_sample,
        show_progress=not quiet,
    )
    options = DataOptions(
        layout=layout,  # type: ignore[arg-type]
        query_column=query_column,
        positive_column=positive_column,
        negative_column=negative_column,
        negatives=negatives,
        language=language,
        language_column=language_column,
        split=split,
        config_name=data_config,
        limit=limit,
    )
    eval_options = DataOptions(**{**options.__dict__, "split": eval_split or split, "limit": None})
    if checkpoint_dir is not None:  # the output folder's location is checked by finetune itself
        from sembridge.io import check_output_location

        check_output_location(checkpoint_dir)
    try:
        result = run_finetune(
            model,
            data,
            output,
            config,
            eval_data=eval_data,
            data_options=options,
            eval_data_options=eval_options,
        )
    except Interrupted as stop:  # the CLI's boundary names the checkpoint to resume from
        stop.detail = resume_note(checkpoint_dir or default_checkpoint_dir(output))
        raise
    if result.written and int(os.environ.get("RANK", "0")) == 0:
        from sembridge.cli.summaries import print_finetune_summary

        print_finetune_summary(result)


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune)
