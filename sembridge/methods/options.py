"""Options of the initialisation methods, declared once and checked before any heavy work.

Each method, SemBridge included, declares the options it uses (:class:`MethodOption`);
``InitConfig.method_options`` holds their values by key, and ``sembridge init`` builds one flag
per declared option. :func:`check_method_options` refuses an option the chosen method does not
use, names the ``sembridge init`` option of a missing required input, checks that input files
exist and that values are of their kind and in range, and fills in defaults.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sembridge.errors import SembridgeError, UsageError

# file: an existing file; folder: a folder path (need not exist); str: any text; int, float: numbers;
# floats: a list of numbers (a sequence, or text with commas); bool: on or off.
OptionKind = Literal["file", "folder", "str", "float", "int", "floats", "bool"]

_METAVARS = {
    "file": "FILE",
    "folder": "DIR",
    "str": "TEXT",
    "float": "FLOAT",
    "int": "INT",
    "floats": "LIST",
    "bool": "",
}


@dataclass(frozen=True)
class MethodOption:
    """One input of a method: its key in ``method_options``, its CLI flag and its constraints.

    Numbers must be > 0 (``positive``), or ``>= minimum`` when ``minimum`` is set, in which case
    ``hint`` explains the range; infinities and nan are always refused. ``short`` is an extra
    short CLI flag (``-b``).
    ``words`` are texts a number option also takes (``--alpha auto``), returned in lower case;
    a text option with ``words`` takes only those (``--bridge-backend onnx``).
    """

    key: str
    flag: str
    kind: OptionKind
    help: str
    default: Any = None
    required: bool = False
    positive: bool = True
    minimum: float | None = None
    hint: str | None = None
    short: str | None = None
    words: tuple[str, ...] = ()

    @property
    def metavar(self) -> str:
        return _METAVARS[self.kind]

    def check(self, value: Any, method: str) -> Any:
        """The value converted to its kind, or an error naming the flag and the bad value.

        A value out of range or of the wrong kind is a :class:`UsageError` (exit status 2); a
        file that is not there, a :class:`SembridgeError`.
        """
        if self.kind == "file":
            path = Path(str(value)).expanduser()
            if not path.is_file():
                raise SembridgeError(
                    f"{self.flag} '{value}' is not a file",
                    hint=f"method '{method}' reads {self.help.rstrip('.')}",
                )
            return str(path)
        if self.kind in ("folder", "str"):
            if not isinstance(value, str | Path):
                raise UsageError(f"{self.flag} must be text, got {value!r}")
            if self.kind == "str" and self.words and str(value).strip().lower() not in self.words:
                raise UsageError(
                    f"{self.flag} must be one of {', '.join(self.words)}, got {value!r}", hint=self.hint
                )
            if self.kind == "str" and self.words:
                return str(value).strip().lower()
            return str(Path(value).expanduser()) if self.kind == "folder" else str(value)
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise UsageError(f"{self.flag} must be True or False, got {value!r}")
            return value
        if self.kind == "floats":
            return self._numbers(value)
        if isinstance(value, str) and self.words:
            if value.strip().lower() in self.words:
                return value.strip().lower()
            try:  # the CLI passes such an option as text: '0.5' is the number 0.5
                value = float(value)
            except ValueError:
                pass
        return self._number(value)

    def _numbers(self, value: Any) -> list[float]:
        items = value.split(",") if isinstance(value, str) else value
        try:
            numbers = [self._number(item.strip() if isinstance(item, str) else item) for item in items]
        except TypeError:
            raise UsageError(f"{self.flag} must be a list of numbers, got {value!r}") from None
        if not numbers:
            raise UsageError(f"{self.flag} must name at least one number, got {value!r}", hint=self.hint)
        return numbers

    def _number(self, value: Any) -> float | int:
        if isinstance(value, bool):
            raise UsageError(f"{self.flag} must be a number, got {value!r}")
        if self.kind == "int" and isinstance(value, float) and not value.is_integer():
            raise UsageError(f"{self.flag} must be an integer, got {value!r}")
        try:
            number = int(value) if self.kind == "int" else float(value)
        except (TypeError, ValueError):
            expected = "an integer" if self.kind == "int" else "a number"
            expected += "".join(f" or '{word}'" for word in self.words)
            raise UsageError(f"{self.flag} must be {expected}, got {value!r}", hint=self.hint) from None
        # The number itself is shown (inf, nan, 0.5), whether it came as text or as a number.
        if self.minimum is not None:
            if not (math.isfinite(number) and number >= self.minimum):
                raise UsageError(
                    f"{self.flag} must be {'' if math.isfinite(number) else 'a finite number '}"
                    f">= {self.minimum:g}, got {number!r}",
                    hint=self.hint,
                )
        elif self.positive and not (math.isfinite(number) and number > 0):
            what = "positive" if math.isfinite(number) else "a finite positive number"
            what = "a positive integer" if self.kind == "int" else what
            raise UsageError(f"{self.flag} must be {what}, got {number!r}", hint=self.hint)
        elif not math.isfinite(number):
            raise UsageError(f"{self.flag} must be a finite number, got {number!r}", hint=self.hint)
        return number


def option_owners(key: str, registry: Mapping[str, Iterable[MethodOption]]) -> list[str]:
    """The methods (sorted) that declare the option ``key``."""
    return sorted(name for name, options in registry.items() if any(o.key == key for o in options))


def unused_option_error(flag: str, method: str, owners: list[str]) -> UsageError:
    """The error for an option of ``owners`` given to ``method``, which does not use it."""
    if len(owners) == 1:
        return UsageError(
            f"{flag} is used only by method '{owners[0]}', not by '{method}'",
            hint=f"leave {flag} out, or use --method {owners[0]}",
        )
    return UsageError(
        f"{flag} is not used by method '{method}'",
        hint=f"{flag} is an option of: {', '.join(owners)}; leave it out or use one of them",
    )


def check_method_options(
    method: str,
    options: Mapping[str, Any] | None,
    registry: Mapping[str, Iterable[MethodOption]],
    examples: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Validate ``options`` for ``method`` and return them with defaults filled in.

    ``registry`` maps every method name to the options it declares. ``None`` values count as not
    given. Raises :class:`UsageError` (exit status 2) for an option of another method, an unknown
    option, a missing required input (naming its flag, with an example command) or a value out
    of range, and :class:`SembridgeError` for an input file that is not there.
    """
    declared = {o.key: o for o in registry.get(method, ())}
    flags = {o.key: o.flag for opts in registry.values() for o in opts}
    given = {k: v for k, v in (options or {}).items() if v is not None}
    for key in given:
        if key in declared:
            continue
        owners = option_owners(key, registry)
        if owners:
            raise unused_option_error(flags[key], method, owners)
        known = sorted(flags)
        raise UsageError(
            f"unknown method option '{key}'",
            hint=f"method options are: {', '.join(known)}" if known else None,
        )
    resolved: dict[str, Any] = {}
    for key, option in declared.items():
        if key in given:
            resolved[key] = option.check(given[key], method)
        elif option.required:
            example = (examples or {}).get(method)
            raise UsageError(
                f"method '{method}' needs {option.flag} {option.metavar}: {option.help}",
                hint=f"for example: {example}" if example else None,
            )
        elif option.default is not None:
            resolved[key] = option.default
    return resolved
