"""Writing outputs all at once: every atomic write of the package, and the checks before it.

This module owns every atomic write of the package:

- :func:`atomic_output_dir`: a command writes its output folder into a temporary sibling that
  replaces the destination only when everything is written;
- :func:`atomic_file`: one file (a report, a plot, a cache entry) written to a temporary name
  beside its destination and moved into place with ``os.replace``;
- :func:`resumable_output_dir`: a long run (a corpus export) writes into ``OUT.partial``, which is
  kept when the run fails or is killed, so that a later run can continue it, and is moved onto
  ``OUT`` when everything is written;

so a failure never leaves a half-written output behind. :func:`check_output_dir`,
:func:`check_output_file` and :func:`check_output_location` refuse, before any heavy work, an
output that exists or that cannot be written (a parent that is a file, a read-only folder);
given the command's inputs, the first two also refuse an output that is, contains or lies inside
one of them (:func:`check_apart`), so ``--overwrite`` never deletes what the run reads.
A write that fills the disk (or the quota) is reported as :class:`DiskFullError`, naming the
file being written.

Temporary names carry their owner (``.OUT.tmp-<host>-<pid>-<random>``, ``.OUT.old-...``): a run
that finds its own kind of temporary left by a process that is gone (killed) removes it
(:func:`remove_stale_temporaries`). The final move of an output folder never replaces a folder
that appeared while the run was working unless ``overwrite`` was given.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

from sembridge.errors import OutputExistsError, SembridgeError

logger = logging.getLogger("sembridge")


Inputs = Mapping[str, Any]


def check_output_dir(path: str | Path, overwrite: bool, inputs: Inputs | None = None) -> Path:
    """Refuse an existing output folder unless ``overwrite``, or one that cannot be written;
    call before any heavy work. ``inputs``: what the run reads (:func:`check_apart`)."""
    path = Path(path)
    check_apart(path, inputs or {})
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"output folder '{path}' already exists",
            hint="choose another --output, or pass --overwrite to replace it",
        )
    if path.exists() and not path.is_dir():
        raise SembridgeError(
            f"output path '{path}' exists and is not a folder", hint="choose another --output"
        )
    check_output_location(path)
    return path


def check_output_file(
    path: str | Path, overwrite: bool, what: str = "output file", inputs: Inputs | None = None
) -> Path:
    """Refuse an existing file unless ``overwrite`` (and refuse a folder); call before heavy work.
    ``inputs``: what the run reads (:func:`check_apart`)."""
    path = Path(path)
    check_apart(path, inputs or {}, what=what)
    if path.exists() and path.is_dir():
        raise SembridgeError(f"{what} '{path}' is a folder", hint="give a file name, e.g. report.json")
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{what} '{path}' already exists", hint="choose another name, or pass --overwrite to replace it"
        )
    return check_output_location(path)  # a parent that is a file, a folder that cannot be written


def check_apart(output: str | Path, inputs: Inputs, what: str = "output") -> None:
    """Refuse an ``output`` that is, contains or lies inside one of ``inputs``.

    ``inputs`` maps what each input is ("model", "corpus", "cache", ...) to what the caller was
    given: a path, a list of them, or anything else (None, a loaded model, a Dataset, a mapping),
    which is no path and is skipped. Only paths that exist on disk count (a hub id is not one); both sides are
    compared with symbolic links resolved. Writing an output replaces (``--overwrite``) or fills
    its folder, so an output equal to an input or above it would delete the input, and one inside
    an input folder would change it.
    """
    out = Path(os.path.realpath(output))
    for role, value in inputs.items():
        for given in value if isinstance(value, (list, tuple)) else [value]:
            if not isinstance(given, (str, Path)) or not str(given) or not os.path.lexists(given):
                continue
            source = Path(os.path.realpath(given))
            if out == source:
                relation = "is"
            elif out in source.parents:
                relation = "contains"
            elif source in out.parents:
                relation = "lies inside"
            else:
                continue
            raise SembridgeError(
                f"{what} '{output}' {relation} the {role} '{given}'; writing it would "
                + ("change" if relation == "lies inside" else "delete")
                + f" the {role}",
                hint=f"choose an --output outside the {role}",
            )


def check_output_location(path: str | Path) -> Path:
    """Refuse an output (file or folder) that could not be written where it is asked for.

    The nearest existing folder above ``path`` must be a folder (not a file) that this user may
    write in, on a file system mounted for writing: what creating ``path`` and its missing parents
    needs. Nothing is created.
    """
    path = Path(path)
    for parent in path.absolute().parents:
        if not os.path.lexists(parent):
            continue
        shown = _relative(parent)
        if not parent.is_dir():
            raise SembridgeError(
                f"'{shown}' is a file, not a folder, so '{path}' cannot be written",
                hint="choose another --output",
            )
        reason = None
        if hasattr(os, "statvfs") and os.statvfs(parent).f_flag & os.ST_RDONLY:
            reason = "it is on a read-only file system"
        elif not os.access(parent, os.W_OK | os.X_OK):
            reason = "permission denied"
        if reason:
            raise SembridgeError(
                f"cannot write in '{shown}' ({reason}), so '{path}' cannot be written",
                hint="choose an --output in a folder you can write to",
            )
        return path
    return path


def _relative(path: Path) -> str:
    """``path`` as the user likely typed it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------------
