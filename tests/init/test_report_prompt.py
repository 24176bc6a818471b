"""``sembridge_init.json`` records the bridge prompt in effect under ``settings``."""

from __future__ import annotations

import json

import pytest

from sembridge.init.pipeline import REPORT_FILE, initialize
from tests.init.test_pipeline import _config, tiny_setup  # noqa: F401 (fixture)


def _with_query_prompt(bridge, prompt: str) -> None:
    """Give the bridge folder its own ``query`` prompt, as e5 folders have."""
    path = bridge / "config_sentence_transformers.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["prompts"] = {"query": prompt, "document": "passage: "}
    path.write_text(json.dumps(config), encoding="utf-8")


@pytest.mark.parametrize(("given", "used"), [(None, "query: "), ("слово: ", "слово: "), ("", None)])
def test_settings_record_the_prompt_in_effect(tiny_setup, given, used):  # noqa: F811
    _with_query_prompt(tiny_setup["bridge"], "query: ")
    options = {} if given is None else {"bridge_prompt": given}
    out = tiny_setup["tmp"] / "out"
    report = initialize(_config(tiny_setup, **options), output_dir=out).report
    info = report["summary"]["method_info"]
    assert info["bridge_prompt"] == used
    # What was used, whether given (--bridge-prompt), the bridge folder's own or none ("" given).
    assert report["settings"]["bridge_prompt"] == (used if used is not None else given)
    # What was given stays in method_options, so that the run can be repeated as it was asked.
    assert report["settings"]["method_options"].get("bridge_prompt") == given
    written = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    assert written["settings"]["bridge_prompt"] == report["settings"]["bridge_prompt"]
