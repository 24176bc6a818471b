"""Where a bridge's transformer runs: torch, ONNX Runtime or OpenVINO, optionally int8-quantised.

``torch`` is sentence-transformers' own ``encode``. The other backends keep the loaded
sentence-transformers model for its tokenizer and its pooling modules and run only its first
module, the transformer, from an ONNX graph:

1. the graph is exported locally from the loaded model with ``torch.onnx.export`` (inputs: the
   tokenizer's ``input_ids``, ``attention_mask`` [, ``token_type_ids``]; output: the last hidden
   state), once per bridge, and cached under ``<cache>/onnx/<key>-fp32/``; nothing is downloaded;
2. ``*-int8`` backends quantise that graph's weights to int8 with ONNX Runtime's dynamic
   quantisation (activations are quantised per batch at run time), cached under ``<key>-int8/``;
3. ``onnx*`` run the graph with ONNX Runtime, ``openvino*`` compile the same graph with OpenVINO;
4. strings are sorted by their token count (longest first), so a batch pads to nearly its own
   length, and the sequence length is capped at the longest string's tokens plus the specials:
   single tokens need a handful of positions, never the model's 512;
5. the hidden states go through the model's own pooling modules (mean pooling, Normalize), and
   rows are put back in the caller's order.

sentence-transformers' own ``backend="onnx"|"openvino"`` needs ``optimum``, whose releases pin
``transformers`` below the version sembridge runs on, so these backends use ``onnxruntime`` and
``openvino`` directly (``pip install sembridge[onnx]`` / ``sembridge[openvino]``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sembridge.errors import SembridgeError

logger = logging.getLogger("sembridge")

BRIDGE_BACKENDS = ("torch", "onnx", "onnx-int8", "openvino", "openvino-int8")
# Backend -> (the package it needs, the pip extra that installs it).
_PACKAGES = {
    "onnx": ("onnxruntime", "onnx"),
    "openvino": ("openvino", "openvino"),
}
_EXPORT_FORMAT = "1"  # bump when the exported graph changes, so old cache entries are not reused
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Protobuf's limit: larger graphs keep their weights in an external data file.
_EXTERNAL_DATA_BYTES = 1_800_000_000


def check_backend(backend: str) -> str:
    """``backend`` if it is known and its runtime is installed, else a SembridgeError naming it."""
    if backend not in BRIDGE_BACKENDS:
        raise SembridgeError(
            f"unknown bridge backend {backend!r}", hint=f"choose one of: {', '.join(BRIDGE_BACKENDS)}"
        )
    if backend == "torch":
        return backend
    runtime = backend.removesuffix("-int8")
    package, extra = _PACKAGES[runtime]
    needed = [package, "onnx"]
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise SembridgeError(
            f"--bridge-backend {backend} needs the package {missing[0]}, which is not installed",
            hint=f"pip install 'sembridge[{extra}]', or use --bridge-backend torch",
        )
    return backend


def is_quantised(backend: str) -> bool:
    return backend.endswith("-int8")


def export_key(identity: str) -> str:
    """The cache folder name of one bridge's exported graph (its identity: path and weights' dates)."""
    digest = hashlib.sha256(json.dumps([identity, _EXPORT_FORMAT, torch.__version__]).encode())
    return digest.hexdigest()[:24]


class _HiddenStates(torch.nn.Module):
    """The transformer of a sentence-transformers model as a plain ``inputs -> last hidden state``."""

    def __init__(self, model: torch.nn.Module, names: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.names = tuple(names)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs, strict=True)), return_dict=True).last_hidden_state


def _input_names(model: Any) -> list[str]:
    probe = model.tokenizer(["a b"], return_tensors="pt")
    return [name for name in _INPUTS if name in probe]


def export_onnx(model: Any, folder: Path) -> Path:
    """Export the transformer of the sentence-transformers ``model`` to ``folder/model.onnx``."""
    from sembridge.io import atomic_output_dir

    path = folder / "model.onnx"
    if path.is_file():
        return path
    names = _input_names(model)
    transformer = model[0]
    hf_model = transformer.model if hasattr(transformer, "model") else transformer.auto_model
    wrapper = _HiddenStates(hf_model, names).eval().cpu()
    probe = model.tokenizer(["a b", "c"], padding=True, return_tensors="pt")
    inputs = tuple(probe[name] for name in names)
    axes = {name: {0: "batch", 1: "length"} for name in (*names, "last_hidden_state")}
    logger.info("exporting the bridge's transformer to ONNX (once per bridge): %s", path)
    with atomic_output_dir(folder, overwrite=True) as tmp, torch.no_grad():
        torch.onnx.export(
            wrapper,
            inputs,
            str(tmp / "model.onnx"),
            input_names=list(names),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed; >2 GB goes to external data
        )
    return path


def quantise_onnx(source: Path, folder: Path) -> Path:
    """``source`` with its weights dynamically quantised to int8, written to ``folder/model.onnx``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from sembridge.io import atomic_output_dir

    path = folder / "model.onnx"
    if path.is_file():
        return path
    logger.info("quantising the bridge's ONNX graph to int8 (once per bridge): %s", path)
    large = sum(f.stat().st_size for f in source.parent.iterdir()) > _EXTERNAL_DATA_BYTES
    with atomic_output_dir(folder, overwrite=True) as tmp:
        quantize_dynamic(
            str(source),
            str(tmp / "model.onnx"),
            weight_type=QuantType.QInt8,
            use_external_data_format=large,
        )
    return path