# Temporary names and their clean-up

# Host names are reduced to letters and digits so that a temporary name parses back unambiguously.
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-[A-Za-z0-9_]+$")
# Names of sembridge <= 0.x, without their owner: ``.NAME.tmp-<8 random characters>``.
_LEGACY_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-[a-z0-9_]{8}$")


# The start of "this run": when this process imported sembridge.io (a process start time read
# from the system is rounded to the second, too coarse to tell a temporary of a run killed just
# before this one started).
_RUN_STARTED = time.time()


def temporary_prefix(name: str, kind: Literal["tmp", "old"] = "tmp") -> str:
    """The prefix of this process's temporaries for the output ``name``: ``.name.tmp-<host>-<pid>-``."""
    return f".{name}.{kind}-{_HOST}-{os.getpid()}-"


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, owned by another user
        return True
    return True


def remove_stale_temporaries(
    folder: str | Path, name: str | None = None, legacy_after: float | None = None
) -> list[Path]:
    """Remove the temporaries sembridge left in ``folder`` (for the output ``name``, or any).

    Only names sembridge itself makes (``.NAME.tmp-<host>-<pid>-<random>`` and
    ``.NAME.old-...``) are touched, and only those written on this host by a process that is no
    longer alive and last modified before this run began: a live run's temporaries are never
    removed. Older versions' names carry no owner: they are removed only when ``legacy_after``
    is given and they were last modified more than that many seconds ago (for folders where a
    write lasts seconds, such as the bridge cache). Returns what was removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        legacy = None if match or legacy_after is None else _LEGACY_TEMPORARY.match(entry.name)
        if (match or legacy) is None or (name is not None and (match or legacy)["name"] != name):
            continue
        try:
            modified = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if legacy is not None:
            if modified > time.time() - legacy_after:
                continue
        elif match["host"] != _HOST or int(match["pid"]) == os.getpid():
            continue
        elif _owner_alive(int(match["pid"])) or modified >= _RUN_STARTED:
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        if not os.path.lexists(path):
            removed.append(path)
    if removed:
        logger.info(
            "removed %d stale temporar%s left by killed runs in %s",
            len(removed),
            "y" if len(removed) == 1 else "ies",
            folder,
        )
    return removed


# ---------------------------------------------------------------------------------------------
# Atomic writes


_FULL = tuple(getattr(errno, name) for name in ("ENOSPC", "EDQUOT") if hasattr(errno, name))
# How libraries that do not raise OSError report a full disk (safetensors' Rust IoError): the
# system's messages for ENOSPC and EDQUOT, or Rust's name for them.
_FULL_TEXTS = ("no space left on device", "disk quota exceeded", "disc quota exceeded", "storagefull")


class DiskFullError(SembridgeError):
    """The disk (or the user's quota) filled up while ``path`` was being written."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(
            f"no space left on the device while writing '{path}'",
            hint="free some space on that disk, or choose an --output on another one",
        )
        self.path = str(path)


