"""The settings of one initialisation (:class:`InitConfig`) and what it returns (:class:`InitResult`).

Every value is checked when the config is built, before any model is loaded: the shared settings
here, the method's own options by their declarations (:mod:`sembridge.methods.catalogue`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sembridge.errors import SembridgeError, UsageError
from sembridge.init.alpha_search import check_alpha_options, is_auto
from sembridge.init.query_weights import check_query_weights
from sembridge.methods import DEFAULT_METHOD, METHODS, check_options, declared_options
from sembridge.methods.base import NewRows
from sembridge.vocab import Overlap

__all__ = ["InitConfig", "InitResult", "TargetRows"]


@dataclass(init=False)
class InitConfig:
    """Settings of one initialisation: those every method shares, and the chosen method's options.

    ``method_options`` holds the options the method declares (``declared_options`` in
    :mod:`sembridge.methods`) by key. They may also be given as keywords, as the ``sembridge init``
    flags give them: ``InitConfig(source=..., target_tokenizer=..., bridge="bge-m3", alpha=4)``.
    An option the method does not use is refused with the CLI's message; defaults are filled in,
    so ``method_options`` ends up holding every value the method will read.
    """

    source: str
    target_tokenizer: str | list[str]
    method: str
    device: str
    exact: bool
    symbols: bool
    fuzzy: bool
    seed: int
    chunk_size: int
    top_sources: int
    show_progress: bool
    extend: bool
    query_weights: str | None
    target_text: str | None
    method_options: dict[str, Any]

    def __init__(
        self,
        source: str,
        target_tokenizer: str | Sequence[str],
        method: str = DEFAULT_METHOD,
        *,
        device: str = "auto",
        exact: bool = True,
        symbols: bool = True,
        fuzzy: bool = False,
        seed: int = 42,
        chunk_size: int = 1024,
        top_sources: int = 10,
        show_progress: bool = True,
        extend: bool = False,
        query_weights: str | None = None,
        method_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        if method not in METHODS:
            raise UsageError(f"--method must be one of {', '.join(sorted(METHODS))}, got {method!r}")
        # Named by the flag that sets them (top_sources has none: the report's source-token lists).
        for name, value in (("--chunk-size", chunk_size), ("top_sources", top_sources)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**64:
            raise UsageError(f"--seed must be an integer in [-2**63, 2**64), got {seed!r}")
        given = dict(method_options or {})
        twice = sorted(set(given) & set(options))
        if twice:
            raise SembridgeError(
                f"method option '{twice[0]}' is given twice",
                hint="give it as a keyword or in method_options, not both",
            )
        self.source = source
        if isinstance(target_tokenizer, (list, tuple)):
            targets = [str(t) for t in target_tokenizer]
            if not targets:
                raise UsageError("give at least one --target-tokenizer")
            if len(set(targets)) < len(targets):
                raise UsageError(f"--target-tokenizer is given twice: {', '.join(targets)}")
            if len(targets) > 1 and not extend:
                raise UsageError(
                    f"several --target-tokenizer ({', '.join(targets)}) need --extend: one model "
                    "holds several languages' pieces only next to the source's"
                )
            self.target_tokenizer = targets if len(targets) > 1 else targets[0]
        else:
            self.target_tokenizer = target_tokenizer
        self.method = method
        self.device = device
        self.exact = exact
        self.symbols = symbols
        self.fuzzy = fuzzy
        self.seed = seed
        self.chunk_size = chunk_size
        self.top_sources = top_sources
        self.show_progress = show_progress
        self.extend = bool(extend)
        merged = {**given, **options}
        # --target-text is FOCUS's input and --query-weights idf's: shared when the method lacks it.
        uses_text = any(o.key == "target_text" for o in declared_options(method))
        shared_text = None if uses_text else merged.pop("target_text", None)
        # Refuses options the method does not use, names a missing required input, fills in defaults.
        self.method_options = check_options(method, merged)
        if shared_text is not None:
            shared_text = str(Path(shared_text).expanduser())
        self.target_text = self.method_options.get("target_text") if uses_text else shared_text
        self.query_weights = check_query_weights(query_weights, self.target_text, uses_text)
        if "alpha" in self.method_options:
            check_alpha_options(self.method_options)  # --alpha auto needs --dev-data, and only it
            if len(self.target_tokenizers) > 1 and is_auto(self.method_options):
                raise UsageError(
                    "--alpha auto chooses on one language's --dev-data; with several "
                    "--target-tokenizer give a number (--alpha 4)"
                )

    @property
    def target_tokenizers(self) -> list[str]:
        """The target tokenizers in the order given (one, unless several extend one model)."""
        given = self.target_tokenizer
        return list(given) if isinstance(given, list) else [given]

    def inputs(self) -> dict[str, Any]:
        """What the run reads from disk, by role: an output must stay apart from each
        (:func:`sembridge.io.check_apart`). Hub ids and short names that are not paths are skipped there."""
        from sembridge.cache import default_cache_dir

        found: dict[str, Any] = {"source": self.source}
        for number, target in enumerate(self.target_tokenizers, 1):
            found["target tokenizer" if number == 1 else f"target tokenizer {number}"] = target
        found["target text"] = self.target_text
        for option in declared_options(self.method):
            value = self.method_options.get(option.key)
            if option.kind in ("file", "folder", "str") and isinstance(value, (str, Path)):
                found[option.flag] = value
        if any(o.key == "cache_dir" for o in declared_options(self.method)):
            found["bridge cache"] = self.method_options.get("cache_dir") or default_cache_dir()
        return found


@dataclass
class TargetRows:
    """One target tokenizer of a run: its name as given, the tokenizer, its overlap and new rows."""

    name: str
    tokenizer: Any
    overlap: Overlap
    new_rows: NewRows


@dataclass
class InitResult:
    """What :func:`~sembridge.init.initialize` built: the model and tokenizer (in memory, written to
    ``output_dir`` when one was given), the overlap, the new rows and ``sembridge_init.json``'s report.

    With several target tokenizers (``--extend``), ``overlap`` and ``new_rows`` are the first
    target's and ``targets`` lists each target's."""

    model: Any
    tokenizer: Any
    overlap: Overlap
    new_rows: NewRows
    report: dict[str, Any]
    output_dir: Path | None = None
    # Inference-free sources: the static query weight of every output token.
    query_weights: torch.Tensor | None = None
    # Every target tokenizer's overlap and rows, in the order given (``overlap`` and
    # ``new_rows`` above are the first's); one entry unless several extend one model.
    targets: list[TargetRows] = field(default_factory=list)
