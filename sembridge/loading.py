"""Every model and tokenizer sembridge loads, and the one rule for what a model argument names.

A model argument is read by :func:`locate`, in this order:

1. a short name of the registry (``splade-v3``, ``ARBERT``, ``bge-m3``...) becomes its hub id;
2. an existing local path is a local folder (``~`` is expanded);
3. a string that looks like a path (it starts with ``.``, ``/`` or ``~``, or it is not of the
   form ``name`` or ``owner/name``, e.g. it has a second ``/`` or a backslash) is a missing path;
4. anything else is a hub id.

Loading goes through the ordinary ``from_pretrained`` / ``SentenceTransformer(...)`` /
``SparseEncoder(...)`` calls, so hub ids and local paths work the way users expect; any failure
becomes a :class:`~sembridge.errors.ModelLoadError` built by :func:`load_failure`, one line
naming the id and the cause.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sembridge import hub_access
from sembridge.errors import ModelLoadError
from sembridge.registry import lookup, resolve

if TYPE_CHECKING:
    from sentence_transformers import SparseEncoder

logger = logging.getLogger("sembridge")

# A hub id: "name" or "owner/name" (letters, digits, "_", "-", "."), not starting with a dot.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# The files one of which a loadable model folder holds.
_MODEL_FILES = ("config.json", "modules.json")
# The files one of which a tokenizer transformers can load holds (fast, WordPiece, BPE, SentencePiece).
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "sentencepiece.bpe.model",
    "spiece.model",
    "tokenizer.model",
)
# The names the embedding matrix has in the checkpoints of the masked-LM families.
_EMBEDDING_SUFFIXES = ("word_embeddings.weight", "tok_embeddings.weight", "embed_tokens.weight")
# A tokenizer with fewer tokens than this share of the model's rows was not made for it: most
# rows would never be used, and the ids it does give mean other tokens.
MIN_TOKENIZER_SHARE = 0.5


@dataclass
class SourceModel:
    """A masked-LM source encoder, its tokenizer, and the SPLADE pooling it was used with."""

    name: str
    path_or_id: str
    model: Any
    tokenizer: Any
    pooling_strategy: str = "max"
    activation_function: str = "relu"
    # Inference-free sources (a Router whose query side is a SparseStaticEmbedding): the static
    # query weight of every source token, and whether that module was frozen; None otherwise.
    query_weights: Any = None
    query_frozen: bool = True

    @property
    def inference_free(self) -> bool:
        return self.query_weights is not None


@dataclass(frozen=True)
class ModelLocation:
    """What a model argument names: ``name`` as given, ``resolved`` after the registry.

    ``kind`` is ``"local"`` (an existing path), ``"hub"`` (a hub id) or ``"missing"`` (a path
    that does not exist).
    """

    name: str
    resolved: str
    kind: Literal["local", "hub", "missing"]

    @property
    def path(self) -> Path:
        return Path(self.resolved).expanduser()

    @property
    def target(self) -> str:
        """What ``from_pretrained`` is given: the expanded path, or the hub id."""
        return str(self.path) if self.kind == "local" else self.resolved

    def describe(self) -> str:
        """``'name'``, followed by the hub id when a short name was given."""
        return f"'{self.name}'" + (f" ({self.resolved})" if self.resolved != self.name else "")


def looks_like_path(text: str) -> bool:
    """A path rather than a hub id: starts with ``.``, ``/`` or ``~``, or is not ``[owner/]name``."""
    return text.startswith((".", "/", "~")) or not _HUB_ID.match(text)


def locate(name: str | Path) -> ModelLocation:
    """Apply the one rule (module docstring) to a model or tokenizer argument."""
    text = str(name)
    resolved = resolve(text)
    if resolved != text:
        return ModelLocation(text, resolved, "hub")
    if Path(text).expanduser().exists():
        return ModelLocation(text, text, "local")
    return ModelLocation(text, text, "missing" if looks_like_path(text) else "hub")


def _cause(err: BaseException, location: ModelLocation) -> str:
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    if location.kind == "hub":
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
    return f"{type(err).__name__}: {first}"[:300] if first else type(err).__name__


def load_failure(kind: str, location: ModelLocation, err: BaseException | None = None) -> ModelLoadError:
    """The one error for a model or tokenizer that could not be loaded: its id and the cause.

    ``err`` is what loading raised; without it, ``location`` must be a missing path.
    """
    if location.kind == "missing" or err is None:
        return ModelLoadError(
            f"could not load {kind} {location.describe()}: no such local folder",
            hint="check the path, or give a hub id or a short name from `sembridge models`",
        )
    cause = _cause(err, location)
    if location.kind == "hub" and "/" not in location.name and lookup(location.name) is None:
        if cause.startswith("it is "):  # a bare word: most likely a mistyped short name
            cause = "it is not a short name of the registry, " + cause.removeprefix("it is ")
    return ModelLoadError(
        f"could not load {kind} {location.describe()}: {cause}",
        hint="give a local folder, a short name from `sembridge models`, or a hub id reachable from here",
    )


def _existing(kind: str, name: str | Path) -> ModelLocation:
    """``locate(name)``, refusing a missing path before anything is loaded."""
    location = locate(name)
    if location.kind == "missing":
        raise load_failure(kind, location)
    if location.kind == "hub":  # fail at once, not after a minute of retries, without a network
        hub_access.require_hub(f"{kind} {location.describe()}", location.resolved)
    return location


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
        elif kind.endswith("Router"):
            return _router_document(path / module.get("path", ""))[:2]
        elif kind.endswith("SparseStaticEmbedding"):
            raise ModelLoadError(
                f"'{path}' is a static-embedding sparse encoder with no masked-LM encoder",
                hint="give a SPLADE model, or an inference-free Router model with a masked-LM document side",
            )
    return model_path, pooling


def _router_document(path: Path) -> tuple[Path, dict[str, Any], Path | None]:
    """For an inference-free Router folder: its document MLM folder, its SPLADE pooling config and
    the folder of its query-side SparseStaticEmbedding (None when the query side is not static)."""
    config_file = path / "router_config.json"
    if not config_file.is_file():
        raise ModelLoadError(f"Router folder '{path}' has no router_config.json", hint="save the model again")
    config = json.loads(config_file.read_text())
    types, structure = config.get("types", {}), config.get("structure", {})
    query = [m for m in structure.get("query", []) if types.get(m, "").endswith("SparseStaticEmbedding")]
    document = structure.get("document", [])
    mlm = [m for m in document if types.get(m, "").endswith(("MLMTransformer", ".Transformer"))]
    pool = [m for m in document if types.get(m, "").endswith("SpladePooling")]
    if len(query) != 1 or len(structure.get("query", [])) != 1 or len(mlm) != 1 or len(pool) != 1:
        raise ModelLoadError(
            f"'{path}' is a Router model sembridge cannot adapt: it needs a query route of one "
            "SparseStaticEmbedding and a document route of a masked-LM encoder and SpladePooling",
            hint="give a SPLADE model or an inference-free SPLADE model (OpenSearch doc models)",
        )
    pooling_file = path / pool[0] / "config.json"
    pooling = json.loads(pooling_file.read_text()) if pooling_file.is_file() else {}
    return path / mlm[0], pooling, path / query[0]


def _query_weights(query_dir: Path) -> tuple[Any, bool]:
    """The static query weights of a SparseStaticEmbedding folder (its own loader reads both its
    weight file and an ``idf.json``), and whether the module was frozen."""
    from sentence_transformers.sparse_encoder.modules import SparseStaticEmbedding

    module = SparseStaticEmbedding.load(str(query_dir))
    return module.weight.detach().float().clone(), bool(module.frozen)


def _inference_free_query(path: Path) -> Path | None:
    """The query folder when ``path`` is a sentence-transformers folder whose only module is a Router."""
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        return None
    modules = json.loads(modules_file.read_text())
    routers = [m for m in modules if m.get("type", "").endswith("Router")]
    return _router_document(path / routers[0].get("path", ""))[2] if routers else None


def _hub_router_snapshot(found: ModelLocation) -> ModelLocation:
    """A hub source whose ``modules.json`` holds a Router (an inference-free model): its files,
    fetched the ordinary way (the hub cache), as a local folder; any other hub id as it is.

    A plain SPLADE hub id loads through ``from_pretrained`` and needs nothing of this. Only
    ``modules.json`` is fetched to decide, then the repository without its ONNX/OpenVINO exports.
    """
    from huggingface_hub import hf_hub_download, snapshot_download

    try:
        modules_file = hf_hub_download(found.resolved, "modules.json")
    except Exception:  # no modules.json (a plain transformers repo), or the hub cannot be reached
        return found
    try:
        modules = json.loads(Path(modules_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return found
    if not any(str(m.get("type", "")).endswith("Router") for m in modules):
        return found
    try:
        folder = snapshot_download(found.resolved, ignore_patterns=["onnx/*", "openvino/*", "*.onnx", "*.h5"])
    except Exception as err:
        raise load_failure("source model", found, err) from err
    return ModelLocation(found.name, folder, "local")


def load_source(name: str, device: Any = "cpu") -> SourceModel:
    """Load a masked-LM sparse encoder (plain transformers folder or SparseEncoder folder).

    An inference-free SparseEncoder folder (a Router: query side SparseStaticEmbedding, document
    side masked-LM + SpladePooling) loads its document encoder as the model, and its static query
    weights as ``query_weights``.
    """
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    found = _existing("source model", name)
    location = found.target
    pooling: dict[str, Any] = {}
    # Reports name the hub id even when its files were fetched as a folder.
    path_or_id = found.resolved
    if found.kind == "hub":
        found = _hub_router_snapshot(found)
    if found.kind == "local" and found.path.is_dir():
        model_dir, pooling = _transformer_subfolder(found.path)
        location = str(model_dir)
    try:
        config = AutoConfig.from_pretrained(location)
    except Exception as err:  # OSError, ValueError, hub errors
        raise load_failure("source model", found, err) from err
    if config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        raise ModelLoadError(
            f"source {found.describe()} is a '{config.model_type}' model, not a masked-LM model",
            hint="SemBridge adapts SPLADE-style masked-LM encoders (BERT, DistilBERT, RoBERTa families)",
        )
    archs = getattr(config, "architectures", None) or []
    if archs and not any(a.endswith("ForMaskedLM") for a in archs):
        raise ModelLoadError(
            f"source {found.describe()} was saved as {', '.join(archs)}, without a masked-LM head",
            hint="a SPLADE encoder is saved as *ForMaskedLM; give such a model as --source",
        )
    if found.kind == "local" and found.path.is_dir():
        check_mlm_folder(Path(location), found.name)
    query_dir = _inference_free_query(found.path) if found.kind == "local" and found.path.is_dir() else None
    try:
        model, loading_info = AutoModelForMaskedLM.from_pretrained(location, output_loading_info=True)
        tokenizer = AutoTokenizer.from_pretrained(location)
        query_weights, query_frozen = _query_weights(query_dir) if query_dir else (None, True)
    except Exception as err:
        raise load_failure("source model", found, err) from err
    check_tokenizer_fits(tokenizer, int(model.config.vocab_size), f"source {found.describe()}")
    if query_weights is not None and query_weights.shape[0] != model.config.vocab_size:
        raise ModelLoadError(
            f"source {found.describe()} has {query_weights.shape[0]} static query weights "
            f"for a vocabulary of {model.config.vocab_size}",
            hint="its query and document sides must share one vocabulary",
        )
    # Whatever the config says, the head's weights must come from the checkpoint, not be random.
    base = f"{model.base_model_prefix}."
    head_missing = sorted(k for k in loading_info.get("missing_keys", ()) if not k.startswith(base))
    if head_missing:
        shown = ", ".join(head_missing[:3]) + (
            f" and {len(head_missing) - 3} more" if len(head_missing) > 3 else ""
        )
        raise ModelLoadError(
            f"source {found.describe()} has no masked-LM head: its checkpoint lacks {shown}",
            hint="a SPLADE encoder is saved as *ForMaskedLM; give such a model as --source",
        )
    model.to(device)
    model.eval()
    return SourceModel(
        name=name,
        path_or_id=path_or_id,
        model=model,
        tokenizer=tokenizer,
        pooling_strategy=pooling.get("pooling_strategy", "max"),
        activation_function=pooling.get("activation_function", "relu"),
        query_weights=query_weights,
        query_frozen=query_frozen,
    )


def load_tokenizer(name: str | Path, kind: str = "target tokenizer") -> Any:
    """Load a tokenizer (``kind`` names it in errors); refuse one with no vocabulary."""
    from transformers import AutoTokenizer

    found = _existing(kind, name)
    if found.kind == "local" and found.path.is_dir():
        folder = (
            _transformer_subfolder(found.path)[0] if (found.path / "modules.json").is_file() else found.path
        )
        if not has_tokenizer_files(folder):
            raise ModelLoadError(
                f"{kind} folder '{found.name}' has no tokenizer files (none of {', '.join(TOKENIZER_FILES)})",
                hint="give a folder that tokenizer.save_pretrained() wrote, or a hub id",
            )
    try:
        tokenizer = AutoTokenizer.from_pretrained(found.target)
    except Exception as err:
        raise load_failure(kind, found, err) from err
    try:
        vocab = tokenizer.get_vocab()
    except (NotImplementedError, AttributeError):
        vocab = {}
    if not vocab:
        raise ModelLoadError(
            f"{kind} {found.describe()} has no vocabulary",
            hint="give a tokenizer with a vocabulary (WordPiece, SentencePiece or byte-level BPE)",
        )
    return tokenizer


def load_bridge(name: str | Path, device: Any = "cpu", kind: str = "bridge model") -> Any:
    """Load a multilingual dense model (a bridge; ``kind`` names it in errors) with sentence-transformers."""
    from sentence_transformers import SentenceTransformer

    found = _existing(kind, name)
    try:
        return SentenceTransformer(found.target, device=str(device))
    except Exception as err:
        raise load_failure(kind, found, err) from err


def check_model_folder(path: Path, name: str) -> None:
    """Refuse a local path that cannot be a model folder: a file, no config, unreadable config, no weights."""
    if not path.is_dir():
        raise ModelLoadError(
            f"model '{name}' is a file, not a model folder", hint="pass the folder that holds config.json"
        )
    if not any((path / file).is_file() for file in _MODEL_FILES):
        raise ModelLoadError(
            f"model folder '{name}' has no config.json or modules.json",
            hint="pass a folder written by `sembridge init`/`save_pretrained`, or a SPLADE model",
        )
    for file in _MODEL_FILES:
        if (path / file).is_file():
            try:
                json.loads((path / file).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                raise ModelLoadError(
                    f"{file} of model folder '{name}' cannot be read: {err}",
                    hint="the folder is damaged: write it again, or pass another --model",
                ) from err
    patterns = ("*.safetensors", "*.bin", "*.safetensors.index.json")
    has_weights = any(any(path.glob(pattern)) for pattern in patterns)
    if not (path / "modules.json").is_file() and not has_weights:
        raise ModelLoadError(
            f"model folder '{name}' has a config.json but no weights (*.safetensors or *.bin)",
            hint="the folder is incomplete: write it again, or pass another --model",
        )
    check_mlm_folder(_transformer_subfolder(path)[0], name)


def has_tokenizer_files(folder: Path) -> bool:
    """Whether ``folder`` holds one of :data:`TOKENIZER_FILES` (a tokenizer transformers loads)."""
    return any((folder / file).is_file() for file in TOKENIZER_FILES)


def check_mlm_folder(path: Path, name: str) -> None:
    """Refuse, before loading, a masked-LM folder (a model's, or its MLM module's) that holds no
    tokenizer files, or whose ``config.json`` gives a ``vocab_size`` its weights do not have.

    transformers would build a tokenizer of a few special tokens for the first (every text
    becomes ``[UNK]``, and retrieval scores 0 with no error) and, for the second, fail with a size
    mismatch that points at a report it does not print.
    """
    if not has_tokenizer_files(path):
        raise ModelLoadError(
            f"model folder '{name}' has no tokenizer files (none of {', '.join(TOKENIZER_FILES)}"
            + (f" in '{path}'" if str(path) != str(name) else "")
            + ")",
            hint="save the tokenizer into the folder (tokenizer.save_pretrained(folder)), or pass "
            "the folder sembridge wrote",
        )
    config_file = path / "config.json"
    if not config_file.is_file():
        return
    try:
        vocab_size = json.loads(config_file.read_text(encoding="utf-8")).get("vocab_size")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return  # check_model_folder reports an unreadable config
    rows = embedding_rows(path)
    if isinstance(vocab_size, int) and rows is not None and rows != vocab_size:
        raise ModelLoadError(
            f"config.json of model folder '{name}' says vocab_size {vocab_size:,}, but its weights "
            f"have {rows:,} embedding rows",
            hint="the config and the weights come from different models: write the folder again",
        )


def embedding_rows(path: Path) -> int | None:
    """The rows of the input embedding matrix in ``path``'s safetensors weights (read from the
    file header, nothing loaded), or None when there are none to read."""
    from safetensors import safe_open

    index = path / "model.safetensors.index.json"
    files: dict[str, Path] = {}
    try:
        if index.is_file():
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
            files = {key: path / file for key, file in weight_map.items()}
        elif (path / "model.safetensors").is_file():
            with safe_open(str(path / "model.safetensors"), framework="pt") as handle:
                files = {key: path / "model.safetensors" for key in handle.keys()}  # noqa: SIM118
        for suffix in _EMBEDDING_SUFFIXES:
            key = next((k for k in files if k.endswith(suffix)), None)
            if key is not None:
                with safe_open(str(files[key]), framework="pt") as handle:
                    return int(handle.get_slice(key).get_shape()[0])
    except Exception:  # a damaged file: loading reports it
        return None
    return None


def check_tokenizer_fits(tokenizer: Any, vocab_size: int, what: str) -> None:
    """Refuse a tokenizer that gives ids past the model's ``vocab_size`` rows (an ``IndexError``
    on the first such text), or one far smaller than the vocabulary (most rows unused: a
    tokenizer of another model)."""
    size = len(tokenizer)
    if size > vocab_size:
        raise ModelLoadError(
            f"the tokenizer of {what} has {size:,} tokens, more than the model's {vocab_size:,} "
            "vocabulary rows",
            hint="the tokenizer belongs to another model: save the model's own tokenizer into the folder",
        )
    if size < MIN_TOKENIZER_SHARE * vocab_size:
        raise ModelLoadError(
            f"the tokenizer of {what} has {size:,} tokens, far fewer than the model's {vocab_size:,} "
            "vocabulary rows",
            hint="the tokenizer belongs to another model: save the model's own tokenizer into the folder",
        )


def mlm_config(model: str | Path) -> dict[str, Any] | None:
    """The ``config.json`` of a local model folder's masked LM (its MLM module's, for a
    sentence-transformers folder), read without loading anything; None for a hub id or no config."""
    found = locate(model)
    if found.kind != "local" or not found.path.is_dir():
        return None
    try:
        folder = _transformer_subfolder(found.path)[0]
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ModelLoadError):
        return None
    return config if isinstance(config, dict) else None


def check_model_source(model: str | Path) -> str:
    """What to load for a sparse-encoder argument (a folder or a hub id); refuses a missing path or
    a local folder that is not a model, before any heavy work."""
    found = _existing("model", model)
    if found.kind == "local":
        check_model_folder(found.path, found.name)
        return str(found.path)
    return found.resolved


def load_sparse_encoder(
    model: str | Path | SparseEncoder,
    device: Any = "cpu",
    *,
    require_splade: bool = False,
    trust_remote_code: bool = False,
) -> SparseEncoder:
    """A sentence-transformers SparseEncoder from a folder, a short name or a hub id (or itself).

    With ``require_splade``, refuse a model without SpladePooling (on its own or on an
    inference-free Router's document route), as fine-tuning does. Encoding and training load
    through :func:`sembridge.encoding.encode.load_encoder`, which also bounds the memory of the
    MLM logits.
    """
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SpladePooling

    if isinstance(model, SparseEncoder):
        encoder = model
    else:
        source = check_model_source(model)
        try:
            encoder = _construct(SparseEncoder, source, str(device), trust_remote_code)
        except Exception as err:  # transformers and the hub raise many types
            raise load_failure("model", locate(model), err) from err
        for module in encoder.modules():  # the MLM of a SPLADE model or of a Router's document side
            if hasattr(module, "auto_model") and getattr(module, "tokenizer", None) is not None:
                config = module.auto_model.config
                check_tokenizer_fits(module.tokenizer, int(config.vocab_size), f"model '{model}'")
    # modules() walks into a Router too: an inference-free model's document route is SPLADE.
    if require_splade and not any(isinstance(module, SpladePooling) for module in encoder.modules()):
        raise ModelLoadError(
            f"'{model}' is not a SPLADE model (it has no SpladePooling module)",
            hint="give a masked-LM SPLADE model, e.g. one written by sembridge init",
        )
    return encoder


def sembridge_modules(source: str) -> dict[str, type]:
    """The sentence-transformers modules of sembridge's own that ``source``'s ``modules.json`` names
    (``sembridge.training.lexical.LexicalWeights``), by that ``type``, imported from the installed
    package; empty when it names none or has no ``modules.json`` here."""
    import importlib

    path = Path(source).expanduser()
    modules_file = path / "modules.json" if path.is_dir() else None
    if modules_file is None or not modules_file.is_file():
        return {}
    try:
        kinds = [str(m.get("type", "")) for m in json.loads(modules_file.read_text(encoding="utf-8"))]
    except (OSError, ValueError, AttributeError):
        return {}  # sentence-transformers' own loader reports the damaged file
    found = {}
    for kind in kinds:
        module_name, _, class_name = kind.rpartition(".")
        if module_name.startswith("sembridge.") and class_name:
            try:
                found[kind] = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError) as err:
                raise ModelLoadError(
                    f"'{source}' names the module {kind}, which this sembridge does not have: {err}",
                    hint="install the sembridge version that wrote the model",
                ) from err
    return found


def _construct(model_class: Any, source: str, device: str, trust_remote_code: bool) -> Any:
    """``model_class(source)``, with sembridge's own modules resolved to the installed classes.

    sentence-transformers 6 refuses to import a module class outside its own package unless
    ``trust_remote_code`` is given. sembridge's own modules are code already installed, not code
    from the model folder, so they are passed as classes (every other type, remote code included,
    still goes through the flag). sentence-transformers 5 imports them itself.
    """
    load = getattr(model_class, "_load_with_module_classes", None)
    classes = sembridge_modules(source)
    if load is None or not classes:
        return model_class(source, device=device, trust_remote_code=trust_remote_code)
    return load(source, classes, device=device, trust_remote_code=trust_remote_code)


def bridge_prompt(name: str) -> str | None:
    """The text a registered bridge expects before each token ('query: ' for e5 models)."""
    entry = lookup(name) or lookup(resolve(name))
    return entry.prompt if entry is not None and entry.prompt else None


def save_sparse_encoder(
    model: Any,
    tokenizer: Any,
    out_dir: str | Path,
    pooling_strategy: str = "max",
    activation_function: str = "relu",
    max_seq_length: int | None = None,
    query_weights: Any = None,
    query_frozen: bool = True,
) -> None:
    """Save a masked-LM model and its tokenizer as a SPLADE SparseEncoder folder.

    The folder holds the plain ``transformers`` files at its root (so ``AutoModelForMaskedLM``
    and ``AutoTokenizer`` load it) and sentence-transformers' ``modules.json`` pinning
    MLMTransformer + SpladePooling (max pooling of log(1 + relu(logits))). With ``query_weights``
    (one per vocabulary token) it is an inference-free model instead: a Router whose query route
    is a SparseStaticEmbedding of those weights and whose document route is MLM + SpladePooling.
    """
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SpladePooling

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    mlm = _fill_mask_module(out_dir, max_seq_length)
    pooling = SpladePooling(
        pooling_strategy=pooling_strategy,
        activation_function=activation_function,
        embedding_dimension=model.config.vocab_size,
    )
    modules: list[Any] = [mlm, pooling]
    if query_weights is not None:
        from sentence_transformers.sparse_encoder.modules import Router, SparseStaticEmbedding

        static = SparseStaticEmbedding(
            mlm.tokenizer, weight=query_weights.detach().float().cpu().clone(), frozen=query_frozen
        )
        modules = [Router.for_query_document(query_modules=[static], document_modules=[mlm, pooling])]
    encoder = SparseEncoder(modules=modules, device="cpu")
    encoder.save(str(out_dir))


def _fill_mask_module(path: Path, max_seq_length: int | None) -> Any:
    """The masked-LM module: Transformer(fill-mask) in sentence-transformers >= 6, MLMTransformer in 5.x."""
    import inspect

    from sentence_transformers.sparse_encoder import modules

    kwargs = {"max_seq_length": max_seq_length} if max_seq_length else {}
    if "transformer_task" in inspect.signature(modules.Transformer.__init__).parameters:
        return modules.Transformer(str(path), transformer_task="fill-mask", **kwargs)
    return modules.MLMTransformer(str(path), **kwargs)