def _disk_full(err: BaseException | None) -> bool:
    """True when ``err``, or an error it came from, says the disk or the user's quota is full."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _FULL:
            return True
        if isinstance(err, Exception) and any(text in str(err).lower() for text in _FULL_TEXTS):
            return True
        err = err.__cause__ or err.__context__
    return False


def _written_name(err: BaseException, tmp: Path, path: Path) -> str:
    """The file that was being written when ``err`` came, for the output folder ``path`` built in
    ``tmp``: the one an inner :class:`DiskFullError` or the ``OSError`` names (inside ``tmp``:
    shown under ``path``), else the file written last in ``tmp``; else ``path`` itself."""
    named = err.path if isinstance(err, DiskFullError) else getattr(err, "filename", None)
    if isinstance(named, (str, os.PathLike)):
        try:
            inside = Path(os.path.abspath(named)).relative_to(os.path.abspath(tmp))
        except ValueError:
            return str(named)  # a file elsewhere (a cache) filled its disk
        if str(inside) != ".":
            return str(path / inside)
    newest = _newest_file(tmp)  # a failed write() names no file: the one written last
    return str(path / newest.relative_to(tmp)) if newest is not None else str(path)


def _newest_file(folder: Path) -> Path | None:
    """The file under ``folder`` modified last, or None."""
    newest: tuple[int, Path] | None = None
    for item in folder.rglob("*"):
        try:
            if item.is_file() and not item.is_symlink():
                stamp = item.stat().st_mtime_ns
                if newest is None or stamp >= newest[0]:
                    newest = (stamp, item)
        except OSError:
            continue
    return newest[1] if newest is not None else None


@contextmanager
def atomic_output_dir(path: str | Path, overwrite: bool = False, *, checked: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``path``, on failure it is removed.

    ``checked``: the caller ran :func:`check_output_dir` when its run began, so a folder found at
    ``path`` now appeared while the run was working (another run?). Without ``overwrite`` such a
    folder is never replaced: the result is moved to ``PATH.sembridge-<pid>`` and
    :class:`OutputExistsError` says so. The same holds when a folder appears during the block:
    the final move cannot replace a non-empty folder (``rename`` refuses on POSIX).
    Stale temporaries of ``path`` left by killed runs are removed first.
    """
    path = Path(path)
    if not (checked and not overwrite):
        check_output_dir(path, overwrite)
    else:
        check_output_location(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, path.name)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(path.name), dir=path.parent))
    except OSError as err:
        if _disk_full(err):
            raise DiskFullError(path) from err
        raise
    try:
        yield tmp
        normal_permissions(tmp, tree=True)  # mkdtemp makes 0700, libraries' temporaries 0600
        if overwrite:
            _replace_dir(tmp, path)
        else:
            _move_dir(tmp, path)
    except BaseException as err:
        full = _disk_full(err) and _written_name(err, tmp, path)  # before the files go
        shutil.rmtree(tmp, ignore_errors=True)
        if full:
            raise DiskFullError(full) from err
        raise


