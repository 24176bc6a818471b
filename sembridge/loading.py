"""Load source models, target tokenizers and bridges from short names, hub ids or local folders.

Loading goes through the ordinary ``from_pretrained`` / ``SentenceTransformer(...)`` calls, so
hub ids and local paths work the way users expect; any failure becomes a
:class:`~sembridge.errors.ModelLoadError` naming the id and the cause.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sembridge.errors import ModelLoadError
from sembridge.registry import lookup, resolve

logger = logging.getLogger("sembridge")


@dataclass
class SourceModel:
    """A masked-LM source encoder, its tokenizer, and the SPLADE pooling it was used with."""

    name: str
    path_or_id: str
    model: Any
    tokenizer: Any
    pooling_strategy: str = "max"
    activation_function: str = "relu"


def _looks_local(name: str) -> bool:
    """A path rather than a hub id ("owner/name" has exactly one slash and no leading dot or slash)."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name


def _describe(name: str, resolved: str) -> str:
    return f"'{name}'" + (f" ({resolved})" if resolved != name else "")


def _cause(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    lowered = str(err).lower()
    if (
        "couldn't connect" in lowered
        or "offline" in lowered
        or "name or service" in lowered
        or "connection" in lowered
    ):
        return "it is not a local folder and the model hub is not reachable"
    if (
        "is not a local folder and is not a valid model identifier" in lowered
        or "repository not found" in lowered
    ):
        return "it is neither a local folder nor a model id on the hub"
    return text[:300]


def load_failure(kind: str, name: str, resolved: str, err: BaseException) -> ModelLoadError:
    """A one-line error for a model that could not be loaded."""
    if _looks_local(resolved) and not Path(resolved).expanduser().exists():
        return ModelLoadError(
            f"cannot load {kind} {_describe(name, resolved)}: no such local folder",
            hint="check the path, or give a hub id or a short name from `sembridge models`",
        )
    cause = _cause(err)
    if "/" not in name and lookup(name) is None and cause.startswith("it is "):
        # A bare word: most likely a mistyped short name.
        cause = "it is not a short name of the registry, " + cause.removeprefix("it is ")
    return ModelLoadError(
        f"cannot load {kind} {_describe(name, resolved)}: {cause}",
        hint="give a local folder, a short name from `sembridge models`, or a hub id reachable from here",
    )


def _transformer_subfolder(path: Path) -> tuple[Path, dict[str, Any]]:
    """For a sentence-transformers folder, the folder of its MLM module and its SPLADE pooling config."""
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        return path, {}
    modules = json.loads(modules_file.read_text())
    model_path, pooling = path, {}
    for module in modules:
        kind = module.get("type", "")
        if kind.endswith(("MLMTransformer", ".Transformer")):
            model_path = path / module.get("path", "")
        elif kind.endswith("SpladePooling"):
            config = path / module.get("path", "") / "config.json"
            if config.is_file():
                pooling = json.loads(config.read_text())
        elif kind.endswith(("Router", "SparseStaticEmbedding")):
            raise ModelLoadError(
                f"'{path}' is an inference-free (Router / SparseStaticEmbedding) sparse encoder",
                hint="use its document encoder's masked-LM folder as --source",
            )
    return model_path, pooling


def load_source(name: str, device: Any = "cpu") -> SourceModel:
    """Load a masked-LM sparse encoder (plain transformers folder or SparseEncoder folder)."""
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    resolved = resolve(name)
    location: str = resolved
    pooling: dict[str, Any] = {}
    local = Path(resolved).expanduser()
    if local.is_dir():
        model_dir, pooling = _transformer_subfolder(local)
        location = str(model_dir)
    try:
        config = AutoConfig.from_pretrained(location)
    except Exception as err:  # OSError, ValueError, hub errors
        raise load_failure("source model", name, resolved, err) from err
    if config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        raise ModelLoadError(
            f"source {_describe(name, resolved)} is a '{config.model_type}' model, not a masked-LM model",
            hint="SemBridge adapts SPLADE-style masked-LM encoders (BERT, DistilBERT, RoBERTa families)",
        )
    archs = getattr(config, "architectures", None) or []
    if archs and not any(a.endswith("ForMaskedLM") for a in archs):
        raise ModelLoadError(
            f"source {_describe(name, resolved)} was saved as {', '.join(archs)}, without a masked-LM head",
            hint="a SPLADE encoder is saved as *ForMaskedLM; give such a model as --source",
        )
    try:
        model = AutoModelForMaskedLM.from_pretrained(location)
        tokenizer = AutoTokenizer.from_pretrained(location)
    except Exception as err:
        raise load_failure("source model", name, resolved, err) from err
    model.to(device)
    model.eval()
    return SourceModel(
        name=name,
        path_or_id=resolved,
        model=model,
        tokenizer=tokenizer,
        pooling_strategy=pooling.get("pooling_strategy", "max"),
        activation_function=pooling.get("activation_function", "relu"),
    )


def load_tokenizer(name: str) -> Any:
    """Load a target-language tokenizer; refuse one with no vocabulary."""
    from transformers import AutoTokenizer

    resolved = resolve(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved)
    except Exception as err:
        raise load_failure("target tokenizer", name, resolved, err) from err
    try:
        vocab = tokenizer.get_vocab()
    except (NotImplementedError, AttributeError):
        vocab = {}
    if not vocab:
        raise ModelLoadError(
            f"target tokenizer {_describe(name, resolved)} has no vocabulary",
            hint="give a tokenizer with a vocabulary (WordPiece, SentencePiece or byte-level BPE)",
        )
    return tokenizer


def load_bridge(name: str, device: Any = "cpu") -> Any:
    """Load a multilingual dense bridge as a sentence-transformers model."""
    from sentence_transformers import SentenceTransformer

    resolved = resolve(name)
    try:
        return SentenceTransformer(resolved, device=str(device))
    except Exception as err:
        raise load_failure("bridge model", name, resolved, err) from err


def bridge_prompt(name: str) -> str | None:
    """The text a registered bridge expects before each token ('query: ' for e5 models)."""
    entry = lookup(name) or lookup(resolve(name))
    return entry.prompt if entry is not None and entry.prompt else None
