"""Device selection, and which process of a ``torchrun`` launch this is."""

from __future__ import annotations

import os

import torch

from sembridge.errors import SembridgeError


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks cuda when available, else cpu; ``cuda`` without a GPU is refused."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise SembridgeError(f"unknown device '{device}'", hint="use auto, cpu, cuda or cuda:N") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise SembridgeError(
            f"device '{device}' was asked for but no CUDA GPU is available", hint="use --device cpu"
        )
    return resolved


def process_rank() -> int:
    """This process's rank under ``torchrun`` / ``accelerate launch`` (``RANK``); 0 when launched alone."""
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """True on the process that logs and writes (rank 0), and in a plain single-process run."""
    return process_rank() == 0


def launched_processes() -> int:
    """How many processes the launcher started (``WORLD_SIZE``); 1 when launched alone."""
    return max(int(os.environ.get("WORLD_SIZE", "1")), 1)
