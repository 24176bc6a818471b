"""Atomic output folders and files leave nothing half-written; the version stamp names its libraries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sembridge.errors import OutputExistsError, SembridgeError
from sembridge.io import atomic_file, atomic_output_dir, check_output_dir, write_json
from sembridge.version import library_versions


class Boom(Exception):
    pass


def test_output_folder_appears_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "model"
    with atomic_output_dir(out) as tmp:
        (tmp / "a.txt").write_text("a")
        assert not out.exists() and tmp.parent == out.parent
    assert [p.name for p in out.iterdir()] == ["a.txt"]
    assert [p.name for p in out.parent.iterdir()] == ["model"]  # no temporary sibling left


def test_failure_leaves_nothing_and_keeps_the_old_folder(tmp_path: Path) -> None:
    out = tmp_path / "model"
    with pytest.raises(Boom), atomic_output_dir(out) as tmp:
        (tmp / "half.txt").write_text("half")
        raise Boom
    assert list(tmp_path.iterdir()) == []
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(Boom), atomic_output_dir(out, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
        raise Boom
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert [p.name for p in out.iterdir()] == ["old.txt"]


def test_existing_folder_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="output folder '.*model' already exists") as err:
        with atomic_output_dir(out):
            pass
    assert "--overwrite" in (err.value.hint or "")
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    with atomic_output_dir(out, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(SembridgeError, match="exists and is not a folder"):
        check_output_dir(tmp_path / "file", overwrite=True)


def test_atomic_file_replaces_only_on_success(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "report.json"
    with atomic_file(path) as handle:
        handle.write("první\n")
    assert path.read_text(encoding="utf-8") == "první\n"
    with pytest.raises(Boom), atomic_file(path) as handle:
        handle.write("half")
        raise Boom
    assert path.read_text(encoding="utf-8") == "první\n"
    with atomic_file(path, "wb") as handle:
        handle.write(b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb', got 'a'"):
        with atomic_file(path, "a"):  # type: ignore[arg-type]
            pass


def test_write_json(tmp_path: Path) -> None:
    path = write_json(tmp_path / "r.json", {"ключ": [1, 2]})
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and "ключ" in text and json.loads(text) == {"ключ": [1, 2]}


def test_library_versions() -> None:
    import sembridge

    versions = library_versions()
    assert set(versions) == {
        "sembridge",
        "python",
        "torch",
        "transformers",
        "sentence_transformers",
        "tokenizers",
        "entmax",
    }
    assert versions["sembridge"] == sembridge.__version__
    assert all(isinstance(v, str) and v and v != "unknown" for v in versions.values())
