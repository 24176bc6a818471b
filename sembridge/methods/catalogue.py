"""Every initialisation method's declaration: name, summary, inputs, example command and options.

This is the one place a method's options are declared (:class:`MethodSpec`), SemBridge's
included. The library checks ``InitConfig`` against it (:func:`check_options`) and ``sembridge
init`` makes one flag per option from it (:func:`options_by_key`). It imports nothing heavy, so
the CLI reads it without loading torch; the implementations (:mod:`sembridge.methods.initializers`)
point at their spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sembridge.methods.options import MethodOption, check_method_options


@dataclass(frozen=True)
class MethodSpec:
    """A method as users see it: ``inputs`` says what it reads, ``example`` is one command."""

    name: str
    summary: str
    inputs: str = "nothing beyond the source model"
    example: str = ""
    options: tuple[MethodOption, ...] = ()


def _example(rest: str) -> str:
    return f"sembridge init -s splade-v3 -t ARBERT {rest}"


SEMBRIDGE = MethodSpec(
    "sembridge",
    "Entmax(alpha) over bridge cosine similarities to every source token (the paper's method)",
    "--bridge MODEL and --alpha (defaults: bge-m3, 4)",
    "sembridge init --source splade-v3 --target-tokenizer ARBERT --alpha 4 -o ar-splade",
    (
        MethodOption(
            "alpha",
            "--alpha",
            "float",
            "Entmax alpha (>= 1): 1 softmax, 2 sparsemax, 4 the paper's; 'auto' picks the best "
            "candidate on development pairs",
            4.0,
            minimum=1,
            hint="1 is softmax, 1.5 entmax15, 2 sparsemax; the paper uses 2 and 4; "
            "'auto' (with --dev-data) picks one",
            words=("auto",),
        ),
        MethodOption(
            "dev_data",
            "--dev-data",
            "file",
            "query/positive pairs (not the test set) on which alpha 'auto' evaluates each candidate",
        ),
        MethodOption(
            "alpha_candidates",
            "--alpha-candidates",
            "floats",
            "the alphas that alpha 'auto' tries, comma-separated (default: 1.5,2,3,4,6,8)",
            minimum=1,
            hint="each alpha must be >= 1, e.g. --alpha-candidates 2,3,4",
        ),
        MethodOption(
            "position_aware",
            "--position-aware",
            "bool",
            "each new token draws only on source tokens of its own position class "
            "(word-initial or continuation)",
            False,
        ),
        MethodOption(
            "bridge",
            "--bridge",
            "str",
            "multilingual dense bridge (sentence-transformers model): short name, hub id or folder",
            "bge-m3",
            short="-b",
        ),
        MethodOption(
            "bridge_prompt",
            "--bridge-prompt",
            "str",
            "text put before each token when embedding (default: the registry's; e5: 'query: ')",
        ),
        MethodOption(
            "bridge_backend",
            "--bridge-backend",
            "str",
            "where the bridge runs: torch, onnx, onnx-int8, openvino or openvino-int8 (not torch: "
            "on the CPU; -int8: int8 weights, faster, embeddings slightly different)",
            "torch",
            hint="onnx needs `pip install sembridge[onnx]`, openvino `pip install sembridge[openvino]`",
            words=("torch", "onnx", "onnx-int8", "openvino", "openvino-int8"),
        ),
        MethodOption("batch_size", "--batch-size", "int", "bridge encoding batch size", 256),
        MethodOption(
            "cache_dir",
            "--cache-dir",
            "folder",
            "where bridge embeddings are cached (default: $SEMBRIDGE_CACHE or ~/.cache/sembridge)",
        ),
    ),
)

RANDOM = MethodSpec(
    "random",
    "N(0, initializer_range) rows, zero bias: a freshly initialised vocabulary",
    "nothing (optional --init-std)",
    _example("--method random -o ar-random"),
    (
        MethodOption(
            "init_std",
            "--init-std",
            "float",
            "standard deviation of the random rows (default: the source config's initializer_range)",
        ),
    ),
)

MEAN = MethodSpec(
    "mean",
    "every new row (and bias) = the mean of the source rows",
    "nothing",
    _example("--method mean -o ar-mean"),
)

GAUSSIAN = MethodSpec(
    "gaussian",
    "rows drawn from the per-dimension mean and std of the source rows",
    "nothing",
    _example("--method gaussian -o ar-gaussian"),
)

MV_GAUSSIAN = MethodSpec(
    "mv-gaussian",
    "rows drawn from the mean and full covariance of the source rows",
    "nothing",
    _example("--method mv-gaussian -o ar-mvg"),
)

FOCUS = MethodSpec(
    "focus",
    "FOCUS: sparsemax over fastText similarities to the overlapping tokens",
    "--target-text FILE (target-language text, one passage per line)",
    _example("--method focus --target-text ar.txt -o ar-focus"),
    (
        MethodOption(
            "target_text",
            "--target-text",
            "file",
            "target-language text, one passage per line, to train the auxiliary fastText vectors on",
            required=True,
        ),
        MethodOption(
            "fasttext_dim", "--fasttext-dim", "int", "dimension of the auxiliary fastText vectors", 100
        ),
        MethodOption("fasttext_epochs", "--fasttext-epochs", "int", "fastText training epochs", 3),
        MethodOption(
            "fasttext_min_count",
            "--fasttext-min-count",
            "int",
            "occurrences a token needs in the text to get a fastText vector",
            10,
        ),
    ),
)

# The options OFA and WECHSEL share (top-k neighbours in a word-vector space).
TEMPERATURE = MethodOption(
    "temperature",
    "--temperature",
    "float",
    "softmax temperature over the neighbours' cosine similarities",
    0.1,
)
TOP_K = MethodOption("top_k", "--top-k", "int", "number of nearest source tokens combined", 10)
MAX_WORD_VECTORS = MethodOption(
    "max_word_vectors",
    "--max-word-vectors",
    "int",
    "read only the first (most frequent) N words of each word-vector file",
)

OFA = MethodSpec(
    "ofa",
    "OFA: softmax(cos / T) over the top-k source tokens in multilingual word-vector space",
    "--word-vectors FILE (multilingual word2vec text or binary; optional --temperature, --top-k)",
    _example("--method ofa --word-vectors multi.vec -o ar-ofa"),
    (
        MethodOption(
            "word_vectors",
            "--word-vectors",
            "file",
            "multilingual word vectors covering both languages (word2vec text or binary format)",
            required=True,
        ),
        TEMPERATURE,
        TOP_K,
        MAX_WORD_VECTORS,
    ),
)

WECHSEL = MethodSpec(
    "wechsel",
    "WECHSEL: softmax(cos / T) over the top-k source tokens in Procrustes-aligned word spaces",
    "--source-word-vectors FILE --target-word-vectors FILE --dictionary FILE",
    _example(
        "--method wechsel --source-word-vectors en.vec --target-word-vectors ar.vec "
        "--dictionary en-ar.tsv -o ar-wechsel"
    ),
    (
        MethodOption(
            "source_word_vectors",
            "--source-word-vectors",
            "file",
            "source-language (English) word vectors, word2vec text or binary format",
            required=True,
        ),
        MethodOption(
            "target_word_vectors",
            "--target-word-vectors",
            "file",
            "target-language word vectors of the same dimension, word2vec text or binary format",
            required=True,
        ),
        MethodOption(
            "dictionary",
            "--dictionary",
            "file",
            "bilingual dictionary, one 'source word<TAB>target word' pair per line",
            required=True,
        ),
        TEMPERATURE,
        TOP_K,
        MAX_WORD_VECTORS,
    ),
)

METHODS: dict[str, MethodSpec] = {
    spec.name: spec for spec in (SEMBRIDGE, RANDOM, MEAN, GAUSSIAN, MV_GAUSSIAN, FOCUS, OFA, WECHSEL)
}
DEFAULT_METHOD = SEMBRIDGE.name


def declared_options(method: str) -> tuple[MethodOption, ...]:
    """The options ``method`` reads (its ``method_options`` keys and ``sembridge init`` flags)."""
    return METHODS[method].options


def options_by_key() -> dict[str, tuple[MethodOption, list[str]]]:
    """Every declared option once, in declaration order, with the methods that use it.

    Two methods share an option (OFA and WECHSEL share ``--top-k``) by declaring the same one; a
    key declared twice with different flags or kinds is a programming error.
    """
    found: dict[str, tuple[MethodOption, list[str]]] = {}
    for spec in METHODS.values():
        for option in spec.options:
            if option.key not in found:
                found[option.key] = (option, [spec.name])
                continue
            first, owners = found[option.key]
            if (first.flag, first.kind, first.short) != (option.flag, option.kind, option.short):
                raise ValueError(f"option '{option.key}' is declared twice, differently.")
            owners.append(spec.name)
    return found


def check_options(method: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``options`` validated for ``method``, with defaults filled in (see :func:`check_method_options`)."""
    registry = {name: spec.options for name, spec in METHODS.items()}
    examples = {name: spec.example for name, spec in METHODS.items()}
    return check_method_options(method, options, registry, examples)
