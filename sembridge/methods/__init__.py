"""Initialisation methods for the rows of new tokens, by name."""

from __future__ import annotations

from sembridge.methods.base import InitContext, Initializer, NewRows, rows_from_weights
from sembridge.methods.sembridge import SemBridgeInitializer

METHODS: dict[str, type[Initializer]] = {
    SemBridgeInitializer.name: SemBridgeInitializer,
}

__all__ = ["METHODS", "InitContext", "Initializer", "NewRows", "SemBridgeInitializer", "rows_from_weights"]