_TAKEN = (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def normal_permissions(path: Path, tree: bool = False) -> None:
    """Give ``path`` (with ``tree``, everything under it) the permissions of a plain write:
    0o666 & ~umask for files (0o777 & ~umask if executable), 0o777 & ~umask for folders."""
    mask = _umask()
    paths = [path, *path.rglob("*")] if tree and path.is_dir() else [path]
    for item in paths:
        if item.is_symlink():
            continue
        executable = item.is_dir() or item.stat().st_mode & 0o111
        os.chmod(item, (0o777 if executable else 0o666) & ~mask)


def _move_dir(tmp: Path, path: Path) -> None:
    """Move ``tmp`` to ``path`` if nothing is there; else keep it beside ``path`` and refuse."""
    if not os.path.lexists(path):
        try:
            os.rename(tmp, path)  # onto a non-empty folder or a file: refused by the system
            return
        except OSError as err:
            if err.errno not in _TAKEN:
                raise
    kept = path.with_name(f"{path.name}.sembridge-{os.getpid()}")
    try:
        os.rename(tmp, kept)
    except OSError:
        kept = tmp
    raise OutputExistsError(
        f"output folder '{path}' appeared while this run was working (another run?)",
        hint=f"pass --overwrite to replace it; this run's result is kept in '{kept}'",
    )


def _replace_dir(tmp: Path, path: Path, attempts: int = 5) -> None:
    """Move ``tmp`` to ``path``, replacing what is there (moved aside, then removed)."""
    for _ in range(attempts):
        try:
            os.rename(tmp, path)
            return
        except OSError as err:
            if err.errno not in _TAKEN:
                raise
        old = Path(tempfile.mkdtemp(prefix=temporary_prefix(path.name, "old"), dir=path.parent))
        try:
            os.rename(path, old)  # replaces the empty placeholder folder
        except FileNotFoundError:  # another run moved it meanwhile: try again
            old.rmdir()
            continue
        try:
            os.rename(tmp, path)
        except BaseException:
            if not os.path.lexists(path):
                os.rename(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    raise SembridgeError(
        f"could not move the result into '{path}': other runs keep replacing it",
        hint="run one command per output folder at a time",
    )


PARTIAL_SUFFIX = ".partial"
_LOCK = ".lock"


def partial_dir(path: str | Path) -> Path:
    """The work folder of a resumable output ``path``: ``PATH.partial`` beside it."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


class PartialDir:
    """The work folder :func:`resumable_output_dir` yields: ``path``, whether it ``resumed`` an
    earlier run's folder, and ``keep``: set it once the folder holds work worth continuing, so that
    a failure keeps it (else a failed run removes it)."""

    def __init__(self, path: Path, resumed: bool) -> None:
        self.path, self.resumed, self.keep = path, resumed, resumed


def check_resumable_output(
    path: str | Path, overwrite: bool = False, resume: bool = False, inputs: Inputs | None = None
) -> Path:
    """The checks of :func:`resumable_output_dir`, for before any heavy work; returns the work folder.

    An existing output is refused unless ``overwrite`` (:func:`check_output_dir`), and so is an
    unfinished run's work folder unless ``resume`` or ``overwrite``.
    """
    path = Path(path)
    check_output_dir(path, overwrite, inputs)
    work = partial_dir(path)
    check_apart(work, inputs or {})
    if work.exists() and not (resume and work.is_dir()) and not overwrite:
        raise OutputExistsError(
            f"an unfinished run left '{work}'",
            hint="pass --resume to continue it, or --overwrite to start again",
        )
    return work


@contextmanager
def resumable_output_dir(
    path: str | Path, overwrite: bool = False, resume: bool = False, inputs: Inputs | None = None
) -> Iterator[PartialDir]:
    """Yield the work folder ``PATH.partial`` of the output ``path``; on success move it onto ``path``.

    ``resume``: continue the work folder an earlier run left (a fresh one is made when there is
    none); without it an existing work folder is refused unless ``overwrite`` (which starts
    again). One run at a time holds a work folder (a lock inside it): a second is refused. When
    the block fails, the folder is kept if :attr:`PartialDir.keep` is set (the message says how
    to continue) and removed otherwise. The output itself follows :func:`check_output_dir`: an
    existing one is refused unless ``overwrite``.
    """
    import fcntl

    path = Path(path)
    work = check_resumable_output(path, overwrite, resume, inputs)
    resumed = work.is_dir() and resume
    if work.exists() and not resumed:
        if (work / _LOCK).is_file():  # --overwrite never removes the folder of a run still writing it
            with (work / _LOCK).open("a") as held:
                try:
                    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as err:
                    raise SembridgeError(
                        f"another run is writing '{work}'",
                        hint="wait for it to end, or choose another --output",
                    ) from err
        shutil.rmtree(work) if work.is_dir() else work.unlink()
    try:
        work.mkdir(parents=True, exist_ok=resumed)
    except OSError as err:
        if _disk_full(err):
            raise DiskFullError(work) from err
        raise
    lock = (work / _LOCK).open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        lock.close()
        raise SembridgeError(
            f"another run is writing '{work}'", hint="wait for it to end, or choose another --output"
        ) from err
    state = PartialDir(work, resumed)
    try:
        yield state
        (work / _LOCK).unlink()
        normal_permissions(work, tree=True)
        if overwrite:
            _replace_dir(work, path)
        else:
            _move_dir(work, path)
    except BaseException as err:
        full = _disk_full(err) and _written_name(err, work, path)
        if not state.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            logger.warning(
                "the work done so far is kept in %s: run the same command with --resume to go on", work
            )
        if full:
            raise DiskFullError(full) from err
        raise
    finally:
        lock.close()


@contextmanager
def atomic_file(path: str | Path, mode: Literal["w", "wb"] = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` (text, UTF-8, for ``"w"``; bytes for ``"wb"``).

    When the block succeeds the file replaces ``path`` (``os.replace``, atomic on one file
    system); when it fails the temporary file is removed and ``path`` keeps its old content.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}.")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent, path.name)
        fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path.name), dir=path.parent)
    except OSError as err:
        check_output_location(path)  # names the parent that is a file, or the read-only folder
        if _disk_full(err):
            raise DiskFullError(path) from err
        raise
    try:
        encoding = "utf-8" if mode == "w" else None
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
        normal_permissions(Path(tmp))  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if _disk_full(err) and not isinstance(err, DiskFullError):
            raise DiskFullError(path) from err
        raise


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented UTF-8 JSON (a final newline), atomically."""
    with atomic_file(path) as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    return Path(path)
