"""ONNX export: ONNX Runtime gives PyTorch's sparse vectors on real Russian text.

The model is the real SPLADE-tiny adapted to a Russian WordPiece tokenizer with the real e5-small
bridge (its embeddings are cached in the offline cache after the first run); the texts are the
real test queries and documents of ``make data`` (``quality/ru/test``), or Russian words of the
tokenizer when that set has not been built.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from sembridge.errors import OutputExistsError, SembridgeError  # noqa: E402
from sembridge.export.onnx import (  # noqa: E402
    EXPORT_FILE,
    FP32_TOLERANCE,
    INT8_MIN_TOP_K_OVERLAP,
    MODEL_FILE,
    MODEL_INT8_FILE,
    OnnxSparseEncoder,
    export_onnx,
)
from sembridge.init.pipeline import InitConfig, initialize  # noqa: E402

pytestmark = pytest.mark.e2e


def _ru_texts(offline_cache: Path, tokenizer_dir: Path) -> list[str]:
    test = offline_cache / "quality" / "ru" / "test"
    texts: list[str] = []
    for name, field in (("queries.jsonl", "text"), ("corpus.jsonl", "text")):
        if (test / name).is_file():
            with open(test / name, encoding="utf-8") as handle:
                for line, _ in zip(handle, range(24), strict=False):
                    texts.append(json.loads(line)[field])
    if texts:
        return texts
    vocab = json.loads((tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    words = [w for w in vocab if w.isalpha() and "а" <= w[0].lower() <= "я"]
    return [" ".join(words[i : i + 3 + i % 9]) for i in range(0, 480, 20)]


@pytest.fixture(scope="module")
def ru_model(tmp_path_factory, splade_tiny, ru_tokenizer, e5_bridge, offline_cache) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "ru-splade"
    config = InitConfig(
        source=str(splade_tiny),
        target_tokenizer=str(ru_tokenizer),
        bridge=str(e5_bridge),
        alpha=4.0,
        device="cpu",
        cache_dir=str(offline_cache),
        show_progress=False,
    )
    initialize(config, output_dir=out)
    return out


@pytest.fixture(scope="module")
def exported(ru_model, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("onnx") / "ru-onnx"
    summary = export_onnx(ru_model, out, quantize=True, show_progress=False)
    return out, summary


@pytest.fixture(scope="module")
def texts(offline_cache, ru_tokenizer) -> list[str]:
    return _ru_texts(offline_cache, ru_tokenizer)


@pytest.fixture(scope="module")
def torch_vectors(ru_model, texts) -> np.ndarray:
    from sentence_transformers import SparseEncoder

    encoder = SparseEncoder(str(ru_model), device="cpu")
    return encoder.encode(texts, batch_size=8, convert_to_tensor=True).to_dense().numpy()


def test_fp32_onnx_equals_pytorch_on_real_text(exported, texts, torch_vectors):
    out, _ = exported
    onnx = OnnxSparseEncoder(out).encode(texts, batch_size=8)
    assert onnx.shape == torch_vectors.shape == (len(texts), 8000)
    assert (torch_vectors > 0).sum(1).mean() > 5  # real vectors, not empty ones
    assert float(np.abs(onnx - torch_vectors).max()) <= FP32_TOLERANCE
    # The same active terms (a weight that is 0 in one is at most the tolerance in the other).
    assert np.array_equal(onnx > FP32_TOLERANCE, torch_vectors > FP32_TOLERANCE)


def test_int8_agrees_within_the_stated_bound(exported, texts, torch_vectors):
    from sembridge.encoding.sparsity import mean_row_cosine, top_k_overlap

    out, summary = exported
    int8 = OnnxSparseEncoder(out, int8=True).encode(texts, batch_size=8)
    assert top_k_overlap(torch_vectors, int8) >= INT8_MIN_TOP_K_OVERLAP
    assert mean_row_cosine(torch_vectors, int8) >= 0.9
    assert summary["check"]["int8_top10_overlap"] >= INT8_MIN_TOP_K_OVERLAP
    assert (out / MODEL_INT8_FILE).stat().st_size < (out / MODEL_FILE).stat().st_size / 2


def test_export_folder_describes_the_graph(exported):
    out, summary = exported
    meta = json.loads((out / EXPORT_FILE).read_text(encoding="utf-8"))
    assert meta == summary
    assert meta["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert meta["output"] == "sparse_vector" and meta["vocab_size"] == 8000
    assert meta["sides"]["query"]["file"] == meta["sides"]["document"]["file"] == MODEL_FILE
    assert meta["check"]["fp32_max_abs_diff"] <= FP32_TOLERANCE
    assert (out / "tokenizer.json").is_file()
    assert stat.S_IMODE((out / MODEL_FILE).stat().st_mode) & 0o044  # readable by others, as a plain write


def test_existing_output_is_refused(exported, ru_model):
    out, _ = exported
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(OutputExistsError):
        export_onnx(ru_model, out, show_progress=False)
    assert sorted(p.name for p in out.iterdir()) == before


def test_missing_model_is_refused(tmp_path):
    with pytest.raises(SembridgeError, match="no such local folder"):
        export_onnx(tmp_path / "missing", tmp_path / "out", show_progress=False)
    assert not (tmp_path / "out").exists()