class OnnxBridgeRunner:
    """Embeds strings with a sentence-transformers model whose transformer runs from an ONNX graph.

    ``model`` is the loaded SentenceTransformer (tokenizer and pooling modules are used as they
    are); ``graph`` the exported (possibly quantised) graph; ``backend`` one of the ``onnx*`` or
    ``openvino*`` names.
    """

    def __init__(self, model: Any, graph: Path, backend: str) -> None:
        self.model = model
        self.backend = backend
        self.names = _input_names(model)
        if backend.startswith("openvino"):
            import openvino as ov

            compiled = ov.Core().compile_model(str(graph), "CPU")
            request = compiled.create_infer_request()
            output = compiled.output(0)

            def run(feed: dict[str, np.ndarray]) -> np.ndarray:
                return np.asarray(request.infer(feed)[output])

        else:
            import onnxruntime as ort

            session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])

            def run(feed: dict[str, np.ndarray]) -> np.ndarray:
                return session.run(["last_hidden_state"], feed)[0]

        self._run = run

    def encode(
        self, texts: Sequence[str], prompt: str = "", batch_size: int = 256, show_progress: bool = False
    ) -> torch.Tensor:
        """Unit-length float32 embeddings ``[len(texts), dim]`` in the order of ``texts``."""
        from sembridge.log import progress

        prompted = [prompt + text for text in texts]
        tokenizer = self.model.tokenizer
        lengths = [len(ids) for ids in tokenizer(prompted, add_special_tokens=True)["input_ids"]]
        order = sorted(range(len(prompted)), key=lambda i: -lengths[i])
        cap = min(max(lengths), self.model.max_seq_length or max(lengths))
        extra: dict[str, torch.Tensor] = {}
        modules = list(self.model)[1:]
        if prompt and any(getattr(m, "include_prompt", True) is False for m in modules):
            prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
            extra["prompt_length"] = torch.tensor(len(prompt_ids) - 1)
        rows: list[torch.Tensor] = []
        with progress(disable=not show_progress) as bar:
            task = bar.add_task(f"bridge ({self.backend})", total=len(prompted))
            for start in range(0, len(order), batch_size):
                batch = [prompted[i] for i in order[start : start + batch_size]]
                encoded = tokenizer(batch, padding=True, truncation=True, max_length=cap, return_tensors="np")
                feed = {name: encoded[name].astype(np.int64) for name in self.names}
                hidden = torch.from_numpy(self._run(feed)).float()
                features: dict[str, Any] = {
                    "token_embeddings": hidden,
                    "attention_mask": torch.from_numpy(feed["attention_mask"]),
                    **extra,
                }
                for module in modules:
                    features = module(features)
                rows.append(features["sentence_embedding"].float())
                bar.advance(task, len(batch))
        embeddings = torch.nn.functional.normalize(torch.cat(rows), dim=1)
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        return embeddings[inverse].contiguous()


def onnx_runner(model: Any, backend: str, cache_dir: Path, identity: str) -> OnnxBridgeRunner:
    """An :class:`OnnxBridgeRunner` for ``backend``, exporting (and quantising) the graph on first use."""
    check_backend(backend)
    key = export_key(identity)
    graph = export_onnx(model, cache_dir / "onnx" / f"{key}-fp32")
    if is_quantised(backend):
        graph = quantise_onnx(graph, cache_dir / "onnx" / f"{key}-int8")
    return OnnxBridgeRunner(model, graph, backend)
