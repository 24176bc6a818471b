"""Initialisation methods for the rows of new tokens, by name.

``sembridge`` is the paper's method; the others are the baselines it is compared against. Every
method shares the loading, overlap copying, MLM-head remapping, config fixing and output format:
only the rows of the new tokens differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sembridge.methods.base import InitContext, Initializer, NewRows, rows_from_weights
from sembridge.methods.common import BaselineInitializer, MethodResources
from sembridge.methods.focus import FocusInitializer
from sembridge.methods.gaussian import GaussianInitializer, MultivariateGaussianInitializer
from sembridge.methods.mean import MeanInitializer
from sembridge.methods.ofa import OfaInitializer
from sembridge.methods.options import MethodOption, check_method_options
from sembridge.methods.random import RandomInitializer
from sembridge.methods.sembridge import SemBridgeInitializer
from sembridge.methods.wechsel import WechselInitializer

METHODS: dict[str, type[Initializer]] = {
    cls.name: cls
    for cls in (
        SemBridgeInitializer,
        RandomInitializer,
        MeanInitializer,
        GaussianInitializer,
        MultivariateGaussianInitializer,
        FocusInitializer,
        OfaInitializer,
        WechselInitializer,
    )
}


def declared_options(method: str) -> tuple[MethodOption, ...]:
    """The ``method_options`` a method reads (none for ``sembridge``, whose options are InitConfig fields)."""
    return tuple(getattr(METHODS[method], "declared_options", ()))


def check_options(method: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``options`` validated for ``method``, with defaults filled in (see :func:`check_method_options`)."""
    registry = {name: declared_options(name) for name in METHODS}
    examples = {name: getattr(cls, "example", "") for name, cls in METHODS.items()}
    return check_method_options(method, options, registry, examples)


def create_initializer(
    method: str,
    options: Mapping[str, Any] | None = None,
    source_tokenizer: Any = None,
    target_tokenizer: Any = None,
    source_config: Any = None,
) -> Initializer:
    """An initializer for ``method``, given the loaded objects the baselines need."""
    cls = METHODS[method]
    if issubclass(cls, BaselineInitializer):
        resources = MethodResources(source_tokenizer, target_tokenizer, source_config)
        return cls(dict(options or {}), resources)
    return cls()


__all__ = [
    "METHODS",
    "BaselineInitializer",
    "FocusInitializer",
    "GaussianInitializer",
    "InitContext",
    "Initializer",
    "MeanInitializer",
    "MethodOption",
    "MethodResources",
    "MultivariateGaussianInitializer",
    "NewRows",
    "OfaInitializer",
    "RandomInitializer",
    "SemBridgeInitializer",
    "WechselInitializer",
    "check_options",
    "create_initializer",
    "declared_options",
    "rows_from_weights",
]
