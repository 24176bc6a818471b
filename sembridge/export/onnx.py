"""The adapted encoder as an ONNX model: the SPLADE sparse vector computed inside the graph.

This module owns ``sembridge export --format onnx``. The graph takes what the tokenizer gives
(``input_ids``, ``attention_mask``, and ``token_type_ids`` when the model takes them; int64,
shape ``[batch, sequence]``, both axes dynamic) and returns ``sparse_vector`` (float32,
``[batch, vocab]``), exactly what ``SparseEncoder.encode`` returns:

    w_j(x) = pool_{i : mask_i = 1} act(logit_ij),   act(z) = log(1 + relu(z))

with ``pool`` = max (SPLADE v2 and later) or sum, and ``act`` applied twice for the
``log1p_relu`` activation (OpenSearch models), as sentence-transformers' ``SpladePooling`` does;
the logits of padding positions are multiplied by 0 before the activation.

For a plain SPLADE model queries and documents go through the same encoder, so it is exported
once and ``onnx_export.json`` says so. For an inference-free model (a ``Router`` whose query
route is a ``SparseStaticEmbedding``), the document route is exported as above and the query
side is a static weight table, ``query/weights.npy``: a query's vector is ``weights[j]`` for
every token ``j`` of the query (tokenised with no special tokens), zero elsewhere.

The export goes through ``torch.onnx.export`` with the ``torch.export``-based exporter
(``dynamo=True``; the older TorchScript tracer bakes the padding logic of transformers' masks
into the graph and gives wrong vectors). ``quantize=True`` also writes ``model_int8.onnx``,
dynamic int8 quantisation by ``onnxruntime.quantization.quantize_dynamic``. Every export is
checked before it is moved into place: ONNX Runtime and PyTorch encode the same texts and the
largest absolute difference (fp32) and the top-k agreement (int8) are recorded.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from sembridge.encoding.sparsity import mean_row_cosine, top_k_overlap
from sembridge.errors import SembridgeError
from sembridge.io import atomic_output_dir, check_output_dir, write_json
from sembridge.log import stage
from sembridge.version import library_versions

__all__ = [
    "EXPORT_FILE",
    "FP32_TOLERANCE",
    "INT8_MIN_TOP_K_OVERLAP",
    "MODEL_FILE",
    "MODEL_INT8_FILE",
    "OnnxSparseEncoder",
    "export_onnx",
]

MODEL_FILE = "model.onnx"
MODEL_INT8_FILE = "model_int8.onnx"
EXPORT_FILE = "onnx_export.json"
QUERY_WEIGHTS_FILE = "query/weights.npy"
OUTPUT_NAME = "sparse_vector"
# The fp32 graph must give PyTorch's vectors to within this (largest absolute difference).
FP32_TOLERANCE = 1e-4
# int8 weights change the values; the top terms of each vector must mostly stay (mean overlap).
INT8_MIN_TOP_K_OVERLAP = 0.5
TOP_K = 10
_CHECK_TEXT_COUNT = 8


class _SpladeGraph(torch.nn.Module):
    """Masked-LM logits -> SPLADE pooling, the computation the ONNX graph holds."""

    def __init__(self, mlm: torch.nn.Module, pooling: str, activation: str) -> None:
        super().__init__()
        self.mlm = mlm
        self.pooling = pooling
        self.twice = activation == "log1p_relu"

    def pool(self, logits: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        values = torch.log1p(torch.relu(logits * attention_mask.unsqueeze(-1).to(logits.dtype)))
        if self.twice:
            values = torch.log1p(values)
        return values.amax(dim=1) if self.pooling == "max" else values.sum(dim=1)


class _WithTypes(_SpladeGraph):
    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        logits = self.mlm(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).logits
        return self.pool(logits, attention_mask)


class _WithoutTypes(_SpladeGraph):
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.mlm(input_ids=input_ids, attention_mask=attention_mask).logits
        return self.pool(logits, attention_mask)


def _parts(encoder: Any) -> dict[str, Any]:
    """The masked-LM module, its pooling settings and (inference-free) the query weight table."""
    from sentence_transformers.sparse_encoder.modules import SparseStaticEmbedding, SpladePooling

    modules = list(encoder)
    query_table = None
    if len(modules) == 1 and hasattr(modules[0], "sub_modules"):  # a Router
        routes = {key: list(route) for key, route in modules[0].sub_modules.items()}
        query = routes.get("query", [])
        document = routes.get("document") or routes.get("passage") or routes.get("corpus", [])
        if len(query) == 1 and isinstance(query[0], SparseStaticEmbedding) and document:
            query_table = query[0]
            modules = document
        else:
            raise SembridgeError(
                f"cannot export a Router with routes {sorted(routes)} to ONNX",
                hint="ONNX export takes a SPLADE model, or an inference-free one "
                "(query: SparseStaticEmbedding, document: masked LM + SpladePooling)",
            )
    poolings = [m for m in modules if isinstance(m, SpladePooling)]
    mlm = [m for m in modules if hasattr(m, "auto_model")]
    if len(poolings) != 1 or len(mlm) != 1:
        raise SembridgeError(
            "the model is not a masked LM followed by SpladePooling, so it cannot be exported to ONNX",
            hint="give a SPLADE model folder, e.g. one written by `sembridge init` or `sembridge finetune`",
        )
    extra = [
        type(m).__name__ for m in modules if not (isinstance(m, SpladePooling) or hasattr(m, "auto_model"))
    ]
    if extra:  # e.g. LexicalWeights: the graph would leave it out and the vectors would differ
        raise SembridgeError(
            f"the model has modules the ONNX graph does not carry ({', '.join(extra)}), so its ONNX "
            "vectors would differ from the model's",
            hint="export its vectors instead (sembridge export --format jsonl and the engine formats)",
        )
    return {
        "mlm": mlm[0].auto_model,
        "tokenizer": mlm[0].tokenizer,
        "pooling": poolings[0].pooling_strategy,
        "activation": poolings[0].activation_function,
        "query_table": query_table,
        "max_seq_length": getattr(mlm[0], "max_seq_length", None),
    }


def _check_texts(tokenizer: Any, count: int = _CHECK_TEXT_COUNT) -> list[str]:
    """Deterministic texts of the model's own word pieces, of growing length, for the self-check."""
    special = set(tokenizer.all_special_ids)
    pieces = [
        token
        for token, index in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
        if index not in special and token.isalpha()
    ]
    if not pieces:
        return ["a"] * count
    step = max(1, len(pieces) // 97)
    texts = []
    for n in range(count):
        words = [pieces[(n * 31 + i * step) % len(pieces)] for i in range(3 + 5 * n)]
        texts.append(" ".join(words))
    return texts


def _ort_session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxSparseEncoder:
    """Encode texts with an exported folder and ONNX Runtime (CPU): ``[n, vocab]`` float32 arrays.

    ``int8=True`` uses ``model_int8.onnx``. Texts are tokenised with the exported tokenizer,
    cut at ``max_length`` (default: the one recorded at export).
    """

    def __init__(self, folder: str | Path, *, int8: bool = False, max_length: int | None = None) -> None:
        from transformers import AutoTokenizer

        folder = Path(folder)
        meta_path = folder / EXPORT_FILE
        if not meta_path.is_file():
            raise SembridgeError(
                f"'{folder}' has no {EXPORT_FILE}",
                hint="give a folder written by `sembridge export --format onnx`",
            )
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        name = MODEL_INT8_FILE if int8 else MODEL_FILE
        if not (folder / name).is_file():
            raise SembridgeError(
                f"'{folder}' has no {name}", hint="export with --quantize to get the int8 model"
            )
        self.session = _ort_session(folder / name)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.inputs = list(self.meta["inputs"])
        self.max_length = max_length or self.meta.get("max_length")

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Any:
        import numpy as np

        out = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            feed = {name: batch[name].astype(np.int64) for name in self.inputs}
            out.append(self.session.run([OUTPUT_NAME], feed)[0])
        return np.concatenate(out) if out else np.zeros((0, self.meta["vocab_size"]), dtype=np.float32)


def _torch_vectors(graph: _SpladeGraph, tokenizer: Any, texts: Sequence[str], inputs: list[str], max_length):
    batch = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.inference_mode():
        return graph(*[batch[name] for name in inputs]).numpy()


def export_onnx(
    model: str | Path,
    output_dir: Path,
    *,
    quantize: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Export a SPLADE model to ``output_dir``/model.onnx (+ model_int8.onnx with ``quantize``).

    The folder also holds the tokenizer files, ``onnx_export.json`` (inputs, output, pooling,
    query and document sides, the self-check figures) and, for an inference-free model, the
    query weight table. Returns the summary written to ``onnx_export.json``.
    """
    from sembridge.loading import check_model_source, load_sparse_encoder

    output_dir = Path(output_dir)
    check_output_dir(output_dir, overwrite, {"model": model})
    check_model_source(model)
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise SembridgeError(
            f"ONNX export needs onnx, onnxscript and onnxruntime ({err.name} is missing)",
            hint='pip install "sembridge[onnx]"',
        ) from err

    timings: dict[str, float] = {}
    with stage("load model", timings):
        encoder = load_sparse_encoder(model, device="cpu")
        parts = _parts(encoder)
    mlm, tokenizer = parts["mlm"], parts["tokenizer"]
    mlm = mlm.float().cpu().eval()
    accepted = set(inspect.signature(mlm.forward).parameters)
    inputs = ["input_ids", "attention_mask"]
    if "token_type_ids" in tokenizer.model_input_names and "token_type_ids" in accepted:
        inputs.append("token_type_ids")
    graph_class = _WithTypes if len(inputs) == 3 else _WithoutTypes
    graph = graph_class(mlm, parts["pooling"], parts["activation"]).eval()
    max_length = parts["max_seq_length"]
    vocab_size = int(mlm.config.vocab_size)
    texts = _check_texts(tokenizer)

    with atomic_output_dir(output_dir, overwrite) as tmp:
        with stage("export to ONNX", timings):
            _export(graph, tokenizer, inputs, tmp / MODEL_FILE, show_progress)
        tokenizer.save_pretrained(str(tmp))
        reference = _torch_vectors(graph, tokenizer, texts, inputs, max_length)
        with stage("check fp32", timings):
            fp32 = _run(tmp / MODEL_FILE, tokenizer, texts, inputs, max_length)
        max_diff = float(abs(fp32 - reference).max())
        if not math.isfinite(max_diff) or max_diff > FP32_TOLERANCE:
            raise SembridgeError(
                f"the ONNX model differs from PyTorch by {max_diff:.3g} (tolerance {FP32_TOLERANCE:g})",
                hint="nothing was written; report the model and the torch/onnxruntime versions",
            )
        checks: dict[str, Any] = {
            "texts": len(texts),
            "fp32_max_abs_diff": max_diff,
            "fp32_tolerance": FP32_TOLERANCE,
        }
        files = [MODEL_FILE]
        if quantize:
            with stage("quantize int8", timings):
                from onnxruntime.quantization import QuantType, quantize_dynamic

                with _quiet_loggers(""):  # onnxruntime advises pre-processing on the root logger
                    quantize_dynamic(
                        str(tmp / MODEL_FILE), str(tmp / MODEL_INT8_FILE), weight_type=QuantType.QInt8
                    )
                int8 = _run(tmp / MODEL_INT8_FILE, tokenizer, texts, inputs, max_length)
            checks["int8_top10_overlap"] = round(top_k_overlap(reference, int8), 4)
            checks["int8_cosine"] = round(mean_row_cosine(reference, int8), 6)
            checks["int8_min_top10_overlap"] = INT8_MIN_TOP_K_OVERLAP
            if checks["int8_top10_overlap"] < INT8_MIN_TOP_K_OVERLAP:
                raise SembridgeError(
                    f"the int8 model keeps only {checks['int8_top10_overlap']:.0%} of PyTorch's top-10 terms",
                    hint="export without --quantize (the fp32 model is exact)",
                )
            files.append(MODEL_INT8_FILE)
        sides: dict[str, Any] = {
            "document": {"file": MODEL_FILE, "kind": "SPLADE masked LM"},
            "query": {"file": MODEL_FILE, "kind": "the same encoder as documents"},
        }
        if parts["query_table"] is not None:
            _write_query_table(parts["query_table"], tmp)
            files.append(QUERY_WEIGHTS_FILE)
            sides["query"] = {
                "file": QUERY_WEIGHTS_FILE,
                "kind": "inference-free: weights[j] for every token j of the query "
                "(query/ tokenizer, no special tokens), 0 elsewhere",
            }
        summary = {
            "model": str(model),
            "output_dir": str(output_dir),
            "files": files,
            "inputs": inputs,
            "input_dtype": "int64",
            "output": OUTPUT_NAME,
            "output_shape": ["batch", vocab_size],
            "vocab_size": vocab_size,
            "max_length": max_length,
            "pooling": parts["pooling"],
            "activation": parts["activation"],
            "formula": "pool_i(act(logits_ij * mask_i)), act = log1p(relu(.))"
            + (" applied twice" if parts["activation"] == "log1p_relu" else ""),
            "sides": sides,
            "check": checks,
            "opset": _opset(tmp / MODEL_FILE),
            "timings": timings,
            "versions": {**library_versions(), **_onnx_versions()},
        }
        write_json(tmp / EXPORT_FILE, summary)
    return summary


def _export(graph: _SpladeGraph, tokenizer: Any, inputs: list[str], path: Path, show_progress: bool) -> None:
    import contextlib
    import io
    import warnings

    from torch.export import Dim

    example = tokenizer(
        ["sembridge onnx export example text", "short one"], padding=True, return_tensors="pt"
    )
    batch, sequence = Dim("batch"), Dim("sequence")
    quiet = contextlib.redirect_stdout(io.StringIO()) if not show_progress else contextlib.nullcontext()
    with quiet, warnings.catch_warnings(), _quiet_loggers("torch.onnx"):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            graph,
            tuple(example[name] for name in inputs),
            input_names=inputs,
            output_names=[OUTPUT_NAME],
            dynamic_shapes={name: {0: batch, 1: sequence} for name in inputs},
            dynamo=True,
            optimize=True,
            verbose=False,
        )
        program.save(str(path))


@contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """Only errors from these loggers while the block runs (exporters log advice as warnings)."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _run(path: Path, tokenizer: Any, texts: Sequence[str], inputs: list[str], max_length) -> Any:
    import numpy as np

    session = _ort_session(path)
    batch = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="np")
    return session.run([OUTPUT_NAME], {name: batch[name].astype(np.int64) for name in inputs})[0]


def _write_query_table(table: Any, folder: Path) -> None:
    import numpy as np

    (folder / "query").mkdir(parents=True, exist_ok=True)
    np.save(folder / QUERY_WEIGHTS_FILE, table.weight.detach().float().cpu().numpy())
    table.tokenizer.save_pretrained(str(folder / "query"))


def _opset(path: Path) -> int | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def _onnx_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for name in ("onnx", "onnxruntime", "onnxscript"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions
