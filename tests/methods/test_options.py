"""Method declarations: one option list per method, checked the same way for every method."""

from __future__ import annotations

import pytest

from sembridge.errors import SembridgeError
from sembridge.methods import METHODS, MethodOption, MethodSpec, check_options, options_by_key
from sembridge.methods.initializers import INITIALIZERS


def test_every_declared_method_has_its_implementation():
    assert set(INITIALIZERS) == set(METHODS)
    for name, cls in INITIALIZERS.items():
        assert cls.spec is METHODS[name]


def test_options_by_key_lists_shared_options_once(monkeypatch):
    found = options_by_key()
    assert found["top_k"][1] == ["ofa", "wechsel"]
    assert found["alpha"][1] == ["sembridge"]
    assert sum(len(spec.options) for spec in METHODS.values()) == sum(len(o) for _, o in found.values())
    clash = MethodSpec("clash", "a second --top-k", options=(MethodOption("top_k", "--k", "int", "k"),))
    monkeypatch.setitem(METHODS, "clash", clash)
    with pytest.raises(ValueError, match="'top_k' is declared twice"):
        options_by_key()


def test_unused_option_message_names_its_methods():
    with pytest.raises(SembridgeError) as one:
        check_options("mean", {"init_std": 0.1})
    assert str(one.value) == "--init-std is used only by method 'random', not by 'mean'"
    with pytest.raises(SembridgeError) as several:
        check_options("sembridge", {"top_k": 3})
    assert str(several.value) == "--top-k is not used by method 'sembridge'"
    assert several.value.hint == "--top-k is an option of: ofa, wechsel; leave it out or use one of them"


@pytest.mark.parametrize("alpha", [0.5, float("nan"), float("inf"), "many"])
def test_alpha_range_and_kind(alpha):
    with pytest.raises(SembridgeError, match="--alpha must be") as refused:
        check_options("sembridge", {"alpha": alpha})
    if alpha != "many":
        finite = "" if alpha == 0.5 else "a finite number "
        assert str(refused.value) == f"--alpha must be {finite}>= 1, got {alpha!r}"
        assert "softmax" in refused.value.hint


def test_text_and_folder_options():
    resolved = check_options("sembridge", {"bridge": "my-bridge", "bridge_prompt": "", "cache_dir": "~/c"})
    assert resolved["bridge"] == "my-bridge" and resolved["bridge_prompt"] == ""
    assert not resolved["cache_dir"].startswith("~")
    assert resolved["alpha"] == 4.0 and resolved["batch_size"] == 256
    with pytest.raises(SembridgeError, match="--bridge must be text, got 3"):
        check_options("sembridge", {"bridge": 3})
    with pytest.raises(SembridgeError, match="--batch-size must be a positive integer, got 0"):
        check_options("sembridge", {"batch_size": 0})
