"""Without HF_HUB_OFFLINE and without a network, a hub id fails at once, in one line (the hub
is asked once per run, with a short timeout), and a cached one loads from the cache."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from sembridge import hub_access
from sembridge.errors import ModelLoadError
from sembridge.loading import load_tokenizer


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Online mode, an endpoint that refuses connections, an empty hub cache; counts the probes."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub_access, "_answer", {})
    monkeypatch.setattr(hub_access, "_address", lambda: ("127.0.0.1", _closed_port()))
    probes = []
    connect = socket.create_connection

    def counted(*args, **kwargs):
        probes.append(args[0])
        return connect(*args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counted)
    return probes


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free now: nothing listens there


def test_an_unknown_id_fails_at_once_without_retries(no_network, monkeypatch):
    import transformers

    monkeypatch.setattr(
        transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: pytest.fail("the hub was tried")
    )
    for _ in range(2):
        with pytest.raises(ModelLoadError) as refused:
            load_tokenizer("no-such-org/no-such-tokenizer")
        message = refused.value.message
        assert message.startswith("could not load target tokenizer 'no-such-org/no-such-tokenizer': ")
        assert "the model hub is not reachable (no connection to 127.0.0.1:" in message
        assert "not in the local cache" in message
    assert len(no_network) == 1  # asked once per run


def test_a_cached_id_loads_from_the_cache_in_offline_mode(no_network, tmp_path):
    from huggingface_hub import constants

    (tmp_path / "hub" / "models--owner--cached" / "snapshots" / "abc").mkdir(parents=True)
    hub_access.require_hub("model 'owner/cached'", "owner/cached")
    assert constants.HF_HUB_OFFLINE is True and os.environ["HF_HUB_OFFLINE"] == "1"


def test_offline_mode_is_never_probed(no_network, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert hub_access.unreachable() is None
    assert no_network == []


def test_the_command_line_says_it_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}", HF_HOME=str(tmp_path / "hf"))
    code = "from sembridge.cli.app import main; main()"
    args = [
        "init",
        "--source",
        "no-such-org/no-such-model",
        "-t",
        "bert-base-uncased",
        "-o",
        str(tmp_path / "o"),
    ]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(
        "Error: could not load source model 'no-such-org/no-such-model': it is not a local"
    )
    assert "model hub is not reachable" in lines[0] and len(lines) == 2 and lines[1].startswith("Hint:")
