"""Reading records: text files (``.gz`` too), JSONL, JSON, CSV, TSV, Parquet, folders and hub sets.

Every reader yields ``(where, record)``: the record (a dict for every tabular format) and its
location, ``"pairs.jsonl line 7"``, ``"pairs.json item 2"``, ``"pairs.parquet row 3"`` or
``"owner/name[train] row 5"``, so that an error names the file and line of the bad record:

    pairs.jsonl line 3: not valid JSON (Expecting value at column 35)

Formats, by file name: ``.jsonl`` (JSON lines), ``.json`` (JSON lines, or one JSON array),
``.csv`` and ``.tsv`` (a header row names the columns; a TSV cell is raw text, ``"`` included),
``.parquet``; ``.jsonl.gz``, ``.csv.gz`` and ``.tsv.gz`` are read through gzip. A folder is read
as every such file inside it (sorted, recursively), or, when it holds ``dataset_info.json`` /
``dataset_dict.json``, as a folder written by ``datasets.Dataset.save_to_disk``. A hub data set id (see
:mod:`sembridge.data.hub`) is read with ``datasets.load_dataset``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sembridge.data.hub import is_hub_id, load_hub_split
from sembridge.errors import SembridgeError

Located = tuple[str, Any]
"""A record and where it was read: ``("pairs.jsonl line 7", {...})``."""

DATA_SUFFIXES: tuple[str, ...] = (
    ".jsonl",
    ".json",
    ".csv",
    ".tsv",
    ".parquet",
    ".jsonl.gz",
    ".csv.gz",
    ".tsv.gz",
)


def open_text(path: str | Path) -> io.TextIOBase:
    """Open a UTF-8 text file for reading, through gzip when its name ends in ``.gz``.

    A leading byte-order mark (as Windows tools write) is dropped (``utf-8-sig``).
    """
    path = Path(path)
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def read_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` from 1, newline removed; unreadable files give one clear error."""
    path = Path(path)
    with _readable(path), open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip("\r\n")


def read_text_lines(path: str | Path, what: str = "text file") -> list[str]:
    """The non-empty lines of a UTF-8 text file (``.gz`` too), stripped: the one text-line reader.

    ``what`` names the file in the errors (``--target-text``, ``text file``): a missing file, one
    that is not UTF-8 (with the line holding the bad bytes) or one that cannot be read.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise SembridgeError(
            f"{what} '{path}' does not exist", hint="pass a UTF-8 text file, one passage per line"
        )
    return [text for _, line in read_lines(path) if (text := line.strip())]


def is_data_file(path: str | Path) -> bool:
    """True when the file name ends in one of :data:`DATA_SUFFIXES`."""
    return Path(path).name.lower().endswith(DATA_SUFFIXES)


def is_saved_dataset(folder: str | Path) -> bool:
    """True for a folder written by ``datasets`` ``save_to_disk``."""
    folder = Path(folder)
    return (folder / "dataset_info.json").exists() or (folder / "dataset_dict.json").exists()


def data_files(folder: str | Path) -> list[Path]:
    """The data files inside ``folder``, recursively, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and is_data_file(p))


