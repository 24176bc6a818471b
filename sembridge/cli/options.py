"""Options shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

OutputDir = Annotated[
    Path, typer.Option("--output", "-o", help="Folder to write. Refused if it exists, unless --overwrite.")
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace the output folder if it exists.")]
Device = Annotated[
    str, typer.Option("--device", help="auto (cuda when available, else cpu), cpu, cuda or cuda:N.")
]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Batch size for encoding.")]
CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Where bridge embeddings are cached. Default: $SEMBRIDGE_CACHE or ~/.cache/sembridge.",
    ),
]
Seed = Annotated[
    int, typer.Option("--seed", help="Random seed (local generator; the global state is untouched).")
]
ModelDir = Annotated[
    str, typer.Option("--model", "-m", help="A model folder written by sembridge (or any SPLADE model).")
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
EncodeDevices = Annotated[
    str,
    typer.Option(
        "--device",
        help="auto, cpu, cuda or cuda:N; a comma-separated list (cuda:0,cuda:1) encodes in parallel.",
    ),
]
Processes = Annotated[
    int,
    typer.Option("--processes", min=1, help="Encoding processes on the one --device (multi-process pool)."),
]
MaxLength = Annotated[
    int | None,
    typer.Option("--max-length", min=1, help="Truncate texts to this many tokens (default: the model's)."),
]
