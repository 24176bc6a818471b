"""Atomic output folders and files leave nothing half-written; the version stamp names its libraries."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from sembridge.errors import OutputExistsError, SembridgeError
from sembridge.io import DiskFullError, atomic_file, atomic_output_dir, check_output_dir, write_json
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


# ------------------------------------------------------------------------------------------------
# A full disk: one line naming the file being written, and no temporary left behind


def _full(filename: str | None = None, code: int = errno.ENOSPC) -> OSError:
    return OSError(code, os.strerror(code), *([filename] if filename else []))


def test_disk_full_in_an_output_folder_names_the_file_written_last(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(DiskFullError) as err, atomic_output_dir(out) as tmp:
        (tmp / "config.json").write_text("{}")
        (tmp / "model.safetensors").write_bytes(b"half")
        os.utime(tmp / "config.json", ns=(0, 0))  # written first
        raise _full()  # what a failed write() raises: no file name
    assert str(err.value) == f"no space left on the device while writing '{out / 'model.safetensors'}'"
    assert "free some space" in (err.value.hint or "") and "--output" in (err.value.hint or "")
    assert isinstance(err.value, SembridgeError) and err.value.__cause__.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []  # the temporary folder is removed


class _Unwritable:
    """A value the patched json.dump (fixture ``full_json``) runs out of space on."""


@pytest.fixture
def full_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """json.dump writes half its text then fails as a full disk does on a value ``_Unwritable``."""
    real_dump = json.dump

    def dump(data, handle, **kwargs):
        if any(isinstance(v, _Unwritable) for v in data.values()):
            handle.write('{"a": ')
            raise _full()
        return real_dump(data, handle, **kwargs)

    monkeypatch.setattr(json, "dump", dump)


def test_disk_full_names_the_file_the_error_names(tmp_path: Path, full_json: None) -> None:
    out = tmp_path / "out"
    with pytest.raises(DiskFullError) as err, atomic_output_dir(out) as tmp:
        (tmp / "other.txt").write_text("later")
        raise _full(str(tmp / "1_SpladePooling" / "config.json"), errno.EDQUOT)
    assert err.value.path == str(out / "1_SpladePooling" / "config.json")
    # A report written by write_json inside the folder is named where it would have landed.
    with pytest.raises(DiskFullError) as err, atomic_output_dir(out) as tmp:
        write_json(tmp / "report.json", {"a": _Unwritable()})
    assert err.value.path == str(out / "report.json")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_in_write_json_and_atomic_file(tmp_path: Path, full_json: None) -> None:
    path = tmp_path / "report.json"
    write_json(path, {"a": 1})
    with pytest.raises(DiskFullError) as err:
        write_json(path, {"a": _Unwritable()})
    assert str(err.value) == f"no space left on the device while writing '{path}'"
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 1}  # the old content stays
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary left
    # Libraries that raise their own error with the system's message (safetensors) count too.
    with pytest.raises(DiskFullError, match="while writing '.*vectors.bin'"):
        with atomic_file(tmp_path / "vectors.bin", "wb") as handle:
            handle.write(b"\x00")
            raise RuntimeError("Error while serializing: IoError(No space left on device (os error 28))")
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_other_write_errors_pass_unchanged(tmp_path: Path) -> None:
    with pytest.raises(PermissionError), atomic_output_dir(tmp_path / "out"):
        raise PermissionError(errno.EACCES, "Permission denied")
    with pytest.raises(OSError) as err, atomic_file(tmp_path / "a.txt"):
        raise OSError(errno.EIO, "Input/output error")
    assert not isinstance(err.value, SembridgeError)
    assert list(tmp_path.iterdir()) == []


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