def read_file(path: str | Path) -> Iterator[Located]:
    """The records of one file, chosen by its suffix (see the module docstring)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        reader = _read_json_lines(path)
    elif name.endswith(".json"):
        reader = _read_json(path)
    elif name.endswith((".csv", ".csv.gz")):
        reader = _read_delimited(path, ",")
    elif name.endswith((".tsv", ".tsv.gz")):
        reader = _read_delimited(path, "\t")
    elif name.endswith(".parquet"):
        reader = _read_parquet(path)
    else:
        raise SembridgeError(
            f"cannot read '{path}': unknown file type", hint=f"use one of: {', '.join(DATA_SUFFIXES)}"
        )
    return _guarded(path, reader)


def read_source(source: str | Path, split: str = "train", config: str | None = None) -> Iterator[Located]:
    """The records of a file, a folder, a ``save_to_disk`` folder or a hub data set id.

    ``split`` picks the split of a hub set or of a saved ``DatasetDict``; ``config`` the
    configuration of a hub set.
    """
    path = Path(source).expanduser()
    if path.is_file():
        yield from read_file(path)
        return
    if path.is_dir():
        if is_saved_dataset(path):
            yield from _rows(_load_from_disk(path, split), path.name)
            return
        files = data_files(path)
        if not files:
            raise SembridgeError(
                f"folder '{path}' holds no data files",
                hint=f"put files ending in {', '.join(DATA_SUFFIXES)} in it",
            )
        for file in files:
            yield from read_file(file)
        return
    if not is_hub_id(source):
        raise SembridgeError(
            f"data file '{source}' does not exist",
            hint="check the path, or give a hub data set id as owner/name",
        )
    yield from _rows(load_hub_split(str(source), config, split), f"{source}[{split}]")


def first_record(path: str | Path) -> dict[str, Any] | None:
    """The first record of a data file, or None when it is empty or not a table of records."""
    try:
        for _, record in read_file(path):
            return record if isinstance(record, dict) else None
    except SembridgeError:
        return None
    return None


# ----------------------------------------------------------------------------------------------
# One reader per format


def _read_json_lines(path: Path) -> Iterator[Located]:
    for number, line in read_lines(path):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise SembridgeError(
                f"{where}: not valid JSON ({err.msg} at column {err.colno})",
                hint="each line must hold one JSON object",
            ) from err
        yield where, record


def _read_json(path: Path) -> Iterator[Located]:
    with open_text(path) as handle:
        head = handle.read(4096).lstrip()
    if not head.startswith("["):
        yield from _read_json_lines(path)
        return
    try:
        with open_text(path) as handle:
            items = json.load(handle)
    except json.JSONDecodeError as err:
        raise SembridgeError(
            f"{path.name} line {err.lineno}: not valid JSON ({err.msg} at column {err.colno})"
        ) from err
    for number, record in enumerate(items, start=1):
        yield f"{path.name} item {number}", record


def _read_delimited(path: Path, delimiter: str) -> Iterator[Located]:
    """CSV rows (quotes as in RFC 4180) or TSV rows (a cell is raw text: ``"`` is no quote, so a
    cell starting with one does not swallow the lines after it), each under the header's names."""
    tsv = delimiter == "\t"
    with open_text(path) as handle:
        reader = csv.reader(handle, delimiter=delimiter, quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
        header: list[str] | None = None
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                continue
            where = f"{path.name} line {reader.line_num}"
            if len(row) > len(header):
                raise SembridgeError(
                    f"{where}: {len(row)} fields but the header names {len(header)} ({', '.join(header)})",
                    hint="a TSV cell cannot hold a tab: write such texts as CSV or JSON lines"
                    if tsv
                    else "quote fields that contain the delimiter",
                )
            yield where, dict(zip(header, row, strict=False))


def _read_parquet(path: Path) -> Iterator[Located]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    for number, record in enumerate(table.to_pylist(), start=1):
        yield f"{path.name} row {number}", record


def _rows(dataset: Any, label: str) -> Iterator[Located]:
    for number, record in enumerate(dataset, start=1):
        yield f"{label} row {number}", record


def _load_from_disk(path: Path, split: str) -> Any:
    from datasets import DatasetDict, load_from_disk

    loaded = load_from_disk(str(path))
    if isinstance(loaded, DatasetDict):
        if split not in loaded:
            raise SembridgeError(
                f"'{path}' has no split '{split}'", hint=f"use --split with one of: {', '.join(loaded)}"
            )
        loaded = loaded[split]
    return loaded


@contextmanager
def _readable(path: Path) -> Iterator[None]:
    """Turn an OS or decoding failure while reading ``path`` into one SembridgeError.

    Bytes that are not UTF-8 are reported with the line that holds them.
    """
    try:
        yield
    except UnicodeDecodeError as err:
        line = _undecodable_line(path)
        raise SembridgeError(
            f"cannot read '{path}'{f' line {line}' if line else ''}: not UTF-8 text "
            f"(byte {err.object[err.start]:#04x}: {err.reason})",
            hint="check that the file is UTF-8 text, or re-encode it as UTF-8",
        ) from err
    except (OSError, EOFError, csv.Error) as err:
        raise SembridgeError(
            f"cannot read '{path}': {err}", hint="check that the file is UTF-8 text"
        ) from err


def _undecodable_line(path: Path) -> int | None:
    """The number of the first line of ``path`` that is not UTF-8, or None."""
    try:
        with gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    return number
    except (OSError, EOFError):
        return None
    return None


def _guarded(path: Path, records: Iterator[Located]) -> Iterator[Located]:
    with _readable(path):
        yield from records
