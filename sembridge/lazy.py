"""Names a package exports but imports only on first use (PEP 562), so importing it stays cheap.

``import sembridge`` and ``import sembridge.training`` load no torch: the command line's
``--help`` stays instant, and a command that needs one settings class does not pay for the trainer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` that import each of ``names`` (public name ->
    the module defining it) when it is first asked for, and keep it in the package afterwards.

    A name that maps to ``package.name`` is that subpackage itself (``sembridge.export``), never a
    function of the same name inside it, so the attribute and ``import package.name`` agree.
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        imported = importlib.import_module(module)
        value = imported if module == f"{package}.{name}" else getattr(imported, name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
