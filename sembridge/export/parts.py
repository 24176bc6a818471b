"""How a corpus export is cut into parts, spread over shards and continued after a kill.

- **Parts.** The corpus is read as a stream and cut, in its own order, into parts of
  ``docs_per_file`` documents: part ``p`` holds the documents ``p * docs_per_file`` to
  ``(p + 1) * docs_per_file - 1`` and is one file of the format (``corpus/docs-0000p.jsonl``,
  ...). A part is written under a temporary name and renamed when its last document is in
  (:class:`PartFile`), so a file with a part's name is always whole.
- **Shards.** ``--shard I/N`` (:class:`Shard`) takes the parts whose number is ``I`` modulo
  ``N``: each of N runs (a job array, N GPUs, a Ray task each) reads the whole stream, encodes its
  own parts and writes them under their global numbers, so the shards' part files together are,
  name for name and byte for byte, the part files of one unsharded export
  (:func:`~sembridge.export.merge_shards` joins them into one).
- **Resuming.** The export's work folder (``OUT.partial``, :func:`sembridge.io.resumable_output_dir`)
  holds ``resume.json`` (:class:`PartLog`): the settings, and for every finished part its
  figures and a digest of its document ids. ``--resume`` checks that the settings are the same,
  skips the finished parts (checking that the stream still holds the same ids there) and goes on,
  so a killed run loses at most the part it was writing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from sembridge.cache import hash_texts
from sembridge.errors import SembridgeError, UsageError

RESUME_FILE = "resume.json"
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (from 0): the parts whose number is ``index`` modulo ``count``."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or self.count < 1 or not 0 <= self.index < self.count:
            raise UsageError(
                f"--shard {self.index}/{self.count} is not a shard",
                hint="give I/N with 0 <= I < N, e.g. --shard 0/4 ... --shard 3/4",
            )

    @classmethod
    def parse(cls, value: str | tuple[int, int] | Shard | None) -> Shard:
        """``"I/N"``, ``(I, N)``, a Shard, or None (the whole corpus)."""
        if value is None:
            return cls()
        if isinstance(value, Shard):
            return value
        if isinstance(value, tuple):
            return cls(*value)
        match = _SHARD.match(str(value))
        if match is None:
            raise UsageError(
                f"--shard '{value}' is not I/N", hint="give the shard as I/N with 0 <= I < N, e.g. 0/4"
            )
        return cls(int(match[1]), int(match[2]))

    @property
    def whole(self) -> bool:
        return self.count == 1

    def owns(self, part: int) -> bool:
        return part % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def cut_parts(
    records: Iterable[tuple[str, str]], docs_per_file: int
) -> Iterator[tuple[int, Iterator[tuple[str, str]]]]:
    """``(part number, its records)`` for consecutive parts of ``docs_per_file`` records. Each
    part's records must be consumed (or skipped) before the next part is asked for."""
    stream = iter(records)
    number = 0
    while True:
        try:
            first = next(stream)
        except StopIteration:
            return
        remaining = [docs_per_file - 1]

        def rest(
            first: tuple[str, str] = first, remaining: list[int] = remaining
        ) -> Iterator[tuple[str, str]]:
            yield first
            while remaining[0] > 0:
                try:
                    item = next(stream)
                except StopIteration:
                    remaining[0] = 0
                    return
                remaining[0] -= 1
                yield item

        part = rest()
        yield number, part
        for _ in part:  # whatever the caller left unread
            pass
        number += 1


def ids_digest(ids: Iterable[str]) -> str:
    """A digest of a part's document ids, in order (what a resumed run checks the stream against)."""
    digest = hashlib.sha256()
    hash_texts(digest, ids)
    return digest.hexdigest()[:32]


class IdSet:
    """Whether document ids repeat, in 8 bytes an id: a 64-bit digest of each, sorted at the end.

    Digests that collide name no id; :meth:`repeated` returns the digests seen twice, and the
    caller reads the stream again to find the ids behind them (a real repeat, or, once in 2^64
    pairs, two ids with one digest: checked on the ids themselves).
    """

    def __init__(self) -> None:
        self._digests = array("Q")

    @staticmethod
    def digest(doc_id: str) -> int:
        return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest(), "little")

    def add(self, doc_id: str) -> None:
        self._digests.append(self.digest(doc_id))

    def __len__(self) -> int:
        return len(self._digests)

    def repeated(self) -> set[int]:
        values = np.frombuffer(self._digests, dtype=np.uint64) if self._digests else np.zeros(0, np.uint64)
        ordered = np.sort(values)
        return {int(v) for v in ordered[1:][ordered[1:] == ordered[:-1]]}


class PartFile:
    """One part's file, written as ``NAME.tmp`` and renamed to ``NAME`` by :meth:`commit`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self._handle: IO[str] | None = self.tmp.open("w", encoding="utf-8")

    def write(self, lines: Iterable[str]) -> None:
        assert self._handle is not None
        for line in lines:
            self._handle.write(line + "\n")

    def commit(self) -> None:
        assert self._handle is not None
        self._handle.flush()
        os.fsync(self._handle.fileno())  # on disk before resume.json counts it as finished
        self._handle.close()
        self._handle = None
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self.tmp.unlink(missing_ok=True)


class PartLog:
    """``resume.json`` of a work folder: the settings of the export and its finished parts.

    ``parts`` maps a part number to its figures (``documents``, ``postings``, ``empty_documents``,
    ``max_impact``) and ``ids``, the digest of its document ids.
    """

    def __init__(self, folder: Path, settings: dict[str, Any], resumed: bool) -> None:
        self.path = folder / RESUME_FILE
        self.settings = settings
        self.parts: dict[int, dict[str, Any]] = {}
        if resumed and self.path.is_file():
            recorded = json.loads(self.path.read_text(encoding="utf-8"))
            changed = sorted(
                key
                for key in {*settings, *recorded["settings"]}
                if settings.get(key) != recorded["settings"].get(key)
            )
            if changed:
                shown = ", ".join(
                    f"{key} {recorded['settings'].get(key)!r} then, {settings.get(key)!r} now"
                    for key in changed
                )
                raise SembridgeError(
                    f"cannot resume '{folder}': it was started with other settings ({shown})",
                    hint="resume with the same options, or pass --overwrite to start again",
                )
            self.parts = {int(number): figures for number, figures in recorded["parts"].items()}
        for stale in folder.rglob("*.tmp"):  # a part a killed run was writing
            stale.unlink()

    def add(self, number: int, figures: dict[str, Any]) -> None:
        self.parts[number] = figures
        self.save()

    def save(self) -> None:
        record = {"settings": self.settings, "parts": {str(k): v for k, v in sorted(self.parts.items())}}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    def check_ids(self, number: int, digest: str) -> None:
        """Refuse a resumed stream whose part ``number`` no longer holds the ids it was written with."""
        if self.parts[number]["ids"] != digest:
            raise SembridgeError(
                f"cannot resume '{self.path.parent}': part {number} of the corpus holds other "
                "documents than when it was written (the corpus changed)",
                hint="resume with the same corpus, or pass --overwrite to start again",
            )

    def totals(self) -> dict[str, int]:
        figures = list(self.parts.values())
        return {
            "documents": sum(f["documents"] for f in figures),
            "postings": sum(f["postings"] for f in figures),
            "empty_documents": sum(f["empty_documents"] for f in figures),
            "max_impact": max((f["max_impact"] for f in figures), default=0),
        }

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
