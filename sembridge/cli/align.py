"""``sembridge align``: pull an adapted model towards its English source on parallel text.

The training flags are :class:`~sembridge.training.FinetuneConfig`'s (those of ``finetune``, less
the ones for its own losses and teachers); the alignment's own are declared on
:class:`~sembridge.training.align.AlignOptions`. One call to :func:`~sembridge.training.align.align`.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from sembridge.cli.finetune import run_and_report
from sembridge.cli.options import (
    JsonOutput,
    ModelDir,
    OutputDir,
    flag_parameters,
    settings_of,
    with_parameters,
)
from sembridge.training.config import ALIGN, AlignOptions, FinetuneConfig

# FinetuneConfig's fields that only finetune's own losses read.
NOT_USED = frozenset(
    {
        "loss",
        "teacher",
        "teacher_temperature",
        "student_temperature",
        "margin_scale",
        "temperature",
        "cached",
        "mini_batch_size",
        "paragraph_groups",
    }
)


def align(
    model: ModelDir,
    parallel: Annotated[
        str,
        typer.Option(
            "--parallel",
            "-p",
            help="Parallel text: a JSONL/JSON/CSV/TSV/Parquet file or folder of records with an English "
            "string and its translation (fields --english-column, --target-column).",
            rich_help_panel=ALIGN,
        ),
    ],
    output: OutputDir,
    pairs: Annotated[
        list[str] | None,
        typer.Option(
            "--pairs",
            help="Monolingual query-positive pairs (as finetune --data reads them) trained with "
            "InfoNCE + FLOPs beside the alignment; each batch comes from one set (the parallel "
            "text, or one --pairs file), in proportion to their sizes. Repeat it for one file a "
            "language, so each batch holds one language's pairs.",
            rich_help_panel=ALIGN,
        ),
    ] = None,
    eval_data: Annotated[
        str | None,
        typer.Option("--eval-data", help="Evaluation pairs, as finetune --eval-data reads them."),
    ] = None,
    json_output: JsonOutput = False,
    **settings: Any,
) -> None:
    """Align a model to its English source on parallel text (MILCO's sparse alignment).

    The frozen English teacher (by default the source of sembridge_init.json) encodes the English
    side once (cached); the model learns to give each translation the teacher's vector of its
    English string, on the columns the two vocabularies share, with the FLOPs terms. The English
    side keeps its own term (--english-weight), so an --extend model keeps its English.

    [b]Example[/]: sembridge align -m ru-en-splade -p parallel.jsonl -o ru-en-aligned --epochs 1
    """
    from sembridge.log import quiet_libraries

    values = settings_of(FinetuneConfig, settings)
    if json_output:
        values["show_progress"] = False
    if not values.get("show_progress", True):
        quiet_libraries()
    from sembridge.training.align import align as run_align

    config = FinetuneConfig(**values)
    options = AlignOptions(**settings_of(AlignOptions, settings))
    sets = pair_sets(pairs or [])
    run_and_report(
        lambda: run_align(model, parallel, output, config, options, pairs=sets, eval_data=eval_data),
        output,
        config,
        json_output,
    )


def pair_sets(paths: list[str]) -> str | dict[str, str] | None:
    """``--pairs`` as ``align`` takes it: one path, or several named by their file names (each
    its own batches), ``ru-pairs.jsonl`` -> ``ru-pairs``; a name two paths share gets their place."""
    if len(paths) < 2:
        return paths[0] if paths else None
    names = [Path(path).stem or Path(path).name for path in paths]
    return {
        (name if names.count(name) == 1 else f"{name}-{place}"): path
        for place, (name, path) in enumerate(zip(names, paths, strict=True), start=1)
    }


align.__signature__ = with_parameters(  # type: ignore[attr-defined]
    inspect.signature(align, eval_str=True),
    "eval_data",
    [*flag_parameters(AlignOptions), *flag_parameters(FinetuneConfig, exclude=NOT_USED)],
)


def register(app: typer.Typer) -> None:
    app.command("align")(align)
