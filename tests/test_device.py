"""Device selection and the process rank under torchrun, read in one place (sembridge.device)."""

from __future__ import annotations

import pytest

from sembridge.device import is_main_process, launched_processes, process_rank, resolve_device
from sembridge.errors import SembridgeError


def test_rank_and_processes_come_from_the_launcher(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert (process_rank(), is_main_process(), launched_processes()) == (0, True, 1)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert (process_rank(), is_main_process(), launched_processes()) == (3, False, 4)


def test_no_other_module_reads_the_rank(monkeypatch):
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "sembridge"
    readers = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if ('"RANK"' in p.read_text(encoding="utf-8") or '"WORLD_SIZE"' in p.read_text(encoding="utf-8"))
    ]
    assert readers == ["device.py"]


def test_unknown_device_is_refused():
    with pytest.raises(SembridgeError, match="unknown device 'gpu9'"):
        resolve_device("gpu9")
