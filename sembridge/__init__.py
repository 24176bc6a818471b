"""sembridge: adapt English learned-sparse retrieval encoders to new languages (SemBridge)."""

from __future__ import annotations

__version__ = "0.1.0"

from sembridge.errors import ModelLoadError, OutputExistsError, SembridgeError

__all__ = ["ModelLoadError", "OutputExistsError", "SembridgeError", "__version__"]
