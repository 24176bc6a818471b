"""Output folders written all at once, and models saved in the format every tool loads.

A command writes into a temporary folder beside the output and moves it into place only when
everything is written, so a failure never leaves a half-written output behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sembridge.errors import OutputExistsError, SembridgeError


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
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{tmp.name.rsplit('-', 1)[-1]}"
        path.rename(old)
    tmp.rename(path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json(path: str | Path, data: Any) -> None:
    Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


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
