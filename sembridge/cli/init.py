"""``sembridge init``: build a target-language sparse encoder from an English one.

The options every method shares are declared here. Each method option (``--alpha``, ``--bridge``,
``--top-k``, ...) is a flag made, help included, from its declaration in
:mod:`sembridge.methods.catalogue`: the command's signature is extended with one
``Annotated[type, typer.Option(...)]`` parameter per declared option (Typer's public API only).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from sembridge.cli.options import Device, JsonOutput, OutputDir, Overwrite, Quiet, Seed, with_parameters
from sembridge.methods import DEFAULT_METHOD, METHODS, MethodOption, options_by_key

BASELINES = "Baseline methods (see --method)"
METHOD_HELP = "How the rows of new tokens are built. " + "; ".join(
    f"{spec.name}: {spec.summary}" for spec in METHODS.values()
)
EXAMPLES = [
    "sembridge init -s naver/splade-v3 -t ./my-tokenizer --bridge multilingual-minilm --fuzzy -o out",
    *(spec.example for spec in METHODS.values()),
    "sembridge init -s splade-v3 -t rubert --extend -o ru-en-splade",
    "sembridge init -s splade-v3 -t ./ru-tok -t ./zh-tok -t ./ar-tok --extend -o multi-splade",
    "sembridge init -s ./inference-free-model -t rubert --query-weights idf --target-text ru.txt -o ru-if",
]
HELP = """Initialise a target-language sparse encoder with SemBridge (or a baseline) and write it to --output.

The folder loads in transformers (AutoModelForMaskedLM, AutoTokenizer) and in
sentence-transformers' SparseEncoder; sembridge_init.json records how each token was built.
Every --method shares the loading, overlap copying, MLM-head remapping and output format:
only the rows of new tokens differ. A method's options are refused for the other methods.

[b]Examples[/], one per method

""" + "\n\n".join(f"  {example}" for example in EXAMPLES)

_TYPES: dict[str, type] = {
    "file": Path,
    "folder": Path,
    "str": str,
    "float": float,
    "int": int,
    "floats": str,  # checked and split by the declaration
    "bool": bool,
}


def init(
    source: Annotated[
        str, typer.Option("--source", "-s", help="Source sparse encoder: short name, hub id or folder.")
    ],
    target_tokenizer: Annotated[
        list[str],
        typer.Option(
            "--target-tokenizer",
            "-t",
            help="Target-language tokenizer: short name, hub id or folder. With --extend, give it once "
            "per language (-t ru-tok -t zh-tok): one model for all of them.",
        ),
    ],
    output: OutputDir,
    method: Annotated[str, typer.Option("--method", help=METHOD_HELP)] = DEFAULT_METHOD,
    exact: Annotated[
        bool, typer.Option("--exact/--no-exact", help="Copy rows of tokens whose canonical form matches.")
    ] = True,
    symbols: Annotated[
        bool,
        typer.Option(
            "--symbols/--no-symbols", help="Match numbers and punctuation ignoring the word-start mark."
        ),
    ] = True,
    fuzzy: Annotated[
        bool, typer.Option("--fuzzy/--no-fuzzy", help="Also match ignoring case and the word-start mark.")
    ] = False,
    extend: Annotated[
        bool,
        typer.Option(
            "--extend",
            help="Keep every source token and add the target's new ones: one model for English and "
            "the target language (WordPiece source and target only).",
        ),
    ] = False,
    query_weights: Annotated[
        str | None,
        typer.Option(
            "--query-weights",
            metavar="combine|idf",
            help="Inference-free sources: static query weights copied and combined like the rows "
            "(combine, the default), or recomputed as IDF (idf) on the text of --target-text.",
        ),
    ] = None,
    device: Device = "auto",
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="New tokens per similarity chunk (bounds memory).")
    ] = 1024,
    seed: Seed = 42,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
    **method_options: Any,
) -> None:
    """Run ``sembridge init``; ``method_options`` holds one value (or None) per declared method option."""
    from sembridge.log import quiet_libraries

    if quiet or json_output:
        quiet_libraries()  # before the libraries are imported: they read its settings then
    from sembridge.cli.output import print_init_summary, print_json
    from sembridge.init.pipeline import InitConfig, initialize
    from sembridge.io import check_output_dir

    config = InitConfig(
        source=source,
        target_tokenizer=target_tokenizer if len(target_tokenizer) > 1 else target_tokenizer[0],
        method=method,
        device=device,
        exact=exact,
        symbols=symbols,
        fuzzy=fuzzy,
        seed=seed,
        chunk_size=chunk_size,
        show_progress=not (quiet or json_output),
        extend=extend,
        query_weights=query_weights,
        method_options=method_options,
    )
    check_output_dir(output, overwrite, config.inputs())
    result = initialize(config, output_dir=output, overwrite=overwrite)
    if json_output:  # the summary and settings of sembridge_init.json (its token records stay in the file)
        print_json({"output": str(output), **{k: result.report[k] for k in ("summary", "settings")}})
        return
    print_init_summary(result.report, output)


def option_parameter(option: MethodOption, owners: list[str]) -> inspect.Parameter:
    """The command parameter of one declared method option: ``--flag``, help naming its methods."""
    default = option.default
    shown = f"{default:g}" if isinstance(default, float) else default
    if isinstance(default, bool):
        shown = "on" if default else "off"
    text = f"{', '.join(owners)}: {option.help}." + (f" [default: {shown}]" if default is not None else "")
    names = (option.flag, option.short) if option.short else (option.flag,)
    if option.kind == "bool":  # --flag/--no-flag
        names = (f"{option.flag}/--no-{option.flag.removeprefix('--')}",)
    flag = typer.Option(
        *names,
        help=text.replace("[", "\\["),
        metavar=(
            "|".join((option.metavar, *option.words))
            # A text option's words are its choices, listed in its help (--bridge-backend).
            if (option.words and option.kind != "str") or option.kind in ("file", "folder", "floats")
            else None
        ),
        rich_help_panel=None if DEFAULT_METHOD in owners else BASELINES,
    )
    kind = str if option.words else _TYPES[option.kind]  # a number or a word (--alpha auto)
    annotation = Annotated[kind | None, flag]  # type: ignore[valid-type]
    return inspect.Parameter(option.key, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)


def with_method_flags(signature: inspect.Signature) -> inspect.Signature:
    """``signature`` with one flag per declared method option after ``--method``, instead of ``**``."""
    flags = [option_parameter(option, owners) for option, owners in options_by_key().values()]
    return with_parameters(signature, "method", flags)


# Typer reads the command's parameters from its signature: the declared method options are added.
init.__signature__ = with_method_flags(inspect.signature(init, eval_str=True))  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    app.command("init", no_args_is_help=True, help=HELP)(init)
