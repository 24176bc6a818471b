"""A fine-tuned folder carries the init report of the folder it started from, and inspect-token
explains its rows as initialised (since fine-tuned)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sembridge.data import pairs_to_dataset
from sembridge.errors import SembridgeError
from sembridge.init.inspection import FINE_TUNED_NOTE, explain_token
from sembridge.init.pipeline import REPORT_FILE, initialize
from sembridge.training import REPORT_NAME, FinetuneConfig, finetune
from tests.init.test_pipeline import _config, tiny_setup  # noqa: F401 (fixture)

PAIRS = [
    ("кот", "кот дом"),
    ("собака", "собака вода"),
    ("дом", "дом 1"),
    ("вода", "вода ?"),
]


@pytest.fixture
def info_lines() -> Iterator[list[str]]:
    """sembridge's INFO lines during the test (its logger may not propagate)."""
    messages: list[str] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("sembridge")
    recorder, level = Recorder(logging.INFO), logger.level
    logger.addHandler(recorder)
    logger.setLevel(logging.INFO)
    try:
        yield messages
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(level)


@pytest.fixture
def fine_tuned(tiny_setup) -> tuple[Path, Path]:  # noqa: F811
    """(init folder, fine-tuned folder): one step of fine-tuning of a tiny SemBridge model."""
    init = tiny_setup["tmp"] / "init"
    initialize(_config(tiny_setup), output_dir=init)
    out = tiny_setup["tmp"] / "ft"
    config = FinetuneConfig(
        max_steps=1, batch_size=2, max_length=16, device="cpu", save_steps=100, logging_steps=1,
        stats_sample_size=2, show_progress=False, warmup_ratio=0.0,
    )  # fmt: skip
    finetune(str(init), pairs_to_dataset(PAIRS), out, config)
    return init, out


def test_the_fine_tuned_folder_carries_the_init_report(fine_tuned, info_lines):
    init, out = fine_tuned
    assert (out / REPORT_NAME).is_file()
    assert (out / REPORT_FILE).read_bytes() == (init / REPORT_FILE).read_bytes()
    before = explain_token(init, "собака")
    assert before["fine_tuned"] is False and "note" not in before
    info_lines.clear()
    after = explain_token(out, "собака")
    assert after["fine_tuned"] is True
    assert after["note"] == f"{FINE_TUNED_NOTE}: see {out / REPORT_NAME}"
    assert after["pieces"] == before["pieces"] and after["method"] == before["method"] == "sembridge"
    assert [m for m in info_lines if FINE_TUNED_NOTE in m] == [
        f"{out}: {FINE_TUNED_NOTE}; the init report is its copy of {REPORT_FILE}"
    ]
    # The command's text output says it too.
    from sembridge.cli import inspect as inspect_cmd
    from tests.cli.support import invoke

    shown = invoke([inspect_cmd], "inspect-token", "--model", out, "собака")
    assert shown.exit_code == 0 and f"{FINE_TUNED_NOTE}: see {out / REPORT_NAME}" in shown.stdout
    # Moved elsewhere, the fine-tuned folder still explains its rows.
    moved = out.parent / "moved" / "ft"
    shutil.move(str(out), moved)
    shutil.rmtree(init)
    assert explain_token(moved, "собака")["pieces"] == before["pieces"]


def test_a_fine_tuned_folder_without_the_copy_follows_its_lineage(fine_tuned, info_lines):
    init, out = fine_tuned
    (out / REPORT_FILE).unlink()  # as sembridge finetune wrote it before it copied the report
    before = explain_token(init, "собака")
    info_lines.clear()
    after = explain_token(out, "собака")
    assert after["fine_tuned"] is True and after["pieces"] == before["pieces"]
    assert [m for m in info_lines if FINE_TUNED_NOTE in m] == [
        f"{out}: {FINE_TUNED_NOTE}; the init report is '{init / REPORT_FILE}'"
    ]
    shutil.rmtree(init)
    with pytest.raises(SembridgeError) as err:
        explain_token(out, "собака")
    assert err.value.message == (
        f"'{out}' has no {REPORT_FILE}, and the folder it was fine-tuned from ('{init}') holds none or "
        "is not here"
    )
