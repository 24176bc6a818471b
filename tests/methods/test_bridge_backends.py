"""Bridge backends (sembridge.methods.bridge_backends): ONNX Runtime and OpenVINO, fp32 and int8, against
sentence-transformers' torch encode; their cache entries; refusals.

The bridge is a tiny random sentence-transformers folder saved in ``tmp_path``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from sembridge.errors import SembridgeError
from sembridge.methods.bridge import BridgeEmbedder, cache_key
from sembridge.methods.bridge_backends import BRIDGE_BACKENDS, check_backend
from tests.helpers import save_tiny_bridge

WORDS = ["book", "house", "##s", "river", "кни", "##га", "city", "red"]
# Strings of different token counts, not sorted: the runner sorts them and puts rows back.
TEXTS = ["book", "house river city red book", "##s", "кни ##га", "red", "river city", "book house"]


@pytest.fixture(scope="module")
def bridge_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bridge(tmp_path_factory.mktemp("backends") / "bridge", WORDS)


def need(package: str) -> None:
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed")


def embed(bridge_dir: Path, cache: Path, backend: str, prompt: str | None = None) -> torch.Tensor:
    embedder = BridgeEmbedder(
        str(bridge_dir), cache_dir=cache, show_progress=False, backend=backend, prompt=prompt, batch_size=3
    )
    return embedder.embed(TEXTS)


def test_the_cache_key_names_the_backend_and_torch_keeps_its_old_key() -> None:
    old = cache_key("owner/bridge", "query: ", ["a", "b"])
    assert cache_key("owner/bridge", "query: ", ["a", "b"], "torch") == old
    keys = {cache_key("owner/bridge", "query: ", ["a", "b"], backend) for backend in BRIDGE_BACKENDS}
    assert len(keys) == len(BRIDGE_BACKENDS)


@pytest.mark.parametrize(
    ("backend", "package", "least_cosine"),
    [
        ("onnx", "onnxruntime", 0.99999),
        ("onnx-int8", "onnxruntime", 0.95),
        ("openvino", "openvino", 0.99999),
        ("openvino-int8", "openvino", 0.95),
    ],
)
def test_backends_agree_with_torch_row_by_row(
    bridge_dir: Path, tmp_path: Path, backend: str, package: str, least_cosine: float
) -> None:
    need(package)
    reference = embed(bridge_dir, tmp_path / "torch", "torch", prompt="query: ")
    got = embed(bridge_dir, tmp_path / backend, backend, prompt="query: ")
    assert got.shape == reference.shape and got.dtype == torch.float32
    torch.testing.assert_close(got.norm(dim=1), torch.ones(len(TEXTS)))
    cosines = (got * reference).sum(dim=1)
    assert cosines.min() >= least_cosine, cosines
    # Rows are in the caller's order: each row is nearest to its own torch row.
    assert ((got @ reference.T).argmax(dim=1) == torch.arange(len(TEXTS))).all()
    # Entries of another backend are its own; the graph is exported once per bridge.
    assert (tmp_path / backend / "onnx").is_dir() and not (tmp_path / "torch" / "onnx").exists()


def test_the_exported_graph_is_reused_and_a_cache_hit_loads_nothing(
    bridge_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("onnxruntime")
    first = embed(bridge_dir, tmp_path, "onnx")
    graphs = sorted(p.name for p in (tmp_path / "onnx").iterdir())
    assert len(graphs) == 1 and graphs[0].endswith("-fp32")

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(torch.onnx, "export", no_export)
    again = BridgeEmbedder(str(bridge_dir), cache_dir=tmp_path, show_progress=False, backend="onnx")
    torch.testing.assert_close(again.embed(TEXTS), first, rtol=0, atol=0)
    assert (again.cache_hits, again._model, again._runner) == (1, None, None)
    # New strings: the runner is built from the cached graph, not exported again.
    assert again.embed(["book river"]).shape == (1, 16)
    # int8 is quantised from the cached fp32 graph.
    embed(bridge_dir, tmp_path, "onnx-int8")
    assert sorted(p.name.rsplit("-", 1)[1] for p in (tmp_path / "onnx").iterdir()) == ["fp32", "int8"]


def test_an_unknown_backend_is_refused_before_anything_loads(tmp_path: Path) -> None:
    from sembridge.init.pipeline import InitConfig

    with pytest.raises(SembridgeError, match="unknown bridge backend 'tensorrt'") as err:
        BridgeEmbedder("any/bridge", cache_dir=tmp_path, backend="tensorrt")
    assert "onnx-int8" in (err.value.hint or "")
    with pytest.raises(SembridgeError, match="--bridge-backend must be one of torch, onnx") as err:
        InitConfig(source="splade-v3", target_tokenizer="ARBERT", bridge_backend="tensorrt")
    assert InitConfig("s", "t", bridge_backend="ONNX").method_options["bridge_backend"] == "onnx"
    assert InitConfig("s", "t").method_options["bridge_backend"] == "torch"
    with pytest.raises(SembridgeError, match="--bridge-backend is used only by method 'sembridge'"):
        InitConfig("s", "t", method="mean", bridge_backend="onnx")


def test_a_missing_runtime_names_the_package_and_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a)
    )
    with pytest.raises(SembridgeError, match="needs the package openvino") as err:
        check_backend("openvino-int8")
    assert "sembridge[openvino]" in (err.value.hint or "")
    assert check_backend("torch") == "torch"


def test_init_help_lists_the_backends() -> None:
    from typer.testing import CliRunner

    from sembridge.cli.app import app

    result = CliRunner().invoke(app, ["init", "--help"], env={"COLUMNS": "250", "TERM": "dumb"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "--bridge-backend" in text
    assert "torch, onnx, onnx-int8, openvino or openvino-int8" in text


def test_init_with_the_onnx_backend_records_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from sembridge.cli.app import main
    from tests.helpers import save_tiny_source, wordpiece_tokenizer

    need("onnxruntime")
    monkeypatch.setenv("SEMBRIDGE_CACHE", str(tmp_path / "cache"))
    source = save_tiny_source(tmp_path / "source", "bert", ["the", "book", "house"])
    target = tmp_path / "target"
    wordpiece_tokenizer(["the", "кни", "##га", "дом"]).save_pretrained(target)
    bridge = save_tiny_bridge(tmp_path / "bridge", ["the", "book", "house", "кни", "##га", "дом"])
    out = tmp_path / "model"
    argv = ["init", "--quiet", "-s", str(source), "-t", str(target), "-b", str(bridge), "--device", "cpu"]
    main([*argv, "--bridge-backend", "onnx", "-o", str(out)])
    report = json.loads((out / "sembridge_init.json").read_text(encoding="utf-8"))
    assert '"bridge_backend": "onnx"' in json.dumps(report)
    assert any((tmp_path / "cache" / "onnx").iterdir())
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--bridge-backend", "gpu", "-o", str(tmp_path / "other")])
    assert exit_info.value.code == 2 and not (tmp_path / "other").exists()
