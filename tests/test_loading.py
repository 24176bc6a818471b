"""The one rule for model arguments (short name, local path, hub id, missing path) and its errors.

Models are tiny and saved in ``tmp_path``; the hub is never reached (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sembridge.errors import ModelLoadError
from sembridge.loading import (
    check_model_source,
    load_bridge,
    load_source,
    load_sparse_encoder,
    load_tokenizer,
    locate,
    looks_like_path,
)
from tests.helpers import save_tiny_bridge, save_tiny_source, tiny_mlm, wordpiece_tokenizer

WORDS = ["book", "house", "##s", "river"]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    return save_tiny_source(tmp_path / "tiny-source", words=WORDS)


@pytest.fixture
def sparse_dir(tmp_path: Path) -> Path:
    from sembridge.loading import save_sparse_encoder

    tokenizer = wordpiece_tokenizer(WORDS)
    model = tiny_mlm("bert", len(tokenizer.get_vocab()))
    save_sparse_encoder(model, tokenizer, tmp_path / "tiny-splade")
    return tmp_path / "tiny-splade"


def test_the_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    short = locate("splade-v3")
    assert (short.kind, short.resolved) == ("hub", "naver/splade-v3")
    assert short.describe() == "'splade-v3' (naver/splade-v3)"
    (tmp_path / "local-model").mkdir()
    monkeypatch.chdir(tmp_path)
    local = locate("local-model")
    assert (local.kind, local.target) == ("local", str(Path("local-model")))
    assert locate(tmp_path / "local-model").kind == "local"
    for hub_id in ("owner/model-name", "bert-base-uncased", "org/v1.5_x"):
        assert locate(hub_id).kind == "hub" and locate(hub_id).target == hub_id
    for path in (
        "./missing",
        "/no/such/model",
        "~/no-such-model",
        "a/b/c",
        "two words",
        f"a{os.sep}b{os.sep}c",
    ):
        assert looks_like_path(path), path
        assert locate(path).kind == "missing", path


def test_local_tokenizer_and_source(source_dir: Path) -> None:
    tokenizer = load_tokenizer(source_dir)
    assert "river" in tokenizer.get_vocab()
    source = load_source(str(source_dir))
    assert source.path_or_id == str(source_dir) and source.model.config.model_type == "bert"
    assert source.pooling_strategy == "max" and source.activation_function == "relu"


def test_missing_path_names_the_path_and_the_cause(tmp_path: Path) -> None:
    for load in (load_tokenizer, load_source, load_bridge, load_sparse_encoder):
        with pytest.raises(ModelLoadError) as err:
            load("./no/such/folder")
        assert "'./no/such/folder'" in err.value.message and "no such local folder" in err.value.message
        assert "sembridge models" in (err.value.hint or "")


def test_unreachable_hub_id_and_mistyped_short_name() -> None:
    with pytest.raises(ModelLoadError) as err:
        load_tokenizer("no-such-org/no-such-model")
    message = err.value.message
    assert message.startswith("could not load target tokenizer 'no-such-org/no-such-model': ")
    assert "hub" in message and "\n" not in message
    with pytest.raises(ModelLoadError) as err:
        load_tokenizer("ARBRT")
    assert "'ARBRT'" in err.value.message and "not a short name of the registry" in err.value.message
    with pytest.raises(ModelLoadError, match=r"'bge-m3' \(BAAI/bge-m3\)"):
        load_bridge("bge-m3")  # a short name resolves to its hub id, out of reach here


def test_sparse_encoder_from_a_folder(sparse_dir: Path) -> None:
    from sentence_transformers import SparseEncoder

    assert check_model_source(sparse_dir) == str(sparse_dir)
    encoder = load_sparse_encoder(sparse_dir, require_splade=True)
    assert isinstance(encoder, SparseEncoder)
    assert load_sparse_encoder(encoder) is encoder
    # The same folder is also a plain masked-LM source.
    assert load_source(str(sparse_dir)).tokenizer.get_vocab() == encoder.tokenizer.get_vocab()


def test_folders_that_are_not_models_are_refused_before_loading(tmp_path: Path, source_dir: Path) -> None:
    file = tmp_path / "model.txt"
    file.write_text("not a folder")
    with pytest.raises(ModelLoadError, match="is a file, not a model folder"):
        check_model_source(file)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="has no config.json or modules.json"):
        check_model_source(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="config.json of model folder .*broken' cannot be read"):
        check_model_source(tmp_path / "broken")
    (tmp_path / "no-weights").mkdir()
    (tmp_path / "no-weights" / "config.json").write_text((source_dir / "config.json").read_text())
    with pytest.raises(ModelLoadError, match="has a config.json but no weights"):
        check_model_source(tmp_path / "no-weights")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "config.json").write_text((source_dir / "config.json").read_text())
    (tmp_path / "corrupt" / "model.safetensors").write_bytes(b"not a safetensors file")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (tmp_path / "corrupt" / name).write_bytes((source_dir / name).read_bytes())
    with pytest.raises(ModelLoadError) as err:
        load_sparse_encoder(tmp_path / "corrupt")
    assert err.value.message.startswith(f"could not load model '{tmp_path / 'corrupt'}': ")


def _without_tokenizer(folder: Path) -> Path:
    from sembridge.loading import TOKENIZER_FILES

    for path in folder.rglob("*"):
        if path.name in (*TOKENIZER_FILES, "tokenizer_config.json", "special_tokens_map.json"):
            path.unlink()
    return folder


def test_a_model_folder_without_tokenizer_files_is_refused(sparse_dir: Path, source_dir: Path) -> None:
    _without_tokenizer(sparse_dir)
    for load in (check_model_source, load_sparse_encoder):
        with pytest.raises(ModelLoadError, match="has no tokenizer files .*tokenizer.json, vocab.txt"):
            load(sparse_dir)
    with pytest.raises(ModelLoadError, match="tokenizer of model folder .* has no tokenizer files"):
        load_tokenizer(sparse_dir, kind="tokenizer of model")  # inspect-token's way in
    _without_tokenizer(source_dir)
    with pytest.raises(ModelLoadError, match="has no tokenizer files"):
        load_source(str(source_dir))


def test_a_tokenizer_that_does_not_fit_the_vocabulary_is_refused(tmp_path: Path) -> None:
    from sembridge.loading import save_sparse_encoder

    tokenizer = wordpiece_tokenizer(WORDS)  # 9 tokens
    save_sparse_encoder(tiny_mlm("bert", 6), tokenizer, tmp_path / "small-model")
    with pytest.raises(ModelLoadError, match="has 9 tokens, more than the model's 6 vocabulary rows"):
        load_sparse_encoder(tmp_path / "small-model")
    save_sparse_encoder(tiny_mlm("bert", 40), tokenizer, tmp_path / "large-model")
    with pytest.raises(ModelLoadError, match="has 9 tokens, far fewer than the model's 40 vocabulary rows"):
        load_sparse_encoder(tmp_path / "large-model")
    save_sparse_encoder(tiny_mlm("bert", 10), tokenizer, tmp_path / "fits")  # one spare row is fine
    load_sparse_encoder(tmp_path / "fits")


def test_a_config_whose_vocab_size_disagrees_with_the_weights_is_refused(sparse_dir: Path) -> None:
    import json

    from sembridge.loading import embedding_rows

    mlm = next(p.parent for p in sparse_dir.rglob("config.json") if "vocab_size" in p.read_text())
    rows = embedding_rows(mlm)
    assert rows == 9
    config = json.loads((mlm / "config.json").read_text())
    (mlm / "config.json").write_text(json.dumps({**config, "vocab_size": 12}))
    with pytest.raises(ModelLoadError, match="says vocab_size 12, but its weights have 9 embedding rows"):
        check_model_source(sparse_dir)


def test_bridge_from_a_folder(tmp_path: Path) -> None:
    bridge = load_bridge(save_tiny_bridge(tmp_path / "bridge", WORDS))
    assert bridge.encode(["river"]).shape[0] == 1
