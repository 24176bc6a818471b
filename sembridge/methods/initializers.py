"""Method name -> the class that implements it (one per ``METHODS`` entry), and ``create_initializer``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sembridge.methods.base import Initializer, MethodResources
from sembridge.methods.focus import FocusInitializer
from sembridge.methods.gaussian import GaussianInitializer, MultivariateGaussianInitializer
from sembridge.methods.mean import MeanInitializer
from sembridge.methods.ofa import OfaInitializer
from sembridge.methods.random import RandomInitializer
from sembridge.methods.sembridge import SemBridgeInitializer
from sembridge.methods.wechsel import WechselInitializer

INITIALIZERS: dict[str, type[Initializer]] = {
    cls.spec.name: cls
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


def create_initializer(
    method: str,
    options: Mapping[str, Any] | None = None,
    source_tokenizer: Any = None,
    target_tokenizer: Any = None,
    source_config: Any = None,
) -> Initializer:
    """An initializer for ``method`` with its options, given the loaded objects some methods need."""
    resources = MethodResources(source_tokenizer, target_tokenizer, source_config)
    return INITIALIZERS[method](options, resources)


__all__ = ["INITIALIZERS", "create_initializer"]
