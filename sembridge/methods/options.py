"""Options of the initialisation methods, declared once and checked before any heavy work.

Each method declares the options it uses (:class:`MethodOption`); ``InitConfig.method_options``
holds their values by key. :func:`check_method_options` refuses an option the chosen method does
not use, names the ``sembridge init`` option of a missing required input, checks that input
files exist and that numbers are in range, and fills in defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sembridge.errors import SembridgeError

OptionKind = Literal["file", "float", "int"]

# Options of the SemBridge method itself (InitConfig fields rather than method_options); the CLI
# refuses them for the other methods.
SEMBRIDGE_ONLY_FLAGS = ("--alpha", "--bridge", "--bridge-prompt")


@dataclass(frozen=True)
class MethodOption:
    """One input of a method: its key in ``method_options``, its CLI flag and its constraints."""

    key: str
    flag: str
    kind: OptionKind
    help: str
    default: Any = None
    required: bool = False
    # Numbers must be > 0 ("positive") or >= 1 ("at least one"); files must exist.
    positive: bool = True

    @property
    def metavar(self) -> str:
        return {"file": "FILE", "float": "FLOAT", "int": "INT"}[self.kind]

    def check(self, value: Any, method: str) -> Any:
        """The value converted to its kind, or a SembridgeError naming the flag and the bad value."""
        if self.kind == "file":
            path = Path(str(value)).expanduser()
            if not path.is_file():
                raise SembridgeError(
                    f"{self.flag} '{value}' is not a file",
                    hint=f"method '{method}' reads {self.help.rstrip('.')}",
                )
            return str(path)
        if isinstance(value, bool):
            raise SembridgeError(f"{self.flag} must be a number, got {value!r}")
        if self.kind == "int" and isinstance(value, float) and not value.is_integer():
            raise SembridgeError(f"{self.flag} must be an integer, got {value!r}")
        try:
            number = int(value) if self.kind == "int" else float(value)
        except (TypeError, ValueError):
            expected = "an integer" if self.kind == "int" else "a number"
            raise SembridgeError(f"{self.flag} must be {expected}, got {value!r}") from None
        if self.positive and not number > 0:
            what = "a positive integer" if self.kind == "int" else "positive"
            raise SembridgeError(f"{self.flag} must be {what}, got {value!r}")
        return number


def _owners(key: str, registry: Mapping[str, Iterable[MethodOption]]) -> list[str]:
    return sorted(name for name, options in registry.items() if any(o.key == key for o in options))


def check_method_options(
    method: str,
    options: Mapping[str, Any] | None,
    registry: Mapping[str, Iterable[MethodOption]],
    examples: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Validate ``options`` for ``method`` and return them with defaults filled in.

    ``registry`` maps every method name to the options it declares. ``None`` values count as not
    given. Raises :class:`SembridgeError` for an option of another method, an unknown option, a
    missing required input (naming its flag, with an example command) or a bad value.
    """
    declared = {o.key: o for o in registry.get(method, ())}
    flags = {o.key: o.flag for opts in registry.values() for o in opts}
    given = {k: v for k, v in (options or {}).items() if v is not None}
    for key in given:
        if key in declared:
            continue
        owners = _owners(key, registry)
        if owners:
            raise SembridgeError(
                f"{flags[key]} is not used by method '{method}'",
                hint=f"{flags[key]} is an option of: {', '.join(owners)}; leave it out or use one of them",
            )
        known = sorted(flags)
        raise SembridgeError(
            f"unknown method option '{key}'",
            hint=f"method options are: {', '.join(known)}" if known else None,
        )
    resolved: dict[str, Any] = {}
    for key, option in declared.items():
        if key in given:
            resolved[key] = option.check(given[key], method)
        elif option.required:
            example = (examples or {}).get(method)
            raise SembridgeError(
                f"method '{method}' needs {option.flag} {option.metavar}: {option.help}",
                hint=f"for example: {example}" if example else None,
            )
        elif option.default is not None:
            resolved[key] = option.default
    return resolved
