"""Data sets on the Hugging Face hub: the one rule for "is this string a hub data set id", and loading.

A string names a hub data set when no local file or folder has that name and it reads
``owner/name`` or ``owner/name:subset`` (the subset is a configuration, e.g.
``PaDaS-Lab/webfaq-retrieval:rus``), does not start like a path (``.``, ``/``, ``~``) and does
not end in a data-file suffix. Anything else that does not exist is a missing file. Model ids
are decided elsewhere (:mod:`sembridge.loading`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sembridge.errors import ModelLoadError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(:[\w./-]+)?$")
_FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet", ".gz", ".txt")


def is_hub_id(source: str | Path) -> bool:
    """True when ``source`` is not a local path and reads as ``owner/name[:subset]``."""
    text = str(source)
    if Path(text).expanduser().exists() or text.startswith((".", "/", "~")):
        return False
    return bool(_HUB_ID.match(text)) and not text.lower().endswith(_FILE_SUFFIXES)


def split_hub_id(hub_id: str) -> tuple[str, str | None]:
    """``owner/name:subset`` -> (``owner/name``, ``subset``); no subset -> None."""
    repo, _, subset = hub_id.partition(":")
    return repo, subset or None


def import_datasets(hub_id: str) -> Any:
    """The ``datasets`` package, or a clear error naming ``hub_id`` when it is not installed."""
    try:
        import datasets
    except ImportError as err:
        raise ModelLoadError(
            f"'{hub_id}' is not a local file or folder, and reading it as a hub data set needs the "
            "'datasets' package, which is not installed",
            hint="pip install datasets (the hub must be reachable), "
            "or download the data and pass the local folder",
        ) from err
    return datasets


def load_hub_split(hub_id: str, config: str | None, split: str) -> Any:
    """One split of a hub data set (``owner/name[:subset]``; ``config`` overrides the subset)."""
    from sembridge import hub_access

    datasets = import_datasets(hub_id)
    repo, subset = split_hub_id(hub_id)
    hub_access.require_hub(f"the data set '{hub_id}'", repo, repo_type="dataset")
    config = config or subset
    try:
        return datasets.load_dataset(repo, config, split=split)
    except Exception as err:  # datasets raises many types: offline, unknown id, unknown split
        raise ModelLoadError(
            f"could not load the data set '{hub_id}' ({type(err).__name__}: {err})",
            hint="pass a local JSONL/CSV/TSV/Parquet file or folder, or check the id, --split, the network",
        ) from err


def load_hub_config(hub_id: str, config: str) -> Any:
    """Every split of one configuration of a hub data set, as a ``DatasetDict``."""
    datasets = import_datasets(hub_id)
    repo, _ = split_hub_id(hub_id)
    try:
        return datasets.load_dataset(repo, config)
    except Exception as err:  # network, missing config, ...
        raise ModelLoadError(
            f"could not load config '{config}' of hub data set '{repo}': {err}",
            hint="is the hub reachable (HF_HUB_OFFLINE unset)? "
            "Otherwise download the data and pass the local folder",
        ) from err
