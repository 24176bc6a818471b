"""Writing outputs all at once, the library version stamp, and models saved in the format every tool loads.

This module owns every atomic write of the package:

- :func:`atomic_output_dir`: a command writes its output folder into a temporary sibling that
  replaces the destination only when everything is written;
- :func:`atomic_file`: one file (a report, a plot, a cache entry) written to a temporary name
  beside its destination and moved into place with ``os.replace``;

so a failure never leaves a half-written output behind. :func:`library_versions` is the one
version stamp that reports record.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Literal

from sembridge.errors import OutputExistsError, SembridgeError

# Version stamp key -> distribution name.
_STAMPED_DISTRIBUTIONS = {
    "torch": "torch",
    "transformers": "transformers",
    "sentence_transformers": "sentence-transformers",
    "tokenizers": "tokenizers",
    "entmax": "entmax",
}


def check_output_dir(path: str | Path, overwrite: bool) -> Path:
    """Refuse an existing output folder unless ``overwrite``; call before any heavy work."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"output folder '{path}' already exists",
            hint="choose another --output, or pass --overwrite to replace it",
        )
    if path.exists() and not path.is_dir():
        raise SembridgeError(
            f"output path '{path}' exists and is not a folder", hint="choose another --output"
        )
    return path


@contextmanager
def atomic_output_dir(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``path``, on failure it is removed."""
    path = check_output_dir(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old-{tmp.name.rsplit('-', 1)[-1]}"
            path.rename(old)
        try:
            tmp.rename(path)
        except BaseException:
            if old is not None and not path.exists():
                old.rename(path)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_file(path: str | Path, mode: Literal["w", "wb"] = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` (text, UTF-8, for ``"w"``; bytes for ``"wb"``).

    When the block succeeds the file replaces ``path`` (``os.replace``, atomic on one file
    system); when it fails the temporary file is removed and ``path`` keeps its old content.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        encoding = "utf-8" if mode == "w" else None
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented UTF-8 JSON (a final newline), atomically."""
    with atomic_file(path) as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    return Path(path)


def library_versions() -> dict[str, str]:
    """The version stamp of a report: Python, sembridge and the libraries that shape its numbers.

    Versions are read from the installed distributions (nothing is imported); a library that is
    not installed is stamped ``"unknown"``.
    """
    from sembridge import __version__

    versions = {"sembridge": __version__, "python": platform.python_version()}
    for key, distribution in _STAMPED_DISTRIBUTIONS.items():
        try:
            versions[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[key] = "unknown"
    return versions


def save_sparse_encoder(
    model: Any,
    tokenizer: Any,
    out_dir: str | Path,
    pooling_strategy: str = "max",
    activation_function: str = "relu",
    max_seq_length: int | None = None,
) -> None:
    """Save a masked-LM model and its tokenizer as a SPLADE SparseEncoder folder.

    The folder holds the plain ``transformers`` files at its root (so ``AutoModelForMaskedLM``
    and ``AutoTokenizer`` load it) and sentence-transformers' ``modules.json`` pinning
    MLMTransformer + SpladePooling (max pooling of log(1 + relu(logits))).
    """
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SpladePooling

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    mlm = _fill_mask_module(out_dir, max_seq_length)
    pooling = SpladePooling(
        pooling_strategy=pooling_strategy,
        activation_function=activation_function,
        embedding_dimension=model.config.vocab_size,
    )
    encoder = SparseEncoder(modules=[mlm, pooling], device="cpu")
    encoder.save(str(out_dir))


def _fill_mask_module(path: Path, max_seq_length: int | None) -> Any:
    """The masked-LM module: Transformer(fill-mask) in sentence-transformers >= 6, MLMTransformer in 5.x."""
    import inspect

    from sentence_transformers.sparse_encoder import modules

    kwargs = {"max_seq_length": max_seq_length} if max_seq_length else {}
    if "transformer_task" in inspect.signature(modules.Transformer.__init__).parameters:
        return modules.Transformer(str(path), transformer_task="fill-mask", **kwargs)
    return modules.MLMTransformer(str(path), **kwargs)
