"""Device selection."""

from __future__ import annotations

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
