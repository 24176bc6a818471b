"""The settings a fine-tuning run's checkpoints were trained with, and their check on ``--resume``.

At the start of training the first process writes ``sembridge_run.json`` into the checkpoint
folder: every setting that changes the optimisation (learning rate and its schedule, batch,
steps, FLOPs weights, temperature, token limits, precision, seed, number of processes) and a
fingerprint of the training pairs (count, columns, SHA-256 of their texts). ``--resume``
compares the settings it is given with these; a difference is refused with a line naming each
one, unless ``--resume-changed`` says to continue with the new values. The file then records
the new values, which the rest of the run (and its checkpoints) uses.

Keys are the command-line flags, so that the refusal reads as what to type
("--lr: checkpoint 0.0001, now 5e-05").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sembridge.cache import hash_texts
from sembridge.errors import SembridgeError
from sembridge.flags import flag_name
from sembridge.io import write_json
from sembridge.training.config import FinetuneConfig

if TYPE_CHECKING:
    from datasets import Dataset

RUN_SETTINGS_NAME = "sembridge_run.json"
FORMAT = 1
HASH_BATCH = 10_000


def data_fingerprint(dataset: Dataset) -> dict[str, Any]:
    """Pairs, columns and the SHA-256 of every text (length-prefixed, column by column, in order).

    Where the pairs come from (file name, folder, hub id) does not count: moving the file is no
    change, editing one row is.
    """
    digest = hashlib.sha256()
    columns = sorted(dataset.column_names)
    table = dataset.with_format("arrow")
    for start in range(0, len(dataset), HASH_BATCH):
        batch = table[start : start + HASH_BATCH]
        for name in columns:
            digest.update(name.encode("utf-8"))
            hash_texts(digest, map(str, batch.column(name).to_pylist()))
    return {"pairs": len(dataset), "columns": columns, "sha256": digest.hexdigest()}


# The fields of FinetuneConfig that shape the optimisation, recorded under their flags (--lr, ...).
OPTIMISATION_FIELDS = (
    "epochs",
    "max_steps",
    "batch_size",
    "grad_accum",
    "learning_rate",
    "warmup_ratio",
    "weight_decay",
    "temperature",
    "query_reg",
    "doc_reg",
    "reg_warmup_ratio",
    "loss",
    "teacher_temperature",
    "student_temperature",
    "margin_scale",
    "cached",
    "mini_batch_size",
    "paragraph_groups",
    "query_max_length",
    "doc_max_length",
    "seed",
)


def run_settings(
    config: FinetuneConfig, train: Dataset | Mapping[str, Dataset], world_size: int
) -> dict[str, Any]:
    """The settings of this run that shape the optimisation, keyed by their command-line flag.

    The flags are read from ``FinetuneConfig``'s declarations (:mod:`sembridge.flags`); the token
    limits are recorded as they apply (``--query-max-length`` falls back to ``--max-length``).
    """
    values = {
        **{name: getattr(config, name) for name in OPTIMISATION_FIELDS},
        "query_max_length": config.query_length,
        "doc_max_length": config.document_length,
    }
    settings: dict[str, Any] = {flag_name(FinetuneConfig, name): values[name] for name in OPTIMISATION_FIELDS}
    data = (
        {name: data_fingerprint(part) for name, part in train.items()}
        if isinstance(train, Mapping)
        else data_fingerprint(train)
    )  # several named training sets: each one's fingerprint
    settings.update({"processes": world_size, "precision": config.precision, "data": data})
    return settings


def read_run_settings(checkpoint_dir: Path) -> dict[str, Any] | None:
    """The recorded settings, or None when the folder has none (checkpoints of an older version)."""
    path = Path(checkpoint_dir) / RUN_SETTINGS_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise SembridgeError(
            f"cannot read the run settings '{path}': {err}",
            hint="start over with --overwrite, or delete the file to resume without checking the settings",
        ) from err
    settings = data.get("settings") if isinstance(data, dict) else None
    return settings if isinstance(settings, dict) else None


def write_run_settings(checkpoint_dir: Path, settings: Mapping[str, Any], source: str | None) -> Path:
    """Record ``settings`` (and where the training pairs came from) in the checkpoint folder, atomically."""
    data = {"format": FORMAT, "train_source": source, "settings": dict(settings)}
    return write_json(Path(checkpoint_dir) / RUN_SETTINGS_NAME, data)


def changed_settings(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{flag: {"checkpoint": old, "now": new}}`` for each setting that differs (unrecorded ones skipped)."""
    return {
        key: {"checkpoint": recorded[key], "now": value}
        for key, value in current.items()
        if key in recorded and recorded[key] != value
    }


def describe(value: Any) -> str:
    """One setting's value as the refusal shows it."""
    if isinstance(value, dict) and "sha256" in value:
        columns = ", ".join(value.get("columns", []))
        return f"{value.get('pairs', 0):,} pairs ({columns}; sha256 {value['sha256'][:12]})"
    return "none" if value is None else str(value)


def check_resume_settings(
    recorded: Mapping[str, Any], current: Mapping[str, Any], checkpoint: str, allow_changed: bool
) -> dict[str, dict[str, Any]]:
    """Compare the settings of a resumed run with the checkpoint's; refuse a difference unless allowed.

    Returns the differences (empty when none) so the report can record them.
    """
    changes = changed_settings(recorded, current)
    if changes and not allow_changed:
        listed = "; ".join(
            f"{key}: checkpoint {describe(change['checkpoint'])}, now {describe(change['now'])}"
            for key, change in changes.items()
        )
        raise SembridgeError(
            f"--resume with settings that differ from those {checkpoint} was trained with: {listed}",
            hint="pass the same values, or --resume-changed to go on from the checkpoint with the new ones",
        )
    return changes
