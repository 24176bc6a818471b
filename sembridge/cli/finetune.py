"""``sembridge finetune``: InfoNCE + FLOPs fine-tuning on query-positive pairs, one GPU or many.

The data and training flags are declared once, on the fields of :class:`~sembridge.data.DataOptions`
and :class:`~sembridge.training.FinetuneConfig` (:mod:`sembridge.flags`); this file adds the
command's own inputs (model, data, output, evaluation data, --bf16/--fp16) and makes one call.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from sembridge.cli.options import (
    JsonOutput,
    ModelDir,
    OutputDir,
    flag_parameters,
    settings_of,
    with_parameters,
)
from sembridge.data.pairs import DATA, DataOptions
from sembridge.training.config import TRAIN, FinetuneConfig


def finetune(
    model: ModelDir,
    data: Annotated[
        str,
        typer.Option(
            "--data",
            "-d",
            help="Training pairs: a JSONL/JSON/CSV/TSV/Parquet file, a folder of them, or a hub dataset id.",
            rich_help_panel=DATA,
        ),
    ],
    output: OutputDir,
    eval_data: Annotated[
        str | None,
        typer.Option("--eval-data", help="Evaluation pairs (same forms as --data).", rich_help_panel=DATA),
    ] = None,
    eval_split: Annotated[
        str | None,
        typer.Option("--eval-split", help="Split of --eval-data (default: --split).", rich_help_panel=DATA),
    ] = None,
    bf16: Annotated[
        bool,
        typer.Option(
            "--bf16", help="bf16 mixed precision (CUDA GPU only; refused on CPU).", rich_help_panel=TRAIN
        ),
    ] = False,
    fp16: Annotated[
        bool,
        typer.Option(
            "--fp16", help="fp16 mixed precision (CUDA GPU only; refused on CPU).", rich_help_panel=TRAIN
        ),
    ] = False,
    json_output: JsonOutput = False,
    **settings: Any,
) -> None:
    """Fine-tune a SPLADE model with InfoNCE + FLOPs regularisation on query-positive pairs.

    Writes OUT (same format as [b]sembridge init[/]) with training_args.json and
    sembridge_finetune.json (loss curve, FLOPs, active terms). Checkpoints go to
    OUT.checkpoints; after a crash, run the same command with --resume.

    [b]Example[/]: sembridge finetune -m ru-model -d pairs.jsonl -o ru-model-ft --max-steps 2000

    [b]Several GPUs[/]: torchrun --nproc_per_node 4 -m sembridge finetune -m ru -d pairs.jsonl -o ft --bf16
    """
    from sembridge.log import quiet_libraries

    values = settings_of(FinetuneConfig, settings)
    if json_output:  # --json implies --quiet
        values["show_progress"] = False
    if not values.get("show_progress", True):
        quiet_libraries()  # before the libraries are imported: they read its settings then
    from sembridge.errors import UsageError
    from sembridge.training import finetune as run_finetune

    if bf16 and fp16:
        raise UsageError("--bf16 and --fp16 exclude each other", hint="choose one")
    config = FinetuneConfig(**values, precision="bf16" if bf16 else "fp16" if fp16 else "fp32")
    options = DataOptions(**settings_of(DataOptions, settings))
    eval_options = dataclasses.replace(options, split=eval_split or options.split, limit=None)
    run_and_report(
        lambda: run_finetune(
            model,
            data,
            output,
            config,
            eval_data=eval_data,
            data_options=options,
            eval_data_options=eval_options,
        ),
        output,
        config,
        json_output,
    )


def run_and_report(run: Callable[[], Any], output: Path, config: Any, json_output: bool) -> None:
    """Run a training call (``finetune``, ``align``); name the checkpoint to resume from if it is
    interrupted, and print its summary (or JSON) on the first process."""
    from sembridge.errors import Interrupted
    from sembridge.training.checkpoints import default_checkpoint_dir, resume_note

    checkpoint_dir = config.checkpoint_dir
    if checkpoint_dir is not None:  # the output folder's location is checked by the call itself
        from sembridge.io import check_output_location

        check_output_location(checkpoint_dir)
    try:
        result = run()
    except Interrupted as stop:  # the CLI's boundary names the checkpoint to resume from
        stop.detail = resume_note(checkpoint_dir or default_checkpoint_dir(output))
        raise
    from sembridge.device import is_main_process

    if result.written and is_main_process():
        from sembridge.cli.output import print_finetune_summary, print_json

        if json_output:
            print_json(dataclasses.asdict(result))
        else:
            print_finetune_summary(result)


# Typer reads the command's parameters from its signature: the flags declared on DataOptions and
# FinetuneConfig (sembridge.flags) are added after --eval-split.
finetune.__signature__ = with_parameters(  # type: ignore[attr-defined]
    inspect.signature(finetune, eval_str=True),
    "eval_split",
    [*flag_parameters(DataOptions), *flag_parameters(FinetuneConfig)],
)


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune)
